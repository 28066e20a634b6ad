/* AVX512_BF16 GEMM micro-kernel: 12 rows x 32 columns of C from bf16 operands packed in k
 * pairs (gemm.c: pack_a_bf16 / pack_b_bf16), fp32 accumulators. vdpbf16ps adds two exact
 * products per lane (a[k+1] b[k+1], then a[k] b[k], each add rounded to fp32). Same entry
 * points as the fp32 kernels (dl_gemm_ukernel_fn, _epi_fn): a and b point at the pairs. */
#include <immintrin.h>
#include <stdint.h>

#include "backends/cpu/epi12x32_avx512.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/inline.h"

#define MR 12

/* a: [kc2][12] pairs (uint32), b: [kc2][32] pairs, kc2 = (kc + 1) / 2 */
DL_INLINE void kernel_bf16_12x32(int kc, const float *a, const float *b, float *c, int ldc,
                                 int accumulate, int epi, const float *row_bias,
                                 const float *col_bias, dl_act act) {
    const uint32_t *ap = (const uint32_t *)(const void *)a;
    const uint32_t *bp = (const uint32_t *)(const void *)b;
    int kc2 = (kc + 1) / 2;
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (accumulate) {
            acc[i][0] = _mm512_loadu_ps(c + (size_t)i * ldc);
            acc[i][1] = _mm512_loadu_ps(c + (size_t)i * ldc + 16);
        } else {
            acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        }
    }
    for (int p = 0; p < kc2; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
        _mm_prefetch((const char *)(bp + 32 * 6), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
        ap += MR;
        bp += 32;
    }
    dl_epi_store_12x32_avx512(acc, c, ldc, epi, row_bias, col_bias, act);
}

void dl_sgemm_ukernel_avx512bf16_12x32(int kc, const float *a, const float *b, float *c, int ldc,
                                       int accumulate) {
    kernel_bf16_12x32(kc, a, b, c, ldc, accumulate, 0, NULL, NULL, DL_ACT_NONE);
}

void dl_sgemm_ukernel_avx512bf16_12x32_epi(int kc, const float *a, const float *b, float *c,
                                           int ldc, int accumulate, const float *row_bias,
                                           const float *col_bias, dl_act act) {
    kernel_bf16_12x32(kc, a, b, c, ldc, accumulate, 1, row_bias, col_bias, act);
}
