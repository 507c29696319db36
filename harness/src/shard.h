/* Sharding an experiment: `m2pt run EXP.yaml --shard K/N` runs a deterministic 1/N of the cells.
 *
 * The plan assigns every cell of the experiment to one shard 1..N, balancing estimated cost
 * (cost.h) with the longest-processing-time rule: auxiliary cells first, spread over the shards
 * among themselves (most expensive first, each to the shard with the least auxiliary work so
 * far), then target cells the same way on the target work (ties: the shard that owns the cell's
 * auxiliary model, then the least total work, then the lowest shard number). The plan depends only on the experiment and N, so every shard computes
 * the same one on its own.
 *
 * Shard K's part of the experiment is its own auxiliary cells, then the auxiliary cells that its
 * target cells need but another shard owns, then its own target cells, each in grid order. The
 * auxiliary models are shared through the checkpoint cache and its file locks (runner.h): a shard
 * that needs another shard's auxiliary model waits for it, imports it when it is there, or trains
 * it when nobody does (also when its owner died), so it is never trained twice. With aux_only,
 * the part is shard K's own auxiliary cells alone (the auxiliary phase of `m2pt slurm`). */
#ifndef M2PT_SHARD_H
#define M2PT_SHARD_H

#include <stddef.h>

#include "experiment.h"

#define M2PT_MAX_SHARDS 10000

/* "K/N" with 1 <= K <= N <= M2PT_MAX_SHARDS. 0, or -1 with a one-line reason in err. */
int m2pt_shard_parse(const char *text, int *k, int *n, char *err, size_t errlen);

/* The plan: shard_of[i] in 1..n for every cell i of exp, from cost[i] >= 0. 0, or -1 when out of
 * memory. */
int m2pt_shard_assign(const m2pt_experiment *exp, const double *cost, int n, int *shard_of);

/* Shard k's part of `whole` (see above) as an experiment that borrows everything from whole:
 * release it with m2pt_shard_part_free, never m2pt_experiment_free. 0, or -1 (out of memory). */
int m2pt_shard_part(const m2pt_experiment *whole, const int *shard_of, int k, int aux_only, m2pt_experiment *part);
void m2pt_shard_part_free(m2pt_experiment *part);

/* Print shard k's part as `m2pt run --shard K/N --dry-run` does: a line with its share of the
 * cells and of the estimated cost, then one line per cell (hash, role, whose it is, cost). */
void m2pt_shard_print(const m2pt_experiment *whole, const int *shard_of, const double *cost, int k, int n,
                      const m2pt_experiment *part, FILE *out);

#endif
