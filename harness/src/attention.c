/* Fused multi-head self-attention for short sequences.
 *
 * With T ~ 50 tokens and head dim ~ 16, per-(batch, head) sgemm calls spend more time in call
 * overhead and packing than in arithmetic. Here one task takes whole (batch, head) pairs and
 * runs every product through the register-tiled kernels of gemm.c (8 rows x 32 columns in
 * registers), reading Q, K, V, dO and writing out, dQ where they lie in the [B*T, 3D] rows when
 * the head dim is a multiple of 16; otherwise through small zero-padded copies. Only K^T (V^T in
 * the backward) is always copied, transposed: it is the B operand of the scores. Query rows go
 * in blocks whose scores fit AT_BLOCK floats (a whole head up to 256 tokens): few product calls
 * per head (their setup cost dominated attention with 16-row blocks), scores stay in L1/L2.
 *
 * The softmax reduces whole vectors (max and sum across a row's vectors, then one logarithmic
 * reduction across lanes): the compiler's own `omp simd` reduction had become a chain of 16
 * dependent scalar adds per row, a fifth of the forward. Padding columns (T <= j < Tp) drop
 * out through an additive -inf / multiplicative 0 mask. The backward uses the O(T) softmax
 * identity rowsum(dP * P) = dO . O (as FlashAttention does). Summation orders are fixed, so
 * results are deterministic and independent of the thread count. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "gemm.h"
#include "ops.h"
#include "threads.h"

#define AT_C 16  /* floats per vector: one 512-bit register, two 256-bit ones */
#define AT_BLOCK 16384 /* floats of scores per row block */

