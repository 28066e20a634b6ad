#include "models/rtdetr_v2.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "models/registry.h"

/* ---- config ------------------------------------------------------------------------------ */

dl_status dl_rtdetr_config_parse(const cJSON *root, dl_rtdetr_config *c, dl_error *err) {
    memset(c, 0, sizeof *c);
    dl_cfg cfg = {.root = root, .file = "config.json", .err = err, .status = DL_OK};
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(root, "backbone_config");
    if (!cJSON_IsObject(bb))
        return dl_fail(err, DL_ERR_FORMAT, "config.json: \"backbone_config\" object is missing");
    dl_cfg b = {.root = bb, .file = "config.json: backbone_config", .err = err, .status = DL_OK};
    const char *bt = dl_cfg_str(&b, "model_type", "rt_detr_resnet");
    if (b.status == DL_OK && strcmp(bt, "rt_detr_resnet") != 0)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: backbone model_type \"%s\" is not supported for rt_detr_v2 "
                       "(expected rt_detr_resnet)",
                       bt);
    c->embedding_size = dl_cfg_int(&b, "embedding_size", 64, 2, 4096);
    c->n_stages = dl_cfg_ints(&b, "depths", c->depths, DL_RESNET_MAX_STAGES, 1, 256, true);
    int nh = dl_cfg_ints(&b, "hidden_sizes", c->hidden_sizes, DL_RESNET_MAX_STAGES, 1, 16384, true);
    const char *lt = dl_cfg_str(&b, "layer_type", "bottleneck");
    c->bottleneck = lt && strcmp(lt, "bottleneck") == 0;
    if (b.status == DL_OK && lt && !c->bottleneck && strcmp(lt, "basic") != 0)
        return dl_fail(err, DL_ERR_UNSUPPORTED, "config.json: backbone layer_type \"%s\"", lt);
    c->downsample_in_first_stage = dl_cfg_bool(&b, "downsample_in_first_stage", false);
    c->downsample_in_bottleneck = dl_cfg_bool(&b, "downsample_in_bottleneck", false);
    c->backbone_act = dl_cfg_act(&b, "hidden_act", "relu");
    int nch = dl_cfg_int(&b, "num_channels", 3, 3, 3);
    (void)nch;
    c->n_out = dl_cfg_ints(&b, "out_indices", c->out_indices, DL_MAX_LEVELS, 1,
                           DL_RESNET_MAX_STAGES, false);
    if (b.status != DL_OK) return b.status;
    if (c->n_stages != nh)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: backbone depths (%d) and hidden_sizes (%d) differ in length",
                       c->n_stages, nh);
    if (c->n_out < 0) {
        /* default: the last three stages */
        c->n_out = c->n_stages < 3 ? c->n_stages : 3;
        for (int i = 0; i < c->n_out; i++) c->out_indices[i] = c->n_stages - c->n_out + 1 + i;
    }
    for (int i = 0; i < c->n_out; i++)
        if (c->out_indices[i] > c->n_stages)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: backbone out_indices names stage %d "
                           "of %d",
                           c->out_indices[i], c->n_stages);

    dl_status st = dl_detr_config_parse(root, c->n_out, false, &c->detr, err);
    if (st != DL_OK) return st;
    (void)cfg;
    if ((int)(c->detr.encoder_hidden_dim * c->detr.hidden_expansion) < 1)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: hidden_expansion too small");
    return DL_OK;
}

/* ---- the network ------------------------------------------------------------------------- */

typedef struct resnet_block {
    dl_conv convs[3]; /* bottleneck: 1x1, 3x3, 1x1 (last without act); basic: 3x3, 3x3 */
    int n_convs;
    bool has_shortcut;  /* projection; else identity */
    bool shortcut_pool; /* 2x2 average pool (ceil) before the projection: the "vd" trick */
    dl_conv shortcut;
    int stride;
    /* bottleneck with a projection shortcut: the last 1x1 conv and the projection as one 1x1
     * conv over [conv2 output; shortcut input] (weights side by side, biases summed):
     * relu(W3 t + b3 + Ws s + bs) = relu([W3 Ws] [t; s] + (b3 + bs)), so the projection's
     * output never goes through memory */
    bool fused_shortcut;
    dl_conv last_fused;
} resnet_block;

