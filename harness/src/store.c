/* The result store (store.h): SQLite in WAL mode, schema version 1. docs/store.md documents the
 * schema, the views and the life of a run.
 *
 * Concurrency: every connection has a 30 s busy timeout, and every write transaction starts
 * with BEGIN IMMEDIATE (the write lock is taken up front, so a transaction never fails half-way
 * for a lock), retried with back-off for up to two minutes when SQLite still answers
 * SQLITE_BUSY (e.g. during WAL recovery, which does not call the busy handler). */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

#define BUSY_TIMEOUT_MS 30000
#define BUSY_RETRY_SECONDS 120.0

struct m2pt_store {
    sqlite3 *db;
    char *path;
    int readonly;
    sqlite3_stmt *ins_metric; /* prepared once, reused by every m2pt_store_metrics call */
    char host[256];
};

/* Timestamps: UTC, "YYYY-MM-DD HH:MM:SS.SSS" (sortable; SQLite's date functions read it). */
#define NOW "strftime('%Y-%m-%d %H:%M:%f', 'now')"

static const char *const schema_v1[] = {
    "CREATE TABLE experiments ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " file TEXT,"
    " text TEXT,"
    " description TEXT,"
    " created TEXT NOT NULL,"
    " updated TEXT NOT NULL)",

    "CREATE TABLE experiment_axes ("
    " experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    " key TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (experiment_id, key)) WITHOUT ROWID",

    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY,"
    " cell_hash TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('target', 'auxiliary')),"
    " status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),"
    " config TEXT NOT NULL,"
    " target_modality TEXT NOT NULL,"
    " aux_modality TEXT,"
    " pathway TEXT NOT NULL,"
    " seed INTEGER NOT NULL,"
    " aux_run_id INTEGER REFERENCES runs(id),"
    " experiment_id INTEGER REFERENCES experiments(id),"
    " experiment_text TEXT,"
    " git TEXT,"
    " git_dirty INTEGER,"
    " host TEXT,"
    " pid INTEGER,"
    " m2pt_version TEXT,"
    " plugins TEXT,"
    " attempt INTEGER NOT NULL DEFAULT 1,"
    " started TEXT,"
    " finished TEXT,"
    " error TEXT)",
    "CREATE INDEX runs_status ON runs(status)",

    "CREATE TABLE experiment_runs ("
    " experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " PRIMARY KEY (experiment_id, run_id)) WITHOUT ROWID",
    "CREATE INDEX experiment_runs_run ON experiment_runs(run_id)",

    "CREATE TABLE params ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " key TEXT NOT NULL,"
    " value TEXT,"
    " num REAL,"
    " PRIMARY KEY (run_id, key)) WITHOUT ROWID",
    "CREATE INDEX params_key ON params(key, value)",

    "CREATE TABLE metrics ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " key TEXT NOT NULL,"
    " step INTEGER NOT NULL,"
    " epoch INTEGER NOT NULL,"
    " value REAL,"
    " wall REAL)",
    "CREATE INDEX metrics_run_key ON metrics(run_id, key)",

    "CREATE TABLE summary ("
    " run_id INTEGER PRIMARY KEY REFERENCES runs(id),"
    " best_val_acc REAL,"
    " last_val_acc REAL,"
    " test_acc REAL,"
    " test_acc_unmerged REAL,"
    " test_loss REAL,"
    " params_trainable INTEGER,"
    " params_inference INTEGER,"
    " train_seconds REAL,"
    " wall_seconds REAL,"
    " epochs_done INTEGER)",

    "CREATE TABLE artifacts ("
    " run_id INTEGER NOT NULL REFERENCES runs(id),"
    " kind TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " bytes INTEGER,"
    " checksum TEXT,"
    " PRIMARY KEY (run_id, kind)) WITHOUT ROWID",

    /* One row per (run, experiment it belongs to); a run in no experiment has experiment NULL. */
    "CREATE VIEW results AS SELECT"
    " r.id AS run_id, e.name AS experiment, r.role, r.status, r.target_modality, r.aux_modality, r.pathway,"
    " r.seed, s.best_val_acc AS val_acc, s.test_acc, s.train_seconds,"
    " s.last_val_acc, s.test_acc_unmerged, s.test_loss, s.params_trainable, s.params_inference,"
    " s.wall_seconds, s.epochs_done, r.aux_run_id, r.cell_hash, r.attempt, r.started, r.finished, r.host,"
    " r.git, r.error"
    " FROM runs r"
    " LEFT JOIN experiment_runs er ON er.run_id = r.id"
    " LEFT JOIN experiments e ON e.id = er.experiment_id"
    " LEFT JOIN summary s ON s.run_id = r.id",

    /* Per-epoch metrics side by side. */
    "CREATE VIEW epochs AS SELECT run_id, epoch,"
    " max(CASE WHEN key = 'train_loss' THEN value END) AS train_loss,"
    " max(CASE WHEN key = 'train_acc' THEN value END) AS train_acc,"
    " max(CASE WHEN key = 'val_loss' THEN value END) AS val_loss,"
    " max(CASE WHEN key = 'val_acc' THEN value END) AS val_acc,"
    " max(CASE WHEN key = 'epoch_seconds' THEN value END) AS seconds,"
    " max(wall) AS wall"
    " FROM metrics WHERE epoch > 0 GROUP BY run_id, epoch",

    /* Pathway scales: keys lambda.blocks.<block>.<linear> split into block and linear. */
    "CREATE VIEW lambdas AS SELECT run_id, epoch, step,"
    " CAST(substr(key, 15, instr(substr(key, 15), '.') - 1) AS INTEGER) AS block,"
    " substr(substr(key, 15), instr(substr(key, 15), '.') + 1) AS linear,"
    " value"
    " FROM metrics WHERE key LIKE 'lambda.blocks.%' AND epoch > 0",

    /* Config keys of every run as columns are not possible in SQL; this joins them in long form. */
    "CREATE VIEW run_params AS SELECT er.experiment_id, e.name AS experiment, p.run_id, p.key, p.value, p.num"
    " FROM params p"
    " JOIN experiment_runs er ON er.run_id = p.run_id"
    " JOIN experiments e ON e.id = er.experiment_id",
};

