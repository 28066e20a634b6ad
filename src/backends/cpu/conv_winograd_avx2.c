/* AVX2+FMA pieces of the Winograd F(2x2, 3x3) convolution (conv_winograd.c): the input
 * transform, the 16 products and the output transform for one chunk of up to 24 tiles, 8 tiles
 * per vector. */
#include <immintrin.h>

#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/exp_avx2.h"
#include "backends/cpu/fma4x3_avx2.h"

#include "backends/cpu/inline.h"

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

/* 4 output channels (rows of m at stride ms) x nv vectors of tiles */
DL_INLINE void gemm_block(int cin, const float *u, const float *v, float *m, int nv, size_t ms) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00;
    __m256 a30 = a00, a31 = a00, a32 = a00;
    for (int ci = 0; ci < cin; ci++) {
        const float *p = v + (size_t)ci * WT;
        const float *wk = u + (size_t)4 * ci;
        DL_FMA4X3_AVX2_STEP(p, wk, nv);
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

DL_INLINE void gemm_all(int nx, int cin, int nblocks, const float *u, const float *v, float *m,
                        int nv) {
    for (int xi = 0; xi < nx; xi++) {
        const float *vx = v + (size_t)xi * cin * WT;
        for (int b = 0; b < nblocks; b++)
            gemm_block(cin, u + ((size_t)xi * nblocks + b) * 4 * cin, vx,
                       m + ((size_t)b * 4 * nx + xi) * WT, nv, (size_t)nx * WT);
    }
}

void dl_wino_gemm_avx2(int nx, int cin, int nblocks, const float *u, const float *v, float *m,
                       int nv) {
    if (nv >= 3) gemm_all(nx, cin, nblocks, u, v, m, 3);
    else if (nv == 2) gemm_all(nx, cin, nblocks, u, v, m, 2);
    else gemm_all(nx, cin, nblocks, u, v, m, 1);
}

/* bias, residual, activation and store of 8 consecutive outputs (cnt of them valid) */
DL_INLINE void put8(__m256 val, float *y, const float *res, int cnt, int has_bias, __m256 bv,
                    dl_act act) {
    if (has_bias) val = _mm256_add_ps(val, bv);
    if (cnt >= 8) {
        if (res) val = _mm256_add_ps(val, _mm256_loadu_ps(res));
        _mm256_storeu_ps(y, dl_act256(act, val));
    } else {
        __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
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
#define Q(e) _mm256_loadu_ps(q + (e)*WT)
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
                put8(_mm256_unpacklo_ps(y00, y01), yc + c0, rc ? rc + c0 : NULL, w - c0,
                     bias != NULL, bv, act);
            if (w - c0 - 8 > 0)
                put8(_mm256_unpackhi_ps(y00, y01), yc + c0 + 8, rc ? rc + c0 + 8 : NULL, w - c0 - 8,
                     bias != NULL, bv, act);
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

bool dl_wino_output_avx2(int cout, int nv, const float *m, const float *bias, const float *res,
                         float *y, size_t plane, int ldy, int rows, int w, dl_act act) {
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
    default: output_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_NONE); return false;
    }
}

/* ------------------------------------------------------------------ F(4x4, 3x3) pieces --- */

/* In each 128-bit lane, the 4x4 transpose of a, b, c, d (rows) into the 4 columns. */
DL_INLINE void transpose4(__m256 a, __m256 b, __m256 c, __m256 d, __m256 *o0, __m256 *o1,
                          __m256 *o2, __m256 *o3) {
    __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    *o0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    *o1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    *o2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    *o3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* B^T d for one 6-vector d (F(4x4, 3x3)):
 *   [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] */
DL_INLINE void bt6(const __m256 d[6], __m256 r[6]) {
    const __m256 c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f), c2 = _mm256_set1_ps(2.0f);
    __m256 d42 = _mm256_sub_ps(d[4], d[2]); /* d4 - d2 */
    __m256 d31 = _mm256_sub_ps(d[3], d[1]); /* d3 - d1 */
    __m256 s12 = _mm256_add_ps(d[1], d[2]); /* d1 + d2 */
    __m256 s34 = _mm256_add_ps(d[3], d[4]); /* d3 + d4 */
    __m256 m12 = _mm256_sub_ps(d[1], d[2]); /* d1 - d2 */
    __m256 m43 = _mm256_sub_ps(d[4], d[3]); /* d4 - d3 */
    r[0] = _mm256_fmadd_ps(c4, d[0], _mm256_fnmadd_ps(c5, d[2], d[4]));
    r[1] = _mm256_fnmadd_ps(c4, s12, s34);
    r[2] = _mm256_fmadd_ps(c4, m12, m43);
    r[3] = _mm256_fmadd_ps(c2, d31, d42);
    r[4] = _mm256_fnmadd_ps(c2, d31, d42);
    r[5] = _mm256_fmadd_ps(c4, d[1], _mm256_fnmadd_ps(c5, d[3], d[5]));
}

void dl_wino4_input_avx2(int cin, int nv, const float *src, size_t cs, size_t rs, float *v) {
    size_t xs = (size_t)cin * WT;
    _Alignas(32) float rt[6][6][8]; /* row-transformed rows: rt[row][col] */
    for (int ci = 0; ci < cin; ci++) {
        const float *sc = src + (size_t)ci * cs;
        float *vc = v + (size_t)ci * WT;
        for (int g = 0; g < nv; g++) {
            for (int r = 0; r < 6; r++) {
                const float *p = sc + (size_t)r * rs + 32 * g;
                __m256 d[6], t[6], x2, x3;
                /* columns 4t + c of the 8 tiles, lanes in tile order [0 2 4 6 1 3 5 7] */
                transpose4(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 16),
                           _mm256_loadu_ps(p + 24), &d[0], &d[1], &d[2], &d[3]);
                transpose4(_mm256_loadu_ps(p + 4), _mm256_loadu_ps(p + 12), _mm256_loadu_ps(p + 20),
                           _mm256_loadu_ps(p + 28), &d[4], &d[5], &x2, &x3);
                bt6(d, t);
                for (int c = 0; c < 6; c++) _mm256_store_ps(rt[r][c], t[c]);
            }
            for (int c = 0; c < 6; c++) {
                __m256 d[6], t[6];
                for (int r = 0; r < 6; r++) d[r] = _mm256_load_ps(rt[r][c]);
                bt6(d, t);
                for (int r = 0; r < 6; r++)
                    _mm256_storeu_ps(vc + (size_t)(r * 6 + c) * xs + 8 * g, t[r]);
            }
        }
    }
}

