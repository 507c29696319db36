/* m2pt plugin ABI: the only header a plugin author needs (`pkg-config --cflags m2pt`).
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major);
 *
 * It returns a static descriptor (or NULL if it cannot serve that ABI major). The descriptor
 * names the plugin and points at the interface table of its kind: a modality (dataset +
 * tokenizer + head) or a pathway (how a block linear's effective weight is made).
 *
 * Compatibility rules, as SQLite's extension API:
 *  - ABI major changes break plugins; the host refuses a plugin built for another major.
 *  - Minor versions only append: new members go at the end of m2pt_host and of the interface
 *    tables, and every table starts with its struct_size, so either side can tell what the
 *    other has. A plugin checks host->struct_size before using a member added after 1.0.
 *
 * Threads and memory: the host owns the threads. A plugin never starts threads; it may split
 * work with host->parallel and multiply matrices with host->sgemm. The host calls every
 * interface function from its main thread, one call at a time, never from inside
 * host->parallel (which does not nest). Memory that lives as long as the instance comes from
 * host->alloc; open, setup and close may also malloc/free temporaries. fill, tokenize, head,
 * effective and the backward calls must not allocate. The host only calls tokenize/head/...
 * with n <= max_batch, in the documented order, so these calls have no error path. All memory a plugin needs
 * during training is obtained once, in setup, from host->alloc; forward and backward calls
 * must not allocate. Errors are returned (non-zero) after describing them with host->fail;
 * a plugin never exits the process.
 */
#ifndef M2PT_PLUGIN_H
#define M2PT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2PT_ABI_MAJOR 1
#define M2PT_ABI_MINOR 1

#if defined(__GNUC__)
#define M2PT_EXPORT __attribute__((visibility("default")))
#else
#define M2PT_EXPORT
#endif

#define M2PT_PLUGIN_ENTRY "m2pt_plugin_query"

typedef enum { M2PT_KIND_MODALITY = 1, M2PT_KIND_PATHWAY = 2 } m2pt_plugin_kind;

typedef enum { M2PT_SPLIT_TRAIN = 0, M2PT_SPLIT_VAL = 1, M2PT_SPLIT_TEST = 2 } m2pt_split_id;

/* The four block linears that a pathway can re-parameterize. */
typedef enum { M2PT_QKV = 0, M2PT_PROJ = 1, M2PT_FC1 = 2, M2PT_FC2 = 3, M2PT_LINEARS = 4 } m2pt_linear;

/* Shape of the transformer blocks shared by a target and its auxiliary model. */
typedef struct {
    int dim, depth, heads, mlp_ratio; /* mlp hidden width = dim * mlp_ratio */
} m2pt_shape;

/* How the host initialises a tensor it allocates for a plugin. */
typedef enum {
    M2PT_FILL_ZERO = 0,
    M2PT_FILL_ONE = 1,
    M2PT_FILL_TRUNC_NORMAL = 2, /* N(0, value) truncated to +-2 value, from the run seed and the name */
    M2PT_FILL_CONST = 3,        /* every element = value */
} m2pt_fill;

/* Flags of a registered tensor. */
enum {
    M2PT_PARAM_DECAY = 1u << 0,  /* AdamW weight decay applies (matrices; not biases, norms, scales) */
    M2PT_PARAM_FROZEN = 1u << 1, /* never updated by the optimizer */
    M2PT_PARAM_PATHWAY = 1u << 2 /* belongs to the pathway: dropped from merged checkpoints */
};

typedef struct m2pt_ctx m2pt_ctx; /* the host's handle of one plugin instance; opaque */

/* Seeded random stream; the state is the plugin's, the algorithm the host's (xoshiro256**). */
typedef struct {
    uint64_t s[4];
} m2pt_rng_state;

typedef void (*m2pt_task)(void *arg, int thread, int threads);

