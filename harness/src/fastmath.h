/* Branch-free float exp and GELU pieces that the compiler can vectorise inside `omp simd`
 * loops (glibc's vector math is only used under -ffast-math, which m2pt does not use: it
 * would make results depend on the optimiser). Accuracy: exp within ~2 ulp over the range
 * used here; erf within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26). */
#ifndef M2PT_FASTMATH_H
#define M2PT_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for x in [-87, 88]; inputs outside are clamped (below: ~1e-38); NaN propagates. */
static inline float m2pt_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float n_int = n == n ? n : 0.0f; /* NaN in, NaN out (through r), but no UB in the cast */
    float r = x - n * 0.693145751953125f; /* ln 2 split in two for an exact reduction */
    r = r - n * 1.428606765330187e-06f;
    /* e^r on [-ln2/2, ln2/2]: degree-6 Taylor/Horner, error < 2e-8 relative */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n_int + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* GELU (erf form) and its derivative at x in one pass, sharing exp(-x^2 / 2):
 * gelu = x Phi(x), gelu' = Phi(x) + x phi(x). */
static inline float m2pt_gelu_and_grad(float x, float *grad) {
    const float z = fabsf(x) * 0.70710678118654752f; /* |x| / sqrt 2 */
    const float e = m2pt_expf(-0.5f * x * x);          /* = exp(-z^2) */
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    const float erf_abs = 1.0f - poly * t * e;
    const float erf = x < 0.0f ? -erf_abs : erf_abs;
    const float cdf = 0.5f * (1.0f + erf);
    *grad = cdf + x * e * 0.39894228040143268f; /* phi(x) = e / sqrt(2 pi) */
    return x * cdf;
}

#endif
