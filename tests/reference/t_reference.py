#!/usr/bin/env python3
"""Reference values for tests/test_report.c: Student's t distribution and the regularized
incomplete beta function, computed with mpmath (Debian: python3-mpmath) at 30 digits, by two
routes that share nothing with m2pt's continued fraction (harness/src/tdist.c):

  t:    P(T >= t) by numerical integration of the density
        Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) · (1 + x²/ν)^(-(ν+1)/2)   from t to infinity,
        checked against mpmath.betainc(ν/2, 1/2, 0, ν/(ν+t²)) / 2;
  beta: mpmath.betainc (hypergeometric series), checked against the integral of
        u^(a-1) (1-u)^(b-1) after the substitution u = v^(1/a) (no singularity at 0).

Prints the C initialisers used in the test. The test only reads the numbers; run this when
adding cases."""
from mpmath import mp, mpf, quad, gamma, sqrt, pi, inf, betainc

mp.dps = 30


def t_sf(t, v):
    v = mpf(v)
    c = gamma((v + 1) / 2) / (sqrt(v * pi) * gamma(v / 2))
    return quad(lambda x: c * (1 + x * x / v) ** (-(v + 1) / 2), [t, t + 1, t + 10, inf])


T_CASES = [(0.5, 1), (2.0, 1), (1.0, 2), (3.0, 3), (2.228138852, 10), (1.5, 5), (2.5, 7), (4.0621, 9),
           (0.1, 4), (3.5, 15), (2.0, 30), (1.96, 100), (5.0, 3), (10.0, 2), (6.0, 12), (1.2, 2.5),
           (0.7, 0.5), (25.0, 4), (3.0, 1000)]
for t, v in T_CASES:
    s = t_sf(mpf(t), v)
    x = mpf(v) / (v + mpf(t) ** 2)
    s2 = betainc(mpf(v) / 2, mpf(1) / 2, 0, x, regularized=True) / 2
    assert abs(s - s2) < mpf(10) ** -16, (t, v, s, s2)
    print("    {%r, %r, %s, %s}," % (t, v, mp.nstr(1 - s, 17), mp.nstr(2 * s, 17)))

BETA_CASES = [(0.5, 0.5, 0.3), (2, 3, 0.4), (5, 0.5, 0.9), (10, 10, 0.5), (1, 1, 0.25), (0.1, 7, 0.01),
              (30, 2, 0.97)]
for a, b, x in BETA_CASES:
    a, b, x = mpf(a), mpf(b), mpf(x)
    ref = betainc(a, b, 0, x, regularized=True)
    f = lambda v: (1 - v ** (1 / a)) ** (b - 1) / a
    q = quad(f, [0, x ** a]) / quad(f, [0, x ** a, 1])
    assert abs(ref - q) < mpf(10) ** -15, (a, b, x, ref, q)
    print("    {%s, %s, %s, %s}," % (mp.nstr(a, 6), mp.nstr(b, 6), mp.nstr(x, 6), mp.nstr(ref, 17)))

print("    p(t = 12, df = 30) = %s" % mp.nstr(2 * t_sf(mpf(12), 30), 18))
