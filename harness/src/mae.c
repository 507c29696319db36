/* mae.h: the masked-autoencoder engine (encoder on visible tokens, light decoder, loss on the
 * masked tokens). Masking and config checks are in mae_mask.c, the losses in mae_loss.c. */
#include "mae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mae_loss.h"
#include "ops.h"
#include "util.h"

#define MAE_STD 0.02f
#define MAE_MLP_RATIO 4

struct m2pt_mae {
    m2pt_mae_config cfg;
    m2pt_recon_spec spec;
    const m2pt_blocks *enc; /* the model's stack: its tensors and its hook */
    m2pt_blocks vis, dec;   /* encoder on the visible tokens (shared tensors), decoder */
    m2pt_params *p;
    int T, prefix, L, M, Tv, D, E, out, tf, pf, max_batch, n;
    /* registry indices */
    int norm_w, norm_b, embed_w, embed_b, mask_tok, pos, pp_w, pp_b, dn_w, dn_b, pred_w, pred_b;
    float *arena;
    int *keep;             /* [B, Tv] */
    unsigned char *masked; /* [B, T] */
    int *midx;             /* [B, M]: masked token indices, in order */
    float *enc_norm, *norm_mean, *norm_rstd, *emb;                /* encoder side, Tv rows */
    float *pos_in, *pp;                                           /* [B, L, pf], [B, L, E] */
    float *dec_m, *dn, *dn_mean, *dn_rstd, *pred;                 /* decoder side, M rows */
    float *tgt, *w;                                               /* [B, M, tf], [B, M] */
    float *d_pred, *d_dn, *d_dec_m, *d_dec_out, *d_pp, *d_emb, *d_norm, *d_enc_out, *d_tokens;
    double wsum; /* sum of the counted masked tokens' weights, last forward */
};

static int add(m2pt_params *p, const char *name, int d0, int d1, m2pt_init_kind init, int decay) {
    const int shape[2] = {d0, d1};
    return m2pt_params_add(p, name, d1 ? 2 : 1, shape, init, MAE_STD, decay);
}

m2pt_mae *m2pt_mae_create(const m2pt_mae_config *cfg, const m2pt_recon_spec *spec, m2pt_blocks *enc, int tokens,
                          m2pt_params *p, char *err, size_t errlen) {
    if (m2pt_mae_config_check(cfg, spec, tokens, err, errlen)) return NULL;
    m2pt_mae *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "mae: out of memory");
        return NULL;
    }
    a->cfg = *cfg, a->spec = *spec, a->enc = enc, a->p = p;
    a->T = tokens, a->prefix = spec->prefix_tokens, a->L = tokens - a->prefix;
    a->M = m2pt_mae_masked_count(cfg->mask_ratio, a->L), a->Tv = tokens - a->M;
    a->D = enc->cfg.dim, a->E = cfg->decoder_dim, a->tf = spec->target_floats, a->pf = spec->pos_floats;
    a->out = spec->loss == M2PT_RECON_CLASS ? spec->classes : spec->target_floats;
    if (!m2pt_attention_supported(a->Tv, a->D / enc->cfg.heads)) {
        snprintf(err, errlen, "mae: the encoder's attention does not support %d visible tokens with head dim %d",
                 a->Tv, a->D / enc->cfg.heads);
        free(a);
        return NULL;
    }
    const int D = a->D, E = a->E;
    a->norm_w = add(p, "mae.norm.weight", D, 0, M2PT_INIT_ONE, 0);
    a->norm_b = add(p, "mae.norm.bias", D, 0, M2PT_INIT_ZERO, 0);
    a->embed_w = add(p, "mae.embed.weight", E, D, M2PT_INIT_TRUNC_NORMAL, 1);
    a->embed_b = add(p, "mae.embed.bias", E, 0, M2PT_INIT_ZERO, 0);
    a->mask_tok = add(p, "mae.mask_token", E, 0, M2PT_INIT_TRUNC_NORMAL, 0);
    a->pos = add(p, "mae.pos", tokens, E, M2PT_INIT_TRUNC_NORMAL, 0);
    a->pp_w = a->pp_b = 0;
    if (a->pf > 0) {
        a->pp_w = add(p, "mae.pos_proj.weight", E, a->pf, M2PT_INIT_TRUNC_NORMAL, 1);
        a->pp_b = add(p, "mae.pos_proj.bias", E, 0, M2PT_INIT_ZERO, 0);
    }
    const m2pt_block_config dc = {E, cfg->decoder_depth, cfg->decoder_heads, MAE_MLP_RATIO};
    int bad = m2pt_blocks_register_prefix(&a->dec, &dc, p, "mae.blocks");
    a->dn_w = add(p, "mae.dec_norm.weight", E, 0, M2PT_INIT_ONE, 0);
    a->dn_b = add(p, "mae.dec_norm.bias", E, 0, M2PT_INIT_ZERO, 0);
    a->pred_w = add(p, "mae.pred.weight", a->out, E, M2PT_INIT_TRUNC_NORMAL, 1);
    a->pred_b = add(p, "mae.pred.bias", a->out, 0, M2PT_INIT_ZERO, 0);
    const int *all = &a->norm_w;
    for (int i = 0; i < 12; i++) bad |= all[i] < 0;
    if (bad) {
        snprintf(err, errlen, "mae: cannot register the decoder tensors ('mae.*' names taken by a plugin?)");
        m2pt_mae_free(a);
        return NULL;
    }
    if (m2pt_blocks_share(&a->vis, enc)) {
        snprintf(err, errlen, "mae: out of memory");
        m2pt_mae_free(a);
        return NULL;
    }
    return a;
}

