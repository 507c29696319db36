#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, O_DIRECTORY */
#endif
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "json.h"
#include "util.h"

_Static_assert(sizeof(float) == 4, "checkpoints store IEEE-754 binary32");

#define PREAMBLE 16   /* magic, version, header length */
#define FOOTER 8      /* CRC32, footer magic */
#define ALIGN 64      /* header padding and tensor offsets */
static const char MAGIC[8] = {'M', '2', 'P', 'T', 'C', 'K', 'P', 'T'};
static const char FOOTER_MAGIC[4] = {'M', '2', 'P', 'E'};

/* ---------------------------------------------------------------- helpers */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", path);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int host_is_le(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void swap_words(unsigned char *b, size_t words) {
    for (size_t i = 0; i < words; i++, b += 4) {
        unsigned char t = b[0];
        b[0] = b[3], b[3] = t;
        t = b[1];
        b[1] = b[2], b[2] = t;
    }
}

static uint64_t round_up(uint64_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* zlib takes uInt lengths: feed large buffers in pieces. */
static uLong crc_update(uLong crc, const void *buf, size_t n) {
    const Bytef *p = buf;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

static void format_shape(char *buf, size_t cap, int ndim, const int *shape) {
    size_t n = 0;
    n += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ",%d" : "%d", shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* ---------------------------------------------------------------- save */

typedef struct {
    const m2pt_tensor_info *ti;
    const char *suffix; /* "" or an optimizer-state suffix */
    const float *src;
    uint64_t offset;    /* bytes from data start */
} plan_entry;

typedef struct {
    FILE *f;
    uLong crc;
} writer;

static int w_bytes(writer *w, const void *buf, size_t n) {
    w->crc = crc_update(w->crc, buf, n);
    return fwrite(buf, 1, n, w->f) == n ? 0 : -1;
}

static int w_zeros(writer *w, uint64_t n) {
    static const unsigned char zero[ALIGN];
    for (; n > 0; n -= n > ALIGN ? ALIGN : n)
        if (w_bytes(w, zero, n > ALIGN ? ALIGN : (size_t)n)) return -1;
    return 0;
}

static int w_floats(writer *w, const float *x, size_t n) {
    if (host_is_le()) return w_bytes(w, x, n * sizeof(float));
    unsigned char tmp[4096];
    while (n > 0) {
        size_t k = n < sizeof tmp / 4 ? n : sizeof tmp / 4;
        memcpy(tmp, x, k * 4);
        swap_words(tmp, k);
        if (w_bytes(w, tmp, k * 4)) return -1;
        x += k;
        n -= k;
    }
    return 0;
}

/* Lay out the tensors: parameters, then (resume) each tensor's m and v. Returns the count. */
static int make_plan(const m2pt_params *p, int resume, plan_entry *plan, uint64_t *data_bytes) {
    int k = 0;
    uint64_t off = 0;
    for (int pass = 0; pass < (resume ? 3 : 1); pass++) {
        static const char *const suffix[3] = {"", M2PT_CKPT_ADAM_M, M2PT_CKPT_ADAM_V};
        const float *arena = pass == 0 ? p->params : pass == 1 ? p->m : p->v;
        for (int i = 0; i < p->n; i++, k++) {
            plan[k].ti = &p->t[i];
            plan[k].suffix = suffix[pass];
            plan[k].src = arena + p->t[i].offset;
            plan[k].offset = off;
            off = round_up(off + (uint64_t)p->t[i].numel * sizeof(float));
        }
    }
    *data_bytes = off;
    return k;
}

static void header_json(m2pt_strbuf *b, const char *config, int resume, long step,
                        const plan_entry *plan, int n, uint64_t data_bytes) {
    char name[M2PT_CKPT_NAME_MAX + 16];
    m2pt_json_begin_object(b);
    m2pt_json_add_string(b, "format", "m2pt-checkpoint");
    m2pt_json_add_int(b, "version", M2PT_CKPT_VERSION);
    m2pt_json_add_raw(b, "config", config);
    if (resume) m2pt_json_add_int(b, "optimizer_step", step);
    m2pt_json_key(b, "tensors");
    m2pt_sb_puts(b, "[");
    for (int i = 0; i < n; i++) {
        const m2pt_tensor_info *ti = plan[i].ti;
        snprintf(name, sizeof name, "%s%s", ti->name, plan[i].suffix);
        m2pt_sb_puts(b, i ? ",\n{" : "\n{"); /* one tensor a line: readable with `head -c` */
        m2pt_json_add_string(b, "name", name);
        m2pt_json_key(b, "shape");
        for (int d = 0; d < ti->ndim; d++) m2pt_sb_printf(b, d ? ",%d" : "[%d", ti->shape[d]);
        m2pt_sb_puts(b, "]");
        m2pt_json_add_int(b, "offset", (long long)plan[i].offset);
        m2pt_json_end_object(b);
    }
    m2pt_sb_puts(b, "]");
    m2pt_json_add_int(b, "data_bytes", (long long)data_bytes);
    m2pt_json_end_object(b);
}

static int write_body(writer *w, const m2pt_strbuf *hdr, const plan_entry *plan, int n,
                      uint64_t data_bytes) {
    unsigned char pre[PREAMBLE], foot[FOOTER];
    memcpy(pre, MAGIC, 8);
    put_u32(pre + 8, M2PT_CKPT_VERSION);
    put_u32(pre + 12, (uint32_t)hdr->len);
    uint64_t data_start = round_up(PREAMBLE + hdr->len), pos = 0;
    if (w_bytes(w, pre, PREAMBLE) || w_bytes(w, hdr->buf, hdr->len) ||
        w_zeros(w, data_start - PREAMBLE - hdr->len))
        return -1;
    for (int i = 0; i < n; i++) {
        if (w_zeros(w, plan[i].offset - pos) || w_floats(w, plan[i].src, plan[i].ti->numel))
            return -1;
        pos = plan[i].offset + plan[i].ti->numel * sizeof(float);
    }
    if (w_zeros(w, data_bytes - pos)) return -1;
    put_u32(foot, (uint32_t)w->crc);
    memcpy(foot + 4, FOOTER_MAGIC, 4);
    return fwrite(foot, 1, FOOTER, w->f) == FOOTER ? 0 : -1;
}

/* Create the temporary file exclusively; a stale one of ours (same pid) is replaced. */
static FILE *create_temp(const char *tmp) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
    }
    return f;
}

/* Make the rename durable. Some file systems cannot fsync a directory (EINVAL): fine. */
static int sync_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    const char *d = dir;
    if (!slash) d = ".";
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    int r = fd < 0 ? -1 : fsync(fd);
    if (r && fd >= 0 && (errno == EINVAL || errno == EROFS)) r = 0;
    int e = errno;
    if (fd >= 0) close(fd);
    free(dir);
    errno = e;
    return r;
}

