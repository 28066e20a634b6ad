/* The COCO evaluator against hand-computed cases (pycocotools semantics).
 *
 * Notation: p1 = 1 / (1 + eps) with eps = 2^-52 (np.spacing(1)): pycocotools computes precision
 * as tp / (tp + fp + eps), so a precision of "1" is p1 = 0.9999999999999998. For tp + fp >= 2
 * the eps vanishes in rounding (2 + 2^-52 rounds to 2), so 1/2 and 2/3 are exact. */
#include <cjson/cJSON.h>
#include <float.h>
#include <unistd.h>

#include "eval/coco_eval.h"
#include "test_util.h"

static const double p1 = 1.0 / (1.0 + DBL_EPSILON);

static dl_eval_box box(int img, int cat, double x, double y, double w, double h, double score) {
    dl_eval_box b;
    memset(&b, 0, sizeof b);
    b.image = img;
    b.category = cat;
    b.bbox[0] = x;
    b.bbox[1] = y;
    b.bbox[2] = w;
    b.bbox[3] = h;
    b.area = w * h;
    b.score = score;
    return b;
}

/* `doclayout eval ARGS...`: the CLI's exit status. */
static int run_eval(int argc, char **argv) {
    char cmd[4096];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "%s", DL_CLI_PATH);
    for (int i = 0; i < argc && n < sizeof cmd; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", argv[i]);
    if (n < sizeof cmd) snprintf(cmd + n, sizeof cmd - n, " >/dev/null 2>&1");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_thresholds(void) {
    /* np.linspace(.5, .95, 10) and np.linspace(0, 1, 101), printed by numpy */
    CHECK(dl_eval_iou_threshold(0) == 0.5);
    CHECK(dl_eval_iou_threshold(5) == 0.75);
    CHECK(dl_eval_iou_threshold(8) == 0.8999999999999999);
    CHECK(dl_eval_iou_threshold(9) == 0.95);
    CHECK(dl_eval_recall_threshold(7) == 0.07);
    CHECK(dl_eval_recall_threshold(100) == 1.0);
}

/* Perfect detections on two images, three boxes: precision = [p1, 2/(2+eps), 3/(3+eps)] =
 * [p1, 1, 1], made monotone -> [1, 1, 1]: AP = 1 exactly (a single TP would give p1). */
static void test_perfect(void) {
    dl_eval_box gt[3] = {box(0, 0, 10, 10, 100, 50, 0), box(0, 0, 10, 100, 100, 50, 0),
                         box(1, 0, 5, 5, 300, 200, 0)};
    dl_eval_box dt[3] = {box(0, 0, 10, 10, 100, 50, 0.9), box(0, 0, 10, 100, 100, 50, 0.3),
                         box(1, 0, 5, 5, 300, 200, 0.6)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 3, dt, 3, 2, 1, NULL, &r) == 0);
    CHECK(r.stats[0] == 1.0 && r.stats[1] == 1.0 && r.stats[2] == 1.0);
    CHECK(r.stats[8] == 1.0);
    CHECK(r.stats[3] == -1); /* no small boxes: -1, as pycocotools */
    /* medium: the two 100x50 boxes -> two TPs (image 1's large detection matches an ignored
     * ground truth: ignored) -> 1; large: one TP -> p1 */
    CHECK_MSG(r.stats[4] == 1.0 && NEAR(r.stats[5], p1), "%.17g %.17g", r.stats[4], r.stats[5]);
    /* AR@1: image 0 keeps one of its two boxes -> recall 2/3 at every IoU */
    CHECK(NEAR(r.stats[6], 2.0 / 3.0));
    CHECK(r.ap[0] == 1.0 && r.num_gt[0] == 3 && r.num_dt[0] == 3);
    dl_eval_result_free(&r);
}

/* One false positive scored above the only true positive:
 *   tp = [0, 1], fp = [1, 1], recall = [0, 1], precision = [0, 1/2] -> monotone [1/2, 1/2];
 *   every recall threshold reads 1/2 -> AP = 0.5 exactly at every IoU. */
