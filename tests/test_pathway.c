/* Pathways inside a whole model (the image modality around the block stack):
 *  - reparam with scale_init 0 computes exactly what baseline computes (first forward, bit for bit);
 *  - after training steps, merging the pathway into plain weights keeps the logits (1e-5);
 *  - the merged checkpoint has exactly the baseline model's tensors and parameter count, and
 *    loads into a baseline model that reproduces the logits;
 *  - noaux needs no checkpoint and draws W_aux from the run seed;
 *  - the trained parameter count leaves out what is frozen (W_aux, lambda). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adamw.h"
#include "blas.h"
#include "checkpoint.h"
#include "model.h"
#include "threads.h"

static char dir[256];
static m2pt_loaded image, baseline, reparam, noaux;

static void load(const char *name, m2pt_loaded *out) {
    const char *build = getenv("M2PT_BUILD") ? getenv("M2PT_BUILD") : "build";
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/plugins/%s.so", build, name);
    if (m2pt_plugin_load(path, out, err, sizeof err)) fail_msg("%s", err);
}

static const m2pt_model_options OPTS = {.shape = {.dim = 16, .depth = 2, .heads = 2, .mlp_ratio = 2},
                                        .max_batch = 8, .label_smoothing = 0.1f, .seed = 5};

static void open_model(m2pt_model *m, const m2pt_loaded *path, m2pt_kv *path_cfg, uint64_t seed, const char *aux) {
    m2pt_kv *mod_cfg = calloc(1, sizeof *mod_cfg); /* freed with the model's lifetime: leak-free below */
    assert_non_null(mod_cfg);
    assert_int_equal(m2pt_kv_set(mod_cfg, "train_size", "64", "test"), 0);
    m2pt_model_options o = OPTS;
    o.seed = seed;
    o.aux_path = aux;
    char err[1200];
    if (m2pt_model_open(m, image.desc, mod_cfg, "modality.", path->desc, path_cfg, "pathway.", &o, err, sizeof err))
        fail_msg("%s", err);
    m->mod_ctx.cfg = NULL; /* the model no longer needs its config once open */
    m2pt_kv_free(mod_cfg);
    free(mod_cfg);
}

static void fill_batch(m2pt_model *m, long first) {
    long idx[8];
    for (int i = 0; i < 8; i++) idx[i] = first + i;
    char err[512];
    if (m2pt_model_fill(m, M2PT_SPLIT_TRAIN, idx, 8, 0, 0, err, sizeof err)) fail_msg("%s", err);
}

static void train_steps(m2pt_model *m, int steps) {
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 3e-3f, 0.05f);
    for (int s = 0; s < steps; s++) {
        fill_batch(m, 8 * s);
        m2pt_model_forward(m, 8);
        m2pt_model_backward(m);
        m2pt_adamw_step(&opt, &m->params, 3e-3f);
    }
}

static void save_aux(void) { /* an auxiliary model: a baseline of the same shape, other seed */
    m2pt_model m;
    open_model(&m, &baseline, NULL, 99, NULL);
    train_steps(&m, 2);
    char path[300], err[1024];
    snprintf(path, sizeof path, "%s/aux.ckpt", dir);
    if (m2pt_model_save(&m, path, 1, err, sizeof err)) fail_msg("%s", err);
    m2pt_model_close(&m);
}

static void test_zero_scale_equals_baseline(void **state) {
    (void)state;
    char aux[300];
    snprintf(aux, sizeof aux, "%s/aux.ckpt", dir);
    m2pt_model a, b;
    open_model(&a, &baseline, NULL, 5, NULL);
    open_model(&b, &reparam, NULL, 5, aux);
    fill_batch(&a, 0), fill_batch(&b, 0);
    float la = m2pt_model_forward(&a, 8), lb = m2pt_model_forward(&b, 8);
    assert_memory_equal(a.logits, b.logits, 8 * 10 * sizeof(float));
    assert_memory_equal(&la, &lb, sizeof la);
    /* and the auxiliary weights really are in the model (non-zero, from the checkpoint) */
    int h = m2pt_params_find(&b.params, "pathway.blocks.0.qkv.aux");
    assert_true(h >= 0);
    m2pt_checkpoint c;
    char err[1024];
    assert_int_equal(m2pt_checkpoint_open(&c, aux, err, sizeof err), 0);
    const float *w = m2pt_checkpoint_tensor(&c, "blocks.0.qkv.weight", NULL, NULL);
    assert_non_null(w);
    assert_memory_equal(m2pt_param(&b.params, h), w, b.params.t[h].numel * sizeof(float));
    m2pt_checkpoint_close(&c);
    printf("  reparam (lambda = 0) and baseline: first-forward logits and loss bit-identical (loss %.6f)\n", la);
    m2pt_model_close(&a), m2pt_model_close(&b);
}

