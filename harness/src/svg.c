#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FONT "font-family=\"Helvetica, Arial, sans-serif\""
#define CHAR_W 6.4 /* average width of an 11 px sans-serif character, for layout */

/* ================================================================ text */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s) {
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 2 && s[0] < 0xc2) return 0; /* overlong */
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3) {
        unsigned cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff) return 0;
    }
    if (n == 4) {
        unsigned cp = ((unsigned)(s[0] & 0x07) << 18) | ((unsigned)(s[1] & 0x3f) << 12) |
                      ((unsigned)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        if (cp < 0x10000 || cp > 0x10ffff) return 0;
    }
    return n;
}

int m2pt_xml_escape(m2pt_strbuf *b, const char *s) {
    if (!s) return 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            m2pt_sb_puts(b, rep), p++;
            continue;
        }
        if (*p < 0x20 && *p != '\n' && *p != '\t') {
            m2pt_sb_puts(b, " "), p++;
            continue;
        }
        int n = utf8_len(p);
        if (!n) {
            m2pt_sb_puts(b, "?"), p++;
            continue;
        }
        m2pt_sb_append(b, (const char *)p, (size_t)n);
        p += n;
    }
    return b->failed ? -1 : 0;
}

/* Number of characters (code points) of a UTF-8 string. */
static int text_chars(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) n += (*p & 0xc0) != 0x80;
    return n;
}

/* At most max characters of s, with "…" replacing the rest. */
static void put_clipped(m2pt_strbuf *b, const char *s, int max) {
    if (!s) return;
    if (text_chars(s) <= max) {
        m2pt_xml_escape(b, s);
        return;
    }
    char buf[1024];
    int chars = 0;
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (p[i] && i + 4 < sizeof buf) {
        if ((p[i] & 0xc0) != 0x80 && ++chars > max - 1) break;
        buf[i] = (char)p[i];
        i++;
    }
    buf[i] = '\0';
    m2pt_xml_escape(b, buf);
    m2pt_sb_puts(b, "\xe2\x80\xa6");
}

static void text_at(m2pt_strbuf *b, double x, double y, const char *anchor, const char *extra, const char *s) {
    m2pt_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\"%s%s%s%s>", x, y, anchor ? " text-anchor=\"" : "",
                   anchor ? anchor : "", anchor ? "\"" : "", extra ? extra : "");
    m2pt_xml_escape(b, s);
    m2pt_sb_puts(b, "</text>\n");
}

/* ================================================================ colours and ticks */

const char *m2pt_svg_color(int i) {
    /* Okabe-Ito without the yellow, black first (baselines), plus two of Tol's */
    static const char *const pal[] = {"#000000", "#0072B2", "#D55E00", "#009E73",
                                      "#CC79A7", "#E69F00", "#56B4E9", "#882255"};
    return pal[(i % 8 + 8) % 8];
}

void m2pt_svg_shade(int i, int n, char out[8]) {
    /* from a light to a dark blue, linearly in RGB */
    static const int light[3] = {0x9e, 0xca, 0xe1}, dark[3] = {0x08, 0x30, 0x6b};
    double t = n > 1 ? (double)i / (n - 1) : 1;
    int rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = (int)lround(light[k] + t * (dark[k] - light[k]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0] & 0xff, rgb[1] & 0xff, rgb[2] & 0xff);
}

int m2pt_svg_ticks(double lo, double hi, int target, double *first, double *step, int *count) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi < lo) {
        double t = lo;
        lo = hi, hi = t;
    }
    if (hi - lo <= 1e-12 * (fabs(lo) + fabs(hi)) || hi - lo < 1e-300) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1;
        lo -= pad, hi += pad;
    }
    if (target < 2) target = 2;
    double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), m = raw / mag;
    double mult = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    double s = mult * mag;
    double f = floor(lo / s + 1e-9) * s, l = ceil(hi / s - 1e-9) * s;
    int n = (int)lround((l - f) / s) + 1;
    while (n > 12) { /* a coarser step */
        s *= 2;
        f = floor(lo / s + 1e-9) * s, l = ceil(hi / s - 1e-9) * s;
        n = (int)lround((l - f) / s) + 1;
    }
    *first = f, *step = s, *count = n;
    int dec = (int)-floor(log10(s) + 1e-9);
    if (fabs(s / pow(10, floor(log10(s) + 1e-9)) - 2.5) < 1e-9) dec++;
    return dec > 0 ? dec : 0;
}

