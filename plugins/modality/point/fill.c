/* fill(): int16 samples -> float [N, 3], optionally with the train-time augmentation (a random
 * 3D rotation and a random per-axis scale). No allocation and no shared mutable state. */
#include "point.h"

static int check_args(point_inst *m, m2pt_split_id split, const long *index, int n, float *raw, int *labels) {
    static const char *const names[3] = {"train", "val", "test"};
    if ((int)split < 0 || (int)split > 2) {
        m->host->fail(m->ctx, "fill: unknown split %d (use 0 train, 1 val, 2 test)", (int)split);
        return -1;
    }
    if (n < 0 || (n > 0 && (!index || !raw || !labels))) {
        m->host->fail(m->ctx, "fill: bad arguments (n = %d, or a NULL buffer)", n);
        return -1;
    }
    for (int k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= m->size[split]) {
            m->host->fail(m->ctx, "fill: index %ld (batch position %d) out of range for the %s split of %ld samples",
                          index[k], k, names[split], m->size[split]);
            return -1;
        }
    return 0;
}

int point_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed, float *raw,
               int *labels) {
    point_inst *m = inst;
    if (check_args(m, split, index, n, raw, labels)) return -1;
    const int N = m->gen.points;
    const float inv = 1.0f / PT_QUANT;
    const int aug = augment && (m->aug_rotate || m->aug_scale > 0);
    for (int k = 0; k < n; k++) {
        const int16_t *src = m->data[split] + (size_t)index[k] * N * 3;
        float *dst = raw + (size_t)k * N * 3;
        labels[k] = (int)(index[k] % PT_CLASSES);
        if (!aug) {
            for (size_t i = 0; i < (size_t)N * 3; i++) dst[i] = (float)src[i] * inv;
            continue;
        }
        /* one stream per batch position: the result depends on (seed, k) and the sample only */
        m2pt_rng_state r;
        m->host->rng_seed(&r, seed, (uint64_t)k);
        float R[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
        if (m->aug_rotate) gen_rotation(m->host, &r, R);
        for (int j = 0; j < 3; j++) {
            const float s = 1.0f + (float)m->aug_scale * (2 * m->host->rng_uniform(&r) - 1);
            for (int c = 0; c < 3; c++) R[j * 3 + c] *= s; /* scale after rotating: row j of S R */
        }
        for (int i = 0; i < N; i++) {
            const float x = src[i * 3] * inv, y = src[i * 3 + 1] * inv, z = src[i * 3 + 2] * inv;
            float *q = dst + (size_t)i * 3;
            q[0] = R[0] * x + R[1] * y + R[2] * z;
            q[1] = R[3] * x + R[4] * y + R[5] * z;
            q[2] = R[6] * x + R[7] * y + R[8] * z;
        }
    }
    return 0;
}
