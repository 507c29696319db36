/* Finite-difference gradient checks of every engine op, the block stack, the whole ViT
 * classifier and the weight-hook seam (a pathway-like W + lambda * W_aux hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "blocks.h"
#include "ops.h"
#include "gradcheck.h"
#include "threads.h"
#include "util.h"
#include "vit.h"

static const gc_opts OPTS = {.h = 1e-2, .atol = 5e-4, .rtol = 2e-2, .samples = 0};

static float *buf(size_t n) {
    float *p = m2pt_alloc_floats(n);
    assert_non_null(p);
    return p;
}

/* ------------------------------------------------------------------ linear */
typedef struct {
    float *x, *W, *b, *y, *r;
    int N, in, out;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    m2pt_linear_forward(c->y, c->x, c->W, c->b, c->N, c->in, c->out);
    return gc_dot(c->r, c->y, (size_t)c->N * c->out);
}

static void test_linear(void **state) {
    (void)state;
    lin_ctx c = {.N = 37, .in = 13, .out = 11};
    c.x = buf(c.N * c.in), c.W = buf(c.out * c.in), c.b = buf(c.out), c.y = buf(c.N * c.out), c.r = buf(c.N * c.out);
    gc_fill(c.x, c.N * c.in, 1, -1, 1), gc_fill(c.W, c.out * c.in, 2, -1, 1), gc_fill(c.b, c.out, 3, -1, 1);
    gc_fill(c.r, c.N * c.out, 4, -1, 1);
    float *dx = buf(c.N * c.in), *dW = buf(c.out * c.in), *db = buf(c.out);
    m2pt_linear_backward(dx, dW, db, c.r, c.x, c.W, c.N, c.in, c.out);
    assert_int_equal(gc_check("linear.dx", lin_loss, &c, c.x, dx, c.N * c.in, &OPTS), 0);
    assert_int_equal(gc_check("linear.dW", lin_loss, &c, c.W, dW, c.out * c.in, &OPTS), 0);
    assert_int_equal(gc_check("linear.db", lin_loss, &c, c.b, db, c.out, &OPTS), 0);
    /* backward accumulates into dW and db: a second call doubles them */
    float w0 = dW[5], b0 = db[3];
    m2pt_linear_backward(NULL, dW, db, c.r, c.x, c.W, c.N, c.in, c.out);
    assert_float_equal(dW[5], 2 * w0, 1e-5 * fabsf(w0) + 1e-6);
    assert_float_equal(db[3], 2 * b0, 1e-5 * fabsf(b0) + 1e-6);
    free(c.x), free(c.W), free(c.b), free(c.y), free(c.r), free(dx), free(dW), free(db);
}

/* ------------------------------------------------------------------ layernorm */
typedef struct {
    float *x, *w, *b, *y, *mean, *rstd, *r;
    int N, C;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    m2pt_layernorm_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
    return gc_dot(c->r, c->y, (size_t)c->N * c->C);
}

static void test_layernorm(void **state) {
    (void)state;
    ln_ctx c = {.N = 9, .C = 24};
    size_t n = (size_t)c.N * c.C;
    c.x = buf(n), c.w = buf(c.C), c.b = buf(c.C), c.y = buf(n), c.mean = buf(c.N), c.rstd = buf(c.N), c.r = buf(n);
    gc_fill(c.x, n, 5, -2, 2), gc_fill(c.w, c.C, 6, 0.5f, 1.5f), gc_fill(c.b, c.C, 7, -1, 1), gc_fill(c.r, n, 8, -1, 1);
    ln_loss(&c);
    /* the normalised rows have mean 0 and variance 1 before the affine part */
    for (int i = 0; i < c.C; i++) assert_true(fabsf((c.x[i] - c.mean[0]) * c.rstd[0]) < 10.0f);
    float *dx = buf(n), *dw = buf(c.C), *db = buf(c.C);
    m2pt_layernorm_backward(dx, dw, db, c.r, c.x, c.mean, c.rstd, c.w, c.N, c.C);
    assert_int_equal(gc_check("layernorm.dx", ln_loss, &c, c.x, dx, n, &OPTS), 0);
    assert_int_equal(gc_check("layernorm.dw", ln_loss, &c, c.w, dw, c.C, &OPTS), 0);
    assert_int_equal(gc_check("layernorm.db", ln_loss, &c, c.b, db, c.C, &OPTS), 0);
    /* the residual form: dx = dres + (the same), bit for bit what a copy and += give, in place too */
    float *dres = buf(n), *copy = buf(n), *res = buf(n), *dw2 = buf(c.C), *db2 = buf(c.C);
    gc_fill(dres, n, 11, -1, 1);
    memcpy(copy, dres, n * sizeof(float));
    m2pt_layernorm_backward(copy, NULL, NULL, c.r, c.x, c.mean, c.rstd, c.w, c.N, c.C);
    m2pt_layernorm_backward_res(res, dres, dw2, db2, c.r, c.x, c.mean, c.rstd, c.w, c.N, c.C);
    assert_memory_equal(res, copy, n * sizeof(float));
    for (int i = 0; i < c.C; i++) assert_true(dw2[i] == dw[i] && db2[i] == db[i]);
    m2pt_layernorm_backward_res(dres, dres, NULL, NULL, c.r, c.x, c.mean, c.rstd, c.w, c.N, c.C);
    assert_memory_equal(dres, copy, n * sizeof(float));
    free(dres), free(copy), free(res), free(dw2), free(db2);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.mean), free(c.rstd), free(c.r), free(dx), free(dw), free(db);
}

