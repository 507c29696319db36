#include "conformance.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "gradcheck.h"
#include "host.h"
#include "params.h"
#include "rng.h"
#include "threads.h"
#include "util.h"

static int report(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  %s  ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    return ok ? 0 : 1;
}

static const m2pt_shape SHAPE = {.dim = 16, .depth = 2, .heads = 2, .mlp_ratio = 2};
static const gc_opts FD = {.h = 1e-2, .atol = 5e-4, .rtol = 2e-2, .samples = 24};

/* Random values for every tensor matching `pred` (so that every gradient path is exercised). */
static void randomize(m2pt_params *p, int want_pathway, uint64_t seed) {
    for (int i = 0; i < p->n; i++) {
        if (want_pathway >= 0 && p->t[i].pathway != want_pathway) continue;
        int ones = strstr(p->t[i].name, "norm") || strstr(p->t[i].name, "ln");
        gc_fill(m2pt_param(p, i), p->t[i].numel, seed + (uint64_t)i, ones ? 0.7f : -0.5f, ones ? 1.3f : 0.5f);
    }
}

/* ============================================================ modality */

typedef struct {
    const m2pt_modality *mod;
    void *inst;
    float *raw, *tokens, *logits, *r_tok, *r_log;
    int n;
    size_t ntok, nlog;
} mod_fd;

static double tokenize_loss(void *p) {
    mod_fd *f = p;
    f->mod->tokenize(f->inst, f->raw, f->n, f->tokens);
    return gc_dot(f->r_tok, f->tokens, f->ntok);
}

static double head_loss(void *p) {
    mod_fd *f = p;
    f->mod->head(f->inst, f->tokens, f->n, f->logits);
    return gc_dot(f->r_log, f->logits, f->nlog);
}

static int check_dataset(const m2pt_modality *mod, void *inst, m2pt_ctx *ctx, int *classes, long *sample) {
    int bad = 0;
    *classes = mod->classes(inst);
    bad += report(*classes >= 2, "classes: %d", *classes);
    int names_ok = 1;
    for (int c = 0; c < *classes && names_ok; c++) {
        const char *nm = mod->class_name(inst, c);
        if (!nm || !*nm) names_ok = 0;
        for (int d = 0; d < c && names_ok; d++)
            if (!strcmp(nm, mod->class_name(inst, d))) names_ok = 0;
    }
    bad += report(names_ok, "class names present and distinct%s%s%s", *classes > 0 ? " (e.g. '" : "",
                  *classes > 0 && mod->class_name(inst, 0) ? mod->class_name(inst, 0) : "", *classes > 0 ? "')" : "");
    long tr = mod->split_size(inst, M2PT_SPLIT_TRAIN), va = mod->split_size(inst, M2PT_SPLIT_VAL),
         te = mod->split_size(inst, M2PT_SPLIT_TEST);
    bad += report(tr > 0 && va >= 0 && te > 0, "split sizes: train %ld, val %ld, test %ld", tr, va, te);
    *sample = mod->sample_floats(inst);
    bad += report(*sample > 0, "sample size: %ld floats", *sample);
    if (bad) return bad;

    const int n = 4;
    long idx[4] = {0, tr / 3, tr / 2, tr - 1};
    float *a = m2pt_alloc_floats((size_t)n * *sample), *b = m2pt_alloc_floats((size_t)n * *sample);
    int la[4], lb[4];
    if (!a || !b) {
        free(a), free(b);
        return report(0, "out of memory");
    }
    int rc1 = mod->fill(inst, M2PT_SPLIT_TRAIN, idx, n, 0, 1, a, la);
    int rc2 = mod->fill(inst, M2PT_SPLIT_TRAIN, idx, n, 0, 2, b, lb);
    int finite = 1, in_range = 1;
    for (long i = 0; i < n * *sample; i++) finite &= isfinite(a[i]) != 0;
    for (int i = 0; i < n; i++) in_range &= la[i] >= 0 && la[i] < *classes;
    bad += report(!rc1 && !rc2 && !memcmp(a, b, (size_t)n * *sample * sizeof(float)) && !memcmp(la, lb, sizeof la),
                  "fill without augmentation is deterministic (ignores the seed)");
    bad += report(finite && in_range, "filled samples finite, labels in [0, %d)", *classes);
    rc1 = mod->fill(inst, M2PT_SPLIT_TRAIN, idx, n, 1, 7, a, la);
    rc2 = mod->fill(inst, M2PT_SPLIT_TRAIN, idx, n, 1, 7, b, lb);
    bad += report(!rc1 && !rc2 && !memcmp(a, b, (size_t)n * *sample * sizeof(float)) && !memcmp(la, lb, sizeof la),
                  "fill with augmentation is deterministic for a seed");
    long tidx[2] = {0, te - 1};
    bad += report(!mod->fill(inst, M2PT_SPLIT_TEST, tidx, 2, 0, 0, a, la), "fill of the test split");
    ctx->err[0] = '\0';
    long oob[1] = {tr};
    int rc = mod->fill(inst, M2PT_SPLIT_TRAIN, oob, 1, 0, 0, a, la);
    bad += report(rc != 0 && ctx->err[0], "index out of range refused: %s", ctx->err[0] ? ctx->err : "(no message)");
    ctx->err[0] = '\0';
    free(a), free(b);
    return bad;
}

