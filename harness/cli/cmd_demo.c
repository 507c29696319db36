/* m2pt demo: trains a small ViT on generated gratings, printing loss and accuracy per epoch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "synthetic.h"
#include "threads.h"
#include "trainer.h"
#include "util.h"

static void demo_usage(FILE *f) {
    fprintf(f,
            "usage: m2pt demo [--epochs N] [--train N] [--seed S] [--threads N] [--lr X]\n"
            "Trains the micro-ViT (dim 64, depth 4, heads 4, mlp 4, patch 4 on 28x28) on generated\n"
            "grating images of 10 orientations and prints train loss and held-out accuracy per epoch.\n"
            "  --epochs N   epochs (default 4)\n"
            "  --train N    training images (default 4096; 1024 held out)\n"
            "  --seed S     seed of data, init and shuffling (default 0)\n"
            "  --threads N  threads (default M2PT_THREADS, else all cores)\n"
            "  --lr X       peak learning rate (default 1e-3)\n");
}

typedef struct {
    m2pt_vit *m;
    const float *val_x;
    const int *val_y;
    int n_val;
} demo_ctx;

static int on_epoch(void *p, const m2pt_epoch_stats *s) {
    demo_ctx *c = p;
    float val_loss;
    float acc = m2pt_eval_arrays(c->m, c->val_x, c->val_y, c->n_val, &val_loss);
    printf("epoch %2d  step %5ld  train loss %.4f  val loss %.4f  val acc %5.1f%%  lr %.2e  %6.0f img/s  %.1fs\n",
           s->epoch, s->step, s->train_loss, val_loss, 100.0 * acc, s->lr, s->samples_per_s, s->seconds);
    fflush(stdout);
    return 0;
}

int cmd_demo(int argc, char **argv) {
    long epochs = 4, n_train = 4096, seed = 0, threads = 0;
    double lr = 1e-3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            demo_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--epochs")) bad = cli_int("demo", a, v, 1, 1000, &epochs), i++;
        else if (!strcmp(a, "--train")) bad = cli_int("demo", a, v, 128, 1000000, &n_train), i++;
        else if (!strcmp(a, "--seed")) bad = cli_int("demo", a, v, 0, 2147483647L, &seed), i++;
        else if (!strcmp(a, "--threads")) bad = cli_int("demo", a, v, 1, 256, &threads), i++;
        else if (!strcmp(a, "--lr")) bad = cli_float("demo", a, v, 1e-7, 1.0, &lr), i++;
        else {
            fprintf(stderr, "m2pt demo: unknown option '%s' (see 'm2pt demo --help')\n", a);
            return 2;
        }
        if (bad) return 2;
    }
    if (cli_threads("demo", threads)) return 2;

    const int H = 28, W = 28, classes = 10, n_val = 1024, batch = 128;
    m2pt_vit_config cfg = {.blocks = {.dim = 64, .depth = 4, .heads = 4, .mlp_ratio = 4},
                           .channels = 1, .height = H, .width = W, .patch = 4, .classes = classes,
                           .label_smoothing = 0.0f};
    int n = (int)n_train + n_val;
    float *x = m2pt_alloc_floats((size_t)n * H * W);
    int *y = malloc((size_t)n * sizeof(int));
    m2pt_vit m;
    if (!x || !y || m2pt_vit_create(&m, &cfg, batch)) {
        fprintf(stderr, "m2pt demo: out of memory\n");
        free(x), free(y);
        return 1;
    }
    m2pt_synthetic_gratings(x, y, n, H, W, classes, 0.3f, (uint64_t)seed);
    m2pt_vit_init(&m, (uint64_t)seed);
    printf("m2pt demo: ViT dim 64 depth 4 heads 4 mlp 4, %zu parameters; %ld train / %d val gratings "
           "(10 classes); batch %d, AdamW lr %.1e, %d threads\n",
           m2pt_params_count(&m.params), n_train, n_val, batch, lr, m2pt_threads_count());
    demo_ctx ctx = {&m, x + (size_t)n_train * H * W, y + n_train, n_val};
    float loss0;
    float acc0 = m2pt_eval_arrays(&m, ctx.val_x, ctx.val_y, n_val, &loss0);
    printf("epoch  0  step     0  (untrained)        val loss %.4f  val acc %5.1f%%\n", loss0, 100.0 * acc0);
    m2pt_train_config tc = {.epochs = (int)epochs, .batch = batch, .lr = (float)lr, .min_lr = (float)lr * 0.01f,
                            .weight_decay = 0.05f, .clip_norm = 1.0f, .warmup_epochs = 0.5f,
                            .seed = (uint64_t)seed};
    int rc = m2pt_train_arrays(&m, &tc, x, y, (int)n_train, on_epoch, &ctx);
    if (rc) fprintf(stderr, "m2pt demo: training failed (out of memory)\n");
    m2pt_vit_free(&m);
    free(x), free(y);
    return rc ? 1 : 0;
}
