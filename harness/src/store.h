/* The result store: one SQLite database (default results/m2pt.db) holding every run, its
 * provenance, per-step and per-epoch metrics, a summary and its checkpoint, for all
 * experiments. WAL mode and a busy timeout so that several processes (workers of `-j N`,
 * other `m2pt run`s, readers) share it; schema version in PRAGMA user_version with forward
 * migrations. docs/store.md documents the schema and the `results` view.
 *
 * A run is identified by its cell hash: the same resolved configuration is one run, whichever
 * experiments ask for it (experiment_runs records membership). Life of a run:
 *   claim -> running (pid, host) -> metrics ... -> finish (summary + artifact + done, one
 *   transaction, only after the checkpoint file is in place)  |  fail (failed/interrupted)
 * A `running` row whose process is gone (same host, pid not alive) is stale: the next claim
 * restarts it from scratch, deleting what it had logged. A run is never read as done unless
 * its finishing transaction committed. */
#ifndef M2PT_STORE_H
#define M2PT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "experiment.h"

#define M2PT_STORE_SCHEMA 1

typedef struct m2pt_store m2pt_store;

/* Opens (creating the file and directory, and migrating the schema, unless readonly). In
 * readonly mode any statement that writes is refused by SQLite itself. -1 with err. */
int m2pt_store_open(m2pt_store **s, const char *path, int readonly, char *err, size_t errlen);
void m2pt_store_close(m2pt_store *s);
/* The underlying handle (for `m2pt query` and the read-side commands). */
struct sqlite3 *m2pt_store_db(m2pt_store *s);

/* Record (or update) an experiment by name; returns its id in *id. */
int m2pt_store_experiment(m2pt_store *s, const m2pt_experiment *exp, int64_t *id, char *err, size_t errlen);

/* Provenance of a run, filled by the runner. */
typedef struct {
    const char *git;        /* e.g. "a1b2c3d" or "a1b2c3d-dirty" */
    int git_dirty;
    const char *host;
    const char *m2pt_version;
    const char *plugins;    /* JSON object: {"image":"1.0.0","reparam":"1.0.0"} */
} m2pt_provenance;

typedef enum {
    M2PT_CLAIM_RUN = 0,  /* this process owns the run now: train it */
    M2PT_CLAIM_DONE = 1, /* finished before (and not forced): skip */
    M2PT_CLAIM_BUSY = 2, /* another live process is running it */
} m2pt_claim;

/* Atomically (BEGIN IMMEDIATE) decide who runs a cell and link it to the experiment. On RUN the
 * row is (re)set to status 'running' with this pid, host, start time, provenance, resolved
 * config and the cell's params (every dotted key), and everything it had logged is deleted.
 * aux_run_id: the auxiliary run this target cell uses (0 if none). */
int m2pt_store_claim(m2pt_store *s, int64_t experiment_id, const m2pt_cell *cell, int64_t aux_run_id, int force,
                     const m2pt_provenance *prov, int64_t *run_id, m2pt_claim *claim, char *err, size_t errlen);

/* A metric value: per step (epoch 0 means "not per epoch") or per epoch (step = last step). */
typedef struct {
    const char *key; /* e.g. "train_loss", "lr", "grad_norm", "samples_per_s", "val_acc",
                        "lambda.blocks.0.qkv" */
    long step;
    int epoch;
    double value;
    double wall;     /* seconds since the run started */
} m2pt_metric;

/* Append metrics in one transaction. */
int m2pt_store_metrics(m2pt_store *s, int64_t run_id, const m2pt_metric *m, int n, char *err, size_t errlen);

typedef struct {
    double best_val_acc, last_val_acc, test_acc, test_acc_unmerged, test_loss;
    long params_trainable, params_inference;
    double train_seconds, wall_seconds;
    int epochs_done;
} m2pt_summary;

/* Summary, artifact and status 'done' in one transaction. ckpt may be NULL. */
int m2pt_store_finish(m2pt_store *s, int64_t run_id, const m2pt_summary *sum, const char *ckpt, long long bytes,
                      const char *checksum, char *err, size_t errlen);
/* status: "failed" or "interrupted"; error: one line. */
int m2pt_store_fail(m2pt_store *s, int64_t run_id, const char *status, const char *error, char *err, size_t errlen);

/* Recovers a run killed after its checkpoint was in place but before its finish committed:
 * when run `run_id` is still 'running' for cell `cell_hash`, was started on this host by
 * process `pid` (host and pid as the checkpoint records its writer) and that process is gone,
 * it is finished as m2pt_store_finish would have (summary, artifact, done; linked to the
 * experiment), keeping the metrics it logged, and *adopted = 1. Otherwise nothing changes and
 * *adopted = 0. One transaction. */
int m2pt_store_adopt(m2pt_store *s, int64_t experiment_id, int64_t run_id, const char *cell_hash, const char *host,
                     long long pid, const m2pt_summary *sum, const char *ckpt, long long bytes, const char *checksum,
                     int *adopted, char *err, size_t errlen);

/* The done auxiliary run with this cell hash, if any (0 otherwise). */
int64_t m2pt_store_done_run(m2pt_store *s, const char *cell_hash);

#endif