/* A tick value: 0 for values that are 0 up to rounding (no "-0.00"). */
static void fmt_tick(char *buf, size_t n, double v, double step, int dec) {
    if (fabs(v) < step * 1e-6) v = 0;
    if (dec > 8) snprintf(buf, n, "%.2g", v);
    else snprintf(buf, n, "%.*f", dec, v + 0.0);
}

/* ================================================================ line charts */

typedef struct {
    double x0, x1, y0, y1;       /* data range of the axes */
    double left, top, pw, ph;    /* geometry of panel 0 */
    double gap;                  /* between panels */
} frame;

static double fx(const frame *f, int panel, double x) {
    return f->left + panel * (f->pw + f->gap) + (x - f->x0) / (f->x1 - f->x0) * f->pw;
}
static double fy(const frame *f, double y) { return f->top + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph; }

static void range_add(double v, double *lo, double *hi) {
    if (!isfinite(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

/* Band: the hi points left to right then the lo points back, one polygon per run of points
 * where both are defined. */
static void draw_band(m2pt_strbuf *b, const frame *f, int p, const m2pt_svg_series *s) {
    int i = 0;
    while (i < s->n) {
        while (i < s->n && !(isfinite(s->lo[i]) && isfinite(s->hi[i]) && isfinite(s->x[i]))) i++;
        int j = i;
        while (j < s->n && isfinite(s->lo[j]) && isfinite(s->hi[j]) && isfinite(s->x[j])) j++;
        if (j - i >= 2) {
            m2pt_sb_printf(b, "<polygon fill=\"%s\" fill-opacity=\"0.13\" stroke=\"none\" points=\"", s->color);
            for (int k = i; k < j; k++) m2pt_sb_printf(b, "%.2f,%.2f ", fx(f, p, s->x[k]), fy(f, s->hi[k]));
            for (int k = j - 1; k >= i; k--)
                m2pt_sb_printf(b, "%.2f,%.2f%s", fx(f, p, s->x[k]), fy(f, s->lo[k]), k > i ? " " : "");
            m2pt_sb_puts(b, "\"/>\n");
        } else if (j - i == 1) { /* one point: a vertical interval */
            m2pt_sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-opacity=\"0.35\" "
                              "stroke-width=\"6\"/>\n",
                           fx(f, p, s->x[i]), fy(f, s->hi[i]), fx(f, p, s->x[i]), fy(f, s->lo[i]), s->color);
        }
        i = j;
    }
}

static void draw_line(m2pt_strbuf *b, const frame *f, int p, const m2pt_svg_series *s) {
    int pen = 0, any = 0;
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            pen = 0;
            continue;
        }
        if (!any)
            m2pt_sb_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s d=\"", s->color,
                           s->dashed ? " stroke-dasharray=\"6,3\"" : "");
        m2pt_sb_printf(b, "%s%c%.2f,%.2f", any ? " " : "", pen ? 'L' : 'M', fx(f, p, s->x[i]), fy(f, s->y[i]));
        pen = any = 1;
    }
    if (any) m2pt_sb_puts(b, "\"/>\n");
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            m2pt_sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.2\" fill=\"%s\"/>\n", fx(f, p, s->x[i]),
                           fy(f, s->y[i]), s->color);
}

static void svg_open(m2pt_strbuf *b, double w, double h, const char *title, int xml_decl) {
    if (xml_decl) m2pt_sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    m2pt_sb_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" " FONT " font-size=\"11\">\n<title>",
                   w, h, w, h);
    m2pt_xml_escape(b, title ? title : "");
    m2pt_sb_printf(b, "</title>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
    if (title) { /* clipped to the width (bold 14 px: about 8 px a character) */
        m2pt_sb_puts(b, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">");
        put_clipped(b, title, (int)((w - 20) / 8.2));
        m2pt_sb_puts(b, "</text>\n");
    }
}

