/* m2pt bench: training-step timing of the default micro-ViT (forward, backward, AdamW), with
 * the median over repeats because the machine is shared and noisy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adamw.h"
#include "blas.h"
#include "cli.h"
#include "synthetic.h"
#include "threads.h"
#include "util.h"
#include "vit.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double step_ms, fwd_ms, bwd_ms, opt_ms;
} step_times;

/* Median over `repeats` of the mean of `steps` steps, per phase. */
static step_times time_steps(m2pt_vit *m, const float *x, const int *y, int batch, int steps, int repeats) {
    double *s = calloc((size_t)repeats * 4, sizeof(double));
    step_times r = {0};
    if (!s) return r;
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 1e-3f, 0.05f);
    for (int w = 0; w < 2; w++) { /* warm caches and the thread pool */
        m2pt_vit_forward(m, x, y, batch);
        m2pt_vit_backward(m);
        m2pt_adamw_step(&opt, &m->params, 1e-3f);
    }
    for (int rep = 0; rep < repeats; rep++) {
        double f = 0, b = 0, o = 0;
        for (int i = 0; i < steps; i++) {
            double t0 = m2pt_now();
            m2pt_vit_forward(m, x, y, batch);
            double t1 = m2pt_now();
            m2pt_vit_backward(m);
            double t2 = m2pt_now();
            m2pt_adamw_step(&opt, &m->params, 1e-3f);
            double t3 = m2pt_now();
            f += t1 - t0, b += t2 - t1, o += t3 - t2;
        }
        s[rep] = 1e3 * (f + b + o) / steps;
        s[repeats + rep] = 1e3 * f / steps;
        s[2 * repeats + rep] = 1e3 * b / steps;
        s[3 * repeats + rep] = 1e3 * o / steps;
    }
    for (int k = 0; k < 4; k++) qsort(s + k * repeats, (size_t)repeats, sizeof(double), cmp_double);
    r.step_ms = s[repeats / 2];
    r.fwd_ms = s[repeats + repeats / 2];
    r.bwd_ms = s[2 * repeats + repeats / 2];
    r.opt_ms = s[3 * repeats + repeats / 2];
    free(s);
    return r;
}

int cmd_bench(int argc, char **argv) {
    long steps = 5, repeats = 5, threads = 0, batch = 128;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: m2pt bench [--steps N] [--repeats N] [--threads N] [--batch N]\n"
                   "Times training steps (forward + backward + AdamW) of the default micro-ViT: dim 64,\n"
                   "depth 4, heads 4, mlp 4, patch 4 on 28x28 (50 tokens), batch 128; at 1 thread and\n"
                   "at all threads (or only --threads N). Prints the median over repeats of the mean\n"
                   "of N steps.\n");
            return 0;
        } else if (!strcmp(a, "--steps")) bad = cli_int("bench", a, v, 1, 10000, &steps), i++;
        else if (!strcmp(a, "--repeats")) bad = cli_int("bench", a, v, 1, 1000, &repeats), i++;
        else if (!strcmp(a, "--threads")) bad = cli_int("bench", a, v, 1, 256, &threads), i++;
        else if (!strcmp(a, "--batch")) bad = cli_int("bench", a, v, 1, 4096, &batch), i++;
        else {
            fprintf(stderr, "m2pt bench: unknown option '%s' (see 'm2pt bench --help')\n", a);
            return 2;
        }
        if (bad) return 2;
    }
    if (cli_threads("bench", 0)) return 2;
    int all = m2pt_threads_count();
    m2pt_vit_config cfg = {.blocks = {.dim = 64, .depth = 4, .heads = 4, .mlp_ratio = 4},
                           .channels = 1, .height = 28, .width = 28, .patch = 4, .classes = 10};
    m2pt_vit m;
    float *x = m2pt_alloc_floats((size_t)batch * 28 * 28);
    int *y = malloc((size_t)batch * sizeof(int));
    if (!x || !y || m2pt_vit_create(&m, &cfg, (int)batch)) {
        fprintf(stderr, "m2pt bench: out of memory\n");
        free(x), free(y);
        return 1;
    }
    m2pt_synthetic_gratings(x, y, (int)batch, 28, 28, 10, 0.3f, 1);
    m2pt_vit_init(&m, 0);
    printf("m2pt bench: micro-ViT dim 64 depth 4 heads 4 mlp 4, 50 tokens, batch %ld, %zu parameters; "
           "OpenBLAS kernel %s\n",
           batch, m2pt_params_count(&m.params), m2pt_blas_kernel());
    printf("threads  step ms  forward  backward  adamw   images/s   (median of %ld x %ld steps)\n", repeats, steps);
    int counts[2] = {1, all}, nc = all > 1 ? 2 : 1;
    if (threads > 0) counts[0] = (int)threads, nc = 1;
    for (int k = 0; k < nc; k++) {
        m2pt_threads_init(counts[k]);
        step_times t = time_steps(&m, x, y, (int)batch, (int)steps, (int)repeats);
        printf("%7d  %7.2f  %7.2f  %8.2f  %5.2f  %9.0f\n", counts[k], t.step_ms, t.fwd_ms, t.bwd_ms, t.opt_ms,
               t.step_ms > 0 ? 1e3 * batch / t.step_ms : 0);
    }
    m2pt_vit_free(&m);
    free(x), free(y);
    return 0;
}
