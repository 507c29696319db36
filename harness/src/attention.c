/* Fused multi-head self-attention for short sequences.
 *
 * With T ~ 50 tokens and head dim ~ 16, per-(batch, head) sgemm calls spend more time in call
 * overhead and packing than in arithmetic. Here one task takes whole (batch, head) pairs and
 * does scores, softmax and the weighted sum in registers/L1; the backward uses the O(T) softmax
 * identity rowsum(dP * P) = dO . O (as FlashAttention does) instead of a T x T pass.
 * The `omp simd` pragmas (compiled with -fopenmp-simd: no OpenMP runtime, no threads) let the
 * compiler vectorise the head-dim loops: the reductions' order is fixed, so results stay
 * deterministic. */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "threads.h"

typedef struct {
    float *out, *P, *d_qkv;
    const float *qkv, *cP, *d_out, *cout;
    int B, T, D, H;
} att_args;

static void att_forward_task(void *p, int tid, int nt) {
    const att_args *a = p;
    const int T = a->T, D = a->D, H = a->H, hd = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)hd);
    long j0, j1;
    m2pt_split((long)a->B * H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) {
        const int b = (int)(job / H), h = (int)(job % H);
        const float *base = a->qkv + (long)b * T * ld;
        float *P = a->P + job * T * T;
        for (int i = 0; i < T; i++) {
            const float *q = base + (long)i * ld + h * hd;
            float *pr = P + (long)i * T;
            float mx = -INFINITY;
            for (int j = 0; j < T; j++) {
                const float *k = base + (long)j * ld + D + h * hd;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int d = 0; d < hd; d++) s += q[d] * k[d];
                s *= scale;
                pr[j] = s;
                mx = s > mx ? s : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j < T; j++) {
                pr[j] = expf(pr[j] - mx);
                sum += pr[j];
            }
            const float inv = 1.0f / sum;
            float *o = a->out + ((long)b * T + i) * D + h * hd;
            for (int d = 0; d < hd; d++) o[d] = 0.0f;
            for (int j = 0; j < T; j++) {
                pr[j] *= inv;
                const float *v = base + (long)j * ld + 2 * D + h * hd;
                const float pj = pr[j];
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
    long j0, j1;
    m2pt_split((long)a->B * H, nt, tid, 1, &j0, &j1);
    for (long job = j0; job < j1; job++) {
        const int b = (int)(job / H), h = (int)(job % H);
        const float *base = a->qkv + (long)b * T * ld;
        float *dbase = a->d_qkv + (long)b * T * ld;
        const float *P = a->cP + job * T * T;
        for (int i = 0; i < T; i++) /* this job owns these columns of d_qkv: clear them */
            for (int part = 0; part < 3; part++)
                memset(dbase + (long)i * ld + part * D + h * hd, 0, (size_t)hd * sizeof(float));
        for (int i = 0; i < T; i++) {
            const float *dO = a->d_out + ((long)b * T + i) * D + h * hd;
            const float *O = a->cout + ((long)b * T + i) * D + h * hd;
            const float *q = base + (long)i * ld + h * hd;
            float *dq = dbase + (long)i * ld + h * hd;
            const float *pr = P + (long)i * T;
            float Di = 0.0f;
#pragma omp simd reduction(+ : Di)
            for (int d = 0; d < hd; d++) Di += dO[d] * O[d];
            for (int j = 0; j < T; j++) {
                const float *k = base + (long)j * ld + D + h * hd;
                const float *v = k + D;
                float *dk = dbase + (long)j * ld + D + h * hd;
                float *dv = dk + D;
                float dp = 0.0f;
#pragma omp simd reduction(+ : dp)
                for (int d = 0; d < hd; d++) dp += dO[d] * v[d];
                const float ds = pr[j] * (dp - Di) * scale;
                /* dq, dk and dv are distinct slices of d_qkv: safe to vectorise */
#pragma omp simd
                for (int d = 0; d < hd; d++) {
                    dq[d] += ds * k[d];
                    dk[d] += ds * q[d];
                    dv[d] += pr[j] * dO[d];
                }
            }
        }
    }
}

void m2pt_attention_backward(float *d_qkv, const float *d_out, const float *qkv, const float *P,
                             const float *out, int B, int T, int D, int H) {
    att_args a = {.d_qkv = d_qkv, .d_out = d_out, .qkv = qkv, .cP = P, .cout = out,
                  .B = B, .T = T, .D = D, .H = H};
    m2pt_parallel(att_backward_task, &a);
}
