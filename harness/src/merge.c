/* Merging result databases (merge.h). */
#define _DEFAULT_SOURCE /* realpath, gethostname */
#include "merge.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merge_rows.h"
#include "shard_db.h"
#include "store.h"

static const char *const provenance_sql[] = {
    "CREATE TABLE IF NOT EXISTS merge_sources ("
    " id INTEGER PRIMARY KEY,"
    " path TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL UNIQUE,"
    " host TEXT,"
    " merged TEXT NOT NULL,"
    " runs INTEGER NOT NULL DEFAULT 0,"
    " added INTEGER NOT NULL DEFAULT 0,"
    " replaced INTEGER NOT NULL DEFAULT 0,"
    " same INTEGER NOT NULL DEFAULT 0,"
    " older INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS merge_runs ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " source_id INTEGER NOT NULL REFERENCES merge_sources(id),"
    " source_run_id INTEGER NOT NULL,"
    " action TEXT NOT NULL CHECK (action IN ('added', 'replaced', 'same', 'older')),"
    " PRIMARY KEY (run_id, source_id)) WITHOUT ROWID",
};

static const char *const child_tables[] = {"params", "metrics", "summary", "artifacts"};
#define NCHILD 4

typedef struct {
    m2pt_merge_input *info;
    m2pt_store *store;
    sqlite3 *db;
    char *real; /* absolute path */
    dev_t dev;
    ino_t ino;
    int64_t *exp_from, *exp_to; /* experiment ids: input -> output */
    int nexp;
    m2pt_copier runs_ins, runs_upd, child[NCHILD];
    int ready;
} source;

typedef struct {
    int src;
    int64_t id;
    long long pos;
    char hash[17];
} run_ref;

typedef struct {
    int64_t run;
    char aux[17];
} aux_fix;

typedef struct {
    sqlite3 *out;
    const char *out_path;
    source *src;
    int nsrc;
    aux_fix *fix;
    int nfix, capfix;
    int *bad;
    char *err;
    size_t errlen;
} merger;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(merger *m, int bad, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, m->errlen, fmt, ap);
    va_end(ap);
    if (bad) *m->bad = 1;
    return -1;
}

static int db_fail(merger *m, sqlite3 *db, const char *what) {
    return fail(m, 0, "%s: %s: %s", sqlite3_db_filename(db, "main"), what, sqlite3_errmsg(db));
}

static int exec(merger *m, const char *sql) {
    return sqlite3_exec(m->out, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(m, m->out, "cannot write");
}

/* ================================================================ fingerprints */

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 1099511628211ull;
}

/* Hashes every value of every row of a query (text form, with separators). */
static int fingerprint_query(merger *m, sqlite3 *db, const char *sql, uint64_t *h) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return db_fail(m, db, "cannot read");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            fnv(h, t ? (const char *)t : "\1", t ? strlen((const char *)t) : 1);
            fnv(h, "\0", 1);
        }
        fnv(h, "\n", 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, db, "cannot read");
}

/* What an input holds: its runs (status, attempt, times, how many metrics), its experiments and
 * memberships, its summaries. Equal fingerprints: nothing new to merge. */
static int fingerprint(merger *m, sqlite3 *db, char out[17]) {
    uint64_t h = 1469598103934665603ull;
    if (fingerprint_query(m, db,
                          "SELECT cell_hash, status, attempt, started, finished,"
                          " (SELECT count(*) FROM metrics x WHERE x.run_id = r.id) FROM runs r ORDER BY cell_hash",
                          &h) ||
        fingerprint_query(m, db,
                          "SELECT e.name, e.updated, r.cell_hash FROM experiment_runs er JOIN experiments e ON"
                          " e.id = er.experiment_id JOIN runs r ON r.id = er.run_id ORDER BY e.name, r.cell_hash",
                          &h) ||
        fingerprint_query(m, db, "SELECT r.cell_hash, s.* FROM summary s JOIN runs r ON r.id = s.run_id ORDER BY 1",
                          &h))
        return -1;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return 0;
}

/* ================================================================ sources */

