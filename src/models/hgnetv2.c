#include "models/hgnetv2.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"

/* ---- config ------------------------------------------------------------------------------ */

/* A bool array of exactly n entries. */
static bool read_bools(const cJSON *root, const char *key, bool *out, int n, dl_error *err,
                       dl_status *st) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        *st = dl_fail(err, DL_ERR_FORMAT,
                      "config.json: backbone_config \"%s\" must be an array "
                      "of %d booleans",
                      key, n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsBool(e)) {
            *st = dl_fail(err, DL_ERR_FORMAT,
                          "config.json: backbone_config \"%s\"[%d] is not a "
                          "boolean",
                          key, i);
            return false;
        }
        out[i] = cJSON_IsTrue(e);
    }
    return true;
}

dl_status dl_hgnet_config_parse(const cJSON *bb, bool freeze_bn, dl_hgnet_config *c,
                                dl_error *err) {
    memset(c, 0, sizeof *c);
    dl_cfg b = {.root = bb, .file = "config.json: backbone_config", .err = err, .status = DL_OK};
    int nst = dl_cfg_ints(&b, "stem_channels", c->stem_channels, 3, 1, 4096, true);
    c->n_stages =
        dl_cfg_ints(&b, "stage_in_channels", c->in_ch, DL_HGNET_MAX_STAGES, 1, 16384, true);
    int counts[5];
    counts[0] =
        dl_cfg_ints(&b, "stage_mid_channels", c->mid_ch, DL_HGNET_MAX_STAGES, 1, 16384, true);
    counts[1] =
        dl_cfg_ints(&b, "stage_out_channels", c->out_ch, DL_HGNET_MAX_STAGES, 2, 16384, true);
    counts[2] =
        dl_cfg_ints(&b, "stage_num_blocks", c->num_blocks, DL_HGNET_MAX_STAGES, 1, 64, true);
    counts[3] =
        dl_cfg_ints(&b, "stage_numb_of_layers", c->num_layers, DL_HGNET_MAX_STAGES, 1, 64, true);
    counts[4] = dl_cfg_ints(&b, "stage_kernel_size", c->kernel, DL_HGNET_MAX_STAGES, 1, 15, true);
    c->act = dl_cfg_act(&b, "hidden_act", "relu");
    c->lab = dl_cfg_bool(&b, "use_learnable_affine_block", false);
    int nch = dl_cfg_int(&b, "num_channels", 3, 3, 3);
    (void)nch;
    c->n_out = dl_cfg_ints(&b, "out_indices", c->out_indices, DL_MAX_LEVELS, 0, DL_HGNET_MAX_STAGES,
                           false);
    if (b.status != DL_OK) return b.status;
    if (nst != 3)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: backbone_config stem_channels needs 3 "
                       "entries, has %d",
                       nst);
    if (c->stem_channels[0] != 3 || c->stem_channels[1] % 2)
        return dl_fail(err, DL_ERR_FORMAT,
                       "config.json: backbone_config stem_channels must be "
                       "[3, even, any]");
    const char *names[5] = {"stage_mid_channels", "stage_out_channels", "stage_num_blocks",
                            "stage_numb_of_layers", "stage_kernel_size"};
    for (int i = 0; i < 5; i++)
        if (counts[i] != c->n_stages)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: backbone_config %s has %d entries, "
                           "stage_in_channels %d",
                           names[i], counts[i], c->n_stages);
    dl_status st = DL_OK;
    if (!read_bools(bb, "stage_downsample", c->downsample, c->n_stages, err, &st)) return st;
    if (!read_bools(bb, "stage_light_block", c->light, c->n_stages, err, &st)) return st;
    for (int s = 0; s < c->n_stages; s++) {
        int prev = s == 0 ? c->stem_channels[2] : c->out_ch[s - 1];
        if (c->in_ch[s] != prev)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: backbone_config stage_in_channels[%d] "
                           "= %d but the previous stage gives %d",
                           s, c->in_ch[s], prev);
        if (c->out_ch[s] % 2)
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: backbone_config stage_out_channels[%d]"
                           " = %d is odd",
                           s, c->out_ch[s]);
        if (c->kernel[s] % 2 == 0)
            return dl_fail(err, DL_ERR_UNSUPPORTED,
                           "config.json: backbone_config "
                           "stage_kernel_size[%d] = %d (even kernels are not supported)",
                           s, c->kernel[s]);
    }
    if (c->n_out < 0) {
        c->n_out = c->n_stages < 3 ? c->n_stages : 3;
        for (int i = 0; i < c->n_out; i++) c->out_indices[i] = c->n_stages - c->n_out + 1 + i;
    }
    for (int i = 0; i < c->n_out; i++)
        if (c->out_indices[i] > c->n_stages || (i && c->out_indices[i] <= c->out_indices[i - 1]))
            return dl_fail(err, DL_ERR_FORMAT,
                           "config.json: backbone out_indices must increase "
                           "and name stages 0..%d",
                           c->n_stages);
    c->bn_tracked = !freeze_bn;
    return DL_OK;
}

