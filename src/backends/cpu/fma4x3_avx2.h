/* The inner step shared by the AVX2 direct-convolution and Winograd product kernels: 4 output
 * channels x up to 3 vectors of 8 pixels, 12 ymm accumulators named a00..a32 in the caller
 * (a<channel><vector>). A macro, not a function, so the accumulators stay in registers. */
#ifndef DL_BACKENDS_CPU_FMA4X3_AVX2_H
#define DL_BACKENDS_CPU_FMA4X3_AVX2_H

#include <immintrin.h>

/* a<r><j> += wk[r] * p[8j .. 8j+7] for r < 4, j < nv (1..3) */
#define DL_FMA4X3_AVX2_STEP(p, wk, nv)                                                             \
    do {                                                                                           \
        __m256 x0_ = _mm256_loadu_ps(p), x1_ = x0_, x2_ = x0_, wv_;                                \
        if ((nv) > 1) x1_ = _mm256_loadu_ps((p) + 8);                                              \
        if ((nv) > 2) x2_ = _mm256_loadu_ps((p) + 16);                                             \
        wv_ = _mm256_broadcast_ss((wk) + 0);                                                       \
        a00 = _mm256_fmadd_ps(wv_, x0_, a00);                                                      \
        if ((nv) > 1) a01 = _mm256_fmadd_ps(wv_, x1_, a01);                                        \
        if ((nv) > 2) a02 = _mm256_fmadd_ps(wv_, x2_, a02);                                        \
        wv_ = _mm256_broadcast_ss((wk) + 1);                                                       \
        a10 = _mm256_fmadd_ps(wv_, x0_, a10);                                                      \
        if ((nv) > 1) a11 = _mm256_fmadd_ps(wv_, x1_, a11);                                        \
        if ((nv) > 2) a12 = _mm256_fmadd_ps(wv_, x2_, a12);                                        \
        wv_ = _mm256_broadcast_ss((wk) + 2);                                                       \
        a20 = _mm256_fmadd_ps(wv_, x0_, a20);                                                      \
        if ((nv) > 1) a21 = _mm256_fmadd_ps(wv_, x1_, a21);                                        \
        if ((nv) > 2) a22 = _mm256_fmadd_ps(wv_, x2_, a22);                                        \
        wv_ = _mm256_broadcast_ss((wk) + 3);                                                       \
        a30 = _mm256_fmadd_ps(wv_, x0_, a30);                                                      \
        if ((nv) > 1) a31 = _mm256_fmadd_ps(wv_, x1_, a31);                                        \
        if ((nv) > 2) a32 = _mm256_fmadd_ps(wv_, x2_, a32);                                        \
    } while (0)

#endif
