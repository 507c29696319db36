/* Tests of `m2pt report` and the statistics beneath it.
 *
 * Unit tests (no binary needed):
 *  1. the regularized incomplete beta function and Student's t CDF against reference values
 *     computed independently: numerical integration of the densities with mpmath at 30 digits
 *     (tests/reference/t_reference.py prints them), and closed forms for 1 and 2 degrees of
 *     freedom; the two-sided p-value against the same;
 *  2. the t quantiles of `m2pt compare` (stats.c: a table from mpmath, a Cornish-Fisher
 *     expansion beyond 30 df) are where the CDF says 0.975;
 *  3. the paired t-test of Student's sleep data (Cushny & Peebles 1905), whose R output
 *     (`t.test(extra ~ group, data = sleep, paired = TRUE)`) is printed in textbooks:
 *     t = -4.0621, df = 9, p-value = 0.002833, 95% CI -2.4598858 .. -0.7001142, mean -1.58;
 *  4. edge cases: fewer than 2 pairs, no spread, infinities, NaN, bad df.
 *
 * End to end, with the real binary ($M2PT_BUILD/m2pt) on a tiny real grid run once into a
 * mkdtemp directory (tests/report/tiny.yaml: 3 pathways x 3 good seeds + 1 failing seed, 2
 * epochs of 128 images; tests/report/single.yaml: one seed, no baseline, the same cells):
 *  5. determinism: two reports of the same database are identical byte for byte, file by file;
 *  6. the Markdown's structure (sections in order, tables) and its numbers equal those of
 *     `m2pt compare --format csv` on the same database (n, mean, std, CIs, Δ, pairs), and its
 *     p-values equal the p-values recomputed from the CSV (p < 0.05 exactly when the CI of Δ
 *     excludes 0);
 *  7. the failed cells are listed and not averaged (n = 3 of 4 seeds);
 *  8. every SVG and the HTML page are well-formed XML (a small checker below), every figure
 *     the Markdown links exists, the HTML inlines every figure, the charts have what they
 *     should (one line per group, one λ panel per linear);
 *  9. a single seed and no baseline: said so, no intervals, no Δ chart;
 * 10. --baseline: every group against a chosen one (the differences mirror those of the
 *     default report); runs shared with another experiment keep their target.* axis values
 *     (tests/report/shared.yaml);
 * 11. bad input: unknown experiment, output directory that cannot be created, missing
 *     database, unknown option, unknown metric, a --baseline that names no axis or no single
 *     group: exit 2, one line on stderr, nothing written.
 *
 * A failure keeps the temporary directory (its path is printed); M2PT_KEEP_TMP=1 keeps it
 * always. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats.h"
#include "tdist.h"

/* ================================================================ reference values */

/* (t, df, P(T <= t), P(|T| >= |t|)): mpmath, 30 digits, by integrating the density
 * Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) (1 + x²/ν)^(-(ν+1)/2) from t to infinity (mp.quad); the
 * incomplete beta route agreed to 1e-17 (tests/reference/t_reference.py). */
static const struct {
    double t, df, cdf, p2;
} t_ref[] = {
    {0.5, 1, 0.64758361765043327, 0.70483276469913345},
    {2.0, 1, 0.85241638234956673, 0.29516723530086655},
    {1.0, 2, 0.78867513459481288, 0.42264973081037424},
    {3.0, 3, 0.97116555718878135, 0.057668885622437309},
    {2.228138852, 10, 0.97500000000058174, 0.049999999998836525},
    {1.5, 5, 0.90304815987876328, 0.19390368024247343},
    {2.5, 7, 0.97950389070712355, 0.040992218585752897},
    {4.0621, 9, 0.99858349607980492, 0.0028330078403901581},
    {0.1, 4, 0.53742207953027336, 0.92515584093945328},
    {3.5, 15, 0.99838823452810275, 0.0032235309437945009},
    {2.0, 30, 0.97268747751850845, 0.054625044962983104},
    {1.96, 100, 0.97361054931688517, 0.052778901366229666},
    {5.0, 3, 0.99230378096334885, 0.015392438073302301},
    {10.0, 2, 0.99507377148833715, 0.0098524570233256908},
    {6.0, 12, 0.99996891630567571, 6.2167388648585648e-5},
    {1.2, 2.5, 0.83428058116706122, 0.33143883766587756},
    {0.7, 0.5, 0.65729966873961674, 0.68540066252076653},
    {25.0, 4, 0.99999240123711834, 1.5197525763315738e-5},
    {3.0, 1000, 0.9986166454778809, 0.0027667090442381925},
};

/* (a, b, x, I_x(a, b)): mpmath.betainc, checked against quadrature of u^(a-1) (1-u)^(b-1)
 * after u = v^(1/a) (tests/reference/t_reference.py; plain quadrature misses the
 * singularity at 0 when a < 1: it gave 0.79620 for the 0.1, 7, 0.01 case). */
static const struct {
    double a, b, x, i;
} beta_ref[] = {
    {0.5, 0.5, 0.3, 0.36901011956554538}, {2, 3, 0.4, 0.5248},         {5, 0.5, 0.9, 0.31664291502001231},
    {10, 10, 0.5, 0.5},                   {1, 1, 0.25, 0.25},           {0.1, 7, 0.01, 0.79612377179875966},
    {30, 2, 0.97, 0.76191343023199952},
};

