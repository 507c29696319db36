/* toy: a complete, small modality plugin for m2pt, built out of tree against an installed m2pt
 * with nothing but `pkg-config --cflags m2pt` (see docs/writing-a-plugin.md).
 *
 * Data (no files): every sample is a sequence of `tokens` feature vectors of `features` floats.
 * Its class c (of `classes`) fixes a mean vector, the same for every token,
 *     mean_c[f] = cos(2*pi*c/classes + pi*f/features),
 * and each float gets Gaussian noise of standard deviation `noise`. Labels and noise come from
 * the run seed (host->seed), one random stream per sample, so the data is a function of the
 * seed and the split sizes only. The phases keep the classes apart for any seed.
 *
 * Model: tokenizer  tokens[b, t] = W_embed x[b, t] + b_embed + pos[t]   (no class token)
 *        head       logits[b] = W_head LayerNorm(mean_t tokens[b, t]) + b_head
 *
 * Masked-autoencoder pretraining (ABI 1.1, optional members recon_spec / recon_target): the
 * target of token t is its `features` input floats, scored with MSE; no prefix token; the
 * head's tensors are "toy.norm." and "toy.head.".
 *
 * Built with -DTOY_ABI_1_0 (tests/bad_plugins/abi10_modality.c) it is "toy10", the same plugin
 * as it would be built against ABI 1.0: abi_minor 0 and a modality table of
 * M2PT_MODALITY_SIZE_1_0 bytes, so the host must treat it as having no reconstruction members
 * (the memory after the table's struct_size holds functions that fail loudly if called).
 *
 * Rules this file follows (the ABI's): one exported symbol (m2pt_plugin_query, M2PT_EXPORT,
 * built with -fvisibility=hidden); every config key read in open; all memory from host->alloc
 * (freed by the host), none allocated after setup; errors described with host->fail and
 * returned as non-zero; no threads, no exit(). */
#include <m2pt/plugin.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOY_PI 3.14159265358979323846
#define TOY_MAX_SAMPLES 1000000L
#define TOY_MAX_FLOATS (1L << 27) /* all three splits together: 512 MiB of floats */
#define TOY_NAME_LEN 24 /* "class" + any int + NUL: -O1 builds check that it fits */
#define TOY_STREAM 0x746f792d64617461ull /* "toy-data": this plugin's random streams */

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    int tokens, features, classes;
    long split_n[3]; /* train, val, test sizes */
    double noise;

    /* data, generated in open */
    float *x[3]; /* per split: [n, tokens * features] */
    int *y[3];   /* per split: [n] */
    char (*names)[TOY_NAME_LEN];

    /* model, after setup */
    int set_up, dim, max_batch;
    int h_embed_w, h_embed_b, h_pos, h_norm_w, h_norm_b, h_head_w, h_head_b;
    float *x_saved;                    /* [max_batch * tokens, features]: input of the last tokenize */
    float *pooled, *normed, *mu, *rstd; /* head activations */
    float *d_normed, *d_pooled;        /* head backward scratch */
    int tok_n, head_n;                 /* n of the last tokenize / head, -1 before */
} toy;

static const char *const split_names[3] = {"train", "val", "test"};

/* The host must carry every ABI 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_normal) + sizeof h->rng_normal;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->fail && h->cfg_int &&
           h->cfg_float && h->seed && h->param_add && h->param && h->grad && h->alloc && h->linear_forward &&
           h->linear_backward && h->layernorm_forward && h->layernorm_backward && h->rng_seed && h->rng_u64 &&
           h->rng_normal;
}

static float *alloc_floats(toy *m, size_t n) { return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float)); }

/* --- open: configuration and data ---------------------------------------------------------- */

static int read_config(toy *m) {
    const m2pt_host *h = m->host;
    m2pt_ctx *c = m->ctx;
    /* Read every key, valid or not, before judging any: unread keys are reported as typos. */
    m->tokens = (int)h->cfg_int(c, "tokens", 8, 1, 4096);
    m->features = (int)h->cfg_int(c, "features", 4, 1, 4096);
    m->classes = (int)h->cfg_int(c, "classes", 3, 2, 1000);
    m->split_n[M2PT_SPLIT_TRAIN] = h->cfg_int(c, "train_size", 512, 1, TOY_MAX_SAMPLES);
    m->split_n[M2PT_SPLIT_VAL] = h->cfg_int(c, "val_size", 128, 0, TOY_MAX_SAMPLES);
    m->split_n[M2PT_SPLIT_TEST] = h->cfg_int(c, "test_size", 256, 1, TOY_MAX_SAMPLES);
    m->noise = h->cfg_float(c, "noise", 1.0, 0.0, 100.0);
    /* A bad value was recorded by its getter, which returned the default; the host reports it
     * after open returns. What the getters cannot see is checked here. */
    const long total = m->split_n[0] + m->split_n[1] + m->split_n[2];
    if ((double)total * m->tokens * m->features > (double)TOY_MAX_FLOATS) {
        h->fail(c, "%ld samples of %d x %d floats exceed %ld floats; lower train_size/val_size/test_size, tokens "
                   "or features", total, m->tokens, m->features, TOY_MAX_FLOATS);
        return -1;
    }
    return 0;
}

