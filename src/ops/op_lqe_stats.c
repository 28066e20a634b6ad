/*
 * lqe_stats: the input of D-FINE's localization quality estimator. For each row of
 * prob[R, bins] (R = 4 edges x T queries): its `top` largest values in descending order, then
 * their mean. t[0] prob [R, bins], t[1] out stat [R, top + 1]; i[0] R, i[1] bins, i[2] top.
 */
#include <math.h>

#include "ops/ops.h"

static void lqe_stats_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int R = a->i[0], bins = a->i[1], top = a->i[2];
    for (int r = 0; r < R; r++) {
        const float *pr = a->t[0] + (size_t)r * bins;
        float *st = a->t[1] + (size_t)r * (top + 1);
        /* insertion into a descending list of `top` (values only; ties need no order) */
        for (int t = 0; t < top; t++) st[t] = -INFINITY;
        for (int n = 0; n < bins; n++) {
            float v = pr[n];
            if (v <= st[top - 1]) continue;
            int t = top - 1;
            while (t > 0 && st[t - 1] < v) {
                st[t] = st[t - 1];
                t--;
            }
            st[t] = v;
        }
        float sum = 0.0f;
        for (int t = 0; t < top; t++) sum += st[t];
        st[top] = sum / (float)top;
    }
}

static void lqe_stats_shape(int c, dl_op_args *a) {
    static const int s[][3] = {{4, 5, 1}, {1200, 33, 4}, {68, 65, 7}};
    a->i[0] = s[c][0];
    a->i[1] = s[c][1];
    a->i[2] = s[c][2];
    a->n[0] = (size_t)s[c][0] * s[c][1];
    a->n[1] = (size_t)s[c][0] * (s[c][2] + 1);
}

/* coarse values so that rows have ties */
static void lqe_stats_fill(int c, dl_op_args *a) {
    (void)c;
    for (size_t k = 0; k < a->n[0]; k++) a->t[0][k] = floorf(a->t[0][k] * 8.0f) / 8.0f;
}

const dl_op_info dl_op_lqe_stats = {
    .name = "lqe_stats",
    .n_in = 1,
    .n_out = 1,
    .reference = lqe_stats_ref,
    .n_cases = 3,
    .test_shape = lqe_stats_shape,
    .test_fill = lqe_stats_fill,
    .tol = 1e-6,
};
