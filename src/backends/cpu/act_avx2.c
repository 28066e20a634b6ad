/* AVX2 SiLU and sigmoid with a vectorised exp (exp_avx2.h). */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/act.h"
#include "backends/cpu/exp_avx2.h"

static __m256 act8(dl_act act, __m256 v) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 den = _mm256_add_ps(one, dl_exp256(_mm256_sub_ps(_mm256_setzero_ps(), v)));
    return act == DL_ACT_SILU ? _mm256_div_ps(v, den) : _mm256_div_ps(one, den);
}

void dl_cpu_act_span_avx2(dl_act act, float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, act8(act, _mm256_loadu_ps(x + i)));
    if (i < n) {
        float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tmp, x + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(tmp, act8(act, _mm256_loadu_ps(tmp)));
        memcpy(x + i, tmp, (n - i) * sizeof(float));
    }
}