static void test_betainc_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof beta_ref / sizeof *beta_ref; i++) {
        double got = m2pt_betainc(beta_ref[i].a, beta_ref[i].b, beta_ref[i].x, 1 - beta_ref[i].x);
        if (fabs(got - beta_ref[i].i) > 1e-12) {
            print_error("I_%g(%g, %g) = %.17g, reference %.17g\n", beta_ref[i].x, beta_ref[i].a, beta_ref[i].b, got,
                        beta_ref[i].i);
            fail();
        }
    }
    /* symmetry I_x(a, b) = 1 - I_{1-x}(b, a), and the ends */
    assert_true(fabs(m2pt_betainc(2.5, 7, 0.2, 0.8) - (1 - m2pt_betainc(7, 2.5, 0.8, 0.2))) < 1e-14);
    assert_true(m2pt_betainc(3, 4, 0, 1) == 0 && m2pt_betainc(3, 4, 1, 0) == 1);
    assert_true(isnan(m2pt_betainc(0, 1, 0.5, 0.5)) && isnan(m2pt_betainc(1, -1, 0.5, 0.5)));
    assert_true(isnan(m2pt_betainc(1, 1, 1.5, -0.5)) && isnan(m2pt_betainc(1, 1, 0.5, 0.6)));
    assert_true(isnan(m2pt_betainc(1, 1, NAN, 0.5)));
}

static void test_t_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof t_ref / sizeof *t_ref; i++) {
        double t = t_ref[i].t, df = t_ref[i].df;
        double cdf = m2pt_t_cdf(t, df), low = m2pt_t_cdf(-t, df), p2 = m2pt_t_p2(t, df), p2n = m2pt_t_p2(-t, df);
        /* absolute 1e-12 on the CDF, relative 1e-10 on the p-value (small p keep their digits) */
        if (fabs(cdf - t_ref[i].cdf) > 1e-12 || fabs(low - (1 - t_ref[i].cdf)) > 1e-12 ||
            fabs(p2 - t_ref[i].p2) > 1e-10 * t_ref[i].p2 || p2 != p2n) {
            print_error("t = %g, df = %g: cdf %.17g (ref %.17g), cdf(-t) %.17g, p %.17g (ref %.17g), p(-t) %.17g\n", t,
                        df, cdf, t_ref[i].cdf, low, p2, t_ref[i].p2, p2n);
            fail();
        }
    }
}

/* df = 1 (Cauchy): F(t) = 1/2 + atan(t)/π; df = 2: F(t) = 1/2 + t / (2 √(2 + t²)). */
static void test_t_closed_forms(void **state) {
    (void)state;
    const double pi = 3.14159265358979323846;
    double prev = 0;
    for (int i = -400; i <= 400; i++) {
        double t = i / 20.0;
        double f1 = 0.5 + atan(t) / pi, f2 = 0.5 + t / (2 * sqrt(2 + t * t));
        double g1 = m2pt_t_cdf(t, 1), g2 = m2pt_t_cdf(t, 2);
        if (fabs(g1 - f1) > 1e-13 || fabs(g2 - f2) > 1e-13) {
            print_error("t = %g: df 1 %.17g vs %.17g, df 2 %.17g vs %.17g\n", t, g1, f1, g2, f2);
            fail();
        }
        double g7 = m2pt_t_cdf(t, 7);
        assert_true(g7 >= prev); /* monotone */
        prev = g7;
    }
    assert_true(m2pt_t_cdf(0, 3) == 0.5 && m2pt_t_p2(0, 3) == 1);
    /* very large df: the normal distribution, Φ(1.959963984540054) = 0.975 */
    assert_true(fabs(m2pt_t_cdf(1.959963984540054, 1e7) - 0.975) < 1e-7);
}

/* The quantiles that `m2pt compare` uses for its intervals. */
static void test_t975_consistent(void **state) {
    (void)state;
    static const int dfs[] = {1, 2, 3, 4, 5, 8, 10, 15, 20, 29, 30, 31, 40, 60, 120, 1000};
    for (size_t i = 0; i < sizeof dfs / sizeof *dfs; i++) {
        double q = m2pt_t975(dfs[i]), c = m2pt_t_cdf(q, dfs[i]);
        if (fabs(c - 0.975) > 1e-8) {
            print_error("df %d: cdf(t975 = %.10g) = %.12g\n", dfs[i], q, c);
            fail();
        }
    }
}

/* Student's sleep data: extra hours of sleep with two drugs, the same 10 patients. */
static void test_paired_sleep(void **state) {
    (void)state;
    const double g1[10] = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
    const double g2[10] = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};
    int64_t k1[10], k2[10];
    for (int i = 0; i < 10; i++) k1[i] = i, k2[i] = 9 - i;
    double g2r[10]; /* group 2 in another order: pairing is by key, not by position */
    for (int i = 0; i < 10; i++) g2r[i] = g2[9 - i];
    m2pt_desc d;
    m2pt_paired(k1, g1, 10, k2, g2r, 10, &d);
    assert_int_equal(d.n, 10);
    assert_true(fabs(d.mean - -1.58) < 1e-12);
    assert_true(fabs(d.mean - d.ci - -2.4598858) < 5e-8 && fabs(d.mean + d.ci - -0.7001142) < 5e-8);
    double t = d.mean / (d.sd / sqrt(10.0));
    assert_true(fabs(t - -4.0621) < 5e-5);
    double p = m2pt_paired_p(&d);
    assert_true(fabs(p - 0.002833) < 5e-7);
}

