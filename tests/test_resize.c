/* dl_image_resize_bilinear must equal PIL's Image.resize(size, BILINEAR) byte for byte: on the
 * committed fixtures (tools/make_resize_fixtures.py) and, when ../shared is present, on the
 * golden pages that the models' reference pixel values came from. */
#include <time.h>

#include "doclayout.h"
#include "image/image.h"
#include "io/npy.h"
#include "test_util.h"

/* Count differing bytes between an image and a tightly packed [h][w][3] reference. */
static size_t count_diffs(const dl_image *img, const uint8_t *ref, int *first_x, int *first_y) {
    size_t diffs = 0;
    *first_x = *first_y = -1;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->rgb + (size_t)y * img->stride;
        const uint8_t *ref_row = ref + (size_t)y * img->width * 3;
        for (int i = 0; i < img->width * 3; i++) {
            if (row[i] != ref_row[i]) {
                if (!diffs) *first_x = i / 3, *first_y = y;
                diffs++;
            }
        }
    }
    return diffs;
}

static void check_fixture(const char *name, int out_w, int out_h) {
    char src_path[512], ref_path[512];
    snprintf(src_path, sizeof src_path, "%s/tests/fixtures/resize/%s_src.png", DL_SOURCE_DIR,
             name);
    snprintf(ref_path, sizeof ref_path, "%s/tests/fixtures/resize/%s_%dx%d.png", DL_SOURCE_DIR,
             name, out_w, out_h);
    dl_error err;
    dl_image *src = NULL, *ref = NULL, *out = NULL;
    CHECK_OK(dl_image_load_file(src_path, &src, &err), &err);
    int identity = src && src->width == out_w && src->height == out_h;
    if (!identity) CHECK_OK(dl_image_load_file(ref_path, &ref, &err), &err);
    if (src && (identity || ref)) {
        if (identity) ref = src;
        CHECK_OK(dl_image_resize_bilinear(src, out_w, out_h, &out, &err), &err);
        if (out) {
            CHECK(out->width == out_w && out->height == out_h);
            CHECK(ref->stride == (size_t)ref->width * 3);
            int fx, fy;
            size_t diffs = count_diffs(out, ref->rgb, &fx, &fy);
            CHECK_MSG(diffs == 0, "%s -> %dx%d: %zu bytes differ from PIL, first at (%d,%d)", name,
                      out_w, out_h, diffs, fx, fy);
        }
    }
    if (ref != src) dl_image_free(ref);
    dl_image_free(src);
    dl_image_free(out);
}

static int check_golden(const char *model) {
    char rel[256], input_path[512], ref_path[512];
    snprintf(rel, sizeof rel, "golden/%s/input.png", model);
    if (!dl_shared_path(rel, input_path, sizeof input_path)) return 0;
    snprintf(rel, sizeof rel, "golden/%s/resized_uint8.npy", model);
    if (!dl_shared_path(rel, ref_path, sizeof ref_path)) return 0;
    dl_error err;
    dl_image *page = NULL, *out = NULL;
    dl_npy ref;
    CHECK_OK(dl_image_load_file(input_path, &page, &err), &err);
    CHECK_OK(dl_npy_read(ref_path, &ref, &err), &err);
    if (page && ref.data) {
        CHECK(ref.dtype == DL_NPY_U8 && ref.ndim == 3 && ref.shape[2] == 3);
        int out_w = (int)ref.shape[1], out_h = (int)ref.shape[0];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_OK(dl_image_resize_bilinear(page, out_w, out_h, &out, &err), &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (out) {
            int fx, fy;
            size_t diffs = count_diffs(out, ref.data, &fx, &fy);
            CHECK_MSG(diffs == 0, "%s: %zu bytes differ from PIL, first at (%d,%d)", model, diffs,
                      fx, fy);
            printf("golden %s: %dx%d -> %dx%d in %.2f ms, %zu differing bytes\n", model,
                   page->width, page->height, out_w, out_h,
                   (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, diffs);
        }
    }
    dl_npy_free(&ref);
    dl_image_free(page);
    dl_image_free(out);
    return 1;
}

static void check_bad_arguments(void) {
    dl_error err;
    dl_image *img = NULL, *out = (dl_image *)&err;
    CHECK_OK(dl_image_create(4, 4, 7, &img, &err), &err);
    CHECK(dl_image_resize_bilinear(img, 0, 5, &out, &err) == DL_ERR_INVALID_ARGUMENT && !out);
    CHECK(dl_image_resize_bilinear(img, 5, -1, &out, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_image_resize_bilinear(NULL, 5, 5, &out, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_image_resize_bilinear(img, 40000, 5, &out, &err) == DL_ERR_LIMIT && !out);
    /* A flat image stays flat at any size. */
    CHECK_OK(dl_image_resize_bilinear(img, 9, 2, &out, &err), &err);
    if (out) {
        int flat = 1;
        for (int y = 0; y < out->height; y++)
            for (int i = 0; i < out->width * 3; i++) flat &= out->rgb[y * out->stride + i] == 7;
        CHECK(flat);
    }
    dl_image_free(out);
    dl_image_free(img);
}

int main(void) {
    check_fixture("letter", 640, 640);
    check_fixture("small_up", 640, 640);
    check_fixture("wide_strip", 17, 640);
    check_fixture("tall_strip", 640, 640);
    check_fixture("identity", 640, 640);
    check_fixture("half", 640, 640);
    check_fixture("near", 640, 640);
    check_fixture("only_x", 123, 200);
    check_fixture("only_y", 200, 77);
    check_bad_arguments();
    const char *models[] = {"rtdetrv2-tiny", "rtdetrv2-tiny-480", "dfine-tiny", "dfine-tiny-proj"};
    int golden = 0;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) golden += check_golden(models[i]);
    if (!golden) printf("test_resize: ../shared golden pages absent, fixtures only\n");
    return dl_test_finish("test_resize");
}
