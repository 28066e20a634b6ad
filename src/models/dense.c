#include "models/dense.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "models/registry.h"

#define DENSE_MAX_DEPTH 8
#define DENSE_MAX_HEAD_CONVS 4
static const int dense_strides[3] = {8, 16, 32};

dl_status dl_dense_config_parse(const cJSON *root, dl_dense_config *c, dl_error *err) {
    memset(c, 0, sizeof *c);
    dl_cfg cfg = {.root = root, .file = "config.json", .err = err, .status = DL_OK};
    int nw = dl_cfg_ints(&cfg, "widths", c->widths, 5, 2, 4096, true);
    int nd = dl_cfg_ints(&cfg, "depths", c->depths, 4, 0, DENSE_MAX_DEPTH, true);
    c->neck_width = dl_cfg_int(&cfg, "neck_width", 64, 1, 4096);
    c->head_width = dl_cfg_int(&cfg, "head_width", 64, 1, 4096);
    c->head_convs = dl_cfg_int(&cfg, "head_convs", 2, 1, DENSE_MAX_HEAD_CONVS);
    c->max_detections = dl_cfg_int(&cfg, "max_detections", 300, 1, 100000);
    c->nms_threshold = (float)dl_cfg_num(&cfg, "nms_threshold", 0.5, 0.0, 1.0);
    c->batch_norm_eps = (float)dl_cfg_num(&cfg, "batch_norm_eps", 1e-5, 0, 1);
    int strides[3];
    int ns = dl_cfg_ints(&cfg, "strides", strides, 3, 1, 1024, false);
    if (cfg.status != DL_OK) return cfg.status;
    if (nw != 5 || nd != 4)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: dl_dense needs 5 widths and 4 depths");
    if (ns >= 0 && (ns != 3 || strides[0] != 8 || strides[1] != 16 || strides[2] != 32))
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "config.json: dl_dense supports strides [8, 16, 32]");
    for (int i = 1; i < 5; i++)
        if (c->widths[i] % 2)
            return dl_fail(err, DL_ERR_FORMAT, "config.json: dl_dense widths must be even");
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    c->num_labels = cJSON_IsObject(id2label) ? cJSON_GetArraySize(id2label) : 17;
    if (c->num_labels < 1 || c->num_labels > 100000)
        return dl_fail(err, DL_ERR_FORMAT, "config.json: no labels (id2label is empty)");
    return DL_OK;
}

typedef struct csp_block {
    dl_conv cv1, cv2;
    dl_conv m[DENSE_MAX_DEPTH][2]; /* bottleneck: two 3x3, residual */
    int n, half;
} csp_block;

struct dl_dense {
    dl_dense_config cfg;
    void **allocs;
    size_t *alloc_floats; /* [n_allocs] size of each, in floats (a device backend copies them) */
    size_t n_allocs;
    dl_conv stem;
    dl_conv down[4];
    csp_block csp[4];
    dl_conv lateral[3], td[2], downsample[2], bu[2];
    dl_conv cls_convs[DENSE_MAX_HEAD_CONVS], reg_convs[DENSE_MAX_HEAD_CONVS];
    dl_conv cls_pred, box_pred, ctr_pred; /* 1x1 with bias, no BN */
};

static bool load_cbn(dl_weights *w, dl_conv *c, const char *prefix, int cin, int cout, int k,
                     int stride, bool act, float eps) {
    char a[256], b[256];
    return dl_conv_load(w, c, dl_wname(a, "%s.conv", prefix), dl_wname(b, "%s.bn", prefix), true,
                        cin, cout, k, stride, 1, act ? DL_ACT_SILU : DL_ACT_NONE, eps);
}

static bool load_pred(dl_weights *w, dl_conv *c, const char *prefix, int cin, int cout) {
    char n[256];
    int64_t ws[4] = {cout, cin, 1, 1};
    *c = (dl_conv){
        .cin = cin, .cout = cout, .k = 1, .stride = 1, .pad = 0, .groups = 1, .act = DL_ACT_NONE};
    c->w = dl_weights_ref(w, dl_weights_get(w, dl_wname(n, "%s.weight", prefix), NULL, 4, ws));
    c->b = dl_weights_ref(w, dl_weights_get1(w, dl_wname(n, "%s.bias", prefix), cout));
    return w->status == DL_OK;
}

