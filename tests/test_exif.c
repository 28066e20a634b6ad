/*
 * JPEG EXIF orientation: the document reader turns photos and scans upright as Pillow's
 * ImageOps.exif_transpose does (fixtures made by tools: tests/fixtures/exif, all 8 orientations,
 * expected pixels from Pillow). The parser is bounds-checked on broken EXIF blocks.
 */
#include "document/document.h"
#include "image/image.h"
#include "io/file.h"
#include "test_util.h"

int main(void) {
    char p[1024], q[1024];
    dl_error err;
    for (int o = 1; o <= 8; o++) {
        snprintf(p, sizeof p, "%s/tests/fixtures/exif/orient%d.jpg", DL_SOURCE_DIR, o);
        snprintf(q, sizeof q, "%s/tests/fixtures/exif/orient%d.expected.png", DL_SOURCE_DIR, o);
        void *buf;
        size_t size;
        CHECK_OK(dl_read_file(p, 1 << 20, &buf, &size, &err), &err);
        CHECK(dl_jpeg_exif_orientation(buf, size) == o);
        free(buf);
        dl_doc *doc = NULL;
        dl_pdf_page page;
        dl_image *want = NULL;
        CHECK_OK(dl_doc_open(p, NULL, &doc, &err), &err);
        CHECK_OK(dl_doc_load_page(doc, 0, 72, DL_CELLS_LINES, &page, &err), &err);
        CHECK_OK(dl_image_load_file(q, &want, &err), &err);
        if (page.image && want) {
            CHECK(page.image->width == want->width && page.image->height == want->height);
            /* JPEG blocks differ a little from a lossless copy: compare quadrant colours */
            int worst = 0;
            if (page.image->width == want->width && page.image->height == want->height)
                for (int y = 2; y < want->height; y += 5)
                    for (int x = 2; x < want->width; x += 5)
                        for (int c = 0; c < 3; c++) {
                            int a =
                                page.image->rgb[(size_t)y * page.image->stride + (size_t)x * 3 + c];
                            int b = want->rgb[(size_t)y * want->stride + (size_t)x * 3 + c];
                            if (abs(a - b) > worst) worst = abs(a - b);
                        }
            CHECK_MSG(worst < 40, "orientation %d: pixels differ by %d", o, worst);
        }
        dl_image_free(want);
        dl_pdf_page_clear(&page);
        dl_doc_close(doc);
    }
    /* broken EXIF: offsets past the end, wrong magic, truncated: orientation 1, no crash */
    unsigned char bad[64] = {0xff, 0xd8, 0xff, 0xe1, 0x00, 0x3c, 'E',  'x',  'i',  'f',
                             0,    0,    'I',  'I',  42,   0,    0xff, 0xff, 0xff, 0x7f};
    CHECK(dl_jpeg_exif_orientation(bad, sizeof bad) == 1);
    bad[16] = 8, bad[17] = 0, bad[18] = 0, bad[19] = 0; /* IFD at 8 with a huge entry count */
    bad[20] = 0xff, bad[21] = 0xff;
    CHECK(dl_jpeg_exif_orientation(bad, sizeof bad) == 1);
    CHECK(dl_jpeg_exif_orientation(bad, 7) == 1);
    CHECK(dl_jpeg_exif_orientation((const unsigned char *)"\xff\xd8", 2) == 1);
    return dl_test_finish("test_exif");
}
