/* m2pt report: loading an experiment from the result store (report.h). */
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tdist.h"

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

static int oom(char *err, size_t n) { return errf(err, n, -1, "out of memory"); }

/* A text column, copied; NULL stays NULL. *bad is set when the copy fails. */
static char *col_dup(sqlite3_stmt *st, int i, int *bad) {
    const unsigned char *s = sqlite3_column_text(st, i);
    if (!s) return NULL;
    char *d = strdup((const char *)s);
    if (!d) *bad = 1;
    return d;
}

static double col_num(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Grows *p (elements of size sz) so that index n fits. 0 or -1. */
static int grow(void *p, int *cap, int n, size_t sz) {
    if (n < *cap) return 0;
    int c = *cap ? 2 * *cap : 16;
    while (c <= n) c *= 2;
    void *q = realloc(*(void **)p, (size_t)c * sz);
    if (!q) return -1;
    *(void **)p = q, *cap = c;
    return 0;
}

/* ================================================================ experiment, counts */

static int load_experiment(sqlite3 *db, const char *name, int64_t *id, m2pt_report *r, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, name, file, text, description, created, updated FROM experiments WHERE name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return dberr(db, err, n, "reading the experiment");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st), bad = 0;
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        r->name = col_dup(st, 1, &bad), r->file = col_dup(st, 2, &bad), r->text = col_dup(st, 3, &bad);
        r->description = col_dup(st, 4, &bad), r->created = col_dup(st, 5, &bad), r->updated = col_dup(st, 6, &bad);
    }
    sqlite3_finalize(st);
    if (s == SQLITE_DONE) return errf(err, n, -2, "no experiment '%s'", name);
    if (s != SQLITE_ROW) return dberr(db, err, n, "reading the experiment");
    return bad ? oom(err, n) : 0;
}

static int load_counts(sqlite3 *db, int64_t exp, m2pt_report *r, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT sum(r.role = 'target'), sum(r.role = 'target' AND r.status = 'done'), "
                      "sum(r.role = 'auxiliary'), min(r.started), max(r.finished) FROM runs r "
                      "JOIN experiment_runs er ON er.run_id = r.id WHERE er.experiment_id = ?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "counting the runs");
    sqlite3_bind_int64(st, 1, exp);
    int s = sqlite3_step(st), bad = 0;
    if (s == SQLITE_ROW) {
        r->ntarget = sqlite3_column_int(st, 0), r->ndone_target = sqlite3_column_int(st, 1);
        r->naux_runs = sqlite3_column_int(st, 2);
        r->first_started = col_dup(st, 3, &bad), r->last_finished = col_dup(st, 4, &bad);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_ROW) return dberr(db, err, n, "counting the runs");
    if (bad) return oom(err, n);

    if (sqlite3_prepare_v2(db,
                           "SELECT DISTINCT r.seed FROM runs r JOIN experiment_runs er ON er.run_id = r.id "
                           "WHERE er.experiment_id = ?1 AND r.role = 'target' AND r.status = 'done' ORDER BY r.seed",
                           -1, &st, NULL) != SQLITE_OK)
        return dberr(db, err, n, "reading the seeds");
    sqlite3_bind_int64(st, 1, exp);
    int cap = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(&r->seeds, &cap, r->nseeds, sizeof *r->seeds)) {
            sqlite3_finalize(st);
            return oom(err, n);
        }
        r->seeds[r->nseeds++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : dberr(db, err, n, "reading the seeds");
}

/* ================================================================ curves */

