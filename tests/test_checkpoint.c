/* Checkpoint format: round trips (parameters, optimizer state, config), the documented byte
 * layout, and refusal of truncated, bit-flipped, wrong-version and hostile files. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "blas.h"
#include "checkpoint.h"
#include "json.h"
#include "params.h"
#include "rng.h"

static char g_dir[64]; /* per-run temporary directory */

/* ---------------------------------------------------------------- helpers */

static void path_in_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", g_dir, name);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int count_entries(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The message names the file first, then the fault. */
static void assert_msg(const char *err, const char *path, const char *word) {
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || err[n] != ':' || !strstr(err + n, word)) {
        print_error("message \"%s\" should start with \"%s:\" and mention \"%s\"\n", err, path, word);
        fail();
    }
}

typedef struct {
    const char *name;
    int ndim, shape[4];
    m2pt_init_kind init;
} tensor_spec;

static const tensor_spec k_tensors[] = {
    {"blocks.0.qkv.weight", 2, {24, 8}, M2PT_INIT_TRUNC_NORMAL},
    {"blocks.0.qkv.bias", 1, {24}, M2PT_INIT_TRUNC_NORMAL},
    {"pos_embed", 3, {1, 5, 8}, M2PT_INIT_TRUNC_NORMAL},
    {"patch.weight", 4, {2, 3, 2, 2}, M2PT_INIT_TRUNC_NORMAL},
    {"norm.weight", 1, {8}, M2PT_INIT_ONE},
    {"pathway.scale", 1, {1}, M2PT_INIT_TRUNC_NORMAL},
};
#define N_TENSORS ((int)(sizeof k_tensors / sizeof k_tensors[0]))

/* Registry of the tensors in specs (skipping index `skip`), allocated and initialised. */
static void build_from(m2pt_params *p, const tensor_spec *specs, int n, int skip, uint64_t seed) {
    m2pt_params_reset(p);
    for (int i = 0; i < n; i++)
        if (i != skip)
            assert_true(m2pt_params_add(p, specs[i].name, specs[i].ndim, specs[i].shape,
                                        specs[i].init, 0.5f, 1) >= 0);
    assert_int_equal(m2pt_params_alloc(p), 0);
    m2pt_params_init(p, seed);
}

static void build(m2pt_params *p, uint64_t seed) { build_from(p, k_tensors, N_TENSORS, -1, seed); }

/* Fill the AdamW moments with distinct values (v positive, as in training). */
static void fill_moments(m2pt_params *p, uint64_t seed) {
    m2pt_rng r;
    m2pt_rng_seed(&r, seed, 7);
    for (size_t j = 0; j < p->total; j++) {
        p->m[j] = (float)m2pt_rng_normal(&r);
        p->v[j] = m2pt_rng_uniform(&r);
    }
}

static char *make_config(void) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_json_begin_object(&b);
    m2pt_json_add_int(&b, "dim", 8);
    m2pt_json_add_int(&b, "depth", 1);
    m2pt_json_add_double(&b, "lr", 1e-3);
    m2pt_json_add_double(&b, "label_smoothing", (double)0.1f);
    m2pt_json_add_string(&b, "name", "tiny \"vit\"\n\xc3\xa9");
    m2pt_json_add_bool(&b, "aux_trainable", 1);
    m2pt_json_add_raw(&b, "nested", "{\"dim\":999}");
    m2pt_json_end_object(&b);
    assert_false(b.failed);
    return b.buf;
}

static size_t tensor_bytes(const m2pt_params *p, int i) { return p->t[i].numel * sizeof(float); }

/* Save a fresh checkpoint at dir/name and return its bytes. */
static unsigned char *good_file(const char *name, char *path, size_t cap, size_t *n) {
    m2pt_params p;
    char err[512];
    build(&p, 42);
    char *cfg = make_config();
    path_in_dir(path, cap, name);
    assert_int_equal(m2pt_checkpoint_save(path, cfg, &p, err, sizeof err), 0);
    free(cfg);
    m2pt_params_free(&p);
    return read_all(path, n);
}

