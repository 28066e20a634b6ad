/*
 * fdr_boxes: D-FINE's fine-grained distribution refinement, from the corner distributions to
 * boxes. Each of the 4 edges of query q has a distribution prob[4q + e, bins] (softmaxed); its
 * distance is sum_n prob * project[n]; the box is ref0 [q] (cx, cy, w, h) grown by those
 * distances in units of w / rs, h / rs (rs = |reg_scale|), returned as (cx, cy, w, h):
 *   x1 = cx - (rs/2 + d0) w / rs,  y1 = cy - (rs/2 + d1) h / rs,
 *   x2 = cx + (rs/2 + d2) w / rs,  y2 = cy + (rs/2 + d3) h / rs.
 * t[0] prob [4T, bins], t[1] project [bins], t[2] ref0 [T, 4], t[3] out box [T, 4];
 * i[0] T, i[1] bins; f[0] rs.
 */
#include "ops/ops.h"

static void fdr_boxes_ref(dl_ops_ctx *ctx, const dl_op_args *a) {
    (void)ctx;
    int T = a->i[0], bins = a->i[1];
    float rs = a->f[0];
    const float *W = a->t[1];
    for (int q = 0; q < T; q++) {
        float dist[4];
        for (int e = 0; e < 4; e++) {
            const float *pr = a->t[0] + ((size_t)q * 4 + e) * bins;
            float s = 0.0f;
            for (int n = 0; n < bins; n++) s += pr[n] * W[n];
            dist[e] = s;
        }
        const float *p0 = a->t[2] + (size_t)q * 4;
        float x1 = p0[0] - (0.5f * rs + dist[0]) * (p0[2] / rs);
        float y1 = p0[1] - (0.5f * rs + dist[1]) * (p0[3] / rs);
        float x2 = p0[0] + (0.5f * rs + dist[2]) * (p0[2] / rs);
        float y2 = p0[1] + (0.5f * rs + dist[3]) * (p0[3] / rs);
        float *r = a->t[3] + (size_t)q * 4;
        r[0] = (x1 + x2) / 2.0f;
        r[1] = (y1 + y2) / 2.0f;
        r[2] = x2 - x1;
        r[3] = y2 - y1;
    }
}

static void fdr_boxes_shape(int c, dl_op_args *a) {
    static const int s[][2] = {{1, 5}, {300, 33}, {17, 65}};
    int T = s[c][0], bins = s[c][1];
    a->i[0] = T;
    a->i[1] = bins;
    a->f[0] = c == 2 ? 8.0f : 4.0f;
    a->n[0] = (size_t)T * 4 * bins;
    a->n[1] = (size_t)bins;
    a->n[2] = a->n[3] = (size_t)T * 4;
}

/* rows of probabilities and boxes inside the image */
static void fdr_boxes_fill(int c, dl_op_args *a) {
    (void)c;
    int bins = a->i[1];
    for (size_t r = 0; r < a->n[0] / (size_t)bins; r++) {
        float *p = a->t[0] + r * bins, s = 0.0f;
        for (int n = 0; n < bins; n++) s += (p[n] = p[n] + 1.0f);
        for (int n = 0; n < bins; n++) p[n] /= s;
    }
    for (size_t k = 0; k < a->n[2]; k++) a->t[2][k] = 0.5f + 0.4f * a->t[2][k];
}

const dl_op_info dl_op_fdr_boxes = {
    .name = "fdr_boxes",
    .n_in = 3,
    .n_out = 1,
    .reference = fdr_boxes_ref,
    .n_cases = 3,
    .test_shape = fdr_boxes_shape,
    .test_fill = fdr_boxes_fill,
    .tol = 1e-5,
};
