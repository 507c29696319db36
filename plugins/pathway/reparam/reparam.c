/* Pathway "reparam": Cross-Modal Re-parameterization, W_eff = W + lambda * W_aux with W_aux
 * copied from the matching block linear of an auxiliary model (docs/pathways.md). */
#define RP_WITH_AUX 1
#include "reparam_impl.inc"

static const m2pt_plugin reparam_plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "reparam",
    .version = "1.0.0",
    .description = "Cross-Modal Re-parameterization: W_eff = W + lambda * W_aux, W_aux from an auxiliary model",
    .pathway = &rp_table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &reparam_plugin : NULL;
}
