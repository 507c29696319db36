/* From grid points to cells: resolve each point, check it (cross-field rules, plugins through
 * the oracle), drop what its pathway makes meaningless, write its canonical JSON, hash it, and
 * collapse identical cells; build (and share) the auxiliary cells the targets need. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp_internal.h"
#include "util.h"

/* ---------------------------------------------------------------- u64 -> int map */

typedef struct {
    uint64_t *k;
    int *v; /* -1: empty slot */
    size_t cap, n;
} u64map;

static void map_free(u64map *m) {
    free(m->k), free(m->v);
    memset(m, 0, sizeof *m);
}

static int map_grow(u64map *m) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    uint64_t *k = malloc(cap * sizeof *k);
    int *v = malloc(cap * sizeof *v);
    if (!k || !v) return free(k), free(v), -1;
    for (size_t i = 0; i < cap; i++) v[i] = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->v[i] < 0) continue;
        size_t j = (size_t)m->k[i] & (cap - 1);
        while (v[j] >= 0) j = (j + 1) & (cap - 1);
        k[j] = m->k[i], v[j] = m->v[i];
    }
    free(m->k), free(m->v);
    m->k = k, m->v = v, m->cap = cap;
    return 0;
}

/* The value stored for key, or -1. */
static int map_get(const u64map *m, uint64_t key) {
    if (!m->cap) return -1;
    for (size_t j = (size_t)key & (m->cap - 1); m->v[j] >= 0; j = (j + 1) & (m->cap - 1))
        if (m->k[j] == key) return m->v[j];
    return -1;
}

static int map_put(u64map *m, uint64_t key, int val) {
    if (2 * (m->n + 1) > m->cap && map_grow(m)) return -1;
    size_t j = (size_t)key & (m->cap - 1);
    while (m->v[j] >= 0 && m->k[j] != key) j = (j + 1) & (m->cap - 1);
    if (m->v[j] < 0) m->n++;
    m->k[j] = key, m->v[j] = val;
    return 0;
}

struct exp_cache {
    u64map m; /* hash of a question -> answer (needs_aux, or 0) */
};

void exp_cache_free(exp_cache *cache) {
    if (!cache) return;
    map_free(&cache->m);
    free(cache);
}

/* ---------------------------------------------------------------- resolved cell */

typedef struct {
    m2pt_shape shape;
    m2pt_train_settings tt, at; /* target and auxiliary training */
    uint64_t seed, aux_seed;
    const char *modality, *aux_modality, *pathway;
    int needs_aux, baseline;
    /* masked-autoencoder pretraining: of the auxiliary model (aux_mae, trained with amt) and of
     * the target (pretrain, a pretrain cell trained with pmt); mae: masking and decoder */
    int aux_mae, pretrain;
    m2pt_mae_config mae;
    m2pt_train_settings amt, pmt;
} rcell;

static void read_train(const rcfg *rc, int e0, m2pt_train_settings *t) {
    t->epochs = (int)exp_int(rc, e0 + TR_EPOCHS);
    t->batch = (int)exp_int(rc, e0 + TR_BATCH);
    t->lr = exp_num(rc, e0 + TR_LR);
    t->min_lr = exp_num(rc, e0 + TR_MIN_LR);
    t->weight_decay = exp_num(rc, e0 + TR_WEIGHT_DECAY);
    t->warmup_epochs = exp_num(rc, e0 + TR_WARMUP);
    t->clip = exp_num(rc, e0 + TR_CLIP);
    t->label_smoothing = exp_num(rc, e0 + TR_LABEL_SMOOTHING);
    t->augment = (int)exp_int(rc, e0 + TR_AUGMENT);
}

/* The entry that set a field of training e0 (the override, else train.*), or -1. */
static int setter(const rcfg *rc, int e0, int field) {
    if (rc->v[e0 + field]) return e0 + field;
    if (rc->v[E_TR0 + field]) return E_TR0 + field;
    return -1;
}

static yt_loc loc_of(const exp_ctx *c, const rcfg *rc, int e) { return e >= 0 ? rc->v[e]->loc : c->root_loc; }

static int check_train(exp_ctx *c, const rcfg *rc, int e0, const m2pt_train_settings *t) {
    if (t->min_lr > t->lr) {
        int e = setter(rc, e0, TR_MIN_LR) >= 0 ? setter(rc, e0, TR_MIN_LR) : setter(rc, e0, TR_LR);
        return exp_fail(c, loc_of(c, rc, e), e >= 0 ? exp_schema[e].path : exp_schema[e0 + TR_MIN_LR].path,
                        "min_lr %g is larger than lr %g", t->min_lr, t->lr);
    }
    if (t->warmup_epochs > t->epochs) {
        int e = setter(rc, e0, TR_WARMUP) >= 0 ? setter(rc, e0, TR_WARMUP) : setter(rc, e0, TR_EPOCHS);
        return exp_fail(c, loc_of(c, rc, e), e >= 0 ? exp_schema[e].path : exp_schema[e0 + TR_WARMUP].path,
                        "warmup_epochs %g is longer than training (%d epochs)", t->warmup_epochs, t->epochs);
    }
    return 0;
}

