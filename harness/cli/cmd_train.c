/* m2pt train: one run of a modality plugin with a pathway plugin (and an auxiliary checkpoint
 * when the pathway needs one); prints per-epoch loss and accuracies, merges the pathway into
 * a plain model, evaluates it and saves it.
 * m2pt eval: evaluates a saved plain checkpoint. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "json.h"
#include "model.h"
#include "runner.h"
#include "threads.h"
#include "trainer.h"
#include "util.h"

static void train_usage(FILE *f) {
    fprintf(f,
            "usage: m2pt train --modality NAME|FILE.so [--pathway NAME|FILE.so] [--aux CKPT] [options]\n"
            "Trains the modality's tokenizer and head around the transformer blocks, with each block\n"
            "linear's weight supplied by the pathway (baseline: W; reparam: W + lambda*W_aux from the\n"
            "auxiliary checkpoint; noaux: W + lambda*W_aux with random W_aux). Prints per-epoch train\n"
            "loss, validation and test accuracy; at the end folds the pathway into plain weights,\n"
            "evaluates the merged model and saves it (--out).\n"
            "\n"
            "  --modality NAME     modality plugin (see 'm2pt plugins'), or a path to its .so\n"
            "  --pathway NAME      pathway plugin (default baseline)\n"
            "  --aux CKPT          auxiliary checkpoint (a model of the same block shape)\n"
            "  --out CKPT          save the merged (plain) model here\n"
            "  --epochs N          (default 10)          --batch N        (default 128)\n"
            "  --lr X              peak (default 1e-3)   --min-lr X       (default 1e-5)\n"
            "  --weight-decay X    (default 0.05)        --warmup X       epochs (default 1)\n"
            "  --clip X            grad-norm clip, 0 off (default 1)\n"
            "  --label-smoothing X (default 0.1)         --no-augment     no train-time augmentation\n"
            "  --dim N --depth N --heads N --mlp-ratio N   block shape (default 64 4 4 4)\n"
            "  --seed S            data split, init, order, augmentation (default 0)\n"
            "  --set modality.KEY=VALUE | pathway.KEY=VALUE   plugin options (repeatable)\n"
            "  --threads N         (default M2PT_THREADS, else all cores)\n"
            "\n"
            "Self-supervised pretraining (masked autoencoder; pathway baseline; no head, no accuracy):\n"
            "  --objective mae     train by MAE: per-step seeded masks, reconstruction loss on masked tokens\n"
            "  --mask-ratio X      fraction of tokens masked (default 0.75)\n"
            "  --decoder-dim N --decoder-depth N --decoder-heads N   the light decoder (default 32 2 2)\n"
            "  --pretrained CKPT   start a classifier from an MAE checkpoint (tokenizer and blocks; new head)\n");
}

typedef struct {
    const char *modality, *pathway, *aux, *out, *pretrained;
    int mae;
    m2pt_mae_config mae_cfg;
    long epochs, batch, seed, threads, dim, depth, heads, mlp_ratio;
    double lr, min_lr, wd, warmup, clip, smoothing;
    int augment;
    m2pt_kv mod_cfg, path_cfg;
} train_opts;

static int parse(int argc, char **argv, train_opts *o) {
    *o = (train_opts){.pathway = "baseline", .epochs = 10, .batch = 128, .dim = 64, .depth = 4, .heads = 4,
                      .mlp_ratio = 4, .lr = 1e-3, .min_lr = 1e-5, .wd = 0.05, .warmup = 1, .clip = 1,
                      .smoothing = 0.1, .augment = 1, .mae_cfg = M2PT_MAE_DEFAULTS};
    long dd = o->mae_cfg.decoder_dim, ddepth = o->mae_cfg.decoder_depth, dh = o->mae_cfg.decoder_heads;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            train_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--no-augment")) o->augment = 0, takes = 0;
        else if (!v) {
            fprintf(stderr, "m2pt train: %s needs a value (see 'm2pt train --help')\n", a);
            return -1;
        } else if (!strcmp(a, "--modality")) o->modality = v;
        else if (!strcmp(a, "--pathway")) o->pathway = v;
        else if (!strcmp(a, "--aux")) o->aux = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--pretrained")) o->pretrained = v;
        else if (!strcmp(a, "--objective")) {
            if (strcmp(v, "mae") && strcmp(v, "supervised")) {
                fprintf(stderr, "m2pt train: --objective '%s' is not one of: supervised, mae\n", v);
                return -1;
            }
            o->mae = !strcmp(v, "mae");
        } else if (!strcmp(a, "--mask-ratio")) {
            bad = cli_float("train", a, v, 0, 1, &o->mae_cfg.mask_ratio);
            if (!bad && (o->mae_cfg.mask_ratio <= 0 || o->mae_cfg.mask_ratio >= 1)) {
                fprintf(stderr, "m2pt train: --mask-ratio %s must be > 0 and < 1\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--decoder-dim")) bad = cli_int("train", a, v, 1, 8192, &dd);
        else if (!strcmp(a, "--decoder-depth")) bad = cli_int("train", a, v, 1, 256, &ddepth);
        else if (!strcmp(a, "--decoder-heads")) bad = cli_int("train", a, v, 1, 256, &dh);
        else if (!strcmp(a, "--epochs")) bad = cli_int("train", a, v, 1, 100000, &o->epochs);
        else if (!strcmp(a, "--batch")) bad = cli_int("train", a, v, 1, 65536, &o->batch);
        else if (!strcmp(a, "--seed")) bad = cli_int("train", a, v, 0, 2147483647L, &o->seed);
        else if (!strcmp(a, "--threads")) bad = cli_int("train", a, v, 1, 256, &o->threads);
        else if (!strcmp(a, "--dim")) bad = cli_int("train", a, v, 1, 65536, &o->dim);
        else if (!strcmp(a, "--depth")) bad = cli_int("train", a, v, 1, 1024, &o->depth);
        else if (!strcmp(a, "--heads")) bad = cli_int("train", a, v, 1, 1024, &o->heads);
        else if (!strcmp(a, "--mlp-ratio")) bad = cli_int("train", a, v, 1, 64, &o->mlp_ratio);
        else if (!strcmp(a, "--lr")) bad = cli_float("train", a, v, 0, 10, &o->lr);
        else if (!strcmp(a, "--min-lr")) bad = cli_float("train", a, v, 0, 10, &o->min_lr);
        else if (!strcmp(a, "--weight-decay")) bad = cli_float("train", a, v, 0, 10, &o->wd);
        else if (!strcmp(a, "--warmup")) bad = cli_float("train", a, v, 0, 100000, &o->warmup);
        else if (!strcmp(a, "--clip")) bad = cli_float("train", a, v, 0, 1e6, &o->clip);
        else if (!strcmp(a, "--label-smoothing")) bad = cli_float("train", a, v, 0, 0.999, &o->smoothing);
        else if (!strcmp(a, "--set")) {
            m2pt_kv *kv = !strncmp(v, "modality.", 9) ? &o->mod_cfg : !strncmp(v, "pathway.", 8) ? &o->path_cfg : NULL;
            const char *pair = kv == &o->mod_cfg ? v + 9 : v + 8;
            if (!kv || m2pt_kv_set_pair(kv, pair, "--set")) {
                fprintf(stderr, "m2pt train: --set '%s' must be modality.KEY=VALUE or pathway.KEY=VALUE\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "m2pt train: unknown option '%s' (see 'm2pt train --help')\n", a);
            return -1;
        }
        if (bad) return -1;
        i += takes;
    }
    if (!o->modality) {
        fprintf(stderr, "m2pt train: --modality is required (see 'm2pt plugins' for what is installed)\n");
        return -1;
    }
    if (o->dim % o->heads) {
        fprintf(stderr, "m2pt train: --dim %ld is not divisible by --heads %ld\n", o->dim, o->heads);
        return -1;
    }
    o->mae_cfg.decoder_dim = (int)dd, o->mae_cfg.decoder_depth = (int)ddepth, o->mae_cfg.decoder_heads = (int)dh;
    if (dd % dh) {
        fprintf(stderr, "m2pt train: --decoder-dim %ld is not divisible by --decoder-heads %ld\n", dd, dh);
        return -1;
    }
    if (o->mae && (strcmp(o->pathway, "baseline") || o->aux || o->pretrained)) {
        fprintf(stderr, "m2pt train: --objective mae trains a model alone: no --pathway other than baseline, no --aux, "
                        "no --pretrained\n");
        return -1;
    }
    return 0;
}

/* --- the trainer's view of the model ------------------------------------------------------ */

