/* `m2pt merge OUT.db IN.db...`: combines result databases (the shards of a grid) into one.
 *
 * A run is a cell hash: the same configuration in several inputs is one run in the output.
 * For each run of an input, against the output's run of the same cell (docs/store.md):
 *   none in the output                         -> added
 *   done in both, same results                 -> same (the record with more metrics and summary
 *                                                 values stays: a trained auxiliary model beats
 *                                                 its import from the cache)
 *   done in both, different results            -> conflict: the whole merge is refused
 *   done in the input only                     -> replaced (e.g. a rerun shard finished it)
 *   unfinished in both                         -> the later attempt stays
 *   done in the output, unfinished in the input -> skipped
 * Results are the summary values except timings (train_seconds, wall_seconds), compared bit for
 * bit; a value that one side does not have (an auxiliary model imported from the cache keeps
 * fewer) does not differ. A run still 'running' in an input is merged as 'interrupted'.
 *
 * Everything is one transaction: a refused merge writes nothing (and a new output file is
 * removed again). Experiments are matched by name, their axes and memberships united, shard
 * plans (shard_db.h) copied; the runs are written in the plans' cell order. Provenance: every
 * run keeps its own columns (host, pid, git, times, attempt); table merge_sources records each
 * input (path, a fingerprint of its contents, host, time, counts) and merge_runs which input run
 * each output run came from and what happened to it. An input whose fingerprint is already in
 * merge_sources was merged before and is skipped, so merging the same shard twice changes
 * nothing. The inputs are only read. */
#ifndef M2PT_MERGE_H
#define M2PT_MERGE_H

#include <stddef.h>

typedef struct {
    const char *path;     /* as given */
    int skipped;          /* 0 merged; 1 merged before (same fingerprint); 2 the same file given again */
    long long source_id;  /* its row in merge_sources (also when merged before) */
    int runs, added, replaced, same, older;
} m2pt_merge_input;

/* Merges in[0..nin) into the database at out (created when missing). 0 ok; -1 with a one-line
 * reason in err, nothing written; *bad_input is set when the inputs are at fault (a conflict,
 * a missing or foreign database, the output given as an input), clear when it is the system. */
int m2pt_merge(const char *out, m2pt_merge_input *in, int nin, int *bad_input, char *err, size_t errlen);

#endif
