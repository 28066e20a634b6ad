/* Dot-product attention kernels of the CPU backend (the op and its threading: ops_cpu.c). */
#ifndef DL_BACKENDS_CPU_ATTENTION_H
#define DL_BACKENDS_CPU_ATTENTION_H

#include <stdbool.h>

#define DL_ATT_LANES 8    /* queries per block: one per SIMD lane */
#define DL_ATT_MAX_DH 256 /* head sizes the block kernel takes */

/*
 * AVX2: softmax(q k^T * scale) v for a block of nq <= 8 queries of one head, one query per
 * lane, so that the softmax statistics are vector ops. q, k, v, out point at the head's first
 * column of the block's first row (row strides ldq, ldk, ldv, ldo); dh <= DL_ATT_MAX_DH;
 * p is scratch of 8 * s floats, 32-byte aligned. Each query's arithmetic is the same whatever
 * its lane and the block's size: scores summed over the head's channels in order, the
 * reference's max / exp / sum / normalise sequence (e^x within ~2 ulp of expf), the output
 * summed over the keys in order.
 */
void dl_attention_block_avx2(int nq, int s, int dh, float scale, const float *q, int ldq,
                             const float *k, int ldk, const float *v, int ldv, float *out, int ldo,
                             float *p);

#endif
