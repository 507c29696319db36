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

/* Central difference of loss at x[i] with step h (divided by the step taken in float32). */
static double central(gc_loss_fn loss, void *ctx, float *x, size_t i, double h, double *lp, double *lm) {
    const float keep = x[i];
    x[i] = keep + (float)h;
    *lp = loss(ctx);
    x[i] = keep - (float)h;
    *lm = loss(ctx);
    x[i] = keep;
    double step = (double)(keep + (float)h) - (double)(keep - (float)h);
    return (*lp - *lm) / step;
}

int gc_check(const char *label, gc_loss_fn loss, void *ctx, float *x, const float *grad, size_t n,
             const gc_opts *o) {
    size_t count = (o->samples <= 0 || (size_t)o->samples >= n) ? n : (size_t)o->samples;
    m2pt_rng r;
    m2pt_rng_seed(&r, 12345, n);
    int bad = 0, kinks = 0, have_l0 = 0;
    double max_err = 0.0, err2 = 0.0, ref2 = 0.0, l0 = 0.0;
    for (size_t s = 0; s < count; s++) {
        size_t i = count == n ? s : m2pt_rng_below(&r, (uint32_t)n);
        if (count < n && s % 2) /* every other sample: the next element with a non-zero analytic
                                 * gradient, so sparse gradients (embedding rows) are exercised */
            for (size_t k = 0; k < n && grad[i] == 0.0f; k++) i = (i + 1) % n;
        double lp, lm, ana = grad[i];
        double num = central(loss, ctx, x, i, o->h, &lp, &lm);
        double err = fabs(num - ana);
        double tol = o->atol + o->rtol * fmax(fabs(num), fabs(ana));
        if (err > tol) {
            /* A kink (max, ReLU) inside [x - h, x + h] breaks the central difference, not the
             * gradient. Accept the element when a 10x smaller step agrees, or when one side's
             * difference does (the analytic gradient follows the side the input is on); at most a
             * quarter of the elements may be excused this way. */
            if (!have_l0) l0 = loss(ctx), have_l0 = 1;
            double lp2, lm2, small = central(loss, ctx, x, i, o->h / 10, &lp2, &lm2);
            double fwd = (lp - l0) / o->h, bwd = (l0 - lm) / o->h;
            double best = fmin(fabs(small - ana), fmin(fabs(fwd - ana), fabs(bwd - ana)));
            double tol2 = 2 * o->atol + o->rtol * fmax(fabs(ana), fabs(small));
            if (best <= tol2) {
                kinks++;
                err = best;
            } else {
                if (bad < 5)
                    fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g (err %.3g > tol %.3g)\n", label, i,
                            ana, num, err, tol);
                bad++;
            }
        }
        max_err = fmax(max_err, err);
        err2 += err * err;
        ref2 += num * num;
    }
    if (kinks > (int)(count / 4)) {
        fprintf(stderr, "  %s: %d of %zu elements only matched one-sided or small-step differences\n", label, kinks,
                count);
        bad += kinks;
    }
    loss(ctx); /* leave the forward state of the unperturbed input */
    char note[48] = "";
    if (kinks) snprintf(note, sizeof note, "  (%d at kinks)", kinks);
    printf("  gradcheck %-28s checked %5zu  max abs err %.2e  normalised err %.2e%s%s\n", label, count, max_err,
           ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2), note, bad ? "  FAIL" : "");
    return bad;
}