static int check_modality(const m2pt_loaded *pl, m2pt_kv *cfg) {
    const m2pt_modality *mod = pl->desc->modality;
    m2pt_params params;
    m2pt_params_reset(&params);
    m2pt_ctx ctx;
    m2pt_ctx_init(&ctx, pl->desc->name, cfg, "", 1234, &params);
    ctx.quiet = 1;
    char err[M2PT_ERR_MAX + 64];
    void *inst = NULL;
    int bad = 0;
    if (m2pt_ctx_status(&ctx, mod->open(m2pt_host_api(), &ctx, &inst), 0, err, sizeof err)) {
        m2pt_ctx_release(&ctx);
        return report(0, "open with this config: %s", err);
    }
    report(1, "open");
    int classes;
    long sample;
    bad += check_dataset(mod, inst, &ctx, &classes, &sample);
    if (bad) goto done;
    const int n = 3;
    if (m2pt_ctx_status(&ctx, mod->setup(inst, &SHAPE, n), 1, err, sizeof err)) {
        bad += report(0, "setup (dim %d, max batch %d): %s", SHAPE.dim, n, err);
        goto done;
    }
    int T = mod->tokens(inst);
    bad += report(T > 0, "setup registers %d tensors, %zu scalars; %d tokens", params.n, m2pt_params_count(&params), T);
    if (T <= 0 || m2pt_params_alloc(&params)) goto done;
    m2pt_params_init(&params, 1234);
    randomize(&params, -1, 99);
    mod_fd f = {mod, inst, NULL, NULL, NULL, NULL, NULL, n, (size_t)n * T * SHAPE.dim, (size_t)n * classes};
    f.raw = m2pt_alloc_floats((size_t)n * sample);
    f.tokens = m2pt_alloc_floats(f.ntok), f.r_tok = m2pt_alloc_floats(f.ntok);
    f.logits = m2pt_alloc_floats(f.nlog), f.r_log = m2pt_alloc_floats(f.nlog);
    float *d_tok = m2pt_alloc_floats(f.ntok), *d_tok_copy = m2pt_alloc_floats(f.ntok);
    int labels[3];
    long idx[3] = {0, 1, 2};
    if (f.raw && f.tokens && f.r_tok && f.logits && f.r_log && d_tok && d_tok_copy &&
        !mod->fill(inst, M2PT_SPLIT_TRAIN, idx, n, 0, 0, f.raw, labels)) {
        gc_fill(f.r_tok, f.ntok, 5, -1, 1);
        gc_fill(f.r_log, f.nlog, 6, -1, 1);
        int fd_bad = 0;
        /* tokenizer: L = <r, tokenize(raw)> */
        tokenize_loss(&f);
        m2pt_params_zero_grads(&params);
        mod->tokenize_backward(inst, f.r_tok, n);
        for (int i = 0; i < params.n; i++)
            fd_bad += gc_check(params.t[i].name, tokenize_loss, &f, m2pt_param(&params, i), m2pt_grad(&params, i),
                               params.t[i].numel, &FD) != 0;
        bad += report(!fd_bad, "tokenizer gradients match finite differences (%d tensors)", params.n);
        /* head: L = <r, head(tokens)> for random tokens */
        gc_fill(f.tokens, f.ntok, 7, -1, 1);
        head_loss(&f);
        m2pt_params_zero_grads(&params);
        memset(d_tok, 0x7f, f.ntok * sizeof(float)); /* must be overwritten */
        mod->head_backward(inst, f.r_log, n, d_tok);
        memcpy(d_tok_copy, d_tok, f.ntok * sizeof(float));
        fd_bad = 0;
        for (int i = 0; i < params.n; i++)
            fd_bad += gc_check(params.t[i].name, head_loss, &f, m2pt_param(&params, i), m2pt_grad(&params, i),
                               params.t[i].numel, &FD) != 0;
        fd_bad += gc_check("d_tokens", head_loss, &f, f.tokens, d_tok_copy, f.ntok, &FD) != 0;
        bad += report(!fd_bad, "head gradients (tensors and input tokens) match finite differences");
        bad += m2pt_conformance_recon(pl, inst, &ctx, &params, f.raw, sample, n, T, SHAPE.dim);
    } else {
        bad += report(0, "out of memory or fill failed");
    }
    free(f.raw), free(f.tokens), free(f.r_tok), free(f.logits), free(f.r_log), free(d_tok), free(d_tok_copy);
done:
    mod->close(inst);
    m2pt_ctx_release(&ctx);
    m2pt_params_free(&params);
    return bad;
}

