/* Masked-autoencoder pretraining (mae.h, model.h's MAE entry points):
 *  - masking: exactly round(ratio * L) of the maskable tokens per sample, never a prefix token,
 *    keep lists sorted, the same for a seed, different across seeds, sample i independent of n;
 *  - each loss (normalised MSE, Chamfer L2, cross-entropy) against a double-precision reference
 *    and by finite differences;
 *  - the whole engine's backward by finite differences w.r.t. decoder tensors, encoder block
 *    tensors and the input tokens, for all three losses (with and without position features
 *    and a prefix token);
 *  - at model level, with an in-process test-double modality: refusals (1.0-sized table, a
 *    pathway that needs an auxiliary model, unsupported attention shapes), no allocation in an
 *    MAE step (the test links with -Wl,--wrap for the allocator), the loss falls on 64 samples,
 *    reruns are bit-identical, the head is neither trained nor saved, and a pretrained checkpoint
 *    starts a classifier (load_pretrained) and serves as an auxiliary model;
 *  - PyTorch parity at a fixed mask (tests/fixtures/mae.bin from tests/reference/make_mae_fixture.py):
 *    the mask, the loss (1e-5) and every gradient (1e-4) of the three losses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adamw.h"
#include "blas.h"
#include "checkpoint.h"
#include "gradcheck.h"
#include "json.h"
#include "mae.h"
#include "mae_loss.h"
#include "model.h"
#include "support/fixture.h"
#include "threads.h"
#include "trainer.h"
#include "util.h"

static int counting;
static long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n) { allocations += counting; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { allocations += counting; return __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { allocations += counting; return __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { allocations += counting; return __real_posix_memalign(p, a, n); }

#define TOL_PARITY_GRAD 1e-4

static float *buf(size_t n) {
    float *p = m2pt_alloc_floats(n);
    assert_non_null(p);
    return p;
}

/* =============================================================== the test-double modality
 * Sample = L tokens of F floats, x[t, f] = sin(phase + 0.2 t + 1.3 f) + 0.1 noise (the phase,
 * the class, comes from the sample): a masked token is predictable from the visible ones.
 * Tokenizer: [cls +] W x + b + pos. Head (never used by pretraining): mean -> linear.
 * Targets: MSE the token's floats; CHAMFER its F / 3 points; CLASS floor(x[t, 0] * 2 + 2)
 * clamped to 0..3. Position features (pos 1): (cos 0.7t, sin 0.7t, t / L). Weight 0 for token 0
 * of odd samples (the loss must skip it). */
typedef struct {
    int loss, prefix, pos, L, F;
    int bad; /* CLASS: sample 0's token 0 gets class 7 of 4 (a plugin bug) */
} toy_cfg;
static const double g_shift = 0.2; /* how much a token's pattern moves along the sequence */
static toy_cfg g_toy = {M2PT_RECON_MSE, 1, 1, 16, 6, 0};

typedef struct {
    const m2pt_host *h;
    m2pt_ctx *ctx;
    toy_cfg c;
    long n_split[3];
    float *x[3];
    int *y[3];
    int D, max_batch, last_n;
    int w_e, b_e, cls, pos, head_w, head_b;
    float *saved; /* [B, L, F] input of the last tokenize */
    const float *fill_raw_dummy;
} toy;

