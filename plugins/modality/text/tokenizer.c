/* Tokenizer: token ids -> rows of a learned byte embedding (256 byte values + padding), a
 * learned class token and a learned position embedding:
 *   tokens[b, 0] = cls + pos[0],  tokens[b, 1 + i] = byte_embed[id_i] + pos[1 + i].
 * Padding positions are real tokens (the padding row of the table), so the model sees the
 * word's length. Backward scatter-adds into the embedding rows; no linear layer is involved. */
#include "text.h"

#include <string.h>

int tok_setup(text_inst *m) {
    const m2pt_host *h = m->host;
    const int D = m->dim, s_embed[2] = {TXT_VOCAB, D}, s_pos[2] = {m->tokens, D}, s_cls[1] = {D};
    m->h_embed = h->param_add(m->ctx, "text.byte_embed", 2, s_embed, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    m->h_pos = h->param_add(m->ctx, "text.pos_embed", 2, s_pos, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    m->h_cls = h->param_add(m->ctx, "text.cls_token", 1, s_cls, M2PT_FILL_TRUNC_NORMAL, 0.02f, 0);
    if (m->h_embed < 0 || m->h_pos < 0 || m->h_cls < 0) return -1;
    m->ids = h->alloc(m->ctx, (size_t)m->max_batch * (size_t)m->max_len * sizeof *m->ids);
    m->tok_n = -1;
    return m->ids ? 0 : -1;
}

/* The calls below return void, so a bad n can only be reported, not returned. expect: the n
 * of the matching forward call (backward), -1 for none (forward). Shared with head.c. */
int text_bad_n(text_inst *m, const char *what, int n, int expect) {
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

/* A raw value is a token id; anything that is not an integer in 0..256 (fill never writes
 * one) counts as padding rather than reading outside the table. */
static int16_t to_id(float v) {
    if (!(v >= 0.0f && v <= (float)TXT_PAD)) return TXT_PAD;
    const int r = (int)v;
    return (float)r == v ? (int16_t)r : TXT_PAD;
}

void text_tokenize(void *inst, const float *raw, int n, float *tokens) {
    text_inst *m = inst;
    if (text_bad_n(m, "tokenize", n, -1)) return;
    m->tok_n = n;
    const int D = m->dim, L = m->max_len, T = m->tokens;
    const float *E = m->host->param(m->ctx, m->h_embed), *pos = m->host->param(m->ctx, m->h_pos);
    const float *cls = m->host->param(m->ctx, m->h_cls);
    for (int b = 0; b < n; b++) {
        float *xb = tokens + (size_t)b * T * D;
        int16_t *ids = m->ids + (size_t)b * L;
        for (int d = 0; d < D; d++) xb[d] = cls[d] + pos[d];
        for (int i = 0; i < L; i++) {
            ids[i] = to_id(raw[(size_t)b * L + i]);
            const float *e = E + (size_t)ids[i] * D, *p = pos + (size_t)(i + 1) * D;
            float *x = xb + (size_t)(i + 1) * D;
            for (int d = 0; d < D; d++) x[d] = e[d] + p[d];
        }
    }
}

void text_tokenize_backward(void *inst, const float *d_tokens, int n) {
    text_inst *m = inst;
    if (text_bad_n(m, "tokenize_backward", n, m->tok_n < 0 ? -2 : m->tok_n)) return;
    const int D = m->dim, L = m->max_len, T = m->tokens;
    float *g_E = m->host->grad(m->ctx, m->h_embed), *g_pos = m->host->grad(m->ctx, m->h_pos);
    float *g_cls = m->host->grad(m->ctx, m->h_cls);
    for (int b = 0; b < n; b++) {
        const float *db = d_tokens + (size_t)b * T * D;
        const int16_t *ids = m->ids + (size_t)b * L;
        for (int d = 0; d < D; d++) g_cls[d] += db[d];
        for (size_t i = 0; i < (size_t)T * D; i++) g_pos[i] += db[i];
        for (int i = 0; i < L; i++) {
            float *g = g_E + (size_t)ids[i] * D;
            const float *dx = db + (size_t)(i + 1) * D;
            for (int d = 0; d < D; d++) g[d] += dx[d];
        }
    }
}
