/* Fused multi-head self-attention for short sequences.
 *
 * With T ~ 50 tokens and head dim ~ 16, per-(batch, head) sgemm calls spend more time in call
 * overhead and packing than in arithmetic. Here one task takes whole (batch, head) pairs and
 * keeps a transposed copy of the head's keys (or values) on its stack, so that every inner
 * loop runs across tokens or across the head dimension with no horizontal reductions: scores
 * for all keys of a query are T-wide vector FMAs, the weighted sums hd-wide ones. The backward
 * uses the O(T) softmax identity rowsum(dP * P) = dO . O (as FlashAttention does).
 * The `omp simd` pragmas (compiled with -fopenmp-simd: no OpenMP runtime, no threads) let the
 * compiler vectorise; summation orders are fixed, so results are deterministic. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "ops.h"
#include "threads.h"

typedef struct {
    float *out, *P, *d_qkv;
    const float *qkv, *cP, *d_out, *cout;
    int B, T, D, H;
} att_args;

/* dst[d * T + j] = row j's slice [col, col + hd) of a [T, ld] matrix */
static void transpose_slice(float *dst, const float *src, int T, int ld, int col, int hd) {
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) dst[(long)d * T + j] = src[(long)j * ld + col + d];
}

static void att_forward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    const int T = a->T, D = a->D, H = a->H, hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    float kt[M2PT_ATT_MAX_TD];
    long j0, j1;
    m2pt_split((long)a->B * H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) {
        const int b = (int)(job / H), h = (int)(job % H);
        const float *base = a->qkv + (long)b * T * ld;
        transpose_slice(kt, base, T, ld, D + h * hd, hd);
        for (int i = 0; i < T; i++) {
            const float *q = base + (long)i * ld + h * hd;
            float *restrict s = a->P + (job * T + i) * T;
            for (int j = 0; j < T; j++) s[j] = 0.0f;
            for (int d = 0; d < hd; d++) {
                const float qd = q[d] * scale;
                const float *restrict kd = kt + (long)d * T;
#pragma omp simd
                for (int j = 0; j < T; j++) s[j] += qd * kd[j];
            }
            float mx = s[0];
#pragma omp simd reduction(max : mx)
            for (int j = 0; j < T; j++) mx = s[j] > mx ? s[j] : mx;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < T; j++) {
                s[j] = m2pt_expf(s[j] - mx);
                sum += s[j];
            }
            const float inv = 1.0f / sum;
            float *restrict o = a->out + ((long)b * T + i) * D + h * hd;
            for (int d = 0; d < hd; d++) o[d] = 0.0f;
            for (int j = 0; j < T; j++) {
                s[j] *= inv;
                const float pj = s[j];
                const float *restrict v = base + (long)j * ld + 2 * D + h * hd;
#pragma omp simd
                for (int d = 0; d < hd; d++) o[d] += pj * v[d];
            }
        }
    }
}

void m2pt_attention_forward(float *out, float *P, const float *qkv, int B, int T, int D, int H) {
    att_args a = {.out = out, .P = P, .qkv = qkv, .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_forward_task, &a);
}

static void att_backward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    const int T = a->T, D = a->D, H = a->H, hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    float vt[M2PT_ATT_MAX_TD], dk[M2PT_ATT_MAX_TD], dv[M2PT_ATT_MAX_TD], ds[M2PT_ATT_MAX_T];
    long j0, j1;
    m2pt_split((long)a->B * H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) {
        const int b = (int)(job / H), h = (int)(job % H);
        const float *base = a->qkv + (long)b * T * ld;
        float *dbase = a->d_qkv + (long)b * T * ld;
        transpose_slice(vt, base, T, ld, 2 * D + h * hd, hd);
        memset(dk, 0, (size_t)T * hd * sizeof(float));
        memset(dv, 0, (size_t)T * hd * sizeof(float));
        for (int i = 0; i < T; i++) {
            const float *restrict dO = a->d_out + ((long)b * T + i) * D + h * hd;
            const float *restrict O = a->cout + ((long)b * T + i) * D + h * hd;
            const float *restrict q = base + (long)i * ld + h * hd;
            const float *restrict pr = a->cP + (job * T + i) * T;
            float Di = 0.0f;
#pragma omp simd reduction(+ : Di)
            for (int d = 0; d < hd; d++) Di += dO[d] * O[d];
            for (int j = 0; j < T; j++) ds[j] = 0.0f;
            for (int d = 0; d < hd; d++) { /* dP[j] = dO . v_j, across all j at once */
                const float g = dO[d];
                const float *restrict vd = vt + (long)d * T;
#pragma omp simd
                for (int j = 0; j < T; j++) ds[j] += g * vd[j];
            }
#pragma omp simd
            for (int j = 0; j < T; j++) ds[j] = pr[j] * (ds[j] - Di) * scale;
            float *restrict dq = dbase + (long)i * ld + h * hd;
            for (int d = 0; d < hd; d++) dq[d] = 0.0f;
            for (int j = 0; j < T; j++) {
                const float sj = ds[j], pj = pr[j];
                const float *restrict k = base + (long)j * ld + D + h * hd;
                float *restrict dkj = dk + (long)j * hd, *restrict dvj = dv + (long)j * hd;
#pragma omp simd
                for (int d = 0; d < hd; d++) {
                    dq[d] += sj * k[d];
                    dkj[d] += sj * q[d];
                    dvj[d] += pj * dO[d];
                }
            }
        }
        for (int j = 0; j < T; j++) {
            memcpy(dbase + (long)j * ld + D + h * hd, dk + (long)j * hd, (size_t)hd * sizeof(float));
            memcpy(dbase + (long)j * ld + 2 * D + h * hd, dv + (long)j * hd, (size_t)hd * sizeof(float));
        }
    }
}

void m2pt_attention_backward(float *d_qkv, const float *d_out, const float *qkv, const float *P,
                             const float *out, int B, int T, int D, int H) {
    att_args a = {.d_qkv = d_qkv, .d_out = d_out, .qkv = qkv, .cP = P, .cout = out,
                  .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_backward_task, &a);
}
