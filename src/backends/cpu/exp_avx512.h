/* dl_exp256 / dl_act256 (exp_avx2.h) on 16 lanes, for the AVX-512 files (include only from
 * *_avx512.c): the same operations lane for lane, so a fused AVX-512 epilogue gives the bits
 * dl_cpu_act_span gives. */
#ifndef DL_BACKENDS_CPU_EXP_AVX512_H
#define DL_BACKENDS_CPU_EXP_AVX512_H

#include <immintrin.h>

#include "ops/ops.h"

static inline __m512 dl_exp512(__m512 x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365447504f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* Whether dl_act512 computes `act` (the same set as dl_act256). */
static inline int dl_act512_has(dl_act act) {
    return act == DL_ACT_NONE || act == DL_ACT_RELU || act == DL_ACT_SILU || act == DL_ACT_SIGMOID;
}

static inline __m512 dl_act512(dl_act act, __m512 v) {
    if (act == DL_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN -> 0 */
    if (act != DL_ACT_SILU && act != DL_ACT_SIGMOID) return v;
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 den = _mm512_add_ps(one, dl_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v)));
    return act == DL_ACT_SILU ? _mm512_div_ps(v, den) : _mm512_div_ps(one, den);
}

#endif
