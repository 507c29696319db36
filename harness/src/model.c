#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "json.h"
#include "model_mae.h"
#include "ops.h"
#include "trainer.h"
#include "util.h"

/* --- auxiliary weights from a checkpoint ----------------------------------------------------- */

typedef struct {
    m2pt_aux_weights pub;
    m2pt_checkpoint ckpt;
} aux_source;

static const float *aux_weight(const m2pt_aux_weights *a, int block, m2pt_linear which, int *out, int *in) {
    const aux_source *s = a->host_data;
    if (block < 0 || block >= a->shape.depth || (unsigned)which >= M2PT_LINEARS) return NULL;
    char name[64];
    snprintf(name, sizeof name, "blocks.%d.%s.weight", block, m2pt_linear_names[which]);
    int ndim, shape[M2PT_MAX_DIMS];
    const float *w = m2pt_checkpoint_tensor(&s->ckpt, name, &ndim, shape);
    if (!w || ndim != 2) return NULL;
    if (out) *out = shape[0];
    if (in) *in = shape[1];
    return w;
}

static int aux_open(aux_source *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    if (m2pt_checkpoint_open(&s->ckpt, path, err, errlen)) return -1;
    const char *cfg = m2pt_checkpoint_config(&s->ckpt);
    long v[4];
    const char *keys[4] = {"dim", "depth", "heads", "mlp_ratio"};
    for (int i = 0; i < 4; i++)
        if (m2pt_json_get_int(cfg, keys[i], &v[i]) || v[i] <= 0 || v[i] > 1 << 20) {
            snprintf(err, errlen, "%s: checkpoint config has no valid '%s': not an m2pt model checkpoint?", path,
                     keys[i]);
            m2pt_checkpoint_close(&s->ckpt);
            return -1;
        }
    s->pub.shape = (m2pt_shape){(int)v[0], (int)v[1], (int)v[2], (int)v[3]};
    s->pub.source = path;
    s->pub.weight = aux_weight;
    s->pub.host_data = s;
    return 0;
}

/* --- the weight hook: the blocks ask the pathway ------------------------------------------- */

static const float *hook_effective(void *p, int block, m2pt_linear_id id, const float *w, int out, int in) {
    m2pt_model *m = p;
    return m->path->effective(m->path_inst, block, (m2pt_linear)id, w, out, in);
}

static void hook_backward(void *p, int block, m2pt_linear_id id, float *dw, int out, int in) {
    m2pt_model *m = p;
    m->path->backward(m->path_inst, block, (m2pt_linear)id, dw, out, in);
}

/* --- open / close ----------------------------------------------------------------------------- */

static int fail(m2pt_model *m, char *err, size_t errlen, const char *fmt, const char *a) {
    snprintf(err, errlen, fmt, a);
    m2pt_model_close(m);
    return -1;
}

static int alloc_buffers(m2pt_model *m) {
    const size_t B = (size_t)m->opt.max_batch, C = (size_t)m->classes;
    const size_t sizes[] = {B * (size_t)m->sample_floats, B * C, B * C, B * C,
                            B * (size_t)m->tokens * (size_t)m->opt.shape.dim, B};
    size_t total = 0;
    for (size_t i = 0; i < 6; i++) total += m2pt_round_floats(sizes[i]);
    if (!(m->arena = m2pt_alloc_floats(total))) return -1;
    float **bufs[] = {&m->raw, &m->logits, &m->probs, &m->d_logits, &m->d_tokens};
    total = 0;
    for (size_t i = 0; i < 5; i++) {
        *bufs[i] = m->arena + total;
        total += m2pt_round_floats(sizes[i]);
    }
    m->labels = (int *)(m->arena + total); /* sizeof(int) == sizeof(float) on every target we build */
    return 0;
}

_Static_assert(sizeof(int) == sizeof(float), "labels share the float arena");

