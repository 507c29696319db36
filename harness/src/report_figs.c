/* m2pt report: the SVG figures (report.h, svg.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "svg.h"

#define MAX_LINES 4 /* series per learning-curve chart: more bands would hide each other */

/* Renders with fn into a new figure block: fig-NN-<what>.svg. */
static int add_figure(m2pt_doc *d, int *fig, const char *what, const char *caption, m2pt_strbuf *svg) {
    if (svg->failed || !svg->buf) {
        m2pt_sb_free(svg);
        return -1;
    }
    char file[64];
    snprintf(file, sizeof file, "fig-%02d-%s.svg", ++*fig, what);
    m2pt_doc_figure(d, file, caption, svg->buf); /* takes the buffer */
    return d->failed ? -1 : 0;
}

int m2pt_report_fig_deltas(const m2pt_report *r, const int *groups, int n, const int *skip, const char *title,
                           m2pt_doc *d, int *fig) {
    const m2pt_compare *c = &r->cmp;
    m2pt_svg_bar *bars = calloc((size_t)(n ? n : 1), sizeof *bars);
    char(*labels)[256] = calloc((size_t)(n ? n : 1), sizeof *labels);
    char(*tips)[512] = calloc((size_t)(n ? n : 1), sizeof *tips);
    char(*notes)[200] = calloc((size_t)(n ? n : 1), sizeof *notes);
    if (!bars || !labels || !tips || !notes) {
        free(bars), free(labels), free(tips), free(notes);
        return -1;
    }
    double scale = c->percent ? 100 : 1;
    /* labels leave out what all the bars share (when they differ at all) */
    int *bskip = malloc((size_t)(c->naxes ? c->naxes : 1) * sizeof *bskip), first = -1, differ = 0;
    if (!bskip) {
        free(bars), free(labels), free(tips), free(notes);
        return -1;
    }
    for (int k = 0; k < c->naxes; k++) bskip[k] = 1;
    for (int i = 0; i < n; i++) {
        const m2pt_compare_group *G = &c->groups[groups[i]];
        if (G->baseline || G->ref < 0) continue;
        if (first < 0) {
            first = groups[i];
            continue;
        }
        for (int k = 0; k < c->naxes; k++) {
            const char *a = c->groups[first].values[k], *b = G->values[k];
            if (!((!a && !b) || (a && b && !strcmp(a, b)))) bskip[k] = 0, differ = 1;
        }
    }
    for (int k = 0; k < c->naxes; k++) bskip[k] = differ ? bskip[k] || (skip && skip[k]) : skip && skip[k];
    int nb = 0;
    for (int i = 0; i < n; i++) {
        const m2pt_compare_group *G = &c->groups[groups[i]];
        if (G->baseline || G->ref < 0) continue;
        m2pt_report_short_label(c, groups[i], bskip, labels[nb], sizeof labels[nb]);
        m2pt_report_long_label(c, groups[i], tips[nb], sizeof tips[nb]);
        m2pt_svg_bar *b = &bars[nb];
        b->label = labels[nb], b->tooltip = tips[nb], b->note = notes[nb];
        b->value = G->diff.n ? scale * G->diff.mean : NAN;
        b->lo = G->diff.n > 1 ? scale * (G->diff.mean - G->diff.ci) : NAN;
        b->hi = G->diff.n > 1 ? scale * (G->diff.mean + G->diff.ci) : NAN;
        char m[48], lo[48], hi[48], p[32];
        m2pt_compare_fmt(c, G->diff.mean, 1, m, sizeof m);
        m2pt_report_fmt_p(r->p[groups[i]], p, sizeof p);
        if (!G->diff.n) snprintf(notes[nb], sizeof notes[nb], "no common seed");
        else if (isnan(G->diff.ci)) snprintf(notes[nb], sizeof notes[nb], "%s (%d pair%s, no CI)", m, G->diff.n, G->diff.n == 1 ? "" : "s");
        else {
            m2pt_compare_fmt(c, G->diff.mean - G->diff.ci, 1, lo, sizeof lo);
            m2pt_compare_fmt(c, G->diff.mean + G->diff.ci, 1, hi, sizeof hi);
            if (isnan(r->p[groups[i]])) snprintf(notes[nb], sizeof notes[nb], "%s [%s, %s]", m, lo, hi);
            else snprintf(notes[nb], sizeof notes[nb], "%s [%s, %s] p=%s", m, lo, hi, p);
        }
        nb++;
    }
    int rc = 0;
    if (nb) {
        char t[600], xl[300], cap[900];
        const char *base = r->reference ? "reference" : "baseline";
        snprintf(t, sizeof t, "Difference to %s%s%s", base, title ? ": " : "", title ? title : "");
        snprintf(xl, sizeof xl, "Δ %s vs %s%s, paired by seed; whiskers: 95%% CI", c->metric, base,
                 c->percent ? " (percentage points)" : "");
        snprintf(cap, sizeof cap,
                 "Difference of `%s` to the %s group, paired by seed: bars are the mean difference, whiskers "
                 "its 95%% confidence interval (Student's t); p: paired t-test.%s%s",
                 c->metric, base, title ? " " : "", title ? title : "");
        m2pt_svg_bars spec = {.title = t, .xlabel = xl, .bars = bars, .nbars = nb};
        m2pt_strbuf b;
        m2pt_sb_init(&b);
        rc = m2pt_svg_bar_chart(&b, &spec, 0);
        if (!rc) rc = add_figure(d, fig, "deltas", cap, &b);
        else m2pt_sb_free(&b);
    }
    free(bars), free(labels), free(tips), free(notes), free(bskip);
    return rc;
}

