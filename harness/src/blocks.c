#include "blocks.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "threads.h"
#include "util.h"

const char *const m2pt_linear_names[M2PT_LIN_COUNT] = {"qkv", "proj", "fc1", "fc2"};

#define LINEAR_STD 0.02f

static int add(m2pt_params *p, const char *prefix, int block, const char *what, int rows, int cols,
               m2pt_init_kind init) {
    char name[M2PT_NAME_MAX];
    if (snprintf(name, sizeof name, "%s.%d.%s", prefix, block, what) >= (int)sizeof name) return -1;
    int shape[2] = {rows, cols};
    int is_matrix = cols > 0;
    return m2pt_params_add(p, name, is_matrix ? 2 : 1, shape, init, LINEAR_STD, is_matrix);
}

int m2pt_blocks_register(m2pt_blocks *b, const m2pt_block_config *cfg, m2pt_params *p) {
    return m2pt_blocks_register_prefix(b, cfg, p, "blocks");
}

int m2pt_blocks_register_prefix(m2pt_blocks *b, const m2pt_block_config *cfg, m2pt_params *p, const char *prefix) {
    memset(b, 0, sizeof *b);
    if (cfg->dim <= 0 || cfg->depth <= 0 || cfg->heads <= 0 || cfg->mlp_ratio <= 0 ||
        cfg->dim % cfg->heads != 0)
        return -1;
    b->cfg = *cfg;
    b->idx = calloc((size_t)cfg->depth, sizeof *b->idx);
    if (!b->idx) return -1;
    const int D = cfg->dim, F = cfg->dim * cfg->mlp_ratio;
    for (int l = 0; l < cfg->depth; l++) {
        m2pt_block_index *ix = &b->idx[l];
        ix->ln1_w = add(p, prefix, l, "ln1.weight", D, 0, M2PT_INIT_ONE);
        ix->ln1_b = add(p, prefix, l, "ln1.bias", D, 0, M2PT_INIT_ZERO);
        ix->qkv_w = add(p, prefix, l, "qkv.weight", 3 * D, D, M2PT_INIT_TRUNC_NORMAL);
        ix->qkv_b = add(p, prefix, l, "qkv.bias", 3 * D, 0, M2PT_INIT_ZERO);
        ix->proj_w = add(p, prefix, l, "proj.weight", D, D, M2PT_INIT_TRUNC_NORMAL);
        ix->proj_b = add(p, prefix, l, "proj.bias", D, 0, M2PT_INIT_ZERO);
        ix->ln2_w = add(p, prefix, l, "ln2.weight", D, 0, M2PT_INIT_ONE);
        ix->ln2_b = add(p, prefix, l, "ln2.bias", D, 0, M2PT_INIT_ZERO);
        ix->fc1_w = add(p, prefix, l, "fc1.weight", F, D, M2PT_INIT_TRUNC_NORMAL);
        ix->fc1_b = add(p, prefix, l, "fc1.bias", F, 0, M2PT_INIT_ZERO);
        ix->fc2_w = add(p, prefix, l, "fc2.weight", D, F, M2PT_INIT_TRUNC_NORMAL);
        ix->fc2_b = add(p, prefix, l, "fc2.bias", D, 0, M2PT_INIT_ZERO);
        const int *all = &ix->ln1_w;
        for (int k = 0; k < 12; k++)
            if (all[k] < 0) return -1;
    }
    return 0;
}

int m2pt_blocks_share(m2pt_blocks *b, const m2pt_blocks *src) {
    memset(b, 0, sizeof *b);
    if (!src->idx || src->cfg.depth <= 0) return -1;
    b->cfg = src->cfg;
    b->idx = malloc((size_t)src->cfg.depth * sizeof *b->idx);
    if (!b->idx) return -1;
    memcpy(b->idx, src->idx, (size_t)src->cfg.depth * sizeof *b->idx);
    b->hook = src->hook;
    return 0;
}

/* Block l's tensors in a buffer laid out like the arenas from float `lo` on (lo 0: an arena). */
static m2pt_block_tensors tensors_from(const m2pt_blocks *b, const float *base, size_t lo, int l) {
    const int *ix = &b->idx[l].ln1_w;
    const m2pt_tensor_info *t = b->params->t;
    float *q[12];
    for (int i = 0; i < 12; i++) q[i] = (float *)base + (t[ix[i]].offset - lo);
    return (m2pt_block_tensors){q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11]};
}

