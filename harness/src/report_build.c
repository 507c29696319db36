/* m2pt report: the document (report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* ================================================================ numbers and labels */

void m2pt_report_fmt_p(double p, char *buf, size_t n) {
    if (isnan(p)) snprintf(buf, n, "-");
    else if (p == 0) snprintf(buf, n, "0");
    else if (p < 0.001) snprintf(buf, n, "%.1e", p);
    else snprintf(buf, n, "%.3f", p);
}

static int is_key(const char *axis, const char *a, const char *b) { return !strcmp(axis, a) || (b && !strcmp(axis, b)); }

void m2pt_report_short_label(const m2pt_compare *c, int g, const int *skip, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < c->naxes && len + 1 < n; k++) {
        const char *a = c->axes[k], *v = c->groups[g].values[k];
        if ((skip && skip[k]) || !v || !strcmp(v, "-")) continue;
        const char *dot = strrchr(a, '.'), *shortk = dot ? dot + 1 : a;
        int w;
        if (is_key(a, "pathway.name", "pathway")) w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", v);
        else if (is_key(a, "auxiliary.modality", "aux_modality"))
            w = snprintf(buf + len, n - len, "%saux=%s", len ? ", " : "", v);
        else if (is_key(a, "target.modality", "modality"))
            w = snprintf(buf + len, n - len, "%starget=%s", len ? ", " : "", v);
        else {
            /* the last part of the key, unless another axis ends the same way */
            for (int j = 0; j < c->naxes; j++) {
                const char *d2 = strrchr(c->axes[j], '.');
                if (j != k && !strcmp(d2 ? d2 + 1 : c->axes[j], shortk)) shortk = a;
            }
            w = snprintf(buf + len, n - len, "%s%s=%s", len ? ", " : "", shortk, v);
        }
        if (w < 0) break;
        len += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, n, "%s", c->naxes ? (c->groups[g].baseline ? "baseline" : "all") : "all runs");
}

void m2pt_report_long_label(const m2pt_compare *c, int g, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < c->naxes && len + 1 < n; k++) {
        const char *v = c->groups[g].values[k] ? c->groups[g].values[k] : "-";
        int w = snprintf(buf + len, n - len, "%s%s=%s", k ? ", " : "", c->axes[k], v);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (!c->naxes) snprintf(buf, n, "all runs");
}

/* ================================================================ families */

/* A baseline group and the groups compared with it; or (base -1) the groups without one. */
typedef struct {
    int base;
    int *g;
    int n;
} family;

static int build_families(const m2pt_compare *c, family **out, int *nout) {
    family *f = calloc((size_t)c->ngroups + 1, sizeof *f);
    if (!f) return -1;
    int nf = 0;
    for (int b = 0; b <= c->ngroups; b++) {
        int base = b < c->ngroups ? b : -1;
        if (base >= 0 && !c->groups[base].baseline) continue;
        family *F = &f[nf];
        F->base = base;
        if (!(F->g = malloc((size_t)(c->ngroups ? c->ngroups : 1) * sizeof *F->g))) {
            *out = f, *nout = nf;
            return -1;
        }
        nf++;
        if (base >= 0) F->g[F->n++] = base;
        for (int g = 0; g < c->ngroups; g++)
            if (!c->groups[g].baseline && c->groups[g].ref == base) F->g[F->n++] = g;
        if (!F->n) free(F->g), nf--;
    }
    *out = f, *nout = nf;
    return 0;
}

static void families_free(family *f, int n) {
    for (int i = 0; i < n; i++) free(f[i].g);
    free(f);
}

/* Axes that describe the pathway or the auxiliary model (as compare's baseline matching). */
static int about_pathway(const char *axis) {
    return !strncmp(axis, "pathway.", 8) || !strncmp(axis, "auxiliary.", 10) || !strcmp(axis, "pathway") ||
           !strcmp(axis, "aux") || !strcmp(axis, "aux_modality");
}

