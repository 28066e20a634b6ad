/* Overlay drawing: clipping of any coordinates, class colours, text rendering. */
#include <limits.h>

#include "doclayout.h"
#include "image/draw.h"
#include "test_util.h"

static const uint8_t *pixel(const dl_image *img, int x, int y) {
    return img->rgb + (size_t)y * img->stride + (size_t)x * 3;
}

static int same_color(const uint8_t *p, const uint8_t *c) {
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

/* Number of pixels that are not `grey`. */
static size_t count_changed(const dl_image *img, uint8_t grey) {
    size_t n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *p = pixel(img, x, y);
            n += p[0] != grey || p[1] != grey || p[2] != grey;
        }
    return n;
}

int main(void) {
    dl_error err;
    dl_image *img = NULL;
    CHECK_OK(dl_image_create(200, 150, 255, &img, &err), &err);
    if (!img) return dl_test_finish("test_draw");
    const uint8_t red[3] = {255, 0, 0};

    /* Rectangles: exact extent and clipping of wild coordinates. */
    dl_draw_rect(img, 10, 20, 50, 60, 3, red);
    CHECK(same_color(pixel(img, 10, 20), red) && same_color(pixel(img, 49, 59), red));
    CHECK(same_color(pixel(img, 12, 40), red) && !same_color(pixel(img, 13, 40), red));
    CHECK(!same_color(pixel(img, 50, 40), red) && !same_color(pixel(img, 30, 40), red));
    CHECK(count_changed(img, 255) == (size_t)(40 * 40 - 34 * 34));
    dl_draw_rect(img, -100, -100, 100000, 100000, 5, red);
    dl_draw_rect(img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX, red);
    dl_draw_fill_rect(img, 500, 500, 600, 600, red);
    dl_draw_fill_rect(img, -600, -600, -500, -500, red);
    dl_draw_fill_rect(img, 30, 30, 10, 10, red); /* inverted: nothing */
    dl_draw_fill_rect(NULL, 0, 0, 10, 10, red);

    /* Text: draws something in the colour, nothing for an empty string, survives clipping. */
    dl_image *canvas = NULL;
    CHECK_OK(dl_image_create(120, 40, 0, &canvas, &err), &err);
    if (canvas) {
        const uint8_t white[3] = {255, 255, 255};
        CHECK(dl_draw_text(canvas, 2, 2, "", 2, white) == 0 && count_changed(canvas, 0) == 0);
        CHECK(dl_draw_text(canvas, 2, 2, "Text 0.93", 1, white) == 9 * DL_FONT_CELL_W);
        size_t at_1x = count_changed(canvas, 0);
        CHECK(at_1x > 40);
        CHECK(dl_draw_text(canvas, 2, 12, "Text 0.93", 2, white) == 9 * DL_FONT_CELL_W * 2);
        CHECK(count_changed(canvas, 0) == at_1x * 5); /* 2x draws four times as many */
        dl_draw_text(canvas, -30, -5, "clipped \x01\xff~", 3, white);
        dl_draw_text(canvas, INT_MAX - 3, INT_MAX - 3, "far", INT_MAX, white);
        dl_draw_text(canvas, INT_MIN, 0, "far", 1000, white);
        /* Every printable character has ink, except the space. */
        for (int c = 33; c <= 126; c++) {
            dl_image *cell = NULL;
            CHECK_OK(dl_image_create(DL_FONT_CELL_W, DL_FONT_CELL_H, 0, &cell, &err), &err);
            char s[2] = {(char)c, 0};
            dl_draw_text(cell, 0, 0, s, 1, white);
            CHECK_MSG(count_changed(cell, 0) > 0, "glyph '%c' is empty", c);
            dl_image_free(cell);
        }
        dl_image_free(canvas);
    }

    /* Label colours: 17 distinct, wrap around for other ids. */
    for (int a = 0; a < DL_NUM_DOCLING_LABELS; a++)
        for (int b = a + 1; b < DL_NUM_DOCLING_LABELS; b++)
            CHECK(!same_color(dl_draw_label_color(a), dl_draw_label_color(b)));
    CHECK(dl_draw_label_color(17) == dl_draw_label_color(0));
    CHECK(dl_draw_label_color(-1) == dl_draw_label_color(16));

    /* Detections: box in the class colour, tag above (or inside at the top edge). */
    dl_image *page = NULL;
    CHECK_OK(dl_image_create(300, 400, 255, &page, &err), &err);
    if (page) {
        const float box[4] = {40.0f, 100.0f, 200.0f, 300.0f};
        dl_draw_detection(page, box, 9, "Text", 0.93f);
        const uint8_t *text_color = dl_draw_label_color(9);
        CHECK(same_color(pixel(page, 40, 200), text_color));  /* left edge */
        CHECK(same_color(pixel(page, 200, 200), text_color)); /* right edge */
        CHECK(same_color(pixel(page, 120, 300), text_color)); /* bottom edge */
        CHECK(same_color(pixel(page, 120, 200), (const uint8_t[]){255, 255, 255}));
        CHECK(same_color(pixel(page, 40, 99), text_color)); /* the tag, above the box */
        CHECK(!same_color(pixel(page, 41, 99), (const uint8_t[]){255, 255, 255}));
        const float top_box[4] = {10.0f, 0.0f, 100.0f, 50.0f};
        dl_draw_detection(page, top_box, 0, NULL, 0.5f);
        CHECK(same_color(pixel(page, 10, 5), dl_draw_label_color(0)));
        const float wild[][4] = {
            {-500, -500, -10, -10}, {1000, 1000, 5000, 5000}, {-1e30f, -1e30f, 1e30f, 1e30f},
            {250, 390, 100, 10},    {NAN, 0, 10, 10},         {INFINITY, -INFINITY, 5, 5}};
        for (size_t i = 0; i < sizeof wild / sizeof *wild; i++)
            dl_draw_detection(page, wild[i], (int)i * 7 - 3, "Section-header", 1.0f);
        dl_draw_detection(NULL, box, 1, "x", 0.1f);
        dl_image_free(page);
    }
    dl_image_free(img);
    return dl_test_finish("test_draw");
}