int m2pt_svg_line_chart(m2pt_strbuf *b, const m2pt_svg_lines *c, int xml_decl) {
    if (!c || !c->panels || c->npanels < 1) return -1;
    for (int p = 0; p < c->npanels; p++)
        for (int k = 0; k < c->panels[p].nseries; k++) {
            const m2pt_svg_series *s = &c->panels[p].series[k];
            if (s->n < 0 || (s->n > 0 && (!s->x || !s->y)) || !s->color || (!s->lo) != (!s->hi)) return -1;
        }
    /* data range */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int titles = 0;
    for (int p = 0; p < c->npanels; p++) {
        titles |= c->panels[p].title != NULL;
        for (int k = 0; k < c->panels[p].nseries; k++) {
            const m2pt_svg_series *s = &c->panels[p].series[k];
            for (int i = 0; i < s->n; i++) {
                if (!isfinite(s->x[i])) continue;
                if (isfinite(s->y[i])) range_add(s->x[i], &x0, &x1), range_add(s->y[i], &y0, &y1);
                if (s->lo) range_add(s->lo[i], &y0, &y1), range_add(s->hi[i], &y0, &y1);
            }
        }
    }
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    double yf, ys, xf, xs;
    int yn, xn;
    int ydec = m2pt_svg_ticks(y0, y1, 5, &yf, &ys, &yn);
    int xdec = m2pt_svg_ticks(x0, x1, c->npanels > 1 ? 4 : 8, &xf, &xs, &xn);
    if (c->integer_x && xs < 1) xs = 1, xdec = 0, xf = floor(x0), xn = (int)(floor(x1) - xf) + 1;

    frame f = {.x0 = x0, .x1 = x1, .y0 = yf, .y1 = yf + ys * (yn - 1), .left = 62, .gap = 28};
    f.pw = c->npanels == 1 ? 640 : 190;
    f.ph = c->npanels == 1 ? 260 : 200;
    f.top = titles ? 52 : 36;
    double width = f.left + c->npanels * f.pw + (c->npanels - 1) * f.gap + 20;

    /* legend: the labelled series of panel 0, one or two columns */
    const m2pt_svg_panel *p0 = &c->panels[0];
    int nleg = 0, maxlen = 0;
    for (int k = 0; k < p0->nseries; k++)
        if (p0->series[k].label) nleg++, maxlen = text_chars(p0->series[k].label) > maxlen ? text_chars(p0->series[k].label) : maxlen;
    double colw = 34 + CHAR_W * maxlen;
    int cols = nleg > 3 && 2 * colw < width - 20 ? (3 * colw < width - 20 && nleg > 8 ? 3 : 2) : 1;
    if (cols > 1) colw = (width - 20) / cols;
    int rows = (nleg + cols - 1) / cols;
    double leg_top = f.top + f.ph + 50;
    double height = leg_top + rows * 16 + (c->note ? 18 : 0) + 8;
    int maxchars = (int)((colw - 34) / CHAR_W);

    svg_open(b, width, height, c->title, xml_decl);
    for (int p = 0; p < c->npanels; p++) {
        double L = fx(&f, p, x0), R = fx(&f, p, x1), T = f.top, B = f.top + f.ph;
        if (c->panels[p].title) text_at(b, (L + R) / 2, T - 8, "middle", " font-weight=\"bold\"", c->panels[p].title);
        /* grid and ticks */
        for (int i = 0; i < yn; i++) {
            double v = yf + i * ys, y = fy(&f, v);
            char t[64];
            fmt_tick(t, sizeof t, v, ys, ydec);
            m2pt_sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n", L, y, R, y);
            if (p == 0) text_at(b, L - 5, y + 4, "end", NULL, t);
        }
        for (int i = 0; i < xn; i++) {
            double v = xf + i * xs;
            if (v < x0 - 1e-9 * (fabs(x0) + 1) || v > x1 + 1e-9 * (fabs(x1) + 1)) continue;
            double x = fx(&f, p, v);
            char t[64];
            fmt_tick(t, sizeof t, v, xs, xdec);
            m2pt_sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#eeeeee\"/>\n", x, T, x, B);
            text_at(b, x, B + 15, "middle", NULL, t);
        }
        m2pt_sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#555555\"/>\n",
                       L, T, R - L, B - T);
        if (c->xlabel) text_at(b, (L + R) / 2, B + 32, "middle", NULL, c->xlabel);
        for (int k = 0; k < c->panels[p].nseries; k++)
            if (c->panels[p].series[k].lo) draw_band(b, &f, p, &c->panels[p].series[k]);
        for (int k = 0; k < c->panels[p].nseries; k++) draw_line(b, &f, p, &c->panels[p].series[k]);
    }
    if (c->ylabel) {
        m2pt_sb_printf(b, "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">",
                       f.top + f.ph / 2, f.top + f.ph / 2);
        m2pt_xml_escape(b, c->ylabel);
        m2pt_sb_puts(b, "</text>\n");
    }
    for (int k = 0, i = 0; k < p0->nseries; k++) {
        const m2pt_svg_series *s = &p0->series[k];
        if (!s->label) continue;
        double x = 10 + (i / rows) * colw, y = leg_top + (i % rows) * 16;
        i++;
        m2pt_sb_puts(b, "<g>");
        if (s->tooltip) m2pt_sb_puts(b, "<title>"), m2pt_xml_escape(b, s->tooltip), m2pt_sb_puts(b, "</title>");
        m2pt_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>", x,
                       y - 4, x + 24, y - 4, s->color, s->dashed ? " stroke-dasharray=\"6,3\"" : "");
        m2pt_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", x + 30, y);
        put_clipped(b, s->label, maxchars);
        m2pt_sb_puts(b, "</text></g>\n");
    }
    if (c->note) text_at(b, 10, leg_top + rows * 16 + 10, NULL, " fill=\"#555555\"", c->note);
    m2pt_sb_puts(b, "</svg>\n");
    return b->failed ? -1 : 0;
}

