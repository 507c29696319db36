/* ABI 1.1 reconstruction targets of the five in-tree modality plugins (recon_spec and
 * recon_target), each checked against an independent computation from the raw samples:
 *  - image / audio / video: target j of sample b is the patch (tubelet) at grid position j,
 *    read from the raw array by the test's own indexing; and it is what the tokenizer
 *    embedded: token prefix + j minus its position embedding = W target + bias;
 *  - point: the centre (pos) is a point of the raw cloud (the first one is point 0, the others
 *    satisfy farthest point sampling), every target point times the neighbourhood radius
 *    2 sqrt(k / N) plus the centre is a point of the raw cloud, and their distances to the
 *    centre are the k smallest of the whole cloud, nearest first;
 *  - text: target i = the word's i-th UTF-8 byte (weight 1), 256 with weight 0 after its end
 *    and for raw values the tokenizer reads as padding; classes = rows of the byte embedding;
 *    token 1 + i minus its position embedding = the embedding row of the target.
 * Also: the spec (loss, prefix 1, sizes, head prefixes exactly the head's tensors), errors
 * before setup / before a tokenize, and no allocation in recon_target (malloc and friends are
 * interposed for the whole process, so calls from the plugins count too). */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "host.h"
#include "kv.h"
#include "loader.h"
#include "params.h"
#include "threads.h"
#include "util.h"

/* ------------------------------------------------------------ counting every allocation
 * The executable's malloc family interposes the C library's for every shared object (the
 * plugins included); each forwards to the next definition (RTLD_NEXT). dlsym may allocate
 * while they are being resolved: that comes from a static buffer, which free ignores. */
static long g_allocs;
static int g_counting;
static void *(*r_malloc)(size_t);
static void *(*r_calloc)(size_t, size_t);
static void *(*r_realloc)(void *, size_t);
static void (*r_free)(void *);
static int (*r_posix_memalign)(void **, size_t, size_t);
static void *(*r_aligned_alloc)(size_t, size_t);
static _Alignas(64) unsigned char boot[1 << 14];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n) {
    n = (n + 63) & ~(size_t)63;
    if (boot_used + n > sizeof boot) return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p; /* static storage: already zero */
}

static void resolve(void) {
    resolving = 1;
    r_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    r_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    r_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    r_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    r_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    r_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    resolving = 0;
}

void *malloc(size_t n) {
    if (!r_malloc) {
        if (resolving) return boot_alloc(n);
        resolve();
    }
    g_allocs += g_counting;
    return r_malloc(n);
}
void *calloc(size_t n, size_t s) {
    if (!r_calloc) {
        if (resolving) return s && n > SIZE_MAX / s ? NULL : boot_alloc(n * s);
        resolve();
    }
    g_allocs += g_counting;
    return r_calloc(n, s);
}
void *realloc(void *p, size_t n) {
    if (!r_realloc) resolve();
    g_allocs += g_counting;
    if (p >= (void *)boot && p < (void *)(boot + sizeof boot)) { /* a dlsym buffer grown: copy out */
        const size_t have = (size_t)(boot + sizeof boot - (unsigned char *)p);
        void *q = r_malloc(n);
        if (q) memcpy(q, p, n < have ? n : have);
        return q;
    }
    return r_realloc(p, n);
}
void free(void *p) {
    if (!p || (p >= (void *)boot && p < (void *)(boot + sizeof boot))) return;
    if (!r_free) resolve();
    r_free(p);
}
int posix_memalign(void **p, size_t a, size_t n) {
    if (!r_posix_memalign) resolve();
    g_allocs += g_counting;
    return r_posix_memalign(p, a, n);
}
void *aligned_alloc(size_t a, size_t n) {
    if (!r_aligned_alloc) resolve();
    g_allocs += g_counting;
    return r_aligned_alloc(a, n);
}

/* ------------------------------------------------------------ one plugin instance */

#define N_BATCH 3

typedef struct {
    m2pt_loaded pl;
    const m2pt_modality *mod;
    m2pt_kv cfg;
    m2pt_ctx ctx;
    m2pt_params params;
    void *inst;
    int T, n;
    long sample;
    float *raw, *tokens;
    m2pt_recon_spec spec;
    int L; /* T - prefix_tokens */
    float *target, *weight, *pos;
} rig;

static const m2pt_shape SHAPE = {.dim = 16, .depth = 1, .heads = 2, .mlp_ratio = 2};

