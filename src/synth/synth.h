/* The synthetic document generator: page images with exact layout ground truth for Docling's
 * 17 labels (heron's ids: 0 Caption ... 16 Key-Value Region), deterministic from a seed.
 *
 * Depends only on FreeType, zlib (PNG output), libm and the C library, so that it can be built
 * statically and carried to machines without our packages (docs/synthetic-data.md). */
#ifndef DL_SYNTH_SYNTH_H
#define DL_SYNTH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "postprocess/labels.h" /* the label ids (DL_LABEL_*), header-only */

/* Label names as in heron's id2label / dl_docling_label_name(). */
const char *dl_synth_label_name(int label);

typedef struct dl_synth_options {
    int dpi;           /* page resolution; 72 (Docling's page images) by default */
    double degrade;    /* probability that a page gets scan degradation (0 .. 1) */
    const char *fonts; /* directory of the font files (then only it is used); NULL: system */
    const char *words; /* word list (one word a line); NULL: /usr/share/dict/words */
} dl_synth_options;

dl_synth_options dl_synth_default_options(void);

/* Shared, read-only resources (font files in memory, the word list). Thread-safe to share. */
typedef struct dl_synth_resources dl_synth_resources;
/* NULL on failure, with a message in err. */
dl_synth_resources *dl_synth_resources_load(const dl_synth_options *opt, char *err, size_t n);
void dl_synth_resources_free(dl_synth_resources *r);
int dl_synth_num_fonts(const dl_synth_resources *r);
/* How many font files the generator uses (all of them, always: see synth_core.c). */
int dl_synth_num_font_files(void);

/* A per-thread generator (FreeType faces and glyph caches). */
typedef struct dl_synth dl_synth;
dl_synth *dl_synth_create(const dl_synth_resources *r, char *err, size_t n);
void dl_synth_free(dl_synth *g);

typedef struct dl_synth_box {
    int label;
    double x, y, w, h; /* COCO [x, y, w, h] in pixels, top-left origin */
} dl_synth_box;

typedef struct dl_synth_page {
    int width, height;
    uint8_t *rgb; /* width * height * 3 */
    dl_synth_box *boxes;
    int num_boxes;
    char kind[16]; /* layout kind: article, report, form, toc, slide, ... */
} dl_synth_page;

/* Generate one page; the same seed gives the same page (on the same fonts and word list).
 * Returns 0, or -1 when out of memory. Free with dl_synth_page_free. */
int dl_synth_generate(dl_synth *g, uint64_t seed, dl_synth_page *page);
void dl_synth_page_free(dl_synth_page *page);

/* Encode RGB pixels as a PNG (zlib, deterministic). Returns 0 and a malloc'ed buffer. */
int dl_synth_png_encode(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *size);

/* The seed of page `index` of a run started with `seed` (a splitmix64 mix of both). */
uint64_t dl_synth_page_seed(uint64_t seed, uint64_t index);

#endif
