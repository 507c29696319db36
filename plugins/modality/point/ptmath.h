/* Inline elementwise math of the point plugin, written so that loops over it vectorise (libm's
 * expf/erff calls do not): exp after Cephes' expf (relative error ~1e-7 over [-87, 88]) and
 * GELU in its tanh form, 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3). */
#ifndef M2PT_POINT_MATH_H
#define M2PT_POINT_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float pt_exp(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x; /* (fminf/fmaxf would not vectorise) */
    const float n = floorf(x * 1.44269504f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* x - n ln2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* y = gelu(x) and dy = gelu'(x) */
static inline void pt_gelu(float x, float *y, float *dy) {
    const float c = 0.7978845608f, x2 = x * x;
    const float u = c * x * (1.0f + 0.044715f * x2);
    const float s = 1.0f / (1.0f + pt_exp(-2.0f * u));
    *y = x * s;
    *dy = s + 2.0f * x * s * (1.0f - s) * c * (1.0f + 3.0f * 0.044715f * x2);
}

#endif