/* Built without AVX-512 (ARCH=, make sanitize, make valgrind, make fuzz), GCC and clang warn that
 * passing a 64-byte vector "changes the ABI": these helpers are static inline, never called
 * across objects. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float vf __attribute__((vector_size(AT_C * sizeof(float))));
typedef int vi __attribute__((vector_size(AT_C * sizeof(int))));
typedef float vf_u __attribute__((vector_size(AT_C * sizeof(float)), aligned(4), may_alias));

static inline vf vload(const float *p) { return *(const vf_u *)p; }
static inline void vstore(float *p, vf v) { *(vf_u *)p = v; }
static inline vf vmax(vf a, vf b) {
    const vi m = a < b;
    return (vf)(((vi)a & ~m) | ((vi)b & m));
}
/* Across the 16 lanes, in log2(16) steps. */
static inline float hsum(vf v) {
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    return v[0];
}
static inline float hmax(vf v) {
    v = vmax(v, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    v = vmax(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    v = vmax(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    v = vmax(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
    return v[0];
}
static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }
/* Query rows per block: as many as fit AT_BLOCK floats of scores (rows x Tp); the [rows, hdp]
 * output tiles then fit M2PT_ATT_MAX_TD, since rows <= T and T x hdp does (supported()). */
static inline int block_rows(int T, int Tp) {
    const int rb = AT_BLOCK / Tp;
    return rb < 1 ? 1 : rb > T ? T : rb;
}

/* Copy of a short row, inline: these run ~10^5 times per step, where a memcpy call costs more
 * than the copy. */
static inline void copy_row(float *restrict dst, const float *restrict src, int n) {
    int j = 0;
    for (; j + AT_C <= n; j += AT_C) vstore(dst + j, vload(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

int m2pt_attention_supported(int T, int hd) {
    const long tp = round_up(T, AT_C), tr = round_up(T, 4), hdp = round_up(hd, AT_C);
    return T > 0 && hd > 0 && T <= M2PT_ATT_MAX_T && tp * hd <= M2PT_ATT_MAX_TD && tr * hdp <= M2PT_ATT_MAX_TD;
}

/* dst [hd, Tp]: dst[d * Tp + j] = scale * src[j * ld + d] for j < T, 0 for T <= j < Tp. */
static void load_transposed(float *dst, const float *src, int T, int Tp, long ld, int hd, float scale) {
    for (int d = 0; d < hd; d++)
        for (int j = T; j < Tp; j++) dst[(long)d * Tp + j] = 0.0f;
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) dst[(long)d * Tp + j] = scale * src[(long)j * ld + d];
}

/* T rows of hd floats at src (stride ld) as an operand of whole vectors: src itself when hd is
 * a multiple of AT_C, else a copy zero-padded to [T, hdp] in tile. */
typedef struct {
    const float *p;
    long ld;
} operand;

static operand rows_operand(float *tile, const float *src, int T, long ld, int hd, int hdp) {
    if (hd == hdp) return (operand){src, ld};
    for (int j = 0; j < T; j++) {
        copy_row(tile + (long)j * hdp, src + (long)j * ld, hd);
        for (int d = hd; d < hdp; d++) tile[(long)j * hdp + d] = 0.0f;
    }
    return (operand){tile, hdp};
}

/* out[r][0..hd) for rows < n from a [n, hdp] tile (only when hd is not a multiple of AT_C). */
static void store_rows(float *out, long ldo, const float *tile, int n, int hd, int hdp) {
    for (int r = 0; r < n; r++) copy_row(out + (long)r * ldo, tile + (long)r * hdp, hd);
}

/* C [M, N] (ldc) = A [M, K] (row stride ars, column stride acs) B [K, N] (ldb), or C += with acc. */
static inline void product(float *c, long ldc, const float *a, long ars, long acs, const float *b, long ldb, int M,
                           int N, int K, int acc) {
    m2pt_gemm(&(m2pt_gemm_args){.c = c, .ldc = ldc, .a = a, .ars = ars, .acs = acs, .b = b, .ldb = ldb, .M = M,
                                .N = N, .K = K, .accumulate = acc});
}

/* Softmax of the first T entries of row (Tp wide, 64-byte aligned, Tp a multiple of AT_C),
 * left in row (padding columns 0) and copied to p[0..T). mask[0..Tp) adds 0 or -inf (padding
 * drops out of the max), mask[Tp..2Tp) multiplies by 1 or 0 (and out of the sum). */
static inline void softmax_row(float *restrict row, float *restrict p, const float *restrict mask, int T, int Tp) {
    const float *restrict add = mask, *restrict mul = mask + Tp;
    vf m = vload(row) + vload(add);
    for (int j = AT_C; j < Tp; j += AT_C) m = vmax(m, vload(row + j) + vload(add + j));
    const float mx = hmax(m);
#pragma omp simd aligned(row, add, mul : 64)
    for (int j = 0; j < Tp; j++) row[j] = m2pt_expf(row[j] + add[j] - mx) * mul[j];
    vf s = vload(row);
    for (int j = AT_C; j < Tp; j += AT_C) s += vload(row + j);
    const vf inv = (vf){0} + 1.0f / hsum(s);
    for (int j = 0; j < Tp; j += AT_C) vstore(row + j, vload(row + j) * inv);
    copy_row(p, row, T);
}

typedef struct {
    float *out, *P, *d_qkv;
    const float *qkv, *cP, *d_out, *cout;
    int B, T, D, H;
} att_args;

/* Scratch of one forward task. */
typedef struct {
    _Alignas(64) float kt[M2PT_ATT_MAX_TD], v[M2PT_ATT_MAX_TD], o[M2PT_ATT_MAX_TD];
    _Alignas(64) float s[AT_BLOCK], mask[2 * M2PT_ATT_MAX_T];
} att_fwd_scratch;

static void att_forward_head(const att_args *a, long job, att_fwd_scratch *w) {
    const int T = a->T, D = a->D, H = a->H, hd = D / H, Tp = round_up(T, AT_C), hdp = round_up(hd, AT_C);
    const long ld = 3L * D;
    const int b = (int)(job / H), h = (int)(job % H);
    const float *base = a->qkv + (long)b * T * ld + h * hd;
    load_transposed(w->kt, base + D, T, Tp, ld, hd, 1.0f / sqrtf((float)hd)); /* [hd, Tp], pre-scaled */
    const operand v = rows_operand(w->v, base + 2 * D, T, ld, hd, hdp);
    float *out = a->out + (long)b * T * D + h * hd;
    for (int i0 = 0, rb = block_rows(T, Tp); i0 < T; i0 += rb) {
        const int rows = T - i0 < rb ? T - i0 : rb;
        product(w->s, Tp, base + i0 * ld, ld, 1, w->kt, Tp, rows, Tp, hd, 0); /* scores */
        for (int r = 0; r < rows; r++) softmax_row(w->s + (long)r * Tp, a->P + (job * T + i0 + r) * T, w->mask, T, Tp);
        if (hd == hdp) {
            product(out + (long)i0 * D, D, w->s, Tp, 1, v.p, v.ld, rows, hd, T, 0);
        } else {
            product(w->o, hdp, w->s, Tp, 1, v.p, v.ld, rows, hdp, T, 0);
            store_rows(out + (long)i0 * D, D, w->o, rows, hd, hdp);
        }
    }
}

static void att_forward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    att_fwd_scratch w;
    const int T = a->T, Tp = round_up(T, AT_C);
    for (int j = 0; j < Tp; j++) w.mask[j] = j < T ? 0.0f : -INFINITY, w.mask[Tp + j] = j < T ? 1.0f : 0.0f;
    long j0, j1;
    m2pt_split((long)a->B * a->H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) att_forward_head(a, job, &w);
}

void m2pt_attention_forward(float *out, float *P, const float *qkv, int B, int T, int D, int H) {
    att_args a = {.out = out, .P = P, .qkv = qkv, .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_forward_task, &a);
}

/* Scratch of one backward task. */
typedef struct {
    _Alignas(64) float vt[M2PT_ATT_MAX_TD], k[M2PT_ATT_MAX_TD], q[M2PT_ATT_MAX_TD], dO[M2PT_ATT_MAX_TD];
    _Alignas(64) float dk[M2PT_ATT_MAX_TD], dv[M2PT_ATT_MAX_TD], dq[M2PT_ATT_MAX_TD];
    _Alignas(64) float ds[AT_BLOCK], p[AT_BLOCK];
} att_bwd_scratch;

static void att_backward_head(const att_args *a, long job, att_bwd_scratch *w) {
    const int T = a->T, D = a->D, H = a->H, hd = D / H, Tp = round_up(T, AT_C), hdp = round_up(hd, AT_C);
    const long ld = 3L * D;
    const float scale = 1.0f / sqrtf((float)hd);
    const int b = (int)(job / H), h = (int)(job % H);
    const float *base = a->qkv + (long)b * T * ld + h * hd, *dO = a->d_out + (long)b * T * D + h * hd;
    const float *O = a->cout + (long)b * T * D + h * hd;
    float *dbase = a->d_qkv + (long)b * T * ld + h * hd;
    load_transposed(w->vt, base + 2 * D, T, Tp, ld, hd, 1.0f);
    const operand k = rows_operand(w->k, base + D, T, ld, hd, hdp), q = rows_operand(w->q, base, T, ld, hd, hdp);
    const operand g = rows_operand(w->dO, dO, T, D, hd, hdp);
    memset(w->dk, 0, (size_t)T * hdp * sizeof(float));
    memset(w->dv, 0, (size_t)T * hdp * sizeof(float));
    for (int i0 = 0, rb = block_rows(T, Tp); i0 < T; i0 += rb) {
        const int rows = T - i0 < rb ? T - i0 : rb;
        /* dP = dO V^T, then dS = P * (dP - dO . O) * scale; P zero-padded to Tp */
        product(w->ds, Tp, dO + (long)i0 * D, D, 1, w->vt, Tp, rows, Tp, hd, 0);
        for (int r = 0; r < rows; r++) {
            float *restrict ds = w->ds + (long)r * Tp, *restrict pr = w->p + (long)r * Tp;
            copy_row(pr, a->cP + (job * T + i0 + r) * T, T);
            for (int j = T; j < Tp; j++) pr[j] = 0.0f;
            const float *o = O + (long)(i0 + r) * D, *go = dO + (long)(i0 + r) * D;
            float Di = 0.0f;
            for (int d = 0; d < hd; d++) Di += go[d] * o[d];
            for (int j = 0; j < Tp; j += AT_C)
                vstore(ds + j, vload(pr + j) * (vload(ds + j) - Di) * scale);
        }
        /* dQ rows = dS K */
        if (hd == hdp) {
            product(dbase + (long)i0 * ld, ld, w->ds, Tp, 1, k.p, k.ld, rows, hd, T, 0);
        } else {
            product(w->dq, hdp, w->ds, Tp, 1, k.p, k.ld, rows, hdp, T, 0);
            store_rows(dbase + (long)i0 * ld, ld, w->dq, rows, hd, hdp);
        }
        /* dK += dS^T Q, dV += P^T dO over this block's rows */
        product(w->dk, hdp, w->ds, 1, Tp, q.p + (long)i0 * q.ld, q.ld, T, hdp, rows, 1);
        product(w->dv, hdp, w->p, 1, Tp, g.p + (long)i0 * g.ld, g.ld, T, hdp, rows, 1);
    }
    store_rows(dbase + D, ld, w->dk, T, hd, hdp);
    store_rows(dbase + 2 * D, ld, w->dv, T, hd, hdp);
}

static void att_backward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    att_bwd_scratch w;
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