/* The training of an MAE model whose own settings start at e0 (auxiliary.train.* or
 * target.train.*): mae.* where set, else the model's own value. label_smoothing means nothing
 * without labels (0); augment is the model's own train.augment. */
static void mae_train(const rcfg *rc, int e0, m2pt_train_settings *t) {
    read_train(rc, e0, t);
    for (int f = 0; f < TR_N; f++) {
        const yt_node *n = MAE_HAS_FIELD(f) ? rc->v[E_M_TR0 + f] : NULL;
        if (!n) continue;
        double v = n->type == YT_FLOAT ? n->d : (double)n->i;
        switch (f) {
        case TR_EPOCHS: t->epochs = (int)n->i; break;
        case TR_BATCH: t->batch = (int)n->i; break;
        case TR_LR: t->lr = v; break;
        case TR_MIN_LR: t->min_lr = v; break;
        case TR_WEIGHT_DECAY: t->weight_decay = v; break;
        case TR_WARMUP: t->warmup_epochs = v; break;
        case TR_CLIP: t->clip = v; break;
        default: break;
        }
    }
    t->label_smoothing = 0;
}

/* The entry that set field f of an MAE training based on e0 (mae.*, the override, train.*). */
static int mae_setter(const rcfg *rc, int e0, int f) {
    if (MAE_HAS_FIELD(f) && rc->v[E_M_TR0 + f]) return E_M_TR0 + f;
    return setter(rc, e0, f);
}

static int check_mae_train(exp_ctx *c, const rcfg *rc, int e0, const m2pt_train_settings *t) {
    if (t->min_lr > t->lr) {
        int e = mae_setter(rc, e0, TR_MIN_LR) >= 0 ? mae_setter(rc, e0, TR_MIN_LR) : mae_setter(rc, e0, TR_LR);
        return exp_fail(c, loc_of(c, rc, e), e >= 0 ? exp_schema[e].path : "mae.min_lr",
                        "min_lr %g of the MAE training is larger than its lr %g", t->min_lr, t->lr);
    }
    if (t->warmup_epochs > t->epochs) {
        int e = mae_setter(rc, e0, TR_WARMUP) >= 0 ? mae_setter(rc, e0, TR_WARMUP) : mae_setter(rc, e0, TR_EPOCHS);
        return exp_fail(c, loc_of(c, rc, e), e >= 0 ? exp_schema[e].path : "mae.warmup_epochs",
                        "warmup_epochs %g of the MAE training is longer than it (%d epochs)", t->warmup_epochs,
                        t->epochs);
    }
    return 0;
}

static int read_mae(exp_ctx *c, const rcfg *rc, m2pt_mae_config *m) {
    m->mask_ratio = exp_num(rc, E_M_MASK_RATIO);
    m->decoder_dim = (int)exp_int(rc, E_M_DEC_DIM);
    m->decoder_depth = (int)exp_int(rc, E_M_DEC_DEPTH);
    m->decoder_heads = (int)exp_int(rc, E_M_DEC_HEADS);
    if (m->decoder_dim % m->decoder_heads == 0) return 0;
    int e = rc->v[E_M_DEC_HEADS] ? E_M_DEC_HEADS : E_M_DEC_DIM;
    return exp_fail(c, loc_of(c, rc, rc->v[e] ? e : -1), exp_schema[e].path,
                    "mae.decoder_dim %d is not a multiple of mae.decoder_heads %d", m->decoder_dim, m->decoder_heads);
}

/* ---------------------------------------------------------------- oracle */

static uint64_t question_hash(const char *kind, const char *name, const char *extra) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_sb_printf(&b, "%s\n%s\n%s", kind, name, extra ? extra : "");
    uint64_t h = b.failed ? 0 : m2pt_hash_str(b.buf);
    m2pt_sb_free(&b);
    return h;
}

static int cache_get(exp_ctx *c, uint64_t q) { return q && c->cache ? map_get(&c->cache->m, q) : -1; }

static void cache_put(exp_ctx *c, uint64_t q, int answer) {
    if (!q) return;
    if (!c->cache && !(c->cache = calloc(1, sizeof *c->cache))) return; /* no cache: ask again */
    map_put(&c->cache->m, q, answer);
}

