/* `m2pt slurm`: an experiment as Slurm jobs. One sbatch script, submitted three times:
 *   aux     a job array; task K runs `m2pt run EXP --aux-only --shard K/N`: shard K's
 *           auxiliary models, into the shared checkpoint cache (and DIR/shard-K.db)
 *   target  a job array, --dependency=afterok on the aux phase; task K runs
 *           `m2pt run EXP --shard K/N` into DIR/shard-K.db
 *   merge   one job, --dependency=afterok on the target phase: `m2pt merge DB DIR/shard-*.db`
 * with --kill-on-invalid-dep=yes, so that a failed phase cancels what depends on it instead of
 * leaving it pending. Threads per task: $SLURM_CPUS_PER_TASK. A phase with nothing left to do is
 * not submitted, and an array lists only the tasks whose shards have unfinished cells, so a
 * resubmission after a partial failure reruns only those (each task also skips its done cells). */
#ifndef M2PT_SLURM_H
#define M2PT_SLURM_H

#include "json.h"

typedef enum { M2PT_PHASE_AUX = 0, M2PT_PHASE_TARGET = 1, M2PT_PHASE_MERGE = 2 } m2pt_phase;

typedef struct {
    const char *name;           /* experiment name */
    const char *exp_file;       /* the experiment file, as given (relative to workdir) */
    const char *const *sets;    /* --set key=value, passed on to every task */
    int nsets;
    int allow_large;
    const char *m2pt;           /* absolute path of the m2pt binary */
    const char *workdir;        /* absolute: where the jobs run (#SBATCH --chdir) */
    const char *dir;            /* the script, the shard databases and the logs */
    const char *cache;          /* the shared checkpoint cache */
    const char *db;             /* the merged database */
    const char *partition, *time, *mem; /* NULL: the cluster's defaults */
    int shards, cpus, parallelism;      /* parallelism 0: no %M limit */
    int ntargets, naux;
    int aux_tasks, target_tasks;        /* shards that own auxiliary / target cells: 1..count */
    const char *aux_array, *target_array; /* tasks to submit, e.g. "1-4" or "2,4"; "" none */
    const double *share;        /* [shards]: estimated share of the grid's cost, in % */
} m2pt_slurm_job;

/* The sbatch script. 0, or -1 when out of memory. */
int m2pt_slurm_script(const m2pt_slurm_job *j, const char *script_path, m2pt_strbuf *out);

/* The sbatch command line of a phase (argv[0] = "sbatch", NULL-terminated, strings owned by
 * *argv; free with m2pt_slurm_argv_free). after: the job id the phase depends on, or NULL. */
int m2pt_slurm_argv(const m2pt_slurm_job *j, const char *script_path, m2pt_phase phase, const char *after,
                    char ***argv);
void m2pt_slurm_argv_free(char **argv);

/* Appends s quoted for a POSIX shell ('...' unless it needs no quotes). */
void m2pt_sh_quote(m2pt_strbuf *b, const char *s);

/* "1-3,5" for the sorted task numbers; "" for none. */
void m2pt_slurm_ranges(m2pt_strbuf *b, const int *tasks, int n);

#endif
