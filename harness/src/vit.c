#include "vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util.h"

#define LINEAR_STD 0.02f

int m2pt_vit_config_check(const m2pt_vit_config *c, char *err, size_t errlen) {
    const char *why = NULL;
    const m2pt_block_config *b = &c->blocks;
    if (b->dim <= 0 || b->depth <= 0 || b->heads <= 0 || b->mlp_ratio <= 0)
        why = "dim, depth, heads and mlp_ratio must be positive";
    else if (b->dim % b->heads)
        why = "dim must be divisible by heads";
    else if (c->channels <= 0 || c->height <= 0 || c->width <= 0 || c->patch <= 0)
        why = "channels, height, width and patch must be positive";
    else if (c->height % c->patch || c->width % c->patch)
        why = "image height and width must be multiples of the patch size";
    else if (c->classes < 2)
        why = "classes must be at least 2";
    else if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        why = "label_smoothing must be in [0, 1)";
    if (why && err) snprintf(err, errlen, "model config: %s", why);
    return why ? -1 : 0;
}

int m2pt_vit_config_json(const m2pt_vit_config *c, char *buf, size_t len) {
    int n = snprintf(buf, len,
                     "{\"model\":\"vit\",\"dim\":%d,\"depth\":%d,\"heads\":%d,\"mlp_ratio\":%d,"
                     "\"channels\":%d,\"height\":%d,\"width\":%d,\"patch\":%d,\"classes\":%d,"
                     "\"label_smoothing\":%.9g}",
                     c->blocks.dim, c->blocks.depth, c->blocks.heads, c->blocks.mlp_ratio, c->channels,
                     c->height, c->width, c->patch, c->classes, (double)c->label_smoothing);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

static int add(m2pt_params *p, const char *name, int ndim, int d0, int d1, m2pt_init_kind init, int decay) {
    int shape[2] = {d0, d1};
    return m2pt_params_add(p, name, ndim, shape, init, LINEAR_STD, decay);
}

int m2pt_vit_create(m2pt_vit *m, const m2pt_vit_config *cfg, int max_batch) {
    memset(m, 0, sizeof *m);
    if (m2pt_vit_config_check(cfg, NULL, 0) || max_batch <= 0) return -1;
    m->cfg = *cfg;
    m->max_batch = max_batch;
    const int D = cfg->blocks.dim, C = cfg->classes;
    m->patches = (cfg->height / cfg->patch) * (cfg->width / cfg->patch);
    m->tokens = m->patches + 1;
    m->patch_dim = cfg->channels * cfg->patch * cfg->patch;
    m2pt_params *p = &m->params;
    m->patch_w = add(p, "patch_embed.weight", 2, D, m->patch_dim, M2PT_INIT_TRUNC_NORMAL, 1);
    m->patch_b = add(p, "patch_embed.bias", 1, D, 0, M2PT_INIT_ZERO, 0);
    m->cls = add(p, "cls_token", 1, D, 0, M2PT_INIT_TRUNC_NORMAL, 0);
    m->pos = add(p, "pos_embed", 2, m->tokens, D, M2PT_INIT_TRUNC_NORMAL, 0);
    if (m->patch_w < 0 || m->patch_b < 0 || m->cls < 0 || m->pos < 0) goto fail;
    if (m2pt_blocks_register(&m->blocks, &cfg->blocks, p)) goto fail;
    m->norm_w = add(p, "norm.weight", 1, D, 0, M2PT_INIT_ONE, 0);
    m->norm_b = add(p, "norm.bias", 1, D, 0, M2PT_INIT_ZERO, 0);
    m->head_w = add(p, "head.weight", 2, C, D, M2PT_INIT_TRUNC_NORMAL, 1);
    m->head_b = add(p, "head.bias", 1, C, 0, M2PT_INIT_ZERO, 0);
    if (m->norm_w < 0 || m->norm_b < 0 || m->head_w < 0 || m->head_b < 0) goto fail;
    if (m2pt_params_alloc(p)) goto fail;
    if (m2pt_blocks_alloc(&m->blocks, p, max_batch, m->tokens)) goto fail;

    const size_t B = (size_t)max_batch, P = (size_t)m->patches, T = (size_t)m->tokens;
    size_t sizes[] = {B * P * (size_t)m->patch_dim, B * P * D, B * D, B * D, B, B, B * C, B * C, B * C,
                      B * D, B * D, B * T * D};
    float **bufs[] = {&m->patches_buf, &m->emb, &m->cls_out, &m->norm_out, &m->norm_mean, &m->norm_rstd,
                      &m->logits, &m->probs, &m->d_logits, &m->d_norm, &m->d_cls, &m->d_tokens};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += m2pt_round_floats(sizes[i]);
    if (!(m->arena = m2pt_alloc_floats(total))) goto fail;
    total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = m->arena + total;
        total += m2pt_round_floats(sizes[i]);
    }
    return 0;
fail:
    m2pt_vit_free(m);
    return -1;
}

void m2pt_vit_init(m2pt_vit *m, uint64_t seed) { m2pt_params_init(&m->params, seed); }

