#include "models/detr_common.h"

#include "core/error.h"
#include "models/config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool dl_mha_load(dl_weights *w, dl_mha *m, const char *prefix, int dim, int heads) {
    char n[256];
    m->dim = dim;
    m->heads = heads;
    dl_linear_load(w, &m->q, dl_wname(n, "%s.q_proj", prefix), dim, dim, true);
    dl_linear_load(w, &m->k, dl_wname(n, "%s.k_proj", prefix), dim, dim, true);
    dl_linear_load(w, &m->v, dl_wname(n, "%s.v_proj", prefix), dim, dim, true);
    dl_linear_load(w, &m->o, dl_wname(n, "%s.out_proj", prefix), dim, dim, true);
    return w->status == DL_OK;
}

void dl_mha_run(dl_exec *ex, const dl_mha *m, int t, const float *x, const float *pos, float *out) {
    size_t n = (size_t)t * m->dim;
    float *xp = dl_exec_alloc(ex, n);  /* [t, dim] x + pos */
    float *q = dl_exec_alloc(ex, n);   /* [t, dim] */
    float *k = dl_exec_alloc(ex, n);   /* [t, dim] */
    float *v = dl_exec_alloc(ex, n);   /* [t, dim] */
    float *ctx = dl_exec_alloc(ex, n); /* [t, dim] attention output before out_proj */
    if (!xp || !q || !k || !v || !ctx) return;
    if (pos) ex->ops->add(&ex->ctx, n, x, pos, xp);
    else dl_copy(ex, xp, x, n);
    dl_linear_run(ex, &m->q, t, xp, DL_ACT_NONE, q);
    dl_linear_run(ex, &m->k, t, xp, DL_ACT_NONE, k);
    dl_linear_run(ex, &m->v, t, x, DL_ACT_NONE, v);
    int hd = m->dim / m->heads;
    /* scores need t floats per row per thread; reserve t * t per thread to be safe */
    if (!dl_exec_reserve(ex, (size_t)t * (size_t)t * (size_t)dl_threadpool_size(ex->ctx.pool)))
        return;
    ex->ops->attention(&ex->ctx, t, t, m->heads, hd, q, m->dim, k, m->dim, v, m->dim, ctx, m->dim);
    ex->flops += 2 * dl_matmul_flops(t, t, m->dim); /* q k^T and p v, all heads */
    dl_linear_run(ex, &m->o, t, ctx, DL_ACT_NONE, out);
    dl_exec_release(ex, ctx);
    dl_exec_release(ex, v);
    dl_exec_release(ex, k);
    dl_exec_release(ex, q);
    dl_exec_release(ex, xp);
}

bool dl_aifi_load(dl_weights *w, dl_aifi_layer *l, const char *prefix, int dim, int heads, int ffn,
                  dl_act act, float eps, bool normalize_before) {
    char n[256];
    dl_mha_load(w, &l->attn, dl_wname(n, "%s.self_attn", prefix), dim, heads);
    dl_norm_load(w, &l->attn_norm, dl_wname(n, "%s.self_attn_layer_norm", prefix), dim, eps);
    dl_linear_load(w, &l->fc1, dl_wname(n, "%s.fc1", prefix), dim, ffn, true);
    dl_linear_load(w, &l->fc2, dl_wname(n, "%s.fc2", prefix), ffn, dim, true);
    dl_norm_load(w, &l->ffn_norm, dl_wname(n, "%s.final_layer_norm", prefix), dim, eps);
    l->act = act;
    l->normalize_before = normalize_before;
    return w->status == DL_OK;
}

void dl_aifi_run(dl_exec *ex, const dl_aifi_layer *l, int t, float *x, const float *pos) {
    int d = l->attn.dim;
    size_t n = (size_t)t * d;
    float *a = dl_exec_alloc(ex, n);                      /* [t, d] */
    float *h = dl_exec_alloc(ex, (size_t)t * l->fc1.out); /* [t, ffn] */
    float *in = dl_exec_alloc(ex, n);                     /* [t, d] pre-norm input */
    if (!a || !h || !in) return;
    if (l->normalize_before) {
        dl_norm_run(ex, &l->attn_norm, t, x, NULL, in);
        dl_mha_run(ex, &l->attn, t, in, pos, a);
        ex->ops->add(&ex->ctx, n, x, a, x);
        dl_norm_run(ex, &l->ffn_norm, t, x, NULL, in);
        dl_linear_run(ex, &l->fc1, t, in, l->act, h);
        dl_linear_run(ex, &l->fc2, t, h, DL_ACT_NONE, a);
        ex->ops->add(&ex->ctx, n, x, a, x);
    } else {
        dl_mha_run(ex, &l->attn, t, x, pos, a);
        dl_norm_run(ex, &l->attn_norm, t, x, a, x);
        dl_linear_run(ex, &l->fc1, t, x, l->act, h);
        dl_linear_run(ex, &l->fc2, t, h, DL_ACT_NONE, a);
        dl_norm_run(ex, &l->ffn_norm, t, x, a, x);
    }
    dl_exec_release(ex, in);
    dl_exec_release(ex, h);
    dl_exec_release(ex, a);
}

