#define _DEFAULT_SOURCE /* realpath, readlink, d_type */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define MAX_DIRS 64

static int errf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) return 0;
    return 1;
}

/* Checks the descriptor and its interface table; returns a reason or NULL. */
static const char *check_descriptor(const m2pt_plugin *d, char *buf, size_t len) {
    if (d->abi_major != M2PT_ABI_MAJOR) {
        snprintf(buf, len, "built for plugin ABI %u.%u, this m2pt speaks %d.%d: rebuild the plugin against this m2pt",
                 d->abi_major, d->abi_minor, M2PT_ABI_MAJOR, M2PT_ABI_MINOR);
        return buf;
    }
    if (d->struct_size < sizeof(m2pt_plugin)) {
        snprintf(buf, len, "descriptor struct_size %u is smaller than ABI %d.0's %zu bytes", d->struct_size,
                 M2PT_ABI_MAJOR, sizeof(m2pt_plugin));
        return buf;
    }
    if (!d->name) return "required member 'name' is NULL";
    if (!valid_name(d->name)) {
        snprintf(buf, len, "plugin name '%.80s' is not 1-64 characters of [a-z0-9_-]", d->name);
        return buf;
    }
    if (!d->version) return "required member 'version' is NULL";
    if (d->kind == M2PT_KIND_MODALITY) {
        const m2pt_modality *m = d->modality;
        if (!m) return "kind is modality but member 'modality' is NULL";
        if (m->struct_size < M2PT_MODALITY_SIZE_1_0) {
            snprintf(buf, len, "modality table struct_size %u is smaller than ABI %d.0's %zu bytes", m->struct_size,
                     M2PT_ABI_MAJOR, (size_t)M2PT_MODALITY_SIZE_1_0);
            return buf;
        }
        const struct {
            const void *fn;
            const char *name;
        } req[] = {{(const void *)m->open, "open"},         {(const void *)m->close, "close"},
                   {(const void *)m->classes, "classes"},   {(const void *)m->class_name, "class_name"},
                   {(const void *)m->split_size, "split_size"}, {(const void *)m->sample_floats, "sample_floats"},
                   {(const void *)m->fill, "fill"},         {(const void *)m->tokens, "tokens"},
                   {(const void *)m->setup, "setup"},       {(const void *)m->tokenize, "tokenize"},
                   {(const void *)m->tokenize_backward, "tokenize_backward"},
                   {(const void *)m->head, "head"},         {(const void *)m->head_backward, "head_backward"}};
        for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
            if (!req[i].fn) {
                snprintf(buf, len, "required member 'modality->%s' is NULL", req[i].name);
                return buf;
            }
        /* ABI 1.1: recon_spec and recon_target are optional, but only together */
        const size_t has_both = offsetof(m2pt_modality, recon_target) + sizeof m->recon_target;
        if (m->struct_size >= has_both && (!m->recon_spec) != (!m->recon_target)) {
            snprintf(buf, len, "member 'modality->%s' is set but '%s' is NULL: the ABI 1.1 reconstruction members "
                     "come as a pair (set both for `objective: mae`, or neither)",
                     m->recon_spec ? "recon_spec" : "recon_target", m->recon_spec ? "recon_target" : "recon_spec");
            return buf;
        }
    } else if (d->kind == M2PT_KIND_PATHWAY) {
        const m2pt_pathway *p = d->pathway;
        if (!p) return "kind is pathway but member 'pathway' is NULL";
        if (p->struct_size < sizeof(m2pt_pathway)) {
            snprintf(buf, len, "pathway table struct_size %u is smaller than ABI %d.0's %zu bytes", p->struct_size,
                     M2PT_ABI_MAJOR, sizeof(m2pt_pathway));
            return buf;
        }
        const struct {
            const void *fn;
            const char *name;
        } req[] = {{(const void *)p->open, "open"},   {(const void *)p->close, "close"},
                   {(const void *)p->needs_aux, "needs_aux"}, {(const void *)p->setup, "setup"},
                   {(const void *)p->init, "init"},   {(const void *)p->effective, "effective"},
                   {(const void *)p->merge, "merge"}};
        for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
            if (!req[i].fn) {
                snprintf(buf, len, "required member 'pathway->%s' is NULL", req[i].name);
                return buf;
            }
    } else {
        snprintf(buf, len, "unknown plugin kind %d (1 modality, 2 pathway)", (int)d->kind);
        return buf;
    }
    return NULL;
}

