/* The engine's one owner of threads.
 *
 * m2pt never stacks thread pools: OpenBLAS is told to use one thread, and the engine splits
 * every GEMM and elementwise pass itself across a small persistent pool (rows for forward and
 * dX, output features for dW). Work is cut into pieces that do not depend on the thread count
 * (fixed row pieces for OpenBLAS calls, sample chunks and backward groups in the block stack,
 * products whose summation order ignores the split), so results are bit-identical for the same
 * seed with 1 to 4 threads (tests/test_train.c, test_cli.c); beyond 4 threads the block stack's
 * backward uses more groups, and sums partial gradients in another grouping.
 *
 * M2PT_THREADS sets the count (default: all online cores). */
#ifndef M2PT_THREADS_H
#define M2PT_THREADS_H

typedef void (*m2pt_task_fn)(void *ctx, int tid, int nthreads);

/* Start the pool (idempotent; a later call with another count restarts it). n <= 0: read
 * M2PT_THREADS, else all cores. Returns the thread count in use, or -1 on a bad M2PT_THREADS. */
int m2pt_threads_init(int n);
int m2pt_threads_count(void);
/* Run fn(ctx, tid, n) on every thread of the pool (the caller is tid 0) and wait for all.
 * Called from inside a task, it runs fn(ctx, 0, 1) on the calling thread: an op used within
 * a task (e.g. on one thread's share of the samples) simply runs serially. */
void m2pt_parallel(m2pt_task_fn fn, void *ctx);
void m2pt_threads_shutdown(void);

/* Static split of [0, n) into `parts` contiguous ranges: range `i` is [*lo, *hi). When
 * `align` > 1 the boundaries are multiples of align (except the end). */
void m2pt_split(long n, int parts, int i, long align, long *lo, long *hi);

#endif
