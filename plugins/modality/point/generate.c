/* One sample of the dataset: shape of class (index mod 12) with random shape parameters and
 * per-axis stretch, points uniform on its surface, a random 3D rotation, point dropout,
 * normalisation to the unit sphere, Gaussian jitter, normalisation again, int16 quantisation.
 * Each sample draws from its own random stream keyed by (seed, split, index), so a sample does
 * not depend on the split sizes and samples of different splits are independent draws. */
#include "point.h"

#include <math.h>

#define PI_F 3.14159265358979f

void gen_rotation(const m2pt_host *h, m2pt_rng_state *r, float rot[9]) {
    /* uniform unit quaternion (Shoemake 1992) */
    const float u1 = h->rng_uniform(r), u2 = 2 * PI_F * h->rng_uniform(r), u3 = 2 * PI_F * h->rng_uniform(r);
    const float a = sqrtf(1 - u1), b = sqrtf(u1);
    const float x = a * sinf(u2), y = a * cosf(u2), z = b * sinf(u3), w = b * cosf(u3);
    rot[0] = 1 - 2 * (y * y + z * z), rot[1] = 2 * (x * y - z * w), rot[2] = 2 * (x * z + y * w);
    rot[3] = 2 * (x * y + z * w), rot[4] = 1 - 2 * (x * x + z * z), rot[5] = 2 * (y * z - x * w);
    rot[6] = 2 * (x * z - y * w), rot[7] = 2 * (y * z + x * w), rot[8] = 1 - 2 * (x * x + y * y);
}

static void rotate(float *p, int n, const float *R) {
    for (int i = 0; i < n; i++) {
        float *q = p + (size_t)i * 3;
        const float x = q[0], y = q[1], z = q[2];
        q[0] = R[0] * x + R[1] * y + R[2] * z;
        q[1] = R[3] * x + R[4] * y + R[5] * z;
        q[2] = R[6] * x + R[7] * y + R[8] * z;
    }
}

/* centre on the centroid, scale the farthest point to radius 1 */
static void normalise(float *p, int n) {
    double c[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++) c[j] += p[(size_t)i * 3 + j];
    float r2 = 0;
    for (int i = 0; i < n; i++) {
        float *q = p + (size_t)i * 3, d = 0;
        for (int j = 0; j < 3; j++) {
            q[j] -= (float)(c[j] / n);
            d += q[j] * q[j];
        }
        r2 = d > r2 ? d : r2;
    }
    const float s = r2 > 0 ? 1.0f / sqrtf(r2) : 1.0f;
    for (size_t i = 0; i < (size_t)n * 3; i++) p[i] *= s;
}

void gen_sample(const m2pt_host *h, const pt_gen_params *g, uint64_t seed, int split, long index, float *work,
                int16_t *out) {
    const int n = g->points;
    m2pt_rng_state r;
    h->rng_seed(&r, seed, ((uint64_t)(split + 1) << 40) + (uint64_t)index);
    float stretch[3];
    const float la = (float)log(g->anisotropy);
    for (int j = 0; j < 3; j++) stretch[j] = expf(la * (2 * h->rng_uniform(&r) - 1));
    shape_sample(h, &r, (int)(index % PT_CLASSES), stretch, n, work);
    if (g->rotate) {
        float R[9];
        gen_rotation(h, &r, R);
        rotate(work, n, R);
    }
    /* dropout: the points are i.i.d., so dropping the last m is dropping a random subset; each
     * is replaced by a copy of a random kept point, keeping the count at n */
    const int m = (int)(h->rng_uniform(&r) * g->dropout * n);
    for (int i = n - m; i < n; i++) {
        const long src = (long)(h->rng_u64(&r) % (uint64_t)(n - m));
        for (int j = 0; j < 3; j++) work[(size_t)i * 3 + j] = work[(size_t)src * 3 + j];
    }
    normalise(work, n);
    if (g->jitter > 0) {
        const float s = (float)g->jitter, clip = 3 * s;
        for (size_t i = 0; i < (size_t)n * 3; i++) {
            float e = s * (float)h->rng_normal(&r);
            work[i] += e > clip ? clip : e < -clip ? -clip : e;
        }
        normalise(work, n);
    }
    for (size_t i = 0; i < (size_t)n * 3; i++) {
        const float q = roundf(work[i] * PT_QUANT);
        out[i] = (int16_t)(q > PT_QUANT ? PT_QUANT : q < -PT_QUANT ? -PT_QUANT : q);
    }
}
