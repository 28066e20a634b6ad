/* AVX2+FMA SGEMM micro-kernel: 6 rows x 16 columns, 12 ymm accumulators. */
#include <immintrin.h>

/* GCC's instruction scheduler interleaves the unrolled steps and spills accumulators; the
 * source order (one broadcast live at a time) is already the right schedule. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns", "no-schedule-insns2")
#endif

#include "backends/cpu/gemm.h"

void dl_sgemm_ukernel_avx2_6x16(int kc, const float *a, const float *b, float *c, int ldc,
                                int accumulate) {
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
#define DL_STEP(A, B)                                                                        \
    do {                                                                                     \
        __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps((B) + 8), av;                  \
        av = _mm256_broadcast_ss((A) + 0);                                                   \
        c00 = _mm256_fmadd_ps(av, b0, c00);                                                  \
        c01 = _mm256_fmadd_ps(av, b1, c01);                                                  \
        av = _mm256_broadcast_ss((A) + 1);                                                   \
        c10 = _mm256_fmadd_ps(av, b0, c10);                                                  \
        c11 = _mm256_fmadd_ps(av, b1, c11);                                                  \
        av = _mm256_broadcast_ss((A) + 2);                                                   \
        c20 = _mm256_fmadd_ps(av, b0, c20);                                                  \
        c21 = _mm256_fmadd_ps(av, b1, c21);                                                  \
        av = _mm256_broadcast_ss((A) + 3);                                                   \
        c30 = _mm256_fmadd_ps(av, b0, c30);                                                  \
        c31 = _mm256_fmadd_ps(av, b1, c31);                                                  \
        av = _mm256_broadcast_ss((A) + 4);                                                   \
        c40 = _mm256_fmadd_ps(av, b0, c40);                                                  \
        c41 = _mm256_fmadd_ps(av, b1, c41);                                                  \
        av = _mm256_broadcast_ss((A) + 5);                                                   \
        c50 = _mm256_fmadd_ps(av, b0, c50);                                                  \
        c51 = _mm256_fmadd_ps(av, b1, c51);                                                  \
    } while (0)
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(b + 16 * 8), _MM_HINT_T0);
        DL_STEP(a, b);
        DL_STEP(a + 6, b + 16);
        _mm_prefetch((const char *)(b + 16 * 10), _MM_HINT_T0);
        DL_STEP(a + 12, b + 32);
        DL_STEP(a + 18, b + 48);
        a += 24;
        b += 64;
    }
    for (; p < kc; p++) {
        DL_STEP(a, b);
        a += 6;
        b += 16;
    }
#undef DL_STEP
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
