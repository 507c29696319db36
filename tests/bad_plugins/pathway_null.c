/* Bad plugin: kind is pathway but the pathway table is NULL. */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "pathway_null",
    .version = "1.0.0",
    .description = "Test plugin: pathway kind without a pathway table",
    .pathway = NULL, /* the defect */
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