/* skip[k] = axis k has one value in the family (for a family of one group: axis k is not
 * about the pathway); such axes go into the family's heading instead of its table. */
static void constant_axes(const m2pt_compare *c, const family *F, int *skip) {
    for (int k = 0; k < c->naxes; k++) {
        skip[k] = F->n > 1 || !about_pathway(c->axes[k]);
        for (int i = 1; i < F->n && skip[k]; i++) {
            const char *a = c->groups[F->g[0]].values[k], *b = c->groups[F->g[i]].values[k];
            skip[k] = (!a && !b) || (a && b && !strcmp(a, b));
        }
    }
}

/* "axis=value, ..." of the axes that are constant in the family (for a family of one group:
 * those not about the pathway). */
static void family_title(const m2pt_compare *c, const family *F, const int *skip, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < c->naxes && len + 1 < n; k++) {
        if (!skip[k] || about_pathway(c->axes[k])) continue;
        const char *v = c->groups[F->g[0]].values[k];
        if (!v || !strcmp(v, "-")) continue;
        int w = snprintf(buf + len, n - len, "%s%s=%s", len ? ", " : "", c->axes[k], v);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, n, F->base >= 0 ? "all groups" : "groups without a baseline");
}

/* ================================================================ sections */

static const char *metric_words(const char *m) {
    static const struct {
        const char *name, *words;
    } known[] = {
        {"test_acc", "test accuracy of the merged model"},
        {"val_acc", "best validation accuracy"},
        {"best_val_acc", "best validation accuracy"},
        {"last_val_acc", "validation accuracy at the last epoch"},
        {"test_acc_unmerged", "test accuracy of the unmerged model (with its pathway)"},
        {"test_loss", "test loss"},
        {"train_seconds", "training time (s)"},
        {"wall_seconds", "wall time (s)"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(m, known[i].name)) return known[i].words;
    return NULL;
}

static int count_status(const m2pt_report *r, const char *role, const char *status) {
    int k = 0;
    for (int i = 0; i < r->npending; i++)
        k += r->pending[i].role && r->pending[i].status && !strcmp(r->pending[i].role, role) &&
             !strcmp(r->pending[i].status, status);
    return k;
}

static void runs_line(m2pt_doc *d, const m2pt_report *r) {
    char extra[256] = "";
    static const char *const st[] = {"failed", "interrupted", "running"};
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        int k = count_status(r, "target", st[i]);
        if (k) len += (size_t)snprintf(extra + len, sizeof extra - len, ", %d %s", k, st[i]);
    }
    int auxdone = 0;
    for (int i = 0; i < r->naux; i++) auxdone += r->aux[i].status && !strcmp(r->aux[i].status, "done");
    m2pt_doc_item(d, "Runs in the store: %d target run%s (%d done%s), %d auxiliary run%s (%d done).", r->ntarget,
                  r->ntarget == 1 ? "" : "s", r->ndone_target, extra, r->naux_runs, r->naux_runs == 1 ? "" : "s",
                  auxdone);
}

