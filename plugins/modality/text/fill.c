/* fill(): a word's UTF-8 bytes -> float token ids [max_len]: byte values 0..255, then
 * TXT_PAD (256) after the word's end. There is no augmentation: `augment` and `seed` are
 * ignored (a word has no label-preserving variant). No allocation, no shared mutable state. */
#include "text.h"

static int check_args(text_inst *m, m2pt_split_id split, const long *index, int n, float *raw, int *labels) {
    if ((int)split < 0 || (int)split > 2) {
        m->host->fail(m->ctx, "fill: unknown split %d", (int)split);
        return -1;
    }
    if (n < 0 || (n > 0 && (!index || !raw || !labels))) {
        m->host->fail(m->ctx, "fill: bad arguments (n = %d, NULL buffer)", n);
        return -1;
    }
    const long size = m->count[split];
    for (int k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= size) {
            static const char *names[] = {"train", "val", "test"};
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld samples",
                          index[k], k, names[split], size);
            return -1;
        }
    return 0;
}

int text_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
              float *raw, int *labels) {
    text_inst *m = inst;
    (void)augment, (void)seed;
    if (check_args(m, split, index, n, raw, labels)) return -1;
    const int L = m->max_len;
    for (int k = 0; k < n; k++) {
        const uint8_t *w = m->words[split] + (size_t)index[k] * (size_t)L;
        float *dst = raw + (size_t)k * (size_t)L;
        int i = 0;
        for (; i < L && w[i]; i++) dst[i] = (float)w[i]; /* a normalised word never holds byte 0 */
        for (; i < L; i++) dst[i] = (float)TXT_PAD;
        labels[k] = m->labels[split][index[k]];
    }
    return 0;
}