/* 1 ELF, 0 not, -1 cannot open, -2 not a regular file (a FIFO would block fopen forever). */
static int is_elf(const char *path) {
    int special;
    FILE *f = m2pt_fopen_regular(path, &special);
    if (!f) return special ? -2 : -1;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

/* dlopen's own message for an ELF of another class or machine is "No such file"; say it. */
static const char *elf_mismatch(const char *path) {
    unsigned char h[20];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n < sizeof h) return "truncated ELF header";
    if (h[4] != (sizeof(void *) == 8 ? 2 : 1)) return sizeof(void *) == 8 ? "32-bit ELF, this m2pt is 64-bit" : "64-bit ELF, this m2pt is 32-bit";
    if (h[5] != 1) return "big-endian ELF";
    unsigned type = h[16] | (unsigned)h[17] << 8, machine = h[18] | (unsigned)h[19] << 8;
    if (type != 3) return "not a shared object (ELF type is not ET_DYN: an object file or executable?)";
#if defined(__x86_64__)
    if (machine != 62) return "built for another CPU architecture (ELF machine is not x86-64)";
#elif defined(__aarch64__)
    if (machine != 183) return "built for another CPU architecture (ELF machine is not AArch64)";
#endif
    (void)machine;
    return NULL;
}

int m2pt_plugin_load(const char *path, m2pt_loaded *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int elf = is_elf(path);
    if (elf == -2) return errf(err, errlen, "%s: not a shared object (not a regular file)", path);
    if (elf < 0) return errf(err, errlen, "%s: cannot open plugin file: no such file or not readable", path);
    if (!elf) return errf(err, errlen, "%s: not a shared object (no ELF header)", path);
    const char *why_elf = elf_mismatch(path);
    if (why_elf) return errf(err, errlen, "%s: not a plugin for this machine: %s", path, why_elf);
    char local[PATH_MAX + 2];
    if (!strchr(path, '/')) snprintf(local, sizeof local, "./%s", path); /* else dlopen searches LD paths */
    dlerror();
    void *h = dlopen(strchr(path, '/') ? path : local, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return errf(err, errlen, "%s: cannot load shared object: %s", path, why ? why : "unknown dlopen error");
    }
    m2pt_plugin_query_fn query;
    *(void **)(&query) = dlsym(h, M2PT_PLUGIN_ENTRY);
    if (!query) {
        dlclose(h);
        return errf(err, errlen, "%s: missing entry point %s() (not an m2pt plugin, or built without M2PT_EXPORT)",
                    path, M2PT_PLUGIN_ENTRY);
    }
    const m2pt_plugin *d = query(M2PT_ABI_MAJOR);
    if (!d) {
        dlclose(h);
        return errf(err, errlen, "%s: the plugin declined host ABI major %d: rebuild it against this m2pt", path,
                    M2PT_ABI_MAJOR);
    }
    char buf[256];
    const char *why = check_descriptor(d, buf, sizeof buf);
    if (why) {
        dlclose(h);
        return errf(err, errlen, "%s: %s", path, why);
    }
    out->desc = d;
    out->handle = h;
    out->path = strdup(path);
    if (!out->path) {
        dlclose(h);
        return errf(err, errlen, "%s: out of memory", path);
    }
    return 0;
}

void m2pt_plugin_unload(m2pt_loaded *p) {
    if (p->handle) dlclose(p->handle);
    free(p->path);
    memset(p, 0, sizeof *p);
}

char *m2pt_exe_dir(void) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = '\0';
    return strdup(buf);
}

int m2pt_plugin_dirs(const char *exe_dir, char **dirs, int max) {
    int n = 0;
    const char *env = getenv("M2PT_PLUGIN_PATH");
    if (env && *env) {
        const char *s = env;
        while (*s && n < max) {
            const char *e = strchr(s, ':');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (len > 0 && (dirs[n] = strndup(s, len))) n++;
            if (!e) break;
            s = e + 1;
        }
    }
    char buf[PATH_MAX + 32];
    if (exe_dir && n < max) { /* the build tree: build/m2pt next to build/plugins/ */
        snprintf(buf, sizeof buf, "%s/plugins", exe_dir);
        if ((dirs[n] = strdup(buf))) n++;
    }
    if (exe_dir && n < max) { /* a relocated install: <root>/bin/m2pt next to <root>/lib/m2pt/plugins */
        snprintf(buf, sizeof buf, "%s/../lib/m2pt/plugins", exe_dir);
        if ((dirs[n] = strdup(buf))) n++;
    }
    if (n < max) {
        snprintf(buf, sizeof buf, "%s/lib/m2pt/plugins", getenv("M2PT_PREFIX") ? getenv("M2PT_PREFIX") : M2PT_PREFIX);
        if ((dirs[n] = strdup(buf))) n++;
    }
    return n;
}

static void add_problem(m2pt_plugin_set *set, const char *msg) {
    if (set->nproblems == set->cap_problems) {
        int cap = set->cap_problems ? 2 * set->cap_problems : 8;
        char **p = realloc(set->problems, (size_t)cap * sizeof *p);
        if (!p) return;
        set->problems = p, set->cap_problems = cap;
    }
    char *s = strdup(msg);
    if (s) set->problems[set->nproblems++] = s;
}

