/* Tokenizer (as AST / AudioMAE): the [96 frames][mels] log-mel is cut into non-overlapping
 * patch_time x patch_mel patches, each embedded by a linear layer; a learned class token and a
 * learned position embedding are added. Patch i = ti * (mels / patch_mel) + mi, flattened in
 * (frame, mel) order; tokens[b, 0] = cls + pos[0], tokens[b, 1 + i] = embed(patch i) + pos[1 + i]. */
#include "audio.h"

#include <string.h>

static int add(audio_inst *m, const char *name, int ndim, int d0, int d1, m2pt_fill fill, unsigned flags) {
    const int shape[2] = {d0, d1};
    return m->host->param_add(m->ctx, name, ndim, shape, fill, fill == M2PT_FILL_TRUNC_NORMAL ? 0.02f : 0.0f,
                              flags);
}

int tok_setup(audio_inst *m) {
    const int D = m->dim;
    m->h_patch_w = add(m, "audio.patch_embed.weight", 2, D, m->patch_dim, M2PT_FILL_TRUNC_NORMAL, M2PT_PARAM_DECAY);
    m->h_patch_b = add(m, "audio.patch_embed.bias", 1, D, 0, M2PT_FILL_ZERO, 0);
    m->h_cls = add(m, "audio.cls_token", 1, D, 0, M2PT_FILL_TRUNC_NORMAL, 0);
    m->h_pos = add(m, "audio.pos_embed", 2, m->tokens, D, M2PT_FILL_TRUNC_NORMAL, 0);
    if (m->h_patch_w < 0 || m->h_patch_b < 0 || m->h_cls < 0 || m->h_pos < 0) return -1;
    const size_t rows = (size_t)m->max_batch * (size_t)m->patches;
    m->patch_buf = audio_alloc_floats(m, rows * (size_t)m->patch_dim);
    m->emb = audio_alloc_floats(m, rows * (size_t)D);
    m->tok_n = -1;
    return m->patch_buf && m->emb ? 0 : -1;
}

static void patchify(audio_inst *m, const float *raw, int n) {
    const int pt = m->patch_t, pm = m->patch_m, gm = m->grid_m, P = m->patches, M = m->p.mels;
    const size_t sample = (size_t)AU_FRAMES * (size_t)M;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < P; i++) {
            const int ti = i / gm, mi = i % gm;
            float *dst = m->patch_buf + ((size_t)b * P + i) * (size_t)m->patch_dim;
            for (int t = 0; t < pt; t++) {
                const float *src = raw + (size_t)b * sample + (size_t)(ti * pt + t) * M + (size_t)mi * pm;
                memcpy(dst + (size_t)t * pm, src, (size_t)pm * sizeof(float));
            }
        }
}

/* The calls below return void, so a bad n can only be reported, not returned. expect: the n
 * of the matching forward call (backward), -1 for none (forward). Shared with head.c. */
int audio_bad_n(audio_inst *m, const char *what, int n, int expect) {
    if (!m->set_up) {
        m->host->fail(m->ctx, "%s called before setup", what);
        return 1;
    }
    if (expect == -2) {
        m->host->fail(m->ctx, "%s called without a forward call before it", what);
        return 1;
    }
    if (n < 0 || n > m->max_batch || (expect >= 0 && n != expect)) {
        m->host->fail(m->ctx, "%s: batch of %d samples (max_batch %d%s)", what, n, m->max_batch,
                      expect >= 0 ? ", and it must match the forward call" : "");
        return 1;
    }
    return 0;
}

void audio_tokenize(void *inst, const float *raw, int n, float *tokens) {
    audio_inst *m = inst;
    if (audio_bad_n(m, "tokenize", n, -1)) return;
    m->tok_n = n;
    if (n == 0) return;
    const int D = m->dim, P = m->patches, T = m->tokens;
    const float *cls = m->host->param(m->ctx, m->h_cls), *pos = m->host->param(m->ctx, m->h_pos);
    patchify(m, raw, n);
    m->host->linear_forward(m->emb, m->patch_buf, m->host->param(m->ctx, m->h_patch_w),
                            m->host->param(m->ctx, m->h_patch_b), n * P, m->patch_dim, D);
    for (int b = 0; b < n; b++) {
        float *xb = tokens + (size_t)b * T * D;
        for (int d = 0; d < D; d++) xb[d] = cls[d] + pos[d];
        for (int t = 1; t < T; t++) {
            const float *e = m->emb + ((size_t)b * P + t - 1) * D;
            const float *pt = pos + (size_t)t * D;
            float *xt = xb + (size_t)t * D;
            for (int d = 0; d < D; d++) xt[d] = e[d] + pt[d];
        }
    }
}

void audio_tokenize_backward(void *inst, const float *d_tokens, int n) {
    audio_inst *m = inst;
    if (audio_bad_n(m, "tokenize_backward", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const int D = m->dim, P = m->patches, T = m->tokens;
    float *g_cls = m->host->grad(m->ctx, m->h_cls), *g_pos = m->host->grad(m->ctx, m->h_pos);
    for (int b = 0; b < n; b++) {
        const float *db = d_tokens + (size_t)b * T * D;
        for (int d = 0; d < D; d++) g_cls[d] += db[d];
        for (size_t i = 0; i < (size_t)T * D; i++) g_pos[i] += db[i];
        /* emb becomes d(embedding) of each patch */
        memcpy(m->emb + (size_t)b * P * D, db + D, (size_t)P * D * sizeof(float));
    }
    /* the spectrogram needs no gradient, hence dx = NULL */
    m->host->linear_backward(NULL, m->host->grad(m->ctx, m->h_patch_w), m->host->grad(m->ctx, m->h_patch_b),
                             m->emb, m->patch_buf, m->host->param(m->ctx, m->h_patch_w), n * P, m->patch_dim, D);
}
