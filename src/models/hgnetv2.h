/*
 * HGNetV2 backbone (D-FINE / Docling's egret): stem with a max-pool branch, stages of HG blocks
 * (plain or light convs, concat aggregation, squeeze + excitation), optional learnable affine
 * blocks. Built from backbone_config alone; tensor names are the checkpoint names under
 * "model.backbone.model.".
 */
#ifndef DL_MODELS_HGNETV2_H
#define DL_MODELS_HGNETV2_H

#include <cjson/cJSON.h>

#include "models/detr_common.h"

#define DL_HGNET_MAX_STAGES 8

typedef struct dl_hgnet_config {
    int stem_channels[3];
    int n_stages;
    int in_ch[DL_HGNET_MAX_STAGES], mid_ch[DL_HGNET_MAX_STAGES], out_ch[DL_HGNET_MAX_STAGES];
    int num_blocks[DL_HGNET_MAX_STAGES], num_layers[DL_HGNET_MAX_STAGES];
    int kernel[DL_HGNET_MAX_STAGES];
    bool downsample[DL_HGNET_MAX_STAGES], light[DL_HGNET_MAX_STAGES];
    dl_act act;
    bool lab;        /* use_learnable_affine_block */
    bool bn_tracked; /* !freeze_backbone_batch_norms: files carry num_batches_tracked */
    int n_out;
    int out_indices[DL_MAX_LEVELS]; /* 0 = stem, i = stage i */
} dl_hgnet_config;

/* Parse backbone_config (model_type hgnet_v2); names the offending field on failure. */
dl_status dl_hgnet_config_parse(const cJSON *bb, bool freeze_bn, dl_hgnet_config *c, dl_error *err);
/* Channels of backbone output i. */
int dl_hgnet_out_channels(const dl_hgnet_config *c, int i);

typedef struct dl_hgnet dl_hgnet;

/* Requests every backbone tensor through w; the structures live in w's allocations. */
dl_hgnet *dl_hgnet_build(const dl_hgnet_config *c, dl_weights *w);

/* pixels [3, H, W] -> feat[i] [out_channels(i), fh[i], fw[i]] (arena buffers). false on OOM. */
bool dl_hgnet_forward(const dl_hgnet *net, dl_exec *ex, int H, int W, const float *pixels,
                      const float **feat, int *fh, int *fw);

#endif