static void test_p_edge_cases(void **state) {
    (void)state;
    m2pt_desc d = {.n = 1, .mean = 0.5, .sd = NAN, .ci = NAN};
    assert_true(isnan(m2pt_paired_p(&d)));
    d = (m2pt_desc){.n = 4, .mean = 0.01, .sd = 0, .ci = 0};
    assert_true(m2pt_paired_p(&d) == 0); /* identical, non-zero differences */
    d.mean = 0;
    assert_true(isnan(m2pt_paired_p(&d))); /* all zero: no test */
    assert_true(isnan(m2pt_paired_p(NULL)));
    assert_true(m2pt_t_p2(INFINITY, 3) == 0 && m2pt_t_cdf(-INFINITY, 3) == 0 && m2pt_t_cdf(INFINITY, 3) == 1);
    assert_true(isnan(m2pt_t_cdf(NAN, 3)) && isnan(m2pt_t_cdf(1, 0)) && isnan(m2pt_t_p2(1, -2)));
    /* a tiny p-value keeps its digits: df 30, t 12 -> 5.58018541519925606e-13 (mpmath) */
    double p = m2pt_t_p2(12, 30);
    assert_true(fabs(p - 5.58018541519925606e-13) < 1e-10 * 5.58e-13);
}

/* ================================================================ running m2pt */

static char m2pt[4096], datadir[4096];
static char tmpdir[256], db[512], cache[512];
static int keep_tmp;
static int passed; /* end-to-end tests that reached their end: a failure keeps tmpdir */
#define E2E_TESTS 8

typedef struct {
    int rc;
    char *out, *err;
} result;

static char *slurp(const char *path, size_t *len_out) {
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

static void result_free(result *r) { free(r->out), free(r->err); }

/* Runs m2pt ARGS... (NULL-terminated), stdout/stderr captured; at most 180 s. */
static result run(const char *first, ...) {
    const char *argv[32];
    int argc = 0;
    argv[argc++] = m2pt;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char outp[600], errp[600];
    snprintf(outp, sizeof outp, "%s/cmd.out", tmpdir);
    snprintf(errp, sizeof errp, "%s/cmd.err", tmpdir);
    printf("$ m2pt");
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    result r = {.rc = -1};
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0666), err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        execv(m2pt, (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    struct timespec t0, now, nap = {0, 5000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 180) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("m2pt did not finish within 180 s");
        }
        nanosleep(&nap, NULL);
    }
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r.out = slurp(outp, NULL), r.err = slurp(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static void show(const result *r) { print_error("--- stdout:\n%s--- stderr:\n%s---\n", r->out, r->err); }

#define expect_rc(r, want)                                                                                             \
    do {                                                                                                               \
        if ((r).rc != (want)) {                                                                                        \
            print_error("exit status %d, expected %d\n", (r).rc, (want));                                               \
            show(&(r));                                                                                                \
            fail();                                                                                                    \
        }                                                                                                              \
    } while (0)

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int exists(const char *path) {
    struct stat st;
    return !stat(path, &st);
}

static char *file_in(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = slurp(path, NULL);
    assert_non_null(s);
    return s;
}

static void out_dir(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

/* A report of EXP into tmpdir/NAME: exit 0 and the line that names the files. */
static void report_into(const char *exp, const char *name) {
    char dir[600];
    out_dir(dir, sizeof dir, name);
    result r = run("report", exp, "--db", db, "-o", dir, NULL);
    expect_rc(r, 0);
    assert_non_null(strstr(r.out, "report.md"));
    result_free(&r);
}

/* Runs the grid once for all end-to-end tests. */
static int group_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/m2pt_test_report.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(db, sizeof db, "%s/m2pt.db", tmpdir);
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    setenv("M2PT_CACHE_DIR", cache, 1);
    char tiny[4200], single[4200];
    snprintf(tiny, sizeof tiny, "%s/tiny.yaml", datadir);
    snprintf(single, sizeof single, "%s/single.yaml", datadir);
    result r = run("run", tiny, "--db", db, "--cache", cache, "--quiet", NULL);
    int ok = r.rc == 1; /* the failing seed */
    if (!ok) show(&r);
    result_free(&r);
    r = run("run", single, "--db", db, "--cache", cache, "--quiet", NULL);
    ok = ok && r.rc == 0;
    if (r.rc) show(&r);
    result_free(&r);
    snprintf(single, sizeof single, "%s/shared.yaml", datadir);
    r = run("run", single, "--db", db, "--cache", cache, "--quiet", NULL);
    ok = ok && r.rc == 0;
    if (r.rc) show(&r);
    result_free(&r);
    keep_tmp = !ok;
    return ok ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    const char *keep = getenv("M2PT_KEEP_TMP");
    if (keep_tmp || passed != E2E_TESTS || (keep && *keep && strcmp(keep, "0"))) printf("kept %s\n", tmpdir);
    else rm_rf(tmpdir);
    return 0;
}


/* ================================================================ well-formed XML */

static int utf8_ok(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
        if (!n || (n == 2 && *s < 0xc2)) return 0;
        for (int i = 1; i < n; i++)
            if ((s[i] & 0xc0) != 0x80) return 0;
        s += n;
    }
    return 1;
}

static int name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

/* An entity reference at s ('&'): its length, or 0 when it is not one of XML's. */
static int entity(const char *s) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(s, named[i], strlen(named[i]))) return (int)strlen(named[i]);
    if (s[1] != '#') return 0;
    int i = 2, hex = s[2] == 'x';
    if (hex) i++;
    int start = i;
    while ((s[i] >= '0' && s[i] <= '9') || (hex && ((s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))) i++;
    return i > start && s[i] == ';' ? i + 1 : 0;
}

/* Well-formed XML: one root element, tags nested and matched, attributes quoted and unique,
 * no raw '<' or stray '&' in text or values, valid UTF-8. Declarations, comments and a
 * DOCTYPE before the root are skipped. 1 if so, else 0 with the reason in why. */