/* Is this plugin known (and, for a pathway, does it need an auxiliary model)? */
static int oracle_name(exp_ctx *c, int pathway, const char *name, yt_loc loc, const char *path, int *needs) {
    const m2pt_plugin_oracle *o = c->oracle;
    *needs = pathway && strcmp(name, "baseline") && strcmp(name, "noaux");
    if (!o || !(pathway ? (void *)o->pathway_needs_aux : (void *)o->check_modality)) return 0;
    uint64_t q = question_hash(pathway ? "pathway" : "modality", name, NULL);
    int cached = cache_get(c, q);
    if (cached >= 0) return *needs = cached, 0;
    m2pt_kv kv = {0};
    char why[512] = "";
    int nd = 0;
    /* a modality's name alone (NULL options): is there such a plugin? Opening it with its
     * defaults could fail for reasons that the file's options fix (a smaller data set than the
     * default split sizes need); oracle_opts checks the options, or the defaults if none. */
    int rc = pathway ? o->pathway_needs_aux(o->ctx, name, &kv, &nd, why, sizeof why)
                     : o->check_modality(o->ctx, name, NULL, why, sizeof why);
    m2pt_kv_free(&kv);
    if (rc) return exp_fail(c, loc, path, "%s", why[0] ? why : "unknown plugin");
    if (pathway) *needs = nd != 0;
    cache_put(c, q, *needs);
    return 0;
}

/* Can this modality be trained by MAE? Asked once per name; an error is located at loc. */
static int oracle_can_mae(exp_ctx *c, const char *name, yt_loc loc, const char *path) {
    const m2pt_plugin_oracle *o = c->oracle;
    if (!o || !o->modality_can_mae) return 0;
    uint64_t q = question_hash("modality-mae", name, NULL);
    if (cache_get(c, q) >= 0) return 0;
    char why[512] = "";
    if (o->modality_can_mae(o->ctx, name, why, sizeof why))
        return exp_fail(c, loc, path, "%s", why[0] ? why : "this modality cannot be trained by MAE");
    cache_put(c, q, 0);
    return 0;
}

/* Indices of f's entries in key order. */
static void sorted_order(const ffsec *f, int *order) {
    for (int i = 0; i < f->n; i++) order[i] = i;
    for (int i = 1; i < f->n; i++)
        for (int j = i; j > 0 && strcmp(f->key[order[j - 1]], f->key[order[j]]) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
}

/* f as an m2pt_kv in key order: canonical text values, origins "FILE:LINE:COL". */
static int ff_to_kv(const ffsec *f, m2pt_kv *kv) {
    int order[EXP_FF_MAX];
    sorted_order(f, order);
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    int rc = 0;
    for (int i = 0; i < f->n && rc == 0; i++) {
        const yt_node *v = f->val[order[i]];
        char where[512];
        b.len = 0;
        m2pt_sb_puts(&b, "");
        exp_canon_text(&b, v);
        rc = b.failed ? -1 : m2pt_kv_set(kv, f->key[order[i]], b.buf, yt_loc_format(v->loc, where, sizeof where));
    }
    m2pt_sb_free(&b);
    return rc;
}

/* Locates a plugin's complaint about its options: the entry whose origin starts the message,
 * else the entry named in quotes, else the first one the plugin did not read. */
static int oracle_opts_error(exp_ctx *c, const ffsec *f, const m2pt_kv *kv, const char *section, const char *why,
                             yt_loc fallback) {
    int hit = -1;
    const char *msg = why[0] ? why : "invalid options";
    for (int i = 0; i < kv->n && hit < 0; i++) {
        size_t ol = strlen(kv->e[i].origin);
        if (ol && !strncmp(msg, kv->e[i].origin, ol) && msg[ol] == ':') {
            hit = i, msg += ol + 1;
            while (*msg == ' ') msg++;
        }
    }
    for (int i = 0; i < kv->n && hit < 0; i++) {
        char quoted[80];
        snprintf(quoted, sizeof quoted, "'%s'", kv->e[i].key);
        if (strstr(msg, quoted)) hit = i;
    }
    for (int i = 0; i < kv->n && hit < 0; i++)
        if (!kv->e[i].read) hit = i;
    if (hit < 0) return exp_fail(c, fallback, section, "%s", msg);
    char path[256];
    snprintf(path, sizeof path, "%s.%s", section, kv->e[hit].key);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->key[i], kv->e[hit].key)) return exp_fail(c, f->val[i]->loc, path, "%s", msg);
    return exp_fail(c, fallback, path, "%s", msg);
}

/* Does the plugin accept these options? */
static int oracle_opts(exp_ctx *c, int pathway, const char *name, const ffsec *f, const char *section, yt_loc at) {
    const m2pt_plugin_oracle *o = c->oracle;
    /* a modality is checked with no options too (its defaults), a pathway only with options */
    if (!o || (pathway && f->n == 0) || !(pathway ? (void *)o->pathway_needs_aux : (void *)o->check_modality))
        return 0;
    m2pt_kv kv = {0};
    if (ff_to_kv(f, &kv)) return m2pt_kv_free(&kv), exp_oom(c);
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    for (int i = 0; i < kv.n; i++) m2pt_sb_printf(&b, "%s=%s\n", kv.e[i].key, kv.e[i].value);
    uint64_t q = b.failed ? 0 : question_hash(pathway ? "pathway-options" : "modality-options", name, b.buf);
    m2pt_sb_free(&b);
    int rc = 0;
    if (cache_get(c, q) < 0) {
        char why[512] = "";
        int nd = 0;
        rc = pathway ? o->pathway_needs_aux(o->ctx, name, &kv, &nd, why, sizeof why)
                     : o->check_modality(o->ctx, name, &kv, why, sizeof why);
        if (rc) rc = oracle_opts_error(c, f, &kv, section, why, at);
        else cache_put(c, q, 0);
    }
    m2pt_kv_free(&kv);
    return rc;
}

