/* Decoding: every fixture in tests/fixtures/images (made by tools/make_image_fixtures.py) must
 * decode to exactly what PIL's convert("RGB") gave, and every broken one must fail with a
 * status and a message that names the file, leaking nothing. */
#include <unistd.h>

#include "doclayout.h"
#include "image/image.h"
#include "io/file.h"
#include "io/npy.h"
#include "test_util.h"

#define FIXTURES DL_SOURCE_DIR "/tests/fixtures/images/"

/* Compare an image with FIXTURES<expected_name>.rgb.npy ([H,W,3] uint8). */
static void check_pixels(const dl_image *img, const char *expected_name) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s.rgb.npy", expected_name);
    dl_error err;
    dl_npy ref;
    CHECK_OK(dl_npy_read(path, &ref, &err), &err);
    if (!ref.data || !img) return;
    CHECK(ref.dtype == DL_NPY_U8 && ref.ndim == 3 && ref.shape[2] == 3);
    CHECK_MSG(ref.shape[0] == img->height && ref.shape[1] == img->width, "%s: size %dx%d",
              expected_name, img->width, img->height);
    if (ref.shape[0] == img->height && ref.shape[1] == img->width) {
        size_t diffs = 0;
        const uint8_t *want = ref.data;
        for (int y = 0; y < img->height; y++)
            for (int i = 0; i < img->width * 3; i++)
                diffs +=
                    img->rgb[(size_t)y * img->stride + i] != want[(size_t)y * img->width * 3 + i];
        CHECK_MSG(diffs == 0, "%s: %zu bytes differ from PIL", expected_name, diffs);
    }
    dl_npy_free(&ref);
}

static void check_good(const char *name) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    dl_error err;
    dl_image *img = NULL;
    CHECK_OK(dl_image_load_file(path, &img, &err), &err);
    check_pixels(img, name);
    dl_image_free(img);
}

static void check_bad(const char *name, dl_status want) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    dl_error err = {0};
    dl_image *img = (dl_image *)&err; /* must come back NULL */
    dl_status st = dl_image_load_file(path, &img, &err);
    CHECK_MSG(st == want, "%s: got status %d (%s), want %d", name, st, err.message, want);
    CHECK(img == NULL);
    CHECK(err.code == st);
    CHECK_MSG(strstr(err.message, name) != NULL, "%s: message does not name the file: %s", name,
              err.message);
    printf("  %-18s -> %s\n", name, err.message);
    /* The same bytes from memory fail the same way. */
    void *data;
    size_t size;
    if (dl_read_file(path, 1 << 20, &data, &size, &err) == DL_OK) {
        dl_error err2;
        img = (dl_image *)&err2;
        CHECK(dl_image_load_memory(data, size, &img, &err2) == want && img == NULL);
        free(data);
    }
}

static void check_tiff_pages(void) {
    dl_error err;
    int pages = 0;
    CHECK_OK(dl_tiff_page_count(FIXTURES "multipage.tif", &pages, &err), &err);
    CHECK(pages == 3);
    for (int p = 0; p < 3; p++) {
        dl_image *img = NULL;
        char expected[64];
        snprintf(expected, sizeof expected, "multipage.tif.%d", p);
        CHECK_OK(dl_image_load_tiff_page(FIXTURES "multipage.tif", p, &img, &err), &err);
        check_pixels(img, expected);
        dl_image_free(img);
    }
    dl_image *img = NULL;
    CHECK(dl_image_load_tiff_page(FIXTURES "multipage.tif", 3, &img, &err) != DL_OK && !img);
    CHECK(strstr(err.message, "multipage.tif") != NULL);
    CHECK(dl_tiff_page_count(FIXTURES "bad_ifd.tif", &pages, &err) == DL_ERR_FORMAT);
    CHECK(pages == 0 && strstr(err.message, "bad_ifd.tif") != NULL);
    /* an open TIFF (each page reached by its directory's offset): the same pages in any
     * order, a page past the end refused, a broken chain refused at open */
    void *data = NULL;
    size_t size = 0;
    CHECK_OK(dl_read_file(FIXTURES "multipage.tif", 1 << 24, &data, &size, &err), &err);
    dl_tiff *t = NULL;
    CHECK_OK(dl_tiff_open(data, size, "multipage.tif", &t, &err), &err);
    CHECK(dl_tiff_pages(t) == 3);
    for (int k = 0; t && k < 4; k++) {
        int p = (2 - k + 3) % 3; /* 2, 1, 0, 2 */
        char expected[64];
        snprintf(expected, sizeof expected, "multipage.tif.%d", p);
        CHECK_OK(dl_tiff_decode_page(t, p, "multipage.tif", &img, &err), &err);
        check_pixels(img, expected);
        dl_image_free(img);
        img = NULL;
    }
    if (t) CHECK(dl_tiff_decode_page(t, 3, "multipage.tif", &img, &err) != DL_OK && !img);
    dl_tiff_close(t);
    free(data);
    CHECK_OK(dl_read_file(FIXTURES "bad_ifd.tif", 1 << 24, &data, &size, &err), &err);
    t = NULL;
    CHECK(dl_tiff_open(data, size, "bad_ifd.tif", &t, &err) == DL_ERR_FORMAT && !t);
    free(data);
}