/* One chart of learning curves for the groups idx[0..n). */
static int curves_chart(const m2pt_report *r, const int *idx, int n, const int *skip, const char *title, int part,
                        int parts, m2pt_doc *d, int *fig) {
    const m2pt_compare *c = &r->cmp;
    m2pt_svg_series s[MAX_LINES];
    char labels[MAX_LINES][256], tips[MAX_LINES][512];
    double *x[MAX_LINES] = {0}, *y[MAX_LINES] = {0}, *lo[MAX_LINES] = {0}, *hi[MAX_LINES] = {0};
    int ns = 0, rc = 0, color = 1;
    for (int i = 0; i < n && !rc; i++) {
        const m2pt_report_curve *cv = &r->curves[idx[i]];
        if (!cv->nepochs) continue;
        int ne = cv->nepochs;
        x[ns] = malloc((size_t)ne * sizeof(double)), y[ns] = malloc((size_t)ne * sizeof(double));
        lo[ns] = malloc((size_t)ne * sizeof(double)), hi[ns] = malloc((size_t)ne * sizeof(double));
        if (!x[ns] || !y[ns] || !lo[ns] || !hi[ns]) {
            rc = -1, ns++;
            break;
        }
        for (int e = 0; e < ne; e++) {
            x[ns][e] = e + 1, y[ns][e] = 100 * cv->mean[e];
            /* an interval of an accuracy is drawn within [0, 100] */
            lo[ns][e] = 100 * cv->lo[e] < 0 ? 0 : 100 * cv->lo[e];
            hi[ns][e] = 100 * cv->hi[e] > 100 ? 100 : 100 * cv->hi[e];
        }
        m2pt_report_short_label(c, idx[i], skip, labels[ns], sizeof labels[ns]);
        m2pt_report_long_label(c, idx[i], tips[ns], sizeof tips[ns]);
        int base = c->groups[idx[i]].baseline;
        s[ns] = (m2pt_svg_series){.label = labels[ns], .tooltip = tips[ns], .color = m2pt_svg_color(base ? 0 : color++),
                                  .dashed = base, .n = ne, .x = x[ns], .y = y[ns], .lo = lo[ns], .hi = hi[ns]};
        ns++;
    }
    if (!rc && ns) {
        char t[700], cap[900], partx[32] = "";
        if (parts > 1) snprintf(partx, sizeof partx, " (%d of %d)", part, parts);
        snprintf(t, sizeof t, "Validation accuracy per epoch%s%s%s", title ? ": " : "", title ? title : "", partx);
        snprintf(cap, sizeof cap,
                 "Learning curves%s: validation accuracy at the end of each epoch, mean over the group's runs; band: "
                 "95%% CI of the mean over seeds (Student's t; drawn within 0-100%%), absent with fewer than 2 runs. "
                 "Baseline dashed.%s%s",
                 partx, title ? " " : "", title ? title : "");
        m2pt_svg_panel panel = {.series = s, .nseries = ns};
        m2pt_svg_lines spec = {.title = t, .xlabel = "epoch", .ylabel = "validation accuracy (%)", .panels = &panel,
                               .npanels = 1, .integer_x = 1};
        m2pt_strbuf b;
        m2pt_sb_init(&b);
        rc = m2pt_svg_line_chart(&b, &spec, 0);
        if (!rc) rc = add_figure(d, fig, "curves", cap, &b);
        else m2pt_sb_free(&b);
    }
    for (int i = 0; i < ns; i++) free(x[i]), free(y[i]), free(lo[i]), free(hi[i]);
    return rc;
}

