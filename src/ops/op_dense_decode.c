/*
 * dense_decode: the bundled dense model's head output of one level to logits and boxes.
 * pred [L + 5, hw] holds L class logits, 4 log-distances (left, top, right, bottom, in units of
 * the stride) and a centerness logit per cell of a lw-wide map; cell i becomes
 *   logits[i, k] = logit(clamp(sqrt(sigmoid(ctr) * sigmoid(cls_k)), 1e-6, 1 - 1e-6)),
 *   boxes[i] = (cx, cy, w, h) / (W, H) of the cell centre grown by exp(min(d, 8)) * stride.
 * t[0] pred, t[1] out logits [hw, L], t[2] out boxes [hw, 4];
 * i[0] L, i[1] hw, i[2] lw, i[3] stride, i[4] W, i[5] H.
 */
#include <math.h>

#include "ops/ops.h"

static void dense_decode_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int L = a->i[0], hw = a->i[1], lw = a->i[2], s = a->i[3], W = a->i[4], H = a->i[5];
    const float *hp = a->t[0];
    for (int i = 0; i < hw; i++) {
        float ctr = 1.0f / (1.0f + expf(-hp[(size_t)(L + 4) * hw + i]));
        for (int k = 0; k < L; k++) {
            float sc = sqrtf(ctr / (1.0f + expf(-hp[(size_t)k * hw + i])));
            sc = fminf(fmaxf(sc, 1e-6f), 1.0f - 1e-6f);
            a->t[1][(size_t)i * L + k] = logf(sc / (1.0f - sc));
        }
        float cx = ((float)(i % lw) + 0.5f) * (float)s, cy = ((float)(i / lw) + 0.5f) * (float)s;
        float d[4];
        for (int k = 0; k < 4; k++)
            d[k] = expf(fminf(hp[(size_t)(L + k) * hw + i], 8.0f)) * (float)s;
        float x0 = cx - d[0], y0 = cy - d[1], x1 = cx + d[2], y1 = cy + d[3];
        float *b = a->t[2] + (size_t)i * 4;
        b[0] = (x0 + x1) / 2 / (float)W;
        b[1] = (y0 + y1) / 2 / (float)H;
        b[2] = (x1 - x0) / (float)W;
        b[3] = (y1 - y0) / (float)H;
    }
}

static void dense_decode_shape(int c, dl_op_args *a) {
    static const int s[][4] = {{1, 1, 1, 8}, {11, 80, 80, 8}, {17, 20, 20, 32}};
    int L = s[c][0], lw = s[c][2], hw = s[c][1] * lw, st = s[c][3];
    a->i[0] = L;
    a->i[1] = hw;
    a->i[2] = lw;
    a->i[3] = st;
    a->i[4] = lw * st;
    a->i[5] = s[c][1] * st;
    a->n[0] = (size_t)(L + 5) * hw;
    a->n[1] = (size_t)hw * L;
    a->n[2] = (size_t)hw * 4;
}

const dl_op_info dl_op_dense_decode = {
    .name = "dense_decode",
    .n_in = 1,
    .n_out = 2,
    .reference = dense_decode_ref,
    .n_cases = 3,
    .test_shape = dense_decode_shape,
    .tol = 1e-5,
};
