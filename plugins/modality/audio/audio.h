/* Audio modality plugin (spoken command words synthesized with libespeak-ng): internal
 * declarations shared by its files. Only m2pt_plugin_query is exported; everything here has
 * hidden visibility. */
#ifndef M2PT_AUDIO_H
#define M2PT_AUDIO_H

#include <m2pt/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define AU_WORDS 20        /* classes: the ten digits and ten command words */
#define AU_ACCENTS 8       /* English accents of espeak-ng */
#define AU_VARIANTS 12     /* voice variants m1..m7, f1..f5 */
#define AU_MAX_VOICES (AU_ACCENTS * AU_VARIANTS)
#define AU_RATE 22050      /* espeak-ng's output sample rate */
#define AU_WIN 551         /* analysis window: 25 ms */
#define AU_HOP 220         /* frame step: 9.98 ms */
#define AU_NFFT 1024       /* the window zero-padded: 21.5 Hz bins */
#define AU_BINS (AU_NFFT / 2 + 1)
#define AU_FRAMES 96       /* frames of one sample: 0.97 s */
#define AU_MARGIN 8        /* extra frames stored on each side for the random shift */
#define AU_FRAMES_EXT (AU_FRAMES + 2 * AU_MARGIN)
#define AU_EXT_SAMPLES ((AU_FRAMES_EXT - 1) * AU_HOP + AU_WIN) /* waveform of the stored frames */
#define AU_MAX_UTTER (4 * AU_RATE) /* longest synthesized word kept (4 s; words are < 1.5 s) */
#define AU_MAX_SPLIT 200000L
#define AU_MAX_BATCH 65536
#define AU_MAX_DIM 65536
#define AU_PATH_MAX 4096
/* Features are stored as bytes: log-mel = AU_Q_LO + q * AU_Q_STEP (natural log of power). */
#define AU_Q_LO (-14.0f)
#define AU_Q_STEP 0.1f

/* Everything that decides the data (the cache key is a hash of this and a format version). */
typedef struct {
    uint64_t seed;
    long size[3]; /* per m2pt_split_id */
    int voices, rate_min, rate_max, pitch_min, pitch_max, range_min, range_max, mels;
    double snr_min, snr_max, gain_db;
} audio_params;

typedef struct {
    const m2pt_host *host;
    m2pt_ctx *ctx;

    /* config (all read in open) */
    audio_params p;
    char cache_dir[AU_PATH_MAX], espeak_dir[AU_PATH_MAX];
    int aug_shift, patch_t, patch_m;

    /* set in the generation's child process only: where au_fail writes its message */
    char *child_msg;
    size_t child_msg_len;

    /* data: one block, per split labels [n] then features [n][AU_FRAMES_EXT][mels] (bytes) */
    uint8_t *data;
    size_t data_bytes;
    uint8_t *labels[3], *feats[3];
    size_t sample_bytes; /* AU_FRAMES_EXT * mels */
    float lut[256];      /* byte -> normalised log-mel (train mean 0, std 1) */
    float feat_mean, feat_std;

    /* model (after setup) */
    int grid_t, grid_m, patches, tokens, patch_dim, dim, max_batch, set_up;
    int h_patch_w, h_patch_b, h_cls, h_pos, h_norm_w, h_norm_b, h_head_w, h_head_b;
    float *patch_buf; /* [B*P, patch_dim] patches of the last tokenize */
    float *emb;       /* [B*P, dim] scratch: embeddings, then their gradient */
    int tok_n;        /* n of the last tokenize, -1 before */
    float *cls_in, *normed, *mean, *rstd, *d_normed, *d_cls; /* [B, dim] each but mean, rstd [B] */
    int head_n; /* n of the last head, -1 before */
} audio_inst;

extern const char *const audio_words[AU_WORDS];

/* Report an error: host->fail in the host process, the shared message in the child. */
void au_fail(audio_inst *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* synth.c: espeak-ng. synth_check_data runs in the host process (0, or -1 after fail());
 * the rest only in the generation's child process (0, or -1 after au_fail()). */
int synth_check_data(audio_inst *m);
int synth_init(audio_inst *m);
const char *synth_version(void);
/* Name of voice k (0 <= k < AU_MAX_VOICES), e.g. "en-us+f2". */
void synth_voice_name(int k, char *buf, size_t len);
int synth_set_voice(audio_inst *m, int k);
/* Speak one word with the given prosody into wav (floats in [-1, 1]); *len samples. */
int synth_word(audio_inst *m, const char *word, int rate, int pitch, int range, float *wav, int cap, int *len);

/* melspec.c: log-mel spectrogram with FFTW; buffers and plan made once in melspec_new. */
typedef struct melspec melspec;
melspec *melspec_new(int mels);
void melspec_free(melspec *s);
/* wav [AU_EXT_SAMPLES] -> bytes [AU_FRAMES_EXT][mels] (quantized log-mel). */
void melspec_compute(melspec *s, const float *wav, uint8_t *out);

/* generate.c (child process): synthesize every split into m->labels / m->feats, counting
 * finished utterances in *done. 0, or -1 after au_fail(). */
int generate_data(audio_inst *m, _Atomic long *done);

/* child.c (host process): run generate_data in a child process and copy its result into
 * m->data; progress is logged from here. 0, or -1 after fail(). */
int generate_all(audio_inst *m);
double audio_now(void); /* monotonic seconds */

/* audio.c: point m->labels / m->feats into a data block laid out as m->data. */
void audio_layout(audio_inst *m, uint8_t *base);

/* cache.c: cache_load returns 0 when m->data was filled from the cache, 1 when the file is
 * absent or unusable (a warning names the fault): then the caller regenerates. */
uint64_t fnv1a64(uint64_t h, const void *data, size_t n);
int cache_load(audio_inst *m);
/* Write m->data atomically; failures are logged as warnings, never fatal. */
void cache_store(audio_inst *m);

/* fill.c */
int audio_fill(void *inst, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed, float *raw,
               int *labels);

/* tokenizer.c / head.c */
int tok_setup(audio_inst *m);
void audio_tokenize(void *inst, const float *raw, int n, float *tokens);
void audio_tokenize_backward(void *inst, const float *d_tokens, int n);
int head_setup(audio_inst *m);
void audio_head(void *inst, const float *tokens, int n, float *logits);
void audio_head_backward(void *inst, const float *d_logits, int n, float *d_tokens);

/* recon.c: ABI 1.1 reconstruction target of the last tokenize (MSE on patch values). */
int audio_recon_spec(void *inst, m2pt_recon_spec *spec);
void audio_recon_target(void *inst, int n, float *target, float *weight, float *pos);

/* tokenizer.c: report (fail) a call with a bad batch size; non-zero if so. expect: n of the
 * matching forward call, -1 for no constraint, -2 when that forward call never happened. */
int audio_bad_n(audio_inst *m, const char *what, int n, int expect);

/* audio.c: host->alloc of n floats (NULL after fail()). */
float *audio_alloc_floats(audio_inst *m, size_t n);

#endif
