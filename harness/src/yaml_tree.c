#include "yaml_tree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "util.h"

/* ---------------------------------------------------------------- nodes */

yt_node *yt_new(yt_type type, yt_loc loc) {
    yt_node *n = calloc(1, sizeof *n);
    if (n) n->type = type, n->loc = loc;
    return n;
}

void yt_free(yt_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        yt_free(n->item[i]);
        if (n->key) free(n->key[i]);
    }
    free(n->item), free(n->key), free(n->kloc), free(n->text);
    free(n);
}

int yt_map_find(const yt_node *map, const char *key) {
    if (!map || map->type != YT_MAP) return -1;
    for (int i = 0; i < map->n; i++)
        if (!strcmp(map->key[i], key)) return i;
    return -1;
}

yt_node *yt_map_get(const yt_node *map, const char *key) {
    int i = yt_map_find(map, key);
    return i < 0 ? NULL : map->item[i];
}

static int grow(yt_node *c) {
    if (c->n < c->cap) return 0;
    int cap = c->cap ? 2 * c->cap : 4;
    yt_node **item = realloc(c->item, (size_t)cap * sizeof *item);
    if (!item) return -1;
    c->item = item;
    if (c->type == YT_MAP) {
        char **key = realloc(c->key, (size_t)cap * sizeof *key);
        if (!key) return -1;
        c->key = key;
        yt_loc *kloc = realloc(c->kloc, (size_t)cap * sizeof *kloc);
        if (!kloc) return -1;
        c->kloc = kloc;
    }
    c->cap = cap;
    return 0;
}

static int seq_append(yt_node *seq, yt_node *val) {
    if (grow(seq)) {
        yt_free(val);
        return -1;
    }
    seq->item[seq->n++] = val;
    return 0;
}

int yt_map_append(yt_node *map, const char *key, yt_loc kloc, yt_node *val) {
    char *k = strdup(key);
    if (!k || grow(map)) {
        free(k), yt_free(val);
        return -1;
    }
    map->key[map->n] = k;
    map->kloc[map->n] = kloc;
    map->item[map->n++] = val;
    return 0;
}

int yt_map_put(yt_node *map, const char *key, yt_loc kloc, yt_node *val) {
    int i = yt_map_find(map, key);
    if (i < 0) return yt_map_append(map, key, kloc, val);
    yt_free(map->item[i]);
    map->item[i] = val;
    map->kloc[i] = kloc;
    return 0;
}

void yt_map_remove(yt_node *map, int i) {
    if (i < 0 || i >= map->n) return;
    yt_free(map->item[i]);
    free(map->key[i]);
    for (int j = i + 1; j < map->n; j++) {
        map->item[j - 1] = map->item[j];
        map->key[j - 1] = map->key[j];
        map->kloc[j - 1] = map->kloc[j];
    }
    map->n--;
}

char *yt_loc_format(yt_loc loc, char *buf, size_t n) {
    if (loc.line > 0) snprintf(buf, n, "%s:%d:%d", loc.file ? loc.file : "?", loc.line, loc.col);
    else snprintf(buf, n, "%s", loc.file ? loc.file : "?");
    return buf;
}

const char *yt_type_name(yt_type t) {
    switch (t) {
    case YT_NULL: return "null";
    case YT_BOOL: return "a boolean";
    case YT_INT: return "an integer";
    case YT_FLOAT: return "a float";
    case YT_STR: return "a string";
    case YT_SEQ: return "a list";
    case YT_MAP: return "a mapping";
    }
    return "?";
}

char *yt_describe(const yt_node *n, char *buf, size_t cap) {
    const char *what = n->type == YT_INT ? "integer" : n->type == YT_FLOAT ? "float" : "string";
    switch (n->type) {
    case YT_NULL: snprintf(buf, cap, "null"); break;
    case YT_BOOL: snprintf(buf, cap, "%s", n->b ? "true" : "false"); break;
    case YT_SEQ:
    case YT_MAP: snprintf(buf, cap, "%s", yt_type_name(n->type)); break;
    default: {
        int len = (int)strlen(n->text), cut = len > 40 ? 40 : len;
        while (cut < len && cut > 0 && ((unsigned char)n->text[cut] & 0xC0) == 0x80) cut--; /* whole characters */
        char shown[4 * 40 + 1]; /* control characters escaped: a message stays one line */
        int k = 0;
        for (int i = 0; i < cut; i++) {
            unsigned char ch = (unsigned char)n->text[i];
            if (ch == '\n') shown[k++] = '\\', shown[k++] = 'n';
            else if (ch == '\t') shown[k++] = '\\', shown[k++] = 't';
            else if (ch == '\r') shown[k++] = '\\', shown[k++] = 'r';
            else if (ch < 0x20 || ch == 0x7f) k += snprintf(shown + k, sizeof shown - (size_t)k, "\\x%02x", ch);
            else shown[k++] = (char)ch;
        }
        shown[k] = '\0';
        snprintf(buf, cap, "%s%s '%s%s'", n->quoted && n->type == YT_STR ? "quoted " : "", what, shown,
                 cut < len ? "..." : "");
    }
    }
    return buf;
}

