#include "mae_loss.h"

#include <math.h>

#include "m2pt/plugin.h"

void m2pt_recon_normalise(float *dst, const float *src, int rows, int floats) {
    for (int r = 0; r < rows; r++) {
        const float *x = src + (long)r * floats;
        float *y = dst + (long)r * floats;
        double s = 0.0, ss = 0.0;
        for (int f = 0; f < floats; f++) s += x[f];
        const double mean = s / floats;
        for (int f = 0; f < floats; f++) ss += (x[f] - mean) * (x[f] - mean);
        const double inv = 1.0 / sqrt(ss / (floats - 1) + 1e-6); /* torch.var: unbiased */
        for (int f = 0; f < floats; f++) y[f] = (float)((x[f] - mean) * inv);
    }
}

int m2pt_recon_class(float target, int classes) {
    if (!(target >= 0.0f && target < (float)classes) || target != floorf(target)) return -1;
    return (int)target;
}

static double mse(const float *p, const float *t, int n, float scale, float *d) {
    double s = 0.0;
    for (int f = 0; f < n; f++) s += ((double)p[f] - t[f]) * ((double)p[f] - t[f]);
    if (d)
        for (int f = 0; f < n; f++) d[f] = scale * 2.0f * (p[f] - t[f]) / (float)n;
    return s / n;
}

static double dist2(const float *a, const float *b) {
    const double x = (double)a[0] - b[0], y = (double)a[1] - b[1], z = (double)a[2] - b[2];
    return x * x + y * y + z * z;
}

/* Index of the point of set[P] nearest to q (first on ties) and its squared distance. */
static int nearest(const float *q, const float *set, int P, double *best) {
    int arg = 0;
    *best = dist2(q, set);
    for (int j = 1; j < P; j++) {
        const double dd = dist2(q, set + 3 * j);
        if (dd < *best) *best = dd, arg = j;
    }
    return arg;
}

/* Both directions; the gradient flows to the predicted point of each nearest pair. */
static double chamfer(const float *p, const float *t, int n, float scale, float *d) {
    const int P = n / 3;
    const float g = 2.0f * scale / (float)P;
    double s1 = 0.0, s2 = 0.0, dd;
    if (d)
        for (int f = 0; f < n; f++) d[f] = 0.0f;
    for (int j = 0; j < P; j++) { /* predicted -> target */
        const int k = nearest(p + 3 * j, t, P, &dd);
        s1 += dd;
        if (d)
            for (int c = 0; c < 3; c++) d[3 * j + c] += g * (p[3 * j + c] - t[3 * k + c]);
    }
    for (int k = 0; k < P; k++) { /* target -> predicted */
        const int j = nearest(t + 3 * k, p, P, &dd);
        s2 += dd;
        if (d)
            for (int c = 0; c < 3; c++) d[3 * j + c] += g * (p[3 * j + c] - t[3 * k + c]);
    }
    return (s1 + s2) / P;
}

static double cross_entropy(const float *z, float target, int C, float scale, float *d) {
    const int c = m2pt_recon_class(target, C);
    if (c < 0) return NAN;
    float mx = z[0];
    for (int i = 1; i < C; i++) mx = z[i] > mx ? z[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < C; i++) sum += exp((double)z[i] - mx);
    const double lse = mx + log(sum);
    if (d)
        for (int i = 0; i < C; i++) d[i] = scale * (float)(exp((double)z[i] - lse) - (i == c));
    return lse - z[c];
}

double m2pt_recon_token_loss(int kind, const float *pred, const float *target, int out, float scale, float *d) {
    switch (kind) {
    case M2PT_RECON_MSE: return mse(pred, target, out, scale, d);
    case M2PT_RECON_CHAMFER: return chamfer(pred, target, out, scale, d);
    case M2PT_RECON_CLASS: return cross_entropy(pred, target[0], out, scale, d);
    default: return NAN;
    }
}
