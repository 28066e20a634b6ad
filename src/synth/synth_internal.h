/* Internals of the generator: random numbers, the canvas with ink tracking, fonts and text. */
#ifndef DL_SYNTH_INTERNAL_H
#define DL_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "synth/synth.h"

/* ---- random numbers (splitmix64) ---- */
typedef struct rng {
    uint64_t s;
} rng;
uint64_t dl_synth_rng_next(rng *r);
double dl_synth_rng_unif(rng *r);             /* [0, 1) */
int dl_synth_rng_int(rng *r, int lo, int hi); /* [lo, hi] */
double dl_synth_rng_range(rng *r, double lo, double hi);
int dl_synth_rng_chance(rng *r, double p);
double dl_synth_rng_normal(rng *r);

/* ---- fonts ---- */
enum { FONT_SERIF, FONT_SANS, FONT_MONO, FONT_NUM_KINDS };
enum { STYLE_REGULAR, STYLE_BOLD, STYLE_ITALIC, STYLE_NUM };

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

/* ---- canvas with ink tracking ---- */
typedef struct canvas {
    int w, h;
    uint8_t *px;
    rgb paper;
    int ink_x0, ink_y0, ink_x1, ink_y1; /* union of what was drawn since ink_begin */
} canvas;

void dl_synth_ink_begin(canvas *c);
/* 1 when something was drawn, with the tight box [x0, x1) x [y0, y1). */
int dl_synth_ink_box(const canvas *c, int *x0, int *y0, int *x1, int *y1);

void dl_synth_fill_rect(canvas *c, int x0, int y0, int x1, int y1, rgb col);
void dl_synth_draw_line(canvas *c, double x0, double y0, double x1, double y1, double thick,
                        rgb col);
void dl_synth_fill_circle(canvas *c, double cx, double cy, double rad, rgb col);
void dl_synth_stroke_rect(canvas *c, int x0, int y0, int x1, int y1, int thick, rgb col);

/* A font chosen for a page: face index and pixel size. */
typedef struct font {
    int face; /* index into the loaded faces, -1 none */
    int px;
} font;

/* Per-thread generator state. */
struct dl_synth;
/* Pick a face of a kind and style (falls back to regular, then any kind). `family` picks among
 * the families of that kind (taken modulo their number). */
int dl_synth_font_face(const struct dl_synth *g, int kind, int family, int style);
int dl_synth_font_num_families(const struct dl_synth *g, int kind);
int dl_synth_text_width(struct dl_synth *g, font f, const char *s);
int dl_synth_font_ascent(struct dl_synth *g, font f);
int dl_synth_font_descent(struct dl_synth *g, font f); /* positive */
int dl_synth_font_has(struct dl_synth *g, font f, uint32_t cp);
/* Draw at a baseline; returns the advance in pixels. */
int dl_synth_draw_text(struct dl_synth *g, canvas *c, font f, int x, int baseline, const char *s,
                       rgb col);

const dl_synth_options *dl_synth_get_options(const struct dl_synth *g);

/* ---- words ---- */
const char *dl_synth_word_any(struct dl_synth *g, rng *r);

#endif