typedef struct decoder_layer {
    dl_mha self_attn;
    dl_norm self_norm, cross_norm, ffn_norm;
    dl_linear offsets, weights, value_proj, output_proj;
    dl_linear fc1, fc2;
    dl_linear class_head;
    dl_mlp bbox_head;
} decoder_layer;

struct dl_rtdetr {
    dl_rtdetr_config cfg;
    void **allocs;
    size_t *alloc_floats;
    size_t n_allocs;
    /* backbone */
    dl_conv stem[3];
    int n_blocks;
    resnet_block *blocks; /* all stages, in order */
    int *stage_end;       /* [n_stages] index one past each stage's last block */
    int out_channels[DL_MAX_LEVELS];
    /* encoder: the shared hybrid encoder with CSPRep fusion and 3x3 stride-2 downsampling */
    dl_hybrid_encoder enc;
    dl_conv downsample[DL_MAX_LEVELS];
    dl_csp_rep fpn[DL_MAX_LEVELS], pan[DL_MAX_LEVELS];
    /* decoder */
    dl_conv dec_proj[DL_MAX_LEVELS];
    dl_query_select qs;
    float *query_embed; /* [Q, d] when learn_initial_query */
    dl_mlp query_pos;
    decoder_layer *layers;
};

static bool load_backbone(dl_rtdetr *m, dl_weights *w) {
    const dl_rtdetr_config *c = &m->cfg;
    char n1[256], n2[256];
    const float eps = 1e-5f; /* frozen batch norm: eps hard-coded */
    int e = c->embedding_size;
    int stem_io[3][3] = {{3, e / 2, 2}, {e / 2, e / 2, 1}, {e / 2, e, 1}};
    for (int i = 0; i < 3; i++)
        dl_conv_load(w, &m->stem[i],
                     dl_wname(n1, "model.backbone.model.embedder.embedder.%d.convolution", i),
                     dl_wname(n2, "model.backbone.model.embedder.embedder.%d.normalization", i),
                     false, stem_io[i][0], stem_io[i][1], 3, stem_io[i][2], 1, c->backbone_act,
                     eps);
    int total = 0;
    for (int s = 0; s < c->n_stages; s++) total += c->depths[s];
    m->n_blocks = total;
    m->blocks = (resnet_block *)dl_weights_alloc(w, (sizeof(resnet_block) * (size_t)total + 3) / 4);
    m->stage_end = (int *)dl_weights_alloc(w, (size_t)c->n_stages);
    if (!m->blocks || !m->stage_end) return false;
    int bi = 0;
    for (int s = 0; s < c->n_stages; s++) {
        int in = s == 0 ? e : c->hidden_sizes[s - 1], out = c->hidden_sizes[s];
        int stride = s == 0 ? (c->downsample_in_first_stage ? 2 : 1) : 2;
        for (int l = 0; l < c->depths[s]; l++, bi++) {
            resnet_block *b = &m->blocks[bi];
            int bin = l == 0 ? in : out, bstride = l == 0 ? stride : 1;
            const char *p = dl_wname(n1, "model.backbone.model.encoder.stages.%d.layers.%d", s, l);
            char pfx[256];
            snprintf(pfx, sizeof pfx, "%s", p);
            b->stride = bstride;
            if (c->bottleneck) {
                int red = out / 4;
                int s1 = c->downsample_in_bottleneck ? bstride : 1;
                int s2 = c->downsample_in_bottleneck ? 1 : bstride;
                int io[3][4] = {{bin, red, 1, s1}, {red, red, 3, s2}, {red, out, 1, 1}};
                for (int k = 0; k < 3; k++)
                    dl_conv_load(w, &b->convs[k], dl_wname(n1, "%s.layer.%d.convolution", pfx, k),
                                 dl_wname(n2, "%s.layer.%d.normalization", pfx, k), false, io[k][0],
                                 io[k][1], io[k][2], io[k][3], 1,
                                 k == 2 ? DL_ACT_NONE : c->backbone_act, eps);
                b->n_convs = 3;
                bool proj = bin != out || bstride != 1;
                b->shortcut_pool = bstride == 2;
                b->has_shortcut = proj;
            } else {
                /* basic: the first layer of a stage always gets a shortcut projection */
                dl_conv_load(w, &b->convs[0], dl_wname(n1, "%s.layer.0.convolution", pfx),
                             dl_wname(n2, "%s.layer.0.normalization", pfx), false, bin, out, 3,
                             bstride, 1, c->backbone_act, eps);
                dl_conv_load(w, &b->convs[1], dl_wname(n1, "%s.layer.1.convolution", pfx),
                             dl_wname(n2, "%s.layer.1.normalization", pfx), false, out, out, 3, 1,
                             1, DL_ACT_NONE, eps);
                b->n_convs = 2;
                b->has_shortcut = l == 0;
                b->shortcut_pool = l == 0 && bin != out;
                if (b->shortcut_pool && bstride != 2) {
                    w->status = dl_fail(w->err, DL_ERR_UNSUPPORTED,
                                        "config.json: basic-block stage %d changes width without "
                                        "downsampling (transformers cannot run it either)",
                                        s);
                    return false;
                }
            }
            if (b->has_shortcut) {
                const char *sc = b->shortcut_pool ? "shortcut.1" : "shortcut";
                dl_conv_load(w, &b->shortcut, dl_wname(n1, "%s.%s.convolution", pfx, sc),
                             dl_wname(n2, "%s.%s.normalization", pfx, sc), false, bin, out, 1,
                             b->shortcut_pool ? 1 : bstride, 1, DL_ACT_NONE, eps);
                if (w->status != DL_OK) return false;
                /* the projection's input is at the block's output resolution (pooled first, or
                 * stride 1): merge it into the last 1x1 conv */
                const dl_conv *l3 = &b->convs[2];
                if (c->bottleneck && b->shortcut.stride == 1 && l3->k == 1 && l3->stride == 1) {
                    int mid = l3->cin, k2 = mid + bin;
                    b->last_fused = *l3;
                    b->last_fused.cin = k2;
                    b->last_fused.act = DL_ACT_RELU;
                    float *fw = dl_weights_alloc(w, (size_t)out * k2);
                    float *fb = dl_weights_alloc(w, (size_t)out);
                    if (!fw || !fb) return false;
                    for (int o = 0; o < out; o++) {
                        memcpy(fw + (size_t)o * k2, l3->w.host + (size_t)o * mid,
                               (size_t)mid * sizeof(float));
                        memcpy(fw + (size_t)o * k2 + mid, b->shortcut.w.host + (size_t)o * bin,
                               (size_t)bin * sizeof(float));
                        fb[o] = l3->b.host[o] + b->shortcut.b.host[o];
                    }
                    b->last_fused.w = dl_weights_ref(w, fw);
                    b->last_fused.b = dl_weights_ref(w, fb);
                    b->fused_shortcut = true;
                    /* the separate weights are not used any more */
                    dl_weights_free_one(w, b->convs[2].w.host);
                    dl_weights_free_one(w, b->convs[2].b.host);
                    dl_weights_free_one(w, b->shortcut.w.host);
                    dl_weights_free_one(w, b->shortcut.b.host);
                    b->convs[2].w = b->convs[2].b = b->shortcut.w = b->shortcut.b =
                        dl_weights_ref(w, NULL);
                }
            }
        }
        m->stage_end[s] = bi;
    }
    for (int i = 0; i < c->n_out; i++) {
        int idx = c->out_indices[i];
        m->out_channels[i] = idx == 0 ? e : c->hidden_sizes[idx - 1];
        if (m->out_channels[i] != c->detr.encoder_in_channels[i]) {
            w->status = dl_fail(w->err, DL_ERR_FORMAT,
                                "config.json: encoder_in_channels[%d] = %d but backbone stage %d "
                                "has %d channels",
                                i, c->detr.encoder_in_channels[i], idx, m->out_channels[i]);
            return false;
        }
    }
    return w->status == DL_OK;
}