/* The host API. Passed to every interface call that needs it; valid for the instance's life. */
typedef struct m2pt_host {
    uint32_t struct_size; /* sizeof(m2pt_host) of the host; members only ever appended */
    uint32_t abi_major, abi_minor;

    /* --- messages --------------------------------------------------------------------- */
    /* Log a line prefixed with the plugin's name. level: 0 info, 1 warning, 2 debug. */
    void (*log)(m2pt_ctx *ctx, int level, const char *fmt, ...);
    /* Describe the error the current call is about to return (one line: what, where, what to
     * do). The host adds the plugin name. */
    void (*fail)(m2pt_ctx *ctx, const char *fmt, ...);

    /* --- configuration (the plugin's own section, e.g. `target.data` or `pathway`) -------- */
    /* Typed getters with defaults. A present key of the wrong type or out of range makes the
     * getter record an error (reported by the host after the call returns) and return def.
     * Keys that no getter ever read are reported as errors by the host, so typos surface. */
    long (*cfg_int)(m2pt_ctx *ctx, const char *key, long def, long min, long max);
    double (*cfg_float)(m2pt_ctx *ctx, const char *key, double def, double min, double max);
    int (*cfg_bool)(m2pt_ctx *ctx, const char *key, int def);
    /* The string stays valid for the instance's life; def may be NULL (returned when absent). */
    const char *(*cfg_str)(m2pt_ctx *ctx, const char *key, const char *def);
    /* Seed of the run (data order, augmentation, init streams all derive from it). */
    uint64_t (*seed)(m2pt_ctx *ctx);

    /* --- parameters and memory (setup only) ---------------------------------------------- */
    /* Register a tensor of the model; returns a handle >= 0, or -1 (after fail()) on a bad
     * shape or a name already taken. Names are unique within one model and are what
     * checkpoints store; "blocks." belongs to the host, pathways use "pathway.", a modality
     * any other prefix (the image modality: "patch_embed.", "cls_token", "norm.", "head."). param()/grad() pointers are valid from the moment
     * setup has returned until close, and do not move. */
    int (*param_add)(m2pt_ctx *ctx, const char *name, int ndim, const int *shape, m2pt_fill fill,
                     float value, unsigned flags);
    float *(*param)(m2pt_ctx *ctx, int handle); /* values */
    float *(*grad)(m2pt_ctx *ctx, int handle);  /* gradient, zeroed before each backward */
    /* Scratch memory for the instance's life: 64-byte aligned, zeroed; NULL (after fail())
     * when out of memory. Freed by the host. */
    void *(*alloc)(m2pt_ctx *ctx, size_t bytes);

    /* --- math (threads are the host's) ---------------------------------------------------- */
    /* Row-major C = alpha * op(A) op(B) + beta * C, as cblas_sgemm with CblasRowMajor. */
    void (*sgemm)(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);
    /* The engine's own ops, on the host's threads. Row-major; rows = batch * tokens.
     * linear_forward:  y[rows, out] = x[rows, in] w[out, in]^T + b  (b may be NULL)
     * linear_backward: dx = dy w  (OVERWRITES dx; dx may be NULL), dw += dy^T x, db += column
     *                  sums of dy (ACCUMULATE; db may be NULL)
     * layernorm_forward: y = (x - mean) rstd w + b per row, eps 1e-5; saves mean, rstd [rows]
     * layernorm_backward: dx += ..., dw += ..., db += ...  (ALL ACCUMULATE: zero dx first
     *                  unless adding into a residual gradient) */
    void (*linear_forward)(float *y, const float *x, const float *w, const float *b, int rows, int in, int out);
    void (*linear_backward)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            int rows, int in, int out);
    void (*layernorm_forward)(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int rows, int cols);
    void (*layernorm_backward)(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, const float *w, int rows, int cols);
    /* Run task(arg, i, n) on each of the host's n threads and wait. */
    void (*parallel)(m2pt_task task, void *arg);

    /* --- random streams -------------------------------------------------------------------- */
    void (*rng_seed)(m2pt_rng_state *r, uint64_t seed, uint64_t stream);
    uint64_t (*rng_u64)(m2pt_rng_state *r);
    float (*rng_uniform)(m2pt_rng_state *r); /* [0, 1) */
    double (*rng_normal)(m2pt_rng_state *r); /* N(0, 1) */

    /* --- parameters, continued (part of ABI 1.0) ---------------------------------------------- */
    /* Multiply the tensor's learning rate (default 1; e.g. a pathway's scale_lr_mult). Setup only. */
    void (*param_lr_mult)(m2pt_ctx *ctx, int handle, float mult);
} m2pt_host;