/* Write the file to tmp and move it over path. */
static int write_atomic(const char *path, const char *tmp, const m2pt_strbuf *hdr,
                        const plan_entry *plan, int n, uint64_t data_bytes, char *err,
                        size_t errlen) {
    writer w = {create_temp(tmp), crc32(0L, Z_NULL, 0)};
    if (!w.f) return fail(err, errlen, path, "cannot create temporary file %s: %s", tmp, strerror(errno));
    const char *what = NULL;
    if (write_body(&w, hdr, plan, n, data_bytes) || fflush(w.f)) what = "cannot write";
    else if (fsync(fileno(w.f))) what = "cannot sync";
    int e = errno;
    if (fclose(w.f) && !what) what = "cannot close", e = errno;
    if (!what && rename(tmp, path)) what = "cannot rename", e = errno;
    if (what) {
        unlink(tmp);
        return fail(err, errlen, path, "%s temporary file %s: %s", what, tmp, strerror(e));
    }
    if (sync_dir(path))
        return fail(err, errlen, path, "written, but syncing its directory failed: %s",
                    strerror(errno));
    return 0;
}

static int save_impl(const char *path, const char *config_json, const m2pt_params *p, int resume,
                     long step, char *err, size_t errlen) {
    const char *why;
    size_t where;
    if (!config_json) config_json = "{}";
    if (!p || !p->params || (resume && (!p->m || !p->v)))
        return fail(err, errlen, path, "cannot save: the parameter arenas are not allocated");
    if (resume && step < 0) return fail(err, errlen, path, "cannot save: optimizer step %ld < 0", step);
    if (m2pt_json_check_object(config_json, strlen(config_json), &why, &where))
        return fail(err, errlen, path, "cannot save: config is not a JSON object (%s at byte %zu)",
                    why, where);
    if (p->n > INT_MAX / 3) return fail(err, errlen, path, "cannot save: too many tensors");
    for (int i = 0; i < p->n; i++)
        if (strlen(p->t[i].name) + strlen(M2PT_CKPT_ADAM_M) >= M2PT_CKPT_NAME_MAX)
            return fail(err, errlen, path, "cannot save: tensor name '%s' too long", p->t[i].name);

    int count = p->n * (resume ? 3 : 1);
    plan_entry *plan = malloc((count > 0 ? (size_t)count : 1) * sizeof *plan);
    m2pt_strbuf hdr;
    m2pt_sb_init(&hdr);
    char *tmp = malloc(strlen(path) + 32);
    int rc = -1;
    if (!plan || !tmp) {
        fail(err, errlen, path, "cannot save: out of memory");
        goto done;
    }
    uint64_t data_bytes;
    make_plan(p, resume, plan, &data_bytes);
    header_json(&hdr, config_json, resume, step, plan, count, data_bytes);
    if (hdr.failed) {
        fail(err, errlen, path, "cannot save: out of memory");
        goto done;
    }
    if (hdr.len > M2PT_CKPT_MAX_HEADER) {
        fail(err, errlen, path, "cannot save: header of %zu bytes exceeds the %u MiB limit",
             hdr.len, M2PT_CKPT_MAX_HEADER >> 20);
        goto done;
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    rc = write_atomic(path, tmp, &hdr, plan, count, data_bytes, err, errlen);
done:
    free(plan);
    free(tmp);
    m2pt_sb_free(&hdr);
    return rc;
}

int m2pt_checkpoint_save(const char *path, const char *config_json, const m2pt_params *p,
                         char *err, size_t errlen) {
    return save_impl(path, config_json, p, 0, 0, err, errlen);
}

int m2pt_checkpoint_save_resume(const char *path, const char *config_json, const m2pt_params *p,
                                long optimizer_step, char *err, size_t errlen) {
    return save_impl(path, config_json, p, 1, optimizer_step, err, errlen);
}

/* ---------------------------------------------------------------- header parsing */

typedef struct {
    long long version, data_bytes;
    size_t config_start, config_end;
    int have_format, have_version, have_config, have_tensors, have_data_bytes, have_step;
    size_t names_len; /* bytes used in c->names */
    char *why; /* the first fault, for the caller's message */
    size_t whylen;
} header;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int bad(header *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->why, h->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static int json_fault(header *h, const m2pt_json_cursor *cur) {
    return bad(h, "%s at byte %zu of the header", cur->error ? cur->error : "malformed JSON",
               cur->error_pos);
}

static int parse_shape(m2pt_json_cursor *cur, m2pt_checkpoint_entry *e, header *h) {
    if (m2pt_json_array_begin(cur)) return json_fault(h, cur);
    int r;
    for (e->ndim = 0; (r = m2pt_json_array_next(cur, e->ndim)) > 0; e->ndim++) {
        long long v;
        if (e->ndim == M2PT_MAX_DIMS) return bad(h, "a tensor has more than %d dimensions", M2PT_MAX_DIMS);
        if (m2pt_json_read_integer(cur, &v)) return json_fault(h, cur);
        if (v < 1 || v > INT_MAX) return bad(h, "a tensor has dimension %lld", v);
        e->shape[e->ndim] = (int)v;
    }
    if (r < 0) return json_fault(h, cur);
    if (e->ndim == 0) return bad(h, "a tensor has an empty shape");
    return 0;
}

/* One {"name":..,"shape":[..],"offset":..}; the name is stored in c->names. */
static int parse_tensor(m2pt_json_cursor *cur, m2pt_checkpoint_entry *e, m2pt_checkpoint *c,
                        header *h) {
    char key[16], name[M2PT_CKPT_NAME_MAX];
    int have_name = 0, have_shape = 0, have_offset = 0, r;
    long long off = 0;
    memset(e, 0, sizeof *e);
    if (m2pt_json_object_begin(cur)) return json_fault(h, cur);
    for (int i = 0; (r = m2pt_json_object_next(cur, i, key, sizeof key)) > 0; i++) {
        if (r == 1 && strcmp(key, "name") == 0) {
            int t = m2pt_json_read_string(cur, name, sizeof name);
            if (t < 0) return json_fault(h, cur);
            if (t > 0) return bad(h, "a tensor name is longer than %d bytes", M2PT_CKPT_NAME_MAX - 1);
            if (!name[0]) return bad(h, "a tensor has an empty name");
            have_name = 1;
        } else if (r == 1 && strcmp(key, "shape") == 0) {
            if (parse_shape(cur, e, h)) return -1;
            have_shape = 1;
        } else if (r == 1 && strcmp(key, "offset") == 0) {
            if (m2pt_json_read_integer(cur, &off)) return json_fault(h, cur);
            have_offset = 1;
        } else if (m2pt_json_skip(cur)) {
            return json_fault(h, cur);
        }
    }
    if (r < 0) return json_fault(h, cur);
    if (!have_name || !have_shape || !have_offset)
        return bad(h, "a tensor entry lacks \"%s\"", !have_name ? "name" : !have_shape ? "shape" : "offset");
    if (off < 0 || off % ALIGN) return bad(h, "tensor '%s' has offset %lld (must be a non-negative multiple of %d)", name, off, ALIGN);
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (numel > SIZE_MAX / sizeof(float) / (size_t)e->shape[d])
            return bad(h, "tensor '%s' is too large", name);
        numel *= (size_t)e->shape[d];
    }
    e->numel = numel;
    e->offset = (size_t)off;
    if ((uint64_t)off != e->offset) return bad(h, "tensor '%s' has offset %lld", name, off);
    /* c->names holds as many bytes as the header: decoded names (+ NUL) are never longer
     * than their quoted JSON text, so this cannot overflow. */
    size_t n = strlen(name) + 1;
    memcpy(c->names + h->names_len, name, n);
    e->name = c->names + h->names_len;
    h->names_len += n;
    return 0;
}

static int parse_tensors(m2pt_json_cursor *cur, m2pt_checkpoint *c, header *h) {
    int cap = 0, r;
    if (m2pt_json_array_begin(cur)) return json_fault(h, cur);
    while ((r = m2pt_json_array_next(cur, c->n)) > 0) {
        if (c->n == INT_MAX) return bad(h, "too many tensors");
        if (c->n == cap) {
            cap = cap ? (cap > INT_MAX / 2 ? INT_MAX : 2 * cap) : 16;
            m2pt_checkpoint_entry *t = realloc(c->tensors, (size_t)cap * sizeof *t);
            if (!t) return bad(h, "out of memory");
            c->tensors = t;
        }
        if (parse_tensor(cur, &c->tensors[c->n], c, h)) return -1;
        c->n++;
    }
    return r < 0 ? json_fault(h, cur) : 0;
}

/* Mark a top-level key as seen; a repeated key is a fault. */
static int once(header *h, int *flag, const char *key) {
    if (*flag) return bad(h, "duplicate key \"%s\"", key);
    *flag = 1;
    return 0;
}

static int parse_member(m2pt_json_cursor *cur, const char *key, m2pt_checkpoint *c, header *h) {
    char fmt[32];
    if (strcmp(key, "format") == 0) {
        if (once(h, &h->have_format, key)) return -1;
        int t = m2pt_json_read_string(cur, fmt, sizeof fmt);
        if (t < 0) return json_fault(h, cur);
        if (t > 0 || strcmp(fmt, "m2pt-checkpoint") != 0) return bad(h, "format is not \"m2pt-checkpoint\"");
    } else if (strcmp(key, "version") == 0) {
        if (once(h, &h->have_version, key)) return -1;
        if (m2pt_json_read_integer(cur, &h->version)) return json_fault(h, cur);
    } else if (strcmp(key, "config") == 0) {
        if (once(h, &h->have_config, key)) return -1;
        if (m2pt_json_peek(cur) != '{') return bad(h, "config is not an object");
        h->config_start = cur->pos;
        if (m2pt_json_skip(cur)) return json_fault(h, cur);
        h->config_end = cur->pos;
    } else if (strcmp(key, "tensors") == 0) {
        if (once(h, &h->have_tensors, key)) return -1;
        return parse_tensors(cur, c, h);
    } else if (strcmp(key, "data_bytes") == 0) {
        if (once(h, &h->have_data_bytes, key)) return -1;
        if (m2pt_json_read_integer(cur, &h->data_bytes)) return json_fault(h, cur);
        if (h->data_bytes < 0) return bad(h, "data_bytes is negative");
    } else if (strcmp(key, "optimizer_step") == 0) {
        if (once(h, &h->have_step, key)) return -1;
        if (m2pt_json_read_integer(cur, &c->optimizer_step)) return json_fault(h, cur);
        if (c->optimizer_step < 0) return bad(h, "optimizer_step is negative");
    } else if (m2pt_json_skip(cur)) { /* unknown keys: room for later additions */
        return json_fault(h, cur);
    }
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(const m2pt_checkpoint_entry *const *)a)->name,
                  (*(const m2pt_checkpoint_entry *const *)b)->name);
}

