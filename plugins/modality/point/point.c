/* Point-cloud modality plugin: procedurally generated 3D shapes (12 classes), a Point-MAE style
 * tokenizer (FPS + kNN groups, mini-PointNet, centre position MLP) and a LayerNorm + linear
 * head. This file: the descriptor, configuration, open/close, dataset queries and setup. */
#include "point.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CACHE "results/cache/data"

float *point_alloc_floats(point_inst *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float)); }
int *point_alloc_ints(point_inst *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(int)); }

void point_range(long n, int t, int nt, long *lo, long *hi) {
    if (nt < 1) nt = 1;
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

int point_bad_n(point_inst *m, const char *what, int n, int expect) {
    if (!m->set_up) {
        m->host->fail(m->ctx, "%s called before setup", what);
        return 1;
    }
    if (expect == -2) {
        m->host->fail(m->ctx, "%s called without a forward call before it", what);
        return 1;
    }
    if (n < 0 || n > m->max_batch || (expect >= 0 && n != expect)) {
        m->host->fail(m->ctx, "%s: batch of %d samples (max_batch %d%s)", what, n, m->max_batch,
                      expect >= 0 ? ", and it must match the forward call" : "");
        return 1;
    }
    return 0;
}

/* The host must carry every 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_normal) + sizeof h->rng_normal;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->log && h->fail && h->cfg_int &&
           h->cfg_float && h->cfg_bool && h->cfg_str && h->seed && h->param_add && h->param && h->grad && h->alloc &&
           h->linear_forward && h->linear_backward && h->layernorm_forward && h->layernorm_backward &&
           h->parallel && h->rng_seed && h->rng_u64 && h->rng_uniform && h->rng_normal;
}

/* cache_dir: config, then $M2PT_CACHE_DIR/data, then results/cache/data */
static int read_cache_dir(point_inst *m) {
    const char *dir = m->host->cfg_str(m->ctx, "cache_dir", "");
    const char *env = getenv("M2PT_CACHE_DIR");
    int len;
    if (dir && *dir) len = snprintf(m->cache_dir, sizeof m->cache_dir, "%s", dir);
    else if (env && *env) len = snprintf(m->cache_dir, sizeof m->cache_dir, "%s/data", env);
    else len = snprintf(m->cache_dir, sizeof m->cache_dir, "%s", DEFAULT_CACHE);
    if (len < 0 || (size_t)len >= sizeof m->cache_dir) {
        m->host->fail(m->ctx, "cache_dir (or $M2PT_CACHE_DIR/data) is too long (at most %zu bytes)",
                      sizeof m->cache_dir - 1);
        return -1;
    }
    return 0;
}

/* Every supported key is read here (even the setup-time ones) so the host sees them read. */
static int read_config(point_inst *m) {
    const m2pt_host *h = m->host;
    m2pt_ctx *c = m->ctx;
    int rc = read_cache_dir(m);
    m->gen.points = (int)h->cfg_int(c, "points", 1024, 16, PT_MAX_POINTS);
    m->groups = (int)h->cfg_int(c, "groups", 32, 1, PT_MAX_GROUPS);
    m->neighbours = (int)h->cfg_int(c, "neighbours", 32, 1, PT_MAX_POINTS);
    m->hidden = (int)h->cfg_int(c, "hidden", 64, 1, PT_MAX_HIDDEN);
    m->pool_t = (float)h->cfg_float(c, "pool_temperature", 0.01, 0.0, 10.0);
    m->size[M2PT_SPLIT_TRAIN] = h->cfg_int(c, "train_size", 19200, 1, PT_MAX_SPLIT);
    m->size[M2PT_SPLIT_VAL] = h->cfg_int(c, "val_size", 1200, 0, PT_MAX_SPLIT);
    m->size[M2PT_SPLIT_TEST] = h->cfg_int(c, "test_size", 2400, 1, PT_MAX_SPLIT);
    m->gen.jitter = h->cfg_float(c, "jitter", 0.02, 0.0, 0.5);
    m->gen.dropout = h->cfg_float(c, "dropout", 0.3, 0.0, 0.9);
    m->gen.anisotropy = h->cfg_float(c, "anisotropy", 1.5, 1.0, 4.0);
    const char *rot = h->cfg_str(c, "rotation", "so3");
    const long seed = h->cfg_int(c, "data_seed", -1, -1, LONG_MAX);
    m->aug_rotate = h->cfg_bool(c, "aug_rotate", 1) != 0;
    m->aug_scale = h->cfg_float(c, "aug_scale", 0.2, 0.0, 0.9);
    m->data_seed = seed < 0 ? h->seed(c) : (uint64_t)seed;
    if (!rot || (strcmp(rot, "so3") && strcmp(rot, "none"))) {
        h->fail(c, "rotation \"%s\" is not known; use \"so3\" (uniform random 3D rotation) or \"none\"",
                rot ? rot : "(null)");
        rc = -1;
    }
    m->gen.rotate = rot && !strcmp(rot, "so3");
    if (m->groups > m->gen.points) {
        h->fail(c, "groups %d exceeds points %d; use 1..%d", m->groups, m->gen.points, m->gen.points);
        rc = -1;
    }
    if (m->neighbours > m->gen.points) {
        h->fail(c, "neighbours %d exceeds points %d; use 1..%d", m->neighbours, m->gen.points, m->gen.points);
        rc = -1;
    }
    return rc;
}

static int point_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    point_inst *m = host->alloc(ctx, sizeof *m);
    if (!m) return -1;
    memset(m, 0, sizeof *m);
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m)) return -1;
    for (int s = 0; s < 3; s++)
        if (cache_load_split(m, s)) return -1;
    m->tokens = m->groups + 1;
    *inst = m;
    return 0;
}

