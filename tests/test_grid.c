/* End-to-end tests of experiment grids: the real binary ($M2PT_BUILD/m2pt, default build/m2pt,
 * plugins from $M2PT_BUILD/plugins) started with fork/exec, each test in its own mkdtemp
 * directory under /tmp (--db DIR/m2pt.db --cache DIR/cache), the database read with the
 * sqlite3 C API. Experiment files: $M2PT_TEST_DATA/grid/ (default tests/grid/). Tiny
 * configurations of the image modality (dim 16, depth 1, 1-5 epochs of 128-512 images).
 *
 *  1. grid x zip expansion and collapsing: the --dry-run numbers line and tables (also with
 *     --set), then the same counts, roles and auxiliary links in the database after a run;
 *  2. one auxiliary run serves several target cells; another experiment (another database, or
 *     the same one) reuses the cached auxiliary checkpoint without training it again;
 *  3. a rerun trains nothing: every cell skipped, attempts, times and metrics unchanged;
 *  4. kill -9 in the middle of a cell: the run is left 'running' (stale) and nothing is done
 *     for it, the database is intact; the rerun restarts it (attempt 2) and completes every
 *     cell exactly once, without duplicated metrics or temporary files, loadable checkpoints;
 *  5. -j 2 while the test reads the database with `m2pt query` and `m2pt compare`: never
 *     "locked", every read exits 0, every cell done once, by two overlapping workers;
 *  6. SIGINT (to the pid with one worker, to the process group with -j 2): exit 130, the
 *     cell 'interrupted', the rerun completes it;
 *  7. a cell whose gradient becomes NaN: exit 1, that run 'failed' with the reason, the others
 *     done; an auxiliary model that fails takes its target cells with it, not the others;
 *  8. malformed experiment files and bad --set: exit 2, one located line, nothing written.
 *
 * A failed test keeps its directory (the path is printed); M2PT_KEEP_TMP=1 keeps them all. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "support/proc.h"

#include "blas.h"

#define RUN_TIMEOUT 120.0  /* seconds for any one m2pt command (the machine may be loaded) */
#define POLL_MS 5          /* polling interval while waiting for a cell to be in training */

static char m2pt[4096];     /* the binary under test */
static char griddir[4096];  /* $M2PT_TEST_DATA/grid */
static pid_t live[64];      /* children not reaped yet (killed by the next setup or the end) */
static int nlive;

/* ================================================================ per-test directory */