void dl_sincos_pos_embed(int h, int w, int dim, float temperature, float *pos) {
    int pd = dim / 4;
    /* meshgrid(arange(w), arange(h), indexing="ij") flattened: token k gets (k / h, k % h) —
     * transformers' (and the original RT-DETR's) transposed grid, kept exactly. */
    for (int k = 0; k < h * w; k++) {
        float a = (float)(k / h), b = (float)(k % h);
        float *p = pos + (size_t)k * dim;
        for (int i = 0; i < pd; i++) {
            float omega = 1.0f / powf(temperature, (float)i / (float)pd);
            p[i] = sinf(a * omega);
            p[pd + i] = cosf(a * omega);
            p[2 * pd + i] = sinf(b * omega);
            p[3 * pd + i] = cosf(b * omega);
        }
    }
}

void dl_make_anchors(int n_levels, const int *lh, const int *lw, float grid_size, float *anchors,
                     float *valid) {
    const float lo = 0.01f, hi = 0.99f; /* eps = 1e-2, compared in float32 */
    size_t s = 0;
    for (int l = 0; l < n_levels; l++) {
        float wh = grid_size * (float)(1 << l);
        for (int y = 0; y < lh[l]; y++) {
            for (int x = 0; x < lw[l]; x++, s++) {
                float a[4] = {((float)x + 0.5f) / (float)lw[l], ((float)y + 0.5f) / (float)lh[l],
                              wh, wh};
                bool ok = true;
                for (int i = 0; i < 4; i++) ok = ok && a[i] > lo && a[i] < hi;
                valid[s] = ok ? 1.0f : 0.0f;
                for (int i = 0; i < 4; i++)
                    anchors[s * 4 + i] = ok ? logf(a[i] / (1.0f - a[i])) : FLT_MAX;
            }
        }
    }
}

bool dl_upload_anchors(dl_exec *ex, int n_levels, const int *lh, const int *lw, int s,
                       float *anchors, float *valid) {
    float *h = dl_exec_host(ex, (size_t)s * 5); /* [S, 4] anchors then [S] valid */
    if (!h) return false;
    dl_make_anchors(n_levels, lh, lw, 0.05f, h, h + (size_t)s * 4);
    ex->ops->upload(&ex->ctx, anchors, h, (size_t)s * 4 * sizeof(float));
    ex->ops->upload(&ex->ctx, valid, h + (size_t)s * 4, (size_t)s * sizeof(float));
    return true;
}

bool dl_query_select_load(dl_weights *w, dl_query_select *qs, int d, int labels, float eps) {
    dl_linear_load(w, &qs->enc_output, "model.enc_output.0", d, d, true);
    dl_norm_load(w, &qs->enc_norm, "model.enc_output.1", d, eps);
    dl_linear_load(w, &qs->score_head, "model.enc_score_head", d, labels, true);
    int dims[4] = {d, d, d, 4};
    dl_mlp_load(w, &qs->bbox_head, "model.enc_bbox_head", 3, dims);
    return w->status == DL_OK;
}

