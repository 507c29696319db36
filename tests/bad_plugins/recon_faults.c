/* A tiny VALID modality ("recon_faults") whose ABI 1.1 reconstruction members can be broken on
 * purpose with the config key `fault`, so that tests/test_loader.c can show that each
 * reconstruction check of `m2pt plugins --check` fails when it should (and passes with
 * fault=none). The rest of the plugin passes the suite:
 *   raw sample [T] floats (T = 4 tokens);  tokens[b, t, d] = raw[b, t] * embed[t, d];
 *   logits[b] = W tokens[b, 0];  target of token t >= 1: raw[b, t] (MSE, prefix 1).
 * Faults: loss, prefix, chamfer, classes, prefix_name, weight, class_id, nan, nondet,
 * unwritten, alloc, stale (see recon_target). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <m2pt/plugin.h>

#define T 4
#define CLASSES 2
#define SPLIT 16

typedef struct {
    const m2pt_host *h;
    m2pt_ctx *ctx;
    char fault[32];
    int dim, max_batch, h_embed, h_w, tok_n, calls;
    float *raw;   /* [max_batch, T] of the last tokenize (the first one with fault=stale) */
    float *x0, *dx0; /* [max_batch, dim] head input and its gradient */
} rf;

static int f(const rf *m, const char *name) { return !strcmp(m->fault, name); }

static int m_open(const m2pt_host *h, m2pt_ctx *ctx, void **inst) {
    rf *m = h->alloc(ctx, sizeof *m);
    if (!m) return -1;
    m->h = h, m->ctx = ctx, m->tok_n = -1;
    const char *fault = h->cfg_str(ctx, "fault", "none");
    if (!fault || strlen(fault) >= sizeof m->fault) {
        h->fail(ctx, "fault: too long");
        return -1;
    }
    strcpy(m->fault, fault);
    *inst = m;
    return 0;
}
static void m_close(void *inst) { (void)inst; }
static int m_classes(void *inst) { return (void)inst, CLASSES; }
static const char *m_class_name(void *inst, int label) { return (void)inst, label ? "one" : "zero"; }
static long m_split_size(void *inst, m2pt_split_id split) { return (void)inst, (void)split, SPLIT; }
static long m_sample_floats(void *inst) { return (void)inst, T; }
static int m_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                  float *raw, int *labels) {
    rf *m = inst;
    (void)augment, (void)seed, (void)split;
    for (int k = 0; k < n; k++) {
        if (index[k] < 0 || index[k] >= SPLIT) {
            m->h->fail(m->ctx, "fill: index %ld out of range", index[k]);
            return -1;
        }
        for (int t = 0; t < T; t++) raw[k * T + t] = (float)sin(1.0 + (double)index[k] * 0.7 + t * 1.3);
        labels[k] = (int)(index[k] % CLASSES);
    }
    return 0;
}
static int m_tokens(void *inst) { return (void)inst, T; }
static int m_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    rf *m = inst;
    m->dim = shape->dim, m->max_batch = max_batch;
    const int se[2] = {T, shape->dim}, sw[2] = {CLASSES, shape->dim};
    m->h_embed = m->h->param_add(m->ctx, "rf.embed", 2, se, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    m->h_w = m->h->param_add(m->ctx, "rf.head.weight", 2, sw, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->raw = m->h->alloc(m->ctx, (size_t)max_batch * T * sizeof(float));
    m->x0 = m->h->alloc(m->ctx, (size_t)max_batch * (size_t)shape->dim * sizeof(float));
    m->dx0 = m->h->alloc(m->ctx, (size_t)max_batch * (size_t)shape->dim * sizeof(float));
    return m->h_embed < 0 || m->h_w < 0 || !m->raw || !m->x0 || !m->dx0 ? -1 : 0;
}
static void m_tokenize(void *inst, const float *raw, int n, float *tokens) {
    rf *m = inst;
    if (!(f(m, "stale") && m->tok_n >= 0)) memcpy(m->raw, raw, (size_t)n * T * sizeof(float));
    m->tok_n = n;
    const float *e = m->h->param(m->ctx, m->h_embed);
    for (int b = 0; b < n; b++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < m->dim; d++) tokens[((size_t)b * T + t) * m->dim + d] = raw[b * T + t] * e[t * m->dim + d];
}
static void m_tokenize_backward(void *inst, const float *d_tokens, int n) {
    rf *m = inst;
    float *g = m->h->grad(m->ctx, m->h_embed);
    for (int b = 0; b < n; b++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < m->dim; d++) g[t * m->dim + d] += d_tokens[((size_t)b * T + t) * m->dim + d] * m->raw[b * T + t];
}
static void m_head(void *inst, const float *tokens, int n, float *logits) {
    rf *m = inst;
    for (int b = 0; b < n; b++) memcpy(m->x0 + (size_t)b * m->dim, tokens + (size_t)b * T * m->dim, (size_t)m->dim * sizeof(float));
    m->h->linear_forward(logits, m->x0, m->h->param(m->ctx, m->h_w), NULL, n, m->dim, CLASSES);
}
static void m_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    rf *m = inst;
    memset(d_tokens, 0, (size_t)n * T * m->dim * sizeof(float));
    m->h->linear_backward(m->dx0, m->h->grad(m->ctx, m->h_w), NULL, d_logits, m->x0, m->h->param(m->ctx, m->h_w), n,
                          m->dim, CLASSES);
    for (int b = 0; b < n; b++)
        memcpy(d_tokens + (size_t)b * T * m->dim, m->dx0 + (size_t)b * m->dim, (size_t)m->dim * sizeof(float));
}

