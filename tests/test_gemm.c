/* The register-tiled products (harness/src/gemm.c) against a double-precision reference:
 *  - every row and column tail of the micro-tile (M 1..17, N across 1, 15, 16, 17, 31..33, 48),
 *    reductions across the K block (0, 1, 127, 128, 129, 300), A row-major (with padding) and
 *    transposed, starting from zero, from a bias and from C, with and without a residual;
 *  - the three linear entry points against plain loops, at the model's shapes;
 *  - results independent of how the output rows of a weight gradient are split;
 *  - the GELU epilogue against a product followed by m2pt_gelu_forward, the input gradient
 *    through a GELU against a product times m2pt_gelu_forward's derivative;
 *  - the transpose. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gemm.h"
#include "ops.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static float urand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *randv(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = urand();
    return p;
}

/* |got - want| within a few float roundings of the sum of |terms|. */
static void expect_close(float got, double want, double scale, const char *what, int i, int j) {
    const double tol = 1e-6 * (scale + 1.0);
    if (!(fabs((double)got - want) <= tol)) {
        print_error("%s: C[%d][%d] = %.9g, want %.9g (tolerance %.3g)\n", what, i, j, got, want, tol);
        fail();
    }
}

static void check_case(int M, int N, int K, int transposed, int pad, int mode, int with_res) {
    const long lda = transposed ? M + pad : K + pad, ldb = N + pad, ldc = N + 3, ldr = N + 1;
    float *a = randv((size_t)(transposed ? K : M) * lda + 1), *b = randv((size_t)(K ? K : 1) * ldb);
    float *c = randv((size_t)M * ldc), *c0 = malloc((size_t)M * ldc * sizeof(float));
    float *bias = randv((size_t)N), *res = randv((size_t)M * ldr);
    assert_non_null(c0);
    memcpy(c0, c, (size_t)M * ldc * sizeof(float));
    m2pt_gemm_args g = {.c = c, .ldc = ldc, .a = a, .ars = transposed ? 1 : lda, .acs = transposed ? lda : 1,
                        .b = b, .ldb = ldb, .M = M, .N = N, .K = K, .bias = mode == 1 ? bias : NULL,
                        .res = with_res ? res : NULL, .ldr = ldr, .accumulate = mode == 2};
    m2pt_gemm(&g);
    char what[128];
    snprintf(what, sizeof what, "M %d N %d K %d %s pad %d start %s%s", M, N, K, transposed ? "A^T" : "A", pad,
             mode == 0 ? "zero" : mode == 1 ? "bias" : "C", with_res ? " + residual" : "");
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = mode == 2 ? c0[i * ldc + j] : mode == 1 ? bias[j] : 0.0, scale = fabs(s);
            for (int k = 0; k < K; k++) {
                const double t = (double)a[transposed ? k * lda + i : i * lda + k] * b[(long)k * ldb + j];
                s += t, scale += fabs(t);
            }
            if (with_res) s += res[i * ldr + j], scale += fabs(res[i * ldr + j]);
            expect_close(c[i * ldc + j], s, scale, what, i, j);
        }
        for (long j = N; j < ldc; j++) /* the padding between rows is left alone */
            if (c[i * ldc + j] != c0[i * ldc + j]) {
                print_error("%s: wrote C[%d][%ld] outside the %d columns\n", what, i, j, N);
                fail();
            }
    }
    free(a), free(b), free(c), free(c0), free(bias), free(res);
}

static void test_tails_and_modes(void **state) {
    (void)state;
    const int Ns[] = {1, 15, 16, 17, 31, 32, 33, 48};
    const int Ks[] = {0, 1, 127, 128, 129, 300};
    for (int M = 1; M <= 17; M++)
        for (size_t n = 0; n < sizeof Ns / sizeof Ns[0]; n++)
            for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++) {
                const int variant = (int)(M + n + k); /* cycle the options without the full product */
                check_case(M, Ns[n], Ks[k], variant % 2, variant % 3 == 0 ? 0 : 5, variant % 3, (variant / 3) % 2);
            }
    /* every option at one tail-heavy shape */
    for (int t = 0; t < 2; t++)
        for (int mode = 0; mode < 3; mode++)
            for (int r = 0; r < 2; r++) check_case(13, 49, 131, t, 2, mode, r);
}

