/* A sharded run's plan in the result store, and how far a shard got.
 *
 * `m2pt run --shard K/N` records the whole plan, not only its own part, in its database: table
 * shard_plan (experiment, cell_hash, role, position, shard, shards, cost), one row per cell of
 * the experiment; position is the cell's index in the experiment (auxiliary cells first, then
 * the target cells in grid order). The table is created when first needed, beside the store's
 * schema (docs/store.md). `m2pt merge` carries plans into its output, orders the merged runs by
 * position (so that run ids, and the order of groups in `m2pt compare`, are those of a
 * single-machine run) and reports which planned cells are not done. */
#ifndef M2PT_SHARD_DB_H
#define M2PT_SHARD_DB_H

#include <stddef.h>
#include <stdio.h>

#include "experiment.h"

struct sqlite3;

/* Creates shard_plan when it does not exist (inside the caller's transaction, if any). */
int m2pt_plan_ensure(struct sqlite3 *db, char *err, size_t errlen);

/* Records the plan of `whole` (replacing an earlier plan of the experiment) in the database at
 * db_path, creating it when needed. */
int m2pt_plan_record(const char *db_path, const m2pt_experiment *whole, const int *shard_of, const double *cost, int n,
                     char *err, size_t errlen);

/* How many of shard k's own cells of this role are not done in the database at db_path (all of
 * them when there is no database yet). */
int m2pt_shard_todo(const char *db_path, const m2pt_experiment *whole, const int *shard_of, int k, m2pt_role role,
                    int *todo, char *err, size_t errlen);

/* For every experiment with a plan in the database: one line "PREFIXexperiment NAME: D of P planned
 * cells done" and, when some are not, which shards they belong to. */
int m2pt_plan_status(struct sqlite3 *db, FILE *out, const char *prefix, char *err, size_t errlen);

#endif
