/* gate_mix: D-FINE's gated fusion, h[T, D] = g[:, :D] * h + g[:, D:] * a in place, with the
 * gates g[T, 2D] already through the sigmoid. t[0] g, t[1] a [T, D], t[2] in/out h [T, D];
 * i[0] T, i[1] D. */
#include "ops/ops.h"

static void gate_mix_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int T = a->i[0], D = a->i[1];
    for (int r = 0; r < T; r++) {
        const float *g = a->t[0] + (size_t)r * 2 * D, *x = a->t[1] + (size_t)r * D;
        float *h = a->t[2] + (size_t)r * D;
        for (int k = 0; k < D; k++) h[k] = g[k] * h[k] + g[D + k] * x[k];
    }
}

static void gate_mix_shape(int c, dl_op_args *a) {
    static const int s[][2] = {{1, 3}, {300, 64}, {17, 255}};
    a->i[0] = s[c][0];
    a->i[1] = s[c][1];
    a->n[0] = (size_t)s[c][0] * 2 * s[c][1];
    a->n[1] = a->n[2] = (size_t)s[c][0] * s[c][1];
}

const dl_op_info dl_op_gate_mix = {
    .name = "gate_mix",
    .n_in = 2,
    .n_out = 1,
    .inout = 1,
    .reference = gate_mix_ref,
    .n_cases = 3,
    .test_shape = gate_mix_shape,
    .tol = 1e-6,
};
