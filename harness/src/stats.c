#include "stats.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ================================================================ descriptive statistics */

/* t(0.975, df) for df = 1..30 (computed with mpmath from the regularized incomplete beta
 * function; they agree with printed tables to every digit shown there). */
static const double t975_table[30] = {
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135,
    2.262157163,  2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546, 2.119905299,
    2.109815578,  2.100922040, 2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553,  2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
};

double m2pt_t975(int df) {
    if (df < 1) return NAN;
    if (df <= 30) return t975_table[df - 1];
    /* Cornish-Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5);
     * error < 4e-8 for df > 30. */
    const double z = 1.959963984540054, v = df;
    const double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v) +
           (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * v * v * v * v);
}

void m2pt_describe(const double *x, int n, m2pt_desc *out) {
    *out = (m2pt_desc){.n = n > 0 ? n : 0, .mean = NAN, .sd = NAN, .ci = NAN};
    if (n <= 0) return;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    out->mean = sum / n;
    if (n < 2) return;
    double ss = 0; /* two passes: no cancellation */
    for (int i = 0; i < n; i++) ss += (x[i] - out->mean) * (x[i] - out->mean);
    out->sd = sqrt(ss / (n - 1));
    out->ci = m2pt_t975(n - 1) * out->sd / sqrt((double)n);
}

void m2pt_paired(const int64_t *ka, const double *a, int na, const int64_t *kb, const double *b, int nb,
                 m2pt_desc *out) {
    double *d = malloc((size_t)(na > 0 ? na : 1) * sizeof *d);
    int n = 0;
    for (int i = 0; d && i < na; i++) {
        if (isnan(a[i])) continue;
        for (int j = 0; j < nb; j++)
            if (kb[j] == ka[i] && !isnan(b[j])) {
                d[n++] = a[i] - b[j];
                break;
            }
    }
    m2pt_describe(d, n, out);
    free(d);
}

/* ================================================================ compare: helpers */

static int errf(char *err, size_t n, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return rc;
}

static int dberr(sqlite3 *db, char *err, size_t n, const char *what) {
    return errf(err, n, -1, "%s: %s", what, sqlite3_errmsg(db));
}

static char *dup_or_null(const unsigned char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup((const char *)s);
    if (!d) *oom = 1;
    return d;
}

static int streq_null(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* Summary columns a metric name may refer to (val_acc: the best validation accuracy, as in the
 * results view). */
static const struct {
    const char *name, *column;
} summary_metrics[] = {
    {"test_acc", "test_acc"},         {"val_acc", "best_val_acc"},         {"best_val_acc", "best_val_acc"},
    {"last_val_acc", "last_val_acc"}, {"test_acc_unmerged", "test_acc_unmerged"}, {"test_loss", "test_loss"},
    {"train_seconds", "train_seconds"}, {"wall_seconds", "wall_seconds"},  {"params_trainable", "params_trainable"},
    {"params_inference", "params_inference"}, {"epochs_done", "epochs_done"},
};
#define NSUMMARY ((int)(sizeof summary_metrics / sizeof summary_metrics[0]))

static const char *summary_column(const char *metric) {
    for (int i = 0; i < NSUMMARY; i++)
        if (!strcmp(metric, summary_metrics[i].name)) return summary_metrics[i].column;
    return NULL;
}

/* Axes that are run columns rather than config keys. */
static const char *alias_column(const char *axis) {
    if (!strcmp(axis, "pathway")) return "pathway";
    if (!strcmp(axis, "aux") || !strcmp(axis, "aux_modality")) return "aux_modality";
    if (!strcmp(axis, "modality") || !strcmp(axis, "target_modality")) return "target_modality";
    return NULL;
}

/* Axes that describe the pathway or the auxiliary model: ignored when matching a group with
 * its baseline. */
static int pathway_axis(const char *axis) {
    return !strncmp(axis, "pathway.", 8) || !strncmp(axis, "auxiliary.", 10) || !strcmp(axis, "pathway") ||
           !strcmp(axis, "aux") || !strcmp(axis, "aux_modality");
}

/* Comma-separated list of the first column of a query with one bound int64 and one optional
 * text parameter, for messages ("a, b, c", at most 12 items). */
static void list_of(sqlite3 *db, const char *sql, int64_t id, char *out, size_t n) {
    out[0] = '\0';
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return;
    sqlite3_bind_int64(st, 1, id);
    size_t len = 0;
    int k = 0;
    while (sqlite3_step(st) == SQLITE_ROW && len + 1 < n) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        if (!s) continue;
        const char *sep = k ? ", " : "";
        int w = k == 12 ? snprintf(out + len, n - len, ", ...") : snprintf(out + len, n - len, "%s%s", sep, (const char *)s);
        if (w < 0 || (size_t)w >= n - len || k++ == 12) break;
        len += (size_t)w;
    }
    sqlite3_finalize(st);
    if (!out[0]) snprintf(out, n, "none");
}

