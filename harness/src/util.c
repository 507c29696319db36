#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

float *m2pt_alloc_floats(size_t n) {
    size_t bytes = m2pt_round_floats(n ? n : 1) * sizeof(float);
    void *p = NULL;
    if (posix_memalign(&p, M2PT_ALIGN, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

double m2pt_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

uint64_t m2pt_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

FILE *m2pt_fopen_regular(const char *path, int *not_regular) {
    *not_regular = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    int flags;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int e = errno;
        *not_regular = !fstat(fd, &st) && !S_ISREG(st.st_mode);
        close(fd);
        errno = *not_regular ? EINVAL : e;
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}
