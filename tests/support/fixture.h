/* Reader for the binary reference fixtures in tests/fixtures/ (written by
 * tests/reference/make_fixtures.py; format in tests/reference/README.md).
 *
 * A fixture is a list of named tensors, float32 or int32. Loading checks every length, shape
 * and bound of the file against its size, rejects duplicate names, non-finite floats and
 * trailing bytes, and reports the first problem on stderr with the file name. Tensor data is
 * decoded from little-endian into aligned memory owned by the fixture. */
#ifndef M2PT_TEST_FIXTURE_H
#define M2PT_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#define FIXTURE_MAX_DIMS 8
#define FIXTURE_NAME_MAX 255

typedef enum { FIXTURE_F32 = 0, FIXTURE_I32 = 1 } fixture_dtype;

typedef struct {
    char name[FIXTURE_NAME_MAX + 1];
    fixture_dtype dtype;
    int ndim;
    uint32_t dims[FIXTURE_MAX_DIMS];
    size_t numel;
    const void *data; /* float or int32_t, numel elements (not NULL, even when numel is 0) */
} fixture_tensor;

typedef struct fixture fixture;

/* Directory holding fixtures/: $M2PT_TEST_DATA when set and non-empty, else "tests". */
const char *fixture_data_dir(void);
/* Load <data dir>/fixtures/<name>. NULL (after a message on stderr) on any error. */
fixture *fixture_load(const char *name);
/* Load a file by path. NULL on error; the reason goes into err (if given) and not to stderr. */
fixture *fixture_load_path(const char *path, char *err, size_t errlen);
void fixture_free(fixture *f);

int fixture_count(const fixture *f);
const fixture_tensor *fixture_at(const fixture *f, int i);
/* NULL when absent (silently). */
const fixture_tensor *fixture_find(const fixture *f, const char *name);

/* Typed getters: NULL / -1 with a message on stderr when the tensor is absent or has another
 * dtype. numel may be NULL. */
const float *fixture_get(const fixture *f, const char *name, size_t *numel);
const int32_t *fixture_get_i32(const fixture *f, const char *name, size_t *numel);
/* A one-element int32 tensor into *out: 0 on success, -1 otherwise. */
int fixture_get_int(const fixture *f, const char *name, int *out);
/* A one-element float32 tensor into *out: 0 on success, -1 otherwise. */
int fixture_get_float(const fixture *f, const char *name, float *out);

#endif
