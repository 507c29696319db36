/* The plugin conformance suite behind `m2pt plugins --check FILE.so`: descriptor sanity (the
 * loader), dataset sizes, classes and names, deterministic batch filling, tokenizer and head
 * gradients against finite differences for modalities; W, pathway tensor gradients and merge
 * equivalence for pathways. Prints one line per check. */
#ifndef M2PT_CONFORMANCE_H
#define M2PT_CONFORMANCE_H

#include "kv.h"
#include "loader.h"

/* cfg: the plugin's config section (may be NULL). Returns the number of failed checks. */
int m2pt_conformance(const m2pt_loaded *plugin, m2pt_kv *cfg);

#endif
