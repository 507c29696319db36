/* Text modality plugin: language identification of single words from the Debian word lists
 * (wamerican, wfrench, wngerman, wspanish, witalian, wportuguese, wdutch, wswedish), UTF-8
 * bytes as tokens with a byte embedding, a position embedding and a class token, and a
 * LayerNorm + linear head. This file: the descriptor, configuration, open/close, dataset
 * queries and setup. */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DICT_DIR "/usr/share/dict"

const text_lang text_langs[TXT_LANGS] = {
    {"English", "american-english", "wamerican"}, {"French", "french", "wfrench"},
    {"German", "ngerman", "wngerman"},             {"Spanish", "spanish", "wspanish"},
    {"Italian", "italian", "witalian"},           {"Portuguese", "portuguese", "wportuguese"},
    {"Dutch", "dutch", "wdutch"},                 {"Swedish", "swedish", "wswedish"},
};

float *text_alloc_floats(text_inst *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float)); }

/* The host must carry every 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_normal) + sizeof h->rng_normal;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->log && h->fail && h->cfg_int &&
           h->cfg_str && h->param_add && h->param && h->grad && h->alloc && h->linear_forward &&
           h->linear_backward && h->layernorm_forward && h->layernorm_backward && h->rng_seed && h->rng_u64;
}

static int copy_path(text_inst *m, char *dst, const char *key, const char *a, const char *b) {
    const size_t need = strlen(a) + strlen(b);
    if (need >= TXT_PATH_MAX) {
        m->host->fail(m->ctx, "%s is too long (%zu bytes; at most %d)", key, need, TXT_PATH_MAX - 1);
        return -1;
    }
    snprintf(dst, TXT_PATH_MAX, "%s%s", a, b);
    return 0;
}

/* dict_dir: config, else /usr/share/dict. cache_dir: config, else $M2PT_CACHE_DIR/data, else
 * results/cache/data (relative to the current directory). */
static int read_dirs(text_inst *m) {
    const char *dict = m->host->cfg_str(m->ctx, "dict_dir", "");
    const char *cache = m->host->cfg_str(m->ctx, "cache_dir", "");
    const char *env = getenv("M2PT_CACHE_DIR");
    int rc = copy_path(m, m->dict_dir, "dict_dir", dict && *dict ? dict : DEFAULT_DICT_DIR, "");
    if (cache && *cache) rc |= copy_path(m, m->cache_dir, "cache_dir", cache, "");
    else if (env && *env) rc |= copy_path(m, m->cache_dir, "M2PT_CACHE_DIR", env, "/data");
    else rc |= copy_path(m, m->cache_dir, "cache_dir", "results/cache/data", "");
    return rc;
}

/* Every supported key is read here (even the setup-time ones) so the host sees them read. */
static int read_config(text_inst *m) {
    const m2pt_host *h = m->host;
    m2pt_ctx *c = m->ctx;
    int rc = read_dirs(m);
    m->size[M2PT_SPLIT_TRAIN] = h->cfg_int(c, "train_size", 16000, 0, TXT_MAX_SPLIT);
    m->size[M2PT_SPLIT_VAL] = h->cfg_int(c, "val_size", 2000, 0, TXT_MAX_SPLIT);
    m->size[M2PT_SPLIT_TEST] = h->cfg_int(c, "test_size", 8000, TXT_LANGS, TXT_MAX_SPLIT);
    m->max_len = (int)h->cfg_int(c, "max_len", 24, 2, TXT_MAX_LEN);
    m->min_len = (int)h->cfg_int(c, "min_len", 1, 1, TXT_MAX_LEN);
    m->split_seed = (uint64_t)h->cfg_int(c, "split_seed", 0, 0, 0x7fffffffL);
    if (m->size[M2PT_SPLIT_TRAIN] > 0 && m->size[M2PT_SPLIT_TRAIN] < TXT_LANGS) {
        h->fail(c, "train_size %ld gives some language no training word; use 0 (all) or at least %d",
                m->size[M2PT_SPLIT_TRAIN], TXT_LANGS);
        rc = -1;
    }
    if (m->min_len > m->max_len) {
        h->fail(c, "min_len %d exceeds max_len %d; use min_len in 1..%d", m->min_len, m->max_len, m->max_len);
        rc = -1;
    }
    return rc;
}

static int text_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    text_inst *m = host->alloc(ctx, sizeof *m);
    if (!m) return -1;
    memset(m, 0, sizeof *m);
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m) || cache_load_or_build(m)) return -1;
    m->tokens = m->max_len + 1;
    *inst = m;
    return 0;
}

/* Every buffer came from host->alloc, which the host frees. */
static void text_close(void *inst) { (void)inst; }

static int text_classes(void *inst) {
    (void)inst;
    return TXT_LANGS;
}

static const char *text_class_name(void *inst, int label) {
    (void)inst;
    return label >= 0 && label < TXT_LANGS ? text_langs[label].name : NULL;
}

static long text_split_size(void *inst, m2pt_split_id split) {
    const text_inst *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->count[split] : -1;
}

static long text_sample_floats(void *inst) { return ((const text_inst *)inst)->max_len; }

static int text_tokens(void *inst) { return ((const text_inst *)inst)->tokens; }

static int text_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    text_inst *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > TXT_MAX_DIM || max_batch < 1 || max_batch > TXT_MAX_BATCH) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..%d and 1..%d", shape ? shape->dim : 0,
                      max_batch, TXT_MAX_DIM, TXT_MAX_BATCH);
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
    .open = text_open,
    .close = text_close,
    .classes = text_classes,
    .class_name = text_class_name,
    .split_size = text_split_size,
    .sample_floats = text_sample_floats,
    .fill = text_fill,
    .tokens = text_tokens,
    .setup = text_setup,
    .tokenize = text_tokenize,
    .tokenize_backward = text_tokenize_backward,
    .head = text_head,
    .head_backward = text_head_backward,
    .recon_spec = text_recon_spec,
    .recon_target = text_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "text",
    .version = "1.1.0",
    .description = "language of single words from 8 Debian word lists (wamerican, wfrench, ...): UTF-8 byte "
                   "tokens, class token, LayerNorm + linear head",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