/* ============================================================ pathway */

typedef struct {
    m2pt_aux_weights pub;
    float *w[8][M2PT_LINEARS];
} fake_aux;

static const float *fake_weight(const m2pt_aux_weights *a, int block, m2pt_linear which, int *out, int *in) {
    const fake_aux *f = (const fake_aux *)a;
    const int D = a->shape.dim, F = D * a->shape.mlp_ratio;
    const int outs[M2PT_LINEARS] = {3 * D, D, F, D}, ins[M2PT_LINEARS] = {D, D, D, F};
    if (block < 0 || block >= a->shape.depth || block >= 8 || (unsigned)which >= M2PT_LINEARS) return NULL;
    if (out) *out = outs[which];
    if (in) *in = ins[which];
    return f->w[block][which];
}

static int fake_aux_make(fake_aux *f, const m2pt_shape *s) {
    memset(f, 0, sizeof *f);
    f->pub.shape = *s;
    f->pub.source = "conformance-aux";
    f->pub.weight = fake_weight;
    const int D = s->dim, F = D * s->mlp_ratio;
    const size_t sizes[M2PT_LINEARS] = {(size_t)3 * D * D, (size_t)D * D, (size_t)F * D, (size_t)D * F};
    for (int l = 0; l < s->depth && l < 8; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) {
            if (!(f->w[l][k] = m2pt_alloc_floats(sizes[k]))) return -1;
            gc_fill(f->w[l][k], sizes[k], 1000 + 10 * l + k, -0.5f, 0.5f);
        }
    return 0;
}

static void fake_aux_free(fake_aux *f) {
    for (int l = 0; l < 8; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) free(f->w[l][k]);
}

typedef struct {
    const m2pt_pathway *pw;
    void *inst;
    m2pt_blocks *b;
    m2pt_params *p;
    float *r[8][M2PT_LINEARS];
} path_fd;

static void linear_dims(const m2pt_shape *s, int k, int *out, int *in) {
    const int D = s->dim, F = D * s->mlp_ratio;
    const int outs[M2PT_LINEARS] = {3 * D, D, F, D}, ins[M2PT_LINEARS] = {D, D, D, F};
    *out = outs[k], *in = ins[k];
}

static float *plain_weight(path_fd *f, int l, int k) {
    m2pt_block_tensors w = m2pt_blocks_tensors(f->b, f->p->params, l);
    float *ws[M2PT_LINEARS] = {w.qkv_w, w.proj_w, w.fc1_w, w.fc2_w};
    return ws[k];
}

