/* Helpers for end-to-end tests of the m2pt binary (e2e.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "e2e.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char m2pt[4096];
static char name[64] = "e2e";
static pid_t live[64]; /* children not reaped yet (killed by the next setup or the end) */
static int nlive;

/* CPU seconds used by the reaped children so far. */
static double children_cpu(void) {
    struct rusage u;
    if (getrusage(RUSAGE_CHILDREN, &u)) return 0;
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

int e2e_init(const char *test_name) {
    snprintf(name, sizeof name, "%s", test_name);
    const char *build = getenv("M2PT_BUILD");
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", build && *build ? build : "build");
    struct stat st;
    if (stat(m2pt, &st) || !(st.st_mode & S_IXUSR)) {
        fprintf(stderr, "%s: %s is missing (build it with 'make'; run from the repository root, or set M2PT_BUILD "
                        "to the build directory)\n", name, m2pt);
        return -1;
    }
    /* plugins come from the build tree only */
    unsetenv("M2PT_PLUGIN_PATH");
    setenv("M2PT_PREFIX", "/nonexistent/m2pt_test", 1);
    unsetenv("M2PT_THREADS");
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

const char *e2e_m2pt(void) { return m2pt; }

void e2e_data(char *buf, size_t n, const char *sub, const char *file) {
    const char *data = getenv("M2PT_TEST_DATA");
    snprintf(buf, n, "%s/%s/%s", data && *data ? data : "tests", sub, file);
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void forget_child(pid_t pid) {
    for (int i = 0; i < nlive; i++)
        if (live[i] == pid) live[i] = live[--nlive];
}

void e2e_kill_leftovers(void) {
    for (int i = 0; i < nlive; i++) {
        kill(-live[i], SIGKILL);
        kill(live[i], SIGKILL);
        while (waitpid(live[i], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    nlive = 0;
}

int e2e_setup(void **state) {
    e2e_kill_leftovers();
    e2e_env *e = calloc(1, sizeof *e);
    if (!e) return -1;
    snprintf(e->dir, sizeof e->dir, "/tmp/m2pt_%s.XXXXXX", name);
    if (!mkdtemp(e->dir)) {
        perror("mkdtemp");
        free(e);
        return -1;
    }
    snprintf(e->log, sizeof e->log, "%s/log", e->dir);
    char cache[320];
    snprintf(cache, sizeof cache, "%s/cache", e->dir);
    if (mkdir(e->log, 0777)) {
        perror("mkdir");
        free(e);
        return -1;
    }
    setenv("M2PT_CACHE_DIR", cache, 1);
    e->t0 = now(), e->cpu0 = children_cpu();
    *state = e;
    return 0;
}

int e2e_teardown(void **state) {
    e2e_env *e = *state;
    e2e_kill_leftovers();
    const char *keep = getenv("M2PT_KEEP_TMP");
    int kept = !e->passed || (keep && *keep && strcmp(keep, "0"));
    printf("(%.1f s, m2pt CPU %.1f s)%s%s\n", now() - e->t0, children_cpu() - e->cpu0, kept ? " kept " : "",
           kept ? e->dir : "");
    if (!kept) rm_rf(e->dir);
    free(e);
    return 0;
}

void e2e_path(char *buf, size_t n, const e2e_env *e, const char *file) { snprintf(buf, n, "%s/%s", e->dir, file); }

char *e2e_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf) {
        if (f) fclose(f);
        return NULL;
    }
    if (f) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (len + 1 == cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) break;
                buf = nb, cap *= 2;
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

void e2e_free(e2e_result *r) {
    free(r->out), free(r->err);
    r->out = r->err = NULL;
}

void e2e_spawn_argv(e2e_env *e, e2e_result *r, const char *const *argv) {
    memset(r, 0, sizeof *r);
    r->rc = -1;
    e->nlog++;
    snprintf(r->outp, sizeof r->outp, "%s/%03d.out", e->log, e->nlog);
    snprintf(r->errp, sizeof r->errp, "%s/%03d.err", e->log, e->nlog);
    if (!e->quiet) {
        printf("$ %s", argv[0] == m2pt ? "m2pt" : argv[0]);
        for (int i = 1; argv[i]; i++) {
            const char *q = strpbrk(argv[i], " *[]()='\"") ? "'" : "";
            printf(" %s%s%s", q, argv[i], q);
        }
        printf("\n");
    }
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(r->outp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open(r->errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    setpgid(pid, pid);
    if (nlive < (int)(sizeof live / sizeof live[0])) live[nlive++] = pid;
    r->pid = pid;
}

void e2e_spawn(e2e_env *e, e2e_result *r, ...) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = m2pt;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 63) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    e2e_spawn_argv(e, r, argv);
}

void e2e_show(const e2e_result *r) {
    print_error("--- stdout (%s):\n%s--- stderr (%s):\n%s---\n", r->outp, r->out ? r->out : "", r->errp,
                r->err ? r->err : "");
}

static int decode(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1; }

int e2e_try_reap(e2e_result *r) {
    if (r->reaped) return 1;
    int st;
    pid_t p = waitpid(r->pid, &st, WNOHANG);
    if (p == 0 || (p < 0 && errno == EINTR)) return 0;
    forget_child(r->pid);
    r->reaped = 1;
    r->rc = p == r->pid ? decode(st) : -1;
    r->out = e2e_slurp(r->outp), r->err = e2e_slurp(r->errp);
    assert_non_null(r->out);
    assert_non_null(r->err);
    return 1;
}

void e2e_reap(e2e_result *r) {
    double t0 = now();
    while (!e2e_try_reap(r)) {
        if (now() - t0 > E2E_TIMEOUT) {
            kill(-r->pid, SIGKILL);
            kill(r->pid, SIGKILL);
            while (!e2e_try_reap(r)) sleep_ms(10);
            e2e_show(r);
            fail_msg("%s did not finish within %.0f s", r->outp, E2E_TIMEOUT);
        }
        sleep_ms(5);
    }
}

e2e_result e2e_run(e2e_env *e, ...) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = m2pt;
    va_list ap;
    va_start(ap, e);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 63) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    e2e_result r;
    e2e_spawn_argv(e, &r, argv);
    e2e_reap(&r);
    return r;
}

void e2e_expect_rc_(const e2e_result *r, int want, const char *file, int line) {
    if (r->rc != want) {
        print_error("exit status %d, expected %d\n", r->rc, want);
        e2e_show(r);
        _fail(file, line);
    }
}

void e2e_expect_contains_(const e2e_result *r, const char *text, const char *needle, int want, const char *file,
                          int line) {
    if (!!strstr(text, needle) != want) {
        print_error("output %s \"%s\"\n", want ? "does not contain" : "contains", needle);
        if (r) e2e_show(r);
        else print_error("%s\n", text);
        _fail(file, line);
    }
}

int e2e_count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

int e2e_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

