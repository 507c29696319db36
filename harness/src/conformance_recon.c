/* The ABI 1.1 part of the modality conformance suite: recon_spec and recon_target
 * (masked-autoencoder pretraining targets). See conformance.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__)
#include <malloc.h>
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
#define HAVE_MALLINFO2 1
#endif
#endif

#include "conformance.h"
#include "host.h"
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

/* Bytes in use on the heap (0 when the C library cannot say). */
static size_t heap_in_use(void) {
#ifdef HAVE_MALLINFO2
    const struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

static const char *loss_name(int loss) {
    return loss == M2PT_RECON_MSE ? "MSE" : loss == M2PT_RECON_CHAMFER ? "Chamfer" : loss == M2PT_RECON_CLASS ? "class" : "?";
}

/* Every comma-separated prefix is non-empty and names at least one registered tensor, and
 * some tensor is left outside them (the tokenizer). Describes the first fault in why. */
static int prefixes_ok(const char *list, const m2pt_params *p, char *why, size_t len) {
    if (!list) return snprintf(why, len, "head_prefixes is NULL"), 0;
    int covered = 0, nprefix = 0;
    for (const char *s = list;;) {
        const char *e = strchr(s, ',');
        const size_t n = e ? (size_t)(e - s) : strlen(s);
        if (!n) return snprintf(why, len, "an empty prefix in \"%s\"", list), 0;
        int hits = 0;
        for (int i = 0; i < p->n; i++) hits += !strncmp(p->t[i].name, s, n);
        if (!hits) return snprintf(why, len, "prefix \"%.*s\" matches no registered tensor", (int)n, s), 0;
        nprefix++;
        if (!e) break;
        s = e + 1;
    }
    for (int i = 0; i < p->n; i++) {
        int in = 0;
        for (const char *s = list; !in;) {
            const char *e = strchr(s, ',');
            const size_t n = e ? (size_t)(e - s) : strlen(s);
            in = !strncmp(p->t[i].name, s, n);
            if (!e) break;
            s = e + 1;
        }
        covered += in;
    }
    if (covered == p->n) return snprintf(why, len, "the prefixes cover every tensor (the tokenizer's too)"), 0;
    snprintf(why, len, "%d prefixes, %d of %d tensors", nprefix, covered, p->n);
    return 1;
}

static int spec_ok(const m2pt_recon_spec *s, int T, char *why, size_t len) {
    if (s->loss != M2PT_RECON_MSE && s->loss != M2PT_RECON_CHAMFER && s->loss != M2PT_RECON_CLASS)
        return snprintf(why, len, "loss %d is not MSE (1), CHAMFER (2) or CLASS (3)", s->loss), 0;
    if (s->prefix_tokens < 0 || s->prefix_tokens >= T)
        return snprintf(why, len, "prefix_tokens %d is not in [0, %d) (tokens %d)", s->prefix_tokens, T, T), 0;
    if (s->target_floats <= 0) return snprintf(why, len, "target_floats %d is not positive", s->target_floats), 0;
    if (s->loss == M2PT_RECON_CHAMFER && s->target_floats % 3)
        return snprintf(why, len, "CHAMFER target_floats %d is not a multiple of 3", s->target_floats), 0;
    if (s->loss == M2PT_RECON_CLASS && (s->classes < 2 || s->target_floats != 1))
        return snprintf(why, len, "CLASS needs classes >= 2 (%d) and target_floats 1 (%d)", s->classes,
                        s->target_floats),
               0;
    if (s->pos_floats < 0) return snprintf(why, len, "pos_floats %d is negative", s->pos_floats), 0;
    return 1;
}

/* Targets of one call: finite, weights 0 or 1, class ids integers in [0, classes). */
static int values_ok(const m2pt_recon_spec *s, const float *t, const float *w, const float *pos, size_t rows,
                     long *counted, char *why, size_t len) {
    *counted = 0;
    for (size_t r = 0; r < rows; r++) {
        if (w[r] != 0.0f && w[r] != 1.0f) return snprintf(why, len, "weight[%zu] = %g is not 0 or 1", r, w[r]), 0;
        *counted += w[r] == 1.0f;
        for (int k = 0; k < s->target_floats; k++) {
            const float v = t[r * (size_t)s->target_floats + (size_t)k];
            if (!isfinite(v)) return snprintf(why, len, "target[%zu][%d] = %g is not finite", r, k, v), 0;
            if (s->loss == M2PT_RECON_CLASS && (v < 0.0f || v >= (float)s->classes || v != floorf(v)))
                return snprintf(why, len, "target[%zu] = %g is not a class id in [0, %d)", r, v, s->classes), 0;
        }
        for (int k = 0; k < s->pos_floats; k++) {
            const float v = pos[r * (size_t)s->pos_floats + (size_t)k];
            if (!isfinite(v)) return snprintf(why, len, "pos[%zu][%d] = %g is not finite", r, k, v), 0;
        }
    }
    snprintf(why, len, "%zu tokens, %ld counted", rows, *counted);
    return 1;
}

typedef struct {
    float *t, *w, *p;
} recon_bufs;

static int bufs_alloc(recon_bufs *b, size_t rows, const m2pt_recon_spec *s) {
    b->t = m2pt_alloc_floats(rows * (size_t)s->target_floats);
    b->w = m2pt_alloc_floats(rows);
    b->p = s->pos_floats > 0 ? m2pt_alloc_floats(rows * (size_t)s->pos_floats) : NULL;
    return b->t && b->w && (s->pos_floats <= 0 || b->p) ? 0 : -1;
}

static void bufs_fill(recon_bufs *b, size_t rows, const m2pt_recon_spec *s, int byte) {
    memset(b->t, byte, rows * (size_t)s->target_floats * sizeof(float));
    memset(b->w, byte, rows * sizeof(float));
    if (b->p) memset(b->p, byte, rows * (size_t)s->pos_floats * sizeof(float));
}

static int bufs_equal(const recon_bufs *a, const recon_bufs *b, size_t rows, const m2pt_recon_spec *s) {
    return !memcmp(a->t, b->t, rows * (size_t)s->target_floats * sizeof(float)) &&
           !memcmp(a->w, b->w, rows * sizeof(float)) &&
           (!a->p || !memcmp(a->p, b->p, rows * (size_t)s->pos_floats * sizeof(float)));
}

static void bufs_free(recon_bufs *b) { free(b->t), free(b->w), free(b->p); }

int m2pt_conformance_recon(const m2pt_loaded *pl, void *inst, m2pt_ctx *ctx, const m2pt_params *params,
                           const float *raw, long sample, int n, int T, int dim) {
    const m2pt_modality *mod = pl->desc->modality;
    if (!m2pt_modality_can_mae(mod)) {
        report(1, "no masked-autoencoder support (modality table of %u bytes, ABI %u.%u%s): it cannot be "
                  "pretrained with `objective: mae`",
               mod->struct_size, pl->desc->abi_major, pl->desc->abi_minor,
               mod->struct_size >= sizeof(m2pt_modality) ? ", recon members NULL" : "");
        return 0;
    }
    char err[M2PT_ERR_MAX + 64], why[256];
    m2pt_recon_spec s;
    memset(&s, 0, sizeof s); /* a member left unwritten reads as 0 / NULL and is judged so */
    ctx->err[0] = '\0';
    if (m2pt_ctx_status(ctx, mod->recon_spec(inst, &s), 0, err, sizeof err))
        return report(0, "recon_spec: %s", err);
    int bad = 0;
    if (!spec_ok(&s, T, why, sizeof why)) return report(0, "reconstruction spec: %s", why);
    char classes[32] = "";
    if (s.loss == M2PT_RECON_CLASS) snprintf(classes, sizeof classes, ", %d classes", s.classes);
    report(1, "reconstruction spec: %s loss, %d floats per token%s, prefix %d of %d tokens, %d position floats",
           loss_name(s.loss), s.target_floats, classes, s.prefix_tokens, T, s.pos_floats);
    const int pok = prefixes_ok(s.head_prefixes, params, why, sizeof why);
    bad += report(pok, "head_prefixes \"%s\": %s", s.head_prefixes ? s.head_prefixes : "(NULL)", why);

    const int L = T - s.prefix_tokens;
    const size_t rows = (size_t)n * (size_t)L;
    float *tokens = m2pt_alloc_floats((size_t)n * T * dim);
    recon_bufs a = {0}, b = {0}, c = {0};
    if (!tokens || bufs_alloc(&a, rows, &s) || bufs_alloc(&b, rows, &s) || bufs_alloc(&c, rows, &s)) {
        bad += report(0, "out of memory");
        goto done;
    }
    mod->tokenize(inst, raw, n, tokens);
    bufs_fill(&a, rows, &s, 0x7f);
    bufs_fill(&b, rows, &s, 0xff);
    const int allocs = ctx->nallocs;
    const size_t heap = heap_in_use();
    mod->recon_target(inst, n, a.t, a.w, a.p);
    mod->recon_target(inst, n, b.t, b.w, b.p);
    const size_t heap_after = heap_in_use();
    if (m2pt_ctx_status(ctx, 0, 0, err, sizeof err)) {
        bad += report(0, "recon_target: %s", err);
        goto done;
    }
    bad += report(ctx->nallocs == allocs && heap_after == heap,
                  "recon_target allocates nothing (host->alloc calls %d, net heap growth %+lld bytes)", ctx->nallocs - allocs,
                  (long long)heap_after - (long long)heap);
    bad += report(bufs_equal(&a, &b, rows, &s),
                  "recon_target writes every output and is deterministic (two calls after one tokenize)");
    long counted;
    const int vok = values_ok(&s, a.t, a.w, a.p, rows, &counted, why, sizeof why);
    bad += report(vok && counted > 0, "targets%s finite, weights 0/1%s: %s%s", s.pos_floats > 0 ? " and positions" : "",
                  s.loss == M2PT_RECON_CLASS ? ", class ids in range" : "", why,
                  vok && !counted ? " (no token counts in the loss)" : "");
    /* another batch, samples 1..n-1 of this one: the targets describe the last tokenize, and a
     * sample's target does not depend on the rest of its batch */
    if (n > 1) {
        mod->tokenize(inst, raw + sample, n - 1, tokens);
        bufs_fill(&c, rows, &s, 0x7f);
        mod->recon_target(inst, n - 1, c.t, c.w, c.p);
        const size_t r1 = (size_t)(n - 1) * (size_t)L;
        const recon_bufs a1 = {a.t + (size_t)L * (size_t)s.target_floats, a.w + L,
                               a.p ? a.p + (size_t)L * (size_t)s.pos_floats : NULL};
        bad += report(!m2pt_ctx_status(ctx, 0, 0, err, sizeof err) && bufs_equal(&a1, &c, r1, &s),
                      "recon_target follows the last tokenize (samples 1..%d alone give their targets of the batch "
                      "of %d)",
                      n - 1, n);
    }
done:
    free(tokens);
    bufs_free(&a), bufs_free(&b), bufs_free(&c);
    return bad;
}