static int open_sources(merger *m, m2pt_merge_input *in, int nin, int out_exists, const struct stat *out_st) {
    for (int i = 0; i < nin; i++) {
        source *s = &m->src[i];
        s->info = &in[i];
        in[i].skipped = 0, in[i].source_id = 0;
        in[i].runs = in[i].added = in[i].replaced = in[i].same = in[i].older = 0;
        struct stat st;
        if (stat(in[i].path, &st))
            return fail(m, 1, "%s: no database there (%s)", in[i].path, strerror(errno));
        if (out_exists && st.st_dev == out_st->st_dev && st.st_ino == out_st->st_ino)
            return fail(m, 1, "%s: is the output database itself; merge into another file", in[i].path);
        s->dev = st.st_dev, s->ino = st.st_ino;
        for (int j = 0; j < i; j++)
            if (m->src[j].dev == st.st_dev && m->src[j].ino == st.st_ino) in[i].skipped = 2;
        if (in[i].skipped) continue;
        char e[1024];
        if (m2pt_store_open(&s->store, in[i].path, 1, e, sizeof e)) return fail(m, 1, "%s", e);
        s->db = m2pt_store_db(s->store);
        /* one read transaction: a consistent snapshot even while a shard still writes */
        if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(m, s->db, "cannot start reading");
        s->real = realpath(in[i].path, NULL);
        if (!s->real) return fail(m, 0, "%s: %s", in[i].path, strerror(errno));
    }
    return 0;
}

static void close_sources(merger *m) {
    for (int i = 0; i < m->nsrc; i++) {
        source *s = &m->src[i];
        if (s->ready) {
            m2pt_copier_free(&s->runs_ins), m2pt_copier_free(&s->runs_upd);
            for (int t = 0; t < NCHILD; t++) m2pt_copier_free(&s->child[t]);
        }
        if (s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        m2pt_store_close(s->store);
        free(s->real), free(s->exp_from), free(s->exp_to);
    }
}

/* Registers the input in merge_sources, or finds that the same contents were merged before. */
static int register_source(merger *m, source *s, const char *host) {
    char fp[17];
    if (fingerprint(m, s->db, fp)) return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->out, "SELECT id FROM merge_sources WHERE fingerprint = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot read");
    sqlite3_bind_text(st, 1, fp, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) s->info->skipped = 1, s->info->source_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(m, m->out, "cannot read");
    if (s->info->skipped) return 0;
    if (sqlite3_prepare_v2(m->out,
                           "INSERT INTO merge_sources(path, fingerprint, host, merged)"
                           " VALUES (?1, ?2, ?3, strftime('%Y-%m-%d %H:%M:%f', 'now'))",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot write");
    sqlite3_bind_text(st, 1, s->real, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(m, m->out, "cannot write");
    s->info->source_id = sqlite3_last_insert_rowid(m->out);
    return 0;
}

static int init_copiers(merger *m, source *s) {
    s->ready = 1;
    if (m2pt_copier_init(&s->runs_ins, s->db, m->out, "runs", "id", NULL, "id", 0, m->err, m->errlen) ||
        m2pt_copier_init(&s->runs_upd, s->db, m->out, "runs", "id", NULL, "id", 1, m->err, m->errlen))
        return -1;
    for (int t = 0; t < NCHILD; t++)
        if (m2pt_copier_init(&s->child[t], s->db, m->out, child_tables[t], "run_id",
                             !strcmp(child_tables[t], "metrics") ? "rowid" : NULL, NULL, 0, m->err, m->errlen))
            return -1;
    return 0;
}

/* ================================================================ experiments and plans */

static int64_t map_experiment(const source *s, int64_t id) {
    for (int i = 0; i < s->nexp; i++)
        if (s->exp_from[i] == id) return s->exp_to[i];
    return 0;
}

/* One experiment of the input: matched by name; the newer record's file, text and description. */
static int merge_experiment(merger *m, source *s, m2pt_copier *ins, m2pt_copier *upd, int64_t id, const char *name,
                            const char *updated) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->out, "SELECT id, updated FROM experiments WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot read");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), rows;
    int64_t to = 0;
    int newer = 0;
    if (rc == SQLITE_ROW) {
        to = sqlite3_column_int64(st, 0);
        const unsigned char *u = sqlite3_column_text(st, 1);
        newer = updated && (!u || strcmp(updated, (const char *)u) > 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(m, m->out, "cannot read");
    if (rc == SQLITE_DONE) {
        if (m2pt_copy_rows(ins, id, 0, &rows, m->err, m->errlen)) return -1;
        to = sqlite3_last_insert_rowid(m->out);
    } else if (newer && m2pt_copy_rows(upd, id, to, &rows, m->err, m->errlen)) {
        return -1;
    }
    s->exp_from[s->nexp] = id, s->exp_to[s->nexp++] = to;
    return 0;
}

/* Runs a statement on the input and, per row, one on the output with the row's values bound as
 * ?1..?n, except that column `exp_col` (>= 0) is mapped to the output's experiment id. */
static int copy_mapped(merger *m, source *s, const char *from_sql, const char *to_sql, int exp_col) {
    sqlite3_stmt *a = NULL, *b = NULL;
    if (sqlite3_prepare_v2(s->db, from_sql, -1, &a, NULL) != SQLITE_OK) return db_fail(m, s->db, "cannot read");
    if (sqlite3_prepare_v2(m->out, to_sql, -1, &b, NULL) != SQLITE_OK) {
        sqlite3_finalize(a);
        return db_fail(m, m->out, "cannot write");
    }
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(a)) == SQLITE_ROW) {
        sqlite3_reset(b);
        for (int i = 0; i < sqlite3_column_count(a); i++) {
            if (i == exp_col) sqlite3_bind_int64(b, i + 1, map_experiment(s, sqlite3_column_int64(a, i)));
            else sqlite3_bind_value(b, i + 1, sqlite3_column_value(a, i));
        }
        if (sqlite3_step(b) != SQLITE_DONE) rc = db_fail(m, m->out, "cannot write");
    }
    if (!rc && step != SQLITE_DONE) rc = db_fail(m, s->db, "cannot read");
    sqlite3_finalize(a), sqlite3_finalize(b);
    return rc;
}

