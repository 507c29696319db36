/* 16-float vectors through GCC/clang vector extensions, for the engine's hand-vectorised loops
 * (gemm.c, attention.c, ops.c): one AVX-512 register with -march=native on such a CPU, two or
 * four narrower ones elsewhere. Loads and stores are unaligned and may alias any float. */
#ifndef M2PT_VEC_H
#define M2PT_VEC_H

#include <stdint.h>

/* Built without AVX-512 (ARCH=, make sanitize, make valgrind, make fuzz), GCC and clang warn that
 * passing a 64-byte vector "changes the ABI": these helpers are static inline, never called
 * across objects. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define VL 16 /* floats per vector */

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int vi __attribute__((vector_size(VL * sizeof(int))));
typedef float vf_u __attribute__((vector_size(VL * sizeof(float)), aligned(4), may_alias));

static inline vf vload(const float *p) { return *(const vf_u *)p; }
static inline void vstore(float *p, vf v) { *(vf_u *)p = v; }
/* a where mask is set (all ones), else b. */
static inline vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
static inline vf vmax(vf a, vf b) { return vselect(a < b, b, a); }
/* A store that bypasses the cache (AVX-512, p 64-byte aligned), for results not read again
 * until much later: no read-for-ownership of the cold line, no eviction of hot data. Callers
 * end with vstream_fence() before another thread may read them. Elsewhere a plain store. */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline void vstream(float *p, vf v) {
    if (((uintptr_t)p & 63) == 0)
        _mm512_stream_ps(p, (__m512)v);
    else
        vstore(p, v);
}
static inline void vstream_fence(void) { _mm_sfence(); }
#else
static inline void vstream(float *p, vf v) { vstore(p, v); }
static inline void vstream_fence(void) {}
#endif

/* Sum of the 16 lanes, in log2(16) steps. */
static inline float vhsum(vf v) {
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    return v[0];
}

#endif
