/* Bad plugin: a shared object that exports a symbol, but not the entry point m2pt_plugin_query. */
#include <stddef.h>
#include <stdint.h>

#include <m2pt/plugin.h>

M2PT_EXPORT int m2pt_plugin_query_v2(uint32_t host_abi_major);
M2PT_EXPORT int m2pt_plugin_query_v2(uint32_t host_abi_major) { return (int)host_abi_major; }