/* ---------------------------------------------------------------- files */

int yt_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen) {
    *text = NULL, *len = 0;
    int special;
    FILE *f = m2pt_fopen_regular(path, &special); /* a FIFO would block forever */
    if (!f) {
        if (special) snprintf(err, errlen, "%s: not a regular file", path);
        else snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(YT_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, YT_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > YT_MAX_BYTES) {
        free(buf);
        snprintf(err, errlen, bad ? "%s: read error" : "%s: larger than %d bytes", path, YT_MAX_BYTES);
        return -1;
    }
    buf[n] = '\0';
    char *shrunk = realloc(buf, n + 1);
    *text = shrunk ? shrunk : buf;
    *len = n;
    return 0;
}

/* ---------------------------------------------------------------- YAML 1.2 core schema */

static int all_of(const char *s, const char *set) { return *s && strspn(s, set) == strlen(s); }

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float_syntax(const char *s) {
    if (*s == '-' || *s == '+') s++;
    size_t a = strspn(s, "0123456789");
    s += a;
    size_t b = 0;
    if (*s == '.') {
        s++;
        b = strspn(s, "0123456789");
        s += b;
    }
    if (a == 0 && b == 0) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        size_t c = strspn(s, "0123456789");
        if (c == 0) return 0;
        s += c;
    }
    return *s == '\0';
}

static int one_of(const char *s, const char *const *words) {
    for (; *words; words++)
        if (!strcmp(s, *words)) return 1;
    return 0;
}

/* Integer forms of the core schema: decimal, 0o octal, 0x hex. 1 when s is one, with the value
 * (or *overflow) set. */
static int parse_int(const char *s, long long *v, int *overflow) {
    const char *digits = s;
    int base = 10;
    if (!strncmp(s, "0o", 2) && all_of(s + 2, "01234567")) digits = s + 2, base = 8;
    else if (!strncmp(s, "0x", 2) && all_of(s + 2, "0123456789abcdefABCDEF")) digits = s + 2, base = 16;
    else if (!all_of(s + (*s == '-' || *s == '+'), "0123456789")) return 0;
    errno = 0;
    *v = strtoll(digits, NULL, base);
    *overflow = errno == ERANGE;
    return 1;
}

/* Types a plain scalar. -1 (with why) for a number outside the machine range. */
static int type_plain(yt_node *n, const char **why) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *s = n->text;
    int overflow;
    if (one_of(s, nulls)) n->type = YT_NULL;
    else if (one_of(s, trues)) n->type = YT_BOOL, n->b = 1;
    else if (one_of(s, falses)) n->type = YT_BOOL, n->b = 0;
    else if (parse_int(s, &n->i, &overflow)) {
        n->type = YT_INT;
        if (overflow) return *why = "integer out of range (64-bit)", -1;
    } else if (is_float_syntax(s)) {
        n->type = YT_FLOAT;
        errno = 0;
        n->d = strtod(s, NULL);
        if (errno == ERANGE && isinf(n->d)) return *why = "number out of range", -1;
    } else if (one_of(s, infs)) n->type = YT_FLOAT, n->d = INFINITY;
    else if (one_of(s, ninfs)) n->type = YT_FLOAT, n->d = -INFINITY;
    else if (one_of(s, nans)) n->type = YT_FLOAT, n->d = NAN;
    else n->type = YT_STR;
    return 0;
}

/* ---------------------------------------------------------------- parser */

typedef struct {
    yt_node *node;
    char *key; /* mapping: key waiting for its value (owned) */
    yt_loc kloc;
} frame;

typedef struct {
    const char *file, *text;
    size_t len;
    int located;
    frame st[YT_MAX_DEPTH + 1];
    int depth, nodes, docs;
    yt_node *root;
    char *err;
    size_t errlen;
} pstate;

