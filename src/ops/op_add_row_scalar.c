/* add_row_scalar: y[t, :] += s[t] (D-FINE adds the LQE quality to every class logit).
 * t[0] s [T], t[1] in/out y [T, N]; i[0] T, i[1] N. */
#include "ops/ops.h"

static void add_row_scalar_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int T = a->i[0], N = a->i[1];
    for (int r = 0; r < T; r++)
        for (int k = 0; k < N; k++) a->t[1][(size_t)r * N + k] += a->t[0][r];
}

static void add_row_scalar_shape(int c, dl_op_args *a) {
    static const int s[][2] = {{1, 1}, {300, 17}, {33, 80}};
    a->i[0] = s[c][0];
    a->i[1] = s[c][1];
    a->n[0] = (size_t)s[c][0];
    a->n[1] = (size_t)s[c][0] * s[c][1];
}

const dl_op_info dl_op_add_row_scalar = {
    .name = "add_row_scalar",
    .n_in = 1,
    .n_out = 1,
    .inout = 1,
    .reference = add_row_scalar_ref,
    .n_cases = 3,
    .test_shape = add_row_scalar_shape,
    .tol = 1e-6,
};