/* One fetched run. */
typedef struct {
    int64_t id, seed;
    char *pathway, *aux, *mod;
    double v;
    char **ax; /* naxes values */
} run_row;

typedef struct {
    run_row *r;
    int n, cap;
} run_list;

static void runs_free(run_list *l, int naxes) {
    for (int i = 0; i < l->n; i++) {
        free(l->r[i].pathway), free(l->r[i].aux), free(l->r[i].mod);
        for (int k = 0; l->r[i].ax && k < naxes; k++) free(l->r[i].ax[k]);
        free(l->r[i].ax);
    }
    free(l->r);
    memset(l, 0, sizeof *l);
}

/* ================================================================ compare: steps */

static int find_experiment(sqlite3 *db, const char *name, int64_t *id, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id FROM experiments WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return dberr(db, err, n, "looking up the experiment");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return dberr(db, err, n, "looking up the experiment");
    char names[600];
    list_of(db, "SELECT name FROM experiments WHERE ?1 = ?1 ORDER BY name", 0, names, sizeof names);
    return errf(err, n, -2, "no experiment '%s' (experiments: %s)", name, names);
}

/* Checks that a non-summary metric was recorded for some run of the experiment. */
static int check_metric(sqlite3 *db, int64_t exp, const char *metric, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT 1 FROM metrics m JOIN experiment_runs er ON er.run_id = m.run_id "
                      "WHERE er.experiment_id = ?1 AND m.key = ?2 LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "looking up the metric");
    sqlite3_bind_int64(st, 1, exp);
    sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return dberr(db, err, n, "looking up the metric");
    char keys[600];
    list_of(db,
            "SELECT DISTINCT m.key FROM metrics m JOIN experiment_runs er ON er.run_id = m.run_id "
            "WHERE er.experiment_id = ?1 AND m.epoch > 0 AND m.key NOT LIKE 'lambda.%' ORDER BY m.key",
            exp, keys, sizeof keys);
    return errf(err, n, -2,
                "unknown metric '%s' (summary: test_acc, val_acc, best_val_acc, last_val_acc, test_acc_unmerged, "
                "test_loss, train_seconds, wall_seconds, params_trainable, params_inference, epochs_done; "
                "per-epoch metrics recorded: %s)",
                metric, keys);
}

