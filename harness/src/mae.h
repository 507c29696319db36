/* Masked-autoencoder pretraining (He et al. 2022; Point-MAE for point clouds): the engine part.
 *
 *   tokens [n, T, dim] (the modality's tokenize: position embedding already added)
 *     -> per sample, a seeded random subset of the maskable tokens (all after the first
 *        prefix_tokens) is masked: exactly round(mask_ratio * L) of L, at least 1, at most L-1
 *     -> encoder: the model's own block stack ("blocks.*") on the prefix + visible tokens only
 *     -> "mae.norm" LayerNorm -> "mae.embed" linear dim -> decoder_dim
 *     -> decoder sequence of T tokens: encoded prefix/visible tokens at their places, the learned
 *        "mae.mask_token" at masked places, + "mae.pos" (learned, [T, decoder_dim]) + for
 *        pos_floats > 0 "mae.pos_proj" (linear pos_floats -> decoder_dim) of the plugin's
 *        per-token position features
 *     -> decoder blocks ("mae.blocks.<i>.*", the engine's block stack, mlp_ratio 4)
 *     -> "mae.dec_norm" LayerNorm -> "mae.pred" linear decoder_dim -> out_floats per token
 *     -> loss on masked tokens only (weighted by the plugin's per-token weight): normalised MSE,
 *        Chamfer distance or cross-entropy (m2pt_recon_loss), mean over counted masked tokens.
 *
 * Everything is allocated by m2pt_mae_alloc; forward and backward allocate nothing. */
#ifndef M2PT_MAE_H
#define M2PT_MAE_H

#include <stdint.h>

#include "blocks.h"
#include "m2pt/plugin.h"
#include "params.h"

typedef struct {
    double mask_ratio;                            /* fraction of maskable tokens masked (0.75) */
    int decoder_dim, decoder_depth, decoder_heads; /* the light decoder (32, 2, 2) */
} m2pt_mae_config;

#define M2PT_MAE_DEFAULTS {0.75, 32, 2, 2}

/* Validate a config against the token count; one line in err on failure. */
int m2pt_mae_config_check(const m2pt_mae_config *cfg, const m2pt_recon_spec *spec, int tokens, char *err,
                          size_t errlen);

/* Number of masked tokens per sample for L maskable tokens. */
int m2pt_mae_masked_count(double mask_ratio, int maskable);

/* Seeded per-sample masking: for each of n samples, writes into keep[n, T_vis] the token
 * indices the encoder sees (the prefix tokens first, then visible maskable tokens in increasing
 * order) and into masked[n, T] 1 for a masked token, 0 otherwise. Same seed, same mask; the
 * mask of sample i depends only on (seed, i). T_vis = T - masked_count. */
void m2pt_mae_mask(uint64_t seed, int n, int tokens, int prefix, double mask_ratio, int *keep, unsigned char *masked);

typedef struct m2pt_mae m2pt_mae; /* defined in mae.c */

/* Register the decoder tensors ("mae.*") in p, before m2pt_params_alloc; enc is the model's
 * block stack (already registered, its tensors are shared). NULL with err on failure. */
m2pt_mae *m2pt_mae_create(const m2pt_mae_config *cfg, const m2pt_recon_spec *spec, m2pt_blocks *enc, int tokens,
                          m2pt_params *p, char *err, size_t errlen);
/* After m2pt_params_alloc: all activation buffers for max_batch samples. 0, or -1 (out of memory). */
int m2pt_mae_alloc(m2pt_mae *a, int max_batch);
/* Forward: tokens [n, T, dim], the plugin's target/weight/pos (recon_target layout). Returns the
 * mean loss over counted masked tokens (0 if none is counted). */
float m2pt_mae_forward(m2pt_mae *a, const float *tokens, const float *target, const float *weight, const float *pos,
                       int n, uint64_t mask_seed);
/* Backward of the last forward: accumulates every gradient (decoder, encoder blocks) into the
 * gradient arena and returns dL/dtokens [n, T, dim] (0 at masked tokens), inside a's arena. */
const float *m2pt_mae_backward(m2pt_mae *a);
void m2pt_mae_free(m2pt_mae *a);

#endif
