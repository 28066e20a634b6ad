/* Overlay drawing. All geometry is clamped in 64-bit before touching pixels, so any int
 * coordinates (and any finite or non-finite float box) are safe. */
#include "image/draw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "image/font5x7.h"

/* 17 well-separated colours, one per Docling label id (0 Caption ... 16 Key-Value Region). */
static const uint8_t label_colors[DL_NUM_DOCLING_LABELS][3] = {
    {230, 25, 75},  {60, 180, 75},  {0, 130, 200},   {245, 130, 48}, {145, 30, 180}, {70, 200, 200},
    {240, 50, 230}, {150, 160, 20}, {250, 160, 170}, {0, 128, 128},  {120, 80, 220}, {170, 110, 40},
    {200, 170, 0},  {128, 0, 0},    {40, 160, 130},  {128, 128, 0},  {0, 0, 128},
};

const uint8_t *dl_draw_label_color(int label_id) {
    int n = DL_NUM_DOCLING_LABELS;
    return label_colors[((label_id % n) + n) % n];
}

static long long clamp_ll(long long v, long long lo, long long hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* Fill with 64-bit bounds, clipped to the image. */
static void fill_clipped(dl_image *img, long long x0, long long y0, long long x1, long long y1,
                         const uint8_t rgb[3]) {
    if (!img || !img->rgb) return;
    x0 = clamp_ll(x0, 0, img->width);
    x1 = clamp_ll(x1, 0, img->width);
    y0 = clamp_ll(y0, 0, img->height);
    y1 = clamp_ll(y1, 0, img->height);
    for (long long y = y0; y < y1; y++) {
        uint8_t *p = img->rgb + (size_t)y * img->stride + (size_t)x0 * 3;
        for (long long x = x0; x < x1; x++, p += 3) p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
    }
}

void dl_draw_fill_rect(dl_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
    fill_clipped(img, x0, y0, x1, y1, rgb);
}

void dl_draw_rect(dl_image *img, int x0, int y0, int x1, int y1, int thickness,
                  const uint8_t rgb[3]) {
    if (thickness < 1) thickness = 1;
    long long t = thickness;
    fill_clipped(img, x0, y0, x1, (long long)y0 + t, rgb); /* top */
    fill_clipped(img, x0, (long long)y1 - t, x1, y1, rgb); /* bottom */
    fill_clipped(img, x0, y0, (long long)x0 + t, y1, rgb); /* left */
    fill_clipped(img, (long long)x1 - t, y0, x1, y1, rgb); /* right */
}

int dl_draw_text_width(const char *text, int scale) {
    if (scale < 1) scale = 1;
    size_t n = text ? strlen(text) : 0;
    long long w = (long long)n * DL_FONT_CELL_W * scale;
    return w > 1000000000 ? 1000000000 : (int)w;
}

int dl_draw_text(dl_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3]) {
    if (scale < 1) scale = 1;
    if (!text) return 0;
    long long pen = x;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        int ch = *c >= DL_FONT_FIRST && *c <= DL_FONT_LAST ? *c : '?';
        const uint8_t *glyph = dl_font5x7[ch - DL_FONT_FIRST];
        if (img && pen < img->width && pen + DL_FONT_CELL_W * scale > 0) {
            for (int row = 0; row < DL_FONT_GLYPH_H; row++)
                for (int col = 0; col < DL_FONT_GLYPH_W; col++)
                    if (glyph[row] & (0x10 >> col)) {
                        long long px = pen + (long long)col * scale;
                        long long py = (long long)y + (long long)row * scale;
                        fill_clipped(img, px, py, px + scale, py + scale, rgb);
                    }
        }
        pen += (long long)DL_FONT_CELL_W * scale;
    }
    return dl_draw_text_width(text, scale);
}

/* Float pixel coordinate to a safe integer (NaN handled by the caller). */
static long long coord(float v) {
    if (v < -1e9f) return -1000000000LL;
    if (v > 1e9f) return 1000000000LL;
    return (long long)floorf(v);
}

void dl_draw_detection(dl_image *img, const float box[4], int label_id, const char *label_text,
                       float score) {
    if (!img || !img->rgb || !box) return;
    for (int i = 0; i < 4; i++)
        if (isnan(box[i])) return;
    const uint8_t *color = dl_draw_label_color(label_id);
    int short_side = img->width < img->height ? img->width : img->height;
    int thickness = 2 + short_side / 1000;
    int scale = 1 + short_side / 800;
    long long x0 = coord(box[0]), y0 = coord(box[1]), x1 = coord(box[2]) + 1,
              y1 = coord(box[3]) + 1;
    long long t = thickness;
    fill_clipped(img, x0, y0, x1, y0 + t, color);
    fill_clipped(img, x0, y1 - t, x1, y1, color);
    fill_clipped(img, x0, y0, x0 + t, y1, color);
    fill_clipped(img, x1 - t, y0, x1, y1, color);

    char tag[96];
    if (label_text) snprintf(tag, sizeof tag, "%.80s %.2f", label_text, (double)score);
    else snprintf(tag, sizeof tag, "label %d %.2f", label_id, (double)score);
    int pad = scale;
    long long tag_w = dl_draw_text_width(tag, scale) + 2LL * pad;
    long long tag_h = (long long)DL_FONT_CELL_H * scale + 2LL * pad;
    /* Above the box when it fits, else just inside its top edge. */
    long long tag_y = y0 - tag_h >= 0 ? y0 - tag_h : y0;
    long long tag_x = x0 < 0 ? 0 : x0;
    if (tag_x + tag_w > img->width) tag_x = img->width - tag_w < 0 ? 0 : img->width - tag_w;
    if (tag_y < 0) tag_y = 0;
    if (tag_y >= img->height || tag_x >= img->width) return;
    fill_clipped(img, tag_x, tag_y, tag_x + tag_w, tag_y + tag_h, color);
    /* Dark text on light colours, white on dark ones (Rec. 601 luma). */
    int luma = (299 * color[0] + 587 * color[1] + 114 * color[2]) / 1000;
    static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    dl_draw_text(img, (int)(tag_x + pad), (int)(tag_y + pad), tag, scale,
                 luma > 140 ? black : white);
}
