/* One generated clip: draw the scene of (seed, split, index) from its own random stream and
 * render it. The label is index % 10, so every prefix of a split is class-balanced; splits use
 * disjoint streams, so they never share a clip. A clip is: a static background (level,
 * gradient, gratings), the labelled sprite doing its class's motion, maybe a smaller
 * distractor sprite drifting anywhere, maybe a static occluding bar, and pixel noise.
 * Nuisances that blur the classes on purpose: every sprite drifts, turns and breathes a
 * little, translation can be slow, a bounce starts as a translation, a rotation (about a pivot
 * off the sprite's centre) also displaces it, a blink can be dim. */
#include "video.h"

#include <math.h>
#include <string.h>

#define PI_F 3.14159265f
#define DEG (PI_F / 180.0f)
#define SHAPES 8
#define STREAM_TAG 0x7669640000000000ull /* "vid" in the top bytes; split and index below */

typedef struct {
    int shape;
    float level;                     /* intensity inside the sprite */
    float x[VID_MAX_FRAMES], y[VID_MAX_FRAMES], ang[VID_MAX_FRAMES], scale[VID_MAX_FRAMES];
    float vis[VID_MAX_FRAMES];       /* 0..1: blend weight of the sprite in each frame */
} sprite;

typedef struct {
    float base, gx, gy;              /* level and gradient (per pixel) */
    float amp[2], kx[2], ky[2], ph[2]; /* two gratings */
    int occ;                         /* 0 none, 1 horizontal bar, 2 vertical bar */
    float occ_lo, occ_hi, occ_level;
} scene;

typedef struct {
    const m2pt_host *h;
    m2pt_rng_state r;
} draw;

static float uni(draw *d, float a, float b) { return a + (b - a) * d->h->rng_uniform(&d->r); }
static int below(draw *d, int n) { return (int)(d->h->rng_u64(&d->r) % (uint64_t)n); }
/* +1 (brighter than the background) with probability 0.8, else -1. Mostly bright sprites give
 * a first, linear handle on the motion (a polarity that is a coin flip hides it from any linear
 * filter) and measurably shorten the initial plateau of training. */
static float polarity(draw *d) { return d->h->rng_uniform(&d->r) < 0.8f ? 1.0f : -1.0f; }

/* ------------------------------------------------------------------------ shapes */

static float box(float x, float y, float hx, float hy) { return fmaxf(fabsf(x) - hx, fabsf(y) - hy); }

/* Approximate signed distance (negative inside) in units of the sprite's half extent. The most
 * symmetric shape (the triangle) repeats every 120 degrees, far more than a clip turns per
 * frame, so the direction of a rotation stays visible. */
static float shape_dist(int shape, float x, float y) {
    switch (shape) {
    case 0: return fmaxf(box(x, y, 0.8f, 0.8f), -box(x - 0.8f, y - 0.8f, 0.5f, 0.5f)); /* notched square */
    case 1: {                              /* triangle, circumradius 1, apex up */
        const float a = -0.5f * y, b = 0.8660254f * x;
        return fmaxf(y, fmaxf(a + b, a - b)) - 0.5f;
    }
    case 2: return box(x, y, 1.0f, 0.35f); /* bar */
    case 3: {                              /* ellipse, axes 1 and 0.5 */
        const float q = sqrtf(x * x + 4.0f * y * y), g = sqrtf(x * x + 16.0f * y * y);
        return g > 1e-6f ? (q - 1.0f) * q / g : -0.5f;
    }
    case 4: return fmaxf(sqrtf(x * x + y * y) - 0.9f, -y - 0.1f); /* half disc */
    case 5: {                                                            /* ring with a gap ("C") */
        const float ring = fabsf(sqrtf(x * x + y * y) - 0.7f) - 0.28f;
        return fmaxf(ring, -fmaxf(-x, fabsf(y) - 0.3f));
    }
    case 6: return fminf(box(x + 0.65f, y, 0.35f, 1.0f), box(x, y - 0.65f, 1.0f, 0.35f)); /* L */
    default: return fminf(box(x, y + 0.7f, 1.0f, 0.3f), box(x, y, 0.3f, 1.0f));          /* T */
    }
}

/* ------------------------------------------------------------------------ motions */

/* Pixel offsets of the sprite's centre per frame for the class, relative to a centre placed
 * afterwards; also the angle, scale and visibility per frame. rate = speed * size / 32. */