static int t_fill(void *p, const long *index, int n, int augment, uint64_t seed, char *err, size_t errlen) {
    return m2pt_model_fill(p, M2PT_SPLIT_TRAIN, index, n, augment, seed, err, errlen);
}
static float t_forward(void *p, int n) { return m2pt_model_forward(p, n); }
static void t_backward(void *p) { m2pt_model_backward(p); }

/* MAE: the mask of each step drawn as m2pt run draws it (m2pt_mae_step_seed). */
static long mae_step;
static float t_mae_forward(void *p, int n) {
    m2pt_model *m = p;
    return m2pt_model_mae_forward(m, n, m2pt_mae_step_seed(m->opt.seed, ++mae_step));
}
static void t_mae_backward(void *p) { m2pt_model_mae_backward(p); }

/* A NaN or infinite loss or gradient stops training at that step (message in step_error). */
static char step_error[256];
static int t_step(void *p, long step, int epoch, float loss, float lr, float grad_norm) {
    const char *plugin = m2pt_model_error(p); /* a plugin's error makes the loss NaN: say why */
    if (plugin) return snprintf(step_error, sizeof step_error, "%s", plugin), 1;
    return m2pt_nonfinite_step(step, epoch, loss, grad_norm, step_error, sizeof step_error);
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig, interrupted = 1; }