static int table_exists(sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static int merge_experiments(merger *m, source *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, updated FROM experiments ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, s->db, "cannot read");
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) n++;
    sqlite3_reset(st);
    s->exp_from = calloc((size_t)n + 1, sizeof *s->exp_from);
    s->exp_to = calloc((size_t)n + 1, sizeof *s->exp_to);
    m2pt_copier ins, upd;
    int rc = 0, step;
    if (!s->exp_from || !s->exp_to) rc = fail(m, 0, "out of memory");
    if (!rc && m2pt_copier_init(&ins, s->db, m->out, "experiments", "id", NULL, "id", 0, m->err, m->errlen)) rc = -1;
    if (!rc && m2pt_copier_init(&upd, s->db, m->out, "experiments", "id", NULL, "id,name,created", 1, m->err,
                                m->errlen)) {
        m2pt_copier_free(&ins);
        rc = -1;
    }
    if (rc) {
        sqlite3_finalize(st);
        return -1;
    }
    while (!rc && s->nexp < n && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = merge_experiment(m, s, &ins, &upd, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                              (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    m2pt_copier_free(&ins), m2pt_copier_free(&upd);
    if (rc) return -1;
    if (copy_mapped(m, s, "SELECT experiment_id, key, position FROM experiment_axes",
                    "INSERT OR IGNORE INTO experiment_axes(experiment_id, key, position) VALUES (?1, ?2, ?3)", 0))
        return -1;
    if (!table_exists(s->db, "shard_plan")) return 0;
    return copy_mapped(m, s, "SELECT experiment, cell_hash, role, position, shard, shards, cost FROM shard_plan",
                       "INSERT OR IGNORE INTO shard_plan(experiment, cell_hash, role, position, shard, shards, cost)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       -1);
}

/* ================================================================ runs */

static int cmp_runs(const void *pa, const void *pb) {
    const run_ref *a = pa, *b = pb;
    if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
    if (a->src != b->src) return a->src < b->src ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Every run of the inputs being merged, in the plans' cell order (then input, then id). */
static int collect_runs(merger *m, run_ref **out, int *nout) {
    *out = NULL, *nout = 0;
    sqlite3_stmt *pos;
    if (sqlite3_prepare_v2(m->out, "SELECT min(position) FROM shard_plan WHERE cell_hash = ?1", -1, &pos, NULL) !=
        SQLITE_OK)
        return db_fail(m, m->out, "cannot read");
    int cap = 0, rc = 0;
    for (int i = 0; !rc && i < m->nsrc; i++) {
        source *s = &m->src[i];
        if (s->info->skipped) continue;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "SELECT id, cell_hash FROM runs ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
            rc = db_fail(m, s->db, "cannot read");
            break;
        }
        int step;
        while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (*nout == cap) {
                cap = cap ? 2 * cap : 256;
                run_ref *g = realloc(*out, (size_t)cap * sizeof *g);
                if (!g) {
                    rc = fail(m, 0, "out of memory");
                    break;
                }
                *out = g;
            }
            run_ref *r = &(*out)[(*nout)++];
            r->src = i, r->id = sqlite3_column_int64(st, 0);
            snprintf(r->hash, sizeof r->hash, "%s", (const char *)sqlite3_column_text(st, 1));
            sqlite3_reset(pos);
            sqlite3_bind_text(pos, 1, r->hash, -1, SQLITE_STATIC);
            r->pos = sqlite3_step(pos) == SQLITE_ROW && sqlite3_column_type(pos, 0) != SQLITE_NULL
                         ? sqlite3_column_int64(pos, 0)
                         : LLONG_MAX;
            sqlite3_reset(pos);
            s->info->runs++;
        }
        if (!rc && step != SQLITE_DONE) rc = db_fail(m, s->db, "cannot read");
        sqlite3_finalize(st);
    }
    sqlite3_finalize(pos);
    if (!rc && *nout) qsort(*out, (size_t)*nout, sizeof **out, cmp_runs);
    return rc;
}

typedef struct {
    int found;
    int64_t id;
    char status[16], started[40], role[16], modality[64], pathway[64], aux[17];
    long long seed, metrics, exp_id;
} run_state;

static void text_col(sqlite3_stmt *st, int i, char *buf, size_t n) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

static int read_state(merger *m, sqlite3 *db, const char *hash, run_state *r) {
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.id, r.status, r.started, r.role, r.target_modality, r.pathway, r.seed,"
                           " (SELECT count(*) FROM metrics x WHERE x.run_id = r.id),"
                           " (SELECT a.cell_hash FROM runs a WHERE a.id = r.aux_run_id), r.experiment_id"
                           " FROM runs r WHERE r.cell_hash = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, db, "cannot read");
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->found = 1;
        r->id = sqlite3_column_int64(st, 0);
        text_col(st, 1, r->status, sizeof r->status);
        text_col(st, 2, r->started, sizeof r->started);
        text_col(st, 3, r->role, sizeof r->role);
        text_col(st, 4, r->modality, sizeof r->modality);
        text_col(st, 5, r->pathway, sizeof r->pathway);
        r->seed = sqlite3_column_int64(st, 6);
        r->metrics = sqlite3_column_int64(st, 7);
        text_col(st, 8, r->aux, sizeof r->aux);
        r->exp_id = sqlite3_column_int64(st, 9);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(m, db, "cannot read");
}

static int delete_children(merger *m, int64_t id) {
    for (int t = 0; t < NCHILD; t++) {
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE run_id = ?1", child_tables[t]);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(m->out, sql, -1, &st, NULL) != SQLITE_OK) return db_fail(m, m->out, "cannot write");
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return db_fail(m, m->out, "cannot write");
    }
    return 0;
}

/* Writes the input's run into the output: a new row (to == 0) or over row `to`, with its
 * params, metrics, summary and artifacts. Returns the output id in *id. */
static int write_run(merger *m, source *s, const run_state *src, int64_t from, int64_t to, int64_t *id) {
    m2pt_copier *c = to ? &s->runs_upd : &s->runs_ins;
    char note[1400];
    m2pt_copier_clear(c);
    int64_t exp = src->exp_id ? map_experiment(s, src->exp_id) : 0;
    if (exp) m2pt_copier_set_int(c, "experiment_id", exp);
    else m2pt_copier_set_null(c, "experiment_id");
    m2pt_copier_set_null(c, "aux_run_id"); /* set once every run is in (fix_aux) */
    if (!strcmp(src->status, "running")) {
        snprintf(note, sizeof note, "still running in %s when it was merged", s->real);
        m2pt_copier_set_text(c, "status", "interrupted");
        m2pt_copier_set_text(c, "error", note);
    }
    int rows;
    if (to && delete_children(m, to)) return -1;
    if (m2pt_copy_rows(c, from, to, &rows, m->err, m->errlen)) return -1;
    if (rows != 1) return fail(m, 0, "%s: run %lld vanished while it was merged", s->real, (long long)from);
    *id = to ? to : sqlite3_last_insert_rowid(m->out);
    for (int t = 0; t < NCHILD; t++) {
        m2pt_copier_clear(&s->child[t]);
        m2pt_copier_set_int(&s->child[t], "run_id", *id);
        if (m2pt_copy_rows(&s->child[t], from, 0, &rows, m->err, m->errlen)) return -1;
    }
    if (src->aux[0]) {
        if (m->nfix == m->capfix) {
            int cap = m->capfix ? 2 * m->capfix : 64;
            aux_fix *g = realloc(m->fix, (size_t)cap * sizeof *g);
            if (!g) return fail(m, 0, "out of memory");
            m->fix = g, m->capfix = cap;
        }
        m->fix[m->nfix].run = *id;
        memcpy(m->fix[m->nfix++].aux, src->aux, 17);
    }
    return 0;
}

static int record(merger *m, source *s, int64_t run, int64_t from, const char *action) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->out,
                           "INSERT OR REPLACE INTO merge_runs(run_id, source_id, source_run_id, action)"
                           " VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot write");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, s->info->source_id);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(m, m->out, "cannot write");
    if (!strcmp(action, "added")) s->info->added++;
    else if (!strcmp(action, "replaced")) s->info->replaced++;
    else if (!strcmp(action, "same")) s->info->same++;
    else s->info->older++;
    return 0;
}

