/* Head: pool the tokens (class token, or the mean over all T tokens), LayerNorm, linear to
 * the 10 motion classes. Tensors video.norm.{weight,bias}, video.head.{weight,bias}. */
#include "video.h"

#include <string.h>

int head_setup(video_inst *m) {
    const int D = m->dim, shape_d[1] = {D}, shape_w[2] = {VID_CLASSES, D}, shape_c[1] = {VID_CLASSES};
    const m2pt_host *h = m->host;
    m->h_norm_w = h->param_add(m->ctx, "video.norm.weight", 1, shape_d, M2PT_FILL_ONE, 0.0f, 0);
    m->h_norm_b = h->param_add(m->ctx, "video.norm.bias", 1, shape_d, M2PT_FILL_ZERO, 0.0f, 0);
    m->h_head_w = h->param_add(m->ctx, "video.head.weight", 2, shape_w, M2PT_FILL_TRUNC_NORMAL, 0.02f, M2PT_PARAM_DECAY);
    m->h_head_b = h->param_add(m->ctx, "video.head.bias", 1, shape_c, M2PT_FILL_ZERO, 0.0f, 0);
    if (m->h_norm_w < 0 || m->h_norm_b < 0 || m->h_head_w < 0 || m->h_head_b < 0) return -1;
    const size_t BD = (size_t)m->max_batch * (size_t)D, B = (size_t)m->max_batch;
    m->pooled = video_alloc_floats(m, BD);
    m->normed = video_alloc_floats(m, BD);
    m->d_normed = video_alloc_floats(m, BD);
    m->d_pooled = video_alloc_floats(m, BD);
    m->mean = video_alloc_floats(m, B);
    m->rstd = video_alloc_floats(m, B);
    m->head_n = -1;
    return m->pooled && m->normed && m->d_normed && m->d_pooled && m->mean && m->rstd ? 0 : -1;
}

static void pool(video_inst *m, const float *tokens, int n) {
    const int D = m->dim, T = m->tokens;
    for (int b = 0; b < n; b++) {
        const float *xb = tokens + (size_t)b * T * D;
        float *pb = m->pooled + (size_t)b * D;
        if (!m->pool_mean) {
            memcpy(pb, xb, (size_t)D * sizeof(float));
            continue;
        }
        memset(pb, 0, (size_t)D * sizeof(float));
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) pb[d] += xb[(size_t)t * D + d];
        const float inv = 1.0f / (float)T;
        for (int d = 0; d < D; d++) pb[d] *= inv;
    }
}

void video_head(void *inst, const float *tokens, int n, float *logits) {
    video_inst *m = inst;
    if (video_bad_n(m, "head", n, -1)) return;
    m->head_n = n;
    if (n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim;
    pool(m, tokens, n);
    h->layernorm_forward(m->normed, m->mean, m->rstd, m->pooled, h->param(m->ctx, m->h_norm_w),
                         h->param(m->ctx, m->h_norm_b), n, D);
    h->linear_forward(logits, m->normed, h->param(m->ctx, m->h_head_w), h->param(m->ctx, m->h_head_b), n, D,
                      VID_CLASSES);
}

void video_head_backward(void *inst, const float *d_logits, int n, float *d_tokens) {
    video_inst *m = inst;
    if (video_bad_n(m, "head_backward", n, m->head_n < 0 ? -2 : m->head_n) || n == 0) return;
    const m2pt_host *h = m->host;
    const int D = m->dim, T = m->tokens;
    h->linear_backward(m->d_normed, h->grad(m->ctx, m->h_head_w), h->grad(m->ctx, m->h_head_b), d_logits,
                       m->normed, h->param(m->ctx, m->h_head_w), n, D, VID_CLASSES);
    /* layernorm_backward accumulates into dx */
    memset(m->d_pooled, 0, (size_t)n * D * sizeof(float));
    h->layernorm_backward(m->d_pooled, h->grad(m->ctx, m->h_norm_w), h->grad(m->ctx, m->h_norm_b), m->d_normed,
                          m->pooled, m->mean, m->rstd, h->param(m->ctx, m->h_norm_w), n, D);
    memset(d_tokens, 0, (size_t)n * T * D * sizeof(float));
    const float inv = 1.0f / (float)T;
    for (int b = 0; b < n; b++) {
        const float *g = m->d_pooled + (size_t)b * D;
        float *db = d_tokens + (size_t)b * T * D;
        if (!m->pool_mean) {
            memcpy(db, g, (size_t)D * sizeof(float));
            continue;
        }
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) db[(size_t)t * D + d] = g[d] * inv;
    }
}
