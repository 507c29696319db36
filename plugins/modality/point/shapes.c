/* The 12 shape classes as unions of surface parts (triangles, disks, cone/cylinder sides,
 * spheres and hemispheres, a torus), and uniform sampling on their surfaces.
 *
 * Uniform on the STRETCHED surface: a part is picked in proportion to its area before the
 * stretch and a point drawn uniformly on it; a linear map S = diag(s) scales the area element
 * at a point with unit normal n by det(S) |S^-1 n|, so the point is kept with probability
 * |S^-1 n| min(s) (<= 1) and drawn again otherwise. The accepted points are exactly uniform on
 * the stretched surface (acceptance >= min(s) / max(s)). */
#include "point.h"

#include <math.h>

#define PI_F 3.14159265358979f
#define MAX_PARTS 16

enum { P_TRI, P_DISK, P_SIDE, P_SPHERE, P_TORUS };

/* a[]: P_TRI v0 v1 v2 | P_DISK z r | P_SIDE z0 r0 z1 r1 | P_SPHERE r cz half(0 full, +-1 upper or
 * lower half) | P_TORUS R r */
typedef struct {
    int kind;
    float a[9];
    float area;
} part;

typedef struct {
    part p[MAX_PARTS];
    int n;
    float total;
} surface;

static const char *const names[PT_CLASSES] = {
    "sphere",      "cube",       "cylinder",         "cone",       "torus",         "square pyramid",
    "capsule",     "tetrahedron", "octahedron",      "triangular prism", "hemisphere", "truncated cone"};

const char *shape_name(int label) { return label >= 0 && label < PT_CLASSES ? names[label] : NULL; }

static void add(surface *s, int kind, float area, int na, const float *a) {
    part *p = &s->p[s->n++];
    p->kind = kind;
    p->area = area;
    for (int i = 0; i < na; i++) p->a[i] = a[i];
    s->total += area;
}

static void add_tri(surface *s, const float *v0, const float *v1, const float *v2) {
    const float e1[3] = {v1[0] - v0[0], v1[1] - v0[1], v1[2] - v0[2]};
    const float e2[3] = {v2[0] - v0[0], v2[1] - v0[1], v2[2] - v0[2]};
    const float c[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    const float a[9] = {v0[0], v0[1], v0[2], v1[0], v1[1], v1[2], v2[0], v2[1], v2[2]};
    add(s, P_TRI, 0.5f * sqrtf(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]), 9, a);
}

/* quad v0 v1 v2 v3 in order around its boundary */
static void add_quad(surface *s, const float *v0, const float *v1, const float *v2, const float *v3) {
    add_tri(s, v0, v1, v2);
    add_tri(s, v0, v2, v3);
}

static void add_disk(surface *s, float z, float r) {
    const float a[2] = {z, r};
    add(s, P_DISK, PI_F * r * r, 2, a);
}

static void add_side(surface *s, float z0, float r0, float z1, float r1) {
    const float a[4] = {z0, r0, z1, r1};
    add(s, P_SIDE, PI_F * (r0 + r1) * sqrtf((z1 - z0) * (z1 - z0) + (r1 - r0) * (r1 - r0)), 4, a);
}

static void add_sphere(surface *s, float r, float cz, float half) {
    const float a[3] = {r, cz, half};
    add(s, P_SPHERE, (half != 0.0f ? 2.0f : 4.0f) * PI_F * r * r, 3, a);
}

static float uni(const m2pt_host *h, m2pt_rng_state *r, float lo, float hi) {
    return lo + (hi - lo) * h->rng_uniform(r);
}

static void build_box(surface *s) {
    for (int axis = 0; axis < 3; axis++)
        for (int sign = -1; sign <= 1; sign += 2) {
            const int u = (axis + 1) % 3, v = (axis + 2) % 3;
            float c[4][3];
            const float du[4] = {-1, 1, 1, -1}, dv[4] = {-1, -1, 1, 1};
            for (int k = 0; k < 4; k++) {
                c[k][axis] = (float)sign;
                c[k][u] = du[k];
                c[k][v] = dv[k];
            }
            add_quad(s, c[0], c[1], c[2], c[3]);
        }
}

