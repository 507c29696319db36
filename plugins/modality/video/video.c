/* Video modality plugin: procedurally generated motion clips (10 classes), tubelet tokens
 * with a class token and a LayerNorm + linear head. This file: the descriptor,
 * configuration, open/close, dataset queries and setup. */
#include "video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CACHE "results/cache/data"

static const char *const class_names[VID_CLASSES] = {
    "move left", "move right", "move up",  "move down", "rotate clockwise", "rotate counter-clockwise",
    "zoom in",   "zoom out",   "bounce",   "blink"};

float *video_alloc_floats(video_inst *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float)); }

/* The host must carry every 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_normal) + sizeof h->rng_normal;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->log && h->fail && h->cfg_int &&
           h->cfg_float && h->cfg_bool && h->cfg_str && h->seed && h->param_add && h->param && h->grad &&
           h->alloc && h->linear_forward && h->linear_backward && h->layernorm_forward &&
           h->layernorm_backward && h->parallel && h->rng_seed && h->rng_u64 && h->rng_uniform;
}

/* cache_dir: config, then $M2PT_CACHE_DIR/data, then results/cache/data (relative to the cwd). */
static int read_cache_dir(video_inst *m) {
    const char *dir = m->host->cfg_str(m->ctx, "cache_dir", "");
    const char *env = getenv("M2PT_CACHE_DIR");
    int n;
    if (dir && *dir)
        n = snprintf(m->cache_dir, sizeof m->cache_dir, "%s", dir);
    else if (env && *env)
        n = snprintf(m->cache_dir, sizeof m->cache_dir, "%s/data", env);
    else
        n = snprintf(m->cache_dir, sizeof m->cache_dir, "%s", DEFAULT_CACHE);
    if (n < 0 || (size_t)n >= sizeof m->cache_dir - 64) {
        m->host->fail(m->ctx, "cache_dir is too long (%d bytes; at most %zu)", n, sizeof m->cache_dir - 65);
        return -1;
    }
    return 0;
}

static int check_divides(video_inst *m, const char *key, int part, const char *whole_key, int whole) {
    if (whole % part == 0) return 0;
    char allowed[256] = "";
    size_t len = 0;
    for (int d = 1; d <= whole && len + 8 < sizeof allowed; d++)
        if (whole % d == 0) len += (size_t)snprintf(allowed + len, sizeof allowed - len, "%s%d", len ? ", " : "", d);
    m->host->fail(m->ctx, "%s %d does not divide %s %d; use one of %s", key, part, whole_key, whole, allowed);
    return -1;
}

