/* libFuzzer target: the checkpoint reader (harness/src/checkpoint.c) on arbitrary files.
 *
 * The first byte of an input chooses how the rest is written to the file the reader opens:
 *   even: as it is. Nearly every mutation then fails the CRC32 check, which is the point: the
 *         preamble, length and footer checks must hold for any bytes;
 *   odd:  with the CRC32 footer recomputed over the rest (when it is long enough), so that
 *         mutated headers get past the checksum and exercise the JSON header parser and the
 *         validation of every tensor entry.
 * A file that opens is then used as the code does: the config read with the JSON getters, every
 * tensor looked up and read whole, and loaded (strict and not, parameters and optimizer state)
 * into a small registry whose names and shapes match the seed checkpoints (or not).
 *
 *   make fuzz && build/fuzz/fuzz_checkpoint tests/fuzz/corpus/checkpoint   (see make fuzz-ci) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "json.h"
#include "params.h"

static char path[64];
static m2pt_params reg;

static void cleanup(void) { unlink(path); }

static void setup(void) {
    snprintf(path, sizeof path, "/tmp/m2pt_fuzz_ckpt.%ld", (long)getpid());
    atexit(cleanup);
    /* the tensors of tests/fuzz/corpus/checkpoint/small.ckpt (the format document's example) */
    int w[2] = {2, 2}, b[1] = {2};
    m2pt_params_reset(&reg);
    if (m2pt_params_add(&reg, "w", 2, w, M2PT_INIT_ZERO, 0, 1) < 0 || m2pt_params_add(&reg, "b", 1, b, M2PT_INIT_ZERO, 0, 0) < 0 ||
        m2pt_params_alloc(&reg))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) setup();
    if (size == 0) return 0;
    const int fix_crc = data[0] & 1;
    data++, size--;
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (fix_crc && size >= 24) {
        uint8_t *copy = malloc(size);
        if (!copy) abort();
        memcpy(copy, data, size);
        uint32_t crc = (uint32_t)crc32(0L, copy, (uInt)(size - 8));
        for (int i = 0; i < 4; i++) copy[size - 8 + i] = (uint8_t)(crc >> (8 * i));
        fwrite(copy, 1, size, f);
        free(copy);
    } else {
        fwrite(data, 1, size, f);
    }
    if (fclose(f)) abort();

    m2pt_checkpoint c;
    char err[512];
    if (m2pt_checkpoint_open(&c, path, err, sizeof err)) {
        if (!strstr(err, path) || strchr(err, '\n')) abort(); /* one line that names the file */
        m2pt_checkpoint_close(&c);     /* harmless after a failure */
        return 0;
    }
    const char *cfg = m2pt_checkpoint_config(&c);
    long v;
    double d;
    char s[64];
    int bo;
    m2pt_json_get_int(cfg, "dim", &v);
    m2pt_json_get_double(cfg, "lr", &d);
    m2pt_json_get_string(cfg, "modality", s, sizeof s);
    m2pt_json_get_bool(cfg, "x", &bo);
    volatile float sink = 0;
    for (int i = 0; i < c.n; i++) {
        const m2pt_checkpoint_entry *e = &c.tensors[i];
        if (m2pt_checkpoint_find(&c, e->name) == NULL) abort();
        int ndim, shape[M2PT_MAX_DIMS];
        const float *t = m2pt_checkpoint_tensor(&c, e->name, &ndim, shape);
        if (!t || ndim != e->ndim) abort();
        for (size_t k = 0; k < e->numel; k++) sink += t[k]; /* every element is inside the buffer */
    }
    (void)sink;
    m2pt_checkpoint_load_params(&c, &reg, 0, err, sizeof err);
    m2pt_checkpoint_load_params(&c, &reg, 1, err, sizeof err);
    long step;
    m2pt_checkpoint_load_optimizer(&c, &reg, &step, err, sizeof err);
    m2pt_checkpoint_close(&c);
    return 0;
}
