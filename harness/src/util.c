#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

int m2pt_pid_running(long long pid) {
    if (pid <= 0 || pid != (long long)(pid_t)pid) return 0;
    if (kill((pid_t)pid, 0) == -1 && errno != EPERM) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1; /* no /proc: kill() said it exists */
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold spaces and ')' */
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}
