/* Measurements behind `m2pt bench`: the sgemm peak of the machine and the training/inference
 * throughput of plugin-assembled models (the same code path `m2pt train` and `m2pt run` use).
 * Every figure is the median over repeats, because the machine may be shared and noisy. */
#ifndef M2PT_BENCH_H
#define M2PT_BENCH_H

#include <stddef.h>

/* GFLOP/s of a square n x n x n sgemm on `threads` OpenBLAS threads (median of `repeats`, after
 * an untimed one), or 0 when out of memory. The operands are allocated for the call and freed
 * (so that they never count in a model's peak memory). Leaves OpenBLAS at 1 thread afterwards
 * (the engine's thread pool owns the cores). */
double bench_sgemm_gflops(int n, int threads, int repeats);

typedef struct {
    const char *label;    /* e.g. "default" */
    int dim, depth, heads, mlp_ratio, patch, batch;
    int steps, repeats;   /* per timing: median over repeats of the mean of steps */
    int sgemm_n;          /* size of the peak product timed before each repeat */
} bench_shape;

typedef struct {
    int threads;
    double step_ms, fwd_ms, bwd_ms, opt_ms; /* training step and its phases */
    double train_img_s, train_gflops;       /* images/s, matmul GFLOP/s achieved */
    /* the sgemm peak timed just before each repeat (median over repeats), and the median over
     * repeats of that repeat's GFLOP/s over that peak: the load of a shared machine changes
     * from minute to minute, so the share is measured under the same load */
    double peak_gflops, peak_share;
    double infer_img_s;                     /* forward only, batch as in training */
    /* reparam: median over repeats of (its step time / the baseline's in the same repeat);
     * merged: the same for inference time. 0 for the baseline. */
    double vs_baseline;
} bench_timing;

typedef struct {
    char pathway[16];  /* "baseline", "reparam" or "merged" (reparam folded into plain weights) */
    int tokens;
    size_t params;
    double train_mflop_per_image; /* matmul FLOPs of forward + backward per image */
    bench_timing t[2];
    int nt;
} bench_result;

/* Builds the image-modality model of `shape` with the baseline and the reparam pathway (its
 * auxiliary model a randomly initialised checkpoint of the same shape, written to a temporary
 * file). At each thread count, every repeat times the sgemm peak, the baseline's steps
 * and then the reparam model's, back to back, so that their ratios are measured under the same
 * conditions; then the same for inference of the baseline and of the reparam model after
 * merging. Fills out[0..2] = baseline, reparam, merged (merged has inference timings only), and
 * *rss_mb with the peak resident memory once the baseline model alone has run. 0, or -1 with
 * one line in err. */
int bench_models(const bench_shape *shape, const int *threads, int nthreads, const char *exe_dir,
                 bench_result out[3], double *rss_mb, char *err, size_t errlen);

/* Matmul FLOPs of one forward pass per sample: every block linear and the two attention
 * products (Q K^T and P V). The tokenizer and head (under 1% here) are not counted. */
double bench_forward_flops(int tokens, int dim, int depth, int mlp_ratio);

#endif