static void header(m2pt_doc *d, const m2pt_report *r) {
    const m2pt_compare *c = &r->cmp;
    m2pt_doc_heading(d, 1, "m2pt report: %s", r->name);
    if (r->description && *r->description) m2pt_doc_para(d, "%s", r->description);
    runs_line(d, r);
    const char *w = metric_words(c->metric);
    m2pt_doc_item(d,
                  "Metric: `%s`%s%s%s%s. Per group: n runs, mean, sample std and the 95%% confidence interval of the "
                  "mean (Student's t over seeds). Δ: the difference to the baseline group, paired by seed, with its "
                  "95%% CI and the two-sided p-value of the paired t-test.",
                  c->metric, w ? " (" : "", w ? w : "", w ? ")" : "",
                  c->percent ? ", in %; differences in percentage points" : "");
    if (r->nseeds) {
        char seeds[512];
        size_t len = 0;
        seeds[0] = '\0';
        for (int i = 0; i < r->nseeds && len + 24 < sizeof seeds; i++)
            len += (size_t)snprintf(seeds + len, sizeof seeds - len, "%s%lld", i ? ", " : "", (long long)r->seeds[i]);
        m2pt_doc_item(d, "Seeds of the finished target runs: %s.", seeds);
    }
    if (r->reference)
        m2pt_doc_item(d, "Reference group: `%s` (chosen with `--baseline`). Every other group is compared with it, "
                         "instead of with its baseline-pathway group.",
                      r->reference);
    if (c->naxes) {
        char axes[1024];
        size_t len = 0;
        axes[0] = '\0';
        for (int k = 0; k < c->naxes && len + 1 < sizeof axes; k++)
            len += (size_t)snprintf(axes + len, sizeof axes - len, "%s`%s`", k ? ", " : "", c->axes[k]);
        m2pt_doc_item(d, "Groups: the values of %s (%d groups).", axes, c->ngroups);
    }
    if (r->first_started)
        m2pt_doc_item(d, "First run started %s, last run ended %s (UTC, from the store).", r->first_started,
                      r->last_finished ? r->last_finished : "-");
    m2pt_doc_list_end(d);
}

static void notes(m2pt_doc *d, const m2pt_report *r) {
    const m2pt_compare *c = &r->cmp;
    int nbase = 0, single = 0, onepair = 0, noref = 0, notdone = 0;
    for (int g = 0; g < c->ngroups; g++) {
        nbase += c->groups[g].baseline;
        single += c->groups[g].stats.n == 1;
        if (!c->groups[g].baseline && c->groups[g].ref >= 0 && c->groups[g].diff.n == 1) onepair++;
        if (!c->groups[g].baseline && c->groups[g].ref < 0) noref++;
    }
    for (int i = 0; i < r->npending; i++) notdone += r->pending[i].role && !strcmp(r->pending[i].role, "target");
    int novalue = c->nruns - c->nvalues;
    if (c->ngroups && nbase && !noref && !single && !onepair && !notdone && !novalue) return;
    m2pt_doc_heading(d, 2, "Notes");
    if (!c->ngroups)
        m2pt_doc_item(d, "No finished target run has a value of `%s` yet: there is nothing to average.", c->metric);
    if (c->ngroups && !nbase)
        m2pt_doc_item(d, "No group is a baseline (every run of a baseline group has pathway `baseline`): differences "
                         "to baseline and p-values are not computed. Add `baseline` to the grid's `pathway.name` "
                         "to get them.");
    else if (noref)
        m2pt_doc_item(d, "%d group%s no baseline group with the same non-pathway axis values: no difference for %s.",
                      noref, noref == 1 ? " has" : "s have", noref == 1 ? "it" : "them");
    if (single && single == c->ngroups)
        m2pt_doc_item(d, "Every group has a single run (one seed): no standard deviation, no confidence interval and "
                         "no p-value can be computed. Add seeds to the grid (`seed: [0, 1, 2]`).");
    else if (single)
        m2pt_doc_item(d, "%d group%s a single run: no confidence interval for %s.", single,
                      single == 1 ? " has" : "s have", single == 1 ? "it" : "them");
    if (onepair && single != c->ngroups)
        m2pt_doc_item(d, "%d group%s only one seed in common with %s baseline: no interval or p-value for %s "
                         "difference.",
                      onepair, onepair == 1 ? " has" : "s have", onepair == 1 ? "its" : "their",
                      onepair == 1 ? "its" : "their");
    if (notdone)
        m2pt_doc_item(d, "%d target run%s not done (failed, interrupted or running): listed under 'Unfinished and "
                         "failed runs', left out of every number and figure.",
                      notdone, notdone == 1 ? " is" : "s are");
    if (novalue)
        m2pt_doc_item(d, "%d finished target run%s no value of `%s`: left out.", novalue,
                      novalue == 1 ? " has" : "s have", c->metric);
    m2pt_doc_list_end(d);
}

