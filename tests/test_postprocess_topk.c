/* dl_model_postprocess_topk: the K unclamped results at threshold 0 that Docling's KServe v2
 * engine (and its ONNX export of heron) expects, against dl_model_postprocess and the
 * cxcywh -> corners formula, on the committed tiny model's golden network outputs. */
#include <math.h>

#include "doclayout.h"
#include "io/npy.h"
#include "test_util.h"

int main(void) {
    const char *dir = DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny";
    dl_error err;
    dl_model *m = NULL;
    dl_npy lg = {0}, bx = {0};
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    CHECK_OK(
        dl_npy_read(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny/out_logits.npy", &lg, &err),
        &err);
    CHECK_OK(dl_npy_read(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny/out_pred_boxes.npy",
                         &bx, &err),
             &err);
    if (!m || !lg.data || !bx.data) return dl_test_finish("test_postprocess_topk");
    int k = dl_model_max_detections(m), q = dl_model_num_queries(m), nl = dl_model_num_labels(m);
    CHECK(k == q);
    const float *logits = lg.data, *pred = bx.data;
    int64_t *labels = calloc((size_t)k, sizeof *labels);
    float *scores = calloc((size_t)k, sizeof *scores),
          *boxes = calloc((size_t)k * 4, sizeof *boxes);
    dl_detection *det = calloc((size_t)k, sizeof *det);
    const int64_t w = 37, h = 23; /* small, so that many boxes reach past the page */
    CHECK_OK(dl_model_postprocess_topk(m, logits, pred, w, h, labels, scores, boxes, &err), &err);
    size_t n = 0;
    CHECK_OK(dl_model_postprocess(m, logits, pred, 0.0f, (int)w, (int)h, det, &n, &err), &err);
    CHECK(n == (size_t)k); /* every sigmoid score of this model is > 0 */
    int unclamped = 0;
    for (int i = 0; i < k && i < (int)n; i++) {
        CHECK(labels[i] == det[i].label_id);
        CHECK(scores[i] == det[i].score);
        CHECK(i == 0 || scores[i] <= scores[i - 1]);
        /* the query behind entry i: the one whose clamped box and label match */
        int query = -1;
        for (int j = 0; j < q && query < 0; j++) {
            float s = 1.0f / (1.0f + expf(-logits[(size_t)j * nl + labels[i]]));
            const float *b = pred + (size_t)j * 4;
            float want[4] = {(b[0] - 0.5f * b[2]) * (float)w, (b[1] - 0.5f * b[3]) * (float)h,
                             (b[0] + 0.5f * b[2]) * (float)w, (b[1] + 0.5f * b[3]) * (float)h};
            if (s == scores[i] && memcmp(want, boxes + (size_t)i * 4, sizeof want) == 0) query = j;
        }
        CHECK_MSG(query >= 0, "entry %d: no query gives its score and unclamped box", i);
        const float lim[4] = {(float)w, (float)h, (float)w, (float)h};
        for (int c = 0; c < 4; c++) {
            float v = boxes[(size_t)i * 4 + c];
            CHECK(fminf(fmaxf(v, 0.0f), lim[c]) == det[i].box[c]);
            unclamped += v < 0 || v > lim[c];
        }
    }
    CHECK_MSG(unclamped > 0, "no coordinate outside the page: the test does not test clamping");
    /* bad sizes and arguments are refused with a message */
    CHECK(dl_model_postprocess_topk(m, logits, pred, 0, h, labels, scores, boxes, &err) ==
          DL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "0x23") != NULL);
    CHECK(dl_model_postprocess_topk(m, logits, pred, w, (int64_t)DL_POSTPROCESS_MAX_SIDE + 1,
                                    labels, scores, boxes, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_model_postprocess_topk(m, NULL, pred, w, h, labels, scores, boxes, &err) ==
          DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_model_postprocess_topk(NULL, logits, pred, w, h, labels, scores, boxes, &err) ==
          DL_ERR_INVALID_ARGUMENT);
    /* NaN logits never make a result (entries short of K would be label 0, score 0, box 0) */
    float *nan_logits = malloc((size_t)q * nl * sizeof(float));
    memcpy(nan_logits, logits, (size_t)q * nl * sizeof(float));
    for (int j = 0; j < q * nl; j += 2) nan_logits[j] = NAN;
    CHECK_OK(dl_model_postprocess_topk(m, nan_logits, pred, w, h, labels, scores, boxes, &err),
             &err);
    for (int i = 0; i < k; i++) CHECK(!isnan(scores[i]) && labels[i] >= 0 && labels[i] < nl);
    free(nan_logits);
    free(labels);
    free(scores);
    free(boxes);
    free(det);
    dl_npy_free(&lg);
    dl_npy_free(&bx);
    dl_model_free(m);
    return dl_test_finish("test_postprocess_topk");
}