/* ---------------------------------------------------------------- resolving a point */

static yt_loc node_loc(const exp_ctx *c, const yt_node *n) { return n ? n->loc : c->root_loc; }

static int check_shape(exp_ctx *c, const rcfg *rc, const m2pt_shape *s) {
    if (s->dim % s->heads == 0) return 0;
    int e = rc->v[E_HEADS] ? E_HEADS : E_DIM;
    return exp_fail(c, node_loc(c, rc->v[e]), exp_schema[e].path, "model.dim %d is not a multiple of model.heads %d",
                    s->dim, s->heads);
}

static int resolve(exp_ctx *c, const rcfg *rc, rcell *r) {
    memset(r, 0, sizeof *r);
    r->shape = (m2pt_shape){(int)exp_int(rc, E_DIM), (int)exp_int(rc, E_DEPTH), (int)exp_int(rc, E_HEADS),
                            (int)exp_int(rc, E_MLP_RATIO)};
    read_train(rc, E_TTR0, &r->tt);
    read_train(rc, E_ATR0, &r->at);
    r->seed = (uint64_t)exp_int(rc, E_SEED);
    r->aux_seed = rc->v[E_A_SEED] ? (uint64_t)rc->v[E_A_SEED]->i : r->seed;
    r->modality = exp_str(rc, E_T_MODALITY);
    r->aux_modality = exp_str(rc, E_A_MODALITY);
    r->pathway = exp_str(rc, E_P_NAME);
    r->baseline = !strcmp(r->pathway, "baseline");
    if (!r->modality)
        return exp_fail(c, c->root_loc, "target.modality", "required: the target's modality plugin (e.g. modality: image)");
    if (check_shape(c, rc, &r->shape) || check_train(c, rc, E_TTR0, &r->tt)) return -1;
    int unused;
    if (oracle_name(c, 0, r->modality, node_loc(c, rc->v[E_T_MODALITY]), "target.modality", &unused) ||
        oracle_name(c, 1, r->pathway, node_loc(c, rc->v[E_P_NAME]), "pathway.name", &r->needs_aux))
        return -1;
    if (r->aux_modality &&
        oracle_name(c, 0, r->aux_modality, node_loc(c, rc->v[E_A_MODALITY]), "auxiliary.modality", &unused))
        return -1;
    r->pretrain = !strcmp(exp_str(rc, E_T_PRETRAIN), "mae");
    r->aux_mae = r->needs_aux && !strcmp(exp_str(rc, E_A_OBJECTIVE), "mae");
    if ((r->pretrain || r->aux_mae) && read_mae(c, rc, &r->mae)) return -1;
    if (r->pretrain) {
        mae_train(rc, E_TTR0, &r->pmt);
        if (check_mae_train(c, rc, E_TTR0, &r->pmt) ||
            oracle_can_mae(c, r->modality, node_loc(c, rc->v[E_T_PRETRAIN]), "target.pretrain"))
            return -1;
    }
    if (!r->needs_aux) return 0;
    if (!r->aux_modality)
        return exp_fail(c, node_loc(c, rc->v[E_P_NAME]), "auxiliary.modality",
                        "pathway '%s' needs an auxiliary model: set auxiliary.modality", r->pathway);
    if (!r->aux_mae) return check_train(c, rc, E_ATR0, &r->at);
    mae_train(rc, E_ATR0, &r->amt);
    if (check_mae_train(c, rc, E_ATR0, &r->amt)) return -1;
    return oracle_can_mae(c, r->aux_modality, node_loc(c, rc->v[E_A_OBJECTIVE]), "auxiliary.objective");
}

/* ---------------------------------------------------------------- canonical JSON */

static void js_model(m2pt_strbuf *b, const m2pt_shape *s) {
    m2pt_json_key(b, "model");
    m2pt_json_begin_object(b);
    m2pt_json_add_int(b, "depth", s->depth);
    m2pt_json_add_int(b, "dim", s->dim);
    m2pt_json_add_int(b, "heads", s->heads);
    m2pt_json_add_int(b, "mlp_ratio", s->mlp_ratio);
    m2pt_json_end_object(b);
}

