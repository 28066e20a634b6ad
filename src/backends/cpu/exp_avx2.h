/* A vectorised e^x for the AVX2 files (include only from *_avx2.c): Cody-Waite reduction
 * x = n ln2 + r and a degree-6 polynomial for e^r (the classic single-precision minimax
 * coefficients), within ~2 ulp of expf; inputs clamped to [-87.3, 88.4]. */
#ifndef DL_BACKENDS_CPU_EXP_AVX2_H
#define DL_BACKENDS_CPU_EXP_AVX2_H

#include <immintrin.h>

#include "ops/ops.h"

static inline __m256 dl_exp256(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447504f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n: n in [-126, 127] after the clamp */
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Whether dl_act256 computes `act` (the others: dl_cpu_act_span afterwards). */
static inline int dl_act256_has(dl_act act) {
    return act == DL_ACT_NONE || act == DL_ACT_RELU || act == DL_ACT_SILU || act == DL_ACT_SIGMOID;
}

/* The activation of 8 floats, exactly as dl_cpu_act_span computes it on AVX2 machines (so a
 * fused epilogue and a separate pass give the same bits). */
static inline __m256 dl_act256(dl_act act, __m256 v) {
    if (act == DL_ACT_RELU)
        return _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN -> 0, as x > 0 ? x : 0 */
    if (act != DL_ACT_SILU && act != DL_ACT_SIGMOID) return v;
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 den = _mm256_add_ps(one, dl_exp256(_mm256_sub_ps(_mm256_setzero_ps(), v)));
    return act == DL_ACT_SILU ? _mm256_div_ps(v, den) : _mm256_div_ps(one, den);
}

#endif
