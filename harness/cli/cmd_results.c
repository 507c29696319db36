/* m2pt ls | show | compare | query | export: the read side of the result store (docs/store.md).
 * Every command opens the database read-only, so none can change it, and works while
 * experiments are writing to it (WAL readers never wait for writers). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "stats.h"
#include "store.h"
#include "table.h"

#define DEFAULT_DB "results/m2pt.db"

/* ================================================================ options */

enum {
    OPT_EXPERIMENT = 1 << 0,
    OPT_STATUS = 1 << 1,
    OPT_ROLE = 1 << 2,
    OPT_BY = 1 << 3,
    OPT_METRIC = 1 << 4,
    OPT_METRICS = 1 << 5,
    OPT_BASELINE = 1 << 6,
};

typedef struct {
    const char *cmd; /* for messages */
    const char *db;
    m2pt_format fmt;
    const char *experiment, *status, *role, *by, *metric, *baseline;
    int metrics;
    const char *pos[4];
    int npos;
} opts;

typedef struct {
    const char *name;
    unsigned allowed;
    int npos;             /* positional arguments required */
    m2pt_format fmt;      /* default format */
    const char *formats;  /* accepted, for messages and checks */
    const char *usage;
} command;

static const command commands[] = {
    {"ls", OPT_EXPERIMENT | OPT_STATUS | OPT_ROLE, 0, M2PT_FMT_TABLE, "table,csv,json,markdown",
     "usage: m2pt ls [--experiment NAME] [--status S] [--role R] [--db FILE] [--format F]\n"
     "Lists the runs in the result store, one line per run and experiment it belongs to: run id,\n"
     "experiment, role, status, modality, auxiliary modality, pathway, seed, best validation\n"
     "accuracy, test accuracy (merged model) and training seconds. Accuracies are in % in the\n"
     "table and markdown formats, fractions in csv and json. A 'running' run whose process is\n"
     "gone (this host) shows as 'running (stale)': the next 'm2pt run' restarts it.\n"
     "\n"
     "  --experiment NAME  only this experiment's runs\n"
     "  --status S         running, done, failed or interrupted\n"
     "  --role R           target or auxiliary\n"},
    {"show", 0, 1, M2PT_FMT_TABLE, "table,markdown,json",
     "usage: m2pt show RUN [--db FILE] [--format table|markdown|json]\n"
     "Everything about one run: provenance (experiments, git commit, host, versions, times),\n"
     "summary, resolved configuration, per-epoch metrics, the pathway scales (lambda) of the\n"
     "last epoch and the checkpoint. RUN is a run id or a prefix of its cell hash.\n"},
    {"compare", OPT_BY | OPT_METRIC | OPT_BASELINE, 1, M2PT_FMT_TABLE, "table,csv,json,markdown",
     "usage: m2pt compare EXP [--by AXIS,...] [--metric M] [--baseline AXIS=V,...] [--db FILE] [--format F]\n"
     "Groups the finished target runs of experiment EXP by axes and prints per group the number\n"
     "of runs n, the mean, the sample standard deviation and the 95% confidence interval of the\n"
     "mean (Student's t over seeds), and the group's difference to its baseline group (pathway\n"
     "'baseline', same values of the other non-pathway, non-auxiliary axes), paired by seed,\n"
     "with its 95% confidence interval. Accuracies are in % in the table and markdown formats.\n"
     "\n"
     "  --by AXIS,...  grouping axes: dotted config keys (e.g. pathway.name,auxiliary.modality)\n"
     "                 or pathway, aux_modality, modality; default: every grid axis of the\n"
     "                 experiment that varies, except seed\n"
     "  --metric M     test_acc (default: merged model), val_acc (best), last_val_acc,\n"
     "                 test_acc_unmerged, test_loss, train_seconds, wall_seconds,\n"
     "                 params_trainable, params_inference, or any per-epoch metric (its last\n"
     "                 value), e.g. val_loss\n"
     "  --baseline AXIS=VALUE,...  compare every group with the one group having these values\n"
     "                 (e.g. model.mlp_ratio=10, or pathway.name=noaux), paired by seed,\n"
     "                 instead of with its baseline-pathway group\n"},
    {"query", 0, 1, M2PT_FMT_TABLE, "table,csv,json,markdown",
     "usage: m2pt query \"SQL\" [--db FILE] [--format F]\n"
     "Runs SQL over the result store, opened read-only: a statement that would write is\n"
     "refused. Several statements print several results. The 'results' view has one row per\n"
     "run and experiment; see docs/store.md for the schema and examples, e.g.\n"
     "  m2pt query \"SELECT pathway, avg(test_acc), count(*) FROM results WHERE status = 'done'\n"
     "              GROUP BY pathway\"\n"},
    {"export", OPT_EXPERIMENT | OPT_METRICS, 0, M2PT_FMT_CSV, "csv,json,table,markdown",
     "usage: m2pt export [--experiment NAME] [--metrics] [--db FILE] [--format csv|json]\n"
     "Writes the 'results' view (one row per run and experiment) to standard output; with\n"
     "--experiment, only its runs, plus one column per grid axis of the experiment. With\n"
     "--metrics, the metrics table instead (run_id, experiment, key, step, epoch, value, wall).\n"
     "Default format csv.\n"
     "\n"
     "  --experiment NAME  only this experiment's runs\n"
     "  --metrics          every logged metric instead of one row per run\n"},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static void usage(const command *c, FILE *f) {
    fputs(c->usage, f);
    fprintf(f,
            "\n"
            "  --db FILE          the result database (default %s)\n"
            "  --format F         %s (default %s)\n"
            "Exit codes: 0 ok, 1 a failure reading the database, 2 bad usage or bad input (unknown\n"
            "experiment or run, bad SQL, a missing database).\n",
            DEFAULT_DB, c->formats, m2pt_format_name(c->fmt));
}

static int format_allowed(const command *c, m2pt_format f) {
    const char *name = m2pt_format_name(f), *p = c->formats;
    size_t n = strlen(name);
    while ((p = strstr(p, name))) {
        if ((p == c->formats || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
        p += n;
    }
    return 0;
}

/* One option (with its value from "--opt=value" or the next argument). 0 ok, -1 bad usage. */
static int take_option(const command *c, opts *o, const char *name, const char *value, int *used) {
    static const struct {
        const char *name;
        unsigned flag;
        size_t offset;
    } valued[] = {
        {"--db", 0, offsetof(opts, db)},
        {"--experiment", OPT_EXPERIMENT, offsetof(opts, experiment)},
        {"--status", OPT_STATUS, offsetof(opts, status)},
        {"--role", OPT_ROLE, offsetof(opts, role)},
        {"--by", OPT_BY, offsetof(opts, by)},
        {"--metric", OPT_METRIC, offsetof(opts, metric)},
        {"--baseline", OPT_BASELINE, offsetof(opts, baseline)},
    };
    if (!strcmp(name, "--metrics") && (c->allowed & OPT_METRICS)) return o->metrics = 1, 0;
    if (!strcmp(name, "--format")) {
        *used = 1;
        if (!value) return fprintf(stderr, "m2pt %s: --format needs a value (%s)\n", c->name, c->formats), -1;
        if (m2pt_format_parse(value, &o->fmt) || !format_allowed(c, o->fmt))
            return fprintf(stderr, "m2pt %s: --format '%s' is not one of %s\n", c->name, value, c->formats), -1;
        return 0;
    }
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++) {
        if (strcmp(name, valued[i].name) || (valued[i].flag && !(c->allowed & valued[i].flag))) continue;
        *used = 1;
        if (!value || !*value) return fprintf(stderr, "m2pt %s: %s needs a value\n", c->name, name), -1;
        *(const char **)((char *)o + valued[i].offset) = value;
        return 0;
    }
    fprintf(stderr, "m2pt %s: unknown option '%s' (see 'm2pt %s --help')\n", c->name, name, c->name);
    return -1;
}

/* Returns 0 to go on, 1 after --help (exit 0), 2 on bad usage. */
static int parse(const command *c, int argc, char **argv, opts *o) {
    *o = (opts){.cmd = c->name, .db = DEFAULT_DB, .fmt = c->fmt};
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) return usage(c, stdout), 1;
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-') {
            char name[64];
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), a);
            int used = 0;
            const char *value = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
            if (take_option(c, o, name, value, &used)) return 2;
            if (used && !eq) i++;
            continue;
        }
        if (o->npos >= c->npos)
            return fprintf(stderr, "m2pt %s: unexpected argument '%s' (see 'm2pt %s --help')\n", c->name, a, c->name), 2;
        o->pos[o->npos++] = a;
    }
    if (o->npos < c->npos)
        return fprintf(stderr, "m2pt %s: missing argument (see 'm2pt %s --help')\n", c->name, c->name), 2;
    return 0;
}

