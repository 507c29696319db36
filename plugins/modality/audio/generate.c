/* Data generation. Sample i of a split speaks word i % W with voice (i / W) % V, so every split
 * is class-balanced and voice-balanced. Each (word, voice) pair draws its prosody tuples
 * (rate, pitch, pitch range) from its own seeded stream, all distinct, and hands them out in
 * order: validation first, then test, then train. No utterance can therefore appear in two
 * splits (or twice in one), and validation and test do not depend on train_size (a smaller
 * train split is a prefix of a larger one, up to the cache). Each utterance is synthesized
 * once, trimmed of silence, placed at a random onset in the window, mixed with white or pink
 * noise at a random SNR, scaled by a random gain and turned into a quantized log-mel.
 * This runs in the child process of child.c: errors go through au_fail. */
#include "audio.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_PROSODY 0x617564696f2d7072ull /* "audio-pr" */
#define STREAM_SAMPLE 0x617564696f2d736dull  /* "audio-sm" */
#define INNER_SAMPLES ((AU_FRAMES - 1) * AU_HOP + AU_WIN)

typedef struct {
    short rate, pitch, range;
} tuple;

typedef struct {
    audio_inst *m;
    melspec *spec;
    float *utter, *ext, *noise;
    tuple *tuples; /* per pair, back to back */
    long *pair_start;
    _Atomic long *done;
} gen;

/* Samples of word w with voice v in a split of n samples (see the layout above). */
static long pair_count(long n, int w, int v, int voices) {
    const long per_word = n > w ? (n - w + AU_WORDS - 1) / AU_WORDS : 0;
    return per_word > v ? (per_word - v + voices - 1) / voices : 0;
}

/* Index of the first tuple of (w, v) that split s uses: val first, then test, then train. */
static long split_offset(const audio_params *p, m2pt_split_id s, int w, int v) {
    long off = 0;
    if (s == M2PT_SPLIT_VAL) return 0;
    off += pair_count(p->size[M2PT_SPLIT_VAL], w, v, p->voices);
    if (s == M2PT_SPLIT_TEST) return off;
    return off + pair_count(p->size[M2PT_SPLIT_TEST], w, v, p->voices);
}

static int draw(const m2pt_host *h, m2pt_rng_state *r, int lo, int hi) {
    return lo + (int)(h->rng_u64(r) % (uint64_t)(hi - lo + 1));
}

/* Distinct prosody tuples for every pair. The caller checked that the parameter space holds
 * enough tuples, so the rejection loop ends. */
static void draw_tuples(gen *g) {
    const audio_params *p = &g->m->p;
    const m2pt_host *h = g->m->host;
    long at = 0;
    for (int w = 0; w < AU_WORDS; w++)
        for (int v = 0; v < p->voices; v++) {
            const int pair = w * p->voices + v;
            long k = 0;
            for (int s = 0; s < 3; s++) k += pair_count(p->size[s], w, v, p->voices);
            m2pt_rng_state r;
            h->rng_seed(&r, p->seed, STREAM_PROSODY + (uint64_t)pair);
            g->pair_start[pair] = at;
            tuple *t = g->tuples + at;
            for (long j = 0; j < k; j++) {
                int dup;
                do {
                    t[j].rate = (short)draw(h, &r, p->rate_min, p->rate_max);
                    t[j].pitch = (short)draw(h, &r, p->pitch_min, p->pitch_max);
                    t[j].range = (short)draw(h, &r, p->range_min, p->range_max);
                    dup = 0;
                    for (long q = 0; q < j && !dup; q++)
                        dup = t[q].rate == t[j].rate && t[q].pitch == t[j].pitch && t[q].range == t[j].range;
                } while (dup);
            }
            at += k;
        }
}

/* Near-Gaussian unit-variance white noise: the sum of four 16-bit uniforms of one rng_u64
 * (Irwin-Hall), standardised. Cheaper than Box-Muller by an order of magnitude, and after
 * the FFT (a sum over 551 samples) indistinguishable from Gaussian noise. */
static void white_noise(const m2pt_host *h, m2pt_rng_state *r, float *x, int n) {
    const float scale = 1.7320508f / 65536.0f; /* sqrt(12 / 4) per unit of 2^16 */
    for (int i = 0; i < n; i++) {
        const uint64_t u = h->rng_u64(r);
        const uint32_t s = (uint32_t)(u & 0xffff) + (uint32_t)((u >> 16) & 0xffff) + (uint32_t)((u >> 32) & 0xffff) +
                           (uint32_t)(u >> 48);
        x[i] = ((float)s - 2.0f * 65535.0f) * scale;
    }
}

/* Unit-RMS pink noise: Paul Kellet's filter of white noise (within 0.05 dB of 1/f above 9 Hz). */
static void pink_noise(const m2pt_host *h, m2pt_rng_state *r, float *x, int n) {
    double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, ss = 0;
    white_noise(h, r, x, n);
    for (int i = 0; i < n; i++) {
        const double w = x[i];
        b0 = 0.99886 * b0 + w * 0.0555179;
        b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520;
        b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522;
        b5 = -0.7616 * b5 - w * 0.0168980;
        const double y = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
        b6 = w * 0.115926;
        x[i] = (float)y;
        ss += y * y;
    }
    const float scale = ss > 0 ? (float)(1.0 / sqrt(ss / n)) : 0.0f;
    for (int i = 0; i < n; i++) x[i] *= scale;
}

