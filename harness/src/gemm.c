/* Register-tiled products for the block linears (see gemm.h for why not OpenBLAS here).
 *
 * A micro-tile is GEMM_MR rows of C times GEMM_NV vectors of GEMM_VL columns, held in registers
 * over a block of the reduction: per step k it loads GEMM_NV vectors of B's row k and, for
 * each row, broadcasts one element of A and multiply-adds (8 x 2 tiles: 16 accumulators, 16
 * FMAs for 10 loads). Loop order: reduction blocks of GEMM_KC, then column panels (the panel of
 * B, GEMM_KC x 32 floats = 16 KB, stays in L1 while every row tile passes), then row tiles.
 * Columns beyond the last whole vector (N not a multiple of 16) take a scalar loop. Vectors are
 * vec.h's: AVX-512 with -march=native, narrower units elsewhere. */
#include "gemm.h"

#include "fastmath.h"
#include "vec.h"

#define GEMM_VL VL  /* floats per vector */
#define GEMM_MR 8   /* rows per micro-tile */
#define GEMM_NV 2   /* vectors per micro-tile row */
#define GEMM_KC 128 /* reduction block */

enum { START_ZERO, START_BIAS, START_C };

/* What a tile starts from and does before its store, already offset to the tile. Passed by
 * pointer and read only outside the reduction loop, so that the loop keeps its pointers in
 * registers (passing these as arguments made GCC spill inside the loop: a 7% slower step). */
typedef struct {
    const float *bias, *res, *pre;
    float *keep, *act;
    long ldr, ldg, ldk;
    int start, gelu;
} tile_epi;

/* One micro-tile over K steps of the reduction. mr, nv and a_unit (A's row stride is 1) are
 * compile-time constants at every call, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(const int mr, const int nv, const int a_unit, float *c,
                                                       long ldc, const float *a, long ars, long acs, const float *b,
                                                       long ldb, int K, const tile_epi *e) {
    vf acc[GEMM_MR][GEMM_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = e->start == START_C      ? vload(c + r * ldc + v * GEMM_VL)
                        : e->start == START_BIAS ? vload(e->bias + v * GEMM_VL)
                                                 : (vf){0};
    for (int k = 0; k < K; k++) {
        vf bv[GEMM_NV];
        for (int v = 0; v < nv; v++) bv[v] = vload(b + k * ldb + v * GEMM_VL);
        const float *ak = a + k * acs;
        for (int r = 0; r < mr; r++) {
            const float x = a_unit ? ak[r] : ak[r * ars];
            for (int v = 0; v < nv; v++) acc[r][v] += x * bv[v];
        }
    }
    if (!e->res && !e->pre && !e->gelu && !e->keep) {
        for (int r = 0; r < mr; r++)
            for (int v = 0; v < nv; v++) vstore(c + r * ldc + v * GEMM_VL, acc[r][v]);
        return;
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            vf o = acc[r][v];
            if (e->res) o += vload(e->res + r * e->ldr + v * GEMM_VL);
            if (e->pre) {
                vf d;
                const vf act = m2pt_vgelu_and_grad(vload(e->pre + r * e->ldg + v * GEMM_VL), &d);
                vstore(e->act + r * e->ldg + v * GEMM_VL, act);
                o *= d;
            }
            if (e->keep) vstream(e->keep + r * e->ldk + v * GEMM_VL, o);
            if (e->gelu) {
                vf unused;
                o = m2pt_vgelu_and_grad(o, &unused);
            }
            vstore(c + r * ldc + v * GEMM_VL, o);
        }
}

#define TILE_ARGS c, ldc, a, ars, acs, b, ldb, K, e
#define TILE_CASE(m)                                                                                                 \
    case m:                                                                                                          \
        if (nv == 2) a_unit ? tile(m, 2, 1, TILE_ARGS) : tile(m, 2, 0, TILE_ARGS);                                   \
        else a_unit ? tile(m, 1, 1, TILE_ARGS) : tile(m, 1, 0, TILE_ARGS);                                           \
        break;

static void tile_dispatch(int mr, int nv, int a_unit, float *c, long ldc, const float *a, long ars, long acs,
                          const float *b, long ldb, int K, const tile_epi *e) {
    switch (mr) {
        TILE_CASE(8)
        TILE_CASE(7)
        TILE_CASE(6)
        TILE_CASE(5)
        TILE_CASE(4)
        TILE_CASE(3)
        TILE_CASE(2)
        TILE_CASE(1)
    default:
        break;
    }
}

void m2pt_gemm(const m2pt_gemm_args *args) {
    const m2pt_gemm_args local = *args, *g = &local; /* read once: callers build it just before */
    const int M = g->M, N = g->N, K = g->K, Nv = N / GEMM_VL * GEMM_VL;
    const int a_unit = g->ars == 1;
    int k0 = 0;
    do { /* at least once: K = 0 still writes the start value (and the residual) */
        const int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        const int start = g->accumulate || k0 > 0 ? START_C : g->bias ? START_BIAS : START_ZERO;
        const int last = k0 + kc >= K;
        const float *res = last ? g->res : NULL;
        float *keep = last ? g->keep : NULL;
        const float *pre = last ? g->gelu_pre : NULL;
        for (int j0 = 0; j0 < Nv; j0 += GEMM_NV * GEMM_VL) {
            const int nv = Nv - j0 >= GEMM_NV * GEMM_VL ? GEMM_NV : 1;
            for (int i0 = 0; i0 < M; i0 += GEMM_MR) {
                const int mr = M - i0 < GEMM_MR ? M - i0 : GEMM_MR;
                /* the next tile's rows of C (for writing) and of its epilogue's operands: when
                 * they are cold, their misses would stall the tile's last loads and stores */
                for (int r = i0 + GEMM_MR; g->prefetch && r < i0 + 2 * GEMM_MR && r < M; r++) {
                    __builtin_prefetch(g->c + r * g->ldc + j0, 1, 3);
                    if (nv > 1) __builtin_prefetch(g->c + r * g->ldc + j0 + GEMM_VL, 1, 3);
                    if (res) {
                        __builtin_prefetch(res + r * g->ldr + j0, 0, 3);
                        if (nv > 1) __builtin_prefetch(res + r * g->ldr + j0 + GEMM_VL, 0, 3);
                    }
                    if (pre) {
                        __builtin_prefetch(pre + r * g->ldg + j0, 0, 3);
                        if (nv > 1) __builtin_prefetch(pre + r * g->ldg + j0 + GEMM_VL, 0, 3);
                    }
                }
                const tile_epi e = {
                    .bias = g->bias ? g->bias + j0 : NULL,
                    .res = res ? res + i0 * g->ldr + j0 : NULL,
                    .pre = pre ? pre + i0 * g->ldg + j0 : NULL,
                    .act = pre ? g->gelu_act + i0 * g->ldg + j0 : NULL,
                    .keep = keep ? keep + i0 * g->ldk + j0 : NULL,
                    .ldr = g->ldr, .ldg = g->ldg, .ldk = g->ldk, .start = start, .gelu = last && g->gelu};
                tile_dispatch(mr, nv, a_unit, g->c + i0 * g->ldc + j0, g->ldc, g->a + i0 * g->ars + k0 * g->acs,
                              g->ars, g->acs, g->b + (long)k0 * g->ldb + j0, g->ldb, kc, &e);
            }
        }
        k0 += kc;
    } while (k0 < K);
    for (int i = 0; i < M; i++) /* the columns past the last whole vector */
        for (int j = Nv; j < N; j++) {
            float s = g->accumulate ? g->c[i * g->ldc + j] : g->bias ? g->bias[j] : 0.0f;
            for (int k = 0; k < K; k++) s += g->a[i * g->ars + k * g->acs] * g->b[(long)k * g->ldb + j];
            if (g->res) s += g->res[i * g->ldr + j];
            if (g->gelu_pre) {
                float d;
                g->gelu_act[i * g->ldg + j] = m2pt_gelu_and_grad(g->gelu_pre[i * g->ldg + j], &d);
                s *= d;
            }
            if (g->keep) g->keep[i * g->ldk + j] = s;
            if (g->gelu) {
                float unused;
                s = m2pt_gelu_and_grad(s, &unused);
            }
            g->c[i * g->ldc + j] = s;
        }
    if (g->keep) vstream_fence();
}