typedef struct {
    m2pt_model *m;
    int failed;
    char err[1200];
} epoch_ctx;

/* Mean |value| of the pathway's scalar tensors (lambda), or -1 when it has none. */
static double mean_abs_scale(const m2pt_model *m, double *max_abs) {
    double s = 0, mx = 0;
    int n = 0;
    for (int i = 0; i < m->params.n; i++)
        if (m->params.t[i].pathway && m->params.t[i].numel == 1) {
            double v = fabs(m2pt_param(&m->params, i)[0]);
            s += v, n++, mx = v > mx ? v : mx;
        }
    *max_abs = mx;
    return n ? s / n : -1;
}

static int on_epoch(void *p, const m2pt_epoch_stats *s) {
    epoch_ctx *c = p;
    if (m2pt_model_error(c->m) || !isfinite(s->train_loss)) {
        snprintf(c->err, sizeof c->err, "%s", m2pt_model_error(c->m) ? m2pt_model_error(c->m)
                                                                     : "the training loss is not finite (lower --lr?)");
        c->failed = 1;
        return 1;
    }
    m2pt_eval val = {0}, test = {0};
    int has_val = c->m->mod->split_size(c->m->mod_inst, M2PT_SPLIT_VAL) > 0;
    if ((has_val && m2pt_model_evaluate(c->m, M2PT_SPLIT_VAL, &val, c->err, sizeof c->err)) ||
        m2pt_model_evaluate(c->m, M2PT_SPLIT_TEST, &test, c->err, sizeof c->err)) {
        c->failed = 1;
        return 1;
    }
    double mx, lam = mean_abs_scale(c->m, &mx);
    printf("epoch %3d  train loss %.4f  val acc %6.2f%%  test acc %6.2f%%  lr %.2e  |g| %.2f", s->epoch, s->train_loss,
           has_val ? 100.0 * val.correct / val.n : 0.0, 100.0 * test.correct / test.n, s->lr, s->grad_norm);
    if (lam >= 0) printf("  mean|lambda| %.4f", lam);
    printf("  %5.0f samples/s  %.1fs\n", s->samples_per_s, s->seconds);
    fflush(stdout);
    if (interrupted) printf("interrupted: stopping after this epoch\n");
    return interrupted != 0;
}

static int on_mae_epoch(void *p, const m2pt_epoch_stats *s) {
    epoch_ctx *c = p;
    if (m2pt_model_error(c->m) || !isfinite(s->train_loss)) {
        snprintf(c->err, sizeof c->err, "%s", m2pt_model_error(c->m) ? m2pt_model_error(c->m)
                                                                     : "the reconstruction loss is not finite (lower --lr?)");
        c->failed = 1;
        return 1;
    }
    double val = NAN;
    int has_val = c->m->mod->split_size(c->m->mod_inst, M2PT_SPLIT_VAL) > 0;
    if (has_val && m2pt_model_mae_evaluate(c->m, M2PT_SPLIT_VAL, &val, c->err, sizeof c->err)) {
        c->failed = 1;
        return 1;
    }
    printf("epoch %3d  train recon loss %.4f  val recon loss %.4f  lr %.2e  |g| %.2f  %5.0f samples/s  %.1fs\n",
           s->epoch, s->train_loss, has_val ? val : 0.0, s->lr, s->grad_norm, s->samples_per_s, s->seconds);
    fflush(stdout);
    if (interrupted) printf("interrupted: stopping after this epoch\n");
    return interrupted != 0;
}