static int toy_open(const m2pt_host *h, m2pt_ctx *ctx, void **inst) {
    toy *m = h->alloc(ctx, sizeof *m);
    if (!m) return -1;
    m->h = h, m->ctx = ctx, m->c = g_toy;
    m->n_split[0] = 64, m->n_split[1] = 16, m->n_split[2] = 16;
    const size_t S = (size_t)m->c.L * m->c.F;
    for (int s = 0; s < 3; s++) {
        m->x[s] = h->alloc(ctx, (size_t)m->n_split[s] * S * sizeof(float));
        m->y[s] = h->alloc(ctx, (size_t)m->n_split[s] * sizeof(int));
        if (!m->x[s] || !m->y[s]) return -1;
        for (long i = 0; i < m->n_split[s]; i++) {
            m2pt_rng_state r;
            h->rng_seed(&r, h->seed(ctx), (uint64_t)s << 32 | (uint64_t)i);
            const int cl = (int)(h->rng_u64(&r) % 4);
            m->y[s][i] = cl % 2;
            const double phase = cl * 1.57 + 0.3 * h->rng_normal(&r);
            for (int t = 0; t < m->c.L; t++)
                for (int f = 0; f < m->c.F; f++)
                    m->x[s][(size_t)i * S + (size_t)t * m->c.F + f] =
                        (float)(sin(phase + g_shift * t + 1.3 * f) + 0.1 * h->rng_normal(&r));
        }
    }
    *inst = m;
    return 0;
}
static void toy_close(void *inst) { (void)inst; }
static int toy_classes(void *inst) { (void)inst; return 2; }
static const char *toy_class_name(void *inst, int l) { (void)inst; return l ? "b" : "a"; }
static long toy_split_size(void *inst, m2pt_split_id s) { return ((toy *)inst)->n_split[s]; }
static long toy_sample_floats(void *inst) { return (long)((toy *)inst)->c.L * ((toy *)inst)->c.F; }
static int toy_fill(void *inst, m2pt_split_id s, const long *index, int n, int augment, uint64_t seed, float *raw,
                    int *labels) {
    (void)augment, (void)seed;
    toy *m = inst;
    const size_t S = (size_t)m->c.L * m->c.F;
    for (int i = 0; i < n; i++) {
        memcpy(raw + (size_t)i * S, m->x[s] + (size_t)index[i] * S, S * sizeof(float));
        labels[i] = m->y[s][index[i]];
    }
    return 0;
}
static int toy_tokens(void *inst) { return ((toy *)inst)->c.L + ((toy *)inst)->c.prefix; }
static int toy_setup(void *inst, const m2pt_shape *sh, int max_batch) {
    toy *m = inst;
    const int D = sh->dim, F = m->c.F, T = toy_tokens(m);
    m->D = D, m->max_batch = max_batch;
    const int s_e[2] = {D, F}, s_d[1] = {D}, s_pos[2] = {T, D}, s_hw[2] = {2, D}, s_hb[1] = {2};
    m->w_e = m->h->param_add(m->ctx, "toy.embed.weight", 2, s_e, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->b_e = m->h->param_add(m->ctx, "toy.embed.bias", 1, s_d, M2PT_FILL_ZERO, 0, 0);
    m->cls = m->h->param_add(m->ctx, "toy.cls", 1, s_d, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    m->pos = m->h->param_add(m->ctx, "toy.pos", 2, s_pos, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    m->head_w = m->h->param_add(m->ctx, "toy.head.weight", 2, s_hw, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->head_b = m->h->param_add(m->ctx, "toy.head.bias", 1, s_hb, M2PT_FILL_ZERO, 0, 0);
    m->saved = m->h->alloc(m->ctx, (size_t)max_batch * m->c.L * F * sizeof(float));
    return m->w_e < 0 || m->b_e < 0 || m->cls < 0 || m->pos < 0 || m->head_w < 0 || m->head_b < 0 || !m->saved;
}
static void toy_tokenize(void *inst, const float *raw, int n, float *tokens) {
    toy *m = inst;
    const int D = m->D, L = m->c.L, F = m->c.F, P = m->c.prefix, T = L + P;
    m->last_n = n;
    memcpy(m->saved, raw, (size_t)n * L * F * sizeof(float));
    const float *pos = m->h->param(m->ctx, m->pos), *cls = m->h->param(m->ctx, m->cls);
    for (int b = 0; b < n; b++) {
        float *tb = tokens + (size_t)b * T * D;
        m->h->linear_forward(tb + (size_t)P * D, raw + (size_t)b * L * F, m->h->param(m->ctx, m->w_e),
                             m->h->param(m->ctx, m->b_e), L, F, D);
        if (P) memcpy(tb, cls, (size_t)D * sizeof(float));
        for (size_t i = 0; i < (size_t)T * D; i++) tb[i] += pos[i];
    }
}
static void toy_tokenize_backward(void *inst, const float *d, int n) {
    toy *m = inst;
    const int D = m->D, L = m->c.L, F = m->c.F, P = m->c.prefix, T = L + P;
    float *gp = m->h->grad(m->ctx, m->pos), *gc = m->h->grad(m->ctx, m->cls);
    for (int b = 0; b < n; b++) {
        const float *db = d + (size_t)b * T * D;
        for (size_t i = 0; i < (size_t)T * D; i++) gp[i] += db[i];
        for (int i = 0; P && i < D; i++) gc[i] += db[i];
        m->h->linear_backward(NULL, m->h->grad(m->ctx, m->w_e), m->h->grad(m->ctx, m->b_e), db + (size_t)P * D,
                              m->saved + (size_t)b * L * F, m->h->param(m->ctx, m->w_e), L, F, D);
    }
}
static void toy_head(void *inst, const float *tokens, int n, float *logits) {
    toy *m = inst;
    const int D = m->D, T = toy_tokens(m);
    const float *w = m->h->param(m->ctx, m->head_w), *bias = m->h->param(m->ctx, m->head_b);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < 2; c++) {
            double s = bias[c];
            for (int t = 0; t < T; t++)
                for (int i = 0; i < D; i++) s += w[c * D + i] * tokens[((size_t)b * T + t) * D + i] / T;
            logits[b * 2 + c] = (float)s;
        }
}
static void toy_head_backward(void *inst, const float *dl, int n, float *d_tokens) {
    toy *m = inst;
    const int D = m->D, T = toy_tokens(m);
    const float *w = m->h->param(m->ctx, m->head_w);
    float *gb = m->h->grad(m->ctx, m->head_b);
    for (int b = 0; b < n; b++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D; i++)
                d_tokens[((size_t)b * T + t) * D + i] = (dl[b * 2] * w[i] + dl[b * 2 + 1] * w[D + i]) / T;
    for (int b = 0; b < n; b++) gb[0] += dl[b * 2], gb[1] += dl[b * 2 + 1]; /* head.weight: not needed here */
}
static int toy_recon_spec(void *inst, m2pt_recon_spec *s) {
    toy *m = inst;
    s->loss = m->c.loss;
    s->prefix_tokens = m->c.prefix;
    s->target_floats = m->c.loss == M2PT_RECON_CLASS ? 1 : m->c.F;
    s->classes = m->c.loss == M2PT_RECON_CLASS ? 4 : 0;
    s->pos_floats = m->c.pos ? 3 : 0;
    s->head_prefixes = "toy.head.";
    return 0;
}
static void toy_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    toy *m = inst;
    const int L = m->c.L, F = m->c.F;
    for (int b = 0; b < n; b++)
        for (int t = 0; t < L; t++) {
            const float *x = m->saved + ((size_t)b * L + t) * F;
            const size_t r = (size_t)b * L + t;
            if (m->c.loss == M2PT_RECON_CLASS) {
                float c = floorf(x[0] * 2.0f + 2.0f);
                target[r] = c < 0 ? 0 : c > 3 ? 3 : c;
                if (m->c.bad && r == 0) target[r] = 7.0f;
            } else {
                memcpy(target + r * F, x, (size_t)F * sizeof(float));
            }
            weight[r] = (b % 2 && t == 0) ? 0.0f : 1.0f;
            if (pos) pos[r * 3] = cosf(0.7f * t), pos[r * 3 + 1] = sinf(0.7f * t), pos[r * 3 + 2] = (float)t / L;
        }
}

static m2pt_modality toy_modality = {
    .struct_size = sizeof(m2pt_modality), .open = toy_open, .close = toy_close, .classes = toy_classes,
    .class_name = toy_class_name, .split_size = toy_split_size, .sample_floats = toy_sample_floats,
    .fill = toy_fill, .tokens = toy_tokens, .setup = toy_setup, .tokenize = toy_tokenize,
    .tokenize_backward = toy_tokenize_backward, .head = toy_head, .head_backward = toy_head_backward,
    .recon_spec = toy_recon_spec, .recon_target = toy_recon_target};
static m2pt_plugin toy_plugin = {.struct_size = sizeof(m2pt_plugin), .abi_major = M2PT_ABI_MAJOR,
                                 .abi_minor = M2PT_ABI_MINOR, .kind = M2PT_KIND_MODALITY, .name = "maetoy",
                                 .version = "1", .description = "test double", .modality = &toy_modality};

/* Pathways: the plain one, and one that claims to need an auxiliary model. */
static int pw_open(const m2pt_host *h, m2pt_ctx *c, void **inst) { (void)h, (void)c; *inst = (void *)1; return 0; }
static void pw_close(void *inst) { (void)inst; }
static int pw_no(void *inst) { (void)inst; return 0; }
static int pw_yes(void *inst) { (void)inst; return 1; }
static int pw_setup(void *inst, const m2pt_shape *s, const m2pt_aux_weights *a) { (void)inst, (void)s, (void)a; return 0; }
static int pw_init(void *inst) { (void)inst; return 0; }
static const float *pw_eff(void *inst, int b, m2pt_linear w, const float *W, int o, int i) {
    (void)inst, (void)b, (void)w, (void)o, (void)i;
    return W;
}
static void pw_merge(void *inst, int b, m2pt_linear w, float *W, int o, int i) { (void)inst, (void)b, (void)w, (void)W, (void)o, (void)i; }
static const m2pt_pathway plain_pw = {sizeof(m2pt_pathway), pw_open, pw_close, pw_no, pw_setup, pw_init, pw_eff, NULL, pw_merge};
static const m2pt_pathway aux_pw = {sizeof(m2pt_pathway), pw_open, pw_close, pw_yes, pw_setup, pw_init, pw_eff, NULL, pw_merge};
static const m2pt_plugin plain_plugin = {sizeof(m2pt_plugin), M2PT_ABI_MAJOR, M2PT_ABI_MINOR, M2PT_KIND_PATHWAY,
                                         "plain", "1", "W", NULL, &plain_pw};
static const m2pt_plugin aux_plugin = {sizeof(m2pt_plugin), M2PT_ABI_MAJOR, M2PT_ABI_MINOR, M2PT_KIND_PATHWAY,
                                       "needsaux", "1", "W + W_aux", NULL, &aux_pw};

static const m2pt_shape SHAPE = {.dim = 32, .depth = 2, .heads = 2, .mlp_ratio = 2};
static const m2pt_mae_config MAE_CFG = {0.75, 32, 2, 2};

static int open_toy(m2pt_model *m, const m2pt_plugin *pw, const m2pt_mae_config *mae, uint64_t seed, char *err,
                    size_t errlen) {
    m2pt_model_options o = {.shape = SHAPE, .max_batch = 16, .seed = seed, .mae = mae};
    return m2pt_model_open(m, &toy_plugin, NULL, "modality.", pw, NULL, "pathway.", &o, err, errlen);
}

static void must_open(m2pt_model *m, const m2pt_mae_config *mae, uint64_t seed) {
    char err[1024];
    if (open_toy(m, &plain_plugin, mae, seed, err, sizeof err)) fail_msg("%s", err);
}

/* ================================================================== masking */
static void test_masked_count(void **state) {
    (void)state;
    assert_int_equal(m2pt_mae_masked_count(0.75, 49), 37); /* 36.75 rounds to 37 */
    assert_int_equal(m2pt_mae_masked_count(0.75, 16), 12);
    assert_int_equal(m2pt_mae_masked_count(0.75, 2), 1);
    assert_int_equal(m2pt_mae_masked_count(0.01, 10), 1); /* at least one */
    assert_int_equal(m2pt_mae_masked_count(0.99, 10), 9); /* at least one visible */
    assert_int_equal(m2pt_mae_masked_count(0.5, 7), 4);   /* 3.5 rounds up */
}

static void test_mask_properties(void **state) {
    (void)state;
    enum { N = 64, T = 50, PRE = 1 };
    const int M = m2pt_mae_masked_count(0.75, T - PRE), Tv = T - M;
    int *k1 = malloc(N * Tv * sizeof(int)), *k2 = malloc(N * Tv * sizeof(int)), *k3 = malloc(N * Tv * sizeof(int));
    unsigned char m1[N * T], m2[N * T], m3[N * T];
    assert_non_null(k1), assert_non_null(k2), assert_non_null(k3);
    m2pt_mae_mask(42, N, T, PRE, 0.75, k1, m1);
    m2pt_mae_mask(42, N, T, PRE, 0.75, k2, m2);
    assert_memory_equal(k1, k2, N * Tv * sizeof(int));
    assert_memory_equal(m1, m2, sizeof m1);
    m2pt_mae_mask(43, N, T, PRE, 0.75, k3, m3);
    assert_memory_not_equal(m1, m3, sizeof m1);
    long hits[T] = {0};
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int masked = 0;
        for (int t = 0; t < T; t++) masked += m1[i * T + t], hits[t] += m1[i * T + t];
        assert_int_equal(masked, M);
        assert_int_equal(m1[i * T], 0); /* the prefix token is never masked */
        assert_int_equal(k1[i * Tv], 0); /* and comes first */
        for (int j = 1; j < Tv; j++) {
            assert_true(k1[i * Tv + j] > k1[i * Tv + j - 1]); /* sorted */
            assert_int_equal(m1[i * T + k1[i * Tv + j]], 0);   /* and visible */
        }
        if (i && memcmp(m1 + i * T, m1 + (i - 1) * T, T)) distinct++;
    }
    assert_true(distinct > N / 2); /* samples get their own masks */
    /* sample i depends only on (seed, i): the first 5 samples of a batch of 5 are the same */
    int k5[5 * 50];
    unsigned char m5[5 * T];
    m2pt_mae_mask(42, 5, T, PRE, 0.75, k5, m5);
    assert_memory_equal(m5, m1, sizeof m5);
    /* uniform over the maskable tokens: each is masked about 75% of the time over many samples */
    enum { NB = 2000 };
    int *kb = malloc((size_t)NB * Tv * sizeof(int));
    unsigned char *mb = malloc((size_t)NB * T);
    assert_non_null(kb), assert_non_null(mb);
    m2pt_mae_mask(7, NB, T, PRE, 0.75, kb, mb);
    double worst = 0;
    for (int t = PRE; t < T; t++) {
        long c = 0;
        for (int i = 0; i < NB; i++) c += mb[i * T + t];
        worst = fmax(worst, fabs((double)c / NB - (double)M / (T - PRE)));
    }
    printf("  masks: %d of %d maskable tokens per sample; per-token frequency within %.3f of %.3f over %d samples\n",
           M, T - PRE, worst, (double)M / (T - PRE), NB);
    assert_true(worst < 0.05);
    free(k1), free(k2), free(k3), free(kb), free(mb);
}

/* ================================================================== losses */
typedef struct {
    int kind, rows, out;
    float *pred, *tgt;
} loss_ctx;

static double loss_all(void *p) {
    loss_ctx *c = p;
    const int tf = c->kind == M2PT_RECON_CLASS ? 1 : c->out;
    double s = 0;
    for (int r = 0; r < c->rows; r++)
        s += m2pt_recon_token_loss(c->kind, c->pred + (size_t)r * c->out, c->tgt + (size_t)r * tf, c->out, 0, NULL);
    return s;
}

/* double-precision references */
static double ref_mse(const float *p, const float *t, int n) {
    double mean = 0, var = 0, s = 0;
    for (int i = 0; i < n; i++) mean += t[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (t[i] - mean) * (t[i] - mean);
    var /= n - 1;
    for (int i = 0; i < n; i++) {
        double d = p[i] - (t[i] - mean) / sqrt(var + 1e-6);
        s += d * d;
    }
    return s / n;
}
static double ref_chamfer(const float *p, const float *t, int n) {
    const int P = n / 3;
    double a = 0, b = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < P; j++) {
            const float *q = pass ? t + 3 * j : p + 3 * j, *set = pass ? p : t;
            double best = INFINITY;
            for (int k = 0; k < P; k++) {
                double d = 0;
                for (int c = 0; c < 3; c++) d += ((double)q[c] - set[3 * k + c]) * ((double)q[c] - set[3 * k + c]);
                best = fmin(best, d);
            }
            *(pass ? &b : &a) += best;
        }
    return a / P + b / P;
}
static double ref_ce(const float *z, float c, int C) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < C; i++) mx = fmax(mx, z[i]);
    for (int i = 0; i < C; i++) s += exp(z[i] - mx);
    return mx + log(s) - z[(int)c];
}

