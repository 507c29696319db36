/* Bad plugin: the entry point exists but declines every host ABI major (returns NULL), as a plugin
 * built for another major that checks its argument would. */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    (void)host_abi_major;
    return NULL;
}
