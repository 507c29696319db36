/* Bad plugin: built for the next ABI major (abi_major = M2PT_ABI_MAJOR + 1) and, like a careless
 * plugin, returns its descriptor whatever major the host asks for. */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

static int p_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    (void)host, (void)ctx;
    static int state;
    *inst = &state;
    return 0;
}
static void p_close(void *inst) { (void)inst; }
static int p_needs_aux(void *inst) { return (void)inst, 0; }
static int p_setup(void *inst, const m2pt_shape *shape, const m2pt_aux_weights *aux) {
    return (void)inst, (void)shape, (void)aux, 0;
}
static int p_init(void *inst) { return (void)inst, 0; }
static const float *p_effective(void *inst, int block, m2pt_linear which, const float *w, int out, int in) {
    return (void)inst, (void)block, (void)which, (void)out, (void)in, w;
}
static void p_merge(void *inst, int block, m2pt_linear which, float *w, int out, int in) {
    (void)inst, (void)block, (void)which, (void)w, (void)out, (void)in;
}

static const m2pt_pathway table = {
    .struct_size = sizeof(m2pt_pathway),
    .open = p_open,
    .close = p_close,
    .needs_aux = p_needs_aux,
    .setup = p_setup,
    .init = p_init,
    .effective = p_effective,
    .backward = NULL, /* optional: dL/dW = dL/dW_eff */
    .merge = p_merge,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR + 1,
    .abi_minor = 0, /* "2.0": the next major, whatever this header's minor */
    .kind = M2PT_KIND_PATHWAY,
    .name = "abi_major",
    .version = "1.0.0",
    .description = "Test plugin: other ABI major",
    .pathway = &table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    (void)host_abi_major;
    return &plugin;
}
