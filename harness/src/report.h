/* `m2pt report`: everything about one experiment of the result store as a Markdown report and
 * a self-contained HTML page with SVG figures (docs/report.md).
 *
 *   report_data.c   loads the experiment from the store: the `m2pt compare` analysis (groups,
 *                   mean and 95% CI, differences to baseline paired by seed) plus p-values,
 *                   learning curves, λ trajectories, unfinished runs, configuration, provenance
 *   report_build.c  turns that into a document (doc.h): sections, tables, notes
 *   report_figs.c   the SVG figures (svg.h)
 *   report_write.c  writes report.md, report.html and the figures into a directory
 *
 * Every function returns 0, -2 with err for bad input (unknown experiment, axis or metric; an
 * output directory that cannot be written) or -1 with err for a database or memory failure.
 * The output is a function of the database content alone: no clock, no paths, no host state. */
#ifndef M2PT_REPORT_H
#define M2PT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "doc.h"
#include "stats.h"

struct sqlite3;

/* Per-epoch mean and 95% CI (Student's t over the runs that reached the epoch). */
typedef struct {
    int nepochs;             /* epochs 1..nepochs */
    double *mean, *lo, *hi;  /* [epoch - 1]; NaN where no run has a value (lo/hi: fewer than 2) */
    int *count;              /* runs with a value at the epoch */
} m2pt_report_curve;

/* λ of every block linear per epoch, mean over the group's runs. */
typedef struct {
    int nblocks, nlinears, nepochs; /* 0 blocks: the group has no λ */
    char **linears;                 /* qkv, proj, fc1, fc2 first (in that order), then others */
    double *mean;                   /* [((block * nlinears) + linear) * nepochs + epoch - 1], NaN if absent */
    int nruns;                      /* runs that logged λ */
} m2pt_report_lambda;

/* A run of the experiment that is not done. */
typedef struct {
    int64_t id, seed;
    char *role, *status, *error, *finished;
    char *cell; /* target runs: "axis=value, ..." over the grid axes but seed; auxiliary runs:
                   "modality=..." */
} m2pt_report_pending;

/* One configuration key over the experiment's target runs: its distinct values in the order
 * of the first run that has each, and how many runs have it. */
typedef struct {
    char *key;
    char **values;
    int nvalues, nruns;
} m2pt_report_param;

typedef struct {
    char *git, *version, *host, *plugins;
    int runs;
} m2pt_report_build_row;

typedef struct {
    int64_t id, seed;
    char *modality, *status;
    int epochs;                  /* 0 when unknown */
    double test_acc, train_seconds; /* NaN when not done */
    int mae;                     /* trained by MAE (params objective = mae): an auxiliary or a pretrain model */
    double test_loss;            /* MAE: the test reconstruction loss (summary.test_loss); NaN when not done */
} m2pt_report_aux;

typedef struct {
    char *name, *description, *file, *text, *created, *updated;
    char *first_started, *last_finished; /* over the experiment's runs (NULL: none) */
    m2pt_compare cmp;               /* groups of the done target runs (stats.h) */
    double *p;                      /* per group: two-sided paired t-test p-value; NaN without one */
    m2pt_report_curve *curves;      /* per group: validation accuracy */
    m2pt_report_lambda *lambdas;    /* per group */
    m2pt_report_pending *pending;   /* not-done runs, by id */
    int npending;
    int ntarget, ndone_target, naux_runs;
    m2pt_report_param *params;
    int nparams;
    m2pt_report_build_row *builds;
    int nbuilds;
    m2pt_report_aux *aux;
    int naux;
    int64_t *seeds;                 /* distinct seeds of the done target runs, ascending */
    int nseeds;
    char *reference;                /* the --baseline selection, or NULL (compare's baselines) */
} m2pt_report;

/* by, metric: as for m2pt_compare_run (NULL: defaults). baseline: NULL, or "AXIS=VALUE,..."
 * naming one group (by its values of grouping axes; "-" for an axis the group ignores) that
 * every other group is compared with, instead of compare's baseline groups. */
int m2pt_report_load(struct sqlite3 *db, const char *experiment, const char *by, const char *metric,
                     const char *baseline, m2pt_report *r, char *err, size_t errlen);
void m2pt_report_free(m2pt_report *r);

/* The document: sections, tables and figures (each figure's SVG inside its block). */
int m2pt_report_document(const m2pt_report *r, m2pt_doc *d, char *err, size_t errlen);

/* Figures of report_figs.c, appended to d (file names fig-NN-<what>.svg, numbered by *fig). */
/* groups: indices into r->cmp.groups (a family: a baseline group and the groups compared with
 * it); skip: per axis, 1 to leave it out of the chart labels (constant in the family). */
int m2pt_report_fig_deltas(const m2pt_report *r, const int *groups, int n, const int *skip, const char *title,
                           m2pt_doc *d, int *fig);
/* One chart per at most 8 groups (the baseline group repeated in each). */
int m2pt_report_fig_curves(const m2pt_report *r, const int *groups, int n, const int *skip, const char *title,
                           m2pt_doc *d, int *fig);
int m2pt_report_fig_lambda(const m2pt_report *r, int group, m2pt_doc *d, int *fig);

/* Chart label of a group: its axis values without the axes in skip (NULL or naxes flags),
 * pathway.name as its value alone, auxiliary.modality as "aux=...", axes a group ignores
 * ("-") left out. */
void m2pt_report_short_label(const m2pt_compare *c, int g, const int *skip, char *buf, size_t n);
/* "axis=value, ..." over every axis. */
void m2pt_report_long_label(const m2pt_compare *c, int g, char *buf, size_t n);

/* Values as compare prints them (m2pt_compare_fmt); p-values with 3 decimals, or like 2.1e-05
 * below 0.001. */
void m2pt_report_fmt_p(double p, char *buf, size_t n);

/* Writes DIR/report.md, DIR/report.html and DIR/fig-*.svg (creating DIR and its parents),
 * each through a temporary file renamed into place. */
int m2pt_report_write(const m2pt_doc *d, const char *title, const char *dir, char *err, size_t errlen);

#endif