/* After parsing: required keys, version agreement, tensors inside the data, unique names. */
static int check_header(m2pt_checkpoint *c, header *h, uint32_t file_version) {
    if (!h->have_format) return bad(h, "no \"format\" key");
    if (!h->have_version || !h->have_config || !h->have_tensors || !h->have_data_bytes)
        return bad(h, "no \"%s\" key", !h->have_version ? "version" : !h->have_config ? "config"
                                                     : !h->have_tensors ? "tensors" : "data_bytes");
    if (h->version != (long long)file_version)
        return bad(h, "header version %lld disagrees with file version %u", h->version, file_version);
    uint64_t data = (uint64_t)h->data_bytes;
    for (int i = 0; i < c->n; i++) {
        const m2pt_checkpoint_entry *e = &c->tensors[i];
        if (e->offset > data || e->numel * sizeof(float) > data - e->offset)
            return bad(h, "tensor '%s' (offset %zu, %zu bytes) lies outside the data section of %llu bytes",
                       e->name, e->offset, e->numel * sizeof(float), (unsigned long long)data);
    }
    c->sorted = malloc((c->n > 0 ? (size_t)c->n : 1) * sizeof *c->sorted);
    if (!c->sorted) return bad(h, "out of memory");
    for (int i = 0; i < c->n; i++) c->sorted[i] = &c->tensors[i];
    qsort(c->sorted, (size_t)c->n, sizeof *c->sorted, cmp_entry);
    for (int i = 1; i < c->n; i++)
        if (strcmp(c->sorted[i - 1]->name, c->sorted[i]->name) == 0)
            return bad(h, "duplicate tensor name '%s'", c->sorted[i]->name);
    return 0;
}

