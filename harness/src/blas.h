/* Choosing OpenBLAS's kernels. Debian 12's OpenBLAS 0.3.21 picks its kernels by CPU model when
 * it loads; on CPUs newer than that release (e.g. Sapphire/Emerald Rapids) it falls back to
 * the SSE3 "Prescott" kernels, which run this project's GEMMs 1.5-4x slower. OpenBLAS reads
 * OPENBLAS_CORETYPE only while loading, so the fix must happen before main's real work: when
 * the variable is unset, the detected kernel is Prescott and the CPU has AVX-512 (or AVX2),
 * set it to SkylakeX (or Haswell) and re-execute the program once. An explicit
 * OPENBLAS_CORETYPE, or M2PT_BLAS_KEEP=1, is always respected. */
#ifndef M2PT_BLAS_H
#define M2PT_BLAS_H

/* Call first thing in main. Returns only when no re-execution is needed (or it failed). */
void m2pt_blas_select_kernel(char **argv);
/* OpenBLAS's name for the kernel in use, e.g. "SkylakeX". */
const char *m2pt_blas_kernel(void);

#endif
