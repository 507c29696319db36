/* A small procedurally generated image classification task, deterministic in its seed, for
 * the demo, the benchmark and the engine's tests (no data files needed). Class k is a
 * sinusoidal grating at orientation k * pi / classes with random phase, frequency jitter,
 * contrast and additive Gaussian noise, on a [1, H, W] image with values around [0, 1]. */
#ifndef M2PT_SYNTHETIC_H
#define M2PT_SYNTHETIC_H

#include <stdint.h>

/* Fill n images [n, 1, h, w] and labels; sample i depends only on (seed, i). */
void m2pt_synthetic_gratings(float *images, int *labels, int n, int h, int w, int classes,
                             float noise, uint64_t seed);

#endif
