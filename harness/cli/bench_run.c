/* The measurements of `m2pt bench` (see bench.h). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "adamw.h"
#include "bench.h"
#include "kv.h"
#include "loader.h"
#include "model.h"
#include "threads.h"
#include "util.h"

void openblas_set_num_threads(int num_threads); /* from OpenBLAS; not in cblas.h everywhere */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_sgemm_gflops(int n, int threads, int repeats) {
    size_t nn = (size_t)n * (size_t)n;
    float *a = m2pt_alloc_floats(nn), *b = m2pt_alloc_floats(nn), *c = m2pt_alloc_floats(nn);
    double *t = calloc((size_t)repeats, sizeof *t), g = 0;
    if (a && b && c && t) {
        for (size_t i = 0; i < nn; i++) a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.01f;
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm */
        for (int r = 0; r < repeats; r++) {
            double t0 = m2pt_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            t[r] = m2pt_now() - t0;
        }
        openblas_set_num_threads(1);
        g = 2.0 * n * (double)n * n / median(t, repeats) * 1e-9;
    }
    free(a), free(b), free(c), free(t);
    return g;
}

/* sgemm products per peak measurement beside a training repeat */
#define PEAK_PER_REPEAT 3

double bench_forward_flops(int tokens, int dim, int depth, int mlp_ratio) {
    double T = tokens, D = dim, F = (double)dim * mlp_ratio;
    double linears = 2.0 * T * (3 * D * D + D * D + 2 * F * D); /* qkv, proj, fc1, fc2 */
    double attention = 2.0 * 2.0 * T * T * D;                   /* Q K^T and P V over all heads */
    return depth * (linears + attention);
}

/* One training timing: the mean over `steps` steps of each phase, in ms (v[0..3] = step,
 * forward, backward, AdamW). */
static void time_steps(m2pt_model *m, m2pt_adamw *opt, int batch, int steps, double v[4]) {
    double f = 0, b = 0, o = 0;
    for (int i = 0; i < steps; i++) {
        double t0 = m2pt_now();
        m2pt_model_forward(m, batch);
        double t1 = m2pt_now();
        m2pt_model_backward(m);
        double t2 = m2pt_now();
        m2pt_adamw_step(opt, &m->params, 1e-3f);
        double t3 = m2pt_now();
        f += t1 - t0, b += t2 - t1, o += t3 - t2;
    }
    v[0] = 1e3 * (f + b + o) / steps, v[1] = 1e3 * f / steps, v[2] = 1e3 * b / steps, v[3] = 1e3 * o / steps;
}

/* Seconds per forward pass (what serving a trained model costs), mean over `steps`. */
static double time_forward(m2pt_model *m, int batch, int steps) {
    double t0 = m2pt_now();
    for (int i = 0; i < steps; i++) m2pt_model_forward(m, batch);
    return (m2pt_now() - t0) / steps;
}

/* Training timings of models a (baseline) and b (reparam), repeat by repeat back to back, each
 * repeat after a measurement of the sgemm peak on as many threads. */
static int time_training_pair(m2pt_model *a, m2pt_model *b, const bench_shape *s, int threads,
                              double mflop_per_image, bench_timing *ta, bench_timing *tb) {
    const int r = s->repeats, n = s->batch;
    double *v = calloc((size_t)r * 12, sizeof *v);
    if (!v) return -1;
    m2pt_adamw oa, ob;
    m2pt_adamw_init(&oa, 1e-3f, 0.05f), m2pt_adamw_init(&ob, 1e-3f, 0.05f);
    double w[4];
    time_steps(a, &oa, n, 2, w), time_steps(b, &ob, n, 2, w); /* warm caches and the pool */
    for (int k = 0; k < r; k++) {
        double x[4], y[4];
        const double p = bench_sgemm_gflops(s->sgemm_n, threads, PEAK_PER_REPEAT);
        if (p <= 0) {
            free(v);
            return -1;
        }
        time_steps(a, &oa, n, s->steps, x);
        time_steps(b, &ob, n, s->steps, y);
        for (int q = 0; q < 4; q++) v[q * r + k] = x[q], v[(4 + q) * r + k] = y[q];
        v[8 * r + k] = y[0] / x[0];
        /* MFLOP per step / ms per step = GFLOP/s; its share of the peak p */
        const double mflop = n * mflop_per_image;
        v[9 * r + k] = p, v[10 * r + k] = mflop / x[0] / p, v[11 * r + k] = mflop / y[0] / p;
    }
    ta->step_ms = median(v, r), ta->fwd_ms = median(v + r, r), ta->bwd_ms = median(v + 2 * r, r);
    ta->opt_ms = median(v + 3 * r, r);
    tb->step_ms = median(v + 4 * r, r), tb->fwd_ms = median(v + 5 * r, r), tb->bwd_ms = median(v + 6 * r, r);
    tb->opt_ms = median(v + 7 * r, r), tb->vs_baseline = median(v + 8 * r, r);
    ta->train_img_s = 1e3 * n / ta->step_ms, tb->train_img_s = 1e3 * n / tb->step_ms;
    ta->peak_gflops = tb->peak_gflops = median(v + 9 * r, r);
    ta->peak_share = median(v + 10 * r, r), tb->peak_share = median(v + 11 * r, r);
    free(v);
    return m2pt_model_error(a) || m2pt_model_error(b) ? -1 : 0;
}