/* The table of a family. */
static void family_table(m2pt_doc *d, const m2pt_report *r, const family *F, const int *skip) {
    const m2pt_compare *c = &r->cmp;
    const char *base = r->reference ? "reference" : "baseline";
    const char *cols[80];
    int nc = 0;
    for (int k = 0; k < c->naxes && nc < 64; k++)
        if (!skip[k]) cols[nc++] = c->axes[k];
    if (!nc) cols[nc++] = "group";
    const char *const stat_cols[] = {">n",          ">mean", ">std",  "95% CI", r->reference ? ">Δ vs reference" : ">Δ vs baseline",
                                     "95% CI of Δ", ">p",    ">pairs"};
    for (size_t j = 0; j < sizeof stat_cols / sizeof *stat_cols; j++) cols[nc++] = stat_cols[j];
    cols[nc] = NULL;
    m2pt_doc_table(d, cols);
    for (int i = 0; i < F->n; i++) {
        const m2pt_compare_group *G = &c->groups[F->g[i]];
        int any = 0;
        for (int k = 0; k < c->naxes; k++)
            if (!skip[k]) m2pt_doc_cell(d, "%s", G->values[k] ? G->values[k] : "-"), any = 1;
        if (!any) {
            char label[512];
            m2pt_report_short_label(c, F->g[i], NULL, label, sizeof label);
            m2pt_doc_cell(d, "%s", label);
        }
        char b[160];
        m2pt_doc_cell(d, "%d", G->stats.n);
        m2pt_compare_fmt(c, G->stats.mean, 0, b, sizeof b), m2pt_doc_cell(d, "%s", b);
        m2pt_compare_fmt(c, G->stats.sd, 0, b, sizeof b), m2pt_doc_cell(d, "%s", b);
        m2pt_compare_fmt_interval(c, G->stats.mean, G->stats.ci, 0, b, sizeof b), m2pt_doc_cell(d, "%s", b);
        if (G->baseline) {
            m2pt_doc_cell(d, "%s", base), m2pt_doc_cell(d, "-"), m2pt_doc_cell(d, "-"), m2pt_doc_cell(d, "-");
        } else if (G->ref < 0 || !G->diff.n) {
            m2pt_doc_cell(d, "-"), m2pt_doc_cell(d, "-"), m2pt_doc_cell(d, "-");
            m2pt_doc_cell(d, "%s", G->ref < 0 ? "-" : "0");
        } else {
            m2pt_compare_fmt(c, G->diff.mean, 1, b, sizeof b), m2pt_doc_cell(d, "%s", b);
            m2pt_compare_fmt_interval(c, G->diff.mean, G->diff.ci, 1, b, sizeof b), m2pt_doc_cell(d, "%s", b);
            m2pt_report_fmt_p(r->p[F->g[i]], b, sizeof b), m2pt_doc_cell(d, "%s", b);
            m2pt_doc_cell(d, "%d", G->diff.n);
        }
    }
}

