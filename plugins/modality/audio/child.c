/* The data generation runs in a child process. espeak-ng starts a helper thread in
 * espeak_Initialize, keeps global allocations, and hangs when terminated and initialised a
 * second time in one process; FFTW's planner keeps global memory too. In a child, none of
 * that reaches the host process (which must not gain threads from a plugin), a second open
 * in the same process generates as reliably as the first, and a crash inside the library
 * becomes an error message instead of taking the host down. The child writes the features
 * into a shared anonymous mapping and a progress counter the parent logs from; it ends with
 * _exit, so the host's atexit handlers and stdio buffers are never run twice. */
#define _POSIX_C_SOURCE 200809L /* fork, mmap, waitpid, nanosleep, clock_gettime */
#define _DEFAULT_SOURCE         /* MAP_ANONYMOUS (glibc) */
#include "audio.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 1024
#define REPORT_EVERY 10.0 /* seconds between progress lines */

typedef struct {
    _Atomic long done;  /* utterances finished */
    _Atomic int status; /* 0 running, 1 done, 2 failed (msg says why) */
    char msg[MSG_LEN];
} shared_hdr;

double audio_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void au_fail(audio_inst *m, const char *fmt, ...) {
    char buf[MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!m->child_msg)
        m->host->fail(m->ctx, "%s", buf);
    else if (!m->child_msg[0]) /* keep the first message */
        snprintf(m->child_msg, m->child_msg_len, "%s", buf);
}

_Noreturn static void child_main(audio_inst *m, shared_hdr *sh, uint8_t *data) {
    m->child_msg = sh->msg;
    m->child_msg_len = sizeof sh->msg;
    audio_layout(m, data);
    const int rc = generate_data(m, &sh->done);
    atomic_store(&sh->status, rc ? 2 : 1);
    _exit(rc ? 1 : 0);
}

/* Wait for the child, logging progress. Returns the wait status, or -1 when the child could
 * not be waited for (e.g. SIGCHLD ignored by the host): then the shared status decides. */
static int wait_child(audio_inst *m, pid_t pid, shared_hdr *sh, long total) {
    const double t0 = audio_now();
    double next = REPORT_EVERY;
    for (;;) {
        int st = 0;
        const pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return st;
        if (w < 0 && errno != EINTR) return -1;
        const struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        const double t = audio_now() - t0;
        if (t >= next) {
            m->host->log(m->ctx, 0, "synthesized %ld / %ld utterances (%.0f s)", atomic_load(&sh->done), total, t);
            next += REPORT_EVERY;
        }
    }
}

static int report(audio_inst *m, int st, const shared_hdr *sh) {
    if (sh->msg[0]) {
        m->host->fail(m->ctx, "%s", sh->msg);
    } else if (st != -1 && WIFSIGNALED(st)) {
        m->host->fail(m->ctx, "the data generation process died of signal %d (%s) inside libespeak-ng or FFTW; "
                      "reinstall the libraries (apt-get install --reinstall libespeak-ng1 espeak-ng-data "
                      "libfftw3-single3)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else {
        m->host->fail(m->ctx, "the data generation process ended without finishing (wait status %d)", st);
    }
    return -1;
}

int generate_all(audio_inst *m) {
    if (synth_check_data(m)) return -1;
    const long total = m->p.size[0] + m->p.size[1] + m->p.size[2];
    const size_t hdr = (sizeof(shared_hdr) + 63) & ~(size_t)63;
    void *map = mmap(NULL, hdr + m->data_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        m->host->fail(m->ctx, "cannot map %zu bytes for the data generation: %s", hdr + m->data_bytes, strerror(errno));
        return -1;
    }
    shared_hdr *sh = map; /* zero-filled: done 0, status 0, msg "" */
    uint8_t *data = (uint8_t *)map + hdr;
    m->host->log(m->ctx, 0, "generating %ld utterances with libespeak-ng %s (%d voices; once, then cached)", total,
                 synth_version(), m->p.voices);
    fflush(NULL); /* nothing buffered is left for the child to write a second time */
    const pid_t pid = fork();
    if (pid < 0) {
        m->host->fail(m->ctx, "cannot start the data generation process: %s", strerror(errno));
        munmap(map, hdr + m->data_bytes);
        return -1;
    }
    if (pid == 0) child_main(m, sh, data); /* does not return */
    const int st = wait_child(m, pid, sh, total);
    const int ok = atomic_load(&sh->status) == 1 && atomic_load(&sh->done) == total &&
                   (st == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
    const int rc = ok ? 0 : report(m, st, sh);
    if (ok) memcpy(m->data, data, m->data_bytes);
    munmap(map, hdr + m->data_bytes);
    return rc;
}
