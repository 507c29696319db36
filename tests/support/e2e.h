/* Helpers for end-to-end tests that drive the real m2pt binary (in the style of test_grid.c):
 * a mkdtemp directory per test, m2pt started with fork/exec in its own process group with its
 * output captured in files, and the result database read through proc.h's query helpers. Failures go
 * through cmocka (fail_msg and friends), so they only make sense inside a cmocka test. */
#ifndef M2PT_TEST_E2E_H
#define M2PT_TEST_E2E_H

#include <stddef.h>
#include <sys/types.h>
#include "proc.h"

#define E2E_TIMEOUT 120.0 /* seconds for any one m2pt command (the machine may be loaded) */

typedef struct {
    char dir[256];  /* mkdtemp */
    char log[320];  /* DIR/log: captured output */
    int nlog;
    int quiet;      /* do not echo commands */
    double t0, cpu0; /* start of the test: wall clock, children's CPU time */
    int passed;     /* set at the end of a test: a failed test's directory is kept */
} e2e_env;

typedef struct {
    pid_t pid;
    int reaped;
    int rc;          /* exit status, 128 + signal, or -1 */
    char outp[400], errp[400];
    char *out, *err; /* captured stdout and stderr, once reaped */
} e2e_result;

/* The binary under test: $M2PT_BUILD/m2pt (default build/m2pt); 0, or -1 when missing. */
int e2e_init(const char *test_name);
const char *e2e_m2pt(void);
/* $M2PT_TEST_DATA/<sub>/<name> (default tests/<sub>/<name>). */
void e2e_data(char *buf, size_t n, const char *sub, const char *name);

/* cmocka setup/teardown: a fresh directory (M2PT_CACHE_DIR inside it); kept on failure or with
 * M2PT_KEEP_TMP=1. */
int e2e_setup(void **state);
int e2e_teardown(void **state);
void e2e_path(char *buf, size_t n, const e2e_env *e, const char *name); /* DIR/name */

/* Start `m2pt ARGS...` (NULL-terminated), or any program (argv[0] a path) with e2e_spawn_argv. */
void e2e_spawn(e2e_env *e, e2e_result *r, ...);
void e2e_spawn_argv(e2e_env *e, e2e_result *r, const char *const *argv);
int e2e_try_reap(e2e_result *r);          /* 1 when it has exited (and is reaped) */
void e2e_reap(e2e_result *r);             /* waits at most E2E_TIMEOUT */
e2e_result e2e_run(e2e_env *e, ...);      /* spawn + reap */
void e2e_free(e2e_result *r);
void e2e_show(const e2e_result *r);       /* its output, on failure */
void e2e_kill_leftovers(void);

#define e2e_expect_rc(r, want) e2e_expect_rc_(r, want, __FILE__, __LINE__)
void e2e_expect_rc_(const e2e_result *r, int want, const char *file, int line);
#define e2e_expect_contains(r, text, needle) e2e_expect_contains_(r, text, needle, 1, __FILE__, __LINE__)
#define e2e_expect_lacks(r, text, needle) e2e_expect_contains_(r, text, needle, 0, __FILE__, __LINE__)
void e2e_expect_contains_(const e2e_result *r, const char *text, const char *needle, int want, const char *file,
                          int line);
int e2e_count(const char *text, const char *needle);
int e2e_exists(const char *path);
char *e2e_slurp(const char *path); /* whole file, "" when missing; NULL only when out of memory */

/* Database reads: the shared helpers of proc.h (read-only connections, 10 s busy timeout). */
#define e2e_q_try t_qtry
#define e2e_qi t_qi
#define e2e_expect_q t_expect_q
#define e2e_dump t_qdump

#endif
