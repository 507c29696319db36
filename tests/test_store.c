/* The result store (harness/src/store.c), its statistics (stats.c) and the read-side commands
 * (harness/cli/cmd_results.c):
 *  - schema creation, user_version, WAL, refusal of newer schemas and foreign databases;
 *  - claim semantics: RUN, DONE (still linked to the asking experiment), BUSY for a live
 *    process, restart of a stale 'running' row (a pid that exited), of failed and interrupted
 *    runs, and --force; everything a restarted run had logged is deleted;
 *  - metrics + finish -> the results view, params flattened from the config, the epochs and
 *    lambdas views; a run is never done before its finishing transaction commits (a failing
 *    artifact insert rolls the whole finish back);
 *  - read-only: the store refuses writes, a bad directory is a clear error;
 *  - two processes creating the same database, claiming the same cells and appending metrics:
 *    no error surfaces, no row is lost or duplicated, every cell runs exactly once;
 *  - statistics against values computed by hand from textbook t quantiles;
 *  - compare on a hand-built database (groups, baseline pairing by seed, --baseline, table
 *    and csv);
 *  - the CLI binary ($M2PT_BUILD/m2pt, default build/m2pt): exit codes and messages of query
 *    (a write refused), ls, show, compare, export and a missing database.
 * Everything happens in a mkdtemp directory, removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
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

#include "stats.h"
#include "store.h"
#include "table.h"

static char tmpdir[512];
static char err[2048];

/* ================================================================ fixtures */

/* A hand-built cell: the json and the axes live beside it. */
typedef struct {
    m2pt_cell c;
    char json[1024];
    const char *keys[4], *vals[4];
    char seedtxt[24], dimtxt[24];
} tcell;

/* A target (aux != NULL: with an auxiliary modality) or auxiliary cell. Axes: pathway.name,
 * seed, and model.dim when dim != 64. */
static void mk(tcell *t, const char *hash, m2pt_role role, const char *modality, const char *pathway,
               const char *aux, unsigned seed, int dim) {
    memset(t, 0, sizeof *t);
    snprintf(t->c.hash, sizeof t->c.hash, "%s", hash);
    t->c.role = role;
    t->c.modality = modality;
    t->c.pathway = role == M2PT_ROLE_AUXILIARY ? "baseline" : pathway;
    t->c.aux_modality = role == M2PT_ROLE_TARGET ? aux : NULL;
    t->c.aux = -1;
    t->c.seed = seed;
    t->c.shape = (m2pt_shape){dim, 4, 4, 4};
    snprintf(t->json, sizeof t->json,
             "{\"role\":\"%s\",\"model\":{\"dim\":%d,\"depth\":4},\"train\":{\"lr\":0.001,\"augment\":true},"
             "\"target\":{\"modality\":\"%s\",\"data\":{\"name\":\"caf\\u00e9 \\\"q\\\"\"}},"
             "\"pathway\":{\"name\":\"%s\",\"layers\":[\"qkv\",\"fc1\"]}%s%s%s,\"seed\":%u,\"note\":null}",
             role == M2PT_ROLE_AUXILIARY ? "auxiliary" : "target", dim, modality, t->c.pathway,
             aux ? ",\"auxiliary\":{\"modality\":\"" : "", aux ? aux : "", aux ? "\"}" : "", seed);
    t->c.json = t->json;
    snprintf(t->seedtxt, sizeof t->seedtxt, "%u", seed);
    snprintf(t->dimtxt, sizeof t->dimtxt, "%d", dim);
    t->keys[0] = "pathway.name", t->vals[0] = t->c.pathway;
    t->keys[1] = "seed", t->vals[1] = t->seedtxt;
    t->keys[2] = "model.dim", t->vals[2] = t->dimtxt;
    t->c.naxes = dim != 64 ? 3 : 2;
    t->c.axis_keys = t->keys;
    t->c.axis_values = t->vals;
}

static m2pt_experiment mkexp(const char *name, tcell *cells, int n) {
    static m2pt_cell copies[8][64];
    static int used;
    m2pt_cell *cc = copies[used++ % 8];
    for (int i = 0; i < n && i < 64; i++) cc[i] = cells[i].c;
    m2pt_experiment e;
    memset(&e, 0, sizeof e);
    e.name = (char *)name;
    e.description = (char *)"a test experiment";
    e.path = (char *)"tests/exp.yaml";
    e.text = (char *)"name: test\ngrid: {pathway.name: [baseline, reparam], seed: [0, 1]}\n";
    e.cells = cc;
    e.ncells = e.ntargets = n;
    return e;
}

static const m2pt_provenance prov = {"abc1234-dirty", 1, NULL, "0.1.0", "{\"image\":\"1.0.0\"}"};

static void db_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static m2pt_store *open_rw(const char *name) {
    char p[1024];
    db_path(p, sizeof p, name);
    m2pt_store *s = NULL;
    if (m2pt_store_open(&s, p, 0, err, sizeof err)) print_error("open %s: %s\n", p, err);
    assert_non_null(s);
    return s;
}

static int64_t add_exp(m2pt_store *s, const m2pt_experiment *e) {
    int64_t id = 0;
    if (m2pt_store_experiment(s, e, &id, err, sizeof err)) print_error("%s\n", err);
    assert_true(id > 0);
    return id;
}

static m2pt_claim claim(m2pt_store *s, int64_t exp, const tcell *t, int force, int64_t *run) {
    m2pt_claim c = (m2pt_claim)-1;
    int rc = m2pt_store_claim(s, exp, &t->c, 0, force, &prov, run, &c, err, sizeof err);
    if (rc) print_error("claim %s: %s\n", t->c.hash, err);
    assert_int_equal(rc, 0);
    return c;
}

static m2pt_summary summary(double test_acc) {
    return (m2pt_summary){.best_val_acc = test_acc + 0.01, .last_val_acc = test_acc, .test_acc = test_acc,
                          .test_acc_unmerged = test_acc, .test_loss = 0.5, .params_trainable = 123456,
                          .params_inference = 900, .train_seconds = 12.5, .wall_seconds = 13, .epochs_done = 2};
}

static void finish(m2pt_store *s, int64_t run, double test_acc) {
    m2pt_summary sum = summary(test_acc);
    int rc = m2pt_store_finish(s, run, &sum, "/tmp/x.ckpt", 1234, "crc32:deadbeef", err, sizeof err);
    if (rc) print_error("finish: %s\n", err);
    assert_int_equal(rc, 0);
}

/* First column of the first row as an integer (-1 when no row), and as text. */
static long long q_int(sqlite3 *db, const char *fmt, ...) {
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
        fail();
    }
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static const char *q_text(sqlite3 *db, const char *fmt, ...) {
    static char out[4096];
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
        fail();
    }
    const unsigned char *t = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    snprintf(out, sizeof out, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    return out;
}

static double q_real(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    double v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? sqlite3_column_double(st, 0)
                                                                                          : NAN;
    sqlite3_finalize(st);
    return v;
}

static void exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        fail();
    }
}

/* The pid of a process that has exited (and been reaped). */
static pid_t dead_pid(void) {
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) _exit(0);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    return p;
}

/* ================================================================ schema */