typedef struct {
    char dir[256];   /* mkdtemp */
    char db[320];    /* DIR/m2pt.db */
    char cache[320]; /* DIR/cache */
    char log[320];   /* DIR/log: captured output */
    int nlog;
    int quiet;       /* do not echo commands (polling loops) */
    double t0, cpu0; /* start of the test: wall clock, children's CPU time */
    int passed;      /* set at the end of each test: a failed test's directory is kept */
} env_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds used by the reaped children so far. */
static double children_cpu(void) {
    struct rusage u;
    if (getrusage(RUSAGE_CHILDREN, &u)) return 0;
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
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

/* Kills (with its process group) and reaps every child a failed test left running. */
static void kill_leftovers(void) {
    for (int i = 0; i < nlive; i++) {
        kill(-live[i], SIGKILL);
        kill(live[i], SIGKILL);
        while (waitpid(live[i], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    nlive = 0;
}

static int setup(void **state) {
    kill_leftovers();
    env_t *e = calloc(1, sizeof *e);
    if (!e) return -1;
    snprintf(e->dir, sizeof e->dir, "/tmp/m2pt_test_grid.XXXXXX");
    if (!mkdtemp(e->dir)) {
        perror("test_grid: mkdtemp");
        free(e);
        return -1;
    }
    snprintf(e->db, sizeof e->db, "%s/m2pt.db", e->dir);
    snprintf(e->cache, sizeof e->cache, "%s/cache", e->dir);
    snprintf(e->log, sizeof e->log, "%s/log", e->dir);
    if (mkdir(e->log, 0777)) {
        perror("test_grid: mkdir");
        return -1;
    }
    /* `m2pt eval` and the plugins cache under M2PT_CACHE_DIR: keep them in the test directory */
    setenv("M2PT_CACHE_DIR", e->cache, 1);
    e->t0 = now(), e->cpu0 = children_cpu();
    *state = e;
    return 0;
}

/* Also runs after a failure: then the directory stays for inspection. */
static int teardown(void **state) {
    env_t *e = *state;
    kill_leftovers();
    const char *keep = getenv("M2PT_KEEP_TMP");
    int kept = !e->passed || (keep && *keep && strcmp(keep, "0"));
    printf("(%.1f s, m2pt CPU %.1f s)%s%s\n", now() - e->t0, children_cpu() - e->cpu0, kept ? " kept " : "",
           kept ? e->dir : "");
    if (!kept) rm_rf(e->dir);
    free(e);
    return 0;
}

/* ================================================================ running m2pt */

typedef struct {
    pid_t pid;
    int reaped;
    int rc;           /* exit status, 128 + signal, or -1 */
    char outp[400], errp[400];
    char *out, *err;  /* captured stdout and stderr */
} result;

static char *slurp(const char *path) {
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
    return buf;
}

static void result_free(result *r) {
    free(r->out), free(r->err);
    r->out = r->err = NULL;
}

/* Starts `m2pt ARGS...` (NULL-terminated) in its own process group, stdout and stderr to files
 * in DIR/log, stdin from /dev/null. */
static void vspawn(env_t *e, result *r, va_list ap) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = m2pt;
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 63) argv[argc++] = a;
    argv[argc] = NULL;
    memset(r, 0, sizeof *r);
    r->rc = -1;
    e->nlog++;
    snprintf(r->outp, sizeof r->outp, "%s/%03d.out", e->log, e->nlog);
    snprintf(r->errp, sizeof r->errp, "%s/%03d.err", e->log, e->nlog);
    if (!e->quiet) {
        printf("$ m2pt");
        for (int i = 1; i < argc; i++) {
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
        execv(m2pt, (char *const *)argv);
        _exit(127);
    }
    if (pid < 0) {
        print_error("fork: %s\n", strerror(errno));
        fail();
    }
    setpgid(pid, pid); /* also here, so that a signal to the group cannot race the child's call */
    if (nlive < (int)(sizeof live / sizeof live[0])) live[nlive++] = pid;
    r->pid = pid;
}

static void spawn(env_t *e, result *r, ...) {
    va_list ap;
    va_start(ap, r);
    vspawn(e, r, ap);
    va_end(ap);
}

static void show(const result *r) {
    print_error("--- stdout (%s):\n%s--- stderr (%s):\n%s---\n", r->outp, r->out ? r->out : "", r->errp,
                r->err ? r->err : "");
}

static int decode(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1; }

/* The child has exited (reaped, output read)? 1 yes, 0 still running. */
static int try_reap(result *r) {
    if (r->reaped) return 1;
    int st;
    pid_t p = waitpid(r->pid, &st, WNOHANG);
    if (p == 0 || (p < 0 && errno == EINTR)) return 0;
    forget_child(r->pid);
    r->reaped = 1;
    r->rc = p == r->pid ? decode(st) : -1;
    r->out = slurp(r->outp), r->err = slurp(r->errp);
    assert_non_null(r->out);
    assert_non_null(r->err);
    return 1;
}

/* Waits for the child (at most RUN_TIMEOUT seconds, then kills it and fails). */
static void reap(result *r) {
    double t0 = now();
    while (!try_reap(r)) {
        if (now() - t0 > RUN_TIMEOUT) {
            kill(-r->pid, SIGKILL);
            kill(r->pid, SIGKILL);
            while (!try_reap(r)) sleep_ms(10);
            print_error("m2pt did not finish within %.0f s\n", RUN_TIMEOUT);
            show(r);
            fail();
        }
        sleep_ms(5);
    }
    /* whatever the command, m2pt never reports a locked database */
    if (strstr(r->out, "locked") || strstr(r->err, "locked")) {
        print_error("output mentions \"locked\"\n");
        show(r);
        fail();
    }
}

static result run(env_t *e, ...) {
    result r;
    va_list ap;
    va_start(ap, e);
    vspawn(e, &r, ap);
    va_end(ap);
    reap(&r);
    return r;
}

#define expect_rc(r, want) expect_rc_(r, want, __FILE__, __LINE__)
static void expect_rc_(const result *r, int want, const char *file, int line) {
    if (r->rc != want) {
        print_error("exit status %d, expected %d\n", r->rc, want);
        show(r);
        _fail(file, line);
    }
}

#define expect_contains(r, text, needle) expect_contains_(r, text, needle, 1, __FILE__, __LINE__)
#define expect_lacks(r, text, needle) expect_contains_(r, text, needle, 0, __FILE__, __LINE__)
static void expect_contains_(const result *r, const char *text, const char *needle, int want, const char *file,
                             int line) {
    if (!!strstr(text, needle) != want) {
        print_error("output %s \"%s\"\n", want ? "does not contain" : "contains", needle);
        if (r) show(r);
        else print_error("%s\n", text);
        _fail(file, line);
    }
}

#define expect_starts(r, text, prefix) expect_starts_(r, text, prefix, __FILE__, __LINE__)
static void expect_starts_(const result *r, const char *text, const char *prefix, const char *file, int line) {
    if (strncmp(text, prefix, strlen(prefix))) {
        print_error("output does not start with \"%s\"\n", prefix);
        if (r) show(r);
        _fail(file, line);
    }
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int count_lines_with(const char *text, const char *a, const char *b) {
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
        n += strstr(line, a) && (!b || strstr(line, b));
        p += len + (nl != NULL);
    }
    return n;
}

static void path_of(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void grid_file(char *buf, size_t n, const char *name) { path_of(buf, n, griddir, name); }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ================================================================ reading the database */

/* The database's integrity check says "ok". */
static void expect_integrity(const char *db) {
    char *d = t_qdump(db, "PRAGMA integrity_check");
    if (strcmp(d, "ok;\n")) {
        print_error("PRAGMA integrity_check: %s\n", d);
        free(d);
        fail();
    }
    free(d);
}

/* No (run, key, step) is logged twice: no metrics of two attempts mixed. */
static void expect_no_duplicate_metrics(const char *db) {
    t_expect_q(db, 0,
             "SELECT count(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step "
             "HAVING count(*) > 1)");
}

/* ================================================================ files */

/* Every artifact recorded in the database is a file of the recorded size that starts with the
 * checkpoint magic. Returns how many. */
static int expect_artifacts_ok(const char *db) {
    char *d = t_qdump(db, "SELECT path, bytes FROM artifacts ORDER BY run_id");
    int n = 0;
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n")) {
        char path[1024];
        long long bytes = -1;
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        snprintf(path, sizeof path, "%.*s", (int)(bar - line), line);
        bytes = atoll(bar + 1);
        struct stat st;
        if (stat(path, &st)) {
            print_error("artifact %s is missing: %s\n", path, strerror(errno));
            fail();
        }
        assert_int_equal((long long)st.st_size, bytes);
        char magic[9] = "";
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(magic, 1, 8, f), 8);
        fclose(f);
        assert_string_equal(magic, "M2PTCKPT");
        n++;
    }
    free(d);
    return n;
}

/* Number of files in dir whose name contains `part` (-1: no such directory). */
static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void expect_no_temp_files(const env_t *e) {
    char dir[512];
    const char *subs[] = {"runs", "aux"};
    for (int i = 0; i < 2; i++) {
        path_of(dir, sizeof dir, e->cache, subs[i]);
        int n = count_files(dir, ".tmp.");
        if (n > 0) {
            print_error("%d temporary file(s) left in %s\n", n, dir);
            fail();
        }
    }
}

/* ================================================================ the dry-run tables */

typedef struct {
    char hash[17];
    char aux[17];  /* target cells: the auxiliary cell's hash, or "-" */
    int epochs;    /* auxiliary cells */
} cellrow;

static int is_hash(const char *p) {
    for (int i = 0; i < 16; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
    return p[16] == ' ';
}

/* The two tables of `m2pt run --dry-run`: auxiliary cells (hash modality seed epochs) and
 * target cells (hash, coordinates..., pathway, aux). */
static void parse_dry_run(const char *out, cellrow *aux, int *naux, cellrow *tgt, int *ntgt, int cap) {
    int section = 0;
    *naux = *ntgt = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
        p += len + (nl != NULL);
        if (!strncmp(line, "auxiliary cells", 15)) section = 1;
        else if (!strncmp(line, "target cells", 12)) section = 2;
        else if (section && !strncmp(line, "  ", 2) && is_hash(line + 2)) {
            assert_true((section == 1 ? *naux : *ntgt) < cap);
            cellrow *c = section == 1 ? &aux[(*naux)++] : &tgt[(*ntgt)++];
            memset(c, 0, sizeof *c);
            memcpy(c->hash, line + 2, 16);
            if (section == 1) {
                assert_int_equal(sscanf(line + 18, "%*s %*s %d", &c->epochs), 1);
            } else {
                char *last = strrchr(line, ' ');
                assert_non_null(last);
                snprintf(c->aux, sizeof c->aux, "%s", last + 1);
            }
        }
    }
}

/* ================================================================ waiting for a cell */

/* Polls until a target run is in training (status 'running' with at least one metrics row:
 * an epoch is logged) and returns its id. Fails if m2pt exits first or after RUN_TIMEOUT. */
static long long wait_for_training(env_t *e, result *r) {
    const char *sql = "SELECT r.id FROM runs r WHERE r.role = 'target' AND r.status = 'running'"
                      " AND EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = r.id) ORDER BY r.id LIMIT 1";
    double t0 = now();
    char err[2048];
    long long id;
    for (;;) {
        if (exists(e->db) && t_qtry(e->db, &id, sql, err, sizeof err) == 0) return id;
        if (try_reap(r)) {
            print_error("m2pt exited (status %d) before a target cell could be caught in training\n", r->rc);
            show(r);
            fail();
        }
        if (now() - t0 > RUN_TIMEOUT) {
            print_error("no target cell in training after %.0f s\n", RUN_TIMEOUT);
            fail();
        }
        sleep_ms(POLL_MS);
    }
}

/* ================================================================ 1. expansion counts */

static void test_grid_zip_counts(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "grid.yaml");

    /* 3 pathways x 2 auxiliary epochs x a zip of 2 = 12 points. baseline ignores the auxiliary
     * model and every pathway option (2 cells, by target.train.lr), noaux the auxiliary model
     * (2 cells), reparam nothing (4 cells): 8 target cells, 4 collapsed. The zip varies only
     * target-side keys, so the 2 auxiliary cells differ only in auxiliary.train.epochs. */
    result d = run(e, "run", file, "--dry-run", "--db", e->db, "--cache", e->cache, NULL);
    expect_rc(&d, 0);
    expect_starts(&d, d.out, "grid-expand: 12 grid points -> 8 target cells + 2 auxiliary cells (4 collapsed)\n");
    cellrow aux[32], tgt[32];
    int naux, ntgt;
    parse_dry_run(d.out, aux, &naux, tgt, &ntgt, 32);
    assert_int_equal(naux, 2);
    assert_int_equal(ntgt, 8);
    assert_true((aux[0].epochs == 1 && aux[1].epochs == 2) || (aux[0].epochs == 2 && aux[1].epochs == 1));
    int without_aux = 0;
    for (int i = 0; i < ntgt; i++) {
        int users = 0;
        without_aux += !strcmp(tgt[i].aux, "-");
        for (int k = 0; k < naux; k++) users += !strcmp(tgt[i].aux, aux[k].hash);
        assert_true(users == 1 || !strcmp(tgt[i].aux, "-"));
    }
    assert_int_equal(without_aux, 4); /* baseline and noaux */
    for (int k = 0; k < naux; k++) {  /* each auxiliary cell serves 2 reparam cells */
        int users = 0;
        for (int i = 0; i < ntgt; i++) users += !strcmp(tgt[i].aux, aux[k].hash);
        assert_int_equal(users, 2);
    }

    /* --set adds a grid axis: 24 points; the seed reaches the auxiliary cells too */
    result s = run(e, "run", file, "--dry-run", "--set", "grid.seed=[0, 1]", "--db", e->db, NULL);
    expect_rc(&s, 0);
    expect_starts(&s, s.out, "grid-expand: 24 grid points -> 16 target cells + 4 auxiliary cells (8 collapsed)\n");
    /* --set zip= removes the zip: 6 points; the remaining cells are the same configurations
     * as cells of the full grid (lr 1e-3, scale_init 0), hence the same hashes */
    result z = run(e, "run", file, "--dry-run", "--set", "zip=", "--db", e->db, NULL);
    expect_rc(&z, 0);
    expect_starts(&z, z.out, "grid-expand: 6 grid points -> 4 target cells + 2 auxiliary cells (2 collapsed)\n");
    cellrow zaux[32], ztgt[32];
    int nzaux, nztgt;
    parse_dry_run(z.out, zaux, &nzaux, ztgt, &nztgt, 32);
    assert_int_equal(nztgt, 4);
    for (int i = 0; i < nztgt; i++) expect_contains(&d, d.out, ztgt[i].hash);
    for (int i = 0; i < nzaux; i++) expect_contains(&d, d.out, zaux[i].hash);

    /* a dry run writes nothing */
    assert_false(exists(e->db));
    assert_false(exists(e->cache));

    /* the real run: the same cells in the database */
    result r = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&r, 0);
    expect_contains(&r, r.out, "grid-expand: 8 target cells, 2 auxiliary cells");
    expect_contains(&r, r.out, "all cells done");
    assert_int_equal(count_of(r.out, "auxiliary model: image"), 2); /* each auxiliary model trained once */
    t_expect_q(e->db, 8, "SELECT count(*) FROM results WHERE experiment = 'grid-expand' AND role = 'target'");
    t_expect_q(e->db, 2, "SELECT count(*) FROM results WHERE experiment = 'grid-expand' AND role = 'auxiliary'");
    t_expect_q(e->db, 10, "SELECT count(*) FROM results WHERE experiment = 'grid-expand' AND status = 'done'");
    t_expect_q(e->db, 10, "SELECT count(*) FROM runs");
    t_expect_q(e->db, 10, "SELECT count(*) FROM runs WHERE attempt = 1");
    t_expect_q(e->db, 10, "SELECT count(*) FROM summary");
    for (int k = 0; k < naux; k++) {
        t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE cell_hash = %Q AND role = 'auxiliary' AND status = 'done'",
                 aux[k].hash);
        t_expect_q(e->db, aux[k].epochs,
                 "SELECT p.num FROM params p JOIN runs r ON r.id = p.run_id WHERE r.cell_hash = %Q AND p.key = "
                 "'train.epochs'",
                 aux[k].hash);
    }
    for (int i = 0; i < ntgt; i++) {
        t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE cell_hash = %Q AND role = 'target' AND status = 'done'",
                 tgt[i].hash);
        if (!strcmp(tgt[i].aux, "-"))
            t_expect_q(e->db, 1, "SELECT aux_run_id IS NULL AND aux_modality IS NULL FROM runs WHERE cell_hash = %Q",
                     tgt[i].hash);
        else
            t_expect_q(e->db, 1,
                     "SELECT t.aux_run_id = a.id AND t.pathway = 'reparam' AND t.aux_modality = 'image' FROM runs t, "
                     "runs a WHERE t.cell_hash = %Q AND a.cell_hash = %Q",
                     tgt[i].hash, tgt[i].aux);
    }
    /* pathways as the dry run said: 2 baseline, 2 noaux, 4 reparam */
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE role = 'target' AND pathway = 'baseline'");
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE role = 'target' AND pathway = 'noaux'");
    t_expect_q(e->db, 4, "SELECT count(*) FROM runs WHERE role = 'target' AND pathway = 'reparam'");
    assert_int_equal(expect_artifacts_ok(e->db), 10);
    result_free(&d), result_free(&s), result_free(&z), result_free(&r);
    e->passed = 1;
}