int dl_hgnet_out_channels(const dl_hgnet_config *c, int i) {
    int idx = c->out_indices[i];
    return idx == 0 ? c->stem_channels[2] : c->out_ch[idx - 1];
}

/* ---- the network ------------------------------------------------------------------------- */

/* Conv + BN (+ act) (+ learnable affine: scale * y + bias, scalars). */
typedef struct hg_conv {
    dl_conv c;
    const float *lab_scale, *lab_bias; /* NULL when no affine block */
} hg_conv;

typedef struct hg_layer {
    bool light;
    hg_conv a, b; /* plain: a (k x k); light: a (1x1, no act), b (depthwise k x k) */
} hg_layer;

typedef struct hg_block {
    int n_layers, in, mid, out;
    bool residual;
    hg_layer *layers;
    hg_conv squeeze, excite;
} hg_block;

typedef struct hg_stage {
    bool has_down;
    dl_conv down;
    int n_blocks;
    hg_block *blocks;
} hg_stage;

struct dl_hgnet {
    dl_hgnet_config cfg;
    hg_conv stem1, stem2a, stem2b, stem3, stem4;
    hg_stage stages[DL_HGNET_MAX_STAGES];
};

static void *alloc_structs(dl_weights *w, size_t bytes) {
    return dl_weights_alloc(w, (bytes ? bytes : 1) / 4 + 1);
}

static bool load_hg_conv(dl_weights *w, const dl_hgnet_config *c, hg_conv *hc, const char *prefix,
                         int cin, int cout, int k, int stride, int groups, bool act) {
    char n1[256], n2[256];
    dl_conv_load(w, &hc->c, dl_wname(n1, "%s.convolution", prefix),
                 dl_wname(n2, "%s.normalization", prefix), c->bn_tracked, cin, cout, k, stride,
                 groups, act ? c->act : DL_ACT_NONE, 1e-5f);
    hc->lab_scale = hc->lab_bias = NULL;
    if (act && c->lab) {
        hc->lab_scale = dl_weights_get1(w, dl_wname(n1, "%s.lab.scale", prefix), 1);
        hc->lab_bias = dl_weights_get1(w, dl_wname(n1, "%s.lab.bias", prefix), 1);
    }
    return w->status == DL_OK;
}

