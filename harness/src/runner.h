/* Running an experiment's cells: auxiliary models first (trained once, cached by hash, shared
 * by every cell, experiment and database through the cache directory), then target cells,
 * every metric into the store. Finished cells are skipped; interrupted or crashed ones restart
 * cleanly. -j N forks N workers that claim cells through the store and share the threads.
 *
 * Files: <cache>/aux/<hash>.ckpt (auxiliary models), <cache>/runs/<hash>.ckpt (merged target
 * models); <cache>/aux/<hash>.lock is held (flock) while an auxiliary model is trained, so a
 * process needing it waits instead of training it twice. */
#ifndef M2PT_RUNNER_H
#define M2PT_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "experiment.h"

typedef struct {
    const char *db_path;   /* default results/m2pt.db */
    const char *cache_dir; /* default results/cache */
    int jobs;              /* worker processes (1: this process) */
    int threads;           /* total thread budget (0: M2PT_THREADS or all cores) */
    int force;             /* rerun finished cells */
    int quiet;             /* only errors and the final line */
    int progress;          /* 1: live line on a terminal; 0: plain log lines */
    /* With --shard (shard.h): the whole experiment, of which exp is one shard's part. The
     * store records the whole one (its axes, and its cells as its membership). NULL: exp. */
    const m2pt_experiment *whole;
} m2pt_run_options;

/* Exit-code semantics: 0 every cell done, 1 some cell failed, 2 could not start (err says
 * why), 130 interrupted by SIGINT/SIGTERM. */
int m2pt_run_experiment(const m2pt_experiment *exp, const m2pt_run_options *o, char *err, size_t errlen);

/* The mask seed of optimizer step `step` (1-based, over the whole training) of a model trained
 * by MAE with seed `seed` (m2pt run's MAE cells and m2pt train --objective mae). */
uint64_t m2pt_mae_step_seed(uint64_t seed, long step);

/* The validator's view of the installed plugins (opens them to check options). */
typedef struct m2pt_oracle_state m2pt_oracle_state;
m2pt_oracle_state *m2pt_oracle_new(void);
void m2pt_oracle_free(m2pt_oracle_state *s);
m2pt_plugin_oracle m2pt_oracle(m2pt_oracle_state *s);

#endif