/* ------------------------------------------------------------------ gelu, residual */
typedef struct {
    float *x, *y, *r, *acc;
    size_t n;
} ew_ctx;

static double gelu_loss(void *p) {
    ew_ctx *c = p;
    m2pt_gelu_forward(c->y, NULL, c->x, c->n);
    return gc_dot(c->r, c->y, c->n);
}

static void test_gelu(void **state) {
    (void)state;
    ew_ctx c = {.n = 200};
    c.x = buf(c.n), c.y = buf(c.n), c.r = buf(c.n);
    gc_fill(c.x, c.n, 9, -5, 5), gc_fill(c.r, c.n, 10, -1, 1);
    /* a few exact values of the erf form: gelu(0) = 0, gelu(x) - gelu(-x) = x */
    float pts[3] = {0.0f, 1.0f, -1.0f}, out[3];
    m2pt_gelu_forward(out, NULL, pts, 3);
    assert_float_equal(out[0], 0.0f, 1e-7);
    assert_float_equal(out[1] - out[2], 1.0f, 1e-6);
    assert_float_equal(out[1], 0.8413447460685429f, 1e-6); /* x * Phi(x) at x = 1 */
    float *dx = buf(c.n), *dydx = buf(c.n);
    m2pt_gelu_forward(c.y, dydx, c.x, c.n);
    m2pt_gelu_backward(dx, c.r, dydx, c.n);
    assert_int_equal(gc_check("gelu.dx", gelu_loss, &c, c.x, dx, c.n, &OPTS), 0);
    /* against libm's erff in double, over a wide range */
    double worst = 0;
    for (int i = -800; i <= 800; i++) {
        float x = i * 0.01f, y;
        m2pt_gelu_forward(&y, NULL, &x, 1);
        double ref = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        worst = fmax(worst, fabs(y - ref));
    }
    printf("  gelu vs libm erf on [-8, 8]: worst abs error %.2e\n", worst);
    assert_true(worst < 2e-6);
    free(c.x), free(c.y), free(c.r), free(dx), free(dydx);
}

static double residual_loss(void *p) {
    ew_ctx *c = p;
    memcpy(c->y, c->acc, c->n * sizeof(float));
    m2pt_residual_forward(c->y, c->x, c->n);
    return gc_dot(c->r, c->y, c->n);
}

static void test_residual(void **state) {
    (void)state;
    ew_ctx c = {.n = 100};
    c.x = buf(c.n), c.y = buf(c.n), c.r = buf(c.n), c.acc = buf(c.n);
    gc_fill(c.x, c.n, 11, -1, 1), gc_fill(c.acc, c.n, 12, -1, 1), gc_fill(c.r, c.n, 13, -1, 1);
    residual_loss(&c);
    for (size_t i = 0; i < c.n; i++) assert_float_equal(c.y[i], c.acc[i] + c.x[i], 0);
    /* backward of y += x is the identity on both branches: dL/dx = dL/dy = r */
    assert_int_equal(gc_check("residual.dx", residual_loss, &c, c.x, c.r, c.n, &OPTS), 0);
    assert_int_equal(gc_check("residual.dacc", residual_loss, &c, c.acc, c.r, c.n, &OPTS), 0);
    free(c.x), free(c.y), free(c.r), free(c.acc);
}