/* Sample i of a split: label and floats from the sample's own stream of the run seed. */
static void generate(toy *m, int split) {
    const m2pt_host *h = m->host;
    const int T = m->tokens, F = m->features, C = m->classes;
    const uint64_t seed = h->seed(m->ctx) ^ TOY_STREAM;
    for (long i = 0; i < m->split_n[split]; i++) {
        m2pt_rng_state r;
        h->rng_seed(&r, seed, ((uint64_t)split << 40) | (uint64_t)i);
        const int c = (int)(h->rng_u64(&r) % (uint64_t)C);
        float *x = m->x[split] + (size_t)i * T * F;
        m->y[split][i] = c;
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) {
                const double mean = cos(2.0 * TOY_PI * c / C + TOY_PI * f / F);
                x[(size_t)t * F + f] = (float)(mean + m->noise * h->rng_normal(&r));
            }
    }
}

static int toy_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    toy *m = host->alloc(ctx, sizeof *m); /* zeroed; freed by the host */
    if (!m) return -1;
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m)) return -1;
    const size_t sample = (size_t)m->tokens * (size_t)m->features;
    for (int s = 0; s < 3; s++) {
        m->x[s] = alloc_floats(m, (size_t)m->split_n[s] * sample);
        m->y[s] = host->alloc(ctx, (size_t)(m->split_n[s] ? m->split_n[s] : 1) * sizeof(int));
        if (!m->x[s] || !m->y[s]) return -1;
        generate(m, s);
    }
    m->names = host->alloc(ctx, (size_t)m->classes * sizeof *m->names);
    if (!m->names) return -1;
    for (int c = 0; c < m->classes; c++) snprintf(m->names[c], TOY_NAME_LEN, "class%d", c);
    *inst = m; /* only on success */
    return 0;
}

/* Every buffer came from host->alloc, which the host frees after close. */
static void toy_close(void *inst) { (void)inst; }

/* --- dataset ---------------------------------------------------------------------------------- */

static int toy_classes(void *inst) { return ((const toy *)inst)->classes; }

static const char *toy_class_name(void *inst, int label) {
    const toy *m = inst;
    return label >= 0 && label < m->classes ? m->names[label] : NULL;
}

static long toy_split_size(void *inst, m2pt_split_id split) {
    const toy *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->split_n[split] : -1;
}

static long toy_sample_floats(void *inst) {
    const toy *m = inst;
    return (long)m->tokens * m->features;
}

/* No train-time augmentation: `augment` and `seed` change nothing. */
static int toy_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                    float *raw, int *labels) {
    (void)augment, (void)seed;
    toy *m = inst;
    if ((int)split < 0 || (int)split > 2) {
        m->host->fail(m->ctx, "fill: unknown split %d", (int)split);
        return -1;
    }
    if (n < 0 || (n > 0 && (!index || !raw || !labels))) {
        m->host->fail(m->ctx, "fill: bad arguments (n = %d, or a NULL buffer)", n);
        return -1;
    }
    const size_t sample = (size_t)m->tokens * (size_t)m->features;
    for (int k = 0; k < n; k++) {
        if (index[k] < 0 || index[k] >= m->split_n[split]) {
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld samples",
                          index[k], k, split_names[split], m->split_n[split]);
            return -1;
        }
        memcpy(raw + (size_t)k * sample, m->x[split] + (size_t)index[k] * sample, sample * sizeof(float));
        labels[k] = m->y[split][index[k]];
    }
    return 0;
}

/* --- model ------------------------------------------------------------------------------------- */

static int toy_tokens(void *inst) { return ((const toy *)inst)->tokens; }

static int add(toy *m, const char *name, int d0, int d1, m2pt_fill fill, unsigned flags) {
    const int shape[2] = {d0, d1};
    return m->host->param_add(m->ctx, name, d1 ? 2 : 1, shape, fill, fill == M2PT_FILL_TRUNC_NORMAL ? 0.02f : 0.0f,
                              flags);
}

