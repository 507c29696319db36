/* See proc.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define _DEFAULT_SOURCE /* setgroups */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NOBODY 65534

char t_m2pt[4096];
char t_build[3000];
char t_data[4096];

static pid_t live[64];
static int nlive;

double t_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void t_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

int t_is_root(void) { return geteuid() == 0; }

int t_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

void t_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700); /* a test may have made it unwritable */
        DIR *d = opendir(path);
        if (d) {
            struct dirent *en;
            while ((en = readdir(d))) {
                if (!strcmp(en->d_name, ".") || !strcmp(en->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, en->d_name);
                t_rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void t_give_to_nobody(const char *path) {
    if (!t_is_root()) return;
    struct stat st;
    if (lstat(path, &st)) return;
    if (lchown(path, NOBODY, NOBODY)) {
        print_error("chown %s: %s\n", path, strerror(errno));
        fail();
    }
    if (!S_ISDIR(st.st_mode)) return;
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *en;
    while ((en = readdir(d))) {
        if (!strcmp(en->d_name, ".") || !strcmp(en->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, en->d_name);
        t_give_to_nobody(sub);
    }
    closedir(d);
}

char *t_slurp(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf) return NULL;
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
    if (len_out) *len_out = len;
    return buf;
}

void t_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        print_error("cannot write %s: %s\n", path, strerror(errno));
        fail();
    }
}

int t_count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *en;
    while ((en = readdir(d)))
        if (strcmp(en->d_name, ".") && strcmp(en->d_name, "..")) n += strstr(en->d_name, part) != NULL;
    closedir(d);
    return n;
}

/* ================================================================ setup */

