#include "params.h"

#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

void m2pt_params_reset(m2pt_params *p) { memset(p, 0, sizeof *p); }

int m2pt_params_find(const m2pt_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0) return i;
    return -1;
}

int m2pt_params_add(m2pt_params *p, const char *name, int ndim, const int *shape,
                    m2pt_init_kind init, float init_std, int decay) {
    if (p->params || ndim < 1 || ndim > M2PT_MAX_DIMS) return -1;
    if (strlen(name) >= M2PT_NAME_MAX || m2pt_params_find(p, name) >= 0) return -1;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0) return -1;
        numel *= (size_t)shape[d];
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        m2pt_tensor_info *t = realloc(p->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        p->t = t;
        p->cap = cap;
    }
    m2pt_tensor_info *ti = &p->t[p->n];
    memset(ti, 0, sizeof *ti);
    strcpy(ti->name, name);
    ti->ndim = ndim;
    memcpy(ti->shape, shape, (size_t)ndim * sizeof(int));
    ti->numel = numel;
    ti->offset = p->total;
    ti->init = init;
    ti->init_std = init_std;
    ti->decay = decay;
    ti->lr_mult = 1.0f;
    p->total += m2pt_round_floats(numel);
    return p->n++;
}

int m2pt_params_alloc(m2pt_params *p) {
    p->params = m2pt_alloc_floats(p->total);
    p->grads = m2pt_alloc_floats(p->total);
    p->m = m2pt_alloc_floats(p->total);
    p->v = m2pt_alloc_floats(p->total);
    if (p->params && p->grads && p->m && p->v) return 0;
    free(p->params), free(p->grads), free(p->m), free(p->v);
    p->params = p->grads = p->m = p->v = NULL;
    return -1;
}

void m2pt_params_init(m2pt_params *p, uint64_t seed) {
    for (int i = 0; i < p->n; i++) {
        m2pt_tensor_info *ti = &p->t[i];
        float *x = m2pt_param(p, i);
        m2pt_rng r;
        m2pt_rng_seed(&r, seed, m2pt_hash_str(ti->name));
        for (size_t j = 0; j < ti->numel; j++) {
            switch (ti->init) {
            case M2PT_INIT_ZERO: x[j] = 0.0f; break;
            case M2PT_INIT_ONE: x[j] = 1.0f; break;
            case M2PT_INIT_TRUNC_NORMAL: x[j] = m2pt_rng_trunc_normal(&r, ti->init_std); break;
            case M2PT_INIT_CONST: x[j] = ti->init_std; break;
            }
        }
    }
    memset(p->m, 0, p->total * sizeof(float));
    memset(p->v, 0, p->total * sizeof(float));
}

size_t m2pt_params_count(const m2pt_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->n; i++) n += p->t[i].numel;
    return n;
}

size_t m2pt_params_count_trainable(const m2pt_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->n; i++) n += p->t[i].frozen ? 0 : p->t[i].numel;
    return n;
}

void m2pt_params_zero_grads(m2pt_params *p) { memset(p->grads, 0, p->total * sizeof(float)); }

void m2pt_params_free(m2pt_params *p) {
    free(p->t);
    free(p->params), free(p->grads), free(p->m), free(p->v);
    m2pt_params_reset(p);
}
