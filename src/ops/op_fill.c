/* fill: x[n] = value. t[0] out x [n]; f[0] value. */
#include "ops/ops.h"

static void fill_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    for (size_t k = 0; k < a->n[0]; k++) a->t[0][k] = a->f[0];
}

static void fill_shape(int c, dl_op_args *a) {
    static const size_t n[] = {1, 1000, 12345};
    a->n[0] = n[c];
    a->f[0] = c == 0 ? 0.0f : -2.5f;
}

const dl_op_info dl_op_fill = {
    .name = "fill",
    .n_in = 0,
    .n_out = 1,
    .reference = fill_ref,
    .n_cases = 3,
    .test_shape = fill_shape,
    .tol = 0,
};