/* One sentence per compared group: what the interval says. */
static void family_reading(m2pt_doc *d, const m2pt_report *r, const family *F, const int *skip) {
    const m2pt_compare *c = &r->cmp;
    const char *unit = c->percent ? " pp" : "";
    for (int i = 0; i < F->n; i++) {
        int g = F->g[i];
        const m2pt_compare_group *G = &c->groups[g];
        if (G->baseline || G->ref < 0) continue;
        char label[512], m[48], iv[160], p[32];
        m2pt_report_short_label(c, g, skip, label, sizeof label);
        m2pt_compare_fmt(c, G->diff.mean, 1, m, sizeof m);
        m2pt_compare_fmt_interval(c, G->diff.mean, G->diff.ci, 1, iv, sizeof iv);
        m2pt_report_fmt_p(r->p[g], p, sizeof p);
        if (!G->diff.n)
            m2pt_doc_item(d, "`%s`: no seed in common with the %s group: no difference.", label,
                          r->reference ? "reference" : "baseline");
        else if (G->diff.n == 1)
            m2pt_doc_item(d, "`%s`: Δ = %s%s from a single paired seed: no interval, no p-value.", label, m, unit);
        else if (G->diff.sd == 0)
            m2pt_doc_item(d, "`%s`: Δ = %s%s, the same for each of the %d paired seeds: the differences have no "
                             "spread, so the t interval is degenerate%s.",
                          label, m, unit, G->diff.n, G->diff.mean == 0 ? " and there is no p-value" : " (p = 0)");
        else {
            double lo = G->diff.mean - G->diff.ci, hi = G->diff.mean + G->diff.ci;
            const char *verdict = lo > 0   ? "the interval excludes 0: higher at the 5% level"
                                  : hi < 0 ? "the interval excludes 0: lower at the 5% level"
                                           : "the interval contains 0: within noise for these seeds";
            m2pt_doc_item(d, "`%s`: Δ = %s%s, 95%% CI %s, p = %s over %d paired seeds; %s.", label, m, unit, iv, p,
                          G->diff.n, verdict);
        }
    }
    m2pt_doc_list_end(d);
}

static int results(m2pt_doc *d, const m2pt_report *r, int *fig) {
    const m2pt_compare *c = &r->cmp;
    m2pt_doc_heading(d, 2, "Results");
    if (!c->ngroups) {
        m2pt_doc_para(d, "No finished target runs with a value of `%s`.", c->metric);
        return 0;
    }
    family *f = NULL;
    int nf = 0, rc = build_families(c, &f, &nf);
    int *skip = calloc((size_t)(c->naxes ? c->naxes : 1), sizeof *skip);
    if (!skip) rc = -1;
    for (int i = 0; i < nf && !rc; i++) {
        char title[1024];
        constant_axes(c, &f[i], skip);
        family_title(c, &f[i], skip, title, sizeof title);
        if (nf > 1) m2pt_doc_heading(d, 3, "%s", title);
        family_table(d, r, &f[i], skip);
        family_reading(d, r, &f[i], skip);
        rc = m2pt_report_fig_deltas(r, f[i].g, f[i].n, skip, nf > 1 ? title : NULL, d, fig);
        if (!rc) rc = m2pt_report_fig_curves(r, f[i].g, f[i].n, skip, nf > 1 ? title : NULL, d, fig);
    }
    free(skip);
    families_free(f, nf);
    return rc;
}

/* λ at the last epoch, per linear: mean over blocks, and the smallest and largest block. */
static int lambdas(m2pt_doc *d, const m2pt_report *r, int *fig) {
    const m2pt_compare *c = &r->cmp;
    int any = 0;
    for (int g = 0; g < c->ngroups; g++) any += r->lambdas[g].nblocks > 0;
    if (!any) return 0;
    m2pt_doc_heading(d, 2, "λ per block linear");
    m2pt_doc_para(d, "The pathway scale λ of every block linear (W_eff = W + λ·W_aux), logged at the end of each "
                     "epoch and averaged over the group's runs. The table gives λ at the last epoch per linear: the "
                     "mean over blocks, and in brackets the smallest and the largest block.");
    m2pt_doc_table(d, (const char *const[]){"group", ">runs", ">epoch", "qkv", "proj", "fc1", "fc2", NULL});
    for (int g = 0; g < c->ngroups; g++) {
        const m2pt_report_lambda *L = &r->lambdas[g];
        if (!L->nblocks) continue;
        char label[512];
        m2pt_report_short_label(c, g, NULL, label, sizeof label);
        m2pt_doc_cell(d, "%s", label);
        m2pt_doc_cell(d, "%d", L->nruns);
        m2pt_doc_cell(d, "%d", L->nepochs);
        static const char *const lin[] = {"qkv", "proj", "fc1", "fc2"};
        for (int j = 0; j < 4; j++) {
            int li = -1;
            for (int k = 0; k < L->nlinears; k++)
                if (!strcmp(L->linears[k], lin[j])) li = k;
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            int n = 0;
            for (int b = 0; li >= 0 && b < L->nblocks; b++) {
                double v = L->mean[((size_t)b * L->nlinears + li) * L->nepochs + L->nepochs - 1];
                if (isnan(v)) continue;
                sum += v, n++;
                lo = v < lo ? v : lo, hi = v > hi ? v : hi;
            }
            if (n) m2pt_doc_cell(d, "%.3g [%.3g, %.3g]", sum / n + 0.0, lo + 0.0, hi + 0.0);
            else m2pt_doc_cell(d, "-");
        }
    }
    int rc = 0;
    for (int g = 0; g < c->ngroups && !rc; g++)
        if (r->lambdas[g].nblocks) rc = m2pt_report_fig_lambda(r, g, d, fig);
    return rc;
}

