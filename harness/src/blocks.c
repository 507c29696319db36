#include "blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util.h"

const char *const m2pt_linear_names[M2PT_LIN_COUNT] = {"qkv", "proj", "fc1", "fc2"};

#define LINEAR_STD 0.02f

static int add(m2pt_params *p, int block, const char *what, int rows, int cols, m2pt_init_kind init) {
    char name[M2PT_NAME_MAX];
    snprintf(name, sizeof name, "blocks.%d.%s", block, what);
    int shape[2] = {rows, cols};
    int is_matrix = cols > 0;
    return m2pt_params_add(p, name, is_matrix ? 2 : 1, shape, init, LINEAR_STD, is_matrix);
}

int m2pt_blocks_register(m2pt_blocks *b, const m2pt_block_config *cfg, m2pt_params *p) {
    memset(b, 0, sizeof *b);
    if (cfg->dim <= 0 || cfg->depth <= 0 || cfg->heads <= 0 || cfg->mlp_ratio <= 0 ||
        cfg->dim % cfg->heads != 0)
        return -1;
    b->cfg = *cfg;
    b->idx = calloc((size_t)cfg->depth, sizeof *b->idx);
    if (!b->idx) return -1;
    const int D = cfg->dim, F = cfg->dim * cfg->mlp_ratio;
    for (int l = 0; l < cfg->depth; l++) {
        m2pt_block_index *ix = &b->idx[l];
        ix->ln1_w = add(p, l, "ln1.weight", D, 0, M2PT_INIT_ONE);
        ix->ln1_b = add(p, l, "ln1.bias", D, 0, M2PT_INIT_ZERO);
        ix->qkv_w = add(p, l, "qkv.weight", 3 * D, D, M2PT_INIT_TRUNC_NORMAL);
        ix->qkv_b = add(p, l, "qkv.bias", 3 * D, 0, M2PT_INIT_ZERO);
        ix->proj_w = add(p, l, "proj.weight", D, D, M2PT_INIT_TRUNC_NORMAL);
        ix->proj_b = add(p, l, "proj.bias", D, 0, M2PT_INIT_ZERO);
        ix->ln2_w = add(p, l, "ln2.weight", D, 0, M2PT_INIT_ONE);
        ix->ln2_b = add(p, l, "ln2.bias", D, 0, M2PT_INIT_ZERO);
        ix->fc1_w = add(p, l, "fc1.weight", F, D, M2PT_INIT_TRUNC_NORMAL);
        ix->fc1_b = add(p, l, "fc1.bias", F, 0, M2PT_INIT_ZERO);
        ix->fc2_w = add(p, l, "fc2.weight", D, F, M2PT_INIT_TRUNC_NORMAL);
        ix->fc2_b = add(p, l, "fc2.bias", D, 0, M2PT_INIT_ZERO);
        const int *all = &ix->ln1_w;
        for (int k = 0; k < 12; k++)
            if (all[k] < 0) return -1;
    }
    return 0;
}

m2pt_block_tensors m2pt_blocks_tensors(const m2pt_blocks *b, const float *arena, int l) {
    const m2pt_block_index *ix = &b->idx[l];
    const m2pt_tensor_info *t = b->params->t;
    float *base = (float *)arena;
    m2pt_block_tensors r = {
        base + t[ix->ln1_w].offset, base + t[ix->ln1_b].offset, base + t[ix->qkv_w].offset,
        base + t[ix->qkv_b].offset, base + t[ix->proj_w].offset, base + t[ix->proj_b].offset,
        base + t[ix->ln2_w].offset, base + t[ix->ln2_b].offset, base + t[ix->fc1_w].offset,
        base + t[ix->fc1_b].offset, base + t[ix->fc2_w].offset, base + t[ix->fc2_b].offset,
    };
    return r;
}

/* Carves the activation arena: called once to measure (base NULL), once to assign. */
typedef struct {
    float *base;
    size_t used;
} carver;

static float *carve(carver *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += m2pt_round_floats(n);
    return p;
}

