/* m2pt run EXP.yaml: validate, expand and run an experiment grid into the result store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "experiment.h"
#include "runner.h"
#include "threads.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt run EXP.yaml [--db FILE] [-j N] [--set key=value]... [--dry-run] [--force]\n"
            "                [--cache DIR] [--threads N] [--quiet] [--allow-large]\n"
            "Validates the experiment file (nothing runs if anything is wrong), expands its grid into\n"
            "cells, trains each auxiliary model once (cached by the hash of its configuration under\n"
            "--cache and shared by every cell, experiment and database), then every target cell,\n"
            "recording all metrics in the SQLite store. Finished cells are skipped, interrupted or\n"
            "crashed ones start again. See docs/experiments.md and docs/store.md.\n"
            "\n"
            "  --db FILE       result database (default results/m2pt.db)\n"
            "  -j N            N worker processes; the thread budget is split between them\n"
            "  --set key=value override a key of the file, e.g. --set train.epochs=2 (repeatable)\n"
            "  --dry-run       print the cells and the auxiliary cells they need, with hashes; run nothing\n"
            "  --force         retrain cells that are already done\n"
            "  --cache DIR     checkpoint cache (default results/cache, or $M2PT_CACHE_DIR)\n"
            "  --threads N     total threads (default M2PT_THREADS, else all cores)\n"
            "  --quiet         only errors and the last line\n"
            "  --allow-large   accept grids beyond %ld points\n"
            "Exit codes: 0 all cells done, 1 a cell failed, 2 bad input, 130 interrupted (Ctrl-C).\n",
            M2PT_MAX_GRID_POINTS);
}

int cmd_run(int argc, char **argv) {
    const char *file = NULL, *db = "results/m2pt.db", *cache = getenv("M2PT_CACHE_DIR");
    const char *sets[256];
    int nsets = 0, dry = 0, force = 0, quiet = 0, large = 0;
    long jobs = 1, threads = 0;
    if (!cache || !*cache) cache = "results/cache";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) dry = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--allow-large")) large = 1;
        else if ((!strcmp(a, "--db") || !strcmp(a, "--cache") || !strcmp(a, "--set")) && !v) {
            fprintf(stderr, "m2pt run: %s needs a value (see 'm2pt run --help')\n", a);
            return 2;
        } else if (!strcmp(a, "--db")) db = v, i++;
        else if (!strcmp(a, "--cache")) cache = v, i++;
        else if (!strcmp(a, "--set")) {
            if (nsets == 256) {
                fprintf(stderr, "m2pt run: at most 256 --set options\n");
                return 2;
            }
            sets[nsets++] = v, i++;
        } else if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
            if (cli_int("run", a, v, 1, 256, &jobs)) return 2;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (cli_int("run", a, v, 1, 256, &threads)) return 2;
            i++;
        } else if (a[0] == '-' || file) {
            fprintf(stderr, "m2pt run: unknown option '%s' (see 'm2pt run --help')\n", a);
            return 2;
        } else file = a;
    }
    if (!file) {
        fprintf(stderr, "m2pt run: which experiment? (m2pt run EXP.yaml; examples in experiments/)\n");
        return 2;
    }
    if (cli_threads("run", threads)) return 2;
    m2pt_oracle_state *os = m2pt_oracle_new();
    if (!os) {
        fprintf(stderr, "m2pt run: out of memory\n");
        return 1;
    }
    m2pt_plugin_oracle oracle = m2pt_oracle(os);
    m2pt_experiment exp;
    char err[2048];
    int rc = m2pt_experiment_load(&exp, file, sets, nsets, &oracle, large, err, sizeof err);
    m2pt_oracle_free(os);
    if (rc) {
        fprintf(stderr, "m2pt run: %s\n", err);
        return 2;
    }
    if (dry) {
        m2pt_experiment_print(&exp, stdout);
        m2pt_experiment_free(&exp);
        return 0;
    }
    m2pt_run_options o = {.db_path = db, .cache_dir = cache, .jobs = (int)jobs, .threads = (int)threads,
                          .force = force, .quiet = quiet, .progress = isatty(STDOUT_FILENO) && jobs == 1};
    if (!quiet)
        printf("m2pt run: %s: %d target cells, %d auxiliary cells; database %s, cache %s, %ld worker%s\n", exp.name,
               exp.ntargets, exp.naux, db, cache, jobs, jobs > 1 ? "s" : "");
    fflush(stdout);
    rc = m2pt_run_experiment(&exp, &o, err, sizeof err);
    if (rc == 2) fprintf(stderr, "m2pt run: %s\n", err);
    else if (!quiet || rc)
        printf("m2pt run: %s: %s (see 'm2pt compare %s --db %s')\n", exp.name,
               rc == 0 ? "all cells done" : rc == 130 ? "interrupted; run again to continue" : "some cells failed",
               exp.name, db);
    m2pt_experiment_free(&exp);
    return rc;
}
