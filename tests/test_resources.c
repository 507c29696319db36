/* Resources: `m2pt run` when the machine lets it down. Each case: exit code 2 and one clear
 * line (the file and the fault), nothing corrupted (integrity check; every run called done has
 * its summary and checkpoint), and the next run with the fault removed completes the grid.
 *
 *  1. a file-size limit (ulimit -f, RLIMIT_FSIZE) at several sizes, so that it stops the
 *     database's creation, a commit, the per-epoch metrics, or a checkpoint (-j 2 too); m2pt used
 *     to be killed by SIGXFSZ, and then to go on cell after cell, each failing (exit 1), and a run
 *     whose metrics could not be written went on as if they had been;
 *  2. a full file system (a small tmpfs, mounted in a private mount namespace; skipped with a
 *     message where mounting is not permitted);
 *  3. a read-only database file, and a database directory that is not writable;
 *  4. a results directory that is missing (created), or cannot be created;
 *  5. a cache directory that is not writable, or not a directory (m2pt used to fail every cell,
 *     exit 1).
 * Permission faults need a user that permissions apply to: as root, m2pt runs as `nobody`.
 * Experiment: tests/resources/grid.yaml (1 auxiliary model, 2 target cells, 290 KB checkpoints). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blas.h"
#include "support/proc.h"

static char gridfile[4200], tinyfile[4200];

/* ================================================================ helpers */

/* m2pt ARGS as the unprivileged user (as root), after handing it the test directory. */
#define run_nb(e, o, ...) run_nb_(e, o, __VA_ARGS__, NULL)
static t_proc run_nb_(t_env *e, t_opts *o, ...) {
    t_give_to_nobody(e->dir);
    t_opts opts = o ? *o : (t_opts){0};
    opts.as_nobody = 1;
    const char *argv[40];
    int n = 0;
    va_list ap;
    va_start(ap, o);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 39) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    t_proc p;
    t_spawn(e, &p, &opts, argv);
    t_reap(&p, T_TIMEOUT);
    return p;
}

/* The lines of stderr that m2pt run itself wrote (plugins log there too). */
static int run_lines(const char *err, char *first, size_t cap) {
    int n = 0;
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, "m2pt run: ", 10) && n++ == 0) snprintf(first, cap, "%.*s", (int)len, p);
        p += len + (nl != NULL);
    }
    return n;
}

/* Exit 2 and exactly one line of m2pt's own, naming `path` (or a file under it) and the fault. */
#define expect_refused(p, path, ...) expect_refused_(p, path, __FILE__, __LINE__, __VA_ARGS__, NULL)
static void expect_refused_(const t_proc *p, const char *path, const char *file, int line, ...) {
    char first[2048] = "";
    int n = run_lines(p->err, first, sizeof first);
    int ok = p->rc == 2 && n == 1 && strstr(first, path);
    va_list ap;
    va_start(ap, line);
    int any = 0, some = 0;
    for (const char *w; (w = va_arg(ap, const char *));) some = 1, any |= strstr(first, w) != NULL;
    va_end(ap);
    if (!ok || (some && !any)) {
        print_error("expected exit 2 and one line naming %s and the fault; got exit %d, %d line(s)\n", path, p->rc, n);
        t_show(p);
        _fail(file, line);
    }
    printf("  -> %s\n", first);
}