static void check_loss(int kind, int out, const char *label) {
    enum { R = 7 };
    const int tf = kind == M2PT_RECON_CLASS ? 1 : out;
    loss_ctx c = {kind, R, out, buf(R * out), buf(R * tf)};
    gc_fill(c.pred, R * out, 11 + kind, -1.5f, 1.5f);
    gc_fill(c.tgt, R * tf, 21 + kind, -2.0f, 2.0f);
    if (kind == M2PT_RECON_CLASS)
        for (int r = 0; r < R; r++) c.tgt[r] = (float)(r % out);
    if (kind == M2PT_RECON_MSE) { /* the engine normalises once, then compares */
        float *raw = buf(R * tf);
        memcpy(raw, c.tgt, R * tf * sizeof(float));
        m2pt_recon_normalise(c.tgt, raw, R, tf);
        double worst = 0;
        for (int r = 0; r < R; r++) {
            double got = m2pt_recon_token_loss(kind, c.pred + r * out, c.tgt + r * tf, out, 0, NULL);
            double ref = ref_mse(c.pred + r * out, raw + r * tf, tf);
            worst = fmax(worst, fabs(got - ref) / ref);
        }
        printf("  %s: loss vs double reference (unbiased variance, eps 1e-6): worst relative error %.2e\n", label, worst);
        assert_true(worst < 1e-5);
        free(raw);
    } else {
        double worst = 0;
        for (int r = 0; r < R; r++) {
            double got = m2pt_recon_token_loss(kind, c.pred + r * out, c.tgt + r * tf, out, 0, NULL);
            double ref = kind == M2PT_RECON_CHAMFER ? ref_chamfer(c.pred + r * out, c.tgt + r * tf, out)
                                                    : ref_ce(c.pred + r * out, c.tgt[r], out);
            worst = fmax(worst, fabs(got - ref) / ref);
        }
        printf("  %s: loss vs double reference: worst relative error %.2e\n", label, worst);
        assert_true(worst < 1e-6);
    }
    float *g = buf(R * out);
    for (int r = 0; r < R; r++) m2pt_recon_token_loss(kind, c.pred + r * out, c.tgt + r * tf, out, 1.0f, g + r * out);
    assert_int_equal(gc_check(label, loss_all, &c, c.pred, g, R * out,
                              &(gc_opts){.h = 1e-3, .atol = 1e-4, .rtol = 1e-2, .samples = 0}), 0);
    /* the scale multiplies the gradient */
    float g2[64];
    m2pt_recon_token_loss(kind, c.pred, c.tgt, out, 0.5f, g2);
    for (int i = 0; i < out; i++) assert_float_equal(g2[i], 0.5f * g[i], 1e-6);
    free(c.pred), free(c.tgt), free(g);
}

