/* `m2pt run --shard K/N` and `--aux-only`: the part of an experiment this process runs (shard.h),
 * its default database, and the plan recorded in that database (shard_db.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cost.h"
#include "shard.h"
#include "shard_db.h"

int cli_shard_prepare(cli_shard *s, const m2pt_experiment *exp, int dry_run) {
    char err[2048];
    int n = s->n > 0 ? s->n : 1, k = s->n > 0 ? s->k : 1;
    size_t cells = (size_t)(exp->ncells > 0 ? exp->ncells : 1);
    s->shard_of = calloc(cells, sizeof *s->shard_of);
    s->cost = calloc(cells, sizeof *s->cost);
    if (!s->shard_of || !s->cost) {
        fprintf(stderr, "m2pt run: out of memory\n");
        return 1;
    }
    if (m2pt_cell_costs(exp, s->cost, err, sizeof err)) {
        fprintf(stderr, "m2pt run: %s: %s\n", exp->path ? exp->path : exp->name, err);
        return 2;
    }
    if (m2pt_shard_assign(exp, s->cost, n, s->shard_of) ||
        m2pt_shard_part(exp, s->shard_of, k, s->aux_only, &s->part)) {
        fprintf(stderr, "m2pt run: out of memory\n");
        return 1;
    }
    s->ready = 1;
    if (!s->db) {
        snprintf(s->default_db, sizeof s->default_db, "results/%s.shard-%d.db", exp->name, k);
        s->db = s->default_db;
    }
    if (dry_run) {
        if (s->n > 0) m2pt_shard_print(exp, s->shard_of, s->cost, k, n, &s->part, stdout);
        else m2pt_experiment_print(&s->part, stdout);
        return 0;
    }
    /* the whole plan, so that `m2pt merge` can order the runs and tell what is missing */
    if (s->n > 0 && m2pt_plan_record(s->db, exp, s->shard_of, s->cost, n, err, sizeof err)) {
        fprintf(stderr, "m2pt run: %s\n", err);
        return 2;
    }
    return 0;
}

void cli_shard_free(cli_shard *s) {
    if (s->ready) m2pt_shard_part_free(&s->part);
    free(s->shard_of), free(s->cost);
    s->shard_of = NULL, s->cost = NULL, s->ready = 0;
}
