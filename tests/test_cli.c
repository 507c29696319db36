/* End-to-end tests of the command line: the real binary ($M2PT_BUILD/m2pt, default build/m2pt,
 * with its plugins in $M2PT_BUILD/plugins) run through the shell on tiny configurations of the
 * image modality (Fashion-MNIST from the Debian package), asserting exit codes and output:
 * usage errors exit 2 with a message naming the fault; a baseline model trained as an
 * auxiliary feeds a reparam run (lambda starting at 0.5, so that merging is not a no-op) whose
 * merged model scores what the unmerged one did, and `m2pt eval` of the saved model prints the
 * same accuracy; an auxiliary of another shape and a truncated checkpoint are refused; noaux
 * runs; a run at one thread is bit-reproducible (output lines and checkpoint bytes).
 * Outputs go to a mkdtemp directory, removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "blas.h"

static char m2pt[4096];    /* the binary under test */
static char tmpdir[4096];  /* outputs of this run */
static double reparam_merged = -1; /* merged accuracy printed by the reparam run */
static char *aux_stdout;          /* stdout of the auxiliary run, for test_reproducible */

/* Tiny runs: 256 training and 100 validation images, 1 epoch, a 2-block dim-16 model. The
 * test split (10,000 images) is evaluated after the epoch and twice at the end. */
#define DATA "--modality image --set modality.train_size=256 --set modality.val_size=100 --set modality.test_size=1000"
#define SHAPE16 "--dim 16 --depth 2 --heads 2 --mlp-ratio 2"
#define SHAPE32 "--dim 32 --depth 2 --heads 2 --mlp-ratio 2"
#define RUN "--epochs 1 --batch 64"
/* The auxiliary baseline; run again by test_reproducible, hence one thread. */
#define AUX_CMD "train " DATA " " SHAPE16 " " RUN " --threads 1"

typedef struct {
    int rc;    /* exit status, or 128 + signal */
    char *out; /* stdout */
    char *err; /* stderr */
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    if (f) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len - 1 == 0) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) break;
                buf = nb, cap *= 2;
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

/* Runs `m2pt ARGS` (a printf format) through the shell from the current directory, with
 * stdout and stderr captured in the temp directory. */
static result run(const char *fmt, ...) {
    char args[8192], cmd[8192 + 4096 + 2 * 4200 + 16], out[4200], err[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", m2pt, args, out, err);
    printf("$ m2pt %s\n", args);
    fflush(stdout);
    int st = system(cmd);
    result r = {-1, slurp(out), slurp(err)};
    if (st != -1) r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static void result_free(result *r) {
    free(r->out);
    free(r->err);
}

/* Fails the test, showing the run's output, unless it exited with `rc`. */
static void expect_rc(const result *r, int rc) {
    if (r->rc != rc) {
        print_error("exit status %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", r->rc, rc, r->out, r->err);
        fail();
    }
}

static void expect_contains(const char *text, const char *what, const char *needle) {
    if (!strstr(text, needle)) {
        print_error("%s does not contain \"%s\":\n%s\n", what, needle, text);
        fail();
    }
}

static void path_in_tmp(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

static int file_exists(const char *name) {
    char p[4200];
    struct stat st;
    path_in_tmp(p, sizeof p, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* From "test accuracy: X% with the pathway, Y% merged ...": 0, or -1 when absent. */
static int parse_final(const char *out, double *with, double *merged) {
    const char *p = strstr(out, "\ntest accuracy: ");
    return p && sscanf(p + 1, "test accuracy: %lf%% with the pathway, %lf%% merged", with, merged) == 2 ? 0 : -1;
}

/* ----------------------------------------------------------------- usage errors: exit 2 */

static void test_no_args(void **state) {
    (void)state;
    result r = run("");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "usage: m2pt COMMAND");
    result_free(&r);
}

static void test_help(void **state) {
    (void)state;
    result r = run("help");
    expect_rc(&r, 0);
    expect_contains(r.out, "stdout", "usage: m2pt COMMAND");
    expect_contains(r.out, "stdout", "train");
    expect_contains(r.out, "stdout", "exit codes");
    result_free(&r);
}

static void test_unknown_command(void **state) {
    (void)state;
    result r = run("frobnicate");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "unknown command 'frobnicate'");
    result_free(&r);
}

static void test_train_needs_modality(void **state) {
    (void)state;
    result r = run("train --epochs 1");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "--modality");
    result_free(&r);
}

static void test_bad_epochs(void **state) {
    (void)state;
    result r = run("train --modality image --epochs abc");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "--epochs 'abc'");
    result_free(&r);
}

static void test_unknown_plugin(void **state) {
    (void)state;
    result r = run("train --modality no_such_modality");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "no_such_modality");
    expect_contains(r.err, "stderr", "found: "); /* lists what was found instead */
    expect_contains(r.err, "stderr", "image");
    result_free(&r);
}

