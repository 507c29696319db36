#define _DEFAULT_SOURCE /* flock, gethostname, kill */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "checkpoint.h"
#include "json.h"
#include "loader.h"
#include "model.h"
#include "rng.h"
#include "store.h"
#include "threads.h"
#include "trainer.h"
#include "util.h"
#include "version.h"

/* ============================================================ signals */

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig, stop_requested = 1; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ============================================================ small helpers */

static int mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* A checkpoint that opens (magic, version, bounds, checksum all verified). */
static int checkpoint_ok(const char *path, m2pt_checkpoint *keep) {
    m2pt_checkpoint c;
    char err[512];
    if (access(path, R_OK) || m2pt_checkpoint_open(&c, path, err, sizeof err)) return 0;
    if (keep) *keep = c;
    else m2pt_checkpoint_close(&c);
    return 1;
}

/* CRC32 as stored in the file's footer (the checkpoint's own checksum). */
static void footer_checksum(const char *path, char *out, size_t n, long long *bytes) {
    snprintf(out, n, "unknown");
    *bytes = -1;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char foot[8];
    if (!fseek(f, -8, SEEK_END) && fread(foot, 1, 8, f) == 8) {
        unsigned crc = foot[0] | foot[1] << 8 | foot[2] << 16 | (unsigned)foot[3] << 24;
        snprintf(out, n, "crc32:%08x", crc);
        *bytes = ftell(f);
    }
    fclose(f);
}

/* Text that can go into a JSON string as it is (a host name). */
static int json_safe(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\') return 0;
    return 1;
}

/* ============================================================ one worker */

typedef struct {
    const m2pt_experiment *exp;
    const m2pt_run_options *opt;
    m2pt_store *store;
    int64_t exp_id;
    char *exe_dir;
    int worker, nworkers;
    int failed, interrupted;
    char *aux_failed; /* [ncells]: auxiliary cells that failed in this run (not retried per target) */
    m2pt_provenance prov;
    char host[256];
    char fatal[1200]; /* set: the database or the cache cannot be written; the grid stops (exit 2) */
} worker;

/* A fault of the machine, not of a cell: the database or the cache cannot be written (disk
 * full, file too large, read-only, permissions). Every further cell would fail the same way,
 * so the grid stops and m2pt run exits 2 with this one message; the cell in progress is left
 * to restart on the next run. The first message is kept. */
