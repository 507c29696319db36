/* Tokenizer as Point-MAE / Point-BERT: G groups (group.c), each embedded by a mini-PointNet
 * (shared MLP 3 -> H -> D with GELU, pooled over the k neighbours: pool.c), plus a position
 * embedding of the group centre (MLP 3 -> H -> D with GELU); token 0 is a learned class token:
 *   tokens[b, 0] = cls,  tokens[b, 1 + g] = pool_k(fc2(gelu(fc1(local)))) + fc2'(gelu(fc1'(centre)))
 * The linears run on host->linear_forward/backward (rows = B*G*k for the shared MLP, B*G for
 * the position MLP), except fc2's backward of the shared MLP, fused with the pooling's. */
#include "point.h"
#include "ptmath.h"

#include <string.h>

static int add(point_inst *m, const char *name, int ndim, int d0, int d1, float std) {
    const int shape[2] = {d0, d1};
    const m2pt_fill fill = std > 0 ? M2PT_FILL_TRUNC_NORMAL : M2PT_FILL_ZERO;
    return m->host->param_add(m->ctx, name, ndim, shape, fill, std, ndim == 2 ? M2PT_PARAM_DECAY : 0);
}

static int add_params(point_inst *m) {
    const int D = m->dim, H = m->hidden;
    /* std: sqrt(2 / fan_in) before the activation, 1 / sqrt(fan_in) after it */
    const float s_in = sqrtf(2.0f / 3.0f), s_out = 1.0f / sqrtf((float)H);
    m->h_cls = add(m, "point.cls_token", 1, D, 0, 0.02f);
    m->h_g1w = add(m, "point.group_mlp.fc1.weight", 2, H, 3, s_in);
    m->h_g1b = add(m, "point.group_mlp.fc1.bias", 1, H, 0, 0);
    m->h_g2w = add(m, "point.group_mlp.fc2.weight", 2, D, H, s_out);
    m->h_g2b = add(m, "point.group_mlp.fc2.bias", 1, D, 0, 0);
    m->h_p1w = add(m, "point.pos_mlp.fc1.weight", 2, H, 3, s_in);
    m->h_p1b = add(m, "point.pos_mlp.fc1.bias", 1, H, 0, 0);
    m->h_p2w = add(m, "point.pos_mlp.fc2.weight", 2, D, H, s_out);
    m->h_p2b = add(m, "point.pos_mlp.fc2.bias", 1, D, 0, 0);
    return m->h_cls < 0 || m->h_g1w < 0 || m->h_g1b < 0 || m->h_g2w < 0 || m->h_g2b < 0 || m->h_p1w < 0 ||
                   m->h_p1b < 0 || m->h_p2w < 0 || m->h_p2b < 0
               ? -1
               : 0;
}

int tok_setup(point_inst *m) {
    if (add_params(m)) return -1;
    const size_t D = (size_t)m->dim, H = (size_t)m->hidden, N = (size_t)m->gen.points, k = (size_t)m->neighbours;
    const size_t B = (size_t)m->max_batch, BG = B * (size_t)m->groups, rows = BG * k;
    m->knn = point_alloc_ints(m, rows);
    m->soa = point_alloc_floats(m, B * 3 * N);
    m->dist = point_alloc_floats(m, B * (N + k));
    m->centres = point_alloc_floats(m, BG * 3);
    m->local = point_alloc_floats(m, rows * 3);
    m->h1 = point_alloc_floats(m, rows * H);
    m->h1d = point_alloc_floats(m, rows * H);
    m->dh1 = point_alloc_floats(m, rows * H);
    m->h2 = point_alloc_floats(m, rows * D);
    m->arg = point_alloc_ints(m, BG * D);
    m->pmax = point_alloc_floats(m, BG * D);
    m->psum = point_alloc_floats(m, BG * D);
    m->dh2 = point_alloc_floats(m, rows * D);
    m->feat = point_alloc_floats(m, BG * D);
    m->p1 = point_alloc_floats(m, BG * H);
    m->p1d = point_alloc_floats(m, BG * H);
    m->dp1 = point_alloc_floats(m, BG * H);
    m->pos = point_alloc_floats(m, BG * D);
    m->tok_n = -1;
    const int ok = m->knn && m->soa && m->dist && m->centres && m->local && m->h1 && m->h1d && m->dh1 && m->h2 &&
                   m->arg && m->pmax && m->psum && m->dh2 && m->feat && m->p1 && m->p1d && m->dp1 && m->pos;
    return ok ? 0 : -1;
}