/* Parse and check the H header bytes at text. On success c->tensors/names/config are set. */
static int parse_header(m2pt_checkpoint *c, const char *text, size_t len, uint32_t version, header *h) {
    m2pt_json_cursor cur;
    char key[32];
    int r;
    if (!(c->names = malloc(len + 1))) return bad(h, "out of memory");
    m2pt_json_cursor_init(&cur, text, len);
    if (m2pt_json_object_begin(&cur)) return json_fault(h, &cur);
    for (int i = 0; (r = m2pt_json_object_next(&cur, i, key, sizeof key)) > 0; i++)
        if (parse_member(&cur, r == 1 ? key : "", c, h)) return -1;
    if (r < 0 || m2pt_json_finish(&cur)) return json_fault(h, &cur);
    if (h->have_config) {
        size_t n = h->config_end - h->config_start;
        if (!(c->config = malloc(n + 1))) return bad(h, "out of memory");
        memcpy(c->config, text + h->config_start, n);
        c->config[n] = '\0';
    }
    return check_header(c, h, version);
}

/* ---------------------------------------------------------------- open */

/* Checks the first bytes (all of them when the file is shorter than the preamble). */
static int check_preamble(const unsigned char *pre, size_t size, const char *path, char *err,
                          size_t errlen) {
    if (memcmp(pre, MAGIC, size < 8 ? size : 8) != 0)
        return fail(err, errlen, path, "not an m2pt checkpoint (bad magic)");
    if (size < PREAMBLE)
        return fail(err, errlen, path, "truncated (file is %zu bytes, shorter than the %d-byte preamble)",
                    size, PREAMBLE);
    if (get_u32(pre + 8) != M2PT_CKPT_VERSION)
        return fail(err, errlen, path, "format version %u, this m2pt reads version %d",
                    (unsigned)get_u32(pre + 8), M2PT_CKPT_VERSION);
    return 0;
}