static int open_fails(const char *path, char *err, size_t cap) {
    m2pt_checkpoint c;
    int rc = m2pt_checkpoint_open(&c, path, err, cap);
    m2pt_checkpoint_close(&c);
    return rc == -1;
}

/* ---------------------------------------------------------------- round trips */

static void test_round_trip(void **state) {
    (void)state;
    m2pt_params a, b;
    m2pt_checkpoint c;
    char path[256], err[512];
    build(&a, 1);
    char *cfg = make_config();
    path_in_dir(path, sizeof path, "round.ckpt");
    assert_int_equal(m2pt_checkpoint_save(path, cfg, &a, err, sizeof err), 0);
    assert_int_equal(count_entries(g_dir, ".tmp."), 0);
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);

    assert_int_equal(c.n, a.n);
    for (int i = 0; i < a.n; i++) {
        int ndim = 0, shape[4] = {0};
        const float *x = m2pt_checkpoint_tensor(&c, a.t[i].name, &ndim, shape);
        assert_non_null(x);
        assert_int_equal(ndim, a.t[i].ndim);
        assert_memory_equal(shape, a.t[i].shape, (size_t)ndim * sizeof(int));
        assert_memory_equal(x, m2pt_param(&a, i), tensor_bytes(&a, i)); /* bit for bit */
        assert_int_equal((uintptr_t)x % 64, 0);
    }
    assert_null(m2pt_checkpoint_tensor(&c, "no.such.tensor", NULL, NULL));
    assert_true(c.optimizer_step < 0);

    /* The config comes back as it went in. */
    assert_string_equal(m2pt_checkpoint_config(&c), cfg);
    long v = 0;
    double d = 0;
    char s[64] = "";
    int flag = 0;
    assert_int_equal(m2pt_json_get_int(m2pt_checkpoint_config(&c), "dim", &v), 0);
    assert_int_equal(v, 8);
    assert_int_equal(m2pt_json_get_int(m2pt_checkpoint_config(&c), "depth", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(m2pt_json_get_double(m2pt_checkpoint_config(&c), "lr", &d), 0);
    assert_true(d == 1e-3);
    assert_int_equal(m2pt_json_get_double(m2pt_checkpoint_config(&c), "label_smoothing", &d), 0);
    assert_true((float)d == 0.1f);
    assert_int_equal(m2pt_json_get_string(m2pt_checkpoint_config(&c), "name", s, sizeof s), 0);
    assert_string_equal(s, "tiny \"vit\"\n\xc3\xa9");
    assert_int_equal(m2pt_json_get_bool(m2pt_checkpoint_config(&c), "aux_trainable", &flag), 0);
    assert_int_equal(flag, 1);

    /* Into a differently initialised registry of the same shape: identical arenas after. */
    build(&b, 2);
    assert_memory_not_equal(b.params, a.params, tensor_bytes(&a, 0));
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 1, err, sizeof err), a.n);
    for (int i = 0; i < a.n; i++)
        assert_memory_equal(m2pt_param(&b, i), m2pt_param(&a, i), tensor_bytes(&a, i));

    long step;
    assert_int_equal(m2pt_checkpoint_load_optimizer(&c, &b, &step, err, sizeof err), -1);
    assert_msg(err, path, "optimizer");

    m2pt_checkpoint_close(&c);
    free(cfg);
    m2pt_params_free(&a);
    m2pt_params_free(&b);
}

