#include "host.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops.h"
#include "rng.h"
#include "threads.h"
#include "util.h"

static void record(m2pt_ctx *ctx, const char *fmt, va_list ap) {
    if (ctx->err[0]) return; /* keep the first error: later ones are usually consequences */
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
}

static void record_f(m2pt_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(ctx, fmt, ap);
    va_end(ap);
}

static void h_fail(m2pt_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(ctx, fmt, ap);
    va_end(ap);
}

static void h_log(m2pt_ctx *ctx, int level, const char *fmt, ...) {
    if (ctx->quiet && level != 1) return;
    if (level == 2 && !getenv("M2PT_DEBUG")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s%s: ", ctx->plugin, level == 1 ? " (warning)" : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* --- config getters ------------------------------------------------------------------------ */

static const m2pt_kv_entry *lookup(m2pt_ctx *ctx, const char *key) { return m2pt_kv_get(ctx->cfg, key); }

static long h_cfg_int(m2pt_ctx *ctx, const char *key, long def, long min, long max) {
    const m2pt_kv_entry *e = lookup(ctx, key);
    if (!e) return def;
    char *end;
    errno = 0;
    long v = strtol(e->value, &end, 10);
    if (errno || end == e->value || *end || v < min || v > max) {
        record_f(ctx, "%s: %s%s = '%s' must be an integer from %ld to %ld", e->origin, ctx->cfg_prefix, key,
                 e->value, min, max);
        return def;
    }
    return v;
}

static double h_cfg_float(m2pt_ctx *ctx, const char *key, double def, double min, double max) {
    const m2pt_kv_entry *e = lookup(ctx, key);
    if (!e) return def;
    char *end;
    errno = 0;
    double v = strtod(e->value, &end);
    if (errno || end == e->value || *end || !isfinite(v) || v < min || v > max) {
        record_f(ctx, "%s: %s%s = '%s' must be a number from %g to %g", e->origin, ctx->cfg_prefix, key, e->value,
                 min, max);
        return def;
    }
    return v;
}

static int h_cfg_bool(m2pt_ctx *ctx, const char *key, int def) {
    const m2pt_kv_entry *e = lookup(ctx, key);
    if (!e) return def;
    if (!strcasecmp(e->value, "true") || !strcmp(e->value, "1") || !strcasecmp(e->value, "yes")) return 1;
    if (!strcasecmp(e->value, "false") || !strcmp(e->value, "0") || !strcasecmp(e->value, "no")) return 0;
    record_f(ctx, "%s: %s%s = '%s' must be true or false", e->origin, ctx->cfg_prefix, key, e->value);
    return def;
}

static const char *h_cfg_str(m2pt_ctx *ctx, const char *key, const char *def) {
    const m2pt_kv_entry *e = lookup(ctx, key);
    return e ? e->value : def;
}

static uint64_t h_seed(m2pt_ctx *ctx) { return ctx->seed; }

/* --- tensors and memory --------------------------------------------------------------------- */

static int h_param_add(m2pt_ctx *ctx, const char *name, int ndim, const int *shape, m2pt_fill fill, float value,
                       unsigned flags) {
    if (!ctx->params) {
        record_f(ctx, "param_add('%s') called outside setup", name);
        return -1;
    }
    m2pt_init_kind init = fill == M2PT_FILL_ONE            ? M2PT_INIT_ONE
                          : fill == M2PT_FILL_TRUNC_NORMAL ? M2PT_INIT_TRUNC_NORMAL
                          : fill == M2PT_FILL_CONST        ? M2PT_INIT_CONST
                                                           : M2PT_INIT_ZERO;
    if ((unsigned)fill > M2PT_FILL_CONST) {
        record_f(ctx, "param_add('%s'): unknown fill rule %d", name, (int)fill);
        return -1;
    }
    if (m2pt_params_find(ctx->params, name) >= 0) {
        record_f(ctx, "param_add('%s'): a tensor of that name exists already", name);
        return -1;
    }
    int h = m2pt_params_add(ctx->params, name, ndim, shape, init, value, (flags & M2PT_PARAM_DECAY) != 0);
    if (h < 0) {
        record_f(ctx, "param_add('%s'): bad shape (1 to %d positive dims), name too long or out of memory", name,
                 M2PT_MAX_DIMS);
        return -1;
    }
    ctx->params->t[h].frozen = (flags & M2PT_PARAM_FROZEN) != 0;
    ctx->params->t[h].pathway = (flags & M2PT_PARAM_PATHWAY) != 0;
    return h;
}

static float *h_param(m2pt_ctx *ctx, int h) {
    if (!ctx->params || !ctx->params->params || h < 0 || h >= ctx->params->n) return NULL;
    return m2pt_param(ctx->params, h);
}

static float *h_grad(m2pt_ctx *ctx, int h) {
    if (!ctx->params || !ctx->params->grads || h < 0 || h >= ctx->params->n) return NULL;
    return m2pt_grad(ctx->params, h);
}

static void h_param_lr_mult(m2pt_ctx *ctx, int h, float mult) {
    if (ctx->params && h >= 0 && h < ctx->params->n) ctx->params->t[h].lr_mult = mult;
}

static void *h_alloc(m2pt_ctx *ctx, size_t bytes) {
    if (ctx->nallocs == ctx->cap_allocs) {
        int cap = ctx->cap_allocs ? 2 * ctx->cap_allocs : 16;
        void **a = realloc(ctx->allocs, (size_t)cap * sizeof *a);
        if (!a) {
            record_f(ctx, "out of memory");
            return NULL;
        }
        ctx->allocs = a, ctx->cap_allocs = cap;
    }
    float *p = m2pt_alloc_floats((bytes + sizeof(float) - 1) / sizeof(float));
    if (!p) {
        record_f(ctx, "out of memory (asked for %zu bytes)", bytes);
        return NULL;
    }
    ctx->allocs[ctx->nallocs++] = p;
    return p;
}

/* --- math, random ----------------------------------------------------------------------------- */

static void h_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc);
}