/* ================================================================ 2. a shared auxiliary run */

static void test_shared_aux(void **state) {
    env_t *e = *state;
    char file[4200], reuse[4200], auxdir[512], db2[512];
    grid_file(file, sizeof file, "tiny.yaml");
    grid_file(reuse, sizeof reuse, "tiny_reuse.yaml");
    path_of(auxdir, sizeof auxdir, e->cache, "aux");
    path_of(db2, sizeof db2, e->dir, "second.db");

    result r = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&r, 0);
    expect_contains(&r, r.out, "grid-tiny: 2 target cells, 1 auxiliary cells");
    assert_int_equal(count_of(r.out, "auxiliary model: image"), 1);
    t_expect_q(e->db, 2,
             "SELECT count(*) FROM results WHERE experiment = 'grid-tiny' AND role = 'target' AND status = 'done'");
    t_expect_q(e->db, 1,
             "SELECT count(*) FROM results WHERE experiment = 'grid-tiny' AND role = 'auxiliary' AND status = 'done'");
    long long aux_id = t_qi(e->db, "SELECT id FROM runs WHERE role = 'auxiliary'");
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE role = 'target' AND aux_run_id = %lld", aux_id);
    char *aux_hash = t_qdump(e->db, "SELECT cell_hash FROM runs WHERE role = 'auxiliary'");
    aux_hash[16] = '\0';
    /* its checkpoint exists once in the cache */
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", auxdir, aux_hash);
    assert_int_equal(count_files(auxdir, ".ckpt"), 1);
    struct stat st0, st1;
    assert_int_equal(stat(ckpt, &st0), 0);
    t_expect_q(e->db, 1, "SELECT path = %Q FROM artifacts WHERE run_id = %lld", ckpt, aux_id);
    long long aux_acc =
        t_qi(e->db, "SELECT CAST(round(test_acc * 1e6) AS INTEGER) FROM summary WHERE run_id = %lld", aux_id);

    /* another experiment needing the same auxiliary model, into another database: reused from
     * the cache, recorded as done there, not trained */
    result o = run(e, "run", reuse, "--db", db2, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&o, 0);
    expect_contains(&o, o.out, "grid-tiny-reuse: 1 target cells, 1 auxiliary cells");
    expect_contains(&o, o.out, "reused from the cache");
    assert_int_equal(count_of(o.out, "auxiliary model: image"), 0);
    assert_int_equal(count_lines_with(o.out, aux_hash, "epoch "), 0);
    assert_int_equal(stat(ckpt, &st1), 0);
    assert_true(st0.st_ino == st1.st_ino && st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
                st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec && st0.st_size == st1.st_size);
    assert_int_equal(count_files(auxdir, ".ckpt"), 1);
    t_expect_q(db2, 1,
             "SELECT count(*) FROM results WHERE experiment = 'grid-tiny-reuse' AND role = 'auxiliary' AND status = "
             "'done' AND cell_hash = %Q AND attempt = 1",
             aux_hash);
    long long aux2 = t_qi(db2, "SELECT id FROM runs WHERE cell_hash = %Q", aux_hash);
    t_expect_q(db2, 1, "SELECT count(*) FROM runs WHERE role = 'target' AND status = 'done' AND aux_run_id = %lld", aux2);
    t_expect_q(db2, 1, "SELECT path = %Q FROM artifacts WHERE run_id = %lld", ckpt, aux2);

    /* the same experiment into the first database: the auxiliary run done there serves it, and
     * belongs to this experiment too (a run shared by two experiments has two rows) */
    result s = run(e, "run", reuse, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&s, 0);
    assert_int_equal(count_of(s.out, "auxiliary model: image"), 0);
    assert_int_equal(stat(ckpt, &st1), 0);
    assert_true(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec && st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
    t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE role = 'auxiliary'");
    t_expect_q(e->db, 1, "SELECT attempt FROM runs WHERE id = %lld", aux_id);
    t_expect_q(e->db, 1,
             "SELECT count(*) FROM results WHERE experiment = 'grid-tiny-reuse' AND role = 'target' AND status = "
             "'done' AND aux_run_id = %lld",
             aux_id);
    t_expect_q(e->db, 1,
             "SELECT count(*) FROM results WHERE experiment = 'grid-tiny-reuse' AND role = 'auxiliary' AND "
             "run_id = %lld",
             aux_id);
    /* the imported auxiliary run's summary is the one saved in its checkpoint */
    t_expect_q(db2, aux_acc, "SELECT CAST(round(test_acc * 1e6) AS INTEGER) FROM summary WHERE run_id = %lld", aux2);
    t_expect_q(db2, 1, "SELECT epochs_done FROM summary WHERE run_id = %lld", aux2);
    t_expect_q(db2, t_qi(e->db, "SELECT params_trainable FROM summary WHERE run_id = %lld", aux_id),
             "SELECT params_trainable FROM summary WHERE run_id = %lld", aux2);
    free(aux_hash);
    result_free(&r), result_free(&o), result_free(&s);
    e->passed = 1;
}