/* The key path of the value being built: "zip[0].seed". */
static void cur_path(const pstate *p, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->depth && n < cap; i++) {
        const frame *f = &p->st[i];
        int inner = i == p->depth - 1; /* else the open child is the collection's last entry */
        int w;
        if (f->node->type == YT_MAP) {
            const char *key = inner ? f->key : f->node->n ? f->node->key[f->node->n - 1] : NULL;
            if (!key) break;
            w = snprintf(buf + n, cap - n, "%s%s", n ? "." : "", key);
        } else {
            w = snprintf(buf + n, cap - n, "[%d]", inner ? f->node->n : f->node->n - 1);
        }
        if (w < 0) break;
        n += (size_t)w;
    }
}

static yt_loc mark_loc(const pstate *p, yaml_mark_t m) {
    yt_loc l = {p->file, p->located ? (int)m.line + 1 : 0, p->located ? (int)m.column + 1 : 0};
    return l;
}

static int failf(pstate *p, yt_loc loc, const char *path, const char *fmt, ...) {
    char where[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    yt_loc_format(loc, where, sizeof where);
    snprintf(p->err, p->errlen, "%s: %s%s%s", where, path ? path : "", path && *path ? ": " : "", msg);
    return -1;
}

static int fail_here(pstate *p, yt_loc loc, const char *fmt, const char *arg) {
    char path[512];
    cur_path(p, path, sizeof path);
    return failf(p, loc, path, fmt, arg);
}

/* Attaches a new node to the open collection (or makes it the root). Takes n. */
static int attach(pstate *p, yt_node *n) {
    if (p->depth == 0) {
        p->root = n;
        return 0;
    }
    frame *f = &p->st[p->depth - 1];
    yt_loc at = n->loc;
    if (f->node->type == YT_SEQ) return seq_append(f->node, n) ? failf(p, at, NULL, "out of memory") : 0;
    if (f->key) {
        int rc = yt_map_append(f->node, f->key, f->kloc, n);
        free(f->key);
        f->key = NULL;
        return rc ? failf(p, f->kloc, NULL, "out of memory") : 0;
    }
    /* n is a key */
    yt_loc loc = n->loc;
    if (n->type == YT_SEQ || n->type == YT_MAP) {
        yt_free(n);
        return fail_here(p, loc, "keys must be scalars, not %s", "collections");
    }
    if (!n->text[0]) {
        yt_free(n);
        return fail_here(p, loc, "empty key%s", "");
    }
    int dup = yt_map_find(f->node, n->text);
    if (dup >= 0) {
        char path[512], msg[600];
        cur_path(p, path, sizeof path);
        snprintf(msg, sizeof msg, "%s%s%s", path, *path ? "." : "", n->text);
        int first = f->node->kloc[dup].line;
        yt_free(n);
        return failf(p, loc, msg, "duplicate key (first at line %d)", first);
    }
    f->key = n->text, f->kloc = loc;
    n->text = NULL;
    yt_free(n);
    return 0;
}

static yt_node *new_node(pstate *p, yt_type t, yaml_mark_t m) {
    yt_loc loc = mark_loc(p, m);
    if (++p->nodes > YT_MAX_NODES) {
        fail_here(p, loc, "more than %s nodes", "100000");
        return NULL;
    }
    yt_node *n = yt_new(t, loc);
    if (!n) failf(p, loc, NULL, "out of memory");
    return n;
}

static int refuse_decorations(pstate *p, yaml_mark_t m, const yaml_char_t *anchor, const yaml_char_t *tag) {
    if (anchor) return fail_here(p, mark_loc(p, m), "anchors (&%s) and aliases are not supported", (const char *)anchor);
    if (tag) return fail_here(p, mark_loc(p, m), "tags (%s) are not supported; quote a value to make it a string",
                              (const char *)tag);
    return 0;
}

static int on_scalar(pstate *p, yaml_event_t *ev) {
    if (refuse_decorations(p, ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag)) return -1;
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(v, '\0', len)) return fail_here(p, mark_loc(p, ev->start_mark), "NUL character in a %s", "string");
    yt_node *n = new_node(p, YT_STR, ev->start_mark);
    if (!n) return -1;
    n->text = malloc(len + 1);
    if (!n->text) {
        yt_free(n);
        return failf(p, mark_loc(p, ev->start_mark), NULL, "out of memory");
    }
    memcpy(n->text, v, len);
    n->text[len] = '\0';
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->quoted = !plain;
    const char *why = NULL;
    if (plain && type_plain(n, &why)) {
        yt_loc loc = n->loc;
        char msg[128];
        snprintf(msg, sizeof msg, "%.60s: %s", n->text, why);
        yt_free(n);
        return fail_here(p, loc, "%s", msg);
    }
    return attach(p, n);
}