static void status_ok(rig *r, int rc, const char *what) {
    char err[M2PT_ERR_MAX + 64];
    if (m2pt_ctx_status(&r->ctx, rc, 0, err, sizeof err)) fail_msg("%s: %s", what, err);
}

/* The error a void call recorded must mention `key`. */
static void status_refused(rig *r, const char *what, const char *key) {
    char err[M2PT_ERR_MAX + 64];
    if (!m2pt_ctx_status(&r->ctx, 0, 0, err, sizeof err)) fail_msg("%s was not refused", what);
    if (!strstr(err, key)) fail_msg("%s: expected \"%s\" in \"%s\"", what, key, err);
}

/* opts: NULL-terminated "key=value" list. Opens, sets up for N_BATCH samples, fills them from
 * the train split (indices 0, 5, 9; raw may then be replaced by the caller), and checks the
 * refusals before setup and before a tokenize. */
static void rig_open(rig *r, const char *name, const char *const *opts) {
    memset(r, 0, sizeof *r);
    const char *build = getenv("M2PT_BUILD") ? getenv("M2PT_BUILD") : "build";
    char path[512], err[M2PT_ERR_MAX + 64];
    snprintf(path, sizeof path, "%s/plugins/%s.so", build, name);
    if (m2pt_plugin_load(path, &r->pl, err, sizeof err)) fail_msg("%s", err);
    r->mod = r->pl.desc->modality;
    assert_non_null(r->mod);
    assert_true(m2pt_modality_can_mae(r->mod));
    assert_int_equal(r->pl.desc->abi_minor, 1);
    for (int i = 0; opts && opts[i]; i++) assert_int_equal(m2pt_kv_set_pair(&r->cfg, opts[i], "test"), 0);
    m2pt_params_reset(&r->params);
    m2pt_ctx_init(&r->ctx, name, &r->cfg, "", 1234, &r->params);
    r->ctx.quiet = 1;
    status_ok(r, r->mod->open(m2pt_host_api(), &r->ctx, &r->inst), "open");
    /* before setup: refused with a message */
    m2pt_recon_spec s;
    assert_int_not_equal(r->mod->recon_spec(r->inst, &s), 0);
    status_refused(r, "recon_spec before setup", "before setup");
    r->n = N_BATCH;
    status_ok(r, r->mod->setup(r->inst, &SHAPE, r->n), "setup");
    r->T = r->mod->tokens(r->inst);
    assert_int_equal(m2pt_params_alloc(&r->params), 0);
    m2pt_params_init(&r->params, 77);
    status_ok(r, r->mod->recon_spec(r->inst, &r->spec), "recon_spec");
    assert_true(r->spec.prefix_tokens >= 0 && r->spec.prefix_tokens < r->T && r->spec.target_floats > 0);
    r->L = r->T - r->spec.prefix_tokens;
    r->sample = r->mod->sample_floats(r->inst);
    const size_t rows = (size_t)r->n * (size_t)r->L;
    r->raw = m2pt_alloc_floats((size_t)r->n * (size_t)r->sample);
    r->tokens = m2pt_alloc_floats((size_t)r->n * (size_t)r->T * SHAPE.dim);
    r->target = m2pt_alloc_floats(rows * (size_t)r->spec.target_floats);
    r->weight = m2pt_alloc_floats(rows);
    r->pos = r->spec.pos_floats > 0 ? m2pt_alloc_floats(rows * (size_t)r->spec.pos_floats) : NULL;
    assert_true(r->raw && r->tokens && r->target && r->weight && (r->spec.pos_floats <= 0 || r->pos));
    /* before any tokenize: refused (nothing to describe) */
    r->mod->recon_target(r->inst, r->n, r->target, r->weight, r->pos);
    status_refused(r, "recon_target before tokenize", "without a forward call");
    long idx[N_BATCH] = {0, 5, 9};
    int labels[N_BATCH];
    status_ok(r, r->mod->fill(r->inst, M2PT_SPLIT_TRAIN, idx, r->n, 0, 0, r->raw, labels), "fill");
}