static void test_schema(void **state) {
    (void)state;
    char p[1024];
    db_path(p, sizeof p, "a/b/schema.db"); /* directories are created */
    m2pt_store *s = NULL;
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), 0);
    sqlite3 *db = m2pt_store_db(s);
    assert_int_equal(q_int(db, "PRAGMA user_version"), M2PT_STORE_SCHEMA);
    assert_string_equal(q_text(db, "PRAGMA journal_mode"), "wal");
    const char *tables[] = {"experiments", "runs", "experiment_runs", "experiment_axes", "params", "metrics", "summary",
                            "artifacts"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", tables[i]),
                         1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' AND "
                               "sql LIKE '%%(run_id, key)%%'"),
                     1);
    /* the view has the promised columns */
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT run_id, experiment, role, status, target_modality, "
                               "aux_modality, pathway, seed, val_acc, test_acc, train_seconds FROM results)"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT run_id, epoch, train_loss, val_acc FROM epochs)"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT run_id, epoch, block, linear, value FROM lambdas)"), 0);
    m2pt_store_close(s);
    /* reopening keeps the version; read-only opens too */
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), 0);
    assert_int_equal(q_int(m2pt_store_db(s), "PRAGMA user_version"), M2PT_STORE_SCHEMA);
    m2pt_store_close(s);
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), 0);
    m2pt_store_close(s);

    /* a newer schema is refused, read-write and read-only */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    exec(raw, "PRAGMA user_version = 99");
    sqlite3_close(raw);
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), -1);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, p));
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));

    /* a database that is not ours is not touched */
    db_path(p, sizeof p, "foreign.db");
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    exec(raw, "CREATE TABLE foo(x)");
    sqlite3_close(raw);
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an m2pt"));
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an m2pt"));

    /* a file that is not a database at all */
    db_path(p, sizeof p, "garbage.db");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++) fputc('x', f);
    fclose(f);
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);

    /* what a process killed before its schema transaction committed leaves: a file of no
     * bytes, or one with WAL mode set and no tables. Read-only: nothing there yet, said so;
     * read-write: the schema is created as for a new file. */
    for (int wal = 0; wal < 2; wal++) {
        db_path(p, sizeof p, wal ? "killed_wal.db" : "killed_empty.db");
        if (wal) {
            assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
            assert_string_equal(q_text(raw, "PRAGMA journal_mode = WAL"), "wal");
            sqlite3_close(raw);
        } else {
            f = fopen(p, "wb");
            assert_non_null(f);
            fclose(f);
        }
        assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);
        assert_non_null(strstr(err, "empty database"));
        assert_non_null(strstr(err, p));
        assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), 0);
        assert_int_equal(q_int(m2pt_store_db(s), "PRAGMA user_version"), M2PT_STORE_SCHEMA);
        assert_int_equal(q_int(m2pt_store_db(s), "SELECT count(*) FROM runs"), 0);
        m2pt_store_close(s);
    }

    /* read-only open of nothing */
    db_path(p, sizeof p, "absent.db");
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "no database"));
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0); /* not created */
}

/* ================================================================ claims */

