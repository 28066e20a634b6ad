/* AVX-512 SGEMM micro-kernel: 12 rows x 32 columns, 24 zmm accumulators, A broadcast from
 * memory; variants with the bias/activation epilogue on the registers and with A read
 * row-major, as the AVX2 kernel (gemm_avx2.c). Every element is the same chain of FMAs in k
 * order as there, so the three variants give the same bits for the same element. */
#include <immintrin.h>

#include "backends/cpu/epi12x32_avx512.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/inline.h"

#define MR 12

/* A is either packed (a[p*12 + i]: as = 1, astep = 12) or row-major (a[i*lda + p]: as = lda,
 * astep = 1). */
DL_INLINE void kernel_12x32(int kc, const float *a, size_t as, size_t astep, const float *b,
                            float *c, int ldc, int accumulate, int epi, const float *row_bias,
                            const float *col_bias, dl_act act) {
    __m512 acc[MR][2];
    dl_acc_load_12x32_avx512(acc, c, ldc, accumulate);
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(b + 32 * 6), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i * as]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        a += astep;
        b += 32;
    }
    dl_epi_store_12x32_avx512(acc, c, ldc, epi, row_bias, col_bias, act);
}

void dl_sgemm_ukernel_avx512_12x32(int kc, const float *a, const float *b, float *c, int ldc,
                                   int accumulate) {
    kernel_12x32(kc, a, 1, MR, b, c, ldc, accumulate, 0, NULL, NULL, DL_ACT_NONE);
}

void dl_sgemm_ukernel_avx512_12x32_epi(int kc, const float *a, const float *b, float *c, int ldc,
                                       int accumulate, const float *row_bias, const float *col_bias,
                                       dl_act act) {
    kernel_12x32(kc, a, 1, MR, b, c, ldc, accumulate, 1, row_bias, col_bias, act);
}

void dl_sgemm_ukernel_avx512_12x32_rowa(int kc, const float *a, int lda, const float *b, float *c,
                                        int ldc, int accumulate, const float *row_bias,
                                        const float *col_bias, dl_act act) {
    kernel_12x32(kc, a, (size_t)lda, 1, b, c, ldc, accumulate, 1, row_bias, col_bias, act);
}