m2pt_block_tensors m2pt_blocks_tensors(const m2pt_blocks *b, const float *arena, int l) {
    return tensors_from(b, arena, 0, l);
}

/* Block linear id's weight shape: [*out, *in]. */
static void linear_shape(const m2pt_blocks *b, int id, int *out, int *in) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio;
    const int shape[M2PT_LIN_COUNT][2] = {{3 * D, D}, {D, D}, {F, D}, {D, F}};
    *out = shape[id][0], *in = shape[id][1];
}

/* The samples are cut into chunks that a thread runs through all ops before the next: about
 * CHUNK_ROWS rows, small enough that a chunk's activations (rows x 4D for the MLP) stay in L2,
 * large enough for efficient GEMMs. The cut depends only on the batch and the tokens, not on the
 * thread count (the backward's sums, and so the results, depend on it); the number of chunks is
 * a multiple of 4, capped at the batch. */
#define CHUNK_ROWS 512

/* The backward sums the weight gradients per fixed group of chunks, then the groups' partial
 * sums in group order. Threads take the next group as they become free (the cores of a shared
 * machine do not run at equal speed: a fixed share per thread waits for the slowest), so more
 * groups balance better, but each costs a partial copy of the block parameters' gradients: as
 * many as fit GROUP_PARTIAL_BUDGET bytes, between GROUPS_MIN and GROUPS_MAX (more only when
 * more threads exist at allocation); the groups shrink from first to last (group_chunks), so
 * that the last ones claimed are short. The count depends on the model, not on the thread
 * count (up to GROUPS_MIN threads at least), and so do the results. */
#define GROUPS_MIN 4
#define GROUPS_MAX 8
#define GROUP_PARTIAL_BUDGET ((size_t)64 << 20)

static int chunk_count(int batch, int tokens) {
    long rows = (long)batch * tokens, n = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
    n = (n + 3) / 4 * 4;
    return (int)(n < batch ? n : batch);
}

/* Carves the activation arena: called once to measure (base NULL), once to assign. */
typedef struct {
    float *base;
    size_t used;
} carver;

static float *carve(carver *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += m2pt_round_floats(n);
    return p;
}

static void layout(m2pt_blocks *b, carver *c) {
    const size_t N = (size_t)b->max_rows, D = (size_t)b->cfg.dim, F = D * (size_t)b->cfg.mlp_ratio;
    const size_t B = N / (size_t)b->tokens, T = (size_t)b->tokens, H = (size_t)b->cfg.heads;
    const int L = b->cfg.depth;
    for (int l = 0; l <= L; l++) b->res[l] = carve(c, N * D);
    for (int l = 0; l < L; l++) {
        b->res_mid[l] = carve(c, N * D);
        b->ln1_mean[l] = carve(c, N);
        b->ln1_rstd[l] = carve(c, N);
        b->qkv[l] = carve(c, N * 3 * D);
        b->att_p[l] = carve(c, m2pt_attention_p_floats((int)B, (int)T, (int)H));
        b->att[l] = carve(c, N * D);
        b->ln2_mean[l] = carve(c, N);
        b->ln2_rstd[l] = carve(c, N);
        b->fc1[l] = carve(c, N * F);
    }
    for (int l = 0; l < L; l++) {
        float **wt = b->w_t + l * M2PT_LIN_COUNT;
        wt[M2PT_LIN_QKV] = carve(c, 3 * D * D);
        wt[M2PT_LIN_PROJ] = carve(c, D * D);
        wt[M2PT_LIN_FC1] = carve(c, F * D);
        wt[M2PT_LIN_FC2] = carve(c, D * F);
    }
    b->d_input = carve(c, N * D);
}

/* One thread's scratch for the chunk it is running (rows <= chunk_rows_max): the backward's
 * gradients and a LayerNorm's output (`norm`: recomputed from the saved mean and rstd); in the
 * forward, the activations on their way from one op to the next (forward_chunk). */
typedef struct {
    float *stream, *mid, *hidden, *qkv, *att, *ln, *norm, *act;
} chunk_scratch;

