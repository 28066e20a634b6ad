/* AVX2+FMA SGEMM micro-kernel: 6 rows x 16 columns, 12 ymm accumulators; a variant applies
 * the bias and activation epilogue on the registers, another also reads A unpacked (row-major). */
#include <immintrin.h>

/* GCC's instruction scheduler interleaves the unrolled steps and spills accumulators; the
 * source order (one broadcast live at a time) is already the right schedule. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns", "no-schedule-insns2")
#endif

#include "backends/cpu/exp_avx2.h"
#include "backends/cpu/gemm.h"

/* A is either packed (a[p*6 + i]: as = 1, astep = 6) or row-major (a[i*lda + p]: as = lda,
 * astep = 1). */
static inline __attribute__((always_inline)) void
kernel_6x16(int kc, const float *a, size_t as, size_t astep, const float *b, float *c, int ldc,
            int accumulate, int epi, const float *row_bias, const float *col_bias, dl_act act) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (accumulate) {
        c00 = _mm256_loadu_ps(c + 0 * (size_t)ldc);
        c01 = _mm256_loadu_ps(c + 0 * (size_t)ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * (size_t)ldc);
        c11 = _mm256_loadu_ps(c + 1 * (size_t)ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * (size_t)ldc);
        c21 = _mm256_loadu_ps(c + 2 * (size_t)ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * (size_t)ldc);
        c31 = _mm256_loadu_ps(c + 3 * (size_t)ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * (size_t)ldc);
        c41 = _mm256_loadu_ps(c + 4 * (size_t)ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * (size_t)ldc);
        c51 = _mm256_loadu_ps(c + 5 * (size_t)ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = _mm256_setzero_ps();
        c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
#define DL_STEP(A, B)                                                                              \
    do {                                                                                           \
        __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps((B) + 8), av;                         \
        av = _mm256_broadcast_ss((A) + 0 * as);                                                    \
        c00 = _mm256_fmadd_ps(av, b0, c00);                                                        \
        c01 = _mm256_fmadd_ps(av, b1, c01);                                                        \
        av = _mm256_broadcast_ss((A) + 1 * as);                                                    \
        c10 = _mm256_fmadd_ps(av, b0, c10);                                                        \
        c11 = _mm256_fmadd_ps(av, b1, c11);                                                        \
        av = _mm256_broadcast_ss((A) + 2 * as);                                                    \
        c20 = _mm256_fmadd_ps(av, b0, c20);                                                        \
        c21 = _mm256_fmadd_ps(av, b1, c21);                                                        \
        av = _mm256_broadcast_ss((A) + 3 * as);                                                    \
        c30 = _mm256_fmadd_ps(av, b0, c30);                                                        \
        c31 = _mm256_fmadd_ps(av, b1, c31);                                                        \
        av = _mm256_broadcast_ss((A) + 4 * as);                                                    \
        c40 = _mm256_fmadd_ps(av, b0, c40);                                                        \
        c41 = _mm256_fmadd_ps(av, b1, c41);                                                        \
        av = _mm256_broadcast_ss((A) + 5 * as);                                                    \
        c50 = _mm256_fmadd_ps(av, b0, c50);                                                        \
        c51 = _mm256_fmadd_ps(av, b1, c51);                                                        \
    } while (0)
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(b + 16 * 8), _MM_HINT_T0);
        DL_STEP(a, b);
        DL_STEP(a + astep, b + 16);
        _mm_prefetch((const char *)(b + 16 * 10), _MM_HINT_T0);
        DL_STEP(a + 2 * astep, b + 32);
        DL_STEP(a + 3 * astep, b + 48);
        a += 4 * astep;
        b += 64;
    }
    for (; p < kc; p++) {
        DL_STEP(a, b);
        a += astep;
        b += 16;
    }