static int xml_wellformed(const char *s, char *why, size_t n) {
    if (!utf8_ok((const unsigned char *)s)) return snprintf(why, n, "invalid UTF-8"), 0;
    char stack[256][64];
    int depth = 0, roots = 0;
    const char *p = s;
    while (*p) {
        if (*p != '<') {
            if (*p == '&' && !entity(p)) return snprintf(why, n, "stray '&' at byte %td", p - s), 0;
            if (!depth && !strchr(" \t\r\n", *p)) return snprintf(why, n, "text outside the root at byte %td", p - s), 0;
            p++;
            continue;
        }
        if (!strncmp(p, "<?", 2) || !strncmp(p, "<!--", 4) || !strncmp(p, "<!DOCTYPE", 9)) {
            if (depth && strncmp(p, "<!--", 4)) return snprintf(why, n, "declaration inside an element"), 0;
            const char *term = !strncmp(p, "<?", 2) ? "?>" : !strncmp(p, "<!--", 4) ? "-->" : ">";
            const char *end = strstr(p, term);
            if (!end) return snprintf(why, n, "unterminated declaration"), 0;
            p = end + strlen(term);
            continue;
        }
        int closing = p[1] == '/';
        p += 1 + closing;
        if (!name_start(*p)) return snprintf(why, n, "bad tag name at byte %td", p - s), 0;
        char name[64];
        int k = 0;
        while (name_char(*p) && k < 63) name[k++] = *p++;
        name[k] = '\0';
        if (closing) {
            while (*p == ' ') p++;
            if (*p != '>') return snprintf(why, n, "bad end tag </%s", name), 0;
            p++;
            if (!depth || strcmp(stack[depth - 1], name))
                return snprintf(why, n, "</%s> does not close <%s>", name, depth ? stack[depth - 1] : "(nothing)"), 0;
            depth--;
            continue;
        }
        char attrs[64][64];
        int na = 0;
        for (;;) {
            int ws = 0;
            while (strchr(" \t\r\n", *p) && *p) p++, ws = 1;
            if (*p == '>' || (p[0] == '/' && p[1] == '>')) break;
            if (!ws || !name_start(*p)) return snprintf(why, n, "bad attribute in <%s at byte %td", name, p - s), 0;
            char an[64];
            int j = 0;
            while (name_char(*p) && j < 63) an[j++] = *p++;
            an[j] = '\0';
            for (int i = 0; i < na; i++)
                if (!strcmp(attrs[i], an)) return snprintf(why, n, "duplicate attribute %s in <%s", an, name), 0;
            if (na < 64) snprintf(attrs[na++], 64, "%s", an);
            if (*p++ != '=') return snprintf(why, n, "attribute %s of <%s has no value", an, name), 0;
            char q = *p++;
            if (q != '"' && q != '\'') return snprintf(why, n, "unquoted attribute %s of <%s", an, name), 0;
            while (*p && *p != q) {
                if (*p == '<') return snprintf(why, n, "'<' in attribute %s of <%s", an, name), 0;
                if (*p == '&' && !entity(p)) return snprintf(why, n, "stray '&' in attribute %s of <%s", an, name), 0;
                p++;
            }
            if (!*p++) return snprintf(why, n, "unterminated attribute %s of <%s", an, name), 0;
        }
        if (*p == '/') {
            p += 2;
            if (!depth) roots++;
            continue;
        }
        p++;
        if (!depth) roots++;
        if (depth == 256) return snprintf(why, n, "nesting too deep"), 0;
        snprintf(stack[depth++], 64, "%s", name);
    }
    if (depth) return snprintf(why, n, "<%s> is never closed", stack[depth - 1]), 0;
    if (roots != 1) return snprintf(why, n, "%d root elements", roots), 0;
    return 1;
}

static void expect_wellformed(const char *what, const char *text) {
    char why[256];
    if (!xml_wellformed(text, why, sizeof why)) {
        print_error("%s is not well-formed XML: %s\n", what, why);
        fail();
    }
}

/* The checker itself must refuse what is not well-formed (a checker that accepts anything
 * would make the SVG tests unable to fail). */
static void test_xml_checker(void **state) {
    (void)state;
    char why[256];
    assert_true(xml_wellformed("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><text x='2'>a &amp; b &#955;</text></g>"
                               "<rect/></svg>\n",
                               why, sizeof why));
    static const char *const bad[] = {
        "<svg><g></svg>",          "<svg></g></svg>",     "<svg a=1></svg>",        "<svg a=\"1\" a=\"2\"></svg>",
        "<svg>a & b</svg>",        "<svg>a < b</svg>",    "<svg a=\"<\"></svg>",    "<svg/><svg/>",
        "text<svg/>",              "<svg>",               "<svg a=\"x></svg>",      "<svg>\xff</svg>",
        "<svg><g/></svg></svg>",   "<svg x=\"&bogus;\"/>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (xml_wellformed(bad[i], why, sizeof why)) {
            print_error("accepted: %s\n", bad[i]);
            fail();
        }
}

/* ================================================================ Markdown tables and CSV */

typedef struct {
    char cells[64][32][160]; /* rows (the header first), cells */
    int nrows, ncols;
} mdtable;

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ') i++;
    memmove(s, s + i, strlen(s + i) + 1);
}

/* The first table after the line equal to heading: header row and body rows (the delimiter
 * row checked and skipped). 0 when there is none. */
