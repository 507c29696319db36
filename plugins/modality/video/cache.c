/* Disk cache of one split's generated clips: DIR/video-<hash>.bin, hash = FNV-1a 64 of the
 * canonical parameter text (format version, seed, split, count, frames, size, noise, ...).
 *
 * File: "M2PTVIDC", u32 version, u32 length of the parameter field, the parameter text
 * (zero-padded to VID_PARAMS_MAX), u64 count, u64 bytes per sample, u64 FNV-1a 64 of the
 * payload; then the payload: count labels (u8), count samples (u8 pixels). Integers little
 * endian. A file whose header or checksum does not match is regenerated (with a warning);
 * writes go to a temporary file in the same directory, fsync, rename, fsync of the directory,
 * so a reader never sees half a file. Failing to write only costs a warning. */
#define _POSIX_C_SOURCE 200809L
#include "video.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "M2PTVIDC"
#define CACHE_VERSION 1u
#define HEADER_BYTES (8 + 4 + 4 + VID_PARAMS_MAX + 8 + 8 + 8)
#define IO_CHUNK (1u << 24)

uint64_t fnv1a64(uint64_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int cache_path(const video_inst *m, const char *params, char *buf, size_t len) {
    const unsigned long long h = (unsigned long long)fnv1a64(FNV1A64_INIT, params, strlen(params));
    const int n = snprintf(buf, len, "%s/video-%016llx.bin", m->cache_dir, h);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static void header(uint8_t *h, const char *params, long count, long sample, uint64_t sum) {
    memset(h, 0, HEADER_BYTES);
    memcpy(h, CACHE_MAGIC, 8);
    put_u32(h + 8, CACHE_VERSION);
    put_u32(h + 12, VID_PARAMS_MAX);
    memcpy(h + 16, params, strlen(params)); /* shorter than VID_PARAMS_MAX: snprintf-bounded */
    put_u64(h + 16 + VID_PARAMS_MAX, (uint64_t)count);
    put_u64(h + 24 + VID_PARAMS_MAX, (uint64_t)sample);
    put_u64(h + 32 + VID_PARAMS_MAX, sum);
}

static uint64_t payload_sum(const uint8_t *px, const uint8_t *lb, long count, long sample) {
    return fnv1a64(fnv1a64(FNV1A64_INIT, lb, (size_t)count), px, (size_t)count * (size_t)sample);
}

/* ------------------------------------------------------------------------ reading */

/* Read exactly len bytes; 0, or -1 with errno (0 for a short file). */
static int read_all(int fd, void *dst, size_t len) {
    size_t done = 0;
    while (done < len) {
        const size_t want = len - done < IO_CHUNK ? len - done : IO_CHUNK;
        const ssize_t got = read(fd, (uint8_t *)dst + done, want);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

/* Why the file does not hold the data for these parameters, or NULL when it does. */
static const char *check(video_inst *m, int fd, const char *params, uint8_t *px, uint8_t *lb, long count) {
    uint8_t h[HEADER_BYTES], want[HEADER_BYTES];
    if (read_all(fd, h, sizeof h)) return errno ? strerror(errno) : "file shorter than its header";
    header(want, params, count, m->sample, 0);
    if (memcmp(h, want, 8)) return "not a video cache file (bad magic)";
    if (get_u32(h + 8) != CACHE_VERSION) return "written by another cache format version";
    if (memcmp(h + 12, want + 12, 4 + VID_PARAMS_MAX)) return "it holds the data of other parameters";
    if (get_u64(h + 16 + VID_PARAMS_MAX) != (uint64_t)count || get_u64(h + 24 + VID_PARAMS_MAX) != (uint64_t)m->sample)
        return "sample count or size differs";
    if (read_all(fd, lb, (size_t)count) || read_all(fd, px, (size_t)count * (size_t)m->sample))
        return errno ? strerror(errno) : "file ends early (truncated)";
    uint8_t extra;
    if (read(fd, &extra, 1) != 0) return "unexpected data after the payload";
    if (payload_sum(px, lb, count, m->sample) != get_u64(h + 32 + VID_PARAMS_MAX)) return "checksum mismatch";
    for (long i = 0; i < count; i++)
        if (lb[i] != i % VID_CLASSES) return "labels do not match the class layout";
    return NULL;
}

int cache_load(video_inst *m, const char *params, uint8_t *px, uint8_t *lb, long count) {
    char path[VID_PATH_MAX + 64];
    if (cache_path(m, params, path, sizeof path)) return 0;
    const int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno != ENOENT)
            m->host->log(m->ctx, 1, "cannot read the cache file %s (%s); regenerating the data", path,
                         strerror(errno));
        return 0;
    }
    const char *why = check(m, fd, params, px, lb, count);
    close(fd);
    if (why) {
        m->host->log(m->ctx, 1, "cache file %s is unusable (%s); regenerating the data", path, why);
        return 0;
    }
    m->host->log(m->ctx, 2, "read %ld clips from %s", count, path);
    return 1;
}

/* ------------------------------------------------------------------------ writing */

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *dir) {
    char p[VID_PATH_MAX];
    const size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            const char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) && errno != EEXIST) return -1;
            p[i] = c;
        }
    struct stat st;
    if (stat(dir, &st)) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int write_all(int fd, const void *src, size_t len) {
    size_t done = 0;
    while (done < len) {
        const size_t want = len - done < IO_CHUNK ? len - done : IO_CHUNK;
        const ssize_t put = write(fd, (const uint8_t *)src + done, want);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            if (put == 0) errno = EIO;
            return -1;
        }
        done += (size_t)put;
    }
    return 0;
}

/* The directory entry of the rename must reach the disk too. */
static void sync_dir(const char *dir) {
    const int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

void cache_save(video_inst *m, const char *params, const uint8_t *px, const uint8_t *lb, long count) {
    char path[VID_PATH_MAX + 64], tmp[VID_PATH_MAX + 96];
    if (cache_path(m, params, path, sizeof path) || snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        m->host->log(m->ctx, 1, "cache_dir %s makes a path too long; the data stays in memory only", m->cache_dir);
        return;
    }
    if (make_dirs(m->cache_dir)) {
        m->host->log(m->ctx, 1, "cannot create the cache directory %s (%s); the data stays in memory only",
                     m->cache_dir, strerror(errno));
        return;
    }
    const int fd = mkstemp(tmp);
    if (fd < 0) {
        m->host->log(m->ctx, 1, "cannot write to the cache directory %s (%s); the data stays in memory only",
                     m->cache_dir, strerror(errno));
        return;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; the cache may be shared */
    uint8_t h[HEADER_BYTES];
    header(h, params, count, m->sample, payload_sum(px, lb, count, m->sample));
    int ok = !write_all(fd, h, sizeof h) && !write_all(fd, lb, (size_t)count) &&
             !write_all(fd, px, (size_t)count * (size_t)m->sample) && !fsync(fd);
    const int err = errno;
    ok = !close(fd) && ok;
    if (!ok || rename(tmp, path)) {
        m->host->log(m->ctx, 1, "cannot write the cache file %s (%s); the data stays in memory only", path,
                     strerror(ok ? errno : err));
        unlink(tmp);
        return;
    }
    sync_dir(m->cache_dir);
    m->host->log(m->ctx, 2, "wrote %ld clips to %s", count, path);
}
