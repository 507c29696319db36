#include "json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- string builder */

void m2pt_sb_init(m2pt_strbuf *b) { memset(b, 0, sizeof *b); }

void m2pt_sb_free(m2pt_strbuf *b) {
    free(b->buf);
    m2pt_sb_init(b);
}

static int sb_reserve(m2pt_strbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (extra > SIZE_MAX - b->len - 1) return b->failed = 1, -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
    char *p = realloc(b->buf, cap);
    if (!p) return b->failed = 1, -1;
    b->buf = p;
    b->cap = cap;
    return 0;
}

int m2pt_sb_append(m2pt_strbuf *b, const char *s, size_t n) {
    if (sb_reserve(b, n)) return -1;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

int m2pt_sb_puts(m2pt_strbuf *b, const char *s) { return m2pt_sb_append(b, s, strlen(s)); }

int m2pt_sb_printf(m2pt_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return b->failed = 1, -1;
    if (sb_reserve(b, (size_t)n)) return -1;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int m2pt_sb_json_string(m2pt_strbuf *b, const char *s) {
    m2pt_sb_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': m2pt_sb_append(b, "\\\"", 2); break;
        case '\\': m2pt_sb_append(b, "\\\\", 2); break;
        case '\n': m2pt_sb_append(b, "\\n", 2); break;
        case '\r': m2pt_sb_append(b, "\\r", 2); break;
        case '\t': m2pt_sb_append(b, "\\t", 2); break;
        default:
            if (*p < 0x20) m2pt_sb_printf(b, "\\u%04x", *p);
            else m2pt_sb_append(b, (const char *)p, 1);
        }
    }
    return m2pt_sb_append(b, "\"", 1);
}

int m2pt_json_begin_object(m2pt_strbuf *b) { return m2pt_sb_append(b, "{", 1); }
int m2pt_json_end_object(m2pt_strbuf *b) { return m2pt_sb_append(b, "}", 1); }

int m2pt_json_key(m2pt_strbuf *b, const char *key) {
    if (b->failed) return -1;
    if (b->len > 0 && b->buf[b->len - 1] != '{' && b->buf[b->len - 1] != '[')
        m2pt_sb_append(b, ",", 1);
    m2pt_sb_json_string(b, key);
    return m2pt_sb_append(b, ":", 1);
}

int m2pt_json_add_int(m2pt_strbuf *b, const char *key, long long v) {
    m2pt_json_key(b, key);
    return m2pt_sb_printf(b, "%lld", v);
}

int m2pt_json_add_double(m2pt_strbuf *b, const char *key, double v) {
    if (!isfinite(v)) return b->failed = 1, -1; /* JSON has no NaN or infinity */
    m2pt_json_key(b, key);
    /* Shortest of 15..17 significant digits that reads back to the same double. */
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    return m2pt_sb_puts(b, tmp);
}

int m2pt_json_add_string(m2pt_strbuf *b, const char *key, const char *v) {
    m2pt_json_key(b, key);
    return m2pt_sb_json_string(b, v);
}

int m2pt_json_add_bool(m2pt_strbuf *b, const char *key, int v) {
    m2pt_json_key(b, key);
    return m2pt_sb_puts(b, v ? "true" : "false");
}

int m2pt_json_add_raw(m2pt_strbuf *b, const char *key, const char *json) {
    m2pt_json_key(b, key);
    return m2pt_sb_puts(b, json);
}

/* ---------------------------------------------------------------- cursor */

void m2pt_json_cursor_init(m2pt_json_cursor *c, const char *s, size_t len) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->len = len;
}

static int fail_at(m2pt_json_cursor *c, size_t pos, const char *why) {
    if (!c->error) {
        c->error = why;
        c->error_pos = pos;
    }
    return -1;
}

static int fail(m2pt_json_cursor *c, const char *why) { return fail_at(c, c->pos, why); }

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