/* ABI 1.1: what a modality reconstructs in masked-autoencoder pretraining (`objective: mae`).
 * The host masks a fraction of the maskable tokens (every token after the first
 * `prefix_tokens`) per sample, runs the encoder on the visible ones, a light decoder on all
 * of them and scores its prediction for each masked token against the plugin's target. */
typedef enum {
    M2PT_RECON_MSE = 1,     /* mean squared error against the target normalised per token (mean 0,
                             * variance 1: MAE's norm_pix_loss); decoder outputs target_floats */
    M2PT_RECON_CHAMFER = 2, /* Chamfer distance (L2, both directions, as Point-MAE) between the target's
                             * points and as many predicted ones; target_floats = 3 * points (x, y, z of
                             * each point relative to the token's centre); decoder outputs target_floats */
    M2PT_RECON_CLASS = 3,   /* cross-entropy: the target is one class index per token (stored as a float);
                             * the decoder outputs `classes` logits (text: masked byte prediction) */
} m2pt_recon_loss;

typedef struct {
    int loss;           /* m2pt_recon_loss */
    int prefix_tokens;  /* leading tokens never masked nor reconstructed (a class token: 1) */
    int target_floats;  /* floats of one token's target (CLASS: 1) */
    int classes;        /* CLASS only: number of classes */
    int pos_floats;     /* > 0: per-token position features given to the decoder (point: the group
                         * centre, 3), through a learned linear map added to its position embedding */
    /* Comma-separated name prefixes of the tensors that only the head uses (image: "norm.,head.").
     * Pretraining leaves them out (they are neither trained nor saved); fine-tuning starts them
     * from their initialisation. Static storage. */
    const char *head_prefixes;
} m2pt_recon_spec;

/* ---------------------------------------------------------------------------------------------
 * Modality: dataset + tokenizer + head. One instance serves one run. Call order:
 *   open -> (dataset queries, fill) -> setup -> { fill, tokenize, blocks, head, backward }* -> close
 * A raw sample is `sample_floats` floats (the plugin's own layout, e.g. an image [C, H, W]).
 * Tokens are [batch, tokens, dim] row-major, token 0 being the class token if the modality uses
 * one; the head reads them and writes logits [batch, classes].
 */
typedef struct m2pt_modality {
    uint32_t struct_size;
    /* Read the config, open or generate the data. NULL-safe: *inst is set only on success. */
    int (*open)(const m2pt_host *host, m2pt_ctx *ctx, void **inst);
    void (*close)(void *inst);

    /* dataset */
    int (*classes)(void *inst);
    const char *(*class_name)(void *inst, int label); /* label in [0, classes) */
    long (*split_size)(void *inst, m2pt_split_id split); /* >= 0; VAL may be empty */
    long (*sample_floats)(void *inst);
    /* Fill n samples (raw [n, sample_floats], labels [n]) of a split by index. With augment,
     * apply the train-time augmentation drawn from `seed` (same seed, same result). Must not
     * allocate. Returns 0, or non-zero after fail(). */
    int (*fill)(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                float *raw, int *labels);

    /* model */
    int (*tokens)(void *inst); /* sequence length T given to the blocks (after setup's shape) */
    /* Register tokenizer and head tensors (host->param_add) and obtain buffers for up to
     * max_batch samples (host->alloc). */
    int (*setup)(void *inst, const m2pt_shape *shape, int max_batch);
    /* raw [n, sample_floats] -> tokens [n, T, dim]; saves what backward needs. */
    void (*tokenize)(void *inst, const float *raw, int n, float *tokens);
    /* d_tokens [n, T, dim] of the last tokenize: accumulate tokenizer gradients. */
    void (*tokenize_backward)(void *inst, const float *d_tokens, int n);
    /* tokens [n, T, dim] -> logits [n, classes]; saves what backward needs. */
    void (*head)(void *inst, const float *tokens, int n, float *logits);
    /* d_logits [n, classes] of the last head call: accumulate head gradients and write
     * d_tokens [n, T, dim] (overwrite; zero where the head did not look). */
    void (*head_backward)(void *inst, const float *d_logits, int n, float *d_tokens);

    /* --- ABI 1.1: masked-autoencoder pretraining. Optional: a table that ends before these
     * members (a plugin built against 1.0), or NULL members, mean the modality cannot be
     * pretrained with `objective: mae`, and the host says so. Called after setup. */
    /* Describe the reconstruction target; 0, or non-zero after fail(). */
    int (*recon_spec)(void *inst, m2pt_recon_spec *spec);
    /* Targets for the samples of the last tokenize call (n of them): target [n, L, target_floats],
     * weight [n, L] (1 where the token counts in the loss, 0 e.g. for padding), and, when
     * pos_floats > 0, pos [n, L, pos_floats] (else pos is NULL); L = tokens - prefix_tokens.
     * Deterministic; must not allocate. */
    void (*recon_target)(void *inst, int n, float *target, float *weight, float *pos);
} m2pt_modality;