/* ================================================================ 3. a rerun trains nothing */

static void test_rerun_nothing(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "tiny.yaml");
    result r = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&r, 0);
    const char *runs_sql = "SELECT id, cell_hash, role, status, attempt, started, finished, pid FROM runs ORDER BY id";
    const char *files_sql = "SELECT a.path, a.bytes, a.checksum FROM artifacts a ORDER BY run_id";
    char *runs0 = t_qdump(e->db, runs_sql), *files0 = t_qdump(e->db, files_sql);
    long long metrics0 = t_qi(e->db, "SELECT count(*) FROM metrics"), params0 = t_qi(e->db, "SELECT count(*) FROM params");
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done'");
    struct stat t0, t1;
    char *first_target = t_qdump(e->db, "SELECT path FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.role = "
                                       "'target' ORDER BY r.id LIMIT 1");
    first_target[strcspn(first_target, ";")] = '\0';
    assert_int_equal(stat(first_target, &t0), 0);

    result again = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&again, 0);
    expect_contains(&again, again.out, "all cells done");
    assert_int_equal(count_of(again.out, "done before, skipped"), 2); /* both target cells */
    assert_int_equal(count_of(again.out, "auxiliary model ready"), 1);
    assert_int_equal(count_of(again.out, "epoch "), 0);               /* nothing trained */
    assert_int_equal(count_of(again.out, "auxiliary model: "), 0);
    assert_int_equal(count_of(again.out, "reused"), 0);
    char *runs1 = t_qdump(e->db, runs_sql), *files1 = t_qdump(e->db, files_sql);
    assert_string_equal(runs1, runs0);  /* same status, attempt, times, pid */
    assert_string_equal(files1, files0);
    t_expect_q(e->db, metrics0, "SELECT count(*) FROM metrics");
    t_expect_q(e->db, params0, "SELECT count(*) FROM params");
    assert_int_equal(stat(first_target, &t1), 0);
    assert_true(t0.st_mtim.tv_sec == t1.st_mtim.tv_sec && t0.st_mtim.tv_nsec == t1.st_mtim.tv_nsec);
    free(runs0), free(runs1), free(files0), free(files1), free(first_target);
    result_free(&r), result_free(&again);
    e->passed = 1;
}

