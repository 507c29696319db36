/* Branch-free float exp and GELU pieces that the compiler can vectorise inside `omp simd`
 * loops (glibc's vector math is only used under -ffast-math, which m2pt does not use: it
 * would make results depend on the optimiser). Accuracy: exp within ~2 ulp over the range
 * used here; erf within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26). */
#ifndef M2PT_FASTMATH_H
#define M2PT_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

/* The same on 16 lanes at once, in vector operations: m2pt_gelu_and_grad vectorised by `omp
 * simd` spends a third of its time in the division, the floor and the 2^n bit assembly. With
 * AVX-512 the rounding, the scaling by 2^n and the reciprocal (14 bits and one Newton step,
 * ~2^-28 relative) are single instructions; elsewhere the same steps in portable vector code.
 * Results agree with the scalar forms to a few ulp, not bit for bit. */

/* e^x as m2pt_expf: inputs clamped to [-87, 88] (below, ~1e-38 rather than a slow denormal). */
static inline vf m2pt_vexpf(vf x) {
#if defined(__AVX512F__)
    /* max/min return their second operand for a NaN one: keep x there so NaN propagates */
    x = (vf)_mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), (__m512)x));
    const vf n =
        (vf)_mm512_roundscale_ps((__m512)(x * 1.44269504088896341f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
    x = vselect(x < -87.0f, (vf){0} - 87.0f, x);
    x = vselect(x > 88.0f, (vf){0} + 88.0f, x);
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23 */
    n = vselect(n == n, n, (vf){0});                                 /* NaN: no undefined conversion */
#endif
    vf r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-06f;
    vf p = r * (1.0f / 720.0f) + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
#if defined(__AVX512F__)
    return (vf)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
    const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)bits;
#endif
}

/* 1 / d for d >= 1. */
static inline vf m2pt_vrecip(vf d) {
#if defined(__AVX512F__)
    const vf r = (vf)_mm512_rcp14_ps((__m512)d);
    return r * (2.0f - d * r);
#else
    return 1.0f / d;
#endif
}

/* m2pt_gelu_and_grad on 16 lanes. */
static inline vf m2pt_vgelu_and_grad(vf x, vf *grad) {
    const vf ax = (vf)((vi)x & 0x7fffffff);
    const vf z = vselect(ax < 1e4f, ax, (vf){0} + 1e4f) * 0.70710678118654752f; /* t stays finite */
    const vf e = m2pt_vexpf(-0.5f * x * x);
    const vf t = m2pt_vrecip(1.0f + 0.3275911f * z);
    vf poly = t * 1.061405429f - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    const vf erf_abs = 1.0f - poly * t * e;
    const vf erf = vselect(x < 0.0f, -erf_abs, erf_abs);
    const vf cdf = 0.5f * (1.0f + erf);
    *grad = cdf + x * e * 0.39894228040143268f;
    return x * cdf;
}

#endif