/* Nothing half-written: intact, and every run called done has its summary and checkpoint. */
static void expect_consistent(const char *db) {
    if (!t_exists(db)) return;
    t_expect_integrity(db);
    long long tables = t_qi(db, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'");
    if (!tables) return;
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r WHERE r.status = 'done' AND (NOT EXISTS (SELECT 1 FROM summary s WHERE"
               " s.run_id = r.id) OR NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.run_id = r.id))");
    t_expect_q(db, 0, "SELECT count(*) FROM summary s JOIN runs r ON r.id = s.run_id WHERE r.status <> 'done'");
    char *d = t_qdump(db, "SELECT path, bytes FROM artifacts");
    for (char *l = strtok(d, "\n"); l; l = strtok(NULL, "\n")) {
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(l, "|"), l);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((long long)st.st_size, atoll(strchr(l, '|') + 1));
    }
    free(d);
}

/* The grid of gridfile completed in db: 3 runs done once, all steps logged, no temporary files. */
static void expect_complete(const char *db, const char *cache) {
    expect_consistent(db);
    t_expect_q(db, 3, "SELECT count(*) FROM runs WHERE status = 'done'");
    t_expect_q(db, 3, "SELECT count(*) FROM runs");
    /* auxiliary: 1 epoch of 4 steps; targets: 2 epochs */
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r WHERE (SELECT count(DISTINCT step) FROM metrics m WHERE m.run_id = r.id AND"
               " m.key = 'train_loss_step') <> CASE r.role WHEN 'auxiliary' THEN 4 ELSE 8 END");
    t_expect_q(db, 0, "SELECT count(*) FROM (SELECT 1 FROM metrics GROUP BY run_id, key, step HAVING count(*) > 1)");
    char dir[600];
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/%s", cache, i ? "aux" : "runs");
        assert_true(t_count_files(dir, ".tmp.") <= 0);
    }
}

/* ================================================================ 1. file-size limit */

static void test_file_size_limit(void **state) {
    t_env *e = *state;
    /* KiB: the database cannot be created; (with this schema and grid) the metrics of the
     * auxiliary model's first epoch cannot be committed; with -j 2, its checkpoint (290 KB)
     * cannot be written (the single-process checkpoint case is test_disk_full's). Every limit is
     * below the checkpoint's size, so every run must stop. */
    static const struct {
        int kib, jobs;
    } cases[] = {{8, 1}, {112, 1}, {200, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sub[400], db[500], cache[500];
        snprintf(sub, sizeof sub, "%s/limit%zu", e->dir, i);
        snprintf(db, sizeof db, "%s/m2pt.db", sub);
        snprintf(cache, sizeof cache, "%s/cache", sub);
        assert_int_equal(mkdir(sub, 0755), 0);
        t_opts o = {.fsize = (long long)cases[i].kib * 1024};
        t_proc p = cases[i].jobs > 1 ? run_nb(e, &o, "run", gridfile, "--db", db, "--cache", cache, "-j", "2",
                                               "--threads", "2")
                                     : run_nb(e, &o, "run", gridfile, "--db", db, "--cache", cache, "--threads", "1");
        if (cases[i].jobs > 1) { /* one line per worker that hit it, and the parent's */
            if (p.rc != 2 || !strstr(p.err, "File too large") || strstr(p.err, "failed:")) {
                t_show(&p);
                fail_msg("-j 2 under a %d KiB file size limit: expected exit 2 with 'File too large'", cases[i].kib);
            }
        } else {
            expect_refused(&p, sub, "File too large", "file size limit");
        }
        t_free(&p);
        expect_consistent(db);
        /* the limit lifted: the same command completes the grid */
        p = run_nb(e, NULL, "run", gridfile, "--db", db, "--cache", cache, "--threads", "1");
        t_expect_rc(&p, 0);
        t_free(&p);
        expect_complete(db, cache);
    }
    e->passed = 1;
}

/* ================================================================ 2. full disk */

static void test_disk_full(void **state) {
    t_env *e = *state;
    char mnt[400], db[500], cache[500];
    snprintf(mnt, sizeof mnt, "%s/small", e->dir);
    snprintf(db, sizeof db, "%s/m2pt.db", mnt);
    snprintf(cache, sizeof cache, "%s/cache", mnt);
    assert_int_equal(mkdir(mnt, 0755), 0);
    /* a private mount namespace: the tmpfs is seen by this process and its children only, and
     * vanishes with them */
    if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=512k,mode=0777")) {
        printf("skipped: cannot mount a tmpfs here (%s); the file-size-limit cases cover the same paths\n",
               strerror(errno));
        e->passed = 1;
        return;
    }
    /* 512 KiB: the database and the auxiliary checkpoint fit, the first target's does not */
    t_proc p = run_nb(e, NULL, "run", gridfile, "--db", db, "--cache", cache, "--threads", "1");
    expect_refused(&p, mnt, "No space left on device", "disk full", "disk is full");
    t_free(&p);
    expect_consistent(db);
    t_expect_q(db, 0, "SELECT count(*) FROM runs WHERE role = 'target' AND status = 'done'");
    /* more room: the next run completes, without training the auxiliary model again */
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=16m,mode=0777"), 0);
    long long aux_done = t_qi(db, "SELECT count(*) FROM runs WHERE role = 'auxiliary' AND status = 'done'");
    p = run_nb(e, NULL, "run", gridfile, "--db", db, "--cache", cache, "--threads", "1");
    t_expect_rc(&p, 0);
    if (aux_done) t_expect_not_in(&p, p.out, "auxiliary model: image");
    t_free(&p);
    expect_complete(db, cache);
    umount2(mnt, MNT_DETACH);
    e->passed = 1;
}