static int fetch_runs(sqlite3 *db, int64_t exp, const char *metric, run_list *l, char *err, size_t n) {
    const char *col = summary_column(metric);
    char sql[800], value[300];
    if (col) snprintf(value, sizeof value, "(SELECT s.%s FROM summary s WHERE s.run_id = r.id)", col);
    else
        snprintf(value, sizeof value, "(SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = ?2 "
                                      "ORDER BY m.epoch DESC, m.step DESC, m.rowid DESC LIMIT 1)");
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.seed, r.pathway, r.aux_modality, r.target_modality, %s FROM runs r "
             "JOIN experiment_runs er ON er.run_id = r.id "
             "WHERE er.experiment_id = ?1 AND r.role = 'target' AND r.status = 'done' ORDER BY r.id",
             value);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "reading the runs");
    sqlite3_bind_int64(st, 1, exp);
    if (!col) sqlite3_bind_text(st, 2, metric, -1, SQLITE_STATIC);
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !oom) {
        if (l->n == l->cap) {
            int cap = l->cap ? 2 * l->cap : 32;
            run_row *p = realloc(l->r, (size_t)cap * sizeof *p);
            if (!p) {
                oom = 1;
                break;
            }
            l->r = p, l->cap = cap;
        }
        run_row *r = &l->r[l->n++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->seed = sqlite3_column_int64(st, 1);
        r->pathway = dup_or_null(sqlite3_column_text(st, 2), &oom);
        r->aux = dup_or_null(sqlite3_column_text(st, 3), &oom);
        r->mod = dup_or_null(sqlite3_column_text(st, 4), &oom);
        r->v = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
    }
    if (oom) {
        sqlite3_finalize(st);
        return errf(err, n, -1, "out of memory");
    }
    if (rc != SQLITE_DONE) {
        dberr(db, err, n, "reading the runs");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int add_axis(m2pt_compare *c, const char *a, char *err, size_t n) {
    for (int i = 0; i < c->naxes; i++)
        if (!strcmp(c->axes[i], a)) return 0;
    char **p = realloc(c->axes, (size_t)(c->naxes + 1) * sizeof *p);
    if (!p) return errf(err, n, -1, "out of memory");
    c->axes = p;
    if (!(c->axes[c->naxes] = strdup(a))) return errf(err, n, -1, "out of memory");
    c->naxes++;
    return 0;
}

/* A --by axis must be a run column alias, a grid axis of the experiment or a config key some
 * run of the experiment has. */
static int check_axis(sqlite3 *db, int64_t exp, const char *axis, char *err, size_t n) {
    if (alias_column(axis)) return 0;
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT 1 FROM experiment_axes WHERE experiment_id = ?1 AND key = ?2 UNION ALL "
                      "SELECT 1 FROM params p JOIN experiment_runs er ON er.run_id = p.run_id "
                      "WHERE er.experiment_id = ?1 AND p.key = ?2 LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "looking up an axis");
    sqlite3_bind_int64(st, 1, exp);
    sqlite3_bind_text(st, 2, axis, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return dberr(db, err, n, "looking up an axis");
    char axes[600];
    list_of(db, "SELECT key FROM experiment_axes WHERE experiment_id = ?1 ORDER BY position", exp, axes, sizeof axes);
    return errf(err, n, -2,
                "unknown axis '%s' (grid axes: %s; also pathway, aux_modality, modality, or any config key)", axis,
                axes);
}

static int parse_by(sqlite3 *db, int64_t exp, const char *by, m2pt_compare *c, char *err, size_t n) {
    char *copy = strdup(by);
    if (!copy) return errf(err, n, -1, "out of memory");
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ') *--end = '\0';
        if (!*tok) continue;
        rc = check_axis(db, exp, tok, err, n);
        if (!rc) rc = add_axis(c, tok, err, n);
    }
    free(copy);
    if (!rc && !c->naxes) rc = errf(err, n, -2, "--by '%s' names no axis", by);
    return rc;
}

/* The experiment's grid axes except seed (or, when none were recorded, pathway and aux_modality). */
static int default_axes(sqlite3 *db, int64_t exp, m2pt_compare *c, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT key FROM experiment_axes WHERE experiment_id = ?1 ORDER BY position", -1, &st,
                           NULL) != SQLITE_OK)
        return dberr(db, err, n, "reading the axes");
    sqlite3_bind_int64(st, 1, exp);
    int rc, r = 0, any = 0;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        any = 1;
        if (k && strcmp(k, "seed")) r = add_axis(c, k, err, n);
    }
    if (!r && rc != SQLITE_DONE) r = dberr(db, err, n, "reading the axes");
    sqlite3_finalize(st);
    if (!r && !any) r = add_axis(c, "pathway", err, n);
    if (!r && !any) r = add_axis(c, "aux_modality", err, n);
    return r;
}

/* Keys that a resolved configuration leaves out at their default, so that the cells from before
 * they existed keep their hash (exp_cells.c): a run without them ran with the default. */
static const char *omitted_default(const char *key, const run_row *r) {
    if (!strcmp(key, "target.pretrain")) return "none";
    if (!strcmp(key, "auxiliary.objective") && r->aux) return "supervised";
    return NULL;
}

