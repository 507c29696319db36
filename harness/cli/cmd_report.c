/* m2pt report EXP: a Markdown report and a self-contained HTML page with SVG figures for one
 * experiment of the result store (docs/report.md). Opens the database read-only. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"
#include "store.h"

#define DEFAULT_DB "results/m2pt.db"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt report EXP [-o DIR] [--db FILE] [--by AXIS,...] [--metric M] [--baseline AXIS=V,...]\n"
            "Writes DIR/report.md (GitHub Markdown, figures as SVG files beside it), DIR/report.html (one\n"
            "self-contained page: CSS and SVG inline, works offline) and DIR/fig-NN-*.svg for experiment\n"
            "EXP of the result store: the resolved configuration; per group n, mean, std and the 95%%\n"
            "CI over seeds (Student's t), the difference to baseline paired by seed with its 95%% CI\n"
            "and the p-value of the paired t-test; a chart of those differences; learning curves\n"
            "(validation accuracy per epoch, a band over seeds); lambda of every block linear over\n"
            "training; unfinished and failed runs. Groups and baselines are those of 'm2pt compare'.\n"
            "The output depends only on the database: the same database gives the same bytes.\n"
            "\n"
            "  -o, --out DIR   output directory, created if needed (default results/EXP)\n"
            "  --db FILE       the result database (default %s)\n"
            "  --by AXIS,...   grouping axes, as in 'm2pt compare' (default: the grid axes that vary)\n"
            "  --metric M      the summary metric of the tables (default test_acc), as in 'm2pt compare'\n"
            "  --baseline AXIS=VALUE,...  compare every group with the one group having these values\n"
            "                  of grouping axes ('-' for an axis it ignores), e.g. model.mlp_ratio=10,\n"
            "                  instead of with its baseline-pathway group\n"
            "Exit codes: 0 ok, 1 a failure reading the database, 2 bad usage or bad input (unknown\n"
            "experiment, axis or metric, a missing database, an output directory that cannot be written).\n",
            DEFAULT_DB);
}

int cmd_report(int argc, char **argv) {
    const char *exp = NULL, *out = NULL, *db = DEFAULT_DB, *by = NULL, *metric = NULL, *baseline = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "-o") || !strcmp(a, "--out") ? &out
                            : !strcmp(a, "--db")                    ? &db
                            : !strcmp(a, "--by")                    ? &by
                            : !strcmp(a, "--metric")                ? &metric
                            : !strcmp(a, "--baseline")              ? &baseline
                                                                    : NULL;
        if (slot) {
            if (!v || !*v) return fprintf(stderr, "m2pt report: %s needs a value\n", a), 2;
            *slot = v, i++;
        } else if (a[0] == '-' && a[1]) {
            return fprintf(stderr, "m2pt report: unknown option '%s' (see 'm2pt report --help')\n", a), 2;
        } else if (!exp) {
            exp = a;
        } else {
            return fprintf(stderr, "m2pt report: unexpected argument '%s' (see 'm2pt report --help')\n", a), 2;
        }
    }
    if (!exp) return fprintf(stderr, "m2pt report: missing experiment name (see 'm2pt report --help')\n"), 2;
    char outbuf[4096];
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "results/%s", exp);
        out = outbuf;
    }
    struct stat st;
    if (stat(db, &st))
        return fprintf(stderr, "m2pt report: no database at %s (run 'm2pt run EXP.yaml' first, or pass --db FILE)\n", db), 2;
    char err[1024];
    m2pt_store *s = NULL;
    if (m2pt_store_open(&s, db, 1, err, sizeof err)) return fprintf(stderr, "m2pt report: %s\n", err), 2;
    m2pt_report r;
    int rc = m2pt_report_load(m2pt_store_db(s), exp, by, metric, baseline, &r, err, sizeof err);
    m2pt_store_close(s);
    if (rc) {
        fprintf(stderr, "m2pt report: %s: %s\n", db, err);
        return rc == -2 ? 2 : 1;
    }
    m2pt_doc d;
    m2pt_doc_init(&d);
    char title[300];
    snprintf(title, sizeof title, "m2pt report: %s", exp);
    rc = m2pt_report_document(&r, &d, err, sizeof err);
    if (!rc) rc = m2pt_report_write(&d, title, out, err, sizeof err);
    int figs = 0;
    for (int i = 0; i < d.n; i++) figs += d.b[i].kind == M2PT_DOC_FIGURE;
    m2pt_doc_free(&d);
    m2pt_report_free(&r);
    if (rc) {
        fprintf(stderr, "m2pt report: %s\n", err);
        return rc == -2 ? 2 : 1;
    }
    printf("m2pt report: wrote %s/report.md, %s/report.html and %d figure%s\n", out, out, figs, figs == 1 ? "" : "s");
    return 0;
}
