/* clamp: x[n] = min(max(x, lo), hi) in place (NaN becomes lo, as fminf(fmaxf(...))).
 * t[0] in/out x [n]; f[0] lo, f[1] hi. */
#include <math.h>

#include "ops/ops.h"

static void clamp_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    float *x = a->t[0];
    for (size_t k = 0; k < a->n[0]; k++) x[k] = fminf(fmaxf(x[k], a->f[0]), a->f[1]);
}

static void clamp_shape(int c, dl_op_args *a) {
    static const size_t n[] = {7, 4099};
    a->n[0] = n[c];
    a->f[0] = -0.25f;
    a->f[1] = 0.5f;
}

const dl_op_info dl_op_clamp = {
    .name = "clamp",
    .n_in = 0,
    .n_out = 1,
    .inout = 1,
    .reference = clamp_ref,
    .n_cases = 2,
    .test_shape = clamp_shape,
    .tol = 0,
};
