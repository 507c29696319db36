/* The plugin loader (harness/src/loader.c):
 *  - every refusal is one line that starts with the file and names the reason, and is triggered
 *    here by a purpose-built bad plugin (tests/bad_plugins/NAME.c -> $M2PT_BUILD/tests/bad_plugins/NAME.so)
 *    or by a file made at run time (text named x.so, a 32-bit ELF header, a truncated ELF, ...);
 *    a refused plugin is not left loaded;
 *  - discovery order: explicit path, then M2PT_PLUGIN_PATH, then the build tree, then the
 *    relocated install, then the prefix; a later plugin of the same name is shadowed, two of one
 *    name in one directory are a duplicate, and bad files do not stop the good ones being found;
 *  - resolution by path and by name, unknown names (the error lists what was found), kind
 *    mismatches;
 *  - the in-tree plugins load and export only the entry point;
 *  - `m2pt plugins` and `m2pt plugins --check` report the same refusals with the right exit code.
 * Temporary files live under one mkdtemp directory, removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "blas.h"
#include "loader.h"

#define DIR_CAP 512   /* directories made by the test */
#define PATH_CAP 1024 /* files */

static const char *g_build = "build"; /* $M2PT_BUILD */
static char g_tmp[64];                /* per-run temporary directory */
static int g_seq;                     /* numbering of per-test directories */

/* ---------------------------------------------------------------- helpers */

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[PATH_CAP];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A fresh directory g_tmp/<n>-<tag> (and its parents below g_tmp) into out. */
static void fresh_dir(char *out, size_t cap, const char *tag) {
    snprintf(out, cap, "%s/%d-%s", g_tmp, ++g_seq, tag);
    assert_int_equal(mkdir(out, 0755), 0);
}

static void mkdirs(const char *path) { /* mkdir -p below an existing g_tmp */
    char p[PATH_CAP];
    size_t n = strlen(path);
    assert_true(n < sizeof p);
    memcpy(p, path, n + 1);
    for (char *s = p + strlen(g_tmp) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    mkdir(p, 0755);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (build it: make %s)", path, path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void bad_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/tests/bad_plugins/%s.so", g_build, name);
}

/* Copy $M2PT_BUILD/tests/bad_plugins/NAME.so to DIR/AS (AS defaults to NAME.so). */
static void put(const char *dir, const char *name, const char *as) {
    char src[PATH_CAP], dst[PATH_CAP];
    bad_path(src, sizeof src, name);
    if (as)
        snprintf(dst, sizeof dst, "%s/%s", dir, as);
    else
        snprintf(dst, sizeof dst, "%s/%s.so", dir, name);
    size_t n;
    unsigned char *b = read_all(src, &n);
    write_all(dst, b, n);
    free(b);
}

static void put_text(const char *dir, const char *as, const char *text) {
    char dst[PATH_CAP];
    snprintf(dst, sizeof dst, "%s/%s", dir, as);
    write_all(dst, text, strlen(text));
}

/* Environment of each test: no M2PT_PLUGIN_PATH, a prefix that does not exist (so that an
 * installed m2pt on this machine never takes part). */
static int clean_env(void **state) {
    (void)state;
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/no-prefix", g_tmp);
    unsetenv("M2PT_PLUGIN_PATH");
    setenv("M2PT_PREFIX", p, 1);
    return 0;
}

/* Is the file still mapped by the dynamic linker? */
static int still_loaded(const char *path) {
    void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

/* m2pt_plugin_load(path) must fail with one line "PATH: ..." that contains every key, leave out
 * zeroed and leave nothing loaded. */
static void expect_refused(const char *path, const char *key1, const char *key2) {
    m2pt_loaded l;
    memset(&l, 0x5a, sizeof l);
    char err[1024] = "";
    int rc = m2pt_plugin_load(path, &l, err, sizeof err);
    if (rc != -1) fail_msg("%s: expected a refusal (-1), got %d (err \"%s\")", path, rc, err);
    size_t n = strlen(path);
    if (strncmp(err, path, n) || strncmp(err + n, ": ", 2))
        fail_msg("%s: the message should start with \"%s: \": \"%s\"", path, path, err);
    if (strchr(err, '\n')) fail_msg("%s: the message is not one line: \"%s\"", path, err);
    if (key1 && !strstr(err + n, key1)) fail_msg("%s: expected \"%s\" in \"%s\"", path, key1, err);
    if (key2 && !strstr(err + n, key2)) fail_msg("%s: expected \"%s\" in \"%s\"", path, key2, err);
    assert_null(l.desc);
    assert_null(l.handle);
    assert_null(l.path);
    if (still_loaded(path)) fail_msg("%s: refused, but still loaded (dlclose missing)", path);
}

static int find_loaded(const m2pt_plugin_set *s, const char *name) {
    int found = -1;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->p[i].desc->name, name)) {
            if (found >= 0) fail_msg("plugin '%s' is in the set twice", name);
            found = i;
        }
    return found;
}