static int report_final(m2pt_model *m, char *err, size_t errlen) {
    if (m->opt.mae) {
        double test = NAN;
        if (m2pt_model_mae_evaluate(m, M2PT_SPLIT_TEST, &test, err, errlen)) return 1;
        printf("test reconstruction loss: %.4f (masked tokens, mask ratio %g)\n", test, m->opt.mae->mask_ratio);
        return 0;
    }
    m2pt_eval before = {0}, after = {0};
    long *cc = calloc((size_t)m->classes, sizeof(long)), *ct = calloc((size_t)m->classes, sizeof(long));
    after.class_correct = cc, after.class_total = ct;
    int rc = !cc || !ct;
    if (!rc) rc = m2pt_model_evaluate(m, M2PT_SPLIT_TEST, &before, err, errlen);
    if (!rc) {
        m2pt_model_merge(m);
        rc = m2pt_model_evaluate(m, M2PT_SPLIT_TEST, &after, err, errlen);
    }
    if (!rc) {
        printf("test accuracy: %.2f%% with the pathway, %.2f%% merged into a plain model (%zu parameters)\n",
               100.0 * before.correct / before.n, 100.0 * after.correct / after.n, m2pt_model_plain_params(m));
        printf("per class:");
        for (int c = 0; c < m->classes; c++)
            printf("%s %s %.1f%%", c ? "," : "", m->mod->class_name(m->mod_inst, c), ct[c] ? 100.0 * cc[c] / ct[c] : 0.0);
        printf("\n");
    }
    free(cc), free(ct);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) {
        m2pt_kv_free(&o.mod_cfg), m2pt_kv_free(&o.path_cfg);
        return prc > 0 ? 0 : 2;
    }
    if (cli_threads("train", o.threads)) return 2;
    char err[1200];
    char *exe = m2pt_exe_dir();
    m2pt_loaded mod_pl = {0}, path_pl = {0};
    int rc = 2;
    if (m2pt_plugin_resolve(o.modality, M2PT_KIND_MODALITY, exe, &mod_pl, err, sizeof err) ||
        m2pt_plugin_resolve(o.pathway, M2PT_KIND_PATHWAY, exe, &path_pl, err, sizeof err)) {
        fprintf(stderr, "m2pt train: %s\n", err);
        goto out;
    }
    m2pt_model_options mo = {.shape = {(int)o.dim, (int)o.depth, (int)o.heads, (int)o.mlp_ratio},
                             .max_batch = (int)o.batch, .label_smoothing = (float)o.smoothing,
                             .seed = (uint64_t)o.seed, .aux_path = o.aux, .mae = o.mae ? &o.mae_cfg : NULL};
    m2pt_model m;
    double t0 = m2pt_now();
    if (m2pt_model_open(&m, mod_pl.desc, &o.mod_cfg, "modality.", path_pl.desc, &o.path_cfg, "pathway.", &mo, err,
                        sizeof err)) {
        fprintf(stderr, "m2pt train: %s\n", err);
        goto out;
    }
    if (o.pretrained && m2pt_model_load_pretrained(&m, o.pretrained, err, sizeof err)) {
        fprintf(stderr, "m2pt train: %s\n", err);
        m2pt_model_close(&m);
        goto out;
    }
    if (o.mae) printf("m2pt train: masked-autoencoder pretraining, mask ratio %g, decoder dim %d depth %d heads %d\n",
                      o.mae_cfg.mask_ratio, o.mae_cfg.decoder_dim, o.mae_cfg.decoder_depth, o.mae_cfg.decoder_heads);
    if (o.pretrained) printf("m2pt train: tokenizer and blocks from the pretrained checkpoint %s\n", o.pretrained);
    printf("m2pt train: modality %s, pathway %s%s%s; blocks dim %ld depth %ld heads %ld mlp %ld, %d tokens; "
           "%zu parameters (%zu trained, %zu in the plain model)\n",
           mod_pl.desc->name, path_pl.desc->name, o.aux ? ", auxiliary " : "", o.aux ? o.aux : "", o.dim, o.depth,
           o.heads, o.mlp_ratio, m.tokens, m2pt_params_count(&m.params), m2pt_params_count_trainable(&m.params),
           m2pt_model_plain_params(&m));
    long n_train = m.mod->split_size(m.mod_inst, M2PT_SPLIT_TRAIN);
    printf("data: %ld train, %ld val, %ld test samples, %d classes; %ld epochs of %ld steps (batch %ld), %d threads, "
           "seed %ld (setup %.1fs)\n",
           n_train, m.mod->split_size(m.mod_inst, M2PT_SPLIT_VAL), m.mod->split_size(m.mod_inst, M2PT_SPLIT_TEST),
           m.classes, o.epochs, n_train / o.batch, o.batch, m2pt_threads_count(), o.seed, m2pt_now() - t0);
    fflush(stdout);
    m2pt_train_config tc = {.epochs = (int)o.epochs, .batch = (int)o.batch, .lr = (float)o.lr,
                            .min_lr = (float)o.min_lr, .weight_decay = (float)o.wd, .clip_norm = (float)o.clip,
                            .warmup_epochs = (float)o.warmup, .seed = (uint64_t)o.seed, .augment = o.augment};
    m2pt_trainable t = {.ctx = &m, .fill = t_fill, .forward = o.mae ? t_mae_forward : t_forward,
                        .backward = o.mae ? t_mae_backward : t_backward, .params = &m.params, .on_step = t_step};
    epoch_ctx ec = {&m, 0, ""};
    signal(SIGINT, on_sigint);
    double t1 = m2pt_now();
    rc = m2pt_train(&t, n_train, &tc, o.mae ? on_mae_epoch : on_epoch, &ec, err, sizeof err) || ec.failed;
    signal(SIGINT, SIG_DFL);
    if (rc) {
        fprintf(stderr, "m2pt train: %s\n", ec.failed ? ec.err : step_error[0] ? step_error : err);
        rc = 1;
    } else {
        printf("training took %.1fs\n", m2pt_now() - t1);
        if (report_final(&m, err, sizeof err)) {
            fprintf(stderr, "m2pt train: %s\n", err);
            rc = 1;
        } else if (o.out && m2pt_model_save(&m, o.out, 1, err, sizeof err)) {
            fprintf(stderr, "m2pt train: %s\n", err);
            rc = 1;
        } else if (o.out) {
            printf("saved %s model to %s\n", o.mae ? "the pretrained (MAE)" : "merged", o.out);
        }
    }
    m2pt_model_close(&m);
