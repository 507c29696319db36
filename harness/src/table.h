/* Tables of typed cells printed as an aligned text table, CSV, JSON or Markdown: the output of
 * the read-side commands (m2pt ls, show, compare, query, export).
 *
 * Build a table by declaring its columns, then adding cells row by row (a row is complete after
 * one cell per column). Errors (out of memory, a cell without a column) are sticky: add cells
 * unchecked and test m2pt_table_failed() once, or the return value of m2pt_table_print.
 *
 * Rendering:
 *   table     header, a rule, one line per row; numbers right-aligned; NULL as "-"
 *   csv       RFC 4180 (quotes when needed, "" for a quote); NULL as an empty field
 *   json      an array of objects, one per line; numbers unquoted; NULL as null
 *   markdown  a GitHub table; '|' escaped; numbers right-aligned; NULL as "-"
 * Reals print with 10 significant digits in table/markdown and round-trip exactly (up to 17
 * digits) in csv/json. Text cells are printed as given (control characters become spaces in
 * table/markdown). */
#ifndef M2PT_TABLE_H
#define M2PT_TABLE_H

#include <stdio.h>

#include "json.h"

typedef enum { M2PT_FMT_TABLE = 0, M2PT_FMT_CSV = 1, M2PT_FMT_JSON = 2, M2PT_FMT_MARKDOWN = 3 } m2pt_format;

/* "table", "csv", "json", "markdown" (or "md"): 0; anything else: -1. */
int m2pt_format_parse(const char *s, m2pt_format *out);
const char *m2pt_format_name(m2pt_format f);

typedef struct m2pt_table m2pt_table;

m2pt_table *m2pt_table_new(void); /* NULL when out of memory */
void m2pt_table_free(m2pt_table *t);
/* Columns must all be declared before the first cell. right: align right in table/markdown. */
int m2pt_table_column(m2pt_table *t, const char *name, int right);
int m2pt_table_ncols(const m2pt_table *t);
int m2pt_table_nrows(const m2pt_table *t); /* complete rows */

int m2pt_table_text(m2pt_table *t, const char *s); /* NULL: a NULL cell */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int m2pt_table_textf(m2pt_table *t, const char *fmt, ...);
int m2pt_table_int(m2pt_table *t, long long v);
int m2pt_table_real(m2pt_table *t, double v); /* NaN: a NULL cell; ±inf print as text */
int m2pt_table_null(m2pt_table *t);
/* A number already formatted for humans (e.g. "81.25"): text in table/markdown/csv,
 * unquoted in JSON. Use only for valid JSON numbers. */
int m2pt_table_numtext(m2pt_table *t, const char *s);

int m2pt_table_failed(const m2pt_table *t);

/* Prints the table (and drops its rows). 0, or -1 when the table failed, a row is incomplete
 * or writing failed. */
int m2pt_table_print(m2pt_table *t, FILE *f, m2pt_format fmt);
/* Streaming for long outputs: csv and json write the complete rows so far (the header or '['
 * the first time) and drop them, so memory stays bounded; table and markdown need every row
 * for their widths and print only when final. Call with final = 1 once at the end; do not
 * mix with m2pt_table_print. */
int m2pt_table_flush(m2pt_table *t, FILE *f, m2pt_format fmt, int final);
/* Appends the rows as a JSON array of objects (no newline inside). 0 or -1. */
int m2pt_table_json(const m2pt_table *t, m2pt_strbuf *b);

#endif