static int add_loaded(m2pt_plugin_set *set, m2pt_loaded *l) {
    if (set->n == set->cap) {
        int cap = set->cap ? 2 * set->cap : 8;
        m2pt_loaded *p = realloc(set->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        set->p = p, set->cap = cap;
    }
    set->p[set->n++] = *l;
    return 0;
}

static int same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted list of *.so files in dir. */
static int list_so(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d) return 0;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        size_t need = strlen(dir) + len + 2;
        if (!(v[n] = malloc(need))) break;
        snprintf(v[n], need, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

int m2pt_plugins_discover(m2pt_plugin_set *set, const char *exe_dir) {
    char *dirs[MAX_DIRS];
    int nd = m2pt_plugin_dirs(exe_dir, dirs, MAX_DIRS);
    char err[1024], msg[2048];
    for (int level = 0; level < nd; level++) {
        char **files;
        int nf = list_so(dirs[level], &files);
        for (int i = 0; i < nf; i++) {
            m2pt_loaded l;
            if (m2pt_plugin_load(files[i], &l, err, sizeof err)) {
                add_problem(set, err);
            } else {
                l.level = level + 1;
                const m2pt_loaded *same = NULL;
                for (int k = 0; k < set->n; k++)
                    if (!strcmp(set->p[k].desc->name, l.desc->name)) same = &set->p[k];
                if (same && same_file(same->path, l.path)) { /* one directory reached twice */
                    m2pt_plugin_unload(&l);
                } else if (same && same->level == l.level) {
                    snprintf(msg, sizeof msg, "%s: duplicate plugin name '%s' (also %s): remove one of them",
                             l.path, l.desc->name, same->path);
                    add_problem(set, msg);
                    m2pt_plugin_unload(&l);
                } else if (same) {
                    snprintf(msg, sizeof msg, "%s: plugin '%s' is shadowed by %s (searched first)", l.path,
                             l.desc->name, same->path);
                    add_problem(set, msg);
                    m2pt_plugin_unload(&l);
                } else if (add_loaded(set, &l)) {
                    m2pt_plugin_unload(&l);
                }
            }
            free(files[i]);
        }
        free(files);
        free(dirs[level]);
    }
    return set->n;
}

int m2pt_plugin_resolve(const char *name, int kind, const char *exe_dir, m2pt_loaded *out, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *kinds[] = {"plugin", "modality", "pathway"};
    const char *what = kinds[kind >= 0 && kind <= 2 ? kind : 0];
    size_t len = strlen(name);
    if (strchr(name, '/') || (len > 3 && !strcmp(name + len - 3, ".so"))) {
        if (m2pt_plugin_load(name, out, err, errlen)) return -1;
    } else {
        m2pt_plugin_set set = {0};
        m2pt_plugins_discover(&set, exe_dir);
        int found = -1;
        for (int i = 0; i < set.n; i++)
            if (!strcmp(set.p[i].desc->name, name) && (!kind || (int)set.p[i].desc->kind == kind)) found = i;
        if (found < 0) {
            char names[512] = "";
            for (int i = 0; i < set.n; i++)
                if (!kind || (int)set.p[i].desc->kind == kind) {
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", set.p[i].desc->name);
                }
            errf(err, errlen, "no %s%splugin named '%s' (found: %s; see 'm2pt plugins', or give a path to the .so)",
                 kind ? what : "", kind ? " " : "", name, names[0] ? names : "none");
            m2pt_plugin_set_free(&set);
            return -1;
        }
        /* two files of this name in one directory: which one is meant is unknown, refuse */
        char dup[96];
        snprintf(dup, sizeof dup, ": duplicate plugin name '%s' (also ", name);
        for (int i = 0; i < set.nproblems; i++)
            if (strstr(set.problems[i], dup)) {
                errf(err, errlen, "%s", set.problems[i]);
                m2pt_plugin_set_free(&set);
                return -1;
            }
        *out = set.p[found];
        set.p[found].handle = NULL;
        set.p[found].path = NULL;
        m2pt_plugin_set_free(&set);
    }
    if (kind && (int)out->desc->kind != kind) {
        errf(err, errlen, "%s: plugin '%s' is a %s plugin, not a %s plugin", out->path, out->desc->name,
             kinds[out->desc->kind <= 2 ? out->desc->kind : 0], what);
        m2pt_plugin_unload(out);
        return -1;
    }
    return 0;
}

void m2pt_plugin_set_free(m2pt_plugin_set *set) {
    for (int i = 0; i < set->n; i++) m2pt_plugin_unload(&set->p[i]);
    for (int i = 0; i < set->nproblems; i++) free(set->problems[i]);
    free(set->p);
    free(set->problems);
    memset(set, 0, sizeof *set);
}

int m2pt_modality_can_mae(const m2pt_modality *m) {
    const size_t need = offsetof(m2pt_modality, recon_target) + sizeof m->recon_target;
    return m && m->struct_size >= need && m->recon_spec && m->recon_target;
}