static void pending(m2pt_doc *d, const m2pt_report *r) {
    m2pt_doc_heading(d, 2, "Unfinished and failed runs");
    if (!r->npending) {
        m2pt_doc_para(d, "None: every run of the experiment in the store is done. (Cells that were never started are "
                         "not in the store; `m2pt run FILE --dry-run` lists every cell of the file.)");
        return;
    }
    m2pt_doc_para(d, "Not in any number or figure above. `running` is the state in the store: a run whose process "
                     "is gone is restarted by the next `m2pt run`. Cells never started are not in the store.");
    m2pt_doc_table(d, (const char *const[]){">run", "role", "status", "cell", ">seed", "ended", "error", NULL});
    for (int i = 0; i < r->npending; i++) {
        const m2pt_report_pending *p = &r->pending[i];
        m2pt_doc_cell(d, "%lld", (long long)p->id);
        m2pt_doc_cell(d, "%s", p->role ? p->role : "-");
        m2pt_doc_cell(d, "%s", p->status ? p->status : "-");
        m2pt_doc_cell(d, "%s", p->cell && *p->cell ? p->cell : "-");
        m2pt_doc_cell(d, "%lld", (long long)p->seed);
        m2pt_doc_cell(d, "%s", p->finished ? p->finished : "-");
        m2pt_doc_cell(d, "%s", p->error ? p->error : "-");
    }
}

/* The auxiliary models (and MAE pretrain models). With none trained by MAE the table is the
 * one reports had before MAE existed, byte for byte; otherwise it gains an objective column and
 * the test reconstruction loss of the MAE models (which have no accuracy). */
static void aux_models(m2pt_doc *d, const m2pt_report *r) {
    int mae = 0;
    for (int i = 0; i < r->naux; i++) mae |= r->aux[i].mae;
    m2pt_doc_heading(d, 3, mae ? "Auxiliary and pretrained models" : "Auxiliary models");
    if (mae) {
        m2pt_doc_para(d, "Models trained alone: supervised auxiliary models, and models trained by masked-autoencoder "
                         "pretraining (objective mae: MAE auxiliary models, and the pretraining of targets with "
                         "`target.pretrain: mae`). An MAE model has no accuracy; its test reconstruction loss is "
                         "the mean loss on masked tokens of the test split (summary.test_loss).");
        m2pt_doc_table(d, (const char *const[]){">run", "modality", "objective", ">seed", ">epochs", "status",
                                                ">test acc (%)", ">test recon loss", ">train s", NULL});
    } else {
        m2pt_doc_table(d, (const char *const[]){">run", "modality", ">seed", ">epochs", "status", ">test acc (%)",
                                                ">train s", NULL});
    }
    for (int i = 0; i < r->naux; i++) {
        const m2pt_report_aux *a = &r->aux[i];
        m2pt_doc_cell(d, "%lld", (long long)a->id);
        m2pt_doc_cell(d, "%s", a->modality ? a->modality : "-");
        if (mae) m2pt_doc_cell(d, "%s", a->mae ? "mae" : "supervised");
        m2pt_doc_cell(d, "%lld", (long long)a->seed);
        if (a->epochs) m2pt_doc_cell(d, "%d", a->epochs);
        else m2pt_doc_cell(d, "-");
        m2pt_doc_cell(d, "%s", a->status ? a->status : "-");
        if (isnan(a->test_acc)) m2pt_doc_cell(d, "-");
        else m2pt_doc_cell(d, "%.2f", 100 * a->test_acc);
        if (mae) {
            if (!a->mae || isnan(a->test_loss)) m2pt_doc_cell(d, "-");
            else m2pt_doc_cell(d, "%.4f", a->test_loss);
        }
        if (isnan(a->train_seconds)) m2pt_doc_cell(d, "-");
        else m2pt_doc_cell(d, "%.1f", a->train_seconds);
    }
}

