#include "backends/cpu/act.h"

#include <stdbool.h>

#if defined(__x86_64__) || defined(_M_X64)
static bool have_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

void dl_cpu_act_span(dl_act act, float *x, size_t n) {
    switch (act) {
    case DL_ACT_NONE: return;
    case DL_ACT_RELU:
    case DL_ACT_SILU:
    case DL_ACT_SIGMOID:
#if defined(__x86_64__) || defined(_M_X64)
        if (have_avx2()) {
            dl_cpu_act_span_avx2(act, x, n);
            return;
        }
#endif
        /* fall through */
    default:
        if (act == DL_ACT_RELU) {
            for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
            return;
        }
        for (size_t i = 0; i < n; i++) x[i] = dl_act_apply(act, x[i]);
        return;
    }
}

bool dl_cpu_act_fusable(dl_act act) {
#if defined(__x86_64__) || defined(_M_X64)
    return have_avx2() && (act == DL_ACT_NONE || act == DL_ACT_RELU || act == DL_ACT_SILU ||
                           act == DL_ACT_SIGMOID);
#else
    (void)act;
    return false;
#endif
}