dl_status dl_dense_build(const dl_dense_config *cfg, dl_weights *w, dl_dense **out) {
    *out = NULL;
    dl_dense *m = calloc(1, sizeof *m);
    if (!m) return dl_fail(w->err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    m->cfg = *cfg;
    const int *wd = cfg->widths;
    float eps = cfg->batch_norm_eps;
    char p[256];
    int n = cfg->neck_width, hw = cfg->head_width;
    load_cbn(w, &m->stem, "stem", 3, wd[0], 3, 2, true, eps);
    for (int i = 0; i < 4; i++) {
        load_cbn(w, &m->down[i], dl_wname(p, "stages.%d.down", i), wd[i], wd[i + 1], 3, 2, true,
                 eps);
        csp_block *b = &m->csp[i];
        b->n = cfg->depths[i];
        b->half = wd[i + 1] / 2;
        load_cbn(w, &b->cv1, dl_wname(p, "stages.%d.csp.cv1", i), wd[i + 1], 2 * b->half, 1, 1,
                 true, eps);
        for (int k = 0; k < b->n; k++)
            for (int j = 0; j < 2; j++)
                load_cbn(w, &b->m[k][j], dl_wname(p, "stages.%d.csp.m.%d.cv%d", i, k, j + 1),
                         b->half, b->half, 3, 1, true, eps);
        load_cbn(w, &b->cv2, dl_wname(p, "stages.%d.csp.cv2", i), (2 + b->n) * b->half, wd[i + 1],
                 1, 1, true, eps);
    }
    for (int i = 0; i < 3; i++)
        load_cbn(w, &m->lateral[i], dl_wname(p, "lateral.%d", i), wd[i + 2], n, 1, 1, true, eps);
    for (int i = 0; i < 2; i++) {
        load_cbn(w, &m->td[i], dl_wname(p, "td.%d", i), n, n, 3, 1, true, eps);
        load_cbn(w, &m->downsample[i], dl_wname(p, "down.%d", i), n, n, 3, 2, true, eps);
        load_cbn(w, &m->bu[i], dl_wname(p, "bu.%d", i), n, n, 3, 1, true, eps);
    }
    for (int i = 0; i < cfg->head_convs; i++) {
        load_cbn(w, &m->cls_convs[i], dl_wname(p, "cls_convs.%d", i), i ? hw : n, hw, 3, 1, true,
                 eps);
        load_cbn(w, &m->reg_convs[i], dl_wname(p, "reg_convs.%d", i), i ? hw : n, hw, 3, 1, true,
                 eps);
    }
    load_pred(w, &m->cls_pred, "cls_pred", hw, cfg->num_labels);
    load_pred(w, &m->box_pred, "box_pred", hw, 4);
    load_pred(w, &m->ctr_pred, "ctr_pred", hw, 1);
    dl_status s = w->status;
    dl_weights_take_allocs_sized(w, &m->allocs, &m->alloc_floats, &m->n_allocs);
    if (s != DL_OK) {
        dl_dense_free(m);
        return s;
    }
    *out = m;
    return DL_OK;
}

void dl_dense_free(dl_dense *m) {
    if (!m) return;
    dl_weights_free_allocs(m->allocs, m->n_allocs);
    free(m->alloc_floats);
    free(m);
}

int dl_dense_num_cells(int h, int w) {
    int n = 0;
    for (int l = 0; l < 3; l++) n += (h / dense_strides[l]) * (w / dense_strides[l]);
    return n;
}

/* conv into a fresh arena buffer; returns it (NULL on OOM) and updates h, w */
static float *conv_new(dl_exec *ex, const dl_conv *c, const float *x, int *h, int *w,
                       const float *residual) {
    int oh = dl_conv_out(c, *h), ow = dl_conv_out(c, *w);
    float *y = dl_exec_alloc(ex, (size_t)c->cout * oh * ow);
    if (!y) return NULL;
    dl_conv_run(ex, c, x, *h, *w, residual, y);
    *h = oh;
    *w = ow;
    return y;
}

/* x [c, h, w] -> y [c, h, w] */
static float *run_csp(dl_exec *ex, const csp_block *b, const float *x, int h, int w) {
    size_t hw = (size_t)h * w;
    float *cat = dl_exec_alloc(ex, (size_t)(2 + b->n) * b->half * hw); /* [a, b, b1..bn] */
    float *t = dl_exec_alloc(ex, (size_t)b->half * hw);
    float *y = dl_exec_alloc(ex, (size_t)b->cv2.cout * hw);
    if (!cat || !t || !y) return NULL;
    dl_conv_run(ex, &b->cv1, x, h, w, NULL, cat);
    for (int k = 0; k < b->n; k++) {
        const float *in = cat + (size_t)(1 + k) * b->half * hw;
        float *dst = cat + (size_t)(2 + k) * b->half * hw;
        dl_conv_run(ex, &b->m[k][0], in, h, w, NULL, t);
        dl_conv_run(ex, &b->m[k][1], t, h, w, NULL, dst);
        ex->ops->add(&ex->ctx, (size_t)b->half * hw, dst, in, dst); /* x + cv2(cv1(x)) */
    }
    dl_conv_run(ex, &b->cv2, cat, h, w, NULL, y);
    dl_exec_release(ex, t);
    dl_exec_release(ex, cat);
    return y;
}

/* a [c, h, w] + upsample2x(top [c, h/2, w/2]) -> y */
static float *add_upsampled(dl_exec *ex, const float *a, const float *top, int c, int h, int w) {
    float *y = dl_exec_alloc(ex, (size_t)c * h * w);
    if (!y) return NULL;
    ex->ops->upsample2x(&ex->ctx, c, h / 2, w / 2, top, y);
    ex->ops->add(&ex->ctx, (size_t)c * h * w, y, a, y);
    return y;
}

dl_status dl_dense_forward(const dl_dense *m, dl_exec *ex, int H, int W, const float *pixels,
                           float *logits, float *boxes, dl_error *err) {
    const dl_dense_config *c = &m->cfg;
    if (H < 32 || W < 32 || H % 32 || W % 32)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "input %dx%d: height and width must be positive multiples of 32", W, H);
    ex->out_of_memory = false;
    int h = H, w = W, n = c->neck_width, L = c->num_labels;
    /* backbone: feats at strides 8, 16, 32 */
    float *x = conv_new(ex, &m->stem, pixels, &h, &w, NULL);
    if (!x) goto oom;
    float *feat[3] = {NULL};
    int fh[3], fw[3];
    for (int i = 0; i < 4; i++) {
        float *d = conv_new(ex, &m->down[i], x, &h, &w, NULL);
        if (!d) goto oom;
        if (i < 2) dl_exec_release(ex, x); /* stem and stage-1 outputs are not kept */
        float *y = run_csp(ex, &m->csp[i], d, h, w);
        dl_exec_release(ex, d);
        if (!y) goto oom;
        x = y;
        if (i >= 1) feat[i - 1] = y, fh[i - 1] = h, fw[i - 1] = w;
    }
    /* neck */
    float *lat[3];
    for (int l = 0; l < 3; l++) {
        int hh = fh[l], ww = fw[l];
        lat[l] = conv_new(ex, &m->lateral[l], feat[l], &hh, &ww, NULL);
        if (!lat[l]) goto oom;
        dl_exec_release(ex, feat[l]);
    }
    float *p5 = lat[2];
    float *s4 = add_upsampled(ex, lat[1], p5, n, fh[1], fw[1]);
    if (!s4) goto oom;
    int hh = fh[1], ww = fw[1];
    float *p4 = conv_new(ex, &m->td[0], s4, &hh, &ww, NULL);
    float *s3 = p4 ? add_upsampled(ex, lat[0], p4, n, fh[0], fw[0]) : NULL;
    if (!s3) goto oom;
    hh = fh[0], ww = fw[0];
    float *p3 = conv_new(ex, &m->td[1], s3, &hh, &ww, NULL);
    if (!p3) goto oom;
    dl_exec_release(ex, s4);
    dl_exec_release(ex, s3);
    dl_exec_release(ex, lat[1]);
    dl_exec_release(ex, lat[0]);
    /* bottom-up: N4 = bu0(P4 + down0(P3)), N5 = bu1(P5 + down1(N4)); the add comes after
     * the activation, so it cannot ride in the conv epilogue */
    float *outs[3] = {p3, NULL, NULL};
    const float *tops[2] = {p4, p5};
    for (int i = 0; i < 2; i++) {
        hh = fh[i], ww = fw[i];
        float *dn = conv_new(ex, &m->downsample[i], outs[i], &hh, &ww, NULL);
        if (!dn) goto oom;
        ex->ops->add(&ex->ctx, (size_t)n * hh * ww, dn, tops[i], dn);
        outs[i + 1] = conv_new(ex, &m->bu[i], dn, &hh, &ww, NULL);
        dl_exec_release(ex, dn);
        if (!outs[i + 1]) goto oom;
    }
    dl_exec_release(ex, p4);
    dl_exec_release(ex, p5);

    /* shared head per level, decoded into the engine's common output form (dense_decode), all
     * levels' cells in one logits/boxes buffer downloaded at the end */
    int cell = 0, cells = dl_dense_num_cells(H, W);
    float *lg = dl_exec_alloc(ex, (size_t)cells * L), *bx = dl_exec_alloc(ex, (size_t)cells * 4);
    if (!lg || !bx) goto oom;
    for (int l = 0; l < 3; l++) {
        int lh = fh[l], lw = fw[l], hw = lh * lw, s = dense_strides[l];
        const float *cb = outs[l], *rb = outs[l];
        float *tmp[2 * DENSE_MAX_HEAD_CONVS] = {NULL};
        for (int i = 0; i < c->head_convs; i++) {
            int a1 = lh, a2 = lw;
            tmp[i] = conv_new(ex, &m->cls_convs[i], cb, &a1, &a2, NULL);
            if (!tmp[i]) goto oom;
            cb = tmp[i];
            a1 = lh, a2 = lw;
            tmp[DENSE_MAX_HEAD_CONVS + i] = conv_new(ex, &m->reg_convs[i], rb, &a1, &a2, NULL);
            if (!tmp[DENSE_MAX_HEAD_CONVS + i]) goto oom;
            rb = tmp[DENSE_MAX_HEAD_CONVS + i];
        }
        float *pred = dl_exec_alloc(ex, (size_t)(L + 5) * hw); /* [L cls | 4 box | 1 ctr, hw] */
        if (!pred) goto oom;
        dl_conv_run(ex, &m->cls_pred, cb, lh, lw, NULL, pred);
        dl_conv_run(ex, &m->box_pred, rb, lh, lw, NULL, pred + (size_t)L * hw);
        dl_conv_run(ex, &m->ctr_pred, rb, lh, lw, NULL, pred + (size_t)(L + 4) * hw);
        for (int i = 0; i < 2 * DENSE_MAX_HEAD_CONVS; i++) dl_exec_release(ex, tmp[i]);
        int64_t shp[3] = {1, L + 5, hw};
        char name[32];
        snprintf(name, sizeof name, "head_%d", l);
        dl_exec_emit(ex, name, pred, 3, shp);
        dl_op_args dec = {.t = {pred, lg + (size_t)cell * L, bx + (size_t)cell * 4},
                          .n = {(size_t)(L + 5) * hw, (size_t)hw * L, (size_t)hw * 4},
                          .i = {L, hw, lw, s, W, H}};
        dl_op_run(ex, DL_OP_dense_decode, &dec);
        cell += hw;
        dl_exec_release(ex, pred);
        dl_exec_release(ex, outs[l]);
    }
    ex->ops->download(&ex->ctx, logits, lg, (size_t)cells * L * sizeof(float));
    ex->ops->download(&ex->ctx, boxes, bx, (size_t)cells * 4 * sizeof(float));
    if (ex->out_of_memory) goto oom;
    return DL_OK;
oom:
    return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for activations (input %dx%d)", W, H);
}

