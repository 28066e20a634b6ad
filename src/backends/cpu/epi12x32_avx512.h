/* The start and end of every AVX-512 12x32 GEMM micro-kernel (fp32 in gemm_avx512.c, bf16 in
 * gemm_avx512bf16.c): the accumulators loaded from C or zeroed; the optional bias/activation
 * epilogue on them, then the store of C. One copy, so that both kernels give the same bits
 * from the same sums. */
#ifndef DL_EPI12X32_AVX512_H
#define DL_EPI12X32_AVX512_H

#include <immintrin.h>

#include "backends/cpu/exp_avx512.h"
#include "backends/cpu/inline.h"

/* acc: [12][2] zmm = C's 12 rows x 32 columns (ld ldc) to start from, or zeros */
DL_INLINE void dl_acc_load_12x32_avx512(__m512 acc[12][2], const float *c, int ldc,
                                        int accumulate) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        if (accumulate) {
            acc[i][0] = _mm512_loadu_ps(c + (size_t)i * ldc);
            acc[i][1] = _mm512_loadu_ps(c + (size_t)i * ldc + 16);
        } else {
            acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        }
    }
}

/* acc: [12][2] zmm = C's 12 rows x 32 columns; c: row stride ldc */
DL_INLINE void dl_epi_store_12x32_avx512(__m512 acc[12][2], float *c, int ldc, int epi,
                                         const float *row_bias, const float *col_bias, dl_act act) {
    if (epi) {
        __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
        if (col_bias) cb0 = _mm512_loadu_ps(col_bias), cb1 = _mm512_loadu_ps(col_bias + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            if (row_bias) {
                __m512 r = _mm512_set1_ps(row_bias[i]);
                acc[i][0] = _mm512_add_ps(acc[i][0], r);
                acc[i][1] = _mm512_add_ps(acc[i][1], r);
            }
            if (col_bias) {
                acc[i][0] = _mm512_add_ps(acc[i][0], cb0);
                acc[i][1] = _mm512_add_ps(acc[i][1], cb1);
            }
            if (act != DL_ACT_NONE) {
                acc[i][0] = dl_act512(act, acc[i][0]);
                acc[i][1] = dl_act512(act, acc[i][1]);
            }
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        _mm512_storeu_ps(c + (size_t)i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + (size_t)i * ldc + 16, acc[i][1]);
    }
}

#endif