static int md_table_after(const char *md, const char *heading, mdtable *t) {
    memset(t, 0, sizeof *t);
    const char *p = md;
    size_t hl = strlen(heading);
    while ((p = strstr(p, heading)) && !((p == md || p[-1] == '\n') && (p[hl] == '\n'))) p += hl;
    if (!p) return 0;
    p = strstr(p, "\n|");
    if (!p) return 0;
    p++;
    int line = 0;
    while (*p == '|') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (line == 1) { /* delimiter row: dashes, colons, spaces, bars only */
            for (size_t i = 0; i < len; i++)
                if (!strchr("|-: ", p[i])) return 0;
        } else if (t->nrows < 64) {
            int c = 0;
            const char *q = p + 1;
            while (q < p + len && c < 32) {
                const char *bar = q;
                while (bar < p + len && !(*bar == '|' && bar[-1] != '\\')) bar++;
                snprintf(t->cells[t->nrows][c], 160, "%.*s", (int)(bar - q), q);
                trim(t->cells[t->nrows][c]);
                c++;
                q = bar + 1;
            }
            if (t->nrows && c != t->ncols) return 0;
            t->ncols = c;
            t->nrows++;
        }
        line++;
        p += len + (nl != NULL);
    }
    return t->nrows > 0;
}

static int md_col(const mdtable *t, const char *name) {
    for (int j = 0; j < t->ncols; j++)
        if (!strcmp(t->cells[0][j], name)) return j;
    print_error("no column '%s' in the table\n", name);
    fail();
    return -1;
}

/* CSV (RFC 4180, as m2pt writes it) into rows of fields. */
static int csv_parse(const char *s, char rows[][16][160], int maxrows) {
    int r = 0, c = 0;
    size_t k = 0;
    int quoted = 0;
    memset(rows, 0, (size_t)maxrows * sizeof rows[0]);
    for (const char *p = s; *p && r < maxrows; p++) {
        if (quoted) {
            if (*p == '"' && p[1] == '"') {
                if (k < 159) rows[r][c][k++] = '"';
                p++;
            } else if (*p == '"') quoted = 0;
            else if (k < 159) rows[r][c][k++] = *p;
        } else if (*p == '"') quoted = 1;
        else if (*p == ',') c = c < 15 ? c + 1 : c, k = 0;
        else if (*p == '\n') r++, c = 0, k = 0;
        else if (*p != '\r' && k < 159) rows[r][c][k++] = *p;
    }
    return r;
}

static int csv_col(char rows[][16][160], const char *name) {
    for (int j = 0; j < 16; j++)
        if (!strcmp(rows[0][j], name)) return j;
    print_error("no column '%s' in the CSV\n", name);
    fail();
    return -1;
}

/* ================================================================ end-to-end tests */

static void expect_same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    assert_non_null(x);
    assert_non_null(y);
    if (la != lb || memcmp(x, y, la)) {
        print_error("%s and %s differ (%zu and %zu bytes)\n", a, b, la, lb);
        free(x), free(y);
        fail();
    }
    free(x), free(y);
}

static void test_deterministic(void **state) {
    (void)state;
    report_into("report-tiny", "det_a");
    report_into("report-tiny", "det_b");
    report_into("report-tiny", "det_a"); /* again over its own output */
    char a[600], b[600];
    out_dir(a, sizeof a, "det_a"), out_dir(b, sizeof b, "det_b");
    DIR *d = opendir(a);
    assert_non_null(d);
    struct dirent *e;
    int files = 0, svgs = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            /* no temporary file is left behind */
            assert_true(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."));
            continue;
        }
        char fa[1200], fb[1200];
        snprintf(fa, sizeof fa, "%s/%s", a, e->d_name);
        snprintf(fb, sizeof fb, "%s/%s", b, e->d_name);
        expect_same_file(fa, fb);
        files++;
        svgs += strstr(e->d_name, ".svg") != NULL;
    }
    closedir(d);
    /* report.md, report.html, a Δ chart, learning curves, λ of reparam and noaux */
    assert_int_equal(files, 2 + svgs);
    assert_int_equal(svgs, 4);
    int files_b = 0;
    d = opendir(b);
    assert_non_null(d);
    while ((e = readdir(d))) files_b += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files_b, files);
    passed++;
}

/* "[lo, hi]" -> the two texts. */
static void split_interval(const char *s, char *lo, char *hi) {
    assert_int_equal(sscanf(s, "[%31[^,], %31[^]]]", lo, hi), 2);
}

static void fmt_pct(char *buf, size_t n, const char *field, int sign) {
    double v = strtod(field, NULL) * 100 + 0.0;
    snprintf(buf, n, sign ? "%+.2f" : "%.2f", v);
    if (sign && !strcmp(buf, "-0.00")) snprintf(buf, n, "+0.00");
}