/* ================================================================ errors, retries */

static int errf(char *err, size_t n, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "PATH: what: sqlite's message", with a hint for the faults a user can fix. */
static int dberr(const m2pt_store *s, char *err, size_t n, const char *what) {
    int code = sqlite3_errcode(s->db);
    const char *hint = "";
    if (code == SQLITE_READONLY)
        hint = " (the database file or its directory is not writable; m2pt needs to write both)";
    else if (code == SQLITE_CANTOPEN)
        hint = " (its directory must be writable for the -wal and -shm files)";
    else if (code == SQLITE_FULL)
        hint = " (disk full)";
    else if (code == SQLITE_IOERR)
        hint = " (could not read or write the file: is the disk full, or a file size limit reached?)";
    /* the system's reason behind an I/O error ("disk I/O error" alone says little) */
    int sys = sqlite3_system_errno(s->db);
    if ((code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) && sys > 0)
        return errf(err, n, "%s: %s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), strerror(sys), hint);
    return errf(err, n, "%s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), hint);
}

static int is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void nap(int attempt) {
    long ms = attempt < 8 ? 1L << attempt : 250; /* 1, 2, 4 ... 128, then 250 ms */
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* sqlite3_exec, retried while SQLite answers BUSY (beyond the busy timeout). */
static int exec_retry(m2pt_store *s, const char *sql) {
    double t0 = now_seconds();
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (!is_busy(rc) || now_seconds() - t0 > BUSY_RETRY_SECONDS) return rc;
        nap(attempt);
    }
}

static int begin(m2pt_store *s, char *err, size_t n) {
    if (s->readonly) return errf(err, n, "%s: opened read-only, cannot write", s->path);
    if (exec_retry(s, "BEGIN IMMEDIATE") != SQLITE_OK) return dberr(s, err, n, "cannot start a transaction");
    return 0;
}

static void rollback(m2pt_store *s) {
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int commit(m2pt_store *s, char *err, size_t n) {
    if (exec_retry(s, "COMMIT") == SQLITE_OK) return 0;
    dberr(s, err, n, "cannot commit");
    rollback(s);
    return -1;
}

/* Fails the open transaction: rolls back and returns -1 (err already set). */
static int abort_tx(m2pt_store *s) {
    rollback(s);
    return -1;
}

static int prepare(m2pt_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t n) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK) return 0;
    *st = NULL;
    return dberr(s, err, n, "cannot prepare a statement");
}

/* Steps a statement that returns no rows, then finalizes it. */
static int run_stmt(m2pt_store *s, sqlite3_stmt *st, char *err, size_t n, const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) dberr(s, err, n, what);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(st, i);
    else sqlite3_bind_double(st, i, v);
}

/* ================================================================ open, schema */

/* mkdir -p of the directory part of path. */
static int make_parent(const char *path, char *err, size_t n) {
    char *dir = strdup(path);
    if (!dir) return errf(err, n, "%s: out of memory", path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; !rc; p++) {
            if (*p != '/' && *p) continue;
            char c = *p;
            *p = '\0';
            struct stat st;
            if (mkdir(dir, 0777) && errno != EEXIST)
                rc = errf(err, n, "%s: cannot create directory '%s': %s", path, dir, strerror(errno));
            else if (!rc && stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
                rc = errf(err, n, "%s: '%s' is not a directory", path, dir);
            *p = c;
            if (!c) break;
        }
    }
    free(dir);
    return rc;
}

static int read_user_version(m2pt_store *s, int *v, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "PRAGMA user_version", &st, err, n)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
    else dberr(s, err, n, "cannot read the schema version");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int count_objects(m2pt_store *s, int *count, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT count(*) FROM sqlite_master", &st, err, n)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int(st, 0);
    else dberr(s, err, n, "cannot read the schema");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int too_new(const m2pt_store *s, int v, char *err, size_t n) {
    return errf(err, n, "%s: schema version %d is newer than this m2pt knows (%d); use a newer m2pt", s->path, v,
                M2PT_STORE_SCHEMA);
}

/* Forward migrations, each inside the caller's transaction. */
static int migrate_0_to_1(m2pt_store *s, char *err, size_t n) {
    int objects;
    if (count_objects(s, &objects, err, n)) return -1;
    if (objects > 0) return errf(err, n, "%s: not an m2pt result database (it has tables but no m2pt schema)", s->path);
    for (size_t i = 0; i < sizeof schema_v1 / sizeof schema_v1[0]; i++)
        if (sqlite3_exec(s->db, schema_v1[i], NULL, NULL, NULL) != SQLITE_OK) return dberr(s, err, n, "cannot create the schema");
    return 0;
}

static int migrate(m2pt_store *s, char *err, size_t n) {
    int v;
    if (read_user_version(s, &v, err, n)) return -1;
    if (v == M2PT_STORE_SCHEMA) return 0;
    if (v > M2PT_STORE_SCHEMA) return too_new(s, v, err, n);
    if (begin(s, err, n)) return -1;
    /* another process may have migrated while we waited for the lock */
    if (read_user_version(s, &v, err, n)) return abort_tx(s);
    if (v > M2PT_STORE_SCHEMA) return too_new(s, v, err, n), abort_tx(s);
    if (v == M2PT_STORE_SCHEMA) return commit(s, err, n);
    if (v == 0 && migrate_0_to_1(s, err, n)) return abort_tx(s);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", M2PT_STORE_SCHEMA);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        dberr(s, err, n, "cannot set the schema version");
        return abort_tx(s);
    }
    return commit(s, err, n);
}

static int journal_cb(void *ctx, int ncol, char **vals, char **names) {
    (void)names;
    if (ncol > 0 && vals[0]) snprintf(ctx, 16, "%s", vals[0]);
    return 0;
}

static int set_wal(m2pt_store *s, char *err, size_t n) {
    char mode[16] = "";
    double t0 = now_seconds();
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", journal_cb, mode, NULL);
        if (!is_busy(rc) || now_seconds() - t0 > BUSY_RETRY_SECONDS) break;
        nap(attempt);
    }
    if (rc != SQLITE_OK) return dberr(s, err, n, "cannot switch to WAL mode");
    /* A file system without shared memory keeps the rollback journal: slower, still correct. */
    if (sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, err, n, "cannot set synchronous mode");
    return 0;
}

