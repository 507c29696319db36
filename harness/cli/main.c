/* m2pt: the command-line entry point. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "threads.h"
#include "version.h"


static void usage(FILE *f) {
    fprintf(f,
            "m2pt %s: experiments on Multimodal Pathway (cross-modal re-parameterization) in C\n"
            "\n"
            "usage: m2pt COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  demo      train a small ViT on generated gratings and print the loss falling\n"
            "  run       run an experiment grid (YAML) into the result store\n"
            "  train     train one model: a modality plugin, a pathway plugin, optional auxiliary;\n"
            "            or pretrain one as a masked autoencoder (--objective mae)\n"
            "  eval      evaluate a saved checkpoint on a split\n"
            "  plugins   list plugins, or check one with the conformance suite\n"
            "  ls        list the runs in the result store (results/m2pt.db, --db FILE)\n"
            "  show      everything about one run: provenance, config, summary, epochs, lambda\n"
            "  compare   mean, std, 95%% CI over seeds per group, and paired differences to baseline\n"
            "  query     read-only SQL over the result store\n"
            "  export    the results view (or every metric) as CSV or JSON\n"
            "  report    Markdown + HTML report of an experiment: tables, p-values, SVG plots\n"
            "  merge     merge result databases (the shards of a grid) into one\n"
            "  slurm     run an experiment grid on a Slurm cluster: job arrays of shards, then a merge\n"
            "  bench     sgemm peak; training and inference throughput, baseline vs reparam; memory\n"
            "  version   print the version\n"
            "  help      this text ('m2pt COMMAND --help' for a command's options)\n"
            "\n"
            "environment:\n"
            "  M2PT_THREADS      threads used for everything (default: all cores)\n"
            "  M2PT_PLUGIN_PATH  colon-separated directories searched for plugins first\n"
            "  M2PT_DATA_DIR     where the image modality finds Fashion-MNIST\n"
            "\n"
            "exit codes: 0 ok, 1 a run failed, 2 bad usage or bad input\n",
            M2PT_VERSION);
}

int cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out) {
    if (!val) {
        fprintf(stderr, "m2pt %s: %s needs a value (an integer from %ld to %ld)\n", cmd, opt, lo, hi);
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        fprintf(stderr, "m2pt %s: %s '%s' is not an integer from %ld to %ld\n", cmd, opt, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out) {
    if (!val) {
        fprintf(stderr, "m2pt %s: %s needs a value (a number from %g to %g)\n", cmd, opt, lo, hi);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "m2pt %s: %s '%s' is not a number from %g to %g\n", cmd, opt, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_threads(const char *cmd, long threads) {
    if (m2pt_threads_init((int)threads) < 0) {
        fprintf(stderr, "m2pt %s: M2PT_THREADS='%s' is not a thread count from 1 to 256\n", cmd,
                getenv("M2PT_THREADS"));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    /* A write beyond the file-size limit (ulimit -f) fails with EFBIG, reported like a full
     * disk, instead of killing the process with SIGXFSZ half-way through. */
    signal(SIGXFSZ, SIG_IGN);
    m2pt_blas_select_kernel(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int rc;
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        rc = 0;
    } else if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("m2pt %s (%s)\n", M2PT_VERSION, m2pt_git_revision());
        rc = 0;
    } else if (!strcmp(cmd, "demo")) {
        rc = cmd_demo(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "bench")) {
        rc = cmd_bench(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "plugins")) {
        rc = cmd_plugins(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "run")) {
        rc = cmd_run(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "train")) {
        rc = cmd_train(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "eval")) {
        rc = cmd_eval(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "ls")) {
        rc = cmd_ls(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "show")) {
        rc = cmd_show(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "compare")) {
        rc = cmd_compare(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "query")) {
        rc = cmd_query(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "export")) {
        rc = cmd_export(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "report")) {
        rc = cmd_report(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "merge")) {
        rc = cmd_merge(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "slurm")) {
        rc = cmd_slurm(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "m2pt: unknown command '%s' (try 'm2pt help')\n", cmd);
        rc = 2;
    }
    m2pt_threads_shutdown();
    return rc;
}
