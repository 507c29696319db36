/* Copying rows between result databases by column name (merge_rows.h). */
#include "merge_rows.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int db_error(sqlite3 *db, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: %s: %s", sqlite3_db_filename(db, "main"), what, sqlite3_errmsg(db));
    return -1;
}

static int has_column(sqlite3 *db, const char *table, const char *name, int *yes, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "cannot read the schema", err, errlen);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, "cannot read the schema", err, errlen);
}

int m2pt_columns_common(sqlite3 *src, sqlite3 *dst, const char *table, m2pt_columns *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(dst, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1, &st, NULL) != SQLITE_OK)
        return db_error(dst, "cannot read the schema", err, errlen);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int yes = 0;
        if (!name || has_column(src, table, name, &yes, err, errlen)) rc = -1;
        else if (yes) {
            char **grown = realloc(c->col, (size_t)(c->n + 1) * sizeof *grown);
            char *copy = strdup(name);
            if (grown) c->col = grown;
            if (!grown || !copy) {
                free(copy);
                snprintf(err, errlen, "out of memory");
                rc = -1;
            } else {
                c->col[c->n++] = copy;
            }
        }
    }
    if (!rc && step != SQLITE_DONE) rc = db_error(dst, "cannot read the schema", err, errlen);
    sqlite3_finalize(st);
    if (!rc && !c->n) {
        snprintf(err, errlen, "%s: table %s has no column in common with %s", sqlite3_db_filename(src, "main"), table,
                 sqlite3_db_filename(dst, "main"));
        rc = -1;
    }
    if (rc) m2pt_columns_free(c);
    return rc;
}

int m2pt_columns_find(const m2pt_columns *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->col[i], name)) return i;
    return -1;
}

void m2pt_columns_free(m2pt_columns *c) {
    for (int i = 0; i < c->n; i++) free(c->col[i]);
    free(c->col);
    memset(c, 0, sizeof *c);
}

/* ",name," contained in ",skip,"? */
static int skipped(const char *skip, const char *name) {
    if (!skip) return 0;
    size_t n = strlen(name);
    for (const char *p = skip; (p = strstr(p, name)); p += n)
        if ((p == skip || p[-1] == ',') && (p[n] == ',' || !p[n])) return 1;
    return 0;
}

int m2pt_copier_init(m2pt_copier *c, sqlite3 *src, sqlite3 *dst, const char *table, const char *key,
                     const char *order, const char *skip, int update, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->src = src, c->dst = dst, c->update = update;
    m2pt_columns all;
    if (m2pt_columns_common(src, dst, table, &all, err, errlen)) return -1;
    for (int i = 0; i < all.n; i++) /* keep the wanted ones, move their strings */
        if (skipped(skip, all.col[i])) free(all.col[i]);
        else all.col[c->cols.n++] = all.col[i];
    c->cols.col = all.col;
    m2pt_strbuf s, d;
    m2pt_sb_init(&s), m2pt_sb_init(&d);
    m2pt_sb_puts(&s, "SELECT ");
    m2pt_sb_printf(&d, update ? "UPDATE \"%s\" SET " : "INSERT INTO \"%s\"(", table);
    for (int i = 0; i < c->cols.n; i++) {
        m2pt_sb_printf(&s, "%s\"%s\"", i ? ", " : "", c->cols.col[i]);
        if (update) m2pt_sb_printf(&d, "%s\"%s\" = ?%d", i ? ", " : "", c->cols.col[i], i + 1);
        else m2pt_sb_printf(&d, "%s\"%s\"", i ? ", " : "", c->cols.col[i]);
    }
    m2pt_sb_printf(&s, " FROM \"%s\" WHERE \"%s\" = ?1%s%s", table, key, order ? " ORDER BY " : "", order ? order : "");
    if (update) m2pt_sb_printf(&d, " WHERE id = ?%d", c->cols.n + 1);
    else {
        m2pt_sb_puts(&d, ") VALUES (");
        for (int i = 0; i < c->cols.n; i++) m2pt_sb_printf(&d, "%s?%d", i ? ", " : "", i + 1);
        m2pt_sb_puts(&d, ")");
    }
    c->kind = calloc((size_t)c->cols.n + 1, sizeof *c->kind);
    c->ival = calloc((size_t)c->cols.n + 1, sizeof *c->ival);
    c->tval = calloc((size_t)c->cols.n + 1, sizeof *c->tval);
    int rc = 0;
    if (s.failed || d.failed || !c->kind || !c->ival || !c->tval) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    } else if (sqlite3_prepare_v2(src, s.buf, -1, &c->sel, NULL) != SQLITE_OK) {
        rc = db_error(src, "cannot read", err, errlen);
    } else if (sqlite3_prepare_v2(dst, d.buf, -1, &c->ins, NULL) != SQLITE_OK) {
        rc = db_error(dst, "cannot write", err, errlen);
    }
    m2pt_sb_free(&s), m2pt_sb_free(&d);
    if (rc) m2pt_copier_free(c);
    return rc;
}

