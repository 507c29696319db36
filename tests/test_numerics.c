/* Numerics: a run whose loss or gradient becomes NaN or infinite stops at that very step, is
 * recorded as failed with the step and the reason, keeps the metrics up to that step and
 * nothing else (no summary, no checkpoint), and the grid goes on with the next cell.
 *
 * The faults come from the test pathway `faulty` (tests/fault_plugins/faulty.c, built into
 * $M2PT_BUILD/tests/fault_plugins/, found through M2PT_PLUGIN_PATH): baseline until the step its
 * options name, then a NaN weight (NaN loss), or a NaN or +Inf in a gradient while the loss is
 * still finite. The grid is tests/numerics/grid.yaml (5 cells, 16 steps each). A gradient fault
 * used to go unnoticed until the parameters it poisoned made the next loss NaN. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"
#include "support/proc.h"

static char plugin_env[4200];

typedef struct {
    const char *key; /* the pathway option that injects the fault */
    int step, epoch; /* where */
    const char *why; /* the start of the recorded error */
} fault;

static const fault faults[] = {
    {"pathway.nan_grad_step", 5, 1, "gradient became NaN at step 5 (epoch 1; the loss was "},
    {"pathway.inf_grad_step", 11, 2, "gradient became infinite at step 11 (epoch 2; the loss was "},
    {"pathway.nan_loss_step", 3, 1, "loss became NaN at step 3 (epoch 1)"},
};

static long long run_of(const char *db, const fault *f) {
    return t_qi(db, "SELECT run_id FROM params WHERE key = %Q AND num = %d", f->key, f->step);
}

/* The failed run of fault f: stopped at its step, with the reason, nothing of a result. */
static void expect_stopped(t_env *e, const fault *f) {
    long long id = run_of(e->db, f);
    char *err = t_qdump(e->db, "SELECT error FROM runs WHERE id = %lld", id);
    if (strncmp(err, f->why, strlen(f->why))) {
        print_error("run %lld: error '%s', expected it to start with '%s'\n", id, err, f->why);
        fail();
    }
    free(err);
    t_expect_q(e->db, 1,
               "SELECT status = 'failed' AND finished IS NOT NULL AND attempt = 1 FROM runs WHERE id = %lld", id);
    /* every step up to the faulty one, none after: stopped at once */
    t_expect_q(e->db, f->step, "SELECT count(*) FROM metrics WHERE run_id = %lld AND key = 'train_loss_step'", id);
    t_expect_q(e->db, f->step, "SELECT max(step) FROM metrics WHERE run_id = %lld", id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM metrics WHERE run_id = %lld AND epoch > %d", id, f->epoch - 1);
    t_expect_q(e->db, f->epoch - 1, "SELECT count(*) FROM metrics WHERE run_id = %lld AND key = 'val_acc'", id);
    if (strstr(f->key, "grad")) /* the loss of that step was finite, its gradient norm was not */
        t_expect_q(e->db, 1,
                   "SELECT value IS NOT NULL AND value < 10 FROM metrics WHERE run_id = %lld AND key = 'train_loss_step'"
                   " AND step = %d",
                   id, f->step);
    t_expect_q(e->db, 0, "SELECT count(*) FROM summary WHERE run_id = %lld", id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM artifacts WHERE run_id = %lld", id);
    char *hash = t_qdump(e->db, "SELECT cell_hash FROM runs WHERE id = %lld", id);
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/runs/%.16s.ckpt", e->cache, hash);
    assert_false(t_exists(ckpt));
    free(hash);
}

static void test_nonfinite_grid(void **state) {
    t_env *e = *state;
    char file[4200];
    snprintf(file, sizeof file, "%s/numerics/grid.yaml", t_data);
    const char *env[] = {plugin_env, NULL};
    t_opts o = {.env = env};
    t_proc r = t_run(e, &o, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    t_expect_rc(&r, 1);
    t_expect_in(&r, r.out, "some cells failed");
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        t_expect_in(&r, r.err, faults[i].why);
        expect_stopped(e, &faults[i]);
    }
    /* the healthy cells, before and after the failures, are done with all 16 steps */
    t_expect_q(e->db, 5, "SELECT count(*) FROM runs");
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'failed'");
    t_expect_q(e->db, 2,
               "SELECT count(*) FROM runs r WHERE status = 'done' AND (SELECT count(*) FROM metrics m WHERE m.run_id ="
               " r.id AND m.key = 'train_loss_step') = 16");
    t_expect_q(e->db, 1, "SELECT max(id) = (SELECT max(id) FROM runs WHERE status = 'done') FROM runs");
    t_expect_integrity(e->db);
    t_free(&r);

    e->passed = 1;
}

/* `m2pt train` stops at the step too, exits 1 with the reason, and saves nothing. */
static void test_nonfinite_train(void **state) {
    t_env *e = *state;
    const char *env[] = {plugin_env, NULL};
    t_opts o = {.env = env};
    char out[600];
    snprintf(out, sizeof out, "%s/model.ckpt", e->dir);
    static const char *const opts[] = {"pathway.nan_grad_step=3", "pathway.inf_grad_step=6", "pathway.nan_loss_step=2"};
    static const char *const why[] = {"m2pt train: gradient became NaN at step 3 (epoch 1;",
                                      "m2pt train: gradient became infinite at step 6 (epoch 1;",
                                      "m2pt train: loss became NaN at step 2 (epoch 1)"};
    for (int i = 0; i < 3; i++) {
        t_proc r = t_run(e, &o, "train", "--modality", "image", "--pathway", "faulty", "--set", opts[i], "--set",
                         "modality.train_size=256", "--set", "modality.val_size=64", "--set", "modality.test_size=200",
                         "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-ratio", "2", "--epochs", "2", "--batch",
                         "32", "--threads", "1", "--out", out, NULL);
        t_expect_rc(&r, 1);
        t_expect_in(&r, r.err, why[i]);
        t_expect_one_line(&r);
        t_expect_not_in(&r, r.out, "epoch   1"); /* stopped within the first epoch */
        assert_false(t_exists(out));
        t_free(&r);
    }
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (t_init("test_numerics")) return 1;
    snprintf(plugin_env, sizeof plugin_env, "M2PT_PLUGIN_PATH=%s/tests/fault_plugins", t_build);
    char so[4200];
    snprintf(so, sizeof so, "%s/tests/fault_plugins/faulty.so", t_build);
    if (!t_exists(so)) {
        fprintf(stderr, "test_numerics: %s is missing (make %s)\n", so, so);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nonfinite_grid, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_nonfinite_train, t_setup, t_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    t_kill_all();
    return failed ? 1 : 0;
}