int m2pt_model_open(m2pt_model *m, const m2pt_plugin *modality, m2pt_kv *mod_cfg, const char *mod_prefix,
                    const m2pt_plugin *pathway, m2pt_kv *path_cfg, const char *path_prefix,
                    const m2pt_model_options *opt, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->opt = *opt;
    m->mod_plugin = modality, m->path_plugin = pathway;
    m->mod = modality->modality, m->path = pathway->pathway;
    const m2pt_host *host = m2pt_host_api();
    m2pt_ctx_init(&m->mod_ctx, modality->name, mod_cfg, mod_prefix, opt->seed, &m->params);
    m2pt_ctx_init(&m->path_ctx, pathway->name, path_cfg, path_prefix, opt->seed, &m->params);
    m->mod_ctx.quiet = m->path_ctx.quiet = opt->quiet != 0;
    const m2pt_shape *sh = &opt->shape;
    if (sh->dim <= 0 || sh->depth <= 0 || sh->heads <= 0 || sh->mlp_ratio <= 0 || sh->dim % sh->heads)
        return fail(m, err, errlen, "%s", "model: dim, depth, heads, mlp_ratio must be positive and dim divisible by heads");
    if (opt->max_batch <= 0) return fail(m, err, errlen, "%s", "model: batch must be positive");
    if (opt->mae && !m2pt_modality_can_mae(m->mod))
        return fail(m, err, errlen,
                    "modality '%s' cannot be pretrained with objective mae: its plugin has no reconstruction target "
                    "(built against plugin ABI 1.0, or recon_spec not implemented)",
                    modality->name);

    if (m2pt_ctx_status(&m->mod_ctx, m->mod->open(host, &m->mod_ctx, &m->mod_inst), 0, err, errlen) ||
        m2pt_ctx_status(&m->path_ctx, m->path->open(host, &m->path_ctx, &m->path_inst), 0, err, errlen)) {
        m2pt_model_close(m);
        return -1;
    }
    m->classes = m->mod->classes(m->mod_inst);
    m->sample_floats = m->mod->sample_floats(m->mod_inst);
    if (m->classes < 2 || m->sample_floats <= 0)
        return fail(m, err, errlen, "%s: reports fewer than 2 classes or an empty sample (plugin bug)", modality->name);

    aux_source aux;
    int needs_aux = m->path->needs_aux(m->path_inst);
    if (opt->mae && needs_aux)
        return fail(m, err, errlen,
                    "pathway '%s' needs an auxiliary model: MAE pretraining takes a pathway without one (baseline)",
                    pathway->name);
    if (needs_aux && !opt->aux_path)
        return fail(m, err, errlen, "pathway '%s' needs an auxiliary checkpoint (--aux FILE)", pathway->name);
    if (!needs_aux && opt->aux_path)
        return fail(m, err, errlen, "pathway '%s' takes no auxiliary checkpoint: drop --aux", pathway->name);
    if (needs_aux && aux_open(&aux, opt->aux_path, err, errlen)) {
        m2pt_model_close(m);
        return -1;
    }
    int rc = m2pt_ctx_status(&m->mod_ctx, m->mod->setup(m->mod_inst, sh, opt->max_batch), 1, err, errlen);
    if (!rc) {
        m2pt_block_config bc = {sh->dim, sh->depth, sh->heads, sh->mlp_ratio};
        if (m2pt_blocks_register(&m->blocks, &bc, &m->params)) {
            snprintf(err, errlen, "model: cannot register the block tensors (a plugin used a 'blocks.' name?)");
            rc = -1;
        }
    }
    if (!rc)
        rc = m2pt_ctx_status(&m->path_ctx, m->path->setup(m->path_inst, sh, needs_aux ? &aux.pub : NULL), 1, err,
                             errlen);
    if (!rc) {
        m->tokens = m->mod->tokens(m->mod_inst);
        if (m->tokens <= 0) {
            snprintf(err, errlen, "%s: reports %d tokens (plugin bug)", modality->name, m->tokens);
            rc = -1;
        }
    }
    if (!rc && opt->mae) rc = m2pt_model_mae_setup(m, err, errlen);
    /* An MAE model runs its blocks through the engine's own stacks (mae.c): the model's stack
     * only holds the registration, with activations for one sample. */
    if (!rc && (m2pt_params_alloc(&m->params) ||
                m2pt_blocks_alloc(&m->blocks, &m->params, opt->mae ? 1 : opt->max_batch, m->tokens) ||
                alloc_buffers(m) || (opt->mae && m2pt_model_mae_alloc(m)))) {
        snprintf(err, errlen, "model: out of memory");
        rc = -1;
    }
    if (!rc) {
        m2pt_params_init(&m->params, opt->seed);
        rc = m2pt_ctx_status(&m->path_ctx, m->path->init(m->path_inst), 0, err, errlen);
    }
    if (needs_aux) m2pt_checkpoint_close(&aux.ckpt); /* init has copied what it needs */
    if (rc) {
        m2pt_model_close(m);
        return -1;
    }
    m->hook = (m2pt_weight_hook){.ctx = m, .effective = hook_effective, .backward = m->path->backward ? hook_backward : NULL};
    m2pt_blocks_set_hook(&m->blocks, &m->hook);
    return 0;
}