static int on_start(pstate *p, yaml_event_t *ev, yt_type t) {
    const yaml_char_t *anchor = t == YT_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = t == YT_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (refuse_decorations(p, ev->start_mark, anchor, tag)) return -1;
    if (p->depth >= YT_MAX_DEPTH) return fail_here(p, mark_loc(p, ev->start_mark), "nesting deeper than %s levels", "32");
    yt_node *n = new_node(p, t, ev->start_mark);
    if (!n || attach(p, n)) return -1;
    p->st[p->depth++] = (frame){n, NULL, {0}};
    return 0;
}

static int on_event(pstate *p, yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++p->docs > 1)
            return failf(p, mark_loc(p, ev->start_mark), NULL, "more than one YAML document ('---'): an experiment is one");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_here(p, mark_loc(p, ev->start_mark), "aliases (*%s) and anchors are not supported",
                         (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT: return on_scalar(p, ev);
    case YAML_SEQUENCE_START_EVENT: return on_start(p, ev, YT_SEQ);
    case YAML_MAPPING_START_EVENT: return on_start(p, ev, YT_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (p->depth > 0) {
            free(p->st[p->depth - 1].key);
            p->st[--p->depth].key = NULL;
        }
        return 0;
    default: return 0;
    }
}

/* Line and column of a byte offset (reader errors carry only an offset). */
static yt_loc offset_loc(const pstate *p, size_t off) {
    yt_loc l = {p->file, 1, 1};
    if (!p->located) return (yt_loc){p->file, 0, 0};
    for (size_t i = 0; i < off && i < p->len; i++) {
        if (p->text[i] == '\n') l.line++, l.col = 1;
        else if (((unsigned char)p->text[i] & 0xC0) != 0x80) l.col++;
    }
    return l;
}

/* The byte at 0-based (line, column) of the text, or -1. */
static int char_at(const pstate *p, size_t line, size_t col) {
    size_t i = 0;
    for (size_t l = 0; l < line && i < p->len; i++)
        if (p->text[i] == '\n') l++;
    for (size_t c = 0; c < col && i < p->len && p->text[i] != '\n'; c++) /* columns are characters */
        for (i++; i < p->len && ((unsigned char)p->text[i] & 0xC0) == 0x80; i++) {}
    return i < p->len ? (unsigned char)p->text[i] : -1;
}

static int libyaml_error(pstate *p, yaml_parser_t *yp) {
    char path[512];
    cur_path(p, path, sizeof path);
    const char *problem = yp->problem ? yp->problem : "syntax error";
    if (yp->error == YAML_MEMORY_ERROR) return failf(p, (yt_loc){p->file, 0, 0}, NULL, "out of memory");
    if (yp->error == YAML_READER_ERROR) {
        yt_loc loc = offset_loc(p, yp->problem_offset);
        if (yp->problem_value >= 0)
            return failf(p, loc, path, "not a YAML text file: %s (byte 0x%02x)", problem, (unsigned)yp->problem_value & 0xFFu);
        return failf(p, loc, path, "not a YAML text file: %s", problem);
    }
    yaml_mark_t m = yp->problem_mark;
    yt_loc loc = mark_loc(p, m);
    if (p->located && char_at(p, m.line, m.column) == '\t')
        return failf(p, loc, path, "tab character: YAML indentation must use spaces");
    if (yp->context) return failf(p, loc, path, "yaml: %s (%s)", problem, yp->context);
    return failf(p, loc, path, "yaml: %s", problem);
}

int yt_parse(const char *text, size_t len, const char *file, int located, yt_node **out, char *err, size_t errlen) {
    *out = NULL;
    pstate *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    *p = (pstate){.file = file, .text = text, .len = len, .located = located, .err = err, .errlen = errlen};
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) {
        free(p);
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    int rc = 0, done = 0;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = libyaml_error(p, &yp);
            break;
        }
        rc = on_event(p, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    for (int i = 0; i < p->depth; i++) free(p->st[i].key);
    if (rc) yt_free(p->root);
    else if (p->root && p->root->type == YT_NULL) yt_free(p->root); /* empty document */
    else *out = p->root;
    free(p);
    return rc;
}