/* tokenize the batch, then recon_target with every allocation counted (none allowed) */
static void rig_targets(rig *r) {
    const size_t rows = (size_t)r->n * (size_t)r->L;
    r->mod->tokenize(r->inst, r->raw, r->n, r->tokens);
    status_ok(r, 0, "tokenize");
    memset(r->target, 0xff, rows * (size_t)r->spec.target_floats * sizeof(float)); /* NaN: must be overwritten */
    memset(r->weight, 0xff, rows * sizeof(float));
    if (r->pos) memset(r->pos, 0xff, rows * (size_t)r->spec.pos_floats * sizeof(float));
    const int host_allocs = r->ctx.nallocs;
    g_allocs = 0;
    g_counting = 1;
    r->mod->recon_target(r->inst, r->n, r->target, r->weight, r->pos);
    g_counting = 0;
    status_ok(r, 0, "recon_target");
    if (g_allocs || r->ctx.nallocs != host_allocs)
        fail_msg("%s: recon_target allocated (%ld malloc-family calls, %d host->alloc)", r->pl.desc->name, g_allocs,
                 r->ctx.nallocs - host_allocs);
}

static void rig_close(rig *r) {
    r->mod->close(r->inst);
    m2pt_ctx_release(&r->ctx);
    m2pt_params_free(&r->params);
    m2pt_kv_free(&r->cfg);
    m2pt_plugin_unload(&r->pl);
    free(r->raw), free(r->tokens), free(r->target), free(r->weight), free(r->pos);
}

static const float *param(rig *r, const char *name) {
    const int i = m2pt_params_find(&r->params, name);
    if (i < 0) fail_msg("%s: no tensor %s", r->pl.desc->name, name);
    return m2pt_param(&r->params, i);
}

/* The head prefixes are exactly the tensors whose names contain ".norm." / ".head." at the
 * start (or "norm." / "head." for image): every listed prefix matches, and every tensor the
 * head owns (want_head of them) is covered while the tokenizer's are not. */
static void check_head_prefixes(rig *r, const char *expect, int want_head) {
    assert_non_null(r->spec.head_prefixes);
    assert_string_equal(r->spec.head_prefixes, expect);
    int covered = 0;
    for (int i = 0; i < r->params.n; i++) {
        const char *nm = r->params.t[i].name;
        int in = 0;
        for (const char *s = expect; *s;) {
            const char *e = strchr(s, ',');
            const size_t len = e ? (size_t)(e - s) : strlen(s);
            in |= !strncmp(nm, s, len);
            s += len + (e != NULL);
        }
        covered += in;
        const int is_head = strstr(nm, "norm.") || strstr(nm, "head.");
        if (in != is_head) fail_msg("%s: tensor %s %s the head prefixes", r->pl.desc->name, nm, in ? "is in" : "is not in");
    }
    assert_int_equal(covered, want_head);
}

/* token prefix + j of sample b, minus its position embedding, equals W target_j + bias */
static void check_embedded(rig *r, const char *w_name, const char *b_name, const char *pos_name) {
    const float *W = param(r, w_name), *bias = param(r, b_name), *pe = param(r, pos_name);
    const int D = SHAPE.dim, F = r->spec.target_floats, P = r->spec.prefix_tokens;
    double worst = 0;
    for (int b = 0; b < r->n; b++)
        for (int j = 0; j < r->L; j++) {
            const float *t = r->target + ((size_t)b * r->L + j) * F;
            const float *tok = r->tokens + ((size_t)b * r->T + P + j) * D;
            for (int d = 0; d < D; d++) {
                double e = bias[d];
                for (int f = 0; f < F; f++) e += (double)W[(size_t)d * F + f] * t[f];
                const double got = (double)tok[d] - pe[(size_t)(P + j) * D + d];
                const double err = fabs(got - e) / (1e-3 + fabs(e));
                worst = err > worst ? err : worst;
            }
        }
    if (worst > 1e-3) fail_msg("%s: tokens are not the embedding of the targets (worst relative error %.2e)",
                               r->pl.desc->name, worst);
}

static void check_weights_all_one(rig *r) {
    for (size_t i = 0; i < (size_t)r->n * r->L; i++)
        if (r->weight[i] != 1.0f) fail_msg("%s: weight[%zu] = %g, expected 1", r->pl.desc->name, i, r->weight[i]);
}

/* ------------------------------------------------------------ image */

