/* Audio modality plugin: spoken command words synthesized with libespeak-ng (many voices,
 * rates, pitches, noise), log-mel spectrogram patches as tokens (FFTW), a class token and a
 * LayerNorm + linear head. This file: the descriptor, configuration, open/close, dataset
 * queries and setup. */
#include "audio.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const audio_words[AU_WORDS] = {"zero", "one", "two", "three", "four", "five", "six",
                                           "seven", "eight", "nine", "yes", "no", "up", "down",
                                           "left", "right", "on", "off", "stop", "go"};

float *audio_alloc_floats(audio_inst *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float)); }

/* The host must carry every 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_uniform) + sizeof h->rng_uniform;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->fail && h->log && h->cfg_int &&
           h->cfg_float && h->cfg_str && h->seed && h->param_add && h->param && h->grad && h->alloc &&
           h->linear_forward && h->linear_backward && h->layernorm_forward && h->layernorm_backward &&
           h->rng_seed && h->rng_u64 && h->rng_uniform;
}

/* Getters that also tell whether a present value was refused (the host recorded why), so that
 * open stops before a long generation with the default in its place. */
static long get_int(audio_inst *m, const char *key, long def, long min, long max, int *bad) {
    const long v = m->host->cfg_int(m->ctx, key, LONG_MIN, min, max);
    if (v != LONG_MIN) return v;
    if (m->host->cfg_str(m->ctx, key, NULL)) *bad = 1;
    return def;
}

static double get_float(audio_inst *m, const char *key, double def, double min, double max, int *bad) {
    const double v = m->host->cfg_float(m->ctx, key, NAN, min, max);
    if (!isnan(v)) return v;
    if (m->host->cfg_str(m->ctx, key, NULL)) *bad = 1;
    return def;
}

static int copy_path(audio_inst *m, char *dst, const char *key, const char *value) {
    if (strlen(value) >= AU_PATH_MAX) {
        m->host->fail(m->ctx, "%s is too long (%zu bytes; at most %d)", key, strlen(value), AU_PATH_MAX - 1);
        return -1;
    }
    strcpy(dst, value);
    return 0;
}

/* cache_dir: config, else $M2PT_CACHE_DIR/data, else results/cache/data. */
static int read_paths(audio_inst *m) {
    const char *dir = m->host->cfg_str(m->ctx, "cache_dir", "");
    const char *env = getenv("M2PT_CACHE_DIR");
    char buf[AU_PATH_MAX + 8];
    if (!dir || !*dir) {
        if (env && *env) {
            snprintf(buf, sizeof buf, "%s/data", env);
            dir = buf;
        } else {
            dir = "results/cache/data";
        }
    }
    const char *es = m->host->cfg_str(m->ctx, "espeak_data", "");
    return copy_path(m, m->cache_dir, "cache_dir", dir) || copy_path(m, m->espeak_dir, "espeak_data", es ? es : "");
}

static int ordered(audio_inst *m, const char *lo_key, double lo, const char *hi_key, double hi) {
    if (lo <= hi) return 0;
    m->host->fail(m->ctx, "%s = %g exceeds %s = %g; the minimum must not exceed the maximum", lo_key, lo, hi_key, hi);
    return -1;
}

/* Distinct prosody tuples that the pair (first word, first voice), the busiest, needs. */
static long busiest_pair(const audio_params *p) {
    long k = 0;
    for (int s = 0; s < 3; s++) {
        const long per_word = (p->size[s] + AU_WORDS - 1) / AU_WORDS;
        k += (per_word + p->voices - 1) / p->voices;
    }
    return k;
}