/* ------------------------------------------------------------------ attention */
typedef struct {
    float *qkv, *out, *P, *r;
    int B, T, D, H;
} att_ctx;

static double att_loss(void *p) {
    att_ctx *c = p;
    m2pt_attention_forward(c->out, c->P, c->qkv, c->B, c->T, c->D, c->H);
    return gc_dot(c->r, c->out, (size_t)c->B * c->T * c->D);
}

/* Independent reference of the attention output in double: softmax(q k^T / sqrt(hd)) v. */
static double att_reference_max_err(const att_ctx *c) {
    const int T = c->T, D = c->D, H = c->H, hd = D / H, ld = 3 * D;
    double worst = 0, *p = malloc((size_t)T * sizeof(double));
    assert_non_null(p);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = c->qkv + ((size_t)b * T + i) * ld + h * hd;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float *k = c->qkv + ((size_t)b * T + j) * ld + D + h * hd;
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)q[d] * k[d];
                    p[j] = s / sqrt((double)hd), mx = p[j] > mx ? p[j] : mx;
                }
                for (int j = 0; j < T; j++) p[j] = exp(p[j] - mx), sum += p[j];
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += p[j] / sum * c->qkv[((size_t)b * T + j) * ld + 2 * D + h * hd + d];
                    double e = fabs(o - c->out[((size_t)b * T + i) * D + h * hd + d]);
                    worst = e > worst ? e : worst;
                }
            }
    free(p);
    return worst;
}

/* Shapes cover the kernel's padding paths: tokens below, at and above one 16-wide tile and not
 * a multiple of the 4-row tile; head dims below, equal to and above 16. */
static void check_attention(int B, int T, int D, int H, int samples) {
    att_ctx c = {.B = B, .T = T, .D = D, .H = H};
    size_t nq = (size_t)c.B * c.T * 3 * c.D, no = (size_t)c.B * c.T * c.D;
    c.qkv = buf(nq), c.out = buf(no), c.P = buf(m2pt_attention_p_floats(c.B, c.T, c.H)), c.r = buf(no);
    gc_fill(c.qkv, nq, 14, -1.5f, 1.5f), gc_fill(c.r, no, 15, -1, 1);
    att_loss(&c);
    for (int b = 0; b < c.B; b++) /* every query's probabilities sum to one */
        for (int h = 0; h < c.H; h++)
            for (int i = 0; i < c.T; i++) {
                double s = 0;
                for (int j = 0; j < c.T; j++) s += m2pt_attention_prob(c.P, c.T, c.H, b, h, i, j);
                assert_float_equal(s, 1.0, 1e-5);
            }
    double err = att_reference_max_err(&c);
    printf("  attention B %d T %d D %d H %d: forward max abs err vs double reference %.2e\n", B, T, D, H, err);
    assert_true(err < 1e-5);
    float *dqkv = buf(nq);
    memset(dqkv, 0x7f, nq * sizeof(float)); /* backward must overwrite, not accumulate */
    m2pt_attention_backward(dqkv, c.r, c.qkv, c.P, c.B, c.T, c.D, c.H);
    gc_opts o = OPTS;
    o.samples = samples;
    assert_int_equal(gc_check("attention.dqkv", att_loss, &c, c.qkv, dqkv, nq, &o), 0);
    free(c.qkv), free(c.out), free(c.P), free(c.r), free(dqkv);
}

static void test_attention(void **state) {
    (void)state;
    check_attention(3, 7, 12, 3, 0);    /* every element */
    check_attention(2, 50, 64, 4, 600); /* the default micro-ViT: 50 tokens, head dim 16 */
    check_attention(1, 21, 40, 2, 400); /* head dim 20: a full and a partial column tile */
    check_attention(1, 33, 96, 2, 400); /* head dim 48, tokens just above two tiles */
    check_attention(1, 197, 128, 2, 300); /* the large shape's head: 197 tokens in 3 query blocks */
    check_attention(1, 300, 40, 2, 300);  /* 7 query blocks, the last partial; head dim 20 */
}

/* ------------------------------------------------------------------ cross-entropy */
typedef struct {
    float *z, *probs;
    int *labels;
    int N, C;
    float eps;
} ce_ctx;

static double ce_loss(void *p) {
    ce_ctx *c = p;
    return m2pt_crossentropy_forward(c->probs, c->z, c->labels, c->N, c->C, c->eps);
}

