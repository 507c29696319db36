/* model.c's side of masked-autoencoder pretraining (model_mae.c): what m2pt_model_open,
 * _close, _save and _load call for a model opened with opt.mae. Internal to the engine. */
#ifndef M2PT_MODEL_MAE_H
#define M2PT_MODEL_MAE_H

#include "checkpoint.h"
#include "json.h"
#include "model.h"

/* After the modality's setup and m->tokens: recon_spec, freezing the head tensors, the
 * decoder's tensors. Before m2pt_params_alloc. 0, or -1 with err. */
int m2pt_model_mae_setup(m2pt_model *m, char *err, size_t errlen);
/* After m2pt_params_alloc: activation and target buffers for max_batch samples. 0 or -1. */
int m2pt_model_mae_alloc(m2pt_model *m);
void m2pt_model_mae_free(m2pt_model *m);
/* 1 when tensor `name` belongs only to the head (the modality's head_prefixes) of an MAE model. */
int m2pt_model_mae_is_head(const m2pt_model *m, const char *name);
/* Adds the pretraining options to a checkpoint's config JSON. */
void m2pt_model_mae_json(const m2pt_model *m, m2pt_strbuf *b);
/* The checkpoint tensor matching registry tensor t: NULL with err (missing, other shape). */
const float *m2pt_model_ckpt_tensor(const m2pt_checkpoint *c, const m2pt_tensor_info *t, const char *path, char *err,
                                    size_t errlen);

#endif
