/*
 * RT-DETRv2 (Docling's heron): ResNet-vd backbone, hybrid encoder (AIFI + CCFM), query
 * selection, and the deformable-attention decoder with iterative box refinement. Built from
 * config.json alone; every tensor name is the checkpoint name transformers writes.
 */
#ifndef DL_MODELS_RTDETR_V2_H
#define DL_MODELS_RTDETR_V2_H

#include <cjson/cJSON.h>

#include "models/detr_common.h"

#define DL_RESNET_MAX_STAGES 8

typedef struct dl_rtdetr_config {
    /* backbone_config (rt_detr_resnet) */
    int embedding_size;
    int n_stages;
    int depths[DL_RESNET_MAX_STAGES];
    int hidden_sizes[DL_RESNET_MAX_STAGES];
    bool bottleneck;
    bool downsample_in_first_stage, downsample_in_bottleneck;
    dl_act backbone_act;
    int n_out;
    int out_indices[DL_MAX_LEVELS]; /* into (stem, stage1, ...): 2,3,4 for heron */
    /* encoder and decoder: the fields shared with D-FINE */
    dl_detr_config detr;
} dl_rtdetr_config;

/* Parse and validate (names the offending field on failure). */
dl_status dl_rtdetr_config_parse(const cJSON *root, dl_rtdetr_config *cfg, dl_error *err);

typedef struct dl_rtdetr dl_rtdetr;

/* Build the network, requesting every tensor through `w`. */
dl_status dl_rtdetr_build(const dl_rtdetr_config *cfg, dl_weights *w, dl_rtdetr **out);
void dl_rtdetr_free(dl_rtdetr *net);
/* The model's host allocations (weights and layer tables) and their sizes in floats, for a
 * device backend to copy once; returns their count. */
size_t dl_rtdetr_weight_allocs(const dl_rtdetr *net, void *const **ptrs, const size_t **floats);

/*
 * One image: pixels [3, h, w] (backend memory) -> logits [Q, labels], boxes [Q, 4] (cx, cy,
 * w, h in [0,1]; host memory). h and w must be multiples of 32 (the largest stride).
 * Activations come from ex->arena.
 */
dl_status dl_rtdetr_forward(const dl_rtdetr *net, dl_exec *ex, int h, int w, const float *pixels,
                            float *logits, float *boxes, dl_error *err);

#endif