/* Validation accuracy per epoch of each run of group g, described per epoch. */
static int load_curve(sqlite3 *db, sqlite3_stmt *st, const m2pt_compare_group *g, m2pt_report_curve *c, char *err,
                      size_t n) {
    int maxe = 0, cap = 0, nv = 0, rc = 0;
    struct pt {
        int run, epoch;
        double v;
    } *pts = NULL;
    for (int i = 0; i < g->n && !rc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, g->runs[i]);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            int e = sqlite3_column_int(st, 0);
            double v = col_num(st, 1);
            if (e < 1 || e > 1000000 || isnan(v)) continue;
            if (nv && pts[nv - 1].run == i && pts[nv - 1].epoch == e) { /* several values: the last */
                pts[nv - 1].v = v;
                continue;
            }
            if (grow(&pts, &cap, nv, sizeof *pts)) {
                rc = oom(err, n);
                break;
            }
            pts[nv++] = (struct pt){i, e, v};
            if (e > maxe) maxe = e;
        }
        if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the learning curves");
    }
    if (!rc && maxe) {
        c->nepochs = maxe;
        c->mean = malloc((size_t)maxe * sizeof *c->mean), c->lo = malloc((size_t)maxe * sizeof *c->lo);
        c->hi = malloc((size_t)maxe * sizeof *c->hi), c->count = calloc((size_t)maxe, sizeof *c->count);
        double *x = malloc((size_t)(g->n ? g->n : 1) * sizeof *x);
        if (!c->mean || !c->lo || !c->hi || !c->count || !x) rc = oom(err, n);
        for (int e = 1; !rc && e <= maxe; e++) {
            int k = 0;
            for (int i = 0; i < nv; i++)
                if (pts[i].epoch == e) x[k++] = pts[i].v;
            m2pt_desc d;
            m2pt_describe(x, k, &d);
            c->count[e - 1] = k, c->mean[e - 1] = d.mean;
            c->lo[e - 1] = d.mean - d.ci, c->hi[e - 1] = d.mean + d.ci; /* NaN below 2 runs */
        }
        free(x);
    }
    free(pts);
    return rc;
}

/* ================================================================ lambdas */

static const char *const canonical[] = {"qkv", "proj", "fc1", "fc2"};

static int linear_index(m2pt_report_lambda *l, const char *name, int *bad) {
    for (int j = 0; j < l->nlinears; j++)
        if (!strcmp(l->linears[j], name)) return j;
    char **p = realloc(l->linears, (size_t)(l->nlinears + 1) * sizeof *p);
    if (!p || !(p[l->nlinears] = strdup(name))) {
        if (p) l->linears = p;
        *bad = 1;
        return -1;
    }
    l->linears = p;
    return l->nlinears++;
}

static int rank(const char *name) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, canonical[i])) return i;
    return 4;
}

static int load_lambda(sqlite3 *db, sqlite3_stmt *st, const m2pt_compare_group *g, m2pt_report_lambda *l, char *err,
                       size_t n) {
    struct pt {
        int epoch, block, lin;
        double v;
    } *pts = NULL;
    int cap = 0, nv = 0, rc = 0, bad = 0;
    for (int i = 0; i < g->n && !rc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, g->runs[i]);
        int s, any = 0;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            int e = sqlite3_column_int(st, 0), blk = sqlite3_column_int(st, 1);
            const char *lin = (const char *)sqlite3_column_text(st, 2);
            double v = col_num(st, 3);
            if (e < 1 || e > 1000000 || blk < 0 || blk > 4096 || !lin || isnan(v)) continue;
            int j = linear_index(l, lin, &bad);
            if (bad || grow(&pts, &cap, nv, sizeof *pts)) {
                rc = oom(err, n);
                break;
            }
            pts[nv++] = (struct pt){e, blk, j, v};
            if (e > l->nepochs) l->nepochs = e;
            if (blk + 1 > l->nblocks) l->nblocks = blk + 1;
            any = 1;
        }
        if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the lambdas");
        l->nruns += any;
    }
    if (!rc && nv) {
        /* order the linears: qkv, proj, fc1, fc2, then the others by name */
        int nl = l->nlinears, perm[64], inv[64];
        if (nl > 64) rc = errf(err, n, -1, "more than 64 kinds of block linear in the lambdas");
        for (int j = 0; !rc && j < nl; j++) perm[j] = j;
        for (int a = 1; !rc && a < nl; a++)
            for (int b2 = a; b2 > 0; b2--) {
                const char *x = l->linears[perm[b2 - 1]], *y = l->linears[perm[b2]];
                int rx = rank(x), ry = rank(y);
                if (rx > ry || (rx == ry && rx == 4 && strcmp(x, y) > 0)) {
                    int t = perm[b2 - 1];
                    perm[b2 - 1] = perm[b2], perm[b2] = t;
                } else break;
            }
        if (!rc) {
            char *names[64];
            for (int j = 0; j < nl; j++) names[j] = l->linears[perm[j]], inv[perm[j]] = j;
            memcpy(l->linears, names, (size_t)nl * sizeof *names);
        }
        size_t cells = (size_t)l->nblocks * (size_t)nl * (size_t)l->nepochs;
        double *sum = rc ? NULL : calloc(cells, sizeof *sum);
        int *cnt = rc ? NULL : calloc(cells, sizeof *cnt);
        if (!rc && (!sum || !cnt || !(l->mean = malloc(cells * sizeof *l->mean)))) rc = oom(err, n);
        for (int i = 0; !rc && i < nv; i++) {
            size_t k = ((size_t)pts[i].block * nl + (size_t)inv[pts[i].lin]) * l->nepochs + (size_t)pts[i].epoch - 1;
            sum[k] += pts[i].v, cnt[k]++;
        }
        for (size_t k = 0; !rc && k < cells; k++) l->mean[k] = cnt[k] ? sum[k] / cnt[k] : NAN;
        free(sum), free(cnt);
    }
    if (!rc && !nv) l->nblocks = l->nepochs = 0;
    free(pts);
    return rc;
}

