/* Minibatch training and evaluation of the ViT classifier on in-memory arrays: seeded
 * shuffling, AdamW with warm-up + cosine schedule and optional clipping. All buffers are
 * allocated before the first step; a step allocates nothing. */
#ifndef M2PT_TRAINER_H
#define M2PT_TRAINER_H

#include <stdint.h>

#include "adamw.h"
#include "vit.h"

typedef struct {
    int epochs, batch;
    float lr, min_lr, weight_decay, clip_norm;
    float warmup_epochs; /* fraction allowed */
    uint64_t seed;       /* shuffling */
} m2pt_train_config;

typedef struct {
    int epoch;           /* 1-based */
    long step;           /* optimizer steps so far */
    float train_loss;    /* mean over the epoch's batches */
    float lr;            /* learning rate of the last step */
    double seconds;      /* wall time of the epoch */
    double samples_per_s;
} m2pt_epoch_stats;

typedef void (*m2pt_epoch_fn)(void *ctx, const m2pt_epoch_stats *s);

/* images [n, C, H, W], labels [n]; m must have been created with max_batch >= cfg->batch.
 * Returns 0, or -1 when out of memory (before any step). */
int m2pt_train_arrays(m2pt_vit *m, const m2pt_train_config *cfg, const float *images, const int *labels,
                      int n, m2pt_epoch_fn on_epoch, void *ctx);
/* Top-1 accuracy over n samples in batches of at most m->max_batch; mean loss into *loss. */
float m2pt_eval_arrays(m2pt_vit *m, const float *images, const int *labels, int n, float *loss);

#endif