/* ================================================================ shared helpers */

static int open_ro(const opts *o, m2pt_store **s) {
    struct stat st;
    if (stat(o->db, &st)) {
        fprintf(stderr, "m2pt %s: no database at %s (run 'm2pt run EXP.yaml' first, or pass --db FILE)\n", o->cmd,
                o->db);
        return 2;
    }
    char err[1024];
    if (m2pt_store_open(s, o->db, 1, err, sizeof err)) {
        fprintf(stderr, "m2pt %s: %s\n", o->cmd, err);
        return 2;
    }
    return 0;
}

/* Exit code for a failed SQLite call: bad input (2) or a failure of the database (1). */
static int exit_for(int rc) {
    switch (rc & 0xff) {
    case SQLITE_ERROR:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
    case SQLITE_TOOBIG:
    case SQLITE_PERM: return 2;
    default: return 1;
    }
}

static int db_fail(const opts *o, sqlite3 *db, int rc, const char *what) {
    fprintf(stderr, "m2pt %s: %s: %s: %s\n", o->cmd, o->db, what, sqlite3_errmsg(db));
    return exit_for(rc);
}

static int prepare(const opts *o, sqlite3 *db, const char *sql, sqlite3_stmt **st) {
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    if (rc == SQLITE_OK) return 0;
    *st = NULL;
    return db_fail(o, db, rc, "cannot prepare a query");
}

static int out_of_memory(const opts *o) {
    fprintf(stderr, "m2pt %s: out of memory\n", o->cmd);
    return 1;
}

static int print_table(const opts *o, m2pt_table *t, m2pt_format fmt) {
    if (m2pt_table_failed(t)) return out_of_memory(o);
    if (m2pt_table_print(t, stdout, fmt) || fflush(stdout)) {
        fprintf(stderr, "m2pt %s: cannot write the output\n", o->cmd);
        return 1;
    }
    return 0;
}

static int human(m2pt_format f) { return f == M2PT_FMT_TABLE || f == M2PT_FMT_MARKDOWN; }

