/* AVX2+FMA pieces of the Winograd F(2x2, 3x3) convolution (conv_winograd.c): the input
 * transform, the 16 products and the output transform for one chunk of up to 24 tiles, 8 tiles
 * per vector. */
#include <immintrin.h>

#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/exp_avx2.h"

#if defined(__GNUC__)
#define DL_INLINE static inline __attribute__((always_inline))
#else
#define DL_INLINE static inline
#endif

#define WT DL_WINO_TILES

/* Even and odd columns of 16 floats at p, each in the lane order [0 1 4 5 2 3 6 7] (the
 * in-lane shuffle alone; the cross-lane fix-up is not needed: the tiles stay in this order
 * through the products, and the output transform's in-lane unpacks put them back, see below). */
DL_INLINE void deinterleave(const float *p, __m256 *e, __m256 *o) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    *o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
}

void dl_wino_input_avx2(int cin, int nv, const float *src, size_t cs, size_t rs, float *v) {
    size_t xs = (size_t)cin * WT;
    for (int ci = 0; ci < cin; ci++) {
        const float *sc = src + (size_t)ci * cs;
        float *vc = v + (size_t)ci * WT;
        for (int g = 0; g < nv; g++) {
            __m256 b[4][4];
            for (int r = 0; r < 4; r++) {
                const float *p = sc + (size_t)r * rs + 16 * g;
                __m256 d0, d1, d2, d3;
                deinterleave(p, &d0, &d1);
                deinterleave(p + 2, &d2, &d3);
                b[r][0] = _mm256_sub_ps(d0, d2);
                b[r][1] = _mm256_add_ps(d1, d2);
                b[r][2] = _mm256_sub_ps(d2, d1);
                b[r][3] = _mm256_sub_ps(d1, d3);
            }
            for (int c = 0; c < 4; c++) {
                float *o = vc + 8 * g;
                _mm256_storeu_ps(o + (size_t)(0 + c) * xs, _mm256_sub_ps(b[0][c], b[2][c]));
                _mm256_storeu_ps(o + (size_t)(4 + c) * xs, _mm256_add_ps(b[1][c], b[2][c]));
                _mm256_storeu_ps(o + (size_t)(8 + c) * xs, _mm256_sub_ps(b[2][c], b[1][c]));
                _mm256_storeu_ps(o + (size_t)(12 + c) * xs, _mm256_sub_ps(b[1][c], b[3][c]));
            }
        }
    }
}

/* 4 output channels (rows of m at stride 16 WT) x nv vectors of tiles */
DL_INLINE void gemm_block(int cin, const float *u, const float *v, float *m, int nv) {
    const size_t ms = 16 * WT;
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00;
    __m256 a30 = a00, a31 = a00, a32 = a00;
    for (int ci = 0; ci < cin; ci++) {
        const float *p = v + (size_t)ci * WT;
        const float *wk = u + (size_t)4 * ci;
        __m256 x0 = _mm256_loadu_ps(p), x1 = x0, x2 = x0, wv;
        if (nv > 1) x1 = _mm256_loadu_ps(p + 8);
        if (nv > 2) x2 = _mm256_loadu_ps(p + 16);
        wv = _mm256_broadcast_ss(wk + 0);
        a00 = _mm256_fmadd_ps(wv, x0, a00);
        if (nv > 1) a01 = _mm256_fmadd_ps(wv, x1, a01);
        if (nv > 2) a02 = _mm256_fmadd_ps(wv, x2, a02);
        wv = _mm256_broadcast_ss(wk + 1);
        a10 = _mm256_fmadd_ps(wv, x0, a10);
        if (nv > 1) a11 = _mm256_fmadd_ps(wv, x1, a11);
        if (nv > 2) a12 = _mm256_fmadd_ps(wv, x2, a12);
        wv = _mm256_broadcast_ss(wk + 2);
        a20 = _mm256_fmadd_ps(wv, x0, a20);
        if (nv > 1) a21 = _mm256_fmadd_ps(wv, x1, a21);
        if (nv > 2) a22 = _mm256_fmadd_ps(wv, x2, a22);
        wv = _mm256_broadcast_ss(wk + 3);
        a30 = _mm256_fmadd_ps(wv, x0, a30);
        if (nv > 1) a31 = _mm256_fmadd_ps(wv, x1, a31);
        if (nv > 2) a32 = _mm256_fmadd_ps(wv, x2, a32);
    }
    _mm256_storeu_ps(m + 0 * ms, a00);
    _mm256_storeu_ps(m + 1 * ms, a10);
    _mm256_storeu_ps(m + 2 * ms, a20);
    _mm256_storeu_ps(m + 3 * ms, a30);
    if (nv > 1) {
        _mm256_storeu_ps(m + 0 * ms + 8, a01);
        _mm256_storeu_ps(m + 1 * ms + 8, a11);
        _mm256_storeu_ps(m + 2 * ms + 8, a21);
        _mm256_storeu_ps(m + 3 * ms + 8, a31);
    }
    if (nv > 2) {
        _mm256_storeu_ps(m + 0 * ms + 16, a02);
        _mm256_storeu_ps(m + 1 * ms + 16, a12);
        _mm256_storeu_ps(m + 2 * ms + 16, a22);
        _mm256_storeu_ps(m + 3 * ms + 16, a32);
    }
}

