/* Engine operators. Each op packs its arguments into a struct and runs one task on the pool;
 * every thread takes a fixed contiguous share (rows, columns or (batch, head) pairs). */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "gemm.h"
#include "threads.h"
#include "vec.h"

#define LN_EPS 1e-5f

/* ---------------------------------------------------------------- linear */

typedef struct {
    float *y, *dx, *dW, *db;
    const float *x, *W, *b, *dy;
    int N, in, out;
} linear_args;

/* Rows per OpenBLAS call: fixed, not a share per thread, so that every call (and OpenBLAS's
 * choice of kernel, hence the summation order) is the same whatever the thread count. */
#define LINEAR_PIECE 256

static void linear_forward_task(void *p, int tid, int nt) {
    const linear_args *a = p;
    long p0, p1;
    m2pt_split((a->N + LINEAR_PIECE - 1) / LINEAR_PIECE, nt, tid, 1, &p0, &p1);
    for (long piece = p0; piece < p1; piece++) {
        const long r0 = piece * LINEAR_PIECE;
        const int rows = (int)(a->N - r0 < LINEAR_PIECE ? a->N - r0 : LINEAR_PIECE);
        float *y = a->y + r0 * a->out;
        /* With a bias, y starts as the bias and the product is added (beta 1): one pass over y
         * instead of OpenBLAS zeroing it (beta 0) and a second pass adding the bias. */
        if (a->b)
            for (int r = 0; r < rows; r++) {
                float *restrict yr = y + (long)r * a->out;
#pragma omp simd
                for (int o = 0; o < a->out; o++) yr[o] = a->b[o];
            }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, a->out, a->in, 1.0f, a->x + r0 * a->in, a->in,
                    a->W, a->in, a->b ? 1.0f : 0.0f, y, a->out);
    }
}

void m2pt_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in, int out) {
    linear_args a = {.y = y, .x = x, .W = W, .b = b, .N = N, .in = in, .out = out};
    m2pt_parallel(linear_forward_task, &a);
}

static void linear_backward_task(void *p, int tid, int nt) {
    const linear_args *a = p;
    long r0, r1, o0, o1;
    m2pt_split(a->N, nt, tid, 8, &r0, &r1);
    if (a->dx && r1 > r0) /* dx = dy W: rows of dx from rows of dy */
        m2pt_gemm_linear_dx(a->dx + r0 * a->in, a->dy + r0 * a->out, a->W, NULL, NULL, (int)(r1 - r0), a->in,
                            a->out);
    m2pt_split(a->out, nt, tid, 8, &o0, &o1);
    if (!a->dW || o1 <= o0) return;
    /* dW[o0:o1] += dy[:, o0:o1]^T x: each thread owns whole rows of dW, so no reduction races */
    m2pt_gemm_linear_dw(a->dW, a->dy, a->x, a->N, a->in, a->out, (int)o0, (int)o1);
    if (a->db)
        for (long r = 0; r < a->N; r++) {
            const float *dyr = a->dy + r * a->out;
            for (long o = o0; o < o1; o++) a->db[o] += dyr[o];
        }
}

void m2pt_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                          const float *W, int N, int in, int out) {
    linear_args a = {.dx = dx, .dW = dW, .db = db, .dy = dy, .x = x, .W = W, .N = N, .in = in, .out = out};
    m2pt_parallel(linear_backward_task, &a);
}

/* ---------------------------------------------------------------- layernorm */

typedef struct {
    float *y, *mean, *rstd, *dx, *dw, *db;
    const float *x, *w, *b, *dy, *dres;
    const float *cmean, *crstd;
    int N, C;
} ln_args;

/* Sum of x[0..C), and of (x - m)^2: whole vectors, then the tail. */
static inline float row_sum(const float *x, int C) {
    const int Cv = C / VL * VL;
    vf acc = {0};
    for (int i = 0; i < Cv; i += VL) acc += vload(x + i);
    float s = vhsum(acc);
    for (int i = Cv; i < C; i++) s += x[i];
    return s;
}

static inline float row_sq_dev(const float *x, float m, int C) {
    const int Cv = C / VL * VL;
    vf acc = {0};
    for (int i = 0; i < Cv; i += VL) {
        const vf d = vload(x + i) - m;
        acc += d * d;
    }
    float s = vhsum(acc);
    for (int i = Cv; i < C; i++) s += (x[i] - m) * (x[i] - m);
    return s;
}

