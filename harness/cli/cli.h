/* Subcommands of the m2pt command-line tool. Each returns the process exit code:
 * 0 ok, 1 a run failed, 2 bad usage or bad input. */
#ifndef M2PT_CLI_H
#define M2PT_CLI_H

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

/* Parse "--name VALUE" integer/float options; print one clear line and return -1 on error. */
int cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* Apply M2PT_THREADS or the --threads value; prints an error and returns -1 when invalid. */
int cli_threads(const char *cmd, long threads);

#endif