/* Inference timings of a (baseline) and b (merged), repeat by repeat back to back. */
static int time_inference_pair(m2pt_model *a, m2pt_model *b, const bench_shape *s, bench_timing *ta,
                               bench_timing *tb) {
    const int r = s->repeats, n = s->batch;
    double *v = calloc((size_t)r * 3, sizeof *v);
    if (!v) return -1;
    time_forward(a, n, 1), time_forward(b, n, 1);
    for (int k = 0; k < r; k++) {
        v[k] = time_forward(a, n, s->steps);
        v[r + k] = time_forward(b, n, s->steps);
        v[2 * r + k] = v[r + k] / v[k];
    }
    ta->infer_img_s = n / median(v, r), tb->infer_img_s = n / median(v + r, r);
    tb->vs_baseline = median(v + 2 * r, r);
    free(v);
    return m2pt_model_error(a) || m2pt_model_error(b) ? -1 : 0;
}

typedef struct {
    m2pt_loaded image, pathway;
    m2pt_kv cfg, path_cfg;
} bench_plugins;

static int open_model(m2pt_model *m, bench_plugins *p, const bench_shape *s, uint64_t seed, const char *aux,
                      char *err, size_t errlen) {
    m2pt_model_options mo = {.shape = {s->dim, s->depth, s->heads, s->mlp_ratio}, .max_batch = s->batch,
                             .label_smoothing = 0.1f, .seed = seed, .aux_path = aux};
    if (m2pt_model_open(m, p->image.desc, &p->cfg, "modality.", p->pathway.desc, &p->path_cfg, "pathway.", &mo, err,
                        errlen))
        return -1;
    long *index = malloc((size_t)s->batch * sizeof *index);
    if (!index) {
        m2pt_model_close(m);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->batch; i++) index[i] = i;
    int rc = m2pt_model_fill(m, M2PT_SPLIT_TRAIN, index, s->batch, 0, seed, err, errlen);
    free(index);
    if (rc) m2pt_model_close(m);
    return rc;
}

static double peak_rss_mb(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) ? 0 : u.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

static void describe(bench_result *res, const char *name, const m2pt_model *m, const bench_shape *s, int nt) {
    snprintf(res->pathway, sizeof res->pathway, "%s", name);
    res->tokens = m->tokens, res->params = m2pt_params_count(&m->params), res->nt = nt;
    res->train_mflop_per_image = 3 * bench_forward_flops(m->tokens, s->dim, s->depth, s->mlp_ratio) * 1e-6;
}

