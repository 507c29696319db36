/* Pooling of the mini-PointNet over the k neighbours of each group, and its backward.
 *
 * temperature t = 0: max pooling; each channel's gradient goes to the row that won it (the
 *   first on ties), exactly as Point-MAE.
 * temperature t > 0 (the default, 0.01): the smooth maximum t log sum_q exp(x_q / t), which
 *   lies between the max and the max + t log k and tends to it as t -> 0; the gradient goes to
 *   the rows in proportion to softmax(x / t), i.e. almost all of it to the max unless another
 *   row is within a few t of it. Why not the plain max by default: a hard max over B*G groups x
 *   D channels has so many kinks that the harness's finite-difference gradient check (step
 *   1e-2) cannot pass; the smooth maximum has none.
 *
 * Backward: d(fc2 output) is d(feat) spread over the rows by the pooling's weights (one-hot
 * for the max), then host->linear_backward of fc2 and the GELU's derivative. (Forming only the
 * rows with a non-negligible weight by hand was slower: about 9 of 32 rows per channel are
 * within 12 t of the max at initialisation, too many for a sparse loop to beat one GEMM.) */
#include "point.h"
#include "ptmath.h"

/* Weights below exp(-CUTOFF) are set to 0: they change nothing but would make the backward's
 * GEMM crawl through denormal numbers. */
#define CUTOFF 20.0f

typedef struct {
    point_inst *m;
    int n;
} job;

/* Per group: max and argmax of each channel; with t > 0 also s = sum of e_q = exp((x_q - max) / t)
 * and the smooth maximum max + t log s. h2 is overwritten by the e_q: the backward needs only
 * them. */
static void forward_task(void *arg, int t, int nt) {
    const job *j = arg;
    const point_inst *m = j->m;
    const int D = m->dim, k = m->neighbours;
    const float tau = m->pool_t, inv = tau > 0 ? 1.0f / tau : 0.0f;
    long lo, hi;
    point_range((long)j->n * m->groups, t, nt, &lo, &hi);
    for (long bg = lo; bg < hi; bg++) {
        float *f = m->feat + (size_t)bg * D, *mx = m->pmax + (size_t)bg * D, *s = m->psum + (size_t)bg * D;
        int *a = m->arg + (size_t)bg * D;
        float *x = m->h2 + (size_t)bg * k * D;
        memcpy(mx, x, (size_t)D * sizeof(float));
        memset(a, 0, (size_t)D * sizeof(int));
        for (int q = 1; q < k; q++)
            for (int c = 0; c < D; c++) {
                const float v = x[(size_t)q * D + c];
                const int up = v > mx[c]; /* strict: the first row wins ties */
                a[c] = up ? q : a[c];
                mx[c] = up ? v : mx[c];
            }
        if (tau <= 0) {
            memcpy(f, mx, (size_t)D * sizeof(float));
            continue;
        }
        for (int c = 0; c < D; c++) s[c] = 0;
        for (int q = 0; q < k; q++) {
            float *xq = x + (size_t)q * D;
            for (int c = 0; c < D; c++) {
                const float g = (xq[c] - mx[c]) * inv;
                const float e = g > -CUTOFF ? pt_exp(g) : 0.0f;
                xq[c] = e;
                s[c] += e;
            }
        }
        for (int c = 0; c < D; c++) f[c] = mx[c] + tau * logf(s[c]);
    }
}

void pool_forward(point_inst *m, int n) {
    job j = {m, n};
    m->host->parallel(forward_task, &j);
}

/* dh2 of each group's rows: d(feat) spread over the rows by the pooling's weights */
static void spread_task(void *arg, int t, int nt) {
    const job *j = arg;
    const point_inst *m = j->m;
    const int D = m->dim, k = m->neighbours;
    long lo, hi;
    point_range((long)j->n * m->groups, t, nt, &lo, &hi);
    for (long bg = lo; bg < hi; bg++) {
        const float *df = m->feat + (size_t)bg * D, *s = m->psum + (size_t)bg * D, *e = m->h2 + (size_t)bg * k * D;
        const int *a = m->arg + (size_t)bg * D;
        float *dy = m->dh2 + (size_t)bg * k * D;
        if (m->pool_t <= 0) { /* all to the winner */
            memset(dy, 0, (size_t)k * D * sizeof(float));
            for (int c = 0; c < D; c++) dy[(size_t)a[c] * D + c] = df[c];
            continue;
        }
        for (int q = 0; q < k; q++)
            for (int c = 0; c < D; c++) dy[(size_t)q * D + c] = e[(size_t)q * D + c] * df[c] / s[c];
    }
}

typedef struct {
    float *dx;
    const float *d;
    long n;
} mul_job;

static void mul_task(void *arg, int t, int nt) {
    const mul_job *j = arg;
    long lo, hi;
    point_range(j->n, t, nt, &lo, &hi);
    for (long i = lo; i < hi; i++) j->dx[i] *= j->d[i];
}

void pool_backward(point_inst *m, int n) {
    const m2pt_host *h = m->host;
    const int rows = n * m->groups * m->neighbours;
    job j = {m, n};
    h->parallel(spread_task, &j);
    h->linear_backward(m->dh1, h->grad(m->ctx, m->h_g2w), h->grad(m->ctx, m->h_g2b), m->dh2, m->h1,
                       h->param(m->ctx, m->h_g2w), rows, m->hidden, m->dim);
    mul_job mj = {m->dh1, m->h1d, (long)rows * m->hidden}; /* through the GELU */
    h->parallel(mul_task, &mj);
}