static int fetch_axis_values(sqlite3 *db, const m2pt_compare *c, run_list *l, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", -1, &st, NULL) != SQLITE_OK)
        return dberr(db, err, n, "reading the params");
    int oom = 0, rc = 0;
    for (int i = 0; i < l->n && !oom && !rc; i++) {
        run_row *r = &l->r[i];
        if (!(r->ax = calloc((size_t)(c->naxes ? c->naxes : 1), sizeof *r->ax))) oom = 1;
        for (int k = 0; !oom && !rc && k < c->naxes; k++) {
            const char *alias = alias_column(c->axes[k]);
            if (alias) {
                const char *v = !strcmp(alias, "pathway") ? r->pathway : !strcmp(alias, "aux_modality") ? r->aux : r->mod;
                r->ax[k] = dup_or_null((const unsigned char *)v, &oom);
                continue;
            }
            /* a target.* axis is spelled without "target." in the resolved config (target.modality
             * is modality): the store records it under the axis name only when the run is claimed
             * by an experiment with that axis, so a run shared with another experiment may lack it */
            for (int pass = 0; pass < 2 && !r->ax[k] && !rc; pass++) {
                const char *key = c->axes[k];
                if (pass && strncmp(key, "target.", 7)) break;
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, r->id);
                sqlite3_bind_text(st, 2, pass ? key + 7 : key, -1, SQLITE_STATIC);
                int s = sqlite3_step(st);
                if (s == SQLITE_ROW) r->ax[k] = dup_or_null(sqlite3_column_text(st, 0), &oom);
                else if (s != SQLITE_DONE) rc = dberr(db, err, n, "reading the params");
            }
            const char *def = r->ax[k] || rc ? NULL : omitted_default(c->axes[k], r);
            if (def) r->ax[k] = dup_or_null((const unsigned char *)def, &oom);
        }
    }
    sqlite3_finalize(st);
    if (oom) return errf(err, n, -1, "out of memory");
    return rc;
}

/* Keeps only the axes whose value differs between some runs. */
static void drop_constant_axes(m2pt_compare *c, run_list *l) {
    int k = 0;
    while (k < c->naxes) {
        int varies = 0;
        for (int i = 1; i < l->n && !varies; i++) varies = !streq_null(l->r[i].ax[k], l->r[0].ax[k]);
        if (varies) {
            k++;
            continue;
        }
        free(c->axes[k]);
        for (int i = 0; i < l->n; i++) {
            free(l->r[i].ax[k]);
            memmove(&l->r[i].ax[k], &l->r[i].ax[k + 1], (size_t)(c->naxes - k - 1) * sizeof(char *));
        }
        memmove(&c->axes[k], &c->axes[k + 1], (size_t)(c->naxes - k - 1) * sizeof(char *));
        c->naxes--;
    }
}

static int group_of(m2pt_compare *c, const run_row *r) {
    for (int g = 0; g < c->ngroups; g++) {
        int same = 1;
        for (int k = 0; k < c->naxes && same; k++) same = streq_null(c->groups[g].values[k], r->ax[k]);
        if (same) return g;
    }
    return -1;
}

static int new_group(m2pt_compare *c, const run_row *r) {
    m2pt_compare_group *p = realloc(c->groups, (size_t)(c->ngroups + 1) * sizeof *p);
    if (!p) return -1;
    c->groups = p;
    m2pt_compare_group *g = &c->groups[c->ngroups];
    memset(g, 0, sizeof *g);
    g->ref = -1, g->baseline = 1;
    c->ngroups++; /* counted now so that compare_free releases a partial group */
    if (!(g->values = calloc((size_t)(c->naxes ? c->naxes : 1), sizeof *g->values))) return -1;
    for (int k = 0; k < c->naxes; k++)
        if (r->ax[k] && !(g->values[k] = strdup(r->ax[k]))) return -1;
    return c->ngroups - 1;
}

static int group_add(m2pt_compare_group *g, const run_row *r) {
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 8;
        int64_t *s = realloc(g->seeds, (size_t)cap * sizeof *s);
        if (!s) return -1;
        g->seeds = s;
        double *v = realloc(g->vals, (size_t)cap * sizeof *v);
        if (!v) return -1;
        g->vals = v;
        int64_t *ids = realloc(g->runs, (size_t)cap * sizeof *ids);
        if (!ids) return -1;
        g->runs = ids, g->cap = cap;
    }
    g->seeds[g->n] = r->seed, g->vals[g->n] = r->v, g->runs[g->n] = r->id, g->n++;
    if (!r->pathway || strcmp(r->pathway, "baseline")) g->baseline = 0;
    return 0;
}