static void test_unknown_key(void **state) {
    (void)state;
    result r = run("train " DATA " --set modality.no_such_key=1 " SHAPE16 " " RUN);
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "modality.no_such_key");
    expect_contains(r.err, "stderr", "unknown key");
    assert_null(strstr(r.out, "epoch")); /* refused before training */
    result_free(&r);
}

static void test_bad_patch(void **state) {
    (void)state;
    result r = run("train " DATA " --set modality.patch=5 " SHAPE16 " " RUN);
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "patch 5 does not divide");
    expect_contains(r.err, "stderr", "28");
    assert_null(strstr(r.out, "epoch"));
    result_free(&r);
}

static void test_reparam_needs_aux(void **state) {
    (void)state;
    result r = run("train " DATA " " SHAPE16 " " RUN " --pathway reparam");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "reparam");
    expect_contains(r.err, "stderr", "--aux");
    result_free(&r);
}

/* ----------------------------------------------------------------- training runs */

static void test_train_aux(void **state) {
    (void)state;
    result r = run(AUX_CMD " --out '%s/aux.ckpt'", tmpdir);
    expect_rc(&r, 0);
    expect_contains(r.out, "stdout", "modality image, pathway baseline");
    expect_contains(r.out, "stdout", "data: 256 train, 100 val, 1000 test samples, 10 classes");
    expect_contains(r.out, "stdout", "epoch   1  train loss");
    expect_contains(r.out, "stdout", "saved merged model to");
    double with, merged;
    assert_int_equal(parse_final(r.out, &with, &merged), 0);
    assert_true(with == merged); /* baseline: merging changes nothing */
    assert_true(file_exists("aux.ckpt"));
    aux_stdout = r.out;
    free(r.err);
}

static void test_reparam(void **state) {
    (void)state;
    if (!file_exists("aux.ckpt")) skip(); /* test_train_aux failed */
    /* lambda starts at 0.5, not 0, so that merging W + lambda * W_aux is not a no-op */
    result r = run("train " DATA " " SHAPE16 " " RUN " --pathway reparam --aux '%s/aux.ckpt' --set pathway.scale_init=0.5"
                   " --out '%s/merged.ckpt'", tmpdir, tmpdir);
    expect_rc(&r, 0);
    expect_contains(r.out, "stdout", "pathway reparam, auxiliary");
    expect_contains(r.out, "stdout", "mean|lambda|");
    double with, merged;
    if (parse_final(r.out, &with, &merged)) {
        print_error("no 'test accuracy: X%% with the pathway, Y%% merged' line:\n%s", r.out);
        fail();
    }
    printf("reparam: %.2f%% with the pathway, %.2f%% merged\n", with, merged);
    assert_true(fabs(with - merged) <= 0.05); /* merged computes what the pathway did */
    assert_true(file_exists("merged.ckpt"));
    reparam_merged = merged;
    result_free(&r);
}

static void test_eval_merged(void **state) {
    (void)state;
    if (reparam_merged < 0 || !file_exists("merged.ckpt")) skip(); /* test_reparam failed */
    result r = run("eval '%s/merged.ckpt'", tmpdir);
    expect_rc(&r, 0);
    const char *p = strstr(r.out, " image test accuracy ");
    double acc = -1;
    if (!p || sscanf(p, " image test accuracy %lf%%", &acc) != 1) {
        print_error("no 'image test accuracy X%%' in:\n%s", r.out);
        fail();
    }
    printf("eval: %.2f%%, training printed %.2f%% merged\n", acc, reparam_merged);
    assert_true(fabs(acc - reparam_merged) < 0.005);
    expect_contains(r.out, "stdout", "of 1000)"); /* the whole (test_size) test split */
    result_free(&r);
}

static void test_reparam_wrong_shape(void **state) {
    (void)state;
    result r = run("train " DATA " " SHAPE32 " " RUN " --out '%s/aux32.ckpt'", tmpdir);
    expect_rc(&r, 0);
    result_free(&r);
    r = run("train " DATA " " SHAPE16 " " RUN " --pathway reparam --aux '%s/aux32.ckpt'", tmpdir);
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "aux32.ckpt");
    expect_contains(r.err, "stderr", "dim 32 depth 2 heads 2 mlp_ratio 2"); /* the auxiliary's shape */
    expect_contains(r.err, "stderr", "dim 16 depth 2 heads 2 mlp_ratio 2"); /* the target's */
    assert_null(strstr(r.out, "epoch"));
    result_free(&r);
}

