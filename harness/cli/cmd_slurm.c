/* m2pt slurm EXP.yaml: write (and with --submit, submit) the Slurm jobs of an experiment
 * (slurm.h): an auxiliary phase and a target phase as job arrays of shards, then a merge. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cost.h"
#include "experiment.h"
#include "runner.h"
#include "shard.h"
#include "shard_db.h"
#include "slurm.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m2pt slurm EXP.yaml [--shards N] [--partition P] [--array-parallelism M] [--submit]\n"
            "                  [--cpus-per-task C] [--time T] [--mem M] [--db FILE] [--dir DIR]\n"
            "                  [--cache DIR] [--set key=value]... [--allow-large]\n"
            "Writes an sbatch script that runs the experiment as Slurm jobs and prints it: a job array\n"
            "of the shards' auxiliary models, then (--dependency=afterok) a job array of N shards of\n"
            "the target cells ('m2pt run EXP --shard K/N', each into DIR/shard-K.db), then\n"
            "(afterok) 'm2pt merge' of the shard databases into --db. With --submit it submits them\n"
            "with sbatch and prints the job ids. Run it again after a partial failure: only the\n"
            "shards with unfinished cells are submitted, and they skip their done cells. The\n"
            "working directory, the m2pt build and the cache must be on a file system every node\n"
            "sees. See README.md, 'Running on a cluster'.\n"
            "\n"
            "  --shards N             N shards (default 4; at most the number of cells)\n"
            "  --partition P          the Slurm partition (default: the cluster's default)\n"
            "  --array-parallelism M  at most M tasks of an array at once (--array=1-N%%M)\n"
            "  --cpus-per-task C      CPUs, and so threads, per task (default 1; SLURM_CPUS_PER_TASK)\n"
            "  --time T, --mem M      time and memory limits per task, in sbatch's syntax\n"
            "  --db FILE              the merged database (default results/m2pt.db)\n"
            "  --dir DIR              the script, shard databases and logs (default results/slurm/NAME)\n"
            "  --cache DIR            the shared checkpoint cache (default results/cache, or\n"
            "                         $M2PT_CACHE_DIR)\n"
            "  --set key=value        override a key of the file in every task (repeatable)\n"
            "  --allow-large          accept grids beyond %ld points\n"
            "  --submit               submit the jobs (sbatch must be on PATH)\n"
            "Exit codes: 0 ok, 1 sbatch failed, 2 bad usage or bad input.\n",
            M2PT_MAX_GRID_POINTS);
}

typedef struct {
    const char *file, *partition, *time, *mem, *db, *dir, *cache;
    const char *sets[256];
    int nsets, large, submit;
    long shards, parallelism, cpus;
} slurm_opts;

/* A value sbatch receives inside one option: no whitespace or quotes, as sbatch would split. */
static int plain_value(const char *opt, const char *v) {
    if (*v && !strpbrk(v, " \t\n'\"\\$`")) return 0;
    fprintf(stderr, "m2pt slurm: %s '%s': expected one word without spaces or quotes\n", opt, v);
    return -1;
}

