/* NEON direct-convolution micro-kernel: 4 output channels x up to 6 vectors of 4 output pixels
 * (24 q accumulators); per tap up to 6 input loads and one 4-channel weight load used by lane.
 * See conv_direct.h. */
#include <arm_neon.h>

#include "backends/cpu/act.h"
#include "backends/cpu/conv_direct.h"

#include "backends/cpu/inline.h"

DL_INLINE void conv_block(int ks, const float *w4, const int *koff, const float *in, int nv, int n,
                          int nco, float *const *y, const float *const *res, const float *bias,
                          dl_act act) {
    float32x4_t acc[4][6];
    for (int c = 0; c < 4; c++)
        for (int v = 0; v < 6; v++) acc[c][v] = vdupq_n_f32(0.0f);
    for (int k = 0; k < ks; k++) {
        const float *p = in + koff[k];
        float32x4_t wv = vld1q_f32(w4 + (size_t)4 * k);
        float32x4_t xv[6];
        for (int v = 0; v < nv; v++) xv[v] = vld1q_f32(p + 4 * v);
        for (int v = 0; v < nv; v++) {
            acc[0][v] = vfmaq_laneq_f32(acc[0][v], xv[v], wv, 0);
            acc[1][v] = vfmaq_laneq_f32(acc[1][v], xv[v], wv, 1);
            acc[2][v] = vfmaq_laneq_f32(acc[2][v], xv[v], wv, 2);
            acc[3][v] = vfmaq_laneq_f32(acc[3][v], xv[v], wv, 3);
        }
    }
    float32x4_t zero = vdupq_n_f32(0.0f);
    for (int c = 0; c < nco; c++) {
        float32x4_t b = vdupq_n_f32(bias ? bias[c] : 0.0f);
        for (int v = 0; v < nv; v++) {
            float32x4_t a = acc[c][v];
            int lanes = n - 4 * v < 4 ? n - 4 * v : 4;
            if (bias) a = vaddq_f32(a, b);
            if (lanes == 4) {
                if (res) a = vaddq_f32(a, vld1q_f32(res[c] + 4 * v));
                /* ReLU as x > 0 ? x : 0 (NaN -> 0) */
                if (act == DL_ACT_RELU) a = vbslq_f32(vcgtq_f32(a, zero), a, zero);
                vst1q_f32(y[c] + 4 * v, a);
            } else {
                float t[4];
                vst1q_f32(t, a);
                for (int l = 0; l < lanes; l++) {
                    float r = t[l];
                    if (res) r += res[c][4 * v + l];
                    if (act == DL_ACT_RELU) r = r > 0.0f ? r : 0.0f;
                    y[c][4 * v + l] = r;
                }
            }
        }
        if (act != DL_ACT_NONE && act != DL_ACT_RELU) dl_cpu_act_span(act, y[c], (size_t)n);
    }
}

void dl_conv_direct_kernel_neon(int ks, const float *w4, const int *koff, const float *in, int n,
                                int nco, float *const *y, const float *const *res,
                                const float *bias, dl_act act) {
    switch ((n + 3) / 4) {
    case 6: conv_block(ks, w4, koff, in, 6, n, nco, y, res, bias, act); break;
    case 5: conv_block(ks, w4, koff, in, 5, n, nco, y, res, bias, act); break;
    case 4: conv_block(ks, w4, koff, in, 4, n, nco, y, res, bias, act); break;
    case 3: conv_block(ks, w4, koff, in, 3, n, nco, y, res, bias, act); break;
    case 2: conv_block(ks, w4, koff, in, 2, n, nco, y, res, bias, act); break;
    default: conv_block(ks, w4, koff, in, 1, n, nco, y, res, bias, act); break;
    }
}
