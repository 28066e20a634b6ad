/* Overlay drawing on RGB images: rectangles, a built-in 5x7 bitmap font, and detection boxes.
 * Coordinates may be anything (negative, far outside): everything is clipped to the image. */
#ifndef DL_IMAGE_DRAW_H
#define DL_IMAGE_DRAW_H

#include <stdint.h>

#include "doclayout.h"

/* Each glyph is 5x7 pixels in a 6x8 cell (one column and one row of spacing), times `scale`. */
#define DL_FONT_GLYPH_W 5
#define DL_FONT_GLYPH_H 7
#define DL_FONT_CELL_W 6
#define DL_FONT_CELL_H 8

/* Fill the pixels [x0, x1) x [y0, y1). */
void dl_draw_fill_rect(dl_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]);

/* An outline `thickness` pixels wide drawn inside [x0, x1) x [y0, y1). */
void dl_draw_rect(dl_image *img, int x0, int y0, int x1, int y1, int thickness,
                  const uint8_t rgb[3]);

/* Text with its cell's top-left at (x, y); one line, characters outside ASCII 32..126 are
 * drawn as '?'. Returns the width drawn (dl_draw_text_width). scale < 1 counts as 1. */
int dl_draw_text(dl_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3]);
int dl_draw_text_width(const char *text, int scale);

/* The colour of a label id (17 distinct colours for Docling's labels; others wrap around). */
const uint8_t *dl_draw_label_color(int label_id);

/* A detection box [x0, y0, x1, y1] (image pixels) in its label's colour, with a filled tag
 * "Text 0.93" above the box, or inside it when there is no room above. label_text may be NULL
 * ("label N"). Line width and font size grow with the image. */
void dl_draw_detection(dl_image *img, const float box[4], int label_id, const char *label_text,
                       float score);

#endif