static void check_ce(float eps) {
    ce_ctx c = {.N = 6, .C = 5, .eps = eps};
    int labels[6] = {0, 4, 2, 2, 1, 3};
    c.labels = labels;
    c.z = buf(30), c.probs = buf(30);
    gc_fill(c.z, 30, 16, -3, 3);
    double l = ce_loss(&c);
    /* independent reference: -mean over rows of sum_c target_c * log softmax(z)_c, in double */
    double ref = 0;
    for (int r = 0; r < c.N; r++) {
        double mx = -1e30, s = 0;
        for (int k = 0; k < c.C; k++) mx = fmax(mx, c.z[r * c.C + k]);
        for (int k = 0; k < c.C; k++) s += exp(c.z[r * c.C + k] - mx);
        for (int k = 0; k < c.C; k++) {
            double t = eps / c.C + (k == labels[r] ? 1.0 - eps : 0.0);
            ref -= t * (c.z[r * c.C + k] - mx - log(s));
        }
    }
    assert_float_equal(l, ref / c.N, 1e-6);
    float *dz = buf(30);
    m2pt_crossentropy_backward(dz, c.probs, labels, c.N, c.C, eps);
    assert_int_equal(gc_check(eps > 0 ? "crossentropy(eps=0.1).dz" : "crossentropy.dz", ce_loss, &c, c.z, dz,
                              30, &(gc_opts){.h = 1e-2, .atol = 1e-5, .rtol = 1e-2}),
                     0);
    free(c.z), free(c.probs), free(dz);
}

static void test_crossentropy(void **state) {
    (void)state;
    check_ce(0.0f);
    check_ce(0.1f);
}

/* ------------------------------------------------------------------ block stack + hook */
typedef struct {
    float *aux[M2PT_LIN_COUNT], *eff[M2PT_LIN_COUNT];
    float lambda[M2PT_LIN_COUNT], dlambda[M2PT_LIN_COUNT];
    float *daux[M2PT_LIN_COUNT];
    int calls_fwd, calls_bwd;
} hook_state; /* a one-block W + lambda * W_aux pathway, written independently of any plugin */

static const float *hook_effective(void *p, int block, m2pt_linear_id id, const float *W, int out, int in) {
    hook_state *h = p;
    (void)block;
    h->calls_fwd++;
    for (int i = 0; i < out * in; i++) h->eff[id][i] = W[i] + h->lambda[id] * h->aux[id][i];
    return h->eff[id];
}

static void hook_backward(void *p, int block, m2pt_linear_id id, float *dW, int out, int in) {
    hook_state *h = p;
    (void)block;
    h->calls_bwd++;
    double dl = 0;
    for (int i = 0; i < out * in; i++) {
        dl += (double)dW[i] * h->aux[id][i];
        h->daux[id][i] += h->lambda[id] * dW[i];
    }
    h->dlambda[id] += (float)dl;
}

typedef struct {
    m2pt_params p;
    m2pt_blocks b;
    float *x, *r;
    size_t n;
} blk_ctx;

static double blk_loss(void *p) {
    blk_ctx *c = p;
    memcpy(m2pt_blocks_input(&c->b), c->x, c->n * sizeof(float));
    const float *y = m2pt_blocks_forward(&c->b, 2);
    return gc_dot(c->r, y, c->n);
}

static void setup_blocks(blk_ctx *c, int depth) {
    m2pt_params_reset(&c->p);
    m2pt_block_config cfg = {.dim = 8, .depth = depth, .heads = 2, .mlp_ratio = 2};
    assert_int_equal(m2pt_blocks_register(&c->b, &cfg, &c->p), 0);
    assert_int_equal(m2pt_params_alloc(&c->p), 0);
    assert_int_equal(m2pt_blocks_alloc(&c->b, &c->p, 2, 5), 0);
    /* weights well away from the 0.02 init so every path carries a sizeable gradient */
    for (int i = 0; i < c->p.n; i++) {
        const m2pt_tensor_info *t = &c->p.t[i];
        int is_norm_w = strstr(t->name, "ln") && strstr(t->name, "weight");
        gc_fill(m2pt_param(&c->p, i), t->numel, 100 + i, is_norm_w ? 0.7f : -0.5f, is_norm_w ? 1.3f : 0.5f);
    }
    c->n = 2 * 5 * 8;
    c->x = buf(c->n), c->r = buf(c->n);
    gc_fill(c->x, c->n, 20, -1, 1), gc_fill(c->r, c->n, 21, -1, 1);
}