typedef struct {
    float *x, *dx; /* in: x = pre-activation; out: x = gelu(x), dx = gelu'(x) */
    size_t n;
} gelu_job;

static void gelu_task(void *arg, int t, int nt) {
    const gelu_job *j = arg;
    long lo, hi;
    point_range((long)j->n, t, nt, &lo, &hi);
    float *x = j->x, *dx = j->dx;
    for (long i = lo; i < hi; i++) pt_gelu(x[i], &x[i], &dx[i]);
}

static void gelu_inplace(const point_inst *m, float *x, float *dx, size_t n) {
    gelu_job j = {x, dx, n};
    m->host->parallel(gelu_task, &j);
}

void point_tokenize(void *inst, const float *raw, int n, float *tokens) {
    point_inst *m = inst;
    if (point_bad_n(m, "tokenize", n, -1)) return;
    m->tok_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, H = m->hidden, G = m->groups, T = m->tokens, BG = n * G, rows = BG * m->neighbours;
    group_points(m, raw, n);
    /* mini-PointNet */
    h->linear_forward(m->h1, m->local, h->param(m->ctx, m->h_g1w), h->param(m->ctx, m->h_g1b), rows, 3, H);
    gelu_inplace(m, m->h1, m->h1d, (size_t)rows * H);
    h->linear_forward(m->h2, m->h1, h->param(m->ctx, m->h_g2w), h->param(m->ctx, m->h_g2b), rows, H, D);
    pool_forward(m, n);
    /* position embedding of the centres */
    h->linear_forward(m->p1, m->centres, h->param(m->ctx, m->h_p1w), h->param(m->ctx, m->h_p1b), BG, 3, H);
    gelu_inplace(m, m->p1, m->p1d, (size_t)BG * H);
    h->linear_forward(m->pos, m->p1, h->param(m->ctx, m->h_p2w), h->param(m->ctx, m->h_p2b), BG, H, D);
    const float *cls = h->param(m->ctx, m->h_cls);
    for (int b = 0; b < n; b++) {
        float *xb = tokens + (size_t)b * T * D;
        memcpy(xb, cls, (size_t)D * sizeof(float));
        for (int g = 0; g < G; g++) {
            const float *f = m->feat + ((size_t)b * G + g) * D, *p = m->pos + ((size_t)b * G + g) * D;
            float *x = xb + (size_t)(1 + g) * D;
            for (int d = 0; d < D; d++) x[d] = f[d] + p[d];
        }
    }
}

void point_tokenize_backward(void *inst, const float *d_tokens, int n) {
    point_inst *m = inst;
    if (point_bad_n(m, "tokenize_backward", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, H = m->hidden, G = m->groups, T = m->tokens, BG = n * G, rows = BG * m->neighbours;
    float *g_cls = h->grad(m->ctx, m->h_cls);
    for (int b = 0; b < n; b++) { /* feat becomes d(token) of each group: both branches' gradient */
        const float *db = d_tokens + (size_t)b * T * D;
        for (int d = 0; d < D; d++) g_cls[d] += db[d];
        memcpy(m->feat + (size_t)b * G * D, db + D, (size_t)G * D * sizeof(float));
    }
    /* position MLP (the centres need no gradient) */
    h->linear_backward(m->dp1, h->grad(m->ctx, m->h_p2w), h->grad(m->ctx, m->h_p2b), m->feat, m->p1,
                       h->param(m->ctx, m->h_p2w), BG, H, D);
    for (size_t i = 0; i < (size_t)BG * H; i++) m->dp1[i] *= m->p1d[i];
    h->linear_backward(NULL, h->grad(m->ctx, m->h_p1w), h->grad(m->ctx, m->h_p1b), m->dp1, m->centres,
                       h->param(m->ctx, m->h_p1w), BG, 3, H);
    /* mini-PointNet: pooling + fc2 + GELU (pool.c), then fc1 (the points need no gradient) */
    pool_backward(m, n);
    h->linear_backward(NULL, h->grad(m->ctx, m->h_g1w), h->grad(m->ctx, m->h_g1b), m->dh1, m->local,
                       h->param(m->ctx, m->h_g1w), rows, 3, H);
}
