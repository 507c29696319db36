/* Experiment files (harness/src/experiment.c, docs/experiments.md):
 *  - grid, zip and grid x zip expansion counts and order; collapsing of meaningless cells
 *    (baseline x auxiliary modalities, noaux x auxiliary modalities);
 *  - one auxiliary cell serving several target cells; seeds making distinct auxiliary cells;
 *  - extends/base (merge, grid replacement, name not inherited, cycles), --set (scalars, pinned
 *    and replaced grid axes, lists, bad keys and values);
 *  - hash stability (reloads, key order, number spellings) and sensitivity (any value);
 *  - YAML 1.2 numbers; the grid size limit and force_large;
 *  - the malformed corpus tests/experiments/bad/: every file must fail with a message that starts
 *    with its path, then :LINE:COL:, and contains the keyword on its first line
 *    ("# expect: KEYWORD").
 * A stub oracle stands in for the plugins: modalities image/point/audio/video/text (option
 * train_size and val_size), pathways baseline (no options), reparam (needs an auxiliary model)
 * and noaux. Temporary files live under one mkdtemp directory, removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
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
#include "experiment.h"

static char g_data[1024] = "tests"; /* $M2PT_TEST_DATA */
static char g_tmp[64];
static int g_seq;
static char g_err[1024];

/* ---------------------------------------------------------------- stub oracle */

typedef struct {
    int modality_calls, pathway_calls;
} stub_counts;

static const char *const stub_modalities[] = {"image", "point", "audio", "video", "text", NULL};
static const char *const stub_pathway_keys[] = {"layers", "scale_init", "scale_trainable", "scale_lr_mult",
                                                "aux_trainable", "order", NULL};

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

static int stub_check_modality(void *ctx, const char *m, m2pt_kv *opts, char *err, size_t errlen) {
    ((stub_counts *)ctx)->modality_calls++;
    if (!in_list(m, stub_modalities)) {
        const char *near = NULL;
        for (int i = 0; stub_modalities[i]; i++)
            if (!strncmp(m, stub_modalities[i], 3)) near = stub_modalities[i];
        snprintf(err, errlen, "unknown modality plugin '%s'%s%s%s", m, near ? " (did you mean '" : "", near ? near : "",
                 near ? "'?)" : "");
        return -1;
    }
    const char *ints[] = {"train_size", "val_size"};
    for (int i = 0; i < 2; i++) {
        m2pt_kv_entry *e = m2pt_kv_get(opts, ints[i]);
        if (e && strspn(e->value, "0123456789") != strlen(e->value)) {
            snprintf(err, errlen, "%s: %s = '%s' must be an integer", e->origin, ints[i], e->value);
            return -1;
        }
    }
    const m2pt_kv_entry *u = m2pt_kv_unread(opts);
    if (u) {
        snprintf(err, errlen, "unknown key '%s'", u->key);
        return -1;
    }
    return 0;
}

static int stub_pathway(void *ctx, const char *p, m2pt_kv *opts, int *needs, char *err, size_t errlen) {
    ((stub_counts *)ctx)->pathway_calls++;
    if (strcmp(p, "baseline") && strcmp(p, "reparam") && strcmp(p, "noaux")) {
        snprintf(err, errlen, "unknown pathway plugin '%s'", p);
        return -1;
    }
    *needs = !strcmp(p, "reparam");
    if (strcmp(p, "baseline"))
        for (int i = 0; stub_pathway_keys[i]; i++) m2pt_kv_get(opts, stub_pathway_keys[i]);
    const m2pt_kv_entry *u = m2pt_kv_unread(opts);
    if (u) {
        snprintf(err, errlen, "unknown key '%s'", u->key);
        return -1;
    }
    return 0;
}

/* MAE: every stub modality has reconstruction targets except "text" (as a plugin built
 * against ABI 1.0 would). */
static int stub_can_mae(void *ctx, const char *m, char *err, size_t errlen) {
    (void)ctx;
    if (strcmp(m, "text")) return 0;
    snprintf(err, errlen, "modality plugin '%s' has no reconstruction targets", m);
    return -1;
}

static stub_counts g_counts;
static const m2pt_plugin_oracle g_oracle = {&g_counts, stub_pathway, stub_check_modality, stub_can_mae};

/* ---------------------------------------------------------------- helpers */

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[2048];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Writes text to a fresh file under the temporary directory; returns its path (static slot). */
static const char *write_tmp(const char *name, const char *text) {
    static char paths[8][1024];
    char *p = paths[g_seq++ % 8];
    snprintf(p, 1024, "%s/%s", g_tmp, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return p;
}

static int load_sets(m2pt_experiment *exp, const char *path, const char *const *sets, int nsets) {
    g_err[0] = '\0';
    int rc = m2pt_experiment_load(exp, path, sets, nsets, &g_oracle, 0, g_err, sizeof g_err);
    if (rc) assert_true(g_err[0] != '\0'); /* a failure always says why */
    return rc;
}

/* Loads a YAML text; fails the test when it does not load. */
static void load_ok(m2pt_experiment *exp, const char *yaml) {
    const char *p = write_tmp("exp.yaml", yaml);
    if (load_sets(exp, p, NULL, 0)) fail_msg("load failed: %s", g_err);
}

static void load_bad(const char *yaml, const char *keyword) {
    m2pt_experiment exp;
    const char *p = write_tmp("bad.yaml", yaml);
    assert_int_equal(load_sets(&exp, p, NULL, 0), -1);
    if (!strstr(g_err, keyword)) fail_msg("expected '%s' in: %s", keyword, g_err);
    assert_int_equal(exp.ncells, 0);
    assert_null(exp.cells);
}

static void corpus_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/experiments/%s", g_data, name); }

static const char *axis(const m2pt_cell *c, const char *key) {
    for (int i = 0; i < c->naxes; i++)
        if (!strcmp(c->axis_keys[i], key)) return c->axis_values[i];
    return NULL;
}

static const char *kv_value(const m2pt_kv *kv, const char *key) {
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->e[i].key, key)) return kv->e[i].value;
    return NULL;
}

static const m2pt_cell *target(const m2pt_experiment *e, int i) { return &e->cells[e->naux + i]; }

