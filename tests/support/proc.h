/* Helpers of the reliability tests (test_faults, test_concurrency, test_resources,
 * test_numerics, test_hostile): the real binary ($M2PT_BUILD/m2pt) started with fork/exec in
 * its own process group, stdout and stderr captured to files, optionally with a file-size limit
 * (RLIMIT_FSIZE) or as the unprivileged user `nobody` (so that permission faults are real when
 * the tests run as root); every wait has a timeout (a hang fails the test, it never stalls the
 * suite); the result database read with the sqlite3 C API.
 *
 * Every helper that checks something fails the current cmocka test (print_error + fail) with
 * the command's output. Use only from cmocka tests. */
#ifndef M2PT_TEST_PROC_H
#define M2PT_TEST_PROC_H

#include <stddef.h>
#include <sys/types.h>

#define T_TIMEOUT 120.0 /* seconds for any one m2pt command (the machine may be loaded) */

extern char t_m2pt[4096];     /* the binary under test */
extern char t_build[3000];   /* $M2PT_BUILD (default build) */
extern char t_data[4096];     /* $M2PT_TEST_DATA (default tests) */

/* Reads M2PT_BUILD / M2PT_TEST_DATA, checks that the binary exists, keeps plugins to the build
 * tree (no M2PT_PLUGIN_PATH, no installed prefix), ignores SIGPIPE. Returns 0, or -1 with a
 * message on stderr. */
int t_init(const char *prog);

typedef struct {
    char dir[256];   /* mkdtemp */
    char db[320];    /* DIR/m2pt.db */
    char cache[320]; /* DIR/cache */
    char log[320];   /* DIR/log */
    int nlog;
    int quiet;       /* do not echo commands */
    int passed;      /* set at the end of a test: a failed test's directory is kept */
    double t0;
} t_env;

/* cmocka setup/teardown: a fresh directory per test, M2PT_CACHE_DIR pointing into it. A
 * failed test's directory is kept (printed); M2PT_KEEP_TMP=1 keeps them all. */
int t_setup(void **state);
int t_teardown(void **state);

typedef struct {
    const char *const *env; /* extra "KEY=VALUE" strings, NULL-terminated (or NULL) */
    long long fsize;        /* RLIMIT_FSIZE in bytes (0: unlimited) */
    int as_nobody;          /* when root: run as uid/gid 65534 */
    int no_group;           /* stay in the test's process group */
} t_opts;

typedef struct {
    pid_t pid;
    int reaped;
    int rc;                 /* exit status, 128 + signal, or -1 */
    char outp[400], errp[400];
    char *out, *err;        /* captured stdout and stderr, after reaping */
} t_proc;

/* Starts `m2pt ARGV...` (argv[0] is the first argument after the binary; NULL-terminated). */
void t_spawn(t_env *e, t_proc *p, const t_opts *o, const char *const *argv);
/* 1 when the child has exited (reaped, output read), 0 while it runs. */
int t_try_reap(t_proc *p);
/* Waits at most `timeout` seconds (then kills the group and fails). Fails when the output
 * mentions "locked" (m2pt never surfaces a locked database). */
void t_reap(t_proc *p, double timeout);
/* Spawn + reap, NULL-terminated arguments. */
t_proc t_run(t_env *e, const t_opts *o, ...);
void t_free(t_proc *p);
/* Kills every child still running (with its group) and reaps it. */
void t_kill_all(void);
void t_show(const t_proc *p);

#define t_expect_rc(p, want) t_expect_rc_(p, want, __FILE__, __LINE__)
void t_expect_rc_(const t_proc *p, int want, const char *file, int line);
#define t_expect_in(p, text, needle) t_expect_in_(p, text, needle, 1, __FILE__, __LINE__)
#define t_expect_not_in(p, text, needle) t_expect_in_(p, text, needle, 0, __FILE__, __LINE__)
void t_expect_in_(const t_proc *p, const char *text, const char *needle, int want, const char *file, int line);
/* stderr is exactly one line. */
#define t_expect_one_line(p) t_expect_one_line_(p, __FILE__, __LINE__)
void t_expect_one_line_(const t_proc *p, const char *file, int line);

/* ---- the database (opened read-only, 10 s busy timeout) ---- */
/* First column of the first row as an integer (NULL: -1). 0, or -1 with err. */
int t_qtry(const char *db, long long *out, const char *sql, char *err, size_t errlen);
#define t_qi(db, ...) t_qi_(__FILE__, __LINE__, db, __VA_ARGS__)
long long t_qi_(const char *file, int line, const char *db, const char *fmt, ...);
#define t_expect_q(db, want, ...) t_expect_q_(__FILE__, __LINE__, db, want, __VA_ARGS__)
void t_expect_q_(const char *file, int line, const char *db, long long want, const char *fmt, ...);
/* Every row as "a|b;\n" lines (malloc'ed). */
char *t_qdump(const char *db, const char *fmt, ...);
/* Runs SQL that writes (the test itself tampering with a database). */
void t_exec(const char *db, const char *sql);
/* PRAGMA integrity_check says ok, and PRAGMA foreign_key_check finds nothing. */
void t_expect_integrity(const char *db);

/* ---- files ---- */
int t_exists(const char *path);
void t_rm_rf(const char *path);
void t_write_file(const char *path, const void *data, size_t n);
char *t_slurp(const char *path, size_t *len);
/* Number of entries of dir whose name contains part (-1: no such directory). */
int t_count_files(const char *dir, const char *part);
double t_now(void);
void t_sleep_ms(long ms);
/* chown -R to nobody (when root), so that a child run with as_nobody can use the tree. */
void t_give_to_nobody(const char *path);
/* 1 when the tests run as root (permission faults then need as_nobody). */
int t_is_root(void);

#endif