/* Exists? 0 yes, 2 no (message printed), 1 database error. */
static int check_experiment(const opts *o, sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    int rc = prepare(o, db, "SELECT 1 FROM experiments WHERE name = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s == SQLITE_ROW) return 0;
    if (s != SQLITE_DONE) return db_fail(o, db, s, "cannot read the experiments");
    fprintf(stderr, "m2pt %s: %s: no experiment '%s' (see 'm2pt query \"SELECT name FROM experiments\"')\n", o->cmd,
            o->db, name);
    return 2;
}

/* A typed cell from a result column. */
static void add_value(m2pt_table *t, sqlite3_stmt *st, int i) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: m2pt_table_int(t, sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: m2pt_table_real(t, sqlite3_column_double(st, i)); break;
    case SQLITE_NULL: m2pt_table_null(t); break;
    case SQLITE_BLOB: {
        const unsigned char *p = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        char *hex = malloc((size_t)n * 2 + 4);
        if (!hex) {
            m2pt_table_text(t, NULL);
            break;
        }
        char *q = hex;
        *q++ = 'x', *q++ = '\'';
        for (int k = 0; k < n; k++) q += sprintf(q, "%02x", p[k]);
        *q++ = '\'', *q = '\0';
        m2pt_table_text(t, hex);
        free(hex);
        break;
    }
    default: m2pt_table_text(t, (const char *)sqlite3_column_text(st, i));
    }
}

/* Steps a prepared statement and prints its rows (streamed for csv/json). Exit code. */
static int emit_rows(const opts *o, sqlite3 *db, sqlite3_stmt *st) {
    m2pt_table *t = m2pt_table_new();
    if (!t) return out_of_memory(o);
    int nc = sqlite3_column_count(st), rc, code = 0;
    for (int j = 0; j < nc; j++) m2pt_table_column(t, sqlite3_column_name(st, j), 0);
    long rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !code) {
        for (int j = 0; j < nc; j++) add_value(t, st, j);
        if (++rows % 1000 == 0 && m2pt_table_flush(t, stdout, o->fmt, 0))
            code = m2pt_table_failed(t) ? out_of_memory(o) : 1;
    }
    if (!code && rc != SQLITE_DONE) {
        code = rc == SQLITE_READONLY
                   ? (fprintf(stderr, "m2pt %s: %s: refused: %s (m2pt %s opens the database read-only)\n", o->cmd,
                              o->db, sqlite3_errmsg(db), o->cmd), 2)
                   : db_fail(o, db, rc, "query failed");
    }
    if (!code && (m2pt_table_flush(t, stdout, o->fmt, 1) || fflush(stdout)))
        code = m2pt_table_failed(t) ? out_of_memory(o) : 1;
    m2pt_table_free(t);
    return code;
}

static int is_acc(const char *key) { return strstr(key, "acc") != NULL; }

/* A value for humans: accuracies in %, seconds with one decimal, else 4-6 significant digits. */
static void human_number(const char *key, double v, char *buf, size_t n) {
    if (isnan(v)) snprintf(buf, n, "-");
    else if (is_acc(key)) snprintf(buf, n, "%.2f", 100 * v);
    else if (strstr(key, "seconds")) snprintf(buf, n, "%.1f", v);
    else if (strstr(key, "loss")) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "%.4g", v);
}

static double column_or_nan(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void add_number(m2pt_table *t, const opts *o, const char *key, sqlite3_stmt *st, int i) {
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        m2pt_table_null(t);
    } else if (human(o->fmt)) {
        char b[64];
        human_number(key, sqlite3_column_double(st, i), b, sizeof b);
        m2pt_table_numtext(t, b);
    } else {
        add_value(t, st, i);
    }
}

/* ================================================================ ls */

/* A 'running' row of this host whose process is gone: the next `m2pt run` restarts it. */
static int stale(sqlite3_stmt *st, int status_col, int host_col, int pid_col) {
    const char *status = (const char *)sqlite3_column_text(st, status_col);
    const char *host = (const char *)sqlite3_column_text(st, host_col);
    long long pid = sqlite3_column_int64(st, pid_col);
    char me[256];
    if (!status || strcmp(status, "running") || !host || gethostname(me, sizeof me)) return 0;
    me[sizeof me - 1] = '\0';
    if (strcmp(host, me)) return 0;
    if (pid <= 0 || pid != (long long)(pid_t)pid) return 1;
    return kill((pid_t)pid, 0) != 0 && errno != EPERM;
}

static int check_choice(const opts *o, const char *opt, const char *v, const char *const *choices) {
    for (int i = 0; choices[i]; i++)
        if (!strcmp(v, choices[i])) return 0;
    fprintf(stderr, "m2pt %s: %s '%s' is not one of", o->cmd, opt, v);
    for (int i = 0; choices[i]; i++) fprintf(stderr, "%s %s", i ? "," : "", choices[i]);
    fprintf(stderr, "\n");
    return 2;
}

static void ls_row(m2pt_table *t, const opts *o, sqlite3_stmt *st) {
    m2pt_table_int(t, sqlite3_column_int64(st, 0));
    for (int j = 1; j <= 6; j++) {
        if (j == 3 && human(o->fmt) && stale(st, 3, 11, 12)) m2pt_table_text(t, "running (stale)");
        else add_value(t, st, j);
    }
    add_value(t, st, 7);
    add_number(t, o, "val_acc", st, 8);
    add_number(t, o, "test_acc", st, 9);
    add_number(t, o, "train_seconds", st, 10);
}

