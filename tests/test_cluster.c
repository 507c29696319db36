/* End-to-end tests of grids beyond one machine: `m2pt run --shard K/N`, `m2pt merge` and
 * `m2pt slurm`, with the real binary ($M2PT_BUILD/m2pt) on tiny grids (the YAML files of tests/cluster/),
 * each test in its own mkdtemp directory (tests/support/e2e.h). A real Slurm is the business of
 * `make test-slurm` (tests/slurm/test-slurm.sh); here a stand-in sbatch (tests/cluster/fake-sbatch)
 * runs the generated script's jobs at once.
 *
 *  1. the plan: every cell in exactly one shard, the same plan on every call, balanced cost,
 *     --aux-only; a shard's dry run writes nothing;
 *  2. two shards run at the same time against one cache, each into its own database: every
 *     auxiliary model trained once; merged, the database equals a single-machine run (same runs
 *     and run ids, bit-identical summaries and metric values, same `compare` output);
 *     merging again changes nothing;
 *  3. two shards wait on the lock of an auxiliary model (the test holds it, as a peer training it
 *     would); then one trains it and is killed (-9) while the other waits: the other takes it
 *     over; a merge before the killed shard reruns reports its unfinished cells, the one after
 *     has them all, with the auxiliary model trained once to the end;
 *  4. conflicting results of one configuration are refused (nothing written, a new output file
 *     removed again); a missing, foreign or self input, and bad usage: exit 2 with one line;
 *  5. `m2pt slurm`: the script (sh -n clean, afterok chain, threads from SLURM_CPUS_PER_TASK),
 *     --submit through the stand-in sbatch, and resubmission: only shards with unfinished cells;
 *  6. bad --shard values and bad `m2pt slurm` options: exit 2, one line, nothing written. */
#define _DEFAULT_SOURCE /* realpath, flock */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blas.h"
#include "support/e2e.h"

static void data(char *buf, size_t n, const char *name) { e2e_data(buf, n, "cluster", name); }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The table of `m2pt run --shard K/N --dry-run`: own (shard column without '*') cells' hashes
 * and roles, and the estimated cost share from the first line. */
typedef struct {
    char hash[64][17];
    char role[64];  /* 'a' auxiliary, 't' target */
    int own[64];
    int n;
    double share;
} shard_view;

static void parse_shard(const char *out, shard_view *v) {
    memset(v, 0, sizeof *v);
    const char *p = strstr(out, "estimated cost ");
    assert_non_null(p);
    v->share = atof(p + 15);
    for (p = strchr(out, '\n'); p && *p; p = strchr(p, '\n')) {
        p++;
        char hash[32], role[32], shard[16];
        if (sscanf(p, " %31s %31s %*s %*s %*s %15s", hash, role, shard) != 3 || strlen(hash) != 16) continue;
        if (strcmp(role, "auxiliary") && strcmp(role, "target")) continue;
        assert_true(v->n < 64);
        snprintf(v->hash[v->n], 17, "%.16s", hash);
        v->role[v->n] = role[0];
        v->own[v->n] = !strchr(shard, '*');
        v->n++;
    }
}

/* ================================================================ 1. the plan */