void m2pt_gemm_transpose(float *dst, const float *src, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(long)c * rows + r] = src[(long)r * cols + c];
}

void m2pt_gemm_linear(float *y, float *keep, const float *x, const float *wt, const float *b, const float *res, int N,
                      int in, int out) {
    m2pt_gemm(&(m2pt_gemm_args){.c = y, .ldc = out, .a = x, .ars = in, .acs = 1, .b = wt, .ldb = out, .M = N,
                                .N = out, .K = in, .bias = b, .res = res, .ldr = out, .keep = keep, .ldk = out,
                                .prefetch = 1});
}

void m2pt_gemm_linear_gelu(float *y, float *pre, const float *x, const float *wt, const float *b, int N, int in,
                           int out) {
    m2pt_gemm(&(m2pt_gemm_args){.c = y, .ldc = out, .a = x, .ars = in, .acs = 1, .b = wt, .ldb = out, .M = N,
                                .N = out, .K = in, .bias = b, .gelu = 1, .keep = pre, .ldk = out, .prefetch = 1});
}

void m2pt_gemm_linear_dx(float *dx, const float *dy, const float *W, const float *pre, float *act, int N, int in,
                         int out) {
    m2pt_gemm(&(m2pt_gemm_args){.c = dx, .ldc = in, .a = dy, .ars = out, .acs = 1, .b = W, .ldb = in, .M = N,
                                .N = in, .K = out, .gelu_pre = pre, .gelu_act = act, .ldg = in, .prefetch = 1});
}

void m2pt_gemm_linear_dw(float *dW, const float *dy, const float *x, int N, int in, int out, int o0, int o1) {
    if (o1 <= o0) return;
    m2pt_gemm(&(m2pt_gemm_args){.c = dW + (long)o0 * in, .ldc = in, .a = dy + o0, .ars = 1, .acs = out, .b = x,
                                .ldb = in, .M = o1 - o0, .N = in, .K = N, .accumulate = 1});
}
