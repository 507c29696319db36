/* ABI 1.1 reconstruction target (masked-autoencoder pretraining): masked byte prediction. The
 * target of byte token 1 + i is the token id the byte embedding indexed for it in the last
 * tokenize (the byte value 0..255; TXT_PAD = 256 after the word's end), one class of the
 * embedding's TXT_VOCAB = 257 rows, scored with cross-entropy. Only real bytes of the word
 * count (weight 1); padding positions (and any raw value tokenize read as padding) have
 * weight 0, so the model is never asked to predict where the word ends from a masked pad. The
 * class token (token 0) is the one prefix token; the head's tensors are "text.norm." and
 * "text.head." (head.c). */
#include "text.h"

#include <string.h>

int text_recon_spec(void *inst, m2pt_recon_spec *spec) {
    text_inst *m = inst;
    if (!m->set_up) {
        m->host->fail(m->ctx, "recon_spec called before setup");
        return -1;
    }
    memset(spec, 0, sizeof *spec);
    spec->loss = M2PT_RECON_CLASS;
    spec->prefix_tokens = 1;
    spec->target_floats = 1;
    spec->classes = TXT_VOCAB;
    spec->pos_floats = 0;
    spec->head_prefixes = "text.norm.,text.head.";
    return 0;
}

void text_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    text_inst *m = inst;
    (void)pos; /* pos_floats 0: the host passes NULL */
    if (text_bad_n(m, "recon_target", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const size_t L = (size_t)n * (size_t)m->max_len;
    for (size_t i = 0; i < L; i++) {
        const int id = m->ids[i];
        target[i] = (float)id;
        weight[i] = id < TXT_PAD ? 1.0f : 0.0f;
    }
}