/* The trimmed word [a, b] of g->utter placed, mixed and analysed into out. */
static void mix(gen *g, m2pt_split_id s, long i, int a, int b, uint8_t *out) {
    const audio_inst *m = g->m;
    const m2pt_host *h = m->host;
    m2pt_rng_state r;
    h->rng_seed(&r, m->p.seed, STREAM_SAMPLE ^ ((uint64_t)(s + 1) << 40) ^ (uint64_t)i);
    const int len = b - a + 1;
    /* random onset inside the central window; a word longer than the window is centred */
    const int onset = len <= INNER_SAMPLES ? (int)(h->rng_uniform(&r) * (float)(INNER_SAMPLES - len + 1))
                                           : (INNER_SAMPLES - len) / 2;
    const double snr = m->p.snr_min + (m->p.snr_max - m->p.snr_min) * (double)h->rng_uniform(&r);
    const int pink = (int)(h->rng_u64(&r) >> 63);
    const double gain_db = m->p.gain_db * (2.0 * (double)h->rng_uniform(&r) - 1.0);
    double power = 0.0;
    memset(g->ext, 0, AU_EXT_SAMPLES * sizeof(float));
    for (int j = 0; j < len; j++) {
        const float x = g->utter[a + j];
        power += (double)x * x;
        const int pos = AU_MARGIN * AU_HOP + onset + j;
        if (pos >= 0 && pos < AU_EXT_SAMPLES) g->ext[pos] = x;
    }
    power /= len;
    if (pink)
        pink_noise(h, &r, g->noise, AU_EXT_SAMPLES);
    else
        white_noise(h, &r, g->noise, AU_EXT_SAMPLES);
    const float sigma = (float)sqrt(power / pow(10.0, snr / 10.0)), gain = (float)pow(10.0, gain_db / 20.0);
    for (int j = 0; j < AU_EXT_SAMPLES; j++) g->ext[j] = gain * (g->ext[j] + sigma * g->noise[j]);
    melspec_compute(g->spec, g->ext, out);
}

static int one(gen *g, m2pt_split_id s, long i, int w, int v) {
    audio_inst *m = g->m;
    const long r = i / AU_WORDS / m->p.voices; /* how many earlier samples of this split the pair has */
    const tuple *t = g->tuples + g->pair_start[w * m->p.voices + v] + split_offset(&m->p, s, w, v) + r;
    int len = 0;
    if (synth_word(m, audio_words[w], t->rate, t->pitch, t->range, g->utter, AU_MAX_UTTER, &len)) return -1;
    float peak = 0.0f;
    for (int j = 0; j < len; j++) peak = fmaxf(peak, fabsf(g->utter[j]));
    const float thr = 0.02f * peak;
    int a = 0, b = len - 1;
    while (a < len && fabsf(g->utter[a]) <= thr) a++;
    while (b > a && fabsf(g->utter[b]) <= thr) b--;
    if (peak <= 0.0f || a >= len) {
        au_fail(m, "libespeak-ng produced silence for \"%s\"; apt-get install --reinstall libespeak-ng1 "
                "espeak-ng-data", audio_words[w]);
        return -1;
    }
    m->labels[s][i] = (uint8_t)w;
    mix(g, s, i, a, b, m->feats[s] + (size_t)i * m->sample_bytes);
    atomic_fetch_add_explicit(g->done, 1, memory_order_relaxed);
    return 0;
}

/* Voice by voice (switching voices reloads files), every split's samples of that voice. */
static int run(gen *g) {
    audio_inst *m = g->m;
    const int V = m->p.voices;
    for (int v = 0; v < V; v++) {
        if (synth_set_voice(m, v)) return -1;
        for (int s = 0; s < 3; s++) {
            const long n = m->p.size[s];
            for (long p = v; p * AU_WORDS < n; p += V)
                for (int w = 0; w < AU_WORDS && p * AU_WORDS + w < n; w++)
                    if (one(g, (m2pt_split_id)s, p * AU_WORDS + w, w, v)) return -1;
        }
    }
    return 0;
}

int generate_data(audio_inst *m, _Atomic long *done) {
    const long total = m->p.size[0] + m->p.size[1] + m->p.size[2];
    if (synth_init(m)) return -1;
    gen g = {.m = m, .done = done};
    g.spec = melspec_new(m->p.mels);
    g.utter = malloc(AU_MAX_UTTER * sizeof(float));
    g.ext = malloc(AU_EXT_SAMPLES * sizeof(float));
    g.noise = malloc(AU_EXT_SAMPLES * sizeof(float));
    g.tuples = malloc((size_t)(total ? total : 1) * sizeof(tuple));
    g.pair_start = malloc((size_t)AU_WORDS * m->p.voices * sizeof(long));
    int rc = -1;
    if (!g.spec || !g.utter || !g.ext || !g.noise || !g.tuples || !g.pair_start) {
        au_fail(m, "out of memory preparing the data generation (or FFTW could not plan a %d-point FFT)", AU_NFFT);
    } else {
        draw_tuples(&g);
        rc = run(&g);
    }
    melspec_free(g.spec);
    free(g.utter), free(g.ext), free(g.noise), free(g.tuples), free(g.pair_start);
    return rc;
}
