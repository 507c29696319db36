/* Fault injection: `m2pt run` killed with SIGKILL at random moments, restarted until the grid
 * completes; then nothing is lost, duplicated or half-written, and the numbers are those of an
 * uninterrupted run. Plus the narrow windows random kills rarely hit, reproduced exactly by
 * putting the database in the state such a kill leaves.
 *
 *  1. test_random_kills: tests/faults/grid.yaml (6 target cells + 1 auxiliary) run once
 *     uninterrupted (the reference), then in another directory started and killed (the whole
 *     process group, so -j 2 workers too) after a random delay, M2PT_FAULT_KILLS times (default
 *     3; `make faults-long` sets 25 with a larger grid), every third attempt with -j 2. After
 *     every kill: the database passes its integrity check and every run it calls done has its
 *     summary and a checkpoint that passes its checksum. At the end: every cell done exactly
 *     once; each run's metrics complete, steps strictly increasing, none twice; every
 *     checkpoint's file, size and CRC32 as recorded; no temporary files; and every summary value,
 *     every metric (timings aside) and every tensor of every checkpoint equal to the reference
 *     run's. M2PT_FAULT_SEED reproduces a sequence of delays (the seed is printed).
 *  2. test_killed_before_finish: an auxiliary and a target run killed after their checkpoint
 *     was in place but before their finishing transaction: the next run recovers them from the
 *     checkpoints, keeping the metrics they logged, and trains nothing again (the auxiliary run
 *     used to lose its metrics, the target run was trained again).
 *  3. test_pid_reused: a stale run whose pid now belongs to another (newer) live process is
 *     restarted; it used to count as busy forever, and `m2pt run` waited for it forever.
 *
 * A failed test keeps its directory (the path is printed); M2PT_KEEP_TMP=1 keeps them all. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "blas.h"
#include "checkpoint.h"
#include "support/proc.h"

static char gridfile[4200];

/* Timing metrics differ between runs; everything else must be equal. */
#define TIMING_KEYS "('samples_per_s', 'epoch_seconds')"

/* ================================================================ checks */

/* The run's checkpoint: present, of the recorded size and CRC32, opens (the full check). */
static void expect_checkpoint_ok(const char *path, long long bytes, const char *checksum) {
    size_t len = 0;
    char *buf = t_slurp(path, &len);
    assert_non_null(buf);
    if ((long long)len != bytes || len < 16) {
        print_error("%s: %zu bytes, the database says %lld\n", path, len, bytes);
        free(buf);
        fail();
    }
    unsigned long crc = crc32(0L, (const Bytef *)buf, (uInt)(len - 8));
    unsigned stored = (unsigned char)buf[len - 8] | (unsigned char)buf[len - 7] << 8 |
                      (unsigned char)buf[len - 6] << 16 | (unsigned)(unsigned char)buf[len - 5] << 24;
    char want[32];
    snprintf(want, sizeof want, "crc32:%08lx", crc);
    free(buf);
    if (stored != (unsigned)crc || strcmp(checksum, want)) {
        print_error("%s: CRC32 of the file %s, footer %08x, database %s\n", path, want, stored, checksum);
        fail();
    }
    m2pt_checkpoint c;
    char err[512];
    if (m2pt_checkpoint_open(&c, path, err, sizeof err)) {
        print_error("%s\n", err);
        fail();
    }
    m2pt_checkpoint_close(&c);
}

/* What a database may say at any moment: an intact file, and every run it calls done has its
 * summary and a checkpoint that passes its checksum. Returns how many runs are done. A kill
 * before the schema's transaction committed leaves a database with no tables at all (the next
 * run creates them); anything else must have the whole schema. */
