/*
 * transformers' RTDetrImageProcessor.post_process_object_detection (use_focal_loss=True):
 * sigmoid, top-k (k = queries) over the flattened queries x labels with ties broken by the
 * lower flat index, label = i % L, query = i / L, cxcywh -> corners scaled to the target size,
 * strict score > threshold. Optionally clamped to the image, as Docling's pipeline does.
 */
#ifndef DL_POSTPROCESS_DETECTIONS_H
#define DL_POSTPROCESS_DETECTIONS_H

#include <stdbool.h>

#include "doclayout.h"

typedef struct dl_raw_detection {
    int label;
    int query;
    float score;
    float box[4];
} dl_raw_detection;

/*
 * logits [q, labels], boxes [q, 4] -> out[<= k] sorted by score (returns the count). k is the
 * top-k size (DETR models: q). nms > 0 then drops a detection whose IoU with a stronger one of
 * the same label exceeds it (dense models). scratch: at least q * labels + 2 * k floats.
 */
int dl_postprocess_detections(const float *logits, const float *boxes, int q, int labels, int k,
                              float nms, float threshold, float width, float height, bool clamp,
                              dl_raw_detection *out, float *scratch);

#endif
