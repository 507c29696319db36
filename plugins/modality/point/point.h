/* Point-cloud modality plugin: internal declarations shared by its files.
 * Only m2pt_plugin_query is exported; everything here has hidden visibility. */
#ifndef M2PT_POINT_H
#define M2PT_POINT_H

#include <m2pt/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define PT_CLASSES 12
#define PT_MAX_POINTS 8192
#define PT_MAX_GROUPS 256
#define PT_MAX_SPLIT 1000000L
#define PT_MAX_BATCH 65536
#define PT_MAX_DIM 65536
#define PT_MAX_HIDDEN 4096
#define PT_PATH_MAX 4096
#define PT_QUANT 32767.0f /* coordinates in [-1, 1] are stored as int16 = round(x * 32767) */

/* What shapes the generator draws, i.e. everything (with the seed) that defines a split's data. */
typedef struct {
    int points;        /* N points per sample */
    int rotate;        /* 1: uniform random 3D rotation of every sample, 0: canonical pose */
    double jitter;     /* std of the Gaussian noise per coordinate, unit-sphere units */
    double dropout;    /* at most this fraction of points is dropped (replaced by duplicates) */
    double anisotropy; /* per-axis stretch drawn log-uniformly in [1/a, a] */
} pt_gen_params;

typedef struct point_inst point_inst;

struct point_inst {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    pt_gen_params gen;
    uint64_t data_seed;
    long size[3]; /* per m2pt_split_id */
    char cache_dir[PT_PATH_MAX];
    int groups, neighbours, hidden;
    int aug_rotate;
    float pool_t; /* pooling temperature; 0 = max pooling */
    double aug_scale;

    /* data: int16 [size][points][3] per split; label of sample i = i % PT_CLASSES */
    int16_t *data[3];

    /* model (after setup) */
    int tokens, dim, max_batch, set_up;
    int h_cls, h_g1w, h_g1b, h_g2w, h_g2b, h_p1w, h_p1b, h_p2w, h_p2b;
    int h_norm_w, h_norm_b, h_head_w, h_head_b;
    /* tokenizer buffers, for rows = B*G*k (grouped points) and B*G (centres) */
    int *knn;       /* [B*G*k] point index of each neighbour */
    float *soa;     /* [B, 3, N] the points as x, y, z arrays */
    float *dist;    /* [B, N + k] squared distances (FPS, then one centre's), the k best */
    float *centres; /* [B*G, 3] */
    float *local;   /* [B*G*k, 3] (neighbour - centre) / neighbourhood radius */
    float *h1;      /* [B*G*k, H] GELU(fc1) of the shared MLP */
    float *h1d;     /* [B*G*k, H] derivative of the GELU */
    float *dh1;     /* [B*G*k, H] gradient of h1 */
    float *h2;      /* [B*G*k, D] fc2 output; after pooling its exp weights (pool.c) */
    int *arg;       /* [B*G, D] row (0..k-1) of the max of each channel */
    float *pmax;    /* [B*G, D] max of each channel */
    float *psum;    /* [B*G, D] sum of exp((x - max) / t) of each channel (t > 0) */
    float *dh2;     /* [B*G*k, D] gradient of the fc2 output */
    float *feat;    /* [B*G, D] pooled group features, then their gradient */
    float *p1;      /* [B*G, H] GELU(fc1) of the position MLP */
    float *p1d;     /* [B*G, H] derivative of the GELU */
    float *dp1;     /* [B*G, H] gradient */
    float *pos;     /* [B*G, D] position embedding */
    int tok_n;      /* n of the last tokenize, -1 before */
    /* head buffers */
    float *pooled, *normed, *mean, *rstd, *d_normed, *d_pooled;
    int head_n; /* n of the last head, -1 before */
};

/* shapes.c: N points sampled uniformly on the surface of a class-`label` shape with random
 * shape parameters, stretched per axis by `stretch`, from the rng. out: [N, 3]. */
void shape_sample(const m2pt_host *h, m2pt_rng_state *r, int label, const float stretch[3], int n, float *out);
const char *shape_name(int label);

/* generate.c: sample `index` of `split` (quantised), deterministic in (seed, split, index). */
void gen_sample(const m2pt_host *h, const pt_gen_params *g, uint64_t seed, int split, long index, float *work,
                int16_t *out);
/* 3x3 rotation matrix drawn uniformly from SO(3) */
void gen_rotation(const m2pt_host *h, m2pt_rng_state *r, float rot[9]);

/* cache.c: fill m->data[split] from the cache or by generating it (and caching it). */
int cache_load_split(point_inst *m, int split);

/* fill.c */
int point_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed, float *raw,
               int *labels);

/* group.c: farthest point sampling + kNN for n samples: centres, knn, local. */
void group_points(point_inst *m, const float *raw, int n);

/* pool.c: pool h2 over each group's k rows into feat; backward from d(feat) (in feat) into
 * dh1 (through the GELU) and the gradients of fc2 (accumulated) */
void pool_forward(point_inst *m, int n);
void pool_backward(point_inst *m, int n);

/* tokenizer.c / head.c */
int tok_setup(point_inst *m);
void point_tokenize(void *inst, const float *raw, int n, float *tokens);
void point_tokenize_backward(void *inst, const float *d_tokens, int n);
int head_setup(point_inst *m);
void point_head(void *inst, const float *tokens, int n, float *logits);
void point_head_backward(void *inst, const float *d_logits, int n, float *d_tokens);

/* recon.c: ABI 1.1 reconstruction target of the last tokenize (Chamfer on the local points of each group, centres as positions). */
int point_recon_spec(void *inst, m2pt_recon_spec *spec);
void point_recon_target(void *inst, int n, float *target, float *weight, float *pos);

/* point.c: report (fail) a call with a bad batch size; non-zero if so. expect: n of the
 * matching forward call, -1 for no constraint, -2 when that forward call never happened. */
int point_bad_n(point_inst *m, const char *what, int n, int expect);
/* point.c: host->alloc of n floats / ints (NULL after fail()). */
float *point_alloc_floats(point_inst *m, size_t n);
int *point_alloc_ints(point_inst *m, size_t n);
/* point.c: the static range [lo, hi) of thread t of nt over [0, n). */
void point_range(long n, int t, int nt, long *lo, long *hi);

#endif
