/* Fused multi-head self-attention for short sequences.
 *
 * With T ~ 50 tokens and head dim ~ 16, per-(batch, head) sgemm calls spend more time in call
 * overhead and packing than in arithmetic. Here one task takes whole (batch, head) pairs, copies
 * the head's Q, K, V into small zero-padded local tiles, and runs every product as a register
 * micro-kernel: AT_R rows times one AT_C-wide vector of columns, accumulated in registers over
 * the reduction (GCC/clang vector extensions, so the same code uses AVX-512, AVX2 or SSE). The
 * earlier loop-per-row version kept its accumulators in memory, and the store-to-load chain
 * made attention a third of the training step.
 *
 * Padding: columns to a multiple of AT_C (zeros in K/V tiles), rows to a multiple of AT_R (zero
 * rows, whose results are never stored). The backward uses the O(T) softmax identity
 * rowsum(dP * P) = dO . O (as FlashAttention does). Summation orders are fixed, so results are
 * deterministic. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "ops.h"
#include "threads.h"

#define AT_R 4  /* rows per micro-tile */
#define AT_C 16 /* columns per micro-tile: one 512-bit vector, two 256-bit ones */

/* Built without AVX-512 (ARCH=, make sanitize, make valgrind, make fuzz), GCC and clang warn that
 * passing a 64-byte vector "changes the ABI": these helpers are static inline, never called
 * across objects. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float vf __attribute__((vector_size(AT_C * sizeof(float))));
typedef float vf_u __attribute__((vector_size(AT_C * sizeof(float)), aligned(4), may_alias));

static inline vf vload(const float *p) { return *(const vf_u *)p; }
static inline void vstore(float *p, vf v) { *(vf_u *)p = v; }
static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* Copy of a short row, inline: these run ~10^5 times per step, where a memcpy call costs more
 * than the copy. */