static void image_case(int patch) {
    char popt[32];
    snprintf(popt, sizeof popt, "patch=%d", patch);
    const char *opts[] = {"train_size=400", "val_size=40", "test_size=80", popt, NULL};
    rig r;
    rig_open(&r, "image", opts);
    const int g = 28 / patch, P = g * g;
    assert_int_equal(r.spec.loss, M2PT_RECON_MSE);
    assert_int_equal(r.spec.prefix_tokens, 1);
    assert_int_equal(r.T, 1 + P);
    assert_int_equal(r.spec.target_floats, patch * patch);
    assert_int_equal(r.spec.pos_floats, 0);
    check_head_prefixes(&r, "norm.,head.", 4);
    rig_targets(&r);
    for (int b = 0; b < r.n; b++)
        for (int j = 0; j < P; j++) {
            const int py = j / g, px = j % g;
            const float *t = r.target + ((size_t)b * P + j) * (size_t)(patch * patch);
            for (int y = 0; y < patch; y++)
                for (int x = 0; x < patch; x++) {
                    const float want = r.raw[(size_t)b * 784 + (size_t)(py * patch + y) * 28 + (size_t)(px * patch + x)];
                    if (t[y * patch + x] != want)
                        fail_msg("image patch %d: sample %d patch %d (%d, %d) pixel (%d, %d): %g, raw %g", patch, b, j,
                                 py, px, y, x, t[y * patch + x], want);
                }
        }
    check_weights_all_one(&r);
    check_embedded(&r, "patch_embed.weight", "patch_embed.bias", "pos_embed");
    rig_close(&r);
}

static void test_image(void **state) {
    (void)state;
    image_case(4);
    image_case(7);
}

/* ------------------------------------------------------------ audio */

static void test_audio(void **state) {
    (void)state;
    /* the data options of tests/conformance/audio.opts: one cached data set for both */
    const char *opts[] = {"train_size=400", "val_size=40", "test_size=80", "patch_time=16", "patch_mel=8", NULL};
    rig r;
    rig_open(&r, "audio", opts);
    const int frames = 96, mels = 64, pt = 16, pm = 8, gt = frames / pt, gm = mels / pm, P = gt * gm;
    assert_int_equal(r.sample, (long)frames * mels);
    assert_int_equal(r.spec.loss, M2PT_RECON_MSE);
    assert_int_equal(r.spec.prefix_tokens, 1);
    assert_int_equal(r.T, 1 + P);
    assert_int_equal(r.spec.target_floats, pt * pm);
    assert_int_equal(r.spec.pos_floats, 0);
    check_head_prefixes(&r, "audio.norm.,audio.head.", 4);
    rig_targets(&r);
    for (int b = 0; b < r.n; b++)
        for (int j = 0; j < P; j++) {
            const int ti = j / gm, mi = j % gm;
            const float *t = r.target + ((size_t)b * P + j) * (size_t)(pt * pm);
            for (int f = 0; f < pt; f++)
                for (int k = 0; k < pm; k++) {
                    const float want = r.raw[(size_t)b * r.sample + (size_t)(ti * pt + f) * mels + (size_t)(mi * pm + k)];
                    if (t[f * pm + k] != want)
                        fail_msg("audio: sample %d patch %d frame %d mel %d: %g, raw %g", b, j, f, k, t[f * pm + k], want);
                }
        }
    check_weights_all_one(&r);
    check_embedded(&r, "audio.patch_embed.weight", "audio.patch_embed.bias", "audio.pos_embed");
    rig_close(&r);
}

/* ------------------------------------------------------------ video */

static void test_video(void **state) {
    (void)state;
    const char *opts[] = {"train_size=240", "val_size=24", "test_size=48", "tubelet_t=2", "tubelet_p=8", NULL};
    rig r;
    rig_open(&r, "video", opts);
    const int F = 8, S = 32, t = 2, p = 8, gt = F / t, gs = S / p, N = gt * gs * gs;
    assert_int_equal(r.sample, (long)F * S * S);
    assert_int_equal(r.spec.loss, M2PT_RECON_MSE);
    assert_int_equal(r.spec.prefix_tokens, 1);
    assert_int_equal(r.T, 1 + N);
    assert_int_equal(r.spec.target_floats, t * p * p);
    assert_int_equal(r.spec.pos_floats, 0);
    check_head_prefixes(&r, "video.norm.,video.head.", 4);
    rig_targets(&r);
    for (int b = 0; b < r.n; b++)
        for (int j = 0; j < N; j++) {
            const int it = j / (gs * gs), iy = (j / gs) % gs, ix = j % gs;
            const float *tg = r.target + ((size_t)b * N + j) * (size_t)(t * p * p);
            for (int f = 0; f < t; f++)
                for (int y = 0; y < p; y++)
                    for (int x = 0; x < p; x++) {
                        const float want = r.raw[(size_t)b * r.sample + ((size_t)(it * t + f) * S + (size_t)(iy * p + y)) * S +
                                                 (size_t)(ix * p + x)];
                        if (tg[(f * p + y) * p + x] != want)
                            fail_msg("video: sample %d tubelet %d frame %d (%d, %d): %g, raw %g", b, j, f, y, x,
                                     tg[(f * p + y) * p + x], want);
                    }
        }
    check_weights_all_one(&r);
    check_embedded(&r, "video.tubelet_embed.weight", "video.tubelet_embed.bias", "video.pos_embed");
    rig_close(&r);
}

