#include "synthetic.h"

#include <math.h>

#include "rng.h"

void m2pt_synthetic_gratings(float *images, int *labels, int n, int h, int w, int classes,
                             float noise, uint64_t seed) {
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < n; i++) {
        m2pt_rng r;
        m2pt_rng_seed(&r, seed, (uint64_t)i);
        const int k = (int)m2pt_rng_below(&r, (uint32_t)classes);
        const double theta = pi * k / classes;
        const double freq = (2.0 + m2pt_rng_uniform(&r)) / (double)(w > h ? w : h); /* cycles/px */
        const double phase = 2.0 * pi * m2pt_rng_uniform(&r);
        const double contrast = 0.25 + 0.25 * m2pt_rng_uniform(&r);
        const double c = cos(theta), s = sin(theta);
        float *img = images + (long)i * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = 0.5 + contrast * sin(2.0 * pi * freq * (x * c + y * s) + phase);
                img[y * w + x] = (float)(v + noise * m2pt_rng_normal(&r));
            }
        labels[i] = k;
    }
}
