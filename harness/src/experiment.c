/* Experiment files: load (exp_load.c), validate (exp_schema.c), expand the grid into cells
 * (exp_cells.c), print and free. The format is documented in docs/experiments.md. */
#include "experiment.h"

#include <stdlib.h>
#include <string.h>

#include "exp_internal.h"

/* ---------------------------------------------------------------- axes */

static int key_under(const char *key, const char *prefix) {
    size_t n = strlen(prefix);
    return !strncmp(key, prefix, n) && key[n] == '.';
}

/* Checks that key may vary and does not collide with another varying key. */
static int axis_key_ok(exp_ctx *c, const exp_axes *ax, const char *key, yt_loc kloc, s_target *t) {
    if (exp_resolve(c, kloc, key, t)) return -1;
    int e = t->entry;
    if (e == E_NAME || e == E_DESCRIPTION || (e >= 0 && exp_schema[e].type == S_SPECIAL))
        return exp_fail(c, kloc, key, "cannot vary: it is not part of a cell's configuration");
    for (int i = 0; i < ax->nkeys; i++) {
        const char *other = ax->k[i].key;
        if (!strcmp(other, key)) return exp_fail(c, kloc, key, "varies twice (in grid and zip, or in two zip groups)");
        if (key_under(key, other) || key_under(other, key))
            return exp_fail(c, kloc, key, "overlaps with the varying key '%s'", other);
    }
    return 0;
}

/* Every value of an axis must be valid where it goes (checked once, against the base). */
static int check_values(exp_ctx *c, const rcfg *base, const char *key, const s_target *t, const yt_node *list) {
    rcfg *tmp = malloc(sizeof *tmp);
    if (!tmp) return exp_oom(c);
    int rc = 0;
    for (int i = 0; i < list->n && rc == 0; i++) {
        *tmp = *base;
        rc = exp_apply(c, tmp, key, t, list->item[i]);
    }
    free(tmp);
    return rc;
}

static int add_axis_key(exp_ctx *c, const rcfg *base, exp_axes *ax, const char *key, yt_loc kloc, const yt_node *list,
                        int axis, const char *where) {
    if (ax->nkeys == EXP_MAX_AXES) return exp_fail(c, kloc, key, "more than %d varying keys", EXP_MAX_AXES);
    s_target t;
    if (axis_key_ok(c, ax, key, kloc, &t)) return -1;
    if (list->type != YT_SEQ || list->n == 0) {
        char got[128];
        return exp_fail(c, list->loc, where, "expected a non-empty list of values for '%s', got %s", key,
                        list->type == YT_SEQ ? "an empty list" : yt_describe(list, got, sizeof got));
    }
    if (check_values(c, base, key, &t, list)) return -1;
    ax->k[ax->nkeys++] = (exp_axis_key){key, t, list, axis};
    return 0;
}

static int grid_axes(exp_ctx *c, const rcfg *base, exp_axes *ax, const yt_node *grid) {
    if (!grid || grid->type == YT_NULL) return 0;
    if (grid->type != YT_MAP) {
        char got[128];
        return exp_fail(c, grid->loc, "grid", "expected a mapping of dotted keys to lists of values, got %s",
                        yt_describe(grid, got, sizeof got));
    }
    for (int i = 0; i < grid->n; i++) {
        if (add_axis_key(c, base, ax, grid->key[i], grid->kloc[i], grid->item[i], ax->naxes, "grid")) return -1;
        ax->len[ax->naxes++] = grid->item[i]->n;
    }
    return 0;
}

static int zip_group(exp_ctx *c, const rcfg *base, exp_axes *ax, const yt_node *g, int gi) {
    char where[32];
    snprintf(where, sizeof where, "zip[%d]", gi);
    if (g->type != YT_MAP || g->n == 0) {
        char got[128];
        return exp_fail(c, g->loc, where, "expected a mapping of dotted keys to lists of equal length, got %s",
                        g->type == YT_MAP ? "an empty mapping" : yt_describe(g, got, sizeof got));
    }
    for (int i = 0; i < g->n; i++) {
        if (add_axis_key(c, base, ax, g->key[i], g->kloc[i], g->item[i], ax->naxes, where)) return -1;
        if (g->item[i]->n != g->item[0]->n)
            return exp_fail(c, g->kloc[i], where, "lists of a zip group must have equal lengths: '%s' has %d values, '%s' has %d",
                            g->key[0], g->item[0]->n, g->key[i], g->item[i]->n);
    }
    ax->len[ax->naxes++] = g->item[0]->n;
    return 0;
}

