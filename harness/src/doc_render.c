/* Markdown and HTML renderers of m2pt_doc (doc.h). */
#include <string.h>

#include "doc.h"
#include "svg.h"

/* ================================================================ Markdown */

static int chars(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += (*p & 0xc0) != 0x80;
    return n;
}

/* A table cell: '|' escaped, line breaks as spaces. Returns its printed width. */
static int md_cell(m2pt_strbuf *o, const char *s, int pad_to, int right) {
    int w = 0;
    for (const char *p = s; *p; p++) w += (*p == '|') + ((*(const unsigned char *)p & 0xc0) != 0x80);
    if (right)
        for (int i = w; i < pad_to; i++) m2pt_sb_puts(o, " ");
    for (const char *p = s; *p; p++) {
        if (*p == '|') m2pt_sb_puts(o, "\\|");
        else if (*p == '\n' || *p == '\r') m2pt_sb_puts(o, " ");
        else m2pt_sb_append(o, p, 1);
    }
    if (!right)
        for (int i = w; i < pad_to; i++) m2pt_sb_puts(o, " ");
    return w;
}

static int md_width(const char *s) {
    int w = chars(s);
    for (const char *p = s; *p; p++) w += *p == '|';
    return w;
}

static void md_table(m2pt_strbuf *o, const m2pt_doc_block *b) {
    int nc = b->ncols, nr = nc ? b->nitems / nc : 0;
    int width[64] = {0};
    if (nc > 64) nc = 64;
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < nc; j++) {
            int w = md_width(b->items[r * b->ncols + j]);
            if (w > width[j]) width[j] = w;
        }
    for (int j = 0; j < nc; j++)
        if (width[j] < 3) width[j] = 3;
    for (int r = 0; r < nr; r++) {
        m2pt_sb_puts(o, "|");
        for (int j = 0; j < nc; j++) {
            m2pt_sb_puts(o, " ");
            md_cell(o, b->items[r * b->ncols + j], width[j], b->right[j]);
            m2pt_sb_puts(o, " |");
        }
        m2pt_sb_puts(o, "\n");
        if (r == 0) {
            m2pt_sb_puts(o, "|");
            for (int j = 0; j < nc; j++) {
                m2pt_sb_puts(o, " ");
                for (int i = 0; i < width[j] - 1; i++) m2pt_sb_puts(o, "-");
                m2pt_sb_puts(o, b->right[j] ? ":" : "-");
                m2pt_sb_puts(o, " |");
            }
            m2pt_sb_puts(o, "\n");
        }
    }
    m2pt_sb_puts(o, "\n");
}

