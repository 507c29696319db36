/* model.h's masked-autoencoder entry points: a model opened with opt.mae runs the modality's
 * tokenizer, the MAE engine (mae.h) on the model's own block tensors, and no head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mae_loss.h"
#include "model_mae.h"
#include "rng.h"
#include "util.h"

#define MAE_EVAL_STREAM 0x6d61652d6576616cull /* "mae-eval" */
#define HEAD_PREFIXES_MAX 512

struct m2pt_model_mae {
    m2pt_mae_config cfg;
    m2pt_recon_spec spec;
    char head_prefixes[HEAD_PREFIXES_MAX];
    m2pt_mae *engine;
    int L;
    float *arena, *tokens, *target, *weight, *pos; /* [B, T, D], [B, L, tf], [B, L], [B, L, pf] */
};

/* 1 when name starts with one of the comma-separated prefixes. */
static int has_prefix(const char *list, const char *name) {
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && strncmp(name, p, n) == 0) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int m2pt_model_mae_is_head(const m2pt_model *m, const char *name) {
    return m->mae && has_prefix(m->mae->head_prefixes, name);
}

/* The modality's spec (after setup). 0, or -1 with err. */
static int get_spec(m2pt_model *m, m2pt_recon_spec *spec, char *err, size_t errlen) {
    memset(spec, 0, sizeof *spec);
    if (m2pt_ctx_status(&m->mod_ctx, m->mod->recon_spec(m->mod_inst, spec), 0, err, errlen)) return -1;
    if (spec->head_prefixes && strlen(spec->head_prefixes) >= HEAD_PREFIXES_MAX) {
        snprintf(err, errlen, "%s: recon_spec's head_prefixes is longer than %d characters (plugin bug)",
                 m->mod_plugin->name, HEAD_PREFIXES_MAX - 1);
        return -1;
    }
    return 0;
}

int m2pt_model_mae_setup(m2pt_model *m, char *err, size_t errlen) {
    struct m2pt_model_mae *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "model: out of memory");
        return -1;
    }
    m->mae = s;
    s->cfg = *m->opt.mae;
    if (get_spec(m, &s->spec, err, errlen)) return -1;
    if (s->spec.head_prefixes) strcpy(s->head_prefixes, s->spec.head_prefixes);
    s->spec.head_prefixes = s->head_prefixes;
    /* The head is not pretrained: frozen (neither updated nor decayed) and not saved. */
    for (int i = 0; i < m->params.n; i++) {
        m2pt_tensor_info *t = &m->params.t[i];
        if (!has_prefix(s->head_prefixes, t->name)) continue;
        if (strncmp(t->name, "blocks.", 7) == 0) {
            snprintf(err, errlen, "%s: recon_spec's head_prefixes '%s' covers the block tensor '%s' (plugin bug)",
                     m->mod_plugin->name, s->head_prefixes, t->name);
            return -1;
        }
        t->frozen = 1, t->decay = 0;
    }
    char why[512];
    s->engine = m2pt_mae_create(&s->cfg, &s->spec, &m->blocks, m->tokens, &m->params, why, sizeof why);
    if (!s->engine) {
        snprintf(err, errlen, "%s (modality '%s', %d tokens)", why, m->mod_plugin->name, m->tokens);
        return -1;
    }
    s->L = m->tokens - s->spec.prefix_tokens;
    return 0;
}

int m2pt_model_mae_alloc(m2pt_model *m) {
    struct m2pt_model_mae *s = m->mae;
    if (m2pt_mae_alloc(s->engine, m->opt.max_batch)) return -1;
    const size_t B = (size_t)m->opt.max_batch, L = (size_t)s->L;
    const size_t sizes[4] = {B * (size_t)m->tokens * (size_t)m->opt.shape.dim, B * L * (size_t)s->spec.target_floats,
                             B * L, B * L * (size_t)(s->spec.pos_floats > 0 ? s->spec.pos_floats : 1)};
    float **bufs[4] = {&s->tokens, &s->target, &s->weight, &s->pos};
    size_t total = 0;
    for (int i = 0; i < 4; i++) total += m2pt_round_floats(sizes[i]);
    if (!(s->arena = m2pt_alloc_floats(total))) return -1;
    total = 0;
    for (int i = 0; i < 4; i++) {
        *bufs[i] = s->arena + total;
        total += m2pt_round_floats(sizes[i]);
    }
    return 0;
}

void m2pt_model_mae_free(m2pt_model *m) {
    if (!m->mae) return;
    m2pt_mae_free(m->mae->engine);
    free(m->mae->arena);
    free(m->mae);
    m->mae = NULL;
}

void m2pt_model_mae_json(const m2pt_model *m, m2pt_strbuf *b) {
    if (!m->mae) return;
    const struct m2pt_model_mae *s = m->mae;
    m2pt_json_add_string(b, "objective", "mae");
    m2pt_json_add_double(b, "mae.mask_ratio", s->cfg.mask_ratio);
    m2pt_json_add_int(b, "mae.decoder_dim", s->cfg.decoder_dim);
    m2pt_json_add_int(b, "mae.decoder_depth", s->cfg.decoder_depth);
    m2pt_json_add_int(b, "mae.decoder_heads", s->cfg.decoder_heads);
    m2pt_json_add_int(b, "mae.loss", s->spec.loss);
}