/* The linear entry points against plain loops at the model's shapes (dim 64 and 192, mlp 4), and
 * one with column tails both ways (20 -> 33). */
static void test_linear_shapes(void **state) {
    (void)state;
    const int shapes[][2] = {{64, 192}, {64, 64}, {64, 256}, {256, 64}, {192, 576}, {768, 192}, {16, 64}, {64, 10},
                             {20, 33}};
    const int N = 400;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int in = shapes[sh][0], out = shapes[sh][1];
        float *x = randv((size_t)N * in), *W = randv((size_t)out * in), *bias = randv((size_t)out);
        float *res = randv((size_t)N * out), *dy = randv((size_t)N * out);
        float *wt = malloc((size_t)in * out * sizeof(float)), *y = malloc((size_t)N * out * sizeof(float));
        float *dx = malloc((size_t)N * in * sizeof(float)), *dW = randv((size_t)out * in);
        float *dW0 = malloc((size_t)out * in * sizeof(float));
        assert_true(wt && y && dx && dW0);
        memcpy(dW0, dW, (size_t)out * in * sizeof(float));
        m2pt_gemm_transpose(wt, W, out, in);
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) assert_true(wt[i * out + o] == W[o * in + i]);
        m2pt_gemm_linear(y, NULL, x, wt, bias, res, N, in, out);
        float *y2 = malloc((size_t)N * out * sizeof(float)), *kept = malloc((size_t)N * out * sizeof(float));
        assert_true(y2 && kept);
        m2pt_gemm_linear(y2, kept, x, wt, bias, res, N, in, out); /* the streamed copy: the same bits */
        assert_memory_equal(y2, y, (size_t)N * out * sizeof(float));
        assert_memory_equal(kept, y, (size_t)N * out * sizeof(float));
        free(y2), free(kept);
        m2pt_gemm_linear_dx(dx, dy, W, NULL, NULL, N, in, out);
        /* through a GELU: dx times gelu'(pre) and gelu(pre) written out, as m2pt_gelu_forward
         * gives them (bit for bit on whole vectors; the column tail's scalar form within ulps) */
        const size_t nx = (size_t)N * in;
        float *pre = randv(nx), *act = malloc(nx * sizeof(float)), *dxg = malloc(nx * sizeof(float));
        float *act2 = malloc(nx * sizeof(float)), *d2 = malloc(nx * sizeof(float));
        assert_true(act && dxg && act2 && d2);
        for (size_t k = 0; k < nx; k++) pre[k] *= 4.0f; /* [-4, 4): across GELU's bend */
        m2pt_gemm_linear_dx(dxg, dy, W, pre, act, N, in, out);
        m2pt_gelu_forward(act2, d2, pre, nx);
        for (size_t k = 0; k < nx; k++) {
            const float want = dx[k] * d2[k];
            if (fabsf(dxg[k] - want) > 1e-6f * (fabsf(want) + fabsf(dx[k])) ||
                fabsf(act[k] - act2[k]) > 1e-6f * (1 + fabsf(act2[k]))) {
                print_error("linear %d -> %d dx through gelu: element %zu: dx %.9g act %.9g; want %.9g %.9g\n", in,
                            out, k, dxg[k], act[k], want, act2[k]);
                fail();
            }
            if (in % 16 == 0) assert_true(dxg[k] == want && act[k] == act2[k]);
        }
        free(pre), free(act), free(dxg), free(act2), free(d2);
        m2pt_gemm_linear_dw(dW, dy, x, N, in, out, 0, out);
        char what[64];
        snprintf(what, sizeof what, "linear %d -> %d", in, out);
        for (int r = 0; r < N; r += 7)
            for (int o = 0; o < out; o++) {
                double s = bias[o] + res[r * out + o], sc = fabs(s);
                for (int i = 0; i < in; i++) s += (double)x[r * in + i] * W[o * in + i], sc += fabs(x[r * in + i]);
                expect_close(y[r * out + o], s, sc, what, r, o);
            }
        for (int r = 0; r < N; r += 7)
            for (int i = 0; i < in; i++) {
                double s = 0, sc = 0;
                for (int o = 0; o < out; o++) s += (double)dy[r * out + o] * W[o * in + i], sc += fabs(dy[r * out + o]);
                expect_close(dx[r * in + i], s, sc, "dx", r, i);
            }
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double s = dW0[o * in + i], sc = fabs(s);
                for (int r = 0; r < N; r++) s += (double)dy[r * out + o] * x[r * in + i], sc += fabs(dy[r * out + o]);
                expect_close(dW[o * in + i], s, sc, "dW", o, i);
            }
        free(x), free(W), free(bias), free(res), free(dy), free(wt), free(y), free(dx), free(dW), free(dW0);
    }
}