/* A fence longer than any run of backticks in the text. */
static void md_fence(m2pt_strbuf *o, const char *text) {
    int longest = 0, run = 0;
    for (const char *p = text; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    for (int i = 0; i < (longest >= 3 ? longest + 1 : 3); i++) m2pt_sb_puts(o, "`");
}

int m2pt_doc_markdown(const m2pt_doc *d, m2pt_strbuf *o) {
    if (d->failed) return -1;
    for (int i = 0; i < d->n; i++) {
        const m2pt_doc_block *b = &d->b[i];
        switch (b->kind) {
        case M2PT_DOC_HEADING:
            for (int k = 0; k < b->level; k++) m2pt_sb_puts(o, "#");
            m2pt_sb_printf(o, " %s\n\n", b->text);
            break;
        case M2PT_DOC_PARA: m2pt_sb_printf(o, "%s\n\n", b->text); break;
        case M2PT_DOC_LIST:
            for (int k = 0; k < b->nitems; k++) m2pt_sb_printf(o, "- %s\n", b->items[k]);
            m2pt_sb_puts(o, "\n");
            break;
        case M2PT_DOC_TABLE: md_table(o, b); break;
        case M2PT_DOC_FIGURE:
            /* the image, then its caption (GitHub does not show alt text) */
            m2pt_sb_printf(o, "![%s](%s)\n\n*%s*\n\n", b->file, b->file, b->text);
            break;
        case M2PT_DOC_CODE: {
            size_t n = strlen(b->text);
            md_fence(o, b->text);
            m2pt_sb_puts(o, "\n");
            m2pt_sb_puts(o, b->text);
            if (n && b->text[n - 1] != '\n') m2pt_sb_puts(o, "\n");
            md_fence(o, b->text);
            m2pt_sb_puts(o, "\n\n");
            break;
        }
        }
    }
    return o->failed ? -1 : 0;
}

/* ================================================================ HTML */

static const char css[] =
    "body{font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45;color:#222;"
    "max-width:1080px;margin:24px auto;padding:0 16px}\n"
    "h1{font-size:26px;margin-bottom:4px}h2{font-size:21px;margin-top:36px;border-bottom:1px solid #ccc;"
    "padding-bottom:4px}h3{font-size:17px;margin-top:26px}h4{font-size:15px}\n"
    "table{border-collapse:collapse;margin:10px 0 18px;font-size:13px}\n"
    "th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}\n"
    "td.r,th.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "code{font-family:Menlo,Consolas,monospace;font-size:90%;background:#f3f3f3;padding:0 3px}\n"
    "pre{background:#f6f6f6;border:1px solid #ddd;padding:10px;overflow-x:auto;font-size:12.5px}\n"
    "pre code{background:none;padding:0}\n"
    "figure{margin:14px 0 24px}figure svg{max-width:100%;height:auto}\n"
    "figcaption{font-size:13px;color:#444;margin-top:4px}\n";

/* Text with `code` spans. */
static void html_inline(m2pt_strbuf *o, const char *s) {
    int code = 0;
    const char *p = s;
    while (*p) {
        const char *q = strchr(p, '`');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        char buf[512];
        while (n) { /* escape in pieces */
            size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
            memcpy(buf, p, k), buf[k] = '\0';
            m2pt_xml_escape(o, buf);
            p += k, n -= k;
        }
        if (!q) break;
        m2pt_sb_puts(o, code ? "</code>" : "<code>");
        code = !code, p = q + 1;
    }
    if (code) m2pt_sb_puts(o, "</code>");
}

static void html_table(m2pt_strbuf *o, const m2pt_doc_block *b) {
    int nc = b->ncols, nr = nc ? b->nitems / nc : 0;
    m2pt_sb_puts(o, "<table>\n");
    for (int r = 0; r < nr; r++) {
        if (r == 0) m2pt_sb_puts(o, "<thead>\n");
        if (r == 1) m2pt_sb_puts(o, "<tbody>\n");
        m2pt_sb_puts(o, "<tr>");
        for (int j = 0; j < nc; j++) {
            const char *tag = r ? "td" : "th";
            m2pt_sb_printf(o, "<%s%s>", tag, b->right[j] ? " class=\"r\"" : "");
            html_inline(o, b->items[r * nc + j]);
            m2pt_sb_printf(o, "</%s>", tag);
        }
        m2pt_sb_puts(o, "</tr>\n");
        if (r == 0) m2pt_sb_puts(o, "</thead>\n");
    }
    if (nr > 1) m2pt_sb_puts(o, "</tbody>\n");
    m2pt_sb_puts(o, "</table>\n");
}

int m2pt_doc_html(const m2pt_doc *d, const char *title, m2pt_strbuf *o) {
    if (d->failed) return -1;
    m2pt_sb_puts(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>");
    m2pt_xml_escape(o, title);
    m2pt_sb_printf(o, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    for (int i = 0; i < d->n; i++) {
        const m2pt_doc_block *b = &d->b[i];
        switch (b->kind) {
        case M2PT_DOC_HEADING:
            m2pt_sb_printf(o, "<h%d>", b->level);
            html_inline(o, b->text);
            m2pt_sb_printf(o, "</h%d>\n", b->level);
            break;
        case M2PT_DOC_PARA:
            m2pt_sb_puts(o, "<p>");
            html_inline(o, b->text);
            m2pt_sb_puts(o, "</p>\n");
            break;
        case M2PT_DOC_LIST:
            m2pt_sb_puts(o, "<ul>\n");
            for (int k = 0; k < b->nitems; k++) {
                m2pt_sb_puts(o, "<li>");
                html_inline(o, b->items[k]);
                m2pt_sb_puts(o, "</li>\n");
            }
            m2pt_sb_puts(o, "</ul>\n");
            break;
        case M2PT_DOC_TABLE: html_table(o, b); break;
        case M2PT_DOC_FIGURE:
            m2pt_sb_puts(o, "<figure>\n");
            m2pt_sb_puts(o, b->svg);
            m2pt_sb_puts(o, "<figcaption>");
            html_inline(o, b->text);
            m2pt_sb_puts(o, "</figcaption>\n</figure>\n");
            break;
        case M2PT_DOC_CODE:
            m2pt_sb_puts(o, "<pre><code>");
            m2pt_xml_escape(o, b->text);
            m2pt_sb_puts(o, "</code></pre>\n");
            break;
        }
    }
    m2pt_sb_puts(o, "</body>\n</html>\n");
    return o->failed ? -1 : 0;
}