static int read_exact(FILE *f, void *buf, size_t n, const char *path, char *err, size_t errlen) {
    if (fread(buf, 1, n, f) == n) return 0;
    return fail(err, errlen, path, "read error: %s", ferror(f) ? strerror(errno) : "file shrank while reading");
}

/* Check the preamble before reading the rest, so that a file that is no checkpoint (or of
 * another version) is refused without reading it all. Fills c->file and c->file_bytes. */
static int read_body(FILE *f, m2pt_checkpoint *c, const char *path, char *err, size_t errlen) {
    struct stat st;
    unsigned char pre[PREAMBLE];
    if (fstat(fileno(f), &st)) return fail(err, errlen, path, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail(err, errlen, path, "not a regular file");
    if (st.st_size == 0) return fail(err, errlen, path, "empty file (0 bytes), not an m2pt checkpoint");
    if ((uint64_t)st.st_size > SIZE_MAX - ALIGN)
        return fail(err, errlen, path, "file too large for this machine");
    size_t size = (size_t)st.st_size, head = size < PREAMBLE ? size : PREAMBLE;
    if (read_exact(f, pre, head, path, err, errlen) || check_preamble(pre, size, path, err, errlen))
        return -1;
    if (!(c->file = aligned_alloc(ALIGN, (size_t)round_up(size))))
        return fail(err, errlen, path, "out of memory reading %zu bytes", size);
    memcpy(c->file, pre, PREAMBLE);
    if (read_exact(f, c->file + PREAMBLE, size - PREAMBLE, path, err, errlen)) return -1;
    c->file_bytes = size;
    return 0;
}

static int read_file(m2pt_checkpoint *c, const char *path, char *err, size_t errlen) {
    int special;
    FILE *f = m2pt_fopen_regular(path, &special); /* a FIFO would block forever */
    if (!f && special) return fail(err, errlen, path, "not a regular file");
    if (!f) return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    int rc = read_body(f, c, path, err, errlen);
    fclose(f);
    return rc;
}

/* Which fault to report, given the header result and the footer. A truncated file has lost
 * its footer; a corrupted one usually still has it, so the checksum speaks first. */
static int diagnose(const m2pt_checkpoint *c, const char *path, int header_ok, const char *why,
                    uint64_t expected, char *err, size_t errlen) {
    const unsigned char *foot = c->file + c->file_bytes - FOOTER;
    size_t size = c->file_bytes;
    int footer_ok = size >= PREAMBLE + FOOTER && memcmp(foot + 4, FOOTER_MAGIC, 4) == 0;
    if (footer_ok) {
        uint32_t stored = get_u32(foot);
        uint32_t actual = (uint32_t)crc_update(crc32(0L, Z_NULL, 0), c->file, size - FOOTER);
        if (stored != actual)
            return fail(err, errlen, path, "checksum mismatch (file is corrupted: stored CRC32 %08x, computed %08x)",
                        (unsigned)stored, (unsigned)actual);
        if (!header_ok) return fail(err, errlen, path, "bad header: %s", why);
        if (size != expected)
            return fail(err, errlen, path, "size mismatch (file is %zu bytes, header says %llu)", size,
                        (unsigned long long)expected);
        return 0;
    }
    if (!header_ok)
        return fail(err, errlen, path, "truncated or corrupted (no footer; header: %s)", why);
    if (size < expected)
        return fail(err, errlen, path, "truncated (file is %zu bytes, header says the file ends at %llu)",
                    size, (unsigned long long)expected);
    if (size > expected)
        return fail(err, errlen, path, "size mismatch (file is %zu bytes, header says %llu: trailing bytes?)",
                    size, (unsigned long long)expected);
    return fail(err, errlen, path, "bad footer magic (file is corrupted)");
}

int m2pt_checkpoint_open(m2pt_checkpoint *c, const char *path, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->optimizer_step = -1;
    if (read_file(c, path, err, errlen)) goto refuse;
    uint32_t version = get_u32(c->file + 8), hlen = get_u32(c->file + 12);
    if (hlen > M2PT_CKPT_MAX_HEADER) {
        fail(err, errlen, path, "header length %u exceeds the %u MiB limit (file is corrupted)",
             hlen, M2PT_CKPT_MAX_HEADER >> 20);
        goto refuse;
    }
    if (c->file_bytes < (size_t)PREAMBLE + hlen) {
        fail(err, errlen, path, "truncated (file is %zu bytes, header says its JSON ends at %zu)",
             c->file_bytes, (size_t)PREAMBLE + hlen);
        goto refuse;
    }
    char why[300] = "";
    header h = {.why = why, .whylen = sizeof why};
    int header_ok = parse_header(c, (const char *)c->file + PREAMBLE, hlen, version, &h) == 0;
    uint64_t data_start = round_up((uint64_t)PREAMBLE + hlen);
    uint64_t expected = header_ok ? data_start + (uint64_t)h.data_bytes + FOOTER : 0;
    if (diagnose(c, path, header_ok, why, expected, err, errlen)) goto refuse;
    for (int i = 0; i < c->n; i++)
        c->tensors[i].data = (const float *)(void *)(c->file + data_start + c->tensors[i].offset);
    if (!host_is_le()) swap_words(c->file + data_start, (size_t)h.data_bytes / 4);
    if (!(c->path = strdup(path))) {
        fail(err, errlen, path, "out of memory");
        goto refuse;
    }
    return 0;
refuse:
    m2pt_checkpoint_close(c);
    return -1;
}

void m2pt_checkpoint_close(m2pt_checkpoint *c) {
    free(c->path);
    free(c->file);
    free(c->config);
    free(c->tensors);
    free(c->sorted);
    free(c->names);
    memset(c, 0, sizeof *c);
    c->optimizer_step = -1;
}

/* ---------------------------------------------------------------- access */

const char *m2pt_checkpoint_config(const m2pt_checkpoint *c) { return c->config ? c->config : "{}"; }

const m2pt_checkpoint_entry *m2pt_checkpoint_find(const m2pt_checkpoint *c, const char *name) {
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, r = strcmp(c->sorted[mid]->name, name);
        if (r == 0) return c->sorted[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const float *m2pt_checkpoint_tensor(const m2pt_checkpoint *c, const char *name, int *ndim,
                                    int shape[M2PT_MAX_DIMS]) {
    const m2pt_checkpoint_entry *e = m2pt_checkpoint_find(c, name);
    if (!e) return NULL;
    if (ndim) *ndim = e->ndim;
    if (shape) memcpy(shape, e->shape, sizeof e->shape);
    return e->data;
}

static int same_shape(const m2pt_checkpoint_entry *e, const m2pt_tensor_info *ti) {
    return e->ndim == ti->ndim && memcmp(e->shape, ti->shape, (size_t)ti->ndim * sizeof(int)) == 0;
}

static int shape_fault(const m2pt_checkpoint *c, const m2pt_checkpoint_entry *e,
                       const m2pt_tensor_info *ti, char *err, size_t errlen) {
    char a[64], b[64];
    format_shape(a, sizeof a, e->ndim, e->shape);
    format_shape(b, sizeof b, ti->ndim, ti->shape);
    return fail(err, errlen, c->path, "tensor '%s' has shape %s in the checkpoint but %s in the model",
                e->name, a, b);
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int m2pt_checkpoint_load_params(const m2pt_checkpoint *c, m2pt_params *p, int strict, char *err,
                                size_t errlen) {
    if (!p->params) return fail(err, errlen, c->path, "cannot load: the parameter arena is not allocated");
    int found = 0;
    for (int i = 0; i < p->n; i++) { /* check everything before copying anything */
        const m2pt_checkpoint_entry *e = m2pt_checkpoint_find(c, p->t[i].name);
        if (!e && strict) return fail(err, errlen, c->path, "tensor '%s' of the model is missing", p->t[i].name);
        if (e && !same_shape(e, &p->t[i])) return shape_fault(c, e, &p->t[i], err, errlen);
        found += e != NULL;
    }
    for (int i = 0; strict && i < c->n; i++) {
        const char *name = c->tensors[i].name;
        if (!has_suffix(name, M2PT_CKPT_ADAM_M) && !has_suffix(name, M2PT_CKPT_ADAM_V) &&
            m2pt_params_find(p, name) < 0)
            return fail(err, errlen, c->path, "tensor '%s' is not in the model", name);
    }
    for (int i = 0; i < p->n; i++) {
        const m2pt_checkpoint_entry *e = m2pt_checkpoint_find(c, p->t[i].name);
        if (e) memcpy(m2pt_param(p, i), e->data, e->numel * sizeof(float));
    }
    return found;
}

/* The "<name><suffix>" tensor for registry tensor ti, checked; NULL with a message. */
static const m2pt_checkpoint_entry *moment(const m2pt_checkpoint *c, const m2pt_tensor_info *ti,
                                           const char *suffix, char *err, size_t errlen) {
    char name[M2PT_CKPT_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s%s", ti->name, suffix);
    const m2pt_checkpoint_entry *e = m2pt_checkpoint_find(c, name);
    if (!e) fail(err, errlen, c->path, "optimizer state '%s' is missing", name);
    else if (!same_shape(e, ti)) return shape_fault(c, e, ti, err, errlen), NULL;
    return e;
}

int m2pt_checkpoint_load_optimizer(const m2pt_checkpoint *c, m2pt_params *p, long *step,
                                   char *err, size_t errlen) {
    if (c->optimizer_step < 0)
        return fail(err, errlen, c->path, "no optimizer state (saved for inference, not for resuming)");
    if (c->optimizer_step > LONG_MAX)
        return fail(err, errlen, c->path, "optimizer step %lld out of range", c->optimizer_step);
    if (!p->m || !p->v) return fail(err, errlen, c->path, "cannot load: the optimizer arenas are not allocated");
    for (int i = 0; i < p->n; i++)
        if (!moment(c, &p->t[i], M2PT_CKPT_ADAM_M, err, errlen) ||
            !moment(c, &p->t[i], M2PT_CKPT_ADAM_V, err, errlen))
            return -1;
    for (int i = 0; i < p->n; i++) {
        const m2pt_checkpoint_entry *m = moment(c, &p->t[i], M2PT_CKPT_ADAM_M, NULL, 0);
        const m2pt_checkpoint_entry *v = moment(c, &p->t[i], M2PT_CKPT_ADAM_V, NULL, 0);
        memcpy(p->m + p->t[i].offset, m->data, m->numel * sizeof(float));
        memcpy(p->v + p->t[i].offset, v->data, v->numel * sizeof(float));
    }
    *step = (long)c->optimizer_step;
    return 0;
}