static int zip_axes(exp_ctx *c, const rcfg *base, exp_axes *ax, const yt_node *zip) {
    if (!zip || zip->type == YT_NULL) return 0;
    if (zip->type != YT_SEQ) {
        char got[128];
        return exp_fail(c, zip->loc, "zip", "expected a list of groups ({key: [values], ...}), got %s",
                        yt_describe(zip, got, sizeof got));
    }
    for (int g = 0; g < zip->n; g++)
        if (zip_group(c, base, ax, zip->item[g], g)) return -1;
    return 0;
}

static int count_points(exp_ctx *c, exp_axes *ax, int force_large) {
    long points = 1;
    for (int a = 0; a < ax->naxes; a++)
        points = points > EXP_HARD_MAX_POINTS / ax->len[a] ? EXP_HARD_MAX_POINTS + 1 : points * ax->len[a];
    ax->points = points;
    int i = yt_map_find(c->root, "grid");
    if (i < 0) i = yt_map_find(c->root, "zip");
    yt_loc loc = i >= 0 ? c->root->kloc[i] : c->root_loc;
    const char *what = i >= 0 ? c->root->key[i] : NULL;
    if (points > EXP_HARD_MAX_POINTS)
        return exp_fail(c, loc, what, "more than %ld grid points: refused even when forced", EXP_HARD_MAX_POINTS);
    if (points > M2PT_MAX_GRID_POINTS && !force_large)
        return exp_fail(c, loc, what, "%ld grid points exceed M2PT_MAX_GRID_POINTS (%ld): refused unless --allow-large is given",
                        points, M2PT_MAX_GRID_POINTS);
    return 0;
}

/* ---------------------------------------------------------------- loading */

static int set_identity(exp_ctx *c, m2pt_experiment *exp, const char *path) {
    const yt_node *name = yt_map_get(c->root, "name");
    if (!name || name->type == YT_NULL)
        return exp_fail(c, c->root_loc, "name", "required: the experiment's name (letters, digits, '_', '-', '.')");
    const yt_node *desc = yt_map_get(c->root, "description");
    exp->name = strdup(name->text);
    exp->description = strdup(desc && desc->type != YT_NULL ? desc->text : "");
    exp->path = strdup(path);
    exp->text = c->top_text, c->top_text = NULL;
    return exp->name && exp->description && exp->path ? 0 : exp_oom(c);
}

static int load_all(exp_ctx *c, m2pt_experiment *exp, const char *path, const char *const *sets, int nsets,
                    int force_large) {
    if (exp_load_tree(c, path)) return -1;
    for (int i = 0; i < nsets; i++)
        if (sets && sets[i] && exp_apply_set(c, sets[i])) return -1;
    rcfg *base = malloc(sizeof *base);
    exp_axes *ax = calloc(1, sizeof *ax);
    int rc = base && ax ? 0 : exp_oom(c);
    if (rc == 0) {
        exp_rcfg_defaults(base);
        rc = exp_apply_root(c, base, c->root);
    }
    if (rc == 0) rc = set_identity(c, exp, path);
    if (rc == 0) rc = grid_axes(c, base, ax, yt_map_get(c->root, "grid"));
    if (rc == 0) rc = zip_axes(c, base, ax, yt_map_get(c->root, "zip"));
    if (rc == 0) rc = count_points(c, ax, force_large);
    if (rc == 0) rc = exp_expand(c, base, ax, exp);
    free(base), free(ax);
    return rc;
}