int m2pt_json_peek(m2pt_json_cursor *c) {
    if (c->error) return -1;
    while (c->pos < c->len) {
        char ch = c->s[c->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') return (unsigned char)ch;
        c->pos++;
    }
    return -1;
}

static int expect(m2pt_json_cursor *c, int ch, const char *why) {
    if (m2pt_json_peek(c) != ch) return fail(c, why);
    c->pos++;
    return 0;
}

static int container_begin(m2pt_json_cursor *c, int open, const char *why) {
    if (expect(c, open, why)) return -1;
    if (++c->depth > M2PT_JSON_MAX_DEPTH) return fail(c, "nesting too deep");
    return 0;
}

/* Shared by objects and arrays: 1 when an item follows, 0 at the (consumed) close. */
static int container_next(m2pt_json_cursor *c, int count, int close, const char *why) {
    int ch = m2pt_json_peek(c);
    if (ch < 0) return fail(c, "unexpected end");
    if (ch == close) {
        c->pos++;
        c->depth--;
        return 0;
    }
    if (count > 0) {
        if (ch != ',') return fail(c, why);
        c->pos++;
    }
    return 1;
}

int m2pt_json_object_begin(m2pt_json_cursor *c) { return container_begin(c, '{', "expected '{'"); }
int m2pt_json_array_begin(m2pt_json_cursor *c) { return container_begin(c, '[', "expected '['"); }

int m2pt_json_object_next(m2pt_json_cursor *c, int count, char *key, size_t cap) {
    int r = container_next(c, count, '}', "expected ',' or '}'");
    if (r <= 0) return r;
    if (m2pt_json_peek(c) != '"') return fail(c, "expected a key");
    int t = m2pt_json_read_string(c, key, cap);
    if (t < 0 || expect(c, ':', "expected ':'")) return -1;
    return t == 1 ? 2 : 1;
}

int m2pt_json_array_next(m2pt_json_cursor *c, int count) {
    int r = container_next(c, count, ']', "expected ',' or ']'");
    if (r <= 0) return r;
    if (m2pt_json_peek(c) == ']') return fail(c, "expected a value"); /* "[1,]" */
    return 1;
}

static int hex4(m2pt_json_cursor *c, unsigned *out) {
    if (c->len - c->pos < 4) return fail(c, "bad \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = c->s[c->pos + (size_t)i];
        unsigned d;
        if (h >= '0' && h <= '9') d = (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') d = (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') d = (unsigned)(h - 'A' + 10);
        else return fail(c, "bad \\u escape");
        v = v * 16 + d;
    }
    c->pos += 4;
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char *out) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static size_t escape_fail(m2pt_json_cursor *c, const char *why) {
    fail(c, why);
    return 0;
}

/* Cursor at a backslash. Decodes one escape into out; returns its byte count, 0 on error. */
static size_t decode_escape(m2pt_json_cursor *c, char *out) {
    if (c->len - c->pos < 2) return escape_fail(c, "unterminated string");
    char e = c->s[c->pos + 1];
    c->pos += 2;
    switch (e) {
    case '"': case '\\': case '/': out[0] = e; return 1;
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: c->pos -= 2; return escape_fail(c, "bad escape");
    }
    unsigned cp, lo;
    if (hex4(c, &cp)) return 0;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return escape_fail(c, "lone surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (c->len - c->pos < 2 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u')
            return escape_fail(c, "lone surrogate");
        c->pos += 2;
        if (hex4(c, &lo)) return 0;
        if (lo < 0xDC00 || lo > 0xDFFF) return escape_fail(c, "lone surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) return escape_fail(c, "\\u0000 is not supported");
    return utf8_encode(cp, out);
}

int m2pt_json_read_string(m2pt_json_cursor *c, char *buf, size_t cap) {
    if (m2pt_json_peek(c) != '"') return fail(c, "expected a string");
    c->pos++;
    size_t n = 0;
    int truncated = 0;
    for (;;) {
        if (c->pos >= c->len) return fail(c, "unterminated string");
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '"') break;
        if (ch < 0x20) return fail(c, "control character in string");
        char tmp[4];
        size_t k = 1;
        if (ch == '\\') {
            if ((k = decode_escape(c, tmp)) == 0) return -1;
        } else {
            tmp[0] = (char)ch;
            c->pos++;
        }
        /* Once something did not fit, append nothing more (no half characters). */
        if (!truncated && buf && n + k < cap) {
            memcpy(buf + n, tmp, k);
            n += k;
        } else {
            truncated = 1;
        }
    }
    c->pos++; /* closing quote */
    if (buf && cap) buf[n] = '\0';
    return buf && truncated ? 1 : 0;
}

/* Validates the number grammar at the cursor; [*start, cursor) is the number text. */
static int scan_number(m2pt_json_cursor *c, size_t *start, int *is_int) {
    int ch = m2pt_json_peek(c);
    if (ch != '-' && !is_digit(ch)) return fail(c, "expected a number");
    size_t p = c->pos, n = c->len;
    const char *s = c->s;
    *start = p;
    *is_int = 1;
    if (s[p] == '-') p++;
    if (p >= n || !is_digit(s[p])) return fail_at(c, p, "bad number");
    if (s[p] == '0') p++;
    else while (p < n && is_digit(s[p])) p++;
    if (p < n && s[p] == '.') {
        *is_int = 0;
        if (++p >= n || !is_digit(s[p])) return fail_at(c, p, "bad number");
        while (p < n && is_digit(s[p])) p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        *is_int = 0;
        if (++p < n && (s[p] == '+' || s[p] == '-')) p++;
        if (p >= n || !is_digit(s[p])) return fail_at(c, p, "bad number");
        while (p < n && is_digit(s[p])) p++;
    }
    c->pos = p;
    return 0;
}

int m2pt_json_read_integer(m2pt_json_cursor *c, long long *out) {
    size_t start;
    int is_int;
    if (scan_number(c, &start, &is_int)) return -1;
    if (!is_int) return fail_at(c, start, "expected an integer");
    char tmp[32];
    size_t n = c->pos - start;
    if (n >= sizeof tmp) return fail_at(c, start, "integer out of range");
    memcpy(tmp, c->s + start, n);
    tmp[n] = '\0';
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) return fail_at(c, start, "integer out of range");
    *out = v;
    return 0;
}

int m2pt_json_read_double(m2pt_json_cursor *c, double *out) {
    size_t start;
    int is_int;
    if (scan_number(c, &start, &is_int)) return -1;
    char tmp[512];
    size_t n = c->pos - start;
    if (n >= sizeof tmp) return fail_at(c, start, "number too long");
    memcpy(tmp, c->s + start, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
        return fail_at(c, start, "number out of range");
    *out = v;
    return 0;
}

static int literal(m2pt_json_cursor *c, const char *word) {
    size_t n = strlen(word);
    m2pt_json_peek(c);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
        return fail(c, "expected a value");
    c->pos += n;
    return 0;
}

int m2pt_json_read_bool(m2pt_json_cursor *c, int *out) {
    int ch = m2pt_json_peek(c);
    if (ch == 't' && literal(c, "true") == 0) return *out = 1, 0;
    if (ch == 'f' && literal(c, "false") == 0) return *out = 0, 0;
    return fail(c, "expected true or false");
}

int m2pt_json_skip(m2pt_json_cursor *c) {
    int ch = m2pt_json_peek(c), r;
    size_t start;
    int is_int, b;
    switch (ch) {
    case '{':
        if (m2pt_json_object_begin(c)) return -1;
        for (int i = 0; (r = m2pt_json_object_next(c, i, NULL, 0)) > 0; i++)
            if (m2pt_json_skip(c)) return -1;
        return r;
    case '[':
        if (m2pt_json_array_begin(c)) return -1;
        for (int i = 0; (r = m2pt_json_array_next(c, i)) > 0; i++)
            if (m2pt_json_skip(c)) return -1;
        return r;
    case '"': return m2pt_json_read_string(c, NULL, 0);
    case 't': case 'f': return m2pt_json_read_bool(c, &b);
    case 'n': return literal(c, "null");
    default:
        if (ch == '-' || is_digit(ch)) return scan_number(c, &start, &is_int);
        return fail(c, ch < 0 ? "unexpected end" : "expected a value");
    }
}

int m2pt_json_finish(m2pt_json_cursor *c) {
    if (c->error) return -1;
    if (m2pt_json_peek(c) != -1) return fail(c, "trailing characters after the value");
    return 0;
}

int m2pt_json_check_object(const char *s, size_t len, const char **why, size_t *where) {
    m2pt_json_cursor c;
    m2pt_json_cursor_init(&c, s, len);
    if (m2pt_json_peek(&c) != '{') fail(&c, "expected an object");
    else if (m2pt_json_skip(&c) == 0) m2pt_json_finish(&c);
    if (!c.error) return 0;
    if (why) *why = c.error;
    if (where) *where = c.error_pos;
    return -1;
}

/* ---------------------------------------------------------------- getters */

/* Validates json, then positions c at the value of the first top-level `key`. */
static int find_key(m2pt_json_cursor *c, const char *json, const char *key) {
    size_t len = strlen(json), klen = strlen(key);
    if (m2pt_json_check_object(json, len, NULL, NULL)) return -2;
    char *kbuf = malloc(klen + 1);
    if (!kbuf) return -2;
    m2pt_json_cursor_init(c, json, len);
    int found = -1;
    if (m2pt_json_object_begin(c) == 0) {
        for (int i = 0;; i++) {
            int r = m2pt_json_object_next(c, i, kbuf, klen + 1);
            if (r <= 0) {
                found = r < 0 ? -2 : -1;
                break;
            }
            if (r == 1 && strcmp(kbuf, key) == 0) {
                found = 0;
                break;
            }
            if (m2pt_json_skip(c)) {
                found = -2;
                break;
            }
        }
    }
    free(kbuf);
    return found;
}

int m2pt_json_get_int(const char *json, const char *key, long *out) {
    m2pt_json_cursor c;
    long long v;
    int r = find_key(&c, json, key);
    if (r) return r;
    if (m2pt_json_read_integer(&c, &v) || v < LONG_MIN || v > LONG_MAX) return -2;
    *out = (long)v;
    return 0;
}

int m2pt_json_get_double(const char *json, const char *key, double *out) {
    m2pt_json_cursor c;
    int r = find_key(&c, json, key);
    if (r) return r;
    return m2pt_json_read_double(&c, out) ? -2 : 0;
}

int m2pt_json_get_string(const char *json, const char *key, char *buf, size_t cap) {
    m2pt_json_cursor c;
    int r = find_key(&c, json, key);
    if (r) return r;
    if (!buf || cap == 0) return -2;
    return m2pt_json_read_string(&c, buf, cap) == 0 ? 0 : -2;
}

int m2pt_json_get_bool(const char *json, const char *key, int *out) {
    m2pt_json_cursor c;
    int r = find_key(&c, json, key);
    if (r) return r;
    return m2pt_json_read_bool(&c, out) ? -2 : 0;
}