static void set_fatal(worker *w, const char *fmt, ...) {
    if (w->fatal[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fatal, sizeof w->fatal, fmt, ap);
    va_end(ap);
}

static void say(const worker *w, const char *fmt, ...) {
    if (w->opt->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    if (w->nworkers > 1) printf("[w%d] ", w->worker);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* --- the state of the cell being trained -------------------------------------------------- */

typedef struct {
    worker *w;
    m2pt_model *m;
    int64_t run_id;
    const m2pt_cell *cell;
    int index;         /* 1-based position among the cells, for progress */
    double t0, last_print;
    long steps_total, correct;
    long seen;
    m2pt_metric *buf;  /* per-epoch buffer, allocated before training */
    int nbuf, capbuf;
    char (*lambda_keys)[64];
    int *lambda_idx, nlambda;
    double best_val, last_val;
    int epochs_done, nonfinite;
    int resource; /* stopped because the store could not record its metrics */
    long mae_step; /* MAE cells: forward passes so far (= the optimizer step being taken) */
    char err[1200];
} cell_run;

static void push(cell_run *c, const char *key, long step, int epoch, double v) {
    if (c->nbuf < c->capbuf)
        c->buf[c->nbuf++] = (m2pt_metric){key, step, epoch, v, m2pt_now() - c->t0};
}

static int run_fill(void *p, const long *index, int n, int augment, uint64_t seed, char *err, size_t errlen) {
    cell_run *c = p;
    return m2pt_model_fill(c->m, M2PT_SPLIT_TRAIN, index, n, augment, seed, err, errlen);
}

static float run_forward(void *p, int n) {
    cell_run *c = p;
    float loss = m2pt_model_forward(c->m, n);
    for (int i = 0; i < n; i++)
        c->correct += m2pt_argmax(c->m->logits + (size_t)i * c->m->classes, c->m->classes) == c->m->labels[i];
    c->seen += n;
    return loss;
}

static void run_backward(void *p) { m2pt_model_backward(((cell_run *)p)->m); }

/* --- masked-autoencoder cells (cell->mae): the same loop, the reconstruction loss ----------- */

/* The mask seed of optimizer step `step` (1-based, counted over the whole training) of an MAE
 * cell with seed `seed`: the first number of the m2pt_rng stream (seed, 0x6d6165 << 32 | step).
 * The engine draws sample i's mask from (this seed, i); so a rerun masks every sample of every
 * step the same way, and no two steps share a mask. */
uint64_t m2pt_mae_step_seed(uint64_t seed, long step) {
    m2pt_rng r;
    m2pt_rng_seed(&r, seed, (uint64_t)0x6d6165 << 32 | (uint64_t)step);
    return m2pt_rng_u64(&r);
}

static float run_mae_forward(void *p, int n) {
    cell_run *c = p;
    c->seen += n;
    return m2pt_model_mae_forward(c->m, n, m2pt_mae_step_seed(c->cell->seed, ++c->mae_step));
}

static void run_mae_backward(void *p) { m2pt_model_mae_backward(((cell_run *)p)->m); }

static void progress_line(cell_run *c, long step, int epoch, float loss) {
    const worker *w = c->w;
    double now = m2pt_now();
    if (w->opt->quiet || !w->opt->progress || now - c->last_print < 0.25) return;
    c->last_print = now;
    double el = now - c->t0, rate = step > 0 ? step / el : 0;
    double eta = rate > 0 ? (c->steps_total - step) / rate : 0;
    printf("\r\033[K[%d/%d] %s %s %s seed %llu  epoch %d/%d  step %ld/%ld  loss %.4f  %.0f samples/s  ETA %dm%02ds",
           c->index, w->exp->ncells,
           c->cell->mae ? "pretrain (mae)" : c->cell->role == M2PT_ROLE_AUXILIARY ? "aux" : "target", c->cell->modality,
           c->cell->mae ? "recon" : c->cell->pathway, (unsigned long long)c->cell->seed, epoch, c->cell->train.epochs, step, c->steps_total, loss,
           rate * c->cell->train.batch, (int)eta / 60, (int)eta % 60);
    fflush(stdout);
}

static int run_step(void *p, long step, int epoch, float loss, float lr, float gnorm) {
    cell_run *c = p;
    push(c, c->cell->mae ? "train_recon_loss" : "train_loss_step", step, 0, loss);
    push(c, "lr", step, 0, lr);
    push(c, "grad_norm", step, 0, gnorm);
    double el = m2pt_now() - c->t0;
    push(c, "samples_per_s", step, 0, el > 0 ? (double)step * c->cell->train.batch / el : 0);
    progress_line(c, step, epoch, loss);
    if (m2pt_model_error(c->m)) { /* a plugin's error (its loss is NaN): its message, not "NaN" */
        snprintf(c->err, sizeof c->err, "%s", m2pt_model_error(c->m));
        return 1;
    }
    if (m2pt_nonfinite_step(step, epoch, loss, gnorm, c->err, sizeof c->err)) { /* NaN/Inf: stop at once */
        c->nonfinite = 1;
        return 1;
    }
    return stop_requested != 0;
}

static int run_epoch(void *p, const m2pt_epoch_stats *s) {
    cell_run *c = p;
    m2pt_eval val = {0};
    int has_val = c->m->mod->split_size(c->m->mod_inst, M2PT_SPLIT_VAL) > 0;
    if (has_val && m2pt_model_evaluate(c->m, M2PT_SPLIT_VAL, &val, c->err, sizeof c->err)) return 1;
    double vacc = has_val ? (double)val.correct / val.n : NAN;
    push(c, "train_loss", s->step, s->epoch, s->train_loss);
    push(c, "train_acc", s->step, s->epoch, c->seen ? (double)c->correct / c->seen : 0);
    if (has_val) {
        push(c, "val_loss", s->step, s->epoch, val.loss);
        push(c, "val_acc", s->step, s->epoch, vacc);
        c->best_val = isnan(c->best_val) || vacc > c->best_val ? vacc : c->best_val;
        c->last_val = vacc;
    }
    push(c, "epoch_seconds", s->step, s->epoch, s->seconds);
    for (int i = 0; i < c->nlambda; i++)
        push(c, c->lambda_keys[i], s->step, s->epoch, m2pt_param(&c->m->params, c->lambda_idx[i])[0]);
    c->correct = c->seen = 0;
    c->epochs_done = s->epoch;
    char err[512];
    if (m2pt_store_metrics(c->w->store, c->run_id, c->buf, c->nbuf, err, sizeof err)) {
        /* a run is never done with metrics missing: stop (the grid too, see set_fatal) */
        snprintf(c->err, sizeof c->err, "%s (metrics of epoch %d could not be recorded)", err, s->epoch);
        c->resource = 1;
        c->nbuf = 0;
        return 1;
    }
    c->nbuf = 0;
    const worker *w = c->w;
    if (!w->opt->quiet) {
        if (w->opt->progress) printf("\r\033[K");
        say(w, "[%d/%d] %s %s/%s seed %llu  epoch %d/%d  train loss %.4f  val acc %s%.2f%%  %.0f samples/s\n",
            c->index, w->exp->ncells, c->cell->hash, c->cell->modality, c->cell->pathway,
            (unsigned long long)c->cell->seed, s->epoch, c->cell->train.epochs, s->train_loss, has_val ? "" : "n/a ",
            has_val ? 100 * vacc : 0.0, s->samples_per_s);
    }
    return stop_requested != 0;
}

/* After each epoch of an MAE cell: train_recon_loss (the epoch's mean), val_recon_loss. */
static int run_mae_epoch(void *p, const m2pt_epoch_stats *s) {
    cell_run *c = p;
    double vloss = NAN;
    int has_val = c->m->mod->split_size(c->m->mod_inst, M2PT_SPLIT_VAL) > 0;
    if (has_val && m2pt_model_mae_evaluate(c->m, M2PT_SPLIT_VAL, &vloss, c->err, sizeof c->err)) return 1;
    push(c, "train_recon_loss", s->step, s->epoch, s->train_loss);
    if (has_val) push(c, "val_recon_loss", s->step, s->epoch, vloss);
    push(c, "epoch_seconds", s->step, s->epoch, s->seconds);
    c->seen = 0;
    c->epochs_done = s->epoch;
    char err[512];
    if (m2pt_store_metrics(c->w->store, c->run_id, c->buf, c->nbuf, err, sizeof err)) {
        snprintf(c->err, sizeof c->err, "%s (metrics of epoch %d could not be recorded)", err, s->epoch);
        c->resource = 1;
        c->nbuf = 0;
        return 1;
    }
    c->nbuf = 0;
    const worker *w = c->w;
    if (!w->opt->quiet) {
        if (w->opt->progress) printf("\r\033[K");
        say(w, "[%d/%d] %s pretrain (mae) %s seed %llu  epoch %d/%d  recon loss %.4f  val recon loss %s%.4f  %.0f samples/s\n",
            c->index, w->exp->ncells, c->cell->hash, c->cell->modality, (unsigned long long)c->cell->seed, s->epoch,
            c->cell->train.epochs, s->train_loss, has_val ? "" : "n/a ", has_val ? vloss : 0.0, s->samples_per_s);
    }
    return stop_requested != 0;
}

/* Find the pathway's scalar tensors (lambda) and name their metrics "lambda.blocks.i.lin". */
static int find_lambdas(cell_run *c) {
    const m2pt_params *p = &c->m->params;
    int n = 0;
    for (int i = 0; i < p->n; i++) n += p->t[i].pathway && p->t[i].numel == 1;
    c->lambda_keys = calloc((size_t)n + 1, sizeof *c->lambda_keys);
    c->lambda_idx = calloc((size_t)n + 1, sizeof *c->lambda_idx);
    if (!c->lambda_keys || !c->lambda_idx) return -1;
    for (int i = 0; i < p->n; i++)
        if (p->t[i].pathway && p->t[i].numel == 1) {
            const char *nm = p->t[i].name;
            if (!strncmp(nm, "pathway.", 8)) nm += 8;
            char tmp[56];
            snprintf(tmp, sizeof tmp, "%.55s", nm);
            char *dot = strrchr(tmp, '.');
            if (dot && !strcmp(dot, ".scale")) *dot = '\0';
            snprintf(c->lambda_keys[c->nlambda], 64, "lambda.%s", tmp);
            c->lambda_idx[c->nlambda++] = i;
        }
    return 0;
}

/* Resolve a plugin by name for a cell; a failure is the cell's error. */
static int resolve(worker *w, const char *name, int kind, m2pt_loaded *out, char *err, size_t errlen) {
    return m2pt_plugin_resolve(name, kind, w->exe_dir, out, err, errlen);
}

/* The end of an MAE cell: the test reconstruction loss (metric test_recon_loss and the summary's
 * test_loss; no accuracy: test_acc and the val accuracies are NULL), the checkpoint (encoder,
 * tokenizer and decoder; no head is trained) and the finishing transaction. 0 done, 1 failed
 * (err), 2 the store or the cache cannot be written (err). */
static int finish_mae(cell_run *c, double train_seconds, const char *ckpt, char *err, size_t errlen) {
    worker *w = c->w;
    m2pt_model *m = c->m;
    double test = NAN;
    if (m2pt_model_mae_evaluate(m, M2PT_SPLIT_TEST, &test, err, errlen)) return 1;
    if (!isfinite(test)) return snprintf(err, errlen, "the test reconstruction loss is %g", test), 1;
    c->nbuf = 0;
    push(c, "test_recon_loss", c->steps_total, c->epochs_done, test);
    if (m2pt_store_metrics(w->store, c->run_id, c->buf, c->nbuf, err, errlen)) return c->nbuf = 0, 2;
    c->nbuf = 0;
    m2pt_summary sum = {.best_val_acc = NAN, .last_val_acc = NAN, .test_acc = NAN, .test_acc_unmerged = NAN,
                        .test_loss = test, .params_trainable = (long)m2pt_params_count_trainable(&m->params),
                        .params_inference = (long)m2pt_model_plain_params(m), .train_seconds = train_seconds,
                        .wall_seconds = m2pt_now() - c->t0, .epochs_done = c->epochs_done};
    snprintf(m->summary_json, sizeof m->summary_json,
             "{\"objective\":\"mae\",\"test_recon_loss\":%.17g,\"test_loss\":%.17g,\"train_seconds\":%.17g,"
             "\"params_trainable\":%ld,\"params_inference\":%ld,\"epochs\":%d,\"best_val_acc\":-1,"
             "\"last_val_acc\":-1,\"wall_seconds\":%.17g,\"writer\":{\"host\":\"%s\",\"pid\":%ld,\"run\":%lld}}",
             test, test, train_seconds, sum.params_trainable, sum.params_inference, sum.epochs_done, sum.wall_seconds,
             json_safe(w->host) ? w->host : "", (long)getpid(), (long long)c->run_id);
    if (m2pt_model_save(m, ckpt, 1, err, errlen)) return 2;
    char checksum[64];
    long long bytes;
    footer_checksum(ckpt, checksum, sizeof checksum, &bytes);
    if (m2pt_store_finish(w->store, c->run_id, &sum, ckpt, bytes, checksum, err, errlen)) return 2;
    say(w, "[%d/%d] %s done: pretrain (mae) %s, test recon loss %.4f, %.0fs\n", c->index, w->exp->ncells, c->cell->hash,
        c->cell->modality, test, train_seconds);
    return 0;
}

/* Trains one claimed cell; writes its merged checkpoint to ckpt and records everything.
 * Returns 0 done, 1 failed (recorded), 130 interrupted (recorded). */
static int train_cell(worker *w, int index, int64_t run_id, const char *aux_path, const char *pre_path,
                      const char *ckpt) {
    const m2pt_cell *cell = &w->exp->cells[index];
    cell_run c;
    memset(&c, 0, sizeof c);
    c.w = w, c.run_id = run_id, c.cell = cell, c.index = index + 1, c.best_val = NAN, c.last_val = NAN;
    m2pt_loaded mod = {0}, path = {0};
    m2pt_kv data = {0}, popts = {0};
    m2pt_model m;
    int model_open = 0, rc = 1;
    char err[1200] = "";
    for (int i = 0; i < cell->data.n; i++)
        if (m2pt_kv_set(&data, cell->data.e[i].key, cell->data.e[i].value, cell->data.e[i].origin)) goto out;
    for (int i = 0; i < cell->pathway_opts.n; i++)
        if (m2pt_kv_set(&popts, cell->pathway_opts.e[i].key, cell->pathway_opts.e[i].value, cell->pathway_opts.e[i].origin))
            goto out;
    if (resolve(w, cell->modality, M2PT_KIND_MODALITY, &mod, err, sizeof err) ||
        resolve(w, cell->pathway, M2PT_KIND_PATHWAY, &path, err, sizeof err))
        goto out;
    m2pt_model_options mo = {.shape = cell->shape, .max_batch = cell->train.batch,
                             .label_smoothing = (float)cell->train.label_smoothing, .seed = cell->seed,
                             .aux_path = aux_path, .mae = cell->mae ? &cell->mae_cfg : NULL, .quiet = w->opt->quiet};
    if (m2pt_model_open(&m, mod.desc, &data, "data.", path.desc, &popts, "pathway.", &mo, err, sizeof err)) goto out;
    model_open = 1;
    c.m = &m;
    /* a target with a pretrain cell starts from its tokenizer and blocks (the head is new) */
    if (pre_path && m2pt_model_load_pretrained(&m, pre_path, err, sizeof err)) goto out;
    long n_train = m.mod->split_size(m.mod_inst, M2PT_SPLIT_TRAIN);
    long steps_per_epoch = cell->train.batch > 0 ? n_train / cell->train.batch : 0;
    c.steps_total = steps_per_epoch * cell->train.epochs;
    if (find_lambdas(&c)) goto oom;
    c.capbuf = (int)(steps_per_epoch * 4 + 16 + c.nlambda);
    if (!(c.buf = malloc((size_t)c.capbuf * sizeof *c.buf))) goto oom;
    m2pt_train_config tc = {.epochs = cell->train.epochs, .batch = cell->train.batch, .lr = (float)cell->train.lr,
                            .min_lr = (float)cell->train.min_lr, .weight_decay = (float)cell->train.weight_decay,
                            .clip_norm = (float)cell->train.clip, .warmup_epochs = (float)cell->train.warmup_epochs,
                            .seed = cell->seed, .augment = cell->train.augment};
    m2pt_trainable t = {.ctx = &c, .fill = run_fill, .forward = cell->mae ? run_mae_forward : run_forward,
                        .backward = cell->mae ? run_mae_backward : run_backward, .params = &m.params,
                        .on_step = run_step};
    c.t0 = m2pt_now();
    int trc = m2pt_train(&t, n_train, &tc, cell->mae ? run_mae_epoch : run_epoch, &c, err, sizeof err);
    double train_seconds = m2pt_now() - c.t0;
    if (w->opt->progress && !w->opt->quiet) printf("\r\033[K");
    if (c.resource) {
        snprintf(err, sizeof err, "%s", c.err);
        goto resource;
    }
    if (trc < 0 || c.err[0] || c.nonfinite) {
        if (!err[0] || c.err[0]) snprintf(err, sizeof err, "%s", c.err);
        goto out;
    }
    if (stop_requested) {
        rc = 130;
        snprintf(err, sizeof err, "interrupted at epoch %d of %d", c.epochs_done, cell->train.epochs);
        goto out;
    }
    if (cell->mae) {
        rc = finish_mae(&c, train_seconds, ckpt, err, sizeof err);
        if (rc == 2) goto resource;
        goto out;
    }
    m2pt_eval before = {0}, after = {0};
    if (m2pt_model_evaluate(&m, M2PT_SPLIT_TEST, &before, err, sizeof err)) goto out;
    m2pt_model_merge(&m);
    if (m2pt_model_evaluate(&m, M2PT_SPLIT_TEST, &after, err, sizeof err)) goto out;
    m2pt_summary sum = {.best_val_acc = c.best_val, .last_val_acc = c.last_val,
                        .test_acc = (double)after.correct / after.n, .test_acc_unmerged = (double)before.correct / before.n,
                        .test_loss = after.loss, .params_trainable = (long)m2pt_params_count_trainable(&m.params),
                        .params_inference = (long)m2pt_model_plain_params(&m), .train_seconds = train_seconds,
                        .wall_seconds = m2pt_now() - c.t0, .epochs_done = c.epochs_done};
    /* the summary travels with the checkpoint (an auxiliary model imported by another database),
     * with who wrote it (a run killed before its finish is recovered from it: recover_run) */
    snprintf(m.summary_json, sizeof m.summary_json,
             "{\"test_acc\":%.17g,\"best_val_acc\":%.17g,\"last_val_acc\":%.17g,\"train_seconds\":%.17g,"
             "\"params_trainable\":%ld,\"params_inference\":%ld,\"epochs\":%d,\"test_acc_unmerged\":%.17g,"
             "\"test_loss\":%.17g,\"wall_seconds\":%.17g,\"writer\":{\"host\":\"%s\",\"pid\":%ld,\"run\":%lld}}",
             sum.test_acc, isnan(sum.best_val_acc) ? -1.0 : sum.best_val_acc,
             isnan(sum.last_val_acc) ? -1.0 : sum.last_val_acc, train_seconds, sum.params_trainable,
             sum.params_inference, sum.epochs_done, sum.test_acc_unmerged, isfinite(sum.test_loss) ? sum.test_loss : -1.0,
             sum.wall_seconds, json_safe(w->host) ? w->host : "", (long)getpid(), (long long)run_id);
    if (m2pt_model_save(&m, ckpt, 1, err, sizeof err)) goto resource; /* the cache cannot be written */
    char checksum[64];
    long long bytes;
    footer_checksum(ckpt, checksum, sizeof checksum, &bytes);
    if (m2pt_store_finish(w->store, run_id, &sum, ckpt, bytes, checksum, err, sizeof err)) goto resource;
    say(w, "[%d/%d] %s done: test acc %.2f%% (merged; %.2f%% unmerged), %.0fs\n", index + 1, w->exp->ncells, cell->hash,
        100 * sum.test_acc, 100 * sum.test_acc_unmerged, train_seconds);
    rc = 0;
    goto out;
resource:
    /* not the cell's fault: stop the grid; the run is left to restart (interrupted, or still
     * 'running' when even that cannot be recorded) */
    set_fatal(w, "%s", err);
    rc = 130;
    goto out;
oom:
    snprintf(err, sizeof err, "out of memory");
out:
    if (rc && c.nbuf > 0 && !w->fatal[0]) { /* keep what the unfinished epoch logged: it shows where it failed */
        char e2[512];
        if (m2pt_store_metrics(w->store, run_id, c.buf, c.nbuf, e2, sizeof e2)) fprintf(stderr, "m2pt run: %s\n", e2);
    }
    if (rc) {
        char e2[512];
        const char *status = rc == 130 ? "interrupted" : "failed";
        int fatal = w->fatal[0] != 0;
        if (m2pt_store_fail(w->store, run_id, status, err[0] ? err : "unknown error", e2, sizeof e2) && !fatal)
            set_fatal(w, "%s", e2); /* its failure cannot be recorded: the database is not writable */
        if (!fatal) /* a fatal fault is reported once, by m2pt run */
            fprintf(stderr, "%sm2pt run: cell %s (%s %s seed %llu) %s: %s\n", w->nworkers > 1 ? "" : "", cell->hash,
                    cell->modality, cell->pathway, (unsigned long long)cell->seed, status, err);
    }
    if (model_open) m2pt_model_close(&m);
    if (mod.handle) m2pt_plugin_unload(&mod);
    if (path.handle) m2pt_plugin_unload(&path);
    m2pt_kv_free(&data), m2pt_kv_free(&popts);
    free(c.buf), free(c.lambda_keys), free(c.lambda_idx);
    return rc;
}

/* --- auxiliary models: cached by hash, trained once ---------------------------------------- */

static void aux_path_of(const worker *w, const m2pt_cell *cell, char *out, size_t n) {
    snprintf(out, n, "%s/aux/%s.ckpt", w->opt->cache_dir, cell->hash);
}

/* The summary a checkpoint carries (train_cell writes it) and who wrote it. Values the file
 * does not hold stay NaN / 0. 0 when the file is a valid checkpoint. */
typedef struct {
    m2pt_summary sum;
    char host[256];
    long pid;
    long long run;
    char checksum[64];
    long long bytes;
} ckpt_summary;

static int read_ckpt_summary(const char *ckpt, ckpt_summary *cs) {
    memset(cs, 0, sizeof *cs);
    cs->sum = (m2pt_summary){.best_val_acc = NAN, .last_val_acc = NAN, .test_acc = NAN, .test_acc_unmerged = NAN,
                             .test_loss = NAN, .train_seconds = NAN, .wall_seconds = NAN};
    m2pt_checkpoint c;
    if (!checkpoint_ok(ckpt, &c)) return -1;
    const char *cfg = m2pt_checkpoint_config(&c);
    const char *start = strstr(cfg, "\"summary\":");
    char *obj = NULL, *writer = NULL;
    if (start) { /* the getters read a whole object: cut the summary's out of the config */
        start += 10;
        m2pt_json_cursor cur;
        m2pt_json_cursor_init(&cur, start, strlen(start));
        if (!m2pt_json_skip(&cur)) obj = strndup(start, cur.pos);
    }
    if (obj) {
        m2pt_summary *sum = &cs->sum;
        long v;
        m2pt_json_get_double(obj, "test_acc", &sum->test_acc);
        m2pt_json_get_double(obj, "best_val_acc", &sum->best_val_acc);
        m2pt_json_get_double(obj, "last_val_acc", &sum->last_val_acc);
        m2pt_json_get_double(obj, "train_seconds", &sum->train_seconds);
        m2pt_json_get_double(obj, "test_acc_unmerged", &sum->test_acc_unmerged);
        m2pt_json_get_double(obj, "test_loss", &sum->test_loss);
        m2pt_json_get_double(obj, "wall_seconds", &sum->wall_seconds);
        if (sum->best_val_acc < 0) sum->best_val_acc = NAN; /* -1: no validation split */
        if (sum->last_val_acc < 0) sum->last_val_acc = NAN;
        if (sum->test_loss < 0) sum->test_loss = NAN;
        if (!m2pt_json_get_int(obj, "params_trainable", &v)) sum->params_trainable = v;
        if (!m2pt_json_get_int(obj, "params_inference", &v)) sum->params_inference = v;
        if (!m2pt_json_get_int(obj, "epochs", &v)) sum->epochs_done = (int)v;
        const char *ws = strstr(obj, "\"writer\":");
        if (ws) {
            ws += 9;
            m2pt_json_cursor cur;
            m2pt_json_cursor_init(&cur, ws, strlen(ws));
            if (!m2pt_json_skip(&cur)) writer = strndup(ws, cur.pos);
        }
        if (writer) {
            long run;
            if (m2pt_json_get_string(writer, "host", cs->host, sizeof cs->host) ||
                m2pt_json_get_int(writer, "pid", &cs->pid) || m2pt_json_get_int(writer, "run", &run))
                cs->pid = 0;
            else cs->run = run;
        }
        free(obj), free(writer);
    }
    m2pt_checkpoint_close(&c);
    footer_checksum(ckpt, cs->checksum, sizeof cs->checksum, &cs->bytes);
    return 0;
}

/* A cell whose process was killed after its checkpoint was in place but before the finishing
 * transaction: its run is still 'running' (stale), its metrics complete. Finish it from the
 * checkpoint rather than train it again (or, for an auxiliary model, import it without its
 * metrics). 1 recovered, 0 not this case, -1 on a database error (printed). */
static int recover_run(worker *w, int index, const ckpt_summary *cs, const char *ckpt) {
    const m2pt_cell *cell = &w->exp->cells[index];
    if (cs->pid <= 0 || cs->run <= 0) return 0;
    int adopted = 0;
    char err[1200];
    if (m2pt_store_adopt(w->store, w->exp_id, cs->run, cell->hash, cs->host, cs->pid, &cs->sum, ckpt, cs->bytes,
                         cs->checksum, &adopted, err, sizeof err)) {
        set_fatal(w, "%s", err);
        return -1;
    }
    if (adopted)
        say(w, "[%d/%d] %s %s %s seed %llu: recovered: its process was stopped after saving %s\n", index + 1,
            w->exp->ncells, cell->hash, cell->role == M2PT_ROLE_AUXILIARY ? "auxiliary" : cell->modality,
            cell->role == M2PT_ROLE_AUXILIARY ? cell->modality : cell->pathway, (unsigned long long)cell->seed, ckpt);
    return adopted;
}

/* The auxiliary checkpoint exists but this database has no run for it (trained for another
 * database or experiment): record it as done, with the summary saved in the checkpoint. */
static int import_aux(worker *w, int index, const char *ckpt) {
    const m2pt_cell *cell = &w->exp->cells[index];
    int64_t run_id;
    m2pt_claim claim;
    char err[1200];
    ckpt_summary cs;
    int valid = read_ckpt_summary(ckpt, &cs) == 0;
    if (valid) {
        int rec = recover_run(w, index, &cs, ckpt);
        if (rec) return rec > 0 ? 0 : -1;
    }
    if (m2pt_store_claim(w->store, w->exp_id, cell, 0, 0, &w->prov, &run_id, &claim, err, sizeof err)) {
        set_fatal(w, "%s", err);
        return -1;
    }
    if (claim == M2PT_CLAIM_BUSY) return 2; /* its trainer has not committed yet: wait on the lock */
    if (claim != M2PT_CLAIM_RUN) return 0;
    if (!valid) footer_checksum(ckpt, cs.checksum, sizeof cs.checksum, &cs.bytes);
    if (m2pt_store_finish(w->store, run_id, &cs.sum, ckpt, cs.bytes, cs.checksum, err, sizeof err)) {
        set_fatal(w, "%s", err);
        return -1;
    }
    say(w, "[%d/%d] %s auxiliary %s seed %llu: reused from the cache (%s)\n", index + 1, w->exp->ncells, cell->hash,
        cell->modality, (unsigned long long)cell->seed, ckpt);
    return 0;
}

/* Make sure auxiliary cell `index` has a checkpoint; train it under the cache lock if not.
 * Returns 0 (ckpt written to path), 1 failed, 130 interrupted. */
static int ensure_aux(worker *w, int index, char *path, size_t n) {
    const m2pt_cell *cell = &w->exp->cells[index];
    aux_path_of(w, cell, path, n);
    if (w->aux_failed[index]) return 1; /* tried in this run already */
    if (checkpoint_ok(path, NULL)) {
        int rc = import_aux(w, index, path);
        if (rc != 2) return rc ? 1 : 0;
    }
    char dir[1024], lock[1100];
    snprintf(dir, sizeof dir, "%s/aux", w->opt->cache_dir);
    snprintf(lock, sizeof lock, "%s/%s.lock", dir, cell->hash);
    if (mkdirs(dir)) {
        set_fatal(w, "cannot create the cache directory %s: %s", dir, strerror(errno));
        return 1;
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        set_fatal(w, "cannot create %s: %s", lock, strerror(errno));
        return 1;
    }
    /* Blocks while another process trains this auxiliary model; a process that dies releases
     * the lock with its descriptors, so the next one takes over. */
    while (flock(fd, LOCK_EX) && errno == EINTR)
        if (stop_requested) {
            close(fd);
            return 130;
        }
    int rc = 0;
    if (checkpoint_ok(path, NULL)) {
        rc = import_aux(w, index, path) ? 1 : 0; /* under the lock, BUSY means another host */
    } else {
        int64_t run_id;
        m2pt_claim claim;
        char err[1200];
        /* forced: the database may say done while the cache lost the file */
        if (m2pt_store_claim(w->store, w->exp_id, cell, 0, 1, &w->prov, &run_id, &claim, err, sizeof err)) {
            set_fatal(w, "%s", err);
            rc = 1;
        } else if (claim == M2PT_CLAIM_BUSY) { /* a live process on another host has it */
            fprintf(stderr, "m2pt run: auxiliary model %s is being trained by another host's process; "
                            "run again when it is done\n", cell->hash);
            rc = 1;
        } else {
            if (cell->mae)
                say(w, "[%d/%d] %s pretrain (mae): %s, seed %llu, %d epochs, mask ratio %g\n", index + 1,
                    w->exp->ncells, cell->hash, cell->modality, (unsigned long long)cell->seed, cell->train.epochs,
                    cell->mae_cfg.mask_ratio);
            else
                say(w, "[%d/%d] %s auxiliary model: %s, seed %llu, %d epochs\n", index + 1, w->exp->ncells,
                    cell->hash, cell->modality, (unsigned long long)cell->seed, cell->train.epochs);
            rc = train_cell(w, index, run_id, NULL, NULL, path);
        }
    }
    flock(fd, LOCK_UN);
    close(fd);
    if (rc == 1 && !w->fatal[0]) w->aux_failed[index] = 1;
    return rc;
}

/* Is the cell's run in this database 'running' (someone trains it, or a killed process left it)? */
static int stale_candidate(worker *w, const char *hash) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m2pt_store_db(w->store), "SELECT 1 FROM runs WHERE cell_hash = ?1 AND status = 'running'", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* Run (or skip) one cell. Returns 0 done/skipped, 1 failed, 2 busy elsewhere, 130 interrupted. */
static int do_cell(worker *w, int index) {
    const m2pt_cell *cell = &w->exp->cells[index];
    char aux_path[1100] = "", pre_path[1100] = "", err[1200];
    int64_t aux_run = 0;
    if (cell->role == M2PT_ROLE_AUXILIARY) {
        int rc = ensure_aux(w, index, aux_path, sizeof aux_path);
        if (!rc)
            say(w, "[%d/%d] %s %s ready\n", index + 1, w->exp->ncells, cell->hash,
                cell->mae ? "pretrained (mae) model" : "auxiliary model");
        return rc;
    }
    if (cell->pretrain >= 0) { /* its MAE pretraining: trained once under the cache lock, like an auxiliary model */
        int rc = ensure_aux(w, cell->pretrain, pre_path, sizeof pre_path);
        if (rc) {
            if (rc == 130 || w->fatal[0]) return rc;
            fprintf(stderr, "m2pt run: cell %s skipped: its pretrained (mae) model %s failed\n", cell->hash,
                    w->exp->cells[cell->pretrain].hash);
            return 1;
        }
    }
    if (cell->aux >= 0) {
        int rc = ensure_aux(w, cell->aux, aux_path, sizeof aux_path);
        if (rc) {
            if (rc == 130 || w->fatal[0]) return rc;
            fprintf(stderr, "m2pt run: cell %s skipped: its auxiliary model %s failed\n", cell->hash,
                    w->exp->cells[cell->aux].hash);
            return 1;
        }
        aux_run = m2pt_store_done_run(w->store, w->exp->cells[cell->aux].hash);
    }
    int64_t run_id;
    m2pt_claim claim;
    char dir[1024], ckpt[1100];
    snprintf(dir, sizeof dir, "%s/runs", w->opt->cache_dir);
    snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", dir, cell->hash);
    if (!w->opt->force && stale_candidate(w, cell->hash)) {
        ckpt_summary cs;
        int rec = read_ckpt_summary(ckpt, &cs) ? 0 : recover_run(w, index, &cs, ckpt);
        if (rec) return rec > 0 ? 0 : 1;
    }
    if (m2pt_store_claim(w->store, w->exp_id, cell, aux_run, w->opt->force, &w->prov, &run_id, &claim, err, sizeof err)) {
        set_fatal(w, "%s", err);
        return 1;
    }
    if (claim == M2PT_CLAIM_DONE) {
        say(w, "[%d/%d] %s %s/%s seed %llu: done before, skipped\n", index + 1, w->exp->ncells, cell->hash,
            cell->modality, cell->pathway, (unsigned long long)cell->seed);
        return 0;
    }
    if (claim == M2PT_CLAIM_BUSY) return 2;
    if (mkdirs(dir)) {
        snprintf(err, sizeof err, "cannot create the cache directory %s: %s", dir, strerror(errno));
        set_fatal(w, "%s", err);
        m2pt_store_fail(w->store, run_id, "interrupted", err, err, sizeof err);
        return 1;
    }
    say(w, "[%d/%d] %s target %s, pathway %s%s%s%s%s%s, seed %llu, %d epochs\n", index + 1, w->exp->ncells, cell->hash,
        cell->modality, cell->pathway, cell->aux_modality ? ", auxiliary " : "", cell->aux_modality ? cell->aux_modality : "",
        cell->aux_mae ? " (mae)" : "", cell->pretrain >= 0 ? ", from its pretrain (mae) " : "",
        cell->pretrain >= 0 ? w->exp->cells[cell->pretrain].hash : "", (unsigned long long)cell->seed,
        cell->train.epochs);
    return train_cell(w, index, run_id, cell->aux >= 0 ? aux_path : NULL, cell->pretrain >= 0 ? pre_path : NULL, ckpt);
}

/* Work through every cell; cells busy in another process are retried until they finish. */
static int work(worker *w) {
    const int n = w->exp->ncells;
    char *pending = calloc((size_t)n, 1);
    if (!pending) return 1;
    int result = 0, left = n;
    memset(pending, 1, (size_t)n);
    while (left > 0 && !stop_requested && !w->fatal[0]) {
        int progressed = 0;
        for (int k = 0; k < n && !stop_requested && !w->fatal[0]; k++) {
            /* with several workers, each starts at its own offset so they spread over the cells */
            const int i = (k + w->worker) % n;
            if (!pending[i]) continue;
            int rc = do_cell(w, i);
            if (rc == 2) continue;
            pending[i] = 0, left--, progressed = 1;
            if (rc == 130) result = 130;
            else if (rc && result != 130) result = 1;
        }
        if (left > 0 && !progressed && !stop_requested && !w->fatal[0]) sleep(1); /* others are running the rest */
    }
    free(pending);
    if (w->fatal[0]) return 2;
    if (stop_requested) return 130;
    return result;
}

static int open_worker(worker *w, const m2pt_experiment *exp, const m2pt_run_options *o, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    w->exp = exp, w->opt = o, w->nworkers = o->jobs > 1 ? o->jobs : 1;
    if (m2pt_store_open(&w->store, o->db_path, 0, err, errlen)) return -1;
    if (m2pt_store_experiment(w->store, o->whole ? o->whole : exp, &w->exp_id, err, errlen)) {
        m2pt_store_close(w->store);
        return -1;
    }
    w->exe_dir = m2pt_exe_dir();
    w->aux_failed = calloc((size_t)(exp->ncells > 0 ? exp->ncells : 1), 1);
    if (!w->aux_failed) {
        snprintf(err, errlen, "out of memory");
        m2pt_store_close(w->store);
        return -1;
    }
    if (gethostname(w->host, sizeof w->host)) snprintf(w->host, sizeof w->host, "unknown");
    w->host[sizeof w->host - 1] = '\0';
    const char *git = m2pt_git_revision();
    w->prov = (m2pt_provenance){.git = git, .git_dirty = strstr(git, "dirty") != NULL, .host = w->host,
                                .m2pt_version = M2PT_VERSION, .plugins = "{}"};
    return 0;
}

/* The experiment's membership is its current cells: runs of an earlier version of the file
 * stay in the store (other experiments may share them) but no longer count for this one. */
static int prune_membership(worker *w, char *err, size_t errlen) {
    const m2pt_experiment *exp = w->opt->whole ? w->opt->whole : w->exp;
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_sb_puts(&b, "[");
    for (int i = 0; i < exp->ncells; i++) {
        if (i) m2pt_sb_puts(&b, ",");
        m2pt_sb_json_string(&b, exp->cells[i].hash);
    }
    m2pt_sb_puts(&b, "]");
    sqlite3 *db = m2pt_store_db(w->store);
    sqlite3_stmt *st = NULL;
    int rc = b.failed ? SQLITE_NOMEM
                      : sqlite3_prepare_v2(db,
                                           "DELETE FROM experiment_runs WHERE experiment_id = ?1 AND run_id IN "
                                           "(SELECT id FROM runs WHERE cell_hash NOT IN (SELECT value FROM json_each(?2)))",
                                           -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, w->exp_id);
        sqlite3_bind_text(st, 2, b.buf, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    m2pt_sb_free(&b);
    if (rc != SQLITE_OK) snprintf(err, errlen, "%s: cannot update the experiment's cells: %s", w->opt->db_path, sqlite3_errstr(rc));
    return rc == SQLITE_OK ? 0 : -1;
}

static void close_worker(worker *w) {
    m2pt_store_close(w->store);
    free(w->exe_dir);
    free(w->aux_failed);
}

/* Remove temporary checkpoint files ("<path>.tmp.<pid>", see checkpoint.h) whose writer died
 * mid-write (kill -9, power loss): they are never read, but they take space. */
static void sweep_temp_files(const char *cache_dir) {
    const char *subs[] = {"aux", "runs"};
    for (int i = 0; i < 2; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", cache_dir, subs[i]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *t = strstr(e->d_name, ".tmp.");
            if (!t) continue;
            char *end;
            long pid = strtol(t + 5, &end, 10);
            if (*end || pid <= 0 || m2pt_pid_running(pid)) continue; /* its writer is alive */
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
}

/* Before anything runs: the cache (checkpoints, generated data) must be a writable directory,
 * else every cell would fail the same way. 0, or -1 with err. */
static int check_cache(const char *cache, char *err, size_t errlen) {
    static const char *const subs[] = {"", "/aux", "/runs", "/data"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s%s", cache, subs[i]);
        struct stat st;
        if (i == 3 && stat(dir, &st)) continue; /* data/ is the plugins' to create */
        if (mkdirs(dir) || stat(dir, &st) || !S_ISDIR(st.st_mode)) {
            if (!errno || (!stat(dir, &st) && !S_ISDIR(st.st_mode))) errno = ENOTDIR;
            snprintf(err, errlen, "cannot create the cache directory %s: %s (choose another with --cache DIR or M2PT_CACHE_DIR)",
                     dir, strerror(errno));
            return -1;
        }
        if (access(dir, W_OK | X_OK)) {
            snprintf(err, errlen, "the cache directory %s is not writable: %s (choose another with --cache DIR or M2PT_CACHE_DIR)",
                     dir, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int m2pt_run_experiment(const m2pt_experiment *exp, const m2pt_run_options *o, char *err, size_t errlen) {
    install_signals();
    if (check_cache(o->cache_dir, err, errlen)) return 2;
    /* plugins cache generated data under $M2PT_CACHE_DIR/data: keep it with the run's cache */
    if (setenv("M2PT_CACHE_DIR", o->cache_dir, 1)) {
        snprintf(err, errlen, "out of memory");
        return 2;
    }
    sweep_temp_files(o->cache_dir);
    int total = o->threads > 0 ? o->threads : m2pt_threads_count();
    int jobs = o->jobs > 1 ? o->jobs : 1;
    if (jobs > exp->ncells) jobs = exp->ncells > 0 ? exp->ncells : 1;
    int per = total / jobs > 0 ? total / jobs : 1;
    if (jobs == 1) {
        m2pt_threads_init(per);
        worker w;
        if (open_worker(&w, exp, o, err, errlen)) return 2;
        if (prune_membership(&w, err, errlen)) {
            close_worker(&w);
            return 2;
        }
        int rc = work(&w);
        if (rc == 2) snprintf(err, errlen, "%s", w.fatal);
        close_worker(&w);
        return rc;
    }
    /* Workers: the store (WAL, busy timeout, claims) decides who trains what. Each worker gets
     * its share of the threads; the parent only waits. */
    m2pt_threads_shutdown();
    {   /* create the database and record the experiment before forking */
        worker w;
        if (open_worker(&w, exp, o, err, errlen)) return 2;
        int prc = prune_membership(&w, err, errlen);
        close_worker(&w);
        if (prc) return 2;
    }
    fflush(stdout), fflush(stderr);
    pid_t pids[256];
    int started = 0;
    for (int k = 0; k < jobs && k < 256; k++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) {
            m2pt_run_options mine = *o;
            m2pt_threads_init(per);
            worker w;
            char e2[1200];
            if (open_worker(&w, exp, &mine, e2, sizeof e2)) {
                fprintf(stderr, "m2pt run: worker %d: %s\n", k, e2);
                _exit(2);
            }
            w.worker = k, w.nworkers = jobs;
            int rc = work(&w);
            if (rc == 2) fprintf(stderr, "m2pt run: worker %d: %s\n", k, w.fatal);
            close_worker(&w);
            fflush(stdout);
            _exit(rc);
        }
        pids[started++] = pid;
    }
    int result = 0;
    for (int k = 0; k < started; k++) {
        int st;
        while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR) {
        }
        int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        if (rc == 130 || stop_requested) result = 130;
        else if (rc == 2 && result != 130) result = 2; /* a worker could not start or write: said above */
        else if (rc && result == 0) result = rc;
    }
    if (result == 2) snprintf(err, errlen, "stopped: the database or the cache could not be written (see above)");
    if (started < jobs && result == 0) {
        snprintf(err, errlen, "could only start %d of %d workers", started, jobs);
        result = 1;
    }
    return result;
}