static inline void ln_apply_row(float *restrict y, const float *restrict x, float m, float s,
                                const float *restrict w, const float *restrict b, int C) {
    const int Cv = C / VL * VL;
    for (int i = 0; i < Cv; i += VL) vstore(y + i, (vload(x + i) - m) * s * vload(w + i) + vload(b + i));
    for (int i = Cv; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
}

static void ln_forward_task(void *p, int tid, int nt) {
    const ln_args *a = p;
    long r0, r1;
    m2pt_split(a->N, nt, tid, 1, &r0, &r1);
    const int C = a->C;
    for (long r = r0; r < r1; r++) {
        const float *x = a->x + r * C;
        const float m = row_sum(x, C) / (float)C;
        const float s = 1.0f / sqrtf(row_sq_dev(x, m, C) / (float)C + LN_EPS);
        ln_apply_row(a->y + r * C, x, m, s, a->w, a->b, C);
        a->mean[r] = m;
        a->rstd[r] = s;
    }
}

static void ln_apply_task(void *p, int tid, int nt) {
    const ln_args *a = p;
    long r0, r1;
    m2pt_split(a->N, nt, tid, 1, &r0, &r1);
    const int C = a->C;
    for (long r = r0; r < r1; r++) ln_apply_row(a->y + r * C, a->x + r * C, a->cmean[r], a->crstd[r], a->w, a->b, C);
}

void m2pt_layernorm_apply(float *y, const float *x, const float *mean, const float *rstd, const float *w,
                          const float *b, int N, int C) {
    ln_args a = {.y = y, .x = x, .cmean = mean, .crstd = rstd, .w = w, .b = b, .N = N, .C = C};
    m2pt_parallel(ln_apply_task, &a);
}

void m2pt_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, int N, int C) {
    ln_args a = {.y = y, .mean = mean, .rstd = rstd, .x = x, .w = w, .b = b, .N = N, .C = C};
    m2pt_parallel(ln_forward_task, &a);
}

/* One row's input gradient: dx = dres + s (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat =
 * (x - m) s; with dw, db (this thread alone) also dw += dy xhat, db += dy while the row is in L1.
 * dres may be dx itself (accumulate). */
static inline void ln_backward_row(float *dx, const float *dres, float *restrict dw, float *restrict db,
                                   const float *restrict dy, const float *restrict x, const float *restrict w, float m,
                                   float s, int C) {
    const int Cv = C / VL * VL;
    vf vg = {0}, vgx = {0};
    for (int i = 0; i < Cv; i += VL) {
        const vf g = vload(dy + i) * vload(w + i);
        vg += g;
        vgx += g * ((vload(x + i) - m) * s);
    }
    float sum_g = vhsum(vg), sum_gx = vhsum(vgx);
    for (int i = Cv; i < C; i++) {
        const float g = dy[i] * w[i];
        sum_g += g;
        sum_gx += g * ((x[i] - m) * s);
    }
    sum_g /= (float)C;
    sum_gx /= (float)C;
    for (int i = 0; i < Cv; i += VL) {
        const vf xhat = (vload(x + i) - m) * s, d = vload(dy + i);
        vstore(dx + i, vload(dres + i) + s * (d * vload(w + i) - sum_g - xhat * sum_gx));
        if (dw) {
            vstore(dw + i, vload(dw + i) + d * xhat);
            vstore(db + i, vload(db + i) + d);
        }
    }
    for (int i = Cv; i < C; i++) {
        const float xhat = (x[i] - m) * s;
        dx[i] = dres[i] + s * (dy[i] * w[i] - sum_g - xhat * sum_gx);
        if (dw) {
            dw[i] += dy[i] * xhat;
            db[i] += dy[i];
        }
    }
}

static void ln_backward_task(void *p, int tid, int nt) {
    const ln_args *a = p;
    const int C = a->C;
    long r0, r1, c0, c1;
    m2pt_split(a->N, nt, tid, 1, &r0, &r1);
    float *dw = nt == 1 ? a->dw : NULL, *db = nt == 1 ? a->db : NULL; /* alone: column sums in the row pass */
    for (long r = a->dx ? r0 : r1; r < r1; r++) {
        float *dx = a->dx + r * C;
        ln_backward_row(dx, a->dres ? a->dres + r * C : dx, dw, db, a->dy + r * C, a->x + r * C, a->w, a->cmean[r],
                        a->crstd[r], C);
    }
    if (nt == 1 && a->dx) return;
    /* dw, db are column sums: each thread owns a column range, so no reduction races */
    m2pt_split(C, nt, tid, 16, &c0, &c1);
    for (long r = 0; a->dw && r < a->N; r++) {
        const float *x = a->x + r * C, *dy = a->dy + r * C;
        const float m = a->cmean[r], s = a->crstd[r];
        for (long i = c0; i < c1; i++) {
            a->dw[i] += dy[i] * ((x[i] - m) * s);
            a->db[i] += dy[i];
        }
    }
}

