/* Forward/backward pairs of the engine's operators, float32, row-major.
 * Rows are B*T flattened. Backward functions accumulate (+=) into parameter gradients and
 * overwrite (=) input gradients unless noted. Everything runs on the engine's thread pool;
 * nothing allocates. */
#ifndef M2PT_OPS_H
#define M2PT_OPS_H

#include <stddef.h>

/* y[N,out] = x[N,in] W[out,in]^T + b (b may be NULL). */
void m2pt_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in, int out);
/* dx = dy W (dx may be NULL: skipped); dW += dy^T x; db += column sums of dy (dW may be NULL:
 * both skipped; db may be NULL). */
void m2pt_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                          const float *W, int N, int in, int out);

/* y = (x - mean) * rstd * w + b over the last dim C; saves mean and rstd [N]. eps = 1e-5. */
void m2pt_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, int N, int C);
/* The forward's y again from its saved mean and rstd, bit for bit (a backward recomputes it
 * rather than keeping it). */
void m2pt_layernorm_apply(float *y, const float *x, const float *mean, const float *rstd, const float *w,
                          const float *b, int N, int C);
/* dx += ...; dw += ...; db += ... (dx accumulates so it can add into a residual gradient).
 * dx may be NULL (only the parameter gradients), dw NULL (only dx; db is then ignored). */
void m2pt_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *w, int N, int C);
/* The same with dx = dres + ... (written, not accumulated): a residual's gradient and the
 * norm's in one pass, without first copying dres into dx. dx may alias dres. */
void m2pt_layernorm_backward_res(float *dx, const float *dres, float *dw, float *db, const float *dy, const float *x,
                                 const float *mean, const float *rstd, const float *w, int N, int C);

/* GELU, erf form (PyTorch's default): y = x/2 (1 + erf(x / sqrt 2)). Also stores the
 * derivative gelu'(x) into dydx when non-NULL (computing both shares one exp; the backward then
 * is one multiply). y and dydx may each alias x. */
void m2pt_gelu_forward(float *y, float *dydx, const float *x, size_t n);
/* dx = dy * dydx (dydx from the forward). dx may alias dy. */
void m2pt_gelu_backward(float *dx, const float *dy, const float *dydx, size_t n);

/* y += x (residual add; its backward is the identity on both branches). */
void m2pt_residual_forward(float *y, const float *x, size_t n);

/* Limits of the fused attention kernel (its per-thread scratch lives on the stack): tokens
 * and head dim, each padded to a multiple of 16, multiply to at most M2PT_ATT_MAX_TD, and
 * tokens <= M2PT_ATT_MAX_T. ViT-B/16 at 224 px (197 tokens, head dim 64) is 208 * 64 = 13312.
 * m2pt_attention_supported says whether a shape fits. */
#define M2PT_ATT_MAX_TD 16384
#define M2PT_ATT_MAX_T 1024
int m2pt_attention_supported(int tokens, int head_dim);

/* Multi-head self-attention core on fused qkv [B*T, 3D] (q | k | v, head h at columns h*hd),
 * scale 1/sqrt(hd). out [B*T, D]. P: the softmax probabilities saved for the backward,
 * m2pt_attention_p_floats(B, T, H) floats, laid out key-major: per (b, h) a [T, Tp] block whose
 * row j, column i is the probability that query i gives key j (Tp = T rounded up to 16;
 * columns i >= T are padding) -- m2pt_attention_prob reads one. */
void m2pt_attention_forward(float *out, float *P, const float *qkv, int B, int T, int D, int H);
size_t m2pt_attention_p_floats(int B, int T, int H);
static inline float m2pt_attention_prob(const float *P, int T, int H, int b, int h, int i, int j) {
    const long Tp = (T + 15) / 16 * 16;
    return P[(((long)b * H + h) * T + j) * Tp + i];
}
/* d_qkv [B*T, 3D] is overwritten (d_out [B*T, D], P from the forward). */
void m2pt_attention_backward(float *d_qkv, const float *d_out, const float *qkv, const float *P, int B, int T,
                             int D, int H);

/* Softmax cross-entropy with label smoothing eps (PyTorch semantics: target distribution
 * (1 - eps) one-hot + eps / C). probs [N, C] saved; returns the mean loss over N rows. */
float m2pt_crossentropy_forward(float *probs, const float *logits, const int *labels, int N, int C,
                                float smoothing);
/* d_logits = (probs - target) / N. */
void m2pt_crossentropy_backward(float *d_logits, const float *probs, const int *labels, int N,
                                int C, float smoothing);

#endif