/* The weight gradient split by output rows (as threads split it) gives the same bits. */
static void test_dw_split_invariant(void **state) {
    (void)state;
    const int N = 1000, in = 64, out = 256;
    float *x = randv((size_t)N * in), *dy = randv((size_t)N * out);
    float *whole = calloc((size_t)out * in, sizeof(float)), *split = calloc((size_t)out * in, sizeof(float));
    assert_true(whole && split);
    m2pt_gemm_linear_dw(whole, dy, x, N, in, out, 0, out);
    const int cuts[] = {0, 3, 8, 61, 128, 200, 256};
    for (int k = 0; k + 1 < 7; k++) m2pt_gemm_linear_dw(split, dy, x, N, in, out, cuts[k], cuts[k + 1]);
    assert_memory_equal(whole, split, (size_t)out * in * sizeof(float));
    free(x), free(dy), free(whole), free(split);
}

/* The GELU epilogue gives what a product followed by m2pt_gelu_forward gives, column tail too,
 * and streams out the product itself, bit for bit. */
static void test_gelu_epilogue(void **state) {
    (void)state;
    const int shapes[][2] = {{64, 256}, {16, 17}, {33, 48}};
    const int N = 37;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int in = shapes[sh][0], out = shapes[sh][1];
        float *x = randv((size_t)N * in), *W = randv((size_t)out * in), *bias = randv((size_t)out);
        float *wt = malloc((size_t)in * out * sizeof(float)), *h = malloc((size_t)N * out * sizeof(float));
        float *y = malloc((size_t)N * out * sizeof(float)), *pre = malloc((size_t)N * out * sizeof(float));
        float *y2 = malloc((size_t)N * out * sizeof(float)), *g2 = malloc((size_t)N * out * sizeof(float));
        assert_true(wt && h && y && pre && y2 && g2);
        m2pt_gemm_transpose(wt, W, out, in);
        m2pt_gemm_linear(h, NULL, x, wt, bias, NULL, N, in, out);
        m2pt_gelu_forward(y2, g2, h, (size_t)N * out);
        m2pt_gemm_linear_gelu(y, pre, x, wt, bias, N, in, out);
        assert_memory_equal(pre, h, (size_t)N * out * sizeof(float));
        for (int i = 0; i < N * out; i++)
            if (fabsf(y[i] - y2[i]) > 1e-6f * (1 + fabsf(y2[i]))) {
                print_error("linear %d -> %d with gelu: element %d: %.9g; want %.9g\n", in, out, i, y[i], y2[i]);
                fail();
            }
        m2pt_gemm_linear_gelu(y2, NULL, x, wt, bias, N, in, out); /* no copy: the same y */
        assert_memory_equal(y2, y, (size_t)N * out * sizeof(float));
        free(x), free(W), free(bias), free(wt), free(h), free(y), free(pre), free(y2), free(g2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tails_and_modes),
        cmocka_unit_test(test_linear_shapes),
        cmocka_unit_test(test_dw_split_invariant),
        cmocka_unit_test(test_gelu_epilogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
