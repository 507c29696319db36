/* Image modality plugin (Fashion-MNIST): internal declarations shared by its files.
 * Only m2pt_plugin_query is exported; everything here has hidden visibility. */
#ifndef M2PT_IMAGE_H
#define M2PT_IMAGE_H

#include <m2pt/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define IMG_SIDE 28
#define IMG_PIXELS (IMG_SIDE * IMG_SIDE)
#define IMG_CLASSES 10
#define IMG_MAX_COUNT 200000L /* bound on the images of one IDX file (157 MB as uint8) */
#define IMG_MAX_BATCH 65536
#define IMG_MAX_DIM 65536
#define IMG_PATH_MAX 4096

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    char dir[IMG_PATH_MAX];
    long val_size, train_size, test_size;
    int normalize, crop_pad, flip, patch, pool_mean;

    /* data: whole IDX files as uint8; splits index into them */
    uint8_t *train_px, *train_lb, *test_px, *test_lb;
    long train_count, test_count;
    int32_t *split_index[3]; /* per m2pt_split_id: index into the file's samples */
    long split_count[3];
    float lut[256]; /* pixel byte -> scaled (and normalised) float */

    /* model (after setup) */
    int grid, patches, tokens, patch_dim, dim, max_batch, set_up;
    int h_patch_w, h_patch_b, h_cls, h_pos, h_norm_w, h_norm_b, h_head_w, h_head_b;
    float *patch_buf; /* [B*P, patch_dim] patches of the last tokenize */
    float *emb;       /* [B*P, dim] scratch: embeddings, then their gradient */
    int tok_n;        /* n of the last tokenize, -1 before */
    float *pooled, *normed, *mean, *rstd, *d_normed, *d_pooled;
    int head_n; /* n of the last head, -1 before */
} image_inst;

/* idx.c: read a gzip IDX file into host->alloc memory. Return 0, or -1 after fail(). */
int idx_read_images(image_inst *m, const char *path, uint8_t **px, long *count);
int idx_read_labels(image_inst *m, const char *path, uint8_t **labels, long *count);

/* split.c: carve validation (and optional train subset) from the train file. */
int split_build(image_inst *m);

/* fill.c */
int image_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
               float *raw, int *labels);

/* tokenizer.c / head.c */
int tok_setup(image_inst *m);
void image_tokenize(void *inst, const float *raw, int n, float *tokens);
void image_tokenize_backward(void *inst, const float *d_tokens, int n);
int head_setup(image_inst *m);
void image_head(void *inst, const float *tokens, int n, float *logits);
void image_head_backward(void *inst, const float *d_logits, int n, float *d_tokens);

/* recon.c: ABI 1.1 reconstruction target of the last tokenize (MSE on patch values). */
int image_recon_spec(void *inst, m2pt_recon_spec *spec);
void image_recon_target(void *inst, int n, float *target, float *weight, float *pos);

/* tokenizer.c: report (fail) a call with a bad batch size; non-zero if so. expect: n of the
 * matching forward call, -1 for no constraint, -2 when that forward call never happened. */
int image_bad_n(image_inst *m, const char *what, int n, int expect);

/* image.c: host->alloc of n floats (NULL after fail()). */
float *image_alloc_floats(image_inst *m, size_t n);

#endif
