#include "table.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CELL_NULL, CELL_TEXT, CELL_INT, CELL_REAL, CELL_NUMTEXT } cell_type;

typedef struct {
    cell_type type;
    char *text; /* CELL_TEXT, CELL_NUMTEXT */
    long long i;
    double r;
} cell;

typedef struct {
    char *name;
    int right;
} column;

struct m2pt_table {
    column *cols;
    int ncols, capcols;
    cell *cells;
    size_t ncells, capcells;
    int failed;
    int started;    /* csv/json: the header (or '[') is out */
    long rows_out;  /* csv/json: rows already written and dropped */
};

int m2pt_format_parse(const char *s, m2pt_format *out) {
    static const struct {
        const char *name;
        m2pt_format f;
    } names[] = {{"table", M2PT_FMT_TABLE}, {"csv", M2PT_FMT_CSV}, {"json", M2PT_FMT_JSON},
                 {"markdown", M2PT_FMT_MARKDOWN}, {"md", M2PT_FMT_MARKDOWN}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].f;
            return 0;
        }
    return -1;
}

const char *m2pt_format_name(m2pt_format f) {
    switch (f) {
    case M2PT_FMT_CSV: return "csv";
    case M2PT_FMT_JSON: return "json";
    case M2PT_FMT_MARKDOWN: return "markdown";
    default: return "table";
    }
}

m2pt_table *m2pt_table_new(void) { return calloc(1, sizeof(m2pt_table)); }

void m2pt_table_free(m2pt_table *t) {
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) free(t->cols[i].name);
    for (size_t i = 0; i < t->ncells; i++) free(t->cells[i].text);
    free(t->cols);
    free(t->cells);
    free(t);
}

int m2pt_table_failed(const m2pt_table *t) { return !t || t->failed; }
int m2pt_table_ncols(const m2pt_table *t) { return t ? t->ncols : 0; }
int m2pt_table_nrows(const m2pt_table *t) { return t && t->ncols ? (int)(t->ncells / (size_t)t->ncols) : 0; }

int m2pt_table_column(m2pt_table *t, const char *name, int right) {
    if (!t || t->failed) return -1;
    if (t->ncells || !name) return t->failed = 1, -1;
    if (t->ncols == t->capcols) {
        int cap = t->capcols ? 2 * t->capcols : 8;
        column *c = realloc(t->cols, (size_t)cap * sizeof *c);
        if (!c) return t->failed = 1, -1;
        t->cols = c, t->capcols = cap;
    }
    char *dup = strdup(name);
    if (!dup) return t->failed = 1, -1;
    t->cols[t->ncols++] = (column){dup, right};
    return 0;
}

static int push(m2pt_table *t, cell c) {
    if (!t || t->failed || !t->ncols) {
        if (t) t->failed = 1;
        free(c.text);
        return -1;
    }
    if (t->ncells == t->capcells) {
        size_t cap = t->capcells ? 2 * t->capcells : 64;
        cell *p = realloc(t->cells, cap * sizeof *p);
        if (!p) {
            free(c.text);
            return t->failed = 1, -1;
        }
        t->cells = p, t->capcells = cap;
    }
    t->cells[t->ncells++] = c;
    return 0;
}

static int push_text(m2pt_table *t, cell_type type, const char *s) {
    if (!s) return push(t, (cell){.type = CELL_NULL});
    char *dup = strdup(s);
    if (!dup) {
        if (t) t->failed = 1;
        return -1;
    }
    return push(t, (cell){.type = type, .text = dup});
}

int m2pt_table_text(m2pt_table *t, const char *s) { return push_text(t, CELL_TEXT, s); }
int m2pt_table_numtext(m2pt_table *t, const char *s) { return push_text(t, CELL_NUMTEXT, s); }
int m2pt_table_int(m2pt_table *t, long long v) { return push(t, (cell){.type = CELL_INT, .i = v}); }
int m2pt_table_null(m2pt_table *t) { return push(t, (cell){.type = CELL_NULL}); }

int m2pt_table_real(m2pt_table *t, double v) {
    if (isnan(v)) return m2pt_table_null(t);
    return push(t, (cell){.type = CELL_REAL, .r = v});
}

int m2pt_table_textf(m2pt_table *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        if (t) t->failed = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return push(t, (cell){.type = CELL_TEXT, .text = s});
}

/* ------------------------------------------------------------------ formatting one cell */

