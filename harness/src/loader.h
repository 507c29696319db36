/* Finding and loading plugins (shared objects exporting m2pt_plugin_query).
 *
 * Search order: an explicit path (anything containing '/' or ending in .so), then each
 * directory of M2PT_PLUGIN_PATH (colon-separated), then the build tree (<dir of the m2pt
 * binary>/plugins), then <dir of the binary>/../lib/m2pt/plugins (an installed or relocated
 * tree), then the configured prefix (PREFIX/lib/m2pt/plugins, or $M2PT_PREFIX at run time). The first level
 * that has a plugin of a name wins; a later one of the same name is shadowed. Two plugins of
 * one name at the same level are refused. Every refusal is one line naming the file and why. */
#ifndef M2PT_LOADER_H
#define M2PT_LOADER_H

#include <stddef.h>

#include "m2pt/plugin.h"

#ifndef M2PT_PREFIX
#define M2PT_PREFIX "/usr/local"
#endif

typedef struct {
    const m2pt_plugin *desc;
    void *handle; /* dlopen handle */
    char *path;
    int level;    /* search level it came from (0 = explicit) */
} m2pt_loaded;

typedef struct {
    m2pt_loaded *p;
    int n, cap;
    char **problems; /* one line per refused or shadowed file */
    int nproblems, cap_problems;
} m2pt_plugin_set;

/* Load and validate one file. 0 on success; else -1 with "FILE: reason" in err. */
int m2pt_plugin_load(const char *path, m2pt_loaded *out, char *err, size_t errlen);
void m2pt_plugin_unload(m2pt_loaded *p);

/* Directories searched, in order (explicit paths excluded). exe_dir may be NULL. Returns the
 * count; fills at most max entries (caller frees each string). */
int m2pt_plugin_dirs(const char *exe_dir, char **dirs, int max);

/* Load every plugin found in the search directories into set (refusals go to set->problems). */
int m2pt_plugins_discover(m2pt_plugin_set *set, const char *exe_dir);
/* Resolve a plugin by name (searching) or by path; kind must match (0: any). */
int m2pt_plugin_resolve(const char *name_or_path, int kind, const char *exe_dir, m2pt_loaded *out, char *err,
                        size_t errlen);
void m2pt_plugin_set_free(m2pt_plugin_set *set);
/* 1 when a modality table carries ABI 1.1's recon_spec and recon_target (it can be pretrained
 * with `objective: mae`); 0 for a table built against 1.0 or with those members NULL. */
int m2pt_modality_can_mae(const m2pt_modality *m);

/* Directory of the running executable (for the build-tree search), or NULL. Caller frees. */
char *m2pt_exe_dir(void);

#endif
