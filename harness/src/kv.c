#include "kv.h"

#include <stdlib.h>
#include <string.h>

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int m2pt_kv_set(m2pt_kv *kv, const char *key, const char *value, const char *origin) {
    char *v = dup(value), *o = dup(origin ? origin : "");
    if (!v || !o) {
        free(v), free(o);
        return -1;
    }
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->e[i].key, key)) {
            free(kv->e[i].value), free(kv->e[i].origin);
            kv->e[i].value = v, kv->e[i].origin = o;
            return 0;
        }
    if (kv->n == kv->cap) {
        int cap = kv->cap ? 2 * kv->cap : 8;
        m2pt_kv_entry *e = realloc(kv->e, (size_t)cap * sizeof *e);
        if (!e) {
            free(v), free(o);
            return -1;
        }
        kv->e = e, kv->cap = cap;
    }
    char *k = dup(key);
    if (!k) {
        free(v), free(o);
        return -1;
    }
    kv->e[kv->n++] = (m2pt_kv_entry){k, v, o, 0};
    return 0;
}

int m2pt_kv_set_pair(m2pt_kv *kv, const char *pair, const char *origin) {
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair) return -1;
    size_t n = (size_t)(eq - pair);
    char *key = malloc(n + 1);
    if (!key) return -1;
    memcpy(key, pair, n);
    key[n] = '\0';
    int rc = m2pt_kv_set(kv, key, eq + 1, origin);
    free(key);
    return rc;
}

m2pt_kv_entry *m2pt_kv_get(m2pt_kv *kv, const char *key) {
    for (int i = 0; kv && i < kv->n; i++)
        if (!strcmp(kv->e[i].key, key)) {
            kv->e[i].read = 1;
            return &kv->e[i];
        }
    return NULL;
}

const m2pt_kv_entry *m2pt_kv_unread(const m2pt_kv *kv) {
    for (int i = 0; kv && i < kv->n; i++)
        if (!kv->e[i].read) return &kv->e[i];
    return NULL;
}

void m2pt_kv_free(m2pt_kv *kv) {
    for (int i = 0; i < kv->n; i++) free(kv->e[i].key), free(kv->e[i].value), free(kv->e[i].origin);
    free(kv->e);
    memset(kv, 0, sizeof *kv);
}
