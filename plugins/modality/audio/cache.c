/* On-disk cache of the generated features. File: <cache_dir>/audio-<key>.bin, key = FNV-1a 64
 * of every parameter that affects the data (seed, sizes, voices, prosody, noise, features,
 * format version, espeak-ng version). Layout (native byte order, 64-bit words):
 *   magic, format, key, n, params[n], payload bytes, FNV-1a 64 of the payload; payload.
 * Anything that does not match is logged as a warning and regenerated. Writes go to a temp
 * file in the same directory, fsync, rename; a failing write only costs a warning. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, getpid, mkdir */
#include "audio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC 0x314455415450324dull /* "M2PTAUD1" in a little-endian file */
#define FORMAT 1u
#define NPARAMS 24

uint64_t fnv1a64(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ull

static uint64_t dbl_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The parameter words written into the header (and hashed into the file name). */
static void param_words(const audio_inst *m, uint64_t w[NPARAMS]) {
    const audio_params *p = &m->p;
    const char *ver = synth_version();
    const uint64_t v[NPARAMS] = {FORMAT, p->seed, (uint64_t)p->size[0], (uint64_t)p->size[1], (uint64_t)p->size[2],
                                 (uint64_t)p->voices, (uint64_t)p->rate_min, (uint64_t)p->rate_max,
                                 (uint64_t)p->pitch_min, (uint64_t)p->pitch_max, (uint64_t)p->range_min,
                                 (uint64_t)p->range_max, (uint64_t)p->mels, dbl_bits(p->snr_min),
                                 dbl_bits(p->snr_max), dbl_bits(p->gain_db), AU_FRAMES, AU_MARGIN, AU_WIN, AU_HOP,
                                 AU_NFFT, dbl_bits(AU_Q_LO), dbl_bits(AU_Q_STEP),
                                 fnv1a64(FNV_OFFSET, ver, strlen(ver))};
    memcpy(w, v, sizeof v);
}

static int cache_path(const audio_inst *m, char *buf, size_t len, uint64_t *key) {
    uint64_t w[NPARAMS];
    param_words(m, w);
    *key = fnv1a64(FNV_OFFSET, w, sizeof w);
    const int n = snprintf(buf, len, "%s/audio-%016llx.bin", m->cache_dir, (unsigned long long)*key);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int cache_load(audio_inst *m) {
    char path[AU_PATH_MAX + 64];
    uint64_t key, want[NPARAMS], head[4], got[NPARAMS], tail[2];
    if (cache_path(m, path, sizeof path, &key)) return 1;
    param_words(m, want);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT) m->host->log(m->ctx, 1, "cannot read the cache %s (%s); regenerating", path, strerror(errno));
        return 1;
    }
    const char *why = NULL;
    if (fread(head, sizeof head, 1, f) != 1 || fread(got, sizeof got, 1, f) != 1 || fread(tail, sizeof tail, 1, f) != 1)
        why = "header cut short";
    else if (head[0] != MAGIC || head[1] != FORMAT)
        why = "not an audio cache of this format";
    else if (head[2] != key || head[3] != NPARAMS || memcmp(got, want, sizeof want))
        why = "parameters differ";
    else if (tail[0] != m->data_bytes)
        why = "payload size differs";
    else if (fread(m->data, 1, m->data_bytes, f) != m->data_bytes)
        why = "payload cut short";
    else if (fgetc(f) != EOF)
        why = "data after the payload";
    else if (fnv1a64(FNV_OFFSET, m->data, m->data_bytes) != tail[1])
        why = "checksum mismatch";
    fclose(f);
    if (why) {
        m->host->log(m->ctx, 1, "cache %s is unusable (%s); regenerating", path, why);
        return 1;
    }
    for (int s = 0; s < 3; s++)
        for (long i = 0; i < m->p.size[s]; i++)
            if (m->labels[s][i] >= AU_WORDS) {
                m->host->log(m->ctx, 1, "cache %s has a bad label; regenerating", path);
                return 1;
            }
    m->host->log(m->ctx, 2, "loaded %s", path);
    return 0;
}

/* mkdir -p; 0 when the directory exists afterwards. */
static int make_dirs(const char *dir) {
    char p[AU_PATH_MAX];
    const size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            const char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) && errno != EEXIST) return -1;
            p[i] = c;
        }
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static void sync_dir(const char *dir) {
    const int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

void cache_store(audio_inst *m) {
    char path[AU_PATH_MAX + 64], tmp[AU_PATH_MAX + 96];
    uint64_t key, words[NPARAMS];
    if (cache_path(m, path, sizeof path, &key) ||
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        m->host->log(m->ctx, 1, "cache_dir %s is too long; the data is kept in memory only", m->cache_dir);
        return;
    }
    if (make_dirs(m->cache_dir)) {
        m->host->log(m->ctx, 1, "cannot create the cache directory %s (%s); the data is kept in memory only",
                     m->cache_dir, strerror(errno));
        return;
    }
    param_words(m, words);
    const uint64_t head[4] = {MAGIC, FORMAT, key, NPARAMS};
    const uint64_t tail[2] = {m->data_bytes, fnv1a64(FNV_OFFSET, m->data, m->data_bytes)};
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(head, sizeof head, 1, f) == 1 && fwrite(words, sizeof words, 1, f) == 1 &&
             fwrite(tail, sizeof tail, 1, f) == 1 && fwrite(m->data, 1, m->data_bytes, f) == m->data_bytes &&
             fflush(f) == 0 && fsync(fileno(f)) == 0;
    const int err = errno;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path) == 0) {
        sync_dir(m->cache_dir);
        m->host->log(m->ctx, 0, "cached the data in %s (%.1f MB)", path, (double)m->data_bytes / 1e6);
        return;
    }
    m->host->log(m->ctx, 1, "cannot write the cache %s (%s); the data is kept in memory only", path,
                 strerror(ok ? errno : err));
    if (f) unlink(tmp);
}