/* Shortest of 15..17 significant digits that reads back to the same double. */
static void real_exact(double v, char *buf, size_t n) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The cell as text: human (table/markdown) or exact (csv/json); NULL for a NULL cell. */
static const char *cell_str(const cell *c, int human, char *buf, size_t n) {
    switch (c->type) {
    case CELL_NULL: return NULL;
    case CELL_TEXT:
    case CELL_NUMTEXT: return c->text;
    case CELL_INT: snprintf(buf, n, "%lld", c->i); return buf;
    case CELL_REAL:
        if (isinf(c->r)) return c->r > 0 ? "inf" : "-inf";
        if (human) snprintf(buf, n, "%.10g", c->r);
        else real_exact(c->r, buf, n);
        return buf;
    }
    return NULL;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static int is_number_cell(const cell *c) { return c->type == CELL_INT || c->type == CELL_REAL || c->type == CELL_NUMTEXT; }

/* Text for one line of a table: control characters become spaces; '|' escaped for markdown. */
static int put_clean(FILE *f, const char *s, int markdown) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) ch = ' ';
        if (markdown && ch == '|' && fputc('\\', f) == EOF) return -1;
        if (fputc(ch, f) == EOF) return -1;
    }
    return 0;
}

static int pad(FILE *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fputc(' ', f) == EOF) return -1;
    return 0;
}

/* ------------------------------------------------------------------ renderers */

/* A column is right-aligned when declared so, or when every non-NULL cell is a number. */
static int right_aligned(const m2pt_table *t, int j) {
    if (t->cols[j].right) return 1;
    const int nc = t->ncols, nr = m2pt_table_nrows(t);
    int numbers = 0;
    for (int i = 0; i < nr; i++) {
        const cell *c = &t->cells[(size_t)i * nc + j];
        if (c->type == CELL_NULL) continue;
        if (!is_number_cell(c)) return 0;
        numbers++;
    }
    return numbers > 0;
}

static int print_aligned(const m2pt_table *t, FILE *f, int markdown) {
    const int nc = t->ncols, nr = m2pt_table_nrows(t);
    if (!nc) return 0;
    size_t *w = calloc((size_t)nc, sizeof *w);
    int *right = calloc((size_t)nc, sizeof *right);
    if (!w || !right) {
        free(w), free(right);
        return -1;
    }
    char buf[64];
    for (int j = 0; j < nc; j++) {
        w[j] = width(t->cols[j].name);
        if (markdown && w[j] < 3) w[j] = 3; /* "---" */
        right[j] = right_aligned(t, j);
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++) {
            const char *s = cell_str(&t->cells[(size_t)i * nc + j], 1, buf, sizeof buf);
            size_t cw = s ? width(s) : 1;
            if (cw > w[j]) w[j] = cw;
        }
    int rc = 0;
    const char *sep = markdown ? " | " : "  ";
    /* header */
    if (markdown) rc |= fputs("| ", f) == EOF;
    for (int j = 0; j < nc && !rc; j++) {
        size_t cw = width(t->cols[j].name);
        if (right[j]) rc |= pad(f, w[j] - cw);
        rc |= put_clean(f, t->cols[j].name, markdown);
        if (!right[j] && (j + 1 < nc || markdown)) rc |= pad(f, w[j] - cw);
        if (j + 1 < nc) rc |= fputs(sep, f) == EOF;
    }
    rc |= fputs(markdown ? " |\n| " : "\n", f) == EOF;
    for (int j = 0; j < nc && !rc; j++) {
        for (size_t k = 0; k < w[j]; k++) rc |= fputc(markdown && k + 1 == w[j] && right[j] ? ':' : '-', f) == EOF;
        if (j + 1 < nc) rc |= fputs(sep, f) == EOF;
    }
    rc |= fputs(markdown ? " |\n" : "\n", f) == EOF;
    for (int i = 0; i < nr && !rc; i++) {
        if (markdown) rc |= fputs("| ", f) == EOF;
        for (int j = 0; j < nc && !rc; j++) {
            const cell *c = &t->cells[(size_t)i * nc + j];
            const char *s = cell_str(c, 1, buf, sizeof buf);
            if (!s) s = "-";
            size_t cw = width(s);
            if (right[j]) rc |= pad(f, w[j] - cw);
            rc |= put_clean(f, s, markdown);
            if (!right[j] && (j + 1 < nc || markdown)) rc |= pad(f, w[j] - cw);
            if (j + 1 < nc) rc |= fputs(sep, f) == EOF;
        }
        rc |= fputs(markdown ? " |\n" : "\n", f) == EOF;
    }
    free(w), free(right);
    return rc ? -1 : 0;
}

static int csv_field(FILE *f, const char *s) {
    if (!s) return 0;
    int quote = strpbrk(s, ",\"\r\n") != NULL || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' '));
    if (!quote) return fputs(s, f) == EOF ? -1 : 0;
    if (fputc('"', f) == EOF) return -1;
    for (; *s; s++) {
        if (*s == '"' && fputc('"', f) == EOF) return -1;
        if (fputc(*s, f) == EOF) return -1;
    }
    return fputc('"', f) == EOF ? -1 : 0;
}