/* ------------------------------------------------------------ point */

static double dist2(const float *a, const float *b) {
    const double x = (double)a[0] - b[0], y = (double)a[1] - b[1], z = (double)a[2] - b[2];
    return x * x + y * y + z * z;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_point(void **state) {
    (void)state;
    const int G = 8, k = 16;
    const char *opts[] = {"train_size=200", "val_size=20", "test_size=40", "groups=8", "neighbours=16", NULL};
    rig r;
    rig_open(&r, "point", opts);
    const int N = (int)(r.sample / 3);
    assert_int_equal(r.sample, 3L * N);
    assert_int_equal(r.spec.loss, M2PT_RECON_CHAMFER);
    assert_int_equal(r.spec.prefix_tokens, 1);
    assert_int_equal(r.T, 1 + G);
    assert_int_equal(r.spec.target_floats, 3 * k);
    assert_int_equal(r.spec.pos_floats, 3);
    check_head_prefixes(&r, "point.norm.,point.head.", 4);
    rig_targets(&r);
    check_weights_all_one(&r);
    const double radius = 2.0 * sqrt((double)k / N); /* the local coordinates' unit */
    double *all = malloc((size_t)N * sizeof *all), *got = malloc((size_t)k * sizeof *got);
    double *mind = malloc((size_t)N * sizeof *mind);
    assert_true(all && got && mind);
    for (int b = 0; b < r.n; b++) {
        const float *cloud = r.raw + (size_t)b * r.sample;
        for (int i = 0; i < N; i++) mind[i] = INFINITY;
        for (int g = 0; g < G; g++) {
            const float *c = r.pos + ((size_t)b * G + g) * 3;
            /* the centre is a point of the cloud; FPS starts at point 0 */
            int at = -1;
            for (int i = 0; i < N && at < 0; i++)
                if (!memcmp(cloud + 3 * i, c, 3 * sizeof(float))) at = i;
            if (at < 0) fail_msg("point: sample %d centre %d (%g %g %g) is not a point of the cloud", b, g, c[0], c[1], c[2]);
            if (g == 0 && dist2(c, cloud) != 0) fail_msg("point: sample %d: the first centre is not point 0", b);
            /* farthest point sampling: the centre is (one of) the farthest from the earlier ones */
            if (g > 0) {
                double far = 0;
                for (int i = 0; i < N; i++) far = mind[i] > far ? mind[i] : far;
                if (mind[at] < far * (1 - 1e-5) - 1e-9)
                    fail_msg("point: sample %d centre %d is at %g from the earlier centres, the farthest point at %g", b,
                             g, mind[at], far);
            }
            for (int i = 0; i < N; i++) {
                const double d = dist2(cloud + 3 * i, c);
                mind[i] = d < mind[i] ? d : mind[i];
                all[i] = d;
            }
            qsort(all, (size_t)N, sizeof *all, cmp_double);
            /* every target point, back in cloud units, is a point of the cloud near the centre */
            const float *t = r.target + ((size_t)b * G + g) * (size_t)(3 * k);
            for (int q = 0; q < k; q++) {
                const float back[3] = {(float)(c[0] + t[3 * q] * radius), (float)(c[1] + t[3 * q + 1] * radius),
                                       (float)(c[2] + t[3 * q + 2] * radius)};
                double best = INFINITY;
                int bi = -1;
                for (int i = 0; i < N; i++) {
                    const double d = dist2(cloud + 3 * i, back);
                    if (d < best) best = d, bi = i;
                }
                if (best > 1e-10)
                    fail_msg("point: sample %d group %d point %d is %.3g away from every cloud point", b, g, q, sqrt(best));
                got[q] = dist2(cloud + 3 * bi, c);
                if (q > 0 && got[q] < got[q - 1] * (1 - 1e-5) - 1e-12)
                    fail_msg("point: sample %d group %d: points not nearest first (%g after %g)", b, g, got[q], got[q - 1]);
            }
            if (t[0] != 0 || t[1] != 0 || t[2] != 0) fail_msg("point: sample %d group %d: the first point is not the centre", b, g);
            /* ... and they are the k nearest of the whole cloud */
            for (int q = 0; q < k; q++)
                if (fabs(got[q] - all[q]) > 1e-6 * (1 + all[q]))
                    fail_msg("point: sample %d group %d: neighbour %d at squared distance %g, the %d-th nearest point at %g",
                             b, g, q, got[q], q, all[q]);
        }
    }
    free(all), free(got), free(mind);
    rig_close(&r);
}

/* ------------------------------------------------------------ text */

static void test_text(void **state) {
    (void)state;
    rig r;
    rig_open(&r, "text", NULL); /* the default data, as tests/conformance (cached) */
    const int L = (int)r.sample; /* max_len */
    assert_int_equal(r.T, 1 + L);
    assert_int_equal(r.spec.loss, M2PT_RECON_CLASS);
    assert_int_equal(r.spec.prefix_tokens, 1);
    assert_int_equal(r.spec.target_floats, 1);
    assert_int_equal(r.spec.pos_floats, 0);
    /* classes = the rows of the byte embedding */
    const int e = m2pt_params_find(&r.params, "text.byte_embed");
    assert_true(e >= 0);
    assert_int_equal(r.spec.classes, r.params.t[e].shape[0]);
    assert_int_equal(r.spec.classes, 257);
    check_head_prefixes(&r, "text.norm.,text.head.", 4);

    /* sample 0: the filled word; sample 1: "héllo" in UTF-8 with values the tokenizer reads as
     * padding after it; sample 2: a word filling every position */
    const unsigned char word[] = "h\xc3\xa9llo";
    const int wlen = 6;
    float *s1 = r.raw + L, *s2 = r.raw + 2 * L;
    for (int i = 0; i < L; i++) s1[i] = i < wlen ? (float)word[i] : 256.0f;
    s1[wlen + 1] = 300.0f, s1[wlen + 2] = 2.5f, s1[wlen + 3] = -1.0f, s1[wlen + 4] = NAN;
    for (int i = 0; i < L; i++) s2[i] = (float)('a' + i % 26);
    rig_targets(&r);
    for (int b = 0; b < r.n; b++) {
        int real = 0;
        for (int i = 0; i < L; i++) {
            const float v = r.raw[(size_t)b * L + i];
            const int is_byte = v >= 0 && v <= 255 && v == floorf(v);
            const float want = is_byte ? v : 256.0f;
            const float t = r.target[(size_t)b * L + i], w = r.weight[(size_t)b * L + i];
            if (t != want || w != (is_byte ? 1.0f : 0.0f))
                fail_msg("text: sample %d position %d (raw %g): target %g weight %g, expected %g and %d", b, i, v, t, w,
                         want, is_byte);
            real += is_byte;
            if (b == 1 && i < wlen && t != (float)word[i]) fail_msg("text: byte %d of the word: %g", i, t);
        }
        if (b == 0 && (real < 1 || (real < L && r.raw[real] != 256.0f)))
            fail_msg("text: the filled word should be %d bytes then padding", real);
        if (b == 1) assert_int_equal(real, wlen);
        if (b == 2) assert_int_equal(real, L);
    }
    /* token 1 + i minus its position embedding is the embedding row of target i */
    const float *E = param(&r, "text.byte_embed"), *pe = param(&r, "text.pos_embed");
    for (int b = 0; b < r.n; b++)
        for (int i = 0; i < L; i++) {
            const int id = (int)r.target[(size_t)b * L + i];
            for (int d = 0; d < SHAPE.dim; d++) {
                const float got = r.tokens[((size_t)b * r.T + 1 + i) * SHAPE.dim + d] - pe[(size_t)(1 + i) * SHAPE.dim + d];
                if (fabsf(got - E[(size_t)id * SHAPE.dim + d]) > 1e-6f)
                    fail_msg("text: sample %d token %d is not byte_embed[%d] + pos", b, 1 + i, id);
            }
        }
    rig_close(&r);
}

/* ------------------------------------------------------------ the allocation counter itself */

/* The interposed malloc sees allocations made inside shared objects (here: the C library's
 * own fopen), so a plugin that allocated in recon_target would be counted. */
static void test_counter_sees_libraries(void **state) {
    (void)state;
    g_allocs = 0;
    g_counting = 1;
    FILE *f = fopen("/dev/null", "r");
    g_counting = 0;
    assert_non_null(f);
    fclose(f);
    assert_true(g_allocs >= 1);
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    m2pt_threads_init(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_sees_libraries),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_audio),
        cmocka_unit_test(test_video),
        cmocka_unit_test(test_point),
        cmocka_unit_test(test_text),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    m2pt_threads_shutdown();
    return rc;
}