static size_t scratch_layout(const m2pt_blocks *b, float *base, chunk_scratch *g) {
    const size_t R = (size_t)b->chunk_rows_max, D = (size_t)b->cfg.dim, F = D * (size_t)b->cfg.mlp_ratio;
    carver c = {base, 0};
    float *p[8];
    const size_t n[8] = {R * D, R * D, R * F, R * 3 * D, R * D, R * D, R * D, R * F};
    for (int k = 0; k < 8; k++) p[k] = carve(&c, n[k]);
    if (g) *g = (chunk_scratch){p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
    return c.used;
}

/* The block parameters' span in the arenas: [*lo, *hi) in floats. */
static void param_span(const m2pt_blocks *b, size_t *lo, size_t *hi) {
    const m2pt_tensor_info *t = b->params->t;
    *lo = (size_t)-1, *hi = 0;
    for (int l = 0; l < b->cfg.depth; l++) {
        const int *ix = &b->idx[l].ln1_w;
        for (int k = 0; k < 12; k++) {
            const size_t o = t[ix[k]].offset, e = o + m2pt_round_floats(t[ix[k]].numel);
            if (o < *lo) *lo = o;
            if (e > *hi) *hi = e;
        }
    }
}

int m2pt_blocks_alloc(m2pt_blocks *b, const m2pt_params *p, int max_batch, int tokens) {
    const int L = b->cfg.depth;
    if (max_batch <= 0 || tokens <= 0) return -1;
    if (!m2pt_attention_supported(tokens, b->cfg.dim / b->cfg.heads)) return -1;
    b->params = p;
    b->tokens = tokens;
    b->max_rows = max_batch * tokens;
    float ***lists[] = {&b->res_mid, &b->ln1_mean, &b->ln1_rstd, &b->qkv, &b->att_p,
                        &b->att, &b->ln2_mean, &b->ln2_rstd, &b->fc1};
    b->res = calloc((size_t)L + 1, sizeof(float *));
    if (!b->res) return -1;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (!(*lists[i] = calloc((size_t)L, sizeof(float *)))) return -1;
    b->w_eff = calloc((size_t)L * M2PT_LIN_COUNT, sizeof(float *));
    b->w_t = calloc((size_t)L * M2PT_LIN_COUNT, sizeof(float *));
    if (!b->w_eff || !b->w_t) return -1;
    carver c = {NULL, 0};
    layout(b, &c);
    b->arena_floats = c.used;
    b->arena = m2pt_alloc_floats(c.used);
    if (!b->arena) return -1;
    c = (carver){b->arena, 0};
    layout(b, &c);
    /* backward groups: one chunk's gradient scratch and partial parameter gradients each */
    for (int n = 1; n <= max_batch; n++) {
        const int nc = chunk_count(n, tokens), rows = (n + nc - 1) / nc * tokens;
        if (rows > b->chunk_rows_max) b->chunk_rows_max = rows;
    }
    size_t hi;
    param_span(b, &b->param_lo, &hi);
    b->gpartial_floats = m2pt_round_floats(hi - b->param_lo);
    const size_t fit = GROUP_PARTIAL_BUDGET / (b->gpartial_floats * sizeof(float));
    b->groups = fit < GROUPS_MIN ? GROUPS_MIN : fit > GROUPS_MAX ? GROUPS_MAX : (int)fit;
    b->workers = m2pt_threads_count();
    if (b->workers > b->groups) b->groups = b->workers;
    b->gscratch_floats = scratch_layout(b, NULL, NULL);
    b->gpartial = m2pt_alloc_floats(b->gpartial_floats * (size_t)b->groups);
    b->gscratch = m2pt_alloc_floats(b->gscratch_floats * (size_t)b->workers);
    return b->gpartial && b->gscratch ? 0 : -1;
}

void m2pt_blocks_set_hook(m2pt_blocks *b, const m2pt_weight_hook *hook) { b->hook = hook; }

/* A parallel region over the stack: threads claim the next job (a chunk in the forward, a group
 * in the backward) until none is left. Which thread runs a job never changes its result. */
typedef struct {
    m2pt_blocks *b;
    atomic_int next;
} region;

/* Runs task on the pool over a fresh region: its jobs are claimed from 0 on. */
static void run_region(m2pt_blocks *b, m2pt_task_fn task) {
    region r = {.b = b};
    atomic_init(&r.next, 0);
    m2pt_parallel(task, &r);
}

/* Thread tid's scratch, or none when tid >= the thread count at allocation (a pool grown since
 * then leaves the extra threads idle). */
static int thread_scratch(const m2pt_blocks *b, int tid, chunk_scratch *sc) {
    if (tid >= b->workers) return -1;
    scratch_layout(b, b->gscratch + (size_t)tid * b->gscratch_floats, sc);
    return 0;
}

/* Each thread takes the next chunk and runs it through every block. */
static void forward_chunk(m2pt_blocks *b, const chunk_scratch *sc, int s0, int n);

static void forward_task(void *p, int tid, int nt) {
    region *r = p;
    m2pt_blocks *b = r->b;
    const int nc = chunk_count(b->batch, b->tokens);
    chunk_scratch sc;
    if (thread_scratch(b, tid, &sc)) return;
    for (int c; (c = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < nc;) {
        long s0, s1;
        m2pt_split(b->batch, nc, c, 1, &s0, &s1);
        if (s1 > s0) forward_chunk(b, &sc, (int)s0, (int)(s1 - s0));
    }
}

/* Samples [s0, s0 + n) through every block. Ops called here run serially on this thread. The
 * activations an op hands to the next go through this thread's scratch sc (cache-resident);
 * those the backward needs are streamed past the cache into the arena as they are made (the
 * arena is far larger than the caches: writing it through them cost a read of every line and
 * evicted the hot data). The LayerNorms' outputs are not saved at all. */
static void forward_chunk(m2pt_blocks *b, const chunk_scratch *sc, int s0, int n) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio, H = b->cfg.heads, T = b->tokens;
    const long r0 = (long)s0 * T;
    const int N = n * T;
    float *norm = sc->norm, *qkv = sc->qkv, *mid = sc->mid, *gelu = sc->hidden, *out = sc->stream;
    const float *res = b->res[0] + r0 * D; /* the stack's input; then the previous block's output */
    for (int l = 0; l < b->cfg.depth; l++) {
        m2pt_block_tensors w = m2pt_blocks_tensors(b, b->params->params, l);
        float *const *wt = b->w_t + l * M2PT_LIN_COUNT;
        float *att = b->att[l] + r0 * D, *fc1 = b->fc1[l] + r0 * F;
        m2pt_layernorm_forward(norm, b->ln1_mean[l] + r0, b->ln1_rstd[l] + r0, res, w.ln1_w, w.ln1_b, N, D);
        m2pt_gemm_linear(qkv, b->qkv[l] + r0 * 3 * D, norm, wt[M2PT_LIN_QKV], w.qkv_b, NULL, N, D, 3 * D);
        m2pt_attention_forward(att, b->att_p[l] + m2pt_attention_p_floats(s0, T, H), qkv, n, T, D, H);
        /* + the residual */
        m2pt_gemm_linear(mid, b->res_mid[l] + r0 * D, att, wt[M2PT_LIN_PROJ], w.proj_b, res, N, D, D);
        m2pt_layernorm_forward(norm, b->ln2_mean[l] + r0, b->ln2_rstd[l] + r0, mid, w.ln2_w, w.ln2_b, N, D);
        m2pt_gemm_linear_gelu(gelu, fc1, norm, wt[M2PT_LIN_FC1], w.fc1_b, N, D, F); /* fc1 keeps h */
        m2pt_gemm_linear(out, b->res[l + 1] + r0 * D, gelu, wt[M2PT_LIN_FC2], w.fc2_b, mid, N, F, D);
        res = out;
    }
}

/* The forward's products read W_eff transposed ([in, out]: gemm.h), made once per forward; the
 * threads share out the linears. */
static void transpose_task(void *p, int tid, int nt) {
    m2pt_blocks *b = p;
    long k0, k1;
    m2pt_split((long)b->cfg.depth * M2PT_LIN_COUNT, nt, tid, 1, &k0, &k1);
    for (long k = k0; k < k1; k++) {
        int out, in;
        linear_shape(b, (int)(k % M2PT_LIN_COUNT), &out, &in);
        m2pt_gemm_transpose(b->w_t[k], b->w_eff[k], out, in);
    }
}

float *m2pt_blocks_forward(m2pt_blocks *b, int batch) {
    b->batch = batch;
    /* The pathway's effective weights first (it may use the pool itself), then one parallel
     * region for the whole stack. */
    for (int l = 0; l < b->cfg.depth; l++) {
        m2pt_block_tensors w = m2pt_blocks_tensors(b, b->params->params, l);
        const float *W[M2PT_LIN_COUNT] = {w.qkv_w, w.proj_w, w.fc1_w, w.fc2_w};
        for (int id = 0; id < M2PT_LIN_COUNT; id++) {
            int out, in;
            linear_shape(b, id, &out, &in);
            b->w_eff[l * M2PT_LIN_COUNT + id] =
                b->hook && b->hook->effective ? b->hook->effective(b->hook->ctx, l, (m2pt_linear_id)id, W[id], out, in)
                                              : W[id];
        }
    }
    m2pt_parallel(transpose_task, b);
    run_region(b, forward_task);
    return b->res[b->cfg.depth];
}

/* The block tensors inside group g's partial gradients (the arenas' layout, from param_lo on). */
static m2pt_block_tensors partial_tensors(const m2pt_blocks *b, int g, int l) {
    return tensors_from(b, b->gpartial + (size_t)g * b->gpartial_floats, b->param_lo, l);
}

/* Samples [s0, s0 + n) back through every block, in group g: input gradients in the thread's
 * scratch sc (one chunk, stays in cache), weight gradients added into the group's partials. */
static void backward_chunk(m2pt_blocks *b, const chunk_scratch *scp, int g, int s0, int n) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio, H = b->cfg.heads, T = b->tokens;
    const long r0 = (long)s0 * T;
    const int N = n * T;
    const chunk_scratch sc = *scp;
    const float *d_in = b->d_out + r0 * D; /* the gradient entering the block from above */
    for (int l = b->cfg.depth - 1; l >= 0; l--) {
        const m2pt_block_tensors w = m2pt_blocks_tensors(b, b->params->params, l), pg = partial_tensors(b, g, l);
        const float *const *we = b->w_eff + l * M2PT_LIN_COUNT;
        float *d_next = l == 0 ? b->d_input + r0 * D : sc.stream; /* d_in (sc.stream) is dead by then */
        /* MLP branch; the residual passes d_in through unchanged. fc2's input gradient times
         * gelu' of the saved pre-activation, and GELU's output for fc2's weight gradient, both
         * recomputed in the product's epilogue (one read of the saved pre-activation). */
        m2pt_gemm_linear_dx(sc.hidden, d_in, we[M2PT_LIN_FC2], b->fc1[l] + r0 * F, sc.act, N, F, D);
        m2pt_linear_backward(NULL, pg.fc2_w, pg.fc2_b, d_in, sc.act, NULL, N, F, D);
        m2pt_gemm_linear_dx(sc.ln, sc.hidden, we[M2PT_LIN_FC1], NULL, NULL, N, D, F);
        m2pt_layernorm_apply(sc.norm, b->res_mid[l] + r0 * D, b->ln2_mean[l] + r0, b->ln2_rstd[l] + r0, w.ln2_w,
                             w.ln2_b, N, D);
        m2pt_linear_backward(NULL, pg.fc1_w, pg.fc1_b, sc.hidden, sc.norm, NULL, N, D, F);
        m2pt_layernorm_backward_res(sc.mid, d_in, pg.ln2_w, pg.ln2_b, sc.ln, b->res_mid[l] + r0 * D,
                                    b->ln2_mean[l] + r0, b->ln2_rstd[l] + r0, w.ln2_w, N, D);
        /* attention branch */
        m2pt_gemm_linear_dx(sc.att, sc.mid, we[M2PT_LIN_PROJ], NULL, NULL, N, D, D);
        m2pt_linear_backward(NULL, pg.proj_w, pg.proj_b, sc.mid, b->att[l] + r0 * D, NULL, N, D, D);
        m2pt_attention_backward(sc.qkv, sc.att, b->qkv[l] + r0 * 3 * D, b->att_p[l] + m2pt_attention_p_floats(s0, T, H),
                                n, T, D, H);
        m2pt_gemm_linear_dx(sc.ln, sc.qkv, we[M2PT_LIN_QKV], NULL, NULL, N, D, 3 * D);
        m2pt_layernorm_apply(sc.norm, b->res[l] + r0 * D, b->ln1_mean[l] + r0, b->ln1_rstd[l] + r0, w.ln1_w,
                             w.ln1_b, N, D);
        m2pt_linear_backward(NULL, pg.qkv_w, pg.qkv_b, sc.qkv, sc.norm, NULL, N, D, 3 * D);
        m2pt_layernorm_backward_res(d_next, sc.mid, pg.ln1_w, pg.ln1_b, sc.ln, b->res[l] + r0 * D,
                                    b->ln1_mean[l] + r0, b->ln1_rstd[l] + r0, w.ln1_w, N, D);
        d_in = d_next;
    }
}

