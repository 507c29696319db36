#include "blas.h"

#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

char *openblas_get_corename(void); /* OpenBLAS extension, not in every cblas.h */

const char *m2pt_blas_kernel(void) {
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
}

void m2pt_blas_select_kernel(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("M2PT_BLAS_KEEP")) return;
    if (strcasecmp(m2pt_blas_kernel(), "prescott") != 0) return;
    __builtin_cpu_init();
    const char *core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                         : NULL;
    if (!core) return;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || setenv("OPENBLAS_CORETYPE", core, 1)) return;
    self[n] = '\0'; /* exec the real path, so the process keeps its name (not "exe") */
    execv(self, argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the kernel we have */
}