void dl_query_select_run(dl_exec *ex, const dl_query_select *qs, int s, int d, int labels, int q,
                         const float *memory, const float *anchors, const float *valid,
                         float *target, float *ref_unact) {
    float *masked = dl_exec_alloc(ex, (size_t)s * d);   /* [S, d] */
    float *outmem = dl_exec_alloc(ex, (size_t)s * d);   /* [S, d] */
    float *cls = dl_exec_alloc(ex, (size_t)s * labels); /* [S, labels] */
    float *coord = dl_exec_alloc(ex, (size_t)s * 4);    /* [S, 4] */
    int *idx = (int *)dl_exec_alloc(ex, (size_t)q);     /* [Q] */
    if (!masked || !outmem || !cls || !coord || !idx) return;
    ex->ops->scale_rows(&ex->ctx, s, d, memory, valid, masked);
    dl_linear_run(ex, &qs->enc_output, s, masked, DL_ACT_NONE, outmem);
    dl_norm_run(ex, &qs->enc_norm, s, outmem, NULL, outmem);
    dl_linear_run(ex, &qs->score_head, s, outmem, DL_ACT_NONE, cls);
    dl_mlp_run(ex, &qs->bbox_head, s, outmem, coord);
    ex->ops->add(&ex->ctx, (size_t)s * 4, coord, anchors, coord);
    int64_t sh[3] = {1, s, labels};
    dl_exec_emit(ex, "enc_outputs_class", cls, 3, sh);
    sh[2] = 4;
    dl_exec_emit(ex, "enc_outputs_coord_logits", coord, 3, sh);
    if (!dl_exec_reserve(ex, (size_t)s + (size_t)q)) return;
    ex->ops->topk_rows(&ex->ctx, s, labels, cls, q, idx);
    float *topk_logits = masked;                     /* reuse: [Q, labels] */
    float *topk_boxes = masked + (size_t)q * labels; /* [Q, 4] */
    ex->ops->gather_rows(&ex->ctx, q, d, idx, outmem, target);
    ex->ops->gather_rows(&ex->ctx, q, 4, idx, coord, ref_unact);
    ex->ops->gather_rows(&ex->ctx, q, labels, idx, cls, topk_logits);
    dl_copy(ex, topk_boxes, ref_unact, (size_t)q * 4);
    ex->ops->activate(&ex->ctx, (size_t)q * 4, DL_ACT_SIGMOID, topk_boxes);
    int64_t tq[3] = {1, q, 4};
    dl_exec_emit(ex, "init_reference_points", ref_unact, 3, tq);
    dl_exec_emit(ex, "enc_topk_bboxes", topk_boxes, 3, tq);
    tq[2] = labels;
    dl_exec_emit(ex, "enc_topk_logits", topk_logits, 3, tq);
    dl_exec_release(ex, idx);
    dl_exec_release(ex, coord);
    dl_exec_release(ex, cls);
    dl_exec_release(ex, outmem);
    dl_exec_release(ex, masked);
}

