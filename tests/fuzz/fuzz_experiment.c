/* libFuzzer target: the experiment-file loader (harness/src/exp_*.c, yaml_tree.c: YAML parsing,
 * validation with located messages, extends, --set, grid/zip expansion, collapsing, hashing).
 *
 * An input is an experiment file, optionally followed by a line "#--set" and then up to 8 lines,
 * each given as one --set option. The file is written next to a fixed base file (base.yaml, so
 * that `extends: base.yaml` finds something real) and loaded without plugins (oracle NULL) and
 * without force, so the documented limits apply. Whatever the input: no crash, no undefined
 * behaviour, no leak (ASan), one line that starts with a file (this one, or one it extends) or
 * the --set when it is refused, an empty experiment after a refusal, and a consistent one
 * (unique cell hashes, auxiliary links) after success.
 *
 *   make fuzz && build/fuzz/fuzz_experiment -dict=tests/fuzz/experiment.dict tests/fuzz/corpus/experiment */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiment.h"

static char dir[64], file[96], base[96];

static void put(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f)) abort();
}

static void cleanup(void) {
    unlink(file), unlink(base), rmdir(dir);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/m2pt_fuzz_exp.%ld", (long)getpid());
    snprintf(file, sizeof file, "%s/exp.yaml", dir);
    snprintf(base, sizeof base, "%s/base.yaml", dir);
    if (mkdir(dir, 0700)) abort();
    static const char b[] = "model: {dim: 16, depth: 1, heads: 2, mlp_ratio: 2}\n"
                            "train: {epochs: 1, batch: 32, lr: 1.0e-3}\n"
                            "target: {modality: image, data: {train_size: 128}}\n"
                            "auxiliary: {modality: point, train: {epochs: 2}}\n"
                            "pathway: {name: reparam, layers: [qkv, fc1]}\n"
                            "grid: {seed: [0, 1]}\n";
    put(base, b, sizeof b - 1);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    /* split off the --set lines */
    const char *marker = "\n#--set\n";
    size_t flen = size;
    const uint8_t *sets_at = NULL;
    for (size_t i = 0; i + 8 <= size; i++)
        if (!memcmp(data + i, marker, 8)) {
            flen = i + 1, sets_at = data + i + 8;
            break;
        }
    put(file, data, flen);
    char *setbuf = NULL;
    const char *sets[8];
    int nsets = 0;
    if (sets_at) {
        size_t n = (size_t)(data + size - sets_at);
        setbuf = malloc(n + 1);
        if (!setbuf) abort();
        memcpy(setbuf, sets_at, n);
        setbuf[n] = '\0';
        for (char *line = setbuf; line && *line && nsets < 8;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            sets[nsets++] = line;
            line = nl ? nl + 1 : NULL;
        }
    }
    m2pt_experiment e;
    char err[2048];
    err[0] = '\0';
    if (m2pt_experiment_load(&e, file, sets, nsets, NULL, 0, err, sizeof err)) {
        /* refused: one located line (the file, a file it extends, or the --set), nothing kept */
        if (!err[0] || strchr(err, '\n') || (err[0] != '/' && strncmp(err, "--set", 5))) abort();
        if (e.ncells != 0 || e.cells != NULL) abort();
        m2pt_experiment_free(&e); /* harmless after a failure */
    } else {
        if (!e.name || e.ncells != e.naux + e.ntargets || e.ntargets < 1) abort();
        for (int i = 0; i < e.ncells; i++) {
            const m2pt_cell *c = &e.cells[i];
            if (strlen(c->hash) != 16 || !c->json || !c->modality) abort();
            if (c->role == M2PT_ROLE_TARGET && c->aux >= e.naux) abort();
            if (c->aux >= 0 && e.cells[c->aux].role != M2PT_ROLE_AUXILIARY) abort();
            for (int k = 0; k < i; k++)
                if (!strcmp(e.cells[k].hash, c->hash)) abort(); /* collapsed: hashes are unique */
        }
        FILE *null = fopen("/dev/null", "w");
        if (null) m2pt_experiment_print(&e, null), fclose(null);
        m2pt_experiment_free(&e);
    }
    free(setbuf);
    return 0;
}
