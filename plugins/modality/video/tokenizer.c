/* Tokenizer: t x p x p tubelets -> linear embedding, a learned class token and a learned
 * position embedding (one row per token, i.e. joint space-time positions).
 * With gt = frames/t and gs = size/p: tubelet i = (it * gs + iy) * gs + ix, flattened in
 * (frame, y, x) order; tokens[b, 0] = cls + pos[0], tokens[b, 1 + i] = embed(tubelet i) + pos[1 + i]. */
#include "video.h"

#include <string.h>

static int add(video_inst *m, const char *name, int ndim, int d0, int d1, m2pt_fill fill, unsigned flags) {
    const int shape[2] = {d0, d1};
    return m->host->param_add(m->ctx, name, ndim, shape, fill, fill == M2PT_FILL_TRUNC_NORMAL ? 0.02f : 0.0f,
                              flags);
}

int tok_setup(video_inst *m) {
    const int D = m->dim;
    m->h_emb_w = add(m, "video.tubelet_embed.weight", 2, D, m->tub_dim, M2PT_FILL_TRUNC_NORMAL, M2PT_PARAM_DECAY);
    m->h_emb_b = add(m, "video.tubelet_embed.bias", 1, D, 0, M2PT_FILL_ZERO, 0);
    m->h_cls = add(m, "video.cls_token", 1, D, 0, M2PT_FILL_TRUNC_NORMAL, 0);
    m->h_pos = add(m, "video.pos_embed", 2, m->tokens, D, M2PT_FILL_TRUNC_NORMAL, 0);
    if (m->h_emb_w < 0 || m->h_emb_b < 0 || m->h_cls < 0 || m->h_pos < 0) return -1;
    const size_t rows = (size_t)m->max_batch * (size_t)m->tubelets;
    m->tub_buf = video_alloc_floats(m, rows * (size_t)m->tub_dim);
    m->emb = video_alloc_floats(m, rows * (size_t)D);
    m->tok_n = -1;
    return m->tub_buf && m->emb ? 0 : -1;
}

static void tubeletize(video_inst *m, const float *raw, int n) {
    const int t = m->tub_t, p = m->tub_p, gs = m->gs, S = m->gen.size, N = m->tubelets;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < N; i++) {
            const int it = i / (gs * gs), iy = (i / gs) % gs, ix = i % gs;
            float *dst = m->tub_buf + ((size_t)b * N + i) * (size_t)m->tub_dim;
            for (int f = 0; f < t; f++)
                for (int y = 0; y < p; y++) {
                    const float *src = raw + (size_t)b * m->sample + ((size_t)(it * t + f) * S + (size_t)(iy * p + y)) * S +
                                       (size_t)ix * p;
                    memcpy(dst + ((size_t)f * p + y) * p, src, (size_t)p * sizeof(float));
                }
        }
}

/* The calls below return void, so a bad n can only be reported, not returned. expect: the n
 * of the matching forward call (backward), -1 for none (forward). Shared with head.c. */
int video_bad_n(video_inst *m, const char *what, int n, int expect) {
    if (!m->set_up) {
        m->host->fail(m->ctx, "%s called before setup", what);
        return 1;
    }
    if (expect == -2) {
        m->host->fail(m->ctx, "%s called without a forward call before it", what);
        return 1;
    }
    if (n < 0 || n > m->max_batch || (expect >= 0 && n != expect)) {
        m->host->fail(m->ctx, "%s: batch of %d clips (max_batch %d%s)", what, n, m->max_batch,
                      expect >= 0 ? ", and it must match the forward call" : "");
        return 1;
    }
    return 0;
}

void video_tokenize(void *inst, const float *raw, int n, float *tokens) {
    video_inst *m = inst;
    if (video_bad_n(m, "tokenize", n, -1)) return;
    m->tok_n = n;
    if (n == 0) return;
    const int D = m->dim, N = m->tubelets, T = m->tokens;
    const float *cls = m->host->param(m->ctx, m->h_cls), *pos = m->host->param(m->ctx, m->h_pos);
    tubeletize(m, raw, n);
    m->host->linear_forward(m->emb, m->tub_buf, m->host->param(m->ctx, m->h_emb_w),
                            m->host->param(m->ctx, m->h_emb_b), n * N, m->tub_dim, D);
    for (int b = 0; b < n; b++) {
        float *xb = tokens + (size_t)b * T * D;
        for (int d = 0; d < D; d++) xb[d] = cls[d] + pos[d];
        for (int t = 1; t < T; t++) {
            const float *e = m->emb + ((size_t)b * N + t - 1) * D;
            const float *pt = pos + (size_t)t * D;
            float *xt = xb + (size_t)t * D;
            for (int d = 0; d < D; d++) xt[d] = e[d] + pt[d];
        }
    }
}

void video_tokenize_backward(void *inst, const float *d_tokens, int n) {
    video_inst *m = inst;
    if (video_bad_n(m, "tokenize_backward", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const int D = m->dim, N = m->tubelets, T = m->tokens;
    float *g_cls = m->host->grad(m->ctx, m->h_cls), *g_pos = m->host->grad(m->ctx, m->h_pos);
    for (int b = 0; b < n; b++) {
        const float *db = d_tokens + (size_t)b * T * D;
        for (int d = 0; d < D; d++) g_cls[d] += db[d];
        for (size_t i = 0; i < (size_t)T * D; i++) g_pos[i] += db[i];
        /* emb becomes d(embedding) of each tubelet */
        memcpy(m->emb + (size_t)b * N * D, db + D, (size_t)N * D * sizeof(float));
    }
    /* the raw clip needs no gradient, hence dx = NULL */
    m->host->linear_backward(NULL, m->host->grad(m->ctx, m->h_emb_w), m->host->grad(m->ctx, m->h_emb_b), m->emb,
                             m->tub_buf, m->host->param(m->ctx, m->h_emb_w), n * N, m->tub_dim, D);
}
