/* The experiment schema: every valid dotted key, its type, range and default; applying a YAML
 * value at a dotted key onto a resolved configuration with full validation; "did you mean". */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp_internal.h"

#define TRAIN_ENTRIES(E0, P, FL)                                                                 \
    [E0 + TR_EPOCHS] = {P "epochs", S_INT, 1, 100000, FL, 10, NULL, NULL},                             \
    [E0 + TR_BATCH] = {P "batch", S_INT, 1, 1048576, FL, 128, NULL, NULL},                             \
    [E0 + TR_LR] = {P "lr", S_FLOAT, 0, 10, F_MIN_OPEN | (FL), 1.0e-3, NULL, NULL},                    \
    [E0 + TR_MIN_LR] = {P "min_lr", S_FLOAT, 0, 10, FL, 1.0e-5, NULL, NULL},                           \
    [E0 + TR_WEIGHT_DECAY] = {P "weight_decay", S_FLOAT, 0, 10, FL, 0.05, NULL, NULL},                 \
    [E0 + TR_WARMUP] = {P "warmup_epochs", S_FLOAT, 0, 100000, FL, 1, NULL, NULL},                     \
    [E0 + TR_CLIP] = {P "clip", S_FLOAT, 0, 1e6, FL, 1.0, NULL, NULL},                                 \
    [E0 + TR_LABEL_SMOOTHING] = {P "label_smoothing", S_FLOAT, 0, 1, F_MAX_OPEN | (FL), 0.1, NULL, NULL}, \
    [E0 + TR_AUGMENT] = {P "augment", S_BOOL, 0, 1, FL, 1, NULL, NULL}

static const char *const objectives[] = {"supervised", "mae", NULL};
static const char *const pretrains[] = {"none", "mae", NULL};