/* Checks the invariants every loaded experiment keeps. */
static void check_invariants(const m2pt_experiment *e) {
    assert_int_equal(e->ncells, e->naux + e->ntargets);
    assert_int_equal(e->grid_points, (long)e->ntargets + e->collapsed);
    for (int i = 0; i < e->ncells; i++) {
        const m2pt_cell *c = &e->cells[i];
        assert_int_equal(strlen(c->hash), 16);
        assert_non_null(c->json);
        for (int j = 0; j < i; j++) assert_string_not_equal(c->hash, e->cells[j].hash);
        if (i < e->naux) {
            assert_int_equal(c->role, M2PT_ROLE_AUXILIARY);
            assert_int_equal(c->aux, -1);
            assert_int_equal(c->pretrain, -1);
            assert_string_equal(c->pathway, "baseline");
        } else {
            assert_int_equal(c->role, M2PT_ROLE_TARGET);
            assert_true(c->aux >= -1 && c->aux < e->naux);
            assert_true(c->pretrain >= -1 && c->pretrain < e->naux);
            if (c->pretrain >= 0) {
                assert_int_equal(e->cells[c->pretrain].mae, 1);
                assert_string_equal(e->cells[c->pretrain].modality, c->modality);
            }
            if (c->aux >= 0) assert_int_equal(e->cells[c->aux].mae, c->aux_mae);
            assert_int_equal(c->aux >= 0, c->aux_modality != NULL);
            if (c->aux >= 0) {
                assert_string_equal(e->cells[c->aux].modality, c->aux_modality);
                assert_non_null(strstr(c->json, e->cells[c->aux].json)); /* the aux config is inside */
            }
        }
    }
}

#define HEAD "name: t\ntarget: {modality: image}\n"
#define AUX_POINT "auxiliary: {modality: point}\n"
#define RP "pathway: {name: reparam}\n"
#define REPARAM HEAD AUX_POINT RP

/* ---------------------------------------------------------------- expansion */

static void test_defaults(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, "name: plain\ndescription: just defaults\ntarget: {modality: image}\n");
    check_invariants(&e);
    assert_string_equal(e.name, "plain");
    assert_string_equal(e.description, "just defaults");
    assert_non_null(strstr(e.text, "just defaults"));
    assert_int_equal(e.grid_points, 1);
    assert_int_equal(e.ntargets, 1);
    assert_int_equal(e.naux, 0);
    const m2pt_cell *c = target(&e, 0);
    assert_int_equal(c->shape.dim, 64), assert_int_equal(c->shape.depth, 4);
    assert_int_equal(c->shape.heads, 4), assert_int_equal(c->shape.mlp_ratio, 4);
    assert_int_equal(c->train.epochs, 10), assert_int_equal(c->train.batch, 128);
    assert_true(c->train.lr == 1.0e-3 && c->train.min_lr == 1.0e-5 && c->train.weight_decay == 0.05);
    assert_true(c->train.warmup_epochs == 1 && c->train.clip == 1.0 && c->train.label_smoothing == 0.1);
    assert_int_equal(c->train.augment, 1);
    assert_int_equal(c->seed, 0);
    assert_string_equal(c->modality, "image");
    assert_string_equal(c->pathway, "baseline");
    assert_int_equal(c->aux, -1);
    assert_int_equal(c->naxes, 0);
    assert_string_equal(c->json, "{\"data\":{},\"model\":{\"depth\":4,\"dim\":64,\"heads\":4,\"mlp_ratio\":4},"
                                 "\"modality\":\"image\",\"pathway\":{\"name\":\"baseline\"},\"role\":\"target\","
                                 "\"seed\":0,\"train\":{\"augment\":true,\"batch\":128,\"clip\":1,\"epochs\":10,"
                                 "\"label_smoothing\":0.1,\"lr\":0.001,\"min_lr\":1e-05,"
                                 "\"warmup_epochs\":1,\"weight_decay\":0.05}}");
    m2pt_experiment_free(&e);
}

static void test_grid_only(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, HEAD "grid:\n  seed: [0, 1, 2]\n  train.lr: [1.0e-3, 1.0e-2]\n");
    check_invariants(&e);
    assert_int_equal(e.grid_points, 6);
    assert_int_equal(e.ntargets, 6);
    assert_int_equal(e.collapsed, 0);
    /* first key slowest */
    const char *want[6][2] = {{"0", "0.001"}, {"0", "0.01"}, {"1", "0.001"}, {"1", "0.01"}, {"2", "0.001"}, {"2", "0.01"}};
    for (int i = 0; i < 6; i++) {
        const m2pt_cell *c = target(&e, i);
        assert_int_equal(c->naxes, 2);
        assert_string_equal(c->axis_keys[0], "seed");
        assert_string_equal(c->axis_keys[1], "train.lr");
        assert_string_equal(c->axis_values[0], want[i][0]);
        assert_string_equal(c->axis_values[1], want[i][1]);
        assert_int_equal(c->seed, (uint64_t)(i / 2));
        assert_true(c->train.lr == (i % 2 ? 1.0e-2 : 1.0e-3));
    }
    m2pt_experiment_free(&e);
}

static void test_zip_only(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, REPARAM "zip:\n  - pathway.scale_init: [0.0, 1.0e-2, 0.5]\n    pathway.scale_trainable: [true, false, true]\n");
    check_invariants(&e);
    assert_int_equal(e.grid_points, 3);
    assert_int_equal(e.ntargets, 3);
    assert_int_equal(e.naux, 1);
    const char *init[3] = {"0", "0.01", "0.5"}, *tr[3] = {"true", "false", "true"};
    for (int i = 0; i < 3; i++) {
        const m2pt_cell *c = target(&e, i);
        assert_string_equal(kv_value(&c->pathway_opts, "scale_init"), init[i]);
        assert_string_equal(kv_value(&c->pathway_opts, "scale_trainable"), tr[i]);
        assert_string_equal(axis(c, "pathway.scale_init"), init[i]);
        assert_int_equal(c->aux, 0);
    }
    m2pt_experiment_free(&e);
}

static void test_grid_x_zip(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, REPARAM "grid: {seed: [0, 1]}\n"
                        "zip:\n"
                        "  - {pathway.scale_init: [0.0, 0.01], pathway.scale_trainable: [true, false]}\n"
                        "  - {train.lr: [1.0e-3, 2.0e-3, 3.0e-3], train.epochs: [3, 2, 1]}\n");
    check_invariants(&e);
    assert_int_equal(e.grid_points, 2 * 2 * 3);
    assert_int_equal(e.ntargets, 12);
    assert_int_equal(e.naux, 2 * 3); /* aux depends on seed and train.* (not on pathway options) */
    assert_int_equal(target(&e, 0)->naxes, 5);
    /* the last zip group varies fastest, its keys together */
    assert_int_equal(target(&e, 1)->train.epochs, 2);
    assert_true(target(&e, 1)->train.lr == 2.0e-3);
    assert_string_equal(axis(target(&e, 3), "pathway.scale_trainable"), "false");
    assert_string_equal(axis(target(&e, 6), "seed"), "1");
    m2pt_experiment_free(&e);
}

static void test_collapse_baseline(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, HEAD "pathway: {name: baseline, scale_init: 0.5}\n"
                     "grid:\n  auxiliary.modality: [point, audio, video, text, image]\n");
    check_invariants(&e);
    assert_int_equal(e.grid_points, 5);
    assert_int_equal(e.ntargets, 1);
    assert_int_equal(e.naux, 0);
    assert_int_equal(e.collapsed, 4);
    const m2pt_cell *c = target(&e, 0);
    assert_int_equal(c->pathway_opts.n, 0); /* baseline drops every pathway option */
    assert_null(strstr(c->json, "scale_init"));
    assert_null(strstr(c->json, "auxiliary"));
    assert_string_equal(axis(c, "auxiliary.modality"), "-");
    m2pt_experiment_free(&e);
}

