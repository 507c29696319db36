/* A complete ViT classifier on images: patch embedding + class token + learned position
 * embedding, the block stack, final LayerNorm and a linear head on the class token, trained
 * with softmax cross-entropy. It is the engine's reference model (PyTorch parity fixtures,
 * training smoke test, `m2pt demo`, `m2pt bench`); modality plugins supply their own tokenizer
 * and head around the same block stack.
 *
 * Images are float [B, C, H, W]; a patch is flattened in (c, y, x) order, as a Conv2d weight. */
#ifndef M2PT_VIT_H
#define M2PT_VIT_H

#include "blocks.h"

typedef struct {
    m2pt_block_config blocks;
    int channels, height, width, patch;
    int classes;
    float label_smoothing;
} m2pt_vit_config;

typedef struct {
    m2pt_vit_config cfg;
    int patches, tokens, patch_dim, max_batch;
    m2pt_params params;
    m2pt_blocks blocks;
    int patch_w, patch_b, cls, pos, norm_w, norm_b, head_w, head_b; /* registry indices */
    float *arena; /* tokenizer/head activations and scratch */
    float *patches_buf, *emb, *cls_out, *norm_out, *norm_mean, *norm_rstd, *logits, *probs,
        *d_logits, *d_norm, *d_cls, *d_tokens;
    const int *labels;
    int batch;
} m2pt_vit;

/* Validate cfg; on failure write a one-line reason into err (if given) and return -1. */
int m2pt_vit_config_check(const m2pt_vit_config *cfg, char *err, size_t errlen);
/* Register parameters, allocate the arenas for up to max_batch images. 0 on success. */
int m2pt_vit_create(m2pt_vit *m, const m2pt_vit_config *cfg, int max_batch);
void m2pt_vit_init(m2pt_vit *m, uint64_t seed);
/* Forward on `batch` images; with labels, returns the mean cross-entropy loss (else 0).
 * Logits [batch, classes] are left in m->logits. */
float m2pt_vit_forward(m2pt_vit *m, const float *images, const int *labels, int batch);
/* Backward of the last forward (needs labels): zeroes and fills the gradient arena. */
void m2pt_vit_backward(m2pt_vit *m);
void m2pt_vit_free(m2pt_vit *m);
/* The config as a flat JSON object (for checkpoint headers); returns the length or -1. */
int m2pt_vit_config_json(const m2pt_vit_config *cfg, char *buf, size_t len);

#endif
