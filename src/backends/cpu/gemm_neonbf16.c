/* aarch64 BF16 GEMM micro-kernel (FEAT_BF16, the neonbf16 level): 8 rows x 12 columns of C from
 * bf16 operands packed in k pairs, the layout of the AVX512_BF16 kernel (gemm.c: pack_a_bf16,
 * strip_to_bf16), 24 q-register fp32 accumulators. Per pair of k: 3 loads of B (12 columns'
 * pairs), 2 of A (8 rows' pairs), 24 BFDOT by element (each lane adds the two products of its
 * pair). Entry points as the fp32 kernels (dl_gemm_ukernel_fn): a and b point at the pairs. */
#include <arm_neon.h>
#include <stdint.h>

#include "backends/cpu/gemm.h"

#define ROW(i, av, lane)                                                                           \
    do {                                                                                           \
        acc[i][0] = vbfdotq_laneq_f32(acc[i][0], b0, av, lane);                                    \
        acc[i][1] = vbfdotq_laneq_f32(acc[i][1], b1, av, lane);                                    \
        acc[i][2] = vbfdotq_laneq_f32(acc[i][2], b2, av, lane);                                    \
    } while (0)

void dl_sgemm_ukernel_neonbf16_8x12(int kc, const float *a, const float *b, float *c, int ldc,
                                    int accumulate) {
    const bfloat16_t *ap = (const bfloat16_t *)(const void *)a; /* [kc2][8] pairs */
    const bfloat16_t *bp = (const bfloat16_t *)(const void *)b; /* [kc2][12] pairs */
    int kc2 = (kc + 1) / 2;
    float32x4_t acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int q = 0; q < 3; q++)
            acc[i][q] = accumulate ? vld1q_f32(c + (size_t)i * ldc + 4 * q) : vdupq_n_f32(0.0f);
    for (int p = 0; p < kc2; p++) {
        bfloat16x8_t b0 = vld1q_bf16(bp), b1 = vld1q_bf16(bp + 8), b2 = vld1q_bf16(bp + 16);
        bfloat16x8_t a0 = vld1q_bf16(ap), a1 = vld1q_bf16(ap + 8);
        ROW(0, a0, 0);
        ROW(1, a0, 1);
        ROW(2, a0, 2);
        ROW(3, a0, 3);
        ROW(4, a1, 0);
        ROW(5, a1, 1);
        ROW(6, a1, 2);
        ROW(7, a1, 3);
        ap += 16; /* 8 rows x 2 bf16 */
        bp += 24; /* 12 columns x 2 bf16 */
    }
    for (int i = 0; i < 8; i++)
        for (int q = 0; q < 3; q++) vst1q_f32(c + (size_t)i * ldc + 4 * q, acc[i][q]);
}