bool dl_csp_load(dl_weights *w, dl_csp_rep *b, const char *prefix, int in, int out, int hidden,
                 int n_reps, dl_act act, float eps) {
    char n1[256], n2[256];
    int hid = hidden;
    b->hidden = hid;
    b->n_reps = n_reps;
    dl_conv_load(w, &b->conv1, dl_wname(n1, "%s.conv1.conv", prefix),
                 dl_wname(n2, "%s.conv1.norm", prefix), true, in, hid, 1, 1, 1, act, eps);
    dl_conv_load(w, &b->conv2, dl_wname(n1, "%s.conv2.conv", prefix),
                 dl_wname(n2, "%s.conv2.norm", prefix), true, in, hid, 1, 1, 1, act, eps);
    if (w->status != DL_OK) return false;
    /* conv1 and conv2 read the same input: one conv with both weight sets stacked computes
     * each output channel exactly as the two would (same sums), reading the input once */
    b->conv12 = b->conv1;
    b->conv12.cout = 2 * hid;
    float *w12 = dl_weights_alloc(w, (size_t)2 * hid * in);
    float *b12 = dl_weights_alloc(w, (size_t)2 * hid);
    if (!w12 || !b12) return false;
    memcpy(w12, b->conv1.w.host, (size_t)hid * in * sizeof(float));
    memcpy(w12 + (size_t)hid * in, b->conv2.w.host, (size_t)hid * in * sizeof(float));
    memcpy(b12, b->conv1.b.host, (size_t)hid * sizeof(float));
    memcpy(b12 + hid, b->conv2.b.host, (size_t)hid * sizeof(float));
    dl_weights_free_one(w, b->conv1.w.host);
    dl_weights_free_one(w, b->conv1.b.host);
    dl_weights_free_one(w, b->conv2.w.host);
    dl_weights_free_one(w, b->conv2.b.host);
    b->conv12.w = dl_weights_ref(w, w12);
    b->conv12.b = dl_weights_ref(w, b12);
    /* conv1 and conv2 stay as views of their halves */
    b->conv1.w = b->conv12.w;
    b->conv2.w = dl_wref_at(b->conv12.w, (size_t)hid * in);
    b->conv1.b = b->conv12.b;
    b->conv2.b = dl_wref_at(b->conv12.b, (size_t)hid);
    b->reps =
        (dl_conv *)dl_weights_alloc(w, (sizeof(dl_conv) * (size_t)(n_reps ? n_reps : 1) + 3) / 4);
    if (!b->reps) return false;
    for (int i = 0; i < n_reps; i++) {
        dl_conv c3, c1;
        dl_conv_load(w, &c3, dl_wname(n1, "%s.bottlenecks.%d.conv1.conv", prefix, i),
                     dl_wname(n2, "%s.bottlenecks.%d.conv1.norm", prefix, i), true, hid, hid, 3, 1,
                     1, act, eps);
        dl_conv_load(w, &c1, dl_wname(n1, "%s.bottlenecks.%d.conv2.conv", prefix, i),
                     dl_wname(n2, "%s.bottlenecks.%d.conv2.norm", prefix, i), true, hid, hid, 1, 1,
                     1, act, eps);
        if (w->status != DL_OK) return false;
        /* RepVGG: act(BN(conv3x3 x) + BN(conv1x1 x)) == act(conv3x3'(x)) with the 1x1 kernel
         * added at the centre tap and the biases summed */
        for (int o = 0; o < hid; o++) {
            for (int ci = 0; ci < hid; ci++)
                c3.w.host[((size_t)o * hid + ci) * 9 + 4] += c1.w.host[(size_t)o * hid + ci];
            c3.b.host[o] += c1.b.host[o];
        }
        b->reps[i] = c3;
    }
    b->has_conv3 = hid != out;
    if (b->has_conv3)
        dl_conv_load(w, &b->conv3, dl_wname(n1, "%s.conv3.conv", prefix),
                     dl_wname(n2, "%s.conv3.norm", prefix), true, hid, out, 1, 1, 1, act, eps);
    return w->status == DL_OK;
}

void dl_csp_run(dl_exec *ex, const dl_csp_rep *b, const float *x, int h, int w, float *y) {
    size_t n = (size_t)b->hidden * h * w;
    float *buf = dl_exec_alloc(ex, 2 * n), *tb = dl_exec_alloc(ex, n);
    if (!buf || !tb) return;
    dl_conv_run(ex, &b->conv12, x, h, w, NULL, buf); /* [conv1(x); conv2(x)] */
    float *a = buf, *t = tb, *c2 = buf + n;
    for (int i = 0; i < b->n_reps; i++) {
        dl_conv_run(ex, &b->reps[i], a, h, w, NULL, t);
        ex->flops_folded += dl_matmul_flops(b->hidden, b->hidden, h * w); /* merged 1x1 */
        float *sw = a;
        a = t;
        t = sw;
    }
    if (b->has_conv3) {
        ex->ops->add(&ex->ctx, n, a, c2, a);
        dl_conv_run(ex, &b->conv3, a, h, w, NULL, y);
    } else {
        ex->ops->add(&ex->ctx, n, a, c2, y);
    }
    dl_exec_release(ex, tb);
    dl_exec_release(ex, buf);
}

/* ---- shared config ------------------------------------------------------------------------ */

