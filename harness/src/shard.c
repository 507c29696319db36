/* Sharding plans and a shard's part of an experiment (shard.h). */
#include "shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int m2pt_shard_parse(const char *text, int *k, int *n, char *err, size_t errlen) {
    long a = 0, b = 0;
    char *end = NULL;
    int ok = text && *text >= '0' && *text <= '9';
    if (ok) {
        errno = 0;
        a = strtol(text, &end, 10);
        ok = !errno && *end == '/' && end[1] >= '0' && end[1] <= '9';
    }
    if (ok) {
        const char *s = end + 1;
        b = strtol(s, &end, 10);
        ok = !errno && !*end && a >= 1 && b >= 1 && a <= b && b <= M2PT_MAX_SHARDS;
    }
    if (!ok) {
        snprintf(err, errlen, "--shard '%s': expected K/N, shard K of N with 1 <= K <= N <= %d (e.g. --shard 1/4)",
                 text ? text : "", M2PT_MAX_SHARDS);
        return -1;
    }
    *k = (int)a, *n = (int)b;
    return 0;
}

/* qsort context: cells by descending cost, then grid order. */
static const double *sort_cost;
static int by_cost(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    if (sort_cost[a] != sort_cost[b]) return sort_cost[a] > sort_cost[b] ? -1 : 1;
    return (a > b) - (a < b);
}

/* Longest processing time first over the cells [from, to) of one role. load: this role's work
 * per shard. For target cells (other != NULL), ties go to the shard that owns the cell's
 * auxiliary model, then to the least total work (other: the auxiliary work per shard). */
static void lpt(const m2pt_experiment *exp, int from, int to, const double *cost, int n, double *load,
                const double *other, int *order, int *shard_of) {
    int m = 0;
    for (int i = from; i < to; i++) order[m++] = i;
    sort_cost = cost;
    qsort(order, (size_t)m, sizeof *order, by_cost);
    for (int j = 0; j < m; j++) {
        const m2pt_cell *c = &exp->cells[order[j]];
        int owner = other && c->aux >= 0 && c->aux < exp->ncells ? shard_of[c->aux] - 1 : -1;
        int best = 0;
        for (int s = 1; s < n; s++) {
            double ls = load[s], lb = load[best];
            if (ls < lb) best = s;
            else if (ls > lb || !other || best == owner) continue;
            else if (s == owner || other[s] + ls < other[best] + lb) best = s;
        }
        shard_of[order[j]] = best + 1;
        load[best] += cost[order[j]];
    }
}

int m2pt_shard_assign(const m2pt_experiment *exp, const double *cost, int n, int *shard_of) {
    if (n < 1) return -1;
    double *aux = calloc((size_t)n, sizeof *aux), *tgt = calloc((size_t)n, sizeof *tgt);
    int *order = malloc((size_t)(exp->ncells > 0 ? exp->ncells : 1) * sizeof *order);
    int rc = aux && tgt && order ? 0 : -1;
    if (!rc) {
        /* cells are auxiliary first, then target (experiment.h); count rather than assume */
        int naux = 0;
        while (naux < exp->ncells && exp->cells[naux].role == M2PT_ROLE_AUXILIARY) naux++;
        lpt(exp, 0, naux, cost, n, aux, NULL, order, shard_of);
        lpt(exp, naux, exp->ncells, cost, n, tgt, aux, order, shard_of);
    }
    free(aux), free(tgt), free(order);
    return rc;
}

int m2pt_shard_part(const m2pt_experiment *whole, const int *shard_of, int k, int aux_only, m2pt_experiment *part) {
    memset(part, 0, sizeof *part);
    const int n = whole->ncells;
    int *take = calloc((size_t)(n > 0 ? n : 1), sizeof *take);   /* 1 own aux, 2 needed aux, 3 own target */
    int *where = malloc((size_t)(n > 0 ? n : 1) * sizeof *where); /* index in the part */
    part->cells = calloc((size_t)(n > 0 ? n : 1), sizeof *part->cells);
    if (!take || !where || !part->cells) {
        free(take), free(where), free(part->cells);
        part->cells = NULL;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const m2pt_cell *c = &whole->cells[i];
        if (shard_of[i] != k) continue;
        if (c->role == M2PT_ROLE_AUXILIARY) take[i] = 1;
        else if (!aux_only) {
            take[i] = 3;
            if (c->aux >= 0 && c->aux < n && !take[c->aux]) take[c->aux] = 2;
            if (c->pretrain >= 0 && c->pretrain < n && !take[c->pretrain]) take[c->pretrain] = 2;
        }
    }
    for (int pass = 1; pass <= 3; pass++)
        for (int i = 0; i < n; i++)
            if (take[i] == pass) {
                where[i] = part->ncells;
                part->cells[part->ncells++] = whole->cells[i]; /* borrowed: strings stay whole's */
                if (pass < 3) part->naux++;
                else part->ntargets++;
            }
    for (int j = 0; j < part->ncells; j++) {
        m2pt_cell *c = &part->cells[j];
        if (c->aux >= 0) c->aux = c->aux < n && take[c->aux] ? where[c->aux] : -1;
        if (c->pretrain >= 0) c->pretrain = c->pretrain < n && take[c->pretrain] ? where[c->pretrain] : -1;
    }
    part->name = whole->name, part->description = whole->description;
    part->path = whole->path, part->text = whole->text;
    part->grid_points = whole->grid_points, part->collapsed = whole->collapsed;
    free(take), free(where);
    return 0;
}

void m2pt_shard_part_free(m2pt_experiment *part) {
    if (!part) return;
    free(part->cells);
    memset(part, 0, sizeof *part);
}

void m2pt_shard_print(const m2pt_experiment *whole, const int *shard_of, const double *cost, int k, int n,
                      const m2pt_experiment *part, FILE *out) {
    double total = 0, mine = 0;
    int own_aux = 0, own_tgt = 0;
    for (int i = 0; i < whole->ncells; i++) {
        total += cost[i];
        if (shard_of[i] != k) continue;
        mine += cost[i];
        if (whole->cells[i].role == M2PT_ROLE_AUXILIARY) own_aux++;
        else own_tgt++;
    }
    fprintf(out, "%s: shard %d of %d: %d of %d target cells, %d of %d auxiliary cells; estimated cost %.1f%% of the grid\n",
            whole->name, k, n, own_tgt, whole->ntargets, own_aux, whole->naux, total > 0 ? 100 * mine / total : 0.0);
    if (!part->ncells) return;
    fprintf(out, "\n  hash              role       modality  pathway   seed  shard  cost%%\n");
    for (int j = 0; j < part->ncells; j++) {
        const m2pt_cell *c = &part->cells[j];
        int i = 0;
        while (i < whole->ncells && strcmp(whole->cells[i].hash, c->hash)) i++;
        char owner[32];
        if (i < whole->ncells && shard_of[i] != k) snprintf(owner, sizeof owner, "%d*", shard_of[i]);
        else snprintf(owner, sizeof owner, "%d", k);
        fprintf(out, "  %-16s  %-9s  %-8s  %-8s  %4llu  %5s  %5.1f\n", c->hash,
                c->role == M2PT_ROLE_AUXILIARY ? "auxiliary" : "target", c->modality,
                c->role == M2PT_ROLE_AUXILIARY ? "-" : c->pathway, (unsigned long long)c->seed, owner,
                i < whole->ncells && total > 0 ? 100 * cost[i] / total : 0.0);
    }
    if (part->naux > own_aux)
        fprintf(out, "\n* another shard's auxiliary model that a cell here needs: waited for, or taken over if nobody "
                     "trains it\n");
}