/* labels: 0 for an MAE model's training, which has no label_smoothing. */
static void js_train(m2pt_strbuf *b, const m2pt_train_settings *t, int labels) {
    m2pt_json_key(b, "train");
    m2pt_json_begin_object(b);
    m2pt_json_add_bool(b, "augment", t->augment);
    m2pt_json_add_int(b, "batch", t->batch);
    m2pt_json_add_double(b, "clip", t->clip);
    m2pt_json_add_int(b, "epochs", t->epochs);
    if (labels) m2pt_json_add_double(b, "label_smoothing", t->label_smoothing);
    m2pt_json_add_double(b, "lr", t->lr);
    m2pt_json_add_double(b, "min_lr", t->min_lr);
    m2pt_json_add_double(b, "warmup_epochs", t->warmup_epochs);
    m2pt_json_add_double(b, "weight_decay", t->weight_decay);
    m2pt_json_end_object(b);
}

static void js_mae(m2pt_strbuf *b, const m2pt_mae_config *m) {
    m2pt_json_key(b, "mae");
    m2pt_json_begin_object(b);
    m2pt_json_add_int(b, "decoder_depth", m->decoder_depth);
    m2pt_json_add_int(b, "decoder_dim", m->decoder_dim);
    m2pt_json_add_int(b, "decoder_heads", m->decoder_heads);
    m2pt_json_add_double(b, "mask_ratio", m->mask_ratio);
    m2pt_json_end_object(b);
}

static void js_value(m2pt_strbuf *b, const char *key, const yt_node *v) {
    switch (v->type) {
    case YT_BOOL: m2pt_json_add_bool(b, key, v->b); break;
    case YT_INT: m2pt_json_add_int(b, key, v->i); break;
    case YT_FLOAT: m2pt_json_add_double(b, key, v->d); break;
    default: {
        m2pt_strbuf t;
        m2pt_sb_init(&t);
        m2pt_sb_puts(&t, "");
        exp_canon_text(&t, v);
        if (t.failed) b->failed = 1;
        else m2pt_json_add_string(b, key, t.buf);
        m2pt_sb_free(&t);
    }
    }
}

/* An options object in key order; `name` (when given) joins the keys as "name". */
static void js_options(m2pt_strbuf *b, const char *key, const ffsec *f, const char *name) {
    int order[EXP_FF_MAX];
    sorted_order(f, order);
    m2pt_json_key(b, key);
    m2pt_json_begin_object(b);
    int named = !name;
    for (int i = 0; i < f->n; i++) {
        if (!named && strcmp(f->key[order[i]], "name") > 0) m2pt_json_add_string(b, "name", name), named = 1;
        js_value(b, f->key[order[i]], f->val[order[i]]);
    }
    if (!named) m2pt_json_add_string(b, "name", name);
    m2pt_json_end_object(b);
}

static const ffsec no_options;

/* A model trained alone (role auxiliary): supervised (the JSON of every auxiliary cell before
 * MAE existed, byte for byte), or by MAE ("mae" and "objective" added, MAE training). */
static char *alone_json(const ffsec *data, const rcell *r, const char *modality, uint64_t seed,
                        const m2pt_train_settings *t, int mae) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_json_begin_object(&b);
    js_options(&b, "data", data, NULL);
    if (mae) js_mae(&b, &r->mae);
    js_model(&b, &r->shape);
    m2pt_json_add_string(&b, "modality", modality);
    if (mae) m2pt_json_add_string(&b, "objective", "mae");
    js_options(&b, "pathway", &no_options, "baseline");
    m2pt_json_add_string(&b, "role", "auxiliary");
    m2pt_json_add_int(&b, "seed", (long long)seed);
    js_train(&b, t, !mae);
    m2pt_json_end_object(&b);
    if (b.failed) m2pt_sb_free(&b);
    return b.buf;
}

static char *aux_json(const rcfg *rc, const rcell *r) {
    return alone_json(&rc->ff[FF_ADATA], r, r->aux_modality, r->aux_seed, r->aux_mae ? &r->amt : &r->at, r->aux_mae);
}

/* The pretraining of a target: its modality, data options, shape and seed, trained by MAE. */
static char *pretrain_json(const rcfg *rc, const rcell *r) {
    return alone_json(&rc->ff[FF_TDATA], r, r->modality, r->seed, &r->pmt, 1);
}

static char *target_json(const rcfg *rc, const rcell *r, const char *aux, const char *pre) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_json_begin_object(&b);
    if (aux) m2pt_json_add_raw(&b, "auxiliary", aux);
    js_options(&b, "data", &rc->ff[FF_TDATA], NULL);
    js_model(&b, &r->shape);
    m2pt_json_add_string(&b, "modality", r->modality);
    js_options(&b, "pathway", r->baseline ? &no_options : &rc->ff[FF_PATHWAY], r->pathway);
    if (pre) m2pt_json_add_raw(&b, "pretrain", pre);
    m2pt_json_add_string(&b, "role", "target");
    m2pt_json_add_int(&b, "seed", (long long)r->seed);
    js_train(&b, &r->tt, 1);
    m2pt_json_end_object(&b);
    if (b.failed) m2pt_sb_free(&b);
    return b.buf;
}

