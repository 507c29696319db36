/* m2pt's version and the source revision it was built from. */
#ifndef M2PT_VERSION_H
#define M2PT_VERSION_H

#define M2PT_VERSION "0.1.0"

/* "a1b2c3d" or "a1b2c3d-dirty", from `git describe --always --dirty` at build time
 * (build/gen/git.h), or "unknown" outside a git checkout. */
const char *m2pt_git_revision(void);

#endif