static void test_markdown_matches_compare(void **state) {
    (void)state;
    report_into("report-tiny", "cmp");
    char dir[600];
    out_dir(dir, sizeof dir, "cmp");
    char *md = file_in(dir, "report.md");
    /* sections, in order */
    static const char *const heads[] = {"# m2pt report: report-tiny\n", "## Notes\n", "## Results\n",
                                        "## λ per block linear\n", "## Unfinished and failed runs\n",
                                        "## Configuration\n", "### Resolved configuration of the target runs\n",
                                        "### Auxiliary models\n", "### Experiment file\n", "### Provenance\n"};
    const char *prev = md;
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        const char *h = strstr(prev, heads[i]);
        if (!h) {
            print_error("heading '%.*s' missing or out of order\n", (int)strlen(heads[i]) - 1, heads[i]);
            fail();
        }
        prev = h;
    }
    static mdtable t;
    assert_true(md_table_after(md, "## Results", &t));
    assert_int_equal(t.nrows, 4); /* header + baseline, reparam, noaux */
    result r = run("compare", "report-tiny", "--db", db, "--format", "csv", NULL);
    expect_rc(r, 0);
    static char csv[16][16][160];
    int ncsv = csv_parse(r.out, csv, 16);
    assert_int_equal(ncsv, 4);
    int cg = md_col(&t, "pathway.name"), cn = md_col(&t, "n"), cm = md_col(&t, "mean"), cs = md_col(&t, "std"),
        cci = md_col(&t, "95% CI"), cd = md_col(&t, "Δ vs baseline"), cdci = md_col(&t, "95% CI of Δ"),
        cp = md_col(&t, "p"), cpairs = md_col(&t, "pairs");
    int kg = csv_col(csv, "pathway.name"), kn = csv_col(csv, "n"), km = csv_col(csv, "mean"), ks = csv_col(csv, "sd"),
        klo = csv_col(csv, "ci95_lo"), khi = csv_col(csv, "ci95_hi"), kd = csv_col(csv, "diff"),
        kdlo = csv_col(csv, "diff_ci95_lo"), kdhi = csv_col(csv, "diff_ci95_hi"), kdci = csv_col(csv, "diff_ci95"),
        kpairs = csv_col(csv, "pairs"), kbase = csv_col(csv, "is_baseline");
    for (int i = 1; i < t.nrows; i++) {
        int j = 1;
        while (j < ncsv && strcmp(csv[j][kg], t.cells[i][cg])) j++;
        assert_true(j < ncsv);
        char b[64], lo[32], hi[32];
        assert_string_equal(t.cells[i][cn], csv[j][kn]);
        assert_string_equal(t.cells[i][cn], "3"); /* seeds 0-2; the failed seed 3 is not averaged */
        fmt_pct(b, sizeof b, csv[j][km], 0), assert_string_equal(t.cells[i][cm], b);
        fmt_pct(b, sizeof b, csv[j][ks], 0), assert_string_equal(t.cells[i][cs], b);
        split_interval(t.cells[i][cci], lo, hi);
        fmt_pct(b, sizeof b, csv[j][klo], 0), assert_string_equal(lo, b);
        fmt_pct(b, sizeof b, csv[j][khi], 0), assert_string_equal(hi, b);
        if (!strcmp(csv[j][kbase], "1")) {
            assert_string_equal(t.cells[i][cd], "baseline");
            continue;
        }
        fmt_pct(b, sizeof b, csv[j][kd], 1), assert_string_equal(t.cells[i][cd], b);
        split_interval(t.cells[i][cdci], lo, hi);
        fmt_pct(b, sizeof b, csv[j][kdlo], 1), assert_string_equal(lo, b);
        fmt_pct(b, sizeof b, csv[j][kdhi], 1), assert_string_equal(hi, b);
        assert_string_equal(t.cells[i][cpairs], csv[j][kpairs]);
        /* the p-value from the CSV's numbers: se = half-width / t975(k - 1), t = Δ / se */
        int k = atoi(csv[j][kpairs]);
        double diff = strtod(csv[j][kd], NULL), half = strtod(csv[j][kdci], NULL);
        char want[32];
        if (k < 2 || !(half > 0)) {
            snprintf(want, sizeof want, "%s", diff == 0 || k < 2 ? "-" : "0");
        } else {
            double p = m2pt_t_p2(diff / (half / m2pt_t975(k - 1)), k - 1);
            if (p < 0.001) snprintf(want, sizeof want, "%.1e", p);
            else snprintf(want, sizeof want, "%.3f", p);
            /* p < 0.05 exactly when the interval excludes 0 */
            assert_int_equal(p < 0.05, strtod(csv[j][kdlo], NULL) > 0 || strtod(csv[j][kdhi], NULL) < 0);
        }
        assert_string_equal(t.cells[i][cp], want);
    }
    result_free(&r);
    /* the configuration table: every key, the grid axis with its values */
    assert_true(md_table_after(md, "### Resolved configuration of the target runs", &t));
    int found = 0;
    for (int i = 1; i < t.nrows; i++) {
        if (!strcmp(t.cells[i][0], "pathway.name"))
            assert_string_equal(t.cells[i][1], "varies: baseline, reparam, noaux"), found++;
        if (!strcmp(t.cells[i][0], "model.dim")) assert_string_equal(t.cells[i][1], "16"), assert_string_equal(t.cells[i][2], "all"), found++;
    }
    assert_int_equal(found, 2);
    /* the experiment file is quoted in full */
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny.yaml", datadir);
    char *yaml = slurp(path, NULL);
    assert_non_null(yaml);
    assert_non_null(strstr(md, yaml));
    free(yaml);
    free(md);
    passed++;
}