static int open_checks_readonly(m2pt_store *s, char *err, size_t n) {
    int v;
    if (read_user_version(s, &v, err, n)) return -1;
    if (v > M2PT_STORE_SCHEMA) return too_new(s, v, err, n);
    if (v < M2PT_STORE_SCHEMA) {
        int objects;
        if (count_objects(s, &objects, err, n)) return -1;
        if (!objects) return errf(err, n, "%s: empty database (no m2pt results yet)", s->path);
        if (v == 0) return errf(err, n, "%s: not an m2pt result database (no m2pt schema version)", s->path);
        return errf(err, n, "%s: schema version %d is older than %d; open it once with 'm2pt run' to migrate", s->path,
                    v, M2PT_STORE_SCHEMA);
    }
    return 0;
}

static int open_db(m2pt_store *s, char *err, size_t n) {
    int flags = s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!s->db) return errf(err, n, "%s: cannot open: out of memory", s->path);
        return dberr(s, err, n, "cannot open");
    }
    sqlite3_extended_result_codes(s->db, 0);
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK) return dberr(s, err, n, "cannot set the busy timeout");
    if (!s->readonly && sqlite3_db_readonly(s->db, "main") == 1)
        return errf(err, n, "%s: the database file is read-only (no write permission)", s->path);
    if (sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, err, n, "cannot enable foreign keys");
    return 0;
}

static int check_writable_place(const char *path, char *err, size_t n) {
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return errf(err, n, "%s: is a directory, not a database file", path);
        if (!S_ISREG(st.st_mode)) return errf(err, n, "%s: not a regular file, not a database file", path);
        if (access(path, W_OK)) return errf(err, n, "%s: the database file is read-only: %s", path, strerror(errno));
    }
    char *dir = strdup(path);
    if (!dir) return errf(err, n, "%s: out of memory", path);
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int rc = 0;
    if (access(d, W_OK | X_OK))
        rc = errf(err, n, "%s: directory '%s' is not writable (SQLite needs it for the -wal and -shm files): %s", path,
                  d, strerror(errno));
    free(dir);
    return rc;
}

