#include "models/dfine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "models/registry.h"

/* ---- config ------------------------------------------------------------------------------ */

dl_status dl_dfine_config_parse(const cJSON *root, dl_dfine_config *c, dl_error *err) {
    memset(c, 0, sizeof *c);
    dl_cfg cfg = {.root = root, .file = "config.json", .err = err, .status = DL_OK};
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(root, "backbone_config");
    if (!cJSON_IsObject(bb))
        return dl_fail(err, DL_ERR_FORMAT, "config.json: \"backbone_config\" object is missing");
    dl_cfg b = {.root = bb, .file = "config.json: backbone_config", .err = err, .status = DL_OK};
    const char *bt = dl_cfg_str(&b, "model_type", "hgnet_v2");
    if (b.status != DL_OK) return b.status;
    if (strcmp(bt, "hgnet_v2") != 0)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: backbone model_type \"%s\" is not supported for d_fine "
                       "(expected hgnet_v2)",
                       bt);
    bool freeze = dl_cfg_bool(&cfg, "freeze_backbone_batch_norms", true);
    if (cfg.status != DL_OK) return cfg.status;
    dl_status s = dl_hgnet_config_parse(bb, freeze, &c->backbone, err);
    if (s != DL_OK) return s;

    s = dl_detr_config_parse(root, c->backbone.n_out, true, &c->detr, err);
    if (s != DL_OK) return s;
    dl_detr_config *dc = &c->detr;
    c->depth_mult = (float)dl_cfg_num(&cfg, "depth_mult", 1.0, 0, 16);
    c->num_denoising = dl_cfg_int(&cfg, "num_denoising", 100, 0, 100000);
    c->max_num_bins = dl_cfg_int(&cfg, "max_num_bins", 32, 4, 256);
    c->top_prob_values = dl_cfg_int(&cfg, "top_prob_values", 4, 1, 257);
    c->lqe_hidden = dl_cfg_int(&cfg, "lqe_hidden_dim", 64, 1, 65536);
    c->lqe_layers = dl_cfg_int(&cfg, "lqe_layers", 2, 1, DL_MLP_MAX_LAYERS);
    c->up = (float)dl_cfg_num(&cfg, "up", 0.5, -1e6, 1e6);
    c->reg_scale = (float)dl_cfg_num(&cfg, "reg_scale", 4.0, -1e6, 1e6);
    int eval_idx = dl_cfg_int(&cfg, "eval_idx", -1, -64, 63);
    if (cfg.status != DL_OK) return cfg.status;
    for (int i = 0; i < dc->n_levels; i++)
        if (dc->encoder_in_channels[i] != dl_hgnet_out_channels(&c->backbone, i))
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: encoder_in_channels[%d] = %d but "
                           "backbone output %d has %d channels",
                           i, dc->encoder_in_channels[i], i,
                           dl_hgnet_out_channels(&c->backbone, i));
    c->decoder_proj = dc->d_model != dc->decoder_in_channels[dc->n_levels - 1];
    /* transformers: round(3 * depth_mult) (half to even) and hidden_expansion * C // 2 */
    c->csp_blocks = (int)nearbyint(3.0 * (double)(float)dl_cfg_num(&cfg, "depth_mult", 1.0, 0, 16));
    c->elan_hidden =
        (int)floor((double)c->detr.hidden_expansion * c->detr.encoder_hidden_dim / 2.0);
    if (c->csp_blocks < 1 || c->elan_hidden < 1)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: depth_mult %g and hidden_expansion %g "
                       "leave no blocks or channels",
                       c->depth_mult, c->detr.hidden_expansion);
    if (eval_idx != -1 && eval_idx != c->detr.decoder_layers - 1)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: eval_idx %d (only the last decoder "
                       "layer, -1, is supported)",
                       eval_idx);
    if (c->max_num_bins % 2)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: max_num_bins %d must be even",
                       c->max_num_bins);
    if (c->top_prob_values > c->max_num_bins + 1)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: top_prob_values %d exceeds the %d bins",
                       c->top_prob_values, c->max_num_bins + 1);
    if (c->reg_scale == 0)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: reg_scale must not be 0");
    return DL_OK;
}

/* ---- the network ------------------------------------------------------------------------- */

/* RepNCSPELAN4: conv1 (2C -> 2C), halves [a, b]; b1 = conv2(csp1(b)), b2 = conv3(csp2(b1));
 * conv4([a, b, b1, b2]) -> C. */