static void test_plan(void **state) {
    e2e_env *e = *state;
    char file[4200], db[400];
    data(file, sizeof file, "shards.yaml");
    e2e_path(db, sizeof db, e, "never.db");
    e2e_result all = e2e_run(e, "run", file, "--dry-run", NULL);
    e2e_expect_rc(&all, 0);
    e2e_expect_contains(&all, all.out, "8 target cells + 2 auxiliary cells");
    for (int n = 2; n <= 3; n++) {
        int seen_t = 0, seen_a = 0;
        double total = 0, lo = 100, hi = 0;
        char hashes[4096] = "";
        for (int k = 1; k <= n; k++) {
            char spec[32];
            snprintf(spec, sizeof spec, "%d/%d", k, n);
            e2e_result r = e2e_run(e, "run", file, "--shard", spec, "--dry-run", "--db", db, NULL);
            e2e_expect_rc(&r, 0);
            if (n == 3 && k == 3) { /* deterministic */
                e2e_result again = e2e_run(e, "run", file, "--shard", spec, "--dry-run", NULL);
                assert_string_equal(r.out, again.out);
                e2e_free(&again);
            }
            shard_view v;
            parse_shard(r.out, &v);
            for (int i = 0; i < v.n; i++) {
                e2e_expect_contains(&all, all.out, v.hash[i]); /* a cell of the experiment */
                if (!v.own[i]) {
                    assert_int_equal(v.role[i], 'a'); /* only auxiliary models are borrowed */
                    continue;
                }
                assert_null(strstr(hashes, v.hash[i])); /* in no other shard */
                strcat(hashes, v.hash[i]);
                seen_t += v.role[i] == 't', seen_a += v.role[i] == 'a';
            }
            total += v.share;
            lo = v.share < lo ? v.share : lo, hi = v.share > hi ? v.share : hi;
            e2e_free(&r);
        }
        printf("%d shards: cost shares from %.1f%% to %.1f%%\n", n, lo, hi);
        assert_int_equal(seen_t, 8);
        assert_int_equal(seen_a, 2);
        assert_true(total > 99.5 && total < 100.5);
        /* 8 targets of cost 1 or 2 (units of 1 epoch) and 2 auxiliary cells of cost 1: 14 units;
         * LPT spreads them within one unit (7.1%) of each other */
        assert_true(hi - lo < 7.2);
    }
    /* --aux-only: only the shard's own auxiliary cells */
    e2e_result a = e2e_run(e, "run", file, "--shard", "2/2", "--aux-only", "--dry-run", NULL);
    e2e_expect_rc(&a, 0);
    shard_view v;
    parse_shard(a.out, &v);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.role[0], 'a');
    assert_true(v.own[0]);
    assert_false(e2e_exists(db));
    e2e_free(&all), e2e_free(&a);
    e->passed = 1;
}

/* ================================================================ 2. shards + merge = one machine */

/* The rows that must agree between a merged and a single-machine database: runs and their ids,
 * summaries bit for bit (timings aside), metric values (throughput and timings aside), auxiliary
 * links and experiment membership. */
static char *comparable(const char *db) {
    char *runs = e2e_dump(db, "SELECT id, cell_hash, role, status, pathway, seed, attempt FROM runs ORDER BY id");
    char *sum = e2e_dump(db, "SELECT r.cell_hash, s.best_val_acc, s.last_val_acc, s.test_acc, s.test_acc_unmerged,"
                             " s.test_loss, s.params_trainable, s.params_inference, s.epochs_done FROM summary s"
                             " JOIN runs r ON r.id = s.run_id ORDER BY r.cell_hash");
    char *met = e2e_dump(db, "SELECT r.cell_hash, m.key, m.step, m.epoch, m.value FROM metrics m JOIN runs r ON"
                             " r.id = m.run_id WHERE m.key NOT IN ('samples_per_s', 'epoch_seconds')"
                             " ORDER BY r.cell_hash, m.key, m.step");
    char *links = e2e_dump(db, "SELECT t.id, a.id FROM runs t JOIN runs a ON a.id = t.aux_run_id ORDER BY t.id");
    char *member = e2e_dump(db, "SELECT e.name, er.run_id FROM experiment_runs er JOIN experiments e ON"
                                " e.id = er.experiment_id ORDER BY 1, 2");
    size_t n = strlen(runs) + strlen(sum) + strlen(met) + strlen(links) + strlen(member) + 1;
    char *all = malloc(n);
    assert_non_null(all);
    snprintf(all, n, "%s%s%s%s%s", runs, sum, met, links, member);
    free(runs), free(sum), free(met), free(links), free(member);
    return all;
}

static void expect_same_text(const char *what, const char *a, const char *b) {
    if (strcmp(a, b)) {
        size_t i = 0;
        while (a[i] && a[i] == b[i]) i++;
        size_t from = i > 200 ? i - 200 : 0;
        fail_msg("%s differ at byte %zu:\n--- one: ...%.400s\n--- other: ...%.400s", what, i, a + from, b + from);
    }
}