int m2pt_store_open(m2pt_store **out, const char *path, int readonly, char *err, size_t errlen) {
    *out = NULL;
    if (!path || !*path) return errf(err, errlen, "no database path given");
    struct stat st;
    if (readonly && stat(path, &st)) return errf(err, errlen, "%s: no database there (%s)", path, strerror(errno));
    if (readonly && S_ISDIR(st.st_mode)) return errf(err, errlen, "%s: is a directory, not a database file", path);
    /* a FIFO would make SQLite's open wait for a writer, forever */
    if (readonly && !S_ISREG(st.st_mode)) return errf(err, errlen, "%s: not a regular file, not a database file", path);
    if (!readonly && (make_parent(path, err, errlen) || check_writable_place(path, err, errlen))) return -1;
    m2pt_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return errf(err, errlen, "%s: out of memory", path);
    }
    s->readonly = readonly;
    if (gethostname(s->host, sizeof s->host)) snprintf(s->host, sizeof s->host, "unknown");
    s->host[sizeof s->host - 1] = '\0';
    int rc = open_db(s, err, errlen);
    if (!rc) rc = readonly ? open_checks_readonly(s, err, errlen) : set_wal(s, err, errlen);
    if (!rc && !readonly) rc = migrate(s, err, errlen);
    if (rc) {
        m2pt_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void m2pt_store_close(m2pt_store *s) {
    if (!s) return;
    sqlite3_finalize(s->ins_metric);
    sqlite3_close(s->db); /* every other statement is finalized where it was prepared */
    free(s->path);
    free(s);
}

struct sqlite3 *m2pt_store_db(m2pt_store *s) { return s ? s->db : NULL; }

/* ================================================================ experiments */

static int insert_axes(m2pt_store *s, int64_t id, const m2pt_experiment *exp, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "DELETE FROM experiment_axes WHERE experiment_id = ?1", &st, err, n)) return -1;
    sqlite3_bind_int64(st, 1, id);
    if (run_stmt(s, st, err, n, "cannot record the axes")) return -1;
    if (prepare(s, "INSERT OR IGNORE INTO experiment_axes(experiment_id, key, position) VALUES (?1, ?2, ?3)", &st, err,
                n))
        return -1;
    int pos = 0, rc = 0;
    /* the grid's axes are those of the target cells (auxiliary cells list their own coordinates) */
    for (int c = 0; c < exp->ncells && !rc; c++)
        for (int k = 0; exp->cells[c].role == M2PT_ROLE_TARGET && k < exp->cells[c].naxes && !rc; k++) {
            if (!exp->cells[c].axis_keys || !exp->cells[c].axis_keys[k]) continue;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_text(st, 2, exp->cells[c].axis_keys[k], -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, pos);
            if (sqlite3_step(st) != SQLITE_DONE) rc = dberr(s, err, n, "cannot record the axes");
            else pos += sqlite3_changes(s->db) > 0;
        }
    sqlite3_finalize(st);
    return rc;
}

