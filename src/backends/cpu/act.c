#include "backends/cpu/act.h"

#include <stdbool.h>

#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
/* AVX2 and up (the AVX-512 kernels' dl_act512 gives the bits of this AVX2 span, lane for
 * lane, so one span serves both levels) */
static bool have_avx2(void) { return dl_cpu_caps_get()->avx2; }
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