static void test_shards_merge(void **state) {
    e2e_env *e = *state;
    char file[4200], local[400], merged[400], cache[400], sdb[2][400], cache_local[400];
    data(file, sizeof file, "small.yaml");
    e2e_path(local, sizeof local, e, "local.db");
    e2e_path(merged, sizeof merged, e, "merged.db");
    e2e_path(cache, sizeof cache, e, "cache");
    e2e_path(cache_local, sizeof cache_local, e, "cache-local");
    e2e_result l = e2e_run(e, "run", file, "--db", local, "--cache", cache_local, "--threads", "1", NULL);
    e2e_expect_rc(&l, 0);

    /* three shards at once, one shared cache, three databases */
    e2e_result s[2];
    for (int k = 0; k < 2; k++) {
        char spec[32], name[32];
        snprintf(spec, sizeof spec, "%d/2", k + 1);
        snprintf(name, sizeof name, "shard-%d.db", k + 1);
        e2e_path(sdb[k], sizeof sdb[k], e, name);
        e2e_spawn(e, &s[k], "run", file, "--shard", spec, "--db", sdb[k], "--cache", cache, "--threads", "1", NULL);
    }
    int trained = 0;
    for (int k = 0; k < 2; k++) {
        e2e_reap(&s[k]);
        e2e_expect_rc(&s[k], 0);
        e2e_expect_contains(&s[k], s[k].out, "all cells done");
        trained += e2e_count(s[k].out, "auxiliary model: image");
        /* each shard's database holds its own target cells, not the others' */
        e2e_expect_q(sdb[k], 4, "SELECT count(*) FROM shard_plan WHERE role = 'target'");
        e2e_expect_q(sdb[k], 0, "SELECT count(*) FROM runs r JOIN shard_plan p ON p.cell_hash = r.cell_hash"
                                " WHERE r.role = 'target' AND p.shard <> %d", k + 1);
    }
    assert_int_equal(trained, 2); /* every auxiliary model trained once, by one shard */

    e2e_result m = e2e_run(e, "merge", merged, sdb[0], sdb[1], NULL);
    e2e_expect_rc(&m, 0);
    e2e_expect_contains(&m, m.out, "experiment cluster-small: 6 of 6 planned cells done");
    char *a = comparable(local), *b = comparable(merged);
    expect_same_text("the single-machine and the merged database", a, b);
    free(a), free(b);
    e2e_result c1 = e2e_run(e, "compare", "cluster-small", "--db", local, NULL);
    e2e_result c2 = e2e_run(e, "compare", "cluster-small", "--db", merged, NULL);
    e2e_expect_rc(&c2, 0);
    assert_string_equal(c1.out, c2.out);
    /* provenance: two sources; each run says which input it came from */
    e2e_expect_q(merged, 2, "SELECT count(*) FROM merge_sources");
    e2e_expect_q(merged, 6, "SELECT count(DISTINCT run_id) FROM merge_runs WHERE action IN ('added', 'replaced')");
    e2e_expect_q(merged, 2, "SELECT count(DISTINCT host || pid) FROM runs WHERE role = 'target'"); /* 2 processes */
    /* an auxiliary model imported by a shard that did not train it does not replace the training */
    e2e_expect_q(merged, 2, "SELECT count(*) FROM runs r WHERE role = 'auxiliary' AND"
                            " (SELECT count(*) FROM metrics x WHERE x.run_id = r.id) > 0");

    /* idempotent: merging the same shards again changes nothing */
    char *before = e2e_dump(merged, "SELECT * FROM runs ORDER BY id");
    char *before2 = e2e_dump(merged, "SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM merge_runs),"
                                     " (SELECT group_concat(fingerprint) FROM merge_sources)");
    e2e_result again = e2e_run(e, "merge", merged, sdb[1], sdb[0], sdb[0], NULL);
    e2e_expect_rc(&again, 0);
    assert_int_equal(e2e_count(again.out, "merged before"), 2);
    e2e_expect_contains(&again, again.out, "given twice, merged once");
    char *after = e2e_dump(merged, "SELECT * FROM runs ORDER BY id");
    char *after2 = e2e_dump(merged, "SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM merge_runs),"
                                    " (SELECT group_concat(fingerprint) FROM merge_sources)");
    assert_string_equal(before, after);
    assert_string_equal(before2, after2);
    free(before), free(after), free(before2), free(after2);
    /* the inputs were only read */
    e2e_expect_q(sdb[0], 0, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'merge_%%'");
    for (int k = 0; k < 2; k++) e2e_free(&s[k]);
    e2e_free(&l), e2e_free(&m), e2e_free(&c1), e2e_free(&c2), e2e_free(&again);
    e->passed = 1;
}

/* ================================================================ 3. a shard dies */

/* The hash of the first auxiliary cell in a dry run's output. */
static void first_aux_hash(const char *out, char hash[17]) {
    const char *p = strstr(out, "  auxiliary  ");
    assert_non_null(p);
    while (p > out && p[-1] != '\n') p--;
    assert_int_equal(sscanf(p, " %16s", hash), 1);
}

static void test_takeover(void **state) {
    e2e_env *e = *state;
    char file[4200], db[2][400], merged[400], cache[400], lock[600], hash[17];
    data(file, sizeof file, "takeover.yaml");
    e2e_path(db[0], sizeof db[0], e, "shard-1.db");
    e2e_path(db[1], sizeof db[1], e, "shard-2.db");
    e2e_path(merged, sizeof merged, e, "merged.db");
    e2e_path(cache, sizeof cache, e, "cache");
    e2e_result d = e2e_run(e, "run", file, "--shard", "1/2", "--dry-run", NULL);
    e2e_expect_contains(&d, d.out, "1 of 2 target cells, 1 of 1 auxiliary cells");
    first_aux_hash(d.out, hash);

    /* The test holds the auxiliary model's cache lock, as a shard training it would: both shards
     * come up and wait for it, neither trains. */
    char auxdir[500];
    snprintf(auxdir, sizeof auxdir, "%s/aux", cache);
    assert_int_equal(mkdir(cache, 0777), 0);
    assert_int_equal(mkdir(auxdir, 0777), 0);
    snprintf(lock, sizeof lock, "%s/%s.lock", auxdir, hash);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666); /* the shards must not inherit the lock */
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    e2e_result s[2];
    for (int k = 0; k < 2; k++)
        e2e_spawn(e, &s[k], "run", file, "--shard", k ? "2/2" : "1/2", "--db", db[k], "--cache", cache, "--threads",
                  "1", NULL);
    char err[2048];
    long long v = 0;
    for (int k = 0; k < 2; k++) {
        double t0 = now();
        while (!(e2e_exists(db[k]) && !e2e_q_try(db[k], &v, "SELECT count(*) FROM experiments", err, sizeof err) &&
                 v == 1)) {
            assert_false(e2e_try_reap(&s[k]));
            assert_true(now() - t0 < E2E_TIMEOUT);
            sleep_ms(5);
        }
    }
    sleep_ms(500);
    for (int k = 0; k < 2; k++) {
        assert_false(e2e_try_reap(&s[k]));
        e2e_expect_q(db[k], 0, "SELECT count(*) FROM runs");
    }
    /* let go: one of them trains the model (catch it at its first epoch), the other waits */
    close(fd);
    int trainer = -1;
    double t0 = now();
    while (trainer < 0) {
        for (int k = 0; k < 2 && trainer < 0; k++)
            if (!e2e_q_try(db[k], &v, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id"
                                      " WHERE r.role = 'auxiliary' AND m.epoch > 0", err, sizeof err) && v > 0)
                trainer = k;
        for (int k = 0; k < 2 && trainer < 0; k++)
            if (e2e_try_reap(&s[k])) {
                e2e_show(&s[k]);
                fail_msg("shard %d exited before an auxiliary model could be caught in training", k + 1);
            }
        assert_true(now() - t0 < E2E_TIMEOUT);
        sleep_ms(5);
    }
    const int other = 1 - trainer;
    printf("shard %d trains the auxiliary model, shard %d waits\n", trainer + 1, other + 1);
    assert_false(e2e_try_reap(&s[other]));
    e2e_expect_q(db[other], 0, "SELECT count(*) FROM runs");

    /* the trainer dies; the other takes the auxiliary model over and finishes */
    assert_int_equal(kill(-s[trainer].pid, SIGKILL), 0);
    e2e_reap(&s[trainer]);
    assert_int_equal(s[trainer].rc, 128 + SIGKILL);
    e2e_reap(&s[other]);
    e2e_expect_rc(&s[other], 0);
    e2e_expect_contains(&s[other], s[other].out, "auxiliary model: image");
    e2e_expect_q(db[other], 2, "SELECT count(*) FROM runs WHERE status = 'done'");

    /* merged now: the dead shard's target cell is missing, and the merge says so */
    e2e_result m1 = e2e_run(e, "merge", merged, db[0], db[1], NULL);
    e2e_expect_rc(&m1, 0);
    char want[128];
    snprintf(want, sizeof want, "2 of 3 planned cells done; not done: cells of shard %d of 2", trainer + 1);
    e2e_expect_contains(&m1, m1.out, want);
    e2e_expect_q(merged, 1, "SELECT count(*) FROM runs WHERE role = 'auxiliary' AND status = 'done'");

    /* the dead shard again: the auxiliary model comes from the cache */
    char spec[32];
    snprintf(spec, sizeof spec, "%d/2", trainer + 1);
    e2e_result again =
        e2e_run(e, "run", file, "--shard", spec, "--db", db[trainer], "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&again, 0);
    e2e_expect_contains(&again, again.out, "reused from the cache");
    e2e_expect_lacks(&again, again.out, "auxiliary model: image");
    e2e_result m2 = e2e_run(e, "merge", merged, db[0], db[1], NULL);
    e2e_expect_rc(&m2, 0);
    e2e_expect_contains(&m2, m2.out, "3 of 3 planned cells done");
    e2e_expect_contains(&m2, m2.out, "merged before");
    e2e_expect_q(merged, 3, "SELECT count(*) FROM runs WHERE status = 'done'");
    /* the auxiliary run in the merged database is the complete training: 3 epochs */
    e2e_expect_q(merged, 3, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id"
                            " WHERE r.role = 'auxiliary' AND m.key = 'val_acc'");
    e2e_expect_q(merged, 2, "SELECT count(*) FROM runs t JOIN runs a ON a.id = t.aux_run_id WHERE a.role = 'auxiliary'");
    e2e_free(&d), e2e_free(&s[0]), e2e_free(&s[1]), e2e_free(&m1), e2e_free(&again), e2e_free(&m2);
    e->passed = 1;
}

/* ================================================================ 4. conflicts and bad input */

static void expect_one_line(const e2e_result *r, const char *start, const char *needle) {
    if (strncmp(r->err, start, strlen(start)) || e2e_count(r->err, "\n") != 1 || !strstr(r->err, needle)) {
        e2e_show(r);
        fail_msg("expected one line on stderr starting with \"%s\" and containing \"%s\"", start, needle);
    }
    assert_string_equal(r->out, "");
}

static void copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    assert_non_null(f);
    assert_non_null(g);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) assert_int_equal(fwrite(buf, 1, n, g), n);
    fclose(f);
    assert_int_equal(fclose(g), 0);
}

