/* The transformer block stack: `depth` pre-norm ViT blocks on a [B*T, D] token matrix.
 *
 *   x = x + proj(attn(ln1(x)))      attn: multi-head self-attention with fused qkv
 *   x = x + fc2(gelu(fc1(ln2(x))))
 *
 * Each block linear (qkv, proj, fc1, fc2) gets its effective weight through one seam, the
 * weight hook. Without a hook W_eff = W. A pathway (e.g. reparam: W + lambda * W_aux) supplies
 * W_eff in the forward pass and turns dL/dW_eff into dL/dW (and its own gradients) in the
 * backward pass. Activations live in one arena sized for max_batch at creation time: a training
 * step allocates nothing.
 *
 * Threads: every sample's path through the stack is independent of the other samples until the
 * weight gradients, so the samples are cut into chunks (a few hundred rows, which stay in
 * cache) and each thread takes the next chunk not yet taken and runs it through all ops; only
 * the weight gradients are computed per group of chunks and summed at the end (see the backward
 * fields below). The products are gemm.c's, whose summation order does not depend on the
 * split; the cut into chunks and groups depends on the model and the batch, not on the thread
 * count nor on which thread takes what (up to `groups` threads), so neither do the results. */
#ifndef M2PT_BLOCKS_H
#define M2PT_BLOCKS_H

#include "params.h"

typedef enum { M2PT_LIN_QKV, M2PT_LIN_PROJ, M2PT_LIN_FC1, M2PT_LIN_FC2, M2PT_LIN_COUNT } m2pt_linear_id;
extern const char *const m2pt_linear_names[M2PT_LIN_COUNT]; /* "qkv", "proj", "fc1", "fc2" */

typedef struct {
    int dim, depth, heads, mlp_ratio; /* mlp hidden width = dim * mlp_ratio */
} m2pt_block_config;

/* The seam between the engine and a pathway. All weights are row-major [out, in]. */
typedef struct {
    void *ctx;
    /* Weight to use for block linear (block, id) in this step: W itself or a buffer the hook
     * owns, valid until the next call for the same linear. Called once per linear per forward. */
    const float *(*effective)(void *ctx, int block, m2pt_linear_id id, const float *W, int out, int in);
    /* On entry dW holds dL/dW_eff for this step; on return it must hold dL/dW. The hook adds its
     * own parameters' gradients (dlambda, dW_aux) into the gradient arena. Called once per linear
     * per backward, after dW_eff is complete. May be NULL when dW = dW_eff and nothing else. */
    void (*backward)(void *ctx, int block, m2pt_linear_id id, float *dW, int out, int in);
} m2pt_weight_hook;

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} m2pt_block_tensors;

typedef struct {
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} m2pt_block_index;

typedef struct m2pt_blocks {
    m2pt_block_config cfg;
    int max_rows, tokens; /* rows = batch * tokens */
    m2pt_block_index *idx;  /* per block: indices into the registry */
    const m2pt_params *params;
    const m2pt_weight_hook *hook; /* NULL: plain weights */
    float *arena;           /* activations + backward scratch */
    size_t arena_floats;
    /* Saved activations, per block l (pointers into the arena). res[l] is block l's input,
     * res[depth] the stack's output; fc1[l] is fc1's output before GELU. The backward recomputes
     * into scratch what is cheap to: the LayerNorms' outputs (from their mean and rstd), GELU's
     * output and derivative (from fc1). */
    float **res, **res_mid, **ln1_mean, **ln1_rstd, **qkv, **att_p, **att, **ln2_mean, **ln2_rstd, **fc1;
    const float **w_eff; /* [depth * M2PT_LIN_COUNT] weights used by the last forward */
    float **w_t;         /* the same, transposed to [in, out] for the forward's products */
    /* Backward: each chunk of samples goes back through all blocks at once, like the forward,
     * so its gradients stay in cache. The chunks are cut into `groups` fixed groups (a thread
     * takes the next whole group), each with its own partial sums of the block parameters'
     * gradients (the arenas' floats from param_lo on), added into the gradient arena in group
     * order at the end. Each of the `workers` threads (the pool's count at allocation) has
     * scratch for one chunk (chunk_rows_max rows): a chunk's activations in the forward, its
     * gradients in the backward. */
    int groups, workers, chunk_rows_max;
    size_t param_lo, gpartial_floats, gscratch_floats; /* per group, per worker */
    float *gpartial, *gscratch;
    const float *d_out;     /* the gradient the last backward started from */
    float *d_input;         /* [max_rows, dim]: dL/d(input) of the last backward */
    int batch; /* batch of the last forward */
} m2pt_blocks;

/* Register the block parameters ("blocks.<i>.<name>") in p. 0 on success, -1 on failure. */
int m2pt_blocks_register(m2pt_blocks *b, const m2pt_block_config *cfg, m2pt_params *p);
/* The same with another name prefix ("<prefix>.<i>.<name>"), e.g. "mae.blocks" for a decoder. */
int m2pt_blocks_register_prefix(m2pt_blocks *b, const m2pt_block_config *cfg, m2pt_params *p, const char *prefix);
/* A second stack over src's registered tensors (same weights, same gradients), to be allocated
 * with its own m2pt_blocks_alloc for another token count (e.g. an MAE encoder on the visible
 * tokens only). Copies src's hook as it is now. 0, or -1 (out of memory). */
int m2pt_blocks_share(m2pt_blocks *b, const m2pt_blocks *src);
/* After m2pt_params_alloc: allocate activations for max_batch sequences of `tokens`. */
int m2pt_blocks_alloc(m2pt_blocks *b, const m2pt_params *p, int max_batch, int tokens);
void m2pt_blocks_set_hook(m2pt_blocks *b, const m2pt_weight_hook *hook);
/* Input of the stack: the caller writes [batch*tokens, dim] here before forward. */
static inline float *m2pt_blocks_input(m2pt_blocks *b) { return b->res[0]; }
/* Forward over `batch` sequences; returns the output [batch*tokens, dim] (inside the arena). */
float *m2pt_blocks_forward(m2pt_blocks *b, int batch);
/* Backward: d_out is dL/d(output) [batch*tokens, dim]; accumulates parameter gradients into the
 * gradient arena and returns dL/d(input) (inside the arena, valid until the next call). */
float *m2pt_blocks_backward(m2pt_blocks *b, const float *d_out);
m2pt_block_tensors m2pt_blocks_tensors(const m2pt_blocks *b, const float *arena, int block);
void m2pt_blocks_free(m2pt_blocks *b);

#endif