/* Index of the one problem line containing every non-NULL key (fails if none or several). */
static int find_problem(const m2pt_plugin_set *s, const char *k1, const char *k2, const char *k3) {
    int found = -1;
    for (int i = 0; i < s->nproblems; i++) {
        const char *p = s->problems[i];
        if ((!k1 || strstr(p, k1)) && (!k2 || strstr(p, k2)) && (!k3 || strstr(p, k3))) {
            if (found >= 0) fail_msg("two problem lines match \"%s\" \"%s\": %s | %s", k1, k2 ? k2 : "",
                                     s->problems[found], p);
            found = i;
        }
    }
    if (found < 0) {
        for (int i = 0; i < s->nproblems; i++) print_message("  problem: %s\n", s->problems[i]);
        fail_msg("no problem line has \"%s\" \"%s\" \"%s\"", k1, k2 ? k2 : "", k3 ? k3 : "");
    }
    if (strchr(s->problems[found], '\n')) fail_msg("problem is not one line: %s", s->problems[found]);
    return found;
}

/* Run a shell command, capture stdout+stderr; returns the exit status (-1 if it did not exit). */
static int run(const char *cmd, char *out, size_t cap) {
    char full[4 * PATH_CAP];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    fflush(NULL);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = 0, got;
    while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0) n += got;
    out[n] = '\0';
    char sink[256];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Some line of text contains every non-NULL key. */
static int has_line(const char *text, const char *k1, const char *k2, const char *k3) {
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), s);
        if ((!k1 || strstr(line, k1)) && (!k2 || strstr(line, k2)) && (!k3 || strstr(line, k3))) return 1;
        s += len + (e != NULL);
    }
    return 0;
}

/* ---------------------------------------------------------------- refusals of single files */

typedef struct {
    const char *file; /* tests/bad_plugins/<file>.c */
    const char *key1, *key2;
} refusal;

static const refusal REFUSALS[] = {
    {"no_entry", "missing entry point m2pt_plugin_query()", NULL},
    {"hidden_entry", "missing entry point m2pt_plugin_query()", "M2PT_EXPORT"},
    {"declines", "declined host ABI major 1", NULL},
    {"abi_major", "built for plugin ABI 2.0", "speaks 1.1"},
    {"desc_small", "descriptor struct_size", "is smaller than"},
    {"modality_small", "modality table struct_size", "is smaller than"},
    {"pathway_small", "pathway table struct_size", "is smaller than"},
    {"null_name", "required member 'name' is NULL", NULL},
    {"null_version", "required member 'version' is NULL", NULL},
    {"bad_name", "plugin name 'Bad Name!'", "is not 1-64 characters of [a-z0-9_-]"},
    {"long_name", "is not 1-64 characters", NULL},
    {"empty_name", "plugin name ''", "is not 1-64 characters"},
    {"modality_null", "kind is modality but member 'modality' is NULL", NULL},
    {"pathway_null", "kind is pathway but member 'pathway' is NULL", NULL},
    {"modality_fill_null", "required member 'modality->fill' is NULL", NULL},
    {"pathway_merge_null", "required member 'pathway->merge' is NULL", NULL},
    {"unknown_kind", "unknown plugin kind 3", NULL},
    {"recon_half", "member 'modality->recon_spec' is set but 'recon_target' is NULL", "come as a pair"},
};

static void test_refuse_bad_plugins(void **state) {
    (void)state;
    char path[PATH_CAP];
    for (size_t i = 0; i < sizeof REFUSALS / sizeof REFUSALS[0]; i++) {
        bad_path(path, sizeof path, REFUSALS[i].file);
        expect_refused(path, REFUSALS[i].key1, REFUSALS[i].key2);
    }
}

