/* Fused multi-head self-attention for short sequences.
 *
 * With T ~ 50 tokens and head dim ~ 16, per-(batch, head) sgemm calls spend more time in call
 * overhead and packing than in arithmetic. Here one task takes whole (batch, head) pairs and
 * runs every product through the register-tiled kernels of gemm.c, reading Q, K, V, dO and
 * writing out, dQ, dK, dV where they lie in the [B*T, D] and [B*T, 3D] rows when the head dim
 * is a multiple of 16 (otherwise through small zero-padded copies).
 *
 * The scores are computed transposed, key-major: S^T = K (scale Q)^T, a row per key and a
 * column per query. The softmax over keys then runs down columns, 16 queries per vector, with
 * no reduction across lanes (the row-wise softmax spent most of its time in the max and sum
 * reductions across each row's vectors and their latency). The probabilities stay in scratch
 * for the output product and are saved the same way for the backward (P^T, rows padded to Tp =
 * T rounded up to 16, streamed past the cache), where they are directly the A operand of every
 * product that reads them: out = P V and dQ = dS K read P^T and dS^T down their columns (A with
 * unit row stride: only the real queries, straight into the output rows), dV = P^T dO and dK =
 * dS^T Q along their rows. The one transposed input a head needs (Q^T in the forward, dO^T in
 * the backward) is made 16 x 16 blocks at a time in registers. Queries go in column blocks
 * whose scores fit AT_BLOCK floats (a whole head up to T = 128; the large shape's 197 tokens in
 * 3 blocks).
 *
 * The backward uses the softmax identity dS = P * (dP - rowsum(P * dP)), the row sums again
 * down columns. Summation orders are fixed, so results are deterministic and independent of the
 * thread count. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "gemm.h"
#include "ops.h"
#include "threads.h"
#include "vec.h"

#define AT_C VL         /* floats per vector */
#define AT_BLOCK 16384 /* floats of scores per column block (at least 16 columns: T <= 1024) */

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

size_t m2pt_attention_p_floats(int B, int T, int H) { return (size_t)B * H * T * round_up(T, AT_C); }

int m2pt_attention_supported(int T, int hd) {
    const long tp = round_up(T, AT_C), hdp = round_up(hd, AT_C);
    return T > 0 && hd > 0 && T <= M2PT_ATT_MAX_T && tp * hdp <= M2PT_ATT_MAX_TD;
}

/* Query columns per block: as many whole vectors as fit AT_BLOCK floats of scores (T rows). */
static inline int block_cols(int T, int Tp) {
    const int cb = AT_BLOCK / T / AT_C * AT_C;
    return cb < AT_C ? AT_C : cb > Tp ? Tp : cb;
}

/* ---------------------------------------------------------------- 16 x 16 transposes */

/* One step of the in-register transpose: rows i and i + b exchange their off-diagonal b x b
 * blocks (b = 8, 4, 2, 1 in turn; Hacker's-Delight style recursive block transpose). */