static int run_ls(const opts *o, sqlite3 *db) {
    static const char *const statuses[] = {"running", "done", "failed", "interrupted", NULL};
    static const char *const roles[] = {"target", "auxiliary", NULL};
    int rc = 0;
    if (o->status) rc = check_choice(o, "--status", o->status, statuses);
    if (!rc && o->role) rc = check_choice(o, "--role", o->role, roles);
    if (!rc && o->experiment) rc = check_experiment(o, db, o->experiment);
    if (rc) return rc;
    sqlite3_stmt *st;
    const char *sql = "SELECT v.run_id, v.experiment, v.role, v.status, v.target_modality, v.aux_modality, v.pathway,"
                      " v.seed, v.val_acc, v.test_acc, v.train_seconds, r.host, r.pid"
                      " FROM results v JOIN runs r ON r.id = v.run_id"
                      " WHERE (?1 IS NULL OR v.experiment = ?1) AND (?2 IS NULL OR v.status = ?2)"
                      " AND (?3 IS NULL OR v.role = ?3) ORDER BY v.run_id, v.experiment";
    if ((rc = prepare(o, db, sql, &st))) return rc;
    if (o->experiment) sqlite3_bind_text(st, 1, o->experiment, -1, SQLITE_STATIC);
    if (o->status) sqlite3_bind_text(st, 2, o->status, -1, SQLITE_STATIC);
    if (o->role) sqlite3_bind_text(st, 3, o->role, -1, SQLITE_STATIC);
    m2pt_table *t = m2pt_table_new();
    static const char *const cols[] = {"run_id",  "experiment", "role",    "status",   "modality", "aux",
                                       "pathway", "seed",       "val_acc", "test_acc", "seconds"};
    for (size_t j = 0; t && j < sizeof cols / sizeof cols[0]; j++) m2pt_table_column(t, cols[j], j >= 7);
    int s;
    while (t && (s = sqlite3_step(st)) == SQLITE_ROW) ls_row(t, o, st);
    if (t && s != SQLITE_DONE) rc = db_fail(o, db, s, "cannot list the runs");
    sqlite3_finalize(st);
    if (!rc) rc = t ? print_table(o, t, o->fmt) : out_of_memory(o);
    m2pt_table_free(t);
    return rc;
}

/* ================================================================ show */

#define KV_MAX 40

typedef struct {
    char *key[KV_MAX], *val[KV_MAX];
    int num[KV_MAX]; /* a JSON number */
    int n, oom;
} kvlist;

static void kv_add(kvlist *kv, const char *key, const char *val, int num) {
    if (kv->n >= KV_MAX) return;
    char *k = strdup(key), *v = val ? strdup(val) : NULL;
    if (!k || (val && !v)) {
        free(k), free(v);
        kv->oom = 1;
        return;
    }
    kv->key[kv->n] = k, kv->val[kv->n] = v, kv->num[kv->n] = num, kv->n++;
}

static void kv_free(kvlist *kv) {
    for (int i = 0; i < kv->n; i++) free(kv->key[i]), free(kv->val[i]);
    kv->n = 0;
}

/* Column i of a row as a field: raw for json, human otherwise. */
static void kv_column(kvlist *kv, const opts *o, sqlite3_stmt *st, int i) {
    const char *key = sqlite3_column_name(st, i);
    int type = sqlite3_column_type(st, i);
    char b[64];
    if (type == SQLITE_NULL) {
        kv_add(kv, key, NULL, 0);
    } else if (type == SQLITE_FLOAT && human(o->fmt)) {
        human_number(key, sqlite3_column_double(st, i), b, sizeof b);
        if (is_acc(key)) strcat(b, "%");
        else if (strstr(key, "seconds")) strcat(b, " s");
        kv_add(kv, key, b, 1);
    } else if (type == SQLITE_FLOAT) {
        snprintf(b, sizeof b, "%.17g", sqlite3_column_double(st, i));
        kv_add(kv, key, b, 1);
    } else {
        kv_add(kv, key, (const char *)sqlite3_column_text(st, i), type == SQLITE_INTEGER);
    }
}

static void section(const opts *o, const char *title) {
    if (o->fmt == M2PT_FMT_MARKDOWN) printf("\n## %s\n\n", title);
    else printf("\n%s\n", title);
}

static void kv_print(const kvlist *kv, const opts *o) {
    if (o->fmt == M2PT_FMT_MARKDOWN) printf("| field | value |\n|---|---|\n");
    for (int i = 0; i < kv->n; i++) {
        const char *v = kv->val[i] ? kv->val[i] : "-";
        if (o->fmt == M2PT_FMT_MARKDOWN) {
            printf("| %s | ", kv->key[i]);
            for (const char *p = v; *p; p++) fputs(*p == '|' ? "\\|" : *p == '\n' ? " " : (char[]){*p, 0}, stdout);
            printf(" |\n");
        } else {
            printf("  %-18s %s\n", kv->key[i], v);
        }
    }
}

static void kv_json(const kvlist *kv, m2pt_strbuf *b) {
    m2pt_sb_puts(b, "{");
    for (int i = 0; i < kv->n; i++) {
        if (i) m2pt_sb_puts(b, ",");
        m2pt_sb_json_string(b, kv->key[i]);
        m2pt_sb_puts(b, ":");
        if (!kv->val[i]) m2pt_sb_puts(b, "null");
        else if (kv->num[i]) m2pt_sb_puts(b, kv->val[i]);
        else m2pt_sb_json_string(b, kv->val[i]);
    }
    m2pt_sb_puts(b, "}");
}