static int toy_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    toy *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > 65536 || max_batch < 1 || max_batch > 65536) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..65536", shape ? shape->dim : 0, max_batch);
        return -1;
    }
    const int D = shape->dim, T = m->tokens, F = m->features, C = m->classes;
    m->dim = D;
    m->max_batch = max_batch;
    /* Tensor names are global: prefix them with the plugin's name. Matrices decay, the rest not. */
    m->h_embed_w = add(m, "toy.embed.weight", D, F, M2PT_FILL_TRUNC_NORMAL, M2PT_PARAM_DECAY);
    m->h_embed_b = add(m, "toy.embed.bias", D, 0, M2PT_FILL_ZERO, 0);
    m->h_pos = add(m, "toy.pos", T, D, M2PT_FILL_TRUNC_NORMAL, 0);
    m->h_norm_w = add(m, "toy.norm.weight", D, 0, M2PT_FILL_ONE, 0);
    m->h_norm_b = add(m, "toy.norm.bias", D, 0, M2PT_FILL_ZERO, 0);
    m->h_head_w = add(m, "toy.head.weight", C, D, M2PT_FILL_TRUNC_NORMAL, M2PT_PARAM_DECAY);
    m->h_head_b = add(m, "toy.head.bias", C, 0, M2PT_FILL_ZERO, 0);
    if (m->h_embed_w < 0 || m->h_embed_b < 0 || m->h_pos < 0 || m->h_norm_w < 0 || m->h_norm_b < 0 ||
        m->h_head_w < 0 || m->h_head_b < 0)
        return -1; /* param_add has called fail() */
    /* Every buffer a step needs, for the largest batch, now: the step calls allocate nothing. */
    const size_t B = (size_t)max_batch, BD = B * (size_t)D;
    m->x_saved = alloc_floats(m, B * (size_t)T * (size_t)F);
    m->pooled = alloc_floats(m, BD);
    m->normed = alloc_floats(m, BD);
    m->d_normed = alloc_floats(m, BD);
    m->d_pooled = alloc_floats(m, BD);
    m->mu = alloc_floats(m, B);
    m->rstd = alloc_floats(m, B);
    if (!m->x_saved || !m->pooled || !m->normed || !m->d_normed || !m->d_pooled || !m->mu || !m->rstd) return -1;
    m->set_up = 1;
    return 0;
}

/* tokenize/head and their backward calls return void: a bad call is described with fail()
 * (the host reports the recorded error) and leaves the outputs untouched. expect: the n of the
 * matching forward call, -1 for none, -2 when that forward call never happened. */
