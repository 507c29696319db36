/* Register-tiled matrix products for the block linears' shapes: a reduction of 64 to a few
 * hundred (the model width), a few hundred rows per chunk. At these sizes OpenBLAS spends a
 * quarter of its time packing both operands on every call (measured: sgemm_*copy 12% of a
 * training step, the kernel 33%); these kernels read A where it lies (one element broadcast per
 * row and step of the reduction) and B as rows of vectors, so only the forward's weight needs
 * a transposed copy, made once per step (m2pt_gemm_transpose). Bias, accumulation into C and a
 * residual are folded into the tile's first load and last store instead of separate passes.
 *
 * Serial: callers split the work between threads. Summation order is fixed (k ascending, in
 * blocks of GEMM_KC), independent of the thread split, so results are deterministic. */
#ifndef M2PT_GEMM_H
#define M2PT_GEMM_H

#include <stddef.h>

/* C[i][j] = (accumulate ? C[i][j] : bias ? bias[j] : 0) + sum_k A(i,k) B(k,j) (+ res[i][j])
 * for i < M, j < N, with A(i,k) = a[i * ars + k * acs] (any strides: row-major A has ars = lda,
 * acs = 1; a transposed one ars = 1, acs = lda) and B(k,j) = b[k * ldb + j] (row-major). */
typedef struct {
    float *c;
    long ldc;
    const float *a;
    long ars, acs;
    const float *b;
    long ldb;
    int M, N, K;
    const float *bias; /* [N] or NULL; ignored when accumulating */
    const float *res;  /* [M, ldr] added to the result, or NULL */
    long ldr;
    int gelu;          /* C = gelu(result) (ops.h's erf form) */
    const float *gelu_pre; /* non-NULL: the result times gelu'(gelu_pre) [M, ldg] (after res), and
                            * gelu(gelu_pre) written to gelu_act [M, ldg]: the backward through a
                            * GELU, both recomputed from its saved input */
    float *gelu_act;
    long ldg;
    float *keep;       /* non-NULL: the result before any GELU (else C itself) also streamed past
                        * the cache to keep [M, ldk]: a copy saved for the backward, while C, in
                        * scratch, feeds the next op from cache */
    long ldk;
    int accumulate;
    int prefetch; /* C and the epilogue's operands are likely cold (stored activations): fetch the
                   * next tile's rows ahead (a cost per tile that hot, short products do not repay) */
} m2pt_gemm_args;

void m2pt_gemm(const m2pt_gemm_args *g);

/* dst [cols, rows] = src [rows, cols] transposed. */
void m2pt_gemm_transpose(float *dst, const float *src, int rows, int cols);

/* y[N, out] = x[N, in] W^T + b (+ res[N, out]), with wt = W^T [in, out] (m2pt_gemm_transpose);
 * also streamed to keep [N, out] when not NULL. */
void m2pt_gemm_linear(float *y, float *keep, const float *x, const float *wt, const float *b, const float *res, int N,
                      int in, int out);

/* h = x W^T + b, then y = gelu(h) (ops.h's erf form); h itself streamed to pre [N, out] when
 * not NULL (a backward recomputes gelu and gelu' from it). */
void m2pt_gemm_linear_gelu(float *y, float *pre, const float *x, const float *wt, const float *b, int N, int in,
                           int out);

/* dx[N, in] = dy[N, out] W, W [out, in]. With pre [N, in] not NULL (x = gelu(pre)): dx times
 * gelu'(pre), and gelu(pre) written to act [N, in] (what the weight gradient of W needs). */
void m2pt_gemm_linear_dx(float *dx, const float *dy, const float *W, const float *pre, float *act, int N, int in,
                         int out);

/* dW[o0:o1, :] += dy[:, o0:o1]^T x over all N rows (dy has `out` columns, x has `in`). */
void m2pt_gemm_linear_dw(float *dW, const float *dy, const float *x, int N, int in, int out, int o0, int o1);

#endif