static void test_fp_above_tp(void) {
    dl_eval_box gt[1] = {box(0, 0, 0, 0, 10, 10, 0)};
    dl_eval_box dt[2] = {box(0, 0, 50, 50, 10, 10, 0.9), box(0, 0, 0, 0, 10, 10, 0.8)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 1, dt, 2, 1, 1, NULL, &r) == 0);
    CHECK(r.stats[0] == 0.5 && r.stats[1] == 0.5 && r.stats[2] == 0.5);
    CHECK(r.stats[8] == 1.0);
    CHECK(r.stats[6] == 0.0); /* AR@1: the FP comes first */
    dl_eval_result_free(&r);
}

/* TP, FP, TP over two ground-truth boxes (scores .9, .8, .7):
 *   recall = [.5, .5, 1], precision = [p1, 1/2, 2/3] -> monotone [p1, 2/3, 2/3];
 *   thresholds 0 .. .50 (51 of them) find index 0 -> p1; .51 .. 1 (50) find index 2 -> 2/3;
 *   AP = (51 p1 + 50 * 2/3) / 101 = 0.834983498... */
static void test_tp_fp_tp(void) {
    dl_eval_box gt[2] = {box(0, 0, 0, 0, 10, 10, 0), box(0, 0, 100, 100, 10, 10, 0)};
    dl_eval_box dt[3] = {box(0, 0, 0, 0, 10, 10, 0.9), box(0, 0, 50, 50, 10, 10, 0.8),
                         box(0, 0, 100, 100, 10, 10, 0.7)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 2, dt, 3, 1, 1, NULL, &r) == 0);
    double want = (51 * p1 + 50 * (2.0 / 3.0)) / 101;
    CHECK_MSG(NEAR(r.stats[0], want), "%.17g vs %.17g", r.stats[0], want);
    CHECK(NEAR(r.stats[1], want) && NEAR(r.ap50[0], want));
    dl_eval_result_free(&r);
}

/* IoU exactly 0.5 matches at the 0.5 threshold (pycocotools keeps a match when iou >= t);
 * 0.4995 does not. GT 100x100; detection 100x50 inside it: IoU = 5000 / 10000 = 0.5. */
static void test_iou_half(void) {
    dl_eval_box gt[1] = {box(0, 0, 0, 0, 100, 100, 0)};
    dl_eval_box at[1] = {box(0, 0, 0, 0, 100, 50, 0.9)};
    dl_eval_box below[1] = {box(0, 0, 0, 0, 100, 49.95, 0.9)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 1, at, 1, 1, 1, NULL, &r) == 0);
    CHECK(NEAR(r.stats[1], p1));        /* AP50 */
    CHECK(r.stats[2] == 0.0);           /* AP75 */
    CHECK(NEAR(r.stats[0], p1 / 10.0)); /* one threshold of ten */
    CHECK(NEAR(r.stats[8], 0.1));       /* AR: recall 1 at one threshold of ten */
    dl_eval_result_free(&r);
    CHECK(dl_eval_run(gt, 1, below, 1, 1, 1, NULL, &r) == 0);
    CHECK(r.stats[0] == 0.0 && r.stats[1] == 0.0);
    dl_eval_result_free(&r);
}

/* 101 boxes in one image, each detected perfectly: maxDets 100 keeps the 100 best scores;
 * recall ends at 100/101 = 0.990099 >= .99, so thresholds 0 .. .99 read 1 and 1.0 reads 0:
 * AP = 100 / 101; AR@100 = 100/101, AR@10 = 10/101, AR@1 = 1/101. */