/* Both models open: training pairs at every thread count, then merge, then inference pairs. */
static int time_models(m2pt_model *mb, m2pt_model *mr, const bench_shape *s, const int *threads, int nthreads,
                       bench_result out[3]) {
    describe(&out[0], "baseline", mb, s, nthreads);
    describe(&out[1], "reparam", mr, s, nthreads);
    int rc = 0;
    for (int k = 0; k < nthreads && !rc; k++) {
        m2pt_threads_init(threads[k]);
        out[0].t[k].threads = out[1].t[k].threads = threads[k];
        rc = time_training_pair(mb, mr, s, threads[k], out[0].train_mflop_per_image, &out[0].t[k], &out[1].t[k]);
        for (int p = 0; p < 2; p++) out[p].t[k].train_gflops = out[p].t[k].train_img_s * out[p].train_mflop_per_image * 1e-3;
    }
    if (rc) return rc;
    m2pt_model_merge(mr);
    out[2] = out[1];
    describe(&out[2], "merged", mr, s, nthreads);
    out[2].params = m2pt_model_plain_params(mr);
    for (int k = 0; k < nthreads && !rc; k++) {
        m2pt_threads_init(threads[k]);
        out[2].t[k] = (bench_timing){.threads = threads[k]};
        rc = time_inference_pair(mb, mr, s, &out[0].t[k], &out[2].t[k]);
    }
    return rc;
}

int bench_models(const bench_shape *s, const int *threads, int nthreads, const char *exe_dir, bench_result out[3],
                 double *rss_mb, char *err, size_t errlen) {
    bench_plugins pb = {0}, pr = {0};
    char aux[64] = "/tmp/m2pt-bench-aux-XXXXXX", num[32];
    int fd = -1, rc = -1, open_b = 0, open_r = 0;
    m2pt_model mb, mr;
    if (m2pt_plugin_resolve("image", M2PT_KIND_MODALITY, exe_dir, &pb.image, err, errlen) ||
        m2pt_plugin_resolve("baseline", M2PT_KIND_PATHWAY, exe_dir, &pb.pathway, err, errlen) ||
        m2pt_plugin_resolve("image", M2PT_KIND_MODALITY, exe_dir, &pr.image, err, errlen) ||
        m2pt_plugin_resolve("reparam", M2PT_KIND_PATHWAY, exe_dir, &pr.pathway, err, errlen))
        goto out;
    for (int i = 0; i < 2; i++) {
        m2pt_kv *c = i ? &pr.cfg : &pb.cfg;
        snprintf(num, sizeof num, "%d", s->patch);
        if (m2pt_kv_set(c, "patch", num, "bench") || m2pt_kv_set(c, "val_size", "0", "bench")) goto oom;
        snprintf(num, sizeof num, "%d", s->batch);
        if (m2pt_kv_set(c, "train_size", num, "bench") || m2pt_kv_set(c, "test_size", num, "bench")) goto oom;
    }
    /* The auxiliary model: a randomly initialised plain model of the same shape (its values do
     * not change the cost of a step). It is the baseline model itself, saved before timing. */
    fd = mkstemp(aux);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in /tmp for the auxiliary model");
        goto out;
    }
    if (open_model(&mb, &pb, s, 1, NULL, err, errlen)) goto out;
    open_b = 1;
    if (m2pt_model_save(&mb, aux, 1, err, errlen)) goto out;
    /* peak memory of one model that has trained (what `m2pt train` of this shape needs) */
    m2pt_adamw o;
    m2pt_adamw_init(&o, 1e-3f, 0.05f);
    double w[4];
    time_steps(&mb, &o, s->batch, 1, w);
    *rss_mb = peak_rss_mb();
    if (open_model(&mr, &pr, s, 0, aux, err, errlen)) goto out;
    open_r = 1;
    rc = time_models(&mb, &mr, s, threads, nthreads, out);
    if (rc) snprintf(err, errlen, "%s", m2pt_model_error(&mb)   ? m2pt_model_error(&mb)
                                        : m2pt_model_error(&mr) ? m2pt_model_error(&mr)
                                                                : "out of memory (for a model or the --sgemm-n product)");
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    if (open_b) m2pt_model_close(&mb);
    if (open_r) m2pt_model_close(&mr);
    if (fd >= 0) close(fd), unlink(aux);
    bench_plugins *all[2] = {&pb, &pr};
    for (int i = 0; i < 2; i++) {
        if (all[i]->image.handle) m2pt_plugin_unload(&all[i]->image);
        if (all[i]->pathway.handle) m2pt_plugin_unload(&all[i]->pathway);
        m2pt_kv_free(&all[i]->cfg), m2pt_kv_free(&all[i]->path_cfg);
    }
    return rc;
}