/* RUN: a run id, or a unique prefix of a cell hash. 0, or the exit code. */
static int resolve_run(const opts *o, sqlite3 *db, const char *arg, int64_t *id) {
    sqlite3_stmt *st;
    int rc = prepare(o, db,
                     "SELECT id, id IS ?1 AS exact FROM runs WHERE id IS ?1 OR substr(cell_hash, 1, length(?2)) = ?2"
                     " ORDER BY exact DESC, id LIMIT 3",
                     &st);
    if (rc) return rc;
    char *end;
    long long v = strtoll(arg, &end, 10);
    if (*arg && !*end) sqlite3_bind_int64(st, 1, v);
    sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
    int n = 0, exact = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (!n) *id = sqlite3_column_int64(st, 0), exact = sqlite3_column_int(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return db_fail(o, db, s, "cannot look up the run");
    if (n == 0 || !*arg) return fprintf(stderr, "m2pt show: %s: no run '%s' (see 'm2pt ls')\n", o->db, arg), 2;
    if (n > 1 && !exact)
        return fprintf(stderr, "m2pt show: %s: '%s' matches several runs; give more of the cell hash\n", o->db, arg), 2;
    return 0;
}

typedef struct {
    kvlist run, summary;
    char *config, *text;
    m2pt_table *epochs, *lambda, *artifacts;
    int lambda_epoch;
    int stale;
} run_view;

static void view_free(run_view *v) {
    kv_free(&v->run), kv_free(&v->summary);
    free(v->config), free(v->text);
    m2pt_table_free(v->epochs), m2pt_table_free(v->lambda), m2pt_table_free(v->artifacts);
}

static char *dup_column(sqlite3_stmt *st, int i) {
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

static int load_run(const opts *o, sqlite3 *db, int64_t id, run_view *v) {
    sqlite3_stmt *st;
    int rc = prepare(o, db,
                     "SELECT id AS run_id, cell_hash, role, status, attempt,"
                     " (SELECT group_concat(name, ', ') FROM (SELECT e.name FROM experiment_runs er"
                     "  JOIN experiments e ON e.id = er.experiment_id WHERE er.run_id = runs.id ORDER BY e.name))"
                     "  AS experiments,"
                     " target_modality, aux_modality, aux_run_id, pathway, seed, started, finished, host, pid, git,"
                     " git_dirty, m2pt_version, plugins, error, config, experiment_text FROM runs WHERE id = ?1",
                     &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        for (int i = 0; i < 20; i++) kv_column(&v->run, o, st, i);
        v->stale = stale(st, 3, 13, 14);
        v->config = dup_column(st, 20);
        v->text = dup_column(st, 21);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_ROW) return db_fail(o, db, s, "cannot read the run");
    if (v->stale && human(o->fmt)) {
        free(v->run.val[3]);
        v->run.val[3] = strdup("running (stale: its process is gone; the next 'm2pt run' restarts it)");
    }
    return 0;
}

static int load_summary(const opts *o, sqlite3 *db, int64_t id, run_view *v) {
    sqlite3_stmt *st;
    int rc = prepare(o, db,
                     "SELECT best_val_acc, last_val_acc, test_acc, test_acc_unmerged, test_loss, params_trainable,"
                     " params_inference, train_seconds, wall_seconds, epochs_done FROM summary WHERE run_id = ?1",
                     &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        for (int i = 0; i < 10; i++) kv_column(&v->summary, o, st, i);
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : db_fail(o, db, s, "cannot read the summary");
}

/* Preferred order of the per-epoch columns; others follow alphabetically. */
static int key_rank(const char *k) {
    static const char *const order[] = {"train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(k, order[i])) return i;
    return 5;
}

typedef struct {
    char **keys;
    int nkeys;
    long *epochs;
    int nepochs;
    double *vals; /* nepochs x nkeys */
} pivot;

static void pivot_free(pivot *p) {
    for (int i = 0; i < p->nkeys; i++) free(p->keys[i]);
    free(p->keys), free(p->epochs), free(p->vals);
}

static int cmp_keys(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = key_rank(x), ry = key_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

/* The values of a one-column query into strings (keys) or longs (epochs); ?1 is name when
 * given, else id. */
static int column_list(const opts *o, sqlite3 *db, const char *sql, int64_t id, const char *name, char ***keys,
                       long **nums, int *n) {
    sqlite3_stmt *st;
    int rc = prepare(o, db, sql, &st), s, cap = 0;
    if (rc) return rc;
    if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else sqlite3_bind_int64(st, 1, id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW && !rc) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            void *p = keys ? realloc(*keys, (size_t)cap * sizeof **keys) : realloc(*nums, (size_t)cap * sizeof **nums);
            if (!p) {
                rc = out_of_memory(o);
                break;
            }
            if (keys) *keys = p;
            else *nums = p;
        }
        if (keys && !((*keys)[*n] = dup_column(st, 0))) rc = out_of_memory(o);
        else if (!keys) (*nums)[*n] = (long)sqlite3_column_int64(st, 0);
        if (!rc) (*n)++;
    }
    if (!rc && s != SQLITE_DONE) rc = db_fail(o, db, s, "cannot read the metrics");
    sqlite3_finalize(st);
    return rc;
}

static int fill_pivot(const opts *o, sqlite3 *db, int64_t id, pivot *p) {
    size_t cells = (size_t)p->nepochs * (size_t)p->nkeys;
    if (!(p->vals = malloc((cells ? cells : 1) * sizeof *p->vals))) return out_of_memory(o);
    for (size_t i = 0; i < cells; i++) p->vals[i] = NAN;
    sqlite3_stmt *st;
    int rc = prepare(o, db,
                     "SELECT epoch, key, value FROM metrics WHERE run_id = ?1 AND epoch > 0"
                     " AND key NOT LIKE 'lambda.%' ORDER BY rowid",
                     &st),
        s;
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        long e = (long)sqlite3_column_int64(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1);
        int ei = 0, ki = 0;
        while (ei < p->nepochs && p->epochs[ei] != e) ei++;
        while (k && ki < p->nkeys && strcmp(p->keys[ki], k)) ki++;
        if (ei < p->nepochs && ki < p->nkeys) p->vals[(size_t)ei * p->nkeys + ki] = column_or_nan(st, 2);
    }
    if (s != SQLITE_DONE) rc = db_fail(o, db, s, "cannot read the metrics");
    sqlite3_finalize(st);
    return rc;
}

static int load_epochs(const opts *o, sqlite3 *db, int64_t id, run_view *v) {
    pivot p = {0};
    int rc = column_list(o, db,
                         "SELECT DISTINCT key FROM metrics WHERE run_id = ?1 AND epoch > 0 AND key NOT LIKE 'lambda.%'",
                         id, NULL, &p.keys, NULL, &p.nkeys);
    if (!rc)
        rc = column_list(o, db, "SELECT DISTINCT epoch FROM metrics WHERE run_id = ?1 AND epoch > 0 ORDER BY epoch",
                         id, NULL, NULL, &p.epochs, &p.nepochs);
    if (!rc && p.nkeys) qsort(p.keys, (size_t)p.nkeys, sizeof *p.keys, cmp_keys);
    if (!rc) rc = fill_pivot(o, db, id, &p);
    if (!rc && !(v->epochs = m2pt_table_new())) rc = out_of_memory(o);
    if (!rc) {
        m2pt_table_column(v->epochs, "epoch", 1);
        for (int k = 0; k < p.nkeys; k++) m2pt_table_column(v->epochs, p.keys[k], 1);
        for (int e = 0; e < p.nepochs; e++) {
            m2pt_table_int(v->epochs, p.epochs[e]);
            for (int k = 0; k < p.nkeys; k++) {
                double x = p.vals[(size_t)e * p.nkeys + k];
                char b[64];
                human_number(p.keys[k], x, b, sizeof b);
                if (isnan(x)) m2pt_table_null(v->epochs);
                else if (human(o->fmt)) m2pt_table_numtext(v->epochs, b);
                else m2pt_table_real(v->epochs, x);
            }
        }
    }
    pivot_free(&p);
    return rc;
}

/* "lambda.blocks.3.fc1" -> block 3, linear "fc1". */
static int parse_lambda(const char *key, int *block, const char **linear) {
    const char *pre = "lambda.blocks.";
    if (strncmp(key, pre, strlen(pre))) return -1;
    char *end;
    long b = strtol(key + strlen(pre), &end, 10);
    if (end == key + strlen(pre) || *end != '.' || b < 0 || b > 100000) return -1;
    *block = (int)b, *linear = end + 1;
    return 0;
}

static const char *const linears[] = {"qkv", "proj", "fc1", "fc2"};

static int load_lambda(const opts *o, sqlite3 *db, int64_t id, run_view *v) {
    sqlite3_stmt *st;
    int rc = prepare(o, db,
                     "SELECT epoch, key, value FROM metrics WHERE run_id = ?1 AND key LIKE 'lambda.%' AND epoch ="
                     " (SELECT max(epoch) FROM metrics WHERE run_id = ?1 AND key LIKE 'lambda.%') ORDER BY rowid",
                     &st),
        s;
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    /* blocks x 4 linears, or a plain key/value list when a key does not follow the pattern */
    double grid[64][4];
    int maxb = -1, plain = 0;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 4; j++) grid[i][j] = NAN;
    m2pt_table *list = m2pt_table_new();
    if (list) m2pt_table_column(list, "key", 0), m2pt_table_column(list, "value", 1);
    while (list && (s = sqlite3_step(st)) == SQLITE_ROW) {
        v->lambda_epoch = sqlite3_column_int(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1), *lin;
        int b, j = 0;
        m2pt_table_text(list, k), m2pt_table_real(list, column_or_nan(st, 2));
        if (!k || parse_lambda(k, &b, &lin) || b >= 64) {
            plain = 1;
            continue;
        }
        while (j < 4 && strcmp(linears[j], lin)) j++;
        if (j == 4) plain = 1;
        else grid[b][j] = column_or_nan(st, 2), maxb = b > maxb ? b : maxb;
    }
    if (list && s != SQLITE_DONE) rc = db_fail(o, db, s, "cannot read the lambdas");
    sqlite3_finalize(st);
    if (!list) return out_of_memory(o);
    if (rc || plain || maxb < 0) {
        v->lambda = list;
        return rc;
    }
    m2pt_table_free(list);
    if (!(v->lambda = m2pt_table_new())) return out_of_memory(o);
    m2pt_table_column(v->lambda, "block", 1);
    for (int j = 0; j < 4; j++) m2pt_table_column(v->lambda, linears[j], 1);
    for (int b = 0; b <= maxb; b++) {
        m2pt_table_int(v->lambda, b);
        for (int j = 0; j < 4; j++) {
            char t[32];
            snprintf(t, sizeof t, "%.4g", grid[b][j]);
            if (isnan(grid[b][j])) m2pt_table_null(v->lambda);
            else if (human(o->fmt)) m2pt_table_numtext(v->lambda, t);
            else m2pt_table_real(v->lambda, grid[b][j]);
        }
    }
    return 0;
}

static int load_artifacts(const opts *o, sqlite3 *db, int64_t id, run_view *v) {
    sqlite3_stmt *st;
    int rc = prepare(o, db, "SELECT kind, path, bytes, checksum FROM artifacts WHERE run_id = ?1 ORDER BY kind", &st), s;
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    if (!(v->artifacts = m2pt_table_new())) {
        sqlite3_finalize(st);
        return out_of_memory(o);
    }
    for (int j = 0; j < 4; j++) m2pt_table_column(v->artifacts, sqlite3_column_name(st, j), j == 2);
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        for (int j = 0; j < 4; j++) add_value(v->artifacts, st, j);
    if (s != SQLITE_DONE) rc = db_fail(o, db, s, "cannot read the artifacts");
    sqlite3_finalize(st);
    return rc;
}

/* Indented JSON: objects one member per line, arrays and scalars as written. */
static int pretty(m2pt_json_cursor *c, m2pt_strbuf *b, int indent) {
    if (indent > 2 * M2PT_JSON_MAX_DEPTH) return -1;
    if (m2pt_json_peek(c) != '{') {
        size_t start = c->pos;
        if (m2pt_json_skip(c)) return -1;
        return m2pt_sb_append(b, c->s + start, c->pos - start);
    }
    if (m2pt_json_object_begin(c)) return -1;
    char key[256];
    int r, count = 0;
    m2pt_sb_puts(b, "{");
    while ((r = m2pt_json_object_next(c, count, key, sizeof key)) == 1) {
        m2pt_sb_printf(b, "%s\n%*s", count++ ? "," : "", indent + 2, "");
        m2pt_sb_json_string(b, key);
        m2pt_sb_puts(b, ": ");
        if (pretty(c, b, indent + 2)) return -1;
    }
    if (r != 0) return -1;
    if (count) m2pt_sb_printf(b, "\n%*s", indent, "");
    return m2pt_sb_puts(b, "}");
}

static void print_config(const char *config) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_json_cursor c;
    m2pt_json_cursor_init(&c, config, strlen(config));
    if (!pretty(&c, &b, 0) && !m2pt_json_finish(&c) && !b.failed) puts(b.buf);
    else puts(config); /* not valid JSON: as stored */
    m2pt_sb_free(&b);
}