dl_status dl_detr_config_parse(const cJSON *root, int backbone_outputs, bool point_lists,
                               dl_detr_config *c, dl_error *err) {
    memset(c, 0, sizeof *c);
    dl_cfg cfg = {.root = root, .file = "config.json", .err = err, .status = DL_OK};
    c->encoder_hidden_dim = dl_cfg_int(&cfg, "encoder_hidden_dim", 256, 4, 4096);
    int nin = dl_cfg_ints(&cfg, "encoder_in_channels", c->encoder_in_channels, DL_MAX_LEVELS, 1,
                          16384, true);
    int nfs = dl_cfg_ints(&cfg, "feat_strides", c->feat_strides, DL_MAX_LEVELS, 1, 1024, false);
    c->n_encode_proj = dl_cfg_ints(&cfg, "encode_proj_layers", c->encode_proj_layers, DL_MAX_LEVELS,
                                   0, DL_MAX_LEVELS - 1, false);
    if (c->n_encode_proj < 0) {
        c->n_encode_proj = 1;
        c->encode_proj_layers[0] = 2;
    }
    c->encoder_layers = dl_cfg_int(&cfg, "encoder_layers", 1, 0, 64);
    c->encoder_heads = dl_cfg_int(&cfg, "encoder_attention_heads", 8, 1, 256);
    c->encoder_ffn_dim = dl_cfg_int(&cfg, "encoder_ffn_dim", 1024, 1, 65536);
    c->encoder_act = dl_cfg_act(&cfg, "encoder_activation_function", "gelu");
    c->act = dl_cfg_act(&cfg, "activation_function", "silu");
    c->hidden_expansion = (float)dl_cfg_num(&cfg, "hidden_expansion", 1.0, 0.01, 64);
    c->pos_temperature = (float)dl_cfg_num(&cfg, "positional_encoding_temperature", 10000, 1, 1e9);
    c->normalize_before = dl_cfg_bool(&cfg, "normalize_before", false);
    c->d_model = dl_cfg_int(&cfg, "d_model", 256, 4, 4096);
    c->num_queries = dl_cfg_int(&cfg, "num_queries", 300, 1, 5000);
    c->decoder_layers = dl_cfg_int(&cfg, "decoder_layers", 6, 1, 64);
    c->decoder_heads = dl_cfg_int(&cfg, "decoder_attention_heads", 8, 1, 256);
    c->decoder_ffn_dim = dl_cfg_int(&cfg, "decoder_ffn_dim", 1024, 1, 65536);
    c->n_levels = dl_cfg_int(&cfg, "num_feature_levels", 3, 1, DL_MAX_LEVELS);
    int dnl = dl_cfg_int(&cfg, "decoder_n_levels", c->n_levels, 1, DL_MAX_LEVELS);
    int ndec = dl_cfg_ints(&cfg, "decoder_in_channels", c->decoder_in_channels, DL_MAX_LEVELS, 1,
                           16384, true);
    c->decoder_act = dl_cfg_act(&cfg, "decoder_activation_function", "relu");
    c->offset_scale = (float)dl_cfg_num(&cfg, "decoder_offset_scale", 0.5, 0, 100);
    const char *method = dl_cfg_str(&cfg, "decoder_method", "default");
    c->learn_initial_query = dl_cfg_bool(&cfg, "learn_initial_query", false);
    c->layer_norm_eps = (float)dl_cfg_num(&cfg, "layer_norm_eps", 1e-5, 0, 1);
    c->batch_norm_eps = (float)dl_cfg_num(&cfg, "batch_norm_eps", 1e-5, 0, 1);
    if (cfg.status != DL_OK) return cfg.status;

    /* decoder_n_points: one count for every level, or (D-FINE) a list with one per level */
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(root, "decoder_n_points");
    int npl;
    if (!np || cJSON_IsNull(np) || !cJSON_IsArray(np) || !point_lists) {
        int v = dl_cfg_int(&cfg, "decoder_n_points", 4, 1, 64);
        if (cfg.status != DL_OK) return cfg.status;
        for (int l = 0; l < DL_MAX_LEVELS; l++) c->level_points[l] = v;
        npl = c->n_levels;
    } else {
        npl = dl_cfg_ints(&cfg, "decoder_n_points", c->level_points, DL_MAX_LEVELS, 1, 64, true);
        if (cfg.status != DL_OK) return cfg.status;
    }

    /* num_labels comes from id2label (transformers' PretrainedConfig) */
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    c->num_labels = cJSON_IsObject(id2label) ? cJSON_GetArraySize(id2label)
                                             : dl_cfg_int(&cfg, "num_labels", 0, 1, 100000);
    if (cfg.status != DL_OK) return cfg.status;
    if (c->num_labels < 1 || c->num_labels > 100000)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: no labels (id2label is empty)");

    if (strcmp(method, "default") == 0) c->discrete = false;
    else if (strcmp(method, "discrete") == 0) c->discrete = true;
    else
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: decoder_method \"%s\" is not "
                       "supported (default or discrete)",
                       method);
    if (nin != backbone_outputs)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: encoder_in_channels has %d entries but the "
                       "backbone has %d outputs",
                       nin, backbone_outputs);
    if (nfs < 0) {
        for (int i = 0; i < nin; i++) c->feat_strides[i] = 8 << i;
    } else if (nfs != nin) {
        return dl_fail(err, DL_ERR_FORMAT, "config.json: feat_strides has %d entries, expected %d",
                       nfs, nin);
    }
    for (int i = 0; i < c->n_encode_proj; i++)
        if (c->encode_proj_layers[i] >= nin)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: encode_proj_layers names level %d of %d",
                           c->encode_proj_layers[i], nin);
    if (ndec != nin || c->n_levels != nin || dnl != c->n_levels)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: num_feature_levels (%d), decoder_n_levels (%d) and "
                       "decoder_in_channels (%d) must equal the encoder's %d levels",
                       c->n_levels, dnl, ndec, nin);
    if (npl != nin)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: decoder_n_points has %d entries, expected "
                       "%d (one per level)",
                       npl, nin);
    c->total_points = 0;
    for (int l = 0; l < nin; l++) c->total_points += c->level_points[l];
    for (int i = 0; i < ndec; i++)
        if (c->decoder_in_channels[i] != c->encoder_hidden_dim)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: decoder_in_channels[%d] = %d differs from "
                           "encoder_hidden_dim %d",
                           i, c->decoder_in_channels[i], c->encoder_hidden_dim);
    if (c->encoder_hidden_dim % c->encoder_heads || c->encoder_hidden_dim % 4)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: encoder_hidden_dim %d is not divisible "
                       "by the heads (%d) and by 4",
                       c->encoder_hidden_dim, c->encoder_heads);
    if (c->d_model % c->decoder_heads)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: d_model %d is not divisible by "
                       "decoder_attention_heads %d",
                       c->d_model, c->decoder_heads);
    return DL_OK;
}