/* Files made at run time: not ELF at all, and ELF files that this machine cannot load. */
static void test_refuse_not_loadable(void **state) {
    (void)state;
    char dir[DIR_CAP], p[PATH_CAP];
    fresh_dir(dir, sizeof dir, "files");

    snprintf(p, sizeof p, "%s/x.so", dir);
    write_all(p, "this is not a shared object\n", 28);
    expect_refused(p, "not a shared object", NULL);

    snprintf(p, sizeof p, "%s/empty.so", dir);
    write_all(p, "", 0);
    expect_refused(p, "not a shared object", NULL);

    snprintf(p, sizeof p, "%s/script.so", dir);
    write_all(p, "#!/bin/sh\necho hi\n", 18);
    expect_refused(p, "not a shared object", NULL);

    snprintf(p, sizeof p, "%s/missing.so", dir);
    expect_refused(p, "cannot open plugin file", NULL);

    /* ELF files made from a valid plugin: byte 4 (EI_CLASS) = ELFCLASS32, e_type = ET_REL, and
     * only the first 64 bytes. dlopen refuses each; the loader reports it with dlerror's reason. */
    char ok[PATH_CAP];
    bad_path(ok, sizeof ok, "okpath");
    size_t n;
    unsigned char *img = read_all(ok, &n);
    assert_true(n > 64 && img[4] == 2 /* ELFCLASS64 */);

    img[4] = 1;
    snprintf(p, sizeof p, "%s/elf32.so", dir);
    write_all(p, img, n);
    expect_refused(p, "not a plugin for this machine", "32-bit ELF");
    img[4] = 2;

    unsigned char type = img[16];
    img[16] = 1; /* ET_REL, little-endian */
    snprintf(p, sizeof p, "%s/relocatable.so", dir);
    write_all(p, img, n);
    expect_refused(p, "not a plugin for this machine", "ET_DYN");
    img[16] = type;

    /* Another machine (e_machine = AArch64): glibc's own reason would only be "cannot open
     * shared object file", so the loader checks e_machine itself. */
    unsigned char mach[2] = {img[18], img[19]};
    img[18] = 183, img[19] = 0;
    snprintf(p, sizeof p, "%s/aarch64.so", dir);
    write_all(p, img, n);
    expect_refused(p, "not a plugin for this machine", "another CPU architecture");
    img[18] = mach[0], img[19] = mach[1];

    snprintf(p, sizeof p, "%s/truncated.so", dir);
    write_all(p, img, 64);
    expect_refused(p, "cannot load shared object", NULL);

    /* sanity: the unmodified image still loads from the same directory */
    snprintf(p, sizeof p, "%s/intact.so", dir);
    write_all(p, img, n);
    free(img);
    m2pt_loaded l;
    char err[1024];
    if (m2pt_plugin_load(p, &l, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(l.desc->name, "okpath");
    m2pt_plugin_unload(&l);
}

/* ---------------------------------------------------------------- valid plugins */

static void test_load_valid(void **state) {
    (void)state;
    char path[PATH_CAP], err[1024];
    bad_path(path, sizeof path, "okpath");
    m2pt_loaded l;
    if (m2pt_plugin_load(path, &l, err, sizeof err)) fail_msg("%s", err);
    assert_non_null(l.handle);
    assert_string_equal(l.path, path);
    assert_string_equal(l.desc->name, "okpath");
    assert_int_equal(l.desc->kind, M2PT_KIND_PATHWAY);
    assert_non_null(l.desc->pathway);
    assert_null(l.desc->pathway->backward); /* optional member: accepted when NULL */
    assert_true(still_loaded(path));
    m2pt_plugin_unload(&l);
    assert_null(l.handle);
    assert_null(l.path);
    assert_false(still_loaded(path));

    /* each of the two "dup" plugins is valid on its own */
    const char *dups[] = {"dup_a", "dup_b"};
    for (int i = 0; i < 2; i++) {
        bad_path(path, sizeof path, dups[i]);
        if (m2pt_plugin_load(path, &l, err, sizeof err)) fail_msg("%s", err);
        assert_string_equal(l.desc->name, "dup");
        m2pt_plugin_unload(&l);
    }
}

/* The in-tree plugins load, have the kind their directory says, and export only the entry point. */
static void test_in_tree_plugins(void **state) {
    (void)state;
    const struct {
        const char *name;
        int kind;
        const char *internal; /* a non-static function of the plugin that must stay hidden */
    } tree[] = {{"baseline", M2PT_KIND_PATHWAY, NULL},
                {"reparam", M2PT_KIND_PATHWAY, NULL},
                {"noaux", M2PT_KIND_PATHWAY, NULL},
                {"image", M2PT_KIND_MODALITY, "image_fill"}};
    char path[PATH_CAP], err[1024], cmd[PATH_CAP + 64], out[4096];
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
        snprintf(path, sizeof path, "%s/plugins/%s.so", g_build, tree[i].name);
        m2pt_loaded l;
        if (m2pt_plugin_load(path, &l, err, sizeof err)) fail_msg("%s", err);
        assert_string_equal(l.desc->name, tree[i].name);
        assert_int_equal(l.desc->kind, tree[i].kind);
        assert_int_equal(l.desc->abi_major, M2PT_ABI_MAJOR);
        assert_non_null(l.desc->version);
        assert_true(l.desc->version[0] != '\0');
        assert_non_null(l.desc->description);
        assert_non_null(dlsym(l.handle, M2PT_PLUGIN_ENTRY));
        if (tree[i].internal && dlsym(l.handle, tree[i].internal))
            fail_msg("%s exports its internal function %s", path, tree[i].internal);
        m2pt_plugin_unload(&l);

        /* the dynamic symbol table defines only the entry point (ld's _edata/_end/__bss_start,
         * which older binutils add, are tolerated) */
        snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", path);
        int rc = run(cmd, out, sizeof out);
        if (rc == 127) {
            print_message("nm not found: export check of %s skipped\n", path);
            continue;
        }
        assert_int_equal(rc, 0);
        int entry = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            const char *sym = strrchr(line, ' ');
            sym = sym ? sym + 1 : line;
            if (!strcmp(sym, M2PT_PLUGIN_ENTRY))
                entry++;
            else if (strcmp(sym, "_edata") && strcmp(sym, "_end") && strcmp(sym, "__bss_start") &&
                     strcmp(sym, "_init") && strcmp(sym, "_fini"))
                fail_msg("%s exports '%s' besides %s", path, sym, M2PT_PLUGIN_ENTRY);
        }
        assert_int_equal(entry, 1);
    }
}

/* ABI 1.1 added recon_spec / recon_target to the modality table. A plugin built against 1.0
 * (abi10_modality: the out-of-tree toy built with TOY_ABI_1_0, a table of
 * M2PT_MODALITY_SIZE_1_0 bytes whose memory beyond that holds functions that fail if called)
 * loads and is not taken for an MAE-capable one; the five in-tree modalities are. */