static void test_loss_mse(void **state) { (void)state; check_loss(M2PT_RECON_MSE, 12, "loss.mse"); }
static void test_loss_chamfer(void **state) { (void)state; check_loss(M2PT_RECON_CHAMFER, 3 * 8, "loss.chamfer"); }
static void test_loss_ce(void **state) {
    (void)state;
    check_loss(M2PT_RECON_CLASS, 9, "loss.ce");
    float z[3] = {0, 1, 2};
    assert_true(isnan(m2pt_recon_token_loss(M2PT_RECON_CLASS, z, &(float){3.0f}, 3, 0, NULL)));
    assert_true(isnan(m2pt_recon_token_loss(M2PT_RECON_CLASS, z, &(float){0.5f}, 3, 0, NULL)));
    assert_int_equal(m2pt_recon_class(2.0f, 3), 2);
    assert_int_equal(m2pt_recon_class(-1.0f, 3), -1);
}

/* ================================================================== the whole engine */
typedef struct {
    m2pt_params p;
    m2pt_blocks enc;
    m2pt_mae *a;
    float *tokens, *target, *weight, *pos;
    int n;
    uint64_t seed;
} eng;

static double eng_loss(void *p) {
    eng *e = p;
    return m2pt_mae_forward(e->a, e->tokens, e->target, e->weight, e->pos, e->n, e->seed);
}

static void engine_gradcheck(int kind, int prefix, int pos_floats) {
    enum { N = 3, L = 8, D = 16 };
    const int T = L + prefix;
    const int tf = kind == M2PT_RECON_CLASS ? 1 : kind == M2PT_RECON_CHAMFER ? 12 : 10;
    m2pt_recon_spec spec = {kind, prefix, tf, kind == M2PT_RECON_CLASS ? 5 : 0, pos_floats, NULL};
    eng e = {.n = N, .seed = 99};
    m2pt_params_reset(&e.p);
    const m2pt_block_config bc = {D, 2, 2, 2};
    assert_int_equal(m2pt_blocks_register(&e.enc, &bc, &e.p), 0);
    char err[256];
    const m2pt_mae_config cfg = {0.5, 12, 2, 2};
    e.a = m2pt_mae_create(&cfg, &spec, &e.enc, T, &e.p, err, sizeof err);
    if (!e.a) fail_msg("%s", err);
    assert_int_equal(m2pt_params_alloc(&e.p), 0);
    assert_int_equal(m2pt_mae_alloc(e.a, N), 0);
    m2pt_params_init(&e.p, 3);
    for (int i = 0; i < e.p.n; i++) { /* away from the init's zeros and ones */
        float noise[4096];
        const size_t k = e.p.t[i].numel < 4096 ? e.p.t[i].numel : 4096;
        gc_fill(noise, k, 100 + i, -0.2f, 0.2f);
        for (size_t j = 0; j < k; j++) m2pt_param(&e.p, i)[j] += noise[j];
    }
    if (kind == M2PT_RECON_CHAMFER) /* predicted points well apart: few argmin ties to straddle */
        gc_fill(m2pt_param(&e.p, m2pt_params_find(&e.p, "mae.pred.bias")), tf, 5, -1.5f, 1.5f);
    e.tokens = buf(N * T * D), e.target = buf(N * L * tf), e.weight = buf(N * L), e.pos = buf(N * L * 3);
    gc_fill(e.tokens, N * T * D, 1, -1, 1), gc_fill(e.target, N * L * tf, 2, -1, 1), gc_fill(e.pos, N * L * 3, 3, -1, 1);
    for (int i = 0; i < N * L; i++) {
        e.weight[i] = i % 5 == 1 ? 0.0f : i % 3 ? 1.0f : 0.5f; /* skipped, weighted and plain tokens */
        if (kind == M2PT_RECON_CLASS) e.target[i] = (float)(i % 5);
    }
    const float loss = m2pt_mae_forward(e.a, e.tokens, e.target, e.weight, e.pos, N, e.seed);
    assert_true(isfinite(loss) && loss > 0);
    m2pt_params_zero_grads(&e.p);
    const float *dx = m2pt_mae_backward(e.a);
    float *d_tokens = buf(N * T * D);
    memcpy(d_tokens, dx, N * T * D * sizeof(float));
    char label[64];
    const char *names[] = {"mae.pred.weight", "mae.pred.bias", "mae.dec_norm.weight", "mae.blocks.1.fc2.weight",
                           "mae.blocks.0.qkv.weight", "mae.blocks.0.ln1.bias", "mae.mask_token", "mae.pos",
                           "mae.embed.weight", "mae.norm.weight", "mae.norm.bias", "blocks.1.fc1.weight",
                           "blocks.0.qkv.weight", "blocks.0.proj.bias", "blocks.0.ln1.weight",
                           "mae.pos_proj.weight", "mae.pos_proj.bias"};
    /* Chamfer's nearest-neighbour argmins switch under a perturbation: a smaller step */
    const double h = kind == M2PT_RECON_CHAMFER ? 2e-3 : 1e-2;
    const gc_opts o = {.h = h, .atol = 1e-4, .rtol = 3e-2, .samples = 24};
    const char *kn = kind == M2PT_RECON_MSE ? "mse" : kind == M2PT_RECON_CHAMFER ? "chamfer" : "ce";
    int checked = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const int i = m2pt_params_find(&e.p, names[k]);
        if (i < 0) {
            assert_int_equal(pos_floats, 0); /* only pos_proj is optional */
            continue;
        }
        snprintf(label, sizeof label, "mae.%s %s", kn, names[k] + (strncmp(names[k], "mae.", 4) ? 0 : 4));
        assert_int_equal(gc_check(label, eng_loss, &e, m2pt_param(&e.p, i), m2pt_grad(&e.p, i), e.p.t[i].numel, &o), 0);
        checked++;
    }
    snprintf(label, sizeof label, "mae.%s tokens", kn);
    assert_int_equal(gc_check(label, eng_loss, &e, e.tokens, d_tokens, N * T * D, &(gc_opts){.h = h, .atol = 1e-4, .rtol = 3e-2,
                                                                                              .samples = 60}),
                     0);
    /* masked tokens get no gradient, visible ones do */
    unsigned char masked[N * 16];
    int keep[N * 16];
    m2pt_mae_mask(e.seed, N, T, prefix, 0.5, keep, masked);
    int nz_vis = 0;
    for (int b = 0; b < N; b++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += fabs(d_tokens[((size_t)b * T + t) * D + d]);
            if (masked[b * T + t]) assert_true(s == 0.0);
            else nz_vis += s > 0;
        }
    assert_int_equal(nz_vis, N * (T - m2pt_mae_masked_count(0.5, L)));
    assert_true(checked >= 15);
    m2pt_mae_free(e.a);
    m2pt_blocks_free(&e.enc);
    m2pt_params_free(&e.p);
    free(e.tokens), free(e.target), free(e.weight), free(e.pos), free(d_tokens);
}

