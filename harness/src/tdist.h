/* Student's t distribution: the CDF and two-sided p-values, through the regularized incomplete
 * beta function (continued fraction, modified Lentz). Used by `m2pt report` for the p-value of
 * the paired t-test; validated against values computed independently (numerical integration of
 * the density with mpmath, closed forms for small df, a textbook paired test) in
 * tests/test_report.c. */
#ifndef M2PT_TDIST_H
#define M2PT_TDIST_H

#include "stats.h"

/* I_x(a, b) with y = 1 - x given separately (so that x close to 1 loses no digits). NAN for
 * a <= 0, b <= 0, x outside [0, 1], x + y not 1 within rounding, or no convergence. */
double m2pt_betainc(double a, double b, double x, double y);

/* P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be an integer).
 * t = +-inf gives 1 or 0; NAN for NaN t or df <= 0. */
double m2pt_t_cdf(double t, double df);

/* P(|T| >= |t|): the two-sided p-value of a t statistic, computed from the tail directly (no
 * 1 - cdf cancellation, so small p-values keep their digits). */
double m2pt_t_p2(double t, double df);

/* The two-sided p-value of the paired t-test whose differences are described by d (mean, sd,
 * n; as from m2pt_paired): t = mean / (sd / sqrt(n)), df = n - 1. NAN with fewer than 2 pairs,
 * and when every difference is 0; 0 when the differences are all equal and not 0. */
double m2pt_paired_p(const m2pt_desc *d);

#endif