/* ================================================================ 3. read-only database */

static char *snapshot(const char *db) {
    return t_qdump(db, "SELECT id, cell_hash, status, attempt, finished, (SELECT count(*) FROM metrics m WHERE"
                       " m.run_id = r.id), (SELECT test_acc FROM summary s WHERE s.run_id = r.id) FROM runs r ORDER BY id");
}

static void test_readonly_db(void **state) {
    t_env *e = *state;
    t_proc p = run_nb(e, NULL, "run", tinyfile, "--db", e->db, "--cache", e->cache, "--threads", "1");
    t_expect_rc(&p, 0);
    t_free(&p);
    char *before = snapshot(e->db);

    /* the file read-only: refused before anything runs */
    assert_int_equal(chmod(e->db, 0444), 0);
    p = run_nb(e, NULL, "run", tinyfile, "--set", "seed=5", "--db", e->db, "--cache", e->cache, "--threads", "1");
    expect_refused(&p, e->db, "read-only");
    t_free(&p);
    /* reading still works; writing through query is refused */
    p = run_nb(e, NULL, "ls", "--db", e->db);
    t_expect_rc(&p, 0);
    t_expect_in(&p, p.out, "grid-tiny");
    t_free(&p);
    p = run_nb(e, NULL, "query", "DELETE FROM runs", "--db", e->db);
    t_expect_rc(&p, 2);
    t_expect_in(&p, p.err, "refused");
    t_free(&p);
    char *after = snapshot(e->db);
    assert_string_equal(after, before);
    free(after);
    expect_consistent(e->db);

    /* its directory not writable (SQLite keeps -wal and -shm there): refused too */
    assert_int_equal(chmod(e->db, 0644), 0);
    assert_int_equal(chmod(e->dir, 0555), 0);
    p = run_nb(e, NULL, "run", tinyfile, "--set", "seed=5", "--db", e->db, "--cache", e->cache, "--threads", "1");
    chmod(e->dir, 0755);
    expect_refused(&p, e->dir, "not writable");
    t_free(&p);
    after = snapshot(e->db);
    assert_string_equal(after, before);
    free(after);

    /* fault removed: the new cells run, the old ones are untouched */
    p = run_nb(e, NULL, "run", tinyfile, "--set", "seed=5", "--db", e->db, "--cache", e->cache, "--threads", "1");
    t_expect_rc(&p, 0);
    t_free(&p);
    t_expect_q(e->db, 6, "SELECT count(*) FROM runs WHERE status = 'done'");
    t_expect_q(e->db, 6, "SELECT count(*) FROM runs WHERE attempt = 1");
    expect_consistent(e->db);
    free(before);
    e->passed = 1;
}

/* ================================================================ 4. results directory */

