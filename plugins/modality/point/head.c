/* Head: the class token (token 0), LayerNorm, linear to the 12 classes. */
#include "point.h"

#include <string.h>

int head_setup(point_inst *m) {
    const int D = m->dim, shape_d[1] = {D}, shape_w[2] = {PT_CLASSES, D}, shape_c[1] = {PT_CLASSES};
    const m2pt_host *h = m->host;
    m->h_norm_w = h->param_add(m->ctx, "point.norm.weight", 1, shape_d, M2PT_FILL_ONE, 0.0f, 0);
    m->h_norm_b = h->param_add(m->ctx, "point.norm.bias", 1, shape_d, M2PT_FILL_ZERO, 0.0f, 0);
    m->h_head_w = h->param_add(m->ctx, "point.head.weight", 2, shape_w, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->h_head_b = h->param_add(m->ctx, "point.head.bias", 1, shape_c, M2PT_FILL_ZERO, 0.0f, 0);
    if (m->h_norm_w < 0 || m->h_norm_b < 0 || m->h_head_w < 0 || m->h_head_b < 0) return -1;
    const size_t BD = (size_t)m->max_batch * (size_t)D, B = (size_t)m->max_batch;
    m->pooled = point_alloc_floats(m, BD);
    m->normed = point_alloc_floats(m, BD);
    m->d_normed = point_alloc_floats(m, BD);
    m->d_pooled = point_alloc_floats(m, BD);
    m->mean = point_alloc_floats(m, B);
    m->rstd = point_alloc_floats(m, B);
    m->head_n = -1;
    return m->pooled && m->normed && m->d_normed && m->d_pooled && m->mean && m->rstd ? 0 : -1;
}

void point_head(void *inst, const float *tokens, int n, float *logits) {
    point_inst *m = inst;
    if (point_bad_n(m, "head", n, -1)) return;
    m->head_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    for (int b = 0; b < n; b++) memcpy(m->pooled + (size_t)b * D, tokens + (size_t)b * T * D, (size_t)D * sizeof(float));
    h->layernorm_forward(m->normed, m->mean, m->rstd, m->pooled, h->param(m->ctx, m->h_norm_w),
                         h->param(m->ctx, m->h_norm_b), n, D);
    h->linear_forward(logits, m->normed, h->param(m->ctx, m->h_head_w), h->param(m->ctx, m->h_head_b), n, D,
                      PT_CLASSES);
}

void point_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    point_inst *m = inst;
    if (point_bad_n(m, "head_backward", n, m->head_n < 0 ? -2 : m->head_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    h->linear_backward(m->d_normed, h->grad(m->ctx, m->h_head_w), h->grad(m->ctx, m->h_head_b), d_logits,
                       m->normed, h->param(m->ctx, m->h_head_w), n, D, PT_CLASSES);
    memset(m->d_pooled, 0, (size_t)n * D * sizeof(float)); /* layernorm_backward accumulates into dx */
    h->layernorm_backward(m->d_pooled, h->grad(m->ctx, m->h_norm_w), h->grad(m->ctx, m->h_norm_b), m->d_normed,
                          m->pooled, m->mean, m->rstd, h->param(m->ctx, m->h_norm_w), n, D);
    memset(d_tokens, 0, (size_t)n * T * D * sizeof(float));
    for (int b = 0; b < n; b++)
        memcpy(d_tokens + (size_t)b * T * D, m->d_pooled + (size_t)b * D, (size_t)D * sizeof(float));
}