static void test_claim_run_done_busy_force(void **state) {
    (void)state;
    m2pt_store *s = open_rw("claim.db");
    sqlite3 *db = m2pt_store_db(s);
    tcell a;
    mk(&a, "00000000000000a1", M2PT_ROLE_TARGET, "image", "reparam", "point", 0, 64);
    m2pt_experiment e1 = mkexp("e1", &a, 1), e2 = mkexp("e2", &a, 1);
    int64_t x1 = add_exp(s, &e1), x2 = add_exp(s, &e2), run = 0, run2 = 0;
    assert_int_not_equal(x1, x2);
    assert_int_equal(add_exp(s, &e1), x1); /* recorded once, updated */

    assert_int_equal(claim(s, x1, &a, 0, &run), M2PT_CLAIM_RUN);
    assert_true(run > 0);
    assert_string_equal(q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run), "running");
    assert_int_equal(q_int(db, "SELECT attempt FROM runs WHERE id = %lld", (long long)run), 1);
    assert_int_equal(q_int(db, "SELECT pid FROM runs WHERE id = %lld", (long long)run), getpid());
    assert_string_equal(q_text(db, "SELECT git FROM runs WHERE id = %lld", (long long)run), "abc1234-dirty");
    assert_int_equal(q_int(db, "SELECT git_dirty FROM runs WHERE id = %lld", (long long)run), 1);
    assert_string_equal(q_text(db, "SELECT experiment_text FROM runs WHERE id = %lld", (long long)run), e1.text);
    assert_int_equal(m2pt_store_done_run(s, a.c.hash), 0);

    /* this process is alive and runs it: busy (and linked to the asking experiment) */
    assert_int_equal(claim(s, x2, &a, 0, &run2), M2PT_CLAIM_BUSY);
    assert_int_equal(run2, run);
    assert_int_equal(q_int(db, "SELECT count(*) FROM experiment_runs WHERE run_id = %lld", (long long)run), 2);
    /* force does not take a live run away */
    assert_int_equal(claim(s, x1, &a, 1, &run2), M2PT_CLAIM_BUSY);

    m2pt_metric m[2] = {{"lr", 1, 0, 1e-3, 0.1}, {"val_acc", 10, 1, 0.5, 1.0}};
    assert_int_equal(m2pt_store_metrics(s, run, m, 2, err, sizeof err), 0);
    finish(s, run, 0.75);
    assert_int_equal(m2pt_store_done_run(s, a.c.hash), run);
    assert_int_equal(claim(s, x1, &a, 0, &run2), M2PT_CLAIM_DONE);
    assert_int_equal(run2, run);
    assert_int_equal(claim(s, x2, &a, 0, &run2), M2PT_CLAIM_DONE);
    assert_int_equal(q_int(db, "SELECT count(*) FROM results WHERE run_id = %lld", (long long)run), 2);
    /* metrics after done are refused */
    assert_int_equal(m2pt_store_metrics(s, run, m, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "not running"));

    /* forced: a new attempt, everything logged before is gone */
    assert_int_equal(claim(s, x1, &a, 1, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(run2, run);
    assert_int_equal(q_int(db, "SELECT attempt FROM runs WHERE id = %lld", (long long)run), 2);
    assert_string_equal(q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run), "running");
    assert_int_equal(q_int(db, "SELECT count(*) FROM metrics WHERE run_id = %lld", (long long)run), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM summary WHERE run_id = %lld", (long long)run), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM artifacts WHERE run_id = %lld", (long long)run), 0);
    assert_true(q_int(db, "SELECT count(*) FROM params WHERE run_id = %lld", (long long)run) > 5);
    assert_string_equal(q_text(db, "SELECT finished IS NULL FROM runs WHERE id = %lld", (long long)run), "1");
    assert_int_equal(m2pt_store_done_run(s, a.c.hash), 0);

    /* incomplete cells are refused */
    tcell bad = a;
    bad.c.json = NULL;
    m2pt_claim c;
    assert_int_equal(m2pt_store_claim(s, x1, &bad.c, 0, 0, &prov, &run2, &c, err, sizeof err), -1);
    bad = a;
    bad.c.json = "{\"model\":";
    bad.c.hash[0] = 'f';
    assert_int_equal(m2pt_store_claim(s, x1, &bad.c, 0, 0, &prov, &run2, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "JSON"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE cell_hash = '%s'", bad.c.hash), 0); /* rolled back */
    m2pt_store_close(s);
}

static void test_stale_restart(void **state) {
    (void)state;
    m2pt_store *s = open_rw("stale.db");
    sqlite3 *db = m2pt_store_db(s);
    tcell a;
    mk(&a, "00000000000000b1", M2PT_ROLE_TARGET, "image", "noaux", NULL, 1, 64);
    m2pt_experiment e = mkexp("stale", &a, 1);
    int64_t x = add_exp(s, &e), run, run2;
    assert_int_equal(claim(s, x, &a, 0, &run), M2PT_CLAIM_RUN);
    m2pt_metric m[3] = {{"train_loss_step", 1, 0, 2.3, 0.1}, {"train_loss_step", 2, 0, 2.2, 0.2},
                        {"val_acc", 2, 1, 0.3, 0.3}};
    assert_int_equal(m2pt_store_metrics(s, run, m, 3, err, sizeof err), 0);

    /* another host's running row cannot be judged: busy, even with a dead pid */
    pid_t gone = dead_pid();
    exec(db, "UPDATE runs SET host = 'some-other-host'");
    char sql[400];
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d", (int)gone);
    exec(db, sql);
    assert_int_equal(claim(s, x, &a, 0, &run2), M2PT_CLAIM_BUSY);

    /* on this host, the process is gone: stale, restarted from scratch */
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    snprintf(sql, sizeof sql, "UPDATE runs SET host = '%s'", host);
    exec(db, sql);
    assert_int_equal(claim(s, x, &a, 0, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(run2, run);
    assert_int_equal(q_int(db, "SELECT attempt FROM runs WHERE id = %lld", (long long)run), 2);
    assert_int_equal(q_int(db, "SELECT pid FROM runs WHERE id = %lld", (long long)run), getpid());
    assert_int_equal(q_int(db, "SELECT count(*) FROM metrics WHERE run_id = %lld", (long long)run), 0);

    /* a process that exited but was never reaped (a zombie: a killed worker reparented to an
     * init that does not reap) is gone too, though kill(pid, 0) still finds it */
    pid_t zombie = fork();
    assert_true(zombie >= 0);
    if (zombie == 0) _exit(0);
    siginfo_t info;
    assert_int_equal(waitid(P_PID, (id_t)zombie, &info, WEXITED | WNOWAIT), 0); /* exited, not reaped */
    assert_int_equal(kill(zombie, 0), 0);
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d", (int)zombie);
    exec(db, sql);
    assert_int_equal(claim(s, x, &a, 0, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(q_int(db, "SELECT attempt FROM runs WHERE id = %lld", (long long)run), 3);
    int st;
    assert_int_equal(waitpid(zombie, &st, 0), zombie);
    m2pt_store_close(s);
}

static void test_fail_interrupted(void **state) {
    (void)state;
    m2pt_store *s = open_rw("fail.db");
    sqlite3 *db = m2pt_store_db(s);
    tcell a, b;
    mk(&a, "00000000000000c1", M2PT_ROLE_TARGET, "image", "baseline", NULL, 0, 64);
    mk(&b, "00000000000000c2", M2PT_ROLE_TARGET, "image", "baseline", NULL, 1, 64);
    m2pt_experiment e = mkexp("fail", &a, 1);
    int64_t x = add_exp(s, &e), run, run2;

    assert_int_equal(claim(s, x, &a, 0, &run), M2PT_CLAIM_RUN);
    assert_int_equal(m2pt_store_fail(s, run, "crashed", "x", err, sizeof err), -1); /* not a status */
    /* the message may be the caller's err buffer itself; newlines become spaces */
    snprintf(err, sizeof err, "interrupted at epoch 2\nof 5");
    assert_int_equal(m2pt_store_fail(s, run, "interrupted", err, err, sizeof err), 0);
    assert_string_equal(q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run), "interrupted");
    assert_string_equal(q_text(db, "SELECT error FROM runs WHERE id = %lld", (long long)run),
                        "interrupted at epoch 2 of 5");
    assert_string_equal(q_text(db, "SELECT finished IS NOT NULL FROM results WHERE run_id = %lld", (long long)run), "1");
    /* only a running run fails: a second call keeps the first error */
    assert_int_equal(m2pt_store_fail(s, run, "failed", "later", err, sizeof err), 0);
    assert_string_equal(q_text(db, "SELECT status FROM runs WHERE id = %lld", (long long)run), "interrupted");
    /* finishing a run that is not running is refused */
    m2pt_summary sum = summary(0.5);
    assert_int_equal(m2pt_store_finish(s, run, &sum, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "interrupted"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM summary"), 0);
    /* interrupted and failed runs restart */
    assert_int_equal(claim(s, x, &a, 0, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(run2, run);
    assert_string_equal(q_text(db, "SELECT error IS NULL FROM runs WHERE id = %lld", (long long)run), "1");

    assert_int_equal(claim(s, x, &b, 0, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(m2pt_store_fail(s, run2, "failed", "loss became NaN", err, sizeof err), 0);
    assert_string_equal(q_text(db, "SELECT status FROM results WHERE run_id = %lld", (long long)run2), "failed");
    assert_int_equal(claim(s, x, &b, 0, &run2), M2PT_CLAIM_RUN);
    assert_int_equal(q_int(db, "SELECT attempt FROM runs WHERE id = %lld", (long long)run2), 2);

    /* a run that does not exist */
    assert_int_equal(m2pt_store_fail(s, 9999, "failed", "x", err, sizeof err), -1);
    assert_non_null(strstr(err, "no run 9999"));
    m2pt_metric m = {"lr", 1, 0, 1, 0};
    assert_int_equal(m2pt_store_metrics(s, 9999, &m, 1, err, sizeof err), -1);
    m2pt_store_close(s);
}

/* ================================================================ metrics, finish, views */

static void test_metrics_finish_results(void **state) {
    (void)state;
    m2pt_store *s = open_rw("results.db");
    sqlite3 *db = m2pt_store_db(s);
    tcell aux, t;
    mk(&aux, "00000000000000d0", M2PT_ROLE_AUXILIARY, "point", NULL, NULL, 0, 64);
    mk(&t, "00000000000000d1", M2PT_ROLE_TARGET, "image", "reparam", "point", 3, 64);
    tcell both[2] = {aux, t};
    m2pt_experiment e = mkexp("views", both, 2);
    int64_t x = add_exp(s, &e), arun, run;
    assert_int_equal(claim(s, x, &aux, 0, &arun), M2PT_CLAIM_RUN);
    finish(s, arun, NAN);
    /* grid axes: one the config names differently, one the cell ignores ("-") */
    t.keys[2] = "target.modality", t.vals[2] = "image";
    t.keys[3] = "auxiliary.train.epochs", t.vals[3] = "-";
    t.c.naxes = 4;
    m2pt_claim c;
    assert_int_equal(m2pt_store_claim(s, x, &t.c, arun, 0, &prov, &run, &c, err, sizeof err), 0);
    assert_int_equal(c, M2PT_CLAIM_RUN);

    /* per step (epoch 0) and per epoch, lambdas per block linear; NaN is stored as NULL */
    m2pt_metric m[] = {
        {"train_loss_step", 1, 0, 2.30, 0.1}, {"lr", 1, 0, 1e-4, 0.1}, {"grad_norm", 1, 0, 3.0, 0.1},
        {"samples_per_s", 1, 0, 900, 0.1},    {"train_loss", 5, 1, 2.0, 1.0}, {"val_acc", 5, 1, 0.40, 1.0},
        {"val_loss", 5, 1, 1.9, 1.0},         {"lambda.blocks.0.qkv", 5, 1, 0.01, 1.0},
        {"lambda.blocks.1.fc2", 5, 1, -0.02, 1.0}, {"train_loss", 10, 2, 1.5, 2.0}, {"val_acc", 10, 2, 0.55, 2.0},
        {"val_loss", 10, 2, NAN, 2.0},        {"lambda.blocks.0.qkv", 10, 2, 0.03, 2.0},
        {"lambda.blocks.1.fc2", 10, 2, -0.04, 2.0},
    };
    const int nm = (int)(sizeof m / sizeof m[0]);
    assert_int_equal(m2pt_store_metrics(s, run, m, 5, err, sizeof err), 0);
    assert_int_equal(m2pt_store_metrics(s, run, m + 5, nm - 5, err, sizeof err), 0);
    assert_int_equal(m2pt_store_metrics(s, run, m, 0, err, sizeof err), 0);
    m2pt_metric nokey = {NULL, 1, 0, 1, 0};
    assert_int_equal(m2pt_store_metrics(s, run, &nokey, 1, err, sizeof err), -1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM metrics WHERE run_id = %lld", (long long)run), nm);
    assert_int_equal(q_int(db, "SELECT count(*) FROM metrics WHERE value IS NULL"), 1);

    /* running: in the view with no results yet */
    assert_string_equal(q_text(db, "SELECT status FROM results WHERE run_id = %lld", (long long)run), "running");
    assert_string_equal(q_text(db, "SELECT test_acc IS NULL FROM results WHERE run_id = %lld", (long long)run), "1");

    m2pt_summary sum = summary(0.8125);
    sum.test_acc_unmerged = NAN;
    sum.params_inference = -1;
    assert_int_equal(m2pt_store_finish(s, run, &sum, "runs/d1.ckpt", 4096, "crc32:0badf00d", err, sizeof err), 0);

    /* the results view */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT run_id, experiment, role, status, target_modality, aux_modality, pathway,"
                                        " seed, val_acc, test_acc, train_seconds, aux_run_id, test_acc_unmerged,"
                                        " params_inference, params_trainable, epochs_done FROM results WHERE run_id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, run);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), run);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "views");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "target");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "done");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "image");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "point");
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "reparam");
    assert_int_equal(sqlite3_column_int(st, 7), 3);
    assert_true(fabs(sqlite3_column_double(st, 8) - 0.8225) < 1e-12);
    assert_true(fabs(sqlite3_column_double(st, 9) - 0.8125) < 1e-12);
    assert_true(fabs(sqlite3_column_double(st, 10) - 12.5) < 1e-12);
    assert_int_equal(sqlite3_column_int64(st, 11), arun);
    assert_int_equal(sqlite3_column_type(st, 12), SQLITE_NULL);
    assert_int_equal(sqlite3_column_type(st, 13), SQLITE_NULL);
    assert_int_equal(sqlite3_column_int(st, 14), 123456);
    assert_int_equal(sqlite3_column_int(st, 15), 2);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    /* the auxiliary run: its own modality, no aux, pathway baseline, NaN accuracies as NULL */
    assert_string_equal(q_text(db, "SELECT role || ' ' || target_modality || ' ' || ifnull(aux_modality, '-') || ' ' ||"
                                   " pathway FROM results WHERE run_id = %lld", (long long)arun),
                        "auxiliary point - baseline");
    assert_string_equal(q_text(db, "SELECT test_acc IS NULL FROM results WHERE run_id = %lld", (long long)arun), "1");

    /* artifact, finish time */
    assert_string_equal(q_text(db, "SELECT path || ' ' || bytes || ' ' || checksum FROM artifacts WHERE run_id = %lld",
                               (long long)run),
                        "runs/d1.ckpt 4096 crc32:0badf00d");
    assert_string_equal(q_text(db, "SELECT finished >= started FROM runs WHERE id = %lld", (long long)run), "1");

    /* params: every dotted key of the config, typed; axes */
    assert_string_equal(q_text(db, "SELECT value FROM params WHERE run_id = %lld AND key = 'model.dim'", (long long)run),
                        "64");
    assert_int_equal(q_int(db, "SELECT num FROM params WHERE run_id = %lld AND key = 'model.dim'", (long long)run), 64);
    assert_true(fabs(q_real(db, "SELECT num FROM params WHERE key = 'train.lr' AND run_id = (SELECT max(id) FROM runs)") -
                     0.001) < 1e-15);
    assert_string_equal(q_text(db, "SELECT value || num FROM params WHERE run_id = %lld AND key = 'train.augment'",
                               (long long)run),
                        "true1.0");
    assert_string_equal(q_text(db, "SELECT value FROM params WHERE run_id = %lld AND key = 'pathway.layers'",
                               (long long)run),
                        "[\"qkv\",\"fc1\"]");
    assert_string_equal(q_text(db, "SELECT value FROM params WHERE run_id = %lld AND key = 'target.data.name'",
                               (long long)run),
                        "caf\xc3\xa9 \"q\"");
    assert_string_equal(q_text(db, "SELECT value FROM params WHERE run_id = %lld AND key = 'auxiliary.modality'",
                               (long long)run),
                        "point");
    assert_string_equal(q_text(db, "SELECT value IS NULL FROM params WHERE run_id = %lld AND key = 'note'",
                               (long long)run),
                        "1");
    assert_int_equal(q_int(db, "SELECT num FROM params WHERE run_id = %lld AND key = 'seed'", (long long)run), 3);
    assert_string_equal(q_text(db, "SELECT value FROM params WHERE run_id = %lld AND key = 'target.modality'",
                               (long long)run),
                        "image");
    assert_int_equal(q_int(db, "SELECT count(*) FROM params WHERE run_id = %lld AND key = 'auxiliary.train.epochs'",
                           (long long)run),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM params WHERE run_id = %lld AND value = '-'", (long long)run), 0);
    assert_string_equal(q_text(db, "SELECT group_concat(key, ',') FROM (SELECT key FROM experiment_axes WHERE "
                                   "experiment_id = %lld ORDER BY position)", (long long)x),
                        "pathway.name,seed");

    /* the epochs and lambdas views */
    assert_int_equal(q_int(db, "SELECT count(*) FROM epochs WHERE run_id = %lld", (long long)run), 2);
    assert_true(fabs(q_real(db, "SELECT val_acc FROM epochs WHERE epoch = 2 AND run_id = (SELECT max(id) FROM runs)") -
                     0.55) < 1e-12);
    assert_string_equal(q_text(db, "SELECT group_concat(block || ':' || linear || '=' || value, ' ') FROM lambdas"
                                   " WHERE run_id = %lld AND epoch = 2",
                               (long long)run),
                        "0:qkv=0.03 1:fc2=-0.04");
    m2pt_store_close(s);
}

/* A second connection never sees a run done before the finishing transaction commits; a finish
 * that fails half-way leaves nothing behind. */
static void test_never_done_before_commit(void **state) {
    (void)state;
    m2pt_store *s = open_rw("atomic.db"), *r = NULL;
    char p[1024];
    db_path(p, sizeof p, "atomic.db");
    assert_int_equal(m2pt_store_open(&r, p, 1, err, sizeof err), 0);
    sqlite3 *db = m2pt_store_db(s), *rdb = m2pt_store_db(r);
    tcell a;
    mk(&a, "00000000000000e1", M2PT_ROLE_TARGET, "image", "baseline", NULL, 0, 64);
    m2pt_experiment e = mkexp("atomic", &a, 1);
    int64_t x = add_exp(s, &e), run;
    assert_int_equal(claim(s, x, &a, 0, &run), M2PT_CLAIM_RUN);
    assert_string_equal(q_text(rdb, "SELECT status FROM results"), "running");

    /* make the artifact insert fail inside finish: summary and status must roll back */
    exec(db, "CREATE TEMP TRIGGER no_artifacts BEFORE INSERT ON main.artifacts BEGIN SELECT RAISE(ABORT, 'disk "
             "trouble'); END");
    m2pt_summary sum = summary(0.9);
    assert_int_equal(m2pt_store_finish(s, run, &sum, "x.ckpt", 1, "c", err, sizeof err), -1);
    assert_non_null(strstr(err, "disk trouble"));
    assert_string_equal(q_text(rdb, "SELECT status FROM results"), "running");
    assert_int_equal(q_int(rdb, "SELECT count(*) FROM summary"), 0);
    assert_string_equal(q_text(db, "SELECT status FROM results"), "running");
    assert_int_equal(q_int(db, "SELECT count(*) FROM summary"), 0);

    /* a reader in the middle of a read transaction keeps its snapshot while finish commits */
    exec(rdb, "BEGIN");
    assert_string_equal(q_text(rdb, "SELECT status FROM runs"), "running");
    exec(db, "DROP TRIGGER no_artifacts");
    assert_int_equal(m2pt_store_finish(s, run, &sum, "x.ckpt", 1, "c", err, sizeof err), 0);
    assert_string_equal(q_text(rdb, "SELECT status FROM runs"), "running");
    assert_int_equal(q_int(rdb, "SELECT count(*) FROM summary"), 0);
    exec(rdb, "COMMIT");
    assert_string_equal(q_text(rdb, "SELECT status FROM runs"), "done");
    assert_int_equal(q_int(rdb, "SELECT count(*) FROM summary"), 1);
    m2pt_store_close(r);
    m2pt_store_close(s);
}

static void test_readonly(void **state) {
    (void)state;
    m2pt_store *s = open_rw("ro.db");
    tcell a;
    mk(&a, "00000000000000f1", M2PT_ROLE_TARGET, "image", "baseline", NULL, 0, 64);
    m2pt_experiment e = mkexp("ro", &a, 1);
    int64_t x = add_exp(s, &e), run;
    assert_int_equal(claim(s, x, &a, 0, &run), M2PT_CLAIM_RUN);
    m2pt_store_close(s);

    char p[1024];
    db_path(p, sizeof p, "ro.db");
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), 0);
    sqlite3 *db = m2pt_store_db(s);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM runs", NULL, NULL, NULL), SQLITE_READONLY);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_READONLY);
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs"), 1);
    m2pt_claim c;
    int64_t run2;
    assert_int_equal(m2pt_store_claim(s, x, &a.c, 0, 0, &prov, &run2, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "read-only"));
    assert_int_equal(m2pt_store_experiment(s, &e, &x, err, sizeof err), -1);
    m2pt_metric m = {"lr", 1, 0, 1, 0};
    assert_int_equal(m2pt_store_metrics(s, run, &m, 1, err, sizeof err), -1);
    m2pt_store_close(s);

    /* places where no database can be written: clear errors naming the path, nothing created */
    db_path(p, sizeof p, "plainfile");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    db_path(p, sizeof p, "plainfile/sub/m2pt.db");
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), -1);
    assert_null(s);
    assert_non_null(strstr(err, p));
    assert_int_equal(m2pt_store_open(&s, "/proc/m2pt-test/m2pt.db", 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create directory"));
    db_path(p, sizeof p, "a"); /* a directory, not a file */
    mkdir(p, 0777);
    assert_int_equal(m2pt_store_open(&s, p, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "directory"));
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), -1);
}

/* ================================================================ two processes */

#define CONC_CELLS 12
#define CONC_BURSTS 8
#define CONC_ROWS 25

static int worker(const char *path, int id, int readfd) {
    char buf;
    if (read(readfd, &buf, 1) != 1) return 10; /* start together */
    close(readfd);
    m2pt_store *s = NULL;
    char e[1024];
    if (m2pt_store_open(&s, path, 0, e, sizeof e)) return fprintf(stderr, "worker %d: %s\n", id, e), 11;
    tcell cells[CONC_CELLS];
    for (int i = 0; i < CONC_CELLS; i++) {
        char h[17];
        snprintf(h, sizeof h, "%016x", 0x1000 + i);
        mk(&cells[i], h, M2PT_ROLE_TARGET, "image", "baseline", NULL, (unsigned)i, 64);
    }
    m2pt_experiment ex = mkexp("concurrent", cells, CONC_CELLS);
    int64_t x;
    if (m2pt_store_experiment(s, &ex, &x, e, sizeof e)) return fprintf(stderr, "worker %d: %s\n", id, e), 12;
    int rc = 0;
    /* worker 0 walks the cells forwards, worker 1 backwards: they meet in the middle */
    for (int k = 0; k < CONC_CELLS && !rc; k++) {
        int i = id == 0 ? k : CONC_CELLS - 1 - k;
        int64_t run;
        m2pt_claim c;
        if (m2pt_store_claim(s, x, &cells[i].c, 0, 0, &prov, &run, &c, e, sizeof e)) {
            fprintf(stderr, "worker %d: %s\n", id, e);
            rc = 13;
            break;
        }
        if (c != M2PT_CLAIM_RUN) continue;
        for (int b = 0; b < CONC_BURSTS && !rc; b++) {
            m2pt_metric m[CONC_ROWS];
            for (int r = 0; r < CONC_ROWS; r++) m[r] = (m2pt_metric){"train_loss_step", b * CONC_ROWS + r, 0, id, 0};
            if (m2pt_store_metrics(s, run, m, CONC_ROWS, e, sizeof e)) fprintf(stderr, "worker %d: %s\n", id, e), rc = 14;
        }
        m2pt_summary sum = summary(0.5 + 0.01 * id);
        if (!rc && m2pt_store_finish(s, run, &sum, NULL, 0, NULL, e, sizeof e))
            fprintf(stderr, "worker %d: %s\n", id, e), rc = 15;
    }
    m2pt_store_close(s);
    return rc;
}

static void test_two_processes(void **state) {
    (void)state;
    char p[1024];
    db_path(p, sizeof p, "conc/m2pt.db"); /* both create it: directory, file, WAL, schema */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(fds[1]);
            _exit(worker(p, i, fds[0]));
        }
    }
    close(fds[0]);
    assert_int_equal(write(fds[1], "go", 2), 2);
    close(fds[1]);
    for (int i = 0; i < 2; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) print_error("worker %d: status %d\n", i, st);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    m2pt_store *s = NULL;
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), 0);
    sqlite3 *db = m2pt_store_db(s);
    assert_int_equal(q_int(db, "SELECT count(*) FROM experiments"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs"), CONC_CELLS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1"), CONC_CELLS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM experiment_runs"), CONC_CELLS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM summary"), CONC_CELLS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM metrics"), CONC_CELLS * CONC_BURSTS * CONC_ROWS);
    /* each run's metrics come from one worker, each step exactly once */
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT run_id FROM metrics GROUP BY run_id"
                               " HAVING count(DISTINCT value) = 1 AND count(DISTINCT step) = %d AND count(*) = %d)",
                           CONC_BURSTS * CONC_ROWS, CONC_BURSTS * CONC_ROWS),
                     CONC_CELLS);
    /* the run's summary agrees with the worker that logged its metrics */
    assert_int_equal(q_int(db, "SELECT count(*) FROM summary s WHERE abs(s.test_acc - 0.5 - 0.01 *"
                               " (SELECT min(value) FROM metrics m WHERE m.run_id = s.run_id)) < 1e-9"),
                     CONC_CELLS);
    m2pt_store_close(s);
}

/* ================================================================ statistics */

static void test_stats(void **state) {
    (void)state;
    /* textbook t(0.975, df) */
    const struct {
        int df;
        double t;
    } tq[] = {{1, 12.706}, {2, 4.303}, {3, 3.182}, {4, 2.776}, {5, 2.571}, {9, 2.262}, {10, 2.228},
              {19, 2.093}, {29, 2.045}, {30, 2.042}, {40, 2.021}, {60, 2.000}, {120, 1.980}, {100000, 1.960}};
    for (size_t i = 0; i < sizeof tq / sizeof tq[0]; i++) assert_true(fabs(m2pt_t975(tq[i].df) - tq[i].t) < 6e-4);
    assert_true(isnan(m2pt_t975(0)));
    for (int df = 1; df < 200; df++) assert_true(m2pt_t975(df + 1) < m2pt_t975(df)); /* monotone, continuous at 30 */

    /* {1, 2, 3, 4}: mean 2.5, sd sqrt(5/3), CI half-width 3.182446 * sd / 2 */
    double x[] = {1, 2, 3, 4};
    m2pt_desc d;
    m2pt_describe(x, 4, &d);
    assert_int_equal(d.n, 4);
    assert_true(fabs(d.mean - 2.5) < 1e-12);
    assert_true(fabs(d.sd - 1.2909944487358056) < 1e-12);
    assert_true(fabs(d.ci - 3.182446305 * 1.2909944487358056 / 2) < 1e-9);
    /* {0.80, 0.82, 0.84}: sd 0.02, CI 4.302653 * 0.02 / sqrt(3) = 0.049683 */
    double y[] = {0.80, 0.82, 0.84};
    m2pt_describe(y, 3, &d);
    assert_true(fabs(d.mean - 0.82) < 1e-12);
    assert_true(fabs(d.sd - 0.02) < 1e-12);
    assert_true(fabs(d.ci - 0.0496827) < 1e-6);
    m2pt_describe(y, 1, &d);
    assert_true(d.n == 1 && fabs(d.mean - 0.8) < 1e-15 && isnan(d.sd) && isnan(d.ci));
    m2pt_describe(y, 0, &d);
    assert_true(d.n == 0 && isnan(d.mean));

    /* paired by key, unmatched keys and NaN ignored: diffs 0.01, 0.025, 0.01 */
    int64_t ka[] = {2, 0, 1, 7}, kb[] = {0, 1, 2, 5};
    double a[] = {0.85, 0.81, 0.845, 0.9}, b[] = {0.80, 0.82, 0.84, 0.1};
    m2pt_paired(ka, a, 4, kb, b, 4, &d);
    assert_int_equal(d.n, 3);
    assert_true(fabs(d.mean - 0.015) < 1e-12);
    assert_true(fabs(d.sd - sqrt(0.000075)) < 1e-12);
    assert_true(fabs(d.ci - 4.302652730 * sqrt(0.000075) / sqrt(3)) < 1e-9);
    a[1] = NAN;
    m2pt_paired(ka, a, 4, kb, b, 4, &d);
    assert_int_equal(d.n, 2);
}

/* ================================================================ compare */

/* exp "cmp": baseline seeds 0-2 (0.80 0.82 0.84), reparam seeds 0-2 (0.81 0.845 0.85), noaux
 * seeds 0-1 (0.79 0.80), a failed reparam seed 3 (excluded). exp "dims": baseline and reparam at
 * dim 32 and 64, seeds 0-1. */
static void build_compare_db(const char *name) {
    m2pt_store *s = open_rw(name);
    tcell c[16];
    int n = 0;
    const char *pw[] = {"baseline", "reparam", "noaux"};
    const double acc[3][3] = {{0.80, 0.82, 0.84}, {0.81, 0.845, 0.85}, {0.79, 0.80, NAN}};
    for (int p = 0; p < 3; p++)
        for (int seed = 0; seed < 3; seed++) {
            if (isnan(acc[p][seed])) continue;
            char h[17];
            snprintf(h, sizeof h, "%016x", 0x100 + p * 16 + seed);
            mk(&c[n++], h, M2PT_ROLE_TARGET, "image", pw[p], p == 1 ? "point" : NULL, (unsigned)seed, 64);
        }
    mk(&c[n++], "0000000000000fff", M2PT_ROLE_TARGET, "image", "reparam", "point", 3, 64);
    m2pt_experiment e = mkexp("cmp", c, n);
    int64_t x = add_exp(s, &e), run;
    for (int i = 0, k = 0; i < 3; i++)
        for (int seed = 0; seed < 3; seed++) {
            if (isnan(acc[i][seed])) continue;
            assert_int_equal(claim(s, x, &c[k++], 0, &run), M2PT_CLAIM_RUN);
            m2pt_metric m = {"val_loss", 10, 2, 1.0 + acc[i][seed], 2};
            assert_int_equal(m2pt_store_metrics(s, run, &m, 1, err, sizeof err), 0);
            finish(s, run, acc[i][seed]);
        }
    assert_int_equal(claim(s, x, &c[n - 1], 0, &run), M2PT_CLAIM_RUN);
    assert_int_equal(m2pt_store_fail(s, run, "failed", "boom", err, sizeof err), 0);

    /* dims: reparam - baseline = +0.02 at dim 32 and -0.01 at dim 64 (seed by seed) */
    tcell d[8];
    n = 0;
    const double base[2][2] = {{0.70, 0.72}, {0.80, 0.84}};
    for (int dim = 0; dim < 2; dim++)
        for (int p = 0; p < 2; p++)
            for (int seed = 0; seed < 2; seed++) {
                char h[17];
                snprintf(h, sizeof h, "%016x", 0x200 + dim * 16 + p * 4 + seed);
                mk(&d[n++], h, M2PT_ROLE_TARGET, "image", pw[p], p ? "point" : NULL, (unsigned)seed, dim ? 65 : 32);
            }
    e = mkexp("dims", d, n);
    x = add_exp(s, &e);
    for (int i = 0; i < n; i++) {
        int dim = i / 4, p = (i / 2) % 2, seed = i % 2;
        assert_int_equal(claim(s, x, &d[i], 0, &run), M2PT_CLAIM_RUN);
        finish(s, run, base[dim][seed] + (p ? (dim ? -0.01 : 0.02) : 0));
    }
    m2pt_store_close(s);
}

static m2pt_compare_group *group_named(m2pt_compare *c, int axis, const char *value, int axis2, const char *value2) {
    for (int g = 0; g < c->ngroups; g++)
        if (c->groups[g].values[axis] && !strcmp(c->groups[g].values[axis], value) &&
            (axis2 < 0 || (c->groups[g].values[axis2] && !strcmp(c->groups[g].values[axis2], value2))))
            return &c->groups[g];
    fail_msg("no group %s", value);
    return NULL;
}

static char *table_text(m2pt_table *t, m2pt_format fmt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(m2pt_table_print(t, f, fmt), 0);
    fclose(f);
    return buf;
}

static void expect_in(const char *text, const char *needle) {
    if (!strstr(text, needle)) fail_msg("\"%s\" not in:\n%s", needle, text);
}

static void test_compare(void **state) {
    (void)state;
    build_compare_db("compare.db");
    m2pt_store *s = NULL;
    char p[1024];
    db_path(p, sizeof p, "compare.db");
    assert_int_equal(m2pt_store_open(&s, p, 1, err, sizeof err), 0);
    sqlite3 *db = m2pt_store_db(s);
    m2pt_compare c;
    if (m2pt_compare_run(db, "cmp", NULL, NULL, &c, err, sizeof err)) fail_msg("%s", err);
    /* default axes: pathway.name (seed excluded) */
    assert_int_equal(c.naxes, 1);
    assert_string_equal(c.axes[0], "pathway.name");
    assert_int_equal(c.ngroups, 3);
    assert_int_equal(c.nruns, 8);
    assert_true(c.percent);
    m2pt_compare_group *b = group_named(&c, 0, "baseline", -1, NULL), *r = group_named(&c, 0, "reparam", -1, NULL),
                       *na = group_named(&c, 0, "noaux", -1, NULL);
    assert_true(b->baseline && !r->baseline && !na->baseline);
    assert_int_equal(b->stats.n, 3);
    assert_true(fabs(b->stats.mean - 0.82) < 1e-12 && fabs(b->stats.sd - 0.02) < 1e-12);
    assert_true(fabs(b->stats.ci - 4.302652730 * 0.02 / sqrt(3)) < 1e-9);
    assert_int_equal(r->diff.n, 3);
    assert_true(fabs(r->diff.mean - 0.015) < 1e-12);
    assert_true(fabs(r->diff.ci - 4.302652730 * sqrt(0.000075) / sqrt(3)) < 1e-9);
    /* noaux: two pairs, diffs -0.01 and -0.02: sd 0.0070711, t(0.975, 1) = 12.706 */
    assert_int_equal(na->diff.n, 2);
    assert_true(fabs(na->diff.mean + 0.015) < 1e-12);
    assert_true(fabs(na->diff.ci - 12.706204736 * sqrt(0.00005) / sqrt(2)) < 1e-9);

    m2pt_table *t = m2pt_compare_table(&c, 1);
    assert_non_null(t);
    char *out = table_text(t, M2PT_FMT_TABLE);
    expect_in(out, "pathway.name");
    expect_in(out, "82.00");
    expect_in(out, "[77.03, 86.97]"); /* 82 ± 4.97 */
    expect_in(out, "+1.50");
    expect_in(out, "[-0.65, +3.65]"); /* 1.5 ± 2.15 */
    expect_in(out, "-1.50");
    expect_in(out, "[-7.85, +4.85]"); /* -1.5 ± 6.35 */
    free(out);
    m2pt_table_free(t);
    t = m2pt_compare_table(&c, 0);
    out = table_text(t, M2PT_FMT_CSV);
    expect_in(out, "pathway.name,n,mean,sd,ci95_lo,ci95_hi,ci95,is_baseline,baseline,diff,diff_ci95_lo,diff_ci95_hi,"
                   "diff_ci95,pairs\r\n");
    expect_in(out, "baseline,3,0.82");
    expect_in(out, "reparam,3,0.835,"); /* (0.81 + 0.845 + 0.85) / 3 */
    expect_in(out, ",0,pathway.name=baseline,0.015");
    free(out);
    m2pt_table_free(t);
    m2pt_compare_free(&c);

    /* --baseline: every group against noaux (seeds 0 and 1: 0.79, 0.80). reparam - noaux: 0.02
     * and 0.045, sd 0.025 / sqrt(2); baseline - noaux: 0.01 and 0.02 */
    if (m2pt_compare_run(db, "cmp", NULL, NULL, &c, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(m2pt_compare_rebase(&c, "pathway.name=noaux", err, sizeof err), 0);
    b = group_named(&c, 0, "baseline", -1, NULL), r = group_named(&c, 0, "reparam", -1, NULL);
    na = group_named(&c, 0, "noaux", -1, NULL);
    assert_true(na->baseline && !b->baseline && !r->baseline);
    assert_int_equal(na->ref, -1);
    assert_ptr_equal(&c.groups[r->ref], na);
    assert_int_equal(r->diff.n, 2);
    assert_true(fabs(r->diff.mean - 0.0325) < 1e-12);
    assert_true(fabs(r->diff.ci - 12.706204736 * (0.025 / sqrt(2)) / sqrt(2)) < 1e-9);
    assert_int_equal(b->diff.n, 2);
    assert_true(fabs(b->diff.mean - 0.015) < 1e-12);
    const char *bad[][2] = {{"seed=0", "'seed' is not a grouping axis (axes: pathway.name)"},
                            {"pathway.name=nope", "matches 0 of the 3 groups"},
                            {"pathway.name", "expected AXIS=VALUE"},
                            {",", "names no axis"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(m2pt_compare_rebase(&c, bad[i][0], err, sizeof err), -2);
        expect_in(err, bad[i][1]);
    }
    m2pt_compare_free(&c);

    /* a per-epoch metric's last value */
    assert_int_equal(m2pt_compare_run(db, "cmp", "pathway", "val_loss", &c, err, sizeof err), 0);
    assert_false(c.percent);
    assert_true(fabs(group_named(&c, 0, "reparam", -1, NULL)->diff.mean - 0.015) < 1e-12);
    m2pt_compare_free(&c);

    /* grouping by dim too: each reparam group pairs with the baseline of its own dim */
    assert_int_equal(m2pt_compare_run(db, "dims", NULL, "test_acc", &c, err, sizeof err), 0);
    assert_int_equal(c.naxes, 2); /* pathway.name, model.dim */
    assert_int_equal(c.ngroups, 4);
    int pw = !strcmp(c.axes[0], "pathway.name") ? 0 : 1, dim = 1 - pw;
    assert_string_equal(c.axes[dim], "model.dim");
    m2pt_compare_group *r32 = group_named(&c, pw, "reparam", dim, "32"), *r65 = group_named(&c, pw, "reparam", dim, "65");
    assert_int_equal(r32->diff.n, 2);
    assert_true(fabs(r32->diff.mean - 0.02) < 1e-12);
    assert_true(fabs(r65->diff.mean + 0.01) < 1e-12);
    assert_true(fabs(r32->diff.sd) < 1e-12);
    assert_string_equal(c.groups[r32->ref].values[dim], "32");
    m2pt_compare_free(&c);

    /* bad input: -2 with a message */
    assert_int_equal(m2pt_compare_run(db, "nope", NULL, NULL, &c, err, sizeof err), -2);
    expect_in(err, "no experiment 'nope'");
    expect_in(err, "cmp");
    assert_int_equal(m2pt_compare_run(db, "cmp", NULL, "bogus", &c, err, sizeof err), -2);
    expect_in(err, "unknown metric 'bogus'");
    expect_in(err, "val_loss");
    assert_int_equal(m2pt_compare_run(db, "cmp", "pathway.nmae", NULL, &c, err, sizeof err), -2);
    expect_in(err, "unknown axis 'pathway.nmae'");
    m2pt_store_close(s);
}

/* ================================================================ the command line */

static char m2pt_bin[1024];

typedef struct {
    int rc;
    char *out, *err;
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (f && m) {
        int ch;
        while ((ch = fgetc(f)) != EOF) fputc(ch, m);
    }
    if (f) fclose(f);
    if (m) fclose(m);
    return buf;
}

static result run_cli(const char *fmt, ...) {
    char args[4096], cmd[8192], o[1100], e[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(o, sizeof o, "%s/cli.out", tmpdir);
    snprintf(e, sizeof e, "%s/cli.err", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", m2pt_bin, args, o, e);
    int st = system(cmd);
    result r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(o), slurp(e)};
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static void expect_rc(result *r, int rc) {
    if (r->rc != rc) fail_msg("exit %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", r->rc, rc, r->out, r->err);
}

static void result_free(result *r) { free(r->out), free(r->err); }

static void test_cli(void **state) {
    (void)state;
    struct stat st;
    if (stat(m2pt_bin, &st)) fail_msg("%s not found: build it first (make), or set M2PT_BUILD", m2pt_bin);
    char db[1024];
    db_path(db, sizeof db, "cli.db");
    build_compare_db("cli.db");

    const char *cmds[] = {"ls", "show", "compare", "query", "export"};
    for (int i = 0; i < 5; i++) {
        result r = run_cli("%s --help", cmds[i]);
        expect_rc(&r, 0);
        expect_in(r.out, "usage: m2pt ");
        expect_in(r.out, "--db FILE");
        result_free(&r);
    }

    /* a write through query is refused; the database is unchanged */
    result r = run_cli("query --db '%s' \"DELETE FROM runs\"", db);
    expect_rc(&r, 2);
    expect_in(r.err, db);
    expect_in(r.err, "readonly database");
    result_free(&r);
    r = run_cli("query --db '%s' \"SELECT count(*) AS n FROM runs\" --format csv", db);
    expect_rc(&r, 0);
    expect_in(r.out, "n\r\n17\r\n");
    result_free(&r);
    r = run_cli("query --db '%s' \"SELEC 1\"", db);
    expect_rc(&r, 2);
    expect_in(r.err, "bad SQL");
    result_free(&r);
    r = run_cli("query --db '%s' \"SELECT pathway, round(avg(test_acc), 4) AS acc FROM results WHERE experiment = 'cmp'"
                " AND status = 'done' GROUP BY pathway ORDER BY pathway\" --format json",
                db);
    expect_rc(&r, 0);
    expect_in(r.out, "[{\"pathway\":\"baseline\",\"acc\":0.82},\n {\"pathway\":\"noaux\",\"acc\":0.795},");
    result_free(&r);

    /* a missing database: exit 2, one line naming it */
    r = run_cli("ls --db '%s/none.db'", tmpdir);
    expect_rc(&r, 2);
    expect_in(r.err, "none.db");
    expect_in(r.err, "no database");
    assert_int_equal(stat("none.db", &st), -1);
    result_free(&r);

    /* ls */
    r = run_cli("ls --db '%s' --experiment cmp --status failed", db);
    expect_rc(&r, 0);
    expect_in(r.out, "failed");
    assert_null(strstr(r.out, "done"));
    result_free(&r);
    r = run_cli("ls --db '%s' --experiment nope", db);
    expect_rc(&r, 2);
    expect_in(r.err, "no experiment 'nope'");
    result_free(&r);
    r = run_cli("ls --db '%s' --status finished", db);
    expect_rc(&r, 2);
    result_free(&r);
    r = run_cli("ls --db '%s' --format yaml", db);
    expect_rc(&r, 2);
    result_free(&r);
    r = run_cli("ls --db '%s' --experiment dims --format csv", db);
    expect_rc(&r, 0);
    expect_in(r.out, "run_id,experiment,role,status,modality,aux,pathway,seed,val_acc,test_acc,seconds\r\n");
    result_free(&r);

    /* show */
    r = run_cli("show --db '%s' 1", db);
    expect_rc(&r, 0);
    expect_in(r.out, "run 1");
    expect_in(r.out, "summary");
    expect_in(r.out, "80.00%");
    expect_in(r.out, "\"pathway\": {");
    expect_in(r.out, "val_loss");
    result_free(&r);
    r = run_cli("show --db '%s' 0000000000000fff --format json", db);
    expect_rc(&r, 0);
    expect_in(r.out, "\"status\":\"failed\"");
    expect_in(r.out, "\"error\":\"boom\"");
    result_free(&r);
    r = run_cli("show --db '%s' 424242", db);
    expect_rc(&r, 2);
    expect_in(r.err, "no run '424242'");
    result_free(&r);

    /* compare */
    r = run_cli("compare cmp --db '%s'", db);
    expect_rc(&r, 0);
    expect_in(r.out, "[77.03, 86.97]");
    expect_in(r.out, "[-0.65, +3.65]");
    result_free(&r);
    r = run_cli("compare cmp --db '%s' --format csv --by pathway.name", db);
    expect_rc(&r, 0);
    expect_in(r.out, "pathway.name,n,mean,sd,");
    expect_in(r.out, "reparam,3,0.835");
    result_free(&r);
    r = run_cli("compare cmp --db '%s' --metric params_trainable", db);
    expect_rc(&r, 0);
    expect_in(r.out, "[123456, 123456]"); /* a parameter count whole, not 1.235e+05 */
    result_free(&r);
    r = run_cli("compare cmp --db '%s' --baseline pathway.name=noaux", db);
    expect_rc(&r, 0);
    expect_in(r.out, "paired by seed with pathway.name=noaux");
    expect_in(r.out, "+3.25"); /* reparam - noaux */
    result_free(&r);
    r = run_cli("compare cmp --db '%s' --baseline pathway.name=nope", db);
    expect_rc(&r, 2);
    expect_in(r.err, "--baseline 'pathway.name=nope' matches 0 of the 3 groups");
    result_free(&r);
    r = run_cli("compare nope --db '%s'", db);
    expect_rc(&r, 2);
    expect_in(r.err, "no experiment 'nope'");
    result_free(&r);
    r = run_cli("compare cmp --db '%s' --metric accuracy", db);
    expect_rc(&r, 2);
    result_free(&r);

    /* export: the experiment's axes as columns */
    r = run_cli("export --db '%s' --experiment dims", db);
    expect_rc(&r, 0);
    expect_in(r.out, "run_id,experiment,role,status,target_modality,aux_modality,pathway,seed,val_acc,test_acc,"
                     "train_seconds,");
    expect_in(r.out, ",pathway.name,model.dim\r\n");
    result_free(&r);
    r = run_cli("export --db '%s' --metrics --format json", db);
    expect_rc(&r, 0);
    expect_in(r.out, "\"key\":\"val_loss\"");
    result_free(&r);
}

/* ================================================================ main */

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/m2pt-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *build = getenv("M2PT_BUILD");
    snprintf(m2pt_bin, sizeof m2pt_bin, "%s/m2pt", build && *build ? build : "build");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_claim_run_done_busy_force),
        cmocka_unit_test(test_stale_restart),
        cmocka_unit_test(test_fail_interrupted),
        cmocka_unit_test(test_metrics_finish_results),
        cmocka_unit_test(test_never_done_before_commit),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, remove_tmpdir);
}