static int build_groups(m2pt_compare *c, const run_list *l, char *err, size_t n) {
    for (int i = 0; i < l->n; i++) {
        const run_row *r = &l->r[i];
        if (isnan(r->v)) continue;
        c->nvalues++;
        int g = group_of(c, r);
        if (g < 0 && (g = new_group(c, r)) < 0) return errf(err, n, -1, "out of memory");
        if (group_add(&c->groups[g], r)) return errf(err, n, -1, "out of memory");
    }
    return 0;
}

/* Mean value per distinct seed of a group (several runs of one seed: their mean). */
static int per_seed(const m2pt_compare_group *g, int64_t *keys, double *vals) {
    int m = 0;
    for (int i = 0; i < g->n; i++) {
        int j = 0;
        while (j < m && keys[j] != g->seeds[i]) j++;
        if (j < m) continue;
        double sum = 0;
        int cnt = 0;
        for (int k = i; k < g->n; k++)
            if (g->seeds[k] == g->seeds[i]) sum += g->vals[k], cnt++;
        keys[m] = g->seeds[i], vals[m] = sum / cnt, m++;
    }
    return m;
}

static int match_baseline(const m2pt_compare *c, int g) {
    for (int b = 0; b < c->ngroups; b++) {
        if (!c->groups[b].baseline || b == g) continue;
        int same = 1;
        for (int k = 0; k < c->naxes && same; k++)
            if (!pathway_axis(c->axes[k])) same = streq_null(c->groups[b].values[k], c->groups[g].values[k]);
        if (same) return b;
    }
    return -1;
}

int m2pt_compare_paired(const m2pt_compare_group *G, const m2pt_compare_group *B, m2pt_desc *out) {
    *out = (m2pt_desc){0, NAN, NAN, NAN};
    int64_t *ka = malloc((size_t)(G->n ? G->n : 1) * sizeof *ka), *kb = malloc((size_t)(B->n ? B->n : 1) * sizeof *kb);
    double *a = malloc((size_t)(G->n ? G->n : 1) * sizeof *a), *b = malloc((size_t)(B->n ? B->n : 1) * sizeof *b);
    if (ka && kb && a && b) {
        int na = per_seed(G, ka, a), nb = per_seed(B, kb, b);
        m2pt_paired(ka, a, na, kb, b, nb, out);
    }
    int oom = !(ka && kb && a && b);
    free(ka), free(kb), free(a), free(b);
    return oom ? -1 : 0;
}

static int compute_stats(m2pt_compare *c, char *err, size_t n) {
    for (int g = 0; g < c->ngroups; g++) m2pt_describe(c->groups[g].vals, c->groups[g].n, &c->groups[g].stats);
    for (int g = 0; g < c->ngroups; g++) {
        m2pt_compare_group *G = &c->groups[g];
        G->diff = (m2pt_desc){0, NAN, NAN, NAN};
        if (G->baseline || (G->ref = match_baseline(c, g)) < 0) continue;
        if (m2pt_compare_paired(G, &c->groups[G->ref], &G->diff)) return errf(err, n, -1, "out of memory");
    }
    return 0;
}

/* ================================================================ compare: entry points */

void m2pt_compare_free(m2pt_compare *c) {
    if (!c) return;
    for (int g = 0; g < c->ngroups; g++) {
        for (int k = 0; c->groups[g].values && k < c->naxes; k++) free(c->groups[g].values[k]);
        free(c->groups[g].values), free(c->groups[g].seeds), free(c->groups[g].vals), free(c->groups[g].runs);
    }
    free(c->groups);
    for (int k = 0; k < c->naxes; k++) free(c->axes[k]);
    free(c->axes);
    free(c->metric);
    memset(c, 0, sizeof *c);
}

int m2pt_compare_run(sqlite3 *db, const char *experiment, const char *by, const char *metric, m2pt_compare *out,
                     char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!db || !experiment) return errf(err, errlen, -2, "no experiment given");
    if (!metric || !*metric) metric = "test_acc";
    int64_t exp = 0;
    run_list l = {0};
    int rc = find_experiment(db, experiment, &exp, err, errlen);
    if (!rc && !summary_column(metric)) rc = check_metric(db, exp, metric, err, errlen);
    if (!rc && !(out->metric = strdup(metric))) rc = errf(err, errlen, -1, "out of memory");
    if (!rc) out->percent = strstr(metric, "acc") != NULL;
    if (!rc) rc = by && *by ? parse_by(db, exp, by, out, err, errlen) : default_axes(db, exp, out, err, errlen);
    if (!rc) rc = fetch_runs(db, exp, metric, &l, err, errlen);
    if (!rc) rc = fetch_axis_values(db, out, &l, err, errlen);
    if (!rc && !(by && *by)) drop_constant_axes(out, &l);
    if (!rc) out->nruns = l.n;
    if (!rc) rc = build_groups(out, &l, err, errlen);
    if (!rc) rc = compute_stats(out, err, errlen);
    runs_free(&l, out->naxes);
    if (rc) m2pt_compare_free(out);
    return rc;
}