const s_entry exp_schema[E_COUNT] = {
    [E_NAME] = {"name", S_NAME, 0, 0, 0, 0, NULL, NULL},
    [E_DESCRIPTION] = {"description", S_STR, 0, 0, 0, 0, "", NULL},
    [E_EXTENDS] = {"extends", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
    [E_BASE] = {"base", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
    [E_SEED] = {"seed", S_INT, 0, (double)INT64_MAX, 0, 0, NULL, NULL},
    [E_GRID] = {"grid", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
    [E_ZIP] = {"zip", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
    [E_MODEL] = {"model", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    [E_DIM] = {"model.dim", S_INT, 1, 8192, 0, 64, NULL, NULL},
    [E_DEPTH] = {"model.depth", S_INT, 1, 256, 0, 4, NULL, NULL},
    [E_HEADS] = {"model.heads", S_INT, 1, 256, 0, 4, NULL, NULL},
    [E_MLP_RATIO] = {"model.mlp_ratio", S_INT, 1, 64, 0, 4, NULL, NULL},
    [E_TRAIN] = {"train", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    TRAIN_ENTRIES(E_TR0, "train.", 0),
    [E_TARGET] = {"target", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    [E_T_MODALITY] = {"target.modality", S_NAME, 0, 0, 0, 0, NULL, NULL},
    [E_T_DATA] = {"target.data", S_FREE, 0, 0, 0, 0, NULL, NULL},
    [E_T_TRAIN] = {"target.train", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    TRAIN_ENTRIES(E_TTR0, "target.train.", F_INHERIT),
    [E_AUX] = {"auxiliary", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    [E_A_MODALITY] = {"auxiliary.modality", S_NAME, 0, 0, 0, 0, NULL, NULL},
    [E_A_DATA] = {"auxiliary.data", S_FREE, 0, 0, 0, 0, NULL, NULL},
    [E_A_TRAIN] = {"auxiliary.train", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    TRAIN_ENTRIES(E_ATR0, "auxiliary.train.", F_INHERIT),
    [E_A_SEED] = {"auxiliary.seed", S_INT, 0, (double)INT64_MAX, F_INHERIT, 0, NULL, NULL},
    [E_PATHWAY] = {"pathway", S_FREE, 0, 0, 0, 0, NULL, NULL},
    [E_P_NAME] = {"pathway.name", S_NAME, 0, 0, 0, 0, "baseline", NULL},
    [E_A_OBJECTIVE] = {"auxiliary.objective", S_NAME, 0, 0, 0, 0, "supervised", objectives},
    [E_T_PRETRAIN] = {"target.pretrain", S_NAME, 0, 0, 0, 0, "none", pretrains},
    [E_MAE] = {"mae", S_SECTION, 0, 0, 0, 0, NULL, NULL},
    [E_M_MASK_RATIO] = {"mae.mask_ratio", S_FLOAT, 0, 1, F_MIN_OPEN | F_MAX_OPEN, 0.75, NULL, NULL},
    [E_M_DEC_DIM] = {"mae.decoder_dim", S_INT, 1, 8192, 0, 32, NULL, NULL},
    [E_M_DEC_DEPTH] = {"mae.decoder_depth", S_INT, 1, 256, 0, 2, NULL, NULL},
    [E_M_DEC_HEADS] = {"mae.decoder_heads", S_INT, 1, 256, 0, 2, NULL, NULL},
    /* the training of an MAE model: unset keys take the model's own train settings (see
     * exp_cells.c, mae_train); label_smoothing and augment are placeholders, never valid keys */
    [E_M_TR0 + TR_EPOCHS] = {"mae.epochs", S_INT, 1, 100000, F_INHERIT, 10, NULL, NULL},
    [E_M_TR0 + TR_BATCH] = {"mae.batch", S_INT, 1, 1048576, F_INHERIT, 128, NULL, NULL},
    [E_M_TR0 + TR_LR] = {"mae.lr", S_FLOAT, 0, 10, F_MIN_OPEN | F_INHERIT, 1.0e-3, NULL, NULL},
    [E_M_TR0 + TR_MIN_LR] = {"mae.min_lr", S_FLOAT, 0, 10, F_INHERIT, 1.0e-5, NULL, NULL},
    [E_M_TR0 + TR_WEIGHT_DECAY] = {"mae.weight_decay", S_FLOAT, 0, 10, F_INHERIT, 0.05, NULL, NULL},
    [E_M_TR0 + TR_WARMUP] = {"mae.warmup_epochs", S_FLOAT, 0, 100000, F_INHERIT, 1, NULL, NULL},
    [E_M_TR0 + TR_CLIP] = {"mae.clip", S_FLOAT, 0, 1e6, F_INHERIT, 1.0, NULL, NULL},
    [E_M_TR0 + TR_LABEL_SMOOTHING] = {"\001mae.label_smoothing", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
    [E_M_TR0 + TR_AUGMENT] = {"\001mae.augment", S_SPECIAL, 0, 0, 0, 0, NULL, NULL},
};

static const char *const ff_path[FF_N] = {"target.data", "auxiliary.data", "pathway"};

/* ---------------------------------------------------------------- errors and helpers */

int exp_fail(exp_ctx *c, yt_loc loc, const char *path, const char *fmt, ...) {
    char where[512], msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    yt_loc_format(loc, where, sizeof where);
    if (path && *path) snprintf(c->err, c->errlen, "%s: %s: %s", where, path, msg);
    else snprintf(c->err, c->errlen, "%s: %s", where, msg);
    return -1;
}

int exp_oom(exp_ctx *c) {
    snprintf(c->err, c->errlen, "%s: out of memory", c->root_loc.file ? c->root_loc.file : "experiment");
    return -1;
}

const char *exp_keep(exp_ctx *c, const char *s) {
    if (c->nowned == c->capowned) {
        int cap = c->capowned ? 2 * c->capowned : 8;
        char **o = realloc(c->owned, (size_t)cap * sizeof *o);
        if (!o) return exp_oom(c), NULL;
        c->owned = o, c->capowned = cap;
    }
    char *d = strdup(s);
    if (!d) return exp_oom(c), NULL;
    c->owned[c->nowned++] = d;
    return d;
}

void exp_format_double(char *buf, size_t cap, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
}

void exp_canon_text(m2pt_strbuf *sb, const yt_node *n) {
    char num[40];
    switch (n->type) {
    case YT_NULL: break;
    case YT_BOOL: m2pt_sb_puts(sb, n->b ? "true" : "false"); break;
    case YT_INT: m2pt_sb_printf(sb, "%lld", n->i); break;
    case YT_FLOAT: exp_format_double(num, sizeof num, n->d), m2pt_sb_puts(sb, num); break;
    case YT_STR: m2pt_sb_puts(sb, n->text); break;
    case YT_SEQ:
        for (int i = 0; i < n->n; i++) {
            if (i) m2pt_sb_puts(sb, ",");
            exp_canon_text(sb, n->item[i]);
        }
        break;
    case YT_MAP: exp_display_text(sb, n); break;
    }
}

void exp_display_text(m2pt_strbuf *sb, const yt_node *n) {
    if (n->type == YT_NULL) {
        m2pt_sb_puts(sb, "null");
    } else if (n->type == YT_SEQ || n->type == YT_MAP) {
        m2pt_sb_puts(sb, n->type == YT_SEQ ? "[" : "{");
        for (int i = 0; i < n->n; i++) {
            if (i) m2pt_sb_puts(sb, ", ");
            if (n->type == YT_MAP) m2pt_sb_printf(sb, "%s: ", n->key[i]);
            exp_display_text(sb, n->item[i]);
        }
        m2pt_sb_puts(sb, n->type == YT_SEQ ? "]" : "}");
    } else {
        exp_canon_text(sb, n);
    }
}

/* ---------------------------------------------------------------- lookups and defaults */

int exp_entry_find(const char *path) {
    for (int e = 0; e < E_COUNT; e++)
        if (!strcmp(exp_schema[e].path, path)) return e;
    return -1;
}

static int inherit_of(int e) {
    if (e >= E_TTR0 && e < E_TTR0 + TR_N) return E_TR0 + (e - E_TTR0);
    if (e >= E_ATR0 && e < E_ATR0 + TR_N) return E_TR0 + (e - E_ATR0);
    return -1;
}

void exp_rcfg_defaults(rcfg *rc) { memset(rc, 0, sizeof *rc); }

long long exp_int(const rcfg *rc, int e) {
    const yt_node *n = rc->v[e];
    if (n) return n->type == YT_BOOL ? n->b : n->i;
    int from = inherit_of(e);
    return from >= 0 ? exp_int(rc, from) : (long long)exp_schema[e].def;
}

double exp_num(const rcfg *rc, int e) {
    const yt_node *n = rc->v[e];
    if (n) return n->type == YT_FLOAT ? n->d : n->type == YT_BOOL ? n->b : (double)n->i;
    int from = inherit_of(e);
    return from >= 0 ? exp_num(rc, from) : exp_schema[e].def;
}

const char *exp_str(const rcfg *rc, int e) { return rc->v[e] ? rc->v[e]->text : exp_schema[e].sdef; }

/* ---------------------------------------------------------------- did you mean */

static int lev(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return INT_MAX;
    int row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Common other spellings of a key's last component. */
static const char *const aliases[][2] = {
    {"learning_rate", "lr"},   {"lr_min", "min_lr"},        {"final_lr", "min_lr"},
    {"wd", "weight_decay"},    {"decay", "weight_decay"},    {"warmup", "warmup_epochs"},
    {"batch_size", "batch"},   {"bs", "batch"},              {"num_epochs", "epochs"},
    {"max_epochs", "epochs"},  {"grad_clip", "clip"},        {"clip_norm", "clip"},
    {"smoothing", "label_smoothing"}, {"augmentation", "augment"}, {"num_heads", "heads"},
    {"n_heads", "heads"},      {"num_layers", "depth"},      {"n_layers", "depth"},
    {"layers", "depth"},       {"embed_dim", "dim"},         {"hidden_dim", "dim"},
    {"width", "dim"},          {"mlp", "mlp_ratio"},         {"aux", "auxiliary"},
    {"auxiliary_modality", "modality"}, {"plugin", "modality"}, {"dataset", "data"},
    {"inherit", "extends"},    {"include", "extends"},       {"seeds", "seed"},
    {"sweep", "grid"},         {"pathways", "pathway"},      {"random_seed", "seed"},
};

static const char *last_part(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static int same_parent(const char *a, const char *b) {
    size_t la = (size_t)(last_part(a) - a), lb = (size_t)(last_part(b) - b);
    return la == lb && !strncmp(a, b, la);
}

/* How near the unknown word w is to cand (lower is nearer), or -1. */
static int word_score(const char *w, const char *cand) {
    size_t lw = strlen(w), lc = strlen(cand);
    int d = lev(w, cand);
    if (d <= (lw <= 3 ? 1 : 2)) return d;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i][1], cand) && lev(w, aliases[i][0]) <= (strlen(aliases[i][0]) <= 3 ? 0 : 1)) return 2;
    if (lw >= 3 && !strncmp(cand, w, lw)) return 3;
    if (lc >= 3 && !strncmp(w, cand, lc)) return 3;
    return -1;
}

const char *exp_suggest(const char *path) {
    const char *w = last_part(path);
    int best = -1, best_score = INT_MAX;
    for (int e = 0; e < E_COUNT; e++) {
        const char *p = exp_schema[e].path;
        if (p[0] == '\001') continue; /* a placeholder, not a key */
        int s = word_score(w, last_part(p));
        if (s < 0) continue;
        if (!same_parent(path, p)) s += 10; /* another section: only when nothing local fits */
        if (s < best_score) best = e, best_score = s;
    }
    if (best >= 0 && !strcmp(exp_schema[best].path, path)) return NULL;
    return best >= 0 ? exp_schema[best].path : NULL;
}

/* ---------------------------------------------------------------- resolving keys */

static int option_key_ok(const char *k) {
    size_t n = strlen(k);
    return n > 0 && n <= 64 && strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int exp_resolve(exp_ctx *c, yt_loc loc, const char *path, s_target *t) {
    *t = (s_target){exp_entry_find(path), -1, NULL};
    if (t->entry >= 0) return 0;
    for (int f = 0; f < FF_N; f++) {
        size_t n = strlen(ff_path[f]);
        if (strncmp(path, ff_path[f], n) || path[n] != '.') continue;
        const char *rest = path + n + 1;
        if (strchr(rest, '.'))
            return exp_fail(c, loc, path, "plugin options are plain values: '%s' cannot have sub-keys", ff_path[f]);
        if (!option_key_ok(rest))
            return exp_fail(c, loc, path, "option names are 1 to 64 letters, digits, '_' or '-'");
        t->ff = f, t->key = rest;
        return 0;
    }
    const char *s = exp_suggest(path);
    if (s) return exp_fail(c, loc, path, "unknown key (did you mean '%s'?)", s);
    return exp_fail(c, loc, path, "unknown key");
}

/* ---------------------------------------------------------------- value checks */

static const char *expected(s_type t) {
    switch (t) {
    case S_INT: return "an integer";
    case S_FLOAT: return "a number";
    case S_BOOL: return "true or false";
    case S_NAME: return "a name (letters, digits, '_', '-', '.')";
    default: return "a string";
    }
}

static int looks_numeric(const char *s) {
    char *end;
    if (!*s) return 0;
    strtod(s, &end);
    return *end == '\0';
}

static const char *type_hint(s_type want, const yt_node *n) {
    int number = want == S_INT || want == S_FLOAT;
    if (n->type == YT_STR && n->quoted && number && looks_numeric(n->text))
        return " (quoted values are strings: write the number without quotes)";
    if (n->type == YT_STR && number && strchr(n->text, '_') && strspn(n->text, "0123456789_.-+eE") == strlen(n->text))
        return " (YAML 1.2 numbers have no '_' separators)";
    if (n->type == YT_FLOAT && want == S_INT) return " (YAML 1.2: a number with '.' or an exponent is a float)";
    if (n->type == YT_STR && want == S_BOOL) return " (YAML 1.2 booleans are true and false)";
    if (want == S_NAME && (n->type == YT_INT || n->type == YT_FLOAT || n->type == YT_BOOL))
        return " (quote it to make it a string)";
    return "";
}

static int type_error(exp_ctx *c, const char *path, s_type want, const yt_node *n) {
    char got[128];
    return exp_fail(c, n->loc, path, "expected %s, got %s%s", expected(want), yt_describe(n, got, sizeof got),
                    type_hint(want, n));
}

static int range_error(exp_ctx *c, const char *path, const s_entry *e, const yt_node *n) {
    char lo[40], hi[40];
    exp_format_double(lo, sizeof lo, e->min);
    exp_format_double(hi, sizeof hi, e->max);
    if (e->type == S_INT && e->max >= (double)INT64_MAX)
        return exp_fail(c, n->loc, path, "%s is out of range: must be >= %s", n->text, lo);
    if (e->type == S_INT) return exp_fail(c, n->loc, path, "%s is out of range: must be from %s to %s", n->text, lo, hi);
    return exp_fail(c, n->loc, path, "%s is out of range: must be %s %s and %s %s", n->text,
                    e->flags & F_MIN_OPEN ? ">" : ">=", lo, e->flags & F_MAX_OPEN ? "<" : "<=", hi);
}

static int name_ok(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* A name that must be one of e->choices: "'x' is not one of: a, b (did you mean 'a'?)". */
static int check_choice(exp_ctx *c, const char *path, const s_entry *e, const yt_node *n) {
    const char *near = NULL;
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; e->choices[i]; i++) {
        if (!strcmp(n->text, e->choices[i])) return 0;
        if (!near && lev(n->text, e->choices[i]) <= 2) near = e->choices[i];
        used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s%s", i ? ", " : "",
                                 e->choices[i]);
    }
    if (near) return exp_fail(c, n->loc, path, "'%s' is not one of: %s (did you mean '%s'?)", n->text, list, near);
    return exp_fail(c, n->loc, path, "'%s' is not one of: %s", n->text, list);
}

static int check_leaf(exp_ctx *c, const char *path, const s_entry *e, const yt_node *n) {
    double v;
    switch (e->type) {
    case S_INT:
    case S_FLOAT:
        if (n->type != YT_INT && (e->type == S_INT || n->type != YT_FLOAT)) return type_error(c, path, e->type, n);
        v = n->type == YT_INT ? (double)n->i : n->d;
        if (isnan(v)) return exp_fail(c, n->loc, path, "expected a number, got .nan");
        if (v < e->min || v > e->max || (v == e->min && (e->flags & F_MIN_OPEN)) ||
            (v == e->max && (e->flags & F_MAX_OPEN)))
            return range_error(c, path, e, n);
        return 0;
    case S_BOOL: return n->type == YT_BOOL ? 0 : type_error(c, path, e->type, n);
    case S_NAME:
        if (n->type != YT_STR) return type_error(c, path, e->type, n);
        if (!name_ok(n->text)) {
            char got[128];
            return exp_fail(c, n->loc, path, "%s is not a valid name (1 to 128 letters, digits, '_', '-', '.')",
                            yt_describe(n, got, sizeof got));
        }
        return e->choices ? check_choice(c, path, e, n) : 0;
    default: /* S_STR: any scalar, as written */
        return n->type == YT_SEQ || n->type == YT_MAP ? type_error(c, path, e->type, n) : 0;
    }
}

/* ---------------------------------------------------------------- applying values */

static int child_path(exp_ctx *c, yt_loc loc, const char *path, const char *key, char *buf, size_t cap) {
    int w = snprintf(buf, cap, "%s%s%s", path, *path ? "." : "", key);
    if (w < 0 || (size_t)w >= cap) return exp_fail(c, loc, path, "key too long");
    return 0;
}

static void ff_remove(ffsec *f, const char *key) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->key[i], key)) {
            for (int j = i + 1; j < f->n; j++) f->key[j - 1] = f->key[j], f->val[j - 1] = f->val[j];
            f->n--;
            return;
        }
}

/* Every entry and section below `path` back to its default. */
static void reset_below(rcfg *rc, const char *path) {
    size_t n = strlen(path);
    for (int e = 0; e < E_COUNT; e++)
        if (!strncmp(exp_schema[e].path, path, n) && exp_schema[e].path[n] == '.') rc->v[e] = NULL;
    for (int f = 0; f < FF_N; f++)
        if (!strcmp(ff_path[f], path) || (!strncmp(ff_path[f], path, n) && ff_path[f][n] == '.')) rc->ff[f].n = 0;
}

/* In a file, keys nest; dotted keys are for grid, zip and --set (where their order is defined). */
static int plain_key(exp_ctx *c, const yt_node *map, int i, const char *path) {
    if (!strchr(map->key[i], '.')) return 0;
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", map->key[i]);
    return exp_fail(c, map->kloc[i], full, "dotted keys are for grid, zip and --set: nest it (a: {b: ...})");
}

static int apply_map(exp_ctx *c, rcfg *rc, const char *path, const yt_node *n) {
    char child[512];
    for (int i = 0; i < n->n; i++) {
        s_target t;
        if (plain_key(c, n, i, path)) return -1;
        if (child_path(c, n->kloc[i], path, n->key[i], child, sizeof child) || exp_resolve(c, n->kloc[i], child, &t))
            return -1;
        if (t.entry < 0) /* an option's name must outlive child[]: it is the end of the YAML key */
            t.key = n->key[i] + (strlen(n->key[i]) - strlen(t.key));
        if (exp_apply(c, rc, child, &t, n->item[i])) return -1;
    }
    return 0;
}

static int option_value_ok(exp_ctx *c, const char *path, int ff, const yt_node *n) {
    if (n->type == YT_FLOAT && !isfinite(n->d)) return exp_fail(c, n->loc, path, "expected a finite number, got %s", n->text);
    if (n->type == YT_MAP)
        return exp_fail(c, n->loc, path, "plugin options are plain values%s, not a mapping",
                        ff == FF_PATHWAY ? " or lists of plain values" : "");
    if (n->type != YT_SEQ) return 0;
    if (ff != FF_PATHWAY)
        return exp_fail(c, n->loc, path, "%s options are plain values, not lists", ff_path[ff]);
    for (int i = 0; i < n->n; i++) {
        const yt_node *it = n->item[i];
        if (it->type == YT_SEQ || it->type == YT_MAP || it->type == YT_NULL)
            return exp_fail(c, it->loc, path, "list items of pathway options are plain values, got %s",
                            yt_type_name(it->type));
        if (option_value_ok(c, path, ff, it)) return -1;
    }
    return 0;
}

static int apply_option(exp_ctx *c, rcfg *rc, const char *path, const s_target *t, const yt_node *n) {
    ffsec *f = &rc->ff[t->ff];
    if (n->type == YT_NULL) { /* null removes an option set before (by a base file, say) */
        for (int i = 0; i < f->n; i++)
            if (!strcmp(f->key[i], t->key)) return ff_remove(f, t->key), 0;
        return exp_fail(c, n->loc, path,
                        "has no value (inside {...} a ',' ends a value: write a list [a, b] or quote \"a,b\")");
    }
    if (option_value_ok(c, path, t->ff, n)) return -1;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->key[i], t->key)) {
            f->val[i] = n;
            return 0;
        }
    if (f->n == EXP_FF_MAX) return exp_fail(c, n->loc, path, "more than %d options in '%s'", EXP_FF_MAX, ff_path[t->ff]);
    f->key[f->n] = t->key, f->val[f->n++] = n;
    return 0;
}

int exp_apply(exp_ctx *c, rcfg *rc, const char *path, const s_target *t, const yt_node *n) {
    if (t->entry < 0) return apply_option(c, rc, path, t, n);
    const s_entry *e = &exp_schema[t->entry];
    switch (e->type) {
    case S_SPECIAL: return exp_fail(c, n->loc, path, "not allowed here");
    case S_SECTION:
    case S_FREE:
        if (n->type == YT_NULL) {
            reset_below(rc, path);
            return 0;
        }
        if (n->type != YT_MAP) {
            char got[128];
            return exp_fail(c, n->loc, path, "expected a mapping%s, got %s",
                            e->type == S_FREE ? " of plugin options" : "", yt_describe(n, got, sizeof got));
        }
        return apply_map(c, rc, path, n);
    default:
        if (n->type == YT_NULL) {
            rc->v[t->entry] = NULL; /* null: the default */
            return 0;
        }
        if (check_leaf(c, path, e, n)) return -1;
        rc->v[t->entry] = n;
        return 0;
    }
}

int exp_apply_root(exp_ctx *c, rcfg *rc, const yt_node *root) {
    for (int i = 0; i < root->n; i++) {
        const char *k = root->key[i];
        int e = exp_entry_find(k);
        if (e == E_GRID || e == E_ZIP || e == E_EXTENDS || e == E_BASE) continue;
        s_target t;
        if (plain_key(c, root, i, "") || exp_resolve(c, root->kloc[i], k, &t)) return -1;
        if (e == E_NAME || e == E_DESCRIPTION) {
            if (root->item[i]->type != YT_NULL && check_leaf(c, k, &exp_schema[e], root->item[i])) return -1;
            continue;
        }
        if (exp_apply(c, rc, k, &t, root->item[i])) return -1;
    }
    return 0;
}
