/* A model assembled from plugins: the modality's tokenizer and head around the engine's block
 * stack, whose linears take their weights through the pathway. Owns the parameter registry, the
 * plugin instances and every buffer of a step.
 *
 *   raw --tokenize--> tokens --blocks (weights via pathway)--> tokens --head--> logits --CE--> loss
 */
#ifndef M2PT_MODEL_H
#define M2PT_MODEL_H

#include <stdint.h>

#include "blocks.h"
#include "host.h"
#include "loader.h"
#include "mae.h"

typedef struct {
    m2pt_shape shape;
    int max_batch;
    float label_smoothing;
    uint64_t seed;
    const char *aux_path; /* auxiliary checkpoint (pathways that need one) */
    /* Non-NULL: open for masked-autoencoder pretraining (mae.h) instead of classification. The
     * pathway must be one that needs no auxiliary model (baseline); the modality must implement
     * ABI 1.1's recon_spec/recon_target, else open fails with a message saying so. */
    const m2pt_mae_config *mae;
    int quiet; /* drop the plugins' info and debug log lines (warnings still print) */
} m2pt_model_options;

typedef struct {
    m2pt_model_options opt;
    const m2pt_plugin *mod_plugin, *path_plugin;
    const m2pt_modality *mod;
    const m2pt_pathway *path;
    void *mod_inst, *path_inst;
    m2pt_ctx mod_ctx, path_ctx;
    m2pt_params params;
    m2pt_blocks blocks;
    m2pt_weight_hook hook;
    int merged;     /* 1 after m2pt_model_merge: the pathway no longer takes part */
    int classes, tokens;
    long sample_floats;
    float *arena, *raw, *logits, *probs, *d_logits, *d_tokens;
    int *labels;
    int batch;
    char summary_json[1024]; /* optional JSON object saved as "summary" in checkpoints */
    struct m2pt_model_mae *mae; /* opened with opt.mae: the pretraining state (model_mae.c) */
} m2pt_model;

/* Opens both plugins with their config sections, sets everything up and initialises the
 * parameters from opt->seed. On failure: -1 and one line in err; the model is left freed. */
int m2pt_model_open(m2pt_model *m, const m2pt_plugin *modality, m2pt_kv *mod_cfg, const char *mod_prefix,
                    const m2pt_plugin *pathway, m2pt_kv *path_cfg, const char *path_prefix,
                    const m2pt_model_options *opt, char *err, size_t errlen);
/* Fills m->raw/m->labels with samples of a split (augment: train-time augmentation). */
int m2pt_model_fill(m2pt_model *m, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                    char *err, size_t errlen);
/* Forward of m->raw (n samples); returns the mean loss against m->labels; logits in m->logits.
 * Returns NaN when a plugin recorded an error during the call (m2pt_model_error says which). */
float m2pt_model_forward(m2pt_model *m, int n);
/* The error a plugin recorded with host->fail during a step (tokenize, head, backward), or NULL. */
const char *m2pt_model_error(const m2pt_model *m);
/* Backward of the last forward: zeroes and fills the gradient arena. */
void m2pt_model_backward(m2pt_model *m);
/* Fold the pathway into the plain block weights (W <- W_eff); afterwards the model computes the
 * same function without the pathway. */
void m2pt_model_merge(m2pt_model *m);
/* JSON object describing the model (shape, plugins, modality config) for checkpoints. */
int m2pt_model_config_json(const m2pt_model *m, char *buf, size_t len);
/* Save the plain model (merged, without pathway tensors) or everything. */
int m2pt_model_save(const m2pt_model *m, const char *path, int plain_only, char *err, size_t errlen);
typedef struct {
    long n, correct;
    double loss;        /* mean cross-entropy (with the model's label smoothing) */
    long *class_correct, *class_total; /* optional, [classes] each, filled when non-NULL */
} m2pt_eval;

/* Evaluate a whole split (no augmentation) in batches of max_batch. 0, or -1 with err. */
int m2pt_model_evaluate(m2pt_model *m, m2pt_split_id split, m2pt_eval *ev, char *err, size_t errlen);
/* Load the plain tensors of a checkpoint (every non-pathway tensor must be present with the same
 * shape). 0, or -1 with err. */
int m2pt_model_load(m2pt_model *m, const char *path, char *err, size_t errlen);

/* --- masked-autoencoder pretraining (a model opened with opt.mae) --------------------------- */
/* Forward of m->raw (n samples, from m2pt_model_fill): tokenize, the plugin's targets, masking
 * drawn from mask_seed, encoder on visible tokens, decoder; returns the mean reconstruction loss
 * (NaN when a plugin recorded an error). */
float m2pt_model_mae_forward(m2pt_model *m, int n, uint64_t mask_seed);
/* Backward of the last MAE forward: zeroes and fills the gradient arena. */
void m2pt_model_mae_backward(m2pt_model *m);
/* Mean reconstruction loss over a whole split, in batches of max_batch, with masks drawn from a
 * seed fixed by the model's seed and the batch index (so it is the same for every call). */
int m2pt_model_mae_evaluate(m2pt_model *m, m2pt_split_id split, double *loss, char *err, size_t errlen);
/* Start a classification model from an MAE-pretrained checkpoint (written by m2pt_model_save
 * of a model opened with opt.mae): loads the tokenizer and block tensors, which must all be
 * present with the same shapes; the head and pathway tensors keep their initialisation and
 * the checkpoint's decoder ("mae.*") is ignored. 0, or -1 with err. */
int m2pt_model_load_pretrained(m2pt_model *m, const char *path, char *err, size_t errlen);

/* Trainable scalars of the plain model (without pathway tensors). */
size_t m2pt_model_plain_params(const m2pt_model *m);
void m2pt_model_close(m2pt_model *m);

#endif