/* ---- hybrid encoder ----------------------------------------------------------------------- */

bool dl_hybrid_encoder_load(dl_weights *w, dl_hybrid_encoder *e, const dl_detr_config *c,
                            dl_act lateral_act) {
    char n1[256], n2[256];
    int d = c->encoder_hidden_dim, nl = c->n_levels;
    e->cfg = c;
    /* nn.BatchNorm2d(encoder_hidden_dim) with its default eps, not batch_norm_eps */
    for (int l = 0; l < nl; l++)
        dl_conv_load(w, &e->input_proj[l], dl_wname(n1, "model.encoder_input_proj.%d.0", l),
                     dl_wname(n2, "model.encoder_input_proj.%d.1", l), true,
                     c->encoder_in_channels[l], d, 1, 1, 1, DL_ACT_NONE, 1e-5f);
    size_t na = (size_t)c->n_encode_proj * (size_t)c->encoder_layers;
    e->aifi = (dl_aifi_layer *)dl_weights_alloc(w, (sizeof(dl_aifi_layer) * (na ? na : 1) + 3) / 4);
    if (!e->aifi) return false;
    for (int i = 0; i < c->n_encode_proj; i++)
        for (int j = 0; j < c->encoder_layers; j++)
            dl_aifi_load(w, &e->aifi[i * c->encoder_layers + j],
                         dl_wname(n1, "model.encoder.encoder.%d.layers.%d", i, j), d,
                         c->encoder_heads, c->encoder_ffn_dim, c->encoder_act, c->layer_norm_eps,
                         c->normalize_before);
    for (int i = 0; i < nl - 1; i++)
        dl_conv_load(w, &e->lateral[i], dl_wname(n1, "model.encoder.lateral_convs.%d.conv", i),
                     dl_wname(n2, "model.encoder.lateral_convs.%d.norm", i), true, d, d, 1, 1, 1,
                     lateral_act, c->batch_norm_eps);
    return w->status == DL_OK;
}

static void emit_map(dl_exec *ex, const char *name, const float *x, int c, int h, int w) {
    int64_t s[4] = {1, c, h, w};
    dl_exec_emit(ex, name, x, 4, s);
}

