/*
 * The bundled default model (models/default) loads, runs, and finds the main regions of a
 * generated page that is not among its training seeds (samples/page.png, whose true boxes the
 * generator wrote to samples/page.truth.json). A loose check, not a benchmark: the quality
 * figures are in docs/default-model.md.
 */
#include <cjson/cJSON.h>

#include "doclayout.h"
#include "io/file.h"
#include "test_util.h"

static double iou(const float *a, const double *b) {
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]), iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    double in = ix * iy;
    return in / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in);
}

int main(void) {
    char dir[1024], page[1024], truth[1024];
    snprintf(dir, sizeof dir, "%s/models/default", DL_SOURCE_DIR);
    snprintf(page, sizeof page, "%s/samples/page.png", DL_SOURCE_DIR);
    snprintf(truth, sizeof truth, "%s/samples/page.truth.json", DL_SOURCE_DIR);
    if (!dl_path_exists(dir)) return dl_test_skip("test_default_model", "no models/default");
    dl_error err;
    dl_model *m = NULL;
    dl_detector *d = NULL;
    dl_image *img = NULL;
    dl_result *res = NULL;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    CHECK_OK(dl_detector_create(m, NULL, &d, &err), &err);
    CHECK_OK(dl_image_load_file(page, &img, &err), &err);
    if (!m || !d || !img) return dl_test_finish("test_default_model");
    CHECK(strcmp(dl_model_type(m), "dl_dense") == 0);
    CHECK_OK(dl_detector_run(d, (const dl_image *const *)&img, 1, 0.3f, &res, &err), &err);
    size_t n = 0;
    const dl_detection *det = dl_result_detections(res, 0, &n);
    void *buf;
    size_t size;
    CHECK_OK(dl_read_file(truth, 1 << 20, &buf, &size, &err), &err);
    cJSON *t = cJSON_Parse(buf);
    free(buf);
    int texts = 0, texts_found = 0, picture = 0, title = 0;
    cJSON *box;
    cJSON_ArrayForEach(box, cJSON_GetObjectItem(t, "boxes")) {
        int label = cJSON_GetObjectItem(box, "label_id")->valueint;
        double b[4];
        for (int k = 0; k < 4; k++)
            b[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(box, "box"), k)->valuedouble;
        double best = 0;
        for (size_t i = 0; i < n; i++)
            if (det[i].label_id == label) best = fmax(best, iou(det[i].box, b));
        if (label == 9) texts++, texts_found += best >= 0.5;
        if (label == 6) picture = best >= 0.5;
        if (label == 10) title = best >= 0.5;
    }
    printf("default model on samples/page.png: %zu detections; %d of %d paragraphs, picture %s, "
           "title %s found (IoU >= 0.5)\n",
           n, texts_found, texts, picture ? "yes" : "no", title ? "yes" : "no");
    CHECK(picture && title);
    CHECK(texts >= 5 && texts_found * 2 >= texts);
    cJSON_Delete(t);
    dl_result_free(res);
    dl_image_free(img);
    dl_detector_free(d);
    dl_model_free(m);
    return dl_test_finish("test_default_model");
}
