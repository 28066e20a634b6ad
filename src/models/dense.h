/*
 * doclayout's own dense detector (model_type "dl_dense"): a small anchor-free one-stage model
 * of the YOLO/FCOS family — CSP backbone, PAN neck, a decoupled head shared by strides 8/16/32
 * predicting per cell 17 label logits, a centerness logit and 4 edge distances. It is the
 * bundled default model, trained by training/train.py (whose PyTorch definition,
 * training/dense_model.py, this file follows tensor for tensor).
 *
 * Its forward returns the engine's common form: per cell, label logits whose sigmoid is the
 * final score sqrt(sigmoid(cls) * sigmoid(ctr)), and boxes as normalised (cx, cy, w, h). Unlike
 * the DETR models, its detections need non-maximum suppression (dl_dense_nms_threshold).
 */
#ifndef DL_MODELS_DENSE_H
#define DL_MODELS_DENSE_H

#include <cjson/cJSON.h>

#include "models/layers.h"

typedef struct dl_dense_config {
    int widths[5]; /* stem, stage1..4 */
    int depths[4];
    int neck_width, head_width, head_convs;
    int num_labels;
    int max_detections;
    float nms_threshold;
    float batch_norm_eps;
} dl_dense_config;

dl_status dl_dense_config_parse(const cJSON *root, dl_dense_config *cfg, dl_error *err);

typedef struct dl_dense dl_dense;

dl_status dl_dense_build(const dl_dense_config *cfg, dl_weights *w, dl_dense **out);
void dl_dense_free(dl_dense *net);
/* Cells of an h x w input over the three levels (the engine's "queries"). */
int dl_dense_num_cells(int h, int w);
/* pixels [3, h, w] -> logits [cells, labels], boxes [cells, 4] (host memory). */
dl_status dl_dense_forward(const dl_dense *net, dl_exec *ex, int h, int w, const float *pixels,
                           float *logits, float *boxes, dl_error *err);

#endif