static void test_engine_grad_mse(void **state) { (void)state; engine_gradcheck(M2PT_RECON_MSE, 1, 3); }
static void test_engine_grad_chamfer(void **state) { (void)state; engine_gradcheck(M2PT_RECON_CHAMFER, 0, 3); }
static void test_engine_grad_ce(void **state) { (void)state; engine_gradcheck(M2PT_RECON_CLASS, 1, 0); }

static void test_config_check(void **state) {
    (void)state;
    char err[300];
    const m2pt_recon_spec mse = {M2PT_RECON_MSE, 1, 8, 0, 0, NULL};
    m2pt_mae_config c = M2PT_MAE_DEFAULTS;
    assert_int_equal(m2pt_mae_config_check(&c, &mse, 17, err, sizeof err), 0);
    c.mask_ratio = 1.0;
    assert_int_equal(m2pt_mae_config_check(&c, &mse, 17, err, sizeof err), -1);
    assert_non_null(strstr(err, "mask_ratio"));
    c = (m2pt_mae_config){0.75, 4096, 1, 1}; /* head dim 4096 over 65 tokens: too large for the kernel */
    assert_int_equal(m2pt_mae_config_check(&c, &mse, 65, err, sizeof err), -1);
    assert_non_null(strstr(err, "attention"));
    printf("  refused: %s\n", err);
    c = (m2pt_mae_config){0.75, 30, 2, 4};
    assert_int_equal(m2pt_mae_config_check(&c, &mse, 17, err, sizeof err), -1);
    assert_non_null(strstr(err, "divisible"));
    c = (m2pt_mae_config)M2PT_MAE_DEFAULTS;
    const m2pt_recon_spec one = {M2PT_RECON_MSE, 1, 1, 0, 0, NULL}, pts = {M2PT_RECON_CHAMFER, 1, 10, 0, 3, NULL},
                          cls = {M2PT_RECON_CLASS, 0, 1, 1, 0, NULL};
    assert_int_equal(m2pt_mae_config_check(&c, &one, 17, err, sizeof err), -1);
    assert_int_equal(m2pt_mae_config_check(&c, &pts, 17, err, sizeof err), -1);
    assert_int_equal(m2pt_mae_config_check(&c, &cls, 17, err, sizeof err), -1);
    assert_int_equal(m2pt_mae_config_check(&c, &mse, 2, err, sizeof err), -1); /* 1 maskable token */
    assert_non_null(strstr(err, "maskable"));
}

/* ================================================================== model level */
static void test_refusals(void **state) {
    (void)state;
    char err[1024];
    m2pt_model m;
    /* a plugin built against ABI 1.0: its table ends before recon_spec */
    m2pt_modality old = toy_modality;
    old.struct_size = (uint32_t)M2PT_MODALITY_SIZE_1_0;
    m2pt_plugin oldp = toy_plugin;
    oldp.name = "oldtoy";
    oldp.modality = &old;
    m2pt_model_options o = {.shape = SHAPE, .max_batch = 4, .seed = 1, .mae = &MAE_CFG};
    assert_int_equal(m2pt_model_open(&m, &oldp, NULL, "m.", &plain_plugin, NULL, "p.", &o, err, sizeof err), -1);
    printf("  1.0 table: %s\n", err);
    assert_non_null(strstr(err, "modality 'oldtoy' cannot be pretrained with objective mae"));
    assert_non_null(strstr(err, "ABI 1.0"));
    /* the same table opens fine for classification */
    o.mae = NULL;
    assert_int_equal(m2pt_model_open(&m, &oldp, NULL, "m.", &plain_plugin, NULL, "p.", &o, err, sizeof err), 0);
    m2pt_model_close(&m);
    /* a full-size table with NULL members */
    m2pt_modality nulls = toy_modality;
    nulls.recon_target = NULL;
    oldp.modality = &nulls;
    o.mae = &MAE_CFG;
    assert_int_equal(m2pt_model_open(&m, &oldp, NULL, "m.", &plain_plugin, NULL, "p.", &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "modality 'oldtoy'"));
    /* a pathway that needs an auxiliary model */
    assert_int_equal(open_toy(&m, &aux_plugin, &MAE_CFG, 1, err, sizeof err), -1);
    printf("  aux pathway: %s\n", err);
    assert_non_null(strstr(err, "needsaux"));
    /* a decoder the attention kernel cannot run */
    const m2pt_mae_config big = {0.75, 2048, 1, 1};
    g_toy.L = 63;
    assert_int_equal(open_toy(&m, &plain_plugin, &big, 1, err, sizeof err), -1);
    g_toy.L = 16;
    printf("  big decoder: %s\n", err);
    assert_non_null(strstr(err, "attention"));
    /* m2pt_model_forward on an MAE model is refused, not run out of bounds */
    must_open(&m, &MAE_CFG, 1);
    assert_true(isnan(m2pt_model_forward(&m, 4)));
    assert_non_null(m2pt_model_error(&m));
    m2pt_model_close(&m);
}