static int merge_run(merger *m, const run_ref *ref) {
    source *s = &m->src[ref->src];
    run_state a, b; /* a: the input's run, b: the output's */
    if (read_state(m, s->db, ref->hash, &a) || read_state(m, m->out, ref->hash, &b)) return -1;
    if (!a.found) return fail(m, 0, "%s: run %lld vanished while it was merged", s->real, (long long)ref->id);
    int a_done = !strcmp(a.status, "done"), b_done = b.found && !strcmp(b.status, "done");
    const char *action;
    if (!b.found) action = "added";
    else if (a_done && b_done) {
        char diff[256], e[1024];
        int fa, fb, d = m2pt_summary_differs(s->db, a.id, m->out, b.id, diff, sizeof diff, &fa, &fb, e, sizeof e);
        if (d < 0) return fail(m, 0, "%s", e);
        if (d > 0)
            return fail(m, 1,
                        "%s: run %lld (cell %s: %s %s/%s seed %lld) and run %lld of %s are one configuration with "
                        "different results (%s); nothing was merged: one database holds one result per "
                        "configuration, so merge databases whose runs were trained once (shards sharing one cache)",
                        s->info->path, (long long)a.id, ref->hash, a.role, a.modality, a.pathway, a.seed,
                        (long long)b.id, m->out_path, diff);
        action = a.metrics > b.metrics || (a.metrics == b.metrics && fa > fb) ? "replaced" : "same";
    } else if (a_done) action = "replaced";
    else if (b_done) action = "older";
    else action = strcmp(a.started, b.started) > 0 ? "replaced" : "older";
    int64_t id = b.id;
    if (!strcmp(action, "added") || !strcmp(action, "replaced"))
        if (write_run(m, s, &a, a.id, b.found ? b.id : 0, &id)) return -1;
    return record(m, s, id, a.id, action);
}

