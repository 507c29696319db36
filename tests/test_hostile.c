/* Hostile inputs, through the real command line: every case must exit with code 2 and one line
 * on stderr that names the file and the fault; never a crash, a hang (every command has a
 * timeout), or anything written (no database, no cache, no row).
 *
 *  1. experiment files: tests/experiments/bad/ and tests/hostile/experiments/ (each file's first
 *     line: "# expect: WORDS"), with `m2pt run`; plus files made here: a FIFO (m2pt used to wait
 *     for a writer forever), a directory, more than 1 MiB, 200,000 list items, UTF-16; a grid of
 *     1,000,000 points (beyond M2PT_MAX_GRID_POINTS) without --allow-large, and one of 20,000,000
 *     (beyond the hard limit) with it;
 *  2. plugins: tests/hostile/plugins/ (not ELF, other CPU architectures, 32-bit, big-endian,
 *     executables, truncated) and the purpose-built bad plugins of tests/bad_plugins/ (missing
 *     entry, another ABI, NULL members, bad names, ...) with `m2pt plugins --check`; a FIFO;
 *     two plugins of one name in one directory named by an experiment and by `m2pt train` (this
 *     used to pick one of them silently);
 *  3. data files: tests/hostile/data/<case>/ replaces one file of the small data set
 *     tests/hostile/data/good/ (truncated and corrupt gzip, wrong IDX magic, wrong sizes and
 *     counts, ...), with `m2pt run` (M2PT_DATA_DIR); a missing file, a directory and a FIFO in
 *     its place; the good set itself must pass (an experiment sized for it used to be refused:
 *     the modality was opened with its default split sizes before its options were read);
 *  4. checkpoints: tests/hostile/checkpoints/ (truncated, wrong magic, bit flips, bad headers,
 *     wrong shapes, ...) with `m2pt eval`, some as `m2pt train --aux`; valid.ckpt must pass; a
 *     corrupted auxiliary checkpoint in the cache is trained again, not used;
 *  5. `m2pt query` with statements that would write (or create files): refused, the database
 *     file unchanged byte for byte.
 * The corpus is written by tests/hostile/make_corpus.py; each directory's EXPECT file lists the
 * cases and the words their message must hold. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blas.h"
#include "store.h"
#include "support/proc.h"

#define CMD_TIMEOUT 30.0 /* a refusal is quick: more is a hang */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Exit 2, nothing on stdout, one line on stderr starting with `prefix`, containing `file` and
 * `words`; returns 0, or prints why and returns -1 (the caller counts failures). */
static int check_refusal(const t_proc *p, const char *prefix, const char *file, const char *words) {
    const char *why = NULL;
    size_t n = strlen(p->err);
    if (p->rc != 2) why = "exit status is not 2";
    else if (*p->out) why = "something on stdout";
    else if (n == 0 || strchr(p->err, '\n') != p->err + n - 1) why = "stderr is not one line";
    else if (strncmp(p->err, prefix, strlen(prefix))) why = "the line does not start as expected";
    else if (file && !strstr(p->err, file)) why = "the line does not name the file";
    else if (words && !strstr(p->err, words)) why = "the line does not name the fault";
    if (!why) return 0;
    print_error("%s: %s (wanted \"%s\" ... \"%s\")\n", file ? file : "?", why, prefix, words ? words : "");
    t_show(p);
    return -1;
}

/* Nothing written by a refused `m2pt run`. */
static int nothing_written(const t_env *e) {
    if (t_exists(e->db) || t_exists(e->cache)) {
        print_error("a refused run wrote %s\n", t_exists(e->db) ? e->db : e->cache);
        return -1;
    }
    return 0;
}

static t_proc run_timed(t_env *e, const t_opts *o, const char *const *argv) {
    t_proc p;
    t_spawn(e, &p, o, argv);
    t_reap(&p, CMD_TIMEOUT);
    return p;
}

/* ================================================================ 1. experiment files */

