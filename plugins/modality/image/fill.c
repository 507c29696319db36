/* fill(): uint8 pixels -> float [1, 28, 28] through a 256-entry table, optionally with the
 * train-time augmentation (random crop with padding, horizontal flip). No allocation and no
 * shared mutable state, so concurrent fills of different batches are safe. */
#include "image.h"

static void copy_plain(const image_inst *m, const uint8_t *src, float *dst) {
    for (int i = 0; i < IMG_PIXELS; i++) dst[i] = m->lut[src[i]];
}

/* Crop a 28x28 window from the image padded by `pad` on every side (offset dy, dx in
 * [-pad, pad]), then mirror if flip. Padding is a black pixel, i.e. lut[0]. */
static void copy_augmented(const image_inst *m, const uint8_t *src, float *dst, int dy, int dx, int flip) {
    const float bg = m->lut[0];
    for (int y = 0; y < IMG_SIDE; y++) {
        const int sy = y + dy;
        for (int x = 0; x < IMG_SIDE; x++) {
            const int sx = (flip ? IMG_SIDE - 1 - x : x) + dx;
            const int inside = sy >= 0 && sy < IMG_SIDE && sx >= 0 && sx < IMG_SIDE;
            dst[y * IMG_SIDE + x] = inside ? m->lut[src[sy * IMG_SIDE + sx]] : bg;
        }
    }
}

static int check_args(image_inst *m, m2pt_split_id split, const long *index, int n, float *raw, int *labels) {
    if ((int)split < 0 || (int)split > 2) {
        m->host->fail(m->ctx, "fill: unknown split %d", (int)split);
        return -1;
    }
    if (n < 0 || (n > 0 && (!index || !raw || !labels))) {
        m->host->fail(m->ctx, "fill: bad arguments (n = %d, NULL buffer)", n);
        return -1;
    }
    const long size = m->split_count[split];
    for (int k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= size) {
            static const char *names[] = {"train", "val", "test"};
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld samples",
                          index[k], k, names[split], size);
            return -1;
        }
    return 0;
}

int image_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
               float *raw, int *labels) {
    image_inst *m = inst;
    if (check_args(m, split, index, n, raw, labels)) return -1;
    const uint8_t *px = split == M2PT_SPLIT_TEST ? m->test_px : m->train_px;
    const uint8_t *lb = split == M2PT_SPLIT_TEST ? m->test_lb : m->train_lb;
    const int32_t *map = m->split_index[split];
    const int pad = m->crop_pad, span = 2 * m->crop_pad + 1;
    for (int k = 0; k < n; k++) {
        const size_t s = (size_t)map[index[k]];
        const uint8_t *src = px + s * IMG_PIXELS;
        float *dst = raw + (size_t)k * IMG_PIXELS;
        labels[k] = lb[s];
        if (!augment || (pad == 0 && !m->flip)) {
            copy_plain(m, src, dst);
            continue;
        }
        /* one stream per batch position: the result depends on (seed, k) only */
        m2pt_rng_state r;
        m->host->rng_seed(&r, seed, (uint64_t)k);
        const int dy = (int)(m->host->rng_u64(&r) % (uint64_t)span) - pad;
        const int dx = (int)(m->host->rng_u64(&r) % (uint64_t)span) - pad;
        const int flip = m->flip && (m->host->rng_u64(&r) >> 63);
        copy_augmented(m, src, dst, dy, dx, flip);
    }
    return 0;
}
