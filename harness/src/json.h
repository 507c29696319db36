/* Minimal JSON, just enough for checkpoint headers and model configs.
 *
 *  - m2pt_strbuf: a growable string with writers for (flat) objects. Errors are sticky: call
 *    the writers unchecked and test `failed` once at the end.
 *  - m2pt_json_cursor: a bounded pull parser over a byte range (need not be NUL-terminated).
 *    It never reads past `len`, limits nesting depth, and reports the first error with its
 *    byte position. Used to walk a document whose shape the caller knows.
 *  - m2pt_json_get_*: look up one top-level key of an object, e.g. {"dim":64,"depth":4}.
 *
 * Numbers are converted with strtod/strtoll and printed with printf, so LC_NUMERIC must be
 * "C" (m2pt never calls setlocale). Strings are UTF-8; \u escapes are decoded, \u0000 is
 * refused (values are C strings). */
#ifndef M2PT_JSON_H
#define M2PT_JSON_H

#include <stddef.h>

#define M2PT_JSON_MAX_DEPTH 64

typedef struct {
    char *buf; /* NUL-terminated when non-NULL */
    size_t len, cap;
    int failed; /* out of memory, or a value JSON cannot represent (NaN, infinity) */
} m2pt_strbuf;

void m2pt_sb_init(m2pt_strbuf *b);
void m2pt_sb_free(m2pt_strbuf *b);
int m2pt_sb_append(m2pt_strbuf *b, const char *s, size_t n);
int m2pt_sb_puts(m2pt_strbuf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int m2pt_sb_printf(m2pt_strbuf *b, const char *fmt, ...);
/* Append s as a quoted, escaped JSON string. */
int m2pt_sb_json_string(m2pt_strbuf *b, const char *s);

/* Object writers. m2pt_json_key writes the separating comma when the buffer does not end
 * in '{' (or '['), then "key":. All return 0, or -1 once the buffer has failed. */
int m2pt_json_begin_object(m2pt_strbuf *b);
int m2pt_json_end_object(m2pt_strbuf *b);
int m2pt_json_key(m2pt_strbuf *b, const char *key);
int m2pt_json_add_int(m2pt_strbuf *b, const char *key, long long v);
int m2pt_json_add_double(m2pt_strbuf *b, const char *key, double v); /* %.17g: round-trips */
int m2pt_json_add_string(m2pt_strbuf *b, const char *key, const char *v);
int m2pt_json_add_bool(m2pt_strbuf *b, const char *key, int v);
int m2pt_json_add_raw(m2pt_strbuf *b, const char *key, const char *json); /* caller-checked */

typedef struct {
    const char *s;
    size_t len, pos;
    int depth;
    const char *error; /* first error (static text), NULL while fine */
    size_t error_pos;
} m2pt_json_cursor;

void m2pt_json_cursor_init(m2pt_json_cursor *c, const char *s, size_t len);
/* Next non-blank character without consuming it; -1 at the end or after an error. */
int m2pt_json_peek(m2pt_json_cursor *c);
/* Containers. next(count): count = members/elements already read. Returns 1 when another
 * member follows (for objects its key is in key[] and the cursor is at the value; 2 when the
 * key did not fit into cap bytes, so it equals no key shorter than cap), 0 at the closing
 * bracket (consumed), -1 on error. */
int m2pt_json_object_begin(m2pt_json_cursor *c);
int m2pt_json_object_next(m2pt_json_cursor *c, int count, char *key, size_t cap);
int m2pt_json_array_begin(m2pt_json_cursor *c);
int m2pt_json_array_next(m2pt_json_cursor *c, int count);
/* Scalars: 0 on success, -1 on error (wrong type, out of range). read_string returns 1 when
 * the string was consumed but truncated to cap - 1 bytes. */
int m2pt_json_read_string(m2pt_json_cursor *c, char *buf, size_t cap);
int m2pt_json_read_integer(m2pt_json_cursor *c, long long *out); /* no fraction/exponent */
int m2pt_json_read_double(m2pt_json_cursor *c, double *out);
int m2pt_json_read_bool(m2pt_json_cursor *c, int *out);
/* Skip one value of any type (validating it). */
int m2pt_json_skip(m2pt_json_cursor *c);
/* 0 when only blanks remain, else -1 ("trailing characters"). */
int m2pt_json_finish(m2pt_json_cursor *c);
/* Check that s[0..len) is exactly one JSON object. 0 or -1; on failure *why (static text)
 * and *where (byte offset) are set when non-NULL. */
int m2pt_json_check_object(const char *s, size_t len, const char **why, size_t *where);

/* Top-level key lookup in the NUL-terminated JSON object text `json` (first occurrence).
 * Returns 0 on success, -1 when the key is absent, -2 when the value has another type or is
 * out of range, or `json` is not a valid object. get_double accepts integers; get_string
 * returns -2 when the value does not fit into cap bytes. */
int m2pt_json_get_int(const char *json, const char *key, long *out);
int m2pt_json_get_double(const char *json, const char *key, double *out);
int m2pt_json_get_string(const char *json, const char *key, char *buf, size_t cap);
int m2pt_json_get_bool(const char *json, const char *key, int *out);

#endif
