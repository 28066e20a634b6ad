/* The CPU's bf16 precision gated on final detections of the bundled default model (real,
 * trained weights: models/default): on samples/page.png and the PubLayNet pages of
 * ../shared (when present), at least 95% of the fp32 detections with score >= 0.3 must have a
 * bf16 detection of the same label with IoU >= 0.95 and |score difference| <= 0.02. Runs at
 * the machine's top level (vdpbf16ps with AVX512_BF16; rounded operands through the fp32
 * kernel elsewhere) and prints the match rate. A negative control (fp32 boxes moved by 3% of
 * their size) shows the gate fails when detections do move. */
#include <dirent.h>

#include "core/cpu_features.h"
#include "doclayout.h"
#include "test_util.h"

#define MIN_SCORE 0.3f
#define MIN_IOU 0.95f
#define MAX_DSCORE 0.02f
#define MIN_RATE 0.95

static float iou(const float *a, const float *b) {
    float x0 = fmaxf(a[0], b[0]), y0 = fmaxf(a[1], b[1]);
    float x1 = fminf(a[2], b[2]), y1 = fminf(a[3], b[3]);
    float inter = fmaxf(0.0f, x1 - x0) * fmaxf(0.0f, y1 - y0);
    float ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0.0f ? inter / ua : 0.0f;
}

/* How many of `want` (score >= MIN_SCORE) have a match in `got` (each used once). */
static int matched(const dl_detection *want, size_t nw, const dl_detection *got, size_t ng,
                   int *considered) {
    bool used[1024] = {false};
    int m = 0;
    for (size_t i = 0; i < nw; i++) {
        if (want[i].score < MIN_SCORE) continue;
        (*considered)++;
        int best = -1;
        float best_iou = 0.0f;
        for (size_t j = 0; j < ng && j < 1024; j++) {
            if (used[j] || got[j].label_id != want[i].label_id) continue;
            if (fabsf(got[j].score - want[i].score) > MAX_DSCORE) continue;
            float v = iou(want[i].box, got[j].box);
            if (v >= MIN_IOU && v > best_iou) best = (int)j, best_iou = v;
        }
        if (best >= 0) {
            used[best] = true;
            m++;
        }
    }
    return m;
}

static dl_result *detect(dl_detector *d, const dl_image *img) {
    dl_error err;
    dl_result *r = NULL;
    /* a lower threshold than the gate's, so that a bf16 score just under 0.3 still matches */
    if (dl_detector_run(d, &img, 1, MIN_SCORE - 2 * MAX_DSCORE, &r, &err) != DL_OK) {
        fprintf(stderr, "detect: %s\n", err.message);
        return NULL;
    }
    return r;
}

int main(void) {
    dl_error err;
    dl_model *model = NULL;
    if (dl_model_load(DL_SOURCE_DIR "/models/default", NULL, &model, &err) != DL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    dl_detector_options o = dl_detector_default_options();
    o.num_threads = 2;
    dl_detector *fp32 = NULL, *bf16 = NULL;
    CHECK(dl_detector_create(model, &o, &fp32, &err) == DL_OK);
    o.precision = DL_PRECISION_BF16;
    CHECK(dl_detector_create(model, &o, &bf16, &err) == DL_OK);
    if (!fp32 || !bf16) return dl_test_finish("test_bf16_gate");
    printf("fp32 kernels %s, bf16 kernels %s (level %s)\n", dl_detector_kernel_name(fp32),
           dl_detector_kernel_name(bf16), dl_cpu_level_name(dl_cpu_caps_get()->level));
    CHECK(strstr(dl_detector_kernel_name(bf16), "+bf16") != NULL);
    /* fp16 stays unsupported on the CPU, with a readable reason */
    o.precision = DL_PRECISION_FP16;
    dl_detector *bad = NULL;
    CHECK(dl_detector_create(model, &o, &bad, &err) == DL_ERR_UNSUPPORTED && !bad);
    CHECK(strstr(err.message, "fp16") != NULL);

    char paths[64][1024];
    int np = 0;
    snprintf(paths[np++], sizeof paths[0], "%s/samples/page.png", DL_SOURCE_DIR);
    char dir[1024];
    const char *shared = dl_shared_path("data/publaynet-examples", dir, sizeof dir);
    DIR *dp = shared ? opendir(shared) : NULL;
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)) && np < 64) {
            size_t l = strlen(e->d_name);
            if (l > 4 && strcmp(e->d_name + l - 4, ".jpg") == 0)
                snprintf(paths[np++], sizeof paths[0], "%s/%s", shared, e->d_name);
        }
        closedir(dp);
    } else {
        printf("../shared absent: samples/page.png only\n");
        if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
            CHECK_MSG(false, "CI: ../shared/data/publaynet-examples missing");
    }
    int considered = 0, hits = 0, ctrl_considered = 0, ctrl_hits = 0;
    for (int i = 0; i < np; i++) {
        dl_image *img = NULL;
        if (dl_image_load_file(paths[i], &img, &err) != DL_OK) {
            CHECK_MSG(false, "%s: %s", paths[i], err.message);
            continue;
        }
        dl_result *ra = detect(fp32, img), *rb = detect(bf16, img);
        CHECK(ra && rb);
        if (ra && rb) {
            size_t na, nb;
            const dl_detection *da = dl_result_detections(ra, 0, &na);
            const dl_detection *db = dl_result_detections(rb, 0, &nb);
            int c0 = considered;
            int h = matched(da, na, db, nb, &considered);
            hits += h;
            printf("  %-60s fp32 %d, matched %d\n", strrchr(paths[i], '/') + 1, considered - c0, h);
            /* negative control: the fp32 boxes moved right by 3% of their width */
            dl_detection moved[1024];
            size_t nm = na < 1024 ? na : 1024;
            for (size_t q = 0; q < nm; q++) {
                moved[q] = da[q];
                float dx = 0.03f * (da[q].box[2] - da[q].box[0]);
                moved[q].box[0] += dx;
                moved[q].box[2] += dx;
            }
            ctrl_hits += matched(da, nm, moved, nm, &ctrl_considered);
        }
        dl_result_free(ra);
        dl_result_free(rb);
        dl_image_free(img);
    }
    double rate = considered ? (double)hits / considered : 0.0;
    double ctrl = ctrl_considered ? (double)ctrl_hits / ctrl_considered : 0.0;
    printf("bf16 gate: %d of %d fp32 detections (score >= %.2f) matched at IoU >= %.2f, "
           "|dscore| <= %.2f: %.1f%% (need %.0f%%); control (boxes moved 3%%): %.1f%%\n",
           hits, considered, MIN_SCORE, MIN_IOU, MAX_DSCORE, 100.0 * rate, 100.0 * MIN_RATE,
           100.0 * ctrl);
    CHECK_MSG(considered >= 5, "only %d fp32 detections to compare", considered);
    CHECK_MSG(rate >= MIN_RATE, "bf16 match rate %.3f < %.2f", rate, MIN_RATE);
    CHECK_MSG(ctrl < MIN_RATE, "the gate did not fail on moved boxes (%.3f)", ctrl);
    dl_detector_free(fp32);
    dl_detector_free(bf16);
    dl_model_free(model);
    return dl_test_finish("test_bf16_gate");
}
