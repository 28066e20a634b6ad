/* AVX2+FMA dot-product attention for a block of 8 queries (one per lane); see attention.h. */
#include <float.h>
#include <immintrin.h>

#include "backends/cpu/attention.h"
#include "backends/cpu/exp_avx2.h"

void dl_attention_block_avx2(int nq, int s, int dh, float scale, const float *q, int ldq,
                             const float *k, int ldk, const float *v, int ldv, float *out, int ldo,
                             float *p) {
    /* the block's queries transposed: qt[c][lane], zero in unused lanes */
    _Alignas(32) float qt[DL_ATT_MAX_DH * DL_ATT_LANES];
    for (int c = 0; c < dh; c++)
        for (int l = 0; l < DL_ATT_LANES; l++)
            qt[c * DL_ATT_LANES + l] = l < nq ? q[(size_t)l * ldq + c] : 0.0f;
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 mx = _mm256_set1_ps(-FLT_MAX);
    /* scores p[j][lane], 8 keys at a time (8 independent FMA chains) */
    int j = 0;
    for (; j + 8 <= s; j += 8) {
        const float *k0 = k + (size_t)j * ldk;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        for (int c = 0; c < dh; c++) {
            __m256 qc = _mm256_load_ps(qt + c * DL_ATT_LANES);
            const float *kc = k0 + c;
            a0 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc), a0);
            a1 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + (size_t)ldk), a1);
            a2 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 2 * (size_t)ldk), a2);
            a3 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 3 * (size_t)ldk), a3);
            a4 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 4 * (size_t)ldk), a4);
            a5 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 5 * (size_t)ldk), a5);
            a6 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 6 * (size_t)ldk), a6);
            a7 = _mm256_fmadd_ps(qc, _mm256_broadcast_ss(kc + 7 * (size_t)ldk), a7);
        }
        __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        for (int u = 0; u < 8; u++) {
            __m256 sc = _mm256_mul_ps(acc[u], vs);
            _mm256_store_ps(p + (size_t)(j + u) * DL_ATT_LANES, sc);
            mx = _mm256_max_ps(mx, sc);
        }
    }
    for (; j < s; j++) {
        const float *kj = k + (size_t)j * ldk;
        __m256 a = _mm256_setzero_ps();
        for (int c = 0; c < dh; c++)
            a = _mm256_fmadd_ps(_mm256_load_ps(qt + c * DL_ATT_LANES), _mm256_broadcast_ss(kj + c),
                                a);
        __m256 sc = _mm256_mul_ps(a, vs);
        _mm256_store_ps(p + (size_t)j * DL_ATT_LANES, sc);
        mx = _mm256_max_ps(mx, sc);
    }
    /* softmax over the keys, per lane */
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j < s; j++) {
        float *pj = p + (size_t)j * DL_ATT_LANES;
        __m256 e = dl_exp256(_mm256_sub_ps(_mm256_load_ps(pj), mx));
        _mm256_store_ps(pj, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
    for (j = 0; j < s; j++) {
        float *pj = p + (size_t)j * DL_ATT_LANES;
        _mm256_store_ps(pj, _mm256_mul_ps(_mm256_load_ps(pj), inv));
    }
    /* out[lane][c] = sum_j p[j][lane] v[j][c], 8 channels at a time */
    for (int c0 = 0; c0 < dh; c0 += 8) {
        int nc = dh - c0 < 8 ? dh - c0 : 8;
        /* channels past the head's end read its last one (valid memory; results dropped) */
        int o1 = nc > 1 ? 1 : 0, o2 = nc > 2 ? 2 : 0, o3 = nc > 3 ? 3 : 0, o4 = nc > 4 ? 4 : 0;
        int o5 = nc > 5 ? 5 : 0, o6 = nc > 6 ? 6 : 0, o7 = nc > 7 ? 7 : 0;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        const float *vc = v + c0;
        for (j = 0; j < s; j++, vc += ldv) {
            __m256 pj = _mm256_load_ps(p + (size_t)j * DL_ATT_LANES);
            a0 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o1), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o2), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o3), a3);
            a4 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o4), a4);
            a5 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o5), a5);
            a6 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o6), a6);
            a7 = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(vc + o7), a7);
        }
        _Alignas(32) float t[8][DL_ATT_LANES];
        _mm256_store_ps(t[0], a0);
        _mm256_store_ps(t[1], a1);
        _mm256_store_ps(t[2], a2);
        _mm256_store_ps(t[3], a3);
        _mm256_store_ps(t[4], a4);
        _mm256_store_ps(t[5], a5);
        _mm256_store_ps(t[6], a6);
        _mm256_store_ps(t[7], a7);
        for (int l = 0; l < nq; l++)
            for (int cc = 0; cc < nc; cc++) out[(size_t)l * ldo + c0 + cc] = t[cc][l];
    }
}