typedef struct elan_block {
    dl_conv conv1, conv2, conv3, conv4;
    dl_csp_rep csp1, csp2;
    int channels, hidden; /* C, elan_hidden */
} elan_block;

/* SCDown: 1x1 conv + BN, then depthwise 3x3 stride 2 + BN, no activations. */
typedef struct sc_down {
    dl_conv conv1, conv2;
} sc_down;

typedef struct dfine_layer {
    dl_mha self_attn;
    dl_norm self_norm, gate_norm, ffn_norm;
    dl_linear offsets, weights, gate;
    dl_linear fc1, fc2;
    dl_linear class_head;
    dl_mlp bbox_head; /* d -> d -> d -> 4 (bins + 1) */
    dl_mlp lqe;       /* 4 (top + 1) -> lqe_hidden ... -> 1 */
} dfine_layer;

struct dl_dfine {
    dl_dfine_config cfg;
    void **allocs;
    size_t *alloc_floats; /* [n_allocs] size of each, in floats (a device backend copies them) */
    size_t n_allocs;
    char warning[256];
    dl_hgnet *backbone;
    /* encoder */
    dl_hybrid_encoder enc; /* shared, with RepNCSPELAN4 fusion and SCDown downsampling */
    sc_down down[DL_MAX_LEVELS];
    elan_block fpn[DL_MAX_LEVELS], pan[DL_MAX_LEVELS];
    /* decoder */
    dl_conv dec_proj[DL_MAX_LEVELS];
    dl_query_select qs;
    float *query_embed;
    dl_mlp query_pos, pre_bbox;
    float up, reg_scale;
    float *project; /* [max_num_bins + 1] weighting function W(n) */
    dfine_layer *layers;
};

static bool load_elan(dl_weights *w, const dl_dfine_config *c, elan_block *b, const char *prefix) {
    char n1[256], n2[256];
    int C = c->detr.encoder_hidden_dim, h = c->elan_hidden;
    b->channels = C;
    b->hidden = h;
    float eps = c->detr.batch_norm_eps;
    /* the ELAN's own convs are SiLU in transformers (a fixed default, not activation_function) */
    dl_conv_load(w, &b->conv1, dl_wname(n1, "%s.conv1.conv", prefix),
                 dl_wname(n2, "%s.conv1.norm", prefix), true, 2 * C, 2 * C, 1, 1, 1, DL_ACT_SILU,
                 eps);
    dl_csp_load(w, &b->csp1, dl_wname(n1, "%s.csp_rep1", prefix), C, h, h, c->csp_blocks,
                c->detr.act, eps);
    dl_conv_load(w, &b->conv2, dl_wname(n1, "%s.conv2.conv", prefix),
                 dl_wname(n2, "%s.conv2.norm", prefix), true, h, h, 3, 1, 1, DL_ACT_SILU, eps);
    dl_csp_load(w, &b->csp2, dl_wname(n1, "%s.csp_rep2", prefix), h, h, h, c->csp_blocks,
                c->detr.act, eps);
    dl_conv_load(w, &b->conv3, dl_wname(n1, "%s.conv3.conv", prefix),
                 dl_wname(n2, "%s.conv3.norm", prefix), true, h, h, 3, 1, 1, DL_ACT_SILU, eps);
    dl_conv_load(w, &b->conv4, dl_wname(n1, "%s.conv4.conv", prefix),
                 dl_wname(n2, "%s.conv4.norm", prefix), true, 2 * C + 2 * h, C, 1, 1, 1,
                 DL_ACT_SILU, eps);
    return w->status == DL_OK;
}

static void run_elan(dl_exec *ex, const elan_block *b, const float *x, int h, int w, float *y);

static void fuse_elan(dl_exec *ex, const void *block, const float *x, int h, int w, float *y) {
    run_elan(ex, block, x, h, w, y);
}

static void run_scdown(dl_exec *ex, const void *block, const float *x, int h, int w, float *y) {
    const sc_down *b = block;
    float *t = dl_exec_alloc(ex, (size_t)b->conv1.cout * h * w); /* [d, h, w] */
    if (!t) return;
    dl_conv_run(ex, &b->conv1, x, h, w, NULL, t);
    dl_conv_run(ex, &b->conv2, t, h, w, NULL, y);
    dl_exec_release(ex, t);
}