int m2pt_mae_alloc(m2pt_mae *a, int max_batch) {
    if (max_batch <= 0 || !a->p->params) return -1;
    if (m2pt_blocks_alloc(&a->vis, a->p, max_batch, a->Tv) || m2pt_blocks_alloc(&a->dec, a->p, max_batch, a->T))
        return -1;
    a->max_batch = max_batch;
    const size_t B = (size_t)max_batch, D = (size_t)a->D, E = (size_t)a->E, T = (size_t)a->T, L = (size_t)a->L;
    const size_t Tv = (size_t)a->Tv, M = (size_t)a->M, O = (size_t)a->out, tf = (size_t)a->tf;
    const size_t pf = (size_t)(a->pf > 0 ? a->pf : 1);
    /* float buffers, then the int/byte ones carved from the same arena */
    float **bufs[] = {&a->enc_norm, &a->norm_mean, &a->norm_rstd, &a->emb, &a->pos_in, &a->pp, &a->dec_m,
                      &a->dn, &a->dn_mean, &a->dn_rstd, &a->pred, &a->tgt, &a->w, &a->d_pred, &a->d_dn,
                      &a->d_dec_m, &a->d_dec_out, &a->d_pp, &a->d_emb, &a->d_norm, &a->d_enc_out, &a->d_tokens};
    const size_t sizes[] = {B * Tv * D, B * Tv, B * Tv, B * Tv * E, B * L * pf, B * L * E, B * M * E,
                            B * M * E, B * M, B * M, B * M * O, B * M * tf, B * M, B * M * O, B * M * E,
                            B * M * E, B * T * E, B * L * E, B * Tv * E, B * Tv * D, B * Tv * D, B * T * D};
    const size_t nb = sizeof sizes / sizeof sizes[0];
    const size_t ints = m2pt_round_floats(B * Tv) + m2pt_round_floats(B * M) + m2pt_round_floats(B * T);
    size_t total = ints;
    for (size_t i = 0; i < nb; i++) total += m2pt_round_floats(sizes[i]);
    if (!(a->arena = m2pt_alloc_floats(total))) return -1;
    total = 0;
    for (size_t i = 0; i < nb; i++) {
        *bufs[i] = a->arena + total;
        total += m2pt_round_floats(sizes[i]);
    }
    a->keep = (int *)(a->arena + total);
    total += m2pt_round_floats(B * Tv);
    a->midx = (int *)(a->arena + total);
    total += m2pt_round_floats(B * M);
    a->masked = (unsigned char *)(a->arena + total);
    return 0;
}

