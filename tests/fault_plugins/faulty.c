/* Pathway "faulty", for tests/test_numerics.c: behaves as baseline (W_eff = W) until the training
 * step its options name, then injects a non-finite value:
 *   nan_loss_step: N   the forward pass of step N uses a NaN weight (block 0 qkv): NaN loss
 *   nan_grad_step: N   the backward pass of step N puts a NaN into dL/dW (block 0 qkv); the
 *                      loss of that step is finite
 *   inf_grad_step: N   the same with +Inf
 * Steps count from 1 (the trainer's numbering); 0 (the default) never. The step is counted by
 * the backward calls of block 0's qkv (one per training step), so forward passes of evaluation
 * between epochs see the count of the last step (choose N inside an epoch). */
#include <math.h>
#include <stdlib.h>

#include <m2pt/plugin.h>

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;
    long nan_loss, nan_grad, inf_grad;
    long steps; /* backward passes done */
    float *bad;  /* a NaN weight of block 0's qkv */
    size_t nbad;
} fy_state;

static int fy_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    fy_state *s = calloc(1, sizeof *s);
    if (!s) {
        host->fail(ctx, "out of memory for the pathway state");
        return -1;
    }
    s->host = host;
    s->ctx = ctx;
    s->nan_loss = host->cfg_int(ctx, "nan_loss_step", 0, 0, 1000000000L);
    s->nan_grad = host->cfg_int(ctx, "nan_grad_step", 0, 0, 1000000000L);
    s->inf_grad = host->cfg_int(ctx, "inf_grad_step", 0, 0, 1000000000L);
    *inst = s;
    return 0;
}

static void fy_close(void *inst) {
    fy_state *s = inst;
    free(s->bad);
    free(s);
}

static int fy_needs_aux(void *inst) { return 0; }

static int fy_setup(void *inst, const m2pt_shape *shape, const m2pt_aux_weights *aux) {
    fy_state *s = inst;
    s->nbad = (size_t)3 * shape->dim * shape->dim;
    s->bad = malloc(s->nbad * sizeof *s->bad);
    if (!s->bad) {
        s->host->fail(s->ctx, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->nbad; i++) s->bad[i] = NAN;
    return 0;
}

static int fy_init(void *inst) { return 0; }

static const float *fy_effective(void *inst, int block, m2pt_linear which, const float *w, int out, int in) {
    fy_state *s = inst;
    if (block == 0 && which == M2PT_QKV && s->nan_loss && s->steps + 1 == s->nan_loss &&
        (size_t)out * (size_t)in <= s->nbad)
        return s->bad;
    return w;
}

static void fy_backward(void *inst, int block, m2pt_linear which, float *dw, int out, int in) {
    fy_state *s = inst;
    if (block != 0 || which != M2PT_QKV) return;
    s->steps++;
    if (s->steps == s->nan_grad) dw[0] = NAN;
    if (s->steps == s->inf_grad) dw[(size_t)out * in / 2] = INFINITY;
}

static void fy_merge(void *inst, int block, m2pt_linear which, float *w, int out, int in) {}

static const m2pt_pathway fy_table = {
    .struct_size = sizeof(m2pt_pathway),
    .open = fy_open,
    .close = fy_close,
    .needs_aux = fy_needs_aux,
    .setup = fy_setup,
    .init = fy_init,
    .effective = fy_effective,
    .backward = fy_backward,
    .merge = fy_merge,
};

static const m2pt_plugin fy_plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_PATHWAY,
    .name = "faulty",
    .version = "1.0.0",
    .description = "Test pathway: baseline that injects NaN/Inf into a chosen step's loss or gradient",
    .pathway = &fy_table,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &fy_plugin : NULL;
}