static int expect_consistent(const char *db) {
    t_expect_integrity(db);
    if (t_qi(db, "SELECT count(*) FROM sqlite_master") == 0) {
        t_expect_q(db, 0, "PRAGMA user_version");
        return 0;
    }
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r WHERE r.status = 'done' AND (r.finished IS NULL OR r.error IS NOT NULL"
               " OR NOT EXISTS (SELECT 1 FROM summary s WHERE s.run_id = r.id)"
               " OR NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.run_id = r.id))");
    t_expect_q(db, 0, "SELECT count(*) FROM summary s JOIN runs r ON r.id = s.run_id WHERE r.status <> 'done'");
    char *d = t_qdump(db, "SELECT a.path, a.bytes, a.checksum FROM artifacts a JOIN runs r ON r.id = a.run_id "
                          "WHERE r.status = 'done' ORDER BY r.id");
    int n = 0;
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n")) {
        char path[1024], sum[64];
        long long bytes;
        char *b1 = strchr(line, '|'), *b2 = b1 ? strchr(b1 + 1, '|') : NULL;
        assert_non_null(b2);
        snprintf(path, sizeof path, "%.*s", (int)(b1 - line), line);
        bytes = atoll(b1 + 1);
        snprintf(sum, sizeof sum, "%.*s", (int)strcspn(b2 + 1, ";"), b2 + 1);
        expect_checkpoint_ok(path, bytes, sum);
        n++;
    }
    free(d);
    return n;
}

/* Each run's metrics: no (key, step) twice, and steps strictly increasing in the order they
 * were written, for every key. */
static void expect_metrics_ordered(const char *db) {
    t_expect_q(db, 0,
               "SELECT count(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step "
               "HAVING count(*) > 1)");
    t_expect_q(db, 0,
               "SELECT count(*) FROM metrics a JOIN metrics b ON a.run_id = b.run_id AND a.key = b.key "
               "AND a.rowid < b.rowid AND a.step >= b.step");
}

/* Each done run logged every step (1..S, S = steps per epoch x epochs) and every epoch. */
static void expect_metrics_complete(const char *db) {
    /* per step: steps 1..S without a gap; per epoch: epochs 1..E, the last at step S */
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r WHERE r.status = 'done' AND NOT EXISTS (SELECT 1 FROM"
               " (SELECT count(*) AS n, min(step) AS lo, max(step) AS hi FROM metrics"
               "  WHERE run_id = r.id AND key = 'train_loss_step') m"
               " WHERE m.n > 0 AND m.lo = 1 AND m.hi = m.n)");
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r JOIN summary s ON s.run_id = r.id WHERE r.status = 'done' AND"
               " (SELECT count(DISTINCT epoch) FROM metrics WHERE run_id = r.id AND key = 'val_acc') <> s.epochs_done"
               " OR (SELECT max(step) FROM metrics WHERE run_id = r.id AND key = 'val_acc') <>"
               "    (SELECT max(step) FROM metrics WHERE run_id = r.id AND key = 'train_loss_step')");
    t_expect_q(db, 0,
               "SELECT count(*) FROM runs r JOIN summary s ON s.run_id = r.id WHERE r.status = 'done' AND"
               " s.epochs_done <> CAST(json_extract(r.config, '$.train.epochs') AS INTEGER)");
}

/* Rows of `sql` (over the faulted database, with the reference attached as ref) must be empty. */
static void expect_none(const char *db, const char *ref, const char *what, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    char *attach = sqlite3_mprintf("ATTACH %Q AS ref", ref);
    assert_int_equal(sqlite3_exec(h, attach, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(attach);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(h));
        fail();
    }
    int rows = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ < 10) {
            print_error("%s differs:", what);
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                const unsigned char *t = sqlite3_column_text(st, i);
                print_error(" %s", t ? (const char *)t : "NULL");
            }
            print_error("\n");
        }
    }
    assert_int_equal(s, SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    if (rows) {
        print_error("%d rows: %s differs from the uninterrupted run\n", rows, what);
        fail();
    }
}

/* The faulted database holds the same runs, summaries and metrics (timings aside) as the
 * reference, and the same checkpoint tensors. */