static void test_merge_refusals(void **state) {
    e2e_env *e = *state;
    char file[4200], a[400], b[400], out[400], out2[400], foreign[400], missing[400];
    e2e_data(file, sizeof file, "grid", "tiny.yaml");
    e2e_path(a, sizeof a, e, "a.db");
    e2e_path(b, sizeof b, e, "b.db");
    e2e_path(out, sizeof out, e, "out.db");
    e2e_path(out2, sizeof out2, e, "new.db");
    e2e_path(foreign, sizeof foreign, e, "foreign.db");
    e2e_path(missing, sizeof missing, e, "missing.db");
    e2e_result r = e2e_run(e, "run", file, "--db", a, "--threads", "1", "--quiet", NULL);
    e2e_expect_rc(&r, 0);
    assert_int_equal(e2e_count(r.err, "reparam: layers"), 0); /* --quiet silences the plugins' info lines */
    e2e_free(&r);
    /* b: the same cells, one with another result (as another thread count or version could give) */
    r = e2e_run(e, "query", "PRAGMA wal_checkpoint", "--db", a, NULL);
    e2e_free(&r);
    copy_file(a, b);
    {
        sqlite3 *h;
        assert_int_equal(sqlite3_open(b, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "UPDATE summary SET test_acc = test_acc + 0.125 WHERE run_id ="
                                         " (SELECT max(id) FROM runs WHERE role = 'target')", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    r = e2e_run(e, "merge", out, a, NULL);
    e2e_expect_rc(&r, 0);
    e2e_free(&r);
    char *before = e2e_dump(out, "SELECT * FROM runs ORDER BY id");
    char *before2 = e2e_dump(out, "SELECT count(*) FROM merge_sources");
    r = e2e_run(e, "merge", out, b, NULL);
    e2e_expect_rc(&r, 2);
    expect_one_line(&r, "m2pt merge: ", "different results (test_acc ");
    e2e_expect_contains(&r, r.err, "nothing was merged");
    char *after = e2e_dump(out, "SELECT * FROM runs ORDER BY id");
    char *after2 = e2e_dump(out, "SELECT count(*) FROM merge_sources");
    assert_string_equal(before, after);
    assert_string_equal(before2, after2);
    free(before), free(after), free(before2), free(after2);
    e2e_free(&r);
    /* into a new file: refused, and no file is left behind */
    r = e2e_run(e, "merge", out2, a, b, NULL);
    e2e_expect_rc(&r, 2);
    assert_false(e2e_exists(out2));
    e2e_free(&r);

    {
        sqlite3 *h;
        assert_int_equal(sqlite3_open(foreign, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);
    }
    static const struct {
        const char *args[4];
        const char *needle;
    } bad[] = {
        {{"OUT", "MISSING"}, "no database there"},
        {{"OUT", "OUT"}, "is the output database itself"},
        {{"OUT", "FOREIGN"}, "not an m2pt result database"},
        {{"OUT"}, "which databases to merge into it?"},
        {{NULL}, "which output database and which inputs?"},
        {{"--frobnicate", "OUT", "A"}, "unknown option '--frobnicate'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[8] = {e2e_m2pt(), "merge"};
        int n = 2;
        for (int k = 0; k < 4 && bad[i].args[k]; k++) {
            const char *x = bad[i].args[k];
            argv[n++] = !strcmp(x, "OUT") ? out : !strcmp(x, "MISSING") ? missing : !strcmp(x, "FOREIGN") ? foreign
                                                : !strcmp(x, "A") ? a : x;
        }
        argv[n] = NULL;
        e2e_spawn_argv(e, &r, argv);
        e2e_reap(&r);
        e2e_expect_rc(&r, 2);
        expect_one_line(&r, "m2pt merge: ", bad[i].needle);
        e2e_free(&r);
    }
    assert_false(e2e_exists(missing));
    r = e2e_run(e, "merge", "--help", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "usage: m2pt merge OUT.db IN.db...");
    e2e_free(&r);
    e->passed = 1;
}

/* ================================================================ 5. m2pt slurm */

static void test_slurm(void **state) {
    e2e_env *e = *state;
    char file[4200], dir[400], db[400], cache[400], script[500], bin[400], link[500], fake[4200], log[400];
    char path[8192];
    data(file, sizeof file, "small.yaml");
    data(fake, sizeof fake, "fake-sbatch");
    e2e_path(dir, sizeof dir, e, "sl");
    e2e_path(db, sizeof db, e, "merged.db");
    e2e_path(cache, sizeof cache, e, "cache");
    e2e_path(bin, sizeof bin, e, "bin");
    e2e_path(log, sizeof log, e, "sbatch.log");
    snprintf(script, sizeof script, "%s/cluster-small.sbatch", dir);

    /* the script alone */
    e2e_result r = e2e_run(e, "slurm", file, "--shards", "2", "--partition", "short", "--array-parallelism", "1",
                           "--cpus-per-task", "1", "--time", "0:10:00", "--dir", dir, "--db", db, "--cache", cache,
                           "--set", "train.lr=0.002", NULL);
    e2e_expect_rc(&r, 0);
    char *text = e2e_slurp(script);
    assert_non_null(text);
    assert_true(strlen(text) > 100);
    e2e_expect_contains(&r, r.out, text); /* printed */
    struct stat st;
    assert_int_equal(stat(script, &st), 0);
    assert_true(st.st_mode & S_IXUSR);
    e2e_expect_contains(NULL, text, "#!/bin/sh\n");
    e2e_expect_contains(NULL, text, "\n#SBATCH --partition=short\n");
    e2e_expect_contains(NULL, text, "\n#SBATCH --cpus-per-task=1\n");
    e2e_expect_contains(NULL, text, "\n#SBATCH --time=0:10:00\n");
    e2e_expect_contains(NULL, text, "threads=\"${SLURM_CPUS_PER_TASK:-1}\"");
    e2e_expect_contains(NULL, text, "--array=1-2%1 ");
    e2e_expect_contains(NULL, text, "--dependency=afterok:$aux --kill-on-invalid-dep=yes");
    e2e_expect_contains(NULL, text, "--dependency=afterok:$tgt --kill-on-invalid-dep=yes");
    e2e_expect_contains(NULL, text, "--set train.lr=0.002");
    e2e_expect_contains(&r, r.out, "auxiliary tasks to run: 1-2; target tasks to run: 1-2");
    free(text);
    e2e_free(&r);
    const char *shn[] = {"/bin/sh", "-n", script, NULL};
    e2e_spawn_argv(e, &r, shn);
    e2e_reap(&r);
    e2e_expect_rc(&r, 0);
    e2e_free(&r);

    /* submitted through the stand-in sbatch, which runs each job at once */
    assert_int_equal(mkdir(bin, 0777), 0);
    snprintf(link, sizeof link, "%s/sbatch", bin);
    char absfake[4200];
    assert_non_null(realpath(fake, absfake));
    assert_int_equal(symlink(absfake, link), 0);
    snprintf(path, sizeof path, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    setenv("FAKE_SBATCH_LOG", log, 1);
    r = e2e_run(e, "slurm", file, "--shards", "2", "--dir", dir, "--db", db, "--cache", cache, "--submit", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "submitted the auxiliary phase: job 1 (tasks 1-2)");
    e2e_expect_contains(&r, r.out, "submitted the target phase: job 2 (tasks 1-2)");
    e2e_expect_contains(&r, r.out, "submitted the merge: job 3");
    e2e_expect_contains(&r, r.out, "job ids: 1 2 3\n");
    char *calls = e2e_slurp(log);
    e2e_expect_contains(NULL, calls, "--array=1-2 --output=");
    e2e_expect_contains(NULL, calls, "--dependency=afterok:1 --kill-on-invalid-dep=yes");
    e2e_expect_contains(NULL, calls, "--dependency=afterok:2 --kill-on-invalid-dep=yes");
    free(calls);
    char logs[600], *states;
    snprintf(logs, sizeof logs, "%s.state", log);
    states = e2e_slurp(logs);
    assert_string_equal(states, "ok 1\nok 2\nok 3\n");
    free(states);
    e2e_free(&r);
    e2e_expect_q(db, 6, "SELECT count(*) FROM runs WHERE status = 'done'");
    e2e_expect_q(db, 2, "SELECT count(*) FROM merge_sources");
    char aux1[500], aux2[500];
    snprintf(aux1, sizeof aux1, "%s/aux-1.out", dir);
    snprintf(aux2, sizeof aux2, "%s/aux-2.out", dir);
    char *l1 = e2e_slurp(aux1), *l2 = e2e_slurp(aux2);
    assert_int_equal(e2e_count(l1, "auxiliary model: image") + e2e_count(l2, "auxiliary model: image"), 2);
    e2e_expect_contains(NULL, l1, "m2pt run: cluster-small: shard 1 of 2");
    free(l1), free(l2);

    /* everything done: resubmitting runs only the merge, which finds nothing new */
    r = e2e_run(e, "slurm", file, "--shards", "2", "--dir", dir, "--db", db, "--cache", cache, "--submit", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "auxiliary tasks to run: none; target tasks to run: none");
    e2e_expect_contains(&r, r.out, "job ids: 4\n");
    e2e_free(&r);

    /* a shard's target cell lost (as if its task had failed): only that shard is submitted */
    char shard2[500];
    snprintf(shard2, sizeof shard2, "%s/shard-2.db", dir);
    {
        sqlite3 *h;
        assert_int_equal(sqlite3_open(shard2, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "UPDATE runs SET status = 'failed', error = 'test' WHERE id ="
                                         " (SELECT max(id) FROM runs WHERE role = 'target')", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    r = e2e_run(e, "slurm", file, "--shards", "2", "--dir", dir, "--db", db, "--cache", cache, "--submit", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "auxiliary tasks to run: none; target tasks to run: 2)");
    e2e_expect_contains(&r, r.out, "submitted the target phase: job 5 (tasks 2)");
    e2e_expect_contains(&r, r.out, "job ids: 5 6\n");
    char out2[500];
    snprintf(out2, sizeof out2, "%s/shard-2.out", dir);
    char *o2 = e2e_slurp(out2);
    assert_int_equal(e2e_count(o2, "done: test acc"), 1); /* the failed cell, alone */
    free(o2);
    e2e_free(&r);
    /* merged again: the rerun cell has the same results, so the merged run stays as it was */
    char mout[500];
    snprintf(mout, sizeof mout, "%s/merge.out", dir);
    char *mo = e2e_slurp(mout);
    e2e_expect_contains(NULL, mo, "shard-1.db: merged before");
    e2e_expect_contains(NULL, mo, "0 added, 0 replaced, ");
    free(mo);
    e2e_expect_q(db, 6, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1");
    e2e_expect_q(db, 3, "SELECT count(*) FROM merge_sources");
    e->passed = 1;
}

/* ================================================================ 6. bad input */

static void test_bad_input(void **state) {
    e2e_env *e = *state;
    char file[4200], db[400], dir[400];
    data(file, sizeof file, "shards.yaml");
    e2e_path(db, sizeof db, e, "x.db");
    e2e_path(dir, sizeof dir, e, "sl");
    static const char *const shards[] = {"0/2", "3/2", "a/b", "1/0", "1/2/3", "", "1/", "/2", "-1/2", "1/20000"};
    for (size_t i = 0; i < sizeof shards / sizeof shards[0]; i++) {
        e2e_result r = e2e_run(e, "run", file, "--shard", shards[i], "--db", db, NULL);
        e2e_expect_rc(&r, 2);
        expect_one_line(&r, "m2pt run: --shard '", "expected K/N");
        e2e_free(&r);
    }
    static const struct {
        const char *opt, *value, *needle;
    } bad[] = {
        {"--shards", "0", "--shards '0' is not an integer from 1"},
        {"--array-parallelism", "x", "--array-parallelism 'x' is not an integer"},
        {"--cpus-per-task", "0", "--cpus-per-task '0' is not an integer"},
        {"--partition", "a b", "--partition 'a b': expected one word"},
        {"--time", "1'", "--time '1'': expected one word"},
        {"--set", "train.lerning_rate=1", "did you mean 'train.lr'?"},
        {"--frobnicate", NULL, "unknown option '--frobnicate'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e2e_result r = bad[i].value ? e2e_run(e, "slurm", file, bad[i].opt, bad[i].value, "--dir", dir, NULL)
                                    : e2e_run(e, "slurm", file, bad[i].opt, "--dir", dir, NULL);
        e2e_expect_rc(&r, 2);
        expect_one_line(&r, "m2pt slurm: ", bad[i].needle);
        e2e_free(&r);
    }
    e2e_result r = e2e_run(e, "slurm", "--dir", dir, NULL);
    e2e_expect_rc(&r, 2);
    expect_one_line(&r, "m2pt slurm: ", "which experiment?");
    e2e_free(&r);
    r = e2e_run(e, "slurm", "--help", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "--array-parallelism M");
    e2e_free(&r);
    r = e2e_run(e, "run", "--help", NULL);
    e2e_expect_contains(&r, r.out, "--shard K/N");
    e2e_free(&r);
    assert_false(e2e_exists(db));
    assert_false(e2e_exists(dir));
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (e2e_init("test_cluster")) return 1;
    char probe[4200];
    data(probe, sizeof probe, "shards.yaml");
    if (!e2e_exists(probe)) {
        fprintf(stderr, "test_cluster: %s is missing (set M2PT_TEST_DATA to the tests directory)\n", probe);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_shards_merge, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_takeover, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_merge_refusals, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_slurm, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, e2e_setup, e2e_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    e2e_kill_leftovers();
    return failed ? 1 : 0;
}