static void h_parallel(m2pt_task task, void *arg) { m2pt_parallel(task, arg); }

static void h_rng_seed(m2pt_rng_state *r, uint64_t seed, uint64_t stream) {
    m2pt_rng_seed((m2pt_rng *)(void *)r, seed, stream);
}
static uint64_t h_rng_u64(m2pt_rng_state *r) { return m2pt_rng_u64((m2pt_rng *)(void *)r); }
static float h_rng_uniform(m2pt_rng_state *r) { return m2pt_rng_uniform((m2pt_rng *)(void *)r); }
static double h_rng_normal(m2pt_rng_state *r) { return m2pt_rng_normal((m2pt_rng *)(void *)r); }

_Static_assert(sizeof(m2pt_rng_state) == sizeof(m2pt_rng), "the public rng state mirrors the engine's");

static const m2pt_host HOST = {
    .struct_size = sizeof(m2pt_host),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .log = h_log,
    .fail = h_fail,
    .cfg_int = h_cfg_int,
    .cfg_float = h_cfg_float,
    .cfg_bool = h_cfg_bool,
    .cfg_str = h_cfg_str,
    .seed = h_seed,
    .param_add = h_param_add,
    .param = h_param,
    .grad = h_grad,
    .alloc = h_alloc,
    .sgemm = h_sgemm,
    .linear_forward = m2pt_linear_forward,
    .linear_backward = m2pt_linear_backward,
    .layernorm_forward = m2pt_layernorm_forward,
    .layernorm_backward = m2pt_layernorm_backward,
    .parallel = h_parallel,
    .rng_seed = h_rng_seed,
    .rng_u64 = h_rng_u64,
    .rng_uniform = h_rng_uniform,
    .rng_normal = h_rng_normal,
    .param_lr_mult = h_param_lr_mult,
};

const m2pt_host *m2pt_host_api(void) { return &HOST; }

void m2pt_ctx_init(m2pt_ctx *ctx, const char *plugin, m2pt_kv *cfg, const char *cfg_prefix, uint64_t seed,
                   m2pt_params *params) {
    memset(ctx, 0, sizeof *ctx);
    ctx->plugin = plugin;
    ctx->cfg = cfg;
    ctx->cfg_prefix = cfg_prefix ? cfg_prefix : "";
    ctx->seed = seed;
    ctx->params = params;
}

void m2pt_ctx_release(m2pt_ctx *ctx) {
    for (int i = 0; i < ctx->nallocs; i++) free(ctx->allocs[i]);
    free(ctx->allocs);
    ctx->allocs = NULL;
    ctx->nallocs = ctx->cap_allocs = 0;
}

int m2pt_ctx_status(m2pt_ctx *ctx, int rc, int check_unread, char *err, size_t errlen) {
    if (rc && !ctx->err[0]) snprintf(ctx->err, sizeof ctx->err, "failed without saying why (plugin bug)");
    if (!ctx->err[0] && check_unread) {
        const m2pt_kv_entry *e = m2pt_kv_unread(ctx->cfg);
        if (e)
            snprintf(ctx->err, sizeof ctx->err, "%s: unknown key %s%s (plugin '%s' does not read it)", e->origin,
                     ctx->cfg_prefix, e->key, ctx->plugin);
    }
    if (!ctx->err[0]) return 0;
    if (err) snprintf(err, errlen, "%s: %s", ctx->plugin, ctx->err);
    ctx->err[0] = '\0';
    return -1;
}