/* A^T m for one 6-vector m: [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
DL_INLINE void at6(const __m256 m[6], __m256 o[4]) {
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12);
    o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s34, s12);
    o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), m[5]);
}

DL_INLINE void output4_all(int cout, int nv, const float *m, const float *bias, const float *res,
                           float *y, size_t plane, int ldy, int rows, int w, dl_act act) {
    const size_t ms = WT;           /* m[co][36][WT] */
    _Alignas(32) float ct[4][6][8]; /* column pass results: ct[out row][col] */
    for (int co = 0; co < cout; co++) {
        const float *mc = m + (size_t)co * 36 * WT;
        __m256 bv = _mm256_set1_ps(bias ? bias[co] : 0.0f);
        float *yc = y + (size_t)co * plane;
        const float *rc = res ? res + (size_t)co * plane : NULL;
        for (int g = 0; g < nv; g++) {
            for (int c = 0; c < 6; c++) {
                __m256 mm[6], o[4];
                for (int r = 0; r < 6; r++)
                    mm[r] = _mm256_loadu_ps(mc + (size_t)(r * 6 + c) * ms + 8 * g);
                at6(mm, o);
                for (int r = 0; r < 4; r++) _mm256_store_ps(ct[r][c], o[r]);
            }
            for (int r = 0; r < rows; r++) {
                __m256 mm[6], o[4], q[4];
                for (int c = 0; c < 6; c++) mm[c] = _mm256_load_ps(ct[r][c]);
                at6(mm, o);
                /* lanes hold tiles [0 2 4 6 1 3 5 7]: the in-lane transpose gives the row's
                 * outputs 32 g + 8 k .. + 7 (tiles 2k, 2k + 1) in order */
                transpose4(o[0], o[1], o[2], o[3], &q[0], &q[1], &q[2], &q[3]);
                float *yr = yc + (size_t)r * ldy;
                const float *rr = rc ? rc + (size_t)r * ldy : NULL;
                for (int k = 0; k < 4; k++) {
                    int c0 = 32 * g + 8 * k;
                    if (w - c0 <= 0) break;
                    put8(q[k], yr + c0, rr ? rr + c0 : NULL, w - c0, bias != NULL, bv, act);
                }
            }
        }
    }
}

bool dl_wino4_output_avx2(int cout, int nv, const float *m, const float *bias, const float *res,
                          float *y, size_t plane, int ldy, int rows, int w, dl_act act) {
    switch (act) {
    case DL_ACT_RELU:
        output4_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_RELU);
        return true;
    case DL_ACT_SILU:
        output4_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_SILU);
        return true;
    case DL_ACT_SIGMOID:
        output4_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_SIGMOID);
        return true;
    case DL_ACT_NONE:
        output4_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_NONE);
        return true;
    default: output4_all(cout, nv, m, bias, res, y, plane, ldy, rows, w, DL_ACT_NONE); return false;
    }
}
