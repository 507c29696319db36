/* AdamW (decoupled weight decay, bias correction; PyTorch's update order and formula),
 * learning-rate schedule (linear warm-up, then cosine decay) and global gradient-norm clipping.
 * Per-tensor groups come from the registry: `decay` switches weight decay, `lr_mult` scales
 * the learning rate. */
#ifndef M2PT_ADAMW_H
#define M2PT_ADAMW_H

#include "params.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float clip_norm;  /* <= 0: no clipping */
    long step;        /* completed updates (t in the bias corrections is step + 1) */
} m2pt_adamw;

/* PyTorch defaults: betas (0.9, 0.999), eps 1e-8; lr and weight decay from the caller. */
void m2pt_adamw_init(m2pt_adamw *o, float lr, float weight_decay);
/* Global L2 norm of all gradients. */
float m2pt_grad_norm(const m2pt_params *p);
/* One update at learning rate lr (use m2pt_lr_at for the schedule). Clips first when
 * clip_norm > 0. Returns the gradient norm before clipping. */
float m2pt_adamw_step(m2pt_adamw *o, m2pt_params *p, float lr);

typedef struct {
    float base_lr, min_lr;
    long warmup_steps, total_steps;
} m2pt_lr_schedule;

/* Step s (0-based): s < warmup: base * (s + 1) / warmup; then cosine from base to min_lr over
 * the remaining steps. */
float m2pt_lr_at(const m2pt_lr_schedule *s, long step);

#endif