int m2pt_experiment_load(m2pt_experiment *exp, const char *path, const char *const *sets, int nsets,
                         const m2pt_plugin_oracle *oracle, int force_large, char *err, size_t errlen) {
    char scratch[2];
    if (!err || errlen == 0) err = scratch, errlen = sizeof scratch;
    err[0] = '\0';
    memset(exp, 0, sizeof *exp);
    if (!path) {
        snprintf(err, errlen, "experiment: no file given");
        return -1;
    }
    exp_ctx c = {.err = err, .errlen = errlen, .oracle = oracle};
    int rc = load_all(&c, exp, path, sets, nsets, force_large);
    yt_free(c.root);
    for (int i = 0; i < c.nowned; i++) free(c.owned[i]);
    free(c.owned), free(c.top_text);
    exp_cache_free(c.cache);
    if (rc) m2pt_experiment_free(exp);
    /* one line, whatever the file's text: a value or key quoted in the message may hold a line
     * break or another control character (yt_describe escapes values; this catches the rest) */
    for (char *p = err; rc && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return rc ? -1 : 0;
}

void m2pt_experiment_free(m2pt_experiment *exp) {
    if (!exp) return;
    for (int i = 0; i < exp->ncells; i++) exp_cell_free(&exp->cells[i]);
    free(exp->cells);
    free(exp->name), free(exp->description), free(exp->path), free(exp->text);
    memset(exp, 0, sizeof *exp);
}

/* ---------------------------------------------------------------- printing */

/* The columns of a table of cells of one role: hash, the union of their coordinates' keys (in
 * order of first appearance; auxiliary and pretrain cells may differ), then for auxiliary cells
 * "objective" when some cell is trained by MAE, for target cells "pathway", "pretrain" when some
 * target has a pretrain cell, and "aux". */
typedef struct {
    const char **keys;
    int nkeys, objective, pretrain, ncol;
} table_cols;

static int table_columns(const m2pt_experiment *exp, int from, int to, int target, table_cols *t) {
    memset(t, 0, sizeof *t);
    int cap = 0;
    for (int r = from; r < to; r++) cap += exp->cells[r].naxes;
    t->keys = calloc((size_t)(cap > 0 ? cap : 1), sizeof *t->keys);
    if (!t->keys) return -1;
    for (int r = from; r < to; r++) {
        const m2pt_cell *cell = &exp->cells[r];
        for (int k = 0; k < cell->naxes; k++) {
            int seen = 0;
            for (int j = 0; j < t->nkeys && !seen; j++) seen = !strcmp(t->keys[j], cell->axis_keys[k]);
            if (!seen) t->keys[t->nkeys++] = cell->axis_keys[k];
        }
        if (!target && cell->mae) t->objective = 1;
        if (target && cell->pretrain >= 0) t->pretrain = 1;
    }
    t->ncol = 1 + t->nkeys + (target ? 2 + t->pretrain : t->objective);
    return 0;
}

/* Column col of a row (row -1: the header). */
static const char *column(const m2pt_experiment *exp, const table_cols *t, const m2pt_cell *cell, int row, int col,
                          int target) {
    if (col == 0) return row < 0 ? "hash" : cell->hash;
    if (col <= t->nkeys) {
        const char *key = t->keys[col - 1];
        if (row < 0) return key;
        for (int k = 0; k < cell->naxes; k++)
            if (!strcmp(cell->axis_keys[k], key)) return cell->axis_values[k];
        return "-";
    }
    col -= t->nkeys + 1;
    if (!target) return row < 0 ? "objective" : cell->mae ? "mae" : "supervised";
    if (col == 0) return row < 0 ? "pathway" : cell->pathway;
    if (t->pretrain && col == 1) {
        if (row < 0) return "pretrain";
        return cell->pretrain >= 0 && cell->pretrain < exp->ncells ? exp->cells[cell->pretrain].hash : "-";
    }
    if (row < 0) return "aux";
    return cell->aux >= 0 && cell->aux < exp->ncells ? exp->cells[cell->aux].hash : "-";
}

static void print_table(const m2pt_experiment *exp, int from, int to, int target, FILE *out) {
    if (from >= to) return;
    table_cols t;
    if (table_columns(exp, from, to, target, &t)) return;
    int ncol = t.ncol;
    size_t *w = calloc((size_t)ncol, sizeof *w);
    if (!w) return free(t.keys);
    for (int r = from - 1; r < to; r++)
        for (int k = 0; k < ncol; k++) {
            const m2pt_cell *cell = &exp->cells[r < from ? from : r];
            size_t l = strlen(column(exp, &t, cell, r < from ? -1 : r, k, target));
            if (l > w[k]) w[k] = l;
        }
    for (int r = from - 1; r < to; r++) {
        const m2pt_cell *cell = &exp->cells[r < from ? from : r];
        fputs("  ", out);
        for (int k = 0; k < ncol; k++)
            fprintf(out, k + 1 < ncol ? "%-*s  " : "%-*s", k + 1 < ncol ? (int)w[k] : 0,
                    column(exp, &t, cell, r < from ? -1 : r, k, target));
        fputc('\n', out);
    }
    free(w);
    free(t.keys);
}

static int any_mae(const m2pt_experiment *exp) {
    for (int i = 0; i < exp->naux; i++)
        if (exp->cells[i].mae) return 1;
    return 0;
}

void m2pt_experiment_print(const m2pt_experiment *exp, FILE *out) {
    fprintf(out, "%s: %ld grid points -> %d target cells + %d auxiliary cells (%d collapsed)\n", exp->name,
            exp->grid_points, exp->ntargets, exp->naux, exp->collapsed);
    if (exp->naux) {
        fprintf(out, "\nauxiliary cells (trained first; each serves every target cell naming its hash%s):\n",
                any_mae(exp) ? " as its aux or pretrain" : "");
        print_table(exp, 0, exp->naux, 0, out);
    }
    fprintf(out, "\ntarget cells:\n");
    print_table(exp, exp->naux, exp->ncells, 1, out);
}