int t_init(const char *prog) {
    const char *build = getenv("M2PT_BUILD"), *data = getenv("M2PT_TEST_DATA");
    snprintf(t_build, sizeof t_build, "%s", build && *build ? build : "build");
    snprintf(t_data, sizeof t_data, "%s", data && *data ? data : "tests");
    snprintf(t_m2pt, sizeof t_m2pt, "%s/m2pt", t_build);
    /* absolute paths: children may run elsewhere, and as another user */
    char *abs = realpath(t_m2pt, NULL);
    struct stat st;
    if (!abs || stat(abs, &st) || !(st.st_mode & S_IXUSR)) {
        fprintf(stderr, "%s: %s is missing (build it with 'make'; run from the repository root, or set M2PT_BUILD)\n",
                prog, t_m2pt);
        free(abs);
        return -1;
    }
    snprintf(t_m2pt, sizeof t_m2pt, "%s", abs);
    free(abs);
    if ((abs = realpath(t_build, NULL))) snprintf(t_build, sizeof t_build, "%s", abs), free(abs);
    if ((abs = realpath(t_data, NULL))) snprintf(t_data, sizeof t_data, "%s", abs), free(abs);
    else {
        fprintf(stderr, "%s: %s is missing (set M2PT_TEST_DATA to the tests directory)\n", prog, t_data);
        return -1;
    }
    unsetenv("M2PT_PLUGIN_PATH");
    setenv("M2PT_PREFIX", "/nonexistent/m2pt_test", 1);
    unsetenv("M2PT_THREADS");
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int t_setup(void **state) {
    t_kill_all();
    t_env *e = calloc(1, sizeof *e);
    if (!e) return -1;
    snprintf(e->dir, sizeof e->dir, "/tmp/m2pt_reliab.XXXXXX");
    if (!mkdtemp(e->dir)) {
        perror("mkdtemp");
        free(e);
        return -1;
    }
    chmod(e->dir, 0755);
    snprintf(e->db, sizeof e->db, "%s/m2pt.db", e->dir);
    snprintf(e->cache, sizeof e->cache, "%s/cache", e->dir);
    snprintf(e->log, sizeof e->log, "%s/log", e->dir);
    if (mkdir(e->log, 0777)) {
        perror("mkdir");
        free(e);
        return -1;
    }
    chmod(e->log, 0777);
    setenv("M2PT_CACHE_DIR", e->cache, 1);
    e->t0 = t_now();
    *state = e;
    return 0;
}

int t_teardown(void **state) {
    t_env *e = *state;
    t_kill_all();
    const char *keep = getenv("M2PT_KEEP_TMP");
    int kept = !e->passed || (keep && *keep && strcmp(keep, "0"));
    printf("(%.1f s)%s%s\n", t_now() - e->t0, kept ? " kept " : "", kept ? e->dir : "");
    fflush(stdout);
    if (!kept) t_rm_rf(e->dir);
    free(e);
    return 0;
}

/* ================================================================ processes */

static void forget(pid_t pid) {
    for (int i = 0; i < nlive; i++)
        if (live[i] == pid) live[i] = live[--nlive];
}

void t_kill_all(void) {
    for (int i = 0; i < nlive; i++) {
        kill(-live[i], SIGKILL);
        kill(live[i], SIGKILL);
        while (waitpid(live[i], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    nlive = 0;
}

void t_spawn(t_env *e, t_proc *p, const t_opts *o, const char *const *argv) {
    static const t_opts none = {0};
    if (!o) o = &none;
    const char *args[80];
    int argc = 0;
    args[argc++] = t_m2pt;
    for (int i = 0; argv[i] && argc < 79; i++) args[argc++] = argv[i];
    args[argc] = NULL;
    memset(p, 0, sizeof *p);
    p->rc = -1;
    e->nlog++;
    snprintf(p->outp, sizeof p->outp, "%s/%03d.out", e->log, e->nlog);
    snprintf(p->errp, sizeof p->errp, "%s/%03d.err", e->log, e->nlog);
    if (!e->quiet) {
        printf("$");
        for (int i = 0; o->env && o->env[i]; i++) printf(" %s", o->env[i]);
        if (o->fsize) printf(" (ulimit -f %lld KiB)", o->fsize / 1024);
        if (o->as_nobody && t_is_root()) printf(" (as nobody)");
        printf(" m2pt");
        for (int i = 1; i < argc; i++) {
            const char *q = strpbrk(args[i], " *[]()='\";") ? "'" : "";
            printf(" %s%s%s", q, args[i], q);
        }
        printf("\n");
    }
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!o->no_group) setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->outp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open(p->errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        for (int i = 0; o->env && o->env[i]; i++) putenv((char *)o->env[i]);
        if (o->fsize) {
            struct rlimit rl = {(rlim_t)o->fsize, (rlim_t)o->fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(126);
        }
        if (o->as_nobody && geteuid() == 0) {
            if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) _exit(125);
        }
        execv(t_m2pt, (char *const *)args);
        _exit(127);
    }
    if (pid < 0) {
        print_error("fork: %s\n", strerror(errno));
        fail();
    }
    if (!o->no_group) setpgid(pid, pid); /* here too: a signal to the group cannot race the child */
    if (nlive < (int)(sizeof live / sizeof live[0])) live[nlive++] = pid;
    p->pid = pid;
}

static int decode(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1; }

int t_try_reap(t_proc *p) {
    if (p->reaped) return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) return 0;
    forget(p->pid);
    p->reaped = 1;
    p->rc = r == p->pid ? decode(st) : -1;
    p->out = t_slurp(p->outp, NULL), p->err = t_slurp(p->errp, NULL);
    assert_non_null(p->out);
    assert_non_null(p->err);
    return 1;
}

void t_show(const t_proc *p) {
    print_error("--- stdout (%s):\n%s--- stderr (%s):\n%s---\n", p->outp, p->out ? p->out : "", p->errp,
                p->err ? p->err : "");
}

void t_reap(t_proc *p, double timeout) {
    double t0 = t_now();
    while (!t_try_reap(p)) {
        if (t_now() - t0 > timeout) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            while (!t_try_reap(p)) t_sleep_ms(10);
            print_error("m2pt did not finish within %.0f s (hang)\n", timeout);
            t_show(p);
            fail();
        }
        t_sleep_ms(3);
    }
    if (strstr(p->out, "locked") || strstr(p->err, "locked")) {
        print_error("output mentions \"locked\"\n");
        t_show(p);
        fail();
    }
}

t_proc t_run(t_env *e, const t_opts *o, ...) {
    const char *argv[80];
    int n = 0;
    va_list ap;
    va_start(ap, o);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 79) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    t_proc p;
    t_spawn(e, &p, o, argv);
    t_reap(&p, T_TIMEOUT);
    return p;
}