int m2pt_report_fig_curves(const m2pt_report *r, const int *groups, int n, const int *skip, const char *title,
                           m2pt_doc *d, int *fig) {
    const m2pt_compare *c = &r->cmp;
    /* baselines go into every chart; the others are split into charts of MAX_LINES in all */
    int nb = 0, no = 0, base[MAX_LINES], rc = 0;
    int *others = malloc((size_t)(n ? n : 1) * sizeof *others);
    if (!others) return -1;
    for (int i = 0; i < n; i++) {
        if (!r->curves[groups[i]].nepochs) continue;
        if (c->groups[groups[i]].baseline && nb < MAX_LINES / 2) base[nb++] = groups[i];
        else others[no++] = groups[i];
    }
    int per = MAX_LINES - nb, parts = no ? (no + per - 1) / per : 1;
    for (int p = 0; p < parts && !rc && (nb || no); p++) {
        int idx[MAX_LINES], k = 0;
        for (int i = 0; i < nb; i++) idx[k++] = base[i];
        for (int i = p * per; i < no && i < (p + 1) * per; i++) idx[k++] = others[i];
        rc = curves_chart(r, idx, k, skip, title, p + 1, parts, d, fig);
    }
    free(others);
    return rc;
}

int m2pt_report_fig_lambda(const m2pt_report *r, int g, m2pt_doc *d, int *fig) {
    const m2pt_report_lambda *L = &r->lambdas[g];
    if (!L->nblocks) return 0;
    int nl = L->nlinears, nbk = L->nblocks, ne = L->nepochs, rc = 0;
    m2pt_svg_panel *panels = calloc((size_t)nl, sizeof *panels);
    m2pt_svg_series *series = calloc((size_t)nl * nbk, sizeof *series);
    double *x = malloc((size_t)ne * sizeof *x);
    char(*labels)[32] = calloc((size_t)nbk, sizeof *labels);
    char(*colors)[8] = calloc((size_t)nbk, sizeof *colors);
    if (!panels || !series || !x || !labels || !colors) rc = -1;
    for (int e = 0; !rc && e < ne; e++) x[e] = e + 1;
    for (int b = 0; !rc && b < nbk; b++) {
        snprintf(labels[b], sizeof labels[b], "block %d", b);
        m2pt_svg_shade(b, nbk, colors[b]);
    }
    for (int j = 0; !rc && j < nl; j++) {
        panels[j].title = L->linears[j];
        panels[j].series = &series[(size_t)j * nbk];
        panels[j].nseries = nbk;
        for (int b = 0; b < nbk; b++)
            series[(size_t)j * nbk + b] = (m2pt_svg_series){
                .label = labels[b], .color = colors[b], .n = ne, .x = x, .y = &L->mean[((size_t)b * nl + j) * ne]};
    }
    if (!rc) {
        char label[512], shortl[512], t[700], cap[900], note[200];
        m2pt_report_long_label(&r->cmp, g, label, sizeof label);
        m2pt_report_short_label(&r->cmp, g, NULL, shortl, sizeof shortl);
        snprintf(t, sizeof t, "λ per block linear: %s", shortl);
        snprintf(note, sizeof note, "mean over %d run%s; the value at the end of each epoch", L->nruns,
                 L->nruns == 1 ? "" : "s");
        snprintf(cap, sizeof cap, "λ of each block's qkv, proj, fc1 and fc2 over training, %s: %s.", label, note);
        m2pt_svg_lines spec = {.title = t, .xlabel = "epoch", .ylabel = "λ", .panels = panels, .npanels = nl,
                               .integer_x = 1, .note = note};
        m2pt_strbuf b;
        m2pt_sb_init(&b);
        rc = m2pt_svg_line_chart(&b, &spec, 0);
        if (!rc) rc = add_figure(d, fig, "lambda", cap, &b);
        else m2pt_sb_free(&b);
    }
    free(panels), free(series), free(x), free(labels), free(colors);
    return rc;
}
