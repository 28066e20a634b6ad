/* concat_cols: y[T, A + B] = [a[T, A] | b[T, B]] (row-wise concatenation).
 * t[0] a, t[1] b, t[2] out y; i[0] T, i[1] A, i[2] B. */
#include <string.h>

#include "ops/ops.h"

static void concat_cols_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int T = a->i[0], A = a->i[1], B = a->i[2];
    for (int r = 0; r < T; r++) {
        float *y = a->t[2] + (size_t)r * (A + B);
        memcpy(y, a->t[0] + (size_t)r * A, (size_t)A * sizeof(float));
        memcpy(y + A, a->t[1] + (size_t)r * B, (size_t)B * sizeof(float));
    }
}

static void concat_cols_shape(int c, dl_op_args *a) {
    static const int s[][3] = {{1, 1, 3}, {37, 64, 64}, {300, 17, 5}};
    a->i[0] = s[c][0];
    a->i[1] = s[c][1];
    a->i[2] = s[c][2];
    a->n[0] = (size_t)s[c][0] * s[c][1];
    a->n[1] = (size_t)s[c][0] * s[c][2];
    a->n[2] = (size_t)s[c][0] * (s[c][1] + s[c][2]);
}

const dl_op_info dl_op_concat_cols = {
    .name = "concat_cols",
    .n_in = 2,
    .n_out = 1,
    .reference = concat_cols_ref,
    .n_cases = 3,
    .test_shape = concat_cols_shape,
    .tol = 0,
};
