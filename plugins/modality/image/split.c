/* Splits. The train file is shuffled once with the run seed; walking that order, validation
 * takes a class-balanced quota first, then the optional train subset takes its quota from
 * what remains. Because both walk the same order, the validation set does not depend on
 * train_size. Each split lists its samples in file order. */
#include "image.h"

#include <stdlib.h>
#include <string.h>

#define SPLIT_STREAM 0x696d672d73706c74ull /* "img-splt" */

enum { ROLE_FREE = 0, ROLE_VAL = 1, ROLE_TRAIN = 2 };

/* Assign k samples of role FREE to `role`: per class k/C (+1 for the first k%C classes) in
 * shuffled order, then, if a class ran short, any free samples to reach k. */
static void take(const int32_t *perm, const uint8_t *labels, uint8_t *role, long n, long k, uint8_t to) {
    long quota[IMG_CLASSES], taken = 0;
    for (int c = 0; c < IMG_CLASSES; c++) quota[c] = k / IMG_CLASSES + (c < k % IMG_CLASSES);
    for (long i = 0; i < n && taken < k; i++) {
        const int32_t s = perm[i];
        if (role[s] == ROLE_FREE && quota[labels[s]] > 0) {
            quota[labels[s]]--;
            role[s] = to;
            taken++;
        }
    }
    for (long i = 0; i < n && taken < k; i++)
        if (role[perm[i]] == ROLE_FREE) {
            role[perm[i]] = to;
            taken++;
        }
}

/* Indices (file order) of the samples whose role is in the mask. */
static int32_t *collect(image_inst *m, const uint8_t *role, long n, unsigned mask, long *count) {
    long c = 0;
    for (long i = 0; i < n; i++) c += (mask >> role[i]) & 1u;
    int32_t *idx = m->host->alloc(m->ctx, (size_t)(c ? c : 1) * sizeof(int32_t));
    if (!idx) return NULL;
    long j = 0;
    for (long i = 0; i < n; i++)
        if ((mask >> role[i]) & 1u) idx[j++] = (int32_t)i;
    *count = c;
    return idx;
}

int split_build(image_inst *m) {
    const long n = m->train_count;
    if (m->val_size >= n) {
        m->host->fail(m->ctx, "val_size %ld leaves no training samples (the train file has %ld); use 0..%ld",
                      m->val_size, n, n - 1);
        return -1;
    }
    if (m->train_size > n - m->val_size) {
        m->host->fail(m->ctx, "train_size %ld exceeds the %ld training samples left after val_size %ld "
                      "(use 0 for all)", m->train_size, n - m->val_size, m->val_size);
        return -1;
    }
    int32_t *perm = m->host->alloc(m->ctx, (size_t)n * sizeof(int32_t));
    uint8_t *role = m->host->alloc(m->ctx, (size_t)n);
    if (!perm || !role) return -1;
    memset(role, ROLE_FREE, (size_t)n);
    m2pt_rng_state r;
    m->host->rng_seed(&r, m->host->seed(m->ctx), SPLIT_STREAM);
    for (long i = 0; i < n; i++) perm[i] = (int32_t)i;
    for (long i = n - 1; i > 0; i--) { /* Fisher-Yates */
        long j = (long)(m->host->rng_u64(&r) % (uint64_t)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    take(perm, m->train_lb, role, n, m->val_size, ROLE_VAL);
    if (m->train_size > 0) take(perm, m->train_lb, role, n, m->train_size, ROLE_TRAIN);
    const unsigned train_mask = m->train_size > 0 ? 1u << ROLE_TRAIN : (1u << ROLE_FREE) | (1u << ROLE_TRAIN);
    m->split_index[M2PT_SPLIT_TRAIN] = collect(m, role, n, train_mask, &m->split_count[M2PT_SPLIT_TRAIN]);
    m->split_index[M2PT_SPLIT_VAL] = collect(m, role, n, 1u << ROLE_VAL, &m->split_count[M2PT_SPLIT_VAL]);
    if (!m->split_index[M2PT_SPLIT_TRAIN] || !m->split_index[M2PT_SPLIT_VAL]) return -1;

    /* test: all of t10k, or a class-balanced subset taken in file order (independent of the
     * seed, so that every run of an experiment is scored on the same images) */
    if (m->test_count <= 0) return -1;
    const size_t nt = (size_t)m->test_count;
    const long k = m->test_size > 0 && m->test_size < m->test_count ? m->test_size : m->test_count;
    uint8_t *trole = malloc(nt);
    int32_t *order = malloc(nt * sizeof(int32_t));
    if (!trole || !order) {
        free(trole), free(order);
        return -1;
    }
    memset(trole, ROLE_FREE, nt);
    for (size_t i = 0; i < nt; i++) order[i] = (int32_t)i;
    take(order, m->test_lb, trole, (long)nt, k, ROLE_VAL);
    m->split_index[M2PT_SPLIT_TEST] = collect(m, trole, (long)nt, 1u << ROLE_VAL, &m->split_count[M2PT_SPLIT_TEST]);
    free(trole), free(order);
    return m->split_index[M2PT_SPLIT_TEST] ? 0 : -1;
}
