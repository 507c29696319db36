/* The per-token reconstruction losses of masked-autoencoder pretraining (mae.h), on one token's
 * prediction at a time. The engine weights and averages them over the masked tokens.
 *
 *   MSE      target normalised per token (mean 0, unbiased variance 1, eps 1e-6: MAE's
 *            norm_pix_loss), l = mean_f (pred_f - t_f)^2
 *   CHAMFER  P = floats / 3 points each side, l = mean_j min_k |p_j - q_k|^2
 *                                            + mean_k min_j |p_j - q_k|^2   (Point-MAE's L2)
 *   CLASS    l = -log softmax(pred)[c], c = the class index stored in target[0]
 */
#ifndef M2PT_MAE_LOSS_H
#define M2PT_MAE_LOSS_H

/* MSE's target normalisation of `rows` tokens of `floats` (>= 2) floats each; dst may alias src. */
void m2pt_recon_normalise(float *dst, const float *src, int rows, int floats);

/* Loss of one token. pred has `out` floats (CLASS: out = classes, else out = floats of the
 * target). With d non-NULL, also writes scale * dl/dpred into d[out] (overwrite). A CLASS
 * target that is not an integer in [0, out) gives NaN (and d untouched). */
double m2pt_recon_token_loss(int kind, const float *pred, const float *target, int out, float scale, float *d);

/* The class index of a CLASS target, or -1 when it is not an integer in [0, classes). */
int m2pt_recon_class(float target, int classes);

#endif
