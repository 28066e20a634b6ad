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
uint64_t rng_next(rng *r);
double rng_unif(rng *r);                 /* [0, 1) */
int rng_int(rng *r, int lo, int hi);     /* [lo, hi] */
double rng_range(rng *r, double lo, double hi);
int rng_chance(rng *r, double p);
double rng_normal(rng *r);

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

void ink_begin(canvas *c);
/* 1 when something was drawn, with the tight box [x0, x1) x [y0, y1). */
int ink_box(const canvas *c, int *x0, int *y0, int *x1, int *y1);

void fill_rect(canvas *c, int x0, int y0, int x1, int y1, rgb col);
void draw_line(canvas *c, double x0, double y0, double x1, double y1, double thick, rgb col);
void fill_circle(canvas *c, double cx, double cy, double rad, rgb col);
void stroke_rect(canvas *c, int x0, int y0, int x1, int y1, int thick, rgb col);

/* A font chosen for a page: face index and pixel size. */
typedef struct font {
    int face; /* index into the loaded faces, -1 none */
    int px;
} font;

/* Per-thread generator state. */
struct dl_synth;
/* Pick a face of a kind and style (falls back to regular, then any kind). `family` picks among
 * the families of that kind (taken modulo their number). */
int font_face(const struct dl_synth *g, int kind, int family, int style);
int font_num_families(const struct dl_synth *g, int kind);
int text_width(struct dl_synth *g, font f, const char *s);
int font_ascent(struct dl_synth *g, font f);
int font_descent(struct dl_synth *g, font f); /* positive */
int font_has(struct dl_synth *g, font f, uint32_t cp);
/* Draw at a baseline; returns the advance in pixels. */
int draw_text(struct dl_synth *g, canvas *c, font f, int x, int baseline, const char *s, rgb col);

const dl_synth_options *synth_options(const struct dl_synth *g);

/* ---- words ---- */
const char *word_any(struct dl_synth *g, rng *r);

#endif
