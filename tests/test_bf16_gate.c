/* The CPU's bf16 precision gated on final detections of the bundled default model (real,
 * trained weights: models/default): on samples/page.png and the PubLayNet pages of
 * ../shared (when present), at least 95% of the fp32 detections with score >= 0.3 must have a
 * bf16 detection of the same label with IoU >= 0.95 and |score difference| <= 0.02. Runs at
 * the machine's top level (vdpbf16ps with AVX512_BF16; rounded operands through the fp32
 * kernel elsewhere) and prints the match rate. A negative control (fp32 boxes moved by 3% of
 * their size) shows the gate fails when detections do move. The matching is the shared gate's
 * (detection_gate.h: dl_gate_bf16), as on the GPU. */
#include <dirent.h>

#include "core/cpu_features.h"
#include "detection_gate.h"
#include "doclayout.h"
#include "test_util.h"

static dl_result *detect(dl_detector *d, const dl_image *img) {
    dl_error err;
    dl_result *r = NULL;
    /* a lower threshold than the gate's, so that a bf16 score just under 0.3 still matches */
    if (dl_detector_run(d, &img, 1, dl_gate_bf16.min_score - 2 * dl_gate_bf16.max_dscore, &r,
                        &err) != DL_OK) {
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
    const dl_gate *g = &dl_gate_bf16;
    dl_gate_count all = {0, 0}, ctrl = {0, 0};
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
            dl_gate_count page = {0, 0};
            dl_gate_add(g, da, na, db, nb, &page);
            all.reference += page.reference;
            all.matched += page.matched;
            printf("  %-40s fp32 %zu, matched %zu\n", strrchr(paths[i], '/') + 1, page.reference,
                   page.matched);
            /* negative control: the fp32 boxes moved right by 3% of their width */
            dl_detection *moved = malloc((na ? na : 1) * sizeof *moved);
            CHECK(moved != NULL);
            if (moved) {
                for (size_t q = 0; q < na; q++) {
                    moved[q] = da[q];
                    float dx = 0.03f * (da[q].box[2] - da[q].box[0]);
                    moved[q].box[0] += dx;
                    moved[q].box[2] += dx;
                }
                dl_gate_add(g, da, na, moved, na, &ctrl);
                free(moved);
            }
        }
        dl_result_free(ra);
        dl_result_free(rb);
        dl_image_free(img);
    }
    printf("BF16_GATE cpu: %zu of %zu fp32 detections (score >= %.2f) matched at IoU >= %.2f, "
           "|dscore| <= %.2f: %.1f%% (need %.0f%%); control (boxes moved 3%%): %.1f%%\n",
           all.matched, all.reference, g->min_score, g->min_iou, g->max_dscore,
           100.0 * dl_gate_rate(&all), 100.0 * g->min_rate, 100.0 * dl_gate_rate(&ctrl));
    CHECK_MSG(all.reference >= 5, "only %zu fp32 detections to compare", all.reference);
    CHECK_MSG(dl_gate_passes(g, &all), "bf16 match rate %.3f < %.2f", dl_gate_rate(&all),
              g->min_rate);
    CHECK_MSG(!dl_gate_passes(g, &ctrl), "the gate passed moved boxes (%.3f)", dl_gate_rate(&ctrl));
    dl_detector_free(fp32);
    dl_detector_free(bf16);
    dl_model_free(model);
    return dl_test_finish("test_bf16_gate");
}
