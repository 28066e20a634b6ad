/*
 * Direct convolution for the CPU backend (groups = 1, any kernel size, stride and padding):
 * no im2col and no packed GEMM, for the small-channel convolutions where packing B dominates.
 *
 * A task owns a band of output rows; for each chunk of 96 output columns it copies the input
 * the band reads into a zero-padded,
 * stride-deinterleaved buffer ([ci][row][phase][Wq]: padded column q*s + phase), so that every
 * tap (ci, ky, kx) of an output vector is one contiguous load at a fixed offset koff[k]. A
 * micro-kernel computes 4 output channels x up to 24 output pixels of one row (pointwise convs:
 * of the image as one row of pixels), the weights of
 * the 4 channels broadcast from a repacked copy w4[k*4 + c]. The sum over k = (ci, ky, kx) runs
 * in a fixed order for every pixel wherever it lies (taps in the padding add 0*w), the epilogue
 * is the reference's (acc + bias + residual, then act), so results do not depend on the tiling
 * or the thread count.
 */
#ifndef DL_BACKENDS_CPU_CONV_DIRECT_H
#define DL_BACKENDS_CPU_CONV_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"

#define DL_CONV_DIRECT_CB 4  /* output channels per micro-kernel call */
#define DL_CONV_DIRECT_NP 24 /* output pixels per micro-kernel call at most */

/* Whether cpu_conv2d should take the direct path for this conv (policy + testing hook). */
bool dl_conv_direct_use(const dl_conv2d_desc *d);
/* Scratch floats the direct path needs with `nthreads` threads. */
size_t dl_conv_direct_scratch(const dl_conv2d_desc *d, int nthreads);
/* Runs it. scratch holds dl_conv_direct_scratch(d, pool size) floats. */
void dl_conv_direct(dl_threadpool *pool, float *scratch, const dl_conv2d_desc *d, const float *x,
                    const float *w, const float *bias, const float *residual, dl_act act, float *y);

/* Testing/benchmark hook: 0 automatic (default), 1 never direct, 2 always direct where it
 * applies (groups == 1). The micro-kernel follows the active level (dl_cpu_set_level). */
void dl_conv_direct_force(int mode);
int dl_conv_direct_force_mode(void);
/* Name of the micro-kernel of the active level ("avx2-fma 4x24", "neon 4x24", "generic 4x24"). */
const char *dl_conv_direct_kernel_name(void);

/*
 * Micro-kernel: for c < nco, p < n (1 <= n <= 24):
 *   y[c][p] = act(sum_k w4[k*4 + c] * in[koff[k] + p]  (+ bias[c])  (+ res[c][p]))
 * in order k = 0..ks-1, then bias, then residual, then the activation as dl_cpu_act_span
 * computes it. res may be NULL (no residual); res[c] may alias y[c]. Reads in[koff[k] + p] for
 * p < round_up(n, 8 or 4) (the buffer is wide enough).
 */
typedef void (*dl_conv_direct_kernel_fn)(int ks, const float *w4, const int *koff, const float *in,
                                         int n, int nco, float *const *y, const float *const *res,
                                         const float *bias, dl_act act);
/* The micro-kernel in use (also the Winograd path's, conv_winograd.c). */
dl_conv_direct_kernel_fn dl_conv_direct_kernel(void);
/* Whether that is a SIMD kernel (not the generic C one). */
bool dl_conv_direct_kernel_is_simd(void);
void dl_conv_direct_kernel_avx2(int ks, const float *w4, const int *koff, const float *in, int n,
                                int nco, float *const *y, const float *const *res,
                                const float *bias, dl_act act);
void dl_conv_direct_kernel_neon(int ks, const float *w4, const int *koff, const float *in, int n,
                                int nco, float *const *y, const float *const *res,
                                const float *bias, dl_act act);

#endif