static int parse(int argc, char **argv, slurm_opts *o) {
    const char *cache = getenv("M2PT_CACHE_DIR");
    *o = (slurm_opts){.db = "results/m2pt.db", .cache = cache && *cache ? cache : "results/cache", .shards = 4,
                      .cpus = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--submit")) o->submit = 1;
        else if (!strcmp(a, "--allow-large")) o->large = 1;
        else if (!strcmp(a, "--shards")) {
            if (cli_int("slurm", a, v, 1, M2PT_MAX_SHARDS, &o->shards)) return 2;
            i++;
        } else if (!strcmp(a, "--array-parallelism")) {
            if (cli_int("slurm", a, v, 1, M2PT_MAX_SHARDS, &o->parallelism)) return 2;
            i++;
        } else if (!strcmp(a, "--cpus-per-task")) {
            if (cli_int("slurm", a, v, 1, 1024, &o->cpus)) return 2;
            i++;
        } else if (!strcmp(a, "--partition") || !strcmp(a, "--time") || !strcmp(a, "--mem") || !strcmp(a, "--db") ||
                   !strcmp(a, "--dir") || !strcmp(a, "--cache") || !strcmp(a, "--set")) {
            if (!v) {
                fprintf(stderr, "m2pt slurm: %s needs a value (see 'm2pt slurm --help')\n", a);
                return 2;
            }
            i++;
            int sbatch_value = !strcmp(a, "--partition") || !strcmp(a, "--time") || !strcmp(a, "--mem");
            if (sbatch_value && plain_value(a, v)) return 2;
            if (!strcmp(a, "--set")) {
                if (o->nsets == 256) {
                    fprintf(stderr, "m2pt slurm: at most 256 --set options\n");
                    return 2;
                }
                o->sets[o->nsets++] = v;
            } else if (!strcmp(a, "--partition")) o->partition = v;
            else if (!strcmp(a, "--time")) o->time = v;
            else if (!strcmp(a, "--mem")) o->mem = v;
            else if (!strcmp(a, "--db")) o->db = v;
            else if (!strcmp(a, "--dir")) o->dir = v;
            else o->cache = v;
        } else if (a[0] == '-' || o->file) {
            fprintf(stderr, "m2pt slurm: unknown option '%s' (see 'm2pt slurm --help')\n", a);
            return 2;
        } else o->file = a;
    }
    if (!o->file) {
        fprintf(stderr, "m2pt slurm: which experiment? (m2pt slurm EXP.yaml; examples in experiments/)\n");
        return 2;
    }
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* The shards that own cells of a role and, of those, the ones with cells not done yet. */
static int tasks_of(const m2pt_experiment *exp, const int *shard_of, int n, m2pt_role role, const char *dir,
                    int *owners, m2pt_strbuf *todo) {
    int *list = calloc((size_t)n + 1, sizeof *list), nl = 0;
    if (!list) return -1;
    *owners = 0;
    for (int k = 1; k <= n; k++) {
        char db[PATH_MAX + 32], err[1200];
        int left = 0, own = 0;
        for (int i = 0; i < exp->ncells; i++) own += shard_of[i] == k && exp->cells[i].role == role;
        if (!own) continue;
        *owners = k; /* shards fill from 1 (shard.h): the owners are 1..k */
        snprintf(db, sizeof db, "%s/shard-%d.db", dir, k);
        if (m2pt_shard_todo(db, exp, shard_of, k, role, &left, err, sizeof err)) {
            fprintf(stderr, "m2pt slurm: %s\n", err);
            free(list);
            return -2;
        }
        if (left) list[nl++] = k;
    }
    m2pt_slurm_ranges(todo, list, nl);
    free(list);
    return todo->failed ? -1 : 0;
}

/* Runs sbatch, returns its job id (the text before ';' of --parsable's answer) in id. */
static int submit(char **argv, char *id, size_t idlen) {
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]), close(fd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "m2pt slurm: cannot run %s: %s (is Slurm installed and sbatch on PATH?)\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char buf[64];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0) len += (size_t)r;
    close(fd[0]);
    buf[len] = '\0';
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    buf[strcspn(buf, ";\n")] = '\0';
    if (!WIFEXITED(st) || WEXITSTATUS(st) || !buf[0] || strspn(buf, "0123456789_") != strlen(buf)) return -1;
    snprintf(id, idlen, "%s", buf);
    return 0;
}

static int submit_all(const m2pt_slurm_job *j, const char *script) {
    char ids[3][64] = {"", "", ""};
    const char *after = NULL;
    const char *what[] = {"auxiliary phase", "target phase", "merge"};
    for (int p = 0; p < 3; p++) {
        if ((p == 0 && !*j->aux_array) || (p == 1 && !*j->target_array)) continue;
        char **argv;
        if (m2pt_slurm_argv(j, script, (m2pt_phase)p, after, &argv)) {
            fprintf(stderr, "m2pt slurm: out of memory\n");
            return 1;
        }
        int rc = submit(argv, ids[p], sizeof ids[p]);
        m2pt_slurm_argv_free(argv);
        if (rc) {
            fprintf(stderr, "m2pt slurm: sbatch refused the %s%s%s%s%s (see its message above)\n", what[p],
                    ids[0][0] || ids[1][0] ? "; already submitted: " : "", ids[0], ids[0][0] && ids[1][0] ? " " : "",
                    ids[1]);
            return 1;
        }
        printf("m2pt slurm: submitted the %s: job %s%s%s%s\n", what[p], ids[p], p < 2 ? " (tasks " : "",
               p == 0 ? j->aux_array : p == 1 ? j->target_array : "", p < 2 ? ")" : "");
        after = ids[p];
    }
    printf("m2pt slurm: job ids:%s%s%s%s%s%s\n", ids[0][0] ? " " : "", ids[0], ids[1][0] ? " " : "", ids[1], " ",
           ids[2]);
    return 0;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    return bad || chmod(path, 0755) ? -1 : 0;
}

