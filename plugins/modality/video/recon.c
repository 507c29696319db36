/* ABI 1.1 reconstruction target (masked-autoencoder pretraining, as VideoMAE): the target of
 * tubelet token 1 + i is tubelet i's pixel values exactly as the tubelet embedding saw them in
 * the last tokenize (t x p x p values in (frame, y, x) order: tub_buf). The host normalises
 * each target per token (MSE, norm_pix_loss). The class token (token 0) is the one prefix
 * token; the head's tensors are "video.norm." and "video.head." (head.c). */
#include "video.h"

#include <string.h>

int video_recon_spec(void *inst, m2pt_recon_spec *spec) {
    video_inst *m = inst;
    if (!m->set_up) {
        m->host->fail(m->ctx, "recon_spec called before setup");
        return -1;
    }
    memset(spec, 0, sizeof *spec);
    spec->loss = M2PT_RECON_MSE;
    spec->prefix_tokens = 1;
    spec->target_floats = m->tub_dim;
    spec->classes = 0;
    spec->pos_floats = 0;
    spec->head_prefixes = "video.norm.,video.head.";
    return 0;
}

void video_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    video_inst *m = inst;
    (void)pos; /* pos_floats 0: the host passes NULL */
    if (video_bad_n(m, "recon_target", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const size_t rows = (size_t)n * (size_t)m->tubelets;
    memcpy(target, m->tub_buf, rows * (size_t)m->tub_dim * sizeof(float));
    for (size_t r = 0; r < rows; r++) weight[r] = 1.0f;
}