static int first_line_expect(const char *path, char *words, size_t cap) {
    FILE *f = fopen(path, "rb");
    char line[1024] = "";
    int ok = f && fgets(line, sizeof line, f);
    if (f) fclose(f);
    if (!ok || strncmp(line, "# expect: ", 10)) return -1;
    line[strcspn(line, "\r\n")] = '\0';
    snprintf(words, cap, "%s", line + 10);
    return 0;
}

/* `m2pt run FILE [extra]`: refused, located in FILE (or naming it), with the words. */
static int expect_run_refused(t_env *e, const char *file, const char *words, const char *extra) {
    const char *argv[] = {"run", file, "--db", e->db, "--cache", e->cache, extra, NULL};
    t_proc p = run_timed(e, NULL, argv);
    char prefix[4300];
    snprintf(prefix, sizeof prefix, "m2pt run: %s", file);
    int rc = check_refusal(&p, prefix, NULL, words) || nothing_written(e);
    t_free(&p);
    return rc;
}

/* The "# expect:" words of tests/experiments/bad/ are test_experiment's, whose stub oracle words
 * plugin refusals its own way; through the CLI, the real plugins say: */
static const struct {
    const char *file, *words;
} cli_words[] = {
    {"baseline_option_typo_in_grid.yaml", "unknown key pathway.scael_init (plugin 'noaux' does not read it)"},
    {"unknown_aux_modality.yaml", "auxiliary.modality: no modality plugin named 'pointcloud'"},
    {"unknown_data_key.yaml", "unknown key data.trian_size (plugin 'image' does not read it)"},
    {"unknown_modality.yaml", "target.modality: no modality plugin named 'imagee' (found: "},
    {"unknown_pathway.yaml", "pathway.name: no pathway plugin named 'reparm'"},
    {"unknown_pathway_option.yaml", "unknown key pathway.scale_int (plugin 'reparam' does not read it)"},
    {"grid_too_large.yaml", "refused unless --allow-large is given"},
};

