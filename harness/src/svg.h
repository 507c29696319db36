/* SVG charts written by m2pt itself (no plotting dependency): line charts with bands, side by
 * side panels that share their axes, and horizontal bar charts with intervals. Output is plain
 * SVG 1.1 text, self-contained (no scripts, no external fonts or images), deterministic for
 * the same input (fixed layout, fixed number formats), and well-formed XML: every text is
 * escaped, invalid UTF-8 bytes become '?' and control characters spaces. Used by
 * `m2pt report` (docs/report.md). */
#ifndef M2PT_SVG_H
#define M2PT_SVG_H

#include "json.h"

typedef struct {
    const char *label;      /* legend text, or NULL */
    const char *tooltip;    /* longer text for the legend's <title>, or NULL */
    const char *color;      /* "#rrggbb" */
    int dashed;
    int n;
    const double *x, *y;    /* y NaN: a gap in the line */
    const double *lo, *hi;  /* a band (NULL: none); NaN at a point: no band there */
} m2pt_svg_series;

typedef struct {
    const char *title; /* above the panel, or NULL */
    const m2pt_svg_series *series;
    int nseries;
} m2pt_svg_panel;

typedef struct {
    const char *title;  /* the figure's title */
    const char *xlabel, *ylabel;
    const m2pt_svg_panel *panels; /* side by side; every panel has the same axes */
    int npanels;
    int integer_x;      /* x ticks at integers only (epochs) */
    const char *note;   /* a line under the legend, or NULL */
} m2pt_svg_lines;

/* Appends the chart (an <svg> element with an XML declaration before it when xml_decl). The
 * legend lists the labelled series of the first panel. 0, or -1 when the buffer failed or
 * the input is unusable (no panel, NULL arrays). */
int m2pt_svg_line_chart(m2pt_strbuf *b, const m2pt_svg_lines *c, int xml_decl);

typedef struct {
    const char *label;   /* at the left of the bar */
    const char *tooltip; /* <title> of the row, or NULL */
    double value;        /* NaN: no bar (the note says why) */
    double lo, hi;       /* interval; NaN: none */
    const char *note;    /* at the right, e.g. "+0.42 [-0.31, +1.15]" */
} m2pt_svg_bar;

typedef struct {
    const char *title, *xlabel;
    const m2pt_svg_bar *bars;
    int nbars;
} m2pt_svg_bars;

/* Horizontal bars from 0 with interval whiskers, a line at 0. 0 or -1. */
int m2pt_svg_bar_chart(m2pt_strbuf *b, const m2pt_svg_bars *c, int xml_decl);

/* Appends s escaped for XML text and attribute values (& < > " '), invalid UTF-8 as '?',
 * control characters other than newline and tab as spaces. */
int m2pt_xml_escape(m2pt_strbuf *b, const char *s);

/* The i-th colour of a qualitative palette (colour-blind friendly; cycles after 8). */
const char *m2pt_svg_color(int i);
/* The i-th of n shades of one hue, light to dark (blocks of a λ chart). */
void m2pt_svg_shade(int i, int n, char out[8]);

/* "Nice" axis ticks covering [lo, hi]: first tick, step and count (at most 12). Returns the
 * number of decimals that print the step exactly. */
int m2pt_svg_ticks(double lo, double hi, int target, double *first, double *step, int *count);

#endif
