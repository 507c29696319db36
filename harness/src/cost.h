/* Estimated training cost of the cells of an experiment, for balancing shards (shard.h).
 *
 * cost = epochs x training samples x depth x dim^2 x (4 + 2 x mlp_ratio): the multiply-adds of
 * the block linears (qkv 3, proj 1, fc1 and fc2 mlp_ratio each, in units of dim^2) per token,
 * for every sample of every epoch. The training split size is the cell's train_size option, or
 * else asked of its modality plugin, opened with the cell's data options (its own default
 * applies, e.g. 55000 images). The
 * token count and evaluation are left out: the sequence lengths of the modalities are alike
 * (25-50) and evaluation is a small part of a run. Only ratios matter. */
#ifndef M2PT_COST_H
#define M2PT_COST_H

#include <stddef.h>

#include "experiment.h"

/* cost[i] for every cell of exp. 0, or -1 with a one-line reason (a plugin that does not open). */
int m2pt_cell_costs(const m2pt_experiment *exp, double *cost, char *err, size_t errlen);

#endif
