/* mae.h: config validation and the seeded per-sample masking. */
#include <math.h>
#include <stdio.h>

#include "mae.h"
#include "ops.h"
#include "rng.h"

#define MAE_MAX_DIM 65536
#define MAE_MAX_DEPTH 64
#define MAE_MASK_STREAM 0x6d61736b00000000ull /* "mask": the masking streams, one per sample */

int m2pt_mae_masked_count(double mask_ratio, int maskable) {
    if (maskable < 2) return 0;
    long m = (long)floor(mask_ratio * maskable + 0.5);
    if (m < 1) m = 1;
    if (m > maskable - 1) m = maskable - 1;
    return (int)m;
}

int m2pt_mae_config_check(const m2pt_mae_config *c, const m2pt_recon_spec *s, int tokens, char *err, size_t errlen) {
    char why[200] = "";
    const int L = s ? tokens - s->prefix_tokens : 0;
    if (!(c->mask_ratio > 0.0 && c->mask_ratio < 1.0))
        snprintf(why, sizeof why, "mask_ratio %g must be in (0, 1)", c->mask_ratio);
    else if (c->decoder_dim < 1 || c->decoder_dim > MAE_MAX_DIM || c->decoder_depth < 1 ||
             c->decoder_depth > MAE_MAX_DEPTH || c->decoder_heads < 1)
        snprintf(why, sizeof why, "decoder_dim (1..%d), decoder_depth (1..%d) and decoder_heads must be positive",
                 MAE_MAX_DIM, MAE_MAX_DEPTH);
    else if (c->decoder_dim % c->decoder_heads)
        snprintf(why, sizeof why, "decoder_dim %d is not divisible by decoder_heads %d", c->decoder_dim,
                 c->decoder_heads);
    else if (!s)
        snprintf(why, sizeof why, "no reconstruction spec");
    else if (s->loss != M2PT_RECON_MSE && s->loss != M2PT_RECON_CHAMFER && s->loss != M2PT_RECON_CLASS)
        snprintf(why, sizeof why, "the modality's recon_spec gives unknown loss %d (plugin bug)", s->loss);
    else if (s->prefix_tokens < 0 || L < 2)
        snprintf(why, sizeof why,
                 "%d tokens with %d prefix tokens leave %d maskable tokens; masking needs at least 2", tokens,
                 s->prefix_tokens, L);
    else if (s->pos_floats < 0 || s->pos_floats > MAE_MAX_DIM || s->target_floats < 1 ||
             s->target_floats > MAE_MAX_DIM)
        snprintf(why, sizeof why, "the modality's recon_spec gives target_floats %d, pos_floats %d (plugin bug)",
                 s->target_floats, s->pos_floats);
    else if (s->loss == M2PT_RECON_MSE && s->target_floats < 2)
        snprintf(why, sizeof why, "an MSE target needs at least 2 floats per token to be normalised (plugin bug)");
    else if (s->loss == M2PT_RECON_CHAMFER && s->target_floats % 3)
        snprintf(why, sizeof why, "a Chamfer target of %d floats is not a set of 3-d points (plugin bug)",
                 s->target_floats);
    else if (s->loss == M2PT_RECON_CLASS && (s->target_floats != 1 || s->classes < 2 || s->classes > MAE_MAX_DIM))
        snprintf(why, sizeof why, "a class target needs target_floats 1 and 2..%d classes, got %d and %d (plugin bug)",
                 MAE_MAX_DIM, s->target_floats, s->classes);
    else if (!m2pt_attention_supported(tokens, c->decoder_dim / c->decoder_heads))
        snprintf(why, sizeof why,
                 "the decoder's attention does not support %d tokens with head dim %d (decoder_dim / "
                 "decoder_heads); lower decoder_dim or raise decoder_heads",
                 tokens, c->decoder_dim / c->decoder_heads);
    if (why[0] && err) snprintf(err, errlen, "mae: %s", why);
    return why[0] ? -1 : 0;
}

/* Selection sampling (Knuth's algorithm S): token t of the L maskable ones is masked with
 * probability (still to mask) / (still to visit), which draws a uniform subset of exactly M in
 * one pass and without scratch memory. */
void m2pt_mae_mask(uint64_t seed, int n, int T, int prefix, double mask_ratio, int *keep, unsigned char *masked) {
    const int L = T - prefix, M = m2pt_mae_masked_count(mask_ratio, L), Tv = T - M;
    for (int i = 0; i < n; i++) {
        m2pt_rng r;
        m2pt_rng_seed(&r, seed ^ MAE_MASK_STREAM, (uint64_t)i);
        int *k = keep + (long)i * Tv, nk = 0, left = M;
        unsigned char *mk = masked + (long)i * T;
        for (int t = 0; t < prefix; t++) mk[t] = 0, k[nk++] = t;
        for (int t = 0; t < L; t++) {
            const int hit = left > 0 && (int)m2pt_rng_below(&r, (uint32_t)(L - t)) < left;
            mk[prefix + t] = (unsigned char)hit;
            if (hit)
                left--;
            else
                k[nk++] = prefix + t;
        }
    }
}