static int run_corpus_dir(t_env *e, const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0, failures = 0;
    for (struct dirent *en; (en = readdir(d)) && n < 256;) {
        size_t l = strlen(en->d_name);
        if (l > 5 && !strcmp(en->d_name + l - 5, ".yaml")) names[n++] = strdup(en->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[4300], words[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (first_line_expect(path, words, sizeof words)) {
            print_error("%s: first line is not '# expect: WORDS'\n", path);
            failures++;
        } else {
            for (size_t k = 0; k < sizeof cli_words / sizeof cli_words[0]; k++)
                if (!strcmp(names[i], cli_words[k].file)) snprintf(words, sizeof words, "%s", cli_words[k].words);
            failures += expect_run_refused(e, path, words, NULL) != 0;
        }
        free(names[i]);
    }
    printf("%d experiment files in %s\n", n, dir);
    return n < 10 ? failures + 1 : failures;
}

static void test_experiment_files(void **state) {
    t_env *e = *state;
    e->quiet = 1;
    char dir[4200];
    int failures = 0;
    snprintf(dir, sizeof dir, "%s/experiments/bad", t_data);
    failures += run_corpus_dir(e, dir);
    snprintf(dir, sizeof dir, "%s/hostile/experiments", t_data);
    failures += run_corpus_dir(e, dir);

    /* made here: what git cannot hold, or should not */
    char p[4400];
    snprintf(p, sizeof p, "%s/fifo.yaml", e->dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    failures += expect_run_refused(e, p, "not a regular file", NULL) != 0;
    snprintf(p, sizeof p, "%s/dir.yaml", e->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    failures += expect_run_refused(e, p, "not a regular file", NULL) != 0;

    size_t big = (1u << 20) + 10;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '#', big);
    snprintf(p, sizeof p, "%s/huge.yaml", e->dir);
    t_write_file(p, buf, big);
    failures += expect_run_refused(e, p, "larger than", NULL) != 0;

    /* 200,000 items in one list: beyond the node limit, within the size limit */
    size_t len = (size_t)snprintf(buf, big, "name: t\ntarget: {modality: image}\ngrid:\n  seed: [");
    for (int i = 0; i < 200000; i++) buf[len++] = '0', buf[len++] = ',';
    len += (size_t)snprintf(buf + len, big - len, "0]\n");
    snprintf(p, sizeof p, "%s/nodes.yaml", e->dir);
    t_write_file(p, buf, len);
    failures += expect_run_refused(e, p, "nodes", NULL) != 0;

    /* UTF-16 is YAML too (libyaml reads it): read, then refused for what it lacks */
    static const char utf16[] = "\xff\xfen\0a\0m\0e\0:\0 \0t\0\n\0";
    snprintf(p, sizeof p, "%s/utf16.yaml", e->dir);
    t_write_file(p, utf16, sizeof utf16 - 1);
    failures += expect_run_refused(e, p, "target.modality: required", NULL) != 0;

    /* grids: 1,000,000 points (beyond M2PT_MAX_GRID_POINTS) are refused unless forced, and
     * 20,000,000 even then; neither is expanded before the refusal */
    snprintf(p, sizeof p, "%s/experiments/bad/grid_too_large.yaml", t_data);
    failures += expect_run_refused(e, p, "refused unless --allow-large is given", NULL) != 0;
    len = (size_t)snprintf(buf, big, "name: t\ntarget: {modality: image}\ngrid:\n");
    for (int axis = 0; axis < 3; axis++) {
        static const char *const keys[] = {"seed", "train.epochs", "model.dim"};
        len += (size_t)snprintf(buf + len, big - len, "  %s: [", keys[axis]);
        int count = axis == 2 ? 200 : axis == 1 ? 1000 : 100;
        for (int i = 1; i <= count; i++) len += (size_t)snprintf(buf + len, big - len, "%s%d", i > 1 ? ", " : "", i * (axis == 2 ? 4 : 1));
        len += (size_t)snprintf(buf + len, big - len, "]\n");
    }
    snprintf(p, sizeof p, "%s/twenty_million.yaml", e->dir);
    t_write_file(p, buf, len);
    failures += expect_run_refused(e, p, "refused even when forced", "--allow-large") != 0;
    free(buf);
    e->quiet = 0;
    assert_int_equal(failures, 0);
    e->passed = 1;
}

/* ================================================================ EXPECT manifests */

typedef struct {
    char name[256];
    char arg[256];   /* data: the file it replaces */
    char words[512];
} expect_line;

/* Reads DIR/EXPECT; also fails when a file of the directory has no line, or a line no file. */
static int read_expect(const char *dir, expect_line *out, int cap, int with_arg) {
    char path[4300];
    snprintf(path, sizeof path, "%s/EXPECT", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *t1 = strchr(line, '\t'), *t2 = t1 && with_arg ? strchr(t1 + 1, '\t') : NULL;
        assert_non_null(t1);
        assert_true(n < cap);
        *t1 = '\0';
        snprintf(out[n].name, sizeof out[n].name, "%.255s", line);
        if (with_arg) {
            assert_non_null(t2);
            *t2 = '\0';
            snprintf(out[n].arg, sizeof out[n].arg, "%.255s", t1 + 1);
            snprintf(out[n].words, sizeof out[n].words, "%.511s", t2 + 1);
        } else {
            snprintf(out[n].words, sizeof out[n].words, "%.511s", t1 + 1);
        }
        snprintf(path, sizeof path, "%s/%s", dir, out[n].name);
        if (!t_exists(path)) fail_msg("%s/EXPECT names %s, which does not exist", dir, out[n].name);
        n++;
    }
    fclose(f);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *en; (en = readdir(d));) {
        if (en->d_name[0] == '.' || !strcmp(en->d_name, "EXPECT") || !strcmp(en->d_name, "good") ||
            !strcmp(en->d_name, "valid.ckpt"))
            continue;
        int found = 0;
        for (int i = 0; i < n && !found; i++) found = !strcmp(out[i].name, en->d_name);
        if (!found) fail_msg("%s/%s has no line in %s/EXPECT", dir, en->d_name, dir);
    }
    closedir(d);
    return n;
}

/* ================================================================ 2. plugins */

static const struct {
    const char *file, *words;
} bad_plugins[] = {
    {"no_entry", "missing entry point m2pt_plugin_query()"},
    {"hidden_entry", "missing entry point m2pt_plugin_query()"},
    {"declines", "declined host ABI major 1"},
    {"abi_major", "built for plugin ABI 2.0"},
    {"desc_small", "descriptor struct_size"},
    {"modality_small", "modality table struct_size"},
    {"pathway_small", "pathway table struct_size"},
    {"null_name", "required member 'name' is NULL"},
    {"null_version", "required member 'version' is NULL"},
    {"bad_name", "is not 1-64 characters of [a-z0-9_-]"},
    {"long_name", "is not 1-64 characters"},
    {"empty_name", "plugin name ''"},
    {"modality_null", "member 'modality' is NULL"},
    {"pathway_null", "member 'pathway' is NULL"},
    {"modality_fill_null", "required member 'modality->fill' is NULL"},
    {"pathway_merge_null", "required member 'pathway->merge' is NULL"},
    {"unknown_kind", "unknown plugin kind 3"},
};

static int expect_check_refused(t_env *e, const char *so, const char *words) {
    const char *argv[] = {"plugins", "--check", so, NULL};
    t_proc p = run_timed(e, NULL, argv);
    int rc = check_refusal(&p, "m2pt plugins: ", so, words);
    t_free(&p);
    return rc;
}

static void test_plugins(void **state) {
    t_env *e = *state;
    e->quiet = 1;
    char dir[4200], so[8192];
    int failures = 0;
    expect_line lines[64];
    snprintf(dir, sizeof dir, "%s/hostile/plugins", t_data);
    int n = read_expect(dir, lines, 64, 0);
    for (int i = 0; i < n; i++) {
        snprintf(so, sizeof so, "%s/%.255s", dir, lines[i].name);
        failures += expect_check_refused(e, so, lines[i].words) != 0;
    }
    for (size_t i = 0; i < sizeof bad_plugins / sizeof bad_plugins[0]; i++) {
        snprintf(so, sizeof so, "%s/tests/bad_plugins/%s.so", t_build, bad_plugins[i].file);
        failures += expect_check_refused(e, so, bad_plugins[i].words) != 0;
    }
    snprintf(so, sizeof so, "%s/fifo.so", e->dir);
    assert_int_equal(mkfifo(so, 0600), 0);
    failures += expect_check_refused(e, so, "not a regular file") != 0;
    printf("%d + %zu + 1 plugin files\n", n, sizeof bad_plugins / sizeof bad_plugins[0]);

    /* two plugins named "dup" in one directory: whichever is meant, it is ambiguous */
    char pdir[600], env[700], a[4400], b[4400], file[4300];
    snprintf(pdir, sizeof pdir, "%s/plugins", e->dir);
    assert_int_equal(mkdir(pdir, 0755), 0);
    snprintf(a, sizeof a, "%s/tests/bad_plugins/dup_a.so", t_build);
    snprintf(b, sizeof b, "%s/tests/bad_plugins/dup_b.so", t_build);
    snprintf(so, sizeof so, "%s/dup_a.so", pdir);
    assert_int_equal(symlink(a, so), 0);
    snprintf(so, sizeof so, "%s/dup_b.so", pdir);
    assert_int_equal(symlink(b, so), 0);
    snprintf(env, sizeof env, "M2PT_PLUGIN_PATH=%s", pdir);
    const char *envs[] = {env, NULL};
    t_opts o = {.env = envs};
    snprintf(file, sizeof file, "%s/hostile/dup_pathway.yaml", t_data);
    const char *run[] = {"run", file, "--db", e->db, "--cache", e->cache, NULL};
    t_proc p = run_timed(e, &o, run);
    failures += check_refusal(&p, "m2pt run: ", so, "duplicate plugin name 'dup'") || nothing_written(e);
    t_free(&p);
    const char *train[] = {"train", "--modality", "image", "--pathway", "dup", "--epochs", "1", NULL};
    p = run_timed(e, &o, train);
    failures += check_refusal(&p, "m2pt train: ", so, "duplicate plugin name 'dup'") != 0;
    t_free(&p);
    e->quiet = 0;
    assert_int_equal(failures, 0);
    e->passed = 1;
}

/* ================================================================ 3. data files */

static const char *const data_files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

/* DIR/data<k>: the good files (links), one of them replaced by `replace` (a link to it; NULL:
 * removed; "" : left for the caller). Returns the path of the replaced file in buf. */
static void data_dir(t_env *e, int k, const char *fname, const char *replace, char *dir, size_t dcap, char *file,
                     size_t fcap) {
    snprintf(dir, dcap, "%s/data%d", e->dir, k);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < 4; i++) {
        char src[4400], dst[800];
        snprintf(src, sizeof src, "%s/hostile/data/good/%s", t_data, data_files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, data_files[i]);
        if (fname && !strcmp(fname, data_files[i])) {
            snprintf(file, fcap, "%s", dst);
            if (replace && *replace) assert_int_equal(symlink(replace, dst), 0);
        } else {
            assert_int_equal(symlink(src, dst), 0);
        }
    }
}

static int expect_data_refused(t_env *e, const char *dir, const char *file, const char *words) {
    char env[800], yaml[4300];
    snprintf(env, sizeof env, "M2PT_DATA_DIR=%s", dir);
    snprintf(yaml, sizeof yaml, "%s/hostile/image.yaml", t_data);
    const char *envs[] = {env, NULL};
    t_opts o = {.env = envs};
    const char *argv[] = {"run", yaml, "--db", e->db, "--cache", e->cache, NULL};
    t_proc p = run_timed(e, &o, argv);
    char prefix[4400];
    snprintf(prefix, sizeof prefix, "m2pt run: %s:", yaml);
    int rc = check_refusal(&p, prefix, file, words) || nothing_written(e);
    t_free(&p);
    return rc;
}

static void test_data_files(void **state) {
    t_env *e = *state;
    char dir[800], file[800], cases[4200], yaml[4300];
    snprintf(cases, sizeof cases, "%s/hostile/data", t_data);
    snprintf(yaml, sizeof yaml, "%s/hostile/image.yaml", t_data);
    /* the good set passes validation: the experiment's options fit it */
    data_dir(e, 0, NULL, NULL, dir, sizeof dir, file, sizeof file);
    char env[900];
    snprintf(env, sizeof env, "M2PT_DATA_DIR=%s", dir);
    const char *envs[] = {env, NULL};
    t_opts o = {.env = envs};
    const char *dry[] = {"run", yaml, "--dry-run", NULL};
    t_proc p = run_timed(e, &o, dry);
    t_expect_rc(&p, 0);
    t_free(&p);

    e->quiet = 1;
    int failures = 0;
    expect_line lines[64];
    int n = read_expect(cases, lines, 64, 1);
    for (int i = 0; i < n; i++) {
        char bad[8192];
        snprintf(bad, sizeof bad, "%s/%.255s/%.255s", cases, lines[i].name, lines[i].arg);
        data_dir(e, i + 1, lines[i].arg, bad, dir, sizeof dir, file, sizeof file);
        failures += expect_data_refused(e, dir, file, lines[i].words) != 0;
    }
    /* made here: missing, a directory, a FIFO (gzopen used to wait for a writer forever) */
    data_dir(e, 100, data_files[1], NULL, dir, sizeof dir, file, sizeof file);
    failures += expect_data_refused(e, dir, file, "No such file or directory") != 0;
    data_dir(e, 101, data_files[2], NULL, dir, sizeof dir, file, sizeof file);
    assert_int_equal(mkdir(file, 0755), 0);
    failures += expect_data_refused(e, dir, file, "not a regular file") != 0;
    data_dir(e, 102, data_files[3], NULL, dir, sizeof dir, file, sizeof file);
    assert_int_equal(mkfifo(file, 0600), 0);
    failures += expect_data_refused(e, dir, file, "not a regular file") != 0;
    printf("%d + 3 data cases\n", n);

    /* m2pt train says the same */
    snprintf(env, sizeof env, "M2PT_DATA_DIR=%s", dir);
    const char *train[] = {"train", "--modality", "image", "--set", "modality.val_size=10", "--epochs", "1", NULL};
    p = run_timed(e, &o, train);
    failures += check_refusal(&p, "m2pt train: ", file, "not a regular file") != 0;
    t_free(&p);
    e->quiet = 0;
    assert_int_equal(failures, 0);
    e->passed = 1;
}

/* ================================================================ 4. checkpoints */

static int expect_eval_refused(t_env *e, const char *ckpt, const char *words) {
    const char *argv[] = {"eval", ckpt, NULL};
    t_proc p = run_timed(e, NULL, argv);
    int rc = check_refusal(&p, "m2pt eval: ", ckpt, words);
    t_free(&p);
    return rc;
}

static void test_checkpoints(void **state) {
    t_env *e = *state;
    char dir[4200], ckpt[8192];
    snprintf(dir, sizeof dir, "%s/hostile/checkpoints", t_data);
    snprintf(ckpt, sizeof ckpt, "%s/valid.ckpt", dir);
    const char *good[] = {"eval", ckpt, NULL};
    t_proc p = run_timed(e, NULL, good);
    t_expect_rc(&p, 0);
    t_expect_in(&p, p.out, "accuracy");
    t_free(&p);

    e->quiet = 1;
    int failures = 0;
    expect_line lines[64];
    int n = read_expect(dir, lines, 64, 0);
    for (int i = 0; i < n; i++) {
        snprintf(ckpt, sizeof ckpt, "%s/%.255s", dir, lines[i].name);
        failures += expect_eval_refused(e, ckpt, lines[i].words) != 0;
    }
    snprintf(ckpt, sizeof ckpt, "%s/fifo.ckpt", e->dir);
    assert_int_equal(mkfifo(ckpt, 0600), 0);
    failures += expect_eval_refused(e, ckpt, "not a regular file") != 0;
    snprintf(ckpt, sizeof ckpt, "%s/dir.ckpt", e->dir);
    assert_int_equal(mkdir(ckpt, 0700), 0);
    failures += expect_eval_refused(e, ckpt, "not a regular file") != 0;
    snprintf(ckpt, sizeof ckpt, "%s/missing.ckpt", e->dir);
    failures += expect_eval_refused(e, ckpt, "No such file or directory") != 0;
    printf("%d + 3 checkpoints\n", n);

    /* as the auxiliary model of a reparam run: refused before training */
    static const struct {
        const char *file, *words;
    } aux[] = {{"truncated_half.ckpt", "truncated"}, {"bitflip_data.ckpt", "checksum mismatch"},
               {"wrong_magic.ckpt", "bad magic"}, {"valid.ckpt", "dim 8 depth 1 heads 2 mlp_ratio 1"}};
    for (size_t i = 0; i < sizeof aux / sizeof aux[0]; i++) {
        snprintf(ckpt, sizeof ckpt, "%s/%s", dir, aux[i].file);
        const char *argv[] = {"train", "--modality", "image", "--pathway", "reparam", "--aux", ckpt, "--dim", "16",
                              "--heads", "2", "--depth", "1", "--epochs", "1", "--set", "modality.train_size=64",
                              NULL};
        p = run_timed(e, NULL, argv);
        failures += check_refusal(&p, "m2pt train: ", ckpt, aux[i].words) != 0;
        t_free(&p);
    }
    e->quiet = 0;
    assert_int_equal(failures, 0);
    e->passed = 1;
}

/* A corrupted auxiliary checkpoint in the cache is not used: trained again. */
static void test_corrupt_cached_aux(void **state) {
    t_env *e = *state;
    char file[4300];
    snprintf(file, sizeof file, "%s/grid/tiny.yaml", t_data);
    t_proc p = t_run(e, NULL, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", "--quiet", NULL);
    t_expect_rc(&p, 0);
    t_free(&p);
    char *row = t_qdump(e->db, "SELECT a.path FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.role = 'auxiliary'");
    row[strcspn(row, ";")] = '\0';
    size_t len;
    char *blob = t_slurp(row, &len);
    assert_true(len > 1000);
    blob[len / 2] ^= 0x10;
    t_write_file(row, blob, len);
    free(blob);
    /* a new cell that needs it */
    p = t_run(e, NULL, "run", file, "--set", "grid.pathway.scale_init=[0.5]", "--db", e->db, "--cache", e->cache,
              "--threads", "1", NULL);
    t_expect_rc(&p, 0);
    t_expect_in(&p, p.out, "auxiliary model: image"); /* trained again */
    t_free(&p);
    t_expect_q(e->db, 1, "SELECT attempt = 2 AND status = 'done' FROM runs WHERE role = 'auxiliary'");
    char eval_out[100];
    (void)eval_out;
    const char *argv[] = {"eval", row, NULL};
    p = run_timed(e, NULL, argv);
    t_expect_rc(&p, 0);
    t_free(&p);
    free(row);
    e->passed = 1;
}

/* ================================================================ 5. query */

static void test_query_writes(void **state) {
    t_env *e = *state;
    m2pt_store *s;
    char err[512];
    if (m2pt_store_open(&s, e->db, 0, err, sizeof err)) fail_msg("%s", err);
    m2pt_store_close(s);
    size_t len0;
    char *before = t_slurp(e->db, &len0);
    char other[600], attach[800], vacuum[800], attach_write[900];
    snprintf(other, sizeof other, "%s/other.db", e->dir);
    snprintf(vacuum, sizeof vacuum, "VACUUM INTO '%s'", other);
    snprintf(attach, sizeof attach, "ATTACH 'file:%s?mode=rwc' AS x; CREATE TABLE x.t(a)", other);
    snprintf(attach_write, sizeof attach_write, "ATTACH '%s' AS y; CREATE TABLE y.t(a)", e->db);
    const char *const writes[] = {
        "DELETE FROM runs",
        "delete from metrics where 1",
        "INSERT INTO experiments(name, created, updated) VALUES ('x', 'a', 'b')",
        "UPDATE runs SET status = 'done'",
        "REPLACE INTO summary(run_id) VALUES (1)",
        "DROP TABLE runs",
        "DROP VIEW results",
        "CREATE TABLE t(a)",
        "CREATE TEMP TABLE t(a)",
        "CREATE INDEX i ON runs(seed)",
        "ALTER TABLE runs ADD COLUMN x",
        "PRAGMA user_version = 9",
        "PRAGMA journal_mode = DELETE",
        "VACUUM",
        vacuum,
        "REINDEX",
        "ANALYZE",
        "SELECT 1; DELETE FROM runs",
        "WITH x AS (SELECT 1) DELETE FROM runs",
        "BEGIN; DELETE FROM runs; COMMIT",
        attach,
        attach_write,
    };
    e->quiet = 1;
    int failures = 0;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        const char *argv[] = {"query", writes[i], "--db", e->db, NULL};
        t_proc p = run_timed(e, NULL, argv);
        const char *why = p.rc != 2 ? "exit status is not 2" : t_exists(other) ? "it created a file" : NULL;
        if (!why && !strstr(p.err, "refused") && !strstr(p.err, e->db)) why = "no clear message";
        if (why) {
            print_error("m2pt query \"%s\": %s\n", writes[i], why);
            t_show(&p);
            failures++;
        }
        t_free(&p);
    }
    e->quiet = 0;
    size_t len1;
    char *after = t_slurp(e->db, &len1);
    assert_int_equal(len1, len0);
    assert_memory_equal(after, before, len0);
    free(before), free(after);
    assert_false(t_exists(other));
    assert_int_equal(failures, 0);
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (t_init("test_hostile")) return 1;
    char so[4200];
    snprintf(so, sizeof so, "%s/tests/bad_plugins/no_entry.so", t_build);
    if (!t_exists(so)) {
        fprintf(stderr, "test_hostile: %s is missing (make check builds the bad plugins)\n", so);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_experiment_files, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_plugins, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_data_files, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_cached_aux, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_query_writes, t_setup, t_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    t_kill_all();
    return failed ? 1 : 0;
}