DL_INLINE void gemm_all(int cin, int nblocks, const float *u, const float *v, float *m, int nv) {
    for (int xi = 0; xi < 16; xi++) {
        const float *vx = v + (size_t)xi * cin * WT;
        for (int b = 0; b < nblocks; b++)
            gemm_block(cin, u + ((size_t)xi * nblocks + b) * 4 * cin, vx,
                       m + ((size_t)b * 4 * 16 + xi) * WT, nv);
    }
}

void dl_wino_gemm_avx2(int cin, int nblocks, const float *u, const float *v, float *m, int nv) {
    if (nv >= 3)
        gemm_all(cin, nblocks, u, v, m, 3);
    else if (nv == 2)
        gemm_all(cin, nblocks, u, v, m, 2);
    else
        gemm_all(cin, nblocks, u, v, m, 1);
}

/* bias, residual, activation and store of 8 consecutive outputs (cnt of them valid) */
DL_INLINE void put8(__m256 val, float *y, const float *res, int cnt, int has_bias, __m256 bv,
                    dl_act act) {
    if (has_bias) val = _mm256_add_ps(val, bv);
    if (cnt >= 8) {
        if (res) val = _mm256_add_ps(val, _mm256_loadu_ps(res));
        _mm256_storeu_ps(y, dl_act256(act, val));
    } else {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        if (res) val = _mm256_add_ps(val, _mm256_maskload_ps(res, mask));
        _mm256_maskstore_ps(y, mask, dl_act256(act, val));
    }
}

DL_INLINE void output_all(int cout, int nv, const float *m, const float *bias, const float *res,
                          float *y, size_t plane, int ldy, int rows, int w, dl_act act) {
    for (int co = 0; co < cout; co++) {
        const float *mc = m + (size_t)co * 16 * WT;
        __m256 bv = _mm256_set1_ps(bias ? bias[co] : 0.0f);
        float *yc = y + (size_t)co * plane;
        const float *rc = res ? res + (size_t)co * plane : NULL;
        for (int g = 0; g < nv; g++) {
            const float *q = mc + 8 * g;
#define Q(e) _mm256_loadu_ps(q + (e) * WT)
            __m256 a0 = _mm256_add_ps(_mm256_add_ps(Q(0), Q(4)), Q(8));
            __m256 a1 = _mm256_add_ps(_mm256_add_ps(Q(1), Q(5)), Q(9));
            __m256 a2 = _mm256_add_ps(_mm256_add_ps(Q(2), Q(6)), Q(10));
            __m256 a3 = _mm256_add_ps(_mm256_add_ps(Q(3), Q(7)), Q(11));
            __m256 y00 = _mm256_add_ps(_mm256_add_ps(a0, a1), a2);
            __m256 y01 = _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3);
            /* the tiles' two columns interleaved: lanes hold tiles [0 1 4 5 2 3 6 7], so the
             * in-lane unpacks give outputs 16 g .. 16 g + 7 and 16 g + 8 .. 16 g + 15 in
             * order (no cross-lane permute, slow on Zen) */
            int c0 = 16 * g;
            if (w - c0 > 0)
                put8(_mm256_unpacklo_ps(y00, y01), yc + c0, rc ? rc + c0 : NULL, w - c0, bias != NULL,
                     bv, act);
            if (w - c0 - 8 > 0)
                put8(_mm256_unpackhi_ps(y00, y01), yc + c0 + 8, rc ? rc + c0 + 8 : NULL,
                     w - c0 - 8, bias != NULL, bv, act);
            if (rows > 1) {
                __m256 b0 = _mm256_sub_ps(_mm256_sub_ps(Q(4), Q(8)), Q(12));
                __m256 b1 = _mm256_sub_ps(_mm256_sub_ps(Q(5), Q(9)), Q(13));
                __m256 b2 = _mm256_sub_ps(_mm256_sub_ps(Q(6), Q(10)), Q(14));
                __m256 b3 = _mm256_sub_ps(_mm256_sub_ps(Q(7), Q(11)), Q(15));
                __m256 y10 = _mm256_add_ps(_mm256_add_ps(b0, b1), b2);
                __m256 y11 = _mm256_sub_ps(_mm256_sub_ps(b1, b2), b3);
                float *y1 = yc + ldy;
                const float *r1 = rc ? rc + ldy : NULL;
                if (w - c0 > 0)
                    put8(_mm256_unpacklo_ps(y10, y11), y1 + c0, r1 ? r1 + c0 : NULL, w - c0,
                         bias != NULL, bv, act);
                if (w - c0 - 8 > 0)
                    put8(_mm256_unpackhi_ps(y10, y11), y1 + c0 + 8, r1 ? r1 + c0 + 8 : NULL,
                         w - c0 - 8, bias != NULL, bv, act);
            }
#undef Q
        }
    }
}

bool dl_wino_output_avx2(int cout, int nv, const float *m, const float *bias,
                         const float *res, float *y, size_t plane, int ldy, int rows, int w,
                         dl_act act) {
    /* one copy per fused activation, so that the epilogue has no run-time switch */
    switch (act) {
    case DL_ACT_RELU:
        output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_RELU);
        return true;
    case DL_ACT_SILU:
        output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_SILU);
        return true;
    case DL_ACT_SIGMOID:
        output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_SIGMOID);
        return true;
    case DL_ACT_NONE:
        output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_NONE);
        return true;
    default:
        output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_NONE);
        return false;
    }
}