#undef DL_STEP
    if (epi) {
        if (row_bias) {
            __m256 r;
            r = _mm256_broadcast_ss(row_bias + 0), c00 = _mm256_add_ps(c00, r),
            c01 = _mm256_add_ps(c01, r);
            r = _mm256_broadcast_ss(row_bias + 1), c10 = _mm256_add_ps(c10, r),
            c11 = _mm256_add_ps(c11, r);
            r = _mm256_broadcast_ss(row_bias + 2), c20 = _mm256_add_ps(c20, r),
            c21 = _mm256_add_ps(c21, r);
            r = _mm256_broadcast_ss(row_bias + 3), c30 = _mm256_add_ps(c30, r),
            c31 = _mm256_add_ps(c31, r);
            r = _mm256_broadcast_ss(row_bias + 4), c40 = _mm256_add_ps(c40, r),
            c41 = _mm256_add_ps(c41, r);
            r = _mm256_broadcast_ss(row_bias + 5), c50 = _mm256_add_ps(c50, r),
            c51 = _mm256_add_ps(c51, r);
        }
        if (col_bias) {
            __m256 b0 = _mm256_loadu_ps(col_bias), b1 = _mm256_loadu_ps(col_bias + 8);
            c00 = _mm256_add_ps(c00, b0), c01 = _mm256_add_ps(c01, b1);
            c10 = _mm256_add_ps(c10, b0), c11 = _mm256_add_ps(c11, b1);
            c20 = _mm256_add_ps(c20, b0), c21 = _mm256_add_ps(c21, b1);
            c30 = _mm256_add_ps(c30, b0), c31 = _mm256_add_ps(c31, b1);
            c40 = _mm256_add_ps(c40, b0), c41 = _mm256_add_ps(c41, b1);
            c50 = _mm256_add_ps(c50, b0), c51 = _mm256_add_ps(c51, b1);
        }
        if (act != DL_ACT_NONE) {
            c00 = dl_act256(act, c00), c01 = dl_act256(act, c01);
            c10 = dl_act256(act, c10), c11 = dl_act256(act, c11);
            c20 = dl_act256(act, c20), c21 = dl_act256(act, c21);
            c30 = dl_act256(act, c30), c31 = dl_act256(act, c31);
            c40 = dl_act256(act, c40), c41 = dl_act256(act, c41);
            c50 = dl_act256(act, c50), c51 = dl_act256(act, c51);
        }
    }
    _mm256_storeu_ps(c + 0 * (size_t)ldc, c00);
    _mm256_storeu_ps(c + 0 * (size_t)ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * (size_t)ldc, c10);
    _mm256_storeu_ps(c + 1 * (size_t)ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * (size_t)ldc, c20);
    _mm256_storeu_ps(c + 2 * (size_t)ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * (size_t)ldc, c30);
    _mm256_storeu_ps(c + 3 * (size_t)ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * (size_t)ldc, c40);
    _mm256_storeu_ps(c + 4 * (size_t)ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * (size_t)ldc, c50);
    _mm256_storeu_ps(c + 5 * (size_t)ldc + 8, c51);
}

void dl_sgemm_ukernel_avx2_6x16(int kc, const float *a, const float *b, float *c, int ldc,
                                int accumulate) {
    kernel_6x16(kc, a, 1, 6, b, c, ldc, accumulate, 0, NULL, NULL, DL_ACT_NONE);
}

void dl_sgemm_ukernel_avx2_6x16_epi(int kc, const float *a, const float *b, float *c, int ldc,
                                    int accumulate, const float *row_bias, const float *col_bias,
                                    dl_act act) {
    kernel_6x16(kc, a, 1, 6, b, c, ldc, accumulate, 1, row_bias, col_bias, act);
}

void dl_sgemm_ukernel_avx2_6x16_rowa(int kc, const float *a, int lda, const float *b, float *c,
                                     int ldc, int accumulate, const float *row_bias,
                                     const float *col_bias, dl_act act) {
    kernel_6x16(kc, a, (size_t)lda, 1, b, c, ldc, accumulate, 1, row_bias, col_bias, act);
}
