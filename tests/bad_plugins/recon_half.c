/* Bad plugin: an ABI 1.1 modality table with recon_spec but no recon_target (the two
 * reconstruction members come as a pair). */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

static int m_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    (void)host, (void)ctx;
    static int state;
    *inst = &state;
    return 0;
}
static void m_close(void *inst) { (void)inst; }
static int m_classes(void *inst) { return (void)inst, 2; }
static const char *m_class_name(void *inst, int label) { return (void)inst, label ? "one" : "zero"; }
static long m_split_size(void *inst, m2pt_split_id split) { return (void)inst, (void)split, 0; }
static long m_sample_floats(void *inst) { return (void)inst, 1; }
static int m_tokens(void *inst) { return (void)inst, 2; }
static int m_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    return (void)inst, (void)shape, (void)max_batch, 0;
}
static void m_tokenize(void *inst, const float *raw, int n, float *tokens) {
    (void)inst, (void)raw, (void)n, (void)tokens;
}
static void m_tokenize_backward(void *inst, const float *d_tokens, int n) {
    (void)inst, (void)d_tokens, (void)n;
}
static void m_head(void *inst, const float *tokens, int n, float *logits) {
    (void)inst, (void)tokens, (void)n, (void)logits;
}
static void m_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    (void)inst, (void)d_logits, (void)n, (void)d_tokens;
}
static int m_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                  float *raw, int *labels) {
    (void)inst, (void)split, (void)index, (void)n, (void)augment, (void)seed, (void)raw, (void)labels;
    return 0;
}
static int m_recon_spec(void *inst, m2pt_recon_spec *spec) {
    (void)inst;
    spec->loss = M2PT_RECON_MSE, spec->prefix_tokens = 0, spec->target_floats = 1, spec->classes = 0;
    spec->pos_floats = 0, spec->head_prefixes = "head.";
    return 0;
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
    .recon_target = NULL,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "recon_half",
    .version = "1.0.0",
    .description = "Test plugin: recon_spec without recon_target",
    .modality = &table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
