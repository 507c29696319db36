#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

int m2pt_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int m2pt_nonfinite_step(long step, int epoch, float loss, float grad_norm, char *err, size_t errlen) {
    if (!isfinite(loss))
        snprintf(err, errlen, "loss became %s at step %ld (epoch %d): lower the learning rate?",
                 isnan(loss) ? "NaN" : "infinite", step, epoch);
    else if (!isfinite(grad_norm))
        snprintf(err, errlen, "gradient became %s at step %ld (epoch %d; the loss was %.4g): lower the learning rate?",
                 isnan(grad_norm) ? "NaN" : "infinite", step, epoch, (double)loss);
    else
        return 0;
    return 1;
}

int m2pt_train(const m2pt_trainable *t, long n, const m2pt_train_config *cfg, m2pt_epoch_fn on_epoch, void *ctx,
               char *err, size_t errlen) {
    const int B = cfg->batch;
    if (B <= 0 || n < B) {
        snprintf(err, errlen, "training set of %ld samples is smaller than one batch of %d", n, B);
        return -1;
    }
    const long steps_per_epoch = n / B;
    long *order = malloc((size_t)n * sizeof *order);
    if (!order) {
        snprintf(err, errlen, "out of memory (%ld sample indices)", n);
        return -1;
    }
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, cfg->lr, cfg->weight_decay);
    opt.clip_norm = cfg->clip_norm;
    m2pt_lr_schedule sched = {.base_lr = cfg->lr, .min_lr = cfg->min_lr,
                              .warmup_steps = (long)(cfg->warmup_epochs * (float)steps_per_epoch),
                              .total_steps = steps_per_epoch * cfg->epochs};
    for (long i = 0; i < n; i++) order[i] = i;
    m2pt_rng rng;
    m2pt_rng_seed(&rng, cfg->seed, 0x5348554646ULL /* "SHUFF" */);
    long step = 0;
    int rc = 0;
    for (int e = 1; e <= cfg->epochs && rc == 0; e++) {
        for (long i = n - 1; i > 0; i--) { /* Fisher-Yates */
            long j = (long)(m2pt_rng_u64(&rng) % (uint64_t)(i + 1)), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        double t0 = m2pt_now(), loss_sum = 0.0;
        float lr = cfg->lr, gnorm = 0.0f;
        for (long s = 0; s < steps_per_epoch; s++, step++) {
            /* augmentation stream per step: reproducible whatever happened before */
            uint64_t aug_seed = cfg->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)step;
            if (t->fill(t->ctx, order + s * B, B, cfg->augment, aug_seed, err, errlen)) {
                rc = -1;
                break;
            }
            const float loss = t->forward(t->ctx, B);
            loss_sum += loss;
            t->backward(t->ctx);
            lr = m2pt_lr_at(&sched, step);
            gnorm = m2pt_adamw_step(&opt, t->params, lr);
            if (t->on_step && t->on_step(t->ctx, step + 1, e, loss, lr, gnorm)) {
                rc = 1;
                break;
            }
        }
        if (rc) break;
        double dt = m2pt_now() - t0;
        m2pt_epoch_stats st = {.epoch = e, .step = step, .train_loss = (float)(loss_sum / steps_per_epoch),
                               .lr = lr, .grad_norm = gnorm, .seconds = dt,
                               .samples_per_s = dt > 0 ? (double)steps_per_epoch * B / dt : 0};
        if (on_epoch && on_epoch(ctx, &st)) break;
    }
    free(order);
    return rc;
}

/* --- the ViT reference classifier on arrays ----------------------------------------------- */

typedef struct {
    m2pt_vit *m;
    const float *images;
    const int *labels;
    size_t img;
    float *xb;
    int *yb;
} arrays_ctx;

static int arrays_fill(void *p, const long *index, int n, int augment, uint64_t seed, char *err, size_t errlen) {
    arrays_ctx *a = p;
    for (int b = 0; b < n; b++) {
        memcpy(a->xb + (size_t)b * a->img, a->images + (size_t)index[b] * a->img, a->img * sizeof(float));
        a->yb[b] = a->labels[index[b]];
    }
    return 0;
}

static float arrays_forward(void *p, int n) {
    arrays_ctx *a = p;
    return m2pt_vit_forward(a->m, a->xb, a->yb, n);
}

static void arrays_backward(void *p) { m2pt_vit_backward(((arrays_ctx *)p)->m); }

int m2pt_train_arrays(m2pt_vit *m, const m2pt_train_config *cfg, const float *images, const int *labels, int n,
                      m2pt_epoch_fn on_epoch, void *ctx) {
    if (cfg->batch > m->max_batch) return -1;
    arrays_ctx a = {m, images, labels, (size_t)m->cfg.channels * m->cfg.height * m->cfg.width, NULL, NULL};
    a.xb = m2pt_alloc_floats((size_t)cfg->batch * a.img);
    a.yb = malloc((size_t)cfg->batch * sizeof(int));
    char err[256];
    int rc = -1;
    if (a.xb && a.yb) {
        m2pt_trainable t = {.ctx = &a, .fill = arrays_fill, .forward = arrays_forward, .backward = arrays_backward,
                            .params = &m->params};
        rc = m2pt_train(&t, n, cfg, on_epoch, ctx, err, sizeof err);
    }
    free(a.xb), free(a.yb);
    return rc;
}

float m2pt_eval_arrays(m2pt_vit *m, const float *images, const int *labels, int n, float *loss) {
    const size_t img = (size_t)m->cfg.channels * m->cfg.height * m->cfg.width;
    long correct = 0;
    double loss_sum = 0.0;
    for (int s = 0; s < n; s += m->max_batch) {
        int B = n - s < m->max_batch ? n - s : m->max_batch;
        loss_sum += (double)m2pt_vit_forward(m, images + (size_t)s * img, labels + s, B) * B;
        for (int b = 0; b < B; b++)
            correct += m2pt_argmax(m->logits + (size_t)b * m->cfg.classes, m->cfg.classes) == labels[s + b];
    }
    if (loss) *loss = n ? (float)(loss_sum / n) : 0.0f;
    return n ? (float)correct / (float)n : 0.0f;
}
