/*
 * The bf16 gate on final detections (tests/detection_gate.h) can fail: identical runs pass;
 * shifted boxes, another label, a score drift beyond 0.02, missing detections or no confident
 * detection at all fail. Then the gate as test_parity_cuda applies it, on the CPU: the bundled
 * default model (models/default) on samples/page.png, fast CPU ops against the scalar
 * reference (both float32: the rate must be 1).
 */
#include "api/internal.h"
#include "detection_gate.h"
#include "test_util.h"

static dl_detection det(int label, float score, float x0, float y0, float x1, float y1) {
    dl_detection d = {.label_id = label, .label = "x", .score = score, .box = {x0, y0, x1, y1}};
    return d;
}

static bool passes(const dl_detection *a, size_t na, const dl_detection *b, size_t nb) {
    dl_gate_count c = {0};
    dl_gate_add(&dl_gate_bf16, a, na, b, nb, &c);
    return dl_gate_passes(&dl_gate_bf16, &c);
}

static void gate_logic(void) {
    dl_detection a[20];
    for (int i = 0; i < 20; i++)
        a[i] = det(i % 3, 0.5f + 0.02f * i, 10.0f * i, 0, 10.0f * i + 8, 50);
    dl_detection b[20];
    memcpy(b, a, sizeof a);
    CHECK(passes(a, 20, b, 20));
    b[3].box[0] += 1.0f; /* IoU 0.875 < 0.95: one of 20 missed, 95% still */
    CHECK(passes(a, 20, b, 20));
    b[4].label_id = (b[4].label_id + 1) % 3; /* two of 20 missed: 90% */
    CHECK(!passes(a, 20, b, 20));
    memcpy(b, a, sizeof a);
    for (int i = 0; i < 2; i++) b[i].score += 0.021f; /* score drift beyond 0.02 */
    CHECK(!passes(a, 20, b, 20));
    memcpy(b, a, sizeof a);
    CHECK(!passes(a, 20, b, 18)); /* two detections missing */
    /* one bf16 detection cannot match two fp32 ones */
    dl_detection twin[2] = {a[0], a[0]};
    CHECK(!passes(twin, 2, a, 1));
    /* no confident reference detection: nothing was gated, which fails */
    dl_detection weak[2] = {det(0, 0.29f, 0, 0, 9, 9), det(1, 0.1f, 0, 0, 9, 9)};
    CHECK(!passes(weak, 2, weak, 2));
}

static void default_model_cpu(void) {
    char dir[512], page[512];
    snprintf(dir, sizeof dir, "%s/models/default", DL_SOURCE_DIR);
    snprintf(page, sizeof page, "%s/samples/page.png", DL_SOURCE_DIR);
    dl_error err;
    dl_model *m = NULL;
    dl_detector *fast = NULL, *ref = NULL;
    dl_image *img = NULL;
    dl_result *ra = NULL, *rb = NULL;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    CHECK_OK(dl_detector_create(m, NULL, &fast, &err), &err);
    CHECK_OK(dl_detector_create(m, NULL, &ref, &err), &err);
    CHECK_OK(dl_image_load_file(page, &img, &err), &err);
    if (m && fast && ref && img) {
        dl_detector_use_reference_ops(ref);
        const dl_image *imgs[1] = {img};
        CHECK_OK(dl_detector_run(ref, imgs, 1, 0.3f, &ra, &err), &err);
        CHECK_OK(dl_detector_run(fast, imgs, 1, 0.28f, &rb, &err), &err);
        size_t na = 0, nb = 0;
        const dl_detection *a = dl_result_detections(ra, 0, &na);
        const dl_detection *b = dl_result_detections(rb, 0, &nb);
        dl_gate_count c = {0};
        dl_gate_add(&dl_gate_bf16, a, na, b, nb, &c);
        printf("default model, CPU fast vs reference: %zu of %zu confident detections matched "
               "(rate %.3f)\n",
               c.matched, c.reference, dl_gate_rate(&c));
        CHECK(c.reference > 0 && c.matched == c.reference);
    }
    dl_result_free(ra);
    dl_result_free(rb);
    dl_image_free(img);
    dl_detector_free(fast);
    dl_detector_free(ref);
    dl_model_free(m);
}

int main(void) {
    gate_logic();
    default_model_cpu();
    return dl_test_finish("test_detection_gate");
}