/* ---------------------------------------------------------------- cells */

typedef struct {
    m2pt_cell *cell;
    int n, cap;
    u64map index; /* hash -> position */
} cellvec;

void exp_cell_free(m2pt_cell *cell) {
    free(cell->json);
    free((void *)cell->modality), free((void *)cell->pathway), free((void *)cell->aux_modality);
    m2pt_kv_free(&cell->data), m2pt_kv_free(&cell->pathway_opts);
    free((void *)cell->axis_keys); /* one block with axis_values and the texts */
    memset(cell, 0, sizeof *cell);
}

static void vec_free(cellvec *v) {
    for (int i = 0; i < v->n; i++) exp_cell_free(&v->cell[i]);
    free(v->cell);
    map_free(&v->index);
}

static uint64_t hash_of(const char *json, char hex[M2PT_HASH_HEX]) {
    uint64_t h = m2pt_hash_str(json);
    snprintf(hex, M2PT_HASH_HEX, "%016" PRIx64, h);
    return h;
}

/* Position of the cell with this JSON, -1 when new, -2 on a (never seen) 64-bit collision. */
static int vec_find(const cellvec *v, uint64_t h, const char *json) {
    int i = map_get(&v->index, h);
    if (i < 0) return -1;
    return strcmp(v->cell[i].json, json) ? -2 : i;
}

static int vec_push(cellvec *v, m2pt_cell *cell, uint64_t h) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 16;
        m2pt_cell *p = realloc(v->cell, (size_t)cap * sizeof *p);
        if (!p) return -1;
        v->cell = p, v->cap = cap;
    }
    if (map_put(&v->index, h, v->n)) return -1;
    v->cell[v->n++] = *cell;
    return 0;
}

/* One allocation holding the key and value pointer arrays and their texts. */
static int set_axes(m2pt_cell *cell, int n, const char *const *keys, const m2pt_strbuf *vals, const size_t *voff) {
    cell->naxes = n;
    if (n == 0) return 0;
    size_t bytes = 2 * (size_t)n * sizeof(char *);
    for (int i = 0; i < n; i++) bytes += strlen(keys[i]) + 1;
    bytes += vals->len + 1;
    char **block = malloc(bytes);
    if (!block) return -1;
    char *text = (char *)(block + 2 * n);
    memcpy(text, vals->buf, vals->len + 1);
    for (int i = 0; i < n; i++) block[n + i] = text + voff[i];
    text += vals->len + 1;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(keys[i]) + 1;
        memcpy(text, keys[i], l);
        block[i] = text;
        text += l;
    }
    cell->axis_keys = (const char **)block;
    cell->axis_values = (const char **)(block + n);
    return 0;
}

static char *dup_or_null(const char *s, int *bad) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *bad = 1;
    return d;
}

/* What a cell is: a target, an auxiliary model, or the MAE pretraining of a target. */
typedef enum { K_TARGET, K_AUX, K_PRETRAIN } cell_kind;

/* Fills the parts common to every kind. Takes json. */
static int fill_cell(m2pt_cell *cell, cell_kind kind, char *json, const rcell *r, const ffsec *data) {
    int bad = 0;
    memset(cell, 0, sizeof *cell);
    cell->role = kind == K_TARGET ? M2PT_ROLE_TARGET : M2PT_ROLE_AUXILIARY;
    cell->json = json;
    hash_of(json, cell->hash);
    cell->shape = r->shape;
    cell->train = kind == K_TARGET ? r->tt : kind == K_PRETRAIN ? r->pmt : r->aux_mae ? r->amt : r->at;
    cell->seed = kind == K_AUX ? r->aux_seed : r->seed;
    cell->modality = dup_or_null(kind == K_AUX ? r->aux_modality : r->modality, &bad);
    cell->pathway = dup_or_null(kind == K_TARGET ? r->pathway : "baseline", &bad);
    cell->aux = cell->pretrain = -1;
    cell->mae = kind == K_PRETRAIN || (kind == K_AUX && r->aux_mae);
    if (cell->mae) cell->mae_cfg = r->mae;
    if (bad || ff_to_kv(data, &cell->data)) return -1;
    return 0;
}

typedef struct {
    const exp_axes *ax;
    long idx[EXP_MAX_AXES]; /* value index per axis */
} point;

static int key_under(const char *key, const char *section) {
    size_t n = strlen(section);
    return !strncmp(key, section, n) && (key[n] == '\0' || key[n] == '.');
}