static void fill_first(m2pt_model *m, int n, long first) {
    long idx[16];
    for (int i = 0; i < n; i++) idx[i] = first + i;
    char err[512];
    if (m2pt_model_fill(m, M2PT_SPLIT_TRAIN, idx, n, 0, 0, err, sizeof err)) fail_msg("%s", err);
}

static void test_no_allocation_in_step(void **state) {
    (void)state;
    m2pt_model m;
    must_open(&m, &MAE_CFG, 3);
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 1e-3f, 0.05f);
    opt.clip_norm = 1.0f;
    fill_first(&m, 16, 0);
    allocations = 0;
    counting = 1;
    float loss = 0;
    for (int s = 0; s < 3; s++) {
        loss = m2pt_model_mae_forward(&m, 16, (uint64_t)s);
        m2pt_model_mae_backward(&m);
        m2pt_adamw_step(&opt, &m.params, 1e-3f);
    }
    counting = 0;
    assert_true(isfinite(loss));
    assert_int_equal(allocations, 0);
    m2pt_model_close(&m);
    counting = 1; /* the counter works: opening allocates */
    must_open(&m, &MAE_CFG, 3);
    counting = 0;
    assert_true(allocations > 0);
    m2pt_model_close(&m);
}

/* ------------------------------------------------------------- training with the trainer */
typedef struct {
    m2pt_model *m;
    uint64_t mask_seed;
} mae_tr;

static int tr_fill(void *p, const long *index, int n, int augment, uint64_t seed, char *err, size_t errlen) {
    mae_tr *t = p;
    t->mask_seed = seed; /* a fresh mask per step, from the step's seed */
    return m2pt_model_fill(t->m, M2PT_SPLIT_TRAIN, index, n, augment, seed, err, errlen);
}
static float tr_forward(void *p, int n) { mae_tr *t = p; return m2pt_model_mae_forward(t->m, n, t->mask_seed); }
static void tr_backward(void *p) { m2pt_model_mae_backward(((mae_tr *)p)->m); }

/* Trains an MAE model on the 64 training samples; returns the loss on the training set before
 * and after (fixed evaluation masks). */
static float g_lr = 2e-3f;
static void train_mae(m2pt_model *m, uint64_t seed, int epochs, double *before, double *after) {
    char err[512];
    mae_tr t = {m, 0};
    m2pt_trainable tr = {.ctx = &t, .fill = tr_fill, .forward = tr_forward, .backward = tr_backward,
                         .params = &m->params};
    m2pt_train_config tc = {.epochs = epochs, .batch = 16, .lr = g_lr, .min_lr = 1e-4f, .weight_decay = 0.05f,
                            .clip_norm = 1.0f, .warmup_epochs = 1, .seed = seed};
    if (m2pt_model_mae_evaluate(m, M2PT_SPLIT_TRAIN, before, err, sizeof err)) fail_msg("%s", err);
    if (m2pt_train(&tr, 64, &tc, NULL, NULL, err, sizeof err)) fail_msg("%s", err);
    if (m2pt_model_mae_evaluate(m, M2PT_SPLIT_TRAIN, after, err, sizeof err)) fail_msg("%s", err);
}

static void loss_falls(int kind, int prefix, int pos, const char *label, double factor) {
    g_toy = (toy_cfg){kind, prefix, pos, 16, kind == M2PT_RECON_CHAMFER ? 9 : 6, 0};
    m2pt_model m;
    must_open(&m, &MAE_CFG, 5);
    const int hw = m2pt_params_find(&m.params, "toy.head.weight");
    assert_true(hw >= 0 && m.params.t[hw].frozen);
    float head0[64];
    memcpy(head0, m2pt_param(&m.params, hw), sizeof head0);
    double before, after, again;
    train_mae(&m, 5, 30, &before, &after);
    char err[256];
    assert_int_equal(m2pt_model_mae_evaluate(&m, M2PT_SPLIT_TRAIN, &again, err, sizeof err), 0);
    printf("  %s: MAE loss on 64 samples %.4f -> %.4f after 120 AdamW steps (%.0f%% lower)\n", label, before, after,
           100 * (1 - after / before));
    assert_true(after < factor * before);
    assert_memory_equal(&after, &again, sizeof after); /* evaluation masks are fixed */
    assert_memory_equal(head0, m2pt_param(&m.params, hw), sizeof head0); /* the head is not trained */
    m2pt_model_close(&m);
    g_toy = (toy_cfg){M2PT_RECON_MSE, 1, 1, 16, 6, 0};
}

static void test_loss_falls_mse(void **state) { (void)state; loss_falls(M2PT_RECON_MSE, 1, 1, "mse (pos features)", 0.5); }
static void test_loss_falls_chamfer(void **state) { (void)state; loss_falls(M2PT_RECON_CHAMFER, 0, 1, "chamfer", 0.5); }
static void test_loss_falls_ce(void **state) { (void)state; loss_falls(M2PT_RECON_CLASS, 1, 0, "ce", 0.85); }

static void test_bit_identical_rerun(void **state) {
    (void)state;
    m2pt_model a, b, c;
    double b0, la, lb, lc;
    must_open(&a, &MAE_CFG, 9), must_open(&b, &MAE_CFG, 9), must_open(&c, &MAE_CFG, 10);
    train_mae(&a, 9, 3, &b0, &la);
    train_mae(&b, 9, 3, &b0, &lb);
    train_mae(&c, 10, 3, &b0, &lc);
    assert_memory_equal(&la, &lb, sizeof la);
    assert_memory_equal(a.params.params, b.params.params, a.params.total * sizeof(float));
    assert_memory_not_equal(&la, &lc, sizeof la);
    printf("  two runs with seed 9: loss %.9g both, parameters bit-identical; seed 10: %.9g\n", la, lc);
    m2pt_model_close(&a), m2pt_model_close(&b), m2pt_model_close(&c);
}

/* ------------------------------------------------------------- save / load_pretrained */
static char dir[256];

