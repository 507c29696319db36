/* Internals of the experiment loader (experiment.c, exp_schema.c, exp_load.c, exp_cells.c).
 * Not an interface: experiment.h is. */
#ifndef M2PT_EXP_INTERNAL_H
#define M2PT_EXP_INTERNAL_H

#include <stdint.h>

#include "experiment.h"
#include "json.h"
#include "yaml_tree.h"

#define EXP_MAX_EXTENDS 16          /* depth of extends chains */
#define EXP_FF_MAX 32               /* options per plugin section (target.data, auxiliary.data, pathway) */
#define EXP_MAX_AXES 64             /* grid keys + zip keys */
#define EXP_HARD_MAX_POINTS 10000000L /* grid points even with force_large */

/* ---------------------------------------------------------------- schema */

typedef enum { S_INT, S_FLOAT, S_BOOL, S_STR, S_NAME, S_SECTION, S_FREE, S_SPECIAL } s_type;

enum { F_MIN_OPEN = 1, F_MAX_OPEN = 2, F_INHERIT = 4 };

typedef struct {
    const char *path;
    s_type type;
    double min, max; /* numbers: allowed range */
    int flags;
    double def;       /* numbers and booleans */
    const char *sdef; /* names and strings (NULL: none) */
    const char *const *choices; /* names: the allowed values (NULL-terminated), or NULL: any */
} s_entry;

/* Training fields, in this order after each E_*TR0. */
enum { TR_EPOCHS, TR_BATCH, TR_LR, TR_MIN_LR, TR_WEIGHT_DECAY, TR_WARMUP, TR_CLIP, TR_LABEL_SMOOTHING, TR_AUGMENT, TR_N };

enum {
    E_NAME, E_DESCRIPTION, E_EXTENDS, E_BASE, E_SEED, E_GRID, E_ZIP,
    E_MODEL, E_DIM, E_DEPTH, E_HEADS, E_MLP_RATIO,
    E_TRAIN, E_TR0,
    E_TARGET = E_TR0 + TR_N, E_T_MODALITY, E_T_DATA, E_T_TRAIN, E_TTR0,
    E_AUX = E_TTR0 + TR_N, E_A_MODALITY, E_A_DATA, E_A_TRAIN, E_ATR0,
    E_A_SEED = E_ATR0 + TR_N,
    E_PATHWAY, E_P_NAME,
    /* masked-autoencoder pretraining */
    E_A_OBJECTIVE, E_T_PRETRAIN,
    E_MAE, E_M_MASK_RATIO, E_M_DEC_DIM, E_M_DEC_DEPTH, E_M_DEC_HEADS, E_M_TR0,
    E_COUNT = E_M_TR0 + TR_N
};

/* Which mae.* training keys exist (mae.label_smoothing and mae.augment do not: an MAE model
 * has no labels, and augmentation is the model's own train.augment). */
#define MAE_HAS_FIELD(f) ((f) != TR_LABEL_SMOOTHING && (f) != TR_AUGMENT)

/* Free-form plugin sections. */
enum { FF_TDATA, FF_ADATA, FF_PATHWAY, FF_N };

extern const s_entry exp_schema[E_COUNT];

/* What a dotted key addresses: a schema entry, or option `key` of free-form section `ff`. */
typedef struct {
    int entry; /* -1 for an option */
    int ff;    /* FF_* for an option */
    const char *key;
} s_target;

/* ---------------------------------------------------------------- resolved configuration */

typedef struct {
    int n;
    const char *key[EXP_FF_MAX];
    const yt_node *val[EXP_FF_MAX]; /* scalars, or (pathway) lists of scalars */
} ffsec;

/* The configuration of one grid point, as pointers into the trees (NULL: the default). */
typedef struct {
    const yt_node *v[E_COUNT];
    ffsec ff[FF_N];
} rcfg;

/* ---------------------------------------------------------------- loader context */

typedef struct exp_cache exp_cache;

typedef struct {
    char *err;
    size_t errlen;
    const m2pt_plugin_oracle *oracle;
    yt_node *root;    /* merged tree of the file, its bases and --set values */
    yt_loc root_loc;  /* the top file, line 1 */
    char **owned;     /* strings that locations point to (file paths, --set texts) */
    int nowned, capowned;
    char *top_text;   /* the top file's text */
    exp_cache *cache; /* oracle answers */
} exp_ctx;

/* Writes "LOC: path: message" into the error buffer; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int exp_fail(exp_ctx *c, yt_loc loc, const char *path, const char *fmt, ...);
int exp_oom(exp_ctx *c);
/* Keeps s alive until the end of loading; returns the kept copy or NULL (error set). */
const char *exp_keep(exp_ctx *c, const char *s);

/* exp_schema.c */
int exp_entry_find(const char *path);
/* The nearest valid dotted key to an unknown `path`, or NULL. */
const char *exp_suggest(const char *path);
/* Resolves a dotted key; an unknown key is an error located at loc. */
int exp_resolve(exp_ctx *c, yt_loc loc, const char *path, s_target *t);
/* Applies node (a value written at `path`, resolved as t) onto rc, validating it. */
int exp_apply(exp_ctx *c, rcfg *rc, const char *path, const s_target *t, const yt_node *node);
/* Walks the top-level mapping into rc (all keys but name, description, extends, base, grid, zip). */
int exp_apply_root(exp_ctx *c, rcfg *rc, const yt_node *root);
void exp_rcfg_defaults(rcfg *rc);
/* Typed reads of a resolved field (the default when unset). */
long long exp_int(const rcfg *rc, int e);
double exp_num(const rcfg *rc, int e);
const char *exp_str(const rcfg *rc, int e);
/* Canonical text of a scalar or list value (lists joined with ','), appended to sb. */
void exp_canon_text(m2pt_strbuf *sb, const yt_node *n);
/* Display text of any value: scalars canonical, [a, b], {k: v}. */
void exp_display_text(m2pt_strbuf *sb, const yt_node *n);
/* Shortest of %.15g..%.17g that reads back to the same double. */
void exp_format_double(char *buf, size_t cap, double v);

/* ---------------------------------------------------------------- grid axes */

/* One varying key: its values (a list node) and the axis it belongs to (a grid key is an axis
 * of its own; a zip group is one axis of several keys). */
typedef struct {
    const char *key;
    s_target t;
    const yt_node *list;
    int axis;
} exp_axis_key;

typedef struct {
    int nkeys, naxes;
    exp_axis_key k[EXP_MAX_AXES];
    long len[EXP_MAX_AXES]; /* values per axis */
    long points;            /* product of len */
} exp_axes;

/* exp_cells.c: expands every grid point of base x axes into exp's cells (with collapsing). */
int exp_expand(exp_ctx *c, const rcfg *base, const exp_axes *ax, m2pt_experiment *exp);
void exp_cell_free(m2pt_cell *cell);
void exp_cache_free(exp_cache *cache);

/* exp_load.c */
/* Loads path and the files it extends into c->root (merged). */
int exp_load_tree(exp_ctx *c, const char *path);
/* Applies one "key=value" override to c->root. */
int exp_apply_set(exp_ctx *c, const char *arg);

#endif