static void test_round_trip_resume(void **state) {
    (void)state;
    m2pt_params a, b;
    m2pt_checkpoint c;
    char path[256], err[512];
    long step = 0;
    build(&a, 3);
    fill_moments(&a, 3);
    path_in_dir(path, sizeof path, "resume.ckpt");
    assert_int_equal(m2pt_checkpoint_save_resume(path, NULL, &a, 1234, err, sizeof err), 0);
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);
    assert_int_equal(c.n, 3 * a.n);
    assert_int_equal(c.optimizer_step, 1234);
    assert_string_equal(m2pt_checkpoint_config(&c), "{}");

    build(&b, 4);
    fill_moments(&b, 4);
    /* strict: the optimizer tensors do not count as extra parameters */
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 1, err, sizeof err), a.n);
    assert_int_equal(m2pt_checkpoint_load_optimizer(&c, &b, &step, err, sizeof err), 0);
    assert_int_equal(step, 1234);
    for (int i = 0; i < a.n; i++) {
        size_t o = a.t[i].offset, n = tensor_bytes(&a, i);
        assert_memory_equal(b.params + o, a.params + o, n);
        assert_memory_equal(b.m + o, a.m + o, n);
        assert_memory_equal(b.v + o, a.v + o, n);
    }
    m2pt_checkpoint_close(&c);
    m2pt_params_free(&a);
    m2pt_params_free(&b);
}

/* Read the file with nothing but the specification (docs/checkpoint-format.md). */
static void test_layout_matches_spec(void **state) {
    (void)state;
    m2pt_params p;
    char path[256], err[512];
    size_t n;
    build(&p, 5);
    path_in_dir(path, sizeof path, "layout.ckpt");
    assert_int_equal(m2pt_checkpoint_save(path, "{\"dim\":8}", &p, err, sizeof err), 0);
    unsigned char *f = read_all(path, &n);

    assert_memory_equal(f, "M2PTCKPT", 8);
    uint32_t version = f[8] | f[9] << 8 | (uint32_t)f[10] << 16 | (uint32_t)f[11] << 24;
    uint32_t hlen = f[12] | f[13] << 8 | (uint32_t)f[14] << 16 | (uint32_t)f[15] << 24;
    assert_int_equal(version, 1);
    assert_true(16 + hlen < n);
    char *hdr = malloc(hlen + 1);
    assert_non_null(hdr);
    memcpy(hdr, f + 16, hlen);
    hdr[hlen] = '\0';
    assert_non_null(strstr(hdr, "\"format\":\"m2pt-checkpoint\""));
    assert_non_null(strstr(hdr, "\"config\":{\"dim\":8}"));
    size_t data_start = (16 + hlen + 63) / 64 * 64;
    for (size_t i = 16 + hlen; i < data_start; i++) assert_int_equal(f[i], 0);

    /* Each tensor's floats sit at data_start + offset. */
    for (int i = 0; i < p.n; i++) {
        char key[128];
        snprintf(key, sizeof key, "\"name\":\"%s\"", p.t[i].name);
        const char *e = strstr(hdr, key);
        assert_non_null(e);
        const char *o = strstr(e, "\"offset\":");
        assert_non_null(o);
        unsigned long long off = strtoull(o + 9, NULL, 10);
        assert_int_equal(off % 64, 0);
        assert_true(data_start + off + tensor_bytes(&p, i) <= n - 8);
        assert_memory_equal(f + data_start + off, m2pt_param(&p, i), tensor_bytes(&p, i));
    }
    const char *db = strstr(hdr, "\"data_bytes\":");
    assert_non_null(db);
    assert_int_equal(data_start + strtoull(db + 13, NULL, 10) + 8, n);

    /* Footer: zlib CRC32 of everything before it, then "M2PE". */
    uLong crc = crc32(crc32(0L, Z_NULL, 0), f, (uInt)(n - 8));
    const unsigned char *ft = f + n - 8;
    assert_int_equal(ft[0] | ft[1] << 8 | (uint32_t)ft[2] << 16 | (uint32_t)ft[3] << 24, (uint32_t)crc);
    assert_memory_equal(ft + 4, "M2PE", 4);
    free(hdr);
    free(f);
    m2pt_params_free(&p);
}

/* ---------------------------------------------------------------- refusals */

static void test_refuse_truncated(void **state) {
    (void)state;
    char path[256], cut[256], err[512];
    size_t n;
    unsigned char *f = good_file("full.ckpt", path, sizeof path, &n);
    path_in_dir(cut, sizeof cut, "cut.ckpt");
    for (size_t len = 0; len < n; len++) { /* every proper prefix */
        write_all(cut, f, len);
        assert_true(open_fails(cut, err, sizeof err));
        assert_msg(err, cut, len == 0 ? "empty" : "truncated");
    }
    free(f);
}