static void test_save_and_load_pretrained(void **state) {
    (void)state;
    m2pt_model m, cls, fresh;
    must_open(&m, &MAE_CFG, 4);
    double b0, a0;
    train_mae(&m, 4, 2, &b0, &a0);
    char path[300], err[1024];
    snprintf(path, sizeof path, "%s/mae.ckpt", dir);
    if (m2pt_model_save(&m, path, 1, err, sizeof err)) fail_msg("%s", err);
    m2pt_checkpoint c;
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);
    assert_null(m2pt_checkpoint_find(&c, "toy.head.weight"));
    assert_null(m2pt_checkpoint_find(&c, "toy.head.bias"));
    assert_non_null(m2pt_checkpoint_find(&c, "toy.embed.weight"));
    assert_non_null(m2pt_checkpoint_find(&c, "blocks.1.fc2.weight"));
    assert_non_null(m2pt_checkpoint_find(&c, "mae.blocks.1.fc2.weight"));
    assert_non_null(m2pt_checkpoint_find(&c, "mae.pos_proj.weight"));
    long v;
    char obj[16];
    assert_int_equal(m2pt_json_get_int(m2pt_checkpoint_config(&c), "dim", &v), 0), assert_int_equal(v, SHAPE.dim);
    assert_int_equal(m2pt_json_get_int(m2pt_checkpoint_config(&c), "mlp_ratio", &v), 0);
    assert_int_equal(m2pt_json_get_string(m2pt_checkpoint_config(&c), "objective", obj, sizeof obj), 0);
    assert_string_equal(obj, "mae");
    assert_int_equal(c.n, m.params.n - 2); /* everything but the two head tensors */
    m2pt_checkpoint_close(&c);

    /* a classifier starts from it: tokenizer and blocks from the file, head as initialised */
    must_open(&cls, NULL, 8), must_open(&fresh, NULL, 8);
    if (m2pt_model_load_pretrained(&cls, path, err, sizeof err)) fail_msg("%s", err);
    int loaded = 0;
    for (int i = 0; i < cls.params.n; i++) {
        const char *name = cls.params.t[i].name;
        const float *want = strncmp(name, "toy.head.", 9) == 0
                                ? m2pt_param(&fresh.params, i)
                                : m2pt_param(&m.params, m2pt_params_find(&m.params, name));
        assert_memory_equal(m2pt_param(&cls.params, i), want, cls.params.t[i].numel * sizeof(float));
        loaded += strncmp(name, "toy.head.", 9) != 0;
    }
    assert_int_equal(loaded, cls.params.n - 2);
    /* and it trains as a classifier */
    fill_first(&cls, 16, 0);
    assert_true(isfinite(m2pt_model_forward(&cls, 16)));
    m2pt_model_close(&cls);

    /* the pretrained file is a valid auxiliary checkpoint (dim/depth/heads/mlp_ratio, blocks.*) */
    const char *build = getenv("M2PT_BUILD") ? getenv("M2PT_BUILD") : "build";
    char so[512];
    snprintf(so, sizeof so, "%s/plugins/reparam.so", build);
    m2pt_loaded reparam;
    if (access(so, R_OK) == 0 && m2pt_plugin_load(so, &reparam, err, sizeof err) == 0) {
        m2pt_model_options o = {.shape = SHAPE, .max_batch = 4, .seed = 8, .aux_path = path};
        if (m2pt_model_open(&cls, &toy_plugin, NULL, "m.", reparam.desc, NULL, "p.", &o, err, sizeof err))
            fail_msg("%s", err);
        const int h = m2pt_params_find(&cls.params, "pathway.blocks.1.fc2.aux");
        assert_true(h >= 0);
        assert_memory_equal(m2pt_param(&cls.params, h), m2pt_param(&m.params, m2pt_params_find(&m.params, "blocks.1.fc2.weight")),
                            cls.params.t[h].numel * sizeof(float));
        printf("  the MAE checkpoint serves as reparam's auxiliary model\n");
        m2pt_model_close(&cls);
        m2pt_plugin_unload(&reparam);
    } else {
        printf("  (%s not built: auxiliary-model check skipped)\n", so);
    }

    /* a checkpoint of another shape: the first mismatching tensor and the file are named */
    m2pt_model other;
    m2pt_model_options o = {.shape = {.dim = 32, .depth = 1, .heads = 2, .mlp_ratio = 2}, .max_batch = 4, .seed = 1,
                            .mae = &MAE_CFG};
    if (m2pt_model_open(&other, &toy_plugin, NULL, "m.", &plain_plugin, NULL, "p.", &o, err, sizeof err))
        fail_msg("%s", err);
    char path2[300];
    snprintf(path2, sizeof path2, "%s/mae-depth1.ckpt", dir);
    if (m2pt_model_save(&other, path2, 1, err, sizeof err)) fail_msg("%s", err);
    m2pt_model_close(&other);
    float before = m2pt_param(&fresh.params, 0)[0];
    assert_int_equal(m2pt_model_load_pretrained(&fresh, path2, err, sizeof err), -1);
    printf("  depth-1 checkpoint into a depth-2 model: %s\n", err);
    assert_non_null(strstr(err, "blocks.1."));
    assert_non_null(strstr(err, path2));
    assert_true(m2pt_param(&fresh.params, 0)[0] == before); /* nothing copied */
    m2pt_model_close(&fresh);
    /* the MAE model itself reloads its own file (head not expected) */
    if (m2pt_model_load(&m, path, err, sizeof err)) fail_msg("%s", err);
    m2pt_model_close(&m);
}

/* A class target outside [0, classes) is the plugin's bug: NaN and a message naming it. */
static void test_bad_class_target(void **state) {
    (void)state;
    g_toy = (toy_cfg){M2PT_RECON_CLASS, 1, 0, 16, 6, 0};
    m2pt_model m;
    must_open(&m, &MAE_CFG, 2);
    fill_first(&m, 4, 0);
    assert_true(isfinite(m2pt_model_mae_forward(&m, 4, 1)));
    assert_null(m2pt_model_error(&m));
    ((toy *)m.mod_inst)->c.bad = 1;
    assert_true(isnan(m2pt_model_mae_forward(&m, 4, 1)));
    assert_non_null(m2pt_model_error(&m));
    printf("  %s\n", m2pt_model_error(&m));
    assert_non_null(strstr(m2pt_model_error(&m), "class 7"));
    m2pt_model_close(&m);
    g_toy = (toy_cfg){M2PT_RECON_MSE, 1, 1, 16, 6, 0};
}

