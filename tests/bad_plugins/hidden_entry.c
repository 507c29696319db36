/* Bad plugin: defines m2pt_plugin_query but forgets M2PT_EXPORT, so under -fvisibility=hidden the
 * entry point is not exported (the loader must report a missing entry point). */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "hidden_entry",
    .version = "1.0.0",
    .description = "Test plugin: entry point not exported",
    .pathway = NULL,
};

const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major); /* no M2PT_EXPORT: the defect */
const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}
