/* ABI 1.1 reconstruction target (masked-autoencoder pretraining, as AudioMAE): the target of
 * patch token 1 + i is the log-mel values of spectrogram patch i exactly as the patch embedding
 * saw them in the last tokenize (normalised log-mel, patch_time x patch_mel in (frame, mel)
 * order: patch_buf). The host normalises each target per token (MSE, norm_pix_loss). The class
 * token (token 0) is the one prefix token; the head's tensors are "audio.norm." and
 * "audio.head." (head.c). */
#include "audio.h"

#include <string.h>

int audio_recon_spec(void *inst, m2pt_recon_spec *spec) {
    audio_inst *m = inst;
    if (!m->set_up) {
        m->host->fail(m->ctx, "recon_spec called before setup");
        return -1;
    }
    memset(spec, 0, sizeof *spec);
    spec->loss = M2PT_RECON_MSE;
    spec->prefix_tokens = 1;
    spec->target_floats = m->patch_dim;
    spec->classes = 0;
    spec->pos_floats = 0;
    spec->head_prefixes = "audio.norm.,audio.head.";
    return 0;
}

void audio_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    audio_inst *m = inst;
    (void)pos; /* pos_floats 0: the host passes NULL */
    if (audio_bad_n(m, "recon_target", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const size_t rows = (size_t)n * (size_t)m->patches;
    memcpy(target, m->patch_buf, rows * (size_t)m->patch_dim * sizeof(float));
    for (size_t r = 0; r < rows; r++) weight[r] = 1.0f;
}