/* Patch (py, px) of image b, flattened in (c, y, x) order, becomes row b * P + py * (W/p) + px. */
static void patchify(m2pt_vit *m, const float *images, int batch) {
    const int Cc = m->cfg.channels, Hh = m->cfg.height, Ww = m->cfg.width, p = m->cfg.patch;
    const int nw = Ww / p, P = m->patches;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < P; i++) {
            const int py = i / nw, px = i % nw;
            float *dst = m->patches_buf + ((size_t)b * P + i) * m->patch_dim;
            for (int c = 0; c < Cc; c++)
                for (int y = 0; y < p; y++) {
                    const float *src = images + (((size_t)b * Cc + c) * Hh + py * p + y) * Ww + px * p;
                    memcpy(dst, src, (size_t)p * sizeof(float));
                    dst += p;
                }
        }
}

float m2pt_vit_forward(m2pt_vit *m, const float *images, const int *labels, int batch) {
    const int D = m->cfg.blocks.dim, P = m->patches, T = m->tokens, C = m->cfg.classes;
    m2pt_params *p = &m->params;
    m->batch = batch;
    m->labels = labels;
    patchify(m, images, batch);
    m2pt_linear_forward(m->emb, m->patches_buf, m2pt_param(p, m->patch_w), m2pt_param(p, m->patch_b),
                        batch * P, m->patch_dim, D);
    float *x = m2pt_blocks_input(&m->blocks);
    const float *cls = m2pt_param(p, m->cls), *pos = m2pt_param(p, m->pos);
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * T * D;
        for (int d = 0; d < D; d++) xb[d] = cls[d] + pos[d];
        for (int t = 1; t < T; t++) {
            const float *e = m->emb + ((size_t)b * P + t - 1) * D;
            for (int d = 0; d < D; d++) xb[(size_t)t * D + d] = e[d] + pos[(size_t)t * D + d];
        }
    }
    const float *out = m2pt_blocks_forward(&m->blocks, batch);
    /* Final norm and head act on the class token only (LayerNorm is per row, so norming the
     * other tokens would not change the loss). */
    for (int b = 0; b < batch; b++) memcpy(m->cls_out + (size_t)b * D, out + (size_t)b * T * D, D * sizeof(float));
    m2pt_layernorm_forward(m->norm_out, m->norm_mean, m->norm_rstd, m->cls_out, m2pt_param(p, m->norm_w),
                           m2pt_param(p, m->norm_b), batch, D);
    m2pt_linear_forward(m->logits, m->norm_out, m2pt_param(p, m->head_w), m2pt_param(p, m->head_b), batch, D, C);
    if (!labels) return 0.0f;
    return m2pt_crossentropy_forward(m->probs, m->logits, labels, batch, C, m->cfg.label_smoothing);
}

void m2pt_vit_backward(m2pt_vit *m) {
    const int D = m->cfg.blocks.dim, P = m->patches, T = m->tokens, C = m->cfg.classes, B = m->batch;
    m2pt_params *p = &m->params;
    m2pt_params_zero_grads(p);
    m2pt_crossentropy_backward(m->d_logits, m->probs, m->labels, B, C, m->cfg.label_smoothing);
    m2pt_linear_backward(m->d_norm, m2pt_grad(p, m->head_w), m2pt_grad(p, m->head_b), m->d_logits,
                         m->norm_out, m2pt_param(p, m->head_w), B, D, C);
    memset(m->d_cls, 0, (size_t)B * D * sizeof(float));
    m2pt_layernorm_backward(m->d_cls, m2pt_grad(p, m->norm_w), m2pt_grad(p, m->norm_b), m->d_norm, m->cls_out,
                            m->norm_mean, m->norm_rstd, m2pt_param(p, m->norm_w), B, D);
    memset(m->d_tokens, 0, (size_t)B * T * D * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(m->d_tokens + (size_t)b * T * D, m->d_cls + (size_t)b * D, D * sizeof(float));
    const float *dx = m2pt_blocks_backward(&m->blocks, m->d_tokens);
    float *g_cls = m2pt_grad(p, m->cls), *g_pos = m2pt_grad(p, m->pos);
    for (int b = 0; b < B; b++) {
        const float *db = dx + (size_t)b * T * D;
        for (int d = 0; d < D; d++) g_cls[d] += db[d];
        for (size_t i = 0; i < (size_t)T * D; i++) g_pos[i] += db[i];
        for (int t = 1; t < T; t++)
            memcpy(m->emb + ((size_t)b * P + t - 1) * D, db + (size_t)t * D, D * sizeof(float));
    }
    /* m->emb now holds d(embedding); the patch embedding needs no input gradient */
    m2pt_linear_backward(NULL, m2pt_grad(p, m->patch_w), m2pt_grad(p, m->patch_b), m->emb, m->patches_buf,
                         m2pt_param(p, m->patch_w), B * P, m->patch_dim, D);
}

void m2pt_vit_free(m2pt_vit *m) {
    m2pt_blocks_free(&m->blocks);
    m2pt_params_free(&m->params);
    free(m->arena);
    memset(m, 0, sizeof *m);
}
