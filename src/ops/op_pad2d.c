/* pad2d: y[C, H + pb, W + pr] = x[C, H, W] with zeros below and to the right (F.pad(x,
 * (0, pr, 0, pb))). t[0] x, t[1] out y; i[0] C, i[1] H, i[2] W, i[3] pb, i[4] pr. */
#include "ops/ops.h"

static void pad2d_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int C = a->i[0], H = a->i[1], W = a->i[2], OH = H + a->i[3], OW = W + a->i[4];
    for (int c = 0; c < C; c++)
        for (int y = 0; y < OH; y++)
            for (int x = 0; x < OW; x++)
                a->t[1][((size_t)c * OH + y) * OW + x] =
                    y < H && x < W ? a->t[0][((size_t)c * H + y) * W + x] : 0.0f;
}

static void pad2d_shape(int c, dl_op_args *a) {
    static const int s[][5] = {{1, 1, 1, 1, 1}, {5, 7, 9, 1, 1}, {16, 33, 20, 0, 3}};
    for (int k = 0; k < 5; k++) a->i[k] = s[c][k];
    a->n[0] = (size_t)s[c][0] * s[c][1] * s[c][2];
    a->n[1] = (size_t)s[c][0] * (s[c][1] + s[c][3]) * (s[c][2] + s[c][4]);
}

const dl_op_info dl_op_pad2d = {
    .name = "pad2d",
    .n_in = 1,
    .n_out = 1,
    .reference = pad2d_ref,
    .n_cases = 3,
    .test_shape = pad2d_shape,
    .tol = 0,
};