/* Size of a modality table built against ABI 1.0 (before the 1.1 members). */
#define M2PT_MODALITY_SIZE_1_0 (offsetof(m2pt_modality, recon_spec))

/* ---------------------------------------------------------------------------------------------
 * Pathway: supplies each block linear's effective weight. Weights are row-major [out, in].
 * Call order: open -> setup -> init -> { effective, backward }* -> merge -> close.
 */
typedef struct m2pt_aux_weights {
    m2pt_shape shape;   /* block shape of the auxiliary model */
    const char *source; /* e.g. the checkpoint path, for messages */
    /* Weight [out, in] of linear `which` in auxiliary block `block`, or NULL. */
    const float *(*weight)(const struct m2pt_aux_weights *aux, int block, m2pt_linear which, int *out, int *in);
    void *host_data;
} m2pt_aux_weights;

typedef struct m2pt_pathway {
    uint32_t struct_size;
    int (*open)(const m2pt_host *host, m2pt_ctx *ctx, void **inst);
    void (*close)(void *inst);
    /* 1 when setup needs auxiliary weights (a checkpoint of another model). */
    int (*needs_aux)(void *inst);
    /* Register the pathway's tensors and buffers. aux is NULL unless needs_aux; a shape that
     * does not match is refused here (fail() with both shapes). aux and the weights it hands
     * out stay valid until init returns, not longer: copy what you need in init. */
    int (*setup)(void *inst, const m2pt_shape *shape, const m2pt_aux_weights *aux);
    /* After the host has filled every tensor by its fill rule: copy auxiliary weights etc. */
    int (*init)(void *inst);
    /* Effective weight of (block, which) given the plain weight W, or W itself. The returned
     * memory must stay valid until the next call for the same linear. */
    const float *(*effective)(void *inst, int block, m2pt_linear which, const float *w, int out, int in);
    /* On entry dw holds dL/dW_eff; on return dL/dW. Accumulates the pathway's own gradients
     * (host->grad). NULL when dL/dW = dL/dW_eff and there is nothing else. */
    void (*backward)(void *inst, int block, m2pt_linear which, float *dw, int out, int in);
    /* Fold the pathway into the plain weight: w <- W_eff. After merging every linear, the model
     * without the pathway computes what the model with it did. Required (a no-op for a
     * pathway that leaves W alone). effective, backward and merge cannot fail: shapes were
     * settled in setup. */
    void (*merge)(void *inst, int block, m2pt_linear which, float *w, int out, int in);
} m2pt_pathway;

/* ---------------------------------------------------------------------------------------------
 * The descriptor returned by m2pt_plugin_query. Static storage; never freed.
 */
typedef struct m2pt_plugin {
    uint32_t struct_size; /* sizeof(m2pt_plugin) the plugin was built with */
    uint32_t abi_major, abi_minor;
    m2pt_plugin_kind kind;
    const char *name;        /* unique among loaded plugins: [a-z0-9_-]+ */
    const char *version;     /* the plugin's own version string */
    const char *description; /* one line */
    const m2pt_modality *modality; /* kind == M2PT_KIND_MODALITY */
    const m2pt_pathway *pathway;   /* kind == M2PT_KIND_PATHWAY */
} m2pt_plugin;

typedef const m2pt_plugin *(*m2pt_plugin_query_fn)(uint32_t host_abi_major);

#ifdef __cplusplus
}
#endif
#endif
