/* The measurements of `m2pt bench` (see bench.h). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

double bench_forward_flops(int tokens, int dim, int depth, int mlp_ratio) {
    double T = tokens, D = dim, F = (double)dim * mlp_ratio;
    double linears = 2.0 * T * (3 * D * D + D * D + 2 * F * D); /* qkv, proj, fc1, fc2 */
    double attention = 2.0 * 2.0 * T * T * D;                   /* Q K^T and P V over all heads */
    return depth * (linears + attention);
}

/* Timings of training steps (forward, backward, AdamW) on the batch already in m->raw. */
static int time_training(m2pt_model *m, int batch, const bench_shape *s, bench_timing *out) {
    int r = s->repeats;
    double *v = calloc((size_t)r * 4, sizeof *v);
    if (!v) return -1;
    m2pt_adamw opt;
    m2pt_adamw_init(&opt, 1e-3f, 0.05f);
    for (int w = 0; w < 2; w++) { /* warm caches and the pool */
        m2pt_model_forward(m, batch);
        m2pt_model_backward(m);
        m2pt_adamw_step(&opt, &m->params, 1e-3f);
    }
    for (int k = 0; k < r; k++) {
        double f = 0, b = 0, o = 0;
        for (int i = 0; i < s->steps; i++) {
            double t0 = m2pt_now();
            m2pt_model_forward(m, batch);
            double t1 = m2pt_now();
            m2pt_model_backward(m);
            double t2 = m2pt_now();
            m2pt_adamw_step(&opt, &m->params, 1e-3f);
            double t3 = m2pt_now();
            f += t1 - t0, b += t2 - t1, o += t3 - t2;
        }
        v[k] = 1e3 * (f + b + o) / s->steps;
        v[r + k] = 1e3 * f / s->steps, v[2 * r + k] = 1e3 * b / s->steps, v[3 * r + k] = 1e3 * o / s->steps;
    }
    out->step_ms = median(v, r), out->fwd_ms = median(v + r, r);
    out->bwd_ms = median(v + 2 * r, r), out->opt_ms = median(v + 3 * r, r);
    out->train_img_s = out->step_ms > 0 ? 1e3 * batch / out->step_ms : 0;
    free(v);
    return m2pt_model_error(m) ? -1 : 0;
}

/* Images/s of forward passes alone (what serving a trained model costs). */
static int time_inference(m2pt_model *m, int batch, const bench_shape *s, double *img_s) {
    int r = s->repeats;
    double *v = calloc((size_t)r, sizeof *v);
    if (!v) return -1;
    m2pt_model_forward(m, batch);
    for (int k = 0; k < r; k++) {
        double t0 = m2pt_now();
        for (int i = 0; i < s->steps; i++) m2pt_model_forward(m, batch);
        v[k] = (m2pt_now() - t0) / s->steps;
    }
    double t = median(v, r);
    *img_s = t > 0 ? batch / t : 0;
    free(v);
    return m2pt_model_error(m) ? -1 : 0;
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

/* Times one pathway: training at every thread count, then inference (after merging when
 * `merged` is given). */
static int bench_pathway(bench_plugins *p, const bench_shape *s, const char *aux, const int *threads, int nthreads,
                         bench_result *res, bench_result *merged, char *err, size_t errlen) {
    m2pt_model m;
    if (open_model(&m, p, s, 0, aux, err, errlen)) return -1;
    snprintf(res->pathway, sizeof res->pathway, "%s", p->pathway.desc->name);
    res->tokens = m.tokens, res->params = m2pt_params_count(&m.params), res->nt = nthreads;
    res->train_mflop_per_image = 3 * bench_forward_flops(m.tokens, s->dim, s->depth, s->mlp_ratio) * 1e-6;
    int rc = 0;
    for (int k = 0; k < nthreads && !rc; k++) {
        m2pt_threads_init(threads[k]);
        res->t[k].threads = threads[k];
        rc = time_training(&m, s->batch, s, &res->t[k]);
        res->t[k].train_gflops = res->t[k].train_img_s * res->train_mflop_per_image * 1e-3;
        if (!rc && !merged) rc = time_inference(&m, s->batch, s, &res->t[k].infer_img_s);
    }
    if (!rc && merged) {
        m2pt_model_merge(&m);
        *merged = *res;
        snprintf(merged->pathway, sizeof merged->pathway, "merged");
        merged->params = m2pt_model_plain_params(&m);
        for (int k = 0; k < nthreads && !rc; k++) {
            m2pt_threads_init(threads[k]);
            merged->t[k] = (bench_timing){.threads = threads[k]};
            rc = time_inference(&m, s->batch, s, &merged->t[k].infer_img_s);
        }
    }
    if (rc) snprintf(err, errlen, "%s", m2pt_model_error(&m) ? m2pt_model_error(&m) : "out of memory");
    m2pt_model_close(&m);
    return rc;
}

int bench_models(const bench_shape *s, const int *threads, int nthreads, const char *exe_dir, bench_result out[3],
                 char *err, size_t errlen) {
    bench_plugins p = {0};
    char aux[64] = "/tmp/m2pt-bench-aux-XXXXXX", num[32];
    int fd = -1, rc = -1;
    snprintf(num, sizeof num, "%d", s->patch);
    if (m2pt_plugin_resolve("image", M2PT_KIND_MODALITY, exe_dir, &p.image, err, errlen) ||
        m2pt_plugin_resolve("baseline", M2PT_KIND_PATHWAY, exe_dir, &p.pathway, err, errlen))
        goto out;
    snprintf(num, sizeof num, "%d", s->patch);
    if (m2pt_kv_set(&p.cfg, "patch", num, "bench") || m2pt_kv_set(&p.cfg, "val_size", "0", "bench")) goto oom;
    snprintf(num, sizeof num, "%d", s->batch);
    if (m2pt_kv_set(&p.cfg, "train_size", num, "bench") || m2pt_kv_set(&p.cfg, "test_size", num, "bench")) goto oom;

    /* The auxiliary model: a randomly initialised plain model of the same shape (its values do
     * not change the cost of a step). */
    fd = mkstemp(aux);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in /tmp for the auxiliary model");
        goto out;
    }
    m2pt_model am;
    if (open_model(&am, &p, s, 1, NULL, err, errlen)) goto out;
    rc = m2pt_model_save(&am, aux, 1, err, errlen);
    m2pt_model_close(&am);
    if (rc || bench_pathway(&p, s, NULL, threads, nthreads, &out[0], NULL, err, errlen)) goto fail;
    m2pt_plugin_unload(&p.pathway);
    if (m2pt_plugin_resolve("reparam", M2PT_KIND_PATHWAY, exe_dir, &p.pathway, err, errlen) ||
        bench_pathway(&p, s, aux, threads, nthreads, &out[1], &out[2], err, errlen))
        goto fail;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
    goto out;
fail:
    rc = -1;
out:
    if (fd >= 0) close(fd), unlink(aux);
    if (p.image.handle) m2pt_plugin_unload(&p.image);
    if (p.pathway.handle) m2pt_plugin_unload(&p.pathway);
    m2pt_kv_free(&p.cfg), m2pt_kv_free(&p.path_cfg);
    return rc;
}