static int check_all_params(blk_ctx *c, const char *prefix) {
    int bad = 0;
    for (int i = 0; i < c->p.n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s%s", prefix, c->p.t[i].name);
        bad += gc_check(label, blk_loss, c, m2pt_param(&c->p, i), m2pt_grad(&c->p, i), c->p.t[i].numel,
                        &(gc_opts){.h = 1e-2, .atol = 5e-4, .rtol = 2e-2, .samples = 40});
    }
    return bad;
}

static void test_block_stack(void **state) {
    (void)state;
    blk_ctx c;
    setup_blocks(&c, 2);
    blk_loss(&c);
    m2pt_params_zero_grads(&c.p);
    float *dx = buf(c.n);
    memcpy(dx, m2pt_blocks_backward(&c.b, c.r), c.n * sizeof(float));
    assert_int_equal(gc_check("blocks.input", blk_loss, &c, c.x, dx, c.n, &OPTS), 0);
    assert_int_equal(check_all_params(&c, ""), 0);
    free(dx), free(c.x), free(c.r);
    m2pt_blocks_free(&c.b);
    m2pt_params_free(&c.p);
}

/* A batch cut into many chunks and groups (300 tokens x 20 samples: 12 chunks in 8 groups of
 * unequal size, taken by the threads in any order) has the same gradients, to rounding, as its
 * samples run one at a time: every chunk counted once, in the right place. */
static void test_block_batch_is_sum_of_samples(void **state) {
    (void)state;
    enum { B = 20, T = 300, D = 8 };
    const size_t per = (size_t)T * D, n = B * per;
    m2pt_params p;
    m2pt_blocks b;
    m2pt_params_reset(&p);
    m2pt_block_config cfg = {.dim = D, .depth = 2, .heads = 2, .mlp_ratio = 2};
    assert_int_equal(m2pt_blocks_register(&b, &cfg, &p), 0);
    assert_int_equal(m2pt_params_alloc(&p), 0);
    assert_int_equal(m2pt_blocks_alloc(&b, &p, B, T), 0);
    for (int i = 0; i < p.n; i++) gc_fill(m2pt_param(&p, i), p.t[i].numel, 300 + i, -0.5f, 0.5f);
    float *x = buf(n), *r = buf(n), *dx_one = buf(n), *g_one = buf(p.total);
    gc_fill(x, n, 31, -1, 1), gc_fill(r, n, 32, -1, 1);
    m2pt_params_zero_grads(&p);
    for (int s = 0; s < B; s++) { /* the backward adds into the gradients: their sum over samples */
        memcpy(m2pt_blocks_input(&b), x + s * per, per * sizeof(float));
        m2pt_blocks_forward(&b, 1);
        memcpy(dx_one + s * per, m2pt_blocks_backward(&b, r + s * per), per * sizeof(float));
    }
    memcpy(g_one, p.grads, p.total * sizeof(float));
    m2pt_params_zero_grads(&p);
    memcpy(m2pt_blocks_input(&b), x, n * sizeof(float));
    m2pt_blocks_forward(&b, B);
    const float *dx = m2pt_blocks_backward(&b, r);
    for (size_t i = 0; i < n; i++)
        if (fabsf(dx[i] - dx_one[i]) > 1e-5f + 1e-4f * fabsf(dx_one[i])) {
            print_error("input gradient %zu (sample %zu): batch %.7g, one at a time %.7g\n", i, i / per, dx[i],
                        dx_one[i]);
            fail();
        }
    for (int t = 0; t < p.n; t++)
        for (size_t i = 0; i < p.t[t].numel; i++) {
            const float want = g_one[p.t[t].offset + i];
            const float got = m2pt_grad(&p, t)[i];
            if (fabsf(got - want) > 1e-4f + 1e-4f * fabsf(want)) {
                print_error("%s[%zu]: batch %.7g, sum over samples %.7g\n", p.t[t].name, i, got, want);
                fail();
            }
        }
    free(x), free(r), free(dx_one), free(g_one);
    m2pt_blocks_free(&b);
    m2pt_params_free(&p);
}

