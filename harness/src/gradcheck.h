/* Finite-difference gradient checking for float32 code (engine tests and the plugin
 * conformance suite).
 *
 * The scalar under test is L = sum_i r_i * y_i for a fixed random projection r (accumulated in
 * double), so every output element contributes. Central differences with step h; an element
 * passes when |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|). The check also
 * reports the normalised error ||a - n|| / ||n|| over the sampled elements. An element whose
 * central difference straddles a kink (max, ReLU) is excused when a 10x smaller step or a
 * one-sided difference matches; more than a quarter of the elements excused fails the check. */
#ifndef M2PT_GRADCHECK_H
#define M2PT_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    double h, atol, rtol;
    int samples; /* elements to check per tensor (all when <= 0 or >= n); half of them are
                  * drawn among the elements whose analytic gradient is non-zero */
} gc_opts;

/* Perturbs x[i] for sampled i, calls loss(ctx) twice per element, compares with grad[i].
 * Prints one line: `label: checked N, max abs err, normalised err`. Returns the number of
 * failing elements (0 = pass). x is restored. */
int gc_check(const char *label, gc_loss_fn loss, void *ctx, float *x, const float *grad, size_t n,
             const gc_opts *o);

/* Fill with uniform values in [lo, hi) from a fixed seed. */
void gc_fill(float *x, size_t n, uint64_t seed, float lo, float hi);
/* sum_i r_i * y_i in double. */
double gc_dot(const float *r, const float *y, size_t n);

#endif