/* ================================================================ 4. kill -9 and resume */

static void test_kill9_resume(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "resume.yaml");
    result r;
    spawn(e, &r, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    long long id = wait_for_training(e, &r);
    assert_int_equal(kill(r.pid, SIGKILL), 0);
    reap(&r);
    assert_int_equal(r.rc, 128 + SIGKILL);
    pid_t dead = r.pid;

    /* the killed run: still 'running' (stale), nothing of it counted as done; the file is intact */
    expect_integrity(e->db);
    t_expect_q(e->db, 1, "SELECT status = 'running' AND attempt = 1 AND finished IS NULL FROM runs WHERE id = %lld", id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM summary WHERE run_id = %lld", id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM artifacts WHERE run_id = %lld", id);
    t_expect_q(e->db, 1, "SELECT test_acc IS NULL FROM results WHERE run_id = %lld", id);
    t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE role = 'auxiliary' AND status = 'done'");
    char *hash = t_qdump(e->db, "SELECT cell_hash FROM runs WHERE id = %lld", id);
    hash[16] = '\0';
    result ls = run(e, "ls", "--db", e->db, NULL);
    expect_rc(&ls, 0);
    expect_contains(&ls, ls.out, "running (stale)");

    /* a temporary checkpoint as a writer killed mid-save would leave it: the rerun removes it */
    char tmp[1024], runsdir[512];
    path_of(runsdir, sizeof runsdir, e->cache, "runs");
    mkdir(runsdir, 0777);
    snprintf(tmp, sizeof tmp, "%s/%s.ckpt.tmp.%ld", runsdir, hash, (long)dead);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs("M2PTCKPT half a file", f);
    fclose(f);

    result again = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&again, 0);
    expect_contains(&again, again.out, "all cells done");
    assert_int_equal(count_lines_with(again.out, hash, "done: test acc"), 1); /* trained again, once */
    assert_int_equal(count_of(again.out, "auxiliary model: "), 0);         /* the auxiliary is not */
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs");
    t_expect_q(e->db, 0, "SELECT count(*) FROM (SELECT cell_hash FROM runs GROUP BY cell_hash HAVING count(*) > 1)");
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done' AND finished IS NOT NULL AND error IS NULL");
    t_expect_q(e->db, 2, "SELECT attempt FROM runs WHERE id = %lld", id);
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE id <> %lld AND attempt = 1", id);
    t_expect_q(e->db, 3, "SELECT count(*) FROM summary");
    expect_no_duplicate_metrics(e->db);
    /* exactly one attempt's metrics: 5 epochs of 512 / 32 = 16 steps */
    t_expect_q(e->db, 80, "SELECT count(*) FROM metrics WHERE run_id = %lld AND key = 'train_loss_step'", id);
    t_expect_q(e->db, 5, "SELECT count(*) FROM epochs WHERE run_id = %lld", id);
    t_expect_q(e->db, 5, "SELECT max(epochs_done) FROM results WHERE run_id = %lld", id);
    expect_integrity(e->db);
    assert_int_equal(expect_artifacts_ok(e->db), 3);
    expect_no_temp_files(e);
    assert_false(exists(tmp));
    /* the restarted run's checkpoint loads and evaluates */
    char *ckpt = t_qdump(e->db, "SELECT path FROM artifacts WHERE run_id = %lld", id);
    ckpt[strcspn(ckpt, ";")] = '\0';
    result ev = run(e, "eval", ckpt, NULL);
    expect_rc(&ev, 0);
    expect_contains(&ev, ev.out, "test accuracy");
    free(hash), free(ckpt);
    result_free(&r), result_free(&ls), result_free(&again), result_free(&ev);
    e->passed = 1;
}

