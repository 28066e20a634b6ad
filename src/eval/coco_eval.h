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

#include "doclayout.h" /* the evaluation API (dl_eval_*) is public */

#endif