static void test_failed_listed(void **state) {
    (void)state;
    report_into("report-tiny", "failed");
    char dir[600];
    out_dir(dir, sizeof dir, "failed");
    char *md = file_in(dir, "report.md");
    assert_non_null(strstr(md, "2 target runs are not done"));
    assert_non_null(strstr(md, "9 done, 2 failed"));
    static mdtable t;
    assert_true(md_table_after(md, "## Unfinished and failed runs", &t));
    /* every run of the experiment that is not done, from the database */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT run_id, role, status FROM results WHERE experiment = 'report-tiny' "
                                        "AND status != 'done' ORDER BY run_id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        assert_true(n < t.nrows);
        assert_int_equal(atoi(t.cells[n][0]), sqlite3_column_int(st, 0));
        assert_string_equal(t.cells[n][1], (const char *)sqlite3_column_text(st, 1));
        assert_string_equal(t.cells[n][2], (const char *)sqlite3_column_text(st, 2));
        assert_string_equal(t.cells[n][4], "3"); /* the seed */
        assert_non_null(strstr(t.cells[n][6], "NaN"));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_int_equal(n, 3); /* 2 targets and the auxiliary model of seed 3 */
    assert_int_equal(t.nrows, n + 1);
    free(md);
    passed++;
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_svg_wellformed(void **state) {
    (void)state;
    report_into("report-tiny", "svg");
    char dir[600];
    out_dir(dir, sizeof dir, "svg");
    char *md = file_in(dir, "report.md"), *html = file_in(dir, "report.html");
    expect_wellformed("report.html", html);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    /* every linked figure exists, is well-formed, and is inlined in the HTML */
    int figs = 0, curves = 0, lambdas = 0, deltas = 0;
    for (const char *p = md; (p = strstr(p, "](fig-")); p++) {
        char name[128];
        assert_int_equal(sscanf(p + 2, "%127[^)]", name), 1);
        char *svg = file_in(dir, name);
        expect_wellformed(name, svg);
        assert_true(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44));
        /* the HTML has the same element, without the XML declaration */
        assert_non_null(strstr(html, svg + 39));
        if (strstr(name, "curves")) {
            /* one line (and one legend entry) per group */
            assert_int_equal(count_of(svg, "<path fill=\"none\" stroke="), 3);
            assert_non_null(strstr(svg, ">baseline</text>"));
            assert_non_null(strstr(svg, ">reparam</text>"));
            assert_non_null(strstr(svg, ">noaux</text>"));
            assert_non_null(strstr(svg, "<polygon")); /* the bands over seeds */
            curves++;
        }
        if (strstr(name, "lambda")) {
            /* one panel per linear, one line per block (2 blocks x 4 linears) */
            assert_non_null(strstr(svg, ">qkv</text>"));
            assert_non_null(strstr(svg, ">fc2</text>"));
            assert_int_equal(count_of(svg, "<path fill=\"none\" stroke="), 8);
            lambdas++;
        }
        if (strstr(name, "deltas")) {
            assert_int_equal(count_of(svg, "<g><title>"), 2); /* reparam and noaux */
            deltas++;
        }
        figs++;
        free(svg);
    }
    assert_int_equal(figs, 4);
    assert_int_equal(curves + lambdas + deltas, 4);
    assert_int_equal(lambdas, 2);
    assert_int_equal(count_of(html, "<svg "), figs);
    free(md), free(html);
    passed++;
}

static void test_single_no_baseline(void **state) {
    (void)state;
    report_into("report-single", "single");
    char dir[600];
    out_dir(dir, sizeof dir, "single");
    char *md = file_in(dir, "report.md");
    assert_non_null(strstr(md, "No group is a baseline"));
    assert_non_null(strstr(md, "Every group has a single run (one seed): no standard deviation, no confidence interval"));
    static mdtable t;
    assert_true(md_table_after(md, "## Results", &t));
    assert_int_equal(t.nrows, 3);
    for (int i = 1; i < t.nrows; i++) {
        assert_string_equal(t.cells[i][md_col(&t, "n")], "1");
        assert_string_equal(t.cells[i][md_col(&t, "95% CI")], "-");
        assert_string_equal(t.cells[i][md_col(&t, "Δ vs baseline")], "-");
        assert_string_equal(t.cells[i][md_col(&t, "p")], "-");
    }
    assert_null(strstr(md, "deltas.svg")); /* nothing to draw */
    assert_non_null(strstr(md, "curves.svg"));
    free(md);
    passed++;
}

/* --baseline: every group against the chosen one; Δ(baseline vs noaux) is minus Δ(noaux vs
 * baseline) of the default report, interval mirrored, same p and pairs. */
static void test_reference_group(void **state) {
    (void)state;
    char dir[600];
    out_dir(dir, sizeof dir, "ref");
    result r = run("report", "report-tiny", "--db", db, "-o", dir, "--baseline", "pathway.name=noaux", NULL);
    expect_rc(r, 0);
    result_free(&r);
    report_into("report-tiny", "noref");
    char dir0[600];
    out_dir(dir0, sizeof dir0, "noref");
    char *md = file_in(dir, "report.md"), *md0 = file_in(dir0, "report.md");
    assert_non_null(strstr(md, "Reference group: `pathway.name=noaux`"));
    static mdtable t, t0;
    assert_true(md_table_after(md, "## Results", &t));
    assert_true(md_table_after(md0, "## Results", &t0));
    assert_int_equal(t.nrows, 4);
    int cg = md_col(&t, "pathway.name"), cd = md_col(&t, "Δ vs reference"), cci = md_col(&t, "95% CI of Δ"),
        cp = md_col(&t, "p"), cpairs = md_col(&t, "pairs");
    int cd0 = md_col(&t0, "Δ vs baseline"), cci0 = md_col(&t0, "95% CI of Δ"), cp0 = md_col(&t0, "p");
    assert_string_equal(t.cells[1][cg], "noaux"); /* the reference first */
    assert_string_equal(t.cells[1][cd], "reference");
    int i = 1, i0 = 1;
    while (i < t.nrows && strcmp(t.cells[i][cg], "baseline")) i++;
    while (i0 < t0.nrows && strcmp(t0.cells[i0][cg], "noaux")) i0++;
    assert_true(i < t.nrows && i0 < t0.nrows);
    char want[64], lo[32], hi[32], lo0[32], hi0[32];
    double d0 = strtod(t0.cells[i0][cd0], NULL);
    snprintf(want, sizeof want, "%+.2f", -d0 + 0.0);
    if (!strcmp(want, "-0.00")) snprintf(want, sizeof want, "+0.00");
    assert_string_equal(t.cells[i][cd], want);
    split_interval(t.cells[i][cci], lo, hi);
    split_interval(t0.cells[i0][cci0], lo0, hi0);
    assert_true(fabs(strtod(lo, NULL) + strtod(hi0, NULL)) < 0.011 && fabs(strtod(hi, NULL) + strtod(lo0, NULL)) < 0.011);
    assert_string_equal(t.cells[i][cp], t0.cells[i0][cp0]);
    assert_string_equal(t.cells[i][cpairs], "3");
    free(md), free(md0);
    passed++;
}