/* ---- registry ---------------------------------------------------------------------------- */

static dl_status dense_parse(const cJSON *root, int in_h, int in_w, void *config,
                             dl_arch_dims *dims, dl_error *err) {
    dl_dense_config *c = config;
    dl_status s = dl_dense_config_parse(root, c, err);
    dims->num_labels = c->num_labels;
    dims->num_queries = dl_dense_num_cells(in_h, in_w);
    dims->max_detections =
        c->max_detections < dims->num_queries ? c->max_detections : dims->num_queries;
    dims->nms_threshold = c->nms_threshold;
    return s;
}

static dl_status dense_build(const void *config, dl_weights *w, void **net) {
    dl_dense *m = NULL;
    dl_status s = dl_dense_build(config, w, &m);
    *net = m;
    return s;
}

static dl_status dense_forward(const void *net, dl_exec *ex, int h, int w, const float *pixels,
                               float *logits, float *boxes, dl_error *err) {
    return dl_dense_forward(net, ex, h, w, pixels, logits, boxes, err);
}

static void dense_free(void *net) { dl_dense_free(net); }

static size_t dense_weight_allocs(const void *net, void *const **ptrs, const size_t **floats) {
    const dl_dense *m = net;
    *ptrs = m->allocs;
    *floats = m->alloc_floats;
    return m->n_allocs;
}

const dl_arch dl_arch_dense = {
    .model_type = "dl_dense",
    .config_size = sizeof(dl_dense_config),
    .parse_config = dense_parse,
    .build = dense_build,
    .forward = dense_forward,
    .free = dense_free,
    .weight_allocs = dense_weight_allocs,
    .fixed_input_size = true, /* one output row per cell of the input */
};