void m2pt_copier_free(m2pt_copier *c) {
    sqlite3_finalize(c->sel);
    sqlite3_finalize(c->ins);
    m2pt_columns_free(&c->cols);
    free(c->kind), free(c->ival), free(c->tval);
    memset(c, 0, sizeof *c);
}

void m2pt_copier_set_int(m2pt_copier *c, const char *column, int64_t v) {
    int i = m2pt_columns_find(&c->cols, column);
    if (i >= 0) c->kind[i] = 1, c->ival[i] = v;
}

void m2pt_copier_set_null(m2pt_copier *c, const char *column) {
    int i = m2pt_columns_find(&c->cols, column);
    if (i >= 0) c->kind[i] = 2;
}

void m2pt_copier_set_text(m2pt_copier *c, const char *column, const char *v) {
    int i = m2pt_columns_find(&c->cols, column);
    if (i >= 0) c->kind[i] = 3, c->tval[i] = v;
}

void m2pt_copier_clear(m2pt_copier *c) {
    if (c->kind) memset(c->kind, 0, (size_t)c->cols.n * sizeof *c->kind);
}

int m2pt_copy_rows(m2pt_copier *c, int64_t key, int64_t dst_id, int *rows, char *err, size_t errlen) {
    *rows = 0;
    sqlite3_reset(c->sel);
    sqlite3_bind_int64(c->sel, 1, key);
    int step, rc = 0;
    while (!rc && (step = sqlite3_step(c->sel)) == SQLITE_ROW) {
        sqlite3_reset(c->ins);
        for (int i = 0; i < c->cols.n; i++) {
            if (c->kind[i] == 1) sqlite3_bind_int64(c->ins, i + 1, c->ival[i]);
            else if (c->kind[i] == 2) sqlite3_bind_null(c->ins, i + 1);
            else if (c->kind[i] == 3) sqlite3_bind_text(c->ins, i + 1, c->tval[i], -1, SQLITE_TRANSIENT);
            else sqlite3_bind_value(c->ins, i + 1, sqlite3_column_value(c->sel, i));
        }
        if (c->update) sqlite3_bind_int64(c->ins, c->cols.n + 1, dst_id);
        if (sqlite3_step(c->ins) != SQLITE_DONE) rc = db_error(c->dst, "cannot write", err, errlen);
        else (*rows)++;
        if (c->update) break; /* one row */
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE) rc = db_error(c->src, "cannot read", err, errlen);
    sqlite3_reset(c->sel);
    sqlite3_reset(c->ins);
    sqlite3_clear_bindings(c->ins);
    return rc;
}

/* ---------------------------------------------------------------- summaries */

static int timing(const char *col) {
    return !strcmp(col, "run_id") || !strcmp(col, "train_seconds") || !strcmp(col, "wall_seconds");
}