static int load_series(sqlite3 *db, m2pt_report *r, char *err, size_t n) {
    int ng = r->cmp.ngroups ? r->cmp.ngroups : 1;
    r->p = malloc((size_t)ng * sizeof *r->p);
    r->curves = calloc((size_t)ng, sizeof *r->curves);
    r->lambdas = calloc((size_t)ng, sizeof *r->lambdas);
    if (!r->p || !r->curves || !r->lambdas) return oom(err, n);
    sqlite3_stmt *cs = NULL, *ls = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT epoch, value FROM metrics WHERE run_id = ?1 AND key = 'val_acc' AND epoch > 0 "
                           "ORDER BY epoch, step, rowid",
                           -1, &cs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT epoch, block, linear, value FROM lambdas WHERE run_id = ?1 ORDER BY epoch, block, linear",
                           -1, &ls, NULL) != SQLITE_OK) {
        int rc = dberr(db, err, n, "reading the metrics");
        sqlite3_finalize(cs), sqlite3_finalize(ls);
        return rc;
    }
    int rc = 0;
    for (int g = 0; g < r->cmp.ngroups && !rc; g++) {
        const m2pt_compare_group *G = &r->cmp.groups[g];
        r->p[g] = G->ref >= 0 ? m2pt_paired_p(&G->diff) : NAN;
        rc = load_curve(db, cs, G, &r->curves[g], err, n);
        if (!rc) rc = load_lambda(db, ls, G, &r->lambdas[g], err, n);
    }
    sqlite3_finalize(cs), sqlite3_finalize(ls);
    return rc;
}

/* ================================================================ pending runs */

/* "axis=value, ..." of a target run over the experiment's grid axes but seed. */
static int cell_label(sqlite3_stmt *axes, sqlite3_stmt *par, int64_t exp, int64_t run, m2pt_strbuf *b) {
    sqlite3_reset(axes);
    sqlite3_bind_int64(axes, 1, exp);
    int s, k = 0;
    while ((s = sqlite3_step(axes)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(axes, 0);
        if (!key || !strcmp(key, "seed")) continue;
        sqlite3_reset(par);
        sqlite3_bind_int64(par, 1, run);
        sqlite3_bind_text(par, 2, key, -1, SQLITE_TRANSIENT);
        int t = sqlite3_step(par);
        const char *v = t == SQLITE_ROW ? (const char *)sqlite3_column_text(par, 0) : NULL;
        m2pt_sb_printf(b, "%s%s=%s", k++ ? ", " : "", key, v ? v : "-");
        if (t != SQLITE_ROW && t != SQLITE_DONE) return -1;
    }
    return s == SQLITE_DONE ? 0 : -1;
}

static int load_pending(sqlite3 *db, int64_t exp, m2pt_report *r, char *err, size_t n) {
    sqlite3_stmt *st = NULL, *axes = NULL, *par = NULL;
    const char *sql = "SELECT r.id, r.role, r.status, r.seed, r.error, r.finished, r.target_modality FROM runs r "
                      "JOIN experiment_runs er ON er.run_id = r.id WHERE er.experiment_id = ?1 AND r.status != 'done' "
                      "ORDER BY r.id";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT key FROM experiment_axes WHERE experiment_id = ?1 ORDER BY position", -1, &axes,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT value FROM params WHERE run_id = ?1 AND key = ?2", -1, &par, NULL) != SQLITE_OK) {
        int rc = dberr(db, err, n, "reading the unfinished runs");
        sqlite3_finalize(st), sqlite3_finalize(axes), sqlite3_finalize(par);
        return rc;
    }
    sqlite3_bind_int64(st, 1, exp);
    int s, cap = 0, rc = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(&r->pending, &cap, r->npending, sizeof *r->pending)) {
            rc = oom(err, n);
            break;
        }
        m2pt_report_pending *p = &r->pending[r->npending++];
        memset(p, 0, sizeof *p);
        int bad = 0;
        p->id = sqlite3_column_int64(st, 0), p->seed = sqlite3_column_int64(st, 3);
        p->role = col_dup(st, 1, &bad), p->status = col_dup(st, 2, &bad);
        p->error = col_dup(st, 4, &bad), p->finished = col_dup(st, 5, &bad);
        m2pt_strbuf b;
        m2pt_sb_init(&b);
        if (p->role && !strcmp(p->role, "target")) {
            if (cell_label(axes, par, exp, p->id, &b)) rc = dberr(db, err, n, "reading the unfinished runs");
        } else {
            const unsigned char *m = sqlite3_column_text(st, 6);
            m2pt_sb_printf(&b, "modality=%s", m ? (const char *)m : "-");
        }
        if (!rc && (bad || b.failed)) rc = oom(err, n);
        p->cell = rc ? NULL : (b.buf ? b.buf : strdup(""));
        if (rc) m2pt_sb_free(&b);
        else if (!p->cell) rc = oom(err, n);
    }
    if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the unfinished runs");
    sqlite3_finalize(st), sqlite3_finalize(axes), sqlite3_finalize(par);
    return rc;
}

