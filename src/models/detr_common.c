#include "models/detr_common.h"

#include <float.h>
#include <math.h>
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

void dl_mha_run(dl_exec *ex, const dl_mha *m, int t, const float *x, const float *pos,
                float *out) {
    size_t n = (size_t)t * m->dim;
    float *xp = dl_exec_alloc(ex, n);     /* [t, dim] x + pos */
    float *q = dl_exec_alloc(ex, n);      /* [t, dim] */
    float *k = dl_exec_alloc(ex, n);      /* [t, dim] */
    float *v = dl_exec_alloc(ex, n);      /* [t, dim] */
    float *ctx = dl_exec_alloc(ex, n);    /* [t, dim] attention output before out_proj */
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
    ex->ops->attention(&ex->ctx, t, t, m->heads, hd, q, m->dim, k, m->dim, v, m->dim, ctx,
                       m->dim);
    dl_linear_run(ex, &m->o, t, ctx, DL_ACT_NONE, out);
    dl_exec_release(ex, ctx);
    dl_exec_release(ex, v);
    dl_exec_release(ex, k);
    dl_exec_release(ex, q);
    dl_exec_release(ex, xp);
}

bool dl_aifi_load(dl_weights *w, dl_aifi_layer *l, const char *prefix, int dim, int heads,
                  int ffn, dl_act act, float eps, bool normalize_before) {
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
    float *a = dl_exec_alloc(ex, n);                    /* [t, d] */
    float *h = dl_exec_alloc(ex, (size_t)t * l->fc1.out); /* [t, ffn] */
    float *in = dl_exec_alloc(ex, n);                   /* [t, d] pre-norm input */
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

void dl_make_anchors(int n_levels, const int *lh, const int *lw, float grid_size,
                     float *anchors, float *valid) {
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

void dl_query_select_run(dl_exec *ex, const dl_query_select *qs, int s, int d, int labels,
                         int q, const float *memory, const float *anchors, const float *valid,
                         float *target, float *ref_unact) {
    float *masked = dl_exec_alloc(ex, (size_t)s * d);     /* [S, d] */
    float *outmem = dl_exec_alloc(ex, (size_t)s * d);     /* [S, d] */
    float *cls = dl_exec_alloc(ex, (size_t)s * labels);   /* [S, labels] */
    float *coord = dl_exec_alloc(ex, (size_t)s * 4);      /* [S, 4] */
    int *idx = (int *)dl_exec_alloc(ex, (size_t)q);       /* [Q] */
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
    b->reps = (dl_conv *)dl_weights_alloc(w, (sizeof(dl_conv) * (size_t)(n_reps ? n_reps : 1) + 3) / 4);
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
                c3.w[((size_t)o * hid + ci) * 9 + 4] += c1.w[(size_t)o * hid + ci];
            c3.b[o] += c1.b[o];
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
    float *a = dl_exec_alloc(ex, n), *t = dl_exec_alloc(ex, n), *c2 = dl_exec_alloc(ex, n);
    if (!a || !t || !c2) return;
    dl_conv_run(ex, &b->conv1, x, h, w, NULL, a);
    for (int i = 0; i < b->n_reps; i++) {
        dl_conv_run(ex, &b->reps[i], a, h, w, NULL, t);
        float *sw = a;
        a = t;
        t = sw;
    }
    dl_conv_run(ex, &b->conv2, x, h, w, NULL, c2);
    if (b->has_conv3) {
        ex->ops->add(&ex->ctx, n, a, c2, a);
        dl_conv_run(ex, &b->conv3, a, h, w, NULL, y);
    } else {
        ex->ops->add(&ex->ctx, n, a, c2, y);
    }
    dl_exec_release(ex, c2);
    dl_exec_release(ex, t);
    dl_exec_release(ex, a);
}
