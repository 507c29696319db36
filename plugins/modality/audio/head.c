/* Head: the class token (token 0), LayerNorm, linear to the 20 word classes. Tensors
 * "audio.norm.*" and "audio.head.*". */
#include "audio.h"

#include <string.h>

int head_setup(audio_inst *m) {
    const int D = m->dim, shape_d[1] = {D}, shape_w[2] = {AU_WORDS, D}, shape_c[1] = {AU_WORDS};
    const m2pt_host *h = m->host;
    m->h_norm_w = h->param_add(m->ctx, "audio.norm.weight", 1, shape_d, M2PT_FILL_ONE, 0.0f, 0);
    m->h_norm_b = h->param_add(m->ctx, "audio.norm.bias", 1, shape_d, M2PT_FILL_ZERO, 0.0f, 0);
    m->h_head_w = h->param_add(m->ctx, "audio.head.weight", 2, shape_w, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->h_head_b = h->param_add(m->ctx, "audio.head.bias", 1, shape_c, M2PT_FILL_ZERO, 0.0f, 0);
    if (m->h_norm_w < 0 || m->h_norm_b < 0 || m->h_head_w < 0 || m->h_head_b < 0) return -1;
    const size_t BD = (size_t)m->max_batch * (size_t)D, B = (size_t)m->max_batch;
    m->cls_in = audio_alloc_floats(m, BD);
    m->normed = audio_alloc_floats(m, BD);
    m->d_normed = audio_alloc_floats(m, BD);
    m->d_cls = audio_alloc_floats(m, BD);
    m->mean = audio_alloc_floats(m, B);
    m->rstd = audio_alloc_floats(m, B);
    m->head_n = -1;
    return m->cls_in && m->normed && m->d_normed && m->d_cls && m->mean && m->rstd ? 0 : -1;
}

void audio_head(void *inst, const float *tokens, int n, float *logits) {
    audio_inst *m = inst;
    if (audio_bad_n(m, "head", n, -1)) return;
    m->head_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    for (int b = 0; b < n; b++)
        memcpy(m->cls_in + (size_t)b * D, tokens + (size_t)b * T * D, (size_t)D * sizeof(float));
    h->layernorm_forward(m->normed, m->mean, m->rstd, m->cls_in, h->param(m->ctx, m->h_norm_w),
                         h->param(m->ctx, m->h_norm_b), n, D);
    h->linear_forward(logits, m->normed, h->param(m->ctx, m->h_head_w), h->param(m->ctx, m->h_head_b), n, D,
                      AU_WORDS);
}

void audio_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    audio_inst *m = inst;
    if (audio_bad_n(m, "head_backward", n, m->head_n < 0 ? -2 : m->head_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    h->linear_backward(m->d_normed, h->grad(m->ctx, m->h_head_w), h->grad(m->ctx, m->h_head_b), d_logits,
                       m->normed, h->param(m->ctx, m->h_head_w), n, D, AU_WORDS);
    /* layernorm_backward accumulates into dx */
    memset(m->d_cls, 0, (size_t)n * D * sizeof(float));
    h->layernorm_backward(m->d_cls, h->grad(m->ctx, m->h_norm_w), h->grad(m->ctx, m->h_norm_b), m->d_normed,
                          m->cls_in, m->mean, m->rstd, h->param(m->ctx, m->h_norm_w), n, D);
    /* only the class token was read: zero elsewhere */
    memset(d_tokens, 0, (size_t)n * T * D * sizeof(float));
    for (int b = 0; b < n; b++)
        memcpy(d_tokens + (size_t)b * T * D, m->d_cls + (size_t)b * D, (size_t)D * sizeof(float));
}