static void test_collapse_noaux(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, HEAD "pathway: {name: noaux, scale_init: 0.5}\n"
                     "auxiliary: {train: {epochs: 3}}\n"
                     "grid:\n  auxiliary.modality: [point, audio, video, text, image]\n  seed: [0, 1]\n");
    check_invariants(&e);
    assert_int_equal(e.grid_points, 10);
    assert_int_equal(e.ntargets, 2);
    assert_int_equal(e.naux, 0);
    assert_int_equal(e.collapsed, 8);
    assert_string_equal(kv_value(&target(&e, 0)->pathway_opts, "scale_init"), "0.5"); /* noaux keeps options */
    assert_null(target(&e, 0)->aux_modality);
    m2pt_experiment_free(&e);
}

static void test_design_example(void **state) {
    (void)state;
    char p[1200];
    corpus_path(p, sizeof p, "design.yaml");
    m2pt_experiment e;
    g_counts = (stub_counts){0, 0};
    assert_int_equal(load_sets(&e, p, NULL, 0), 0);
    check_invariants(&e);
    /* 3 pathways x 5 aux modalities x 3 seeds x 2 zipped = 90 points: baseline 3 (per seed),
     * noaux 3 x 2 = 6, reparam 5 x 3 x 2 = 30 */
    assert_int_equal(e.grid_points, 90);
    assert_int_equal(e.ntargets, 39);
    assert_int_equal(e.collapsed, 51);
    assert_int_equal(e.naux, 15); /* 5 modalities x 3 seeds, each shared by 2 zipped targets */
    int uses[15] = {0};
    for (int i = 0; i < e.ntargets; i++) {
        const m2pt_cell *c = target(&e, i);
        if (strcmp(c->pathway, "reparam")) continue;
        const m2pt_cell *a = &e.cells[c->aux];
        uses[c->aux]++;
        assert_string_equal(a->modality, axis(c, "auxiliary.modality"));
        assert_int_equal(a->seed, c->seed);
        assert_int_equal(a->train.epochs, 5);
        assert_int_equal(a->shape.dim, c->shape.dim);
    }
    for (int i = 0; i < 15; i++) assert_int_equal(uses[i], 2);
    /* the oracle was asked once per distinct question, not per grid point */
    assert_true(g_counts.modality_calls <= 12);
    assert_true(g_counts.pathway_calls <= 8);
    m2pt_experiment_free(&e);
}

/* ---------------------------------------------------------------- auxiliary cells */

static void test_shared_aux(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, "name: t\ntarget: {modality: image, train: {epochs: 2}}\n" AUX_POINT RP
                        "grid:\n  pathway.scale_init: [0.0, 1.0e-4, 1.0e-2]\n  target.data.train_size: [1000, 5000]\n"
                        "  target.train.lr: [1.0e-3, 5.0e-4]\n");
    check_invariants(&e);
    assert_int_equal(e.ntargets, 12);
    assert_int_equal(e.naux, 1); /* ONE auxiliary run serves the twelve target cells */
    const m2pt_cell *a = &e.cells[0];
    for (int i = 0; i < e.ntargets; i++) {
        assert_int_equal(target(&e, i)->aux, 0);
        assert_string_equal(target(&e, i)->aux_modality, "point");
        assert_int_equal(target(&e, i)->train.epochs, 2);
    }
    assert_string_equal(a->modality, "point");
    assert_int_equal(a->train.epochs, 10); /* train.*, not the target's overrides */
    assert_true(a->train.lr == 1.0e-3);
    assert_null(strstr(a->json, "train_size"));
    assert_null(strstr(a->json, "scale_init"));
    assert_string_equal(axis(a, "modality"), "point");
    assert_string_equal(axis(a, "seed"), "0");
    m2pt_experiment_free(&e);
}

static void test_aux_seeds(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, REPARAM "grid: {seed: [0, 1, 2]}\n");
    check_invariants(&e);
    assert_int_equal(e.ntargets, 3);
    assert_int_equal(e.naux, 3); /* auxiliary.seed not given: the cell's seed */
    for (int i = 0; i < 3; i++) assert_int_equal(e.cells[target(&e, i)->aux].seed, (uint64_t)i);
    m2pt_experiment_free(&e);

    load_ok(&e, HEAD RP "auxiliary: {modality: point, seed: 7, train: {epochs: 4}, data: {train_size: 300}}\n"
                        "grid: {seed: [0, 1, 2]}\n");
    check_invariants(&e);
    assert_int_equal(e.ntargets, 3);
    assert_int_equal(e.naux, 1);
    assert_int_equal(e.cells[0].seed, 7);
    assert_int_equal(e.cells[0].train.epochs, 4);
    assert_string_equal(kv_value(&e.cells[0].data, "train_size"), "300");
    assert_string_equal(axis(&e.cells[0], "epochs"), "4");
    m2pt_experiment_free(&e);

    /* the auxiliary's own training and data distinguish auxiliary cells */
    load_ok(&e, REPARAM "grid: {auxiliary.train.epochs: [20, 220, 300]}\n");
    assert_int_equal(e.naux, 3);
    assert_string_equal(axis(&e.cells[2], "epochs"), "300");
    m2pt_experiment_free(&e);
}

/* ---------------------------------------------------------------- extends and --set */

static void test_extends(void **state) {
    (void)state;
    char p[1200];
    m2pt_experiment e;
    corpus_path(p, sizeof p, "child.yaml");
    assert_int_equal(load_sets(&e, p, NULL, 0), 0);
    check_invariants(&e);
    assert_string_equal(e.name, "child");             /* the base's name is not inherited */
    assert_string_equal(e.description, "shared settings"); /* the rest is */
    assert_int_equal(e.grid_points, 3);                /* the child's grid replaces the base's */
    const m2pt_cell *c = target(&e, 0);
    assert_int_equal(c->shape.dim, 32);
    assert_int_equal(c->train.epochs, 3);
    assert_true(c->train.lr == 5.0e-3);               /* overridden */
    assert_int_equal(c->train.batch, 64);             /* inherited beside it */
    assert_string_equal(kv_value(&c->data, "train_size"), "1000");
    assert_string_equal(kv_value(&c->data, "val_size"), "500");
    assert_int_equal(e.naux, 1);
    assert_int_equal(e.cells[0].train.epochs, 7);
    /* a value inherited from the base is located in the base file */
    const m2pt_kv_entry *ts = NULL;
    for (int i = 0; i < c->data.n; i++)
        if (!strcmp(c->data.e[i].key, "train_size")) ts = &c->data.e[i];
    assert_non_null(ts);
    assert_non_null(strstr(ts->origin, "base_common.yaml:6:"));
    m2pt_experiment_free(&e);

    corpus_path(p, sizeof p, "child_base.yaml"); /* base: is extends: */
    assert_int_equal(load_sets(&e, p, NULL, 0), 0);
    assert_int_equal(e.grid_points, 2); /* no grid here: the base's */
    assert_int_equal(target(&e, 0)->shape.dim, 48);
    assert_int_equal(target(&e, 0)->shape.heads, 4);
    assert_int_equal(target(&e, 0)->shape.depth, 2);
    m2pt_experiment_free(&e);

    corpus_path(p, sizeof p, "grandchild.yaml"); /* two levels; an empty grid removes the axes */
    assert_int_equal(load_sets(&e, p, NULL, 0), 0);
    assert_int_equal(e.grid_points, 1);
    assert_int_equal(target(&e, 0)->seed, 9);
    assert_true(target(&e, 0)->train.lr == 5.0e-3);
    m2pt_experiment_free(&e);

    corpus_path(p, sizeof p, "cycle_a.yaml");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    assert_non_null(strstr(g_err, "cycle_b.yaml:2:10: extends: cycle: "));
    assert_non_null(strstr(g_err, "cycle_a.yaml -> "));
}