/* ================================================================ bar charts */

int m2pt_svg_bar_chart(m2pt_strbuf *b, const m2pt_svg_bars *c, int xml_decl) {
    if (!c || c->nbars < 0 || (c->nbars && !c->bars)) return -1;
    int lmax = 1, nmax = 0;
    double lo = 0, hi = 0;
    for (int i = 0; i < c->nbars; i++) {
        const m2pt_svg_bar *r = &c->bars[i];
        int l = text_chars(r->label), n = text_chars(r->note);
        lmax = l > lmax ? l : lmax, nmax = n > nmax ? n : nmax;
        range_add(r->value, &lo, &hi), range_add(r->lo, &lo, &hi), range_add(r->hi, &lo, &hi);
    }
    double lw = 14 + CHAR_W * lmax;
    if (lw > 380) lw = 380;
    if (lw < 60) lw = 60;
    double nw = 16 + CHAR_W * nmax;
    if (nw > 280) nw = 280;
    double pw = 360, left = lw, top = c->title ? 36 : 12, row = 22;
    double width = left + pw + nw + 10, height = top + c->nbars * row + 44;
    double xf, xs;
    int xn, dec = m2pt_svg_ticks(lo, hi, 6, &xf, &xs, &xn);
    double x0 = xf, x1 = xf + xs * (xn - 1);
#define BX(v) (left + ((v) - x0) / (x1 - x0) * pw)
    double T = top, B = top + c->nbars * row;
    svg_open(b, width, height, c->title, xml_decl);
    for (int i = 0; i < xn; i++) {
        double v = xf + i * xs;
        char t[64];
        fmt_tick(t, sizeof t, v, xs, dec);
        m2pt_sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e4e4e4\"/>\n", BX(v), T, BX(v), B);
        text_at(b, BX(v), B + 15, "middle", NULL, t);
    }
    int maxchars = (int)((lw - 14) / CHAR_W);
    for (int i = 0; i < c->nbars; i++) {
        const m2pt_svg_bar *r = &c->bars[i];
        double yc = T + i * row + row / 2;
        m2pt_sb_puts(b, "<g>");
        if (r->tooltip) m2pt_sb_puts(b, "<title>"), m2pt_xml_escape(b, r->tooltip), m2pt_sb_puts(b, "</title>");
        m2pt_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 8, yc + 4);
        put_clipped(b, r->label, maxchars);
        m2pt_sb_puts(b, "</text>");
        if (isfinite(r->value)) {
            double a = BX(0.0), z = BX(r->value);
            m2pt_sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"12\" fill=\"%s\"/>", a < z ? a : z,
                           yc - 6, fabs(z - a), r->value < 0 ? "#D55E00" : "#0072B2");
        }
        if (isfinite(r->lo) && isfinite(r->hi)) {
            double l = BX(r->lo), h = BX(r->hi);
            m2pt_sb_printf(b,
                           "<path fill=\"none\" stroke=\"#222222\" stroke-width=\"1.4\" d=\"M%.2f,%.2f L%.2f,%.2f "
                           "M%.2f,%.2f L%.2f,%.2f M%.2f,%.2f L%.2f,%.2f\"/>",
                           l, yc, h, yc, l, yc - 5, l, yc + 5, h, yc - 5, h, yc + 5);
        }
        if (r->note) {
            m2pt_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", left + pw + 8, yc + 4);
            m2pt_xml_escape(b, r->note);
            m2pt_sb_puts(b, "</text>");
        }
        m2pt_sb_puts(b, "</g>\n");
    }
    m2pt_sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\" stroke-width=\"1.2\"/>\n",
                   BX(0.0), T - 4, BX(0.0), B + 4);
    m2pt_sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#555555\"/>\n", left,
                   T, pw, B - T);
    if (c->xlabel) text_at(b, left + pw / 2, B + 32, "middle", NULL, c->xlabel);
#undef BX
    m2pt_sb_puts(b, "</svg>\n");
    return b->failed ? -1 : 0;
}