/* ================================================================ compare: --baseline */

int m2pt_compare_rebase(m2pt_compare *c, const char *spec, char *err, size_t n) {
    char *copy = strdup(spec);
    const char **want = calloc((size_t)(c->naxes ? c->naxes : 1), sizeof *want);
    int rc = copy && want ? 0 : errf(err, n, -1, "out of memory"), given = 0;
    for (char *save = NULL, *tok = rc ? NULL : strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *eq = strchr(tok, '=');
        if (!eq) {
            rc = errf(err, n, -2, "--baseline '%s': expected AXIS=VALUE, got '%s'", spec, tok);
            break;
        }
        *eq = '\0';
        int k = 0;
        while (k < c->naxes && strcmp(c->axes[k], tok)) k++;
        if (k == c->naxes) {
            m2pt_strbuf b;
            m2pt_sb_init(&b);
            for (int j = 0; j < c->naxes; j++) m2pt_sb_printf(&b, "%s%s", j ? ", " : "", c->axes[j]);
            rc = errf(err, n, -2, "--baseline '%s': '%s' is not a grouping axis (axes: %s)", spec, tok,
                      b.buf ? b.buf : "none");
            m2pt_sb_free(&b);
            break;
        }
        want[k] = eq + 1, given++;
    }
    if (!rc && !given) rc = errf(err, n, -2, "--baseline '%s' names no axis", spec);
    int ref = -1, matches = 0;
    for (int g = 0; !rc && g < c->ngroups; g++) {
        int same = 1;
        for (int k = 0; k < c->naxes && same; k++) {
            const char *v = c->groups[g].values[k] ? c->groups[g].values[k] : "-";
            same = !want[k] || !strcmp(want[k], v);
        }
        if (same) ref = ref < 0 ? g : ref, matches++;
    }
    if (!rc && matches != 1)
        rc = errf(err, n, -2, "--baseline '%s' matches %d of the %d groups (it must match exactly one)", spec, matches,
                  c->ngroups);
    for (int g = 0; !rc && g < c->ngroups; g++) {
        m2pt_compare_group *G = &c->groups[g];
        G->baseline = g == ref;
        G->ref = g == ref ? -1 : ref;
        G->diff = (m2pt_desc){0, NAN, NAN, NAN};
        if (g != ref && m2pt_compare_paired(G, &c->groups[ref], &G->diff)) rc = errf(err, n, -1, "out of memory");
    }
    free(copy), free(want);
    return rc;
}

/* ================================================================ compare: the table */

void m2pt_compare_fmt(const m2pt_compare *c, double v, int sign, char *buf, size_t n) {
    if (isnan(v)) snprintf(buf, n, "-");
    else if (c->percent) snprintf(buf, n, sign ? "%+.2f" : "%.2f", 100 * v + 0.0);
    else snprintf(buf, n, sign ? "%+.6g" : "%.6g", v + 0.0); /* 6 digits: a parameter count whole */
    if (sign && !strcmp(buf, "-0.00")) snprintf(buf, n, "+0.00"); /* a difference that rounds to 0 */
}

void m2pt_compare_fmt_interval(const m2pt_compare *c, double mean, double half, int sign, char *buf, size_t n) {
    if (isnan(mean) || isnan(half)) {
        snprintf(buf, n, "-");
        return;
    }
    char lo[48], hi[48];
    m2pt_compare_fmt(c, mean - half, sign, lo, sizeof lo);
    m2pt_compare_fmt(c, mean + half, sign, hi, sizeof hi);
    snprintf(buf, n, "[%s, %s]", lo, hi);
}

/* "axis=value, axis=value" of a group. */
static void group_label(const m2pt_compare *c, int g, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < c->naxes && len < n; k++) {
        const char *v = c->groups[g].values[k] ? c->groups[g].values[k] : "-";
        int w = snprintf(buf + len, n - len, "%s%s=%s", k ? ", " : "", c->axes[k], v);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (!c->naxes) snprintf(buf, n, "all");
}

