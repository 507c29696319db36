/* Seeded, platform-independent random streams (xoshiro256** seeded by splitmix64).
 * A stream is identified by (seed, stream id); the same pair always yields the same numbers,
 * whatever else was drawn before, so adding a tensor never changes another tensor's init. */
#ifndef M2PT_RNG_H
#define M2PT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} m2pt_rng;

void m2pt_rng_seed(m2pt_rng *r, uint64_t seed, uint64_t stream);
uint64_t m2pt_rng_u64(m2pt_rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float m2pt_rng_uniform(m2pt_rng *r);
/* Uniform integer in [0, n). */
uint32_t m2pt_rng_below(m2pt_rng *r, uint32_t n);
/* Standard normal (Box-Muller in double precision). */
double m2pt_rng_normal(m2pt_rng *r);
/* Normal(0, std) truncated to [-2 std, 2 std] by rejection. */
float m2pt_rng_trunc_normal(m2pt_rng *r, float std);

#endif
