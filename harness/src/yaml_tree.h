/* A YAML document as a tree of located nodes (libyaml's event parser underneath).
 *
 * Only what experiment files need, and defensively:
 *  - plain scalars are typed by the YAML 1.2 core schema (null, true/false, decimal, 0o and
 *    0x integers, floats including 1e-3, .5, .inf, .nan); quoted and block scalars are strings;
 *  - anchors, aliases and tags are refused (no alias bombs, no type surprises);
 *  - duplicate keys, non-scalar keys, more than one document, NUL characters, nesting deeper than
 *    YT_MAX_DEPTH and more than YT_MAX_NODES nodes are refused;
 *  - integers outside 64-bit and floats outside double are refused where they are written.
 * Every refusal is one line "FILE:LINE:COL: key.path: reason". */
#ifndef M2PT_YAML_TREE_H
#define M2PT_YAML_TREE_H

#include <stddef.h>

#define YT_MAX_DEPTH 32        /* nested mappings/lists */
#define YT_MAX_NODES 100000    /* nodes per document */
#define YT_MAX_BYTES (1 << 20) /* file size */

/* Where a node or key was written. `file` is not owned (it must outlive the tree); line 0 means
 * "no position" (e.g. a --set value), formatted as just `file`. */
typedef struct {
    const char *file;
    int line, col; /* 1-based */
} yt_loc;

typedef enum { YT_NULL, YT_BOOL, YT_INT, YT_FLOAT, YT_STR, YT_SEQ, YT_MAP } yt_type;

typedef struct yt_node {
    yt_type type;
    yt_loc loc;
    char *text;  /* scalars: the text as written (NUL-terminated); NULL for collections */
    int quoted;  /* scalar was quoted or a block scalar */
    long long i; /* YT_INT */
    double d;    /* YT_FLOAT */
    int b;       /* YT_BOOL */
    int n, cap;
    struct yt_node **item; /* YT_SEQ items, YT_MAP values (entries may be NULL after a move) */
    char **key;            /* YT_MAP keys */
    yt_loc *kloc;          /* YT_MAP key positions */
} yt_node;

/* Reads a whole file (at most YT_MAX_BYTES). 0, or -1 with "FILE: reason" in err. */
int yt_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);

/* Parses one document. `file` names the origin in locations (not copied). located = 0 gives
 * every node line 0 (for command-line values). *out is NULL for an empty document (only
 * comments, or nothing). 0, or -1 with a located message in err. */
int yt_parse(const char *text, size_t len, const char *file, int located, yt_node **out, char *err, size_t errlen);

yt_node *yt_new(yt_type type, yt_loc loc); /* NULL when out of memory */
void yt_free(yt_node *n);
/* Index of key in a mapping, or -1. */
int yt_map_find(const yt_node *map, const char *key);
yt_node *yt_map_get(const yt_node *map, const char *key);
/* Appends key -> val (the map takes val, also on failure, when it frees it). 0 or -1. */
int yt_map_append(yt_node *map, const char *key, yt_loc kloc, yt_node *val);
/* Sets key -> val, replacing (and freeing) an existing value. Takes val. 0 or -1. */
int yt_map_put(yt_node *map, const char *key, yt_loc kloc, yt_node *val);
/* Removes entry i (freeing its key and value). */
void yt_map_remove(yt_node *map, int i);

/* "FILE:LINE:COL" (or "FILE" when line is 0) into buf; returns buf. */
char *yt_loc_format(yt_loc loc, char *buf, size_t n);
/* A short description for messages: "string '1e-3'", "integer 5", "a list", ... into buf. */
char *yt_describe(const yt_node *n, char *buf, size_t cap);
const char *yt_type_name(yt_type t); /* "a string", "an integer", ... */

#endif
