/* A plugin's configuration section: string keys and values with their origin, plus a mark of
 * which keys were read. The experiment file (or --set) fills it; plugins read it through the
 * host's typed getters; keys nobody read are reported so that typos surface. */
#ifndef M2PT_KV_H
#define M2PT_KV_H

#include <stddef.h>

typedef struct {
    char *key, *value;
    char *origin; /* e.g. "--set" or "exp.yaml:12:5", for messages */
    int read;
} m2pt_kv_entry;

typedef struct {
    m2pt_kv_entry *e;
    int n, cap;
} m2pt_kv;

/* Set (or replace) key = value. 0, or -1 when out of memory. */
int m2pt_kv_set(m2pt_kv *kv, const char *key, const char *value, const char *origin);
/* Parse "key=value"; -1 when there is no '=' or the key is empty. */
int m2pt_kv_set_pair(m2pt_kv *kv, const char *pair, const char *origin);
m2pt_kv_entry *m2pt_kv_get(m2pt_kv *kv, const char *key); /* marks it read; NULL when absent */
/* First key never read, or NULL. */
const m2pt_kv_entry *m2pt_kv_unread(const m2pt_kv *kv);
void m2pt_kv_free(m2pt_kv *kv);

#endif