/* ================================================================ 5. -j 2 and a reader */

static void test_jobs_with_reader(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "jobs.yaml");
    result r;
    spawn(e, &r, "run", file, "-j", "2", "--threads", "2", "--db", e->db, "--cache", e->cache, NULL);
    /* read from the moment the experiment is recorded until the run ends */
    char err[2048];
    long long v = 0;
    double t0 = now();
    int done = 0;
    while (!(exists(e->db) && !t_qtry(e->db, &v, "SELECT count(*) FROM experiments WHERE name = 'grid-jobs'", err,
                                     sizeof err) && v == 1)) {
        if ((done = try_reap(&r))) break;
        assert_true(now() - t0 < RUN_TIMEOUT);
        sleep_ms(2);
    }
    int reads = 0, reads_during = 0;
    long long max_running = 0;
    e->quiet = 1;
    while (!done) {
        reads++;
        result q = run(e, "query", "select count(*) from results", "--db", e->db, NULL);
        expect_rc(&q, 0); /* and reap() refuses any "locked" */
        expect_contains(&q, q.out, "count(*)");
        result c = run(e, "compare", "grid-jobs", "--db", e->db, NULL);
        expect_rc(&c, 0);
        result_free(&q), result_free(&c);
        if (!t_qtry(e->db, &v, "SELECT count(*) FROM runs WHERE status = 'running'", err, sizeof err) && v > max_running)
            max_running = v;
        if ((done = try_reap(&r))) break;
        reads_during++;
        sleep_ms(25); /* leave the cores to the workers */
        if (now() - t0 > RUN_TIMEOUT) {
            kill(-r.pid, SIGKILL);
            reap(&r);
            fail_msg("m2pt run -j 2 did not finish within %.0f s", RUN_TIMEOUT);
        }
    }
    e->quiet = 0;
    reap(&r);
    printf("%d query+compare rounds, %d while the run was going; at most %lld runs seen running at once\n", reads,
           reads_during, max_running);
    expect_rc(&r, 0);
    assert_true(reads_during >= 2);
    expect_contains(&r, r.out, "2 workers");
    expect_contains(&r, r.out, "all cells done");
    /* every cell done exactly once: 6 trainings in the output, one attempt each */
    assert_int_equal(count_of(r.out, "done: test acc"), 6);
    t_expect_q(e->db, 6, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1");
    t_expect_q(e->db, 6, "SELECT count(*) FROM runs");
    t_expect_q(e->db, 4, "SELECT count(*) FROM results WHERE experiment = 'grid-jobs' AND role = 'target'");
    t_expect_q(e->db, 2, "SELECT count(*) FROM results WHERE experiment = 'grid-jobs' AND role = 'auxiliary'");
    t_expect_q(e->db, 4, "SELECT count(*) FROM runs t JOIN runs a ON a.id = t.aux_run_id AND a.seed = t.seed "
                       "WHERE t.role = 'target'");
    expect_no_duplicate_metrics(e->db);
    /* 2 epochs of 256 / 32 = 8 steps: 16 losses per target run, each logged once */
    t_expect_q(e->db, 4, "SELECT count(*) FROM (SELECT run_id FROM metrics WHERE key = 'train_loss_step' GROUP BY run_id "
                       "HAVING count(*) = 16)");
    /* two workers trained target cells at the same time */
    assert_true(count_lines_with(r.out, "[w0]", "done: test acc") >= 1);
    assert_true(count_lines_with(r.out, "[w1]", "done: test acc") >= 1);
    t_expect_q(e->db, 2, "SELECT count(DISTINCT pid) FROM runs WHERE role = 'target'");
    assert_true(t_qi(e->db, "SELECT count(*) FROM runs a JOIN runs b ON a.id < b.id WHERE a.role = 'target' AND "
                          "b.role = 'target' AND a.started < b.finished AND b.started < a.finished") >= 1);
    char auxdir[512];
    path_of(auxdir, sizeof auxdir, e->cache, "aux");
    assert_int_equal(count_files(auxdir, ".ckpt"), 2);
    expect_integrity(e->db);
    assert_int_equal(expect_artifacts_ok(e->db), 6);
    expect_no_temp_files(e);
    result_free(&r);
    e->passed = 1;
}