/* ================================================================== PyTorch parity */
/* max |got - ref| / max |ref|, the criterion of test_parity.c. */
static double rel_err(const float *got, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        num = fmax(num, fabs((double)got[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    return num / fmax(den, 1e-30);
}

static int fx_int(const fixture *f, const char *c, const char *key) {
    char name[128];
    int v = -1;
    snprintf(name, sizeof name, "%s.config.%s", c, key);
    assert_int_equal(fixture_get_int(f, name, &v), 0);
    return v;
}

static const float *fx_f32(const fixture *f, const char *c, const char *what, const char *key, size_t want) {
    char name[160];
    size_t n = 0;
    snprintf(name, sizeof name, "%s.%s%s", c, what, key);
    const float *v = fixture_get(f, name, &n);
    if (!v) fail_msg("fixture has no %s", name);
    assert_int_equal(n, want);
    return v;
}

static void parity_case(const fixture *f, const char *c) {
    const int n = fx_int(f, c, "n"), T = fx_int(f, c, "tokens"), D = fx_int(f, c, "dim");
    const int pre = fx_int(f, c, "prefix"), L = T - pre, pf = fx_int(f, c, "pos_floats");
    const double ratio = fx_int(f, c, "mask_ratio_pct") / 100.0;
    const uint64_t seed = (uint64_t)fx_int(f, c, "mask_seed");
    const m2pt_recon_spec spec = {fx_int(f, c, "loss"), pre, fx_int(f, c, "target_floats"), fx_int(f, c, "classes"),
                                  pf, NULL};
    const m2pt_block_config bc = {D, fx_int(f, c, "depth"), fx_int(f, c, "heads"), fx_int(f, c, "mlp_ratio")};
    const m2pt_mae_config cfg = {ratio, fx_int(f, c, "decoder_dim"), fx_int(f, c, "decoder_depth"),
                                 fx_int(f, c, "decoder_heads")};
    /* the mask: the engine's stream and selection sampling, re-implemented in the script */
    const int M = m2pt_mae_masked_count(ratio, L), Tv = T - M;
    int *keep = malloc((size_t)n * Tv * sizeof(int));
    unsigned char *masked = malloc((size_t)n * T);
    assert_non_null(keep), assert_non_null(masked);
    m2pt_mae_mask(seed, n, T, pre, ratio, keep, masked);
    char name[160];
    size_t cnt;
    snprintf(name, sizeof name, "%s.keep", c);
    const int32_t *fk = fixture_get_i32(f, name, &cnt);
    assert_non_null(fk), assert_int_equal(cnt, (size_t)n * Tv);
    for (size_t i = 0; i < cnt; i++) assert_int_equal(keep[i], fk[i]);
    snprintf(name, sizeof name, "%s.masked", c);
    const int32_t *fm = fixture_get_i32(f, name, &cnt);
    assert_non_null(fm), assert_int_equal(cnt, (size_t)n * T);
    for (size_t i = 0; i < cnt; i++) assert_int_equal(masked[i], fm[i]);
    /* the engine, its registry filled from the fixture: same names, same shapes */
    m2pt_params p;
    m2pt_blocks enc;
    m2pt_params_reset(&p);
    assert_int_equal(m2pt_blocks_register(&enc, &bc, &p), 0);
    char err[256];
    m2pt_mae *a = m2pt_mae_create(&cfg, &spec, &enc, T, &p, err, sizeof err);
    if (!a) fail_msg("%s", err);
    assert_int_equal(m2pt_params_alloc(&p), 0);
    assert_int_equal(m2pt_mae_alloc(a, n), 0);
    int in_fixture = 0;
    for (int i = 0; i < fixture_count(f); i++) {
        const char *fn = fixture_at(f, i)->name;
        in_fixture += strncmp(fn, c, strlen(c)) == 0 && strncmp(fn + strlen(c), ".param.", 7) == 0;
    }
    assert_int_equal(in_fixture, p.n);
    for (int i = 0; i < p.n; i++)
        memcpy(m2pt_param(&p, i), fx_f32(f, c, "param.", p.t[i].name, p.t[i].numel), p.t[i].numel * sizeof(float));
    const float *tokens = fx_f32(f, c, "input.", "tokens", (size_t)n * T * D);
    const float *target = fx_f32(f, c, "input.", "target", (size_t)n * L * spec.target_floats);
    const float *weight = fx_f32(f, c, "input.", "weight", (size_t)n * L);
    const float *pos = fx_f32(f, c, "input.", "pos", (size_t)n * L * (pf > 0 ? pf : 1));
    const float loss = m2pt_mae_forward(a, tokens, target, weight, pf > 0 ? pos : NULL, n, seed);
    m2pt_params_zero_grads(&p);
    const float *dx = m2pt_mae_backward(a);
    const double e_loss = rel_err(&loss, fx_f32(f, c, "out.", "loss", 1), 1);
    double worst = rel_err(dx, fx_f32(f, c, "grad.", "tokens", (size_t)n * T * D), (size_t)n * T * D);
    const char *worst_at = "tokens";
    for (int i = 0; i < p.n; i++) {
        const double e = rel_err(m2pt_grad(&p, i), fx_f32(f, c, "grad.", p.t[i].name, p.t[i].numel), p.t[i].numel);
        if (e > TOL_PARITY_GRAD) printf("  %s: grad.%s error %.2e\n", c, p.t[i].name, e);
        if (e > worst) worst = e, worst_at = p.t[i].name;
    }
    printf("  torch parity %-8s loss %.6f err %.2e (tol 1e-5); %d gradients, worst err %.2e at %s (tol 1e-4)\n", c,
           (double)loss, e_loss, p.n + 1, worst, worst_at);
    assert_true(e_loss <= 1e-5);
    assert_true(worst <= TOL_PARITY_GRAD);
    m2pt_mae_free(a);
    m2pt_blocks_free(&enc);
    m2pt_params_free(&p);
    free(keep), free(masked);
}

static void test_torch_parity(void **state) {
    (void)state;
    fixture *f = fixture_load("mae.bin");
    assert_non_null(f);
    parity_case(f, "mse");
    parity_case(f, "chamfer");
    parity_case(f, "ce");
    fixture_free(f);
}

static int reset_toy(void **state) {
    (void)state;
    g_toy = (toy_cfg){M2PT_RECON_MSE, 1, 1, 16, 6, 0};
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    m2pt_threads_init(0);
    snprintf(dir, sizeof dir, "/tmp/m2pt-test-mae-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_masked_count, reset_toy),
        cmocka_unit_test_setup(test_mask_properties, reset_toy),
        cmocka_unit_test_setup(test_loss_mse, reset_toy),
        cmocka_unit_test_setup(test_loss_chamfer, reset_toy),
        cmocka_unit_test_setup(test_loss_ce, reset_toy),
        cmocka_unit_test_setup(test_engine_grad_mse, reset_toy),
        cmocka_unit_test_setup(test_engine_grad_chamfer, reset_toy),
        cmocka_unit_test_setup(test_engine_grad_ce, reset_toy),
        cmocka_unit_test_setup(test_config_check, reset_toy),
        cmocka_unit_test_setup(test_refusals, reset_toy),
        cmocka_unit_test_setup(test_no_allocation_in_step, reset_toy),
        cmocka_unit_test_setup(test_loss_falls_mse, reset_toy),
        cmocka_unit_test_setup(test_loss_falls_chamfer, reset_toy),
        cmocka_unit_test_setup(test_loss_falls_ce, reset_toy),
        cmocka_unit_test_setup(test_bit_identical_rerun, reset_toy),
        cmocka_unit_test_setup(test_save_and_load_pretrained, reset_toy),
        cmocka_unit_test_setup(test_bad_class_target, reset_toy),
        cmocka_unit_test_setup(test_torch_parity, reset_toy),
    };
    int failed = cmocka_run_group_tests_name("mae", tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    m2pt_threads_shutdown();
    return failed ? 1 : 0;
}
