/* AVX2+FMA direct-convolution micro-kernel: 4 output channels x up to 3 vectors of 8 output
 * pixels (12 ymm accumulators); per tap 3 input loads and 4 weight broadcasts; bias, residual
 * and activation applied on the accumulators before the store. See conv_direct.h. */
#include <immintrin.h>

#include "backends/cpu/act.h"
#include "backends/cpu/conv_direct.h"
#include "backends/cpu/exp_avx2.h"
#include "backends/cpu/fma4x3_avx2.h"

#include "backends/cpu/inline.h"

DL_INLINE void conv_block(int ks, const float *w4, const int *koff, const float *in, int nv, int n,
                          int nco, float *const *y, const float *const *res, const float *bias,
                          dl_act act) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00;
    __m256 a30 = a00, a31 = a00, a32 = a00;
    for (int k = 0; k < ks; k++) {
        const float *p = in + koff[k];
        const float *wk = w4 + (size_t)4 * k;
        DL_FMA4X3_AVX2_STEP(p, wk, nv);
    }
    __m256 acc[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
    int rem = n - 8 * (nv - 1); /* lanes of the last vector, 1..8 */
    __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int c = 0; c < nco; c++) {
        __m256 b = bias ? _mm256_broadcast_ss(bias + c) : _mm256_setzero_ps();
        for (int v = 0; v < nv; v++) {
            __m256 a = acc[c][v];
            bool full = v < nv - 1 || rem == 8;
            if (bias) a = _mm256_add_ps(a, b);
            if (res) {
                const float *r = res[c] + 8 * v;
                a = _mm256_add_ps(a, full ? _mm256_loadu_ps(r) : _mm256_maskload_ps(r, mask));
            }
            a = dl_act256(act, a);
            if (full) _mm256_storeu_ps(y[c] + 8 * v, a);
            else _mm256_maskstore_ps(y[c] + 8 * v, mask, a);
        }
        if (!dl_act256_has(act)) dl_cpu_act_span(act, y[c], (size_t)n);
    }
}

void dl_conv_direct_kernel_avx2(int ks, const float *w4, const int *koff, const float *in, int n,
                                int nco, float *const *y, const float *const *res,
                                const float *bias, dl_act act) {
    if (n > 16) conv_block(ks, w4, koff, in, 3, n, nco, y, res, bias, act);
    else if (n > 8) conv_block(ks, w4, koff, in, 2, n, nco, y, res, bias, act);
    else conv_block(ks, w4, koff, in, 1, n, nco, y, res, bias, act);
}
