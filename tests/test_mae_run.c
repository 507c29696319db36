/* End-to-end tests of masked-autoencoder pretraining in experiment grids: the real binary
 * ($M2PT_BUILD/m2pt) on tiny image configurations (tests/mae/, dim 16, depth 1, 96-128 images,
 * 2 epochs), each test in its own mkdtemp directory (tests/support/e2e.h).
 *
 *  1. mae_tiny.yaml: a pretrain cell (the target's modality and data, trained by MAE) and an MAE
 *     auxiliary cell, then three targets (scratch baseline, pretrained baseline, pretrained
 *     reparam with the MAE auxiliary). The store has the reconstruction losses per step and per
 *     epoch and a summary without accuracy; each MAE model trained once; the reparam target
 *     links its auxiliary run. A rerun trains nothing.
 *  2. mae_tiny_frozen.yaml, another experiment into another database sharing the cache: the
 *     pretrain cell is reused from the cache (not trained), and with a learning rate of 1e-9 the
 *     fine-tuned target's tokenizer and blocks equal the pretrained checkpoint's (while the
 *     scratch baseline's are far from them): the target started from the pretrained weights.
 *     `m2pt train --objective mae` and `--pretrained` by hand on the same tiny data.
 *  3. Refusals before anything runs (exit 2, one located line, nothing written): bad mae options;
 *     a modality plugin without reconstruction targets (ABI 1.0: tests/bad_plugins/abi10_modality.c,
 *     built by `make check`), by `m2pt run` and by `m2pt train --objective mae`. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "blas.h"
#include "checkpoint.h"
#include "support/e2e.h"

static void data(char *buf, size_t n, const char *name) { e2e_data(buf, n, "mae", name); }

/* The artifact (checkpoint path) of the run with this SQL condition, into buf. */
static void ckpt_of(const char *db, const char *where, char *buf, size_t n) {
    char *dump = e2e_dump(db, "SELECT a.path FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE %s", where);
    assert_non_null(dump);
    size_t len = strcspn(dump, "|;\n");
    assert_true(len > 0 && len < n);
    memcpy(buf, dump, len);
    buf[len] = '\0';
    free(dump);
}

/* Largest |a - b| over the tensors of `pre` whose names start with "blocks." or are not the
 * decoder's ("mae.*"), the head's or the pathway's: the tokenizer and blocks a pretrained
 * target starts from. Every such tensor must be in `other` with the same size. */
static double max_diff(const char *pre, const char *other, int *compared) {
    m2pt_checkpoint a, b;
    char err[1200];
    if (m2pt_checkpoint_open(&a, pre, err, sizeof err)) fail_msg("%s", err);
    if (m2pt_checkpoint_open(&b, other, err, sizeof err)) fail_msg("%s", err);
    double mx = 0;
    *compared = 0;
    for (int i = 0; i < a.n; i++) {
        const m2pt_checkpoint_entry *e = &a.tensors[i];
        if (!strncmp(e->name, "mae.", 4) || strstr(e->name, "head") || strstr(e->name, "@adam")) continue;
        const m2pt_checkpoint_entry *f = m2pt_checkpoint_find(&b, e->name);
        if (!f) fail_msg("%s: no tensor %s (in %s)", other, e->name, pre);
        assert_int_equal(f->numel, e->numel);
        for (size_t k = 0; k < e->numel; k++) {
            double d = fabs((double)e->data[k] - (double)f->data[k]);
            if (d > mx) mx = d;
        }
        (*compared)++;
    }
    m2pt_checkpoint_close(&a), m2pt_checkpoint_close(&b);
    return mx;
}

/* ================================================================ 1 and 2 */