static void describe(sqlite3_stmt *st, int i, char *buf, size_t n) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: snprintf(buf, n, "%lld", (long long)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: snprintf(buf, n, "%.17g", sqlite3_column_double(st, i)); break;
    default: snprintf(buf, n, "'%.40s'", (const char *)sqlite3_column_text(st, i)); break;
    }
}

/* 1 when the two values differ (neither is NULL). */
static int values_differ(sqlite3_stmt *a, sqlite3_stmt *b, int i) {
    int ta = sqlite3_column_type(a, i), tb = sqlite3_column_type(b, i);
    if (ta == SQLITE_INTEGER && tb == SQLITE_INTEGER) return sqlite3_column_int64(a, i) != sqlite3_column_int64(b, i);
    if ((ta == SQLITE_INTEGER || ta == SQLITE_FLOAT) && (tb == SQLITE_INTEGER || tb == SQLITE_FLOAT))
        return sqlite3_column_double(a, i) != sqlite3_column_double(b, i); /* exact: bit for bit */
    const unsigned char *sa = sqlite3_column_text(a, i), *sb = sqlite3_column_text(b, i);
    return ta != tb || !sa || !sb || strcmp((const char *)sa, (const char *)sb);
}

int m2pt_summary_differs(sqlite3 *db_a, int64_t a, sqlite3 *db_b, int64_t b, char *diff, size_t difflen, int *filled_a,
                         int *filled_b, char *err, size_t errlen) {
    *filled_a = *filled_b = 0;
    diff[0] = '\0';
    m2pt_columns c;
    if (m2pt_columns_common(db_a, db_b, "summary", &c, err, errlen)) return -1;
    m2pt_strbuf q;
    m2pt_sb_init(&q);
    m2pt_sb_puts(&q, "SELECT ");
    for (int i = 0; i < c.n; i++) m2pt_sb_printf(&q, "%s\"%s\"", i ? ", " : "", c.col[i]);
    m2pt_sb_puts(&q, " FROM summary WHERE run_id = ?1");
    sqlite3_stmt *sa = NULL, *sb = NULL;
    int rc = 0;
    if (q.failed) snprintf(err, errlen, "out of memory"), rc = -1;
    else if (sqlite3_prepare_v2(db_a, q.buf, -1, &sa, NULL) != SQLITE_OK) rc = db_error(db_a, "cannot read", err, errlen);
    else if (sqlite3_prepare_v2(db_b, q.buf, -1, &sb, NULL) != SQLITE_OK) rc = db_error(db_b, "cannot read", err, errlen);
    if (!rc) {
        sqlite3_bind_int64(sa, 1, a);
        sqlite3_bind_int64(sb, 1, b);
        int ra = sqlite3_step(sa), rb = sqlite3_step(sb);
        if (ra != SQLITE_ROW && ra != SQLITE_DONE) rc = db_error(db_a, "cannot read", err, errlen);
        else if (rb != SQLITE_ROW && rb != SQLITE_DONE) rc = db_error(db_b, "cannot read", err, errlen);
        for (int i = 0; !rc && i < c.n; i++) {
            if (timing(c.col[i])) continue;
            int na = ra != SQLITE_ROW || sqlite3_column_type(sa, i) == SQLITE_NULL;
            int nb = rb != SQLITE_ROW || sqlite3_column_type(sb, i) == SQLITE_NULL;
            *filled_a += !na, *filled_b += !nb;
            if (na || nb || rc == 1 || !values_differ(sa, sb, i)) continue;
            char va[64], vb[64];
            describe(sa, i, va, sizeof va), describe(sb, i, vb, sizeof vb);
            snprintf(diff, difflen, "%s %s vs %s", c.col[i], va, vb);
            rc = 1;
        }
    }
    sqlite3_finalize(sa), sqlite3_finalize(sb);
    m2pt_sb_free(&q);
    m2pt_columns_free(&c);
    return rc;
}