static int m_recon_spec(void *inst, m2pt_recon_spec *s) {
    rf *m = inst;
    memset(s, 0, sizeof *s);
    s->loss = M2PT_RECON_MSE, s->prefix_tokens = 1, s->target_floats = 1, s->head_prefixes = "rf.head.";
    if (f(m, "loss")) s->loss = 7;
    if (f(m, "prefix")) s->prefix_tokens = T;
    if (f(m, "chamfer")) s->loss = M2PT_RECON_CHAMFER, s->target_floats = 4;
    if (f(m, "classes")) s->loss = M2PT_RECON_CLASS, s->classes = 1;
    if (f(m, "class_id")) s->loss = M2PT_RECON_CLASS, s->classes = 4;
    if (f(m, "prefix_name")) s->head_prefixes = "rf.head.,rf.nosuch.";
    return 0;
}

static void m_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    rf *m = inst;
    (void)pos;
    if (m->tok_n < 0) {
        m->h->fail(m->ctx, "recon_target called without a forward call before it");
        return;
    }
    m->calls++;
    const int L = T - 1;
    for (int b = 0; b < n; b++)
        for (int j = 0; j < L; j++) {
            if (f(m, "unwritten") && b == n - 1 && j == L - 1) continue;
            float v = m->raw[b * T + 1 + j];
            if (f(m, "class_id")) v = (float)(b == 0 && j == 0 ? 4 : j);
            if (f(m, "nan") && b == 0 && j == 1) v = NAN;
            if (f(m, "nondet")) v += (float)m->calls;
            target[b * L + j] = v;
            weight[b * L + j] = f(m, "weight") && j == 0 ? 0.5f : 1.0f;
        }
    if (f(m, "alloc")) (void)m->h->alloc(m->ctx, 64);
}

static const m2pt_modality table = {
    .struct_size = sizeof(m2pt_modality),
    .open = m_open,
    .close = m_close,
    .classes = m_classes,
    .class_name = m_class_name,
    .split_size = m_split_size,
    .sample_floats = m_sample_floats,
    .fill = m_fill,
    .tokens = m_tokens,
    .setup = m_setup,
    .tokenize = m_tokenize,
    .tokenize_backward = m_tokenize_backward,
    .head = m_head,
    .head_backward = m_head_backward,
    .recon_spec = m_recon_spec,
    .recon_target = m_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "recon_faults",
    .version = "1.0.0",
    .description = "Test plugin: reconstruction members broken on request (config key fault)",
    .modality = &table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
