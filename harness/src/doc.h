/* A small document model for reports: headings, paragraphs, bullet lists, tables, figures
 * (SVG) and code blocks, rendered as GitHub Markdown (figures as links to their SVG files,
 * captions in italics below) or as one self-contained HTML page (CSS and SVG inline, nothing
 * fetched; also well-formed XML, so that an XML parser can check it). Used by `m2pt report`.
 *
 * Text may contain `code` spans (backticks), rendered as <code> in HTML; everything else is
 * literal (escaped for HTML; in Markdown, table cells get '|' escaped and paragraphs are
 * written as given). Errors (out of memory) are sticky: build unchecked, test `failed` once. */
#ifndef M2PT_DOC_H
#define M2PT_DOC_H

#include "json.h"

typedef enum { M2PT_DOC_HEADING, M2PT_DOC_PARA, M2PT_DOC_LIST, M2PT_DOC_TABLE, M2PT_DOC_FIGURE, M2PT_DOC_CODE } m2pt_doc_kind;

typedef struct {
    m2pt_doc_kind kind;
    int level;      /* heading: 1-4 */
    char *text;     /* heading, paragraph, code text; figure caption */
    char *file;     /* figure: its SVG file name (relative to the report) */
    char *svg;      /* figure: the <svg> element */
    char **items;   /* list items; table cells row by row, the header first */
    int nitems;
    int ncols;      /* table */
    int *right;     /* table: per column, align right */
} m2pt_doc_block;

typedef struct {
    m2pt_doc_block *b;
    int n, cap;
    int failed;
} m2pt_doc;

void m2pt_doc_init(m2pt_doc *d);
void m2pt_doc_free(m2pt_doc *d);

#if defined(__GNUC__)
#define M2PT_DOC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define M2PT_DOC_PRINTF(a, b)
#endif
void m2pt_doc_heading(m2pt_doc *d, int level, const char *fmt, ...) M2PT_DOC_PRINTF(3, 4);
void m2pt_doc_para(m2pt_doc *d, const char *fmt, ...) M2PT_DOC_PRINTF(2, 3);
/* A bullet list: items are appended to the last block when it is a list, else a new list. */
void m2pt_doc_item(m2pt_doc *d, const char *fmt, ...) M2PT_DOC_PRINTF(2, 3);
void m2pt_doc_list_end(m2pt_doc *d); /* the next item starts a new list */
/* A table: declare the columns (a NULL-terminated list of names; a leading '>' aligns the
 * column right and is not printed), then cells row by row. */
void m2pt_doc_table(m2pt_doc *d, const char *const *columns);
void m2pt_doc_cell(m2pt_doc *d, const char *fmt, ...) M2PT_DOC_PRINTF(2, 3);
/* A figure: takes ownership of svg (an <svg> element without XML declaration). */
void m2pt_doc_figure(m2pt_doc *d, const char *file, const char *caption, char *svg);
void m2pt_doc_code(m2pt_doc *d, const char *text);

/* Renderers: 0, or -1 when the document or the buffer failed. */
int m2pt_doc_markdown(const m2pt_doc *d, m2pt_strbuf *out);
int m2pt_doc_html(const m2pt_doc *d, const char *title, m2pt_strbuf *out);

#endif
