/* Small shared helpers: aligned allocation, error strings, timing. */
#ifndef M2PT_UTIL_H
#define M2PT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define M2PT_ALIGN 64 /* cache line; also keeps AVX-512 loads aligned */

/* Round a float count up so that consecutive tensors start on a cache line. */
static inline size_t m2pt_round_floats(size_t n) {
    const size_t per_line = M2PT_ALIGN / sizeof(float);
    return (n + per_line - 1) / per_line * per_line;
}

/* 64-byte aligned, zero-filled allocation of n floats; NULL on failure. Free with free(). */
float *m2pt_alloc_floats(size_t n);

/* Monotonic wall clock in seconds. */
double m2pt_now(void);

/* FNV-1a 64-bit hash of a string; used to derive per-tensor RNG streams from names. */
uint64_t m2pt_hash_str(const char *s);

/* fopen(path, "rb") of a regular file only. Anything else (a FIFO, a device, a directory) is
 * refused without blocking (opening a FIFO for reading waits for a writer, forever): NULL with
 * *not_regular = 1. NULL with errno set (and *not_regular = 0) when it cannot be opened. */
FILE *m2pt_fopen_regular(const char *path, int *not_regular);

/* Is process `pid` (on this host) still running? Not if it does not exist, and not if it has
 * exited but was never reaped: a killed worker whose parent died too is reparented to init, and
 * where init does not reap (some containers) it stays a zombie for good. */
int m2pt_pid_running(long long pid);

#endif