static bool load_encoder(dl_dfine *m, dl_weights *w) {
    const dl_dfine_config *c = &m->cfg;
    char n1[256], n2[256];
    int d = c->detr.encoder_hidden_dim, nl = c->detr.n_levels;
    float eps = c->detr.batch_norm_eps;
    /* the lateral conv has no activation in D-FINE */
    if (!dl_hybrid_encoder_load(w, &m->enc, &m->cfg.detr, DL_ACT_NONE)) return false;
    for (int i = 0; i < nl - 1; i++) {
        load_elan(w, c, &m->fpn[i], dl_wname(n1, "model.encoder.fpn_blocks.%d", i));
        dl_conv_load(w, &m->down[i].conv1,
                     dl_wname(n1, "model.encoder.downsample_convs.%d.conv1.conv", i),
                     dl_wname(n2, "model.encoder.downsample_convs.%d.conv1.norm", i), true, d, d, 1,
                     1, 1, DL_ACT_NONE, eps);
        dl_conv_load(w, &m->down[i].conv2,
                     dl_wname(n1, "model.encoder.downsample_convs.%d.conv2.conv", i),
                     dl_wname(n2, "model.encoder.downsample_convs.%d.conv2.norm", i), true, d, d, 3,
                     2, d, DL_ACT_NONE, eps);
        load_elan(w, c, &m->pan[i], dl_wname(n1, "model.encoder.pan_blocks.%d", i));
        m->enc.fpn[i] = &m->fpn[i];
        m->enc.pan[i] = &m->pan[i];
        m->enc.down[i] = &m->down[i];
    }
    m->enc.fuse = fuse_elan;
    m->enc.downsample = run_scdown;
    return w->status == DL_OK;
}

/* transformers' weighting_function(max_num_bins, up, reg_scale), in float32. */
static void weighting_function(int bins, float up, float reg_scale, float *W) {
    float ub1 = fabsf(up) * fabsf(reg_scale);
    float ub2 = fabsf(up) * fabsf(reg_scale) * 2.0f;
    float step = powf(ub1 + 1.0f, (float)(2.0 / (bins - 2)));
    int k = 0, half = bins / 2;
    W[k++] = -ub2;
    for (int i = half - 1; i >= 1; i--) W[k++] = -powf(step, (float)i) + 1.0f;
    W[k++] = 0.0f;
    for (int i = 1; i <= half - 1; i++) W[k++] = powf(step, (float)i) - 1.0f;
    W[k++] = ub2;
}