void m2pt_model_close(m2pt_model *m) {
    if (m->mod_inst) m->mod->close(m->mod_inst);
    if (m->path_inst) m->path->close(m->path_inst);
    m2pt_ctx_release(&m->mod_ctx);
    m2pt_ctx_release(&m->path_ctx);
    m2pt_model_mae_free(m);
    m2pt_blocks_free(&m->blocks);
    m2pt_params_free(&m->params);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

/* --- steps ----------------------------------------------------------------------------------- */

int m2pt_model_fill(m2pt_model *m, m2pt_split_id split, const long *index, int n, int augment, uint64_t seed,
                    char *err, size_t errlen) {
    int rc = m->mod->fill(m->mod_inst, split, index, n, augment, seed, m->raw, m->labels);
    if (m2pt_ctx_status(&m->mod_ctx, rc, 0, err, errlen)) return -1;
    for (int i = 0; i < n; i++)
        if (m->labels[i] < 0 || m->labels[i] >= m->classes) {
            snprintf(err, errlen, "%s: fill returned label %d outside [0, %d) (plugin bug)", m->mod_plugin->name,
                     m->labels[i], m->classes);
            return -1;
        }
    return 0;
}

float m2pt_model_forward(m2pt_model *m, int n) {
    if (m->mae) { /* its block stack has room for one sample, and its head is not trained */
        snprintf(m->mod_ctx.err, sizeof m->mod_ctx.err, "model: opened for MAE pretraining; use m2pt_model_mae_forward");
        return NAN;
    }
    m->batch = n;
    m->mod->tokenize(m->mod_inst, m->raw, n, m2pt_blocks_input(&m->blocks));
    const float *out = m2pt_blocks_forward(&m->blocks, n);
    m->mod->head(m->mod_inst, out, n, m->logits);
    if (m2pt_model_error(m)) return NAN; /* a plugin reported an error: stop like on a NaN */
    return m2pt_crossentropy_forward(m->probs, m->logits, m->labels, n, m->classes, m->opt.label_smoothing);
}

const char *m2pt_model_error(const m2pt_model *m) {
    return m->mod_ctx.err[0] ? m->mod_ctx.err : m->path_ctx.err[0] ? m->path_ctx.err : NULL;
}

void m2pt_model_backward(m2pt_model *m) {
    if (m->mae) return;
    const int n = m->batch;
    m2pt_params_zero_grads(&m->params);
    m2pt_crossentropy_backward(m->d_logits, m->probs, m->labels, n, m->classes, m->opt.label_smoothing);
    m->mod->head_backward(m->mod_inst, m->d_logits, n, m->d_tokens);
    const float *d_in = m2pt_blocks_backward(&m->blocks, m->d_tokens);
    m->mod->tokenize_backward(m->mod_inst, d_in, n);
}

void m2pt_model_merge(m2pt_model *m) {
    if (m->merged) return;
    const int D = m->opt.shape.dim, F = D * m->opt.shape.mlp_ratio;
    const int out[M2PT_LINEARS] = {3 * D, D, F, D}, in[M2PT_LINEARS] = {D, D, D, F};
    for (int l = 0; l < m->opt.shape.depth; l++) {
        m2pt_block_tensors w = m2pt_blocks_tensors(&m->blocks, m->params.params, l);
        float *ws[M2PT_LINEARS] = {w.qkv_w, w.proj_w, w.fc1_w, w.fc2_w};
        for (int k = 0; k < M2PT_LINEARS; k++) m->path->merge(m->path_inst, l, (m2pt_linear)k, ws[k], out[k], in[k]);
    }
    m->merged = 1;
    m2pt_blocks_set_hook(&m->blocks, NULL);
}

int m2pt_model_evaluate(m2pt_model *m, m2pt_split_id split, m2pt_eval *ev, char *err, size_t errlen) {
    const long total = m->mod->split_size(m->mod_inst, split);
    const int B = m->opt.max_batch;
    long *index = malloc((size_t)B * sizeof *index);
    if (!index) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ev->n = ev->correct = 0;
    ev->loss = 0.0;
    if (ev->class_correct) memset(ev->class_correct, 0, (size_t)m->classes * sizeof(long));
    if (ev->class_total) memset(ev->class_total, 0, (size_t)m->classes * sizeof(long));
    int rc = 0;
    for (long s = 0; s < total && !rc; s += B) {
        int n = total - s < B ? (int)(total - s) : B;
        for (int i = 0; i < n; i++) index[i] = s + i;
        if ((rc = m2pt_model_fill(m, split, index, n, 0, 0, err, errlen))) break;
        ev->loss += (double)m2pt_model_forward(m, n) * n;
        for (int i = 0; i < n; i++) {
            int y = m->labels[i], hit = m2pt_argmax(m->logits + (size_t)i * m->classes, m->classes) == y;
            ev->correct += hit;
            if (ev->class_correct) ev->class_correct[y] += hit;
            if (ev->class_total) ev->class_total[y]++;
        }
        ev->n += n;
    }
    if (ev->n) ev->loss /= (double)ev->n;
    free(index);
    return rc;
}

const float *m2pt_model_ckpt_tensor(const m2pt_checkpoint *c, const m2pt_tensor_info *t, const char *path, char *err,
                                    size_t errlen) {
    int ndim, shape[M2PT_MAX_DIMS];
    const float *src = m2pt_checkpoint_tensor(c, t->name, &ndim, shape);
    int same = src && ndim == t->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
    if (same) return src;
    if (!src) {
        snprintf(err, errlen, "%s: tensor '%s' is missing (a checkpoint of another model?)", path, t->name);
    } else { /* both shapes, as the checkpoint reader words it */
        char a[96] = "", b[96] = "";
        for (int d = 0, la = 0, lb = 0; d < M2PT_MAX_DIMS; d++) {
            if (d < ndim && la < (int)sizeof a) la += snprintf(a + la, sizeof a - (size_t)la, "%s%d", d ? "," : "", shape[d]);
            if (d < t->ndim && lb < (int)sizeof b) lb += snprintf(b + lb, sizeof b - (size_t)lb, "%s%d", d ? "," : "", t->shape[d]);
        }
        snprintf(err, errlen, "%s: tensor '%s' has shape [%s] in the checkpoint but [%s] in the model", path, t->name,
                 a, b);
    }
    return NULL;
}

/* Tensors that m2pt_model_load copies: not the pathway's, nor (MAE models) the head's. */
static int loadable(const m2pt_model *m, int i) {
    return !m->params.t[i].pathway && !m2pt_model_mae_is_head(m, m->params.t[i].name);
}

int m2pt_model_load(m2pt_model *m, const char *path, char *err, size_t errlen) {
    m2pt_checkpoint c;
    if (m2pt_checkpoint_open(&c, path, err, errlen)) return -1;
    int rc = 0;
    for (int i = 0; i < m->params.n && !rc; i++)
        if (loadable(m, i) && !m2pt_model_ckpt_tensor(&c, &m->params.t[i], path, err, errlen)) rc = -1;
    for (int i = 0; i < m->params.n && !rc; i++)
        if (loadable(m, i))
            memcpy(m2pt_param(&m->params, i), m2pt_checkpoint_tensor(&c, m->params.t[i].name, NULL, NULL),
                   m->params.t[i].numel * sizeof(float));
    m2pt_checkpoint_close(&c);
    return rc;
}

/* --- description and saving ---------------------------------------------------------------- */

int m2pt_model_config_json(const m2pt_model *m, char *buf, size_t len) {
    m2pt_strbuf b;
    m2pt_sb_init(&b);
    m2pt_json_begin_object(&b);
    m2pt_json_add_string(&b, "model", "m2pt");
    m2pt_json_add_string(&b, "modality", m->mod_plugin->name);
    m2pt_json_add_string(&b, "modality_version", m->mod_plugin->version);
    m2pt_json_add_string(&b, "pathway", m->merged ? "baseline" : m->path_plugin->name);
    m2pt_json_add_string(&b, "trained_with_pathway", m->path_plugin->name);
    m2pt_json_add_int(&b, "dim", m->opt.shape.dim);
    m2pt_json_add_int(&b, "depth", m->opt.shape.depth);
    m2pt_json_add_int(&b, "heads", m->opt.shape.heads);
    m2pt_json_add_int(&b, "mlp_ratio", m->opt.shape.mlp_ratio);
    m2pt_json_add_int(&b, "tokens", m->tokens);
    m2pt_json_add_int(&b, "classes", m->classes);
    m2pt_json_add_int(&b, "seed", (long long)m->opt.seed);
    m2pt_json_add_double(&b, "label_smoothing", m->opt.label_smoothing);
    for (int i = 0; m->mod_ctx.cfg && i < m->mod_ctx.cfg->n; i++) {
        char key[160];
        snprintf(key, sizeof key, "modality.%s", m->mod_ctx.cfg->e[i].key);
        m2pt_json_add_string(&b, key, m->mod_ctx.cfg->e[i].value);
    }
    m2pt_model_mae_json(m, &b);
    if (m->summary_json[0]) m2pt_json_add_raw(&b, "summary", m->summary_json);
    m2pt_json_end_object(&b);
    int rc = -1;
    if (!b.failed && b.len < len) {
        memcpy(buf, b.buf, b.len + 1);
        rc = (int)b.len;
    }
    m2pt_sb_free(&b);
    return rc;
}

size_t m2pt_model_plain_params(const m2pt_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->params.n; i++)
        if (!m->params.t[i].pathway) n += m->params.t[i].numel;
    return n;
}

