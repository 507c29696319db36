/* fill(): the stored log-mel bytes of a sample -> float [96 frames][mels] through a 256-entry
 * table (train mean 0, std 1). The window starts AU_MARGIN frames into the stored frames; with
 * augment it moves by a random shift in [-aug_shift, aug_shift] frames (10 ms each), drawn
 * from (seed, batch position). No allocation, no shared mutable state. */
#include "audio.h"

static int check_args(audio_inst *m, m2pt_split_id split, const long *index, int n, float *raw, int *labels) {
    if ((int)split < 0 || (int)split > 2) {
        m->host->fail(m->ctx, "fill: unknown split %d", (int)split);
        return -1;
    }
    if (n < 0 || (n > 0 && (!index || !raw || !labels))) {
        m->host->fail(m->ctx, "fill: bad arguments (n = %d, NULL buffer)", n);
        return -1;
    }
    const long size = m->p.size[split];
    for (int k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= size) {
            static const char *names[] = {"train", "val", "test"};
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld samples",
                          index[k], k, names[split], size);
            return -1;
        }
    return 0;
}

int audio_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed, float *raw,
               int *labels) {
    audio_inst *m = inst;
    if (check_args(m, split, index, n, raw, labels)) return -1;
    const size_t count = (size_t)AU_FRAMES * (size_t)m->p.mels;
    const int S = m->aug_shift;
    for (int k = 0; k < n; k++) {
        const size_t s = (size_t)index[k];
        int shift = 0;
        if (augment && S > 0) {
            /* one stream per batch position: the result depends on (seed, k) only */
            m2pt_rng_state r;
            m->host->rng_seed(&r, seed, (uint64_t)k);
            shift = (int)(m->host->rng_u64(&r) % (uint64_t)(2 * S + 1)) - S;
        }
        const uint8_t *src = m->feats[split] + s * m->sample_bytes + (size_t)(AU_MARGIN + shift) * (size_t)m->p.mels;
        float *dst = raw + (size_t)k * count;
        for (size_t j = 0; j < count; j++) dst[j] = m->lut[src[j]];
        labels[k] = m->labels[split][s];
    }
    return 0;
}