/* ================================================================ 6. Ctrl-C */

static void test_sigint(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "resume.yaml");
    result r;
    spawn(e, &r, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    long long id = wait_for_training(e, &r);
    assert_int_equal(kill(r.pid, SIGINT), 0);
    reap(&r);
    expect_rc(&r, 130);
    expect_contains(&r, r.out, "interrupted; run again to continue");
    expect_contains(&r, r.err, "interrupted: interrupted at epoch");
    t_expect_q(e->db, 1,
             "SELECT status = 'interrupted' AND error LIKE 'interrupted at epoch %% of 5' AND finished IS NOT NULL "
             "FROM runs WHERE id = %lld",
             id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM summary WHERE run_id = %lld", id);
    t_expect_q(e->db, 0, "SELECT count(*) FROM runs WHERE status = 'running'");
    t_expect_q(e->db, 0, "SELECT count(*) FROM runs WHERE role = 'target' AND status = 'done'"); /* stopped there */
    expect_integrity(e->db);

    result again = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&again, 0);
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done' AND error IS NULL");
    t_expect_q(e->db, 2, "SELECT attempt FROM runs WHERE id = %lld", id);
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE id <> %lld AND attempt = 1", id);
    t_expect_q(e->db, 80, "SELECT count(*) FROM metrics WHERE run_id = %lld AND key = 'train_loss_step'", id);
    expect_no_duplicate_metrics(e->db);
    assert_int_equal(expect_artifacts_ok(e->db), 3);
    expect_no_temp_files(e);
    result_free(&r), result_free(&again);
    e->passed = 1;
}

/* Ctrl-C in a terminal reaches the whole process group: the parent and both workers. */
static void test_sigint_group_jobs(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "resume.yaml");
    result r;
    spawn(e, &r, "run", file, "-j", "2", "--threads", "2", "--db", e->db, "--cache", e->cache, NULL);
    wait_for_training(e, &r);
    assert_int_equal(kill(-r.pid, SIGINT), 0);
    reap(&r);
    expect_rc(&r, 130);
    expect_contains(&r, r.out, "interrupted; run again to continue");
    t_expect_q(e->db, 0, "SELECT count(*) FROM runs WHERE status IN ('running', 'failed')");
    long long interrupted = t_qi(e->db, "SELECT count(*) FROM runs WHERE status = 'interrupted'");
    assert_true(interrupted >= 1);
    t_expect_q(e->db, interrupted,
             "SELECT count(*) FROM runs WHERE status = 'interrupted' AND error LIKE 'interrupted at epoch %%'");
    expect_integrity(e->db);

    result again = run(e, "run", file, "-j", "2", "--threads", "2", "--db", e->db, "--cache", e->cache, NULL);
    expect_rc(&again, 0);
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE status = 'done'");
    t_expect_q(e->db, interrupted, "SELECT count(*) FROM runs WHERE attempt = 2");
    t_expect_q(e->db, 3 - interrupted, "SELECT count(*) FROM runs WHERE attempt = 1");
    expect_no_duplicate_metrics(e->db);
    t_expect_q(e->db, 2, "SELECT count(*) FROM (SELECT run_id FROM metrics WHERE key = 'train_loss_step' GROUP BY run_id "
                       "HAVING count(*) = 80)");
    assert_int_equal(expect_artifacts_ok(e->db), 3);
    expect_no_temp_files(e);
    result_free(&r), result_free(&again);
    e->passed = 1;
}

/* ================================================================ 7. failures */

static void test_failing_cell(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "fail.yaml");
    result r = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&r, 1);
    expect_contains(&r, r.out, "some cells failed");
    expect_contains(&r, r.err, " became "); /* the loss or the gradient, whichever overflows first */
    t_expect_q(e->db, 3, "SELECT count(*) FROM runs WHERE role = 'target'");
    long long bad = t_qi(e->db, "SELECT run_id FROM params WHERE key = 'train.lr' AND num = 10");
    t_expect_q(e->db, 1,
             "SELECT status = 'failed' AND error LIKE '%% became %% at step %%' AND finished IS NOT NULL FROM runs "
             "WHERE id = %lld",
             bad);
    char *err = t_qdump(e->db, "SELECT error FROM runs WHERE status = 'failed'");
    printf("failed run: %s", err);
    assert_true(strstr(err, "NaN") || strstr(err, "infinite"));
    free(err);
    /* the cells before and after it are done; nothing is recorded as a result of the failed one */
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE id <> %lld AND status = 'done'", bad);
    t_expect_q(e->db, 0, "SELECT count(*) FROM summary WHERE run_id = %lld", bad);
    t_expect_q(e->db, 0, "SELECT count(*) FROM artifacts WHERE run_id = %lld", bad);
    t_expect_q(e->db, 1, "SELECT min(id) < %lld AND max(id) > %lld FROM runs", bad, bad); /* the middle cell */
    char *hash = t_qdump(e->db, "SELECT cell_hash FROM runs WHERE status = 'failed'");
    hash[16] = '\0';
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/runs/%s.ckpt", e->cache, hash);
    assert_false(exists(ckpt));
    expect_no_temp_files(e);

    /* a rerun tries the failed cell again (and it fails again); the done ones are skipped */
    result again = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&again, 1);
    assert_int_equal(count_of(again.out, "done before, skipped"), 2);
    t_expect_q(e->db, 1, "SELECT status = 'failed' AND attempt = 2 FROM runs WHERE id = %lld", bad);
    t_expect_q(e->db, 2, "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1");
    free(hash);
    result_free(&r), result_free(&again);
    e->passed = 1;
}