static void test_refuse_bit_flips(void **state) {
    (void)state;
    char path[256], bad[256], err[512];
    size_t n;
    unsigned char *f = good_file("flip-src.ckpt", path, sizeof path, &n);
    path_in_dir(bad, sizeof bad, "flipped.ckpt");
    for (size_t pos = 0; pos < n; pos++) { /* one bit in every byte */
        f[pos] ^= (unsigned char)(1u << (pos % 8));
        write_all(bad, f, n);
        f[pos] ^= (unsigned char)(1u << (pos % 8));
        assert_true(open_fails(bad, err, sizeof err));
        const char *word = pos < 8 ? "magic" : pos < 12 ? "version" : pos < 16 ? ""
                         : pos >= n - 4 ? "footer" : "checksum";
        assert_msg(err, bad, word);
    }
    /* and the untouched bytes still load */
    write_all(bad, f, n);
    assert_false(open_fails(bad, err, sizeof err));
    free(f);
}

static void put_le32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static void test_refuse_wrong_version(void **state) {
    (void)state;
    char path[256], err[512], want[64];
    size_t n;
    unsigned char *f = good_file("v7.ckpt", path, sizeof path, &n);
    put_le32(f + 8, 7);
    put_le32(f + n - 8, (uint32_t)crc32(crc32(0L, Z_NULL, 0), f, (uInt)(n - 8))); /* valid CRC */
    write_all(path, f, n);
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "version 7");
    snprintf(want, sizeof want, "reads version %d", M2PT_CKPT_VERSION);
    assert_msg(err, path, want);
    free(f);
}

static void test_refuse_not_checkpoints(void **state) {
    (void)state;
    char path[256], err[512];
    const char *text = "this is a text file, certainly not a checkpoint\n";

    path_in_dir(path, sizeof path, "text.ckpt");
    write_all(path, text, strlen(text));
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "bad magic");

    write_all(path, "M2P", 3); /* a prefix of the magic: truncated, not foreign */
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "truncated");

    write_all(path, "", 0);
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "empty");

    path_in_dir(path, sizeof path, "does-not-exist.ckpt");
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "cannot open");

    assert_true(open_fails(g_dir, err, sizeof err));
    assert_msg(err, g_dir, "not a regular file");
}

static void test_refuse_trailing_bytes(void **state) {
    (void)state;
    char path[256], err[512];
    size_t n;
    unsigned char *f = good_file("long.ckpt", path, sizeof path, &n);
    unsigned char *g = calloc(n + 64, 1);
    assert_non_null(g);
    memcpy(g, f, n);
    write_all(path, g, n + 64);
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "size mismatch");
    free(g);
    free(f);
}

/* A file with a valid CRC around an arbitrary header: the checks behind the checksum. */
static void write_crafted(const char *path, uint32_t hlen_field, const char *json, size_t data) {
    size_t h = strlen(json), start = (16 + h + 63) / 64 * 64, n = start + data + 8;
    unsigned char *f = calloc(n, 1);
    assert_non_null(f);
    memcpy(f, "M2PTCKPT", 8);
    put_le32(f + 8, 1);
    put_le32(f + 12, hlen_field);
    memcpy(f + 16, json, h);
    for (size_t i = 0; i < data; i++) f[start + i] = (unsigned char)(i * 37);
    put_le32(f + n - 8, (uint32_t)crc32(crc32(0L, Z_NULL, 0), f, (uInt)(n - 8)));
    memcpy(f + n - 4, "M2PE", 4);
    write_all(path, f, n);
    free(f);
}

