#include "tdist.h"

#include <float.h>
#include <math.h>

#define CF_MAX_ITER 10000
#define CF_EPS 1e-15
#define CF_TINY 1e-300

/* Continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified Lentz); converges fast
 * for x < (a + 1) / (a + b + 2). NAN when it does not converge. */
static double betacf(double a, double b, double x) {
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < CF_TINY) d = CF_TINY;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= CF_MAX_ITER; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < CF_TINY) d = CF_TINY;
        c = 1 + aa / c;
        if (fabs(c) < CF_TINY) c = CF_TINY;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < CF_TINY) d = CF_TINY;
        c = 1 + aa / c;
        if (fabs(c) < CF_TINY) c = CF_TINY;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < CF_EPS) return h;
    }
    return NAN;
}

double m2pt_betainc(double a, double b, double x, double y) {
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(y >= 0) || x > 1 || y > 1 || fabs(x + y - 1) > 8 * DBL_EPSILON)
        return NAN;
    if (x == 0) return 0;
    if (y == 0) return 1;
    /* x^a y^b / (a B(a, b)), in logs */
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y);
    if (x < (a + 1) / (a + b + 2)) return exp(lfront) * betacf(a, b, x) / a;
    return 1 - exp(lfront) * betacf(b, a, y) / b;
}

double m2pt_t_p2(double t, double df) {
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return 0;
    double t2 = t * t;
    /* x = df / (df + t^2), y = t^2 / (df + t^2): both computed directly */
    return m2pt_betainc(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

double m2pt_t_cdf(double t, double df) {
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return t > 0 ? 1 : 0;
    double tail = m2pt_t_p2(t, df) / 2; /* P(T >= |t|) */
    return t < 0 ? tail : 1 - tail;
}

double m2pt_paired_p(const m2pt_desc *d) {
    if (!d || d->n < 2 || isnan(d->mean) || isnan(d->sd)) return NAN;
    if (d->sd == 0) return d->mean == 0 ? NAN : 0;
    return m2pt_t_p2(d->mean / (d->sd / sqrt((double)d->n)), d->n - 1);
}
