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
    dl_acc_load_12x32_avx512(acc, c, ldc, accumulate);
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

/* 32 lanes' bf16 bits (lo: values 0-15, hi: 16-31, each in its lane's low half) as 16 pairs:
 * pair q = value 2q | value 2q+1 << 16 (the 16-bit halves 2t of lo:hi, in order) */
static inline __m512i pairs16(__m512i lo, __m512i hi) {
    const __m512i even =
        _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26,
                         24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_epi16(lo, even, hi);
}

/* the first n (any n >= 0) of 16 lanes */
static inline __mmask16 first_lanes(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

void dl_gemm_row_to_bf16_pairs_avx512(const float *src, int k, uint32_t *dst) {
    for (int p = 0; p < k; p += 32) {
        int n = k - p;
        __m512i lo = bf16_bits16(_mm512_maskz_loadu_ps(first_lanes(n), src + p));
        __m512i hi = bf16_bits16(_mm512_maskz_loadu_ps(first_lanes(n - 16), src + p + 16));
        _mm512_mask_storeu_epi32(dst + p / 2, first_lanes((n + 1) / 2), pairs16(lo, hi));
    }
}

/* the 32 columns at r0 (and r1, the next k row, or NULL) under masks m0 / m1 as pairs */
static inline void store_pairs32(const float *r0, const float *r1, __mmask16 m0, __mmask16 m1,
                                 uint32_t *d) {
    __m512i a0 = bf16_bits16(_mm512_maskz_loadu_ps(m0, r0));
    __m512i a1 = bf16_bits16(_mm512_maskz_loadu_ps(m1, r0 + 16));
    if (r1) {
        a0 = _mm512_or_si512(a0, _mm512_slli_epi32(bf16_bits16(_mm512_maskz_loadu_ps(m0, r1)), 16));
        a1 = _mm512_or_si512(
            a1, _mm512_slli_epi32(bf16_bits16(_mm512_maskz_loadu_ps(m1, r1 + 16)), 16));
    }
    _mm512_storeu_si512(d, a0);
    _mm512_storeu_si512(d + 16, a1);
}

/* r[q] = column q of the 16 x 16 matrix of 32-bit values whose row i is r[i] */
static inline void transpose16x16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* One 12-row strip of A as bf16 k pairs, dst[q * 12 + i] (gemm.c: pack_a_bf16): rows i < h of
 * a (ld lda), kc values each, 16 pairs of 12 rows at a time converted and transposed in
 * registers instead of stored value by value; zero for rows past h and pairs past kc. */
void dl_gemm_pack_a_bf16_strip12_avx512(const float *a, int lda, int h, int kc, uint32_t *dst) {
    int kc2 = (kc + 1) / 2;
    for (int q0 = 0; q0 < kc2; q0 += 16) {
        int n = kc - 2 * q0; /* values left in each row */
        __mmask16 m0 = first_lanes(n), m1 = first_lanes(n - 16);
        __m512i r[16];
        for (int i = 0; i < 16; i++) {
            if (i >= h) {
                r[i] = _mm512_setzero_si512();
                continue;
            }
            const float *src = a + (size_t)i * lda + 2 * q0;
            r[i] = pairs16(bf16_bits16(_mm512_maskz_loadu_ps(m0, src)),
                           bf16_bits16(_mm512_maskz_loadu_ps(m1, src + 16)));
        }
        transpose16x16(r);
        int nq = kc2 - q0 < 16 ? kc2 - q0 : 16;
        for (int q = 0; q < nq; q++)
            _mm512_mask_storeu_epi32(dst + (size_t)(q0 + q) * 12, 0x0fff, r[q]);
    }
}

void dl_gemm_bf16_row_avx512(const float *src, size_t n, uint16_t *dst) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtepi32_epi16(bf16_bits16(_mm512_loadu_ps(src + i))));
    if (i < n) {
        __mmask16 m = first_lanes((int)(n - i));
        _mm256_mask_storeu_epi16(
            dst + i, m, _mm512_cvtepi32_epi16(bf16_bits16(_mm512_maskz_loadu_ps(m, src + i))));
    }
}

/* 32 bf16 values of two k rows as 32 pairs: r0[j] | r1[j] << 16 (r1 NULL: zeros) */
void dl_gemm_bf16_pairs32_avx512(const uint16_t *r0, const uint16_t *r1, uint32_t *d) {
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40,
                                        8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi =
        _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24, 55, 23, 54,
                         22, 53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
    __m512i a = _mm512_loadu_si512(r0);
    __m512i b = r1 ? _mm512_loadu_si512(r1) : _mm512_setzero_si512();
    _mm512_storeu_si512(d, _mm512_permutex2var_epi16(a, lo, b));
    _mm512_storeu_si512(d + 16, _mm512_permutex2var_epi16(a, hi, b));
}

void dl_gemm_pairs32_avx512(const float *r0, const float *r1, uint32_t *d) {
    store_pairs32(r0, r1, 0xffff, 0xffff, d);
}

void dl_gemm_rows_to_bf16_strips32_avx512(const float *src, int ld, int kc, int nc, uint32_t *dst) {
    int kc2 = (kc + 1) / 2, full = nc / 32, tail = nc - full * 32;
    __mmask16 t0 = first_lanes(tail), t1 = first_lanes(tail - 16);
    /* k pairs outer: two sequential input streams (the rows), whatever the strip count */
    for (int q = 0; q < kc2; q++) {
        const float *r0 = src + (size_t)2 * q * ld;
        const float *r1 = 2 * q + 1 < kc ? r0 + ld : NULL;
        uint32_t *d = dst + (size_t)q * 32;
        for (int s = 0; s < full; s++)
            store_pairs32(r0 + s * 32, r1 ? r1 + s * 32 : NULL, 0xffff, 0xffff,
                          d + (size_t)s * kc2 * 32);
        if (tail)
            store_pairs32(r0 + full * 32, r1 ? r1 + full * 32 : NULL, t0, t1,
                          d + (size_t)full * kc2 * 32);
    }
}