dl_hgnet *dl_hgnet_build(const dl_hgnet_config *c, dl_weights *w) {
    dl_hgnet *m = alloc_structs(w, sizeof *m);
    if (!m) return NULL;
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    char p[256], q[256];
    const char *E = "model.backbone.model.embedder";
    int s0 = c->stem_channels[0], s1 = c->stem_channels[1], s2 = c->stem_channels[2];
    load_hg_conv(w, c, &m->stem1, dl_wname(p, "%s.stem1", E), s0, s1, 3, 2, 1, true);
    load_hg_conv(w, c, &m->stem2a, dl_wname(p, "%s.stem2a", E), s1, s1 / 2, 2, 1, 1, true);
    load_hg_conv(w, c, &m->stem2b, dl_wname(p, "%s.stem2b", E), s1 / 2, s1, 2, 1, 1, true);
    load_hg_conv(w, c, &m->stem3, dl_wname(p, "%s.stem3", E), 2 * s1, s1, 3, 2, 1, true);
    load_hg_conv(w, c, &m->stem4, dl_wname(p, "%s.stem4", E), s1, s2, 1, 1, 1, true);
    /* 2x2 kernels: padding (k-1)/2 = 0, the explicit (0,1,0,1) pad is applied when running */
    m->stem2a.c.pad = m->stem2b.c.pad = 0;
    for (int s = 0; s < c->n_stages && w->status == DL_OK; s++) {
        hg_stage *st = &m->stages[s];
        const char *S = dl_wname(q, "model.backbone.model.encoder.stages.%d", s);
        char sp[256];
        snprintf(sp, sizeof sp, "%s", S);
        st->has_down = c->downsample[s];
        if (st->has_down)
            dl_conv_load(w, &st->down, dl_wname(p, "%s.downsample.convolution", sp),
                         dl_wname(q, "%s.downsample.normalization", sp), c->bn_tracked, c->in_ch[s],
                         c->in_ch[s], 3, 2, c->in_ch[s], DL_ACT_NONE, 1e-5f);
        st->n_blocks = c->num_blocks[s];
        st->blocks = alloc_structs(w, sizeof(hg_block) * (size_t)st->n_blocks);
        if (!st->blocks) return NULL;
        for (int bi = 0; bi < st->n_blocks; bi++) {
            hg_block *b = &st->blocks[bi];
            char bp[256];
            snprintf(bp, sizeof bp, "%s", dl_wname(p, "%s.blocks.%d", sp, bi));
            b->in = bi == 0 ? c->in_ch[s] : c->out_ch[s];
            b->mid = c->mid_ch[s];
            b->out = c->out_ch[s];
            b->residual = bi > 0;
            b->n_layers = c->num_layers[s];
            b->layers = alloc_structs(w, sizeof(hg_layer) * (size_t)b->n_layers);
            if (!b->layers) return NULL;
            int k = c->kernel[s];
            for (int l = 0; l < b->n_layers; l++) {
                hg_layer *L = &b->layers[l];
                int lin = l == 0 ? b->in : b->mid;
                L->light = c->light[s];
                if (L->light) {
                    load_hg_conv(w, c, &L->a, dl_wname(p, "%s.layers.%d.conv1", bp, l), lin, b->mid,
                                 1, 1, 1, false);
                    load_hg_conv(w, c, &L->b, dl_wname(p, "%s.layers.%d.conv2", bp, l), b->mid,
                                 b->mid, k, 1, b->mid, true);
                } else {
                    load_hg_conv(w, c, &L->a, dl_wname(p, "%s.layers.%d", bp, l), lin, b->mid, k, 1,
                                 1, true);
                }
            }
            int total = b->in + b->n_layers * b->mid;
            load_hg_conv(w, c, &b->squeeze, dl_wname(p, "%s.aggregation.0", bp), total, b->out / 2,
                         1, 1, 1, true);
            load_hg_conv(w, c, &b->excite, dl_wname(p, "%s.aggregation.1", bp), b->out / 2, b->out,
                         1, 1, 1, true);
        }
    }
    return w->status == DL_OK ? m : NULL;
}

/* ---- forward ----------------------------------------------------------------------------- */

static void run_hg_conv(dl_exec *ex, const hg_conv *hc, const float *x, int h, int w, int oh,
                        int ow, const float *residual, float *y) {
    const dl_conv *c = &hc->c;
    if (!dl_conv_run_sized(ex, c, x, h, w, oh, ow, residual, y)) return;
    if (hc->lab_scale) {
        /* learnable affine block after the activation: scale * y + bias (scalars) */
        size_t n = (size_t)c->cout * oh * ow;
        dl_op_args a = {.t = {y}, .n = {n}, .f = {hc->lab_scale[0], hc->lab_bias[0]}};
        dl_op_run(ex, DL_OP_affine, &a);
    }
}

/* Standard conv output size (symmetric padding). */
static float *hg_conv_std(dl_exec *ex, const hg_conv *hc, const float *x, int *h, int *w) {
    int oh = dl_conv_out(&hc->c, *h), ow = dl_conv_out(&hc->c, *w);
    float *y = dl_exec_alloc(ex, (size_t)hc->c.cout * oh * ow);
    if (!y) return NULL;
    run_hg_conv(ex, hc, x, *h, *w, oh, ow, NULL, y);
    *h = oh;
    *w = ow;
    return y;
}