/* ================================================================ configuration, provenance */

static int load_params(sqlite3 *db, int64_t exp, m2pt_report *r, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT p.key, p.value FROM params p JOIN experiment_runs er ON er.run_id = p.run_id "
                      "JOIN runs r ON r.id = p.run_id WHERE er.experiment_id = ?1 AND r.role = 'target' "
                      "AND p.key != 'role' ORDER BY p.key, p.run_id";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "reading the configuration");
    sqlite3_bind_int64(st, 1, exp);
    int s, cap = 0, rc = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *val = (const char *)sqlite3_column_text(st, 1);
        if (!key) continue;
        if (!val) val = "null";
        m2pt_report_param *p = r->nparams ? &r->params[r->nparams - 1] : NULL;
        if (!p || strcmp(p->key, key)) {
            if (grow(&r->params, &cap, r->nparams, sizeof *r->params)) {
                rc = oom(err, n);
                break;
            }
            p = &r->params[r->nparams++];
            memset(p, 0, sizeof *p);
            if (!(p->key = strdup(key))) {
                rc = oom(err, n);
                break;
            }
        }
        p->nruns++;
        int j = 0;
        while (j < p->nvalues && strcmp(p->values[j], val)) j++;
        if (j < p->nvalues) continue;
        char **v = realloc(p->values, (size_t)(p->nvalues + 1) * sizeof *v);
        if (!v) {
            rc = oom(err, n);
            break;
        }
        p->values = v;
        if (!(v[p->nvalues] = strdup(val))) rc = oom(err, n);
        else p->nvalues++;
    }
    if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the configuration");
    sqlite3_finalize(st);
    return rc;
}

