/* Small shared helpers: aligned allocation, error strings, timing. */
#ifndef M2PT_UTIL_H
#define M2PT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define M2PT_ALIGN 64 /* cache line; also keeps AVX-512 loads aligned */

/* Round a float count up so that consecutive tensors start on a cache line. */
static inline size_t m2pt_round_floats(size_t n) {
    const size_t per_line = M2PT_ALIGN / sizeof(float);
    return (n + per_line - 1) / per_line * per_line;
}

/* 64-byte aligned, zero-filled allocation of n floats; NULL on failure. Free with free(). */
float *m2pt_alloc_floats(size_t n);

/* Monotonic wall clock in seconds. */
double m2pt_now(void);

/* FNV-1a 64-bit hash of a string; used to derive per-tensor RNG streams from names. */
uint64_t m2pt_hash_str(const char *s);

#endif
