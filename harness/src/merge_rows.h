/* Copying rows between two result databases by column name (merge.c). Only the columns that
 * both tables have are copied, so a database of an older schema version that added no column
 * merges into a newer one and the other way round. */
#ifndef M2PT_MERGE_ROWS_H
#define M2PT_MERGE_ROWS_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct sqlite3_stmt;

/* The columns table `name` has in both databases, in the destination's order. */
typedef struct {
    char **col;
    int n;
} m2pt_columns;

int m2pt_columns_common(struct sqlite3 *src, struct sqlite3 *dst, const char *table, m2pt_columns *c, char *err,
                        size_t errlen);
int m2pt_columns_find(const m2pt_columns *c, const char *name); /* index, or -1 */
void m2pt_columns_free(m2pt_columns *c);

/* A row copier of one table: select from src by a key, insert into dst (or update a row of
 * dst). The caller binds the select, then calls m2pt_copy_rows; every column value goes over
 * unchanged unless an override is set (by column index) for it. */
typedef struct {
    m2pt_columns cols;
    struct sqlite3 *src, *dst;
    struct sqlite3_stmt *sel; /* SELECT cols FROM table WHERE <key> = ?1 */
    struct sqlite3_stmt *ins; /* INSERT INTO table(cols) VALUES (...), or UPDATE ... WHERE id = ?N */
    int update;
    /* overrides for the next row(s): kind 0 none, 1 integer, 2 NULL, 3 text */
    int *kind;
    int64_t *ival;
    const char **tval;
} m2pt_copier;

/* key: the select's WHERE column (e.g. "run_id", "id"); order: ORDER BY clause or NULL.
 * update: prepare "UPDATE table SET cols WHERE id = ?" instead of an insert (for runs). Columns in
 * `skip` (comma-separated, e.g. "id") are not copied. */
int m2pt_copier_init(m2pt_copier *c, struct sqlite3 *src, struct sqlite3 *dst, const char *table, const char *key,
                     const char *order, const char *skip, int update, char *err, size_t errlen);
void m2pt_copier_free(m2pt_copier *c);
void m2pt_copier_set_int(m2pt_copier *c, const char *column, int64_t v);
void m2pt_copier_set_null(m2pt_copier *c, const char *column);
void m2pt_copier_set_text(m2pt_copier *c, const char *column, const char *v); /* v must outlive the copy */
void m2pt_copier_clear(m2pt_copier *c);
/* Copies every row the select returns for key (inserts), or the one row into dst row `dst_id`
 * (update). *rows: how many. -1 with err on a database error. */
int m2pt_copy_rows(m2pt_copier *c, int64_t key, int64_t dst_id, int *rows, char *err, size_t errlen);

/* Compares the summary rows of run a (in db_a) and run b (in db_b) on every common column but
 * run_id and the timing columns (train_seconds, wall_seconds): 0 the same (a value missing on
 * one side counts as the same), 1 different (the first difference described in diff), -1 error.
 * *filled_a, *filled_b: how many of those values each side has. */
int m2pt_summary_differs(struct sqlite3 *db_a, int64_t a, struct sqlite3 *db_b, int64_t b, char *diff, size_t difflen,
                         int *filled_a, int *filled_b, char *err, size_t errlen);

#endif