static void layout(m2pt_blocks *b, carver *c) {
    const size_t N = (size_t)b->max_rows, D = (size_t)b->cfg.dim, F = D * (size_t)b->cfg.mlp_ratio;
    const size_t B = N / (size_t)b->tokens, T = (size_t)b->tokens, H = (size_t)b->cfg.heads;
    const int L = b->cfg.depth;
    for (int l = 0; l <= L; l++) b->res[l] = carve(c, N * D);
    for (int l = 0; l < L; l++) {
        b->res_mid[l] = carve(c, N * D);
        b->ln1[l] = carve(c, N * D);
        b->ln1_mean[l] = carve(c, N);
        b->ln1_rstd[l] = carve(c, N);
        b->qkv[l] = carve(c, N * 3 * D);
        b->att_p[l] = carve(c, B * H * T * T);
        b->att[l] = carve(c, N * D);
        b->ln2[l] = carve(c, N * D);
        b->ln2_mean[l] = carve(c, N);
        b->ln2_rstd[l] = carve(c, N);
        b->fc1[l] = carve(c, N * F);
        b->gelu[l] = carve(c, N * F);
    }
    b->d_res = carve(c, N * D);
    b->d_x = carve(c, N * D);
    b->d_qkv = carve(c, N * 3 * D);
    b->d_att = carve(c, N * D);
    b->d_hidden = carve(c, N * F);
}

int m2pt_blocks_alloc(m2pt_blocks *b, const m2pt_params *p, int max_batch, int tokens) {
    const int L = b->cfg.depth;
    if (max_batch <= 0 || tokens <= 0) return -1;
    if (!m2pt_attention_supported(tokens, b->cfg.dim / b->cfg.heads)) return -1;
    b->params = p;
    b->tokens = tokens;
    b->max_rows = max_batch * tokens;
    float ***lists[] = {&b->res_mid, &b->ln1, &b->ln1_mean, &b->ln1_rstd, &b->qkv, &b->att_p,
                        &b->att, &b->ln2, &b->ln2_mean, &b->ln2_rstd, &b->fc1, &b->gelu};
    b->res = calloc((size_t)L + 1, sizeof(float *));
    if (!b->res) return -1;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (!(*lists[i] = calloc((size_t)L, sizeof(float *)))) return -1;
    b->w_eff = calloc((size_t)L * M2PT_LIN_COUNT, sizeof(float *));
    if (!b->w_eff) return -1;
    carver c = {NULL, 0};
    layout(b, &c);
    b->arena_floats = c.used;
    b->arena = m2pt_alloc_floats(c.used);
    if (!b->arena) return -1;
    c = (carver){b->arena, 0};
    layout(b, &c);
    return 0;
}

void m2pt_blocks_set_hook(m2pt_blocks *b, const m2pt_weight_hook *hook) { b->hook = hook; }

static const float *effective(m2pt_blocks *b, int l, m2pt_linear_id id, const float *W, int out, int in) {
    const float *w = b->hook && b->hook->effective ? b->hook->effective(b->hook->ctx, l, id, W, out, in) : W;
    b->w_eff[l * M2PT_LIN_COUNT + id] = w;
    return w;
}

float *m2pt_blocks_forward(m2pt_blocks *b, int batch) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio, H = b->cfg.heads, T = b->tokens;
    const int N = batch * T;
    b->batch = batch;
    for (int l = 0; l < b->cfg.depth; l++) {
        m2pt_block_tensors w = m2pt_blocks_tensors(b, b->params->params, l);
        m2pt_layernorm_forward(b->ln1[l], b->ln1_mean[l], b->ln1_rstd[l], b->res[l], w.ln1_w, w.ln1_b, N, D);
        m2pt_linear_forward(b->qkv[l], b->ln1[l], effective(b, l, M2PT_LIN_QKV, w.qkv_w, 3 * D, D),
                            w.qkv_b, N, D, 3 * D);
        m2pt_attention_forward(b->att[l], b->att_p[l], b->qkv[l], batch, T, D, H);
        m2pt_linear_forward(b->res_mid[l], b->att[l], effective(b, l, M2PT_LIN_PROJ, w.proj_w, D, D),
                            w.proj_b, N, D, D);
        m2pt_residual_forward(b->res_mid[l], b->res[l], (size_t)N * D);
        m2pt_layernorm_forward(b->ln2[l], b->ln2_mean[l], b->ln2_rstd[l], b->res_mid[l], w.ln2_w, w.ln2_b, N, D);
        m2pt_linear_forward(b->fc1[l], b->ln2[l], effective(b, l, M2PT_LIN_FC1, w.fc1_w, F, D),
                            w.fc1_b, N, D, F);
        m2pt_gelu_forward(b->gelu[l], b->fc1[l], b->fc1[l], (size_t)N * F); /* fc1[l] becomes gelu' */
        m2pt_linear_forward(b->res[l + 1], b->gelu[l], effective(b, l, M2PT_LIN_FC2, w.fc2_w, D, F),
                            w.fc2_b, N, F, D);
        m2pt_residual_forward(b->res[l + 1], b->res_mid[l], (size_t)N * D);
    }
    return b->res[b->cfg.depth];
}