static void test_weight_hook(void **state) {
    (void)state;
    blk_ctx c;
    setup_blocks(&c, 1);
    hook_state h = {0};
    const int D = 8, F = 16, sizes[M2PT_LIN_COUNT] = {3 * D * D, D * D, F * D, D * F};
    for (int k = 0; k < M2PT_LIN_COUNT; k++) {
        h.aux[k] = buf(sizes[k]), h.eff[k] = buf(sizes[k]), h.daux[k] = buf(sizes[k]);
        gc_fill(h.aux[k], sizes[k], 40 + k, -0.5f, 0.5f);
        h.lambda[k] = 0.3f + 0.1f * k;
    }
    m2pt_weight_hook hook = {.ctx = &h, .effective = hook_effective, .backward = hook_backward};
    m2pt_blocks_set_hook(&c.b, &hook);
    blk_loss(&c);
    assert_int_equal(h.calls_fwd, M2PT_LIN_COUNT);
    m2pt_params_zero_grads(&c.p);
    m2pt_blocks_backward(&c.b, c.r);
    assert_int_equal(h.calls_bwd, M2PT_LIN_COUNT);
    assert_int_equal(check_all_params(&c, "hooked."), 0);
    for (int k = 0; k < M2PT_LIN_COUNT; k++) {
        char label[64];
        snprintf(label, sizeof label, "hook.lambda.%s", m2pt_linear_names[k]);
        assert_int_equal(gc_check(label, blk_loss, &c, &h.lambda[k], &h.dlambda[k], 1,
                                  &(gc_opts){.h = 1e-2, .atol = 5e-4, .rtol = 2e-2}), 0);
        snprintf(label, sizeof label, "hook.aux.%s", m2pt_linear_names[k]);
        assert_int_equal(gc_check(label, blk_loss, &c, h.aux[k], h.daux[k], sizes[k],
                                  &(gc_opts){.h = 1e-2, .atol = 5e-4, .rtol = 2e-2, .samples = 40}), 0);
    }
    for (int k = 0; k < M2PT_LIN_COUNT; k++) free(h.aux[k]), free(h.eff[k]), free(h.daux[k]);
    free(c.x), free(c.r);
    m2pt_blocks_free(&c.b);
    m2pt_params_free(&c.p);
}

/* ------------------------------------------------------------------ whole classifier */
typedef struct {
    m2pt_vit m;
    float *img;
    int labels[3];
} vit_ctx;

static double vit_loss(void *p) {
    vit_ctx *c = p;
    return m2pt_vit_forward(&c->m, c->img, c->labels, 3);
}

static void test_vit(void **state) {
    (void)state;
    vit_ctx c = {.labels = {2, 0, 1}};
    m2pt_vit_config cfg = {.blocks = {.dim = 8, .depth = 2, .heads = 2, .mlp_ratio = 2},
                           .channels = 2, .height = 4, .width = 6, .patch = 2, .classes = 3,
                           .label_smoothing = 0.1f};
    assert_int_equal(m2pt_vit_create(&c.m, &cfg, 3), 0);
    assert_int_equal(c.m.tokens, 7);
    for (int i = 0; i < c.m.params.n; i++) {
        const m2pt_tensor_info *t = &c.m.params.t[i];
        int is_norm_w = strstr(t->name, "norm") || strstr(t->name, "ln");
        is_norm_w = is_norm_w && strstr(t->name, "weight");
        gc_fill(m2pt_param(&c.m.params, i), t->numel, 200 + i, is_norm_w ? 0.7f : -0.5f, is_norm_w ? 1.3f : 0.5f);
    }
    c.img = buf(3 * 2 * 4 * 6);
    gc_fill(c.img, 3 * 2 * 4 * 6, 30, 0, 1);
    vit_loss(&c);
    m2pt_vit_backward(&c.m);
    int bad = 0;
    for (int i = 0; i < c.m.params.n; i++)
        bad += gc_check(c.m.params.t[i].name, vit_loss, &c, m2pt_param(&c.m.params, i),
                        m2pt_grad(&c.m.params, i), c.m.params.t[i].numel,
                        &(gc_opts){.h = 1e-2, .atol = 1e-4, .rtol = 2e-2, .samples = 30});
    assert_int_equal(bad, 0);
    free(c.img);
    m2pt_vit_free(&c.m);
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    m2pt_threads_init(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),     cmocka_unit_test(test_layernorm),   cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_residual),   cmocka_unit_test(test_attention),   cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_block_stack), cmocka_unit_test(test_block_batch_is_sum_of_samples),
        cmocka_unit_test(test_weight_hook), cmocka_unit_test(test_vit),
    };
    int failed = cmocka_run_group_tests_name("gradient checks", tests, NULL, NULL);
    m2pt_threads_shutdown();
    return failed ? 1 : 0;
}