static void expect_same_numbers(const char *db, const char *ref) {
    static const char *const metrics_one_way =
        "SELECT r.cell_hash, m.key, m.step, m.epoch, m.value FROM %s.metrics m JOIN %s.runs r ON r.id = m.run_id"
        " WHERE m.key NOT IN " TIMING_KEYS;
    char sql[4096], a[1024], b[1024];
    snprintf(a, sizeof a, metrics_one_way, "main", "main");
    snprintf(b, sizeof b, metrics_one_way, "ref", "ref");
    snprintf(sql, sizeof sql, "%s EXCEPT %s", a, b);
    expect_none(db, ref, "a metric", sql);
    snprintf(sql, sizeof sql, "%s EXCEPT %s", b, a);
    expect_none(db, ref, "a metric (missing)", sql);
    static const char *const runs_one_way =
        "SELECT r.cell_hash, r.role, r.status, r.pathway, r.seed, s.best_val_acc, s.last_val_acc, s.test_acc,"
        " s.test_acc_unmerged, s.test_loss, s.params_trainable, s.params_inference, s.epochs_done,"
        " (SELECT count(*) FROM %s.metrics m WHERE m.run_id = r.id)"
        " FROM %s.runs r LEFT JOIN %s.summary s ON s.run_id = r.id";
    snprintf(a, sizeof a, runs_one_way, "main", "main", "main");
    snprintf(b, sizeof b, runs_one_way, "ref", "ref", "ref");
    snprintf(sql, sizeof sql, "%s EXCEPT %s", a, b);
    expect_none(db, ref, "a run or its summary", sql);
    snprintf(sql, sizeof sql, "%s EXCEPT %s", b, a);
    expect_none(db, ref, "a run or its summary (missing)", sql);

    /* checkpoints: every tensor bit for bit */
    char *d = t_qdump(db, "SELECT r.cell_hash, a.path FROM artifacts a JOIN runs r ON r.id = a.run_id ORDER BY 1");
    int n = 0;
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n"), n++) {
        char hash[17], path[1024];
        snprintf(hash, sizeof hash, "%.16s", line);
        snprintf(path, sizeof path, "%.*s", (int)strcspn(line + 17, ";"), line + 17);
        char *rp = t_qdump(ref, "SELECT a.path FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.cell_hash = %Q",
                           hash);
        rp[strcspn(rp, ";")] = '\0';
        m2pt_checkpoint x, y;
        char err[512];
        if (m2pt_checkpoint_open(&x, path, err, sizeof err) || m2pt_checkpoint_open(&y, rp, err, sizeof err)) {
            print_error("%s\n", err);
            fail();
        }
        assert_int_equal(x.n, y.n);
        for (int i = 0; i < x.n; i++) {
            const m2pt_checkpoint_entry *t = &x.tensors[i], *u = m2pt_checkpoint_find(&y, t->name);
            assert_non_null(u);
            assert_int_equal(t->numel, u->numel);
            if (memcmp(t->data, u->data, t->numel * sizeof(float))) {
                print_error("%s: tensor %s differs from the uninterrupted run's (%s)\n", path, t->name, rp);
                fail();
            }
        }
        m2pt_checkpoint_close(&x), m2pt_checkpoint_close(&y);
        free(rp);
    }
    free(d);
    assert_true(n > 0);
}

static void expect_no_temp_files(const char *cache) {
    const char *subs[] = {"runs", "aux"};
    for (int i = 0; i < 2; i++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", cache, subs[i]);
        int n = t_count_files(dir, ".tmp.");
        if (n > 0) {
            print_error("%d temporary file(s) left in %s\n", n, dir);
            fail();
        }
    }
}

/* ================================================================ 1. random kills */