static void test_set(void **state) {
    (void)state;
    char p[1200];
    corpus_path(p, sizeof p, "design.yaml");
    m2pt_experiment e;
    const char *sets1[] = {"train.lr=0.01", "seed=5", "target.data.train_size=2000", "model={dim: 32, heads: 2}"};
    assert_int_equal(load_sets(&e, p, sets1, 4), 0);
    check_invariants(&e);
    assert_int_equal(e.grid_points, 30); /* seed pinned: no longer an axis */
    for (int i = 0; i < e.ncells; i++) {
        assert_true(e.cells[i].train.lr == 0.01);
        assert_int_equal(e.cells[i].seed, 5);
        assert_int_equal(e.cells[i].shape.dim, 32);
        assert_int_equal(e.cells[i].shape.heads, 2);
        assert_int_equal(e.cells[i].shape.depth, 4);
        if (e.cells[i].role == M2PT_ROLE_TARGET) assert_null(axis(&e.cells[i], "seed"));
    }
    assert_string_equal(kv_value(&target(&e, 0)->data, "train_size"), "2000");
    const m2pt_kv_entry *en = NULL;
    for (int i = 0; i < target(&e, 0)->data.n; i++) en = &target(&e, 0)->data.e[i];
    assert_string_equal(en->origin, "--set target.data.train_size=2000");
    m2pt_experiment_free(&e);

    const char *sets2[] = {"grid.seed=[0, 1, 2, 3]", "pathway.layers=[qkv, fc1]", "zip=", "grid.pathway.name=[reparam]"};
    assert_int_equal(load_sets(&e, p, sets2, 4), 0);
    assert_int_equal(e.grid_points, 5 * 4); /* aux modalities x seeds */
    assert_string_equal(kv_value(&target(&e, 0)->pathway_opts, "layers"), "qkv,fc1");
    assert_non_null(strstr(target(&e, 0)->json, "\"layers\":\"qkv,fc1\""));
    m2pt_experiment_free(&e);

    const char *bad1[] = {"train.lerning_rate=0.1"};
    assert_int_equal(load_sets(&e, p, bad1, 1), -1);
    assert_string_equal(g_err, "--set train.lerning_rate=0.1: train.lerning_rate: unknown key (did you mean 'train.lr'?)");
    const char *bad2[] = {"train.lr=fast"};
    assert_int_equal(load_sets(&e, p, bad2, 1), -1);
    assert_string_equal(g_err, "--set train.lr=fast: train.lr: expected a number, got string 'fast'");
    const char *bad3[] = {"seed"};
    assert_int_equal(load_sets(&e, p, bad3, 1), -1);
    assert_non_null(strstr(g_err, "--set seed: expected key=value"));
    const char *bad4[] = {"grid.seed=[0, 1"};
    assert_int_equal(load_sets(&e, p, bad4, 1), -1);
    assert_non_null(strstr(g_err, "--set grid.seed=[0, 1: "));
    const char *bad5[] = {"train.epochs.x=1"};
    assert_int_equal(load_sets(&e, p, bad5, 1), -1);
    assert_non_null(strstr(g_err, "not a mapping"));
    const char *bad6[] = {"grid.trian.lr=[1]"};
    assert_int_equal(load_sets(&e, p, bad6, 1), -1);
    assert_non_null(strstr(g_err, "did you mean 'train.lr'"));
    const char *bad7[] = {"extends=other.yaml"};
    assert_int_equal(load_sets(&e, p, bad7, 1), -1);
    assert_non_null(strstr(g_err, "cannot be set from the command line"));
}

/* ---------------------------------------------------------------- hashes */

static void hashes(const char *yaml, char out[][M2PT_HASH_HEX], int *n) {
    m2pt_experiment e;
    load_ok(&e, yaml);
    *n = e.ncells;
    for (int i = 0; i < e.ncells && i < 16; i++) memcpy(out[i], e.cells[i].hash, M2PT_HASH_HEX);
    m2pt_experiment_free(&e);
}

static void test_hash_stability(void **state) {
    (void)state;
    const char *a = "name: t\ntarget: {modality: image, data: {train_size: 1000, val_size: 100}}\n" AUX_POINT RP
                    "train: {lr: 1.0e-3, epochs: 3}\nmodel: {dim: 32, heads: 2}\n";
    const char *b = "auxiliary:\n  modality: point\nmodel:\n  heads: 2\n  dim: 32\ntrain:\n  epochs: 3\n  lr: 0.001\n"
                    "pathway: {name: reparam}\nname: other-name\n"
                    "target:\n  data: {val_size: 100, train_size: 1000}\n  modality: image\n";
    char ha[16][M2PT_HASH_HEX], hb[16][M2PT_HASH_HEX], hc[16][M2PT_HASH_HEX];
    int na, nb, nc;
    hashes(a, ha, &na);
    hashes(a, hb, &nb);
    assert_int_equal(na, 2), assert_int_equal(nb, 2);
    for (int i = 0; i < 2; i++) assert_string_equal(ha[i], hb[i]); /* same file, same hashes */
    hashes(b, hb, &nb);                                            /* key order, 0.001 vs 1.0e-3, name */
    for (int i = 0; i < 2; i++) assert_string_equal(ha[i], hb[i]);

    /* changing any value changes the hash; what is ignored does not */
    const char *changes[] = {"train: {lr: 2.0e-3}\n", "model: {depth: 3}\n", "seed: 1\n",
                             "target: {data: {train_size: 1001}}\n", "pathway: {scale_init: 0.1}\n",
                             "auxiliary: {modality: audio}\n", "train: {augment: false}\n",
                             "target: {train: {epochs: 4}}\n", "auxiliary: {train: {epochs: 4}}\n",
                             "train: {label_smoothing: 0.0}\n", "auxiliary: {data: {train_size: 5}}\n"};
    int target_changes[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int aux_changes[] = {1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1};
    for (size_t k = 0; k < sizeof changes / sizeof changes[0]; k++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml, "extends: base.yaml\nname: changed\n%s", changes[k]);
        write_tmp("base.yaml", a);
        hashes(yaml, hc, &nc);
        assert_int_equal(nc, 2);
        if (target_changes[k]) assert_string_not_equal(ha[1], hc[1]);
        if (aux_changes[k]) assert_string_not_equal(ha[0], hc[0]);
        else assert_string_equal(ha[0], hc[0]);
    }
    /* the same value spelled differently is the same cell */
    hashes(HEAD "train: {lr: 0.001, clip: 1}\npathway: {name: noaux, scale_init: 0, layers: [qkv, fc1]}\n", ha, &na);
    hashes(HEAD "train: {lr: 1e-3, clip: 1.0}\npathway: {name: noaux, scale_init: 0.0, layers: \"qkv,fc1\"}\n", hb, &nb);
    assert_string_equal(ha[0], hb[0]);
}

