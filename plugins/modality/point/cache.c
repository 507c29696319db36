/* On-disk cache of a generated split: CACHE_DIR/point-<hash>.bin, the hash (FNV-1a 64) taken
 * over every parameter that defines the data, format version included. The file is a 96-byte
 * header (magic, format, parameters, payload size, FNV-1a 64 of the payload, FNV-1a 64 of
 * the header) and the int16 payload [count][points][3], native byte order (another byte order
 * fails the header check and the split is regenerated). Written to a temporary file in the
 * same directory, fsync'ed and renamed, so a reader never sees half a file. A file that does
 * not verify is regenerated with a warning; a cache that cannot be written costs a warning. */
#define _POSIX_C_SOURCE 200809L
#include "point.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_VERSION 1u
#define HEADER_BYTES 96
#define PARAM_BYTES 72 /* header bytes covered by the file name's hash */
static const char MAGIC[8] = {'M', '2', 'P', 'T', 'P', 'N', 'T', 0};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void put(unsigned char *hd, int at, const void *v, size_t n) { memcpy(hd + at, v, n); }

static void header_params(const point_inst *m, int split, unsigned char *hd) {
    const uint32_t ver = FORMAT_VERSION, sp = (uint32_t)split, pts = (uint32_t)m->gen.points, cls = PT_CLASSES,
                   rot = (uint32_t)m->gen.rotate, quant = (uint32_t)PT_QUANT;
    const int64_t count = m->size[split];
    const uint64_t payload = (uint64_t)count * (uint64_t)m->gen.points * 3u * sizeof(int16_t);
    memset(hd, 0, HEADER_BYTES);
    put(hd, 0, MAGIC, 8);
    put(hd, 8, &ver, 4), put(hd, 12, &sp, 4), put(hd, 16, &m->data_seed, 8), put(hd, 24, &count, 8);
    put(hd, 32, &pts, 4), put(hd, 36, &cls, 4), put(hd, 40, &rot, 4), put(hd, 44, &quant, 4);
    put(hd, 48, &m->gen.jitter, 8), put(hd, 56, &m->gen.dropout, 8), put(hd, 64, &m->gen.anisotropy, 8);
    put(hd, 72, &payload, 8);
}

/* mkdir -p; 0 or -1 with errno */
static int make_dirs(const char *dir) {
    char p[PT_PATH_MAX];
    const size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return errno = ENAMETOOLONG, -1;
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
    return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

/* 1 when the file exists and verifies (data read into out), 0 otherwise (warned if damaged) */
static int read_cache(point_inst *m, const char *path, const unsigned char *want, size_t bytes, int16_t *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT) m->host->log(m->ctx, 1, "cannot read cache %s (%s); regenerating", path, strerror(errno));
        return 0;
    }
    unsigned char hd[HEADER_BYTES];
    const char *why = NULL;
    uint64_t sum, hsum;
    if (fread(hd, 1, HEADER_BYTES, f) != HEADER_BYTES) why = "header cut short";
    else if (memcmp(hd, MAGIC, 8)) why = "not a point cache file (bad magic)";
    else if (memcmp(hd, want, 80)) why = "format version, parameters or size differ from this run's";
    else if (memcpy(&hsum, hd + 88, 8), hsum != fnv1a(FNV_INIT, hd, 88)) why = "header checksum mismatch";
    else if (fread(out, 1, bytes, f) != bytes) why = "payload cut short";
    else if (fgetc(f) != EOF) why = "data after the payload";
    else if (memcpy(&sum, hd + 80, 8), sum != fnv1a(FNV_INIT, out, bytes)) why = "payload checksum mismatch";
    fclose(f);
    if (why) m->host->log(m->ctx, 1, "cache %s is unusable (%s); regenerating", path, why);
    return why == NULL;
}

static void write_cache(point_inst *m, const char *dir, const char *path, unsigned char *hd, size_t bytes,
                        const int16_t *data) {
    char tmp[PT_PATH_MAX + 128]; /* path is at most PT_PATH_MAX + 64 */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    const uint64_t sum = fnv1a(FNV_INIT, data, bytes);
    put(hd, 80, &sum, 8);
    const uint64_t hsum = fnv1a(FNV_INIT, hd, 88);
    put(hd, 88, &hsum, 8);
    const char *step = "create the cache directory", *what = dir;
    FILE *f = NULL;
    if (make_dirs(dir)) goto fail;
    what = tmp;
    step = "create the cache file";
    if (!(f = fopen(tmp, "wb"))) goto fail;
    step = "write the cache file";
    if (fwrite(hd, 1, HEADER_BYTES, f) != HEADER_BYTES || fwrite(data, 1, bytes, f) != bytes || fflush(f)) goto fail;
    step = "fsync the cache file";
    if (fsync(fileno(f))) goto fail;
    step = "close the cache file";
    const int rc = fclose(f);
    f = NULL;
    if (rc) goto fail;
    step = "rename the cache file to";
    what = path;
    if (rename(tmp, path)) goto fail;
    const int dfd = open(dir, O_RDONLY); /* make the rename durable; best effort */
    if (dfd >= 0) fsync(dfd), close(dfd);
    return;
fail:
    m->host->log(m->ctx, 1, "cannot %s %s (%s); keeping the data in memory only", step, what, strerror(errno));
    if (f) fclose(f);
    remove(tmp);
}

typedef struct {
    point_inst *m;
    int split;
    atomic_int failed;
} gen_job;

static void gen_task(void *arg, int t, int nt) {
    gen_job *j = arg;
    const point_inst *m = j->m;
    const size_t per = (size_t)m->gen.points * 3;
    long lo, hi;
    point_range(m->size[j->split], t, nt, &lo, &hi);
    if (lo >= hi) return;
    float *work = malloc(per * sizeof(float)); /* open may allocate temporaries */
    if (!work) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (long i = lo; i < hi; i++)
        gen_sample(m->host, &m->gen, m->data_seed, j->split, i, work, m->data[j->split] + (size_t)i * per);
    free(work);
}

int cache_load_split(point_inst *m, int split) {
    const size_t bytes = (size_t)m->size[split] * (size_t)m->gen.points * 3 * sizeof(int16_t);
    m->data[split] = m->host->alloc(m->ctx, bytes ? bytes : 1);
    if (!m->data[split]) return -1;
    if (!m->size[split]) return 0;
    unsigned char hd[HEADER_BYTES];
    header_params(m, split, hd);
    char path[PT_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/point-%016" PRIx64 ".bin", m->cache_dir, fnv1a(FNV_INIT, hd, PARAM_BYTES));
    if (read_cache(m, path, hd, bytes, m->data[split])) return 0;
    static const char *const split_names[3] = {"train", "val", "test"};
    m->host->log(m->ctx, 0, "generating the %s split (%ld samples of %d points) into %s", split_names[split],
                 m->size[split], m->gen.points, path);
    gen_job j = {m, split, 0};
    m->host->parallel(gen_task, &j);
    if (atomic_load(&j.failed)) {
        m->host->fail(m->ctx, "out of memory generating the %s split", split_names[split]);
        return -1;
    }
    write_cache(m, m->cache_dir, path, hd, bytes, m->data[split]);
    return 0;
}
