/* Training behaviour of the engine: a tiny model overfits a fixed batch, reruns with the same
 * seed are bit-identical (with 1, 2 or 3 threads alike), a training step allocates nothing, and the step time
 * of the default micro-ViT is reported (printed, never asserted: the machine is shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "adamw.h"
#include "synthetic.h"
#include "threads.h"
#include "trainer.h"
#include "util.h"
#include "vit.h"

/* The test links with -Wl,--wrap for the allocator: every allocation made by the engine (a
 * static library) goes through these counters. */
static int counting;
static long allocations;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n) { allocations += counting; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { allocations += counting; return __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { allocations += counting; return __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { allocations += counting; return __real_posix_memalign(p, a, n); }

static const m2pt_vit_config TINY = {.blocks = {.dim = 32, .depth = 2, .heads = 2, .mlp_ratio = 4},
                                     .channels = 1, .height = 16, .width = 16, .patch = 4, .classes = 4,
                                     .label_smoothing = 0.0f};

typedef struct {
    float *x;
    int *y;
    int n;
} data;

static data make_data(int n, const m2pt_vit_config *c, uint64_t seed) {
    data d = {m2pt_alloc_floats((size_t)n * c->height * c->width), malloc((size_t)n * sizeof(int)), n};
    assert_non_null(d.x);
    assert_non_null(d.y);
    m2pt_synthetic_gratings(d.x, d.y, n, c->height, c->width, c->classes, 0.3f, seed);
    return d;
}

static void free_data(data *d) { free(d->x), free(d->y); }

/* Runs `steps` AdamW steps on one fixed batch; returns the first and last loss. */
static void train_fixed(m2pt_vit *m, const data *d, int steps, float lr, float *first, float *last) {
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, lr, 0.0f);
    for (int s = 0; s < steps; s++) {
        float loss = m2pt_vit_forward(m, d->x, d->y, d->n);
        if (s == 0) *first = loss;
        *last = loss;
        m2pt_vit_backward(m);
        m2pt_adamw_step(&opt, &m->params, lr);
    }
}

static void test_overfits_fixed_batch(void **state) {
    (void)state;
    m2pt_vit m;
    assert_int_equal(m2pt_vit_create(&m, &TINY, 32), 0);
    m2pt_vit_init(&m, 7);
    data d = make_data(32, &TINY, 3);
    float first, last;
    train_fixed(&m, &d, 150, 3e-3f, &first, &last);
    float after = m2pt_vit_forward(&m, d.x, d.y, d.n);
    printf("  overfit: loss %.4f -> %.4f after 150 steps (%.1f%% lower)\n", first, after, 100 * (1 - after / first));
    assert_true(first > 1.0f); /* 4 classes: an untrained model starts near ln 4 = 1.39 */
    assert_true(after < 0.1f * first);
    float loss;
    assert_true(m2pt_eval_arrays(&m, d.x, d.y, d.n, &loss) == 1.0f);
    free_data(&d);
    m2pt_vit_free(&m);
}

/* Trains with the trainer (shuffling, schedule, clipping) and returns a copy of the params. */
static float *train_copy(uint64_t seed, int threads, size_t *n) {
    m2pt_threads_init(threads);
    m2pt_vit m;
    /* batch 32 of 17 tokens: above the blocks' 512-row chunk, so the block stack runs several
     * chunks per step and 3 threads get unequal shares */
    assert_int_equal(m2pt_vit_create(&m, &TINY, 32), 0);
    m2pt_vit_init(&m, seed);
    data d = make_data(128, &TINY, seed);
    m2pt_train_config tc = {.epochs = 2, .batch = 32, .lr = 2e-3f, .min_lr = 1e-5f, .weight_decay = 0.05f,
                            .clip_norm = 1.0f, .warmup_epochs = 0.5f, .seed = seed};
    assert_int_equal(m2pt_train_arrays(&m, &tc, d.x, d.y, d.n, NULL, NULL), 0);
    *n = m.params.total;
    float *copy = malloc(*n * sizeof(float));
    assert_non_null(copy);
    memcpy(copy, m.params.params, *n * sizeof(float));
    free_data(&d);
    m2pt_vit_free(&m);
    return copy;
}

static void test_bit_identical_reruns(void **state) {
    (void)state;
    int counts[3] = {1, 2, 3};
    float *first = NULL;
    size_t n0 = 0;
    for (int k = 0; k < 3; k++) {
        size_t n1, n2, n3;
        float *a = train_copy(11, counts[k], &n1), *b = train_copy(11, counts[k], &n2);
        float *c = train_copy(12, counts[k], &n3);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1 * sizeof(float));
        assert_memory_not_equal(a, c, n1 * sizeof(float)); /* the seed matters */
        printf("  %d thread(s): two runs with seed 11 bit-identical over %zu floats\n", counts[k], n1);
        /* and the thread count does not: the work is cut independently of it */
        if (!first) first = a, n0 = n1, a = NULL;
        else assert_int_equal(n1, n0), assert_memory_equal(a, first, n1 * sizeof(float));
        free(a), free(b), free(c);
    }
    printf("  1, 2 and 3 threads: bit-identical\n");
    free(first);
    m2pt_threads_init(0);
}

static void test_step_allocates_nothing(void **state) {
    (void)state;
    m2pt_vit m;
    assert_int_equal(m2pt_vit_create(&m, &TINY, 16), 0);
    m2pt_vit_init(&m, 1);
    data d = make_data(16, &TINY, 1);
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 1e-3f, 0.05f);
    opt.clip_norm = 1.0f;
    allocations = 0;
    counting = 1;
    for (int s = 0; s < 3; s++) {
        m2pt_vit_forward(&m, d.x, d.y, d.n);
        m2pt_vit_backward(&m);
        m2pt_adamw_step(&opt, &m.params, 1e-3f);
    }
    counting = 0;
    assert_int_equal(allocations, 0);
    /* the counter itself works: creating a model allocates */
    m2pt_vit m2;
    counting = 1;
    assert_int_equal(m2pt_vit_create(&m2, &TINY, 4), 0);
    counting = 0;
    assert_true(allocations > 0);
    m2pt_vit_free(&m2);
    free_data(&d);
    m2pt_vit_free(&m);
}