/* L = sum over linears of <r, W_eff> */
static double pathway_loss(void *p) {
    path_fd *f = p;
    double s = 0;
    for (int l = 0; l < SHAPE.depth; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) {
            int out, in;
            linear_dims(&SHAPE, k, &out, &in);
            const float *we = f->pw->effective(f->inst, l, (m2pt_linear)k, plain_weight(f, l, k), out, in);
            s += gc_dot(f->r[l][k], we, (size_t)out * in);
        }
    return s;
}

static int open_pathway(const m2pt_loaded *pl, m2pt_kv *cfg, m2pt_ctx *ctx, m2pt_params *params, void **inst,
                        char *err, size_t errlen) {
    m2pt_params_reset(params);
    m2pt_ctx_init(ctx, pl->desc->name, cfg, "", 1234, params);
    ctx->quiet = 1;
    *inst = NULL;
    if (cfg)
        for (int i = 0; i < cfg->n; i++) cfg->e[i].read = 0;
    return m2pt_ctx_status(ctx, pl->desc->pathway->open(m2pt_host_api(), ctx, inst), 0, err, errlen);
}

static int check_pathway(const m2pt_loaded *pl, m2pt_kv *cfg) {
    const m2pt_pathway *pw = pl->desc->pathway;
    m2pt_params params;
    m2pt_ctx ctx;
    m2pt_blocks blocks;
    memset(&blocks, 0, sizeof blocks);
    char err[M2PT_ERR_MAX + 64];
    void *inst;
    int bad = 0;
    fake_aux aux, wrong;
    if (fake_aux_make(&aux, &SHAPE)) return report(0, "out of memory");
    m2pt_shape wrong_shape = SHAPE;
    wrong_shape.dim = 2 * SHAPE.dim;
    memset(&wrong, 0, sizeof wrong);
    wrong.pub = aux.pub;
    wrong.pub.shape = wrong_shape;

    if (open_pathway(pl, cfg, &ctx, &params, &inst, err, sizeof err)) {
        fake_aux_free(&aux);
        m2pt_ctx_release(&ctx);
        return report(0, "open with this config: %s", err);
    }
    report(1, "open");
    int needs_aux = pw->needs_aux(inst);
    report(1, "needs an auxiliary model: %s", needs_aux ? "yes" : "no");
    m2pt_block_config bc = {SHAPE.dim, SHAPE.depth, SHAPE.heads, SHAPE.mlp_ratio};
    if (needs_aux) { /* a mismatched auxiliary shape must be refused with a message */
        m2pt_blocks_register(&blocks, &bc, &params);
        int rc = pw->setup(inst, &SHAPE, &wrong.pub);
        bad += report(rc != 0 && ctx.err[0], "auxiliary of another shape refused: %s",
                      ctx.err[0] ? ctx.err : "(accepted!)");
        pw->close(inst);
        m2pt_ctx_release(&ctx);
        m2pt_blocks_free(&blocks);
        m2pt_params_free(&params);
        if (open_pathway(pl, cfg, &ctx, &params, &inst, err, sizeof err)) {
            fake_aux_free(&aux);
            return bad + report(0, "reopen: %s", err);
        }
    }
    path_fd f = {pw, inst, &blocks, &params, {{0}}};
    if (m2pt_blocks_register(&blocks, &bc, &params) ||
        m2pt_ctx_status(&ctx, pw->setup(inst, &SHAPE, needs_aux ? &aux.pub : NULL), 1, err, sizeof err)) {
        bad += report(0, "setup: %s", err);
        goto done;
    }
    int extra = 0;
    for (int i = 0; i < params.n; i++) extra += params.t[i].pathway;
    bad += report(extra == 0 || extra == params.n - 12 * SHAPE.depth,
                  "setup registers %d pathway tensors (all flagged M2PT_PARAM_PATHWAY)", params.n - 12 * SHAPE.depth);
    if (m2pt_params_alloc(&params) || m2pt_blocks_alloc(&blocks, &params, 1, 1)) {
        bad += report(0, "out of memory");
        goto done;
    }
    m2pt_params_init(&params, 1234);
    if (m2pt_ctx_status(&ctx, pw->init(inst), 0, err, sizeof err)) {
        bad += report(0, "init: %s", err);
        goto done;
    }
    randomize(&params, -1, 4242);
    for (int l = 0; l < SHAPE.depth; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) {
            int out, in;
            linear_dims(&SHAPE, k, &out, &in);
            if (!(f.r[l][k] = m2pt_alloc_floats((size_t)out * in))) goto done;
            gc_fill(f.r[l][k], (size_t)out * in, 50 + 4 * l + k, -1, 1);
        }
    /* analytic: dL/dW_eff = r for every linear; the pathway maps it to dL/dW and its own grads */
    m2pt_params_zero_grads(&params);
    pathway_loss(&f);
    for (int l = 0; l < SHAPE.depth; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) {
            int out, in;
            linear_dims(&SHAPE, k, &out, &in);
            m2pt_block_tensors g = m2pt_blocks_tensors(&blocks, params.grads, l);
            float *gs[M2PT_LINEARS] = {g.qkv_w, g.proj_w, g.fc1_w, g.fc2_w};
            memcpy(gs[k], f.r[l][k], (size_t)out * in * sizeof(float));
            if (pw->backward) pw->backward(inst, l, (m2pt_linear)k, gs[k], out, in);
        }
    int fd_bad = 0, checked = 0;
    for (int i = 0; i < params.n; i++) {
        const char *nm = params.t[i].name;
        int is_block_linear = !params.t[i].pathway && strstr(nm, ".weight") &&
                              (strstr(nm, ".qkv.") || strstr(nm, ".proj.") || strstr(nm, ".fc1.") || strstr(nm, ".fc2."));
        if ((!is_block_linear && !params.t[i].pathway) || params.t[i].frozen) continue;
        checked++;
        fd_bad += gc_check(nm, pathway_loss, &f, m2pt_param(&params, i), m2pt_grad(&params, i), params.t[i].numel,
                           &FD) != 0;
    }
    bad += report(!fd_bad, "gradients of W and of the pathway's tensors match finite differences (%d tensors)",
                  checked);
    /* merge: afterwards the plain weights equal the effective weights */
    double worst = 0;
    for (int l = 0; l < SHAPE.depth; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) {
            int out, in;
            linear_dims(&SHAPE, k, &out, &in);
            size_t n = (size_t)out * in;
            float *eff = m2pt_alloc_floats(n);
            if (!eff) goto done;
            memcpy(eff, pw->effective(inst, l, (m2pt_linear)k, plain_weight(&f, l, k), out, in), n * sizeof(float));
            pw->merge(inst, l, (m2pt_linear)k, plain_weight(&f, l, k), out, in);
            const float *w = plain_weight(&f, l, k);
            for (size_t j = 0; j < n; j++) {
                double e = fabs((double)w[j] - eff[j]) / (fabs(eff[j]) + 1e-6);
                worst = e > worst ? e : worst;
            }
            free(eff);
        }
    bad += report(worst <= 1e-6, "merge folds the pathway into W (worst relative difference %.1e)", worst);
done:
    for (int l = 0; l < 8; l++)
        for (int k = 0; k < M2PT_LINEARS; k++) free(f.r[l][k]);
    if (inst) pw->close(inst);
    m2pt_ctx_release(&ctx);
    m2pt_blocks_free(&blocks);
    m2pt_params_free(&params);
    fake_aux_free(&aux);
    return bad;
}

int m2pt_conformance(const m2pt_loaded *pl, m2pt_kv *cfg) {
    const m2pt_plugin *d = pl->desc;
    printf("%s: %s plugin '%s' %s (ABI %u.%u)\n", pl->path, d->kind == M2PT_KIND_MODALITY ? "modality" : "pathway",
           d->name, d->version, d->abi_major, d->abi_minor);
    report(1, "descriptor: name, version, kind, ABI and every required member");
    int bad = d->kind == M2PT_KIND_MODALITY ? check_modality(pl, cfg) : check_pathway(pl, cfg);
    printf("%s: %s\n", d->name, bad ? "FAILED" : "passed");
    return bad;
}