static void test_eval_truncated(void **state) {
    (void)state;
    if (!file_exists("aux.ckpt")) skip();
    char src[4200], dst[4200];
    path_in_tmp(src, sizeof src, "aux.ckpt");
    path_in_tmp(dst, sizeof dst, "truncated.ckpt");
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    assert_true(n > 200);
    assert_int_equal(fwrite(buf, 1, n / 2, out), n / 2); /* the first half (at most 32 KiB) */
    assert_int_equal(fclose(out), 0);
    result r = run("eval '%s'", dst);
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", dst);
    expect_contains(r.err, "stderr", "truncated");
    result_free(&r);
}

static void test_noaux(void **state) {
    (void)state;
    result r = run("train " DATA " " SHAPE16 " " RUN " --pathway noaux");
    expect_rc(&r, 0);
    expect_contains(r.out, "stdout", "pathway noaux");
    expect_contains(r.out, "stdout", "mean|lambda|");
    double with, merged;
    assert_int_equal(parse_final(r.out, &with, &merged), 0);
    assert_true(fabs(with - merged) <= 0.05);
    result_free(&r);
}

/* The lines that must not change between identical runs: the header, the data line without
 * its setup time, the epoch lines without samples/s and seconds, the final accuracies. */
static char *stable_lines(const char *out) {
    size_t len = strlen(out);
    char *res = malloc(len + 1), *copy = strdup(out);
    assert_non_null(res);
    assert_non_null(copy);
    res[0] = '\0';
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cut;
        if (!strncmp(line, "epoch ", 6) && (cut = strstr(line, " samples/s"))) {
            while (cut > line && (cut[-1] == ' ' || (cut[-1] >= '0' && cut[-1] <= '9'))) cut--;
            *cut = '\0';
        } else if (!strncmp(line, "data: ", 6) && (cut = strstr(line, " (setup"))) {
            *cut = '\0';
        } else if (strncmp(line, "m2pt train: ", 12) && strncmp(line, "test accuracy: ", 15) &&
                   strncmp(line, "per class: ", 11)) {
            continue; /* timing and file lines */
        }
        strcat(res, line);
        strcat(res, "\n");
    }
    free(copy);
    return res;
}

static int same_file(const char *a, const char *b) {
    char pa[4200], pb[4200];
    path_in_tmp(pa, sizeof pa, a);
    path_in_tmp(pb, sizeof pb, b);
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* The auxiliary run again: the same lines, the same checkpoint bytes. */
static void test_reproducible(void **state) {
    (void)state;
    if (!aux_stdout || !file_exists("aux.ckpt")) skip(); /* test_train_aux failed */
    result r = run(AUX_CMD " --out '%s/again.ckpt'", tmpdir);
    expect_rc(&r, 0);
    char *first = stable_lines(aux_stdout), *again = stable_lines(r.out);
    expect_contains(first, "the first run's lines", "epoch   1  train loss");
    expect_contains(first, "the first run's lines", "test accuracy: ");
    assert_string_equal(first, again);
    assert_true(same_file("aux.ckpt", "again.ckpt")); /* the weights, bit for bit */
    free(first), free(again);
    result_free(&r);
}

/* The thread count does not change the numbers: the default shape (dim 64, where OpenBLAS
 * calls cut per thread used to change the patch embedding's bits) trained with 1 and with 2
 * threads gives the same checkpoint, bit for bit. */
static void test_threads_identical(void **state) {
    (void)state;
    static const char *const cmd = "train --modality image --set modality.train_size=256 --set modality.val_size=100"
                                   " --set modality.test_size=100 --epochs 1 --threads %d --out '%s/threads%d.ckpt'";
    for (int t = 1; t <= 2; t++) {
        result r = run(cmd, t, tmpdir, t);
        expect_rc(&r, 0);
        result_free(&r);
    }
    assert_true(same_file("threads1.ckpt", "threads2.ckpt"));
}

/* ----------------------------------------------------------------- setup */

/* m2pt bench: the JSON carries every measured quantity and they are sane (timings are never
 * asserted, only that they were measured); bad options are refused with exit code 2. */
static double json_number(const char *json, const char *key, int nth) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json;
    for (int i = 0; p && i <= nth; i++) {
        p = strstr(p, pat);
        if (p && i < nth) p += strlen(pat);
    }
    if (!p) {
        print_error("bench JSON has no %d-th \"%s\":\n%s\n", nth + 1, key, json);
        fail();
    }
    return strtod(p + strlen(pat), NULL);
}