static void test_abi_1_0_modality(void **state) {
    (void)state;
    char path[PATH_CAP], err[1024];
    bad_path(path, sizeof path, "abi10_modality");
    m2pt_loaded l;
    if (m2pt_plugin_load(path, &l, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(l.desc->name, "toy10");
    assert_int_equal(l.desc->abi_major, 1);
    assert_int_equal(l.desc->abi_minor, 0);
    assert_int_equal(l.desc->modality->struct_size, M2PT_MODALITY_SIZE_1_0);
    assert_true(M2PT_MODALITY_SIZE_1_0 < sizeof(m2pt_modality));
    assert_false(m2pt_modality_can_mae(l.desc->modality));
    m2pt_plugin_unload(&l);

    const char *mae[] = {"image", "audio", "point", "text", "video"};
    for (size_t i = 0; i < sizeof mae / sizeof mae[0]; i++) {
        snprintf(path, sizeof path, "%s/plugins/%s.so", g_build, mae[i]);
        if (m2pt_plugin_load(path, &l, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(l.desc->abi_minor, 1);
        assert_int_equal(l.desc->modality->struct_size, sizeof(m2pt_modality));
        if (!m2pt_modality_can_mae(l.desc->modality)) fail_msg("%s: no recon_spec/recon_target", mae[i]);
        m2pt_plugin_unload(&l);
    }
    assert_false(m2pt_modality_can_mae(NULL));
}

/* The ABI 1.0 plugin through the command line: the conformance suite passes (and says it has no
 * MAE support), `m2pt plugins` lists it as ABI 1.0 without MAE, and it trains a classifier. */
static void test_abi_1_0_cli(void **state) {
    (void)state;
    char m2pt[PATH_CAP], cmd[4 * PATH_CAP], p[PATH_CAP], out[65536], dir[DIR_CAP], q[PATH_CAP];
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", g_build);
    if (access(m2pt, X_OK)) fail_msg("%s not built (make %s)", m2pt, m2pt);
    const char *prefix = getenv("M2PT_PREFIX");
    fresh_dir(dir, sizeof dir, "abi10");
    put(dir, "abi10_modality", NULL);
    snprintf(p, sizeof p, "%s/abi10_modality.so", dir);

    snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s'", m2pt, p);
    int rc = run(cmd, out, sizeof out);
    if (rc != 0 || !strstr(out, "toy10: passed") || !has_line(out, "ok", "no masked-autoencoder support", "ABI 1.0"))
        fail_msg("exit %d, output: %s", rc, out);
    if (strstr(out, "beyond its struct_size")) fail_msg("the host called a member past a 1.0 table: %s", out);

    snprintf(cmd, sizeof cmd, "M2PT_PREFIX='%s' M2PT_PLUGIN_PATH='%s' '%s' plugins", prefix, dir, m2pt);
    rc = run(cmd, out, sizeof out);
    if (rc != 0) fail_msg("exit %d, output: %s", rc, out);
    if (!has_line(out, "NAME", "ABI", "MAE")) fail_msg("no ABI / MAE columns: %s", out);
    /* columns: NAME KIND VERSION ABI MAE FILE */
    int found10 = 0, found_image = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], kind[64], version[64], abi[64], can[64], file[PATH_CAP];
        if (sscanf(line, "%63s %63s %63s %63s %63s %1023s", name, kind, version, abi, can, file) != 6) continue;
        if (!strcmp(name, "toy10")) {
            found10 = 1;
            if (strcmp(kind, "modality") || strcmp(version, "1.0.0") || strcmp(abi, "1.0") || strcmp(can, "no") ||
                strcmp(file, p))
                fail_msg("toy10 listed as: %s", line);
        } else if (!strcmp(name, "image")) {
            found_image = 1;
            if (strcmp(abi, "1.1") || strcmp(can, "yes")) fail_msg("image listed as: %s", line);
        } else if (!strcmp(name, "reparam") && strcmp(can, "-")) {
            fail_msg("a pathway's MAE column should be '-': %s", line);
        }
    }
    assert_true(found10);
    assert_true(found_image);

    /* classification still works: 2 epochs of the toy task end well above chance (1/3) */
    snprintf(q, sizeof q, "%s/toy10.ckpt", dir);
    snprintf(cmd, sizeof cmd,
             "M2PT_PREFIX='%s' '%s' train --modality '%s' --epochs 2 --dim 16 --depth 1 --heads 2 --mlp-ratio 2 "
             "--batch 32 --threads 1 --out '%s'",
             prefix, m2pt, p, q);
    rc = run(cmd, out, sizeof out);
    const char *acc = strstr(out, "test accuracy: ");
    double a = 0;
    if (rc != 0 || !acc || sscanf(acc, "test accuracy: %lf%%", &a) != 1 || a <= 60.0)
        fail_msg("training the ABI 1.0 modality: exit %d, accuracy %.2f%%, output: %s", rc, a, out);
    if (access(q, R_OK)) fail_msg("no checkpoint %s", q);
}

/* Each reconstruction check of `m2pt plugins --check` fails when it should: recon_faults breaks
 * one thing per value of its config key `fault` (tests/bad_plugins/recon_faults.c). */
static void test_recon_conformance_faults(void **state) {
    (void)state;
    static const struct {
        const char *fault, *key; /* the FAIL line must contain key */
    } cases[] = {
        {"loss", "loss 7 is not MSE (1), CHAMFER (2) or CLASS (3)"},
        {"prefix", "prefix_tokens 4 is not in [0, 4)"},
        {"chamfer", "CHAMFER target_floats 4 is not a multiple of 3"},
        {"classes", "CLASS needs classes >= 2"},
        {"prefix_name", "prefix \"rf.nosuch.\" matches no registered tensor"},
        {"weight", "weight[0] = 0.5 is not 0 or 1"},
        {"class_id", "is not a class id in [0, 4)"},
        {"nan", "is not finite"},
        {"nondet", "is deterministic"},
        {"unwritten", "writes every output"},
        {"alloc", "allocates nothing (host->alloc calls 2"},
        {"stale", "follows the last tokenize"},
    };
    char m2pt[PATH_CAP], cmd[4 * PATH_CAP], p[PATH_CAP], out[65536];
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", g_build);
    bad_path(p, sizeof p, "recon_faults");
    snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s' --set fault=none", m2pt, p);
    int rc = run(cmd, out, sizeof out);
    if (rc != 0 || !strstr(out, "recon_faults: passed") || !strstr(out, "ok    reconstruction spec: MSE"))
        fail_msg("fault=none: exit %d, output: %s", rc, out);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s' --set fault=%s", m2pt, p, cases[i].fault);
        rc = run(cmd, out, sizeof out);
        if (rc != 1 || !has_line(out, "FAIL", cases[i].key, NULL) || !strstr(out, "recon_faults: FAILED"))
            fail_msg("fault=%s: exit %d (expected 1) and a FAIL line with \"%s\"; output: %s", cases[i].fault, rc,
                     cases[i].key, out);
    }
}

/* ---------------------------------------------------------------- search order and discovery */

static void test_search_dirs(void **state) {
    (void)state;
    setenv("M2PT_PLUGIN_PATH", "/p/a::/p/b:", 1); /* empty entries are skipped */
    setenv("M2PT_PREFIX", "/pre", 1);
    char *dirs[16];
    int n = m2pt_plugin_dirs("/x/bin", dirs, 16);
    const char *want[] = {"/p/a", "/p/b", "/x/bin/plugins", "/x/bin/../lib/m2pt/plugins", "/pre/lib/m2pt/plugins"};
    assert_int_equal(n, 5);
    for (int i = 0; i < n; i++) {
        assert_string_equal(dirs[i], want[i]);
        free(dirs[i]);
    }
    /* no M2PT_PLUGIN_PATH, no exe dir: the prefix only */
    unsetenv("M2PT_PLUGIN_PATH");
    n = m2pt_plugin_dirs(NULL, dirs, 16);
    assert_int_equal(n, 1);
    assert_string_equal(dirs[0], "/pre/lib/m2pt/plugins");
    free(dirs[0]);
    /* max is honoured */
    setenv("M2PT_PLUGIN_PATH", "/p/a:/p/b:/p/c", 1);
    n = m2pt_plugin_dirs("/x/bin", dirs, 2);
    assert_true(n <= 2);
    assert_string_equal(dirs[0], "/p/a");
    for (int i = 0; i < n; i++) free(dirs[i]);
}

/* dirA: okpath, dup_a + dup_b (both named "dup"), bad files; dirB: okpath again (shadowed) and a
 * bad file; the build tree: the in-tree plugins. */
static void test_discover(void **state) {
    (void)state;
    char a[DIR_CAP], b[DIR_CAP], env[2 * DIR_CAP + 2], p[PATH_CAP], q[PATH_CAP];
    fresh_dir(a, sizeof a, "dirA");
    fresh_dir(b, sizeof b, "dirB");
    put(a, "okpath", NULL);
    put(a, "dup_a", NULL);
    put(a, "dup_b", NULL);
    put(a, "null_name", NULL);
    put(a, "declines", NULL);
    put_text(a, "x.so", "not a plugin\n");
    put_text(a, "README.txt", "not a .so: ignored\n");
    put(a, "okpath", "okpath.so.1"); /* not *.so: ignored */
    put(b, "okpath", NULL);
    put(b, "pathway_small", NULL);
    snprintf(env, sizeof env, "%s:%s", a, b);
    setenv("M2PT_PLUGIN_PATH", env, 1);

    m2pt_plugin_set set = {0};
    int n = m2pt_plugins_discover(&set, g_build);
    assert_int_equal(n, set.n);

    /* good plugins: okpath from dirA (level 1), the in-tree ones from the build tree (level 3) */
    int i = find_loaded(&set, "okpath");
    assert_true(i >= 0);
    snprintf(p, sizeof p, "%s/okpath.so", a);
    assert_string_equal(set.p[i].path, p);
    assert_int_equal(set.p[i].level, 1);
    const char *tree[] = {"baseline", "reparam", "noaux", "image"};
    for (int k = 0; k < 4; k++) {
        i = find_loaded(&set, tree[k]);
        if (i < 0) fail_msg("in-tree plugin %s not discovered beside the bad files", tree[k]);
        snprintf(p, sizeof p, "%s/plugins/%s.so", g_build, tree[k]);
        assert_string_equal(set.p[i].path, p);
        assert_int_equal(set.p[i].level, 3);
    }
    for (i = 0; i < set.n; i++) assert_true(strstr(set.p[i].path, "okpath.so.1") == NULL);

    /* problems: one line each, naming the file */
    snprintf(p, sizeof p, "%s/okpath.so", b);
    snprintf(q, sizeof q, "%s/okpath.so", a);
    find_problem(&set, p, "shadowed", q);
    snprintf(p, sizeof p, "%s/dup_a.so", a);
    snprintf(q, sizeof q, "%s/dup_b.so", a);
    find_problem(&set, "duplicate plugin name 'dup'", p, q);
    snprintf(p, sizeof p, "%s/null_name.so: ", a);
    find_problem(&set, p, "'name' is NULL", NULL);
    snprintf(p, sizeof p, "%s/declines.so: ", a);
    find_problem(&set, p, "declined host ABI", NULL);
    snprintf(p, sizeof p, "%s/x.so: ", a);
    find_problem(&set, p, "not a shared object", NULL);
    snprintf(p, sizeof p, "%s/pathway_small.so: ", b);
    find_problem(&set, p, "pathway table struct_size", NULL);
    if (set.nproblems != 6) {
        for (i = 0; i < set.nproblems; i++) print_message("  problem: %s\n", set.problems[i]);
        fail_msg("expected 6 problems, got %d", set.nproblems);
    }
    /* the loser of the duplicate is not loaded */
    snprintf(p, sizeof p, "%s/dup_b.so", a);
    for (i = 0; i < set.n; i++) assert_true(strcmp(set.p[i].path, p) != 0);
    m2pt_plugin_set_free(&set);
    assert_int_equal(set.n, 0);
    assert_null(set.p);
    assert_null(set.problems);
    /* everything discovered has been unloaded */
    snprintf(p, sizeof p, "%s/okpath.so", a);
    assert_false(still_loaded(p));
}

/* One directory reached twice (listed twice, with a trailing '/', through a symlink) is neither a
 * duplicate nor shadowed: the plugin is found once and nothing is reported. A copy of the file
 * elsewhere is another plugin of the same name (shadowed, tested above). */
static void test_same_dir_twice(void **state) {
    (void)state;
    char a[DIR_CAP], link[DIR_CAP + 8], env[4 * DIR_CAP + 16], p[PATH_CAP];
    fresh_dir(a, sizeof a, "twice");
    put(a, "okpath", NULL);
    snprintf(link, sizeof link, "%s-link", a);
    assert_int_equal(symlink(a, link), 0);
    snprintf(env, sizeof env, "%s:%s/:%s:%s", a, a, link, a);
    setenv("M2PT_PLUGIN_PATH", env, 1);
    m2pt_plugin_set set = {0};
    m2pt_plugins_discover(&set, NULL);
    for (int i = 0; i < set.nproblems; i++) print_message("  problem: %s\n", set.problems[i]);
    assert_int_equal(set.nproblems, 0);
    assert_int_equal(set.n, 1);
    snprintf(p, sizeof p, "%s/okpath.so", a);
    assert_string_equal(set.p[0].path, p);
    assert_int_equal(set.p[0].level, 1);
    m2pt_plugin_set_free(&set);
    assert_false(still_loaded(p));
}

/* The same name at every level: explicit path, M2PT_PLUGIN_PATH (two dirs), build tree
 * (<exe>/plugins), relocated install (<exe>/../lib/m2pt/plugins), prefix. Removing the winner
 * each time hands the name to the next level. */
static void test_precedence(void **state) {
    (void)state;
    char root[DIR_CAP / 2], exe[DIR_CAP / 2 + 8], env[2 * DIR_CAP + 2];
    fresh_dir(root, sizeof root, "prec");
    snprintf(exe, sizeof exe, "%s/bin", root);
    char lv[5][DIR_CAP];
    snprintf(lv[0], sizeof lv[0], "%s/envA", root);
    snprintf(lv[1], sizeof lv[1], "%s/envB", root);
    snprintf(lv[2], sizeof lv[2], "%s/plugins", exe);
    snprintf(lv[3], sizeof lv[3], "%s/../lib/m2pt/plugins", exe);
    snprintf(lv[4], sizeof lv[4], "%s/prefix/lib/m2pt/plugins", root);
    char real3[DIR_CAP]; /* lv[3] without the ".." */
    snprintf(real3, sizeof real3, "%s/lib/m2pt/plugins", root);
    for (int k = 0; k < 5; k++) {
        mkdirs(k == 3 ? real3 : lv[k]);
        put(lv[k], "okpath", NULL);
    }
    snprintf(env, sizeof env, "%s:%s", lv[0], lv[1]);
    setenv("M2PT_PLUGIN_PATH", env, 1);
    char pre[DIR_CAP];
    snprintf(pre, sizeof pre, "%s/prefix", root);
    setenv("M2PT_PREFIX", pre, 1);

    char p[PATH_CAP], err[1024];
    m2pt_loaded l = {0};

    /* the whole picture at once: one winner, four shadowed */
    m2pt_plugin_set set = {0};
    m2pt_plugins_discover(&set, exe);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.nproblems, 4);
    for (int k = 1; k < 5; k++) {
        snprintf(p, sizeof p, "%s/okpath.so: ", lv[k]);
        find_problem(&set, p, "is shadowed by", lv[0]);
    }
    m2pt_plugin_set_free(&set);

    /* an explicit path beats every search level */
    snprintf(p, sizeof p, "%s/okpath.so", lv[4]);
    if (m2pt_plugin_resolve(p, M2PT_KIND_PATHWAY, exe, &l, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(l.path, p);
    assert_int_equal(l.level, 0);
    m2pt_plugin_unload(&l);

    for (int k = 0; k < 5; k++) {
        if (m2pt_plugin_resolve("okpath", M2PT_KIND_PATHWAY, exe, &l, err, sizeof err)) fail_msg("%s", err);
        snprintf(p, sizeof p, "%.500s/okpath.so", lv[k]);
        if (strcmp(l.path, p)) fail_msg("level %d: expected %s, resolved %s", k + 1, p, l.path);
        assert_int_equal(l.level, k + 1);
        m2pt_plugin_unload(&l);
        assert_int_equal(unlink(p), 0);
    }
    assert_int_equal(m2pt_plugin_resolve("okpath", M2PT_KIND_PATHWAY, exe, &l, err, sizeof err), -1);
    if (!strstr(err, "no pathway plugin named 'okpath'") || !strstr(err, "found: none"))
        fail_msg("unexpected: %s", err);
    assert_null(l.handle);
}

/* ---------------------------------------------------------------- resolution */

static void test_resolve(void **state) {
    (void)state;
    char dir[DIR_CAP], p[PATH_CAP], err[1024];
    fresh_dir(dir, sizeof dir, "resolve");
    put(dir, "okpath", NULL);
    put(dir, "null_version", NULL);
    setenv("M2PT_PLUGIN_PATH", dir, 1);
    m2pt_loaded l = {0};

    /* by explicit path, any kind and the right kind */
    snprintf(p, sizeof p, "%s/okpath.so", dir);
    if (m2pt_plugin_resolve(p, 0, NULL, &l, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(l.desc->name, "okpath");
    m2pt_plugin_unload(&l);
    if (m2pt_plugin_resolve(p, M2PT_KIND_PATHWAY, NULL, &l, err, sizeof err)) fail_msg("%s", err);
    m2pt_plugin_unload(&l);

    /* by explicit path, wrong kind: refused, and not left loaded */
    assert_int_equal(m2pt_plugin_resolve(p, M2PT_KIND_MODALITY, NULL, &l, err, sizeof err), -1);
    if (strncmp(err, p, strlen(p)) || !strstr(err, "is a pathway plugin, not a modality plugin"))
        fail_msg("unexpected: %s", err);
    assert_null(l.handle);
    assert_false(still_loaded(p));

    /* by explicit path, a bad plugin: the loader's refusal */
    snprintf(p, sizeof p, "%s/null_version.so", dir);
    assert_int_equal(m2pt_plugin_resolve(p, 0, NULL, &l, err, sizeof err), -1);
    if (strncmp(err, p, strlen(p)) || !strstr(err, "'version' is NULL")) fail_msg("unexpected: %s", err);

    /* by name through M2PT_PLUGIN_PATH (the bad file beside it does not matter) */
    if (m2pt_plugin_resolve("okpath", M2PT_KIND_PATHWAY, NULL, &l, err, sizeof err)) fail_msg("%s", err);
    snprintf(p, sizeof p, "%s/okpath.so", dir);
    assert_string_equal(l.path, p);
    assert_int_equal(l.level, 1);
    m2pt_plugin_unload(&l);
    assert_false(still_loaded(p));

    /* by name from the build tree, with kinds */
    if (m2pt_plugin_resolve("image", M2PT_KIND_MODALITY, g_build, &l, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(l.desc->kind, M2PT_KIND_MODALITY);
    m2pt_plugin_unload(&l);
    if (m2pt_plugin_resolve("baseline", 0, g_build, &l, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(l.desc->kind, M2PT_KIND_PATHWAY);
    m2pt_plugin_unload(&l);

    /* an unknown name: the error lists what was found (of the kind asked for) */
    assert_int_equal(m2pt_plugin_resolve("nosuch", M2PT_KIND_PATHWAY, g_build, &l, err, sizeof err), -1);
    if (!strstr(err, "no pathway plugin named 'nosuch'") || !strstr(err, "found: ") || !strstr(err, "okpath") ||
        !strstr(err, "baseline") || !strstr(err, "reparam") || strstr(err, "image"))
        fail_msg("unexpected: %s", err);
    assert_null(l.handle);

    /* a name of the other kind */
    assert_int_equal(m2pt_plugin_resolve("image", M2PT_KIND_PATHWAY, g_build, &l, err, sizeof err), -1);
    if (!strstr(err, "no pathway plugin named 'image'")) fail_msg("unexpected: %s", err);
    assert_int_equal(m2pt_plugin_resolve("okpath", M2PT_KIND_MODALITY, g_build, &l, err, sizeof err), -1);
    if (!strstr(err, "no modality plugin named 'okpath'") || !strstr(err, "image")) fail_msg("unexpected: %s", err);
}

/* Any kind (0): the error says "no plugin named", lists plugins of every kind. */
static void test_resolve_any_kind_message(void **state) {
    (void)state;
    char err[1024];
    m2pt_loaded l = {0};
    assert_int_equal(m2pt_plugin_resolve("nosuch", 0, g_build, &l, err, sizeof err), -1);
    if (!strstr(err, "no plugin named 'nosuch'") || !strstr(err, "image") || !strstr(err, "baseline"))
        fail_msg("unexpected: %s", err);
    assert_null(l.handle);
}

/* A path without '/' (`m2pt plugins --check okpath.so` run in the plugin's directory) names the
 * file in the current directory. dlopen() given a name without '/' searches the library path
 * instead, so the loader must not pass such a name through unchanged. */
static void test_relative_path(void **state) {
    (void)state;
    char dir[DIR_CAP], cwd[PATH_CAP], err[1024];
    fresh_dir(dir, sizeof dir, "cwd");
    put(dir, "okpath", NULL);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    m2pt_loaded l = {0};
    int rc = m2pt_plugin_load("okpath.so", &l, err, sizeof err);
    if (!rc) m2pt_plugin_unload(&l);
    int rc2 = m2pt_plugin_resolve("okpath.so", M2PT_KIND_PATHWAY, NULL, &l, err, sizeof err);
    if (!rc2) m2pt_plugin_unload(&l);
    assert_int_equal(chdir(cwd), 0);
    if (rc || rc2) fail_msg("okpath.so in the current directory was not loaded: %s", err);
}

/* ---------------------------------------------------------------- the command line */

static void test_cli(void **state) {
    (void)state;
    char m2pt[PATH_CAP], cmd[4 * PATH_CAP], p[PATH_CAP], out[65536], dir[DIR_CAP], q[PATH_CAP];
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", g_build);
    if (access(m2pt, X_OK)) fail_msg("%s not built (make %s)", m2pt, m2pt);
    const char *prefix = getenv("M2PT_PREFIX"); /* set by clean_env: a missing directory */

    /* --check on a bad plugin: exit 2, one line with the file and the reason */
    bad_path(p, sizeof p, "declines");
    snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s'", m2pt, p);
    assert_int_equal(run(cmd, out, sizeof out), 2);
    if (!has_line(out, "m2pt plugins: ", p, "declined host ABI major")) fail_msg("output: %s", out);
    bad_path(p, sizeof p, "modality_fill_null");
    snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s'", m2pt, p);
    assert_int_equal(run(cmd, out, sizeof out), 2);
    if (!has_line(out, p, "'modality->fill' is NULL", NULL)) fail_msg("output: %s", out);

    /* --check on the valid minimal plugin: the conformance suite passes */
    bad_path(p, sizeof p, "okpath");
    snprintf(cmd, sizeof cmd, "'%s' plugins --check '%s'", m2pt, p);
    int rc = run(cmd, out, sizeof out);
    if (rc != 0 || !strstr(out, "okpath: passed")) fail_msg("exit %d, output: %s", rc, out);

    /* listing: the in-tree plugins, the good one from M2PT_PLUGIN_PATH, the bad ones reported (exit 1) */
    fresh_dir(dir, sizeof dir, "cli");
    put(dir, "okpath", NULL);
    put(dir, "unknown_kind", NULL);
    put_text(dir, "x.so", "text\n");
    snprintf(cmd, sizeof cmd, "M2PT_PREFIX='%s' M2PT_PLUGIN_PATH='%s' '%s' plugins", prefix, dir, m2pt);
    rc = run(cmd, out, sizeof out);
    if (rc != 1) fail_msg("exit %d (expected 1), output: %s", rc, out);
    const char *tree[][2] = {{"baseline", "pathway"}, {"reparam", "pathway"}, {"noaux", "pathway"},
                             {"image", "modality"}};
    for (int k = 0; k < 4; k++) {
        snprintf(q, sizeof q, "/plugins/%s.so", tree[k][0]);
        if (!has_line(out, tree[k][0], tree[k][1], q)) fail_msg("%s not listed: %s", tree[k][0], out);
    }
    snprintf(q, sizeof q, "%s/okpath.so", dir);
    if (!has_line(out, "okpath", "1.0.0", q)) fail_msg("okpath not listed: %s", out);
    snprintf(q, sizeof q, "%s/unknown_kind.so: ", dir);
    if (!has_line(out, "m2pt plugins: ", q, "unknown plugin kind 3")) fail_msg("unknown_kind not reported: %s", out);
    snprintf(q, sizeof q, "%s/x.so: ", dir);
    if (!has_line(out, "m2pt plugins: ", q, "not a shared object")) fail_msg("x.so not reported: %s", out);

    /* only good plugins: exit 0, no problem lines */
    snprintf(cmd, sizeof cmd, "M2PT_PREFIX='%s' M2PT_PLUGIN_PATH= '%s' plugins", prefix, m2pt);
    rc = run(cmd, out, sizeof out);
    if (rc != 0 || strstr(out, "m2pt plugins: ")) fail_msg("exit %d, output: %s", rc, out);
    if (!has_line(out, "image", "modality", "/plugins/image.so")) fail_msg("output: %s", out);
}

/* ---------------------------------------------------------------- main */

static int group_setup(void **state) {
    (void)state;
    const char *b = getenv("M2PT_BUILD");
    if (b && *b) g_build = b;
    strcpy(g_tmp, "/tmp/m2pt-loader-XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    remove_tree(g_tmp);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_refuse_bad_plugins, clean_env),
        cmocka_unit_test_setup(test_refuse_not_loadable, clean_env),
        cmocka_unit_test_setup(test_load_valid, clean_env),
        cmocka_unit_test_setup(test_in_tree_plugins, clean_env),
        cmocka_unit_test_setup(test_abi_1_0_modality, clean_env),
        cmocka_unit_test_setup(test_abi_1_0_cli, clean_env),
        cmocka_unit_test_setup(test_recon_conformance_faults, clean_env),
        cmocka_unit_test_setup(test_search_dirs, clean_env),
        cmocka_unit_test_setup(test_discover, clean_env),
        cmocka_unit_test_setup(test_same_dir_twice, clean_env),
        cmocka_unit_test_setup(test_precedence, clean_env),
        cmocka_unit_test_setup(test_resolve, clean_env),
        cmocka_unit_test_setup(test_resolve_any_kind_message, clean_env),
        cmocka_unit_test_setup(test_relative_path, clean_env),
        cmocka_unit_test_setup(test_cli, clean_env),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