static void human_row(m2pt_table *t, const m2pt_compare *c, const m2pt_compare_group *G) {
    char b[112]; /* an interval: two values of up to 47 characters */
    m2pt_table_int(t, G->stats.n);
    m2pt_compare_fmt(c, G->stats.mean, 0, b, sizeof b), m2pt_table_numtext(t, b);
    if (isnan(G->stats.sd)) m2pt_table_null(t);
    else m2pt_compare_fmt(c, G->stats.sd, 0, b, sizeof b), m2pt_table_numtext(t, b);
    m2pt_compare_fmt_interval(c, G->stats.mean, G->stats.ci, 0, b, sizeof b), m2pt_table_text(t, b);
    if (G->baseline) {
        m2pt_table_text(t, "baseline"), m2pt_table_null(t), m2pt_table_null(t);
    } else if (G->ref < 0 || !G->diff.n) {
        m2pt_table_null(t), m2pt_table_null(t), G->ref < 0 ? m2pt_table_null(t) : m2pt_table_int(t, 0);
    } else {
        m2pt_compare_fmt(c, G->diff.mean, 1, b, sizeof b), m2pt_table_numtext(t, b);
        m2pt_compare_fmt_interval(c, G->diff.mean, G->diff.ci, 1, b, sizeof b), m2pt_table_text(t, b);
        m2pt_table_int(t, G->diff.n);
    }
}

static void raw_row(m2pt_table *t, const m2pt_compare *c, int g) {
    const m2pt_compare_group *G = &c->groups[g];
    m2pt_table_int(t, G->stats.n);
    m2pt_table_real(t, G->stats.mean);
    m2pt_table_real(t, G->stats.sd);
    m2pt_table_real(t, G->stats.mean - G->stats.ci);
    m2pt_table_real(t, G->stats.mean + G->stats.ci);
    m2pt_table_real(t, G->stats.ci);
    m2pt_table_int(t, G->baseline);
    char label[512];
    if (G->ref >= 0) group_label(c, G->ref, label, sizeof label), m2pt_table_text(t, label);
    else m2pt_table_null(t);
    int has = G->ref >= 0 && G->diff.n > 0;
    m2pt_table_real(t, has ? G->diff.mean : NAN);
    m2pt_table_real(t, has ? G->diff.mean - G->diff.ci : NAN);
    m2pt_table_real(t, has ? G->diff.mean + G->diff.ci : NAN);
    m2pt_table_real(t, has ? G->diff.ci : NAN);
    if (G->ref >= 0) m2pt_table_int(t, G->diff.n);
    else m2pt_table_null(t);
}

m2pt_table *m2pt_compare_table(const m2pt_compare *c, int human) {
    m2pt_table *t = m2pt_table_new();
    if (!t) return NULL;
    for (int k = 0; k < c->naxes; k++) m2pt_table_column(t, c->axes[k], 0);
    if (!c->naxes) m2pt_table_column(t, "group", 0);
    static const char *const hcols[] = {"n", "mean", "std", "95% CI", "Δ vs baseline", "95% CI of Δ", "pairs"};
    static const char *const rcols[] = {"n",        "mean",     "sd",           "ci95_lo",      "ci95_hi",
                                        "ci95",     "is_baseline", "baseline",  "diff",         "diff_ci95_lo",
                                        "diff_ci95_hi", "diff_ci95", "pairs"};
    if (human)
        for (size_t j = 0; j < sizeof hcols / sizeof hcols[0]; j++) m2pt_table_column(t, hcols[j], j != 3 && j != 5);
    else
        for (size_t j = 0; j < sizeof rcols / sizeof rcols[0]; j++) m2pt_table_column(t, rcols[j], 0);
    for (int g = 0; g < c->ngroups; g++) {
        for (int k = 0; k < c->naxes; k++) m2pt_table_text(t, c->groups[g].values[k]);
        if (!c->naxes) m2pt_table_text(t, "all");
        if (human) human_row(t, c, &c->groups[g]);
        else raw_row(t, c, g);
    }
    if (m2pt_table_failed(t)) {
        m2pt_table_free(t);
        return NULL;
    }
    return t;
}