static void test_mae_grid(void **state) {
    e2e_env *e = *state;
    char file[4200], frozen[4200], db[400], db2[400], cache[400];
    data(file, sizeof file, "mae_tiny.yaml");
    data(frozen, sizeof frozen, "mae_tiny_frozen.yaml");
    e2e_path(db, sizeof db, e, "m2pt.db");
    e2e_path(db2, sizeof db2, e, "second.db");
    e2e_path(cache, sizeof cache, e, "cache");

    /* the dry run shows the objective of the auxiliary-role cells and the targets' pretrain */
    e2e_result d = e2e_run(e, "run", file, "--dry-run", "--db", db, "--cache", cache, NULL);
    e2e_expect_rc(&d, 0);
    e2e_expect_contains(&d, d.out, "mae-tiny: 3 grid points -> 3 target cells + 2 auxiliary cells (0 collapsed)");
    e2e_expect_contains(&d, d.out, "  hash              modality  seed  epochs  objective\n");
    e2e_expect_contains(&d, d.out, "pathway   pretrain          aux\n");
    assert_int_equal(e2e_count(d.out, "  image     "), 2);
    assert_false(e2e_exists(db));

    e2e_result r = e2e_run(e, "run", file, "--db", db, "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&r, 0);
    e2e_expect_contains(&r, r.out, "all cells done");
    assert_int_equal(e2e_count(r.out, "pretrain (mae): image"), 2); /* each MAE model trained once */
    assert_int_equal(e2e_count(r.out, "auxiliary model: "), 0);
    e2e_expect_q(db, 5, "SELECT count(*) FROM runs WHERE status = 'done'");
    e2e_expect_q(db, 2, "SELECT count(*) FROM runs r JOIN params p ON p.run_id = r.id WHERE r.role = 'auxiliary'"
                        " AND p.key = 'objective' AND p.value = 'mae'");
    /* per MAE run: 2 epochs of 128/32 = 4 (pretrain) or 96/32 = 3 (auxiliary) steps */
    e2e_expect_q(db, 2, "SELECT count(*) FROM runs r WHERE r.role = 'auxiliary' AND"
                        " (SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_recon_loss'"
                        "  AND m.epoch = 0) = 2 * (SELECT p.num FROM params p WHERE p.run_id = r.id"
                        "  AND p.key = 'data.train_size') / 32");
    e2e_expect_q(db, 2, "SELECT count(*) FROM runs r WHERE r.role = 'auxiliary' AND"
                        " (SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_recon_loss'"
                        "  AND m.epoch > 0) = 2 AND (SELECT count(*) FROM metrics m WHERE m.run_id = r.id"
                        "  AND m.key = 'val_recon_loss' AND m.epoch > 0 AND m.value > 0) = 2"
                        " AND (SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND m.key = 'test_recon_loss') = 1"
                        " AND (SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND m.key IN"
                        "  ('train_loss_step', 'train_loss', 'train_acc', 'val_acc')) = 0");
    /* every step's loss is a finite positive number */
    e2e_expect_q(db, 0, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.role = 'auxiliary'"
                        " AND m.key LIKE '%%recon_loss' AND (m.value IS NULL OR m.value <= 0)");
    /* the summary: no accuracy, the test reconstruction loss as test_loss */
    e2e_expect_q(db, 2, "SELECT count(*) FROM summary s JOIN runs r ON r.id = s.run_id WHERE r.role = 'auxiliary'"
                        " AND s.test_acc IS NULL AND s.best_val_acc IS NULL AND s.test_loss > 0 AND s.test_loss ="
                        " (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'test_recon_loss')");
    e2e_expect_q(db, 3, "SELECT count(*) FROM summary s JOIN runs r ON r.id = s.run_id WHERE r.role = 'target'"
                        " AND s.test_acc > 0");
    /* the reparam target links its (MAE) auxiliary run; the targets' configs say what they are */
    e2e_expect_q(db, 1, "SELECT count(*) FROM runs t JOIN runs a ON a.id = t.aux_run_id WHERE t.pathway = 'reparam'"
                        " AND a.role = 'auxiliary' AND a.config LIKE '%%\"objective\":\"mae\"%%' AND a.seed = 5");
    e2e_expect_q(db, 2, "SELECT count(*) FROM params p JOIN runs r ON r.id = p.run_id WHERE r.role = 'target'"
                        " AND p.key = 'pretrain.objective' AND p.value = 'mae'");
    e2e_expect_q(db, 1, "SELECT count(*) FROM params p JOIN runs r ON r.id = p.run_id WHERE r.role = 'target'"
                        " AND p.key = 'auxiliary.objective' AND p.value = 'mae'");
    /* the MAE checkpoints are where auxiliary models go */
    e2e_expect_q(db, 2, "SELECT count(*) FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.role = 'auxiliary'"
                        " AND a.path LIKE '%%/aux/' || r.cell_hash || '.ckpt'");
    /* the same first batch, another start: the pretrained baseline's first loss differs */
    e2e_expect_q(db, 1, "SELECT (SELECT m.value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.pathway ="
                        " 'baseline' AND r.config LIKE '%%\"pretrain\"%%' AND m.key = 'train_loss_step' AND m.step = 1)"
                        " <> (SELECT m.value FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.pathway ="
                        " 'baseline' AND r.role = 'target' AND r.config NOT LIKE '%%\"pretrain\"%%'"
                        " AND m.key = 'train_loss_step' AND m.step = 1)");

    /* ls and show: the MAE runs without accuracy */
    e2e_result ls = e2e_run(e, "ls", "--db", db, "--role", "auxiliary", NULL);
    e2e_expect_rc(&ls, 0);
    e2e_result show = e2e_run(e, "show", "1", "--db", db, NULL);
    e2e_expect_rc(&show, 0);
    e2e_expect_contains(&show, show.out, "val_recon_loss");
    e2e_result rep = e2e_run(e, "report", "mae-tiny", "--db", db, "-o", e->dir, NULL);
    e2e_expect_rc(&rep, 0);
    char md[400];
    e2e_path(md, sizeof md, e, "report.md");
    char *text = e2e_slurp(md);
    assert_non_null(text);
    e2e_expect_contains(&rep, text, "Auxiliary and pretrained models");
    e2e_expect_contains(&rep, text, "test recon loss");
    free(text);

    /* a rerun trains nothing */
    char *before = e2e_dump(db, "SELECT id, cell_hash, attempt, started, finished FROM runs ORDER BY id");
    e2e_result again = e2e_run(e, "run", file, "--db", db, "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&again, 0);
    assert_int_equal(e2e_count(again.out, "pretrain (mae): image"), 0);
    char *after = e2e_dump(db, "SELECT id, cell_hash, attempt, started, finished FROM runs ORDER BY id");
    assert_string_equal(before, after);
    free(before), free(after);

    /* another experiment, another database, the same cache: the pretrain cell is imported */
    e2e_result f = e2e_run(e, "run", frozen, "--db", db2, "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&f, 0);
    assert_int_equal(e2e_count(f.out, "pretrain (mae): image"), 0);
    e2e_expect_contains(&f, f.out, "reused from the cache");
    char pre[1200], tuned[1200], scratch[1200];
    ckpt_of(db2, "r.role = 'auxiliary'", pre, sizeof pre);
    ckpt_of(db2, "r.role = 'target'", tuned, sizeof tuned);
    ckpt_of(db, "r.role = 'target' AND r.pathway = 'baseline' AND r.config NOT LIKE '%\"pretrain\"%'", scratch,
            sizeof scratch);
    e2e_expect_q(db, 1, "SELECT count(*) FROM artifacts WHERE path = %Q", pre); /* the first run's checkpoint */
    /* imported with the summary its checkpoint carries: no accuracy, the reconstruction loss */
    e2e_expect_q(db2, 1, "SELECT count(*) FROM summary s JOIN runs r ON r.id = s.run_id WHERE r.role = 'auxiliary'"
                         " AND s.test_acc IS NULL AND s.test_loss > 0");
    int n1, n2;
    double near = max_diff(pre, tuned, &n1), far = max_diff(pre, scratch, &n2);
    assert_true(n1 >= 4 && n1 == n2); /* tokenizer and block tensors */
    if (!(near < 1e-5)) fail_msg("fine-tuned with lr 1e-9, the blocks moved %g from the pretrained ones", near);
    if (!(far > 1e-3)) fail_msg("the scratch model's blocks are only %g from the pretrained ones", far);

    /* by hand: m2pt train --objective mae, then a classifier fine-tuned from its checkpoint */
    char out[400];
    e2e_path(out, sizeof out, e, "image-mae.ckpt");
    const char *small[] = {"--dim", "16", "--depth", "1", "--heads", "2", "--batch", "32", "--threads", "1"};
    e2e_result m = e2e_run(e, "train", "--modality", "image", "--objective", "mae", "--epochs", "1", "--out", out,
                           "--set", "modality.train_size=128", "--set", "modality.val_size=64", "--set",
                           "modality.test_size=128", small[0], small[1], small[2], small[3], small[4], small[5],
                           small[6], small[7], small[8], small[9], NULL);
    e2e_expect_rc(&m, 0);
    e2e_expect_contains(&m, m.out, "train recon loss");
    e2e_expect_contains(&m, m.out, "test reconstruction loss: ");
    e2e_result ft = e2e_run(e, "train", "--modality", "image", "--pretrained", out, "--epochs", "1", "--set",
                            "modality.train_size=128", "--set", "modality.val_size=64", "--set", "modality.test_size=128",
                            small[0], small[1], small[2], small[3], small[4], small[5], small[6], small[7], small[8],
                            small[9], NULL);
    e2e_expect_rc(&ft, 0);
    e2e_expect_contains(&ft, ft.out, "tokenizer and blocks from the pretrained checkpoint");
    e2e_expect_contains(&ft, ft.out, "test accuracy: ");

    /* A scratch baseline first run by an experiment without target.pretrain (a database shared
     * by studies): its config leaves the key out at its default, and compare still calls its
     * group "none", not "-" */
    char plain[400], db3[400];
    e2e_path(plain, sizeof plain, e, "plain.yaml");
    e2e_path(db3, sizeof db3, e, "third.db");
    FILE *pf = fopen(plain, "w");
    assert_non_null(pf);
    fprintf(pf, "name: plain-tiny\nseed: 0\nmodel: {dim: 16, depth: 1, heads: 2, mlp_ratio: 2}\n"
                "train: {epochs: 2, batch: 32}\ntarget:\n  modality: image\n"
                "  data: {train_size: 128, val_size: 64, test_size: 200}\npathway: {name: baseline}\n");
    fclose(pf);
    e2e_result p1 = e2e_run(e, "run", plain, "--db", db3, "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&p1, 0);
    e2e_result p2 = e2e_run(e, "run", file, "--db", db3, "--cache", cache, "--threads", "1", NULL);
    e2e_expect_rc(&p2, 0);
    e2e_expect_contains(&p2, p2.out, "done before, skipped"); /* the shared scratch baseline */
    e2e_result cmp = e2e_run(e, "compare", "mae-tiny", "--db", db3, NULL);
    e2e_expect_rc(&cmp, 0);
    assert_int_equal(e2e_count(cmp.out, " none "), 1);

    e2e_free(&d), e2e_free(&r), e2e_free(&ls), e2e_free(&show), e2e_free(&rep), e2e_free(&again), e2e_free(&f);
    e2e_free(&m), e2e_free(&ft), e2e_free(&p1), e2e_free(&p2), e2e_free(&cmp);
    e->passed = 1;
}

/* ================================================================ 3 */

static void expect_refused(e2e_env *e, const char *file, const char *db, const char *needle, const char *set) {
    e2e_result r = set ? e2e_run(e, "run", file, "--db", db, "--set", set, NULL) : e2e_run(e, "run", file, "--db", db, NULL);
    e2e_expect_rc(&r, 2);
    e2e_expect_contains(&r, r.err, needle);
    e2e_expect_contains(&r, r.err, set ? "--set " : file); /* located: FILE:LINE:COL, or the --set */
    assert_int_equal(e2e_count(r.err, "\n"), 1);
    assert_false(e2e_exists(db));
    e2e_free(&r);
}

/* Copies a file (a plugin) byte for byte. */
static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out) fail_msg("cannot copy %s to %s (the ABI 1.0 test plugin is built by 'make check')", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void test_mae_refusals(void **state) {
    e2e_env *e = *state;
    char ratio[4200], heads[4200], tiny[4200], db[400], want[4400];
    data(ratio, sizeof ratio, "mae_bad_ratio.yaml");
    data(heads, sizeof heads, "mae_bad_heads.yaml");
    data(tiny, sizeof tiny, "mae_tiny.yaml");
    e2e_path(db, sizeof db, e, "m2pt.db");
    snprintf(want, sizeof want, "%s:5:15: mae.mask_ratio: 1.5 is out of range: must be > 0 and < 1", ratio);
    expect_refused(e, ratio, db, want, NULL);
    expect_refused(e, heads, db, "mae.decoder_dim 32 is not a multiple of mae.decoder_heads 3", NULL);
    expect_refused(e, tiny, db, "auxiliary.objective: 'MAE' is not one of: supervised, mae", "auxiliary.objective=MAE");
    expect_refused(e, tiny, db, "mae.min_lr: min_lr 0.1 of the MAE training is larger than its lr 0.001", "mae.min_lr=0.1");

    /* a modality plugin built against plugin ABI 1.0: it loads (and trains as a classifier:
     * test_loader), but asking it for MAE is refused before anything runs */
    char old[4200], dir[400], so[800], bin[4200];
    data(old, sizeof old, "mae_old_plugin.yaml");
    e2e_path(dir, sizeof dir, e, "old-plugins");
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(bin, sizeof bin, "%s", e2e_m2pt());
    char *slash = strrchr(bin, '/');
    snprintf(slash ? slash + 1 : bin, sizeof bin - (size_t)(slash ? slash + 1 - bin : 0), "tests/bad_plugins/abi10_modality.so");
    snprintf(so, sizeof so, "%s/toy10.so", dir);
    copy_file(bin, so);
    setenv("M2PT_PLUGIN_PATH", dir, 1);
    snprintf(want, sizeof want,
             "%s:8:14: auxiliary.objective: modality plugin 'toy10' (plugin ABI 1.0) has no reconstruction targets", old);
    expect_refused(e, old, db, want, NULL);
    e2e_result t = e2e_run(e, "train", "--modality", so, "--objective", "mae", "--epochs", "1", NULL);
    e2e_expect_rc(&t, 2);
    e2e_expect_contains(&t, t.err, "cannot be pretrained with objective mae");
    assert_int_equal(e2e_count(t.err, "\n"), 1);
    e2e_free(&t);
    /* the same plugin as a supervised auxiliary model is fine */
    e2e_result ok = e2e_run(e, "run", old, "--dry-run", "--db", db, "--set", "auxiliary.objective=supervised", NULL);
    e2e_expect_rc(&ok, 0);
    e2e_free(&ok);
    unsetenv("M2PT_PLUGIN_PATH");
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    if (e2e_init("test_mae_run")) return 1;
    char probe[4200];
    data(probe, sizeof probe, "mae_tiny.yaml");
    if (!e2e_exists(probe)) {
        fprintf(stderr, "test_mae_run: %s is missing (set M2PT_TEST_DATA to the tests directory)\n", probe);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mae_grid, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_mae_refusals, e2e_setup, e2e_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    e2e_kill_leftovers();
    return failed ? 1 : 0;
}