static uint64_t rng_state;
static double uniform(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static void test_random_kills(void **state) {
    t_env *e = *state;
    const long kills_wanted = env_long("M2PT_FAULT_KILLS", 3);
    const char *seeds = getenv("M2PT_FAULT_GRID_SEEDS"); /* e.g. "[0,1,2,3,4,5,6,7]" */
    char set_seeds[256] = "";
    if (seeds && *seeds) snprintf(set_seeds, sizeof set_seeds, "grid.seed=%s", seeds);
    rng_state = (uint64_t)env_long("M2PT_FAULT_SEED", (long)time(NULL) ^ (long)getpid());
    printf("fault seed %llu (M2PT_FAULT_SEED reproduces the delays), %ld kills\n", (unsigned long long)rng_state,
           kills_wanted);

    char ref[400], refcache[400];
    snprintf(ref, sizeof ref, "%s/ref.db", e->dir);
    snprintf(refcache, sizeof refcache, "%s/refcache", e->dir);
    /* the reference: the same grid, uninterrupted */
    double t0 = t_now();
    t_proc r = *set_seeds ? t_run(e, NULL, "run", gridfile, "--set", set_seeds, "--db", ref, "--cache", refcache,
                                  "--threads", "1", "--quiet", NULL)
                          : t_run(e, NULL, "run", gridfile, "--db", ref, "--cache", refcache, "--threads", "1",
                                  "--quiet", NULL);
    t_expect_rc(&r, 0);
    const double t_ref = t_now() - t0;
    t_free(&r);
    const long long cells = t_qi(ref, "SELECT count(*) FROM runs");
    printf("reference: %lld runs in %.1f s\n", cells, t_ref);
    expect_consistent(ref);
    expect_metrics_ordered(ref);
    expect_metrics_complete(ref);

    /* the faulted run: killed after a random delay, again and again, then run to the end */
    long kills = 0, attempts = 0;
    e->quiet = 1;
    double spent = 0;
    for (;;) {
        attempts++;
        const int jobs = kills < kills_wanted && kills % 3 == 1; /* -j 2 every third attempt */
        const char *argv[16];
        int n = 0;
        argv[n++] = "run", argv[n++] = gridfile;
        if (*set_seeds) argv[n++] = "--set", argv[n++] = set_seeds;
        argv[n++] = "--db", argv[n++] = e->db, argv[n++] = "--cache", argv[n++] = e->cache, argv[n++] = "--quiet";
        if (jobs) argv[n++] = "-j", argv[n++] = "2", argv[n++] = "--threads", argv[n++] = "2";
        else argv[n++] = "--threads", argv[n++] = "1";
        argv[n] = NULL;
        t_proc p;
        t_spawn(e, &p, NULL, argv);
        if (kills >= kills_wanted) { /* the last run: to the end */
            t_reap(&p, T_TIMEOUT + 4 * t_ref);
            t_expect_rc(&p, 0);
            t_free(&p);
            break;
        }
        /* up to ~half the remaining work (start-up included), at least 20 ms */
        long long done = 0;
        char err[512];
        if (t_exists(e->db)) t_qtry(e->db, &done, "SELECT count(*) FROM runs WHERE status = 'done'", err, sizeof err);
        double left = t_ref * (double)(cells - done) / (double)cells;
        double hi = left * 0.6 < 0.3 ? 0.3 : left * 0.6 > 2.5 ? 2.5 : left * 0.6;
        double delay = 0.02 + uniform() * hi, ts = t_now();
        int exited = 0;
        while (t_now() - ts < delay && !(exited = t_try_reap(&p))) t_sleep_ms(1);
        if (exited) {
            t_reap(&p, 0);
            t_expect_rc(&p, 0);
            t_free(&p);
            print_error("the grid completed after %ld of %ld kills: make it larger (M2PT_FAULT_GRID_SEEDS)\n", kills,
                        kills_wanted);
            fail();
        }
        assert_int_equal(kill(-p.pid, SIGKILL), 0);
        t_reap(&p, T_TIMEOUT);
        if (p.rc != 128 + SIGKILL) {
            t_show(&p);
            fail_msg("exit status %d after SIGKILL", p.rc);
        }
        t_free(&p);
        kills++;
        spent += delay;
        /* whatever the moment, the database is intact and says nothing false */
        int ndone = t_exists(e->db) ? expect_consistent(e->db) : 0;
        if (getenv("M2PT_TEST_VERBOSE"))
            printf("kill %ld after %.3f s%s: %d runs done\n", kills, delay, jobs ? " (-j 2)" : "", ndone);
    }
    e->quiet = 0;
    printf("%ld kills in %ld attempts (%.1f s of running before the kills), then completed\n", kills, attempts, spent);
    assert_true(kills >= kills_wanted);

    /* every cell done exactly once, everything intact, the same numbers as without faults */
    t_expect_q(e->db, cells, "SELECT count(*) FROM runs");
    t_expect_q(e->db, cells, "SELECT count(*) FROM runs WHERE status = 'done' AND error IS NULL");
    t_expect_q(e->db, cells, "SELECT count(DISTINCT cell_hash) FROM runs");
    t_expect_q(e->db, cells, "SELECT count(*) FROM experiment_runs er JOIN experiments x ON x.id = er.experiment_id"
                             " WHERE x.name = 'faults'");
    t_expect_q(e->db, cells, "SELECT count(*) FROM summary");
    assert_int_equal(expect_consistent(e->db), (int)cells);
    expect_metrics_ordered(e->db);
    expect_metrics_complete(e->db);
    expect_same_numbers(e->db, ref);
    expect_no_temp_files(e->cache);
    /* a further run trains nothing */
    t_proc again = *set_seeds ? t_run(e, NULL, "run", gridfile, "--set", set_seeds, "--db", e->db, "--cache", e->cache,
                                      "--threads", "1", NULL)
                              : t_run(e, NULL, "run", gridfile, "--db", e->db, "--cache", e->cache, "--threads", "1",
                                      NULL);
    t_expect_in(&again, again.out, "all cells done");
    t_expect_rc(&again, 0);
    t_expect_not_in(&again, again.out, "epoch ");
    t_free(&again);
    e->passed = 1;
}

/* ================================================================ 2. killed before finish */

/* Runs tests/grid/tiny.yaml (1 auxiliary + 2 reparam target runs) into the test's database. */
static void run_tiny(t_env *e, const char *expect_out, const char *expect_absent) {
    char file[4200];
    snprintf(file, sizeof file, "%s/grid/tiny.yaml", t_data);
    t_proc r = t_run(e, NULL, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    t_expect_rc(&r, 0);
    if (expect_out) t_expect_in(&r, r.out, expect_out);
    if (expect_absent) t_expect_not_in(&r, r.out, expect_absent);
    t_free(&r);
}

/* A pid that is not running (a child that exited). */
static long dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    assert_true(p > 0);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    return (long)p;
}

/* Puts run `id` back in the state a SIGKILL between the checkpoint's rename and the finishing
 * transaction leaves: 'running', by a process that is gone (its pid as recorded), no summary,
 * no artifact; metrics and the checkpoint file as they were. */
static void unfinish(const char *db, long long id) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; UPDATE runs SET status = 'running', finished = NULL WHERE id = %lld;"
             " DELETE FROM summary WHERE run_id = %lld; DELETE FROM artifacts WHERE run_id = %lld; COMMIT",
             id, id, id);
    t_exec(db, sql);
}