/* A target's coordinates: every varying key's value, '-' where this cell ignores it. */
static int target_axes(m2pt_cell *cell, const point *pt, const rcell *r) {
    const char *keys[EXP_MAX_AXES];
    size_t off[EXP_MAX_AXES];
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    for (int i = 0; i < pt->ax->nkeys; i++) {
        const exp_axis_key *k = &pt->ax->k[i];
        keys[i] = k->key;
        off[i] = b.len;
        int ignored = (key_under(k->key, "auxiliary") && !r->needs_aux) ||
                      (key_under(k->key, "pathway") && strcmp(k->key, "pathway.name") && r->baseline) ||
                      (key_under(k->key, "mae") && !r->aux_mae && !r->pretrain);
        if (ignored) m2pt_sb_puts(&b, "-");
        else exp_display_text(&b, k->list->item[pt->idx[k->axis]]);
        m2pt_sb_append(&b, "", 1);
    }
    int rc = b.failed || set_axes(cell, pt->ax->nkeys, keys, &b, off) ? -1 : 0;
    m2pt_sb_free(&b);
    return rc;
}

/* Does varying key k shape a cell of this kind (beyond its modality, seed and epochs)? */
static int shapes(const char *k, cell_kind kind, const rcell *r) {
    if (key_under(k, "model")) return 1;
    if (kind == K_PRETRAIN)
        return (key_under(k, "target.data") || key_under(k, "target.train") || key_under(k, "mae")) &&
               strcmp(k, "target.train.epochs") && strcmp(k, "mae.epochs");
    if (r->aux_mae && key_under(k, "mae")) return strcmp(k, "mae.epochs") != 0;
    return !strncmp(k, "auxiliary.", 10) && strcmp(k, "auxiliary.modality") && strcmp(k, "auxiliary.seed") &&
           strcmp(k, "auxiliary.train.epochs") && strcmp(k, "auxiliary.objective");
}

/* An auxiliary or pretrain cell's identity: modality, seed, epochs, and the varying keys that
 * shape it (dry-run tables). */
static int aux_axes(m2pt_cell *cell, const point *pt, const rcell *r, cell_kind kind) {
    const char *keys[EXP_MAX_AXES + 3] = {"modality", "seed", "epochs"};
    size_t off[EXP_MAX_AXES + 3];
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    off[0] = 0;
    m2pt_sb_printf(&b, "%s%c", cell->modality, 0);
    off[1] = b.len;
    m2pt_sb_printf(&b, "%" PRIu64 "%c", cell->seed, 0);
    off[2] = b.len;
    m2pt_sb_printf(&b, "%d%c", cell->train.epochs, 0);
    int n = 3;
    for (int i = 0; i < pt->ax->nkeys; i++) {
        const exp_axis_key *k = &pt->ax->k[i];
        if (!shapes(k->key, kind, r)) continue;
        keys[n] = k->key;
        off[n++] = b.len;
        exp_display_text(&b, k->list->item[pt->idx[k->axis]]);
        m2pt_sb_append(&b, "", 1);
    }
    int rc = b.failed || set_axes(cell, n, keys, &b, off) ? -1 : 0;
    m2pt_sb_free(&b);
    return rc;
}

typedef struct {
    cellvec targets, auxes;
    int collapsed;
} expansion;

/* Index of the auxiliary (or pretrain) cell this target needs, created on first use. Both
 * kinds are role auxiliary and live in one list: a pretrain cell and an MAE auxiliary cell
 * with the same resolved configuration are one cell. */
static int aux_index(exp_ctx *c, expansion *x, const rcfg *rc, const rcell *r, const point *pt, const char *json,
                     cell_kind kind) {
    char hex[M2PT_HASH_HEX];
    uint64_t h = hash_of(json, hex);
    int i = vec_find(&x->auxes, h, json);
    if (i == -2) return exp_fail(c, c->root_loc, NULL, "64-bit cell hash collision (%s): rename something", hex);
    if (i >= 0) return i;
    if (kind == K_AUX &&
        oracle_opts(c, 0, r->aux_modality, &rc->ff[FF_ADATA], "auxiliary.data", node_loc(c, rc->v[E_A_MODALITY])))
        return -1;
    m2pt_cell cell;
    char *copy = strdup(json);
    if (!copy) return exp_oom(c);
    if (fill_cell(&cell, kind, copy, r, kind == K_AUX ? &rc->ff[FF_ADATA] : &rc->ff[FF_TDATA]) ||
        aux_axes(&cell, pt, r, kind) || vec_push(&x->auxes, &cell, h)) {
        exp_cell_free(&cell);
        return exp_oom(c);
    }
    return x->auxes.n - 1;
}