static int show_text(const opts *o, const run_view *v, int64_t id) {
    int md = o->fmt == M2PT_FMT_MARKDOWN;
    printf(md ? "## run %lld\n\n" : "run %lld\n", (long long)id);
    kv_print(&v->run, o);
    section(o, "summary");
    if (v->summary.n) kv_print(&v->summary, o);
    else printf("%s(none: the run has not finished)\n", md ? "" : "  ");
    section(o, "config");
    if (md) printf("```json\n");
    print_config(v->config ? v->config : "{}");
    if (md) printf("```\n");
    int rc = 0;
    section(o, "epochs");
    if (m2pt_table_nrows(v->epochs)) rc |= print_table(o, v->epochs, o->fmt);
    else printf("%s(no per-epoch metrics)\n", md ? "" : "  ");
    if (v->lambda && m2pt_table_nrows(v->lambda)) {
        char title[64];
        snprintf(title, sizeof title, "lambda (epoch %d)", v->lambda_epoch);
        section(o, title);
        rc |= print_table(o, v->lambda, o->fmt);
    }
    if (m2pt_table_nrows(v->artifacts)) {
        section(o, "artifacts");
        rc |= print_table(o, v->artifacts, o->fmt);
    }
    return rc ? 1 : 0;
}

static int show_json(const opts *o, const run_view *v) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_sb_puts(&b, "{\"run\":");
    kv_json(&v->run, &b);
    m2pt_sb_puts(&b, ",\n\"summary\":");
    if (v->summary.n) kv_json(&v->summary, &b);
    else m2pt_sb_puts(&b, "null");
    m2pt_sb_puts(&b, ",\n\"config\":");
    const char *cfg = v->config ? v->config : "{}";
    if (!m2pt_json_check_object(cfg, strlen(cfg), NULL, NULL)) m2pt_sb_puts(&b, cfg);
    else m2pt_sb_json_string(&b, cfg);
    m2pt_sb_puts(&b, ",\n\"experiment_text\":");
    if (v->text) m2pt_sb_json_string(&b, v->text);
    else m2pt_sb_puts(&b, "null");
    m2pt_sb_puts(&b, ",\n\"epochs\":");
    m2pt_table_json(v->epochs, &b);
    m2pt_sb_printf(&b, ",\n\"lambda_epoch\":%d,\n\"lambda\":", v->lambda_epoch);
    m2pt_table_json(v->lambda, &b);
    m2pt_sb_puts(&b, ",\n\"artifacts\":");
    m2pt_table_json(v->artifacts, &b);
    m2pt_sb_puts(&b, "}\n");
    int rc = b.failed ? out_of_memory(o) : (fputs(b.buf, stdout) == EOF ? 1 : 0);
    m2pt_sb_free(&b);
    return rc;
}

