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

/* even and odd columns of 16 floats at p: e[t] = p[2t], o[t] = p[2t + 1] */
DL_INLINE void deinterleave(const float *p, __m256 *e, __m256 *o) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 ev = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    __m256 od = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
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

DL_INLINE void gemm_block(int cin, const float *u, const float *v, float *m, int nv) {
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
    _mm256_storeu_ps(m + 0 * WT, a00);
    _mm256_storeu_ps(m + 1 * WT, a10);
    _mm256_storeu_ps(m + 2 * WT, a20);
    _mm256_storeu_ps(m + 3 * WT, a30);
    if (nv > 1) {
        _mm256_storeu_ps(m + 0 * WT + 8, a01);
        _mm256_storeu_ps(m + 1 * WT + 8, a11);
        _mm256_storeu_ps(m + 2 * WT + 8, a21);
        _mm256_storeu_ps(m + 3 * WT + 8, a31);
    }
    if (nv > 2) {
        _mm256_storeu_ps(m + 0 * WT + 16, a02);
        _mm256_storeu_ps(m + 1 * WT + 16, a12);
        _mm256_storeu_ps(m + 2 * WT + 16, a22);
        _mm256_storeu_ps(m + 3 * WT + 16, a32);
    }
}

DL_INLINE void gemm_all(int cin, int nblocks, const float *u, const float *v, float *m, int nv) {
    for (int xi = 0; xi < 16; xi++) {
        const float *vx = v + (size_t)xi * cin * WT;
        for (int b = 0; b < nblocks; b++)
            gemm_block(cin, u + ((size_t)xi * nblocks + b) * 4 * cin, vx,
                       m + ((size_t)xi * nblocks + b) * 4 * WT, nv);
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

bool dl_wino_output_avx2(int cout, int nv, const float *m, size_t ms, const float *bias,
                         const float *res, float *y, size_t plane, int ldy, int rows, int w,
                         dl_act act) {
    __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    dl_act fused = dl_act256_has(act) ? act : DL_ACT_NONE;
    for (int co = 0; co < cout; co++) {
        const float *mc = m + (size_t)co * WT;
        __m256 bv = _mm256_set1_ps(bias ? bias[co] : 0.0f);
        for (int g = 0; g < nv; g++) {
            __m256 q[16];
            for (int e = 0; e < 16; e++) q[e] = _mm256_loadu_ps(mc + (size_t)e * ms + 8 * g);
            __m256 a0 = _mm256_add_ps(_mm256_add_ps(q[0], q[4]), q[8]);
            __m256 a1 = _mm256_add_ps(_mm256_add_ps(q[1], q[5]), q[9]);
            __m256 a2 = _mm256_add_ps(_mm256_add_ps(q[2], q[6]), q[10]);
            __m256 a3 = _mm256_add_ps(_mm256_add_ps(q[3], q[7]), q[11]);
            __m256 b0 = _mm256_sub_ps(_mm256_sub_ps(q[4], q[8]), q[12]);
            __m256 b1 = _mm256_sub_ps(_mm256_sub_ps(q[5], q[9]), q[13]);
            __m256 b2 = _mm256_sub_ps(_mm256_sub_ps(q[6], q[10]), q[14]);
            __m256 b3 = _mm256_sub_ps(_mm256_sub_ps(q[7], q[11]), q[15]);
            __m256 yv[2][2] = {
                {_mm256_add_ps(_mm256_add_ps(a0, a1), a2), _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3)},
                {_mm256_add_ps(_mm256_add_ps(b0, b1), b2), _mm256_sub_ps(_mm256_sub_ps(b1, b2), b3)}};
            for (int r = 0; r < rows; r++) {
                /* interleave the tiles' two columns: outputs 16 g .. 16 g + 15 of the row */
                __m256 lo = _mm256_unpacklo_ps(yv[r][0], yv[r][1]);
                __m256 hi = _mm256_unpackhi_ps(yv[r][0], yv[r][1]);
                __m256 o[2] = {_mm256_permute2f128_ps(lo, hi, 0x20),
                               _mm256_permute2f128_ps(lo, hi, 0x31)};
                size_t off = (size_t)co * plane + (size_t)r * ldy + 16 * g;
                for (int h = 0; h < 2; h++) {
                    int c0 = 16 * g + 8 * h, cnt = w - c0;
                    if (cnt <= 0) break;
                    __m256 val = o[h];
                    if (bias) val = _mm256_add_ps(val, bv);
                    if (cnt >= 8) {
                        if (res) val = _mm256_add_ps(val, _mm256_loadu_ps(res + off + 8 * h));
                        val = dl_act256(fused, val);
                        _mm256_storeu_ps(y + off + 8 * h, val);
                    } else {
                        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), lanes);
                        if (res)
                            val = _mm256_add_ps(val, _mm256_maskload_ps(res + off + 8 * h, mask));
                        val = dl_act256(fused, val);
                        _mm256_maskstore_ps(y + off + 8 * h, mask, val);
                    }
                }
            }
        }
    }
    return fused == act;
}
