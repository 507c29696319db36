/* m2pt run EXP.yaml: validate, expand and run an experiment grid into the result store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "experiment.h"
#include "runner.h"
#include "shard.h"
#include "threads.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt run EXP.yaml [--db FILE] [-j N] [--set key=value]... [--dry-run] [--force]\n"
            "                [--cache DIR] [--threads N] [--quiet] [--allow-large] [--shard K/N] [--aux-only]\n"
            "Validates the experiment file (nothing runs if anything is wrong), expands its grid into\n"
            "cells, trains each auxiliary model once (cached by the hash of its configuration under\n"
            "--cache and shared by every cell, experiment and database), then every target cell,\n"
            "recording all metrics in the SQLite store. Finished cells are skipped, interrupted or\n"
            "crashed ones start again. See docs/experiments.md and docs/store.md.\n"
            "\n"
            "  --db FILE       result database (default results/m2pt.db)\n"
            "  -j N            N worker processes; the thread budget is split between them\n"
            "  --set key=value override a key of the file, e.g. --set train.epochs=2 (repeatable)\n"
            "  --dry-run       print the cells and the auxiliary (and MAE pretrain) cells they need, with\n"
            "                  hashes, objectives and dependencies; run nothing\n"
            "  --force         retrain cells that are already done\n"
            "  --cache DIR     checkpoint cache (default results/cache, or $M2PT_CACHE_DIR)\n"
            "  --threads N     total threads (default M2PT_THREADS, else all cores)\n"
            "  --quiet         only errors (and the last line when some cell failed or was interrupted)\n"
            "  --allow-large   accept grids beyond %ld points\n"
            "  --shard K/N     run shard K of N: a deterministic 1/N of the cells, balanced by estimated\n"
            "                  cost, into its own database (default results/NAME.shard-K.db); shards\n"
            "                  share auxiliary models through --cache (a shared directory; file locks).\n"
            "                  Combine the databases with 'm2pt merge' (see 'm2pt slurm')\n"
            "  --aux-only      only the auxiliary cells (of this shard): the auxiliary phase\n"
            "Exit codes: 0 all cells done, 1 a cell failed, 2 bad input, 130 interrupted (Ctrl-C).\n",
            M2PT_MAX_GRID_POINTS);
}

int cmd_run(int argc, char **argv) {
    const char *file = NULL, *db = "results/m2pt.db", *cache = getenv("M2PT_CACHE_DIR");
    const char *sets[256];
    int nsets = 0, dry = 0, force = 0, quiet = 0, large = 0, db_given = 0;
    cli_shard sh = {0};
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
        else if (!strcmp(a, "--aux-only")) sh.aux_only = 1;
        else if ((!strcmp(a, "--db") || !strcmp(a, "--cache") || !strcmp(a, "--set") || !strcmp(a, "--shard")) && !v) {
            fprintf(stderr, "m2pt run: %s needs a value (see 'm2pt run --help')\n", a);
            return 2;
        } else if (!strcmp(a, "--db")) db = v, db_given = 1, i++;
        else if (!strcmp(a, "--shard")) {
            char e[256];
            if (m2pt_shard_parse(v, &sh.k, &sh.n, e, sizeof e)) {
                fprintf(stderr, "m2pt run: %s\n", e);
                return 2;
            }
            i++;
        }
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
    const m2pt_experiment *todo = &exp;
    if (sh.n || sh.aux_only) { /* a part of the experiment: run_shard.c */
        sh.db = db_given || !sh.n ? db : NULL;
        if ((rc = cli_shard_prepare(&sh, &exp, dry)) || dry) {
            cli_shard_free(&sh);
            m2pt_experiment_free(&exp);
            return rc;
        }
        db = sh.db, todo = &sh.part;
    }
    if (dry) {
        m2pt_experiment_print(&exp, stdout);
        m2pt_experiment_free(&exp);
        return 0;
    }
    m2pt_run_options o = {.db_path = db, .cache_dir = cache, .jobs = (int)jobs, .threads = (int)threads,
                          .force = force, .quiet = quiet, .progress = isatty(STDOUT_FILENO) && jobs == 1,
                          .whole = todo != &exp ? &exp : NULL};
    if (!quiet && sh.n)
        printf("m2pt run: %s: shard %d of %d\n", exp.name, sh.k, sh.n);
    if (!quiet)
        printf("m2pt run: %s: %d target cells, %d auxiliary cells; database %s, cache %s, %ld worker%s\n", exp.name,
               todo->ntargets, todo->naux, db, cache, jobs, jobs > 1 ? "s" : "");
    fflush(stdout);
    rc = m2pt_run_experiment(todo, &o, err, sizeof err);
    if (rc == 2) fprintf(stderr, "m2pt run: %s\n", err);
    else if (!quiet || rc)
        printf("m2pt run: %s: %s (see 'm2pt compare %s --db %s')\n", exp.name,
               rc == 0 ? "all cells done" : rc == 130 ? "interrupted; run again to continue" : "some cells failed",
               exp.name, db);
    cli_shard_free(&sh);
    m2pt_experiment_free(&exp);
    return rc;
}