/* Not a pass/fail check: prints the step time of the default micro-ViT for the log. */
static void test_report_default_step_time(void **state) {
    (void)state;
    const m2pt_vit_config cfg = {.blocks = {.dim = 64, .depth = 4, .heads = 4, .mlp_ratio = 4}, .channels = 1,
                                 .height = 28, .width = 28, .patch = 4, .classes = 10};
    m2pt_vit m;
    assert_int_equal(m2pt_vit_create(&m, &cfg, 128), 0);
    assert_int_equal(m.tokens, 50);
    m2pt_vit_init(&m, 0);
    data d = make_data(128, &cfg, 0);
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 1e-3f, 0.05f);
    double best = 1e9;
    for (int s = 0; s < 4; s++) {
        double t0 = m2pt_now();
        float loss = m2pt_vit_forward(&m, d.x, d.y, d.n);
        m2pt_vit_backward(&m);
        m2pt_adamw_step(&opt, &m.params, 1e-3f);
        double dt = m2pt_now() - t0;
        assert_true(loss > 0.0f);
        if (s > 0 && dt < best) best = dt; /* step 0 warms caches */
    }
    printf("  default micro-ViT (dim 64, depth 4, heads 4, mlp 4, 50 tokens, batch 128), %d threads: "
           "best step %.1f ms = %.0f images/s (see 'm2pt bench' for medians)\n",
           m2pt_threads_count(), 1e3 * best, 128 / best);
    free_data(&d);
    m2pt_vit_free(&m);
}

int main(int argc, char **argv) {
    (void)argc;
    m2pt_blas_select_kernel(argv);
    m2pt_threads_init(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overfits_fixed_batch),
        cmocka_unit_test(test_bit_identical_reruns),
        cmocka_unit_test(test_step_allocates_nothing),
        cmocka_unit_test(test_report_default_step_time),
    };
    int failed = cmocka_run_group_tests_name("training", tests, NULL, NULL);
    m2pt_threads_shutdown();
    return failed ? 1 : 0;
}
