#define _DEFAULT_SOURCE /* realpath */
/* Reading experiment files: the file, the chain of files it extends (merged), and --set
 * overrides applied to the merged tree. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp_internal.h"

/* ---------------------------------------------------------------- extends */

/* Merges src's entries over dst (both mappings): mappings merge recursively, anything else
 * replaces; at the top level grid and zip replace as a whole. src is emptied. */
static int merge_over(exp_ctx *c, yt_node *dst, yt_node *src, int top) {
    for (int i = 0; i < src->n; i++) {
        yt_node *val = src->item[i];
        src->item[i] = NULL;
        const char *key = src->key[i];
        int whole = top && (!strcmp(key, "grid") || !strcmp(key, "zip"));
        yt_node *old = yt_map_get(dst, key);
        if (!whole && old && old->type == YT_MAP && val->type == YT_MAP) {
            int rc = merge_over(c, old, val, 0);
            yt_free(val);
            if (rc) return -1;
        } else if (yt_map_put(dst, key, src->kloc[i], val)) {
            return exp_oom(c);
        }
    }
    return 0;
}

/* path of `ref` relative to the directory of `from`, into a kept string. */
static const char *relative_to(exp_ctx *c, const char *from, const char *ref) {
    const char *slash = strrchr(from, '/');
    if (ref[0] == '/' || !slash) return exp_keep(c, ref);
    size_t n = (size_t)(slash - from) + 1 + strlen(ref) + 1;
    char *buf = malloc(n);
    if (!buf) return exp_oom(c), NULL;
    snprintf(buf, n, "%.*s%s", (int)(slash - from) + 1, from, ref);
    const char *kept = exp_keep(c, buf);
    free(buf);
    return kept;
}

typedef struct {
    char *real[EXP_MAX_EXTENDS + 1];  /* realpath of each file in the chain */
    const char *shown[EXP_MAX_EXTENDS + 1];
    int n;
} chain_t;

static int cycle_error(exp_ctx *c, const chain_t *ch, int from, const yt_node *ref, const char *key) {
    char msg[1024];
    size_t k = 0;
    msg[0] = '\0';
    for (int i = from; i < ch->n && k < sizeof msg; i++)
        k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%s", i > from ? " -> " : "", ch->shown[i]);
    return exp_fail(c, ref->loc, key, "cycle: %s", msg);
}

static int load_rec(exp_ctx *c, const char *path, chain_t *ch, yt_loc from, const char *via, yt_node **out);

/* Loads what root extends (if anything) and merges root over it into *out. Takes root. */
static int resolve_extends(exp_ctx *c, const char *path, yt_node *root, chain_t *ch, yt_node **out) {
    int ie = yt_map_find(root, "extends"), ib = yt_map_find(root, "base");
    if (ie >= 0 && ib >= 0) {
        exp_fail(c, root->kloc[ie > ib ? ie : ib], ie > ib ? "extends" : "base",
                 "'extends' and 'base' mean the same: use one");
        return yt_free(root), -1;
    }
    int i = ie >= 0 ? ie : ib;
    if (i < 0) return *out = root, 0;
    const char *key = root->key[i];
    const yt_node *ref = root->item[i];
    if (ref->type != YT_STR) {
        char got[128];
        exp_fail(c, ref->loc, key, "expected a file path, got %s", yt_describe(ref, got, sizeof got));
        return yt_free(root), -1;
    }
    if (ch->n > EXP_MAX_EXTENDS) {
        exp_fail(c, ref->loc, key, "more than %d levels of extends", EXP_MAX_EXTENDS);
        return yt_free(root), -1;
    }
    const char *next = relative_to(c, path, ref->text);
    yt_node *parent = NULL;
    if (!next || load_rec(c, next, ch, ref->loc, key, &parent)) return yt_free(root), -1;
    yt_map_remove(root, yt_map_find(root, key));
    int n = yt_map_find(parent, "name"); /* a base file's name is not inherited */
    if (n >= 0) yt_map_remove(parent, n);
    int rc = merge_over(c, parent, root, 1);
    yt_free(root);
    if (rc) return yt_free(parent), -1;
    *out = parent;
    return 0;
}

static int parse_file(exp_ctx *c, const char *path, yt_loc from, const char *via, char **text, yt_node **root) {
    size_t len;
    char why[600];
    if (yt_read_file(path, text, &len, why, sizeof why)) {
        if (from.file) return exp_fail(c, from, via, "%s", why);
        snprintf(c->err, c->errlen, "%s", why);
        return -1;
    }
    if (yt_parse(*text, len, path, 1, root, c->err, c->errlen)) return -1;
    yt_loc top = {path, 1, 1};
    if (!*root) return exp_fail(c, top, NULL, "empty experiment file (expected a mapping with at least 'name' and 'target')");
    if ((*root)->type != YT_MAP) {
        char got[128];
        return exp_fail(c, (*root)->loc, NULL, "an experiment file is a mapping of keys, found %s",
                        yt_describe(*root, got, sizeof got));
    }
    return 0;
}

