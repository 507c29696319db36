/* Video modality plugin (procedurally generated motion clips): internal declarations shared
 * by its files. Only m2pt_plugin_query is exported; everything here has hidden visibility. */
#ifndef M2PT_VIDEO_H
#define M2PT_VIDEO_H

#include <m2pt/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define VID_CLASSES 10
#define VID_MAX_FRAMES 64
#define VID_MAX_SIZE 128
#define VID_MAX_COUNT 1000000L      /* bound on the samples of one split */
#define VID_MAX_BYTES (4ull << 30)  /* bound on the data of all splits together (uint8 pixels) */
#define VID_MAX_TOKENS 4097
#define VID_MAX_BATCH 65536
#define VID_MAX_DIM 65536
#define VID_PATH_MAX 4096
#define VID_PARAMS_MAX 512 /* canonical text of the generation parameters (cache key) */

/* Stored pixels are uint8: v = (q - 128) / VID_QSCALE, i.e. [-4, 3.97] in steps of 1/32. */
#define VID_QSCALE 32.0f

/* The motion classes (labels). */
enum {
    VID_LEFT, VID_RIGHT, VID_UP, VID_DOWN, VID_ROT_CW, VID_ROT_CCW, VID_ZOOM_IN, VID_ZOOM_OUT, VID_BOUNCE,
    VID_BLINK
};

/* Everything that shapes the generated data (all of it enters the cache key). */
typedef struct {
    uint64_t seed; /* data seed */
    int frames, size;
    double noise;      /* std of the additive Gaussian pixel noise */
    double speed;      /* multiplier of every motion's rate */
    double distractor; /* probability of a second, unlabelled moving sprite */
    double occluder;   /* probability of a static bar drawn over the scene */
    double clutter;    /* multiplier of the background's gradient and gratings */
    double sprite;     /* multiplier of the sprites' sizes */
} vid_gen;

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    vid_gen gen;
    long data_seed; /* as configured; -1 = the run seed */
    long want[3];   /* requested split sizes */
    char cache_dir[VID_PATH_MAX];
    int use_cache;
    int tub_t, tub_p, aug_shift, aug_flip, pool_mean;

    /* data: per split, [count, frames, size, size] uint8 pixels and [count] labels */
    uint8_t *px[3], *lb[3];
    long count[3];
    long sample; /* floats (= bytes) per sample */
    float lut[256];

    /* model (after setup) */
    int gt, gs, tubelets, tokens, tub_dim, dim, max_batch, set_up;
    int h_emb_w, h_emb_b, h_cls, h_pos, h_norm_w, h_norm_b, h_head_w, h_head_b;
    float *tub_buf; /* [B*N, tub_dim] tubelets of the last tokenize */
    float *emb;     /* [B*N, dim] scratch: embeddings, then their gradient */
    int tok_n;      /* n of the last tokenize, -1 before */
    float *pooled, *normed, *mean, *rstd, *d_normed, *d_pooled;
    int head_n; /* n of the last head, -1 before */
} video_inst;

/* clip.c: draw the clip (split, index) of the data seed and render it as uint8 pixels
 * [frames, size, size]; returns its label. Pure function of its arguments. */
int clip_generate(const m2pt_host *h, const vid_gen *g, int split, long index, uint8_t *out);

/* dataset.c: generate (or load from the cache) every split. Return 0, or -1 after fail(). */
int dataset_build(video_inst *m);
/* Canonical text of the parameters of one split's data (the cache key and header). */
void dataset_params_text(const video_inst *m, int split, char *buf, size_t len);

/* cache.c: a split's data on disk. load returns 1 when a valid file was read into px/lb, 0
 * when there is none or it is invalid (after a warning), never an error; save only warns. */
int cache_load(video_inst *m, const char *params, uint8_t *px, uint8_t *lb, long count);
void cache_save(video_inst *m, const char *params, const uint8_t *px, const uint8_t *lb, long count);
uint64_t fnv1a64(uint64_t h, const void *data, size_t len);
#define FNV1A64_INIT 0xcbf29ce484222325ull

/* fill.c */
int video_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
               float *raw, int *labels);

/* tokenizer.c / head.c */
int tok_setup(video_inst *m);
void video_tokenize(void *inst, const float *raw, int n, float *tokens);
void video_tokenize_backward(void *inst, const float *d_tokens, int n);
int head_setup(video_inst *m);
void video_head(void *inst, const float *tokens, int n, float *logits);
void video_head_backward(void *inst, const float *d_logits, int n, float *d_tokens);

/* recon.c: ABI 1.1 reconstruction target of the last tokenize (MSE on tubelet values). */
int video_recon_spec(void *inst, m2pt_recon_spec *spec);
void video_recon_target(void *inst, int n, float *target, float *weight, float *pos);

/* tokenizer.c: report (fail) a call with a bad batch size; non-zero if so. expect: n of the
 * matching forward call, -1 for no constraint, -2 when that forward call never happened. */
int video_bad_n(video_inst *m, const char *what, int n, int expect);

/* video.c: host->alloc of n floats (NULL after fail()). */
float *video_alloc_floats(video_inst *m, size_t n);

#endif