static void test_results_dir(void **state) {
    t_env *e = *state;
    char db[600], file[600], locked[600];
    /* missing: created */
    snprintf(db, sizeof db, "%s/new/deeper/m2pt.db", e->dir);
    t_proc p = run_nb(e, NULL, "run", tinyfile, "--db", db, "--cache", e->cache, "--threads", "1");
    t_expect_rc(&p, 0);
    t_free(&p);
    t_expect_q(db, 3, "SELECT count(*) FROM runs WHERE status = 'done'");

    /* a regular file where a directory must be */
    snprintf(file, sizeof file, "%s/afile", e->dir);
    t_write_file(file, "x", 1);
    snprintf(db, sizeof db, "%s/afile/sub/m2pt.db", e->dir);
    p = run_nb(e, NULL, "run", tinyfile, "--db", db, "--cache", e->cache, "--threads", "1");
    expect_refused(&p, file, "Not a directory", "not a directory");
    t_free(&p);

    /* a parent that cannot be written */
    snprintf(locked, sizeof locked, "%s/closed", e->dir);
    assert_int_equal(mkdir(locked, 0755), 0);
    t_give_to_nobody(locked);
    assert_int_equal(chmod(locked, 0555), 0);
    snprintf(db, sizeof db, "%s/closed/results/m2pt.db", e->dir);
    p = run_nb(e, NULL, "run", tinyfile, "--db", db, "--cache", e->cache, "--threads", "1");
    expect_refused(&p, locked, "Permission denied");
    t_free(&p);
    assert_false(t_exists(db));
    assert_int_equal(chmod(locked, 0755), 0);
    p = run_nb(e, NULL, "run", tinyfile, "--db", db, "--cache", e->cache, "--threads", "1");
    t_expect_rc(&p, 0);
    t_expect_in(&p, p.out, "all cells done");
    t_free(&p);
    expect_consistent(db);
    e->passed = 1;
}

/* ================================================================ 5. cache */

static void test_unwritable_cache(void **state) {
    t_env *e = *state;
    char aux[600];
    snprintf(aux, sizeof aux, "%s/aux", e->cache);
    assert_int_equal(mkdir(e->cache, 0755), 0);

    /* the cache directory read-only: refused before anything runs or is recorded */
    t_give_to_nobody(e->dir);
    assert_int_equal(chmod(e->cache, 0555), 0);
    t_proc p = run_nb(e, NULL, "run", tinyfile, "--db", e->db, "--cache", e->cache, "--threads", "1");
    expect_refused(&p, e->cache, "not writable", "Permission denied");
    t_free(&p);
    assert_false(t_exists(e->db));

    /* writable, but its aux/ is not */
    assert_int_equal(chmod(e->cache, 0755), 0);
    assert_int_equal(mkdir(aux, 0555), 0);
    p = run_nb(e, NULL, "run", tinyfile, "--db", e->db, "--cache", e->cache, "--threads", "1");
    expect_refused(&p, aux, "not writable", "Permission denied");
    t_free(&p);
    assert_false(t_exists(e->db));

    /* not a directory at all */
    char file[600];
    snprintf(file, sizeof file, "%s/cachefile", e->dir);
    t_write_file(file, "x", 1);
    p = run_nb(e, NULL, "run", tinyfile, "--db", e->db, "--cache", file, "--threads", "1");
    expect_refused(&p, file, "Not a directory", "not a directory", "File exists");
    t_free(&p);
    assert_false(t_exists(e->db));

    /* fault removed */
    assert_int_equal(chmod(aux, 0755), 0);
    p = run_nb(e, NULL, "run", tinyfile, "--db", e->db, "--cache", e->cache, "--threads", "1");
    t_expect_rc(&p, 0);
    t_free(&p);
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1");
    expect_consistent(e->db);
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (t_init("test_resources")) return 1;
    snprintf(gridfile, sizeof gridfile, "%s/resources/grid.yaml", t_data);
    snprintf(tinyfile, sizeof tinyfile, "%s/grid/tiny.yaml", t_data);
    if (t_is_root()) printf("running m2pt as nobody (uid 65534), so that permissions apply\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_size_limit, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_db, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_results_dir, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_cache, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, t_setup, t_teardown), /* last: it unshares */
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    t_kill_all();
    return failed ? 1 : 0;
}