static int bad_call(toy *m, const char *what, int n, int expect) {
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

static void toy_tokenize(void *inst, const float *raw, int n, float *tokens) {
    toy *m = inst;
    if (bad_call(m, "tokenize", n, -1)) return;
    m->tok_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens, F = m->features;
    const size_t rows = (size_t)n * T;
    memcpy(m->x_saved, raw, rows * F * sizeof(float)); /* backward needs the input */
    /* raw [n*T, F] -> tokens [n*T, D] in one call, then the position embedding */
    h->linear_forward(tokens, m->x_saved, h->param(m->ctx, m->h_embed_w), h->param(m->ctx, m->h_embed_b), (int)rows,
                      F, D);
    const float *pos = h->param(m->ctx, m->h_pos);
    for (int b = 0; b < n; b++) {
        float *tb = tokens + (size_t)b * T * D;
        for (size_t i = 0; i < (size_t)T * D; i++) tb[i] += pos[i];
    }
}

static void toy_tokenize_backward(void *inst, const float *d_tokens, int n) {
    toy *m = inst;
    if (bad_call(m, "tokenize_backward", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens, F = m->features;
    float *g_pos = h->grad(m->ctx, m->h_pos);
    for (int b = 0; b < n; b++) {
        const float *db = d_tokens + (size_t)b * T * D;
        for (size_t i = 0; i < (size_t)T * D; i++) g_pos[i] += db[i];
    }
    /* d(embedding) is d_tokens itself; the raw input needs no gradient (dx = NULL) */
    h->linear_backward(NULL, h->grad(m->ctx, m->h_embed_w), h->grad(m->ctx, m->h_embed_b), d_tokens, m->x_saved,
                       h->param(m->ctx, m->h_embed_w), n * T, F, D);
}

static void toy_head(void *inst, const float *tokens, int n, float *logits) {
    toy *m = inst;
    if (bad_call(m, "head", n, -1)) return;
    m->head_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    const float inv = 1.0f / (float)T;
    for (int b = 0; b < n; b++) { /* mean over the tokens */
        const float *xb = tokens + (size_t)b * T * D;
        float *pb = m->pooled + (size_t)b * D;
        memset(pb, 0, (size_t)D * sizeof(float));
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) pb[d] += xb[(size_t)t * D + d];
        for (int d = 0; d < D; d++) pb[d] *= inv;
    }
    h->layernorm_forward(m->normed, m->mu, m->rstd, m->pooled, h->param(m->ctx, m->h_norm_w),
                         h->param(m->ctx, m->h_norm_b), n, D);
    h->linear_forward(logits, m->normed, h->param(m->ctx, m->h_head_w), h->param(m->ctx, m->h_head_b), n, D,
                      m->classes);
}

static void toy_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    toy *m = inst;
    if (bad_call(m, "head_backward", n, m->head_n < 0 ? -2 : m->head_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    h->linear_backward(m->d_normed, h->grad(m->ctx, m->h_head_w), h->grad(m->ctx, m->h_head_b), d_logits, m->normed,
                       h->param(m->ctx, m->h_head_w), n, D, m->classes);
    /* layernorm_backward ADDS into dx: start from zero */
    memset(m->d_pooled, 0, (size_t)n * D * sizeof(float));
    h->layernorm_backward(m->d_pooled, h->grad(m->ctx, m->h_norm_w), h->grad(m->ctx, m->h_norm_b), m->d_normed,
                          m->pooled, m->mu, m->rstd, h->param(m->ctx, m->h_norm_w), n, D);
    /* the mean spreads the gradient evenly over the tokens; d_tokens is written completely */
    const float inv = 1.0f / (float)T;
    for (int b = 0; b < n; b++) {
        const float *g = m->d_pooled + (size_t)b * D;
        float *db = d_tokens + (size_t)b * T * D;
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) db[(size_t)t * D + d] = g[d] * inv;
    }
}

/* --- masked-autoencoder target (ABI 1.1) ------------------------------------------------------ */

#ifndef TOY_ABI_1_0
static int toy_recon_spec(void *inst, m2pt_recon_spec *spec) {
    toy *m = inst;
    if (!m->set_up) {
        m->host->fail(m->ctx, "recon_spec called before setup");
        return -1;
    }
    memset(spec, 0, sizeof *spec);
    spec->loss = M2PT_RECON_MSE;   /* the host normalises each token's target (mean 0, variance 1) */
    spec->prefix_tokens = 0;       /* no class token: every token can be masked */
    spec->target_floats = m->features;
    spec->head_prefixes = "toy.norm.,toy.head."; /* static storage */
    return 0;
}

/* Targets of the samples of the last tokenize: their inputs, saved there (no allocation). */
static void toy_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    toy *m = inst;
    (void)pos; /* pos_floats 0: NULL */
    if (bad_call(m, "recon_target", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const size_t rows = (size_t)n * (size_t)m->tokens;
    memcpy(target, m->x_saved, rows * (size_t)m->features * sizeof(float));
    for (size_t r = 0; r < rows; r++) weight[r] = 1.0f;
}
#define TOY_TABLE_SIZE sizeof(m2pt_modality)
#define TOY_ABI_MINOR M2PT_ABI_MINOR
#define TOY_PLUGIN_NAME "toy"
#define TOY_VERSION "1.1.0"
#define TOY_RECON_SPEC toy_recon_spec
#define TOY_RECON_TARGET toy_recon_target
#else
/* toy10: what lies after a 1.0 table's struct_size is not the plugin's to promise. A host that
 * reads past it gets these, which fail loudly instead of quietly working. */
static int toy10_beyond_spec(void *inst, m2pt_recon_spec *spec) {
    toy *m = inst;
    (void)spec;
    m->host->fail(m->ctx, "the host called recon_spec of an ABI 1.0 table (beyond its struct_size)");
    return -1;
}
static void toy10_beyond_target(void *inst, int n, float *target, float *weight, float *pos) {
    toy *m = inst;
    (void)n, (void)target, (void)weight, (void)pos;
    m->host->fail(m->ctx, "the host called recon_target of an ABI 1.0 table (beyond its struct_size)");
}
#define TOY_TABLE_SIZE M2PT_MODALITY_SIZE_1_0
#define TOY_ABI_MINOR 0
#define TOY_PLUGIN_NAME "toy10"
#define TOY_VERSION "1.0.0"
#define TOY_RECON_SPEC toy10_beyond_spec
#define TOY_RECON_TARGET toy10_beyond_target
#endif

/* --- the descriptor and the one exported symbol ------------------------------------------------ */

static const m2pt_modality modality = {
    .struct_size = TOY_TABLE_SIZE,
    .open = toy_open,
    .close = toy_close,
    .classes = toy_classes,
    .class_name = toy_class_name,
    .split_size = toy_split_size,
    .sample_floats = toy_sample_floats,
    .fill = toy_fill,
    .tokens = toy_tokens,
    .setup = toy_setup,
    .tokenize = toy_tokenize,
    .tokenize_backward = toy_tokenize_backward,
    .head = toy_head,
    .head_backward = toy_head_backward,
    .recon_spec = TOY_RECON_SPEC,     /* ABI 1.1 (optional) */
    .recon_target = TOY_RECON_TARGET, /* ABI 1.1 (optional) */
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = TOY_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = TOY_PLUGIN_NAME,
    .version = TOY_VERSION,
    .description = "generated token sequences (class = mean pattern + noise): the out-of-tree example plugin",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
