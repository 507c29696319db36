/* The validator's view of the installed plugins (runner.h, m2pt_oracle): does a plugin of that
 * name exist, does it accept these options, does a pathway need an auxiliary model, can a
 * modality be trained by MAE. Each question is answered once per process (memoised). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "json.h"
#include "loader.h"
#include "runner.h"
#include "util.h"

/* ============================================================ plugin oracle for validation */

typedef struct {
    char *key; /* "m|name|k=v;k=v" or "p|..." */
    int rc, needs;
    char *err;
} oracle_memo;

struct m2pt_oracle_state {
    char *exe_dir;
    oracle_memo *memo;
    int n, cap;
};

m2pt_oracle_state *m2pt_oracle_new(void) {
    m2pt_oracle_state *s = calloc(1, sizeof *s);
    if (s) s->exe_dir = m2pt_exe_dir();
    return s;
}

void m2pt_oracle_free(m2pt_oracle_state *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->memo[i].key), free(s->memo[i].err);
    free(s->memo);
    free(s->exe_dir);
    free(s);
}

static char *memo_key(char kind, const char *name, const m2pt_kv *kv) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_sb_printf(&b, "%c|%s", kind, name);
    for (int i = 0; kv && i < kv->n; i++) m2pt_sb_printf(&b, "|%s=%s", kv->e[i].key, kv->e[i].value);
    if (b.failed) {
        m2pt_sb_free(&b);
        return NULL;
    }
    return b.buf;
}

/* Open the plugin with these options and report what it says (needs_aux for pathways). */
static int oracle_ask(m2pt_oracle_state *s, char kind, const char *name, m2pt_kv *opts, int *needs, char *err,
                      size_t errlen) {
    const int name_only = kind == 'm' && !opts; /* is there such a modality plugin? (not opened) */
    char *key = memo_key(name_only ? 'n' : kind, name, opts);
    for (int i = 0; key && i < s->n; i++)
        if (!strcmp(s->memo[i].key, key)) {
            free(key);
            if (needs) *needs = s->memo[i].needs;
            if (s->memo[i].rc) snprintf(err, errlen, "%s", s->memo[i].err);
            return s->memo[i].rc;
        }
    m2pt_loaded pl;
    int rc = 0, need = 0;
    char msg[1200] = "";
    if (m2pt_plugin_resolve(name, kind == 'm' ? M2PT_KIND_MODALITY : M2PT_KIND_PATHWAY, s->exe_dir, &pl, msg,
                            sizeof msg)) {
        rc = -1;
    } else if (name_only) {
        m2pt_plugin_unload(&pl);
    } else {
        m2pt_ctx ctx;
        m2pt_ctx_init(&ctx, pl.desc->name, opts, kind == 'm' ? "data." : "pathway.", 0, NULL);
        ctx.quiet = 1;
        for (int i = 0; opts && i < opts->n; i++) opts->e[i].read = 0;
        void *inst = NULL;
        int orc = kind == 'm' ? pl.desc->modality->open(m2pt_host_api(), &ctx, &inst)
                              : pl.desc->pathway->open(m2pt_host_api(), &ctx, &inst);
        rc = m2pt_ctx_status(&ctx, orc, 1, msg, sizeof msg);
        if (inst) {
            if (kind == 'p' && !rc) need = pl.desc->pathway->needs_aux(inst);
            if (kind == 'm') pl.desc->modality->close(inst);
            else pl.desc->pathway->close(inst);
        }
        m2pt_ctx_release(&ctx);
        m2pt_plugin_unload(&pl);
    }
    if (key && s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        oracle_memo *m = realloc(s->memo, (size_t)cap * sizeof *m);
        if (m) s->memo = m, s->cap = cap;
    }
    if (key && s->n < s->cap) {
        s->memo[s->n++] = (oracle_memo){key, rc, need, strdup(msg)};
        key = NULL;
    }
    free(key);
    if (needs) *needs = need;
    if (rc) snprintf(err, errlen, "%s", msg);
    return rc;
}

static int oracle_needs_aux(void *ctx, const char *pathway, m2pt_kv *opts, int *needs, char *err, size_t errlen) {
    return oracle_ask(ctx, 'p', pathway, opts, needs, err, errlen);
}

static int oracle_check_modality(void *ctx, const char *modality, m2pt_kv *opts, char *err, size_t errlen) {
    return oracle_ask(ctx, 'm', modality, opts, NULL, err, errlen);
}

/* Does the modality plugin implement ABI 1.1's reconstruction targets? (Loaded, not opened.) */
static int oracle_can_mae(void *ctx, const char *modality, char *err, size_t errlen) {
    m2pt_oracle_state *s = ctx;
    char *key = memo_key('r', modality, NULL);
    for (int i = 0; key && i < s->n; i++)
        if (!strcmp(s->memo[i].key, key)) {
            free(key);
            if (s->memo[i].rc) snprintf(err, errlen, "%s", s->memo[i].err);
            return s->memo[i].rc;
        }
    m2pt_loaded pl;
    char msg[1200] = "";
    int rc = 0;
    if (m2pt_plugin_resolve(modality, M2PT_KIND_MODALITY, s->exe_dir, &pl, msg, sizeof msg)) {
        rc = -1;
    } else {
        if (!m2pt_modality_can_mae(pl.desc->modality)) {
            snprintf(msg, sizeof msg,
                     "modality plugin '%s' (plugin ABI %d.%d) has no reconstruction targets (ABI 1.1's "
                     "recon_spec/recon_target): it cannot be trained by MAE (objective: mae, pretrain: mae)",
                     pl.desc->name, (int)pl.desc->abi_major, (int)pl.desc->abi_minor);
            rc = -1;
        }
        m2pt_plugin_unload(&pl);
    }
    if (key && s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        oracle_memo *m = realloc(s->memo, (size_t)cap * sizeof *m);
        if (m) s->memo = m, s->cap = cap;
    }
    if (key && s->n < s->cap) {
        s->memo[s->n++] = (oracle_memo){key, rc, 0, strdup(msg)};
        key = NULL;
    }
    free(key);
    if (rc) snprintf(err, errlen, "%s", msg);
    return rc;
}

m2pt_plugin_oracle m2pt_oracle(m2pt_oracle_state *s) {
    m2pt_plugin_oracle o = {.ctx = s, .pathway_needs_aux = oracle_needs_aux, .check_modality = oracle_check_modality,
                            .modality_can_mae = oracle_can_mae};
    return o;
}