/* --- steps ------------------------------------------------------------------------------------ */

/* A CLASS target that is not a class index is the plugin's bug: recorded like host->fail. */
static int check_targets(m2pt_model *m, int n) {
    const struct m2pt_model_mae *s = m->mae;
    if (s->spec.loss != M2PT_RECON_CLASS) return 0;
    for (long i = 0; i < (long)n * s->L; i++)
        if (s->weight[i] > 0.0f && m2pt_recon_class(s->target[i], s->spec.classes) < 0) {
            snprintf(m->mod_ctx.err, sizeof m->mod_ctx.err,
                     "%s: recon_target gave class %g for token %ld of sample %ld, not an integer in [0, %d) "
                     "(plugin bug)",
                     m->mod_plugin->name, (double)s->target[i], i % s->L, i / s->L, s->spec.classes);
            return -1;
        }
    return 0;
}

float m2pt_model_mae_forward(m2pt_model *m, int n, uint64_t mask_seed) {
    struct m2pt_model_mae *s = m->mae;
    if (!s) {
        snprintf(m->mod_ctx.err, sizeof m->mod_ctx.err, "model: m2pt_model_mae_forward on a model opened without mae");
        return NAN;
    }
    m->batch = n;
    m->mod->tokenize(m->mod_inst, m->raw, n, s->tokens);
    m->mod->recon_target(m->mod_inst, n, s->target, s->weight, s->spec.pos_floats > 0 ? s->pos : NULL);
    if (m2pt_model_error(m) || check_targets(m, n)) return NAN;
    return m2pt_mae_forward(s->engine, s->tokens, s->target, s->weight, s->pos, n, mask_seed);
}

void m2pt_model_mae_backward(m2pt_model *m) {
    if (!m->mae) return;
    m2pt_params_zero_grads(&m->params);
    const float *d = m2pt_mae_backward(m->mae->engine);
    m->mod->tokenize_backward(m->mod_inst, d, m->batch);
}

int m2pt_model_mae_evaluate(m2pt_model *m, m2pt_split_id split, double *loss, char *err, size_t errlen) {
    *loss = 0.0;
    if (!m->mae) {
        snprintf(err, errlen, "model: not opened for MAE pretraining");
        return -1;
    }
    const long total = m->mod->split_size(m->mod_inst, split);
    const int B = m->opt.max_batch;
    long *index = malloc((size_t)B * sizeof *index);
    if (!index) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double sum = 0.0;
    long done = 0;
    int rc = 0;
    for (long s = 0, batch = 0; s < total && !rc; s += B, batch++) {
        const int n = total - s < B ? (int)(total - s) : B;
        for (int i = 0; i < n; i++) index[i] = s + i;
        if ((rc = m2pt_model_fill(m, split, index, n, 0, 0, err, errlen))) break;
        m2pt_rng r; /* the batch's masks: fixed by the model seed and the batch index */
        m2pt_rng_seed(&r, m->opt.seed ^ MAE_EVAL_STREAM, (uint64_t)batch);
        const float l = m2pt_model_mae_forward(m, n, m2pt_rng_u64(&r));
        if (m2pt_model_error(m)) {
            snprintf(err, errlen, "%s", m2pt_model_error(m));
            rc = -1;
            break;
        }
        sum += (double)l * n;
        done += n;
    }
    if (!rc && done) *loss = sum / (double)done;
    free(index);
    return rc;
}

/* --- starting a classifier from a pretrained checkpoint ------------------------------------- */

int m2pt_model_load_pretrained(m2pt_model *m, const char *path, char *err, size_t errlen) {
    m2pt_recon_spec spec;
    const char *heads;
    if (m->mae) {
        heads = m->mae->head_prefixes;
    } else if (!m2pt_modality_can_mae(m->mod)) {
        snprintf(err, errlen,
                 "%s: modality '%s' cannot start from an MAE-pretrained checkpoint: its plugin has no reconstruction "
                 "target (built against plugin ABI 1.0, or recon_spec not implemented)",
                 path, m->mod_plugin->name);
        return -1;
    } else {
        if (get_spec(m, &spec, err, errlen)) return -1;
        heads = spec.head_prefixes;
    }
    m2pt_checkpoint c;
    if (m2pt_checkpoint_open(&c, path, err, errlen)) return -1;
    char name[128] = "";
    int rc = 0;
    if (!m2pt_json_get_string(m2pt_checkpoint_config(&c), "modality", name, sizeof name) &&
        strcmp(name, m->mod_plugin->name) != 0) {
        snprintf(err, errlen, "%s: pretrained with modality '%s', but this model's modality is '%s'", path, name,
                 m->mod_plugin->name);
        rc = -1;
    }
    /* the tokenizer's and the blocks' tensors: everything but the head, the pathway and mae.* */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int i = 0; i < m->params.n && !rc; i++) {
            const m2pt_tensor_info *t = &m->params.t[i];
            if (t->pathway || has_prefix(heads, t->name) || strncmp(t->name, "mae.", 4) == 0) continue;
            const float *src = m2pt_model_ckpt_tensor(&c, t, path, err, errlen);
            if (!src)
                rc = -1;
            else if (pass == 1) /* copy only once every tensor has been checked */
                memcpy(m2pt_param(&m->params, i), src, t->numel * sizeof(float));
        }
    m2pt_checkpoint_close(&c);
    return rc;
}
