/* AVX2 SiLU and sigmoid with a vectorised exp (exp_avx2.h: dl_act256). */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/act.h"
#include "backends/cpu/exp_avx2.h"

static __m256 act8(dl_act act, __m256 v) { return dl_act256(act, v); }

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
