/* m2pt bench: the machine's sgemm peak, then training and inference throughput of the default
 * micro-ViT and of a larger shape, with the baseline and the reparam pathway, at 1 thread and at
 * all threads; achieved matmul GFLOP/s as a share of the peak; peak resident memory. A table,
 * or --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "blas.h"
#include "cli.h"
#include "loader.h"
#include "threads.h"
#include "version.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt bench [--shape default|large|all] [--threads N] [--steps N] [--repeats N]\n"
            "                  [--sgemm-n N] [--json]\n"
            "Measures on this machine (median over repeats; the machine may be shared, so run it\n"
            "more than once and compare medians):\n"
            "  - the sgemm peak: an N x N x N product (default 2048) on 1 and on all OpenBLAS threads;\n"
            "  - training throughput (forward + backward + AdamW) of the image model with the\n"
            "    baseline and the reparam pathway, in images/s, and the matmul GFLOP/s it achieves\n"
            "    (block linears + attention products, forward and backward) as %% of the peak (the\n"
            "    peak timed again just before each repeat, on as many threads);\n"
            "  - inference throughput (forward only) of the baseline and of the merged reparam model;\n"
            "  - peak resident memory once one model of the shape has trained.\n"
            "Peak, baseline and reparam (and baseline and merged) are timed back to back in every\n"
            "repeat and their ratios are the medians of the per-repeat ratios, so that load changes\n"
            "between them do not masquerade as a cost or a share.\n"
            "Shapes: default = dim 64, depth 4, heads 4, mlp 4, patch 4 on 28x28 -> 50 tokens,\n"
            "batch 128; large = dim 192, depth 6, heads 3, mlp 4, patch 2 -> 197 tokens, batch 32.\n"
            "\n"
            "  --shape S      default, large, or all (default)\n"
            "  --threads N    only N threads (default: 1 and all threads, M2PT_THREADS or all cores)\n"
            "  --steps N      steps per timing (default 5; large shape: 2)\n"
            "  --repeats N    timings per median (default 5; large shape: 3)\n"
            "  --sgemm-n N    size of the peak product (default 2048)\n"
            "  --json         one JSON object instead of the table\n"
            "Needs the image plugin and the Fashion-MNIST package (make deps). Compare with PyTorch:\n"
            "make bench-torch (../shared/bench/torch_vit_bench.py, Debian's python3-torch).\n");
}

typedef struct {
    bench_shape shape;
    bench_result r[3];
    double rss_mb;
} shape_run;

static void print_table(const shape_run *runs, int nruns, const int *threads, int nthreads, const double *peak) {
    printf("sgemm peak (square product, OpenBLAS, timed last):");
    for (int k = 0; k < nthreads; k++) printf("%s %d thread%s %.1f GFLOP/s", k ? "," : "", threads[k], threads[k] > 1 ? "s" : "", peak[k]);
    printf("\n%%peak: each repeat's GFLOP/s over the peak timed just before it (median of the repeats)\n");
    for (int s = 0; s < nruns; s++) {
        const shape_run *x = &runs[s];
        const bench_shape *sh = &x->shape;
        printf("\n%s: dim %d depth %d heads %d mlp %d, patch %d -> %d tokens, batch %d; %.1f MFLOP/image per "
               "training step; %d x %d steps per median\n",
               sh->label, sh->dim, sh->depth, sh->heads, sh->mlp_ratio, sh->patch, x->r[0].tokens, sh->batch,
               x->r[0].train_mflop_per_image, sh->repeats, sh->steps);
        printf("pathway   params   threads  step ms  forward  backward  adamw  train img/s  GFLOP/s  %%peak  "
               "infer img/s\n");
        for (int p = 0; p < 3; p++)
            for (int k = 0; k < x->r[p].nt; k++) {
                const bench_timing *t = &x->r[p].t[k];
                printf("%-8s %7zu  %7d", x->r[p].pathway, x->r[p].params, t->threads);
                if (p < 2)
                    printf("  %7.2f  %7.2f  %8.2f  %5.2f  %11.0f  %7.1f  %5.1f", t->step_ms, t->fwd_ms, t->bwd_ms,
                           t->opt_ms, t->train_img_s, t->train_gflops, 100.0 * t->peak_share);
                else
                    printf("  %7s  %7s  %8s  %5s  %11s  %7s  %5s", "-", "-", "-", "-", "-", "-", "-");
                if (t->infer_img_s > 0) printf("  %11.0f", t->infer_img_s);
                printf("\n");
            }
        for (int k = 0; k < nthreads; k++) {
            const bench_timing *r = &x->r[1].t[k], *m = &x->r[2].t[k];
            printf("%d thread%s, timed back to back in each repeat: a reparam step costs %+.1f%% of a baseline "
                   "step; merged inference takes %.3fx the baseline's time\n",
                   threads[k], threads[k] > 1 ? "s" : "", 100.0 * (r->vs_baseline - 1), m->vs_baseline);
        }
        printf("peak resident memory with one model of this shape trained: %.0f MB\n", x->rss_mb);
    }
}

static void print_timing_json(const bench_timing *t, int train) {
    printf("{\"threads\": %d", t->threads);
    if (train)
        printf(", \"step_ms\": %.3f, \"forward_ms\": %.3f, \"backward_ms\": %.3f, \"adamw_ms\": %.3f, "
               "\"train_images_per_s\": %.1f, \"train_gflops\": %.2f, \"peak_gflops\": %.2f, \"pct_peak\": %.2f",
               t->step_ms, t->fwd_ms, t->bwd_ms, t->opt_ms, t->train_img_s, t->train_gflops, t->peak_gflops,
               100.0 * t->peak_share);
    printf(", \"infer_images_per_s\": %.1f, \"time_vs_baseline\": %.4f}", t->infer_img_s, t->vs_baseline);
}

static void print_json(const shape_run *runs, int nruns, const int *threads, int nthreads, const double *peak,
                       int sgemm_n) {
    printf("{\"m2pt\": \"%s %s\", \"cores\": %ld, \"blas_kernel\": \"%s\",\n \"sgemm\": [", M2PT_VERSION, m2pt_git_revision(),
           sysconf(_SC_NPROCESSORS_ONLN), m2pt_blas_kernel());
    for (int k = 0; k < nthreads; k++)
        printf("%s{\"n\": %d, \"threads\": %d, \"gflops\": %.2f}", k ? ", " : "", sgemm_n, threads[k], peak[k]);
    printf("],\n \"shapes\": [");
    for (int s = 0; s < nruns; s++) {
        const shape_run *x = &runs[s];
        const bench_shape *sh = &x->shape;
        printf("%s\n  {\"shape\": \"%s\", \"dim\": %d, \"depth\": %d, \"heads\": %d, \"mlp_ratio\": %d, \"patch\": %d, "
               "\"tokens\": %d, \"batch\": %d, \"steps\": %d, \"repeats\": %d, \"train_mflop_per_image\": %.2f, "
               "\"peak_rss_mb\": %.1f, \"results\": [",
               s ? "," : "", sh->label, sh->dim, sh->depth, sh->heads, sh->mlp_ratio, sh->patch, x->r[0].tokens,
               sh->batch, sh->steps, sh->repeats, x->r[0].train_mflop_per_image, x->rss_mb);
        for (int p = 0; p < 3; p++) {
            printf("%s\n   {\"pathway\": \"%s\", \"params\": %zu, \"timings\": [", p ? "," : "", x->r[p].pathway,
                   x->r[p].params);
            for (int k = 0; k < x->r[p].nt; k++) {
                printf("%s", k ? ", " : "");
                print_timing_json(&x->r[p].t[k], p < 2);
            }
            printf("]}");
        }
        printf("]}");
    }
    printf("]}\n");
}

int cmd_bench(int argc, char **argv) {
    long steps = 0, repeats = 0, threads = 0, sgemm_n = 2048;
    const char *which = "all";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--steps")) bad = cli_int("bench", a, v, 1, 10000, &steps), i++;
        else if (!strcmp(a, "--repeats")) bad = cli_int("bench", a, v, 1, 1000, &repeats), i++;
        else if (!strcmp(a, "--threads")) bad = cli_int("bench", a, v, 1, 256, &threads), i++;
        else if (!strcmp(a, "--sgemm-n")) bad = cli_int("bench", a, v, 16, 16384, &sgemm_n), i++;
        else if (!strcmp(a, "--shape") && v && (!strcmp(v, "default") || !strcmp(v, "large") || !strcmp(v, "all")))
            which = v, i++;
        else if (!strcmp(a, "--shape")) {
            fprintf(stderr, "m2pt bench: --shape must be default, large or all (see 'm2pt bench --help')\n");
            return 2;
        } else {
            fprintf(stderr, "m2pt bench: unknown option '%s' (see 'm2pt bench --help')\n", a);
            return 2;
        }
        if (bad) return 2;
    }
    if (cli_threads("bench", 0)) return 2;
    int all = m2pt_threads_count(), counts[2] = {1, all}, nc = all > 1 ? 2 : 1;
    if (threads > 0) counts[0] = (int)threads, nc = 1;

    shape_run runs[2] = {
        {.shape = {"default", 64, 4, 4, 4, 4, 128, steps ? (int)steps : 5, repeats ? (int)repeats : 5}},
        {.shape = {"large", 192, 6, 3, 4, 2, 32, steps ? (int)steps : 2, repeats ? (int)repeats : 3}},
    };
    int first = !strcmp(which, "large") ? 1 : 0, last = !strcmp(which, "default") ? 0 : 1;
    if (!json)
        printf("m2pt bench (%s %s): %ld cores, OpenBLAS kernel %s\n", M2PT_VERSION, m2pt_git_revision(),
               sysconf(_SC_NPROCESSORS_ONLN), m2pt_blas_kernel());
    char err[1200], *exe = m2pt_exe_dir();
    int rc = 0;
    for (int s = first; s <= last && !rc; s++) {
        if (!json) fprintf(stderr, "m2pt bench: timing the %s shape...\n", runs[s].shape.label);
        runs[s].shape.sgemm_n = (int)sgemm_n;
        rc = bench_models(&runs[s].shape, counts, nc, exe, runs[s].r, &runs[s].rss_mb, err, sizeof err);
    }
    free(exe);
    if (rc) {
        fprintf(stderr, "m2pt bench: %s\n", err);
        return 1;
    }
    double peak[2] = {0, 0};
    if (!json) fprintf(stderr, "m2pt bench: timing sgemm %ld^3...\n", sgemm_n);
    for (int k = 0; k < nc; k++) peak[k] = bench_sgemm_gflops((int)sgemm_n, counts[k], 5);
    for (int k = 0; k < nc; k++)
        if (peak[k] <= 0) {
            fprintf(stderr, "m2pt bench: out of memory for the %ld^3 sgemm (try a smaller --sgemm-n)\n", sgemm_n);
            return 1;
        }
    if (json) print_json(runs + first, last - first + 1, counts, nc, peak, (int)sgemm_n);
    else print_table(runs + first, last - first + 1, counts, nc, peak);
    return 0;
}
