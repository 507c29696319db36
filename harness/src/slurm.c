/* The sbatch script and command lines of `m2pt slurm` (slurm.h). */
#include "slurm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_name[] = {"aux", "target", "merge"};

void m2pt_sh_quote(m2pt_strbuf *b, const char *s) {
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+%@", *p) != NULL;
    if (plain) {
        m2pt_sb_puts(b, s);
        return;
    }
    m2pt_sb_puts(b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'') m2pt_sb_puts(b, "'\\''");
        else m2pt_sb_append(b, p, 1);
    }
    m2pt_sb_puts(b, "'");
}

void m2pt_slurm_ranges(m2pt_strbuf *b, const int *tasks, int n) {
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && tasks[j + 1] == tasks[j] + 1) j++;
        m2pt_sb_printf(b, "%s%d", i ? "," : "", tasks[i]);
        if (j > i) m2pt_sb_printf(b, "-%d", tasks[j]);
        i = j + 1;
    }
}

/* ---------------------------------------------------------------- argv */

typedef struct {
    char **v;
    int n, cap, failed;
} argv_list;

static void add(argv_list *a, const char *fmt, const char *x) {
    if (a->failed) return;
    if (a->n + 2 > a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        char **g = realloc(a->v, (size_t)cap * sizeof *g);
        if (!g) {
            a->failed = 1;
            return;
        }
        a->v = g, a->cap = cap;
    }
    size_t len = strlen(fmt) + (x ? strlen(x) : 0) + 1;
    char *s = malloc(len);
    if (!s) {
        a->failed = 1;
        return;
    }
    snprintf(s, len, fmt, x ? x : "");
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

int m2pt_slurm_argv(const m2pt_slurm_job *j, const char *script_path, m2pt_phase phase, const char *after,
                    char ***argv) {
    argv_list a = {0};
    char buf[4200];
    add(&a, "sbatch", NULL);
    add(&a, "--parsable", NULL);
    snprintf(buf, sizeof buf, "m2pt-%s-%s", j->name, phase_name[phase]);
    add(&a, "--job-name=%s", buf);
    if (phase != M2PT_PHASE_MERGE) {
        snprintf(buf, sizeof buf, "%s", phase == M2PT_PHASE_AUX ? j->aux_array : j->target_array);
        if (j->parallelism > 0) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%%%d", j->parallelism);
        add(&a, "--array=%s", buf);
    }
    if (after) {
        add(&a, "--dependency=afterok:%s", after);
        add(&a, "--kill-on-invalid-dep=yes", NULL);
    }
    snprintf(buf, sizeof buf, "%s/%s", j->dir, phase == M2PT_PHASE_AUX ? "aux-%a.out"
                                             : phase == M2PT_PHASE_TARGET ? "shard-%a.out"
                                                                          : "merge.out");
    add(&a, "--output=%s", buf);
    add(&a, "%s", script_path);
    add(&a, "%s", phase_name[phase]);
    if (a.failed) {
        m2pt_slurm_argv_free(a.v);
        return -1;
    }
    *argv = a.v;
    return 0;
}

void m2pt_slurm_argv_free(char **argv) {
    for (int i = 0; argv && argv[i]; i++) free(argv[i]);
    free(argv);
}

/* ---------------------------------------------------------------- the script */

static void command_line(m2pt_strbuf *b, const m2pt_slurm_job *j, const char *script, m2pt_phase phase,
                         const char *after) {
    char **argv;
    if (m2pt_slurm_argv(j, script, phase, after, &argv)) {
        b->failed = 1;
        return;
    }
    for (int i = 0; argv[i]; i++) {
        if (i) m2pt_sb_puts(b, " ");
        if (after && !strncmp(argv[i], "--dependency=afterok:$", 22)) m2pt_sb_puts(b, argv[i]); /* a variable */
        else m2pt_sh_quote(b, argv[i]);
    }
    m2pt_slurm_argv_free(argv);
}

int m2pt_slurm_script(const m2pt_slurm_job *j, const char *script, m2pt_strbuf *b) {
    int aux = j->aux_array && *j->aux_array, tgt = j->target_array && *j->target_array;
    m2pt_sb_printf(b, "#!/bin/sh\n# m2pt on Slurm: experiment %s (%s): %d target cells and %d auxiliary cells in %d shards.\n",
                   j->name, j->exp_file, j->ntargets, j->naux, j->shards);
    m2pt_sb_puts(b, "# Written by 'm2pt slurm'; submitted by 'm2pt slurm ... --submit', or by hand from the\n"
                    "# working directory below:\n");
    const char *after_aux = aux ? "$aux" : NULL, *after_tgt = tgt ? "$tgt" : after_aux;
    if (aux) {
        m2pt_sb_puts(b, "#   aux=$(");
        command_line(b, j, script, M2PT_PHASE_AUX, NULL);
        m2pt_sb_puts(b, ")\n");
    }
    if (tgt) {
        m2pt_sb_puts(b, "#   tgt=$(");
        command_line(b, j, script, M2PT_PHASE_TARGET, after_aux);
        m2pt_sb_puts(b, ")\n");
    }
    m2pt_sb_puts(b, "#   ");
    command_line(b, j, script, M2PT_PHASE_MERGE, after_tgt);
    m2pt_sb_puts(b, "\n");
    if (!aux || !tgt)
        m2pt_sb_printf(b, "# (%s: nothing left to do there)\n",
                       !aux && !tgt ? "no auxiliary or target phase" : !aux ? "no auxiliary phase" : "no target phase");
    m2pt_sb_printf(b,
                   "# Phases: aux (array task K trains shard K's auxiliary models into the shared cache),\n"
                   "# target (task K runs shard K's target cells into %s/shard-K.db; it waits for, or takes\n"
                   "# over, an auxiliary model another task is training), merge (into %s). Each phase\n"
                   "# starts when the previous one succeeded (afterok); a failure cancels the rest. Run\n"
                   "# 'm2pt slurm' again to resubmit: only tasks with unfinished cells, done cells skipped.\n",
                   j->dir, j->db);
    m2pt_sb_puts(b, "# Estimated share of the grid's cost per shard:");
    for (int k = 0; k < j->shards && j->share; k++) m2pt_sb_printf(b, " %d: %.1f%%%s", k + 1, j->share[k], k + 1 < j->shards ? "," : "");
    m2pt_sb_printf(b, "\n#SBATCH --job-name=m2pt-%s\n", j->name);
    if (j->partition) m2pt_sb_printf(b, "#SBATCH --partition=%s\n", j->partition);
    m2pt_sb_printf(b, "#SBATCH --cpus-per-task=%d\n", j->cpus);
    m2pt_sb_printf(b, "#SBATCH --chdir=%s\n", j->workdir);
    if (j->time) m2pt_sb_printf(b, "#SBATCH --time=%s\n", j->time);
    if (j->mem) m2pt_sb_printf(b, "#SBATCH --mem=%s\n", j->mem);
    m2pt_sb_puts(b, "set -eu\nm2pt=");
    m2pt_sh_quote(b, j->m2pt);
    m2pt_sb_puts(b, "\nexp=");
    m2pt_sh_quote(b, j->exp_file);
    m2pt_sb_puts(b, "\ndir=");
    m2pt_sh_quote(b, j->dir);
    m2pt_sb_puts(b, "\ncache=");
    m2pt_sh_quote(b, j->cache);
    m2pt_sb_puts(b, "\ndb=");
    m2pt_sh_quote(b, j->db);
    int ndb = j->aux_tasks > j->target_tasks ? j->aux_tasks : j->target_tasks;
    m2pt_sb_printf(b, "\nshards=%d\nthreads=\"${SLURM_CPUS_PER_TASK:-1}\"  # one thread per CPU of the task\n", j->shards);
    m2pt_sb_puts(b, "case \"${1:-}\" in\n"
                    "aux | target)\n"
                    "    k=\"${SLURM_ARRAY_TASK_ID:?submit the $1 phase as a job array: sbatch --array=1-$shards}\"\n"
                    "    only=\n"
                    "    if [ \"$1\" = aux ]; then only=--aux-only; fi\n"
                    "    exec \"$m2pt\" run \"$exp\" $only --shard \"$k/$shards\" --threads \"$threads\" --db \"$dir/shard-$k.db\" "
                    "--cache \"$cache\"");
    for (int i = 0; i < j->nsets; i++) {
        m2pt_sb_puts(b, " --set ");
        m2pt_sh_quote(b, j->sets[i]);
    }
    if (j->allow_large) m2pt_sb_puts(b, " --allow-large");
    m2pt_sb_printf(b, "\n"
                      "    ;;\n"
                      "merge)\n"
                      "    set --\n"
                      "    k=1\n"
                      "    while [ $k -le %d ]; do\n"
                      "        if [ -e \"$dir/shard-$k.db\" ]; then set -- \"$@\" \"$dir/shard-$k.db\"; fi\n"
                      "        k=$((k + 1))\n"
                      "    done\n"
                      "    exec \"$m2pt\" merge \"$db\" \"$@\"\n"
                      "    ;;\n"
                      "*)\n"
                      "    echo \"usage: sbatch --array=1-$shards $0 aux|target, then sbatch $0 merge\" >&2\n"
                      "    exit 2\n"
                      "    ;;\n"
                      "esac\n",
                   ndb);
    return b->failed ? -1 : 0;
}