static int upsert_experiment(m2pt_store *s, const m2pt_experiment *exp, int64_t *id, char *err, size_t n) {
    sqlite3_stmt *st;
    const char *sql = "INSERT INTO experiments(name, file, text, description, created, updated)"
                      " VALUES (?1, ?2, ?3, ?4, " NOW ", " NOW ")"
                      " ON CONFLICT(name) DO UPDATE SET file = excluded.file, text = excluded.text,"
                      " description = excluded.description, updated = excluded.updated";
    if (prepare(s, sql, &st, err, n)) return -1;
    sqlite3_bind_text(st, 1, exp->name, -1, SQLITE_STATIC);
    bind_text_or_null(st, 2, exp->path);
    bind_text_or_null(st, 3, exp->text);
    bind_text_or_null(st, 4, exp->description);
    if (run_stmt(s, st, err, n, "cannot record the experiment")) return -1;
    if (prepare(s, "SELECT id FROM experiments WHERE name = ?1", &st, err, n)) return -1;
    sqlite3_bind_text(st, 1, exp->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    else dberr(s, err, n, "cannot read the experiment back");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int m2pt_store_experiment(m2pt_store *s, const m2pt_experiment *exp, int64_t *id, char *err, size_t errlen) {
    if (!s || !exp || !exp->name || !*exp->name || !id) return errf(err, errlen, "store: experiment without a name");
    if (begin(s, err, errlen)) return -1;
    if (upsert_experiment(s, exp, id, err, errlen) || insert_axes(s, *id, exp, err, errlen)) return abort_tx(s);
    return commit(s, err, errlen);
}

/* ================================================================ params: the flattened config */

typedef struct {
    m2pt_store *s;
    sqlite3_stmt *st; /* INSERT OR IGNORE INTO params */
    int64_t run_id;
    char *err;
    size_t errlen;
    int failed; /* the error is the sink's (database, memory), not the JSON's */
} param_sink;

static int put_param(param_sink *p, const char *key, const char *value, int has_num, double num) {
    sqlite3_reset(p->st);
    sqlite3_bind_int64(p->st, 1, p->run_id);
    sqlite3_bind_text(p->st, 2, key, -1, SQLITE_TRANSIENT);
    bind_text_or_null(p->st, 3, value);
    if (has_num) sqlite3_bind_double(p->st, 4, num);
    else sqlite3_bind_null(p->st, 4);
    if (sqlite3_step(p->st) == SQLITE_DONE) return 0;
    p->failed = 1;
    return dberr(p->s, p->err, p->errlen, "cannot record the params");
}

/* A number when the whole text is one (finite). */
static int parse_num(const char *v, double *out) {
    if (!v || !*v) return 0;
    char *end;
    double d = strtod(v, &end);
    if (*end || !isfinite(d)) return 0;
    *out = d;
    return 1;
}

/* One scalar or array value at the cursor, stored under key. */
static int flatten_scalar(param_sink *p, m2pt_json_cursor *c, const char *key) {
    int ch = m2pt_json_peek(c);
    size_t start = c->pos;
    if (m2pt_json_skip(c)) return -1;
    size_t len = c->pos - start;
    char *raw = malloc(len + 1);
    if (!raw) return p->failed = 1, errf(p->err, p->errlen, "out of memory");
    memcpy(raw, c->s + start, len);
    raw[len] = '\0';
    int rc;
    double num = 0;
    if (ch == '"') {
        m2pt_json_cursor sc;
        m2pt_json_cursor_init(&sc, raw, len);
        char *dec = malloc(len + 1);
        rc = dec && m2pt_json_read_string(&sc, dec, len + 1) == 0 ? put_param(p, key, dec, 0, 0)
                                                                  : (p->failed = 1, errf(p->err, p->errlen, "out of memory"));
        free(dec);
    } else if (ch == 'n') {
        rc = put_param(p, key, NULL, 0, 0);
    } else if (ch == 't' || ch == 'f') {
        rc = put_param(p, key, raw, 1, ch == 't');
    } else {
        int has = ch != '[' && parse_num(raw, &num);
        rc = put_param(p, key, raw, has, num); /* numbers as written; arrays as their JSON text */
    }
    free(raw);
    return rc;
}

static int flatten(param_sink *p, m2pt_json_cursor *c, char *key, size_t klen, size_t cap) {
    if (m2pt_json_peek(c) != '{') return flatten_scalar(p, c, key);
    if (m2pt_json_object_begin(c)) return -1;
    char name[256];
    int r, count = 0;
    while ((r = m2pt_json_object_next(c, count++, name, sizeof name)) == 1 || r == 2) {
        size_t nl = strlen(name);
        if (r == 2 || klen + nl + 2 > cap)
            return p->failed = 1, errf(p->err, p->errlen, "%s: config key too long: %s.%s", p->s->path, key, name);
        size_t at = klen;
        if (klen) key[at++] = '.';
        memcpy(key + at, name, nl + 1);
        if (flatten(p, c, key, at + nl, cap)) return -1;
        key[klen] = '\0';
    }
    return r < 0 ? -1 : 0;
}

static int insert_params(m2pt_store *s, int64_t run_id, const m2pt_cell *cell, char *err, size_t n) {
    param_sink p = {s, NULL, run_id, err, n, 0};
    if (prepare(s, "INSERT OR IGNORE INTO params(run_id, key, value, num) VALUES (?1, ?2, ?3, ?4)", &p.st, err, n))
        return -1;
    m2pt_json_cursor c;
    m2pt_json_cursor_init(&c, cell->json, strlen(cell->json));
    char key[1024] = "";
    int rc = m2pt_json_peek(&c) == '{' ? flatten(&p, &c, key, 0, sizeof key) : -1;
    if (!rc && m2pt_json_finish(&c)) rc = -1;
    if (rc && !p.failed)
        errf(err, n, "%s: cell %s: its config is not a JSON object: %s at byte %zu", s->path, cell->hash,
             c.error ? c.error : "not an object", c.error_pos);
    /* grid axes the resolved config does not spell out under the same key (e.g. target.modality,
     * whose config key is modality); an auxiliary cell's coordinates are not grid keys */
    for (int k = 0; !rc && cell->role == M2PT_ROLE_TARGET && k < cell->naxes; k++) {
        if (!cell->axis_keys || !cell->axis_keys[k]) continue;
        const char *v = cell->axis_values ? cell->axis_values[k] : NULL;
        if (v && !strcmp(v, "-")) continue; /* the loader's mark of an axis this cell ignores */
        double num = 0;
        int has = parse_num(v, &num);
        if (v && (!strcmp(v, "true") || !strcmp(v, "false"))) has = 1, num = !strcmp(v, "true");
        rc = put_param(&p, cell->axis_keys[k], v, has, num);
    }
    sqlite3_finalize(p.st);
    return rc;
}

/* ================================================================ claim */

typedef struct {
    int found;
    int64_t id;
    char status[16];
    long long pid;
    char host[256];
    char started[32];
    char hash[24];
} run_state;

/* The row by cell hash (hash != NULL) or by id. */
static int lookup_row(m2pt_store *s, const char *hash, int64_t id, run_state *r, char *err, size_t n) {
    sqlite3_stmt *st;
    memset(r, 0, sizeof *r);
    if (prepare(s,
                hash ? "SELECT id, status, pid, host, started, cell_hash FROM runs WHERE cell_hash = ?1"
                     : "SELECT id, status, pid, host, started, cell_hash FROM runs WHERE id = ?1",
                &st, err, n))
        return -1;
    if (hash) sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    else sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->found = 1;
        r->id = sqlite3_column_int64(st, 0);
        const unsigned char *status = sqlite3_column_text(st, 1), *host = sqlite3_column_text(st, 3),
                            *started = sqlite3_column_text(st, 4), *h = sqlite3_column_text(st, 5);
        snprintf(r->status, sizeof r->status, "%s", status ? (const char *)status : "");
        r->pid = sqlite3_column_int64(st, 2);
        snprintf(r->host, sizeof r->host, "%s", host ? (const char *)host : "");
        snprintf(r->started, sizeof r->started, "%s", started ? (const char *)started : "");
        snprintf(r->hash, sizeof r->hash, "%s", h ? (const char *)h : "");
    } else if (rc != SQLITE_DONE) {
        dberr(s, err, n, "cannot look up the run");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int lookup_run(m2pt_store *s, const char *hash, run_state *r, char *err, size_t n) {
    return lookup_row(s, hash, 0, r, err, n);
}

/* "YYYY-MM-DD HH:MM:SS[.SSS]" (UTC, as the store writes it) in seconds since the epoch, or -1. */
static double utc_seconds(const char *t) {
    int y, mo, d, h, mi;
    double sec;
    if (!t || sscanf(t, "%4d-%2d-%2d %2d:%2d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6 || mo < 1 || mo > 12) return -1;
    y -= mo <= 2; /* days from civil (H. Hinnant) */
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400, doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return (double)days * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
}

/* When process pid started, in seconds since the epoch (Linux /proc), or -1 when unknown. */
static double process_started(long long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    unsigned long long ticks = 0;
    /* after ") " come fields 3 (state) ... 22 (starttime, clock ticks after boot) */
    for (int field = 3; p && field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 22 && sscanf(p + 1, "%llu", &ticks) != 1) p = NULL;
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (!p || hz <= 0 || !(f = fopen("/proc/stat", "r"))) return -1;
    double boot = -1;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6)) boot = strtod(line + 6, NULL);
    fclose(f);
    return boot < 0 ? -1 : boot + (double)ticks / (double)hz;
}

/* A process started this long after a run was claimed cannot be the one that claimed it. The
 * margin absorbs the coarse boot time of /proc and small clock corrections. */
#define PID_REUSE_MARGIN 30.0

/* Is the process that claimed a run (its pid, and the claim's time) still alive? A pid that
 * exists but belongs to a process started after the claim was reused: the claimant is gone. */
static int pid_alive(long long pid, const char *claimed) {
    if (!m2pt_pid_running(pid)) return 0;
    double born = process_started(pid), at = utc_seconds(claimed);
    return !(born >= 0 && at >= 0 && born > at + PID_REUSE_MARGIN);
}

/* A running row is somebody's live run unless it was started on this host by a process that
 * is gone. Rows of other hosts cannot be checked: they count as live. */
static int running_elsewhere(const m2pt_store *s, const run_state *r, const m2pt_provenance *prov) {
    int this_host = !strcmp(r->host, s->host) || (prov && prov->host && !strcmp(r->host, prov->host));
    return !this_host || pid_alive(r->pid, r->started);
}

static int link_experiment(m2pt_store *s, int64_t exp_id, int64_t run_id, char *err, size_t n) {
    if (exp_id <= 0) return 0;
    sqlite3_stmt *st;
    if (prepare(s, "INSERT OR IGNORE INTO experiment_runs(experiment_id, run_id) VALUES (?1, ?2)", &st, err, n))
        return -1;
    sqlite3_bind_int64(st, 1, exp_id);
    sqlite3_bind_int64(st, 2, run_id);
    return run_stmt(s, st, err, n, "cannot link the run to its experiment");
}

static int delete_logged(m2pt_store *s, int64_t run_id, char *err, size_t n) {
    static const char *const sql[] = {"DELETE FROM metrics WHERE run_id = ?1", "DELETE FROM summary WHERE run_id = ?1",
                                      "DELETE FROM artifacts WHERE run_id = ?1", "DELETE FROM params WHERE run_id = ?1"};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st;
        if (prepare(s, sql[i], &st, err, n)) return -1;
        sqlite3_bind_int64(st, 1, run_id);
        if (run_stmt(s, st, err, n, "cannot clear the previous attempt")) return -1;
    }
    return 0;
}

/* Inserts the run, or resets the existing row to a new attempt. */
static int upsert_run(m2pt_store *s, int64_t exp_id, const m2pt_cell *cell, int64_t aux_run_id,
                      const m2pt_provenance *prov, char *err, size_t n) {
    const char *sql =
        "INSERT INTO runs(cell_hash, role, status, config, target_modality, aux_modality, pathway, seed, aux_run_id,"
        " experiment_id, experiment_text, git, git_dirty, host, pid, m2pt_version, plugins, attempt, started)"
        " VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, (SELECT text FROM experiments WHERE id = ?9),"
        " ?10, ?11, ?12, ?13, ?14, ?15, 1, " NOW ")"
        " ON CONFLICT(cell_hash) DO UPDATE SET role = excluded.role, status = 'running', config = excluded.config,"
        " target_modality = excluded.target_modality, aux_modality = excluded.aux_modality,"
        " pathway = excluded.pathway, seed = excluded.seed, aux_run_id = excluded.aux_run_id,"
        " experiment_id = excluded.experiment_id, experiment_text = excluded.experiment_text, git = excluded.git,"
        " git_dirty = excluded.git_dirty, host = excluded.host, pid = excluded.pid,"
        " m2pt_version = excluded.m2pt_version, plugins = excluded.plugins, attempt = runs.attempt + 1,"
        " started = excluded.started, finished = NULL, error = NULL";
    sqlite3_stmt *st;
    if (prepare(s, sql, &st, err, n)) return -1;
    int aux = cell->role == M2PT_ROLE_AUXILIARY;
    sqlite3_bind_text(st, 1, cell->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, aux ? "auxiliary" : "target", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cell->json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, cell->modality, -1, SQLITE_STATIC);
    bind_text_or_null(st, 5, aux ? NULL : cell->aux_modality);
    sqlite3_bind_text(st, 6, aux || !cell->pathway ? "baseline" : cell->pathway, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)cell->seed);
    if (aux_run_id > 0) sqlite3_bind_int64(st, 8, aux_run_id);
    else sqlite3_bind_null(st, 8);
    if (exp_id > 0) sqlite3_bind_int64(st, 9, exp_id);
    else sqlite3_bind_null(st, 9);
    bind_text_or_null(st, 10, prov ? prov->git : NULL);
    if (prov) sqlite3_bind_int(st, 11, prov->git_dirty != 0);
    else sqlite3_bind_null(st, 11);
    sqlite3_bind_text(st, 12, prov && prov->host ? prov->host : s->host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)getpid());
    bind_text_or_null(st, 14, prov ? prov->m2pt_version : NULL);
    bind_text_or_null(st, 15, prov ? prov->plugins : NULL);
    return run_stmt(s, st, err, n, "cannot record the run");
}

