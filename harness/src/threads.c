#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads); /* from OpenBLAS; not in cblas.h everywhere */

#define M2PT_MAX_THREADS 256
#define SPIN_ITERS 20000 /* spin briefly before sleeping: steps dispatch hundreds of tasks */

static struct {
    int n;
    pthread_t th[M2PT_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;      /* bumped once per dispatched task */
    atomic_int pending;   /* workers still running the current task */
    atomic_int stop;
    unsigned base_gen;    /* gen when the workers were started: their first 'seen' */
    m2pt_task_fn fn;
    void *ctx;
} pool = {.n = 0, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Set while this thread runs a pool task: a nested m2pt_parallel then runs inline, serially. */
static _Thread_local int in_task;

static void *worker(void *arg) {
    int tid = (int)(long)arg;
    in_task = 1;
    unsigned seen = pool.base_gen;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) continue;
            pthread_mutex_lock(&pool.mu);
            while ((g = atomic_load(&pool.gen)) == seen && !atomic_load(&pool.stop))
                pthread_cond_wait(&pool.cv, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
        if (atomic_load(&pool.stop)) return NULL;
        seen = g;
        pool.fn(pool.ctx, tid, pool.n);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel);
    }
}

static int env_threads(void) {
    const char *s = getenv("M2PT_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 1 || v > M2PT_MAX_THREADS) return -1;
        return (int)v;
    }
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : (c > M2PT_MAX_THREADS ? M2PT_MAX_THREADS : (int)c);
}

void m2pt_threads_shutdown(void) {
    if (pool.n <= 1) {
        pool.n = 0;
        return;
    }
    pthread_mutex_lock(&pool.mu);
    atomic_store(&pool.stop, 1);
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 1; i < pool.n; i++) pthread_join(pool.th[i], NULL);
    atomic_store(&pool.stop, 0);
    pool.n = 0;
}

#define POOL_STACK ((size_t)8 << 20)

int m2pt_threads_init(int n) {
    if (n <= 0) n = env_threads();
    if (n < 0) return -1;
    if (n > M2PT_MAX_THREADS) n = M2PT_MAX_THREADS;
    if (n == pool.n) return n;
    m2pt_threads_shutdown();
    openblas_set_num_threads(1); /* the pool owns the cores; each BLAS call runs on its caller */
    pool.n = 1;
    pool.base_gen = atomic_load(&pool.gen);
    /* Explicit stacks: attention keeps ~0.6 MB of tiles on the stack (attention.c), and the
     * default size follows `ulimit -s`, which may be small (or, unlimited, only 2 MB). */
    pthread_attr_t attr;
    const int have_attr = pthread_attr_init(&attr) == 0;
    if (have_attr) (void)pthread_attr_setstacksize(&attr, POOL_STACK); /* if refused: the default */
    for (int i = 1; i < n; i++) {
        if (pthread_create(&pool.th[i], have_attr ? &attr : NULL, worker, (void *)(long)i) != 0) break;
        pool.n = i + 1;
    }
    if (have_attr) pthread_attr_destroy(&attr);
    return pool.n;
}

int m2pt_threads_count(void) {
    if (pool.n == 0) m2pt_threads_init(0);
    return pool.n > 0 ? pool.n : 1;
}

void m2pt_parallel(m2pt_task_fn fn, void *ctx) {
    int n = m2pt_threads_count();
    if (n == 1 || in_task) {
        fn(ctx, 0, 1);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.pending, n - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    in_task = 1;
    fn(ctx, 0, n);
    in_task = 0;
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
    }
}

void m2pt_split(long n, int parts, int i, long align, long *lo, long *hi) {
    if (align < 1) align = 1;
    long units = (n + align - 1) / align;
    long a = units * i / parts, b = units * (i + 1) / parts;
    *lo = a * align < n ? a * align : n;
    *hi = b * align < n ? b * align : n;
}