#define T1 "{\"format\":\"m2pt-checkpoint\",\"version\":1,\"config\":{},\"tensors\":["
static void test_refuse_hostile_headers(void **state) {
    (void)state;
    static const struct {
        const char *json, *word;
    } cases[] = {
        {T1 "{\"name\":\"a\",\"shape\":[1,1,1,1,1],\"offset\":0}],\"data_bytes\":64}", "more than 4"},
        {T1 "{\"name\":\"a\",\"shape\":[-3],\"offset\":0}],\"data_bytes\":64}", "dimension -3"},
        {T1 "{\"name\":\"a\",\"shape\":[0],\"offset\":0}],\"data_bytes\":64}", "dimension 0"},
        {T1 "{\"name\":\"a\",\"shape\":[2147483647,2147483647,2147483647,2147483647],\"offset\":0}],"
            "\"data_bytes\":64}", "too large"},
        {T1 "{\"name\":\"a\",\"shape\":[99999999999],\"offset\":0}],\"data_bytes\":64}", "dimension"},
        {T1 "{\"name\":\"a\",\"shape\":[1e3],\"offset\":0}],\"data_bytes\":64}", "integer"},
        {T1 "{\"name\":\"a\",\"shape\":[],\"offset\":0}],\"data_bytes\":64}", "empty shape"},
        {T1 "{\"name\":\"a\",\"shape\":[16],\"offset\":64}],\"data_bytes\":64}", "outside"},
        {T1 "{\"name\":\"a\",\"shape\":[17],\"offset\":0}],\"data_bytes\":64}", "outside"},
        {T1 "{\"name\":\"a\",\"shape\":[1],\"offset\":4}],\"data_bytes\":64}", "multiple of 64"},
        {T1 "{\"name\":\"a\",\"shape\":[1],\"offset\":-64}],\"data_bytes\":64}", "offset -64"},
        {T1 "{\"name\":\"a\",\"shape\":[1],\"offset\":0},{\"name\":\"a\",\"shape\":[1],\"offset\":0}],"
            "\"data_bytes\":64}", "duplicate tensor name"},
        {T1 "{\"name\":\"\",\"shape\":[1],\"offset\":0}],\"data_bytes\":64}", "empty name"},
        {T1 "{\"shape\":[1],\"offset\":0}],\"data_bytes\":64}", "lacks \"name\""},
        {T1 "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"shape\":[1],\"offset\":0}],"
            "\"data_bytes\":64}", "longer than"},
        {T1 "{\"name\":\"a\",\"shape\":[1],\"offset\":0}],\"data_bytes\":-64}", "negative"},
        {T1 "],\"data_bytes\":64,\"data_bytes\":64}", "duplicate key"},
        {"{\"format\":\"m2pt-checkpoint\",\"version\":1,\"config\":{},\"data_bytes\":64}", "\"tensors\""},
        {"{\"format\":\"safetensors\",\"version\":1,\"config\":{},\"tensors\":[],\"data_bytes\":64}", "format"},
        {"{\"format\":\"m2pt-checkpoint\",\"version\":2,\"config\":{},\"tensors\":[],\"data_bytes\":64}",
         "disagrees"},
        {"{\"format\":\"m2pt-checkpoint\",\"version\":1,\"config\":[],\"tensors\":[],\"data_bytes\":64}",
         "config is not an object"},
        {"{\"format\":\"m2pt-checkpoint\",\"version\":1,\"config\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "nesting"},
        {T1 "{\"name\":\"a\",\"shape\":[1],\"offset\":0}],\"data_bytes\":64", "unexpected end"},
        {T1 "{\"name\":\"a\x01\",\"shape\":[1],\"offset\":0}],\"data_bytes\":64}", "control character"},
        {T1 "{\"name\":\"a\\u0000\",\"shape\":[1],\"offset\":0}],\"data_bytes\":64}", "u0000"},
        {T1 "{\"name\":\"a\\ud800\",\"shape\":[1],\"offset\":0}],\"data_bytes\":64}", "surrogate"},
        {T1 "],\"data_bytes\":64} trailing", "trailing"},
        {"not json at all", "expected '{'"},
        {"", "expected '{'"},
    };
    char path[256], err[512];
    path_in_dir(path, sizeof path, "crafted.ckpt");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_crafted(path, (uint32_t)strlen(cases[i].json), cases[i].json, 64);
        if (!open_fails(path, err, sizeof err)) {
            print_error("case %zu was accepted: %s\n", i, cases[i].json);
            fail();
        }
        assert_msg(err, path, "bad header");
        assert_msg(err, path, cases[i].word);
    }

    /* Length fields that no real header has. */
    write_crafted(path, 0x7fffffffu, "{}", 64);
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "exceeds");
    write_crafted(path, 10000, "{}", 64);
    assert_true(open_fails(path, err, sizeof err));
    assert_msg(err, path, "truncated");

    /* And a hand-written valid one, with escapes in a name and an unknown key. */
    const char *ok = T1 "{\"name\":\"a\\u00e9\\\"b\\ud83d\\ude00\",\"shape\":[2,2],\"offset\":64,"
                        "\"dtype\":\"float32\"}],\"data_bytes\":128,\"comment\":[1,{\"x\":null}]}";
    write_crafted(path, (uint32_t)strlen(ok), ok, 128);
    m2pt_checkpoint c;
    int ndim = 0, shape[4] = {0};
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);
    const float *x = m2pt_checkpoint_tensor(&c, "a\xc3\xa9\"b\xf0\x9f\x98\x80", &ndim, shape);
    assert_non_null(x);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0] * shape[1], 4);
    unsigned char want[16];
    for (int i = 0; i < 16; i++) want[i] = (unsigned char)((64 + i) * 37);
    assert_memory_equal(x, want, 16);
    m2pt_checkpoint_close(&c);
}

