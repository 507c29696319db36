/* Pathway "noaux": the control for "is it just extra parameters?". The same re-parameterization
 * as reparam, W_eff = W + lambda * W_aux, but W_aux is drawn at random with the target's own
 * initialisation (truncated normal, std 0.02) instead of coming from an auxiliary model. The code
 * is reparam's (docs/pathways.md). */
#define RP_WITH_AUX 0
#include "../reparam/reparam_impl.inc"

static const m2pt_plugin noaux_plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "noaux",
    .version = "1.0.0",
    .description = "Control: W_eff = W + lambda * W_aux with a random W_aux (no auxiliary model)",
    .pathway = &rp_table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &noaux_plugin : NULL;
}