static void test_bench(void **state) {
    (void)state;
    result r = run("bench --shape default --threads 1 --steps 1 --repeats 1 --sgemm-n 128 --json");
    expect_rc(&r, 0);
    expect_contains(r.out, "bench JSON", "\"pathway\": \"baseline\"");
    expect_contains(r.out, "bench JSON", "\"pathway\": \"reparam\"");
    expect_contains(r.out, "bench JSON", "\"pathway\": \"merged\"");
    assert_true(json_number(r.out, "gflops", 0) > 0);
    assert_int_equal((int)json_number(r.out, "tokens", 0), 50);
    /* 3 x the forward matmul FLOPs of 4 blocks at 50 tokens, dim 64, mlp 256 */
    double fwd = 4 * (2.0 * 50 * (3 * 64 * 64 + 64 * 64 + 2 * 256 * 64) + 4.0 * 50 * 50 * 64);
    assert_float_equal(json_number(r.out, "train_mflop_per_image", 0), 3 * fwd * 1e-6, 0.01);
    assert_true(json_number(r.out, "train_images_per_s", 0) > 0); /* baseline */
    assert_true(json_number(r.out, "train_images_per_s", 1) > 0); /* reparam */
    assert_true(json_number(r.out, "infer_images_per_s", 2) > 0); /* merged */
    /* the share of the peak timed beside the (single) repeat: that repeat's GFLOP/s over it */
    for (int p = 0; p < 2; p++) {
        const double g = json_number(r.out, "train_gflops", p), peak = json_number(r.out, "peak_gflops", p);
        assert_true(peak > 0);
        assert_float_equal(json_number(r.out, "pct_peak", p), 100 * g / peak, 0.01 * 100 * g / peak + 0.01);
    }
    /* ratios to the baseline timed back to back: none for the baseline itself (training and
     * inference), positive for reparam (training) and merged (inference) */
    assert_float_equal(json_number(r.out, "time_vs_baseline", 0), 0, 0);
    assert_true(json_number(r.out, "time_vs_baseline", 1) > 0);
    assert_true(json_number(r.out, "time_vs_baseline", 2) > 0);
    /* the merged model is the plain model: baseline's parameter count, reparam's is larger */
    double pb = json_number(r.out, "params", 0), pr = json_number(r.out, "params", 1), pm = json_number(r.out, "params", 2);
    assert_true(pr > pb);
    assert_float_equal(pm, pb, 0);
    double rss = json_number(r.out, "peak_rss_mb", 0);
    assert_true(rss > 1 && rss < 100000);
    result_free(&r);
    r = run("bench --shape huge");
    expect_rc(&r, 2);
    expect_contains(r.err, "stderr", "--shape must be default, large or all");
    result_free(&r);
    r = run("bench --steps 0");
    expect_rc(&r, 2);
    result_free(&r);
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    free(aux_stdout);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    const char *build = getenv("M2PT_BUILD");
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", build && *build ? build : "build");
    struct stat st;
    if (stat(m2pt, &st) || !(st.st_mode & S_IXUSR)) {
        fprintf(stderr, "test_cli: %s is missing (build it with 'make'; run from the repository root, or set "
                        "M2PT_BUILD to the build directory)\n", m2pt);
        return 1;
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/m2pt_test_cli.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("test_cli: mkdtemp");
        return 1;
    }
    /* Plugins come from the build tree only (<dir of m2pt>/plugins): no M2PT_PLUGIN_PATH, and a
     * prefix with no plugins instead of PREFIX/lib/m2pt/plugins. */
    unsetenv("M2PT_PLUGIN_PATH");
    setenv("M2PT_PREFIX", tmpdir, 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_args),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_unknown_command),
        cmocka_unit_test(test_train_needs_modality),
        cmocka_unit_test(test_bad_epochs),
        cmocka_unit_test(test_unknown_plugin),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_bad_patch),
        cmocka_unit_test(test_reparam_needs_aux),
        cmocka_unit_test(test_train_aux),
        cmocka_unit_test(test_reparam),
        cmocka_unit_test(test_eval_merged),
        cmocka_unit_test(test_reparam_wrong_shape),
        cmocka_unit_test(test_eval_truncated),
        cmocka_unit_test(test_noaux),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, remove_tmpdir);
}