/* Runs shared with another experiment keep their target.* axis values (tests/report/shared.yaml). */
static void test_shared_runs_axis(void **state) {
    (void)state;
    result r = run("compare", "report-shared", "--db", db, "--by", "target.modality,pathway.name", "--format", "csv", NULL);
    expect_rc(r, 0);
    static char csv[16][16][160];
    int n = csv_parse(r.out, csv, 16);
    assert_int_equal(n, 3);
    assert_string_equal(csv[1][0], "image"), assert_string_equal(csv[1][1], "baseline"), assert_string_equal(csv[1][2], "3");
    assert_string_equal(csv[2][0], "image"), assert_string_equal(csv[2][1], "reparam"), assert_string_equal(csv[2][2], "3");
    result_free(&r);
    /* the premise: these are report-tiny's runs (nothing was trained for report-shared), and
     * the store has no target.modality param for them */
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT count(*), sum(run_id IN (SELECT run_id FROM results WHERE experiment = "
                                        "'report-tiny')), sum(EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.run_id "
                                        "AND p.key = 'target.modality')) FROM results r WHERE experiment = 'report-shared' "
                                        "AND role = 'target'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 6);
    assert_int_equal(sqlite3_column_int(st, 1), 6);
    assert_int_equal(sqlite3_column_int(st, 2), 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    passed++;
}

static void expect_one_line(const result *r, const char *needle) {
    size_t n = strlen(r->err);
    if (!n || r->err[n - 1] != '\n' || strchr(r->err, '\n') != r->err + n - 1 || !strstr(r->err, needle)) {
        print_error("expected one line on stderr containing \"%s\"\n", needle);
        show(r);
        fail();
    }
}

static void test_bad_input(void **state) {
    (void)state;
    char dir[600], file[600], under[700];
    out_dir(dir, sizeof dir, "never");
    result r = run("report", "no-such-experiment", "--db", db, "-o", dir, NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "no experiment 'no-such-experiment'");
    assert_false(exists(dir));
    result_free(&r);

    /* a path through a regular file cannot become a directory (even for root) */
    out_dir(file, sizeof file, "a-file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(under, sizeof under, "%s/report", file);
    r = run("report", "report-tiny", "--db", db, "-o", under, NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "a-file");
    result_free(&r);
    r = run("report", "report-tiny", "--db", db, "-o", file, NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "not a directory");
    result_free(&r);

    char missing[600];
    out_dir(missing, sizeof missing, "missing.db");
    r = run("report", "report-tiny", "--db", missing, "-o", dir, NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "no database");
    assert_false(exists(missing));
    result_free(&r);

    r = run("report", "report-tiny", "--db", db, "-o", dir, "--metric", "no_such_metric", NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "unknown metric 'no_such_metric'");
    result_free(&r);
    r = run("report", "report-tiny", "--db", db, "-o", dir, "--baseline", "seed=0", NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "'seed' is not a grouping axis");
    result_free(&r);
    r = run("report", "report-tiny", "--db", db, "-o", dir, "--baseline", "pathway.name=nope", NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "matches 0 of the 3 groups");
    result_free(&r);
    r = run("report", "report-tiny", "--db", db, "--bogus", NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "unknown option '--bogus'");
    result_free(&r);
    r = run("report", "--db", db, NULL);
    expect_rc(r, 2);
    expect_one_line(&r, "missing experiment name");
    result_free(&r);
    assert_false(exists(dir));

    r = run("report", "--help", NULL);
    expect_rc(r, 0);
    assert_non_null(strstr(r.out, "usage: m2pt report EXP"));
    result_free(&r);
    passed++;
}

int main(void) {
    const char *build = getenv("M2PT_BUILD"), *data = getenv("M2PT_TEST_DATA");
    snprintf(m2pt, sizeof m2pt, "%s/m2pt", build && *build ? build : "build");
    snprintf(datadir, sizeof datadir, "%s/report", data && *data ? data : "tests");
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_betainc_reference), cmocka_unit_test(test_t_reference),
        cmocka_unit_test(test_t_closed_forms),    cmocka_unit_test(test_t975_consistent),
        cmocka_unit_test(test_paired_sleep),      cmocka_unit_test(test_p_edge_cases),
        cmocka_unit_test(test_xml_checker),
    };
    int failed = cmocka_run_group_tests_name("statistics", unit, NULL, NULL);
    struct stat st;
    if (stat(m2pt, &st) || !(st.st_mode & S_IXUSR)) {
        fprintf(stderr, "test_report: %s is missing (build it with 'make'; run from the repository root, or set "
                        "M2PT_BUILD)\n", m2pt);
        return 1;
    }
    unsetenv("M2PT_PLUGIN_PATH");
    unsetenv("M2PT_THREADS");
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest e2e[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_markdown_matches_compare),
        cmocka_unit_test(test_failed_listed),
        cmocka_unit_test(test_svg_wellformed),
        cmocka_unit_test(test_single_no_baseline),
        cmocka_unit_test(test_reference_group),
        cmocka_unit_test(test_shared_runs_axis),
        cmocka_unit_test(test_bad_input),
    };
    int failed2 = cmocka_run_group_tests_name("m2pt report", e2e, group_setup, group_teardown);
    return failed || failed2 ? 1 : 0;
}
