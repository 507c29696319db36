/* ABI 1.1 reconstruction target (masked-autoencoder pretraining, as Point-MAE): the target of
 * group token 1 + g is the group's k = neighbours points relative to its centre, exactly as the
 * mini-PointNet saw them in the last tokenize (group.c's `local`: (point - centre) divided by
 * the neighbourhood radius 2 sqrt(k / N), nearest first), scored with the Chamfer distance
 * (target_floats = 3k). The decoder is told where each group is: pos = the group's centre
 * (x, y, z, the input of the position MLP), as Point-MAE gives its decoder the centres'
 * position embedding. The class token (token 0) is the one prefix token; the head's tensors
 * are "point.norm." and "point.head." (head.c). */
#include "point.h"

#include <string.h>

int point_recon_spec(void *inst, m2pt_recon_spec *spec) {
    point_inst *m = inst;
    if (!m->set_up) {
        m->host->fail(m->ctx, "recon_spec called before setup");
        return -1;
    }
    memset(spec, 0, sizeof *spec);
    spec->loss = M2PT_RECON_CHAMFER;
    spec->prefix_tokens = 1;
    spec->target_floats = 3 * m->neighbours;
    spec->classes = 0;
    spec->pos_floats = 3;
    spec->head_prefixes = "point.norm.,point.head.";
    return 0;
}

void point_recon_target(void *inst, int n, float *target, float *weight, float *pos) {
    point_inst *m = inst;
    if (point_bad_n(m, "recon_target", n, m->tok_n < 0 ? -2 : m->tok_n) || n == 0) return;
    const size_t groups = (size_t)n * (size_t)m->groups;
    memcpy(target, m->local, groups * (size_t)m->neighbours * 3 * sizeof(float));
    for (size_t g = 0; g < groups; g++) weight[g] = 1.0f;
    if (pos) memcpy(pos, m->centres, groups * 3 * sizeof(float));
}