static bool load_decoder(dl_dfine *m, dl_weights *w) {
    const dl_dfine_config *c = &m->cfg;
    char n1[256], n2[256], a1[256];
    int d = c->detr.d_model, L = c->detr.num_labels, bins = c->max_num_bins + 1;
    if (c->decoder_proj)
        for (int l = 0; l < c->detr.n_levels; l++)
            dl_conv_load(w, &m->dec_proj[l], dl_wname(n1, "model.decoder_input_proj.%d.0", l),
                         dl_wname(n2, "model.decoder_input_proj.%d.1", l), true,
                         c->detr.decoder_in_channels[c->detr.n_levels - 1], d, 1, 1, 1, DL_ACT_NONE,
                         c->detr.batch_norm_eps);
    dl_query_select_load(w, &m->qs, d, L, c->detr.layer_norm_eps);
    if (c->detr.learn_initial_query)
        m->query_embed =
            dl_weights_get2(w, "model.weight_embedding.weight", c->detr.num_queries, d);
    if (c->num_denoising > 0) {
        int64_t dn[2] = {L + 1, d};
        dl_weights_note_skippable(w, "model.denoising_class_embed.weight", 2, dn);
    }
    int pdims[3] = {4, 2 * d, d};
    dl_mlp_load(w, &m->query_pos, "model.decoder.query_pos_head", 2, pdims);
    int bdims[4] = {d, d, d, 4};
    dl_mlp_load(w, &m->pre_bbox, "model.decoder.pre_bbox_head", 3, bdims);
    /* up and reg_scale are stored as tensors; transformers uses the file's values */
    const float *up = dl_weights_get1(w, "model.decoder.up", 1);
    const float *rs = dl_weights_get1(w, "model.decoder.reg_scale", 1);
    if (w->status != DL_OK) return false;
    m->up = c->up;
    m->reg_scale = c->reg_scale;
    if (w->file) {
        if (up[0] != c->up || rs[0] != c->reg_scale)
            snprintf(m->warning, sizeof m->warning,
                     "model.safetensors has up = %g and reg_scale = %g where config.json says "
                     "%g and %g; using the file's values (as transformers does)",
                     (double)up[0], (double)rs[0], (double)c->up, (double)c->reg_scale);
        m->up = up[0];
        m->reg_scale = rs[0];
        if (m->reg_scale == 0) {
            w->status = dl_fail(w->err, DL_ERR_MODEL, "model.decoder.reg_scale is 0 in the file");
            return false;
        }
    }
    m->project = dl_weights_alloc(w, (size_t)bins);
    if (!m->project) return false;
    weighting_function(c->max_num_bins, m->up, m->reg_scale, m->project);

    m->layers = (dfine_layer *)dl_weights_alloc(
        w, (sizeof(dfine_layer) * (size_t)c->detr.decoder_layers + 3) / 4);
    if (!m->layers) return false;
    int hp = c->detr.decoder_heads * c->detr.total_points;
    for (int i = 0; i < c->detr.decoder_layers; i++) {
        dfine_layer *D = &m->layers[i];
        char pfx[256];
        snprintf(pfx, sizeof pfx, "model.decoder.layers.%d", i);
        dl_mha_load(w, &D->self_attn, dl_wname(n2, "%s.self_attn", pfx), d, c->detr.decoder_heads);
        dl_norm_load(w, &D->self_norm, dl_wname(n2, "%s.self_attn_layer_norm", pfx), d,
                     c->detr.layer_norm_eps);
        dl_linear_load(w, &D->offsets, dl_wname(n2, "%s.encoder_attn.sampling_offsets", pfx), d,
                       hp * 2, true);
        dl_linear_load(w, &D->weights, dl_wname(n2, "%s.encoder_attn.attention_weights", pfx), d,
                       hp, true);
        int64_t ps[1] = {c->detr.total_points};
        dl_weights_note_skippable(w, dl_wname(n2, "%s.encoder_attn.num_points_scale", pfx), 1, ps);
        dl_linear_load(w, &D->gate, dl_wname(n2, "%s.gateway.gate", pfx), 2 * d, 2 * d, true);
        dl_norm_load(w, &D->gate_norm, dl_wname(n2, "%s.gateway.norm", pfx), d, 1e-5f);
        dl_linear_load(w, &D->fc1, dl_wname(n2, "%s.fc1", pfx), d, c->detr.decoder_ffn_dim, true);
        dl_linear_load(w, &D->fc2, dl_wname(n2, "%s.fc2", pfx), c->detr.decoder_ffn_dim, d, true);
        dl_norm_load(w, &D->ffn_norm, dl_wname(n2, "%s.final_layer_norm", pfx), d,
                     c->detr.layer_norm_eps);
        dl_linear_load_alias(w, &D->class_head, dl_wname(n2, "model.decoder.class_embed.%d", i),
                             dl_wname(a1, "class_embed.%d", i), d, L);
        int cd[4] = {d, d, d, 4 * bins};
        dl_mlp_load_alias(w, &D->bbox_head, dl_wname(n2, "model.decoder.bbox_embed.%d", i),
                          dl_wname(a1, "bbox_embed.%d", i), 3, cd);
        int qd[DL_MLP_MAX_LAYERS + 1];
        qd[0] = 4 * (c->top_prob_values + 1);
        for (int k = 1; k < c->lqe_layers; k++) qd[k] = c->lqe_hidden;
        qd[c->lqe_layers] = 1;
        dl_mlp_load(w, &D->lqe, dl_wname(n2, "model.decoder.lqe_layers.%d.reg_conf", i),
                    c->lqe_layers, qd);
    }
    return w->status == DL_OK;
}

