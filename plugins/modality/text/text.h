/* Text modality plugin (language identification of single words from the Debian word lists):
 * internal declarations shared by its files. Only m2pt_plugin_query is exported; everything
 * here has hidden visibility. */
#ifndef M2PT_TEXT_H
#define M2PT_TEXT_H

#include <m2pt/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define TXT_LANGS 8
#define TXT_PAD 256             /* token id of a padding position (byte values are 0..255) */
#define TXT_VOCAB 257           /* rows of the byte embedding: 256 bytes + padding */
#define TXT_MAX_LEN 64          /* bound of max_len: T = max_len + 1 <= 65 tokens */
#define TXT_MAX_SPLIT 4000000L  /* bound on a configured split size */
#define TXT_MAX_BATCH 65536
#define TXT_MAX_DIM 65536
#define TXT_PATH_MAX 4096

/* One language: its class name, the file under dict_dir and the Debian package shipping it. */
typedef struct {
    const char *name, *file, *package;
} text_lang;

extern const text_lang text_langs[TXT_LANGS];

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    char dict_dir[TXT_PATH_MAX], cache_dir[TXT_PATH_MAX];
    long size[3]; /* requested train (0 = all), val, test sizes, per m2pt_split_id */
    int max_len, min_len;
    uint64_t split_seed;

    /* data: per split, words as bytes [count, max_len] (zero after the word's end) + labels */
    uint8_t *words[3], *labels[3];
    long count[3];
    long pool[TXT_LANGS]; /* distinct usable words per language after filtering */

    /* model (after setup) */
    int tokens, dim, max_batch, set_up;
    int h_embed, h_pos, h_cls, h_norm_w, h_norm_b, h_head_w, h_head_b;
    int16_t *ids; /* [B, max_len] token ids of the last tokenize */
    int tok_n;    /* n of the last tokenize, -1 before */
    float *pooled, *normed, *mean, *rstd, *d_normed, *d_pooled;
    int head_n; /* n of the last head, -1 before */
} text_inst;

/* normalize.c: one raw line -> normalised UTF-8 word in out[0..max_out). Returns its length in
 * bytes, or -1 when the entry is dropped (a character that is not a letter, or too long). */
int text_normalize(const uint8_t *line, size_t n, uint8_t *out, int max_out);

/* lexicon.c: read the eight lists, normalise, drop words of several lists. */
typedef struct {
    uint8_t *arena;    /* normalised words, back to back */
    uint32_t *off;     /* [entries] offset into arena */
    uint8_t *len, *mask; /* [entries] length in bytes; bit l: the word is in list l */
    int32_t *slots;    /* open-addressing hash table of entry index + 1 (0 = empty) */
    int32_t *own[TXT_LANGS]; /* per language: its entries, in file order */
    long nown[TXT_LANGS], capown[TXT_LANGS];
    size_t arena_used, arena_cap;
    long entries, entries_cap, nslots;
} text_lexicon;
int lexicon_build(text_inst *m, text_lexicon *lx);
void lexicon_free(text_lexicon *lx);

/* split.c: balanced per-language partitions of the filtered lists into the three splits. */
int split_build(text_inst *m, const text_lexicon *lx);

/* cache.c: 0 when the splits were read from a valid cache file; otherwise build them
 * (split_build) and try to store them. Returns -1 only after fail(). */
int cache_load_or_build(text_inst *m);

/* fill.c */
int text_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
              float *raw, int *labels);

/* tokenizer.c / head.c */
int tok_setup(text_inst *m);
void text_tokenize(void *inst, const float *raw, int n, float *tokens);
void text_tokenize_backward(void *inst, const float *d_tokens, int n);
int head_setup(text_inst *m);
void text_head(void *inst, const float *tokens, int n, float *logits);
void text_head_backward(void *inst, const float *d_logits, int n, float *d_tokens);

/* recon.c: ABI 1.1 reconstruction target of the last tokenize (cross-entropy on the byte ids). */
int text_recon_spec(void *inst, m2pt_recon_spec *spec);
void text_recon_target(void *inst, int n, float *target, float *weight, float *pos);

/* tokenizer.c: report (fail) a call with a bad batch size; non-zero if so. expect: n of the
 * matching forward call, -1 for no constraint, -2 when that forward call never happened. */
int text_bad_n(text_inst *m, const char *what, int n, int expect);

/* text.c: host->alloc of n floats (NULL after fail()). */
float *text_alloc_floats(text_inst *m, size_t n);

#endif