_Static_assert(sizeof(int) == sizeof(float), "index buffers share the float arena");

void m2pt_mae_free(m2pt_mae *a) {
    if (!a) return;
    m2pt_blocks_free(&a->vis);
    m2pt_blocks_free(&a->dec);
    free(a->arena);
    free(a);
}

#define P(i) m2pt_param(a->p, a->i)
#define G(i) m2pt_grad(a->p, a->i)

float m2pt_mae_forward(m2pt_mae *a, const float *tokens, const float *target, const float *weight, const float *pos,
                       int n, uint64_t mask_seed) {
    const int T = a->T, D = a->D, E = a->E, Tv = a->Tv, M = a->M, L = a->L, pre = a->prefix, tf = a->tf;
    a->n = n;
    m2pt_mae_mask(mask_seed, n, T, pre, a->cfg.mask_ratio, a->keep, a->masked);
    /* encoder on the prefix + visible tokens (the shared stack follows the model's hook) */
    a->vis.hook = a->enc->hook;
    float *x = m2pt_blocks_input(&a->vis);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < Tv; j++)
            memcpy(x + ((size_t)b * Tv + j) * D, tokens + ((size_t)b * T + a->keep[b * Tv + j]) * D,
                   (size_t)D * sizeof(float));
    const float *enc_out = m2pt_blocks_forward(&a->vis, n);
    m2pt_layernorm_forward(a->enc_norm, a->norm_mean, a->norm_rstd, enc_out, P(norm_w), P(norm_b), n * Tv, D);
    m2pt_linear_forward(a->emb, a->enc_norm, P(embed_w), P(embed_b), n * Tv, D, E);
    /* the decoder's sequence: encoded tokens at their places, the mask token elsewhere */
    if (a->pf > 0) {
        memcpy(a->pos_in, pos, (size_t)n * L * a->pf * sizeof(float));
        m2pt_linear_forward(a->pp, a->pos_in, P(pp_w), P(pp_b), n * L, a->pf, E);
    }
    float *y = m2pt_blocks_input(&a->dec);
    const float *mt = P(mask_tok), *pe = P(pos);
    for (int b = 0; b < n; b++) {
        for (int j = 0; j < Tv; j++)
            memcpy(y + ((size_t)b * T + a->keep[b * Tv + j]) * E, a->emb + ((size_t)b * Tv + j) * E,
                   (size_t)E * sizeof(float));
        for (int t = 0, k = 0; t < T; t++) {
            float *row = y + ((size_t)b * T + t) * E;
            if (a->masked[b * T + t]) {
                memcpy(row, mt, (size_t)E * sizeof(float));
                a->midx[b * M + k++] = t;
            }
            for (int e = 0; e < E; e++) row[e] += pe[(size_t)t * E + e];
            if (a->pf > 0 && t >= pre) {
                const float *q = a->pp + ((size_t)b * L + t - pre) * E;
                for (int e = 0; e < E; e++) row[e] += q[e];
            }
        }
    }
    const float *dec_out = m2pt_blocks_forward(&a->dec, n);
    /* prediction and loss on the masked tokens only */
    for (int b = 0; b < n; b++)
        for (int k = 0; k < M; k++) {
            const int t = a->midx[b * M + k], l = t - pre;
            memcpy(a->dec_m + ((size_t)b * M + k) * E, dec_out + ((size_t)b * T + t) * E, (size_t)E * sizeof(float));
            memcpy(a->tgt + ((size_t)b * M + k) * tf, target + ((size_t)b * L + l) * tf, (size_t)tf * sizeof(float));
            a->w[b * M + k] = weight[(size_t)b * L + l];
        }
    m2pt_layernorm_forward(a->dn, a->dn_mean, a->dn_rstd, a->dec_m, P(dn_w), P(dn_b), n * M, E);
    m2pt_linear_forward(a->pred, a->dn, P(pred_w), P(pred_b), n * M, E, a->out);
    if (a->spec.loss == M2PT_RECON_MSE) m2pt_recon_normalise(a->tgt, a->tgt, n * M, tf);
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < n * M; i++) {
        if (!(a->w[i] > 0.0f)) continue;
        sum += a->w[i] * m2pt_recon_token_loss(a->spec.loss, a->pred + (size_t)i * a->out, a->tgt + (size_t)i * tf,
                                               a->out, 0.0f, NULL);
        wsum += a->w[i];
    }
    a->wsum = wsum;
    return wsum > 0.0 ? (float)(sum / wsum) : 0.0f;
}