static void build_pyramid(surface *s) {
    const float apex[3] = {0, 0, 1};
    const float b[4][3] = {{-1, -1, -1}, {1, -1, -1}, {1, 1, -1}, {-1, 1, -1}};
    for (int k = 0; k < 4; k++) add_tri(s, b[k], b[(k + 1) % 4], apex);
    add_quad(s, b[0], b[1], b[2], b[3]);
}

static void build_tetrahedron(surface *s) {
    const float v[4][3] = {{1, 1, 1}, {1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}};
    for (int k = 0; k < 4; k++) add_tri(s, v[k], v[(k + 1) % 4], v[(k + 2) % 4]);
}

static void build_octahedron(surface *s) {
    for (int sx = -1; sx <= 1; sx += 2)
        for (int sy = -1; sy <= 1; sy += 2)
            for (int sz = -1; sz <= 1; sz += 2) {
                const float x[3] = {(float)sx, 0, 0}, y[3] = {0, (float)sy, 0}, z[3] = {0, 0, (float)sz};
                add_tri(s, x, y, z);
            }
}

static void build_prism(surface *s) {
    float lo[3][3], hi[3][3];
    for (int k = 0; k < 3; k++) {
        const float t = PI_F / 2 + (float)k * 2 * PI_F / 3;
        lo[k][0] = hi[k][0] = cosf(t);
        lo[k][1] = hi[k][1] = sinf(t);
        lo[k][2] = -1;
        hi[k][2] = 1;
    }
    add_tri(s, lo[0], lo[1], lo[2]);
    add_tri(s, hi[0], hi[1], hi[2]);
    for (int k = 0; k < 3; k++) add_quad(s, lo[k], lo[(k + 1) % 3], hi[(k + 1) % 3], hi[k]);
}

/* Canonical shapes, roughly in [-1, 1]^3; the per-shape parameters are drawn here. */
static void build(const m2pt_host *h, m2pt_rng_state *r, int label, surface *s) {
    s->n = 0;
    s->total = 0;
    switch (label) {
    case 0: add_sphere(s, 1, 0, 0); break;
    case 1: build_box(s); break;
    case 2: add_side(s, -1, 1, 1, 1), add_disk(s, -1, 1), add_disk(s, 1, 1); break;
    case 3: add_side(s, -1, 1, 1, 0), add_disk(s, -1, 1); break;
    case 4: {
        const float a[2] = {1, uni(h, r, 0.25f, 0.5f)};
        add(s, P_TORUS, 4 * PI_F * PI_F * a[0] * a[1], 2, a);
        break;
    }
    case 5: build_pyramid(s); break;
    case 6: {
        const float half = uni(h, r, 0.4f, 1.2f); /* half length of the cylinder between the caps */
        add_side(s, -half, 1, half, 1), add_sphere(s, 1, half, 1), add_sphere(s, 1, -half, -1);
        break;
    }
    case 7: build_tetrahedron(s); break;
    case 8: build_octahedron(s); break;
    case 9: build_prism(s); break;
    case 10: add_sphere(s, 1, 0, 1), add_disk(s, 0, 1); break;
    default: {
        const float top = uni(h, r, 0.35f, 0.7f); /* top radius; the bottom one is 1 */
        add_side(s, -1, 1, 1, top), add_disk(s, -1, 1), add_disk(s, 1, top);
        break;
    }
    }
}

static void unit_vector(const m2pt_host *h, m2pt_rng_state *r, float *v) {
    for (;;) {
        const float x = (float)h->rng_normal(r), y = (float)h->rng_normal(r), z = (float)h->rng_normal(r);
        const float len = sqrtf(x * x + y * y + z * z);
        if (len > 1e-6f) {
            v[0] = x / len, v[1] = y / len, v[2] = z / len;
            return;
        }
    }
}

