#include "gradcheck.h"

#include <math.h>
#include <stdio.h>

#include "rng.h"

void gc_fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
    m2pt_rng r;
    m2pt_rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * m2pt_rng_uniform(&r);
}

double gc_dot(const float *r, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

int gc_check(const char *label, gc_loss_fn loss, void *ctx, float *x, const float *grad, size_t n,
             const gc_opts *o) {
    size_t count = (o->samples <= 0 || (size_t)o->samples >= n) ? n : (size_t)o->samples;
    m2pt_rng r;
    m2pt_rng_seed(&r, 12345, n);
    int bad = 0;
    double max_err = 0.0, err2 = 0.0, ref2 = 0.0;
    for (size_t s = 0; s < count; s++) {
        size_t i = count == n ? s : m2pt_rng_below(&r, (uint32_t)n);
        if (count < n && s % 2) /* every other sample: the next element with a non-zero analytic
                                 * gradient, so sparse gradients (embedding rows) are exercised */
            for (size_t k = 0; k < n && grad[i] == 0.0f; k++) i = (i + 1) % n;
        const float keep = x[i];
        x[i] = keep + (float)o->h;
        double lp = loss(ctx);
        x[i] = keep - (float)o->h;
        double lm = loss(ctx);
        x[i] = keep;
        /* divide by the step actually taken in float32 */
        double step = (double)(keep + (float)o->h) - (double)(keep - (float)o->h);
        double num = (lp - lm) / step, ana = grad[i];
        double err = fabs(num - ana);
        double tol = o->atol + o->rtol * fmax(fabs(num), fabs(ana));
        if (err > tol) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g (err %.3g > tol %.3g)\n", label, i,
                        ana, num, err, tol);
            bad++;
        }
        max_err = fmax(max_err, err);
        err2 += err * err;
        ref2 += num * num;
    }
    loss(ctx); /* leave the forward state of the unperturbed input */
    printf("  gradcheck %-28s checked %5zu  max abs err %.2e  normalised err %.2e%s\n", label, count,
           max_err, ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2), bad ? "  FAIL" : "");
    return bad;
}
