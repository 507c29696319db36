/* Concurrency: three `m2pt run` processes on one database that none of them has created yet,
 * two of the same experiment (tests/concurrency/a.yaml) and one of another (b.yaml, sharing A's
 * auxiliary model and one of its target cells), while a reader loops over `m2pt query`,
 * `m2pt compare` and `m2pt ls`. Afterwards:
 *   - every process exited 0, every read exited 0, and no output mentions a locked database;
 *   - no run lost or duplicated: the 6 distinct cells are 6 runs, all done at their first
 *     attempt, each experiment linked to its 4;
 *   - no cell trained twice: across the three outputs each cell's "done" line appears once,
 *     the shared auxiliary model is trained once (the others wait for it or import it);
 *   - metrics logged once, the database intact.
 * (-j 2 workers with a reader: test_grid; -j 2 among SIGKILLs: test_faults.) */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"
#include "support/proc.h"

static char file_a[4200], file_b[4200];

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The distinct cell hashes of both experiments (from --dry-run). */
static int cell_hashes(t_env *e, char hashes[][17], int cap) {
    int n = 0;
    const char *files[] = {file_a, file_b};
    for (int f = 0; f < 2; f++) {
        t_proc d = t_run(e, NULL, "run", files[f], "--dry-run", NULL);
        t_expect_rc(&d, 0);
        for (const char *p = d.out; (p = strstr(p, "\n  ")); p++) {
            const char *h = p + 3;
            int ok = 1;
            for (int i = 0; i < 16 && ok; i++) ok = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f');
            if (!ok || h[16] != ' ') continue;
            int dup = 0;
            for (int i = 0; i < n && !dup; i++) dup = !strncmp(hashes[i], h, 16);
            if (!dup && n < cap) snprintf(hashes[n++], 17, "%.16s", h);
        }
        t_free(&d);
    }
    return n;
}

static void expect_all_once(t_env *e, t_proc *procs, int nprocs, char hashes[][17], int ncells) {
    /* no run lost or duplicated */
    t_expect_q(e->db, ncells, "SELECT count(*) FROM runs");
    t_expect_q(e->db, ncells, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1 AND error IS NULL");
    for (int i = 0; i < ncells; i++) t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE cell_hash = %Q", hashes[i]);
    t_expect_q(e->db, 4, "SELECT count(*) FROM results WHERE experiment = 'conc-a'");
    t_expect_q(e->db, 4, "SELECT count(*) FROM results WHERE experiment = 'conc-b'");
    t_expect_q(e->db, 2, "SELECT count(*) FROM (SELECT run_id FROM experiment_runs GROUP BY run_id HAVING count(*) = 2)");
    /* no cell trained twice: one "done" line per cell across all outputs, one auxiliary training */
    for (int i = 0; i < ncells; i++) {
        int done = 0, aux = 0;
        char line[64];
        snprintf(line, sizeof line, "%.16s done: test acc", hashes[i]);
        for (int k = 0; k < nprocs; k++) done += count_of(procs[k].out, line);
        snprintf(line, sizeof line, "%.16s auxiliary model: ", hashes[i]);
        for (int k = 0; k < nprocs; k++) aux += count_of(procs[k].out, line);
        if (done != 1) {
            for (int k = 0; k < nprocs; k++) t_show(&procs[k]);
            fail_msg("cell %s: %d 'done' lines across the runs, expected 1 (trained %s)", hashes[i], done,
                     done ? "twice" : "never");
        }
        assert_true(aux <= 1);
    }
    int trained_aux = 0;
    for (int k = 0; k < nprocs; k++) trained_aux += count_of(procs[k].out, "auxiliary model: image");
    assert_int_equal(trained_aux, 1);
    t_expect_q(e->db, 0,
               "SELECT count(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step HAVING count(*) > 1)");
    /* each target run logged its 16 steps (2 epochs of 8), the auxiliary run its 8 */
    t_expect_q(e->db, 0,
               "SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND m.key ="
               " 'train_loss_step') <> CASE r.role WHEN 'target' THEN 16 ELSE 8 END");
    t_expect_integrity(e->db);
}

/* Reads with query, compare and ls until every writer has exited; returns the rounds done
 * while they ran. Every read must exit 0 (t_reap also refuses a "locked"). */
static int read_while(t_env *e, t_proc *procs, int nprocs) {
    int rounds = 0, running = nprocs;
    double t0 = t_now();
    long long v;
    char err[512];
    /* from the moment both experiments are recorded */
    while (running && !(t_exists(e->db) &&
                        !t_qtry(e->db, &v, "SELECT count(*) FROM experiments", err, sizeof err) && v == 2)) {
        running = 0;
        for (int k = 0; k < nprocs; k++) running += !t_try_reap(&procs[k]);
        assert_true(t_now() - t0 < T_TIMEOUT);
        t_sleep_ms(2);
    }
    e->quiet = 1;
    while (running) {
        t_proc q = t_run(e, NULL, "query", "SELECT status, count(*) FROM results GROUP BY status", "--db", e->db, NULL);
        t_expect_rc(&q, 0);
        t_proc c = t_run(e, NULL, "compare", rounds % 2 ? "conc-a" : "conc-b", "--db", e->db, NULL);
        t_expect_rc(&c, 0);
        t_proc l = t_run(e, NULL, "ls", "--db", e->db, NULL);
        t_expect_rc(&l, 0);
        t_free(&q), t_free(&c), t_free(&l);
        running = 0;
        for (int k = 0; k < nprocs; k++) running += !t_try_reap(&procs[k]);
        rounds += running > 0;
        if (t_now() - t0 > T_TIMEOUT) fail_msg("the runs did not finish within %.0f s", T_TIMEOUT);
        t_sleep_ms(100); /* leave the cores to the writers */
    }
    e->quiet = 0;
    for (int k = 0; k < nprocs; k++) t_reap(&procs[k], T_TIMEOUT); /* the "locked" check */
    return rounds;
}

static void test_three_runs_and_a_reader(void **state) {
    t_env *e = *state;
    char hashes[16][17];
    int ncells = cell_hashes(e, hashes, 16);
    assert_int_equal(ncells, 6);
    t_proc p[3];
    const char *a[] = {"run", file_a, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL};
    const char *b[] = {"run", file_b, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL};
    t_spawn(e, &p[0], NULL, a);
    t_spawn(e, &p[1], NULL, a);
    t_spawn(e, &p[2], NULL, b);
    int rounds = read_while(e, p, 3);
    printf("%d query+compare+ls rounds while the runs went on\n", rounds);
    for (int k = 0; k < 3; k++) {
        t_expect_rc(&p[k], 0);
        t_expect_in(&p[k], p[k].out, "all cells done");
    }
    assert_true(rounds >= 1);
    expect_all_once(e, p, 3, hashes, ncells);
    for (int k = 0; k < 3; k++) t_free(&p[k]);
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (t_init("test_concurrency")) return 1;
    snprintf(file_a, sizeof file_a, "%s/concurrency/a.yaml", t_data);
    snprintf(file_b, sizeof file_b, "%s/concurrency/b.yaml", t_data);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_runs_and_a_reader, t_setup, t_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    t_kill_all();
    return failed ? 1 : 0;
}
