/* Cache of the built splits: CACHE_DIR/text-<key>.bin, where key is a 64-bit FNV-1a hash of
 * every input of the data (format version, max_len, min_len, split_seed, the three sizes,
 * dict_dir, size and mtime of each word list, a fingerprint of the host's random generator).
 * The file is a header (magic, version, key, parameters, counts, payload size, FNV-1a of the
 * payload) and the payload (per split: words [count, max_len], labels [count]). It is written
 * atomically (temporary file in the same directory, fsync, rename); a file that fails any
 * check is rebuilt with a warning, and a failed write only costs a warning. */
#define _POSIX_C_SOURCE 200809L
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "M2PTTXT\n"
#define CACHE_VERSION 1u
#define CACHE_PATH_MAX (TXT_PATH_MAX + 64) /* cache_dir + "/text-<16 hex>.bin" */

/* Every field is 8 bytes wide: no padding, and another byte order fails the version check. */
typedef struct {
    char magic[8];
    uint64_t version, key;
    int64_t max_len, min_len, split_seed;
    int64_t size[3], count[3], pool[TXT_LANGS];
    uint64_t payload_bytes, checksum;
} cache_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* The key; a missing list fails here, naming its Debian package. */
static int cache_key(text_inst *m, uint64_t *key) {
    uint64_t h = FNV_INIT;
    const int64_t p[] = {CACHE_VERSION, m->max_len, m->min_len, (int64_t)m->split_seed,
                         m->size[0], m->size[1], m->size[2]};
    h = fnv(h, p, sizeof p);
    h = fnv(h, m->dict_dir, strlen(m->dict_dir) + 1);
    for (int l = 0; l < TXT_LANGS; l++) {
        char path[TXT_PATH_MAX + 64];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", m->dict_dir, text_langs[l].file);
        if (stat(path, &st)) {
            m->host->fail(m->ctx, "cannot open %s: %s; install the Debian package %s (apt-get install %s) or set "
                          "dict_dir", path, strerror(errno), text_langs[l].package, text_langs[l].package);
            return -1;
        }
        const int64_t id[2] = {(int64_t)st.st_size, (int64_t)st.st_mtime};
        h = fnv(h, id, sizeof id);
    }
    m2pt_rng_state r; /* the splits depend on the host's generator: fingerprint it */
    m->host->rng_seed(&r, 0x74657874u, 7);
    const uint64_t f = m->host->rng_u64(&r);
    *key = fnv(h, &f, sizeof f);
    return 0;
}

static void header_fill(const text_inst *m, uint64_t key, cache_header *hd) {
    memset(hd, 0, sizeof *hd);
    memcpy(hd->magic, CACHE_MAGIC, 8);
    hd->version = CACHE_VERSION;
    hd->key = key;
    hd->max_len = m->max_len, hd->min_len = m->min_len, hd->split_seed = (int64_t)m->split_seed;
    for (int s = 0; s < 3; s++) hd->size[s] = m->size[s], hd->count[s] = m->count[s];
    for (int l = 0; l < TXT_LANGS; l++) hd->pool[l] = m->pool[l];
    hd->checksum = FNV_INIT;
    for (int s = 0; s < 3; s++) {
        const size_t nw = (size_t)m->count[s] * (size_t)m->max_len, nl = (size_t)m->count[s];
        hd->checksum = fnv(fnv(hd->checksum, m->words[s], nw), m->labels[s], nl);
        hd->payload_bytes += nw + nl;
    }
}

/* Checks of a header read back against this instance; NULL when it fits, else why not. */
static const char *header_problem(const text_inst *m, uint64_t key, const cache_header *hd) {
    if (memcmp(hd->magic, CACHE_MAGIC, 8)) return "bad magic";
    if (hd->version != CACHE_VERSION) return "another format version";
    if (hd->key != key || hd->max_len != m->max_len || hd->min_len != m->min_len ||
        hd->split_seed != (int64_t)m->split_seed)
        return "other parameters";
    uint64_t bytes = 0;
    for (int s = 0; s < 3; s++) {
        if (hd->size[s] != m->size[s]) return "other parameters";
        if (hd->count[s] < 0 || hd->count[s] > (int64_t)TXT_LANGS * 1000000 ||
            (s != M2PT_SPLIT_TRAIN && hd->count[s] != m->size[s]))
            return "implausible split sizes";
        bytes += (uint64_t)hd->count[s] * (uint64_t)(m->max_len + 1);
    }
    return bytes == hd->payload_bytes ? NULL : "payload size does not match the counts";
}

