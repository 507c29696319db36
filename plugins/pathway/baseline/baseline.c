/* Pathway "baseline": no pathway, W_eff = W. No tensors, no configuration keys, no cost: effective
 * returns the plain weight itself and backward is NULL (dL/dW = dL/dW_eff). */
#include <stdlib.h>

#include <m2pt/plugin.h>

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;
} bl_state;

static int bl_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    bl_state *s = calloc(1, sizeof *s);
    if (!s) {
        host->fail(ctx, "out of memory for the pathway state");
        return -1;
    }
    s->host = host;
    s->ctx = ctx;
    *inst = s;
    return 0;
}

static void bl_close(void *inst) { free(inst); }

static int bl_needs_aux(void *inst) { return 0; }

static int bl_setup(void *inst, const m2pt_shape *shape, const m2pt_aux_weights *aux) { return 0; }

static int bl_init(void *inst) { return 0; }

static const float *bl_effective(void *inst, int block, m2pt_linear which, const float *w, int out, int in) {
    return w;
}

static void bl_merge(void *inst, int block, m2pt_linear which, float *w, int out, int in) {}

static const m2pt_pathway bl_table = {
    .struct_size = sizeof(m2pt_pathway),
    .open = bl_open,
    .close = bl_close,
    .needs_aux = bl_needs_aux,
    .setup = bl_setup,
    .init = bl_init,
    .effective = bl_effective,
    .backward = NULL, /* dL/dW = dL/dW_eff */
    .merge = bl_merge,
};

static const m2pt_plugin bl_plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "baseline",
    .version = "1.0.0",
    .description = "No pathway: every block linear uses its plain weight (W_eff = W)",
    .pathway = &bl_table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &bl_plugin : NULL;
}