static void test_failing_aux(void **state) {
    env_t *e = *state;
    char file[4200];
    grid_file(file, sizeof file, "fail_aux.yaml");
    result r = run(e, "run", file, "--db", e->db, "--cache", e->cache, "--threads", "1", NULL);
    expect_rc(&r, 1);
    expect_contains(&r, r.out, "grid-fail-aux: 3 target cells, 1 auxiliary cells");
    expect_contains(&r, r.err, " became ");
    assert_int_equal(count_of(r.err, "skipped: its auxiliary model"), 2);
    t_expect_q(e->db, 1,
             "SELECT count(*) FROM runs WHERE role = 'auxiliary' AND status = 'failed' AND error LIKE '%% became %% at step %%'");
    t_expect_q(e->db, 1, "SELECT count(*) FROM runs WHERE role = 'target' AND pathway = 'baseline' AND status = 'done'");
    t_expect_q(e->db, 0, "SELECT count(*) FROM runs WHERE role = 'target' AND pathway = 'reparam' AND status = 'done'");
    /* one `m2pt run` tries a failing auxiliary model once, not once more per cell that needs it */
    assert_int_equal(count_of(r.out, "auxiliary model: image"), 1);
    t_expect_q(e->db, 1, "SELECT attempt FROM runs WHERE role = 'auxiliary'");
    char auxdir[512];
    path_of(auxdir, sizeof auxdir, e->cache, "aux");
    assert_true(count_files(auxdir, ".ckpt") <= 0);
    expect_no_temp_files(e);
    result_free(&r);
    e->passed = 1;
}

/* ================================================================ 8. bad input */

static void test_bad_input(void **state) {
    env_t *e = *state;
    static const struct {
        const char *file; /* in the grid directory */
        const char *set;  /* a --set, or NULL */
        const char *at;   /* what follows "m2pt run: FILE" (NULL: any ":LINE:COL: ") */
        const char *what; /* also in the message */
    } cases[] = {
        {"bad_key.yaml", NULL, ":8:3: train.lerning_rate: ", "unknown key (did you mean 'train.lr'?)"},
        {"bad_grid_value.yaml", NULL, ":7:30: train.lr: ", "expected a number, got string 'fast'"},
        {"bad_data_option.yaml", NULL, ":7:52: target.data.trian_size: ", "trian_size"},
        {"bad_aux_option.yaml", NULL, NULL, "patch 5 does not divide"},
        {"bad_zip.yaml", NULL, ":8:5: zip[0]: ", "must have equal lengths"},
        {"bad_grid_point.yaml", NULL, ":5:17: train.min_lr: ", "(grid point: train.lr=1e-06)"},
        {"tiny.yaml", "train.lr=fast", NULL, "--set train.lr=fast: train.lr: expected a number, got string 'fast'"},
        {"tiny.yaml", "grid.seed=[0, -1]", NULL, "--set grid.seed=[0, -1]: seed: -1 is out of range"},
        {"tiny.yaml", "train.lerning_rate=0.1", NULL, "did you mean 'train.lr'?"},
        {"no_such_file.yaml", NULL, NULL, "no_such_file.yaml"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char file[4200], want[4400];
        grid_file(file, sizeof file, cases[i].file);
        result r = cases[i].set
                       ? run(e, "run", file, "--set", cases[i].set, "--db", e->db, "--cache", e->cache, NULL)
                       : run(e, "run", file, "--db", e->db, "--cache", e->cache, NULL);
        expect_rc(&r, 2);
        assert_string_equal(r.out, "");
        assert_int_equal(count_of(r.err, "\n"), 1); /* one line */
        if (cases[i].at) {
            snprintf(want, sizeof want, "m2pt run: %s%s", file, cases[i].at);
            expect_starts(&r, r.err, want);
        } else if (!cases[i].set && strcmp(cases[i].file, "no_such_file.yaml")) {
            /* located, wherever the loader puts it: FILE:LINE:COL: */
            snprintf(want, sizeof want, "m2pt run: %s:", file);
            expect_starts(&r, r.err, want);
            int line = 0, col = 0;
            assert_int_equal(sscanf(r.err + strlen(want), "%d:%d: ", &line, &col), 2);
            assert_true(line > 0 && col > 0);
        }
        expect_contains(&r, r.err, cases[i].what);
        /* nothing was written */
        assert_false(exists(e->db));
        assert_false(exists(e->cache));
        assert_int_equal(count_files(e->dir, ""), 3); /* ".", ".." and log */
        result_free(&r);
    }
    e->passed = 1;
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    const char *build = getenv("M2PT_BUILD"), *data = getenv("M2PT_TEST_DATA");
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", build && *build ? build : "build");
    snprintf(griddir, sizeof griddir, "%s/grid", data && *data ? data : "tests");
    struct stat st;
    if (stat(m2pt, &st) || !(st.st_mode & S_IXUSR)) {
        fprintf(stderr, "test_grid: %s is missing (build it with 'make'; run from the repository root, or set "
                        "M2PT_BUILD to the build directory)\n", m2pt);
        return 1;
    }
    char probe[4200];
    grid_file(probe, sizeof probe, "tiny.yaml");
    if (!exists(probe)) {
        fprintf(stderr, "test_grid: %s is missing (set M2PT_TEST_DATA to the tests directory)\n", probe);
        return 1;
    }
    /* Plugins come from the build tree only: no M2PT_PLUGIN_PATH, a prefix with no plugins. */
    unsetenv("M2PT_PLUGIN_PATH");
    setenv("M2PT_PREFIX", "/nonexistent/m2pt_test_grid", 1);
    unsetenv("M2PT_THREADS");
    signal(SIGPIPE, SIG_IGN);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grid_zip_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_aux, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_with_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint_group_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_cell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_aux, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    kill_leftovers();
    return failed ? 1 : 0;
}