typedef struct {
    long long id, metrics;
    char *metrics_text, *summary, *artifact;
} run_snap;

static void snap(const char *db, long long id, run_snap *r) {
    r->id = id;
    r->metrics = t_qi(db, "SELECT count(*) FROM metrics WHERE run_id = %lld", id);
    r->metrics_text = t_qdump(db, "SELECT key, step, epoch, value FROM metrics WHERE run_id = %lld ORDER BY rowid", id);
    r->summary = t_qdump(db,
                         "SELECT best_val_acc, last_val_acc, test_acc, test_acc_unmerged, test_loss,"
                         " params_trainable, params_inference, epochs_done FROM summary WHERE run_id = %lld", id);
    r->artifact = t_qdump(db, "SELECT path, bytes, checksum FROM artifacts WHERE run_id = %lld", id);
}

static void snap_free(run_snap *r) { free(r->metrics_text), free(r->summary), free(r->artifact); }

/* An auxiliary and a target run, both killed between their checkpoint's rename and their
 * finishing transaction. */
static void test_killed_before_finish(void **state) {
    t_env *e = *state;
    run_tiny(e, NULL, NULL);
    run_snap r[2];
    snap(e->db, t_qi(e->db, "SELECT min(id) FROM runs WHERE role = 'auxiliary'"), &r[0]);
    snap(e->db, t_qi(e->db, "SELECT min(id) FROM runs WHERE role = 'target'"), &r[1]);
    for (int i = 0; i < 2; i++) {
        assert_true(r[i].metrics > 10);
        /* the process that trained them has exited: its pid is not alive */
        long long pid = t_qi(e->db, "SELECT pid FROM runs WHERE id = %lld", r[i].id);
        assert_true(kill((pid_t)pid, 0) == -1 && errno == ESRCH);
        unfinish(e->db, r[i].id);
    }
    expect_consistent(e->db);

    /* the next run finds the checkpoints those attempts wrote: done, with everything they
     * logged, and nothing trained again */
    run_tiny(e, "all cells done", "epoch ");
    for (int i = 0; i < 2; i++) {
        run_snap a;
        t_expect_q(e->db, 1, "SELECT status = 'done' AND attempt = 1 AND error IS NULL FROM runs WHERE id = %lld",
                   r[i].id);
        snap(e->db, r[i].id, &a);
        assert_int_equal(a.metrics, r[i].metrics);
        assert_string_equal(a.metrics_text, r[i].metrics_text);
        assert_string_equal(a.summary, r[i].summary);
        assert_string_equal(a.artifact, r[i].artifact);
        snap_free(&a);
    }
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1");
    expect_consistent(e->db);
    expect_metrics_complete(e->db);

    /* a checkpoint written by another attempt (another pid) is not adopted: the runs restart
     * (the auxiliary one is imported from its checkpoint, the target one trained again) */
    char sql[200];
    for (int i = 0; i < 2; i++) {
        unfinish(e->db, r[i].id);
        snprintf(sql, sizeof sql, "UPDATE runs SET pid = %ld WHERE id = %lld", dead_pid(), r[i].id);
        t_exec(e->db, sql);
    }
    run_tiny(e, "all cells done", NULL);
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE status = 'done' AND error IS NULL AND attempt = 2");
    t_expect_q(e->db, r[1].metrics, "SELECT count(*) FROM metrics WHERE run_id = %lld", r[1].id);
    expect_consistent(e->db);
    expect_metrics_ordered(e->db);
    snap_free(&r[0]), snap_free(&r[1]);
    e->passed = 1;
}

