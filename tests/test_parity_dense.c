/*
 * doclayout's own dense detector against its PyTorch definition (training/dense_model.py):
 * tests/fixtures/dense-tiny holds a random-weight model exported like a trained one, an input
 * and PyTorch's outputs (training/make_dense_fixture.py). Reference ops and fast ops, 1 and 3
 * threads bit-identical; then detection with NMS runs end to end.
 */
#include "api/internal.h"
#include "io/npy.h"
#include "test_util.h"

int main(void) {
    char dir[1024], p[1200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/dense-tiny", DL_SOURCE_DIR);
    dl_error err;
    dl_model *m = NULL;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    if (!m) return dl_test_finish("test_parity_dense");
    dl_npy u8, wl, wb;
    snprintf(p, sizeof p, "%s/pixel_values_u8.npy", dir);
    CHECK_OK(dl_npy_read(p, &u8, &err), &err);
    snprintf(p, sizeof p, "%s/out_logits.npy", dir);
    CHECK_OK(dl_npy_read(p, &wl, &err), &err);
    snprintf(p, sizeof p, "%s/out_pred_boxes.npy", dir);
    CHECK_OK(dl_npy_read(p, &wb, &err), &err);
    int h = (int)u8.shape[2], w = (int)u8.shape[3];
    float *px = malloc(u8.count * sizeof(float));
    for (size_t i = 0; i < u8.count; i++) px[i] = ((uint8_t *)u8.data)[i] * 0.00392156862745098f;
    CHECK(wl.count == (size_t)dl_model_num_queries(m) * dl_model_num_labels(m));
    float *out[3][2];
    for (int run = 0; run < 3; run++) {
        dl_detector_options o = dl_detector_default_options();
        o.num_threads = run == 1 ? 3 : 1;
        dl_detector *d = NULL;
        CHECK_OK(dl_detector_create(m, &o, &d, &err), &err);
        if (run == 0) dl_detector_use_reference_ops(d);
        out[run][0] = calloc(wl.count, sizeof(float));
        out[run][1] = calloc(wb.count, sizeof(float));
        CHECK_OK(dl_detector_forward(d, px, 1, h, w, out[run][0], out[run][1], &err), &err);
        double dlg = dl_max_abs_diff(out[run][0], wl.data, wl.count);
        double dbx = dl_max_abs_diff(out[run][1], wb.data, wb.count);
        printf("dense-tiny [%s, %d thread(s)]: max|dlogits| %.3g, max|dboxes| %.3g\n",
               dl_detector_kernel_name(d), dl_detector_num_threads(d), dlg, dbx);
        CHECK(dlg <= 1e-3);
        CHECK(dbx <= 1e-4);
        dl_detector_free(d);
    }
    CHECK(memcmp(out[1][0], out[2][0], wl.count * sizeof(float)) == 0);
    CHECK(memcmp(out[1][1], out[2][1], wb.count * sizeof(float)) == 0);
    /* detection: top-k + per-label NMS; no two kept boxes of a label overlap above 0.5 */
    dl_image *img = NULL;
    CHECK_OK(dl_image_create(300, 400, 255, &img, &err), &err);
    dl_detector *d = NULL;
    dl_result *res = NULL;
    CHECK_OK(dl_detector_create(m, NULL, &d, &err), &err);
    CHECK_OK(dl_detector_run(d, (const dl_image *const *)&img, 1, 0.0f, &res, &err), &err);
    size_t n = 0;
    const dl_detection *det = dl_result_detections(res, 0, &n);
    CHECK(n > 0 && n <= 300);
    int overlaps = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (det[i].label_id != det[j].label_id) continue;
            const float *a = det[i].box, *b = det[j].box;
            float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]),
                  iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
            if (ix <= 0 || iy <= 0) continue;
            float in = ix * iy,
                  u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in;
            overlaps += in / u > 0.5f;
        }
    CHECK(overlaps == 0);
    printf("dense-tiny: %zu detections after NMS\n", n);
    dl_result_free(res);
    dl_detector_free(d);
    dl_image_free(img);
    for (int r = 0; r < 3; r++) free(out[r][0]), free(out[r][1]);
    free(px);
    dl_npy_free(&u8);
    dl_npy_free(&wl);
    dl_npy_free(&wb);
    dl_model_free(m);
    return dl_test_finish("test_parity_dense");
}
