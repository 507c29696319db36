/* fill(): uint8 pixels -> float [frames, size, size] through a 256-entry table, optionally
 * with the train-time augmentation: one spatial shift of the whole clip (edge pixels
 * repeated) and a horizontal mirror, which swaps the labels that have a handedness (left <->
 * right, clockwise <-> counter-clockwise). No allocation and no shared mutable state, so
 * concurrent fills of different batches are safe. */
#include "video.h"

/* label after a horizontal mirror */
static const int mirrored[VID_CLASSES] = {VID_RIGHT, VID_LEFT,     VID_UP,       VID_DOWN,  VID_ROT_CCW,
                                          VID_ROT_CW, VID_ZOOM_IN, VID_ZOOM_OUT, VID_BOUNCE, VID_BLINK};

static void copy_plain(const video_inst *m, const uint8_t *src, float *dst) {
    for (long i = 0; i < m->sample; i++) dst[i] = m->lut[src[i]];
}

static int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

static void copy_augmented(const video_inst *m, const uint8_t *src, float *dst, int dy, int dx, int flip) {
    const int S = m->gen.size, F = m->gen.frames;
    for (int f = 0; f < F; f++) {
        const uint8_t *sf = src + (size_t)f * S * S;
        float *df = dst + (size_t)f * S * S;
        for (int y = 0; y < S; y++) {
            const uint8_t *row = sf + (size_t)clampi(y + dy, S - 1) * S;
            for (int x = 0; x < S; x++) df[y * S + x] = m->lut[row[clampi((flip ? S - 1 - x : x) + dx, S - 1)]];
        }
    }
}

static int check_args(video_inst *m, m2pt_split_id split, const long *index, int n, float *raw, int *labels) {
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
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld clips",
                          index[k], k, names[split], size);
            return -1;
        }
    return 0;
}

int video_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
               float *raw, int *labels) {
    video_inst *m = inst;
    if (check_args(m, split, index, n, raw, labels)) return -1;
    const int pad = m->aug_shift, span = 2 * pad + 1;
    for (int k = 0; k < n; k++) {
        const size_t s = (size_t)index[k];
        const uint8_t *src = m->px[split] + s * (size_t)m->sample;
        float *dst = raw + (size_t)k * (size_t)m->sample;
        labels[k] = m->lb[split][s];
        if (!augment || (pad == 0 && !m->aug_flip)) {
            copy_plain(m, src, dst);
            continue;
        }
        /* one stream per batch position: the result depends on (seed, k) only */
        m2pt_rng_state r;
        m->host->rng_seed(&r, seed, (uint64_t)k);
        const int dy = (int)(m->host->rng_u64(&r) % (uint64_t)span) - pad;
        const int dx = (int)(m->host->rng_u64(&r) % (uint64_t)span) - pad;
        const int flip = m->aug_flip && (m->host->rng_u64(&r) >> 63);
        copy_augmented(m, src, dst, dy, dx, flip);
        if (flip) labels[k] = mirrored[labels[k]];
    }
    return 0;
}
