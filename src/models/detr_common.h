/*
 * What RT-DETRv2 and D-FINE share: the AIFI transformer encoder layer and its 2-D sin-cos
 * position embedding, multi-head self-attention, anchors and the valid mask, the encoder head
 * and top-k query selection, and small box helpers.
 */
#ifndef DL_MODELS_DETR_COMMON_H
#define DL_MODELS_DETR_COMMON_H

#include <cjson/cJSON.h>
#include <math.h>

#include "models/layers.h"

#define DL_MAX_LEVELS 4

/* The config fields RT-DETRv2 and D-FINE share (hybrid encoder, queries, decoder). */
typedef struct dl_detr_config {
    int n_levels; /* feature levels = backbone outputs = decoder levels */
    int encoder_hidden_dim;
    int encoder_in_channels[DL_MAX_LEVELS];
    int feat_strides[DL_MAX_LEVELS];
    int n_encode_proj;
    int encode_proj_layers[DL_MAX_LEVELS];
    int encoder_layers, encoder_heads, encoder_ffn_dim;
    dl_act encoder_act; /* AIFI FFN (gelu) */
    dl_act act;         /* encoder convs (silu) */
    float hidden_expansion;
    float pos_temperature;
    bool normalize_before;
    int d_model, num_queries, num_labels;
    int decoder_layers, decoder_heads, decoder_ffn_dim;
    int level_points[DL_MAX_LEVELS], total_points; /* sampling points per level */
    int decoder_in_channels[DL_MAX_LEVELS];
    dl_act decoder_act;
    float offset_scale;
    bool discrete; /* decoder_method "discrete" */
    bool learn_initial_query;
    float layer_norm_eps, batch_norm_eps;
} dl_detr_config;

/*
 * Parse and check the shared fields of config.json (`root`) for a backbone with
 * `backbone_outputs` feature maps; names the offending field on failure. `point_lists` allows
 * decoder_n_points to be a per-level list (D-FINE), else it must be one number (RT-DETRv2).
 */
dl_status dl_detr_config_parse(const cJSON *root, int backbone_outputs, bool point_lists,
                               dl_detr_config *c, dl_error *err);

/* Self-attention with separate q/k/v/out projections; q and k see x + pos, v sees x. */
typedef struct dl_mha {
    int dim, heads;
    dl_linear q, k, v, o;
} dl_mha;

bool dl_mha_load(dl_weights *w, dl_mha *m, const char *prefix, int dim, int heads);
/* out[t, dim] = MHA(x[t, dim], pos[t, dim] or NULL) */
void dl_mha_run(dl_exec *ex, const dl_mha *m, int t, const float *x, const float *pos, float *out);

/* One AIFI encoder layer (post-norm unless normalize_before). */
typedef struct dl_aifi_layer {
    dl_mha attn;
    dl_norm attn_norm, ffn_norm;
    dl_linear fc1, fc2;
    dl_act act;
    bool normalize_before;
} dl_aifi_layer;

bool dl_aifi_load(dl_weights *w, dl_aifi_layer *l, const char *prefix, int dim, int heads, int ffn,
                  dl_act act, float eps, bool normalize_before);
/* In place on x[t, dim]. */
void dl_aifi_run(dl_exec *ex, const dl_aifi_layer *l, int t, float *x, const float *pos);

/* pos[h*w, dim]: transformers' build_2d_sincos_position_embedding(width=w, height=h). */
void dl_sincos_pos_embed(int h, int w, int dim, float temperature, float *pos);

/* anchors[S, 4] (logits; FLT_MAX where invalid) and valid[S] for levels of h x w cells. */
void dl_make_anchors(int n_levels, const int *lh, const int *lw, float grid_size, float *anchors,
                     float *valid);

static inline float dl_inverse_sigmoid(float x) {
    float eps = 1e-5f;
    x = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
    float x1 = x < eps ? eps : x;
    float x2 = (1.0f - x) < eps ? eps : (1.0f - x);
    return logf(x1 / x2);
}

/*
 * CSPRepLayer: conv3(reps(conv1(x)) + conv2(x)), conv3 only when hidden != out. Each RepVGG
 * block (3x3 conv+BN plus 1x1 conv+BN, then act) is merged into one 3x3 conv at load time.
 * RT-DETRv2 uses 3 blocks; D-FINE round(3 * depth_mult).
 */
typedef struct dl_csp_rep {
    dl_conv conv1, conv2, conv3;
    dl_conv conv12; /* conv1 and conv2 as one conv (both 1x1 on the same input): [a; c2] */
    bool has_conv3;
    int n_reps, hidden;
    dl_conv *reps; /* [n_reps] */
} dl_csp_rep;

bool dl_csp_load(dl_weights *w, dl_csp_rep *b, const char *prefix, int in, int out, int hidden,
                 int n_reps, dl_act act, float eps);
/* x [in, h, w] -> y [out, h, w] */
void dl_csp_run(dl_exec *ex, const dl_csp_rep *b, const float *x, int h, int w, float *y);