/* Every supported key is read here (even the setup-time ones) so the host sees them read. */
static int read_config(video_inst *m) {
    const m2pt_host *h = m->host;
    m2pt_ctx *c = m->ctx;
    int rc = read_cache_dir(m);
    m->gen.frames = (int)h->cfg_int(c, "frames", 8, 2, VID_MAX_FRAMES);
    m->gen.size = (int)h->cfg_int(c, "size", 32, 8, VID_MAX_SIZE);
    m->tub_t = (int)h->cfg_int(c, "tubelet_t", 8, 1, VID_MAX_FRAMES);
    m->tub_p = (int)h->cfg_int(c, "tubelet_p", 8, 1, VID_MAX_SIZE);
    m->want[M2PT_SPLIT_TRAIN] = h->cfg_int(c, "train_size", 20000, 1, VID_MAX_COUNT);
    m->want[M2PT_SPLIT_VAL] = h->cfg_int(c, "val_size", 2000, 0, VID_MAX_COUNT);
    m->want[M2PT_SPLIT_TEST] = h->cfg_int(c, "test_size", 4000, 1, VID_MAX_COUNT);
    m->gen.noise = h->cfg_float(c, "noise", 0.35, 0.0, 4.0);
    m->gen.speed = h->cfg_float(c, "speed", 1.0, 0.05, 8.0);
    m->gen.distractor = h->cfg_float(c, "distractor", 0.4, 0.0, 1.0);
    m->gen.occluder = h->cfg_float(c, "occluder", 0.2, 0.0, 1.0);
    m->gen.clutter = h->cfg_float(c, "clutter", 0.75, 0.0, 4.0);
    m->gen.sprite = h->cfg_float(c, "sprite_size", 1.0, 0.25, 3.0);
    m->data_seed = h->cfg_int(c, "data_seed", 0, -1, 0x7fffffffL);
    m->use_cache = h->cfg_bool(c, "cache", 1) != 0;
    m->aug_shift = (int)h->cfg_int(c, "aug_shift", 2, 0, VID_MAX_SIZE / 2);
    m->aug_flip = h->cfg_bool(c, "aug_flip", 1) != 0;
    const char *pool = h->cfg_str(c, "pool", "cls");
    m->gen.seed = m->data_seed < 0 ? h->seed(c) : (uint64_t)m->data_seed;
    if (check_divides(m, "tubelet_t", m->tub_t, "frames", m->gen.frames) ||
        check_divides(m, "tubelet_p", m->tub_p, "size", m->gen.size))
        rc = -1;
    if (m->aug_shift > m->gen.size / 2) {
        h->fail(c, "aug_shift %d is more than half the frame size %d; use 0..%d", m->aug_shift, m->gen.size,
                m->gen.size / 2);
        rc = -1;
    }
    if (!pool || (strcmp(pool, "cls") && strcmp(pool, "mean"))) {
        h->fail(c, "pool \"%s\" is not known; use \"cls\" (class token) or \"mean\" (mean of all tokens)",
                pool ? pool : "(null)");
        rc = -1;
    }
    m->pool_mean = pool && !strcmp(pool, "mean");
    if (rc) return rc;
    m->gt = m->gen.frames / m->tub_t;
    m->gs = m->gen.size / m->tub_p;
    m->tubelets = m->gt * m->gs * m->gs;
    m->tokens = m->tubelets + 1;
    m->tub_dim = m->tub_t * m->tub_p * m->tub_p;
    if (m->tokens > VID_MAX_TOKENS) {
        h->fail(c, "frames %d, size %d with tubelets %dx%dx%d make %d tokens; at most %d: use larger tubelets",
                m->gen.frames, m->gen.size, m->tub_t, m->tub_p, m->tub_p, m->tokens, VID_MAX_TOKENS);
        return -1;
    }
    return 0;
}

static int video_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    video_inst *m = host->alloc(ctx, sizeof *m);
    if (!m) return -1;
    memset(m, 0, sizeof *m);
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m)) return -1;
    m->sample = (long)m->gen.frames * m->gen.size * m->gen.size;
    for (int i = 0; i < 256; i++) m->lut[i] = ((float)i - 128.0f) / VID_QSCALE;
    if (dataset_build(m)) return -1;
    *inst = m;
    return 0;
}

/* Every buffer came from host->alloc, which the host frees. */
static void video_close(void *inst) { (void)inst; }

static int video_classes(void *inst) {
    (void)inst;
    return VID_CLASSES;
}

static const char *video_class_name(void *inst, int label) {
    (void)inst;
    return label >= 0 && label < VID_CLASSES ? class_names[label] : NULL;
}

static long video_split_size(void *inst, m2pt_split_id split) {
    const video_inst *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->count[split] : -1;
}

static long video_sample_floats(void *inst) { return ((const video_inst *)inst)->sample; }

static int video_tokens(void *inst) { return ((const video_inst *)inst)->tokens; }

static int video_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    video_inst *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > VID_MAX_DIM || max_batch < 1 || max_batch > VID_MAX_BATCH) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..%d and 1..%d", shape ? shape->dim : 0,
                      max_batch, VID_MAX_DIM, VID_MAX_BATCH);
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
    .open = video_open,
    .close = video_close,
    .classes = video_classes,
    .class_name = video_class_name,
    .split_size = video_split_size,
    .sample_floats = video_sample_floats,
    .fill = video_fill,
    .tokens = video_tokens,
    .setup = video_setup,
    .tokenize = video_tokenize,
    .tokenize_backward = video_tokenize_backward,
    .head = video_head,
    .head_backward = video_head_backward,
    .recon_spec = video_recon_spec,
    .recon_target = video_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "video",
    .version = "1.1.0",
    .description = "generated 8x32x32 motion clips, 10 classes: tubelet tokens, class token, LayerNorm + linear head",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