static int check_config(audio_inst *m) {
    audio_params *p = &m->p;
    int rc = ordered(m, "rate_min", p->rate_min, "rate_max", p->rate_max) |
             ordered(m, "pitch_min", p->pitch_min, "pitch_max", p->pitch_max) |
             ordered(m, "range_min", p->range_min, "range_max", p->range_max) |
             ordered(m, "snr_min", p->snr_min, "snr_max", p->snr_max);
    if (rc) return -1;
    if (AU_FRAMES % m->patch_t) {
        m->host->fail(m->ctx, "patch_time %d does not divide the %d frames; use 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, "
                      "48 or 96", m->patch_t, AU_FRAMES);
        return -1;
    }
    if (p->mels % m->patch_m) {
        m->host->fail(m->ctx, "patch_mel %d does not divide mels = %d; choose a divisor of mels", m->patch_m, p->mels);
        return -1;
    }
    const long space = (long)(p->rate_max - p->rate_min + 1) * (p->pitch_max - p->pitch_min + 1) *
                       (p->range_max - p->range_min + 1);
    const long need = busiest_pair(p);
    if (space < need) {
        m->host->fail(m->ctx, "the prosody ranges allow %ld distinct (rate, pitch, range) settings but a (word, "
                      "voice) pair needs %ld distinct utterances; widen rate_min..rate_max, pitch_min..pitch_max "
                      "or range_min..range_max, raise voices, or lower the split sizes", space, need);
        return -1;
    }
    return 0;
}

/* Every supported key is read here (even the setup-time ones) so the host sees them read. */
static int read_config(audio_inst *m) {
    audio_params *p = &m->p;
    int bad = 0;
    p->seed = m->host->seed(m->ctx);
    p->size[M2PT_SPLIT_TRAIN] = get_int(m, "train_size", 12000, 1, AU_MAX_SPLIT, &bad);
    p->size[M2PT_SPLIT_VAL] = get_int(m, "val_size", 1200, 0, AU_MAX_SPLIT, &bad);
    p->size[M2PT_SPLIT_TEST] = get_int(m, "test_size", 2400, 1, AU_MAX_SPLIT, &bad);
    p->voices = (int)get_int(m, "voices", 24, 1, AU_MAX_VOICES, &bad);
    p->rate_min = (int)get_int(m, "rate_min", 120, 80, 450, &bad);
    p->rate_max = (int)get_int(m, "rate_max", 220, 80, 450, &bad);
    p->pitch_min = (int)get_int(m, "pitch_min", 25, 0, 100, &bad);
    p->pitch_max = (int)get_int(m, "pitch_max", 75, 0, 100, &bad);
    p->range_min = (int)get_int(m, "range_min", 25, 0, 100, &bad);
    p->range_max = (int)get_int(m, "range_max", 75, 0, 100, &bad);
    p->snr_min = get_float(m, "snr_min", -5.0, -30.0, 60.0, &bad);
    p->snr_max = get_float(m, "snr_max", 15.0, -30.0, 60.0, &bad);
    p->gain_db = get_float(m, "gain_db", 6.0, 0.0, 20.0, &bad);
    p->mels = (int)get_int(m, "mels", 64, 16, 128, &bad);
    m->patch_t = (int)get_int(m, "patch_time", 8, 1, AU_FRAMES, &bad);
    m->patch_m = (int)get_int(m, "patch_mel", 16, 1, 128, &bad);
    m->aug_shift = (int)get_int(m, "aug_shift", AU_MARGIN, 0, AU_MARGIN, &bad);
    if (read_paths(m) || bad) return -1;
    return check_config(m);
}

/* Mean and standard deviation of the train split's log-mel (every stored frame), for the
 * byte -> float table. A histogram of the bytes makes this one pass without floats. */
