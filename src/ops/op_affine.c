/* affine: x[n] = scale * x + bias in place (HGNetV2's learnable affine block).
 * t[0] in/out x [n]; f[0] scale, f[1] bias. */
#include "ops/ops.h"

static void affine_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    float *x = a->t[0];
    for (size_t k = 0; k < a->n[0]; k++) x[k] = a->f[0] * x[k] + a->f[1];
}

static void affine_shape(int c, dl_op_args *a) {
    static const size_t n[] = {5, 3001};
    a->n[0] = n[c];
    a->f[0] = 1.5f;
    a->f[1] = -0.125f;
}

const dl_op_info dl_op_affine = {
    .name = "affine",
    .n_in = 0,
    .n_out = 1,
    .inout = 1,
    .reference = affine_ref,
    .n_cases = 2,
    .test_shape = affine_shape,
    .tol = 1e-6,
};
