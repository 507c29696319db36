/* Checkpoints: named float32 tensors plus the model config, in one self-describing file.
 *
 *   "M2PTCKPT" | u32 version | u32 header length H | H bytes JSON | zero pad to 64 |
 *   tensor data (each tensor at a 64-byte aligned offset) | u32 CRC32 | "M2PE"
 *
 * Everything little-endian; docs/checkpoint-format.md is the full specification. The module is
 * model-agnostic: the caller passes its config as an already serialized JSON object and reads
 * it back with the m2pt_json_get_* getters (json.h).
 *
 * Writes are atomic: the file is written as "<path>.tmp.<pid>", flushed and fsync'ed, renamed
 * over <path>, and the directory is fsync'ed, so <path> is always either the old or the new
 * complete checkpoint (one saver per path at a time: the temporary name is per process).
 * Reads verify everything (magic, version, bounds, header, checksum) before handing out a
 * single float. Every error message starts with the file path; no function exits or prints. */
#ifndef M2PT_CHECKPOINT_H
#define M2PT_CHECKPOINT_H

#include <stddef.h>

#include "params.h"

#define M2PT_CKPT_VERSION 1
#define M2PT_CKPT_MAX_HEADER (16u << 20) /* larger header lengths are refused */
#define M2PT_CKPT_NAME_MAX 128          /* tensor names, including the terminating NUL */
#define M2PT_CKPT_ADAM_M "@adam_m"      /* suffixes of the optimizer-state tensors */
#define M2PT_CKPT_ADAM_V "@adam_v"

typedef struct {
    const char *name;
    int ndim;
    int shape[M2PT_MAX_DIMS];
    size_t numel;
    size_t offset;      /* bytes from the start of the data section */
    const float *data;  /* into the checkpoint's buffer, 64-byte aligned */
} m2pt_checkpoint_entry;

typedef struct m2pt_checkpoint {
    char *path;
    unsigned char *file;     /* the whole file */
    size_t file_bytes;
    char *config;            /* the "config" object, raw JSON text */
    long long optimizer_step; /* -1 when the file holds no optimizer state */
    int n;                   /* tensors, in file order */
    m2pt_checkpoint_entry *tensors;
    const m2pt_checkpoint_entry **sorted; /* by name, for lookups */
    char *names;             /* storage of the tensor names */
} m2pt_checkpoint;

/* Save every parameter tensor of the registry (not gradients or optimizer moments).
 * config_json: a JSON object (NULL means {}). 0 on success; -1 with a message in err, in which
 * case no temporary file is left behind and an existing <path> is untouched. (Should only the
 * final directory fsync fail, the new file is already in place but may not be durable.) */
int m2pt_checkpoint_save(const char *path, const char *config_json, const m2pt_params *p,
                         char *err, size_t errlen);
/* The same plus the AdamW state, for resuming: tensors "<name>@adam_m" and "<name>@adam_v"
 * from p->m and p->v, and "optimizer_step" (completed updates, >= 0) in the header. */
int m2pt_checkpoint_save_resume(const char *path, const char *config_json, const m2pt_params *p,
                                long optimizer_step, char *err, size_t errlen);

/* Read and verify a checkpoint. 0 on success; -1 with a message in err (c is then empty, and
 * closing it is harmless). */
int m2pt_checkpoint_open(m2pt_checkpoint *c, const char *path, char *err, size_t errlen);
/* The config object as JSON text, for m2pt_json_get_int(m2pt_checkpoint_config(c), "dim", &v). */
const char *m2pt_checkpoint_config(const m2pt_checkpoint *c);
const m2pt_checkpoint_entry *m2pt_checkpoint_find(const m2pt_checkpoint *c, const char *name);
/* Data of tensor `name` (NULL when absent); ndim and shape are filled when non-NULL. */
const float *m2pt_checkpoint_tensor(const m2pt_checkpoint *c, const char *name, int *ndim,
                                    int shape[M2PT_MAX_DIMS]);
/* Copy tensors into p->params by name. A name present in both with different shapes is an
 * error. strict: additionally every registry tensor must be in the file and every parameter
 * tensor of the file (optimizer-state tensors aside) in the registry. Nothing is copied
 * unless all checks pass. Returns the number of tensors copied, or -1 with a message. */
int m2pt_checkpoint_load_params(const m2pt_checkpoint *c, m2pt_params *p, int strict, char *err,
                                size_t errlen);
/* Copy the AdamW moments of every registry tensor into p->m and p->v and return the step
 * count in *step. -1 with a message when the file has no (or incomplete) optimizer state. */
int m2pt_checkpoint_load_optimizer(const m2pt_checkpoint *c, m2pt_params *p, long *step,
                                   char *err, size_t errlen);
void m2pt_checkpoint_close(m2pt_checkpoint *c);

#endif