static int merge_memberships(merger *m, source *s) {
    return copy_mapped(m, s,
                       "SELECT er.experiment_id, r.cell_hash FROM experiment_runs er JOIN runs r ON r.id = er.run_id",
                       "INSERT OR IGNORE INTO experiment_runs(experiment_id, run_id)"
                       " SELECT ?1, id FROM runs WHERE cell_hash = ?2 AND ?1 > 0",
                       0);
}

static int fix_aux(merger *m) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->out, "UPDATE runs SET aux_run_id = (SELECT id FROM runs WHERE cell_hash = ?2) WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot write");
    int rc = 0;
    for (int i = 0; !rc && i < m->nfix; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, m->fix[i].run);
        sqlite3_bind_text(st, 2, m->fix[i].aux, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(m, m->out, "cannot write");
    }
    sqlite3_finalize(st);
    return rc;
}

static int update_counts(merger *m, source *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->out,
                           "UPDATE merge_sources SET runs = ?2, added = ?3, replaced = ?4, same = ?5, older = ?6"
                           " WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(m, m->out, "cannot write");
    sqlite3_bind_int64(st, 1, s->info->source_id);
    sqlite3_bind_int(st, 2, s->info->runs);
    sqlite3_bind_int(st, 3, s->info->added);
    sqlite3_bind_int(st, 4, s->info->replaced);
    sqlite3_bind_int(st, 5, s->info->same);
    sqlite3_bind_int(st, 6, s->info->older);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(m, m->out, "cannot write");
}