/* A point p uniform on part q and its unit normal n (its sign does not matter here). */
static void sample_part(const m2pt_host *h, m2pt_rng_state *r, const part *q, float *p, float *n) {
    const float *a = q->a;
    switch (q->kind) {
    case P_TRI: {
        const float s = sqrtf(h->rng_uniform(r)), t = h->rng_uniform(r);
        const float w0 = 1 - s, w1 = s * (1 - t), w2 = s * t;
        float e1[3], e2[3];
        for (int i = 0; i < 3; i++) {
            p[i] = w0 * a[i] + w1 * a[3 + i] + w2 * a[6 + i];
            e1[i] = a[3 + i] - a[i];
            e2[i] = a[6 + i] - a[i];
        }
        n[0] = e1[1] * e2[2] - e1[2] * e2[1];
        n[1] = e1[2] * e2[0] - e1[0] * e2[2];
        n[2] = e1[0] * e2[1] - e1[1] * e2[0];
        const float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        for (int i = 0; i < 3; i++) n[i] /= len;
        return;
    }
    case P_DISK: {
        const float rho = a[1] * sqrtf(h->rng_uniform(r)), t = 2 * PI_F * h->rng_uniform(r);
        p[0] = rho * cosf(t), p[1] = rho * sinf(t), p[2] = a[0];
        n[0] = 0, n[1] = 0, n[2] = 1;
        return;
    }
    case P_SIDE: { /* the radius has density proportional to itself: rho^2 uniform */
        const float z0 = a[0], r0 = a[1], z1 = a[2], r1 = a[3], t = 2 * PI_F * h->rng_uniform(r);
        const float u = h->rng_uniform(r);
        float f = u; /* fraction of the way from z0 to z1 */
        if (fabsf(r1 - r0) > 1e-6f) f = (sqrtf(r0 * r0 + u * (r1 * r1 - r0 * r0)) - r0) / (r1 - r0);
        const float rho = r0 + f * (r1 - r0), c = cosf(t), sn = sinf(t);
        p[0] = rho * c, p[1] = rho * sn, p[2] = z0 + f * (z1 - z0);
        const float nz = (r0 - r1) / (z1 - z0), len = sqrtf(1 + nz * nz);
        n[0] = c / len, n[1] = sn / len, n[2] = nz / len;
        return;
    }
    case P_SPHERE:
        unit_vector(h, r, n);
        if (a[2] != 0.0f) n[2] = a[2] * fabsf(n[2]);
        p[0] = a[0] * n[0], p[1] = a[0] * n[1], p[2] = a[1] + a[0] * n[2];
        return;
    default: { /* torus: the tube angle has density proportional to R + r cos(phi) */
        const float R = a[0], rt = a[1];
        float phi;
        do phi = 2 * PI_F * h->rng_uniform(r);
        while (h->rng_uniform(r) * (R + rt) > R + rt * cosf(phi));
        const float t = 2 * PI_F * h->rng_uniform(r), ring = R + rt * cosf(phi);
        p[0] = ring * cosf(t), p[1] = ring * sinf(t), p[2] = rt * sinf(phi);
        n[0] = cosf(phi) * cosf(t), n[1] = cosf(phi) * sinf(t), n[2] = sinf(phi);
        return;
    }
    }
}

void shape_sample(const m2pt_host *h, m2pt_rng_state *r, int label, const float stretch[3], int n, float *out) {
    surface s;
    build(h, r, label, &s);
    float smin = stretch[0];
    for (int i = 1; i < 3; i++) smin = stretch[i] < smin ? stretch[i] : smin;
    for (int i = 0; i < n; i++) {
        float p[3], nv[3];
        for (;;) {
            float pick = h->rng_uniform(r) * s.total;
            int k = 0;
            while (k < s.n - 1 && pick >= s.p[k].area) pick -= s.p[k++].area;
            sample_part(h, r, &s.p[k], p, nv);
            const float gx = nv[0] / stretch[0], gy = nv[1] / stretch[1], gz = nv[2] / stretch[2];
            if (h->rng_uniform(r) < sqrtf(gx * gx + gy * gy + gz * gz) * smin) break;
        }
        for (int j = 0; j < 3; j++) out[(size_t)i * 3 + j] = p[j] * stretch[j];
    }
}
