/* Activations over a span of floats for the CPU backend: vectorised exp for SiLU/sigmoid on
 * AVX2 (within ~2 ulp of expf), erff for GELU. Every element goes through the same arithmetic
 * wherever it lies in the span, so results never depend on how work was split. */
#ifndef DL_BACKENDS_CPU_ACT_H
#define DL_BACKENDS_CPU_ACT_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"

void dl_cpu_act_span(dl_act act, float *x, size_t n);
/* Whether the SIMD kernels' fused epilogues (exp_avx2.h: dl_act256, exp_avx512.h: dl_act512)
 * compute `act` exactly as dl_cpu_act_span does at the active level (ReLU, SiLU, sigmoid from
 * AVX2 up; none otherwise). */
bool dl_cpu_act_fusable(dl_act act);

/* Internal (act_avx2.c): ReLU / SiLU / sigmoid, n any size. */
void dl_cpu_act_span_avx2(dl_act act, float *x, size_t n);

#endif