/* Every buffer came from host->alloc, which the host frees. */
static void point_close(void *inst) { (void)inst; }

static int point_classes(void *inst) {
    (void)inst;
    return PT_CLASSES;
}

static const char *point_class_name(void *inst, int label) {
    (void)inst;
    return shape_name(label);
}

static long point_split_size(void *inst, m2pt_split_id split) {
    const point_inst *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->size[split] : -1;
}

static long point_sample_floats(void *inst) { return (long)((const point_inst *)inst)->gen.points * 3; }

static int point_tokens(void *inst) { return ((const point_inst *)inst)->tokens; }

static int point_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    point_inst *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > PT_MAX_DIM || max_batch < 1 || max_batch > PT_MAX_BATCH) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..%d and 1..%d", shape ? shape->dim : 0,
                      max_batch, PT_MAX_DIM, PT_MAX_BATCH);
        return -1;
    }
    const double rows = (double)max_batch * m->groups * m->neighbours;
    if (rows > (double)INT_MAX / (m->hidden > shape->dim ? m->hidden : shape->dim)) {
        m->host->fail(m->ctx, "setup: max_batch %d x groups %d x neighbours %d is too many grouped points; lower "
                      "one of them", max_batch, m->groups, m->neighbours);
        return -1;
    }
    m->dim = shape->dim;
    m->max_batch = max_batch;
    if (tok_setup(m) || head_setup(m)) return -1;
    m->set_up = 1;
    return 0;
}

static const m2pt_modality modality = {
    .struct_size = sizeof(m2pt_modality),
    .open = point_open,
    .close = point_close,
    .classes = point_classes,
    .class_name = point_class_name,
    .split_size = point_split_size,
    .sample_floats = point_sample_floats,
    .fill = point_fill,
    .tokens = point_tokens,
    .setup = point_setup,
    .tokenize = point_tokenize,
    .tokenize_backward = point_tokenize_backward,
    .head = point_head,
    .head_backward = point_head_backward,
    .recon_spec = point_recon_spec,
    .recon_target = point_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "point",
    .version = "1.1.0",
    .description = "generated 3D shape point clouds (12 classes): FPS + kNN groups, mini-PointNet tokens, "
                   "class token, LayerNorm + linear head",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