const float *m2pt_mae_backward(m2pt_mae *a) {
    const int n = a->n, T = a->T, D = a->D, E = a->E, Tv = a->Tv, M = a->M, L = a->L, pre = a->prefix;
    const int O = a->out, tf = a->tf;
    for (int i = 0; i < n * M; i++) {
        float *d = a->d_pred + (size_t)i * O;
        if (a->w[i] > 0.0f && a->wsum > 0.0)
            m2pt_recon_token_loss(a->spec.loss, a->pred + (size_t)i * O, a->tgt + (size_t)i * tf, O,
                                  (float)(a->w[i] / a->wsum), d);
        else
            memset(d, 0, (size_t)O * sizeof(float));
    }
    m2pt_linear_backward(a->d_dn, G(pred_w), G(pred_b), a->d_pred, a->dn, P(pred_w), n * M, E, O);
    memset(a->d_dec_m, 0, (size_t)n * M * E * sizeof(float));
    m2pt_layernorm_backward(a->d_dec_m, G(dn_w), G(dn_b), a->d_dn, a->dec_m, a->dn_mean, a->dn_rstd, P(dn_w), n * M,
                            E);
    memset(a->d_dec_out, 0, (size_t)n * T * E * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int k = 0; k < M; k++)
            memcpy(a->d_dec_out + ((size_t)b * T + a->midx[b * M + k]) * E, a->d_dec_m + ((size_t)b * M + k) * E,
                   (size_t)E * sizeof(float));
    const float *dy = m2pt_blocks_backward(&a->dec, a->d_dec_out);
    /* the decoder's input: position embedding, position features, mask token, encoded tokens */
    float *g_pos = G(pos), *g_mt = G(mask_tok);
    for (int b = 0; b < n; b++) {
        const float *db = dy + (size_t)b * T * E;
        for (size_t i = 0; i < (size_t)T * E; i++) g_pos[i] += db[i];
        for (int k = 0; k < M; k++) {
            const float *r = db + (size_t)a->midx[b * M + k] * E;
            for (int e = 0; e < E; e++) g_mt[e] += r[e];
        }
        for (int j = 0; j < Tv; j++)
            memcpy(a->d_emb + ((size_t)b * Tv + j) * E, db + (size_t)a->keep[b * Tv + j] * E,
                   (size_t)E * sizeof(float));
        if (a->pf > 0)
            memcpy(a->d_pp + (size_t)b * L * E, db + (size_t)pre * E, (size_t)L * E * sizeof(float));
    }
    if (a->pf > 0) m2pt_linear_backward(NULL, G(pp_w), G(pp_b), a->d_pp, a->pos_in, P(pp_w), n * L, a->pf, E);
    m2pt_linear_backward(a->d_norm, G(embed_w), G(embed_b), a->d_emb, a->enc_norm, P(embed_w), n * Tv, D, E);
    memset(a->d_enc_out, 0, (size_t)n * Tv * D * sizeof(float));
    m2pt_layernorm_backward(a->d_enc_out, G(norm_w), G(norm_b), a->d_norm, a->vis.res[a->vis.cfg.depth],
                            a->norm_mean, a->norm_rstd, P(norm_w), n * Tv, D);
    const float *dx = m2pt_blocks_backward(&a->vis, a->d_enc_out);
    memset(a->d_tokens, 0, (size_t)n * T * D * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int j = 0; j < Tv; j++)
            memcpy(a->d_tokens + ((size_t)b * T + a->keep[b * Tv + j]) * D, dx + ((size_t)b * Tv + j) * D,
                   (size_t)D * sizeof(float));
    return a->d_tokens;
}