static int add_target(exp_ctx *c, expansion *x, const rcfg *rc, const rcell *r, const point *pt) {
    char *aux = r->needs_aux ? aux_json(rc, r) : NULL;
    char *pre = r->pretrain ? pretrain_json(rc, r) : NULL;
    char *json = (r->needs_aux && !aux) || (r->pretrain && !pre) ? NULL : target_json(rc, r, aux, pre);
    if (!json) return free(aux), free(pre), exp_oom(c);
    char hex[M2PT_HASH_HEX];
    uint64_t h = hash_of(json, hex);
    int found = vec_find(&x->targets, h, json);
    if (found != -1) {
        free(aux), free(pre), free(json);
        if (found == -2) return exp_fail(c, c->root_loc, NULL, "64-bit cell hash collision (%s)", hex);
        x->collapsed++;
        return 0;
    }
    int ai = -1, pi = -1;
    if (oracle_opts(c, 0, r->modality, &rc->ff[FF_TDATA], "target.data", node_loc(c, rc->v[E_T_MODALITY])) ||
        (!r->baseline &&
         oracle_opts(c, 1, r->pathway, &rc->ff[FF_PATHWAY], "pathway", node_loc(c, rc->v[E_P_NAME]))) ||
        (aux && (ai = aux_index(c, x, rc, r, pt, aux, K_AUX)) < 0) ||
        (pre && (pi = aux_index(c, x, rc, r, pt, pre, K_PRETRAIN)) < 0)) {
        free(aux), free(pre), free(json);
        return -1;
    }
    free(aux), free(pre);
    m2pt_cell cell;
    int bad = fill_cell(&cell, K_TARGET, json, r, &rc->ff[FF_TDATA]);
    if (!bad) {
        cell.aux = ai;
        cell.pretrain = pi;
        cell.aux_mae = ai >= 0 && r->aux_mae;
        cell.aux_modality = dup_or_null(r->needs_aux ? r->aux_modality : NULL, &bad);
        if (!bad && !r->baseline && ff_to_kv(&rc->ff[FF_PATHWAY], &cell.pathway_opts)) bad = 1;
        if (!bad) bad = target_axes(&cell, pt, r) != 0;
    }
    if (bad || vec_push(&x->targets, &cell, h)) {
        exp_cell_free(&cell);
        return exp_oom(c);
    }
    return 0;
}

/* Appends " (grid point: k=v, ...)" to the error so that the failing combination is known. */
static void add_point_context(exp_ctx *c, const point *pt) {
    if (pt->ax->nkeys == 0) return;
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_sb_puts(&b, " (grid point: ");
    for (int i = 0; i < pt->ax->nkeys; i++) {
        const exp_axis_key *k = &pt->ax->k[i];
        m2pt_sb_printf(&b, "%s%s=", i ? ", " : "", k->key);
        exp_display_text(&b, k->list->item[pt->idx[k->axis]]);
    }
    m2pt_sb_puts(&b, ")");
    size_t used = strlen(c->err);
    if (!b.failed && used + 1 < c->errlen) snprintf(c->err + used, c->errlen - used, "%s", b.buf);
    m2pt_sb_free(&b);
}

static int expand_point(exp_ctx *c, expansion *x, const rcfg *base, point *pt, long p) {
    const exp_axes *ax = pt->ax;
    for (int a = ax->naxes - 1; a >= 0; a--) { /* the last axis varies fastest */
        pt->idx[a] = p % ax->len[a];
        p /= ax->len[a];
    }
    rcfg *rc = malloc(sizeof *rc);
    if (!rc) return exp_oom(c);
    *rc = *base;
    rcell r;
    int err = 0;
    for (int i = 0; i < ax->nkeys && !err; i++)
        err = exp_apply(c, rc, ax->k[i].key, &ax->k[i].t, ax->k[i].list->item[pt->idx[ax->k[i].axis]]);
    if (!err) err = resolve(c, rc, &r) || add_target(c, x, rc, &r, pt);
    if (err) add_point_context(c, pt);
    free(rc);
    return err ? -1 : 0;
}

/* Moves the cells into exp: auxiliary cells first (so a target's aux index stays valid). */
static int publish(exp_ctx *c, expansion *x, m2pt_experiment *exp) {
    int n = x->auxes.n + x->targets.n;
    exp->cells = malloc((size_t)(n ? n : 1) * sizeof *exp->cells);
    if (!exp->cells) return exp_oom(c);
    if (x->auxes.n) memcpy(exp->cells, x->auxes.cell, (size_t)x->auxes.n * sizeof *exp->cells);
    if (x->targets.n) memcpy(exp->cells + x->auxes.n, x->targets.cell, (size_t)x->targets.n * sizeof *exp->cells);
    exp->ncells = n, exp->naux = x->auxes.n, exp->ntargets = x->targets.n;
    exp->collapsed = x->collapsed;
    x->auxes.n = x->targets.n = 0; /* owned by exp now */
    return 0;
}

int exp_expand(exp_ctx *c, const rcfg *base, const exp_axes *ax, m2pt_experiment *exp) {
    expansion x;
    memset(&x, 0, sizeof x);
    point pt = {.ax = ax};
    int rc = 0;
    for (long p = 0; p < ax->points && rc == 0; p++) rc = expand_point(c, &x, base, &pt, p);
    if (rc == 0) rc = publish(c, &x, exp);
    exp->grid_points = ax->points;
    vec_free(&x.targets), vec_free(&x.auxes);
    return rc;
}