static void motion(draw *d, sprite *s, int label, int F, float rate, float speed, float r0) {
    const float mid = 0.5f * (float)(F - 1);
    float dir = 0, v = 0, om = uni(d, -2.0f, 2.0f) * DEG, zr = uni(d, -0.015f, 0.015f);
    float drift = uni(d, 0.0f, 0.25f) * rate, dd = uni(d, 0, 2 * PI_F);
    float ang0 = uni(d, 0, 2 * PI_F);
    int fb = -1, half = 0, phase = 0;
    float dim = 0, arm = 0, arm_dir = 0;
    switch (label) {
    case VID_LEFT: case VID_RIGHT: case VID_UP: case VID_DOWN: {
        static const float base[4] = {PI_F, 0, -0.5f * PI_F, 0.5f * PI_F}; /* y grows downwards */
        dir = base[label - VID_LEFT] + uni(d, -25.0f, 25.0f) * DEG;
        v = uni(d, 0.4f, 1.4f) * rate;
        drift = 0;
        break;
    }
    case VID_ROT_CW: case VID_ROT_CCW: /* angle grows = clockwise on screen (y down) */
        om = (label == VID_ROT_CW ? 1.0f : -1.0f) * uni(d, 12.0f, 25.0f) * DEG * speed;
        arm = uni(d, 0.3f, 1.2f) * r0; /* rigid rotation about a pivot this far from the centre */
        arm_dir = uni(d, 0, 2 * PI_F);
        break;
    case VID_ZOOM_IN: case VID_ZOOM_OUT:
        zr = (label == VID_ZOOM_IN ? 1.0f : -1.0f) * uni(d, 0.05f, 0.13f) * speed;
        break;
    case VID_BOUNCE: {
        const int lo = F / 2 - 1, hi = (F - 1) / 2 + 1;
        dir = uni(d, 0, 2 * PI_F);
        v = uni(d, 1.0f, 2.0f) * rate;
        fb = hi > lo ? lo + below(d, hi - lo + 1) : F / 2;
        drift = 0;
        break;
    }
    default: { /* VID_BLINK: on/off square wave, the "off" state maybe only dimmed */
        const int hmax = F >= 7 ? 3 : F >= 5 ? 2 : 1;
        half = 1 + below(d, hmax);
        phase = below(d, 2 * half);
        dim = uni(d, 0.0f, 0.35f);
        break;
    }
    }
    for (int f = 0; f < F; f++) {
        const float u = (float)f - mid;
        const float path = fb < 0 ? u : (float)(f <= fb ? f : 2 * fb - f) - mid; /* bounce folds back */
        const float swing = arm_dir + om * u; /* the centre circles the pivot as the sprite turns */
        s->x[f] = cosf(dir) * v * path + cosf(dd) * drift * u + arm * cosf(swing);
        s->y[f] = sinf(dir) * v * path + sinf(dd) * drift * u + arm * sinf(swing);
        s->ang[f] = ang0 + om * u;
        s->scale[f] = r0 * expf(zr * u);
        s->vis[f] = half && ((f + phase) / half) % 2 ? dim : 1.0f;
    }
}

/* Move the offsets to a random centre that keeps the whole path (mostly) inside the frame. */
static void place(draw *d, sprite *s, int F, int S) {
    float lo[2] = {1e9f, 1e9f}, hi[2] = {-1e9f, -1e9f}, big = 0;
    for (int f = 0; f < F; f++) {
        lo[0] = fminf(lo[0], s->x[f]), hi[0] = fmaxf(hi[0], s->x[f]);
        lo[1] = fminf(lo[1], s->y[f]), hi[1] = fmaxf(hi[1], s->y[f]);
        big = fmaxf(big, s->scale[f]);
    }
    const float m = 0.7f * big; /* up to ~30% of the sprite may leave the frame */
    float c[2];
    for (int k = 0; k < 2; k++) {
        const float a = m - lo[k], b = (float)S - m - hi[k];
        c[k] = a < b ? uni(d, a, b) : 0.5f * (a + b);
    }
    for (int f = 0; f < F; f++) s->x[f] += c[0], s->y[f] += c[1];
}

/* A smaller sprite of a random shape drifting in a random direction, unrelated to the label. */
static void distractor(draw *d, sprite *s, int F, int S, float rate, float size) {
    const float mid = 0.5f * (float)(F - 1), r0 = uni(d, 0.08f, 0.14f) * (float)S * size;
    const float dir = uni(d, 0, 2 * PI_F), v = uni(d, 0.0f, 0.9f) * rate, om = uni(d, -6.0f, 6.0f) * DEG;
    const float x0 = uni(d, 0, (float)S), y0 = uni(d, 0, (float)S), a0 = uni(d, 0, 2 * PI_F);
    s->shape = below(d, SHAPES);
    for (int f = 0; f < F; f++) {
        const float u = (float)f - mid;
        s->x[f] = x0 + cosf(dir) * v * u;
        s->y[f] = y0 + sinf(dir) * v * u;
        s->ang[f] = a0 + om * u;
        s->scale[f] = r0;
        s->vis[f] = 1.0f;
    }
}

/* ------------------------------------------------------------------------ rendering */

static void draw_scene(draw *d, scene *sc, int S, float clutter) {
    const float n = (float)S, ga = uni(d, 0, 0.8f) * clutter, gd = uni(d, 0, 2 * PI_F);
    sc->base = uni(d, -0.6f, 0.6f);
    sc->gx = ga * cosf(gd) / n, sc->gy = ga * sinf(gd) / n;
    for (int k = 0; k < 2; k++) {
        const float wl = uni(d, 4.0f, 16.0f) * n / 32.0f, o = uni(d, 0, PI_F);
        sc->amp[k] = uni(d, 0, 0.35f) * clutter;
        sc->kx[k] = 2 * PI_F / wl * cosf(o), sc->ky[k] = 2 * PI_F / wl * sinf(o);
        sc->ph[k] = uni(d, 0, 2 * PI_F);
    }
}

