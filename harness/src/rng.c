#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void m2pt_rng_seed(m2pt_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t m2pt_rng_u64(m2pt_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float m2pt_rng_uniform(m2pt_rng *r) { return (float)(m2pt_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t m2pt_rng_below(m2pt_rng *r, uint32_t n) {
    /* Lemire's multiply-shift; the tiny bias (< n / 2^32) is irrelevant for shuffles. */
    return (uint32_t)(((m2pt_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double m2pt_rng_normal(m2pt_rng *r) {
    double u1 = ((double)(m2pt_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double u2 = (double)(m2pt_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

float m2pt_rng_trunc_normal(m2pt_rng *r, float std) {
    for (;;) {
        double z = m2pt_rng_normal(r);
        if (z >= -2.0 && z <= 2.0) return (float)(z * std);
    }
}