static int load_builds(sqlite3 *db, int64_t exp, m2pt_report *r, char *err, size_t n) {
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT r.git, r.m2pt_version, r.host, r.plugins, count(*) FROM runs r "
                      "JOIN experiment_runs er ON er.run_id = r.id WHERE er.experiment_id = ?1 "
                      "GROUP BY r.git, r.m2pt_version, r.host, r.plugins ORDER BY min(r.id)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "reading the provenance");
    sqlite3_bind_int64(st, 1, exp);
    int s, cap = 0, rc = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(&r->builds, &cap, r->nbuilds, sizeof *r->builds)) {
            rc = oom(err, n);
            break;
        }
        m2pt_report_build_row *b = &r->builds[r->nbuilds++];
        int bad = 0;
        b->git = col_dup(st, 0, &bad), b->version = col_dup(st, 1, &bad), b->host = col_dup(st, 2, &bad);
        b->plugins = col_dup(st, 3, &bad), b->runs = sqlite3_column_int(st, 4);
        if (bad) rc = oom(err, n);
    }
    if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the provenance");
    sqlite3_finalize(st);
    if (rc) return rc;

    sql = "SELECT r.id, r.seed, r.target_modality, r.status, s.test_acc, s.train_seconds, "
          "(SELECT p.num FROM params p WHERE p.run_id = r.id AND p.key = 'train.epochs'), "
          "EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.id AND p.key = 'objective' AND p.value = 'mae'), "
          "s.test_loss FROM runs r "
          "JOIN experiment_runs er ON er.run_id = r.id LEFT JOIN summary s ON s.run_id = r.id "
          "WHERE er.experiment_id = ?1 AND r.role = 'auxiliary' ORDER BY r.id";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dberr(db, err, n, "reading the auxiliary runs");
    sqlite3_bind_int64(st, 1, exp);
    cap = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(&r->aux, &cap, r->naux, sizeof *r->aux)) {
            rc = oom(err, n);
            break;
        }
        m2pt_report_aux *a = &r->aux[r->naux++];
        int bad = 0;
        a->id = sqlite3_column_int64(st, 0), a->seed = sqlite3_column_int64(st, 1);
        a->modality = col_dup(st, 2, &bad), a->status = col_dup(st, 3, &bad);
        a->test_acc = col_num(st, 4), a->train_seconds = col_num(st, 5);
        double e = col_num(st, 6);
        a->epochs = isnan(e) ? 0 : (int)e;
        a->mae = sqlite3_column_int(st, 7) != 0;
        a->test_loss = col_num(st, 8);
        if (bad) rc = oom(err, n);
    }
    if (!rc && s != SQLITE_DONE) rc = dberr(db, err, n, "reading the auxiliary runs");
    sqlite3_finalize(st);
    return rc;
}

/* ================================================================ --baseline */

/* Makes the one group selected by spec ("axis=value,...") the reference of every other. */
static int rebase(m2pt_report *r, const char *spec, char *err, size_t n) {
    if (!(r->reference = strdup(spec))) return oom(err, n);
    return m2pt_compare_rebase(&r->cmp, spec, err, n);
}

/* ================================================================ entry points */

void m2pt_report_free(m2pt_report *r) {
    if (!r) return;
    for (int g = 0; r->curves && g < r->cmp.ngroups; g++) {
        free(r->curves[g].mean), free(r->curves[g].lo), free(r->curves[g].hi), free(r->curves[g].count);
    }
    for (int g = 0; r->lambdas && g < r->cmp.ngroups; g++) {
        for (int j = 0; j < r->lambdas[g].nlinears; j++) free(r->lambdas[g].linears[j]);
        free(r->lambdas[g].linears), free(r->lambdas[g].mean);
    }
    free(r->curves), free(r->lambdas), free(r->p);
    m2pt_compare_free(&r->cmp);
    for (int i = 0; i < r->npending; i++) {
        m2pt_report_pending *p = &r->pending[i];
        free(p->role), free(p->status), free(p->error), free(p->finished), free(p->cell);
    }
    free(r->pending);
    for (int i = 0; i < r->nparams; i++) {
        for (int j = 0; j < r->params[i].nvalues; j++) free(r->params[i].values[j]);
        free(r->params[i].values), free(r->params[i].key);
    }
    free(r->params);
    for (int i = 0; i < r->nbuilds; i++)
        free(r->builds[i].git), free(r->builds[i].version), free(r->builds[i].host), free(r->builds[i].plugins);
    free(r->builds);
    for (int i = 0; i < r->naux; i++) free(r->aux[i].modality), free(r->aux[i].status);
    free(r->aux);
    free(r->seeds);
    free(r->name), free(r->description), free(r->file), free(r->text), free(r->created), free(r->updated);
    free(r->first_started), free(r->last_finished), free(r->reference);
    memset(r, 0, sizeof *r);
}

int m2pt_report_load(sqlite3 *db, const char *experiment, const char *by, const char *metric, const char *baseline,
                     m2pt_report *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    int64_t exp = 0;
    /* compare first: its message for an unknown experiment lists the known ones */
    int rc = m2pt_compare_run(db, experiment, by, metric, &r->cmp, err, errlen);
    if (!rc && baseline && *baseline) rc = rebase(r, baseline, err, errlen);
    if (!rc) rc = load_experiment(db, experiment, &exp, r, err, errlen);
    if (!rc) rc = load_counts(db, exp, r, err, errlen);
    if (!rc) rc = load_series(db, r, err, errlen);
    if (!rc) rc = load_pending(db, exp, r, err, errlen);
    if (!rc) rc = load_params(db, exp, r, err, errlen);
    if (!rc) rc = load_builds(db, exp, r, err, errlen);
    if (rc) m2pt_report_free(r);
    return rc;
}