/* ---------------------------------------------------------------- YAML 1.2 numbers */

static void test_yaml12_numbers(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, HEAD "train: {lr: 1e-3, min_lr: 1.0E-6, label_smoothing: .5, batch: 0x40, epochs: 0o7, clip: +2,"
                     " weight_decay: -0.0, warmup_epochs: 1.}\n");
    const m2pt_cell *c = target(&e, 0);
    assert_true(c->train.lr == 1e-3);
    assert_true(c->train.min_lr == 1e-6);
    assert_true(c->train.label_smoothing == 0.5);
    assert_int_equal(c->train.batch, 64);
    assert_int_equal(c->train.epochs, 7);
    assert_true(c->train.clip == 2.0);
    assert_true(c->train.warmup_epochs == 1.0);
    m2pt_experiment_free(&e);

    load_ok(&e, HEAD AUX_POINT
                "pathway: {name: reparam, scale_init: -2E+4, order: \"normal\", layers: [qkv], scale_trainable: True}\n");
    c = target(&e, 0);
    assert_string_equal(kv_value(&c->pathway_opts, "scale_init"), "-20000");
    assert_string_equal(kv_value(&c->pathway_opts, "scale_trainable"), "true");
    assert_non_null(strstr(c->json, "\"scale_init\":-20000,"));
    assert_non_null(strstr(c->json, "\"scale_trainable\":true"));
    m2pt_experiment_free(&e);

    load_bad(HEAD "train: {lr: \"1e-3\"}\n", "train.lr: expected a number, got quoted string '1e-3' (quoted values");
    load_bad(HEAD "train: {epochs: 1_000}\n", "no '_' separators");
    load_bad(HEAD "train: {epochs: 1e2}\n", "expected an integer, got float '1e2'");
    load_bad(HEAD "train: {epochs: 10.0}\n", "expected an integer, got float '10.0'");
    load_bad(HEAD "train: {augment: on}\n", "booleans are true and false");
    load_bad(HEAD "train: {augment: 1}\n", "expected true or false, got integer '1'");
    load_bad(HEAD "train: {lr: 0}\n", "train.lr: 0 is out of range: must be > 0 and <= 10");
    load_bad(HEAD "seed: 9223372036854775808\n", "integer out of range");
    load_bad(HEAD "train: {lr: -.inf}\n", "out of range");
}

/* ---------------------------------------------------------------- limits and the corpus */

static void test_grid_limit(void **state) {
    (void)state;
    char yaml[4096];
    /* 400 x 300 = 120,000 points: over the limit, fine when forced */
    int n = snprintf(yaml, sizeof yaml, "%s", HEAD "grid:\n  seed: [");
    for (int i = 0; i < 400; i++) n += snprintf(yaml + n, sizeof yaml - (size_t)n, "%s%d", i ? "," : "", i);
    n += snprintf(yaml + n, sizeof yaml - (size_t)n, "]\n  auxiliary.modality: [");
    for (int i = 0; i < 300; i++) n += snprintf(yaml + n, sizeof yaml - (size_t)n, "%spoint", i ? "," : "");
    snprintf(yaml + n, sizeof yaml - (size_t)n, "]\n");
    const char *p = write_tmp("large.yaml", yaml);
    m2pt_experiment e;
    assert_int_equal(m2pt_experiment_load(&e, p, NULL, 0, &g_oracle, 0, g_err, sizeof g_err), -1);
    assert_non_null(strstr(g_err, ":3:1: grid: 120000 grid points exceed M2PT_MAX_GRID_POINTS (100000)"));
    assert_int_equal(m2pt_experiment_load(&e, p, NULL, 0, &g_oracle, 1, g_err, sizeof g_err), 0);
    assert_int_equal(e.grid_points, 120000);
    assert_int_equal(e.ntargets, 400); /* baseline: the auxiliary modality collapses */
    m2pt_experiment_free(&e);
}

static void test_zero_byte_file(void **state) {
    (void)state;
    m2pt_experiment e;
    const char *p = write_tmp("zero.yaml", "");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    char want[1200];
    snprintf(want, sizeof want, "%s:1:1: empty experiment file", p);
    assert_non_null(strstr(g_err, want));
    assert_int_equal(load_sets(&e, "/nonexistent/exp.yaml", NULL, 0), -1);
    assert_non_null(strstr(g_err, "/nonexistent/exp.yaml: cannot open"));
    assert_int_equal(load_sets(&e, g_tmp, NULL, 0), -1); /* a directory */
    assert_non_null(strstr(g_err, g_tmp));
}

static void test_null_oracle(void **state) {
    (void)state;
    m2pt_experiment e;
    const char *p = write_tmp("n.yaml", "name: n\ntarget: {modality: anything, data: {whatever: 1}}\n"
                                        "auxiliary: {modality: other}\ngrid: {pathway.name: [baseline, noaux, mine]}\n");
    assert_int_equal(m2pt_experiment_load(&e, p, NULL, 0, NULL, 0, g_err, sizeof g_err), 0);
    check_invariants(&e);
    assert_int_equal(e.ntargets, 3);
    assert_int_equal(e.naux, 1); /* only "mine" needs an auxiliary model */
    assert_int_equal(target(&e, 2)->aux, 0);
    assert_int_equal(target(&e, 0)->aux, -1);
    assert_int_equal(target(&e, 1)->aux, -1);
    m2pt_experiment_free(&e);
}

static void test_print(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, REPARAM "grid:\n  pathway.name: [baseline, reparam]\n  pathway.scale_init: [0.0, 0.5]\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    m2pt_experiment_print(&e, f);
    fclose(f);
    assert_non_null(strstr(buf, "t: 4 grid points -> 3 target cells + 1 auxiliary cells (1 collapsed)"));
    assert_non_null(strstr(buf, "  hash              pathway.name  pathway.scale_init  pathway   aux\n"));
    char row[256];
    snprintf(row, sizeof row, "  %s  %-12s  %-18s  %-8s  %s\n", target(&e, 2)->hash, "reparam", "0.5", "reparam",
             e.cells[0].hash);
    assert_non_null(strstr(buf, row));
    snprintf(row, sizeof row, "  %s  %-12s  %-18s  %-8s  -\n", target(&e, 0)->hash, "baseline", "-", "baseline");
    assert_non_null(strstr(buf, row));
    snprintf(row, sizeof row, "%s  point     0     10", e.cells[0].hash);
    assert_non_null(strstr(buf, row));
    free(buf);
    m2pt_experiment_free(&e);
}