static void fuse_csp(dl_exec *ex, const void *block, const float *x, int h, int w, float *y) {
    dl_csp_run(ex, block, x, h, w, y);
}

static void downsample_conv(dl_exec *ex, const void *block, const float *x, int h, int w,
                            float *y) {
    dl_conv_run(ex, block, x, h, w, NULL, y);
}

static bool load_encoder(dl_rtdetr *m, dl_weights *w) {
    const dl_detr_config *c = &m->cfg.detr;
    char n1[256], n2[256];
    int d = c->encoder_hidden_dim, nl = c->n_levels;
    if (!dl_hybrid_encoder_load(w, &m->enc, c, c->act)) return false;
    for (int i = 0; i < nl - 1; i++) {
        dl_csp_load(w, &m->fpn[i], dl_wname(n1, "model.encoder.fpn_blocks.%d", i), 2 * d, d,
                    (int)(d * c->hidden_expansion), 3, c->act, c->batch_norm_eps);
        dl_conv_load(w, &m->downsample[i],
                     dl_wname(n1, "model.encoder.downsample_convs.%d.conv", i),
                     dl_wname(n2, "model.encoder.downsample_convs.%d.norm", i), true, d, d, 3, 2, 1,
                     c->act, c->batch_norm_eps);
        dl_csp_load(w, &m->pan[i], dl_wname(n1, "model.encoder.pan_blocks.%d", i), 2 * d, d,
                    (int)(d * c->hidden_expansion), 3, c->act, c->batch_norm_eps);
        m->enc.fpn[i] = &m->fpn[i];
        m->enc.pan[i] = &m->pan[i];
        m->enc.down[i] = &m->downsample[i];
    }
    m->enc.fuse = fuse_csp;
    m->enc.downsample = downsample_conv;
    return w->status == DL_OK;
}