static void build_lut(audio_inst *m) {
    uint64_t hist[256] = {0};
    const uint8_t *f = m->feats[M2PT_SPLIT_TRAIN];
    const size_t n = (size_t)m->p.size[M2PT_SPLIT_TRAIN] * m->sample_bytes;
    for (size_t i = 0; i < n; i++) hist[f[i]]++;
    double s1 = 0.0, s2 = 0.0;
    for (int q = 0; q < 256; q++) {
        const double v = AU_Q_LO + AU_Q_STEP * q;
        s1 += (double)hist[q] * v;
        s2 += (double)hist[q] * v * v;
    }
    const double mean = s1 / (double)n, var = s2 / (double)n - mean * mean;
    const double sd = var > 1e-12 ? sqrt(var) : 1.0;
    m->feat_mean = (float)mean;
    m->feat_std = (float)sd;
    for (int q = 0; q < 256; q++) m->lut[q] = (float)((AU_Q_LO + AU_Q_STEP * q - mean) / sd);
}

void audio_layout(audio_inst *m, uint8_t *base) {
    for (int s = 0; s < 3; s++) {
        m->labels[s] = base;
        base += m->p.size[s];
        m->feats[s] = base;
        base += (size_t)m->p.size[s] * m->sample_bytes;
    }
}

static int load_data(audio_inst *m) {
    m->sample_bytes = (size_t)AU_FRAMES_EXT * (size_t)m->p.mels;
    m->data_bytes = 0;
    for (int s = 0; s < 3; s++) m->data_bytes += (size_t)m->p.size[s] * (1 + m->sample_bytes);
    m->data = m->host->alloc(m->ctx, m->data_bytes);
    if (!m->data) return -1;
    audio_layout(m, m->data);
    const double t0 = audio_now();
    if (cache_load(m)) {
        if (generate_all(m)) return -1;
        m->host->log(m->ctx, 0, "generated the data in %.1f s", audio_now() - t0);
        cache_store(m);
    } else {
        m->host->log(m->ctx, 2, "loaded the data from the cache in %.2f s", audio_now() - t0);
    }
    build_lut(m);
    return 0;
}

static int audio_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    audio_inst *m = host->alloc(ctx, sizeof *m);
    if (!m) return -1;
    memset(m, 0, sizeof *m);
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m) || load_data(m)) return -1;
    m->grid_t = AU_FRAMES / m->patch_t;
    m->grid_m = m->p.mels / m->patch_m;
    m->patches = m->grid_t * m->grid_m;
    m->tokens = m->patches + 1;
    m->patch_dim = m->patch_t * m->patch_m;
    *inst = m;
    return 0;
}

/* Every buffer came from host->alloc, which the host frees; espeak-ng stays initialised for
 * the process (it cannot be re-initialised reliably). */
static void audio_close(void *inst) { (void)inst; }

static int audio_classes(void *inst) {
    (void)inst;
    return AU_WORDS;
}

static const char *audio_class_name(void *inst, int label) {
    (void)inst;
    return label >= 0 && label < AU_WORDS ? audio_words[label] : NULL;
}

static long audio_split_size(void *inst, m2pt_split_id split) {
    const audio_inst *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->p.size[split] : -1;
}

static long audio_sample_floats(void *inst) { return (long)AU_FRAMES * ((const audio_inst *)inst)->p.mels; }

static int audio_tokens(void *inst) { return ((const audio_inst *)inst)->tokens; }

static int audio_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    audio_inst *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > AU_MAX_DIM || max_batch < 1 || max_batch > AU_MAX_BATCH) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..%d and 1..%d", shape ? shape->dim : 0,
                      max_batch, AU_MAX_DIM, AU_MAX_BATCH);
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
    .open = audio_open,
    .close = audio_close,
    .classes = audio_classes,
    .class_name = audio_class_name,
    .split_size = audio_split_size,
    .sample_floats = audio_sample_floats,
    .fill = audio_fill,
    .tokens = audio_tokens,
    .setup = audio_setup,
    .tokenize = audio_tokenize,
    .tokenize_backward = audio_tokenize_backward,
    .head = audio_head,
    .head_backward = audio_head_backward,
    .recon_spec = audio_recon_spec,
    .recon_target = audio_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "audio",
    .version = "1.1.0",
    .description = "20 spoken command words synthesized with libespeak-ng in noise: log-mel patch tokens, "
                   "class token, LayerNorm + linear head",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
