/* m2pt plugins [--check FILE.so [--set key=value]...]: list the plugins found, or run the
 * conformance suite on one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conformance.h"
#include "loader.h"

static void usage(FILE *f) {
    fprintf(f, "usage: m2pt plugins                       list plugins found (name, kind, version, the ABI\n"
               "                                          they were built for, masked-autoencoder support, file)\n"
               "       m2pt plugins --check FILE.so [--set key=value]...\n"
               "                                          run the conformance suite on one plugin\n"
               "Search order: M2PT_PLUGIN_PATH (colon-separated directories), the build tree\n"
               "(<dir of m2pt>/plugins), then the install prefix (<prefix>/lib/m2pt/plugins).\n"
               "Exit codes: 0 ok, 1 a check failed, 2 bad usage or a plugin that cannot be loaded.\n");
}

static int list(void) {
    char *exe = m2pt_exe_dir();
    char *dirs[16];
    int nd = m2pt_plugin_dirs(exe, dirs, 16);
    printf("search path:");
    for (int i = 0; i < nd; i++) printf(" %s", dirs[i]), free(dirs[i]);
    printf("\n");
    m2pt_plugin_set set = {0};
    m2pt_plugins_discover(&set, exe);
    free(exe);
    /* ABI: the major.minor the plugin was built for. MAE: can the modality be pretrained with
     * `objective: mae` (ABI 1.1's recon_spec and recon_target present); "-" for pathways. */
    printf("%-12s %-9s %-9s %-5s %-4s %s\n", "NAME", "KIND", "VERSION", "ABI", "MAE", "FILE");
    for (int i = 0; i < set.n; i++) {
        const m2pt_plugin *d = set.p[i].desc;
        const int modality = d->kind == M2PT_KIND_MODALITY;
        char abi[24];
        snprintf(abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
        printf("%-12s %-9s %-9s %-5s %-4s %s\n", d->name, modality ? "modality" : "pathway", d->version, abi,
               !modality ? "-" : m2pt_modality_can_mae(d->modality) ? "yes" : "no", set.p[i].path);
    }
    if (!set.n) printf("(none found)\n");
    for (int i = 0; i < set.nproblems; i++) fprintf(stderr, "m2pt plugins: %s\n", set.problems[i]);
    int rc = set.nproblems ? 1 : 0;
    m2pt_plugin_set_free(&set);
    return rc;
}

int cmd_plugins(int argc, char **argv) {
    const char *check = NULL;
    m2pt_kv cfg = {0};
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            m2pt_kv_free(&cfg);
            return 0;
        } else if (!strcmp(a, "--check") && v) {
            check = v, i++;
        } else if (!strcmp(a, "--set") && v) {
            if (m2pt_kv_set_pair(&cfg, v, "--set")) {
                fprintf(stderr, "m2pt plugins: --set '%s' is not key=value\n", v);
                rc = 2;
            }
            i++;
        } else {
            fprintf(stderr, "m2pt plugins: unknown or incomplete option '%s' (see 'm2pt plugins --help')\n", a);
            rc = 2;
        }
    }
    if (!rc && !check && cfg.n) {
        fprintf(stderr, "m2pt plugins: --set needs --check FILE.so\n");
        rc = 2;
    }
    if (!rc && !check) rc = list();
    if (!rc && check) {
        if (cli_threads("plugins", 0)) {
            m2pt_kv_free(&cfg);
            return 2;
        }
        m2pt_loaded pl;
        char err[1024];
        if (m2pt_plugin_load(check, &pl, err, sizeof err)) {
            fprintf(stderr, "m2pt plugins: %s\n", err);
            rc = 2;
        } else {
            rc = m2pt_conformance(&pl, &cfg) ? 1 : 0;
            m2pt_plugin_unload(&pl);
        }
    }
    m2pt_kv_free(&cfg);
    return rc;
}