/* ================================================================ the merge */

static int merge_locked(merger *m) {
    for (size_t i = 0; i < sizeof provenance_sql / sizeof provenance_sql[0]; i++)
        if (exec(m, provenance_sql[i])) return -1;
    if (m2pt_plan_ensure(m->out, m->err, m->errlen)) return -1;
    char host[256];
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    for (int i = 0; i < m->nsrc; i++)
        if (!m->src[i].info->skipped && register_source(m, &m->src[i], host)) return -1;
    for (int i = 0; i < m->nsrc; i++)
        if (!m->src[i].info->skipped && (merge_experiments(m, &m->src[i]) || init_copiers(m, &m->src[i]))) return -1;
    run_ref *runs;
    int nruns, rc = collect_runs(m, &runs, &nruns);
    for (int i = 0; !rc && i < nruns; i++) rc = merge_run(m, &runs[i]);
    free(runs);
    for (int i = 0; !rc && i < m->nsrc; i++)
        if (!m->src[i].info->skipped) rc = merge_memberships(m, &m->src[i]) || update_counts(m, &m->src[i]);
    if (!rc) rc = fix_aux(m);
    return rc ? -1 : 0;
}

static void remove_database(const char *path) {
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

int m2pt_merge(const char *out, m2pt_merge_input *in, int nin, int *bad_input, char *err, size_t errlen) {
    merger m = {.out_path = out, .nsrc = nin, .bad = bad_input, .err = err, .errlen = errlen};
    *bad_input = 0;
    if (!out || !*out || nin < 1) return fail(&m, 1, "give an output database and at least one input database");
    struct stat out_st;
    int out_exists = stat(out, &out_st) == 0;
    if (!(m.src = calloc((size_t)nin, sizeof *m.src))) return fail(&m, 0, "out of memory");
    int rc = open_sources(&m, in, nin, out_exists, &out_st);
    m2pt_store *store = NULL;
    if (!rc) {
        char e[1024];
        if (m2pt_store_open(&store, out, 0, e, sizeof e)) rc = fail(&m, 1, "%s", e);
        else m.out = m2pt_store_db(store);
    }
    if (!rc && sqlite3_exec(m.out, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(&m, m.out, "cannot start a transaction");
    if (!rc) {
        rc = merge_locked(&m);
        if (!rc && sqlite3_exec(m.out, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = db_fail(&m, m.out, "cannot commit");
        if (rc && !sqlite3_get_autocommit(m.out)) sqlite3_exec(m.out, "ROLLBACK", NULL, NULL, NULL);
    }
    close_sources(&m);
    m2pt_store_close(store);
    if (rc && !out_exists) remove_database(out); /* a refused merge leaves no new file behind */
    free(m.src);
    free(m.fix);
    return rc;
}
