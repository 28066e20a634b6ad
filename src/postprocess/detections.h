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
 * logits [q, labels], boxes [q, 4] -> out[<= q] sorted by score (returns the count).
 * scratch: at least 3 * q * labels floats.
 */
int dl_postprocess_detections(const float *logits, const float *boxes, int q, int labels,
                              float threshold, float width, float height, bool clamp,
                              dl_raw_detection *out, float *scratch);

#endif
