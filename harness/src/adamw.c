#include "adamw.h"

#include <math.h>

void m2pt_adamw_init(m2pt_adamw *o, float lr, float weight_decay) {
    o->lr = lr;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = weight_decay;
    o->clip_norm = 0.0f;
    o->step = 0;
}

float m2pt_grad_norm(const m2pt_params *p) {
    double ss = 0.0;
    for (int i = 0; i < p->n; i++) {
        if (p->t[i].frozen) continue;
        const float *g = m2pt_grad(p, i);
        for (size_t j = 0; j < p->t[i].numel; j++) ss += (double)g[j] * g[j];
    }
    return (float)sqrt(ss);
}

float m2pt_adamw_step(m2pt_adamw *o, m2pt_params *p, float lr) {
    float norm = m2pt_grad_norm(p);
    float gscale = 1.0f;
    if (o->clip_norm > 0.0f && norm > o->clip_norm) gscale = o->clip_norm / (norm + 1e-6f); /* as torch */
    o->step++;
    /* PyTorch's order: decay the weight, update the moments, then
     * p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). */
    const double bc1 = 1.0 - pow(o->beta1, (double)o->step);
    const double bc2 = 1.0 - pow(o->beta2, (double)o->step);
    const float sqrt_bc2 = (float)sqrt(bc2);
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (int i = 0; i < p->n; i++) {
        const m2pt_tensor_info *t = &p->t[i];
        if (t->frozen) continue;
        const float rate = lr * t->lr_mult;
        const float step_size = (float)(rate / bc1);
        const float shrink = t->decay ? 1.0f - rate * o->weight_decay : 1.0f;
        float *w = m2pt_param(p, i), *g = m2pt_grad(p, i);
        float *m = p->m + t->offset, *v = p->v + t->offset;
        for (size_t j = 0; j < t->numel; j++) {
            const float gj = g[j] * gscale;
            m[j] = b1 * m[j] + (1.0f - b1) * gj;
            v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
            w[j] = w[j] * shrink - step_size * m[j] / (sqrtf(v[j]) / sqrt_bc2 + eps);
        }
    }
    return norm;
}

float m2pt_lr_at(const m2pt_lr_schedule *s, long step) {
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->base_lr * (float)(step + 1) / (float)s->warmup_steps;
    long span = s->total_steps - s->warmup_steps;
    if (span <= 0) return s->base_lr;
    double progress = (double)(step - s->warmup_steps) / (double)span;
    if (progress > 1.0) progress = 1.0;
    return s->min_lr + 0.5f * (s->base_lr - s->min_lr) * (float)(1.0 + cos(3.14159265358979323846 * progress));
}