dl_status dl_dfine_build(const dl_dfine_config *cfg, dl_weights *w, dl_dfine **out) {
    *out = NULL;
    dl_dfine *m = calloc(1, sizeof *m);
    if (!m) return dl_fail(w->err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    m->cfg = *cfg;
    m->backbone = dl_hgnet_build(&cfg->backbone, w);
    if (m->backbone && load_encoder(m, w)) load_decoder(m, w);
    dl_status s = w->status;
    dl_weights_take_allocs_sized(w, &m->allocs, &m->alloc_floats, &m->n_allocs);
    if (s != DL_OK) {
        dl_dfine_free(m);
        return s;
    }
    *out = m;
    return DL_OK;
}

void dl_dfine_free(dl_dfine *m) {
    if (!m) return;
    dl_weights_free_allocs(m->allocs, m->n_allocs);
    free(m->alloc_floats);
    free(m);
}

const char *dl_dfine_warning(const dl_dfine *m) { return m ? m->warning : ""; }

/* ---- forward ----------------------------------------------------------------------------- */

/* x [2C, h, w] -> y [C, h, w] */
static void run_elan(dl_exec *ex, const elan_block *b, const float *x, int h, int w, float *y) {
    size_t hw = (size_t)h * w;
    int C = b->channels, hid = b->hidden;
    /* [a, b, b1, b2]: conv1 writes a and b, the branches write behind them (no concat copy) */
    float *cat = dl_exec_alloc(ex, (size_t)(2 * C + 2 * hid) * hw);
    float *t = dl_exec_alloc(ex, (size_t)hid * hw);
    if (!cat || !t) return;
    float *b1 = cat + (size_t)2 * C * hw, *b2 = b1 + (size_t)hid * hw;
    dl_conv_run(ex, &b->conv1, x, h, w, NULL, cat);
    dl_csp_run(ex, &b->csp1, cat + (size_t)C * hw, h, w, t);
    dl_conv_run(ex, &b->conv2, t, h, w, NULL, b1);
    dl_csp_run(ex, &b->csp2, b1, h, w, t);
    dl_conv_run(ex, &b->conv3, t, h, w, NULL, b2);
    dl_conv_run(ex, &b->conv4, cat, h, w, NULL, y);
    dl_exec_release(ex, t);
    dl_exec_release(ex, cat);
}

dl_status dl_dfine_forward(const dl_dfine *m, dl_exec *ex, int H, int W, const float *pixels,
                           float *logits, float *boxes, dl_error *err) {
    const dl_dfine_config *c = &m->cfg;
    dl_status st = dl_detr_check_input(&c->detr, H, W, err);
    if (st != DL_OK) return st;
    ex->out_of_memory = false;
    int nl = c->detr.n_levels;

    /* ---- backbone ---- */
    const float *feat[DL_MAX_LEVELS] = {NULL};
    int fh[DL_MAX_LEVELS], fw[DL_MAX_LEVELS];
    if (!dl_hgnet_forward(m->backbone, ex, H, W, pixels, feat, fh, fw)) goto oom;
    for (int l = 1; l < nl; l++)
        if (fh[l - 1] != 2 * fh[l] || fw[l - 1] != 2 * fw[l])
            return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "feature maps do not halve per level");

    /* ---- hybrid encoder, decoder input (memory [S, dm]), query selection ---- */
    dl_detr_queries qs;
    st = dl_detr_queries_run(ex, &c->detr, &m->enc, c->decoder_proj ? m->dec_proj : NULL, &m->qs,
                             m->query_embed, feat, fh, fw, H, W, &qs, err);
    if (st != DL_OK) return st;
    int dm = c->detr.d_model, Q = c->detr.num_queries, L = c->detr.num_labels;
    float *memory = qs.in.memory, *hid = qs.hid, *ref_un = qs.ref_un;

    /* ---- decoder ---- */
    int heads = c->detr.decoder_heads, P = c->detr.total_points;
    int bins = c->max_num_bins + 1, nc = 4 * bins, top = c->top_prob_values;
    float *ref = dl_exec_alloc(ex, (size_t)Q * 4);  /* sampling reference (cx, cy, w, h) */
    float *ref0 = dl_exec_alloc(ex, (size_t)Q * 4); /* layer 0's box, fixed afterwards */
    float *pos = dl_exec_alloc(ex, (size_t)Q * dm);
    float *qin = dl_exec_alloc(ex, (size_t)Q * dm);
    float *tmp = dl_exec_alloc(ex, (size_t)Q * dm);
    float *prev = dl_exec_alloc(ex, (size_t)Q * dm);    /* previous layer's output (0 first) */
    float *gin = dl_exec_alloc(ex, (size_t)Q * 2 * dm); /* [residual, attention] */
    float *gates = dl_exec_alloc(ex, (size_t)Q * 2 * dm);
    float *off = dl_exec_alloc(ex, (size_t)Q * heads * P * 2);
    float *aw = dl_exec_alloc(ex, (size_t)Q * heads * P);
    float *ffn = dl_exec_alloc(ex, (size_t)Q * c->detr.decoder_ffn_dim);
    float *corners = dl_exec_alloc(ex, (size_t)Q * nc); /* accumulated corner logits */
    float *delta = dl_exec_alloc(ex, (size_t)Q * nc);
    float *prob = dl_exec_alloc(ex, (size_t)Q * nc);
    float *stat = dl_exec_alloc(ex, (size_t)Q * 4 * (top + 1));
    float *quality = dl_exec_alloc(ex, (size_t)Q);
    float *box4 = dl_exec_alloc(ex, (size_t)Q * 4);
    float *project = dl_exec_alloc(ex, (size_t)bins); /* W(n) in backend memory */
    float *lg = dl_exec_alloc(ex, (size_t)Q * L);     /* logits in backend memory */
    if (!ref || !ref0 || !pos || !qin || !tmp || !prev || !gin || !gates || !off || !aw || !ffn ||
        !corners || !delta || !prob || !stat || !quality || !box4 || !project || !lg)
        goto oom;
    ex->ops->upload(&ex->ctx, project, m->project, (size_t)bins * sizeof(float));
    dl_copy(ex, ref, ref_un, (size_t)Q * 4);
    ex->ops->activate(&ex->ctx, (size_t)Q * 4, DL_ACT_SIGMOID, ref);
    dl_fill(ex, prev, (size_t)Q * dm, 0.0f);
    dl_fill(ex, corners, (size_t)Q * nc, 0.0f);
    int64_t hs[3] = {1, Q, dm};
    dl_exec_emit(ex, "decoder_hidden_states_0", hid, 3, hs);
    float rs = fabsf(m->reg_scale);
    for (int i = 0; i < c->detr.decoder_layers; i++) {
        const dfine_layer *D = &m->layers[i];
        dl_mlp_run(ex, &m->query_pos, Q, ref, pos);
        dl_clamp(ex, pos, (size_t)Q * dm, -10.0f, 10.0f);
        /* self-attention, add & norm */
        dl_mha_run(ex, &D->self_attn, Q, hid, pos, tmp);
        dl_norm_run(ex, &D->self_norm, Q, hid, tmp, hid);
        /* deformable cross-attention on (hidden + pos); memory split into heads directly */
        ex->ops->add(&ex->ctx, (size_t)Q * dm, hid, pos, qin);
        dl_deform_sampling_run(ex, &c->detr, Q, &D->offsets, &D->weights, qin, ref, off, aw);
        ex->ops->deform_attn(&ex->ctx, &qs.deform, memory, off, aw, tmp);
        /* gated fusion: g = sigmoid(W [res, attn] + b); LN(g1 * res + g2 * attn) */
        dl_op_args cat = {.t = {hid, tmp, gin},
                          .n = {(size_t)Q * dm, (size_t)Q * dm, (size_t)Q * 2 * dm},
                          .i = {Q, dm, dm}};
        dl_op_run(ex, DL_OP_concat_cols, &cat);
        dl_linear_run(ex, &D->gate, Q, gin, DL_ACT_SIGMOID, gates);
        dl_op_args mix = {.t = {gates, tmp, hid},
                          .n = {(size_t)Q * 2 * dm, (size_t)Q * dm, (size_t)Q * dm},
                          .i = {Q, dm}};
        dl_op_run(ex, DL_OP_gate_mix, &mix);
        dl_norm_run(ex, &D->gate_norm, Q, hid, NULL, hid);
        /* FFN, add, clamp to the float16 range, norm */
        dl_linear_run(ex, &D->fc1, Q, hid, c->detr.decoder_act, ffn);
        dl_linear_run(ex, &D->fc2, Q, ffn, DL_ACT_NONE, tmp);
        ex->ops->add(&ex->ctx, (size_t)Q * dm, hid, tmp, hid);
        dl_clamp(ex, hid, (size_t)Q * dm, -65504.0f, 65504.0f);
        dl_norm_run(ex, &D->ffn_norm, Q, hid, NULL, hid);
        char name[64];
        snprintf(name, sizeof name, "decoder_hidden_states_%d", i + 1);
        dl_exec_emit(ex, name, hid, 3, hs);
        if (i == 0) {
            dl_mlp_run(ex, &m->pre_bbox, Q, hid, box4);
            /* ref0 = sigmoid(box4 + inverse_sigmoid(ref)): box_refine on a copy of ref */
            dl_copy(ex, ref0, ref, (size_t)Q * 4);
            ex->ops->box_refine(&ex->ctx, (size_t)Q * 4, box4, ref0);
        }
        /* FDR: corner logits accumulate; the integral gives edge distances from ref0 */
        ex->ops->add(&ex->ctx, (size_t)Q * dm, hid, prev, qin);
        dl_mlp_run(ex, &D->bbox_head, Q, qin, delta);
        ex->ops->add(&ex->ctx, (size_t)Q * nc, delta, corners, corners);
        dl_copy(ex, prob, corners, (size_t)Q * nc);
        ex->ops->softmax_rows(&ex->ctx, Q * 4, bins, prob);
        dl_op_args fdr = {.t = {prob, project, ref0, ref},
                          .n = {(size_t)Q * nc, (size_t)bins, (size_t)Q * 4, (size_t)Q * 4},
                          .i = {Q, bins},
                          .f = {rs}};
        dl_op_run(ex, DL_OP_fdr_boxes, &fdr);
        dl_copy(ex, prev, hid, (size_t)Q * dm);
        if (i != c->detr.decoder_layers - 1) continue;
        /* scores of the output layer: class head + LQE on the corner distributions */
        dl_linear_run(ex, &D->class_head, Q, hid, DL_ACT_NONE, lg);
        dl_op_args lqe = {.t = {prob, stat},
                          .n = {(size_t)Q * nc, (size_t)Q * 4 * (top + 1)},
                          .i = {Q * 4, bins, top}};
        dl_op_run(ex, DL_OP_lqe_stats, &lqe);
        dl_mlp_run(ex, &D->lqe, Q, stat, quality);
        dl_op_args addq = {.t = {quality, lg}, .n = {(size_t)Q, (size_t)Q * L}, .i = {Q, L}};
        dl_op_run(ex, DL_OP_add_row_scalar, &addq);
        int64_t ls[4] = {1, 1, Q, L};
        dl_exec_emit(ex, "intermediate_logits", lg, 4, ls);
        ls[3] = 4;
        dl_exec_emit(ex, "intermediate_reference_points", ref, 4, ls);
        dl_exec_emit(ex, "initial_reference_points", ref0, 4, ls);
        ls[3] = nc;
        dl_exec_emit(ex, "intermediate_predicted_corners", corners, 4, ls);
        if (ex->out_of_memory) goto oom;
    }
    dl_exec_emit(ex, "last_hidden_state", hid, 3, hs);
    ex->ops->download(&ex->ctx, boxes, ref, (size_t)Q * 4 * sizeof(float));
    ex->ops->download(&ex->ctx, logits, lg, (size_t)Q * L * sizeof(float));
    if (ex->out_of_memory) goto oom;
    return DL_OK;
oom:
    return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for activations (input %dx%d)", W, H);
}

