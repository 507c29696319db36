/* The training loop, independent of what is trained: seeded shuffling of sample indices,
 * AdamW with linear warm-up + cosine schedule and optional clipping, per-epoch reporting.
 * A model plugs in through m2pt_trainable (fill a batch, forward, backward, its registry).
 * All buffers are allocated before the first step; a step allocates nothing. */
#ifndef M2PT_TRAINER_H
#define M2PT_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "adamw.h"
#include "vit.h"

typedef struct {
    int epochs, batch;
    float lr, min_lr, weight_decay, clip_norm;
    float warmup_epochs; /* fraction allowed */
    uint64_t seed;       /* shuffling and augmentation */
    int augment;         /* ask fill() for train-time augmentation */
} m2pt_train_config;

typedef struct {
    int epoch;           /* 1-based */
    long step;           /* optimizer steps so far */
    float train_loss;    /* mean over the epoch's batches */
    float lr;            /* learning rate of the last step */
    float grad_norm;     /* before clipping, last step */
    double seconds;      /* wall time of the epoch's steps */
    double samples_per_s;
} m2pt_epoch_stats;

/* Return non-zero to stop training after this epoch. */
typedef int (*m2pt_epoch_fn)(void *ctx, const m2pt_epoch_stats *s);

typedef struct {
    void *ctx;
    /* Put samples index[0..n) into the model's input; non-zero on failure (message in err). */
    int (*fill)(void *ctx, const long *index, int n, int augment, uint64_t seed, char *err, size_t errlen);
    float (*forward)(void *ctx, int n); /* mean loss of the filled batch */
    void (*backward)(void *ctx);        /* gradients of the last forward into params->grads */
    m2pt_params *params;
    /* Optional, after every optimizer step (must not allocate). Return non-zero to stop at once
     * (interrupt, or a non-finite loss); m2pt_train then returns 1. */
    int (*on_step)(void *ctx, long step, int epoch, float loss, float lr, float grad_norm);
} m2pt_trainable;

/* Trains on samples [0, n_train) for cfg->epochs epochs, dropping the last partial batch so
 * every step has the same shape. 0 on success (or when on_epoch stopped it); 1 when on_step
 * stopped it; -1 with err. */
int m2pt_train(const m2pt_trainable *t, long n_train, const m2pt_train_config *cfg, m2pt_epoch_fn on_epoch,
               void *ctx, char *err, size_t errlen);

/* The ViT reference classifier on in-memory arrays (images [n, C, H, W], labels [n]); m must
 * have been created with max_batch >= cfg->batch. */
int m2pt_train_arrays(m2pt_vit *m, const m2pt_train_config *cfg, const float *images, const int *labels,
                      int n, m2pt_epoch_fn on_epoch, void *ctx);
/* Top-1 accuracy over n samples in batches of at most m->max_batch; mean loss into *loss. */
float m2pt_eval_arrays(m2pt_vit *m, const float *images, const int *labels, int n, float *loss);

/* A training step whose loss or gradient norm is NaN or infinite: describes it in err ("loss
 * became NaN at step 9 (epoch 1): ...", "gradient became infinite at step 5 ...") and returns 1;
 * 0 when both are finite. For on_step callbacks: a diverging run stops at that very step. */
int m2pt_nonfinite_step(long step, int epoch, float loss, float grad_norm, char *err, size_t errlen);

/* Index of the largest of n values (first on ties). */
int m2pt_argmax(const float *v, int n);

#endif
