#include "doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void m2pt_doc_init(m2pt_doc *d) { memset(d, 0, sizeof *d); }

static void block_free(m2pt_doc_block *b) {
    free(b->text), free(b->file), free(b->svg), free(b->right);
    for (int i = 0; i < b->nitems; i++) free(b->items[i]);
    free(b->items);
}

void m2pt_doc_free(m2pt_doc *d) {
    for (int i = 0; i < d->n; i++) block_free(&d->b[i]);
    free(d->b);
    memset(d, 0, sizeof *d);
}

static char *vformat(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

static m2pt_doc_block *add_block(m2pt_doc *d, m2pt_doc_kind kind) {
    if (d->failed) return NULL;
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 32;
        m2pt_doc_block *p = realloc(d->b, (size_t)cap * sizeof *p);
        if (!p) {
            d->failed = 1;
            return NULL;
        }
        d->b = p, d->cap = cap;
    }
    m2pt_doc_block *b = &d->b[d->n++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

static void add_item(m2pt_doc *d, m2pt_doc_block *b, char *s) {
    if (!s) {
        d->failed = 1;
        return;
    }
    char **p = realloc(b->items, (size_t)(b->nitems + 1) * sizeof *p);
    if (!p) {
        free(s);
        d->failed = 1;
        return;
    }
    b->items = p;
    b->items[b->nitems++] = s;
}

static void text_block(m2pt_doc *d, m2pt_doc_kind kind, int level, const char *fmt, va_list ap) {
    m2pt_doc_block *b = add_block(d, kind);
    if (!b) return;
    b->level = level;
    if (!(b->text = vformat(fmt, ap))) d->failed = 1;
}

void m2pt_doc_heading(m2pt_doc *d, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_block(d, M2PT_DOC_HEADING, level < 1 ? 1 : level > 4 ? 4 : level, fmt, ap);
    va_end(ap);
}

void m2pt_doc_para(m2pt_doc *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_block(d, M2PT_DOC_PARA, 0, fmt, ap);
    va_end(ap);
}

void m2pt_doc_item(m2pt_doc *d, const char *fmt, ...) {
    if (d->failed) return;
    m2pt_doc_block *b = d->n && d->b[d->n - 1].kind == M2PT_DOC_LIST && !d->b[d->n - 1].level ? &d->b[d->n - 1]
                                                                                              : add_block(d, M2PT_DOC_LIST);
    if (!b) return;
    va_list ap;
    va_start(ap, fmt);
    add_item(d, b, vformat(fmt, ap));
    va_end(ap);
}

void m2pt_doc_list_end(m2pt_doc *d) {
    if (!d->failed && d->n && d->b[d->n - 1].kind == M2PT_DOC_LIST) d->b[d->n - 1].level = 1; /* closed */
}

void m2pt_doc_table(m2pt_doc *d, const char *const *columns) {
    m2pt_doc_block *b = add_block(d, M2PT_DOC_TABLE);
    if (!b) return;
    int n = 0;
    while (columns[n]) n++;
    if (!(b->right = calloc((size_t)(n ? n : 1), sizeof *b->right))) {
        d->failed = 1;
        return;
    }
    b->ncols = n;
    for (int j = 0; j < n; j++) {
        const char *c = columns[j];
        if (c[0] == '>') b->right[j] = 1, c++;
        add_item(d, b, strdup(c));
    }
}

void m2pt_doc_cell(m2pt_doc *d, const char *fmt, ...) {
    if (d->failed) return;
    if (!d->n || d->b[d->n - 1].kind != M2PT_DOC_TABLE) {
        d->failed = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    add_item(d, &d->b[d->n - 1], vformat(fmt, ap));
    va_end(ap);
}

void m2pt_doc_figure(m2pt_doc *d, const char *file, const char *caption, char *svg) {
    m2pt_doc_block *b = add_block(d, M2PT_DOC_FIGURE);
    if (!b) {
        free(svg);
        return;
    }
    b->svg = svg;
    b->file = strdup(file);
    b->text = strdup(caption ? caption : "");
    if (!svg || !b->file || !b->text) d->failed = 1;
}

void m2pt_doc_code(m2pt_doc *d, const char *text) {
    m2pt_doc_block *b = add_block(d, M2PT_DOC_CODE);
    if (b && !(b->text = strdup(text ? text : ""))) d->failed = 1;
}