int cmd_slurm(int argc, char **argv) {
    slurm_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    m2pt_oracle_state *os = m2pt_oracle_new();
    if (!os) {
        fprintf(stderr, "m2pt slurm: out of memory\n");
        return 1;
    }
    m2pt_plugin_oracle oracle = m2pt_oracle(os);
    m2pt_experiment exp;
    char err[2048];
    rc = m2pt_experiment_load(&exp, o.file, o.sets, o.nsets, &oracle, o.large, err, sizeof err);
    m2pt_oracle_free(os);
    if (rc) {
        fprintf(stderr, "m2pt slurm: %s\n", err);
        return 2;
    }
    int n = (int)o.shards;
    if (n > exp.ncells) n = exp.ncells > 0 ? exp.ncells : 1;
    size_t cells = (size_t)(exp.ncells > 0 ? exp.ncells : 1);
    int *shard_of = calloc(cells, sizeof *shard_of);
    double *cost = calloc(cells, sizeof *cost), *share = calloc((size_t)n, sizeof *share);
    char dirbuf[PATH_MAX], script[PATH_MAX + 64], workdir[PATH_MAX], self[PATH_MAX];
    m2pt_strbuf auxs, tgts, text;
    m2pt_sb_init(&auxs), m2pt_sb_init(&tgts), m2pt_sb_init(&text);
    rc = 0;
    if (!shard_of || !cost || !share) rc = 1, fprintf(stderr, "m2pt slurm: out of memory\n");
    if (!rc && m2pt_cell_costs(&exp, cost, err, sizeof err))
        rc = 2, fprintf(stderr, "m2pt slurm: %s: %s\n", o.file, err);
    if (!rc && m2pt_shard_assign(&exp, cost, n, shard_of)) rc = 1, fprintf(stderr, "m2pt slurm: out of memory\n");
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!rc && (sl <= 0 || !getcwd(workdir, sizeof workdir)))
        rc = 1, fprintf(stderr, "m2pt slurm: cannot tell where m2pt or the working directory is: %s\n", strerror(errno));
    if (!rc) {
        self[sl] = '\0';
        if (!o.dir) snprintf(dirbuf, sizeof dirbuf, "results/slurm/%s", exp.name), o.dir = dirbuf;
        snprintf(script, sizeof script, "%s/%s.sbatch", o.dir, exp.name);
        double total = 0;
        for (int i = 0; i < exp.ncells; i++) total += cost[i], share[shard_of[i] - 1] += cost[i];
        for (int k = 0; k < n; k++) share[k] = total > 0 ? 100 * share[k] / total : 0;
    }
    m2pt_slurm_job j = {.name = exp.name, .exp_file = o.file, .sets = o.sets, .nsets = o.nsets,
                        .allow_large = o.large, .m2pt = self, .workdir = workdir, .dir = o.dir, .cache = o.cache,
                        .db = o.db, .partition = o.partition, .time = o.time, .mem = o.mem, .shards = n,
                        .cpus = (int)o.cpus, .parallelism = (int)o.parallelism, .ntargets = exp.ntargets,
                        .naux = exp.naux, .share = share};
    if (!rc) {
        int t1 = tasks_of(&exp, shard_of, n, M2PT_ROLE_AUXILIARY, o.dir, &j.aux_tasks, &auxs);
        int t2 = t1 ? t1 : tasks_of(&exp, shard_of, n, M2PT_ROLE_TARGET, o.dir, &j.target_tasks, &tgts);
        if (t1 == -1 || t2 == -1) rc = 1, fprintf(stderr, "m2pt slurm: out of memory\n");
        else if (t1 || t2) rc = 2;
    }
    if (!rc) {
        j.aux_array = auxs.buf ? auxs.buf : "", j.target_array = tgts.buf ? tgts.buf : "";
        if (make_dirs(o.dir)) rc = 2, fprintf(stderr, "m2pt slurm: cannot create %s: %s\n", o.dir, strerror(errno));
    }
    if (!rc && m2pt_slurm_script(&j, script, &text)) rc = 1, fprintf(stderr, "m2pt slurm: out of memory\n");
    if (!rc && write_file(script, text.buf))
        rc = 2, fprintf(stderr, "m2pt slurm: cannot write %s: %s\n", script, strerror(errno));
    if (!rc) {
        fputs(text.buf, stdout);
        printf("\nm2pt slurm: wrote %s (%d shards; auxiliary tasks to run: %s; target tasks to run: %s)\n", script, n,
               *j.aux_array ? j.aux_array : "none", *j.target_array ? j.target_array : "none");
        if (o.submit) rc = submit_all(&j, script);
    }
    m2pt_sb_free(&auxs), m2pt_sb_free(&tgts), m2pt_sb_free(&text);
    free(shard_of), free(cost), free(share);
    m2pt_experiment_free(&exp);
    return rc;
}