static void check_merge(const m2pt_loaded *pw, const char *aux, const char *label) {
    m2pt_kv cfg = {0};
    assert_int_equal(m2pt_kv_set(&cfg, "scale_init", "0.3", "test"), 0); /* lambda far from 0 */
    m2pt_model m, plain;
    open_model(&m, pw, &cfg, 5, aux);
    train_steps(&m, 3);
    fill_batch(&m, 48);
    m2pt_model_forward(&m, 8);
    float before[80], after[80];
    memcpy(before, m.logits, sizeof before);
    m2pt_model_merge(&m);
    m2pt_model_forward(&m, 8);
    memcpy(after, m.logits, sizeof after);
    double worst = 0, scale = 0;
    for (int i = 0; i < 80; i++) scale = fmax(scale, fabs(before[i]));
    for (int i = 0; i < 80; i++) worst = fmax(worst, fabs(before[i] - after[i]) / scale);
    printf("  %s: merged vs unmerged logits, worst relative difference %.2e\n", label, worst);
    assert_true(worst <= 1e-5);
    assert_true(scale > 0.1); /* a model that outputs ~0 would make the check vacuous */

    char path[300], err[1024];
    snprintf(path, sizeof path, "%s/merged-%s.ckpt", dir, label);
    if (m2pt_model_save(&m, path, 1, err, sizeof err)) fail_msg("%s", err);
    open_model(&plain, &baseline, NULL, 5, NULL); /* same seed: same data split */
    assert_int_equal(m2pt_params_count(&plain.params), m2pt_model_plain_params(&m));
    m2pt_checkpoint c;
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);
    size_t in_file = 0;
    for (int i = 0; i < c.n; i++) in_file += c.tensors[i].numel;
    assert_int_equal(in_file, m2pt_params_count(&plain.params)); /* exactly the baseline's parameters */
    assert_int_equal(c.n, plain.params.n);
    m2pt_checkpoint_close(&c);
    if (m2pt_model_load(&plain, path, err, sizeof err)) fail_msg("%s", err);
    fill_batch(&plain, 48);
    m2pt_model_forward(&plain, 8);
    assert_memory_equal(plain.logits, after, sizeof after); /* loads as a plain baseline model */
    printf("  %s: merged checkpoint has %zu parameters = baseline's; reloaded as baseline, same logits\n", label,
           in_file);
    m2pt_model_close(&plain);
    m2pt_model_close(&m);
    m2pt_kv_free(&cfg);
}

static void test_merge_reparam(void **state) {
    (void)state;
    char aux[300];
    snprintf(aux, sizeof aux, "%s/aux.ckpt", dir);
    check_merge(&reparam, aux, "reparam");
}

static void test_merge_noaux(void **state) {
    (void)state;
    check_merge(&noaux, NULL, "noaux");
}

static void test_noaux_seeded(void **state) {
    (void)state;
    m2pt_model a, b, c;
    open_model(&a, &noaux, NULL, 5, NULL);
    open_model(&b, &noaux, NULL, 5, NULL);
    open_model(&c, &noaux, NULL, 6, NULL);
    int h = m2pt_params_find(&a.params, "pathway.blocks.1.fc2.aux");
    assert_true(h >= 0);
    size_t n = a.params.t[h].numel * sizeof(float);
    assert_memory_equal(m2pt_param(&a.params, h), m2pt_param(&b.params, h), n);
    assert_memory_not_equal(m2pt_param(&a.params, h), m2pt_param(&c.params, h), n);
    /* W_aux is not a copy of the target's own weight */
    int w = m2pt_params_find(&a.params, "blocks.1.fc2.weight");
    assert_memory_not_equal(m2pt_param(&a.params, h), m2pt_param(&a.params, w), n);
    m2pt_model_close(&a), m2pt_model_close(&b), m2pt_model_close(&c);
}

/* What the summary's params_trainable counts: what the optimizer updates. dim 16, mlp 2, depth 2:
 * W_aux per block 48*16 + 16*16 + 32*16 + 16*32 = 2048 (qkv, proj, fc1, fc2), one lambda each. */
static void test_trainable_count(void **state) {
    (void)state;
    char aux[300];
    snprintf(aux, sizeof aux, "%s/aux.ckpt", dir);
    m2pt_model plain;
    open_model(&plain, &baseline, NULL, 5, NULL);
    const size_t base = m2pt_params_count(&plain.params);
    assert_int_equal(m2pt_params_count_trainable(&plain.params), base);
    m2pt_model_close(&plain);
    const struct {
        const char *aux_trainable, *scale_trainable;
        size_t trained;
    } cases[] = {{"true", "true", base + 2 * 2048 + 2 * 4}, {"false", "true", base + 2 * 4}, {"false", "false", base}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m2pt_kv cfg = {0};
        assert_int_equal(m2pt_kv_set(&cfg, "aux_trainable", cases[i].aux_trainable, "test"), 0);
        assert_int_equal(m2pt_kv_set(&cfg, "scale_trainable", cases[i].scale_trainable, "test"), 0);
        m2pt_model m;
        open_model(&m, &reparam, &cfg, 5, aux);
        assert_int_equal(m2pt_params_count(&m.params), base + 2 * 2048 + 2 * 4);
        assert_int_equal(m2pt_params_count_trainable(&m.params), cases[i].trained);
        m2pt_model_close(&m);
        m2pt_kv_free(&cfg);
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/m2pt-test-pathway-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    load("image", &image), load("baseline", &baseline), load("reparam", &reparam), load("noaux", &noaux);
    save_aux();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return -1;
    m2pt_plugin_unload(&image), m2pt_plugin_unload(&baseline), m2pt_plugin_unload(&reparam), m2pt_plugin_unload(&noaux);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    m2pt_threads_init(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_scale_equals_baseline),
        cmocka_unit_test(test_merge_reparam),
        cmocka_unit_test(test_merge_noaux),
        cmocka_unit_test(test_noaux_seeded),
        cmocka_unit_test(test_trainable_count),
    };
    int failed = cmocka_run_group_tests_name("pathways in a model", tests, setup, teardown);
    m2pt_threads_shutdown();
    return failed ? 1 : 0;
}