bool dl_hybrid_encoder_run(dl_exec *ex, const dl_hybrid_encoder *e, const float **feat,
                           const int *fh, const int *fw, float **out) {
    const dl_detr_config *c = e->cfg;
    int d = c->encoder_hidden_dim, nl = c->n_levels;
    float *proj[DL_MAX_LEVELS] = {NULL};
    for (int l = 0; l < nl; l++) {
        proj[l] = dl_exec_alloc(ex, (size_t)d * fh[l] * fw[l]); /* [d, h_l, w_l] */
        if (!proj[l]) return false;
        dl_conv_run(ex, &e->input_proj[l], feat[l], fh[l], fw[l], NULL, proj[l]);
        dl_exec_release(ex, (void *)feat[l]);
    }
    /* AIFI on the chosen levels, as tokens [t, d] with the 2-D sin-cos position */
    for (int i = 0; i < c->n_encode_proj && c->encoder_layers > 0; i++) {
        int l = c->encode_proj_layers[i], t = fh[l] * fw[l];
        if (i == 0) emit_map(ex, "encoder_hidden_states_0", proj[l], d, fh[l], fw[l]);
        float *tok = dl_exec_alloc(ex, (size_t)t * d); /* [t, d] */
        float *pos = dl_exec_alloc(ex, (size_t)t * d); /* [t, d] */
        float *pos_host = dl_exec_host(ex, (size_t)t * d);
        if (!tok || !pos || !pos_host) return false;
        dl_transpose(ex, proj[l], d, t, tok);
        dl_sincos_pos_embed(fh[l], fw[l], d, c->pos_temperature, pos_host);
        ex->ops->upload(&ex->ctx, pos, pos_host, (size_t)t * d * sizeof(float));
        for (int j = 0; j < c->encoder_layers; j++)
            dl_aifi_run(ex, &e->aifi[i * c->encoder_layers + j], t, tok, pos);
        dl_transpose(ex, tok, t, d, proj[l]);
        dl_exec_release(ex, pos);
        dl_exec_release(ex, tok);
        if (i == 0) emit_map(ex, "encoder_hidden_states_1", proj[l], d, fh[l], fw[l]);
    }
    /* top-down FPN: fpn[l] holds the map at level l */
    float *fpn[DL_MAX_LEVELS] = {NULL};
    fpn[nl - 1] = proj[nl - 1];
    for (int idx = nl - 1; idx > 0; idx--) {
        int k = nl - 1 - idx;
        if (fh[idx - 1] != 2 * fh[idx] || fw[idx - 1] != 2 * fw[idx]) return false;
        float *lat = dl_exec_alloc(ex, (size_t)d * fh[idx] * fw[idx]);
        if (!lat) return false;
        dl_conv_run(ex, &e->lateral[k], fpn[idx], fh[idx], fw[idx], NULL, lat);
        if (idx == nl - 1) dl_exec_release(ex, proj[idx]);
        fpn[idx] = lat; /* the lateral output replaces the stored top map */
        size_t lo = (size_t)d * fh[idx - 1] * fw[idx - 1];
        float *cat = dl_exec_alloc(ex, 2 * lo); /* [2d, h, w] = [upsampled, lower level] */
        float *o = dl_exec_alloc(ex, lo);
        if (!cat || !o) return false;
        ex->ops->upsample2x(&ex->ctx, d, fh[idx], fw[idx], lat, cat);
        dl_copy(ex, cat + lo, proj[idx - 1], lo);
        dl_exec_release(ex, proj[idx - 1]);
        e->fuse(ex, e->fpn[k], cat, fh[idx - 1], fw[idx - 1], o);
        dl_exec_release(ex, cat);
        fpn[idx - 1] = o;
    }
    /* bottom-up PAN */
    out[0] = fpn[0];
    for (int idx = 0; idx < nl - 1; idx++) {
        size_t hi = (size_t)d * fh[idx + 1] * fw[idx + 1];
        float *cat = dl_exec_alloc(ex, 2 * hi); /* [2d, h, w] = [downsampled, fpn level] */
        float *o = dl_exec_alloc(ex, hi);
        if (!cat || !o) return false;
        e->downsample(ex, e->down[idx], out[idx], fh[idx], fw[idx], cat);
        dl_copy(ex, cat + hi, fpn[idx + 1], hi);
        dl_exec_release(ex, fpn[idx + 1]);
        e->fuse(ex, e->pan[idx], cat, fh[idx + 1], fw[idx + 1], o);
        dl_exec_release(ex, cat);
        out[idx + 1] = o;
    }
    for (int l = 0; l < nl; l++) {
        char name[64];
        snprintf(name, sizeof name, "encoder_last_hidden_state_%d", l);
        emit_map(ex, name, out[l], d, fh[l], fw[l]);
    }
    return !ex->out_of_memory;
}