static void weight_backward(m2pt_blocks *b, int l, m2pt_linear_id id, float *dW, int out, int in) {
    if (b->hook && b->hook->backward) b->hook->backward(b->hook->ctx, l, id, dW, out, in);
}

float *m2pt_blocks_backward(m2pt_blocks *b, const float *d_out) {
    const int D = b->cfg.dim, F = D * b->cfg.mlp_ratio, H = b->cfg.heads, T = b->tokens;
    const int N = b->batch * T;
    const float *const *we = b->w_eff;
    memcpy(b->d_res, d_out, (size_t)N * D * sizeof(float));
    for (int l = b->cfg.depth - 1; l >= 0; l--) {
        m2pt_block_tensors w = m2pt_blocks_tensors(b, b->params->params, l);
        m2pt_block_tensors g = m2pt_blocks_tensors(b, b->params->grads, l);
        const float *const *lw = we + l * M2PT_LIN_COUNT;
        /* MLP branch; the residual passes d_res through unchanged */
        m2pt_linear_backward(b->d_hidden, g.fc2_w, g.fc2_b, b->d_res, b->gelu[l], lw[M2PT_LIN_FC2], N, F, D);
        weight_backward(b, l, M2PT_LIN_FC2, g.fc2_w, D, F);
        m2pt_gelu_backward(b->d_hidden, b->d_hidden, b->fc1[l], (size_t)N * F);
        m2pt_linear_backward(b->d_x, g.fc1_w, g.fc1_b, b->d_hidden, b->ln2[l], lw[M2PT_LIN_FC1], N, D, F);
        weight_backward(b, l, M2PT_LIN_FC1, g.fc1_w, F, D);
        m2pt_layernorm_backward(b->d_res, g.ln2_w, g.ln2_b, b->d_x, b->res_mid[l], b->ln2_mean[l],
                                b->ln2_rstd[l], w.ln2_w, N, D);
        /* attention branch */
        m2pt_linear_backward(b->d_att, g.proj_w, g.proj_b, b->d_res, b->att[l], lw[M2PT_LIN_PROJ], N, D, D);
        weight_backward(b, l, M2PT_LIN_PROJ, g.proj_w, D, D);
        m2pt_attention_backward(b->d_qkv, b->d_att, b->qkv[l], b->att_p[l], b->att[l], b->batch, T, D, H);
        m2pt_linear_backward(b->d_x, g.qkv_w, g.qkv_b, b->d_qkv, b->ln1[l], lw[M2PT_LIN_QKV], N, D, 3 * D);
        weight_backward(b, l, M2PT_LIN_QKV, g.qkv_w, 3 * D, D);
        m2pt_layernorm_backward(b->d_res, g.ln1_w, g.ln1_b, b->d_x, b->res[l], b->ln1_mean[l],
                                b->ln1_rstd[l], w.ln1_w, N, D);
    }
    return b->d_res;
}

void m2pt_blocks_free(m2pt_blocks *b) {
    float **lists[] = {b->res, b->res_mid, b->ln1, b->ln1_mean, b->ln1_rstd, b->qkv, b->att_p,
                       b->att, b->ln2, b->ln2_mean, b->ln2_rstd, b->fc1, b->gelu};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) free(lists[i]);
    free((void *)b->w_eff);
    free(b->idx);
    free(b->arena);
    memset(b, 0, sizeof *b);
}