static void draw_occluder(draw *d, scene *sc, int S, double prob) {
    sc->occ = 0;
    if (d->h->rng_uniform(&d->r) >= prob) return;
    const float w = uni(d, 2.0f, 5.0f) * (float)S / 32.0f, at = uni(d, 0, (float)S - w);
    sc->occ = 1 + below(d, 2);
    sc->occ_lo = at, sc->occ_hi = at + w;
    sc->occ_level = uni(d, -1.0f, 1.0f);
}

/* Blend the sprite into one frame [S, S] of floats, within its bounding box only. */
static void paint(const sprite *s, int f, int S, float *img) {
    const float sc = s->scale[f], w = s->vis[f];
    if (w <= 0 || sc <= 0) return;
    const float R = 1.5f * sc + 1.0f, cs = cosf(s->ang[f]), sn = sinf(s->ang[f]), inv = 1.0f / sc;
    const int x0 = (int)fmaxf(0, floorf(s->x[f] - R)), x1 = (int)fminf((float)S, ceilf(s->x[f] + R));
    const int y0 = (int)fmaxf(0, floorf(s->y[f] - R)), y1 = (int)fminf((float)S, ceilf(s->y[f] + R));
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const float dx = (float)x + 0.5f - s->x[f], dy = (float)y + 0.5f - s->y[f];
            const float lx = (cs * dx + sn * dy) * inv, ly = (-sn * dx + cs * dy) * inv;
            /* distance in pixels -> coverage with a one-pixel soft edge */
            const float cov = fminf(1.0f, fmaxf(0.0f, 0.5f - shape_dist(s->shape, lx, ly) * sc));
            float *p = img + (size_t)y * S + x;
            *p += w * cov * (s->level - *p);
        }
}

static uint8_t quantize(float v) {
    const float q = roundf(v * VID_QSCALE + 128.0f);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* Approximately Gaussian N(0, 1): the sum of four 16-bit uniforms, rescaled (one draw per
 * pixel instead of a log, a sqrt and a cos: the whole split is generated this way). */
static float noise1(draw *d) {
    const uint64_t u = d->h->rng_u64(&d->r);
    const float s = (float)(u & 0xffff) + (float)((u >> 16) & 0xffff) + (float)((u >> 32) & 0xffff) +
                    (float)(u >> 48);
    return (s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

static void render(draw *d, const scene *sc, const sprite *sp, int nsp, int F, int S, float noise, uint8_t *out) {
    float img[VID_MAX_SIZE * VID_MAX_SIZE];
    for (int f = 0; f < F; f++) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const float px = (float)x + 0.5f, py = (float)y + 0.5f;
                float v = sc->base + sc->gx * px + sc->gy * py;
                for (int k = 0; k < 2; k++) v += sc->amp[k] * sinf(sc->kx[k] * px + sc->ky[k] * py + sc->ph[k]);
                img[y * S + x] = v;
            }
        for (int i = 0; i < nsp; i++) paint(&sp[i], f, S, img);
        uint8_t *o = out + (size_t)f * S * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const float t = sc->occ == 1 ? (float)y + 0.5f : (float)x + 0.5f;
                float v = img[y * S + x];
                if (sc->occ && t >= sc->occ_lo && t < sc->occ_hi) v = sc->occ_level;
                o[y * S + x] = quantize(v + noise * noise1(d));
            }
    }
}

int clip_generate(const m2pt_host *h, const vid_gen *g, int split, long index, uint8_t *out) {
    draw d = {.h = h};
    h->rng_seed(&d.r, g->seed, STREAM_TAG | (uint64_t)(split + 1) << 40 | (uint64_t)index);
    const int F = g->frames, S = g->size, label = (int)(index % VID_CLASSES);
    const float rate = (float)g->speed * (float)S / 32.0f;
    scene sc;
    sprite sp[2]; /* drawn in order: distractor (if any) below, the labelled sprite on top */
    int nsp = 0;
    draw_scene(&d, &sc, S, (float)g->clutter);
    if (h->rng_uniform(&d.r) < g->distractor) {
        distractor(&d, &sp[0], F, S, rate, (float)g->sprite);
        sp[0].level = sc.base + polarity(&d) * uni(&d, 0.3f, 0.8f);
        nsp = 1;
    }
    sprite *s = &sp[nsp++];
    s->shape = below(&d, SHAPES);
    s->level = sc.base + polarity(&d) * uni(&d, 0.5f, 1.3f);
    const float r0 = uni(&d, 0.13f, 0.22f) * (float)S * (float)g->sprite;
    motion(&d, s, label, F, rate, (float)g->speed, r0);
    place(&d, s, F, S);
    draw_occluder(&d, &sc, S, g->occluder);
    render(&d, &sc, sp, nsp, F, S, (float)g->noise, out);
    return label;
}
