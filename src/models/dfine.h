/*
 * D-FINE (Docling's egret): HGNetV2 backbone, hybrid encoder (AIFI + RepNCSPELAN4 FPN/PAN with
 * SCDown), query selection, and the decoder with gated fusion, per-level sampling points and
 * fine-grained distribution refinement (FDR) with the location-quality estimator (LQE).
 * Built from config.json alone; every tensor name is the checkpoint name transformers writes.
 */
#ifndef DL_MODELS_DFINE_H
#define DL_MODELS_DFINE_H

#include <cjson/cJSON.h>

#include "models/detr_common.h"
#include "models/hgnetv2.h"

typedef struct dl_dfine_config {
    dl_hgnet_config backbone;
    dl_detr_config detr; /* encoder and decoder fields shared with RT-DETRv2 */
    float depth_mult;
    int csp_blocks;    /* round(3 * depth_mult) */
    int elan_hidden;   /* hidden_expansion * encoder_hidden_dim // 2 */
    bool decoder_proj; /* d_model != decoder_in_channels[-1]: 1x1 conv + BN per level */
    int num_denoising;
    int max_num_bins, top_prob_values, lqe_hidden, lqe_layers;
    float up, reg_scale; /* config values (the file's tensors win, see dl_dfine_warning) */
} dl_dfine_config;

/* Parse and validate (names the offending field on failure). */
dl_status dl_dfine_config_parse(const cJSON *root, dl_dfine_config *cfg, dl_error *err);

typedef struct dl_dfine dl_dfine;

/* Build the network, requesting every tensor through `w`. */
dl_status dl_dfine_build(const dl_dfine_config *cfg, dl_weights *w, dl_dfine **out);
void dl_dfine_free(dl_dfine *net);
/* A note about the loaded weights (empty when none), e.g. `up` in the file differing from
 * config.json (the file's value is used, as transformers does). */
const char *dl_dfine_warning(const dl_dfine *net);

/* One image: pixels [3, h, w] -> logits [Q, labels], boxes [Q, 4] (cx, cy, w, h in [0,1]). */
dl_status dl_dfine_forward(const dl_dfine *net, dl_exec *ex, int h, int w, const float *pixels,
                           float *logits, float *boxes, dl_error *err);

#endif