/* ---- registry ---------------------------------------------------------------------------- */

static dl_status dfine_parse(const cJSON *root, int in_h, int in_w, void *config,
                             dl_arch_dims *dims, dl_error *err) {
    dl_dfine_config *c = config;
    dl_status s = dl_dfine_config_parse(root, c, err);
    dims->num_labels = c->detr.num_labels;
    dims->num_queries = c->detr.num_queries;
    return s;
}

static dl_status dfine_build(const void *config, dl_weights *w, void **net) {
    dl_dfine *m = NULL;
    dl_status s = dl_dfine_build(config, w, &m);
    *net = m;
    return s;
}

static dl_status dfine_forward(const void *net, dl_exec *ex, int h, int w, const float *pixels,
                               float *logits, float *boxes, dl_error *err) {
    return dl_dfine_forward(net, ex, h, w, pixels, logits, boxes, err);
}

static void dfine_free(void *net) { dl_dfine_free(net); }

static const char *dfine_warning(const void *net) { return dl_dfine_warning(net); }

static size_t dfine_weight_allocs(const void *net, void *const **ptrs, const size_t **floats) {
    const dl_dfine *m = net;
    *ptrs = m->allocs;
    *floats = m->alloc_floats;
    return m->n_allocs;
}

const dl_arch dl_arch_dfine = {
    .model_type = "d_fine",
    .config_size = sizeof(dl_dfine_config),
    .parse_config = dfine_parse,
    .build = dfine_build,
    .forward = dfine_forward,
    .free = dfine_free,
    .warning = dfine_warning,
    .weight_allocs = dfine_weight_allocs,
};
