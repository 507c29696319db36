/* The host side of the plugin ABI: one m2pt_ctx per plugin instance, and the m2pt_host table
 * that plugins call back into (config getters, tensor registration, scratch memory, math,
 * random streams, messages). */
#ifndef M2PT_HOST_H
#define M2PT_HOST_H

#include <stdint.h>

#include "kv.h"
#include "m2pt/plugin.h"
#include "params.h"

#define M2PT_ERR_MAX 1024

struct m2pt_ctx {
    const char *plugin;  /* plugin name, for messages */
    m2pt_kv *cfg;        /* the plugin's config section (may be NULL: all defaults) */
    const char *cfg_prefix; /* how the section is named to the user, e.g. "target.data." */
    uint64_t seed;
    m2pt_params *params; /* registry the plugin's tensors go into */
    unsigned registered_flags_mask;
    void **allocs;
    int nallocs, cap_allocs;
    char err[M2PT_ERR_MAX]; /* first error of the current call (fail() or a config getter) */
    int quiet;              /* suppress log() lines (conformance runs) */
};

const m2pt_host *m2pt_host_api(void);

/* A fresh context; `params` may be NULL until setup. */
void m2pt_ctx_init(m2pt_ctx *ctx, const char *plugin, m2pt_kv *cfg, const char *cfg_prefix, uint64_t seed,
                   m2pt_params *params);
/* Frees the context's scratch allocations. */
void m2pt_ctx_release(m2pt_ctx *ctx);
/* After a plugin call: non-zero rc or a recorded error -> copy "plugin: message" into err and
 * return -1. Also reports config keys that nobody read when check_unread is set. */
int m2pt_ctx_status(m2pt_ctx *ctx, int rc, int check_unread, char *err, size_t errlen);

#endif
