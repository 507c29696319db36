/* Experiment files: YAML ablation studies expanded into cells.
 *
 * An experiment file (docs/experiments.md) declares a base configuration (model, train,
 * target, auxiliary, pathway, seed), a `grid` of dotted keys whose values are crossed, and
 * `zip` groups whose values vary together. `extends: other.yaml` inherits a file; `--set
 * key=value` overrides after loading. Every cell is resolved into a flat list of dotted keys
 * with typed values; meaningless combinations collapse (a pathway that needs no auxiliary model
 * ignores `auxiliary.*`; baseline ignores every pathway option), so identical resolved cells
 * are one cell. Each target cell that needs an auxiliary model depends on an auxiliary cell:
 * the auxiliary modality trained alone with the target's block shape and the auxiliary's own
 * training settings. Cells are identified by a hash of their canonical resolved JSON.
 *
 * Validation happens before anything runs: unknown keys (with the nearest valid key), wrong
 * types, impossible values, unknown plugins and plugin options the plugin does not read are
 * errors located as file:line:column.
 */
#ifndef M2PT_EXPERIMENT_H
#define M2PT_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kv.h"
#include "m2pt/plugin.h"
#include "mae.h"

#define M2PT_HASH_HEX 17 /* 16 hex digits + NUL */

typedef enum { M2PT_ROLE_TARGET = 0, M2PT_ROLE_AUXILIARY = 1 } m2pt_role;

/* Training settings of one model (target or auxiliary). */
typedef struct {
    int epochs, batch;
    double lr, min_lr, weight_decay, warmup_epochs, clip, label_smoothing;
    int augment;
} m2pt_train_settings;

/* One fully resolved run. Strings are owned by the experiment. */
typedef struct {
    m2pt_role role;
    char hash[M2PT_HASH_HEX]; /* hash of `json` */
    char *json;               /* canonical resolved config: {"role":...,"model":{...},...} */
    m2pt_shape shape;
    m2pt_train_settings train;
    uint64_t seed;
    const char *modality;     /* the model's own modality plugin name */
    m2pt_kv data;             /* its options (target.data.* or auxiliary.data.*) */
    const char *pathway;      /* target: pathway plugin name; auxiliary: "baseline" */
    m2pt_kv pathway_opts;     /* pathway.* except name (empty for baseline) */
    int aux;                  /* index into exp->cells of the auxiliary cell, or -1 */
    const char *aux_modality; /* NULL when no auxiliary */
    /* Masked-autoencoder pretraining (docs/experiments.md, "Self-supervised pretraining"):
     * an auxiliary-role cell with mae = 1 is trained by MAE (an auxiliary model with
     * `auxiliary.objective: mae`, or the pretraining of targets with `target.pretrain: mae`);
     * `train` then holds the resolved mae.* training settings and mae_cfg the masking and
     * decoder. A target cell's `pretrain` is the index of its pretrain cell, or -1. */
    int mae;
    m2pt_mae_config mae_cfg;
    int pretrain;
    int aux_mae;              /* target: its auxiliary model (aux >= 0) was trained by MAE */
    /* grid coordinates of this cell: the dotted keys that vary in the experiment and their
     * values as text, for display and for the store's params table */
    int naxes;
    const char **axis_keys, **axis_values;
} m2pt_cell;

typedef struct {
    char *name, *description;
    char *path;   /* the file as given */
    char *text;   /* the file's text (provenance) */
    m2pt_cell *cells; /* auxiliary cells first, then target cells, in grid order */
    int ncells, ntargets, naux;
    int collapsed;    /* grid points that collapsed into an existing cell */
    long grid_points; /* before collapsing */
} m2pt_experiment;

/* Answers the validator's questions about plugins (so that experiment.c does not load them
 * itself): does a pathway need an auxiliary model, and does a plugin accept these options?
 * check_modality with opts == NULL only asks whether a modality plugin of that name exists.
 * Return 0 when fine; else -1 with a one-line reason in err (e.g. "unknown key 'pach'"). */
typedef struct {
    void *ctx;
    int (*pathway_needs_aux)(void *ctx, const char *pathway, m2pt_kv *opts, int *needs, char *err, size_t errlen);
    int (*check_modality)(void *ctx, const char *modality, m2pt_kv *opts, char *err, size_t errlen);
    /* Optional: can this modality be trained by MAE (ABI 1.1 reconstruction targets)? 0 yes,
     * else -1 with the reason. NULL: not checked (the run fails instead). */
    int (*modality_can_mae)(void *ctx, const char *modality, char *err, size_t errlen);
} m2pt_plugin_oracle;

/* Limit on grid points before collapsing, unless `force_large` (documented). */
#define M2PT_MAX_GRID_POINTS 100000L

/* Load, validate and expand. sets: "key=value" overrides (may be NULL/0). oracle may be NULL
 * (then pathways are assumed to need an auxiliary model exactly when their name is not
 * "baseline" or "noaux", and plugin options are not checked). On failure: -1 and one line in
 * err: "FILE:LINE:COL: key.path: fault (did you mean 'x'?)". */
int m2pt_experiment_load(m2pt_experiment *exp, const char *path, const char *const *sets, int nsets,
                         const m2pt_plugin_oracle *oracle, int force_large, char *err, size_t errlen);
void m2pt_experiment_free(m2pt_experiment *exp);

/* Print the cells as `m2pt run --dry-run` does. */
void m2pt_experiment_print(const m2pt_experiment *exp, FILE *out);

#endif
