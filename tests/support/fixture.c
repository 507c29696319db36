#include "fixture.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_MAGIC "M2PTFIX1"
#define FIXTURE_MAGIC_LEN 8
#define FIXTURE_MAX_FILE (64u << 20)     /* fixtures are small; refuse anything absurd */
#define FIXTURE_MAX_RECORDS 100000u

struct fixture {
    fixture_tensor *t;
    int n;
    void *data; /* all tensor payloads, 4-byte elements, decoded to host order */
};

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    char *err;
    size_t errlen;
} reader;

static int fail(reader *r, const char *fmt, ...) {
    if (r->err && r->errlen) {
        int k = snprintf(r->err, r->errlen, "at byte %zu: ", r->pos);
        if (k >= 0 && (size_t)k < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int read_u32(reader *r, uint32_t *out, const char *what) {
    if (r->len - r->pos < 4)
        return fail(r, "truncated file: %s needs 4 bytes, %zu left", what, r->len - r->pos);
    const unsigned char *b = r->buf + r->pos;
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    r->pos += 4;
    return 0;
}

static int read_all(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    if (!b) {
        fclose(fp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= FIXTURE_MAX_FILE) {
                free(b);
                fclose(fp);
                snprintf(err, errlen, "file larger than %u bytes", FIXTURE_MAX_FILE);
                return -1;
            }
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(fp);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(b);
        snprintf(err, errlen, "read error");
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* Two passes over the buffer: the first validates and sizes, the second decodes. */
static int parse(reader *r, fixture *f, int decode) {
    r->pos = 0;
    if (r->len < FIXTURE_MAGIC_LEN || memcmp(r->buf, FIXTURE_MAGIC, FIXTURE_MAGIC_LEN) != 0)
        return fail(r, "not a fixture file (magic \"%s\" expected)", FIXTURE_MAGIC);
    r->pos = FIXTURE_MAGIC_LEN;
    uint32_t count = 0;
    if (read_u32(r, &count, "record count")) return -1;
    if (count > FIXTURE_MAX_RECORDS) return fail(r, "record count %u exceeds %u", count, FIXTURE_MAX_RECORDS);
    /* Each record takes at least 12 bytes: do not allocate for counts the file cannot hold. */
    if (count > (r->len - r->pos) / 12) return fail(r, "record count %u does not fit the file", count);
    if (!decode) {
        f->n = (int)count;
        f->t = calloc(count ? count : 1, sizeof *f->t);
        if (!f->t) return fail(r, "out of memory");
    }
    size_t data_off = 0; /* in 4-byte elements */
    for (uint32_t i = 0; i < count; i++) {
        fixture_tensor *t = &f->t[i];
        uint32_t name_len = 0, dtype = 0, ndim = 0;
        if (read_u32(r, &name_len, "name length")) return -1;
        if (name_len == 0 || name_len > FIXTURE_NAME_MAX)
            return fail(r, "record %u: name length %u out of range 1..%d", i, name_len, FIXTURE_NAME_MAX);
        if (r->len - r->pos < name_len) return fail(r, "record %u: truncated name", i);
        const char *name = (const char *)r->buf + r->pos;
        if (memchr(name, '\0', name_len)) return fail(r, "record %u: NUL byte in name", i);
        if (!decode) {
            memcpy(t->name, name, name_len);
            t->name[name_len] = '\0';
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(f->t[j].name, t->name) == 0)
                    return fail(r, "record %u: duplicate name \"%s\"", i, t->name);
        }
        r->pos += name_len;
        if (read_u32(r, &dtype, "dtype")) return -1;
        if (dtype != FIXTURE_F32 && dtype != FIXTURE_I32)
            return fail(r, "record \"%s\": unknown dtype %u", t->name, dtype);
        if (read_u32(r, &ndim, "ndim")) return -1;
        if (ndim > FIXTURE_MAX_DIMS)
            return fail(r, "record \"%s\": ndim %u exceeds %d", t->name, ndim, FIXTURE_MAX_DIMS);
        size_t numel = 1;
        uint32_t dims[FIXTURE_MAX_DIMS] = {0};
        for (uint32_t d = 0; d < ndim; d++) {
            if (read_u32(r, &dims[d], "dimension")) return -1;
            if (dims[d] != 0 && numel > (r->len / 4) / dims[d])
                return fail(r, "record \"%s\": shape larger than the file", t->name);
            numel *= dims[d];
        }
        if (numel > (r->len - r->pos) / 4)
            return fail(r, "record \"%s\": %zu elements but only %zu bytes left", t->name, numel,
                        r->len - r->pos);
        if (!decode) {
            t->dtype = (fixture_dtype)dtype;
            t->ndim = (int)ndim;
            memcpy(t->dims, dims, ndim * sizeof dims[0]);
            t->numel = numel;
        } else {
            /* Elements are stored through lvalues of their own type (no aliasing games). */
            void *out = (unsigned char *)f->data + 4 * data_off;
            for (size_t k = 0; k < numel; k++) {
                const unsigned char *b = r->buf + r->pos + 4 * k;
                uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24;
                if (dtype == FIXTURE_F32) {
                    float v;
                    memcpy(&v, &u, sizeof v);
                    if (!isfinite(v))
                        return fail(r, "record \"%s\": element %zu is not finite", t->name, k);
                    ((float *)out)[k] = v;
                } else {
                    int32_t v;
                    memcpy(&v, &u, sizeof v);
                    ((int32_t *)out)[k] = v;
                }
            }
            t->data = out;
        }
        r->pos += 4 * numel;
        data_off += numel;
    }
    if (r->pos != r->len) return fail(r, "%zu trailing bytes after the last record", r->len - r->pos);
    if (!decode) {
        f->data = calloc(data_off ? data_off : 1, 4);
        if (!f->data) return fail(r, "out of memory");
    }
    return 0;
}

fixture *fixture_load_path(const char *path, char *err, size_t errlen) {
    char scratch[1];
    if (!err || !errlen) err = scratch, errlen = sizeof scratch;
    err[0] = '\0';
    unsigned char *buf;
    size_t len;
    if (read_all(path, &buf, &len, err, errlen)) return NULL;
    fixture *f = calloc(1, sizeof *f);
    reader r = {buf, len, 0, err, errlen};
    if (!f || parse(&r, f, 0) || parse(&r, f, 1)) {
        if (!f) snprintf(err, errlen, "out of memory");
        fixture_free(f);
        free(buf);
        return NULL;
    }
    free(buf);
    return f;
}

const char *fixture_data_dir(void) {
    const char *d = getenv("M2PT_TEST_DATA");
    return d && *d ? d : "tests";
}

fixture *fixture_load(const char *name) {
    char path[4096], err[512];
    int k = snprintf(path, sizeof path, "%s/fixtures/%s", fixture_data_dir(), name);
    if (k < 0 || (size_t)k >= sizeof path) {
        fprintf(stderr, "fixture: path too long for %s\n", name);
        return NULL;
    }
    fixture *f = fixture_load_path(path, err, sizeof err);
    if (!f)
        fprintf(stderr, "fixture: %s: %s (set M2PT_TEST_DATA to the tests/ directory; "
                        "regenerate with tests/reference/make_fixtures.py)\n", path, err);
    return f;
}

void fixture_free(fixture *f) {
    if (!f) return;
    free(f->t);
    free(f->data);
    free(f);
}

int fixture_count(const fixture *f) { return f ? f->n : 0; }

const fixture_tensor *fixture_at(const fixture *f, int i) {
    return f && i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const fixture_tensor *fixture_find(const fixture *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

static const fixture_tensor *get_typed(const fixture *f, const char *name, fixture_dtype dt,
                                       size_t *numel) {
    const fixture_tensor *t = fixture_find(f, name);
    if (!t) {
        fprintf(stderr, "fixture: no tensor \"%s\"\n", name ? name : "(null)");
        return NULL;
    }
    if (t->dtype != dt) {
        fprintf(stderr, "fixture: tensor \"%s\" is %s, not %s\n", name,
                t->dtype == FIXTURE_F32 ? "float32" : "int32", dt == FIXTURE_F32 ? "float32" : "int32");
        return NULL;
    }
    if (numel) *numel = t->numel;
    return t;
}

const float *fixture_get(const fixture *f, const char *name, size_t *numel) {
    const fixture_tensor *t = get_typed(f, name, FIXTURE_F32, numel);
    return t ? (const float *)t->data : NULL;
}

const int32_t *fixture_get_i32(const fixture *f, const char *name, size_t *numel) {
    const fixture_tensor *t = get_typed(f, name, FIXTURE_I32, numel);
    return t ? (const int32_t *)t->data : NULL;
}

int fixture_get_int(const fixture *f, const char *name, int *out) {
    size_t n;
    const int32_t *v = fixture_get_i32(f, name, &n);
    if (!v) return -1;
    if (n != 1) {
        fprintf(stderr, "fixture: \"%s\" has %zu elements, expected 1\n", name, n);
        return -1;
    }
    *out = (int)v[0];
    return 0;
}

int fixture_get_float(const fixture *f, const char *name, float *out) {
    size_t n;
    const float *v = fixture_get(f, name, &n);
    if (!v) return -1;
    if (n != 1) {
        fprintf(stderr, "fixture: \"%s\" has %zu elements, expected 1\n", name, n);
        return -1;
    }
    *out = v[0];
    return 0;
}