/* ---------------------------------------------------------------- saving */

static void test_save_failures(void **state) {
    (void)state;
    m2pt_params p, empty;
    char path[256], err[512];
    build(&p, 6);

    /* Into a directory that does not exist. */
    path_in_dir(path, sizeof path, "no-such-dir/x.ckpt");
    assert_int_equal(m2pt_checkpoint_save(path, NULL, &p, err, sizeof err), -1);
    assert_msg(err, path, "cannot create");

    /* Over a directory: the rename fails after the temporary file was written. */
    char blocker[256], inner[300];
    path_in_dir(blocker, sizeof blocker, "blocker.ckpt");
    assert_int_equal(mkdir(blocker, 0700), 0);
    snprintf(inner, sizeof inner, "%s/keep", blocker);
    write_all(inner, "x", 1);
    assert_int_equal(m2pt_checkpoint_save(blocker, NULL, &p, err, sizeof err), -1);
    assert_msg(err, blocker, "rename");
    assert_int_equal(count_entries(g_dir, ".tmp."), 0);

    /* A config that is not a JSON object: nothing is written. */
    path_in_dir(path, sizeof path, "badcfg.ckpt");
    assert_int_equal(m2pt_checkpoint_save(path, "{\"dim\": }", &p, err, sizeof err), -1);
    assert_msg(err, path, "config");
    assert_int_equal(count_entries(g_dir, "badcfg"), 0);
    assert_int_equal(m2pt_checkpoint_save(path, "[1,2]", &p, err, sizeof err), -1);
    assert_msg(err, path, "config");

    m2pt_params_reset(&empty);
    assert_int_equal(m2pt_checkpoint_save(path, NULL, &empty, err, sizeof err), -1);
    assert_msg(err, path, "not allocated");
    assert_int_equal(m2pt_checkpoint_save_resume(path, NULL, &p, -1, err, sizeof err), -1);
    assert_msg(err, path, "step");
    m2pt_params_free(&p);
}

