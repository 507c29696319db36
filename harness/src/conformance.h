/* The plugin conformance suite behind `m2pt plugins --check FILE.so`: descriptor sanity (the
 * loader), dataset sizes, classes and names, deterministic batch filling, tokenizer and head
 * gradients against finite differences and (ABI 1.1) the masked-autoencoder reconstruction
 * spec and targets for modalities; W, pathway tensor gradients and merge equivalence for
 * pathways. Prints one line per check. */
#ifndef M2PT_CONFORMANCE_H
#define M2PT_CONFORMANCE_H

#include "host.h"
#include "kv.h"
#include "loader.h"
#include "params.h"

/* cfg: the plugin's config section (may be NULL). Returns the number of failed checks. */
int m2pt_conformance(const m2pt_loaded *plugin, m2pt_kv *cfg);

/* conformance_recon.c: the recon_spec / recon_target checks on a set-up modality instance
 * (its tensors in params, allocated), with n filled samples raw of `sample` floats each, of a
 * modality of T tokens of width dim. A table without them (ABI 1.0) gets one informative line. Checks: the spec
 * is sane (loss kind, 0 <= prefix_tokens < T, target_floats > 0, CHAMFER: a multiple of 3,
 * CLASS: classes >= 2 and target_floats 1, pos_floats >= 0), every head prefix names a
 * registered tensor and some tensor is left out; after one tokenize, two recon_target calls
 * write every output identically without host->alloc or heap growth; targets and positions
 * finite, weights 0 or 1 (some 1), class ids integers in [0, classes); after a tokenize of
 * samples 1..n-1 alone, the targets are theirs of the first batch. Returns the failed checks. */
int m2pt_conformance_recon(const m2pt_loaded *plugin, void *inst, m2pt_ctx *ctx, const m2pt_params *params,
                           const float *raw, long sample, int n, int T, int dim);

#endif
