/* IDX reader for the gzip files of dataset-fashion-mnist (zlib). Every header field is
 * validated and every size bounded before anything is allocated; a short or corrupt file
 * yields a message naming the file and the fault, never a crash. */
#define _POSIX_C_SOURCE 200809L /* open, fcntl, fstat */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned byte, 3 dims */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned byte, 1 dim */
#define IDX_CHUNK (1u << 20)

static const char *hint = "install the Debian package dataset-fashion-mnist (apt-get install "
                          "dataset-fashion-mnist) or set data_dir / M2PT_DATA_DIR";
static const char *damaged = "the file is damaged: reinstall dataset-fashion-mnist (apt-get install --reinstall "
                             "dataset-fashion-mnist) or point data_dir / M2PT_DATA_DIR at a good copy";

static gzFile idx_open(image_inst *m, const char *path) {
    /* not blocking, and regular files only: opening a FIFO for reading waits for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), flags = -1;
    struct stat st;
    if (fd < 0) {
        m->host->fail(m->ctx, "cannot open %s: %s; %s", path, strerror(errno), hint);
        return NULL;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        m->host->fail(m->ctx, "cannot open %s: %s; %s", path,
                      !fstat(fd, &st) && !S_ISREG(st.st_mode) ? "not a regular file" : strerror(errno), hint);
        close(fd);
        return NULL;
    }
    errno = 0;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        m->host->fail(m->ctx, "cannot open %s: %s; %s", path, errno ? strerror(errno) : "out of memory", hint);
        close(fd);
    }
    return gz;
}

/* zlib's description of the last failure (without the "path: " zlib puts in front), or
 * "file ends early" for a plain short read. */
static const char *gz_why(gzFile gz, const char *path) {
    int err = Z_OK;
    const char *msg = gzerror(gz, &err);
    const size_t n = strlen(path);
    if (err == Z_ERRNO) return strerror(errno);
    if (err == Z_OK || !msg || !*msg) return "file ends early";
    if (!strncmp(msg, "<fd:", 4) && strstr(msg, ">: ")) return strstr(msg, ">: ") + 3; /* gzdopen's name */
    return !strncmp(msg, path, n) && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* Read exactly len bytes (in chunks: gzread takes an unsigned int). */
static int gz_read_all(image_inst *m, gzFile gz, const char *path, void *dst, size_t len, const char *what) {
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < IDX_CHUNK ? len - done : IDX_CHUNK;
        int got = gzread(gz, (uint8_t *)dst + done, (unsigned)want);
        if (got <= 0 || (size_t)got != want) {
            if (got > 0) done += (size_t)got;
            m->host->fail(m->ctx, "%s: cannot read %s (%s; %zu of %zu bytes read); %s", path, what,
                          gz_why(gz, path), done, len, damaged);
            return -1;
        }
        done += want;
    }
    return 0;
}

/* After the payload the stream must end: reading on also makes zlib verify the gzip CRC. */
static int gz_expect_end(image_inst *m, gzFile gz, const char *path) {
    uint8_t extra;
    int got = gzread(gz, &extra, 1);
    if (got == 0) return 0;
    if (got > 0)
        m->host->fail(m->ctx, "%s: unexpected data after the last record (count in the header too small); %s",
                      path, damaged);
    else
        m->host->fail(m->ctx, "%s: %s at the end of the stream; %s", path, gz_why(gz, path), damaged);
    return -1;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int check_magic(image_inst *m, const char *path, uint32_t got, uint32_t want, const char *kind) {
    if (got == want) return 0;
    m->host->fail(m->ctx, "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x); %s", path, kind,
                  (unsigned)got, (unsigned)want, damaged);
    return -1;
}

static int check_count(image_inst *m, const char *path, uint32_t n, const char *what) {
    if (n >= 1 && n <= (uint32_t)IMG_MAX_COUNT) return 0;
    m->host->fail(m->ctx, "%s: bad header: %u %s (expected 1..%ld); %s", path, (unsigned)n, what, IMG_MAX_COUNT,
                  damaged);
    return -1;
}

int idx_read_images(image_inst *m, const char *path, uint8_t **px, long *count) {
    gzFile gz = idx_open(m, path);
    if (!gz) return -1;
    uint8_t h[16];
    int rc = -1;
    if (gz_read_all(m, gz, path, h, sizeof h, "the header")) goto out;
    if (check_magic(m, path, be32(h), IDX_IMAGES_MAGIC, "image")) goto out;
    const uint32_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
    if (check_count(m, path, n, "images")) goto out;
    if (rows != IMG_SIDE || cols != IMG_SIDE) {
        m->host->fail(m->ctx, "%s: images are %ux%u, expected %dx%d; %s", path, (unsigned)rows, (unsigned)cols,
                      IMG_SIDE, IMG_SIDE, damaged);
        goto out;
    }
    const size_t bytes = (size_t)n * IMG_PIXELS;
    uint8_t *buf = m->host->alloc(m->ctx, bytes);
    if (!buf) goto out;
    if (gz_read_all(m, gz, path, buf, bytes, "the pixels") || gz_expect_end(m, gz, path)) goto out;
    *px = buf;
    *count = (long)n;
    rc = 0;
out:
    gzclose(gz);
    return rc;
}

int idx_read_labels(image_inst *m, const char *path, uint8_t **labels, long *count) {
    gzFile gz = idx_open(m, path);
    if (!gz) return -1;
    uint8_t h[8];
    int rc = -1;
    if (gz_read_all(m, gz, path, h, sizeof h, "the header")) goto out;
    if (check_magic(m, path, be32(h), IDX_LABELS_MAGIC, "label")) goto out;
    const uint32_t n = be32(h + 4);
    if (check_count(m, path, n, "labels")) goto out;
    uint8_t *buf = m->host->alloc(m->ctx, n);
    if (!buf) goto out;
    if (gz_read_all(m, gz, path, buf, n, "the labels") || gz_expect_end(m, gz, path)) goto out;
    for (uint32_t i = 0; i < n; i++)
        if (buf[i] >= IMG_CLASSES) {
            m->host->fail(m->ctx, "%s: label %u at index %u is out of range 0..%d; %s", path, (unsigned)buf[i],
                          (unsigned)i, IMG_CLASSES - 1, damaged);
            goto out;
        }
    *labels = buf;
    *count = (long)n;
    rc = 0;
out:
    gzclose(gz);
    return rc;
}