static bool load_decoder(dl_rtdetr *m, dl_weights *w) {
    const dl_rtdetr_config *c = &m->cfg;
    char n1[256], n2[256], a1[256];
    int d = c->detr.d_model;
    for (int l = 0; l < c->detr.n_levels; l++)
        dl_conv_load(w, &m->dec_proj[l], dl_wname(n1, "model.decoder_input_proj.%d.0", l),
                     dl_wname(n2, "model.decoder_input_proj.%d.1", l), true,
                     c->detr.decoder_in_channels[l], d, 1, 1, 1, DL_ACT_NONE,
                     c->detr.batch_norm_eps);
    dl_query_select_load(w, &m->qs, d, c->detr.num_labels, c->detr.layer_norm_eps);
    if (c->detr.learn_initial_query)
        m->query_embed =
            dl_weights_get2(w, "model.weight_embedding.weight", c->detr.num_queries, d);
    int64_t dn[2] = {c->detr.num_labels + 1, d};
    dl_weights_note_skippable(w, "model.denoising_class_embed.weight", 2, dn);
    int pdims[3] = {4, 2 * d, d};
    dl_mlp_load(w, &m->query_pos, "model.decoder.query_pos_head", 2, pdims);
    m->layers = (decoder_layer *)dl_weights_alloc(
        w, (sizeof(decoder_layer) * (size_t)c->detr.decoder_layers + 3) / 4);
    if (!m->layers) return false;
    int hp = c->detr.decoder_heads * c->detr.total_points;
    for (int i = 0; i < c->detr.decoder_layers; i++) {
        decoder_layer *L = &m->layers[i];
        const char *p = dl_wname(n1, "model.decoder.layers.%d", i);
        char pfx[256];
        snprintf(pfx, sizeof pfx, "%s", p);
        dl_mha_load(w, &L->self_attn, dl_wname(n2, "%s.self_attn", pfx), d, c->detr.decoder_heads);
        dl_norm_load(w, &L->self_norm, dl_wname(n2, "%s.self_attn_layer_norm", pfx), d,
                     c->detr.layer_norm_eps);
        dl_linear_load(w, &L->offsets, dl_wname(n2, "%s.encoder_attn.sampling_offsets", pfx), d,
                       hp * 2, true);
        dl_linear_load(w, &L->weights, dl_wname(n2, "%s.encoder_attn.attention_weights", pfx), d,
                       hp, true);
        dl_linear_load(w, &L->value_proj, dl_wname(n2, "%s.encoder_attn.value_proj", pfx), d, d,
                       true);
        dl_linear_load(w, &L->output_proj, dl_wname(n2, "%s.encoder_attn.output_proj", pfx), d, d,
                       true);
        int64_t ps[1] = {c->detr.total_points};
        dl_weights_note_skippable(w, dl_wname(n2, "%s.encoder_attn.n_points_scale", pfx), 1, ps);
        dl_norm_load(w, &L->cross_norm, dl_wname(n2, "%s.encoder_attn_layer_norm", pfx), d,
                     c->detr.layer_norm_eps);
        dl_linear_load(w, &L->fc1, dl_wname(n2, "%s.fc1", pfx), d, c->detr.decoder_ffn_dim, true);
        dl_linear_load(w, &L->fc2, dl_wname(n2, "%s.fc2", pfx), c->detr.decoder_ffn_dim, d, true);
        dl_norm_load(w, &L->ffn_norm, dl_wname(n2, "%s.final_layer_norm", pfx), d,
                     c->detr.layer_norm_eps);
        /* per-layer heads: model.decoder.class_embed.N in files written by transformers 5,
         * class_embed.N in older ones; accept either */
        dl_linear_load_alias(w, &L->class_head, dl_wname(n2, "model.decoder.class_embed.%d", i),
                             dl_wname(a1, "class_embed.%d", i), d, c->detr.num_labels);
        int bd[4] = {d, d, d, 4};
        dl_mlp_load_alias(w, &L->bbox_head, dl_wname(n2, "model.decoder.bbox_embed.%d", i),
                          dl_wname(a1, "bbox_embed.%d", i), 3, bd);
    }
    return w->status == DL_OK;
}

