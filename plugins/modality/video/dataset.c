/* The splits: each one is loaded from the disk cache when a valid file for exactly these
 * parameters exists, else generated (on the host's threads: clips are independent, so the
 * result does not depend on the thread count) and written to the cache. */
#define _POSIX_C_SOURCE 200809L
#include "video.h"

#include <stdio.h>
#include <time.h>

#define FORMAT_VERSION 2 /* bump whenever clip.c changes what given parameters produce */

static const char *const split_names[3] = {"train", "val", "test"};

void dataset_params_text(const video_inst *m, int split, char *buf, size_t len) {
    const vid_gen *g = &m->gen;
    snprintf(buf, len,
             "video format=%d seed=%llu split=%s count=%ld frames=%d size=%d noise=%.9g speed=%.9g "
             "distractor=%.9g occluder=%.9g clutter=%.9g sprite_size=%.9g",
             FORMAT_VERSION, (unsigned long long)g->seed, split_names[split], m->want[split], g->frames, g->size,
             g->noise, g->speed, g->distractor, g->occluder, g->clutter, g->sprite);
}

typedef struct {
    const video_inst *m;
    int split;
    uint8_t *px, *lb;
    long count;
} gen_job;

static void gen_task(void *arg, int thread, int threads) {
    const gen_job *j = arg;
    const long sample = j->m->sample;
    for (long i = thread; i < j->count; i += threads)
        j->lb[i] = (uint8_t)clip_generate(j->m->host, &j->m->gen, j->split, i, j->px + (size_t)i * sample);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int build_split(video_inst *m, int split) {
    const long count = m->want[split];
    char params[VID_PARAMS_MAX];
    dataset_params_text(m, split, params, sizeof params);
    m->count[split] = count;
    m->px[split] = m->host->alloc(m->ctx, (size_t)(count ? count : 1) * (size_t)m->sample);
    m->lb[split] = m->host->alloc(m->ctx, (size_t)(count ? count : 1));
    if (!m->px[split] || !m->lb[split]) return -1;
    if (count == 0) return 0;
    if (m->use_cache && cache_load(m, params, m->px[split], m->lb[split], count)) return 0;
    const double t0 = now();
    gen_job job = {m, split, m->px[split], m->lb[split], count};
    m->host->parallel(gen_task, &job);
    m->host->log(m->ctx, 0, "generated %ld %s clips in %.1f s", count, split_names[split], now() - t0);
    if (m->use_cache) cache_save(m, params, m->px[split], m->lb[split], count);
    return 0;
}

int dataset_build(video_inst *m) {
    const unsigned long long total = (unsigned long long)(m->want[0] + m->want[1] + m->want[2]) *
                                     (unsigned long long)m->sample;
    if (total > VID_MAX_BYTES) {
        m->host->fail(m->ctx, "train_size + val_size + test_size = %ld clips of %ld bytes need %.1f GB; at most "
                      "%.1f GB are allowed: use fewer clips, frames or a smaller size",
                      m->want[0] + m->want[1] + m->want[2], m->sample, (double)total / 1e9,
                      (double)VID_MAX_BYTES / 1e9);
        return -1;
    }
    for (int s = 0; s < 3; s++)
        if (build_split(m, s)) return -1;
    return 0;
}