static void configuration(m2pt_doc *d, const m2pt_report *r) {
    m2pt_doc_heading(d, 2, "Configuration");
    m2pt_doc_heading(d, 3, "Resolved configuration of the target runs");
    m2pt_doc_para(d, "Every key of the resolved configurations of the experiment's %d target runs (the `params` "
                     "table): its value, or the values it takes in order of the first run with each.",
                  r->ntarget);
    m2pt_doc_table(d, (const char *const[]){"key", "value", "runs", NULL});
    for (int i = 0; i < r->nparams; i++) {
        const m2pt_report_param *p = &r->params[i];
        m2pt_strbuf b;
        m2pt_sb_init(&b);
        for (int j = 0; j < p->nvalues; j++) m2pt_sb_printf(&b, "%s%s", j ? ", " : "", p->values[j]);
        if (b.failed) d->failed = 1;
        m2pt_doc_cell(d, "%s", p->key);
        m2pt_doc_cell(d, "%s%s", p->nvalues > 1 ? "varies: " : "", b.buf ? b.buf : "");
        if (p->nruns == r->ntarget) m2pt_doc_cell(d, "all");
        else m2pt_doc_cell(d, "%d of %d", p->nruns, r->ntarget);
        m2pt_sb_free(&b);
    }
    if (r->naux) aux_models(d, r);
    m2pt_doc_heading(d, 3, "Experiment file");
    m2pt_doc_para(d, "`%s` as of the latest `m2pt run` of it (first run %s, latest %s UTC):", r->file ? r->file : "-",
                  r->created ? r->created : "-", r->updated ? r->updated : "-");
    m2pt_doc_code(d, r->text ? r->text : "");
    m2pt_doc_heading(d, 3, "Provenance");
    m2pt_doc_table(d, (const char *const[]){"git", "m2pt", "host", "plugins", ">runs", NULL});
    for (int i = 0; i < r->nbuilds; i++) {
        const m2pt_report_build_row *b = &r->builds[i];
        m2pt_doc_cell(d, "%s", b->git ? b->git : "-");
        m2pt_doc_cell(d, "%s", b->version ? b->version : "-");
        m2pt_doc_cell(d, "%s", b->host ? b->host : "-");
        m2pt_doc_cell(d, "%s", b->plugins ? b->plugins : "-");
        m2pt_doc_cell(d, "%d", b->runs);
    }
}

int m2pt_report_document(const m2pt_report *r, m2pt_doc *d, char *err, size_t errlen) {
    int fig = 0;
    header(d, r);
    notes(d, r);
    int rc = results(d, r, &fig);
    if (!rc) rc = lambdas(d, r, &fig);
    pending(d, r);
    configuration(d, r);
    m2pt_doc_para(d, "Written by `m2pt report` from the result store; every number above can be queried there "
                     "(docs/store.md, docs/report.md).");
    if (rc || d->failed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