void m2pt_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *w, int N, int C) {
    ln_args a = {.dx = dx, .dw = dw, .db = db, .dy = dy, .x = x, .cmean = mean, .crstd = rstd,
                 .w = w, .N = N, .C = C};
    m2pt_parallel(ln_backward_task, &a);
}

void m2pt_layernorm_backward_res(float *dx, const float *dres, float *dw, float *db, const float *dy, const float *x,
                                 const float *mean, const float *rstd, const float *w, int N, int C) {
    ln_args a = {.dx = dx, .dres = dres, .dw = dw, .db = db, .dy = dy, .x = x, .cmean = mean, .crstd = rstd,
                 .w = w, .N = N, .C = C};
    m2pt_parallel(ln_backward_task, &a);
}

/* ---------------------------------------------------------------- gelu, residual */

typedef struct {
    float *y, *dydx;
    const float *x, *dy;
    size_t n;
} ew_args;

static void gelu_forward_task(void *p, int tid, int nt) {
    const ew_args *a = p;
    long i0, i1;
    m2pt_split((long)a->n, nt, tid, VL, &i0, &i1);
    float *y = a->y, *g = a->dydx;
    const float *x = a->x;
    long i = i0;
    for (; i + VL <= i1; i += VL) { /* whole vectors as gemm.c's GELU epilogue, the tail alike */
        vf d;
        const vf v = m2pt_vgelu_and_grad(vload(x + i), &d);
        vstore(y + i, v);
        if (g) vstore(g + i, d);
    }
    for (; i < i1; i++) {
        float d;
        y[i] = m2pt_gelu_and_grad(x[i], &d);
        if (g) g[i] = d;
    }
}

void m2pt_gelu_forward(float *y, float *dydx, const float *x, size_t n) {
    ew_args a = {.y = y, .dydx = dydx, .x = x, .n = n};
    m2pt_parallel(gelu_forward_task, &a);
}

static void gelu_backward_task(void *p, int tid, int nt) {
    const ew_args *a = p;
    long i0, i1;
    m2pt_split((long)a->n, nt, tid, 16, &i0, &i1);
#pragma omp simd
    for (long i = i0; i < i1; i++) a->y[i] = a->dy[i] * a->x[i];
}

void m2pt_gelu_backward(float *dx, const float *dy, const float *dydx, size_t n) {
    ew_args a = {.y = dx, .x = dydx, .dy = dy, .n = n};
    m2pt_parallel(gelu_backward_task, &a);
}

static void residual_task(void *p, int tid, int nt) {
    const ew_args *a = p;
    long i0, i1;
    m2pt_split((long)a->n, nt, tid, 16, &i0, &i1);
    for (long i = i0; i < i1; i++) a->y[i] += a->x[i];
}

void m2pt_residual_forward(float *y, const float *x, size_t n) {
    ew_args a = {.y = y, .x = x, .n = n};
    m2pt_parallel(residual_task, &a);
}

/* ---------------------------------------------------------------- cross-entropy */

float m2pt_crossentropy_forward(float *probs, const float *logits, const int *labels, int N, int C,
                                float smoothing) {
    double total = 0.0;
    for (int r = 0; r < N; r++) {
        const float *z = logits + (long)r * C;
        float *pr = probs + (long)r * C;
        float mx = z[0];
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp((double)z[c] - mx);
        double lse = mx + log(sum);
        double mean_nll = 0.0;
        for (int c = 0; c < C; c++) {
            pr[c] = (float)exp((double)z[c] - lse);
            mean_nll += lse - z[c];
        }
        mean_nll /= C;
        total += (1.0 - smoothing) * (lse - z[labels[r]]) + smoothing * mean_nll;
    }
    return (float)(total / N);
}

void m2pt_crossentropy_backward(float *d_logits, const float *probs, const int *labels, int N,
                                int C, float smoothing) {
    const float off = smoothing / (float)C, inv_n = 1.0f / (float)N;
    for (int r = 0; r < N; r++)
        for (int c = 0; c < C; c++) {
            float target = off + (c == labels[r] ? 1.0f - smoothing : 0.0f);
            d_logits[(long)r * C + c] = (probs[(long)r * C + c] - target) * inv_n;
        }
}