static void test_max_dets(void) {
    dl_eval_box gt[101], dt[101];
    for (int i = 0; i < 101; i++) {
        gt[i] = box(0, 0, (i % 10) * 50, (i / 10) * 50, 40, 40, 0);
        dt[i] = box(0, 0, (i % 10) * 50, (i / 10) * 50, 40, 40, 1.0 - i * 0.001);
    }
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 101, dt, 101, 1, 1, NULL, &r) == 0);
    CHECK_MSG(NEAR(r.stats[0], 100.0 / 101), "%.17g", r.stats[0]);
    CHECK(NEAR(r.stats[8], 100.0 / 101) && NEAR(r.stats[7], 10.0 / 101) &&
          NEAR(r.stats[6], 1.0 / 101));
    dl_eval_result_free(&r);
    /* a smaller limit through the parameters: 2 of 3 perfect boxes -> 67 thresholds (0..0.66) */
    dl_eval_params p = {{1, 2, 2}};
    CHECK(dl_eval_run(gt, 3, dt, 3, 1, 1, &p, &r) == 0);
    CHECK_MSG(NEAR(r.stats[0], 67.0 / 101), "%.17g", r.stats[0]);
    dl_eval_result_free(&r);
}

/* Categories: 0 perfect (p1), 1 detections but no ground truth (-1, left out), 2 nothing (-1),
 * 3 ground truth but no detections (0). Mean AP = (p1 + 0) / 2. */
static void test_empty_classes(void) {
    dl_eval_box gt[2] = {box(0, 0, 0, 0, 50, 50, 0), box(0, 3, 100, 100, 50, 50, 0)};
    dl_eval_box dt[2] = {box(0, 0, 0, 0, 50, 50, 0.5), box(0, 1, 0, 0, 50, 50, 0.9)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 2, dt, 2, 1, 4, NULL, &r) == 0);
    CHECK(NEAR(r.ap[0], p1) && r.ap[1] == -1 && r.ap[2] == -1 && r.ap[3] == 0.0);
    CHECK(NEAR(r.stats[0], p1 / 2));
    dl_eval_result_free(&r);
}

/* Area ranges: a 20x20 box (400 < 32^2, small) and a 200x200 one (large), both found:
 * AP small = AP large = p1, AP medium = -1. A false positive of medium size is ignored in the
 * small and large ranges (unmatched and outside them) but counts in "all". */
static void test_areas(void) {
    dl_eval_box gt[2] = {box(0, 0, 0, 0, 20, 20, 0), box(0, 0, 100, 100, 200, 200, 0)};
    dl_eval_box dt[3] = {box(0, 0, 0, 0, 20, 20, 0.5), box(0, 0, 100, 100, 200, 200, 0.4),
                         box(0, 0, 400, 400, 50, 50, 0.9)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 2, dt, 3, 1, 1, NULL, &r) == 0);
    CHECK(NEAR(r.stats[3], p1) && r.stats[4] == -1 && NEAR(r.stats[5], p1));
    /* all: FP first: recall [0, .5, 1], precision [0, 1/2, 2/3] -> monotone [2/3, 2/3, 2/3] */
    CHECK(NEAR(r.stats[0], 2.0 / 3.0));
    dl_eval_result_free(&r);
}

/* Crowd: a detection inside an iscrowd region (IoU = intersection / detection area = 1) is
 * ignored, so it neither helps nor hurts: AP stays p1. */
