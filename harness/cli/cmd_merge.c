/* m2pt merge OUT.db IN.db...: combine result databases, e.g. the shards of a grid (merge.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "merge.h"
#include "shard_db.h"
#include "store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt merge OUT.db IN.db... [--quiet]\n"
            "Merges result databases (e.g. those of 'm2pt run --shard K/N') into OUT.db, created when\n"
            "missing. A configuration (cell hash) is one run in OUT.db: a finished run replaces an\n"
            "unfinished one, identical results are kept once, and two different results of one\n"
            "configuration are refused (nothing is written). Every run keeps its provenance (host,\n"
            "git, times, attempts); merge_sources and merge_runs record where each came from.\n"
            "Merging the same database again changes nothing. The inputs are only read.\n"
            "See docs/store.md (Merging databases).\n"
            "\n"
            "  --quiet   print nothing but errors\n"
            "Exit codes: 0 merged, 1 a failure writing OUT.db, 2 bad usage or bad input (a missing or\n"
            "foreign database, the output given as an input, conflicting results).\n");
}

static void report(const m2pt_merge_input *in) {
    if (in->skipped == 2) {
        printf("m2pt merge: %s: given twice, merged once\n", in->path);
    } else if (in->skipped == 1) {
        printf("m2pt merge: %s: merged before (source %lld), nothing new\n", in->path, in->source_id);
    } else {
        printf("m2pt merge: %s: %d run%s: %d added, %d replaced, %d the same, %d older (source %lld)\n", in->path,
               in->runs, in->runs == 1 ? "" : "s", in->added, in->replaced, in->same, in->older, in->source_id);
    }
}

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int quiet = 0, n = 0;
    m2pt_merge_input *in = calloc((size_t)(argc > 1 ? argc : 1), sizeof *in);
    if (!in) {
        fprintf(stderr, "m2pt merge: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(in);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "m2pt merge: unknown option '%s' (see 'm2pt merge --help')\n", a);
            free(in);
            return 2;
        } else if (!out) {
            out = a;
        } else {
            in[n++].path = a;
        }
    }
    if (!out || !n) {
        fprintf(stderr, "m2pt merge: %s (m2pt merge OUT.db IN.db..., e.g. m2pt merge results/m2pt.db "
                        "results/EXP.shard-*.db)\n",
                out ? "which databases to merge into it?" : "which output database and which inputs?");
        free(in);
        return 2;
    }
    char err[2048];
    int bad = 0;
    if (m2pt_merge(out, in, n, &bad, err, sizeof err)) {
        fprintf(stderr, "m2pt merge: %s\n", err);
        free(in);
        return bad ? 2 : 1;
    }
    int rc = 0;
    if (!quiet) {
        for (int i = 0; i < n; i++) report(&in[i]);
        m2pt_store *s;
        if (m2pt_store_open(&s, out, 1, err, sizeof err)) {
            fprintf(stderr, "m2pt merge: %s\n", err);
            rc = 1;
        } else {
            if (m2pt_plan_status(m2pt_store_db(s), stdout, "m2pt merge: ", err, sizeof err)) {
                fprintf(stderr, "m2pt merge: %s\n", err);
                rc = 1;
            }
            m2pt_store_close(s);
        }
    }
    free(in);
    return rc;
}