out:
    if (mod_pl.handle) m2pt_plugin_unload(&mod_pl);
    if (path_pl.handle) m2pt_plugin_unload(&path_pl);
    free(exe);
    m2pt_kv_free(&o.mod_cfg), m2pt_kv_free(&o.path_cfg);
    return rc;
}

/* --- m2pt eval ----------------------------------------------------------------------------- */

/* Rebuild the modality's config section from the checkpoint's "modality.<key>" entries. */
static int config_from_checkpoint(const char *json, m2pt_kv *kv) {
    m2pt_json_cursor c;
    m2pt_json_cursor_init(&c, json, strlen(json));
    if (m2pt_json_object_begin(&c)) return -1;
    char key[256], val[1024];
    for (int i = 0;; i++) {
        int r = m2pt_json_object_next(&c, i, key, sizeof key);
        if (r == 0) return 0;
        if (r < 0) return -1;
        if (r == 1 && !strncmp(key, "modality.", 9) && m2pt_json_peek(&c) == '"') {
            if (m2pt_json_read_string(&c, val, sizeof val) || m2pt_kv_set(kv, key + 9, val, "checkpoint")) return -1;
        } else if (m2pt_json_skip(&c)) {
            return -1;
        }
    }
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *split_name = "test", *modality = NULL;
    long batch = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: m2pt eval CKPT [--split test|val|train] [--modality NAME|FILE.so] [--batch N]\n"
                   "Loads a plain (merged or baseline) checkpoint saved by 'm2pt train --out' and prints its\n"
                   "accuracy on a split. The modality and its options come from the checkpoint.\n");
            return 0;
        } else if (!strcmp(a, "--split") && v) split_name = v, i++;
        else if (!strcmp(a, "--modality") && v) modality = v, i++;
        else if (!strcmp(a, "--batch") && v) {
            if (cli_int("eval", a, v, 1, 65536, &batch)) return 2;
            i++;
        } else if (a[0] != '-' && !ckpt) ckpt = a;
        else {
            fprintf(stderr, "m2pt eval: unknown or incomplete option '%s' (see 'm2pt eval --help')\n", a);
            return 2;
        }
    }
    m2pt_split_id split = !strcmp(split_name, "test") ? M2PT_SPLIT_TEST : !strcmp(split_name, "val") ? M2PT_SPLIT_VAL
                          : !strcmp(split_name, "train") ? M2PT_SPLIT_TRAIN : (m2pt_split_id)-1;
    if (!ckpt || (int)split < 0) {
        fprintf(stderr, "m2pt eval: %s\n", ckpt ? "--split must be test, val or train" : "which checkpoint? (m2pt eval CKPT)");
        return 2;
    }
    if (cli_threads("eval", 0)) return 2;
    char err[1200], name[128], pathway[64];
    m2pt_checkpoint c;
    if (m2pt_checkpoint_open(&c, ckpt, err, sizeof err)) {
        fprintf(stderr, "m2pt eval: %s\n", err);
        return 2;
    }
    const char *cfg = m2pt_checkpoint_config(&c);
    long v[4], seed = 0;
    double smoothing = 0.0;
    m2pt_kv kv = {0};
    int bad = m2pt_json_get_string(cfg, "modality", name, sizeof name) ||
              m2pt_json_get_string(cfg, "pathway", pathway, sizeof pathway) ||
              m2pt_json_get_int(cfg, "dim", &v[0]) || m2pt_json_get_int(cfg, "depth", &v[1]) ||
              m2pt_json_get_int(cfg, "heads", &v[2]) || m2pt_json_get_int(cfg, "mlp_ratio", &v[3]) ||
              config_from_checkpoint(cfg, &kv);
    m2pt_json_get_int(cfg, "seed", &seed); /* the data split may depend on it */
    m2pt_json_get_double(cfg, "label_smoothing", &smoothing);
    m2pt_checkpoint_close(&c);
    if (bad || strcmp(pathway, "baseline")) {
        fprintf(stderr, "m2pt eval: %s: %s\n", ckpt,
                bad ? "not a model checkpoint saved by 'm2pt train' (config lacks modality or shape)"
                    : "holds an unmerged pathway model; save plain models with 'm2pt train --out'");
        m2pt_kv_free(&kv);
        return 2;
    }
    char *exe = m2pt_exe_dir();
    m2pt_loaded mod_pl = {0}, path_pl = {0};
    int rc = 2;
    m2pt_model m;
    m2pt_model_options mo = {.shape = {(int)v[0], (int)v[1], (int)v[2], (int)v[3]}, .max_batch = (int)batch,
                             .seed = (uint64_t)seed, .label_smoothing = (float)smoothing};
    if (m2pt_plugin_resolve(modality ? modality : name, M2PT_KIND_MODALITY, exe, &mod_pl, err, sizeof err) ||
        m2pt_plugin_resolve("baseline", M2PT_KIND_PATHWAY, exe, &path_pl, err, sizeof err) ||
        m2pt_model_open(&m, mod_pl.desc, &kv, "modality.", path_pl.desc, NULL, "pathway.", &mo, err, sizeof err)) {
        fprintf(stderr, "m2pt eval: %s\n", err);
    } else {
        m2pt_eval ev = {0};
        if (m2pt_model_load(&m, ckpt, err, sizeof err)) {
            fprintf(stderr, "m2pt eval: %s\n", err);
        } else if (m2pt_model_evaluate(&m, split, &ev, err, sizeof err)) {
            fprintf(stderr, "m2pt eval: %s\n", err);
            rc = 1;
        } else {
            printf("%s: %s %s accuracy %.2f%% (%ld of %ld), loss %.4f, %zu parameters\n", ckpt, name, split_name,
                   100.0 * ev.correct / ev.n, ev.correct, ev.n, ev.loss, m2pt_model_plain_params(&m));
            rc = 0;
        }
        m2pt_model_close(&m);
    }
    if (mod_pl.handle) m2pt_plugin_unload(&mod_pl);
    if (path_pl.handle) m2pt_plugin_unload(&path_pl);
    m2pt_kv_free(&kv);
    free(exe);
    return rc;
}