/* ================================================================ 3. a reused pid */

static void test_pid_reused(void **state) {
    t_env *e = *state;
    run_tiny(e, NULL, NULL);
    long long id = t_qi(e->db, "SELECT max(id) FROM runs WHERE role = 'target'");
    long long metrics = t_qi(e->db, "SELECT count(*) FROM metrics WHERE run_id = %lld", id);
    /* a run claimed long ago, whose process died; its pid now belongs to an unrelated process
     * started much later (here: a child of the test, sleeping) */
    pid_t other = fork();
    if (other == 0) {
        execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    assert_true(other > 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; UPDATE runs SET status = 'running', finished = NULL, pid = %d, started = '2020-01-02 03:04:05.678'"
             " WHERE id = %lld; DELETE FROM summary WHERE run_id = %lld; DELETE FROM artifacts WHERE run_id = %lld;"
             " COMMIT",
             (int)other, id, id, id);
    t_exec(e->db, sql);
    /* the run must not wait for that process: restarted, done */
    char file[4200];
    snprintf(file, sizeof file, "%s/grid/tiny.yaml", t_data);
    t_proc p;
    const char *argv[] = {"run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL};
    t_spawn(e, &p, NULL, argv);
    double t0 = t_now();
    while (!t_try_reap(&p) && t_now() - t0 < 30) t_sleep_ms(10);
    int finished = p.reaped;
    if (!finished) {
        kill(-p.pid, SIGKILL);
        t_reap(&p, T_TIMEOUT);
    }
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    if (!finished) {
        t_show(&p);
        fail_msg("m2pt run still waits after 30 s for a run whose pid belongs to another, newer process");
    }
    t_expect_rc(&p, 0);
    t_free(&p);
    t_expect_q(e->db, 1, "SELECT status = 'done' AND attempt = 2 FROM runs WHERE id = %lld", id);
    t_expect_q(e->db, metrics, "SELECT count(*) FROM metrics WHERE run_id = %lld", id);
    expect_consistent(e->db);

    /* and a live process that started before the claim still owns its run: busy. The claim
     * below is this test's (started now, by a process that started earlier): a second claimant
     * must see it busy and leave it alone. */
    snprintf(sql, sizeof sql,
             "UPDATE runs SET status = 'running', finished = NULL, pid = %d, started = strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
             " WHERE id = %lld",
             (int)getpid(), id);
    t_exec(e->db, sql);
    const char *argv2[] = {"run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL};
    t_spawn(e, &p, NULL, argv2);
    t_sleep_ms(2500);
    assert_false(t_try_reap(&p)); /* waiting for the live owner */
    t_expect_q(e->db, 1, "SELECT status = 'running' AND attempt = 2 FROM runs WHERE id = %lld", id);
    kill(-p.pid, SIGKILL);
    t_reap(&p, T_TIMEOUT);
    t_free(&p);
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (t_init("test_faults")) return 1;
    /* Workers of a killed `-j 2` run outlive their parent for a moment and are reparented. Made
     * this process's children, they stay zombies until the end, as under a container init that
     * does not reap (CI's did): a zombie's pid in a 'running' row must count as gone. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
        perror("test_faults: prctl(PR_SET_CHILD_SUBREAPER)");
        return 1;
    }
    snprintf(gridfile, sizeof gridfile, "%s/faults/grid.yaml", t_data);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_kills, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_killed_before_finish, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_pid_reused, t_setup, t_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    t_kill_all();
    while (waitpid(-1, NULL, WNOHANG) > 0) { /* the orphans adopted above */
    }
    return failed ? 1 : 0;
}