int m2pt_model_save(const m2pt_model *m, const char *path, int plain_only, char *err, size_t errlen) {
    char cfg[8192];
    if (m2pt_model_config_json(m, cfg, sizeof cfg) < 0) {
        snprintf(err, errlen, "%s: model config too large for the checkpoint header", path);
        return -1;
    }
    if (!plain_only && !m->mae) return m2pt_checkpoint_save(path, cfg, &m->params, err, errlen);
    /* A registry view of the plain tensors only (the pathway's are left out; an MAE model's head
     * tensors, which pretraining neither trains nor saves, too). */
    m2pt_params plain;
    m2pt_params_reset(&plain);
    for (int i = 0; i < m->params.n; i++) {
        const m2pt_tensor_info *t = &m->params.t[i];
        if ((plain_only && t->pathway) || m2pt_model_mae_is_head(m, t->name)) continue;
        if (m2pt_params_add(&plain, t->name, t->ndim, t->shape, t->init, t->init_std, t->decay) < 0) {
            m2pt_params_free(&plain);
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    if (m2pt_params_alloc(&plain)) {
        m2pt_params_free(&plain);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < plain.n; i++) {
        int src = m2pt_params_find(&m->params, plain.t[i].name);
        memcpy(m2pt_param(&plain, i), m2pt_param(&m->params, src), plain.t[i].numel * sizeof(float));
    }
    int rc = m2pt_checkpoint_save(path, cfg, &plain, err, errlen);
    m2pt_params_free(&plain);
    return rc;
}