static int load_rec(exp_ctx *c, const char *path, chain_t *ch, yt_loc from, const char *via, yt_node **out) {
    char *real = realpath(path, NULL);
    if (!real) {
        if (from.file) return exp_fail(c, from, via, "cannot open '%s': %s", path, strerror(errno));
        snprintf(c->err, c->errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < ch->n; i++)
        if (!strcmp(ch->real[i], real)) {
            free(real);
            yt_node fake = {.loc = from};
            ch->shown[ch->n] = path;
            ch->n++;
            int rc = cycle_error(c, ch, i, &fake, via);
            ch->n--;
            return rc;
        }
    ch->real[ch->n] = real, ch->shown[ch->n] = path, ch->n++;
    char *text = NULL;
    yt_node *root = NULL;
    int rc = parse_file(c, path, from, via, &text, &root);
    if (rc == 0 && !c->top_text) c->top_text = text, text = NULL;
    free(text);
    if (rc == 0) rc = resolve_extends(c, path, root, ch, out);
    else yt_free(root);
    free(ch->real[--ch->n]);
    return rc;
}

int exp_load_tree(exp_ctx *c, const char *path) {
    chain_t ch = {.n = 0};
    const char *kept = exp_keep(c, path);
    if (!kept) return -1;
    c->root_loc = (yt_loc){kept, 1, 1};
    return load_rec(c, kept, &ch, (yt_loc){NULL, 0, 0}, NULL, &c->root);
}

/* ---------------------------------------------------------------- --set */

/* Removes key from the grid and every zip group: a --set value pins an axis. */
static void unpin(yt_node *root, const char *key) {
    yt_node *grid = yt_map_get(root, "grid");
    if (grid && grid->type == YT_MAP) yt_map_remove(grid, yt_map_find(grid, key));
    yt_node *zip = yt_map_get(root, "zip");
    if (!zip || zip->type != YT_SEQ) return;
    for (int g = 0; g < zip->n; g++) {
        yt_node *grp = zip->item[g];
        if (!grp || grp->type != YT_MAP) continue;
        yt_map_remove(grp, yt_map_find(grp, key));
        if (grp->n == 0) { /* an emptied group goes */
            yt_free(grp);
            for (int j = g + 1; j < zip->n; j++) zip->item[j - 1] = zip->item[j];
            zip->n--, g--;
        }
    }
}

/* The mapping at `name` under map, created (or replacing a null) when absent. */
static yt_node *submap(exp_ctx *c, yt_node *map, const char *name, yt_loc loc, const char *key) {
    yt_node *sub = yt_map_get(map, name);
    if (sub && sub->type == YT_MAP) return sub;
    if (sub && sub->type != YT_NULL) {
        char got[128];
        exp_fail(c, loc, key, "cannot set: '%s' is %s, not a mapping", name, yt_describe(sub, got, sizeof got));
        return NULL;
    }
    sub = yt_new(YT_MAP, loc);
    if (!sub || yt_map_put(map, name, loc, sub)) return exp_oom(c), NULL;
    return sub;
}

/* Puts val at the dotted key (creating mappings on the way). Takes val. */
static int put_path(exp_ctx *c, const char *key, yt_loc loc, yt_node *val) {
    char buf[512];
    if (strlen(key) >= sizeof buf) return yt_free(val), exp_fail(c, loc, NULL, "key too long");
    strcpy(buf, key);
    yt_node *map = c->root;
    char *part = buf;
    for (char *dot; (dot = strchr(part, '.'));) {
        *dot = '\0';
        if (!*part) break;
        if (!(map = submap(c, map, part, loc, key))) return yt_free(val), -1;
        part = dot + 1;
    }
    if (!*part) return yt_free(val), exp_fail(c, loc, key, "empty part in the dotted key");
    yt_node *old = yt_map_get(map, part);
    if (old && old->type == YT_MAP && val->type == YT_MAP) { /* a mapping merges, as in extends */
        int rc = merge_over(c, old, val, 0);
        yt_free(val);
        return rc;
    }
    return yt_map_put(map, part, loc, val) ? exp_oom(c) : 0;
}

int exp_apply_set(exp_ctx *c, const char *arg) {
    char *label = malloc(strlen(arg) + 7);
    if (!label) return exp_oom(c);
    sprintf(label, "--set %s", arg);
    const char *origin = exp_keep(c, label);
    free(label);
    if (!origin) return -1;
    yt_loc loc = {origin, 0, 0};
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return exp_fail(c, loc, NULL, "expected key=value");
    char key[512];
    if ((size_t)(eq - arg) >= sizeof key) return exp_fail(c, loc, NULL, "key too long");
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    if (!strcmp(key, "extends") || !strcmp(key, "base"))
        return exp_fail(c, loc, key, "cannot be set from the command line");
    yt_node *val = NULL;
    if (yt_parse(eq + 1, strlen(eq + 1), origin, 0, &val, c->err, c->errlen)) return -1;
    if (!val && !(val = yt_new(YT_NULL, loc))) return exp_oom(c);
    if (!strncmp(key, "grid.", 5) && key[5]) {
        yt_node *grid = submap(c, c->root, "grid", loc, key);
        if (!grid) return yt_free(val), -1;
        return yt_map_put(grid, key + 5, loc, val) ? exp_oom(c) : 0;
    }
    unpin(c->root, key);
    return put_path(c, key, loc, val);
}
