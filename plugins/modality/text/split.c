/* Splits. Each language's filtered words (file order) are shuffled with a stream of
 * split_seed; walking that order, test takes its quota first, then validation, then train.
 * The three are disjoint slices of one permutation, so no word is in two splits, and the
 * test and validation sets do not depend on train_size. Every split holds size/8 words of
 * each language (the first size%8 languages one more). Samples are stored language by
 * language, in permutation order. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

#define SPLIT_STREAM 0x7478742d73706c74ull /* "txt-splt" */

static long quota(long size, int lang) { return size / TXT_LANGS + (lang < size % TXT_LANGS); }
static long ceil_div(long a, long b) { return (a + b - 1) / b; }

/* Words of each language that train takes; -1 after fail() when a list is too short. */
static long train_quota(text_inst *m, int lang, long smallest, int smallest_lang) {
    const long train = m->size[M2PT_SPLIT_TRAIN];
    const long fixed = ceil_div(m->size[M2PT_SPLIT_TEST], TXT_LANGS) + ceil_div(m->size[M2PT_SPLIT_VAL], TXT_LANGS);
    const long q = train ? quota(train, lang) : smallest - fixed;
    if (q >= 1 && fixed + ceil_div(train, TXT_LANGS) <= smallest) return q;
    const text_lang *L = &text_langs[smallest_lang];
    if (smallest == 0)
        m->host->fail(m->ctx, "%s/%s has no usable word of %d..%d bytes (min_len..max_len) after filtering; widen "
                      "min_len/max_len, or reinstall the Debian package %s (apt-get install --reinstall %s) if the "
                      "file is damaged", m->dict_dir, L->file, m->min_len, m->max_len, L->package, L->package);
    else if (fixed >= smallest)
        m->host->fail(m->ctx,
                      "val_size %ld and test_size %ld take %ld words of each language, but %s has only %ld after "
                      "filtering (min_len %d, max_len %d); lower them (val_size + test_size at most about %ld)",
                      m->size[M2PT_SPLIT_VAL], m->size[M2PT_SPLIT_TEST], fixed, L->name, smallest, m->min_len,
                      m->max_len, (smallest - 1) * TXT_LANGS);
    else
        m->host->fail(m->ctx,
                      "train_size %ld needs %ld words of each language beside the %ld of val_size and test_size, "
                      "but %s has only %ld after filtering (min_len %d, max_len %d); use train_size <= %ld "
                      "(or 0 for all)",
                      train, ceil_div(train, TXT_LANGS), fixed, L->name, smallest, m->min_len, m->max_len,
                      (smallest - fixed) * TXT_LANGS);
    return -1;
}

static void shuffle(text_inst *m, int32_t *a, long n, int lang) {
    m2pt_rng_state r;
    m->host->rng_seed(&r, m->split_seed, SPLIT_STREAM + (uint64_t)lang);
    for (long i = n - 1; i > 0; i--) { /* Fisher-Yates */
        const long j = (long)(m->host->rng_u64(&r) % (uint64_t)(i + 1));
        const int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int split_build(text_inst *m, const text_lexicon *lx) {
    long q[3][TXT_LANGS], smallest = lx->nown[0];
    int smallest_lang = 0;
    for (int l = 1; l < TXT_LANGS; l++)
        if (lx->nown[l] < smallest) smallest = lx->nown[l], smallest_lang = l;
    for (int l = 0; l < TXT_LANGS; l++) {
        q[M2PT_SPLIT_TEST][l] = quota(m->size[M2PT_SPLIT_TEST], l);
        q[M2PT_SPLIT_VAL][l] = quota(m->size[M2PT_SPLIT_VAL], l);
        if ((q[M2PT_SPLIT_TRAIN][l] = train_quota(m, l, smallest, smallest_lang)) < 0) return -1;
    }
    const int L = m->max_len;
    for (int s = 0; s < 3; s++) {
        m->count[s] = 0;
        for (int l = 0; l < TXT_LANGS; l++) m->count[s] += q[s][l];
        m->words[s] = m->host->alloc(m->ctx, (size_t)(m->count[s] ? m->count[s] : 1) * (size_t)L);
        m->labels[s] = m->host->alloc(m->ctx, (size_t)(m->count[s] ? m->count[s] : 1));
        if (!m->words[s] || !m->labels[s]) return -1;
    }
    long longest = 1;
    for (int l = 0; l < TXT_LANGS; l++) longest = lx->nown[l] > longest ? lx->nown[l] : longest;
    int32_t *perm = malloc((size_t)longest * sizeof *perm);
    if (!perm) {
        m->host->fail(m->ctx, "out of memory while building the splits");
        return -1;
    }
    long at[3] = {0, 0, 0};
    static const int order[3] = {M2PT_SPLIT_TEST, M2PT_SPLIT_VAL, M2PT_SPLIT_TRAIN};
    for (int l = 0; l < TXT_LANGS; l++) {
        memcpy(perm, lx->own[l], (size_t)lx->nown[l] * sizeof *perm);
        shuffle(m, perm, lx->nown[l], l);
        long next = 0;
        for (int k = 0; k < 3; k++) {
            const int s = order[k];
            for (long i = 0; i < q[s][l]; i++, next++) {
                const long e = perm[next];
                uint8_t *dst = m->words[s] + (size_t)at[s] * (size_t)L; /* zeroed by host->alloc */
                memcpy(dst, lx->arena + lx->off[e], lx->len[e]);
                m->labels[s][at[s]++] = (uint8_t)l;
            }
        }
    }
    free(perm);
    return 0;
}