/* A write that fails halfway (file size limit) leaves the previous checkpoint intact. */
static void test_failed_save_keeps_old_file(void **state) {
    (void)state;
    m2pt_params p;
    char path[256], err[512];
    size_t n, n2;
    unsigned char *before = good_file("keep.ckpt", path, sizeof path, &n);

    build(&p, 7);
    fill_moments(&p, 7);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 1024; /* smaller than the resume checkpoint */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = m2pt_checkpoint_save_resume(path, NULL, &p, 9, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    assert_int_equal(rc, -1);
    assert_msg(err, path, "cannot write");
    assert_int_equal(count_entries(g_dir, ".tmp."), 0);
    unsigned char *after = read_all(path, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(after, before, n);
    assert_false(open_fails(path, err, sizeof err));

    /* Overwriting with a good save does replace it. */
    assert_int_equal(m2pt_checkpoint_save(path, NULL, &p, err, sizeof err), 0);
    m2pt_checkpoint c;
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);
    assert_memory_equal(m2pt_checkpoint_tensor(&c, p.t[0].name, NULL, NULL), m2pt_param(&p, 0),
                        tensor_bytes(&p, 0));
    m2pt_checkpoint_close(&c);
    free(before);
    free(after);
    m2pt_params_free(&p);
}

/* ---------------------------------------------------------------- loading into a model */

static void test_load_params_checks(void **state) {
    (void)state;
    m2pt_params a, b;
    m2pt_checkpoint c;
    char path[256], err[512], want[64];
    build(&a, 8);
    path_in_dir(path, sizeof path, "load.ckpt");
    assert_int_equal(m2pt_checkpoint_save(path, NULL, &a, err, sizeof err), 0);
    assert_int_equal(m2pt_checkpoint_open(&c, path, err, sizeof err), 0);

    /* Shape mismatch: pos_embed transposed. Named with both shapes; nothing copied. */
    tensor_spec specs[N_TENSORS];
    memcpy(specs, k_tensors, sizeof specs);
    specs[2].shape[1] = k_tensors[2].shape[2];
    specs[2].shape[2] = k_tensors[2].shape[1];
    build_from(&b, specs, N_TENSORS, -1, 9);
    float *snapshot = malloc(b.total * sizeof(float));
    assert_non_null(snapshot);
    memcpy(snapshot, b.params, b.total * sizeof(float));
    for (int strict = 0; strict < 2; strict++) {
        assert_int_equal(m2pt_checkpoint_load_params(&c, &b, strict, err, sizeof err), -1);
        assert_msg(err, path, specs[2].name);
        snprintf(want, sizeof want, "[%d,%d,%d]", k_tensors[2].shape[0], k_tensors[2].shape[1],
                 k_tensors[2].shape[2]);
        assert_msg(err, path, want);
        snprintf(want, sizeof want, "[%d,%d,%d]", specs[2].shape[0], specs[2].shape[1], specs[2].shape[2]);
        assert_msg(err, path, want);
        assert_memory_equal(b.params, snapshot, b.total * sizeof(float));
    }
    free(snapshot);
    m2pt_params_free(&b);

    /* The model lacks a tensor of the file: strict refuses, lenient loads the rest. */
    build_from(&b, k_tensors, N_TENSORS, 3, 10);
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 1, err, sizeof err), -1);
    assert_msg(err, path, k_tensors[3].name);
    assert_msg(err, path, "not in the model");
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 0, err, sizeof err), N_TENSORS - 1);
    for (int i = 0; i < b.n; i++)
        assert_memory_equal(m2pt_param(&b, i), m2pt_checkpoint_tensor(&c, b.t[i].name, NULL, NULL),
                            tensor_bytes(&b, i));
    m2pt_params_free(&b);

    /* The file lacks a tensor of the model: strict refuses, lenient leaves it alone. */
    tensor_spec more[N_TENSORS + 1];
    memcpy(more, k_tensors, sizeof k_tensors);
    more[N_TENSORS] = (tensor_spec){"head.weight", 2, {10, 8}, M2PT_INIT_TRUNC_NORMAL};
    build_from(&b, more, N_TENSORS + 1, -1, 11);
    int head = m2pt_params_find(&b, "head.weight");
    float keep[80];
    memcpy(keep, m2pt_param(&b, head), sizeof keep);
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 1, err, sizeof err), -1);
    assert_msg(err, path, "head.weight");
    assert_msg(err, path, "missing");
    assert_int_equal(m2pt_checkpoint_load_params(&c, &b, 0, err, sizeof err), N_TENSORS);
    assert_memory_equal(m2pt_param(&b, head), keep, sizeof keep);
    m2pt_params_free(&b);

    m2pt_checkpoint_close(&c);
    m2pt_params_free(&a);
}

/* ---------------------------------------------------------------- JSON helpers */

