/* Log-mel spectrogram with FFTW (single precision): 25 ms Hann window, 10 ms hop, zero-padded
 * to a 1024-point FFT, power |X|^2 divided by the window energy, triangular mel filters (HTK
 * mel scale, 60-8000 Hz), natural log of (1e-6 + band power), quantized to bytes. The plan and
 * every buffer are made once per generation in melspec_new. */
#include "audio.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FMIN 60.0
#define FMAX 8000.0
#define PI 3.14159265358979323846

struct melspec {
    int mels;
    fftwf_plan plan;
    float *in;
    fftwf_complex *out;
    float window[AU_WIN];
    float power[AU_BINS];
    int *lo, *hi;    /* per band: bins [lo, hi) */
    float *weights;  /* per band: hi - lo weights, bands back to back */
    int *offset;     /* per band: start in weights */
};

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* Triangular filters on the bin frequencies. A band too narrow to cover a bin centre gets
 * the nearest bin, so that no band is constant. */
static int build_filters(melspec *s) {
    const int M = s->mels;
    const double m0 = hz_to_mel(FMIN), m1 = hz_to_mel(FMAX), bin_hz = (double)AU_RATE / AU_NFFT;
    s->lo = malloc((size_t)M * sizeof(int));
    s->hi = malloc((size_t)M * sizeof(int));
    s->offset = malloc((size_t)M * sizeof(int));
    s->weights = malloc((size_t)M * AU_BINS * sizeof(float));
    if (!s->lo || !s->hi || !s->offset || !s->weights) return -1;
    int used = 0;
    for (int b = 0; b < M; b++) {
        const double fl = mel_to_hz(m0 + (m1 - m0) * b / (M + 1));
        const double fc = mel_to_hz(m0 + (m1 - m0) * (b + 1) / (M + 1));
        const double fr = mel_to_hz(m0 + (m1 - m0) * (b + 2) / (M + 1));
        int lo = (int)ceil(fl / bin_hz), hi = (int)floor(fr / bin_hz) + 1;
        if (lo < 0) lo = 0;
        if (hi > AU_BINS) hi = AU_BINS;
        s->offset[b] = used;
        int any = 0;
        for (int k = lo; k < hi; k++) {
            const double f = k * bin_hz;
            double w = f <= fc ? (f - fl) / (fc - fl) : (fr - f) / (fr - fc);
            if (w < 0) w = 0;
            any |= w > 0;
            s->weights[used + k - lo] = (float)w;
        }
        if (!any || hi <= lo) {
            lo = (int)lround(fc / bin_hz);
            hi = lo + 1;
            s->weights[used] = 1.0f;
        }
        s->lo[b] = lo;
        s->hi[b] = hi;
        used += hi - lo;
    }
    return 0;
}

melspec *melspec_new(int mels) {
    melspec *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->mels = mels;
    s->in = fftwf_malloc(AU_NFFT * sizeof(float));
    s->out = fftwf_malloc(AU_BINS * sizeof(fftwf_complex));
    if (!s->in || !s->out || build_filters(s)) {
        melspec_free(s);
        return NULL;
    }
    /* ESTIMATE: no timing runs, and the plan does not depend on the machine's load */
    s->plan = fftwf_plan_dft_r2c_1d(AU_NFFT, s->in, s->out, FFTW_ESTIMATE);
    if (!s->plan) {
        melspec_free(s);
        return NULL;
    }
    double energy = 0.0;
    for (int i = 0; i < AU_WIN; i++) {
        const double w = 0.5 - 0.5 * cos(2.0 * PI * i / AU_WIN);
        s->window[i] = (float)w;
        energy += w * w;
    }
    /* fold the power normalisation into the window: |FFT(w x / sqrt(E))|^2 = |FFT(w x)|^2 / E */
    for (int i = 0; i < AU_WIN; i++) s->window[i] /= (float)sqrt(energy);
    memset(s->in, 0, AU_NFFT * sizeof(float));
    return s;
}

void melspec_free(melspec *s) {
    if (!s) return;
    if (s->plan) fftwf_destroy_plan(s->plan);
    fftwf_free(s->in);
    fftwf_free(s->out);
    free(s->lo), free(s->hi), free(s->offset), free(s->weights);
    free(s);
}

static uint8_t quantize(double p) {
    const float q = (logf((float)(1e-6 + p)) - AU_Q_LO) / AU_Q_STEP;
    return q <= 0.0f ? 0 : q >= 255.0f ? 255 : (uint8_t)lrintf(q);
}

void melspec_compute(melspec *s, const float *wav, uint8_t *out) {
    for (int t = 0; t < AU_FRAMES_EXT; t++) {
        const float *x = wav + (size_t)t * AU_HOP;
        for (int i = 0; i < AU_WIN; i++) s->in[i] = x[i] * s->window[i]; /* in[AU_WIN..] stays 0 */
        fftwf_execute(s->plan);
        for (int k = 0; k < AU_BINS; k++) s->power[k] = s->out[k][0] * s->out[k][0] + s->out[k][1] * s->out[k][1];
        uint8_t *row = out + (size_t)t * s->mels;
        for (int b = 0; b < s->mels; b++) {
            const float *w = s->weights + s->offset[b];
            double acc = 0.0;
            for (int k = s->lo[b]; k < s->hi[b]; k++) acc += (double)w[k - s->lo[b]] * s->power[k];
            row[b] = quantize(acc);
        }
    }
}