static int claim_locked(m2pt_store *s, int64_t exp_id, const m2pt_cell *cell, int64_t aux_run_id, int force,
                        const m2pt_provenance *prov, int64_t *run_id, m2pt_claim *claim, char *err, size_t n) {
    run_state r;
    if (lookup_run(s, cell->hash, &r, err, n)) return -1;
    if (r.found) {
        *run_id = r.id;
        if (link_experiment(s, exp_id, r.id, err, n)) return -1;
        if (!strcmp(r.status, "done") && !force) return *claim = M2PT_CLAIM_DONE, 0;
        if (!strcmp(r.status, "running") && running_elsewhere(s, &r, prov)) return *claim = M2PT_CLAIM_BUSY, 0;
        if (delete_logged(s, r.id, err, n)) return -1;
    }
    if (upsert_run(s, exp_id, cell, aux_run_id, prov, err, n)) return -1;
    if (!r.found) {
        if (lookup_run(s, cell->hash, &r, err, n)) return -1;
        if (!r.found) return errf(err, n, "%s: the new run vanished", s->path);
        *run_id = r.id;
        if (link_experiment(s, exp_id, r.id, err, n)) return -1;
    }
    if (insert_params(s, *run_id, cell, err, n)) return -1;
    *claim = M2PT_CLAIM_RUN;
    return 0;
}

