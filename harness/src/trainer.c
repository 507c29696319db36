#include "trainer.h"

#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

int m2pt_train_arrays(m2pt_vit *m, const m2pt_train_config *cfg, const float *images, const int *labels,
                      int n, m2pt_epoch_fn on_epoch, void *ctx) {
    const int B = cfg->batch;
    const size_t img = (size_t)m->cfg.channels * m->cfg.height * m->cfg.width;
    if (B <= 0 || B > m->max_batch || n < B) return -1;
    const long steps_per_epoch = n / B; /* drop the last partial batch: fixed batch shape */
    int *order = malloc((size_t)n * sizeof(int));
    int *yb = malloc((size_t)B * sizeof(int));
    float *xb = m2pt_alloc_floats((size_t)B * img);
    if (!order || !yb || !xb) {
        free(order), free(yb), free(xb);
        return -1;
    }
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, cfg->lr, cfg->weight_decay);
    opt.clip_norm = cfg->clip_norm;
    m2pt_lr_schedule sched = {.base_lr = cfg->lr, .min_lr = cfg->min_lr,
                              .warmup_steps = (long)(cfg->warmup_epochs * steps_per_epoch),
                              .total_steps = steps_per_epoch * cfg->epochs};
    for (int i = 0; i < n; i++) order[i] = i;
    m2pt_rng rng;
    m2pt_rng_seed(&rng, cfg->seed, 0x5348554646ULL /* "SHUFF" */);
    long step = 0;
    for (int e = 1; e <= cfg->epochs; e++) {
        for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)m2pt_rng_below(&rng, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        double t0 = m2pt_now(), loss_sum = 0.0;
        float lr = cfg->lr;
        for (long s = 0; s < steps_per_epoch; s++, step++) {
            for (int b = 0; b < B; b++) {
                int k = order[s * B + b];
                memcpy(xb + (size_t)b * img, images + (size_t)k * img, img * sizeof(float));
                yb[b] = labels[k];
            }
            loss_sum += m2pt_vit_forward(m, xb, yb, B);
            m2pt_vit_backward(m);
            lr = m2pt_lr_at(&sched, step);
            m2pt_adamw_step(&opt, &m->params, lr);
        }
        double dt = m2pt_now() - t0;
        if (on_epoch) {
            m2pt_epoch_stats st = {.epoch = e, .step = step, .train_loss = (float)(loss_sum / steps_per_epoch),
                                   .lr = lr, .seconds = dt,
                                   .samples_per_s = dt > 0 ? (double)steps_per_epoch * B / dt : 0};
            on_epoch(ctx, &st);
        }
    }
    free(order), free(yb), free(xb);
    return 0;
}

float m2pt_eval_arrays(m2pt_vit *m, const float *images, const int *labels, int n, float *loss) {
    const size_t img = (size_t)m->cfg.channels * m->cfg.height * m->cfg.width;
    const int C = m->cfg.classes;
    long correct = 0;
    double loss_sum = 0.0;
    for (int s = 0; s < n; s += m->max_batch) {
        int B = n - s < m->max_batch ? n - s : m->max_batch;
        loss_sum += (double)m2pt_vit_forward(m, images + (size_t)s * img, labels + s, B) * B;
        for (int b = 0; b < B; b++) {
            const float *z = m->logits + (size_t)b * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (z[c] > z[best]) best = c;
            correct += best == labels[s + b];
        }
    }
    if (loss) *loss = n ? (float)(loss_sum / n) : 0.0f;
    return n ? (float)correct / (float)n : 0.0f;
}