static int run_show(const opts *o, sqlite3 *db) {
    int64_t id = 0;
    int rc = resolve_run(o, db, o->pos[0], &id);
    if (rc) return rc;
    run_view v;
    memset(&v, 0, sizeof v);
    rc = load_run(o, db, id, &v);
    if (!rc) rc = load_summary(o, db, id, &v);
    if (!rc) rc = load_epochs(o, db, id, &v);
    if (!rc) rc = load_lambda(o, db, id, &v);
    if (!rc) rc = load_artifacts(o, db, id, &v);
    if (!rc && (v.run.oom || v.summary.oom)) rc = out_of_memory(o);
    if (!rc) rc = o->fmt == M2PT_FMT_JSON ? show_json(o, &v) : show_text(o, &v, id);
    if (!rc && fflush(stdout)) rc = 1;
    view_free(&v);
    return rc;
}

/* ================================================================ compare */

static int run_compare(const opts *o, sqlite3 *db) {
    m2pt_compare c;
    char err[1024];
    int r = m2pt_compare_run(db, o->pos[0], o->by, o->metric, &c, err, sizeof err);
    if (!r && o->baseline && (r = m2pt_compare_rebase(&c, o->baseline, err, sizeof err))) m2pt_compare_free(&c);
    if (r) {
        fprintf(stderr, "m2pt compare: %s: %s\n", o->db, err);
        return r == -2 ? 2 : 1;
    }
    m2pt_table *t = m2pt_compare_table(&c, human(o->fmt));
    int rc = 0;
    if (!t) rc = out_of_memory(o);
    if (!rc && human(o->fmt)) {
        printf("%s%s: %s%s over %d of %d finished target runs; mean, sample std and 95%% CI over seeds "
               "(Student's t); Δ: paired by seed with %s%s\n",
               o->fmt == M2PT_FMT_MARKDOWN ? "**" : "", o->pos[0], c.metric, c.percent ? " (%)" : "", c.nvalues,
               c.nruns, o->baseline ? o->baseline : "the baseline group", o->fmt == M2PT_FMT_MARKDOWN ? "**\n" : "");
    }
    if (!rc && !c.ngroups)
        fprintf(stderr, "m2pt compare: experiment '%s' has no finished target runs with a value of %s yet\n", o->pos[0],
                c.metric);
    if (!rc) rc = print_table(o, t, o->fmt);
    m2pt_table_free(t);
    m2pt_compare_free(&c);
    return rc;
}