dl_status dl_rtdetr_build(const dl_rtdetr_config *cfg, dl_weights *w, dl_rtdetr **out) {
    *out = NULL;
    dl_rtdetr *m = calloc(1, sizeof *m);
    if (!m) return dl_fail(w->err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    m->cfg = *cfg;
    if (load_backbone(m, w) && load_encoder(m, w)) load_decoder(m, w);
    dl_status s = w->status;
    dl_weights_take_allocs_sized(w, &m->allocs, &m->alloc_floats, &m->n_allocs);
    if (s != DL_OK) {
        dl_rtdetr_free(m);
        return s;
    }
    *out = m;
    return DL_OK;
}

void dl_rtdetr_free(dl_rtdetr *m) {
    if (!m) return;
    dl_weights_free_allocs(m->allocs, m->n_allocs);
    free(m->alloc_floats);
    free(m);
}

size_t dl_rtdetr_weight_allocs(const dl_rtdetr *m, void *const **ptrs, const size_t **floats) {
    *ptrs = m->allocs;
    *floats = m->alloc_floats;
    return m->n_allocs;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* Bottleneck with the projection merged into the last conv: conv1, conv2 into the head of
 * [t; s], the (pooled) block input into its tail, then one 1x1 conv + ReLU. */
static float *run_block_fused(dl_exec *ex, const resnet_block *b, const float *x, int *h, int *w) {
    int hh = *h, ww = *w;
    const dl_conv *c1 = &b->convs[0], *c2 = &b->convs[1], *l = &b->last_fused;
    int h1 = dl_conv_out(c1, hh), w1 = dl_conv_out(c1, ww);
    int oh = dl_conv_out(c2, h1), ow = dl_conv_out(c2, w1);
    int sh = hh, sw = ww;
    if (b->shortcut_pool)
        sh = dl_conv_out_size(hh, 2, 2, 0, true), sw = dl_conv_out_size(ww, 2, 2, 0, true);
    if (sh != oh || sw != ow) {
        ex->out_of_memory = true; /* shapes cannot disagree for valid configs */
        return NULL;
    }
    size_t plane = (size_t)oh * ow;
    float *t1 = dl_exec_alloc(ex, (size_t)c1->cout * h1 * w1);
    float *cat = dl_exec_alloc(ex, (size_t)l->cin * plane); /* [t; s] */
    float *out = dl_exec_alloc(ex, (size_t)l->cout * plane);
    if (!t1 || !cat || !out) return NULL;
    dl_conv_run(ex, c1, x, hh, ww, NULL, t1);
    dl_conv_run(ex, c2, t1, h1, w1, NULL, cat);
    dl_exec_release(ex, t1);
    float *s = cat + (size_t)c2->cout * plane;
    if (b->shortcut_pool)
        ex->ops->avg_pool2d(&ex->ctx, b->shortcut.cin, hh, ww, 2, 2, oh, ow, x, s);
    else dl_copy(ex, s, x, (size_t)b->shortcut.cin * plane);
    dl_conv_run(ex, l, cat, oh, ow, NULL, out);
    dl_exec_release(ex, cat);
    *h = oh;
    *w = ow;
    return out;
}

/* One ResNet block; returns the output [cout, oh, ow]. */
static float *run_block(dl_exec *ex, const resnet_block *b, const float *x, int *h, int *w) {
    if (b->fused_shortcut) return run_block_fused(ex, b, x, h, w);
    int hh = *h, ww = *w;
    const float *cur = x;
    float *t[3] = {NULL, NULL, NULL};
    int ch = hh, cw = ww;
    for (int k = 0; k < b->n_convs - 1; k++) {
        const dl_conv *c = &b->convs[k];
        int oh = dl_conv_out(c, ch), ow = dl_conv_out(c, cw);
        t[k] = dl_exec_alloc(ex, (size_t)c->cout * oh * ow);
        if (!t[k]) return NULL;
        dl_conv_run(ex, c, cur, ch, cw, NULL, t[k]);
        if (k > 0) dl_exec_release(ex, t[k - 1]);
        cur = t[k];
        ch = oh;
        cw = ow;
    }
    const dl_conv *last = &b->convs[b->n_convs - 1];
    int oh = dl_conv_out(last, ch), ow = dl_conv_out(last, cw);
    float *out = dl_exec_alloc(ex, (size_t)last->cout * oh * ow); /* [cout, oh, ow] */
    if (!out) return NULL;
    const float *res = x;
    if (b->has_shortcut) {
        const float *src = x;
        int sh = hh, sw = ww;
        if (b->shortcut_pool) {
            int ph = dl_conv_out_size(hh, 2, 2, 0, true), pw = dl_conv_out_size(ww, 2, 2, 0, true);
            float *pooled = dl_exec_alloc(ex, (size_t)b->shortcut.cin * ph * pw);
            if (!pooled) return NULL;
            ex->ops->avg_pool2d(&ex->ctx, b->shortcut.cin, hh, ww, 2, 2, ph, pw, x, pooled);
            src = pooled;
            sh = ph;
            sw = pw;
        }
        float *proj = dl_exec_alloc(ex, (size_t)b->shortcut.cout * oh * ow);
        if (!proj) return NULL;
        if (dl_conv_out(&b->shortcut, sh) != oh || dl_conv_out(&b->shortcut, sw) != ow) {
            ex->out_of_memory = true; /* shapes cannot disagree for valid configs */
            return NULL;
        }
        dl_conv_run(ex, &b->shortcut, src, sh, sw, NULL, proj);
        if (src != x) dl_exec_release(ex, (void *)src);
        res = proj;
    }
    /* relu(conv(x) + shortcut): the add and the activation ride in the conv's epilogue */
    dl_conv fused = *last;
    fused.act = DL_ACT_RELU;
    dl_conv_run(ex, &fused, cur, ch, cw, res, out);
    if (res != x) dl_exec_release(ex, (void *)res);
    for (int k = 0; k < b->n_convs - 1; k++)
        if (t[k] == cur) dl_exec_release(ex, t[k]);
    *h = oh;
    *w = ow;
    return out;
}

dl_status dl_rtdetr_forward(const dl_rtdetr *m, dl_exec *ex, int H, int W, const float *pixels,
                            float *logits, float *boxes, dl_error *err) {
    const dl_rtdetr_config *c = &m->cfg;
    dl_status st = dl_detr_check_input(&c->detr, H, W, err);
    if (st != DL_OK) return st;
    ex->out_of_memory = false;
    int nl = c->n_out;

    /* ---- backbone ---- */
    const float *x = pixels;
    int h = H, w = W;
    for (int i = 0; i < 3; i++) {
        int oh = dl_conv_out(&m->stem[i], h), ow = dl_conv_out(&m->stem[i], w);
        float *y = dl_exec_alloc(ex, (size_t)m->stem[i].cout * oh * ow);
        if (!y) goto oom;
        dl_conv_run(ex, &m->stem[i], x, h, w, NULL, y);
        if (x != pixels) dl_exec_release(ex, (void *)x);
        x = y;
        h = oh;
        w = ow;
    }
    int ph = dl_conv_out_size(h, 3, 2, 2, false), pw = dl_conv_out_size(w, 3, 2, 2, false);
    float *pooled = dl_exec_alloc(ex, (size_t)c->embedding_size * ph * pw);
    if (!pooled) goto oom;
    ex->ops->max_pool2d(&ex->ctx, c->embedding_size, h, w, 3, 2, 1, ph, pw, x, pooled);
    dl_exec_release(ex, (void *)x);
    x = pooled;
    h = ph;
    w = pw;
    const float *feat[DL_MAX_LEVELS] = {NULL};
    int fh[DL_MAX_LEVELS], fw[DL_MAX_LEVELS];
    for (int i = 0; i < nl; i++)
        if (c->out_indices[i] == 0) feat[i] = x, fh[i] = h, fw[i] = w;
    int bi = 0;
    for (int s = 0; s < c->n_stages; s++) {
        for (; bi < m->stage_end[s]; bi++) {
            float *y = run_block(ex, &m->blocks[bi], x, &h, &w);
            if (!y) goto oom;
            bool keep = false; /* backbone outputs stay until the encoder has read them */
            for (int i = 0; i < nl; i++) keep = keep || feat[i] == x;
            if (!keep) dl_exec_release(ex, (void *)x);
            x = y;
        }
        for (int i = 0; i < nl; i++)
            if (c->out_indices[i] == s + 1) feat[i] = x, fh[i] = h, fw[i] = w;
    }

    /* ---- hybrid encoder, decoder input (memory [S, dm]), query selection ---- */
    dl_detr_queries qs;
    st = dl_detr_queries_run(ex, &c->detr, &m->enc, m->dec_proj, &m->qs, m->query_embed, feat, fh,
                             fw, H, W, &qs, err);
    if (st != DL_OK) return st;
    int dm = c->detr.d_model, Q = c->detr.num_queries, L = c->detr.num_labels, S = qs.in.tokens;
    float *memory = qs.in.memory, *hid = qs.hid, *ref_un = qs.ref_un; /* hid [Q, dm] */

    /* ---- decoder ---- */
    int heads = c->detr.decoder_heads, P = c->detr.total_points;
    float *ref = dl_exec_alloc(ex, (size_t)Q * 4);                       /* [Q, 4] cx, cy, w, h */
    float *pos = dl_exec_alloc(ex, (size_t)Q * dm);                      /* [Q, dm] */
    float *qin = dl_exec_alloc(ex, (size_t)Q * dm);                      /* [Q, dm] hidden + pos */
    float *tmp = dl_exec_alloc(ex, (size_t)Q * dm);                      /* [Q, dm] */
    float *tmp2 = dl_exec_alloc(ex, (size_t)Q * dm);                     /* [Q, dm] */
    float *value = dl_exec_alloc(ex, (size_t)S * dm);                    /* [S, dm] */
    float *off = dl_exec_alloc(ex, (size_t)Q * heads * P * 2);           /* [Q, heads, P, 2] */
    float *aw = dl_exec_alloc(ex, (size_t)Q * heads * P);                /* [Q, heads, P] */
    float *ffn = dl_exec_alloc(ex, (size_t)Q * c->detr.decoder_ffn_dim); /* [Q, ffn] */
    float *delta = dl_exec_alloc(ex, (size_t)Q * 4);                     /* [Q, 4] */
    float *lgbuf = dl_exec_alloc(ex, (size_t)Q * L); /* [Q, L] earlier layers' logits */
    if (!ref || !pos || !qin || !tmp || !tmp2 || !value || !off || !aw || !ffn || !delta || !lgbuf)
        goto oom;
    dl_copy(ex, ref, ref_un, (size_t)Q * 4);
    ex->ops->activate(&ex->ctx, (size_t)Q * 4, DL_ACT_SIGMOID, ref);
    int64_t hs[3] = {1, Q, dm};
    dl_exec_emit(ex, "decoder_hidden_states_0", hid, 3, hs);
    for (int i = 0; i < c->detr.decoder_layers; i++) {
        const decoder_layer *D = &m->layers[i];
        dl_mlp_run(ex, &m->query_pos, Q, ref, pos);
        /* self-attention, add & norm */
        dl_mha_run(ex, &D->self_attn, Q, hid, pos, tmp);
        dl_norm_run(ex, &D->self_norm, Q, hid, tmp, hid);
        /* deformable cross-attention on (hidden + pos), add & norm */
        ex->ops->add(&ex->ctx, (size_t)Q * dm, hid, pos, qin);
        dl_linear_run(ex, &D->value_proj, S, memory, DL_ACT_NONE, value);
        dl_deform_sampling_run(ex, &c->detr, Q, &D->offsets, &D->weights, qin, ref, off, aw);
        ex->ops->deform_attn(&ex->ctx, &qs.deform, value, off, aw, tmp);
        dl_linear_run(ex, &D->output_proj, Q, tmp, DL_ACT_NONE, tmp2);
        dl_norm_run(ex, &D->cross_norm, Q, hid, tmp2, hid);
        /* FFN, add & norm */
        dl_linear_run(ex, &D->fc1, Q, hid, c->detr.decoder_act, ffn);
        dl_linear_run(ex, &D->fc2, Q, ffn, DL_ACT_NONE, tmp);
        dl_norm_run(ex, &D->ffn_norm, Q, hid, tmp, hid);
        char name[64];
        snprintf(name, sizeof name, "decoder_hidden_states_%d", i + 1);
        dl_exec_emit(ex, name, hid, 3, hs);
        /* box refinement: ref = sigmoid(bbox_embed(h) + inverse_sigmoid(ref)) */
        dl_mlp_run(ex, &D->bbox_head, Q, hid, delta);
        ex->ops->box_refine(&ex->ctx, (size_t)Q * 4, delta, ref);
        float *lg = lgbuf;
        dl_linear_run(ex, &D->class_head, Q, hid, DL_ACT_NONE, lg);
        int64_t ls[4] = {1, 1, Q, L};
        snprintf(name, sizeof name, "intermediate_logits_%d", i);
        dl_exec_emit(ex, name, lg, 4, ls);
        ls[3] = 4;
        snprintf(name, sizeof name, "intermediate_reference_points_%d", i);
        dl_exec_emit(ex, name, ref, 4, ls);
        if (ex->out_of_memory) goto oom;
    }
    ex->ops->download(&ex->ctx, boxes, ref, (size_t)Q * 4 * sizeof(float));
    ex->ops->download(&ex->ctx, logits, lgbuf, (size_t)Q * L * sizeof(float));
    if (ex->out_of_memory) goto oom;
    return DL_OK;
oom:
    return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for activations (input %dx%d)", W, H);
}

/* ---- registry ---------------------------------------------------------------------------- */

static dl_status rtdetr_parse(const cJSON *root, int in_h, int in_w, void *config,
                              dl_arch_dims *dims, dl_error *err) {
    dl_rtdetr_config *c = config;
    dl_status s = dl_rtdetr_config_parse(root, c, err);
    dims->num_labels = c->detr.num_labels;
    dims->num_queries = c->detr.num_queries;
    return s;
}

static dl_status rtdetr_build(const void *config, dl_weights *w, void **net) {
    dl_rtdetr *m = NULL;
    dl_status s = dl_rtdetr_build(config, w, &m);
    *net = m;
    return s;
}

static dl_status rtdetr_forward(const void *net, dl_exec *ex, int h, int w, const float *pixels,
                                float *logits, float *boxes, dl_error *err) {
    return dl_rtdetr_forward(net, ex, h, w, pixels, logits, boxes, err);
}

static void rtdetr_free(void *net) { dl_rtdetr_free(net); }

static size_t rtdetr_weight_allocs(const void *net, void *const **ptrs, const size_t **floats) {
    return dl_rtdetr_weight_allocs(net, ptrs, floats);
}

const dl_arch dl_arch_rtdetr_v2 = {
    .model_type = "rt_detr_v2",
    .config_size = sizeof(dl_rtdetr_config),
    .parse_config = rtdetr_parse,
    .build = rtdetr_build,
    .forward = rtdetr_forward,
    .free = rtdetr_free,
    .weight_allocs = rtdetr_weight_allocs,
};