static float *run_block(dl_exec *ex, const hg_block *b, const float *x, int h, int w) {
    size_t hw = (size_t)h * w;
    int total = b->in + b->n_layers * b->mid;
    float *cat = dl_exec_alloc(ex, (size_t)total * hw); /* [in + n*mid, h, w] */
    float *tmp = dl_exec_alloc(ex, (size_t)b->mid * hw);
    float *sq = dl_exec_alloc(ex, (size_t)(b->out / 2) * hw);
    float *out = dl_exec_alloc(ex, (size_t)b->out * hw);
    if (!cat || !tmp || !sq || !out) return NULL;
    dl_copy(ex, cat, x, (size_t)b->in * hw);
    const float *cur = x;
    for (int l = 0; l < b->n_layers; l++) {
        const hg_layer *L = &b->layers[l];
        float *dst = cat + ((size_t)b->in + (size_t)l * b->mid) * hw;
        if (L->light) {
            run_hg_conv(ex, &L->a, cur, h, w, h, w, NULL, tmp);
            run_hg_conv(ex, &L->b, tmp, h, w, h, w, NULL, dst);
        } else {
            run_hg_conv(ex, &L->a, cur, h, w, h, w, NULL, dst);
        }
        cur = dst;
    }
    run_hg_conv(ex, &b->squeeze, cat, h, w, h, w, NULL, sq);
    run_hg_conv(ex, &b->excite, sq, h, w, h, w, NULL, out);
    /* act(conv) (+ affine) + identity: the add comes after the activation, so it cannot ride
     * in the conv epilogue (which adds before it) */
    if (b->residual) ex->ops->add(&ex->ctx, (size_t)b->out * hw, out, x, out);
    dl_exec_release(ex, sq);
    dl_exec_release(ex, tmp);
    dl_exec_release(ex, cat);
    return out;
}

bool dl_hgnet_forward(const dl_hgnet *m, dl_exec *ex, int H, int W, const float *pixels,
                      const float **feat, int *fh, int *fw) {
    const dl_hgnet_config *c = &m->cfg;
    int h = H, w = W;
    float *e1 = hg_conv_std(ex, &m->stem1, pixels, &h, &w); /* [s1, h, w] */
    if (!e1) return false;
    int s1 = c->stem_channels[1];
    /* F.pad(e1, (0,1,0,1)) with zeros: the pool branch sees the padded map explicitly; the 2x2
     * convs get the same pad from the conv descriptor (bottom/right implied by the out size) */
    size_t phw = (size_t)(h + 1) * (w + 1);
    float *padded = dl_exec_alloc(ex, (size_t)s1 * phw);
    float *cat = dl_exec_alloc(ex, (size_t)2 * s1 * h * w); /* [pool, stem2b] */
    float *t2a = dl_exec_alloc(ex, (size_t)(s1 / 2) * h * w);
    if (!padded || !cat || !t2a) return false;
    dl_op_args pad = {
        .t = {e1, padded}, .n = {(size_t)s1 * h * w, (size_t)s1 * phw}, .i = {s1, h, w, 1, 1}};
    dl_op_run(ex, DL_OP_pad2d, &pad);
    ex->ops->max_pool2d(&ex->ctx, s1, h + 1, w + 1, 2, 1, 0, h, w, padded, cat);
    run_hg_conv(ex, &m->stem2a, e1, h, w, h, w, NULL, t2a);
    run_hg_conv(ex, &m->stem2b, t2a, h, w, h, w, NULL, cat + (size_t)s1 * h * w);
    dl_exec_release(ex, t2a);
    dl_exec_release(ex, padded);
    dl_exec_release(ex, e1);
    const float *x = hg_conv_std(ex, &m->stem3, cat, &h, &w);
    dl_exec_release(ex, cat);
    if (!x) return false;
    const float *x3 = x;
    x = hg_conv_std(ex, &m->stem4, x, &h, &w);
    dl_exec_release(ex, (void *)x3);
    if (!x) return false;
    for (int i = 0; i < c->n_out; i++)
        if (c->out_indices[i] == 0) feat[i] = x, fh[i] = h, fw[i] = w;
    for (int s = 0; s < c->n_stages; s++) {
        const hg_stage *st = &m->stages[s];
        if (st->has_down) {
            int oh = dl_conv_out(&st->down, h), ow = dl_conv_out(&st->down, w);
            float *y = dl_exec_alloc(ex, (size_t)st->down.cout * oh * ow);
            if (!y) return false;
            dl_conv_run(ex, &st->down, x, h, w, NULL, y);
            bool keep = false;
            for (int i = 0; i < c->n_out; i++) keep = keep || feat[i] == x;
            if (!keep) dl_exec_release(ex, (void *)x);
            x = y;
            h = oh;
            w = ow;
        }
        for (int bi = 0; bi < st->n_blocks; bi++) {
            const float *in = x;
            x = run_block(ex, &st->blocks[bi], x, h, w);
            if (!x) return false;
            bool keep = false; /* backbone outputs stay until the encoder has read them */
            for (int i = 0; i < c->n_out; i++) keep = keep || feat[i] == in;
            if (!keep) dl_exec_release(ex, (void *)in);
        }
        for (int i = 0; i < c->n_out; i++)
            if (c->out_indices[i] == s + 1) feat[i] = x, fh[i] = h, fw[i] = w;
    }
    return !ex->out_of_memory;
}