/*
 * The hybrid encoder both architectures share: per-level input projections, AIFI on the
 * encode_proj_layers, a top-down FPN (lateral conv replacing the top map, 2x nearest upsample,
 * concat, fusion block) and a bottom-up PAN (downsample, concat, fusion block). The fusion and
 * downsample blocks differ (RT-DETRv2: CSPRep and a 3x3 stride-2 conv; D-FINE: RepNCSPELAN4
 * and SCDown), so the encoder calls them through these hooks.
 */
/* x [2d, h, w] -> y [d, h, w] */
typedef void (*dl_fuse_fn)(dl_exec *ex, const void *block, const float *x, int h, int w, float *y);
/* x [d, h, w] -> y [d, h/2, w/2] */
typedef void (*dl_downsample_fn)(dl_exec *ex, const void *block, const float *x, int h, int w,
                                 float *y);

typedef struct dl_hybrid_encoder {
    const dl_detr_config *cfg;
    dl_conv input_proj[DL_MAX_LEVELS];
    dl_aifi_layer *aifi; /* [n_encode_proj * encoder_layers] */
    dl_conv lateral[DL_MAX_LEVELS];
    const void *fpn[DL_MAX_LEVELS], *pan[DL_MAX_LEVELS], *down[DL_MAX_LEVELS];
    dl_fuse_fn fuse;
    dl_downsample_fn downsample;
} dl_hybrid_encoder;

/* Input projections, AIFI layers and lateral convs (with `lateral_act`); the caller loads its
 * blocks and sets fpn/pan/down/fuse/downsample. */
bool dl_hybrid_encoder_load(dl_weights *w, dl_hybrid_encoder *e, const dl_detr_config *cfg,
                            dl_act lateral_act);
/* feat[l] [in_l, fh[l], fw[l]] (released) -> out[l] [d, fh[l], fw[l]]; emits the stages. */
bool dl_hybrid_encoder_run(dl_exec *ex, const dl_hybrid_encoder *e, const float **feat,
                           const int *fh, const int *fw, float **out);

/* The decoder's input: each level projected (proj[l], or as is when proj is NULL), flattened to
 * memory [S, d_model]; anchors [S, 4] and valid [S] for those levels. Releases pan[]. */
typedef struct dl_decoder_input {
    int tokens; /* S */
    int level_start[DL_MAX_LEVELS];
    float *memory, *anchors, *valid;
} dl_decoder_input;

bool dl_decoder_input_run(dl_exec *ex, const dl_detr_config *cfg, const dl_conv *proj, float **pan,
                          const int *fh, const int *fw, dl_decoder_input *in);

/* dl_make_anchors on the host, uploaded into backend memory anchors[S, 4] and valid[S]. */
bool dl_upload_anchors(dl_exec *ex, int n_levels, const int *lh, const int *lw, int s,
                       float *anchors, float *valid);

/* The encoder head + query selection shared by both architectures. */
typedef struct dl_query_select {
    dl_linear enc_output; /* d -> d, then LayerNorm */
    dl_norm enc_norm;
    dl_linear score_head; /* d -> labels */
    dl_mlp bbox_head;     /* d -> d -> d -> 4 */
} dl_query_select;

bool dl_query_select_load(dl_weights *w, dl_query_select *qs, int d, int labels, float eps);

/*
 * memory[S, d] (unmasked), anchors/valid from dl_make_anchors ->
 * target[Q, d] (selected output_memory rows), ref_unact[Q, 4], and the stage outputs.
 */
void dl_query_select_run(dl_exec *ex, const dl_query_select *qs, int s, int d, int labels, int q,
                         const float *memory, const float *anchors, const float *valid,
                         float *target, float *ref_unact);

/* H x W (the model's input) must be positive multiples of the largest feature stride. */
dl_status dl_detr_check_input(const dl_detr_config *c, int h, int w, dl_error *err);

/* The decoder's start, the same in both: what the queries attend to and where they begin. */
typedef struct dl_detr_queries {
    dl_decoder_input in;   /* memory [S, d_model], anchors, valid, level starts */
    float *hid;            /* [Q, d_model] the decoder state (query_embed when learned) */
    float *ref_un;         /* [Q, 4] initial reference boxes, logits */
    dl_deform_desc deform; /* cross-attention over `in` (level_h/w point at fh/fw) */
} dl_detr_queries;

/* The hybrid encoder on the backbone's feat[l] [in_l, fh[l], fw[l]], the decoder input
 * (dl_decoder_input_run with proj), then query selection. An h x w input names the failure. */
dl_status dl_detr_queries_run(dl_exec *ex, const dl_detr_config *c, const dl_hybrid_encoder *enc,
                              const dl_conv *proj, const dl_query_select *qs,
                              const float *query_embed, const float **feat, const int *fh,
                              const int *fw, int h, int w, dl_detr_queries *out, dl_error *err);

/* Deformable cross-attention's sampling from qin [Q, d_model]: off [Q, heads, P, 2] through
 * `offsets` then turned into locations around ref [Q, 4]; aw [Q, heads, P] through `weights`,
 * softmax per head. */
void dl_deform_sampling_run(dl_exec *ex, const dl_detr_config *c, int q, const dl_linear *offsets,
                            const dl_linear *weights, const float *qin, const float *ref,
                            float *off, float *aw);

#endif
