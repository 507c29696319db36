/* Grouping as in Point-BERT / Point-MAE: farthest point sampling picks G centres (the first is
 * point 0; the points are in random order), each centre takes its k nearest points (itself
 * included, nearest first, ties to the lower index), and each neighbour is expressed relative to
 * its centre, divided by 2 sqrt(k / N) (the radius of a k-neighbourhood on the unit sphere) so
 * that the mini-PointNet sees O(1) inputs whatever N and k. Parameter-free and without
 * gradient. Samples are split across the host's threads; each output is written by one thread
 * in a fixed order, so the result does not depend on the thread count. */
#include "point.h"

#include <math.h>

typedef struct {
    point_inst *m;
    const float *raw;
    int n;
} job;

/* d[i] = squared distance of point i (x, y, z arrays) to c; vectorises */
static void distances(const float *x, const float *y, const float *z, int N, const float *c, float *d) {
    for (int i = 0; i < N; i++) {
        const float dx = x[i] - c[0], dy = y[i] - c[1], dz = z[i] - c[2];
        d[i] = dx * dx + dy * dy + dz * dz;
    }
}

/* centres [G, 3] by farthest point sampling; ties go to the lower index. d: N floats */
static void fps(const float *x, const float *y, const float *z, int N, int G, float *d, float *centres) {
    int pick = 0;
    for (int i = 0; i < N; i++) d[i] = 3.4e38f;
    for (int g = 0; g < G; g++) {
        float *c = centres + g * 3;
        c[0] = x[pick], c[1] = y[pick], c[2] = z[pick];
        float best = -1.0f;
#pragma omp simd reduction(max : best)
        for (int i = 0; i < N; i++) {
            const float dx = x[i] - c[0], dy = y[i] - c[1], dz = z[i] - c[2];
            const float e = dx * dx + dy * dy + dz * dz, v = e < d[i] ? e : d[i];
            d[i] = v;
            best = v > best ? v : best;
        }
        for (pick = 0; pick < N - 1 && d[pick] != best; pick++) {
        }
    }
}

/* number of d[i] <= t; vectorises */
static int count_within(const float *d, int N, float t) {
    int c = 0;
    for (int i = 0; i < N; i++) c += d[i] <= t;
    return c;
}

/* Indices of the k smallest of d[0..N), nearest first, ties to the lower index. Bisection with
 * vectorised counts finds a threshold t with k <= #{d <= t} <= 2k (or as close as duplicates
 * allow); the exact selection (insertion) then runs over those candidates only.
 * bd: k floats. */
static void k_smallest(const float *d, int N, int k, float *bd, int *out) {
    float lo = -1.0f, hi = 0.0f; /* #{d <= lo} < k <= #{d <= hi} */
    for (int i = 0; i < N; i++) hi = d[i] > hi ? d[i] : hi;
    for (int it = 0; it < 64 && count_within(d, N, hi) > 2 * k; it++) {
        const float mid = 0.5f * (lo + hi);
        if (mid <= lo || mid >= hi) break; /* no float left between them */
        if (count_within(d, N, mid) < k) lo = mid;
        else hi = mid;
    }
    int count = 0;
    for (int i = 0; i < N; i++) {
        const float v = d[i];
        if (v > hi || (count == k && v >= bd[k - 1])) continue;
        int j = count < k ? count++ : k - 1;
        for (; j > 0 && bd[j - 1] > v; j--) bd[j] = bd[j - 1], out[j] = out[j - 1];
        bd[j] = v, out[j] = i;
    }
}

static void group_sample(point_inst *m, const float *p, long b) {
    const int N = m->gen.points, G = m->groups, k = m->neighbours;
    const float scale = 0.5f / sqrtf((float)k / (float)N);
    float *x = m->soa + (size_t)b * 3 * N, *y = x + N, *z = y + N;
    float *d = m->dist + (size_t)b * (N + k), *bd = d + N;
    for (int i = 0; i < N; i++) x[i] = p[i * 3], y[i] = p[i * 3 + 1], z[i] = p[i * 3 + 2];
    float *cen = m->centres + (size_t)b * G * 3;
    fps(x, y, z, N, G, d, cen);
    for (int g = 0; g < G; g++) {
        const size_t row = ((size_t)b * G + g) * k;
        int *idx = m->knn + row;
        const float *c = cen + g * 3;
        distances(x, y, z, N, c, d);
        k_smallest(d, N, k, bd, idx);
        float *l = m->local + row * 3;
        for (int q = 0; q < k; q++) {
            l[q * 3] = (x[idx[q]] - c[0]) * scale;
            l[q * 3 + 1] = (y[idx[q]] - c[1]) * scale;
            l[q * 3 + 2] = (z[idx[q]] - c[2]) * scale;
        }
    }
}

static void group_task(void *arg, int t, int nt) {
    job *j = arg;
    long lo, hi;
    point_range(j->n, t, nt, &lo, &hi);
    for (long b = lo; b < hi; b++) group_sample(j->m, j->raw + (size_t)b * j->m->gen.points * 3, b);
}

void group_points(point_inst *m, const float *raw, int n) {
    job j = {m, raw, n};
    m->host->parallel(group_task, &j);
}