/* Reads the keyword of "# expect: KEYWORD" on the file's first line. */
static int expected_keyword(const char *path, char *kw, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char line[512];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok || strncmp(line, "# expect: ", 10)) return -1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(kw, cap, "%s", line + 10);
    return kw[0] ? 0 : -1;
}

/* "PATH:LINE:COL: " at the start of msg. */
static int located(const char *msg, const char *path) {
    size_t n = strlen(path);
    if (strncmp(msg, path, n) || msg[n] != ':') return 0;
    const char *s = msg + n + 1;
    size_t d1 = strspn(s, "0123456789");
    if (!d1 || s[d1] != ':') return 0;
    s += d1 + 1;
    size_t d2 = strspn(s, "0123456789");
    return d2 && s[d2] == ':' && s[d2 + 1] == ' ';
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_bad_corpus(void **state) {
    (void)state;
    char dir[1200];
    corpus_path(dir, sizeof dir, "bad");
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0;
    for (struct dirent *en; (en = readdir(d)) && n < 256;) {
        size_t l = strlen(en->d_name);
        if (l > 5 && !strcmp(en->d_name + l - 5, ".yaml")) names[n++] = strdup(en->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    assert_true(n >= 60);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[1500], kw[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        m2pt_experiment e;
        if (expected_keyword(path, kw, sizeof kw)) {
            print_message("%s: first line is not '# expect: KEYWORD'\n", path);
            failures++;
        } else if (load_sets(&e, path, NULL, 0) == 0) {
            print_message("%s: loaded, but must fail with '%s'\n", path, kw);
            m2pt_experiment_free(&e);
            failures++;
        } else if (!located(g_err, path) || !strstr(g_err, kw)) {
            print_message("%s: expected a message located in the file with '%s', got:\n  %s\n", path, kw, g_err);
            failures++;
        } else if (getenv("M2PT_TEST_VERBOSE")) {
            print_message("%s\n", g_err);
        }
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

static void test_messages(void **state) {
    (void)state;
    /* exact text of a few messages (the format the CLI prints) */
    const char *p = write_tmp("m.yaml", "name: m\ntarget: {modality: image}\ntrain:\n  epochs: 3\n  lerning_rate: 0.1\n");
    m2pt_experiment e;
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    char want[1200];
    snprintf(want, sizeof want, "%s:5:3: train.lerning_rate: unknown key (did you mean 'train.lr'?)", p);
    assert_string_equal(g_err, want);
    p = write_tmp("m.yaml", "name: m\ntarget: {modality: image}\nmodel: {dim: 65}\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    snprintf(want, sizeof want, "%s:3:14: model.dim: model.dim 65 is not a multiple of model.heads 4", p);
    assert_string_equal(g_err, want);
    p = write_tmp("m.yaml", "name: m\ntarget: {modality: image}\ngrid:\n  model.dim: [64, 66]\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    snprintf(want, sizeof want,
             "%s:4:19: model.dim: model.dim 66 is not a multiple of model.heads 4 (grid point: model.dim=66)", p);
    assert_string_equal(g_err, want);
    /* nearest keys: prefixes, aliases, other sections */
    load_bad(HEAD "train: {warmup: 2}\n", "did you mean 'train.warmup_epochs'");
    load_bad(HEAD "train: {batch_size: 2}\n", "did you mean 'train.batch'");
    load_bad(HEAD "model: {num_heads: 2}\n", "did you mean 'model.heads'");
    load_bad(HEAD "auxiliary: {sed: 2}\n", "did you mean 'auxiliary.seed'");
    load_bad(HEAD "gird: {seed: [1]}\n", "did you mean 'grid'");
    load_bad(HEAD "model: {zzzzzz: 1}\n", "model.zzzzzz: unknown key");
    load_bad(HEAD "epochs: 3\n", "did you mean 'train.epochs'");
}

/* ---------------------------------------------------------------- masked-autoencoder pretraining */

/* The cell hashes of experiments/controls.yaml as recorded in the store of its real run:
 * `sqlite3 results/studies.db "SELECT cell_hash FROM results WHERE experiment = 'controls' ORDER
 * BY cell_hash"` (40 runs, run at git 1ade64b, before MAE existed; they were in results/controls.db
 * then). The supervised cells must keep them byte for byte. */
static const char *const controls_hashes[] = {
    "03be8cfdb59e716c", "0591d5ba048c2588", "097445c9fc055cd4", "0ddeb07f0ffd78a8", "0e8e3ad1b84b784e",
    "12eb35c60b43200f", "35524b0fd2a375ed", "3f1f0e9d8cc43cb1", "43505cb043d1fa1f", "4de0128cd767c55f",
    "53151c81680df0b9", "565f0c001a4f47f9", "5881bc7955415ce7", "73adc810abb069ec", "74610155747e9405",
    "759064cfcb26aa54", "796089176fbd0b36", "7bc1bbfc1e23ead7", "7f7e61c6b866161d", "85a19f891ad123a2",
    "89213eda92824281", "8d967aec1789abf0", "90ad7fd8f752e888", "93348e63b60aa771", "9708b5d5b882f6d1",
    "a724b0b1966c9b4d", "a9ce314b5c1b8678", "aba5df7d632bbcf0", "b0271caacf2fd69d", "b9b860b889ec4175",
    "c57bb69e91d6e036", "c7dce983403dbfd7", "da34da469b29fc20", "e736c6f97fcb3f7c", "e9371d88b089a0ed",
    "e982cdec6f5f4145", "f37d960545b0e58e", "f5e95ed27e355b78", "f94edae16bb55e8d", "ff209889f6347553",
};

static void test_mae_keeps_hashes(void **state) {
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/../experiments/controls.yaml", g_data);
    m2pt_experiment e;
    g_err[0] = '\0';
    if (m2pt_experiment_load(&e, path, NULL, 0, NULL, 0, g_err, sizeof g_err)) fail_msg("%s", g_err);
    check_invariants(&e);
    const int n = (int)(sizeof controls_hashes / sizeof controls_hashes[0]);
    assert_int_equal(e.ncells, n);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < e.ncells; j++) found += !strcmp(e.cells[j].hash, controls_hashes[i]);
        if (found != 1) fail_msg("cell %s of controls.db is not a cell of controls.yaml any more", controls_hashes[i]);
        assert_int_equal(e.cells[i].mae, 0);
        assert_int_equal(e.cells[i].pretrain, -1);
        assert_null(strstr(e.cells[i].json, "mae"));
        assert_null(strstr(e.cells[i].json, "objective"));
        assert_null(strstr(e.cells[i].json, "pretrain"));
    }
    m2pt_experiment_free(&e);
    /* the defaults spelled out change nothing either */
    m2pt_experiment a, b;
    load_ok(&a, REPARAM "seed: 3\n");
    load_ok(&b, "name: t\ntarget: {modality: image, pretrain: none}\n" RP "seed: 3\n"
                "auxiliary: {modality: point, objective: supervised}\n"
                "mae: {mask_ratio: 0.5, decoder_dim: 64, epochs: 7}\n");
    assert_int_equal(a.ncells, 2), assert_int_equal(b.ncells, 2);
    for (int i = 0; i < 2; i++) assert_string_equal(a.cells[i].json, b.cells[i].json);
    m2pt_experiment_free(&a), m2pt_experiment_free(&b);
}

#define MAE_HEAD                                                                                                  \
    "name: t\nseed: 0\nmodel: {dim: 32, depth: 2, heads: 2}\n"                                                    \
    "train: {epochs: 4, batch: 64, lr: 2.0e-3}\n"                                                                 \
    "target: {modality: image, data: {train_size: 500}, pretrain: mae}\n"                                        \
    "pathway: {name: reparam}\n"                                                                                 \
    "auxiliary: {modality: point, data: {train_size: 300}, train: {epochs: 3}"

static void test_mae_cells(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, MAE_HEAD "}\nmae: {mask_ratio: 0.6, decoder_dim: 16, decoder_heads: 4, lr: 1.0e-3}\n"
                         "grid:\n  pathway.name: [baseline, reparam]\n  auxiliary.objective: [supervised, mae]\n"
                         "  seed: [0, 1]\n");
    check_invariants(&e);
    /* 8 points: baseline ignores auxiliary.objective (2 collapsed); 6 targets; per seed a
     * pretrain cell (image), a supervised and an MAE point auxiliary: 6 auxiliary-role cells */
    assert_int_equal(e.grid_points, 8);
    assert_int_equal(e.ntargets, 6);
    assert_int_equal(e.collapsed, 2);
    assert_int_equal(e.naux, 6);
    int pretrains = 0, aux_mae = 0, aux_sup = 0;
    for (int i = 0; i < e.naux; i++) {
        const m2pt_cell *c = &e.cells[i];
        if (!strcmp(c->modality, "image")) {
            pretrains++;
            assert_int_equal(c->mae, 1);
            /* the target's data and shape, trained by MAE with mae.* over target.train = train.* */
            assert_string_equal(kv_value(&c->data, "train_size"), "500");
            assert_int_equal(c->shape.dim, 32);
            assert_int_equal(c->train.epochs, 4);
            assert_true(c->train.lr == 1.0e-3);
            assert_int_equal(c->train.batch, 64);
            assert_non_null(strstr(c->json, "\"objective\":\"mae\""));
            assert_non_null(strstr(c->json, "\"role\":\"auxiliary\""));
            assert_null(strstr(c->json, "label_smoothing"));
        } else if (c->mae) {
            aux_mae++;
            assert_string_equal(c->modality, "point");
            assert_int_equal(c->train.epochs, 3); /* auxiliary.train.epochs: the model's own */
            assert_true(c->train.lr == 1.0e-3);   /* mae.lr over auxiliary.train.lr */
            assert_string_equal(kv_value(&c->data, "train_size"), "300");
        } else {
            aux_sup++;
            assert_true(c->train.lr == 2.0e-3);
            assert_null(strstr(c->json, "mae"));
        }
        if (c->mae) {
            assert_true(c->mae_cfg.mask_ratio == 0.6);
            assert_int_equal(c->mae_cfg.decoder_dim, 16);
            assert_int_equal(c->mae_cfg.decoder_heads, 4);
            assert_int_equal(c->mae_cfg.decoder_depth, 2); /* M2PT_MAE_DEFAULTS */
            assert_non_null(strstr(c->json, "\"mae\":{\"decoder_depth\":2,\"decoder_dim\":16,\"decoder_heads\":4,"
                                            "\"mask_ratio\":0.6}"));
        }
    }
    assert_int_equal(pretrains, 2), assert_int_equal(aux_mae, 2), assert_int_equal(aux_sup, 2);
    for (int i = 0; i < e.ntargets; i++) {
        const m2pt_cell *t = target(&e, i);
        assert_true(t->pretrain >= 0 && t->pretrain < e.naux);
        const m2pt_cell *p = &e.cells[t->pretrain];
        assert_string_equal(p->modality, "image");
        assert_int_equal(p->seed, t->seed);
        assert_non_null(strstr(t->json, p->json)); /* the pretrain config is inside the target's */
        if (!strcmp(t->pathway, "baseline")) {
            assert_int_equal(t->aux, -1);
            assert_string_equal(axis(t, "auxiliary.objective"), "-");
        } else {
            assert_int_equal(t->aux_mae, e.cells[t->aux].mae);
            assert_string_equal(axis(t, "auxiliary.objective"), t->aux_mae ? "mae" : "supervised");
        }
    }
    m2pt_experiment_free(&e);

    /* without a mae section: M2PT_MAE_DEFAULTS and the model's own training settings */
    load_ok(&e, MAE_HEAD ", objective: mae}\n");
    assert_int_equal(e.naux, 2);
    const m2pt_mae_config def = M2PT_MAE_DEFAULTS;
    for (int i = 0; i < 2; i++) {
        const m2pt_cell *c = &e.cells[i];
        assert_int_equal(c->mae, 1);
        assert_true(c->mae_cfg.mask_ratio == def.mask_ratio);
        assert_int_equal(c->mae_cfg.decoder_dim, def.decoder_dim);
        assert_int_equal(c->mae_cfg.decoder_depth, def.decoder_depth);
        assert_int_equal(c->mae_cfg.decoder_heads, def.decoder_heads);
        assert_int_equal(c->train.epochs, strcmp(c->modality, "point") ? 4 : 3);
        assert_true(c->train.lr == 2.0e-3);
        assert_true(c->train.label_smoothing == 0);
    }
    const m2pt_cell *t = target(&e, 0);
    assert_true(t->aux >= 0 && t->pretrain >= 0 && t->aux != t->pretrain); /* both: reparam from a pretrained model */
    m2pt_experiment_free(&e);

    /* a pretrain cell and an MAE auxiliary cell of the same modality, data, shape, seed and
     * training are one cell (trained once) */
    load_ok(&e, "name: t\ntarget: {modality: image, pretrain: mae}\n"
                "auxiliary: {modality: image, objective: mae}\npathway: {name: reparam}\n");
    assert_int_equal(e.naux, 1);
    assert_int_equal(target(&e, 0)->aux, 0), assert_int_equal(target(&e, 0)->pretrain, 0);
    m2pt_experiment_free(&e);

    /* mae.* is part of an MAE cell's identity and of nothing else */
    char ha[16][M2PT_HASH_HEX], hb[16][M2PT_HASH_HEX];
    int na, nb;
    hashes(HEAD RP "auxiliary: {modality: point, objective: mae}\n", ha, &na);
    hashes(HEAD RP "auxiliary: {modality: point, objective: mae}\nmae: {mask_ratio: 0.5}\n", hb, &nb);
    assert_int_equal(na, 2), assert_int_equal(nb, 2);
    assert_string_not_equal(ha[0], hb[0]), assert_string_not_equal(ha[1], hb[1]);
    hashes(HEAD "pathway: {name: noaux}\nmae: {mask_ratio: 0.5}\nauxiliary: {objective: mae}\n", ha, &na);
    hashes(HEAD "pathway: {name: noaux}\n", hb, &nb);
    assert_int_equal(na, 1), assert_string_equal(ha[0], hb[0]);
    /* a target with pretraining is another cell than the same target without */
    hashes("name: t\ntarget: {modality: image, pretrain: mae}\npathway: {name: noaux}\n", ha, &na);
    assert_int_equal(na, 2);
    assert_string_not_equal(ha[1], hb[0]);
}

static void test_mae_errors(void **state) {
    (void)state;
    m2pt_experiment e;
    const char *p = write_tmp("m.yaml", "name: m\ntarget: {modality: image, pretrain: mae}\nmae:\n  mask_ratio: 1.0\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    char want[1200];
    snprintf(want, sizeof want, "%s:4:15: mae.mask_ratio: 1.0 is out of range: must be > 0 and < 1", p);
    assert_string_equal(g_err, want);
    p = write_tmp("m.yaml", "name: m\ntarget: {modality: image, pretrain: mae}\nmae: {decoder_dim: 30, decoder_heads: 4}\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    snprintf(want, sizeof want, "%s:3:39: mae.decoder_heads: mae.decoder_dim 30 is not a multiple of mae.decoder_heads 4", p);
    assert_string_equal(g_err, want);
    p = write_tmp("m.yaml", "name: m\ntarget: {modality: image}\nauxiliary: {objective: mea}\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    snprintf(want, sizeof want, "%s:3:24: auxiliary.objective: 'mea' is not one of: supervised, mae (did you mean 'mae'?)", p);
    assert_string_equal(g_err, want);
    /* a modality without reconstruction targets (the stub oracle's text) */
    p = write_tmp("m.yaml", "name: m\ntarget: {modality: text, pretrain: mae}\n");
    assert_int_equal(load_sets(&e, p, NULL, 0), -1);
    snprintf(want, sizeof want, "%s:2:36: target.pretrain: modality plugin 'text' has no reconstruction targets", p);
    assert_string_equal(g_err, want);
    load_bad("name: t\ntarget: {modality: image, pretrain: yes}\n", "'yes' is not one of: none, mae");
    load_bad("name: t\ntarget: {modality: image, pretrain: true}\n", "expected a name");
    load_bad(HEAD "mae: {decoder_dims: 8}\n", "did you mean 'mae.decoder_dim'");
    load_bad(HEAD "mae: {mask_ration: 0.5}\n", "did you mean 'mae.mask_ratio'");
    load_bad(HEAD "mae: {label_smoothing: 0.1}\n", "mae.label_smoothing: unknown key");
    load_bad(HEAD "mae: {decoder_dim: 0}\n", "mae.decoder_dim: 0 is out of range");
    load_bad(HEAD "mae: {mask_ratio: 0}\n", "must be > 0 and < 1");
#define PRE "name: t\ntarget: {modality: image, pretrain: mae}\n"
    load_bad(PRE "mae: {lr: 1.0e-4, min_lr: 1.0e-3}\n", "min_lr 0.001 of the MAE training is larger than its lr 0.0001");
    load_bad(PRE "mae: {epochs: 1, warmup_epochs: 2}\n", "warmup_epochs 2 of the MAE training");
    load_bad(HEAD RP "auxiliary: {modality: text, objective: mae}\n", "auxiliary.objective: modality plugin 'text'");
    /* checked where used: text as a supervised auxiliary, or with a pathway that ignores it, is fine */
    load_ok(&e, HEAD "auxiliary: {modality: text, objective: mae}\n");
    m2pt_experiment_free(&e);
    /* a bad value in a grid is located in the list */
    load_bad(PRE "grid:\n  mae.mask_ratio: [0.5, 1.5]\n", "mae.mask_ratio: 1.5 is out of range");
#undef PRE
}

static void test_mae_print(void **state) {
    (void)state;
    m2pt_experiment e;
    load_ok(&e, MAE_HEAD "}\ngrid:\n  auxiliary.objective: [supervised, mae]\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    m2pt_experiment_print(&e, f);
    fclose(f);
    assert_non_null(strstr(buf, "  hash              modality  seed  epochs  objective\n"));
    assert_non_null(strstr(buf, "  hash              auxiliary.objective  pathway  pretrain          aux\n"));
    for (int i = 0; i < e.naux; i++) {
        char row[256];
        snprintf(row, sizeof row, "  %s  %-8s  0     %d       %s\n", e.cells[i].hash, e.cells[i].modality,
                 e.cells[i].train.epochs, e.cells[i].mae ? "mae" : "supervised");
        if (!strstr(buf, row)) fail_msg("no row '%s' in:\n%s", row, buf);
    }
    for (int i = 0; i < e.ntargets; i++) {
        const m2pt_cell *t = target(&e, i);
        char row[256];
        snprintf(row, sizeof row, "  %s  %-19s  reparam  %s  %s\n", t->hash, t->aux_mae ? "mae" : "supervised",
                 e.cells[t->pretrain].hash, e.cells[t->aux].hash);
        if (!strstr(buf, row)) fail_msg("no row '%s' in:\n%s", row, buf);
    }
    free(buf);
    m2pt_experiment_free(&e);
}

int main(int argc, char **argv) {
    m2pt_blas_select_kernel(argv);
    (void)argc;
    const char *d = getenv("M2PT_TEST_DATA");
    if (d && *d) snprintf(g_data, sizeof g_data, "%s", d);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/m2pt_exp_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_grid_only),
        cmocka_unit_test(test_zip_only),        cmocka_unit_test(test_grid_x_zip),
        cmocka_unit_test(test_collapse_baseline), cmocka_unit_test(test_collapse_noaux),
        cmocka_unit_test(test_design_example),  cmocka_unit_test(test_shared_aux),
        cmocka_unit_test(test_aux_seeds),       cmocka_unit_test(test_extends),
        cmocka_unit_test(test_set),             cmocka_unit_test(test_hash_stability),
        cmocka_unit_test(test_yaml12_numbers),  cmocka_unit_test(test_grid_limit),
        cmocka_unit_test(test_zero_byte_file),  cmocka_unit_test(test_null_oracle),
        cmocka_unit_test(test_print),           cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_messages),        cmocka_unit_test(test_mae_keeps_hashes),
        cmocka_unit_test(test_mae_cells),       cmocka_unit_test(test_mae_errors),
        cmocka_unit_test(test_mae_print),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_tree(g_tmp);
    return failed ? 1 : 0;
}
