/* espeak-ng wrapper: the data check, initialisation, the voice list, and one word spoken into
 * a float buffer. espeak-ng keeps global state, starts a helper thread in espeak_Initialize
 * and cannot be terminated and initialised again in one process, so everything but
 * synth_check_data runs in the generation's child process (generate.c); the host process
 * never initialises it, and a cache hit never touches it. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include "audio.h"

#include <espeak-ng/speak_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DATA "/usr/lib/x86_64-linux-gnu/espeak-ng-data"
#define INSTALL_HINT "install the Debian packages libespeak-ng1 and espeak-ng-data (apt-get install libespeak-ng1 espeak-ng-data)"

/* English accents of espeak-ng-data (lang/gmw/en*), and the variants of voices/!v. Variants
 * alternate male and female so that the first voices of the list already mix both. */
static const char *const accents[AU_ACCENTS] = {"en",     "en-us",     "en-gb-scotland", "en-029",
                                                "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"};
static const char *const variants[AU_VARIANTS] = {"m1", "f1", "m2", "f2", "m3", "f3",
                                                  "m4", "f4", "m5", "f5", "m6", "m7"};

static int current_voice = -1; /* voice last set in this (child) process */

typedef struct {
    float *wav;
    int cap, len, overflow;
} collector;

/* Called by espeak_Synth (synchronous mode) with chunks of 16-bit samples. */
static int collect(short *wav, int n, espeak_EVENT *events) {
    collector *c = events ? events->user_data : NULL;
    if (!c || !wav) return 0;
    for (int i = 0; i < n; i++) {
        if (c->len >= c->cap) {
            c->overflow = 1;
            return 1; /* abort synthesis */
        }
        c->wav[c->len++] = (float)wav[i] / 32768.0f;
    }
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *dir, const char *name) {
    char p[AU_PATH_MAX + 64];
    struct stat st;
    return snprintf(p, sizeof p, "%s/%s", dir, name) < (int)sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The data directory: config espeak_data, else $ESPEAK_DATA_PATH (as the library itself),
 * else the Debian location. It must hold the phoneme tables and the English dictionary. */
static const char *data_dir(audio_inst *m) {
    if (m->espeak_dir[0]) return m->espeak_dir;
    const char *env = getenv("ESPEAK_DATA_PATH");
    if (env && *env) {
        static char buf[AU_PATH_MAX];
        /* the library accepts either the directory or its parent holding espeak-ng-data */
        if (snprintf(buf, sizeof buf, "%s/espeak-ng-data", env) < (int)sizeof buf && is_dir(buf)) return buf;
        return env;
    }
    return DEFAULT_DATA;
}

int synth_check_data(audio_inst *m) {
    const char *dir = data_dir(m);
    if (is_dir(dir) && is_file(dir, "phontab") && is_file(dir, "phondata") && is_file(dir, "en_dict")) return 0;
    m->host->fail(m->ctx, "espeak-ng data not found in %s (phontab, phondata, en_dict); %s, or set espeak_data / "
                  "ESPEAK_DATA_PATH", dir, INSTALL_HINT);
    return -1;
}

int synth_init(audio_inst *m) {
    const char *dir = data_dir(m);
    /* DONT_EXIT: without it the library calls exit() when its data is unusable */
    const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, dir, espeakINITIALIZE_DONT_EXIT);
    if (rate != AU_RATE) {
        au_fail(m, "libespeak-ng failed to initialise with data %s (returned %d, expected %d Hz); %s", dir, rate,
                AU_RATE, INSTALL_HINT);
        return -1;
    }
    espeak_SetSynthCallback(collect);
    current_voice = -1;
    return 0;
}

const char *synth_version(void) {
    const char *v = espeak_Info(NULL);
    return v ? v : "unknown";
}

void synth_voice_name(int k, char *buf, size_t len) {
    const int a = k % AU_ACCENTS, q = k / AU_ACCENTS;
    snprintf(buf, len, "%s+%s", accents[a], variants[(a + q) % AU_VARIANTS]);
}

int synth_set_voice(audio_inst *m, int k) {
    if (k == current_voice) return 0;
    char name[64];
    synth_voice_name(k, name, sizeof name);
    espeak_ERROR e = espeak_SetVoiceByName(name);
    if (e != EE_OK) {
        au_fail(m, "libespeak-ng has no voice \"%s\" (error %d); the espeak-ng data in %s is incomplete: "
                "apt-get install --reinstall espeak-ng-data", name, (int)e, data_dir(m));
        return -1;
    }
    current_voice = k;
    return 0;
}

int synth_word(audio_inst *m, const char *word, int rate, int pitch, int range, float *wav, int cap, int *len) {
    collector c = {wav, cap, 0, 0};
    espeak_SetParameter(espeakRATE, rate, 0);
    espeak_SetParameter(espeakPITCH, pitch, 0);
    espeak_SetParameter(espeakRANGE, range, 0);
    espeak_ERROR e = espeak_Synth(word, strlen(word) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, &c);
    if (e != EE_OK || c.overflow || c.len == 0) {
        au_fail(m, "libespeak-ng failed to speak \"%s\" (error %d, %d samples%s); %s", word, (int)e, c.len,
                c.overflow ? ", too long" : "", INSTALL_HINT);
        return -1;
    }
    *len = c.len;
    return 0;
}