#define TR_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define TR_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define TR_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define TR_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define TR_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define TR_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define TR_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define TR_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define TR_STEP(b)                                                                                                   \
    for (int i = 0; i < AT_C; i++)                                                                                   \
        if (!(i & (b))) {                                                                                            \
            const vf x = r[i], y = r[i + (b)];                                                                       \
            r[i] = __builtin_shufflevector(x, y, TR_LO##b);                                                          \
            r[i + (b)] = __builtin_shufflevector(x, y, TR_HI##b);                                                    \
        }

/* dst[d * ldd + i] = scale * src[i * lds + d] for i < 16, d < nd, where rows i >= ni read as 0
 * (ni, nd <= 16). */
static inline void transpose16(float *restrict dst, long ldd, const float *restrict src, long lds, int ni, int nd,
                               float scale) {
    vf r[AT_C];
    for (int i = 0; i < AT_C; i++) {
        if (i >= ni) {
            r[i] = (vf){0};
        } else if (nd == AT_C) {
            r[i] = vload(src + i * lds) * scale;
        } else {
            _Alignas(64) float row[AT_C] = {0};
            for (int d = 0; d < nd; d++) row[d] = src[i * lds + d];
            r[i] = vload(row) * scale;
        }
    }
    TR_STEP(8)
    TR_STEP(4)
    TR_STEP(2)
    TR_STEP(1)
    for (int d = 0; d < nd; d++) vstore(dst + d * ldd, r[d]);
}

/* dst[c * ldd + r] = scale * src[r * lds + c] for r < nr, c < nc, and 0 for nr <= r < rpad (the
 * zero padding of dst's rows; rpad a multiple of 16), 16 x 16 blocks at a time. */
static void transpose(float *dst, long ldd, const float *src, long lds, int nr, int nc, int rpad, float scale) {
    for (int r0 = 0; r0 < rpad; r0 += AT_C)
        for (int c0 = 0; c0 < nc; c0 += AT_C) {
            const int ni = nr - r0 < AT_C ? nr - r0 : AT_C, nd = nc - c0 < AT_C ? nc - c0 : AT_C;
            transpose16(dst + (long)c0 * ldd + r0, ldd, src + (long)r0 * lds + c0, lds, ni < 0 ? 0 : ni, nd, scale);
        }
}

/* ---------------------------------------------------------------- operands and products */

/* T rows of hd floats at src (stride ld) as an operand of whole vectors: src itself when hd is
 * a multiple of AT_C, else a copy zero-padded to [T, hdp] in tile. */
typedef struct {
    const float *p;
    long ld;
} operand;

static operand rows_operand(float *tile, const float *src, int T, long ld, int hd, int hdp) {
    if (hd == hdp) return (operand){src, ld};
    for (int j = 0; j < T; j++) {
        for (int d = 0; d < hd; d++) tile[(long)j * hdp + d] = src[(long)j * ld + d];
        for (int d = hd; d < hdp; d++) tile[(long)j * hdp + d] = 0.0f;
    }
    return (operand){tile, hdp};
}

/* Where n rows of hd outputs go: straight to out (stride ldo) when hd is a multiple of AT_C,
 * else to a [n, hdp] tile that store_rows then copies out. */
static operand rows_target(float *tile, float *out, long ldo, int hd, int hdp) {
    return hd == hdp ? (operand){out, ldo} : (operand){tile, hdp};
}

static void store_rows(float *out, long ldo, const operand *t, int n, int hd) {
    if (t->p == out) return;
    for (int r = 0; r < n; r++)
        for (int d = 0; d < hd; d++) out[(long)r * ldo + d] = t->p[(long)r * t->ld + d];
}

/* C [M, N] (ldc) = A [M, K] (row stride ars, column stride acs) B [K, N] (ldb), or C += with acc. */
static inline void product(float *c, long ldc, const float *a, long ars, long acs, const float *b, long ldb, int M,
                           int N, int K, int acc) {
    m2pt_gemm(&(m2pt_gemm_args){.c = c, .ldc = ldc, .a = a, .ars = ars, .acs = acs, .b = b, .ldb = ldb, .M = M,
                                .N = N, .K = K, .accumulate = acc});
}

/* ---------------------------------------------------------------- softmax down columns */

/* s[j][c] = softmax over j < T of s[j][c], in place, for the w columns of s [T, w] (w a
 * multiple of AT_C); the probabilities are also streamed past the cache to p (row stride ldp),
 * kept for the backward while s feeds the next product from cache. */
static void softmax_columns(float *restrict s, float *restrict p, long ldp, int T, int w) {
    _Alignas(64) float mx[M2PT_ATT_MAX_T], z[M2PT_ATT_MAX_T];
    for (int c = 0; c < w; c += AT_C) vstore(mx + c, vload(s + c));
    for (int j = 1; j < T; j++)
        for (int c = 0; c < w; c += AT_C) vstore(mx + c, vmax(vload(mx + c), vload(s + (long)j * w + c)));
    memset(z, 0, (size_t)w * sizeof(float));
    for (int j = 0; j < T; j++)
        for (int c = 0; c < w; c += AT_C) {
            const vf e = m2pt_vexpf(vload(s + (long)j * w + c) - vload(mx + c));
            vstore(s + (long)j * w + c, e);
            vstore(z + c, vload(z + c) + e);
        }
    for (int c = 0; c < w; c += AT_C) vstore(z + c, 1.0f / vload(z + c));
    for (int j = 0; j < T; j++)
        for (int c = 0; c < w; c += AT_C) {
            const vf q = vload(s + (long)j * w + c) * vload(z + c);
            vstore(s + (long)j * w + c, q);
            vstream(p + (long)j * ldp + c, q);
        }
}

/* ds[j][c] = scale * p[j][c] * (ds[j][c] - sum over j' of p[j'][c] ds[j'][c]): dP to dS down
 * the w columns of ds [T, w]; p has row stride ldp. */
static void softmax_columns_backward(float *restrict ds, const float *restrict p, long ldp, int T, int w,
                                     float scale) {
    _Alignas(64) float dot[M2PT_ATT_MAX_T];
    memset(dot, 0, (size_t)w * sizeof(float));
    for (int j = 0; j < T; j++)
        for (int c = 0; c < w; c += AT_C)
            vstore(dot + c, vload(dot + c) + vload(p + (long)j * ldp + c) * vload(ds + (long)j * w + c));
    for (int j = 0; j < T; j++)
        for (int c = 0; c < w; c += AT_C) {
            float *dsj = ds + (long)j * w + c;
            vstore(dsj, vload(p + (long)j * ldp + c) * (vload(dsj) - vload(dot + c)) * scale);
        }
}

/* ---------------------------------------------------------------- forward */

typedef struct {
    float *out, *P, *d_qkv;
    const float *qkv, *cP, *d_out;
    int B, T, D, H;
} att_args;

/* Scratch of one task (on its stack: pool threads have 8 MB). */
typedef struct {
    _Alignas(64) float t[M2PT_ATT_MAX_TD]; /* Q^T or dO^T, [hd, Tp] */
    _Alignas(64) float s[AT_BLOCK];        /* scores or their gradients, [T, w] */
    /* zero-padded [T, hdp] copies of B operands and outputs when hd % 16 != 0 */
    _Alignas(64) float b1[M2PT_ATT_MAX_TD], b2[M2PT_ATT_MAX_TD], b3[M2PT_ATT_MAX_TD];
    _Alignas(64) float o1[M2PT_ATT_MAX_TD], o2[M2PT_ATT_MAX_TD], o3[M2PT_ATT_MAX_TD];
} att_scratch;

static void att_forward_head(const att_args *a, long job, att_scratch *w) {
    const int T = a->T, D = a->D, H = a->H, hd = D / H, Tp = round_up(T, AT_C), hdp = round_up(hd, AT_C);
    const long ld = 3L * D;
    const int b = (int)(job / H), h = (int)(job % H);
    const float *base = a->qkv + (long)b * T * ld + h * hd;
    float *P = a->P + job * T * Tp, *out = a->out + (long)b * T * D + h * hd;
    transpose(w->t, Tp, base, ld, T, hd, Tp, 1.0f / sqrtf((float)hd)); /* (scale Q)^T [hd, Tp] */
    const operand v = rows_operand(w->b1, base + 2 * D, T, ld, hd, hdp);
    for (int i0 = 0, cb = block_cols(T, Tp); i0 < T; i0 += cb) {
        const int wc = Tp - i0 < cb ? Tp - i0 : cb, nq = T - i0 < wc ? T - i0 : wc;
        product(w->s, wc, base + D, ld, 1, w->t + i0, Tp, T, wc, hd, 0); /* S^T = K (scale Q)^T [T, wc] */
        softmax_columns(w->s, P + i0, Tp, T, wc);
        /* out = P V [nq, hd], P read down the columns of P^T: no padded queries, no transpose */
        const operand o = rows_target(w->o1, out + (long)i0 * D, D, hd, hdp);
        product((float *)o.p, o.ld, w->s, 1, wc, v.p, v.ld, nq, hdp, T, 0);
        store_rows(out + (long)i0 * D, D, &o, nq, hd);
    }
}

static void att_forward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    att_scratch w;
    long j0, j1;
    m2pt_split((long)a->B * a->H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) att_forward_head(a, job, &w);
    vstream_fence(); /* this thread's streamed P, before the pool reports the task done */
}

void m2pt_attention_forward(float *out, float *P, const float *qkv, int B, int T, int D, int H) {
    att_args a = {.out = out, .P = P, .qkv = qkv, .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_forward_task, &a);
}

/* ---------------------------------------------------------------- backward */

static void att_backward_head(const att_args *a, long job, att_scratch *w) {
    const int T = a->T, D = a->D, H = a->H, hd = D / H, Tp = round_up(T, AT_C), hdp = round_up(hd, AT_C);
    const long ld = 3L * D;
    const float scale = 1.0f / sqrtf((float)hd);
    const int b = (int)(job / H), h = (int)(job % H);
    const float *base = a->qkv + (long)b * T * ld + h * hd, *dO = a->d_out + (long)b * T * D + h * hd;
    const float *P = a->cP + job * T * Tp;
    float *dbase = a->d_qkv + (long)b * T * ld + h * hd;
    transpose(w->t, Tp, dO, D, T, hd, Tp, 1.0f); /* dO^T [hd, Tp] */
    const operand q = rows_operand(w->b1, base, T, ld, hd, hdp), g = rows_operand(w->b2, dO, T, D, hd, hdp);
    const operand k = rows_operand(w->b3, base + D, T, ld, hd, hdp);
    const operand dk = rows_target(w->o2, dbase + D, ld, hd, hdp), dv = rows_target(w->o3, dbase + 2 * D, ld, hd, hdp);
    for (int i0 = 0, cb = block_cols(T, Tp); i0 < T; i0 += cb) {
        const int wc = Tp - i0 < cb ? Tp - i0 : cb, nq = T - i0 < wc ? T - i0 : wc;
        product(w->s, wc, base + 2 * D, ld, 1, w->t + i0, Tp, T, wc, hd, 0); /* dP^T = V dO^T [T, wc] */
        softmax_columns_backward(w->s, P + i0, Tp, T, wc, scale);           /* dS^T, times the scale */
        /* dQ = dS K [nq, hd], dS read down the columns of dS^T, straight into dQ's rows */
        const operand dq = rows_target(w->o1, dbase + (long)i0 * ld, ld, hd, hdp);
        product((float *)dq.p, dq.ld, w->s, 1, wc, k.p, k.ld, nq, hdp, T, 0);
        store_rows(dbase + (long)i0 * ld, ld, &dq, nq, hd);
        /* dK (+)= dS^T Q, dV (+)= P^T dO over this block's queries */
        product((float *)dk.p, dk.ld, w->s, wc, 1, q.p + (long)i0 * q.ld, q.ld, T, hdp, nq, i0 > 0);
        product((float *)dv.p, dv.ld, P + i0, Tp, 1, g.p + (long)i0 * g.ld, g.ld, T, hdp, nq, i0 > 0);
    }
    store_rows(dbase + D, ld, &dk, T, hd);
    store_rows(dbase + 2 * D, ld, &dv, T, hd);
}

static void att_backward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    att_scratch w;
    long j0, j1;
    m2pt_split((long)a->B * a->H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) att_backward_head(a, job, &w);
}

void m2pt_attention_backward(float *d_qkv, const float *d_out, const float *qkv, const float *P, int B, int T,
                             int D, int H) {
    att_args a = {.d_qkv = d_qkv, .d_out = d_out, .qkv = qkv, .cP = P, .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_backward_task, &a);
}
