/* Activations over a span of floats for the CPU backend: vectorised exp for SiLU/sigmoid on
 * AVX2 (within ~2 ulp of expf), erff for GELU. Every element goes through the same arithmetic
 * wherever it lies in the span, so results never depend on how work was split. */
#ifndef DL_BACKENDS_CPU_ACT_H
#define DL_BACKENDS_CPU_ACT_H

#include <stddef.h>

#include "ops/ops.h"

void dl_cpu_act_span(dl_act act, float *x, size_t n);

/* Internal (act_avx2.c): ReLU / SiLU / sigmoid, n any size. */
void dl_cpu_act_span_avx2(dl_act act, float *x, size_t n);

#endif
