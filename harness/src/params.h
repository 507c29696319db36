/* Parameter registry and the four training arenas.
 *
 * Every trainable tensor of a run (block linears, norms, and later tokenizer, head and pathway
 * tensors from plugins) is registered here by name before anything is allocated. Then one call
 * allocates four arenas with the identical layout: parameters, gradients, AdamW first and second
 * moments. A tensor is the same offset in all four, so the optimizer is one flat loop and a
 * checkpoint is a table of (name, shape, offset). Offsets are cache-line aligned. */
#ifndef M2PT_PARAMS_H
#define M2PT_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define M2PT_NAME_MAX 64
#define M2PT_MAX_DIMS 4

typedef enum {
    M2PT_INIT_ZERO,
    M2PT_INIT_ONE,
    M2PT_INIT_TRUNC_NORMAL, /* N(0, std) truncated to +-2 std */
    M2PT_INIT_CONST,        /* every element = init_std (used as the value) */
} m2pt_init_kind;

typedef struct {
    char name[M2PT_NAME_MAX]; /* e.g. "blocks.0.qkv.weight" */
    int ndim;
    int shape[M2PT_MAX_DIMS];
    size_t numel;
    size_t offset;  /* in floats, into every arena */
    m2pt_init_kind init;
    float init_std;
    int decay;      /* 1: AdamW weight decay applies; 0: biases, norms, scales */
    float lr_mult;  /* multiplies the scheduled learning rate (1 by default) */
    int frozen;     /* 1: the optimizer leaves it alone (and clipping ignores its gradient) */
    int pathway;    /* 1: belongs to a pathway plugin; not part of a merged (plain) model */
} m2pt_tensor_info;

typedef struct {
    m2pt_tensor_info *t;
    int n, cap;
    size_t total;   /* floats per arena, including alignment padding */
    float *params, *grads, *m, *v; /* NULL until m2pt_params_alloc */
} m2pt_params;

void m2pt_params_reset(m2pt_params *p);
/* Register a tensor; returns its index, or -1 (duplicate name, bad shape, out of memory,
 * or the arenas are already allocated). */
int m2pt_params_add(m2pt_params *p, const char *name, int ndim, const int *shape,
                    m2pt_init_kind init, float init_std, int decay);
/* Allocate the four arenas (zeroed). 0 on success, -1 when out of memory. */
int m2pt_params_alloc(m2pt_params *p);
/* Deterministic init: each tensor draws from its own stream keyed by (seed, hash(name)). */
void m2pt_params_init(m2pt_params *p, uint64_t seed);
int m2pt_params_find(const m2pt_params *p, const char *name);
size_t m2pt_params_count(const m2pt_params *p);           /* every registered scalar, without padding */
size_t m2pt_params_count_trainable(const m2pt_params *p); /* those the optimizer updates (not frozen) */
static inline float *m2pt_param(const m2pt_params *p, int i) { return p->params + p->t[i].offset; }
static inline float *m2pt_grad(const m2pt_params *p, int i) { return p->grads + p->t[i].offset; }
void m2pt_params_zero_grads(m2pt_params *p);
void m2pt_params_free(m2pt_params *p);

#endif
