/* Lexicon: the eight word lists read, normalised (normalize.c) and merged in one hash table
 * that records, for each distinct normalised word, the set of lists holding it. A word of
 * several lists is ambiguous and dropped; duplicates within one list (e.g. "Polish" and
 * "polish" once lowercased) count once. Temporary memory only (malloc): open may allocate. */
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const uint8_t *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* Grow *p (elements of `size` bytes) to hold at least `need`; 0 or -1 (p unchanged). */
static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int oom(text_inst *m) {
    m->host->fail(m->ctx, "out of memory while reading the word lists");
    return -1;
}

/* Whole file into a malloc'ed buffer. A missing list names the Debian package to install. */
static int read_file(text_inst *m, int lang, uint8_t **buf, size_t *n) {
    const text_lang *L = &text_langs[lang];
    char path[TXT_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", m->dict_dir, L->file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        m->host->fail(m->ctx, "cannot open %s: %s; install the Debian package %s (apt-get install %s) or set dict_dir",
                      path, strerror(errno), L->package, L->package);
        return -1;
    }
    uint8_t *b = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (grow((void **)&b, &cap, len + 65536, 1)) {
            free(b);
            fclose(f);
            return oom(m);
        }
        const size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    const int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        m->host->fail(m->ctx, "cannot read %s; reinstall the Debian package %s (apt-get install --reinstall %s)", path,
                      L->package, L->package);
        return -1;
    }
    *buf = b;
    *n = len;
    return 0;
}

static int rehash(text_lexicon *lx, long nslots) {
    int32_t *s = calloc((size_t)nslots, sizeof *s);
    if (!s) return -1;
    for (long e = 0; e < lx->entries; e++) {
        uint64_t h = fnv1a(lx->arena + lx->off[e], lx->len[e]) & (uint64_t)(nslots - 1);
        while (s[h]) h = (h + 1) & (uint64_t)(nslots - 1);
        s[h] = (int32_t)(e + 1);
    }
    free(lx->slots);
    lx->slots = s;
    lx->nslots = nslots;
    return 0;
}

static int push_own(text_lexicon *lx, int lang, long e) {
    size_t cap = (size_t)lx->capown[lang];
    if (grow((void **)&lx->own[lang], &cap, (size_t)lx->nown[lang] + 1, sizeof(int32_t))) return -1;
    lx->capown[lang] = (long)cap;
    lx->own[lang][lx->nown[lang]++] = (int32_t)e;
    return 0;
}

/* Record word w (n bytes) as a member of list `lang`. 0, or -1 when out of memory. */
static int insert(text_lexicon *lx, int lang, const uint8_t *w, int n) {
    if (lx->entries * 2 >= lx->nslots && rehash(lx, lx->nslots ? lx->nslots * 2 : 1L << 20)) return -1;
    const uint8_t bit = (uint8_t)(1u << lang);
    uint64_t h = fnv1a(w, (size_t)n) & (uint64_t)(lx->nslots - 1);
    for (; lx->slots[h]; h = (h + 1) & (uint64_t)(lx->nslots - 1)) {
        const long e = lx->slots[h] - 1;
        if (lx->len[e] == n && !memcmp(lx->arena + lx->off[e], w, (size_t)n)) {
            if (lx->mask[e] & bit) return 0; /* a duplicate within the list */
            lx->mask[e] |= bit;
            return push_own(lx, lang, e);
        }
    }
    size_t cap = lx->arena_cap, ecap = (size_t)lx->entries_cap, ecap2 = ecap, ecap3 = ecap;
    if (grow((void **)&lx->arena, &cap, lx->arena_used + (size_t)n, 1) ||
        grow((void **)&lx->off, &ecap, (size_t)lx->entries + 1, sizeof(uint32_t)) ||
        grow((void **)&lx->len, &ecap2, (size_t)lx->entries + 1, 1) ||
        grow((void **)&lx->mask, &ecap3, (size_t)lx->entries + 1, 1))
        return -1;
    lx->arena_cap = cap;
    lx->entries_cap = (long)ecap; /* the three arrays grow in step */
    const long e = lx->entries++;
    memcpy(lx->arena + lx->arena_used, w, (size_t)n);
    lx->off[e] = (uint32_t)lx->arena_used;
    lx->len[e] = (uint8_t)n;
    lx->mask[e] = bit;
    lx->arena_used += (size_t)n;
    lx->slots[h] = (int32_t)(e + 1);
    return push_own(lx, lang, e);
}

static int add_list(text_inst *m, text_lexicon *lx, int lang) {
    uint8_t *buf, word[TXT_MAX_LEN];
    size_t n;
    if (read_file(m, lang, &buf, &n)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        const int len = text_normalize(buf + i, j - i, word, m->max_len);
        if (len >= m->min_len && insert(lx, lang, word, len)) rc = oom(m);
        i = j + 1;
    }
    free(buf);
    return rc;
}

void lexicon_free(text_lexicon *lx) {
    free(lx->arena), free(lx->off), free(lx->len), free(lx->mask), free(lx->slots);
    for (int l = 0; l < TXT_LANGS; l++) free(lx->own[l]);
    memset(lx, 0, sizeof *lx);
}

int lexicon_build(text_inst *m, text_lexicon *lx) {
    memset(lx, 0, sizeof *lx);
    for (int l = 0; l < TXT_LANGS; l++)
        if (add_list(m, lx, l)) {
            lexicon_free(lx);
            return -1;
        }
    /* keep, per language, the words of that list alone (file order is preserved) */
    for (int l = 0; l < TXT_LANGS; l++) {
        long k = 0;
        for (long i = 0; i < lx->nown[l]; i++)
            if (lx->mask[lx->own[l][i]] == (uint8_t)(1u << l)) lx->own[l][k++] = lx->own[l][i];
        lx->nown[l] = k;
        m->pool[l] = k;
    }
    return 0;
}
