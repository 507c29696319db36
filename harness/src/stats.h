/* Statistics over seeds, and the `m2pt compare` analysis of an experiment in the result store.
 *
 * Descriptive statistics: mean, sample standard deviation (n - 1), and the half-width of the
 * two-sided 95% confidence interval of the mean, t(0.975, n - 1) * sd / sqrt(n), from Student's
 * t distribution (exact table for 1..30 degrees of freedom, a Cornish-Fisher expansion beyond;
 * docs/store.md). Paired differences pair values by a key (the seed).
 *
 * Compare: the done target runs of an experiment, grouped by axes (dotted config keys), one
 * value of a metric per run; each group's n, mean, sd, CI, and its difference to the baseline
 * group (pathway 'baseline', same values of the other non-pathway, non-auxiliary axes), paired
 * by seed. docs/store.md describes the rules. */
#ifndef M2PT_STATS_H
#define M2PT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"

struct sqlite3;

/* t(0.975, df): the 97.5% quantile of Student's t with df degrees of freedom; NAN for df < 1. */
double m2pt_t975(int df);

typedef struct {
    int n;
    double mean; /* NAN when n == 0 */
    double sd;   /* sample standard deviation; NAN when n < 2 */
    double ci;   /* half-width of the 95% CI of the mean; NAN when n < 2 */
} m2pt_desc;

void m2pt_describe(const double *x, int n, m2pt_desc *out);

/* Paired differences a - b over the keys present in both (each key once per side): describes
 * them into *out (out->n = number of pairs). NaN values are skipped. */
void m2pt_paired(const int64_t *ka, const double *a, int na, const int64_t *kb, const double *b, int nb,
                 m2pt_desc *out);

/* ---------------------------------------------------------------- compare */

typedef struct {
    char **values;   /* one per axis; NULL when the run has no such key */
    int baseline;    /* every run of the group has pathway 'baseline' */
    int ref;         /* index of the baseline group it is compared with, or -1 */
    m2pt_desc stats; /* over the group's runs */
    m2pt_desc diff;  /* paired by seed with groups[ref]; diff.n = pairs (0 without ref) */
    int64_t *seeds;  /* one per run with a value */
    double *vals;
    int64_t *runs;   /* the run ids, in the same order */
    int n, cap;
} m2pt_compare_group;

typedef struct {
    char *metric;      /* as resolved, e.g. "test_acc" */
    char **axes;       /* grouping axes */
    int naxes;
    m2pt_compare_group *groups; /* in the order of their first run id (grid order) */
    int ngroups;
    int nruns;         /* done target runs of the experiment */
    int nvalues;       /* of which have a value of the metric */
    int percent;       /* the metric is an accuracy (a fraction shown in %) */
} m2pt_compare;

/* by: comma-separated axes, or NULL/"" for the default (the experiment's grid axes that vary
 * among its done target runs, except seed). metric: NULL for "test_acc". Returns 0; -2 with
 * err for bad input (unknown experiment, axis or metric); -1 with err for a database error. */
int m2pt_compare_run(struct sqlite3 *db, const char *experiment, const char *by, const char *metric,
                     m2pt_compare *out, char *err, size_t errlen);
void m2pt_compare_free(m2pt_compare *c);

/* Makes the one group whose axis values match spec ("axis=value,...", the axes named; "-" for
 * a run without the key) the reference of every other group, instead of the baseline-pathway
 * groups: diffs are recomputed against it. 0; -2 with err when spec is malformed, names an axis
 * that is not a grouping axis, or matches no group or several; -1 when out of memory. */
int m2pt_compare_rebase(m2pt_compare *c, const char *spec, char *err, size_t errlen);

/* The difference G - B paired by seed (a group's runs of one seed count as their mean), as
 * compare computes it for a group and its baseline. 0, or -1 when out of memory. */
int m2pt_compare_paired(const m2pt_compare_group *G, const m2pt_compare_group *B, m2pt_desc *out);

/* A value of the metric as the tables show it: accuracies in % with 2 decimals, other metrics
 * with 6 significant digits; sign: with a + (a difference; one that rounds to 0 is +0.00);
 * NaN is "-". The interval mean ± half as "[lo, hi]". */
void m2pt_compare_fmt(const m2pt_compare *c, double v, int sign, char *buf, size_t n);
void m2pt_compare_fmt_interval(const m2pt_compare *c, double mean, double half, int sign, char *buf, size_t n);

/* The result as a table. human: accuracies in % with 2 decimals and CIs as "[lo, hi]" (for
 * table/markdown); otherwise raw numbers in separate columns (for csv/json). NULL when out of
 * memory. */
m2pt_table *m2pt_compare_table(const m2pt_compare *c, int human);

#endif
