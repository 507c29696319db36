/* Subcommands of the m2pt command-line tool. Each returns the process exit code:
 * 0 ok, 1 a run failed, 2 bad usage or bad input. */
#ifndef M2PT_CLI_H
#define M2PT_CLI_H

#include "experiment.h"

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
/* The result store's read side (cmd_results.c). */
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* m2pt report (cmd_report.c). */
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* Grids beyond one machine: merging shard databases (cmd_merge.c), Slurm job arrays (cmd_slurm.c). */
int cmd_merge(int argc, char **argv);
int cmd_slurm(int argc, char **argv);

/* The --shard K/N and --aux-only part of `m2pt run` (run_shard.c). Fill k, n (0: no --shard),
 * aux_only and db (NULL: the default results/NAME.shard-K.db), then prepare: the part to run is
 * `part`; the plan is printed (dry_run) or recorded in the database. Returns an exit code (0 ok,
 * 1 out of memory, 2 bad input) after printing one line. */
typedef struct {
    int k, n, aux_only;
    const char *db;
    int *shard_of;
    double *cost;
    m2pt_experiment part;
    int ready;
    char default_db[1200];
} cli_shard;
int cli_shard_prepare(cli_shard *s, const m2pt_experiment *exp, int dry_run);
void cli_shard_free(cli_shard *s);

/* Parse "--name VALUE" integer/float options; print one clear line and return -1 on error. */
int cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* Apply M2PT_THREADS or the --threads value; prints an error and returns -1 when invalid. */
int cli_threads(const char *cmd, long threads);

#endif
