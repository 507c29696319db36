/* The plan of a sharded run in the result store (shard_db.h). */
#include "shard_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

static const char *const plan_sql =
    "CREATE TABLE IF NOT EXISTS shard_plan ("
    " experiment TEXT NOT NULL,"
    " cell_hash TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " shard INTEGER NOT NULL,"
    " shards INTEGER NOT NULL,"
    " cost REAL NOT NULL,"
    " PRIMARY KEY (experiment, cell_hash)) WITHOUT ROWID";

int m2pt_plan_ensure(struct sqlite3 *db, char *err, size_t errlen) {
    if (sqlite3_exec(db, plan_sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    snprintf(err, errlen, "%s: cannot create the shard_plan table: %s", sqlite3_db_filename(db, "main"),
             sqlite3_errmsg(db));
    return -1;
}

static int insert_plan(sqlite3 *db, const m2pt_experiment *whole, const int *shard_of, const double *cost, int n) {
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM shard_plan WHERE experiment = ?1", -1, &del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO shard_plan(experiment, cell_hash, role, position, shard, shards,"
                                " cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, whole->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    for (int i = 0; rc == SQLITE_OK && i < whole->ncells; i++) {
        const m2pt_cell *c = &whole->cells[i];
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, whole->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, c->hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, c->role == M2PT_ROLE_AUXILIARY ? "auxiliary" : "target", -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, i);
        sqlite3_bind_int(ins, 5, shard_of[i]);
        sqlite3_bind_int(ins, 6, n);
        sqlite3_bind_double(ins, 7, cost[i]);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

int m2pt_plan_record(const char *db_path, const m2pt_experiment *whole, const int *shard_of, const double *cost, int n,
                     char *err, size_t errlen) {
    m2pt_store *s;
    if (m2pt_store_open(&s, db_path, 0, err, errlen)) return -1;
    sqlite3 *db = m2pt_store_db(s);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && m2pt_plan_ensure(db, err, errlen)) rc = -1;
    else if (rc == SQLITE_OK && insert_plan(db, whole, shard_of, cost, n) != SQLITE_OK) rc = SQLITE_ERROR;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (rc != -1)
            snprintf(err, errlen, "%s: cannot record the shard plan: %s", db_path, sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    m2pt_store_close(s);
    return rc == SQLITE_OK ? 0 : -1;
}

int m2pt_shard_todo(const char *db_path, const m2pt_experiment *whole, const int *shard_of, int k, m2pt_role role,
                    int *todo, char *err, size_t errlen) {
    *todo = 0;
    for (int i = 0; i < whole->ncells; i++) *todo += shard_of[i] == k && whole->cells[i].role == role;
    struct stat st;
    if (!*todo || stat(db_path, &st)) return 0; /* nothing of this role, or no database yet */
    m2pt_store *s;
    if (m2pt_store_open(&s, db_path, 1, err, errlen)) return -1;
    sqlite3 *db = m2pt_store_db(s);
    sqlite3_stmt *st2 = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM runs WHERE cell_hash = ?1 AND status = 'done'", -1, &st2, NULL);
    for (int i = 0; rc == SQLITE_OK && i < whole->ncells; i++) {
        if (shard_of[i] != k || whole->cells[i].role != role) continue;
        sqlite3_reset(st2);
        sqlite3_bind_text(st2, 1, whole->cells[i].hash, -1, SQLITE_STATIC);
        int r = sqlite3_step(st2);
        if (r == SQLITE_ROW) (*todo)--;
        else if (r != SQLITE_DONE) rc = r;
    }
    if (rc != SQLITE_OK) snprintf(err, errlen, "%s: cannot read the runs: %s", db_path, sqlite3_errmsg(db));
    sqlite3_finalize(st2);
    m2pt_store_close(s);
    return rc == SQLITE_OK ? 0 : -1;
}

int m2pt_plan_status(struct sqlite3 *db, FILE *out, const char *prefix, char *err, size_t errlen) {
    sqlite3_stmt *st;
    const char *sql =
        "SELECT p.experiment, count(*), total(r.status = 'done'), max(p.shards),"
        " (SELECT group_concat(shard, ', ') FROM (SELECT DISTINCT q.shard FROM shard_plan q"
        "   LEFT JOIN runs x ON x.cell_hash = q.cell_hash"
        "   WHERE q.experiment = p.experiment AND (x.status IS NULL OR x.status <> 'done') ORDER BY q.shard))"
        " FROM shard_plan p LEFT JOIN runs r ON r.cell_hash = p.cell_hash"
        " GROUP BY p.experiment ORDER BY p.experiment";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot read the shard plans: %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int planned = sqlite3_column_int(st, 1), done = (int)sqlite3_column_double(st, 2);
        fprintf(out, "%sexperiment %s: %d of %d planned cells done", prefix, (const char *)sqlite3_column_text(st, 0),
                done, planned);
        if (done < planned)
            fprintf(out, "; not done: cells of shard%s %s of %d (rerun them and merge again)",
                    strchr((const char *)sqlite3_column_text(st, 4), ',') ? "s" : "",
                    (const char *)sqlite3_column_text(st, 4), sqlite3_column_int(st, 3));
        fputc('\n', out);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: cannot read the shard plans: %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
