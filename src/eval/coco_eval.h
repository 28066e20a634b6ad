/* COCO-style bounding-box evaluation with pycocotools' semantics (COCOeval, iouType "bbox").
 *
 * What is reproduced, step for step: per image and category, detections sorted by score (stable,
 * like numpy's mergesort) and cut to the largest maxDets; ground truth outside the area range
 * ignored and sorted last; greedy matching at each IoU threshold in .50:.05:.95 (a match needs
 * IoU >= t, the last best ground truth wins ties); unmatched detections outside the area range
 * ignored; per category the detections of all images merged by score, precision made monotone,
 * and read at the 101 recall thresholds 0:.01:1 (searchsorted, side "left"); precision is
 * tp / (tp + fp + eps) with eps = 2^-52 as numpy's np.spacing(1). Categories without
 * non-ignored ground truth get -1 and are left out of the means. iscrowd ground truth is
 * handled as pycocotools does (ignored, IoU = intersection / detection area, matched any
 * number of times). */
#ifndef DL_EVAL_COCO_EVAL_H
#define DL_EVAL_COCO_EVAL_H

#include <stddef.h>

#define DL_EVAL_NUM_IOU 10
#define DL_EVAL_NUM_REC 101
#define DL_EVAL_NUM_AREA 4 /* all, small, medium, large */
#define DL_EVAL_NUM_MAXDET 3
#define DL_EVAL_NUM_STATS 12

/* One ground-truth box or detection. `image` and `category` are dense indices
 * (0 .. num_images-1, 0 .. num_categories-1); bbox is COCO [x, y, w, h]. */
typedef struct dl_eval_box {
    int image;
    int category;
    double bbox[4];
    double area;  /* ground truth: the annotation's "area" (w*h when absent); detections: w*h */
    double score; /* detections only */
    int iscrowd;  /* ground truth only */
} dl_eval_box;

typedef struct dl_eval_params {
    int max_dets[DL_EVAL_NUM_MAXDET]; /* pycocotools: 1, 10, 100 */
} dl_eval_params;

typedef struct dl_eval_result {
    int num_categories;
    /* stats as COCOeval.summarize(): AP, AP50, AP75, AP small, medium, large,
     * AR@1, AR@10, AR@100, AR small, medium, large (at the largest maxDets); -1 when undefined. */
    double stats[DL_EVAL_NUM_STATS];
    /* Per category (area "all", largest maxDets): AP .50:.95, AP50, AP75, AR; -1 without
     * ground truth. Counts of ground truth (non-crowd) and detections per category. */
    double *ap, *ap50, *ap75, *ar;
    int *num_gt, *num_dt;
} dl_eval_result;

dl_eval_params dl_eval_default_params(void);

/* IoU thresholds and recall thresholds exactly as numpy's linspace computes them. */
double dl_eval_iou_threshold(int t);
double dl_eval_recall_threshold(int r);

/* Evaluate. Returns 0, or -1 when out of memory / bad indices. Free with dl_eval_result_free. */
int dl_eval_run(const dl_eval_box *gt, size_t n_gt, const dl_eval_box *dt, size_t n_dt,
                int num_images, int num_categories, const dl_eval_params *params,
                dl_eval_result *out);
void dl_eval_result_free(dl_eval_result *r);

#endif