static inline void copy_row(float *restrict dst, const float *restrict src, int n) {
    int j = 0;
    for (; j + AT_C <= n; j += AT_C) vstore(dst + j, vload(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

int m2pt_attention_supported(int T, int hd) {
    const long tp = round_up(T, AT_C), tr = round_up(T, AT_R), hdp = round_up(hd, AT_C);
    return T > 0 && hd > 0 && T <= M2PT_ATT_MAX_T && tp * hd <= M2PT_ATT_MAX_TD && tr * hdp <= M2PT_ATT_MAX_TD;
}

/* dst [hd, Tp]: dst[d * Tp + j] = scale * src[j * ld + d] for j < T, 0 for T <= j < Tp. */
static void load_transposed(float *dst, const float *src, int T, int Tp, int ld, int hd) {
    for (int d = 0; d < hd; d++)
        for (int j = T; j < Tp; j++) dst[(long)d * Tp + j] = 0.0f;
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) dst[(long)d * Tp + j] = src[(long)j * ld + d];
}

/* dst [rows, hdp]: rows j < T from src (times scale), columns and rows beyond zero. */
static void load_rows(float *dst, const float *src, int T, int rows, int ld, int hd, int hdp, float scale) {
    memset(dst, 0, (size_t)rows * hdp * sizeof(float));
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) dst[(long)j * hdp + d] = scale * src[(long)j * ld + d];
}

/* c[r * ldc + 0..AT_C) = sum_k a[r * lda + k] * bt[k * ldb + 0..AT_C), r < AT_R. */
static inline void tile_a_bt(float *c, int ldc, const float *a, int lda, const float *bt, int ldb, int K) {
    vf acc[AT_R] = {0};
    for (int k = 0; k < K; k++) {
        const vf b = vload(bt + (long)k * ldb);
        for (int r = 0; r < AT_R; r++) acc[r] += a[r * lda + k] * b;
    }
    for (int r = 0; r < AT_R; r++) vstore(c + (long)r * ldc, acc[r]);
}

/* Rows i0..i0+AT_R of out = S V, S rows from s (stride lds, first T columns), V tile [T, hdp];
 * stores columns < hd of rows < T into out (row stride ldo). */
static inline void tile_s_v(float *out, int ldo, const float *s, int lds, const float *v, int hdp, int hd, int T,
                            int rows) {
    for (int c0 = 0; c0 < hdp; c0 += AT_C) {
        vf acc[AT_R] = {0};
        for (int j = 0; j < T; j++) {
            const vf b = vload(v + (long)j * hdp + c0);
            for (int r = 0; r < AT_R; r++) acc[r] += s[r * lds + j] * b;
        }
        const int n = hd - c0 < AT_C ? hd - c0 : AT_C;
        for (int r = 0; r < rows; r++) {
            if (n == AT_C) {
                vstore(out + (long)r * ldo + c0, acc[r]);
            } else {
                float tmp[AT_C];
                vstore(tmp, acc[r]);
                copy_row(out + (long)r * ldo + c0, tmp, n);
            }
        }
    }
}

/* Softmax of the first T entries of row (Tp wide, 64-byte aligned, Tp a multiple of AT_C),
 * written to p[0..T) and left in row. pad[0..Tp) adds 0 or -inf (padding columns drop out of
 * the max), pad[Tp..2Tp) multiplies by 1 or 0 (and out of the sum). Whole-vector loops over
 * aligned rows: no peeled or tail iterations, and loads that match the tile's stores. */
static inline void softmax_row(float *restrict row, float *restrict p, const float *restrict pad, int T, int Tp) {
    const float *restrict add = pad, *restrict mul = pad + Tp;
    float mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx) aligned(row, add : 64)
    for (int j = 0; j < Tp; j++) mx = row[j] + add[j] > mx ? row[j] + add[j] : mx;
#pragma omp simd reduction(+ : sum) aligned(row, add, mul : 64)
    for (int j = 0; j < Tp; j++) {
        row[j] = m2pt_expf(row[j] + add[j] - mx) * mul[j];
        sum += row[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd aligned(row : 64)
    for (int j = 0; j < Tp; j++) row[j] *= inv;
    copy_row(p, row, T);
}

typedef struct {
    float *out, *P, *d_qkv;
    const float *qkv, *cP, *d_out, *cout;
    int B, T, D, H;
} att_args;

static void att_forward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    const int T = a->T, D = a->D, H = a->H, hd = D / H, ld = 3 * D;
    const int Tp = round_up(T, AT_C), Tr = round_up(T, AT_R), hdp = round_up(hd, AT_C);
    const float scale = 1.0f / sqrtf((float)hd);
    _Alignas(64) float q[M2PT_ATT_MAX_TD], kt[M2PT_ATT_MAX_TD], v[M2PT_ATT_MAX_TD], s[AT_R * M2PT_ATT_MAX_T];
    _Alignas(64) float pad[2 * M2PT_ATT_MAX_T];
    for (int j = 0; j < Tp; j++) pad[j] = j < T ? 0.0f : -INFINITY, pad[Tp + j] = j < T ? 1.0f : 0.0f;
    long j0, j1;
    m2pt_split((long)a->B * H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) {
        const int b = (int)(job / H), h = (int)(job % H);
        const float *base = a->qkv + (long)b * T * ld + h * hd;
        load_rows(q, base, T, Tr, ld, hd, hd, scale); /* [Tr, hd], pre-scaled */
        load_transposed(kt, base + D, T, Tp, ld, hd);
        load_rows(v, base + 2 * D, T, T, ld, hd, hdp, 1.0f);
        for (int i0 = 0; i0 < Tr; i0 += AT_R) {
            const int rows = T - i0 < AT_R ? T - i0 : AT_R;
            for (int c0 = 0; c0 < Tp; c0 += AT_C) tile_a_bt(s + c0, Tp, q + (long)i0 * hd, hd, kt + c0, Tp, hd);
            for (int r = 0; r < rows; r++) softmax_row(s + (long)r * Tp, a->P + (job * T + i0 + r) * T, pad, T, Tp);
            /* rows >= `rows` of s are zero (zero query rows), so they add nothing */
            tile_s_v(a->out + ((long)b * T + i0) * D + h * hd, D, s, Tp, v, hdp, hd, T, rows);
        }
    }
}

void m2pt_attention_forward(float *out, float *P, const float *qkv, int B, int T, int D, int H) {
    att_args a = {.out = out, .P = P, .qkv = qkv, .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_forward_task, &a);
}

/* Scratch of one backward (batch, head) task, [rows, hdp] or [hd, Tp] tiles. */
typedef struct {
    _Alignas(64) float vt[M2PT_ATT_MAX_TD], k[M2PT_ATT_MAX_TD], q[M2PT_ATT_MAX_TD], dO[M2PT_ATT_MAX_TD];
    float dk[M2PT_ATT_MAX_TD], dv[M2PT_ATT_MAX_TD], ds[AT_R * M2PT_ATT_MAX_T], p[AT_R * M2PT_ATT_MAX_T];
} att_scratch;

static void att_backward_head(const att_args *a, long job, att_scratch *w) {
    const int T = a->T, D = a->D, H = a->H, hd = D / H, ld = 3 * D;
    const int Tp = round_up(T, AT_C), Tr = round_up(T, AT_R), hdp = round_up(hd, AT_C);
    const float scale = 1.0f / sqrtf((float)hd);
    const int b = (int)(job / H), h = (int)(job % H);
    const float *base = a->qkv + (long)b * T * ld + h * hd;
    float *dbase = a->d_qkv + (long)b * T * ld + h * hd;
    load_transposed(w->vt, base + 2 * D, T, Tp, ld, hd);
    load_rows(w->k, base + D, T, T, ld, hd, hdp, 1.0f);
    load_rows(w->q, base, T, Tr, ld, hd, hdp, 1.0f);
    load_rows(w->dO, a->d_out + (long)b * T * D + h * hd, T, Tr, D, hd, hdp, 1.0f);
    memset(w->dk, 0, (size_t)T * hdp * sizeof(float));
    memset(w->dv, 0, (size_t)T * hdp * sizeof(float));
    for (int i0 = 0; i0 < Tr; i0 += AT_R) {
        const int rows = T - i0 < AT_R ? T - i0 : AT_R;
        /* dP = dO V^T for AT_R rows, then dS = P * (dP - dO . O) * scale */
        for (int c0 = 0; c0 < Tp; c0 += AT_C)
            tile_a_bt(w->ds + c0, Tp, w->dO + (long)i0 * hdp, hdp, w->vt + c0, Tp, hd);
        for (int r = 0; r < AT_R; r++) {
            float *restrict ds = w->ds + (long)r * Tp, *restrict pr = w->p + (long)r * Tp;
            if (r >= rows) {
                memset(ds, 0, (size_t)T * sizeof(float));
                memset(pr, 0, (size_t)T * sizeof(float));
                continue;
            }
            const float *restrict O = a->cout + ((long)b * T + i0 + r) * D + h * hd;
            const float *restrict dO = w->dO + (long)(i0 + r) * hdp;
            copy_row(pr, a->cP + (job * T + i0 + r) * T, T);
            float Di = 0.0f;
            for (int d = 0; d < hd; d++) Di += dO[d] * O[d];
#pragma omp simd
            for (int j = 0; j < T; j++) ds[j] = pr[j] * (ds[j] - Di) * scale;
        }
        /* dQ rows = dS K */
        tile_s_v(dbase + (long)i0 * ld, ld, w->ds, Tp, w->k, hdp, hd, T, rows);
        /* dK[j] += sum_r dS[r][j] q_r, dV[j] += sum_r P[r][j] dO_r */
        for (int c0 = 0; c0 < hdp; c0 += AT_C) {
            vf qr[AT_R], gr[AT_R];
            for (int r = 0; r < AT_R; r++) {
                qr[r] = vload(w->q + (long)(i0 + r) * hdp + c0);
                gr[r] = vload(w->dO + (long)(i0 + r) * hdp + c0);
            }
            for (int j = 0; j < T; j++) {
                float *dkj = w->dk + (long)j * hdp + c0, *dvj = w->dv + (long)j * hdp + c0;
                vf k = vload(dkj), v = vload(dvj);
                for (int r = 0; r < AT_R; r++) {
                    k += w->ds[r * Tp + j] * qr[r];
                    v += w->p[r * Tp + j] * gr[r];
                }
                vstore(dkj, k), vstore(dvj, v);
            }
        }
    }
    for (int j = 0; j < T; j++) {
        copy_row(dbase + (long)j * ld + D, w->dk + (long)j * hdp, hd);
        copy_row(dbase + (long)j * ld + 2 * D, w->dv + (long)j * hdp, hd);
    }
}

static void att_backward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    att_scratch w;
    long j0, j1;
    m2pt_split((long)a->B * a->H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) att_backward_head(a, job, &w);
}

void m2pt_attention_backward(float *d_qkv, const float *d_out, const float *qkv, const float *P,
                             const float *out, int B, int T, int D, int H) {
    att_args a = {.d_qkv = d_qkv, .d_out = d_out, .qkv = qkv, .cP = P, .cout = out,
                  .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_backward_task, &a);
}