void t_free(t_proc *p) {
    free(p->out), free(p->err);
    p->out = p->err = NULL;
}

void t_expect_rc_(const t_proc *p, int want, const char *file, int line) {
    if (p->rc != want) {
        print_error("exit status %d, expected %d\n", p->rc, want);
        t_show(p);
        _fail(file, line);
    }
}

void t_expect_in_(const t_proc *p, const char *text, const char *needle, int want, const char *file, int line) {
    if (!!strstr(text, needle) != want) {
        print_error("output %s \"%s\"\n", want ? "does not contain" : "contains", needle);
        if (p) t_show(p);
        else print_error("%s\n", text);
        _fail(file, line);
    }
}

void t_expect_one_line_(const t_proc *p, const char *file, int line) {
    size_t n = strlen(p->err);
    const char *nl = strchr(p->err, '\n');
    if (n == 0 || !nl || nl != p->err + n - 1) {
        print_error("stderr is not exactly one line\n");
        t_show(p);
        _fail(file, line);
    }
}

/* ================================================================ the database */

int t_qtry(const char *db, long long *out, const char *sql, char *err, size_t errlen) {
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db, h ? sqlite3_errmsg(h) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(h, 10000);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(h));
        goto out;
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        snprintf(err, errlen, "%s: %s", sql, s == SQLITE_DONE ? "no row" : sqlite3_errmsg(h));
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc;
}

long long t_qi_(const char *file, int line, const char *db, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    long long v = 0;
    char err[2048];
    if (!sql || t_qtry(db, &v, sql, err, sizeof err)) {
        print_error("query failed: %s\n", sql ? err : "out of memory");
        sqlite3_free(sql);
        _fail(file, line);
    }
    sqlite3_free(sql);
    return v;
}

void t_expect_q_(const char *file, int line, const char *db, long long want, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    long long v = 0;
    char err[2048];
    if (!sql || t_qtry(db, &v, sql, err, sizeof err)) {
        print_error("query failed: %s\n", sql ? err : "out of memory");
        sqlite3_free(sql);
        _fail(file, line);
    }
    if (v != want) {
        print_error("%s\n  returned %lld, expected %lld (database %s)\n", sql, v, want, db);
        sqlite3_free(sql);
        _fail(file, line);
    }
    sqlite3_free(sql);
}

char *t_qdump(const char *db, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    assert_non_null(sql);
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = calloc(1, cap);
    assert_non_null(buf);
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(h));
        fail();
    }
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            /* REAL values with all 17 digits (sqlite3_column_text gives 15): equal dumps mean
             * bit-identical numbers. The type is read before any conversion. */
            char num[40];
            const char *t = num;
            if (sqlite3_column_type(st, i) == SQLITE_FLOAT) {
                snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, i));
            } else {
                const unsigned char *u = sqlite3_column_text(st, i);
                t = u ? (const char *)u : NULL;
            }
            size_t need = (t ? strlen(t) : 4) + 8;
            if (len + need + 4 > cap) {
                while (len + need + 4 > cap) cap *= 2;
                char *nb = realloc(buf, cap);
                assert_non_null(nb);
                buf = nb;
            }
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "|" : "", t ? t : "NULL");
        }
        if (len + 4 > cap) {
            char *nb = realloc(buf, cap *= 2);
            assert_non_null(nb);
            buf = nb;
        }
        len += (size_t)snprintf(buf + len, cap - len, ";\n");
    }
    if (s != SQLITE_DONE) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(h));
        fail();
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    sqlite3_free(sql);
    return buf;
}

void t_exec(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(h);
        fail();
    }
    sqlite3_close(h);
}

void t_expect_integrity(const char *db) {
    char *d = t_qdump(db, "PRAGMA integrity_check");
    if (strcmp(d, "ok;\n")) {
        print_error("%s: PRAGMA integrity_check: %s\n", db, d);
        free(d);
        fail();
    }
    free(d);
    d = t_qdump(db, "PRAGMA foreign_key_check");
    if (*d) {
        print_error("%s: PRAGMA foreign_key_check: %s\n", db, d);
        free(d);
        fail();
    }
    free(d);
}