static void check_memory_and_save(void) {
    dl_error err;
    void *data;
    size_t size;
    CHECK_OK(dl_read_file(FIXTURES "rgb.png", 1 << 20, &data, &size, &err), &err);
    dl_image *img = NULL, *back = NULL;
    CHECK_OK(dl_image_load_memory(data, size, &img, &err), &err);
    free(data);
    check_pixels(img, "rgb.png");
    char dir[] = "/tmp/dl_test_image_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.png", dir);
    if (img) {
        CHECK_OK(dl_image_save_png(img, path, &err), &err);
        CHECK_OK(dl_image_load_file(path, &back, &err), &err);
        check_pixels(back, "rgb.png");
    }
    CHECK(dl_image_save_png(img, "/nonexistent-dir/x.png", &err) == DL_ERR_IO);
    CHECK(strstr(err.message, "/nonexistent-dir/x.png") != NULL);
    dl_image_free(back);
    CHECK(dl_image_load_file("/nonexistent-dir/x.png", &back, &err) == DL_ERR_IO && !back);
    CHECK(strstr(err.message, "/nonexistent-dir/x.png") != NULL);
    unlink(path);
    rmdir(dir);
    dl_image_free(img);

    /* dl_image_create: filled, and refused when too large or empty. */
    dl_image *blank = NULL;
    CHECK_OK(dl_image_create(5, 3, 200, &blank, &err), &err);
    CHECK(blank && blank->stride == 15 && blank->rgb[44] == 200);
    dl_image_free(blank);
    CHECK(dl_image_create(0, 3, 0, &blank, &err) == DL_ERR_INVALID_ARGUMENT && !blank);
    CHECK(dl_image_create(30001, 3, 0, &blank, &err) == DL_ERR_LIMIT && !blank);
    CHECK(dl_image_create(20000, 20000, 0, &blank, &err) == DL_ERR_LIMIT && !blank);
    CHECK(dl_image_load_memory(NULL, 0, &blank, &err) == DL_ERR_FORMAT && !blank);
}

int main(void) {
    const char *good[] = {"rgb.png",     "rgba.png",    "grey.png",       "grey_alpha.png",
                          "palette.png", "bilevel.png", "interlaced.png", "rgb16.png",
                          "grey16.png",  "rgb.jpg",     "grey.jpg",       "cmyk.jpg",
                          "rgb.tif",     "g4.tif"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) check_good(good[i]);
    check_tiff_pages();
    check_memory_and_save();
    printf("broken files:\n");
    check_bad("bad_truncated.png", DL_ERR_FORMAT);
    check_bad("bad_truncated.jpg", DL_ERR_FORMAT);
    check_bad("bad_truncated_scan.jpg", DL_ERR_FORMAT);
    check_bad("bad_corrupt.jpg", DL_ERR_FORMAT);
    check_bad("bad_huge.jpg", DL_ERR_LIMIT);
    check_bad("bad_random.bin", DL_ERR_FORMAT);
    check_bad("bad_empty.png", DL_ERR_FORMAT);
    check_bad("bad_huge.png", DL_ERR_LIMIT);
    check_bad("bad_zero.png", DL_ERR_FORMAT);
    check_bad("bad_ifd.tif", DL_ERR_FORMAT);
    check_bad("bad_huge.tif", DL_ERR_LIMIT);
    return dl_test_finish("test_image_decode");
}
