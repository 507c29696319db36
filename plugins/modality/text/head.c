/* Head: the class token (token 0) -> LayerNorm -> linear to the 8 language logits. The other
 * tokens reach the class token through attention in the blocks. */
#include "text.h"

#include <string.h>

int head_setup(text_inst *m) {
    const int D = m->dim, shape_d[1] = {D}, shape_w[2] = {TXT_LANGS, D}, shape_c[1] = {TXT_LANGS};
    const m2pt_host *h = m->host;
    m->h_norm_w = h->param_add(m->ctx, "text.norm.weight", 1, shape_d, M2PT_FILL_ONE, 0.0f, 0);
    m->h_norm_b = h->param_add(m->ctx, "text.norm.bias", 1, shape_d, M2PT_FILL_ZERO, 0.0f, 0);
    m->h_head_w = h->param_add(m->ctx, "text.head.weight", 2, shape_w, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->h_head_b = h->param_add(m->ctx, "text.head.bias", 1, shape_c, M2PT_FILL_ZERO, 0.0f, 0);
    if (m->h_norm_w < 0 || m->h_norm_b < 0 || m->h_head_w < 0 || m->h_head_b < 0) return -1;
    const size_t BD = (size_t)m->max_batch * (size_t)D, B = (size_t)m->max_batch;
    m->pooled = text_alloc_floats(m, BD);
    m->normed = text_alloc_floats(m, BD);
    m->d_normed = text_alloc_floats(m, BD);
    m->d_pooled = text_alloc_floats(m, BD);
    m->mean = text_alloc_floats(m, B);
    m->rstd = text_alloc_floats(m, B);
    m->head_n = -1;
    return m->pooled && m->normed && m->d_normed && m->d_pooled && m->mean && m->rstd ? 0 : -1;
}

void text_head(void *inst, const float *tokens, int n, float *logits) {
    text_inst *m = inst;
    if (text_bad_n(m, "head", n, -1)) return;
    m->head_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    for (int b = 0; b < n; b++) memcpy(m->pooled + (size_t)b * D, tokens + (size_t)b * T * D, (size_t)D * sizeof(float));
    h->layernorm_forward(m->normed, m->mean, m->rstd, m->pooled, h->param(m->ctx, m->h_norm_w),
                         h->param(m->ctx, m->h_norm_b), n, D);
    h->linear_forward(logits, m->normed, h->param(m->ctx, m->h_head_w), h->param(m->ctx, m->h_head_b), n, D,
                      TXT_LANGS);
}

void text_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    text_inst *m = inst;
    if (text_bad_n(m, "head_backward", n, m->head_n < 0 ? -2 : m->head_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    h->linear_backward(m->d_normed, h->grad(m->ctx, m->h_head_w), h->grad(m->ctx, m->h_head_b), d_logits,
                       m->normed, h->param(m->ctx, m->h_head_w), n, D, TXT_LANGS);
    /* layernorm_backward accumulates into dx */
    memset(m->d_pooled, 0, (size_t)n * D * sizeof(float));
    h->layernorm_backward(m->d_pooled, h->grad(m->ctx, m->h_norm_w), h->grad(m->ctx, m->h_norm_b), m->d_normed,
                          m->pooled, m->mean, m->rstd, h->param(m->ctx, m->h_norm_w), n, D);
    /* only the class token was read: zero gradient for every other token */
    memset(d_tokens, 0, (size_t)n * T * D * sizeof(float));
    for (int b = 0; b < n; b++)
        memcpy(d_tokens + (size_t)b * T * D, m->d_pooled + (size_t)b * D, (size_t)D * sizeof(float));
}