static void test_crowd(void) {
    dl_eval_box gt[2] = {box(0, 0, 0, 0, 10, 10, 0), box(0, 0, 100, 100, 300, 300, 0)};
    gt[1].iscrowd = 1;
    dl_eval_box dt[3] = {box(0, 0, 150, 150, 20, 20, 0.9), box(0, 0, 0, 0, 10, 10, 0.8),
                         box(0, 0, 200, 200, 20, 20, 0.95)};
    dl_eval_result r;
    CHECK(dl_eval_run(gt, 2, dt, 3, 1, 1, NULL, &r) == 0);
    CHECK(NEAR(r.stats[0], p1));
    CHECK(r.num_gt[0] == 1);
    dl_eval_result_free(&r);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* The command line: PubLayNet-style ground truth mapped to Docling labels, doclayout's detect
 * JSON (pages matched by file name), JSON report. "list" is dropped by the map; the Text
 * detection is perfect, the Section-header one is the FP-above-TP case -> AP 0.5. */
static void test_cli(void) {
    char dir[] = "/tmp/dl_test_eval_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char gt[256], dt[256], out[256];
    snprintf(gt, sizeof gt, "%s/gt.json", dir);
    snprintf(dt, sizeof dt, "%s/dt.json", dir);
    snprintf(out, sizeof out, "%s/out.json", dir);
    CHECK(write_file(gt, "{\"images\": [{\"id\": 7, \"file_name\": \"a.jpg\", \"width\": 600, "
                         "\"height\": 800}],"
                         "\"categories\": [{\"id\": 1, \"name\": \"text\"}, {\"id\": 2, \"name\": "
                         "\"title\"}, {\"id\": 3, \"name\": \"list\"}],"
                         "\"annotations\": ["
                         "{\"id\": 1, \"image_id\": 7, \"category_id\": 1, \"bbox\": [10, 10, 100, "
                         "50], \"area\": 5000, \"iscrowd\": 0},"
                         "{\"id\": 2, \"image_id\": 7, \"category_id\": 2, \"bbox\": [10, 100, "
                         "100, 20]},"
                         "{\"id\": 3, \"image_id\": 7, \"category_id\": 3, \"bbox\": [10, 200, "
                         "100, 20]}]}") == 0);
    CHECK(write_file(dt, "{\"pages\": [{\"source\": \"/some/dir/a.jpg\", \"page\": 0, "
                         "\"detections\": ["
                         "{\"label\": \"Text\", \"label_id\": 9, \"score\": 0.9, \"box\": [10, "
                         "10, 110, 60]},"
                         "{\"label\": \"Section-header\", \"label_id\": 7, \"score\": 0.8, "
                         "\"box\": [300, 300, 400, 320]},"
                         "{\"label\": \"Section-header\", \"label_id\": 7, \"score\": 0.7, "
                         "\"box\": [10, 100, 110, 120]},"
                         "{\"label\": \"List-item\", \"label_id\": 3, \"score\": 0.7, "
                         "\"box\": [10, 200, 110, 220]}]}]}") == 0);
    char *argv[] = {"eval", "--gt-map", "publaynet", "--json", "-o", out, gt, dt};
    CHECK(run_eval(8, argv) == 0);
    FILE *f = fopen(out, "r");
    char buf[8192] = {0};
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    cJSON *j = cJSON_Parse(buf);
    CHECK(j != NULL);
    const cJSON *st = cJSON_GetObjectItem(j, "stats");
    const cJSON *ap = cJSON_GetObjectItem(st, "AP");
    CHECK(cJSON_IsNumber(ap) && NEAR(ap->valuedouble, (p1 + 0.5) / 2));
    const cJSON *cats = cJSON_GetObjectItem(j, "categories");
    CHECK(cJSON_GetArraySize(cats) == 17);
    const cJSON *li = cJSON_GetArrayItem(cats, 3); /* List-item: no GT after the map -> -1 */
    CHECK(cJSON_GetObjectItem(li, "AP")->valuedouble == -1);
    const cJSON *sh = cJSON_GetArrayItem(cats, 7);
    CHECK(cJSON_GetObjectItem(sh, "AP")->valuedouble == 0.5);
    cJSON_Delete(j);
    /* the same detections as a COCO results list in the ground truth's ids, and the table */
    CHECK(write_file(dt, "[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [10, 10, 100, 50], "
                         "\"score\": 0.9}]") == 0);
    char *argv2[] = {"eval", "-o", out, gt, dt};
    CHECK(run_eval(5, argv2) == 0);
    char *argv3[] = {"eval", gt};
    CHECK(run_eval(2, argv3) == 2);
    char *argv4[] = {"eval", "--gt-map", "text", gt, dt}; /* bad map spec: usage error */
    CHECK(run_eval(5, argv4) == 2);
    unlink(gt);
    unlink(dt);
    unlink(out);
    rmdir(dir);
}

int main(void) {
    test_thresholds();
    test_perfect();
    test_fp_above_tp();
    test_tp_fp_tp();
    test_iou_half();
    test_max_dets();
    test_empty_classes();
    test_areas();
    test_crowd();
    test_cli();
    return dl_test_finish("test_eval");
}