bool dl_decoder_input_run(dl_exec *ex, const dl_detr_config *c, const dl_conv *proj, float **pan,
                          const int *fh, const int *fw, dl_decoder_input *in) {
    int nl = c->n_levels, dm = c->d_model, s = 0;
    for (int l = 0; l < nl; l++) {
        in->level_start[l] = s;
        s += fh[l] * fw[l];
    }
    in->tokens = s;
    in->memory = dl_exec_alloc(ex, (size_t)s * dm); /* [S, dm] */
    in->anchors = dl_exec_alloc(ex, (size_t)s * 4); /* [S, 4] */
    in->valid = dl_exec_alloc(ex, (size_t)s);       /* [S] */
    if (!in->memory || !in->anchors || !in->valid) return false;
    for (int l = 0; l < nl; l++) {
        size_t hw = (size_t)fh[l] * fw[l];
        const float *src = pan[l];
        if (proj) {
            float *p = dl_exec_alloc(ex, (size_t)dm * hw);
            if (!p) return false;
            dl_conv_run(ex, &proj[l], pan[l], fh[l], fw[l], NULL, p);
            src = p;
        }
        dl_transpose(ex, src, proj ? dm : c->encoder_hidden_dim, (int)hw,
                     in->memory + (size_t)in->level_start[l] * dm);
        if (src != pan[l]) dl_exec_release(ex, (void *)src);
        dl_exec_release(ex, pan[l]);
    }
    return dl_upload_anchors(ex, nl, fh, fw, s, in->anchors, in->valid) && !ex->out_of_memory;
}

dl_status dl_detr_check_input(const dl_detr_config *c, int h, int w, dl_error *err) {
    int maxstride = 1;
    for (int i = 0; i < c->n_levels; i++)
        if (c->feat_strides[i] > maxstride) maxstride = c->feat_strides[i];
    if (h < maxstride || w < maxstride || h % maxstride || w % maxstride)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "input %dx%d: height and width must be positive multiples of %d", w, h,
                       maxstride);
    return DL_OK;
}

dl_status dl_detr_queries_run(dl_exec *ex, const dl_detr_config *c, const dl_hybrid_encoder *enc,
                              const dl_conv *proj, const dl_query_select *qs,
                              const float *query_embed, const float **feat, const int *fh,
                              const int *fw, int h, int w, dl_detr_queries *out, dl_error *err) {
    float *pan[DL_MAX_LEVELS] = {NULL};
    if (!dl_hybrid_encoder_run(ex, enc, feat, fh, fw, pan)) goto oom;
    dl_decoder_input *in = &out->in;
    if (!dl_decoder_input_run(ex, c, proj, pan, fh, fw, in)) goto oom;
    int dm = c->d_model, q = c->num_queries, s = in->tokens;
    if (q > s)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "num_queries %d exceeds the %d encoder tokens of a %dx%d input", q, s, w, h);
    out->hid = dl_exec_alloc(ex, (size_t)q * dm);   /* [Q, dm] */
    out->ref_un = dl_exec_alloc(ex, (size_t)q * 4); /* [Q, 4] */
    if (!out->hid || !out->ref_un) goto oom;
    dl_query_select_run(ex, qs, s, dm, c->num_labels, q, in->memory, in->anchors, in->valid,
                        out->hid, out->ref_un);
    if (ex->out_of_memory) goto oom;
    if (c->learn_initial_query)
        ex->ops->upload(&ex->ctx, out->hid, query_embed, (size_t)q * dm * sizeof(float));
    out->deform = (dl_deform_desc){
        .n_queries = q,
        .n_heads = c->decoder_heads,
        .head_dim = dm / c->decoder_heads,
        .n_levels = c->n_levels,
        .level_h = fh,
        .level_w = fw,
        .level_start = in->level_start,
        .level_points = c->level_points,
        .total_points = c->total_points,
        .discrete = c->discrete,
    };
    return DL_OK;
oom:
    return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for activations (input %dx%d)", w, h);
}

void dl_deform_sampling_run(dl_exec *ex, const dl_detr_config *c, int q, const dl_linear *offsets,
                            const dl_linear *weights, const float *qin, const float *ref,
                            float *off, float *aw) {
    int heads = c->decoder_heads, p = c->total_points;
    dl_linear_run(ex, offsets, q, qin, DL_ACT_NONE, off);
    dl_linear_run(ex, weights, q, qin, DL_ACT_NONE, aw);
    ex->ops->softmax_rows(&ex->ctx, q * heads, p, aw);
    ex->ops->deform_locations(&ex->ctx, q, heads, c->n_levels, c->level_points, p, c->offset_scale,
                              ref, off);
}