/* ================================================================ query */

static int run_query(const opts *o, sqlite3 *db) {
    const char *sql = o->pos[0];
    while (*sql == ' ' || *sql == '\t' || *sql == '\n') sql++;
    if (!*sql) return fprintf(stderr, "m2pt query: no SQL given\n"), 2;
    if (*sql == '.')
        return fprintf(stderr, "m2pt query: '%s' is a sqlite3 shell command, not SQL (try \"SELECT name FROM "
                               "sqlite_master\", or: sqlite3 %s)\n", sql, o->db), 2;
    int rc = 0, results = 0;
    while (*sql && !rc) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int p = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
        if (p != SQLITE_OK) {
            fprintf(stderr, "m2pt query: %s: bad SQL: %s\n", o->db, sqlite3_errmsg(db));
            return 2;
        }
        sql = tail;
        if (!st) continue; /* blanks or a comment */
        if (!sqlite3_stmt_readonly(st)) {
            fprintf(stderr, "m2pt query: %s: refused: the statement would write (attempt to write a readonly database); "
                    "m2pt query only reads\n", o->db);
            rc = 2;
        } else if (sqlite3_column_count(st) > 0) {
            if (results++ && human(o->fmt)) printf("\n");
            rc = emit_rows(o, db, st);
        } else {
            int s = sqlite3_step(st);
            if (s != SQLITE_DONE && s != SQLITE_ROW) rc = db_fail(o, db, s, "query failed");
        }
        sqlite3_finalize(st);
    }
    return rc;
}

/* ================================================================ export */

/* Is name a column of the results view? (then an axis of the same name is not added again) */
static int results_column(sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT * FROM results LIMIT 0", -1, &st, NULL) != SQLITE_OK) return 0;
    int found = 0;
    for (int j = 0; j < sqlite3_column_count(st) && !found; j++) found = !strcmp(sqlite3_column_name(st, j), name);
    sqlite3_finalize(st);
    return found;
}

/* SELECT results.*, one column per grid axis of the experiment; axis keys bound from ?2 on. */
static int export_sql(const opts *o, sqlite3 *db, m2pt_strbuf *sql, char ***axes, int *naxes) {
    m2pt_sb_puts(sql, "SELECT results.*");
    if (o->experiment) {
        int rc = column_list(o, db,
                             "SELECT a.key FROM experiment_axes a JOIN experiments e ON e.id = a.experiment_id"
                             " WHERE e.name = ?1 ORDER BY a.position",
                             0, o->experiment, axes, NULL, naxes);
        if (rc) return rc;
    }
    for (int k = 0, bind = 2; k < *naxes; k++) {
        if (results_column(db, (*axes)[k])) continue;
        m2pt_sb_printf(sql, ", (SELECT p.value FROM params p WHERE p.run_id = results.run_id AND p.key = ?%d) AS \"",
                       bind++);
        for (const char *c = (*axes)[k]; *c; c++) m2pt_sb_puts(sql, *c == '"' ? "\"\"" : (char[]){*c, 0});
        m2pt_sb_puts(sql, "\"");
    }
    m2pt_sb_puts(sql, " FROM results WHERE ?1 IS NULL OR experiment = ?1 ORDER BY run_id, experiment");
    return sql->failed ? out_of_memory(o) : 0;
}

static int run_export(const opts *o, sqlite3 *db) {
    int rc = o->experiment ? check_experiment(o, db, o->experiment) : 0;
    if (rc) return rc;
    m2pt_strbuf sql;
    m2pt_sb_init(&sql);
    char **axes = NULL;
    int naxes = 0;
    if (o->metrics)
        m2pt_sb_puts(&sql, "SELECT run_id, key, step, epoch, value, wall FROM metrics WHERE ?1 IS NULL OR run_id IN"
                           " (SELECT er.run_id FROM experiment_runs er JOIN experiments e ON e.id = er.experiment_id"
                           " WHERE e.name = ?1) ORDER BY run_id, rowid");
    else
        rc = export_sql(o, db, &sql, &axes, &naxes);
    sqlite3_stmt *st = NULL;
    if (!rc && sql.failed) rc = out_of_memory(o);
    if (!rc) rc = prepare(o, db, sql.buf, &st);
    if (!rc) {
        if (o->experiment) sqlite3_bind_text(st, 1, o->experiment, -1, SQLITE_STATIC);
        for (int k = 0, bind = 2; k < naxes; k++)
            if (!results_column(db, axes[k])) sqlite3_bind_text(st, bind++, axes[k], -1, SQLITE_STATIC);
        rc = emit_rows(o, db, st);
    }
    sqlite3_finalize(st);
    for (int k = 0; k < naxes; k++) free(axes[k]);
    free(axes);
    m2pt_sb_free(&sql);
    return rc;
}

/* ================================================================ entry points */

static int dispatch(const char *name, int argc, char **argv, int (*fn)(const opts *, sqlite3 *)) {
    const command *c = find_command(name);
    opts o;
    int rc = parse(c, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    m2pt_store *s = NULL;
    if ((rc = open_ro(&o, &s))) return rc;
    rc = fn(&o, m2pt_store_db(s));
    m2pt_store_close(s);
    return rc;
}

int cmd_ls(int argc, char **argv) { return dispatch("ls", argc, argv, run_ls); }
int cmd_show(int argc, char **argv) { return dispatch("show", argc, argv, run_show); }
int cmd_compare(int argc, char **argv) { return dispatch("compare", argc, argv, run_compare); }
int cmd_query(int argc, char **argv) { return dispatch("query", argc, argv, run_query); }
int cmd_export(int argc, char **argv) { return dispatch("export", argc, argv, run_export); }