int m2pt_store_claim(m2pt_store *s, int64_t experiment_id, const m2pt_cell *cell, int64_t aux_run_id, int force,
                     const m2pt_provenance *prov, int64_t *run_id, m2pt_claim *claim, char *err, size_t errlen) {
    if (!s || !cell || !run_id || !claim || !cell->json || !cell->modality || !cell->hash[0])
        return errf(err, errlen, "store: claim of an incomplete cell (hash, json and modality are required)");
    *run_id = 0;
    if (begin(s, err, errlen)) return -1;
    if (claim_locked(s, experiment_id, cell, aux_run_id, force, prov, run_id, claim, err, errlen)) return abort_tx(s);
    return commit(s, err, errlen);
}

/* ================================================================ metrics, finish, fail */

/* The run's status, inside the caller's transaction; -1 with err when there is no such run. */
static int run_status(m2pt_store *s, int64_t run_id, char *status, size_t cap, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT status FROM runs WHERE id = ?1", &st, err, n)) return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(status, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE) errf(err, n, "%s: no run %lld", s->path, (long long)run_id);
    else dberr(s, err, n, "cannot read the run");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int require_running(m2pt_store *s, int64_t run_id, char *err, size_t n) {
    char status[32];
    if (run_status(s, run_id, status, sizeof status, err, n)) return -1;
    if (strcmp(status, "running"))
        return errf(err, n, "%s: run %lld is %s, not running", s->path, (long long)run_id, status);
    return 0;
}

static int insert_metrics(m2pt_store *s, int64_t run_id, const m2pt_metric *m, int count, char *err, size_t n) {
    if (!s->ins_metric &&
        prepare(s, "INSERT INTO metrics(run_id, key, step, epoch, value, wall) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &s->ins_metric, err, n))
        return -1;
    sqlite3_stmt *st = s->ins_metric;
    for (int i = 0; i < count; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, m[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, m[i].step);
        sqlite3_bind_int(st, 4, m[i].epoch);
        bind_real_or_null(st, 5, m[i].value);
        bind_real_or_null(st, 6, m[i].wall);
        if (sqlite3_step(st) != SQLITE_DONE) {
            dberr(s, err, n, "cannot record metrics");
            sqlite3_reset(st);
            return -1;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* no pointers into the caller's strings kept */
    return 0;
}

int m2pt_store_metrics(m2pt_store *s, int64_t run_id, const m2pt_metric *m, int n, char *err, size_t errlen) {
    if (!s || n < 0 || (n > 0 && !m)) return errf(err, errlen, "store: bad metrics arguments");
    for (int i = 0; i < n; i++)
        if (!m[i].key || !*m[i].key) return errf(err, errlen, "store: metric %d of %d has no key", i + 1, n);
    if (n == 0) return 0;
    if (begin(s, err, errlen)) return -1;
    if (require_running(s, run_id, err, errlen) || insert_metrics(s, run_id, m, n, err, errlen)) return abort_tx(s);
    return commit(s, err, errlen);
}

static int insert_summary(m2pt_store *s, int64_t run_id, const m2pt_summary *sum, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s,
                "INSERT OR REPLACE INTO summary(run_id, best_val_acc, last_val_acc, test_acc, test_acc_unmerged,"
                " test_loss, params_trainable, params_inference, train_seconds, wall_seconds, epochs_done)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                &st, err, n))
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    bind_real_or_null(st, 2, sum->best_val_acc);
    bind_real_or_null(st, 3, sum->last_val_acc);
    bind_real_or_null(st, 4, sum->test_acc);
    bind_real_or_null(st, 5, sum->test_acc_unmerged);
    bind_real_or_null(st, 6, sum->test_loss);
    if (sum->params_trainable >= 0) sqlite3_bind_int64(st, 7, sum->params_trainable);
    else sqlite3_bind_null(st, 7);
    if (sum->params_inference >= 0) sqlite3_bind_int64(st, 8, sum->params_inference);
    else sqlite3_bind_null(st, 8);
    bind_real_or_null(st, 9, sum->train_seconds);
    bind_real_or_null(st, 10, sum->wall_seconds);
    sqlite3_bind_int(st, 11, sum->epochs_done);
    return run_stmt(s, st, err, n, "cannot record the summary");
}

static int insert_artifact(m2pt_store *s, int64_t run_id, const char *path, long long bytes, const char *checksum,
                           char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "INSERT OR REPLACE INTO artifacts(run_id, kind, path, bytes, checksum) VALUES (?1, 'checkpoint', ?2, ?3, ?4)",
                &st, err, n))
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    if (bytes >= 0) sqlite3_bind_int64(st, 3, bytes);
    else sqlite3_bind_null(st, 3);
    bind_text_or_null(st, 4, checksum);
    return run_stmt(s, st, err, n, "cannot record the checkpoint");
}

static int set_status(m2pt_store *s, int64_t run_id, const char *status, const char *error, char *err, size_t n) {
    sqlite3_stmt *st;
    if (prepare(s, "UPDATE runs SET status = ?2, error = ?3, finished = " NOW " WHERE id = ?1", &st, err, n)) return -1;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, error);
    return run_stmt(s, st, err, n, "cannot set the run's status");
}

int m2pt_store_finish(m2pt_store *s, int64_t run_id, const m2pt_summary *sum, const char *ckpt, long long bytes,
                      const char *checksum, char *err, size_t errlen) {
    if (!s || !sum) return errf(err, errlen, "store: finish without a summary");
    if (begin(s, err, errlen)) return -1;
    if (require_running(s, run_id, err, errlen) || insert_summary(s, run_id, sum, err, errlen) ||
        (ckpt && insert_artifact(s, run_id, ckpt, bytes, checksum, err, errlen)) ||
        set_status(s, run_id, "done", NULL, err, errlen))
        return abort_tx(s);
    return commit(s, err, errlen);
}

int m2pt_store_fail(m2pt_store *s, int64_t run_id, const char *status, const char *error, char *err, size_t errlen) {
    if (!s || !status || (strcmp(status, "failed") && strcmp(status, "interrupted")))
        return errf(err, errlen, "store: a run can only fail as 'failed' or 'interrupted'");
    /* error may be err itself (the caller's message): copy it before err is written */
    char *msg = error ? strdup(error) : NULL;
    if (error && !msg) return errf(err, errlen, "out of memory");
    for (char *p = msg; p && *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    int rc = begin(s, err, errlen);
    char cur[32];
    if (!rc) rc = run_status(s, run_id, cur, sizeof cur, err, errlen);
    /* only a running run fails: a done run stays done, an already failed one keeps its error */
    if (!rc && !strcmp(cur, "running")) rc = set_status(s, run_id, status, msg, err, errlen);
    rc = rc ? abort_tx(s) : commit(s, err, errlen);
    free(msg);
    return rc;
}

int64_t m2pt_store_done_run(m2pt_store *s, const char *cell_hash) {
    if (!s || !cell_hash) return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM runs WHERE cell_hash = ?1 AND status = 'done'", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, cell_hash, -1, SQLITE_STATIC);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return id;
}

int m2pt_store_adopt(m2pt_store *s, int64_t experiment_id, int64_t run_id, const char *cell_hash, const char *host,
                     long long pid, const m2pt_summary *sum, const char *ckpt, long long bytes, const char *checksum,
                     int *adopted, char *err, size_t errlen) {
    if (!s || !sum || !cell_hash || !host || !adopted) return errf(err, errlen, "store: bad adopt arguments");
    *adopted = 0;
    if (run_id <= 0 || pid <= 0) return 0;
    if (begin(s, err, errlen)) return -1;
    run_state r;
    if (lookup_row(s, NULL, run_id, &r, err, errlen)) return abort_tx(s);
    /* the very attempt that wrote the checkpoint: same row, cell, host and pid, and gone */
    if (!r.found || strcmp(r.hash, cell_hash) || strcmp(r.status, "running") || strcmp(r.host, host) ||
        strcmp(r.host, s->host) || r.pid != pid || pid_alive(r.pid, r.started)) {
        rollback(s);
        return 0;
    }
    if (link_experiment(s, experiment_id, run_id, err, errlen) || insert_summary(s, run_id, sum, err, errlen) ||
        (ckpt && insert_artifact(s, run_id, ckpt, bytes, checksum, err, errlen)) ||
        set_status(s, run_id, "done", NULL, err, errlen))
        return abort_tx(s);
    if (commit(s, err, errlen)) return -1;
    *adopted = 1;
    return 0;
}