static void test_json_getters(void **state) {
    (void)state;
    const char *j = "{ \"dim\" : 64, \"depth\":4, \"lr\":1e-3, \"neg\":-7, \"big\":99999999999999999999,"
                    " \"frac\":2.5, \"s\":\"a\\tb\\u00e9\", \"t\":true, \"f\":false, \"o\":{\"dim\":1},"
                    " \"n\":null, \"arr\":[1,2,[3]] }";
    long v = 0;
    double d = 0;
    char s[16] = "";
    int b = 0;
    assert_int_equal(m2pt_json_get_int(j, "dim", &v), 0);
    assert_int_equal(v, 64);
    assert_int_equal(m2pt_json_get_int(j, "depth", &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(m2pt_json_get_int(j, "neg", &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(m2pt_json_get_double(j, "lr", &d), 0);
    assert_true(d == 1e-3);
    assert_int_equal(m2pt_json_get_double(j, "dim", &d), 0); /* integers are doubles too */
    assert_true(d == 64.0);
    assert_int_equal(m2pt_json_get_string(j, "s", s, sizeof s), 0);
    assert_string_equal(s, "a\tb\xc3\xa9");
    assert_int_equal(m2pt_json_get_bool(j, "t", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(m2pt_json_get_bool(j, "f", &b), 0);
    assert_int_equal(b, 0);

    assert_int_equal(m2pt_json_get_int(j, "heads", &v), -1);     /* absent */
    assert_int_equal(m2pt_json_get_int(j, "frac", &v), -2);      /* not an integer */
    assert_int_equal(m2pt_json_get_int(j, "big", &v), -2);       /* out of range */
    assert_int_equal(m2pt_json_get_int(j, "s", &v), -2);         /* a string */
    assert_int_equal(m2pt_json_get_string(j, "dim", s, sizeof s), -2);
    assert_int_equal(m2pt_json_get_string(j, "s", s, 3), -2);    /* does not fit */
    assert_int_equal(m2pt_json_get_bool(j, "n", &b), -2);
    assert_int_equal(m2pt_json_get_int("{\"dim\":64,}", "dim", &v), -2); /* malformed */
    assert_int_equal(m2pt_json_get_int("[1]", "dim", &v), -2);
    assert_int_equal(m2pt_json_get_int("{\"dim\":01}", "dim", &v), -2);
    assert_int_equal(m2pt_json_get_int("", "dim", &v), -2);

    /* Writer: escapes round-trip, doubles round-trip, NaN is refused. */
    m2pt_strbuf w;
    m2pt_sb_init(&w);
    m2pt_json_begin_object(&w);
    m2pt_json_add_string(&w, "k\"ey", "\x01\\/\r");
    m2pt_json_add_double(&w, "third", 1.0 / 3.0);
    m2pt_json_end_object(&w);
    assert_false(w.failed);
    assert_int_equal(m2pt_json_get_string(w.buf, "k\"ey", s, sizeof s), 0);
    assert_string_equal(s, "\x01\\/\r");
    assert_int_equal(m2pt_json_get_double(w.buf, "third", &d), 0);
    assert_true(d == 1.0 / 3.0);
    m2pt_json_add_double(&w, "nan", NAN);
    assert_true(w.failed);
    m2pt_sb_free(&w);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state) {
    (void)state;
    strcpy(g_dir, "/tmp/m2pt-ckpt-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    remove_tree(g_dir);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_resume),
        cmocka_unit_test(test_layout_matches_spec),
        cmocka_unit_test(test_refuse_truncated),
        cmocka_unit_test(test_refuse_bit_flips),
        cmocka_unit_test(test_refuse_wrong_version),
        cmocka_unit_test(test_refuse_not_checkpoints),
        cmocka_unit_test(test_refuse_trailing_bytes),
        cmocka_unit_test(test_refuse_hostile_headers),
        cmocka_unit_test(test_save_failures),
        cmocka_unit_test(test_failed_save_keeps_old_file),
        cmocka_unit_test(test_load_params_checks),
        cmocka_unit_test(test_json_getters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
