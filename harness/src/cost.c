/* Estimated cost of cells (cost.h): the modality plugins tell their training split sizes. */
#include "cost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "loader.h"

/* Training samples of a cell's modality with its data options: the plugin opened and closed. */
static int train_size(const m2pt_cell *cell, const char *exe_dir, long *size, char *err, size_t errlen) {
    m2pt_loaded pl;
    char msg[1200] = "";
    if (m2pt_plugin_resolve(cell->modality, M2PT_KIND_MODALITY, exe_dir, &pl, msg, sizeof msg)) {
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    m2pt_kv opts = {0};
    int rc = 0;
    for (int i = 0; !rc && i < cell->data.n; i++)
        rc = m2pt_kv_set(&opts, cell->data.e[i].key, cell->data.e[i].value, cell->data.e[i].origin);
    if (rc) snprintf(msg, sizeof msg, "out of memory");
    void *inst = NULL;
    if (!rc) {
        m2pt_ctx ctx;
        m2pt_ctx_init(&ctx, pl.desc->name, &opts, "data.", cell->seed, NULL);
        ctx.quiet = 1;
        int orc = pl.desc->modality->open(m2pt_host_api(), &ctx, &inst);
        rc = m2pt_ctx_status(&ctx, orc, 0, msg, sizeof msg);
        if (!rc && inst) *size = pl.desc->modality->split_size(inst, M2PT_SPLIT_TRAIN);
        if (inst) pl.desc->modality->close(inst);
        m2pt_ctx_release(&ctx);
    }
    m2pt_kv_free(&opts);
    m2pt_plugin_unload(&pl);
    if (rc) snprintf(err, errlen, "cannot estimate the cost of cell %s: %s", cell->hash, msg);
    return rc ? -1 : 0;
}

/* The cell's own train_size option, when it has one (then the plugin need not be opened). */
static int given_size(const m2pt_cell *cell, long *size) {
    for (int i = 0; i < cell->data.n; i++)
        if (!strcmp(cell->data.e[i].key, "train_size")) {
            char *end;
            long v = strtol(cell->data.e[i].value, &end, 10);
            if (*end || v < 0) return 0;
            *size = v;
            return 1;
        }
    return 0;
}

/* Two cells with the same modality and data options have the same training split. */
static int same_data(const m2pt_cell *a, const m2pt_cell *b) {
    if (strcmp(a->modality, b->modality) || a->data.n != b->data.n) return 0;
    for (int i = 0; i < a->data.n; i++)
        if (strcmp(a->data.e[i].key, b->data.e[i].key) || strcmp(a->data.e[i].value, b->data.e[i].value)) return 0;
    return 1;
}

int m2pt_cell_costs(const m2pt_experiment *exp, double *cost, char *err, size_t errlen) {
    long *size = calloc((size_t)(exp->ncells > 0 ? exp->ncells : 1), sizeof *size);
    char *exe_dir = m2pt_exe_dir();
    if (!size) {
        free(exe_dir);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; !rc && i < exp->ncells; i++) {
        const m2pt_cell *c = &exp->cells[i];
        int j = 0;
        while (j < i && !same_data(&exp->cells[j], c)) j++;
        if (j < i) size[i] = size[j];
        else if (!given_size(c, &size[i])) rc = train_size(c, exe_dir, &size[i], err, errlen);
        const m2pt_shape *s = &c->shape;
        cost[i] = (double)c->train.epochs * (double)size[i] * s->depth * (double)s->dim * s->dim *
                  (4.0 + 2.0 * s->mlp_ratio);
        if (cost[i] < 0) cost[i] = 0;
    }
    free(size);
    free(exe_dir);
    return rc;
}