static int groups_used(const m2pt_blocks *b) {
    const int nc = chunk_count(b->batch, b->tokens);
    return nc < b->groups ? nc : b->groups;
}

/* Group g's chunks [*c0, *c1) of nc, for G <= nc groups: one chunk each, and the other nc - G
 * shared out in proportion to 2 (G - g) - 1 (sizes shrink linearly; 16 chunks in 8 groups:
 * 3 3 2 2 2 2 1 1). */
static void group_chunks(int nc, int G, int g, long *c0, long *c1) {
    const long extra = nc - G, G2 = (long)G * G;
    *c0 = g + (extra * (G2 - (long)(G - g) * (G - g)) + G2 / 2) / G2;
    *c1 = g + 1 + (extra * (G2 - (long)(G - g - 1) * (G - g - 1)) + G2 / 2) / G2;
}

/* Each thread takes the next group; group g is a fixed contiguous range of the chunks, run in
 * order. */
static void backward_task(void *p, int tid, int nt) {
    region *r = p;
    m2pt_blocks *b = r->b;
    const int nc = chunk_count(b->batch, b->tokens), G = groups_used(b);
    chunk_scratch sc;
    if (thread_scratch(b, tid, &sc)) return;
    for (int g; (g = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < G;) {
        memset(b->gpartial + (size_t)g * b->gpartial_floats, 0, b->gpartial_floats * sizeof(float));
        long c0, c1;
        group_chunks(nc, G, g, &c0, &c1);
        for (long c = c0; c < c1; c++) {
            long s0, s1;
            m2pt_split(b->batch, nc, (int)c, 1, &s0, &s1);
            if (s1 > s0) backward_chunk(b, &sc, g, (int)s0, (int)(s1 - s0));
        }
    }
}

/* grads[block params] += the groups' partials, added in group order. */
static void reduce_task(void *p, int tid, int nt) {
    m2pt_blocks *b = p;
    const int G = groups_used(b);
    long i0, i1;
    m2pt_split((long)b->gpartial_floats, nt, tid, 16, &i0, &i1);
    float *restrict grad = b->params->grads + b->param_lo;
    for (int g = 0; g < G; g++) {
        const float *restrict part = b->gpartial + (size_t)g * b->gpartial_floats;
#pragma omp simd
        for (long i = i0; i < i1; i++) grad[i] += part[i];
    }
}

static void weight_backward(m2pt_blocks *b, int l, m2pt_linear_id id, float *dW, int out, int in) {
    if (b->hook && b->hook->backward) b->hook->backward(b->hook->ctx, l, id, dW, out, in);
}

float *m2pt_blocks_backward(m2pt_blocks *b, const float *d_out) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio;
    b->d_out = d_out;
    run_region(b, backward_task);
    m2pt_parallel(reduce_task, b);
    /* the pathway turns each dL/dW_eff into dL/dW, in the order the weights were used backwards */
    for (int l = b->cfg.depth - 1; l >= 0; l--) {
        m2pt_block_tensors g = m2pt_blocks_tensors(b, b->params->grads, l);
        weight_backward(b, l, M2PT_LIN_FC2, g.fc2_w, D, F);
        weight_backward(b, l, M2PT_LIN_FC1, g.fc1_w, F, D);
        weight_backward(b, l, M2PT_LIN_PROJ, g.proj_w, D, D);
        weight_backward(b, l, M2PT_LIN_QKV, g.qkv_w, 3 * D, D);
    }
    return b->d_input;
}

void m2pt_blocks_free(m2pt_blocks *b) {
    float **lists[] = {b->res, b->res_mid, b->ln1_mean, b->ln1_rstd, b->qkv, b->att_p,
                       b->att, b->ln2_mean, b->ln2_rstd, b->fc1};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) free(lists[i]);
    free((void *)b->w_eff);
    free(b->w_t);
    free(b->idx);
    free(b->arena);
    free(b->gpartial);
    free(b->gscratch);
    memset(b, 0, sizeof *b);
}