static int print_csv(m2pt_table *t, FILE *f) {
    const int nc = t->ncols, nr = m2pt_table_nrows(t);
    char buf[64];
    int rc = 0;
    for (int j = 0; j < nc && !rc && !t->started; j++) {
        rc |= csv_field(f, t->cols[j].name);
        rc |= fputs(j + 1 < nc ? "," : "\r\n", f) == EOF;
    }
    t->started = 1;
    for (int i = 0; i < nr && !rc; i++)
        for (int j = 0; j < nc && !rc; j++) {
            rc |= csv_field(f, cell_str(&t->cells[(size_t)i * nc + j], 0, buf, sizeof buf));
            rc |= fputs(j + 1 < nc ? "," : "\r\n", f) == EOF;
        }
    return rc ? -1 : 0;
}

static void json_cell(m2pt_strbuf *b, const cell *c) {
    char buf[64];
    if (c->type == CELL_REAL && isinf(c->r)) {
        m2pt_sb_puts(b, "null"); /* JSON has no infinity */
        return;
    }
    const char *s = cell_str(c, 0, buf, sizeof buf);
    if (!s) m2pt_sb_puts(b, "null");
    else if (is_number_cell(c)) m2pt_sb_puts(b, s);
    else m2pt_sb_json_string(b, s);
}

/* rows as "[{...},\n {...}]"; sep goes between rows. */
static int json_rows(const m2pt_table *t, m2pt_strbuf *b, const char *sep) {
    if (!t || t->failed) return -1;
    const int nc = t->ncols, nr = m2pt_table_nrows(t);
    m2pt_sb_puts(b, "[");
    for (int i = 0; i < nr; i++) {
        if (i) m2pt_sb_puts(b, sep);
        m2pt_sb_puts(b, "{");
        for (int j = 0; j < nc; j++) {
            if (j) m2pt_sb_puts(b, ",");
            m2pt_sb_json_string(b, t->cols[j].name);
            m2pt_sb_puts(b, ":");
            json_cell(b, &t->cells[(size_t)i * nc + j]);
        }
        m2pt_sb_puts(b, "}");
    }
    m2pt_sb_puts(b, "]");
    return b->failed ? -1 : 0;
}

int m2pt_table_json(const m2pt_table *t, m2pt_strbuf *b) { return json_rows(t, b, ","); }

static int print_json(m2pt_table *t, FILE *f, int final) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    int nr = m2pt_table_nrows(t), rc = 0;
    if (nr > 0) {
        rc = json_rows(t, &b, ",\n ");
        if (!rc) { /* drop the array's brackets: rows are joined across flushes */
            b.buf[b.len - 1] = '\0';
            rc = fputs(!t->started ? "[" : t->rows_out ? ",\n " : "", f) == EOF || fputs(b.buf + 1, f) == EOF;
        }
        t->started = 1;
    }
    if (!rc && final) rc = fputs(!t->started ? "[]\n" : "]\n", f) == EOF;
    m2pt_sb_free(&b);
    return rc ? -1 : 0;
}

/* Drops the complete rows (after they were written). */
static void drop_rows(m2pt_table *t) {
    size_t n = (size_t)m2pt_table_nrows(t) * (size_t)t->ncols;
    if (n == 0) return; /* also: cells may still be NULL, and memmove(NULL, ...) is undefined */
    for (size_t i = 0; i < n; i++) free(t->cells[i].text);
    memmove(t->cells, t->cells + n, (t->ncells - n) * sizeof *t->cells);
    t->ncells -= n;
    t->rows_out += (long)(n / (size_t)t->ncols);
}

int m2pt_table_flush(m2pt_table *t, FILE *f, m2pt_format fmt, int final) {
    if (!t || t->failed) return -1;
    if (final && t->ncols && t->ncells % (size_t)t->ncols) return -1; /* an incomplete row */
    int rc = 0;
    switch (fmt) {
    case M2PT_FMT_CSV: rc = print_csv(t, f); break;
    case M2PT_FMT_JSON: rc = print_json(t, f, final); break;
    case M2PT_FMT_MARKDOWN:
    default:
        if (!final) return 0;
        rc = print_aligned(t, f, fmt == M2PT_FMT_MARKDOWN);
    }
    if (t->ncols) drop_rows(t);
    return rc;
}

int m2pt_table_print(m2pt_table *t, FILE *f, m2pt_format fmt) { return m2pt_table_flush(t, f, fmt, 1); }