/* Read and verify; 0 with the splits in place, 1 when there is no usable file (logged). */
static int try_read(text_inst *m, const char *path, uint64_t key) {
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    cache_header hd;
    const char *why = NULL;
    uint8_t *buf = NULL;
    if (fread(&hd, sizeof hd, 1, f) != 1) why = "header cut short";
    else why = header_problem(m, key, &hd);
    if (!why && !(buf = malloc(hd.payload_bytes ? hd.payload_bytes : 1))) why = "out of memory";
    if (!why && fread(buf, 1, hd.payload_bytes, f) != hd.payload_bytes) why = "payload cut short";
    if (!why && fgetc(f) != EOF) why = "data after the payload";
    if (!why && fnv(FNV_INIT, buf, hd.payload_bytes) != hd.checksum) why = "checksum mismatch";
    fclose(f);
    const uint8_t *at = buf;
    for (int s = 0; s < 3 && !why; s++) {
        const size_t nw = (size_t)hd.count[s] * (size_t)m->max_len, nl = (size_t)hd.count[s];
        m->words[s] = m->host->alloc(m->ctx, nw ? nw : 1);
        m->labels[s] = m->host->alloc(m->ctx, nl ? nl : 1);
        if (!m->words[s] || !m->labels[s]) {
            free(buf);
            return -1; /* host->alloc has failed() */
        }
        memcpy(m->words[s], at, nw), at += nw;
        memcpy(m->labels[s], at, nl), at += nl;
        m->count[s] = (long)hd.count[s];
        for (size_t i = 0; i < nl && !why; i++)
            if (m->labels[s][i] >= TXT_LANGS || !m->words[s][i * (size_t)m->max_len]) why = "bad sample";
    }
    free(buf);
    if (why) {
        m->host->log(m->ctx, 1, "cache %s unusable (%s): rebuilding it", path, why);
        return 1;
    }
    for (int l = 0; l < TXT_LANGS; l++) m->pool[l] = (long)hd.pool[l];
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
    char p[TXT_PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1;; c++) {
        const char keep = *c;
        if (keep != '/' && keep != '\0') continue;
        *c = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) return -1;
        *c = keep;
        if (!keep) return 0;
    }
}

/* Atomic write; any failure is a warning only (the data stays in memory). */
static void try_write(text_inst *m, const char *path, uint64_t key) {
    char tmp[CACHE_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    cache_header hd;
    header_fill(m, key, &hd);
    const char *what = "create the directory";
    int fd = -1, ok = 0;
    FILE *f = NULL;
    if (!make_dirs(m->cache_dir) && (what = "create a temporary file", (fd = mkstemp(tmp)) >= 0) &&
        !fchmod(fd, 0644) && (f = fdopen(fd, "wb"))) { /* mkstemp makes 0600: let others read it */
        what = "write";
        ok = fwrite(&hd, sizeof hd, 1, f) == 1;
        for (int s = 0; s < 3 && ok; s++)
            ok = fwrite(m->words[s], 1, (size_t)m->count[s] * (size_t)m->max_len, f) ==
                     (size_t)m->count[s] * (size_t)m->max_len &&
                 fwrite(m->labels[s], 1, (size_t)m->count[s], f) == (size_t)m->count[s];
        ok = ok && !fflush(f) && !fsync(fd);
        ok = !fclose(f) && ok;
        if (ok) what = "rename", ok = !rename(tmp, path);
    } else if (fd >= 0) {
        close(fd);
    }
    if (fd >= 0 && !ok) unlink(tmp);
    if (!ok)
        m->host->log(m->ctx, 1, "cannot %s for the cache %s (%s); continuing without it", what, path,
                     strerror(errno));
}

int cache_load_or_build(text_inst *m) {
    uint64_t key;
    char path[CACHE_PATH_MAX];
    if (cache_key(m, &key)) return -1;
    snprintf(path, sizeof path, "%s/text-%016llx.bin", m->cache_dir, (unsigned long long)key);
    const int rc = try_read(m, path, key);
    if (rc <= 0) return rc;
    text_lexicon lx;
    m->host->log(m->ctx, 0, "building the splits from the word lists in %s", m->dict_dir);
    if (lexicon_build(m, &lx)) return -1;
    const int built = split_build(m, &lx);
    lexicon_free(&lx);
    if (built) return -1;
    try_write(m, path, key);
    return 0;
}
