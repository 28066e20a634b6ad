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

/* 16 floats rounded to bf16 bits (in the low 16 bits of each lane), as gemm.c: bf16_bits */
static inline __m512i bf16_bits16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_add_epi32(
        u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1))));
    r = _mm512_srli_epi32(r, 16);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
}

void dl_gemm_strip32_to_bf16_avx512(const float *src, int kc, uint32_t *dst) {
    int q = 0;
    for (; 2 * q + 1 < kc; q++) {
        const float *r0 = src + (size_t)2 * q * 32, *r1 = r0 + 32;
        uint32_t *d = dst + (size_t)q * 32;
        for (int h = 0; h < 32; h += 16) {
            __m512i lo = bf16_bits16(_mm512_loadu_ps(r0 + h));
            __m512i up = bf16_bits16(_mm512_loadu_ps(r1 + h));
            _mm512_storeu_si512(d + h, _mm512_or_si512(lo, _mm512_slli_epi32(up, 16)));
        }
    }
    if (2 * q < kc) {
        const float *r0 = src + (size_t)2 * q * 32;
        uint32_t *d = dst + (size_t)q * 32;
        for (int h = 0; h < 32; h += 16)
            _mm512_storeu_si512(d + h, bf16_bits16(_mm512_loadu_ps(r0 + h)));
    }
}
