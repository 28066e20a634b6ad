/*
 * Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution for the CPU backend: 3x3 kernels,
 * stride 1, groups 1, any padding. Each 2x2 (4x4) block of outputs (a tile) comes from a 4x4
 * (6x6) block of inputs:
 *   Y = A^T [ sum_ci (G g G^T) .* (B^T d B) ] A,
 * 16 products per tile and input/output channel pair instead of 36 (2.25x fewer), F(4x4): 36
 * instead of 144 (4x fewer), the rest additions. The 16 element-wise sums over ci are 16 small
 * matrix products, run by the direct convolution's micro-kernel (conv_direct.h) with tiles in place
 * of pixels.
 *
 * A task owns one row of tiles; for each chunk of 24 tiles it copies the 4 input rows it reads
 * (zero-padded, even/odd columns apart), transforms them (V = B^T d B per channel and tile,
 * vectorised over tiles), runs the products (M = U V per transform element), and writes
 * Y = A^T M A + bias (+ residual), then the activation. Every tile goes through the same
 * arithmetic wherever it lies, so results do not depend on the thread count. The results differ
 * from the direct sum by rounding only (F(2x2)'s transforms' constants are 0, +-1 and 1/2;
 * F(4x4)'s up to 8 and 1/24: a few times the rounding error of F(2x2), still ~1e-6 relative).
 */
#ifndef DL_BACKENDS_CPU_CONV_WINOGRAD_H
#define DL_BACKENDS_CPU_CONV_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"

/* Whether cpu_conv2d should take this path (policy + testing hook). */
bool dl_conv_winograd_use(const dl_conv2d_desc *d);
/* Whether it can run this conv at all (3x3, stride 1, groups 1). */
bool dl_conv_winograd_applies(const dl_conv2d_desc *d);
/* Scratch floats it needs with `nthreads` threads. */
size_t dl_conv_winograd_scratch(const dl_conv2d_desc *d, int nthreads);
/* Runs it (cpu_conv2d's contract). scratch holds dl_conv_winograd_scratch(d, pool size). */
void dl_conv_winograd(dl_threadpool *pool, float *scratch, const dl_conv2d_desc *d, const float *x,
                      const float *w, const float *bias, const float *residual, dl_act act,
                      float *y);
/* Testing/benchmark hook: 0 automatic (default), 1 never, 2 wherever it applies with
 * F(2x2, 3x3), 3 the same with F(4x4, 3x3) where AVX2 runs it (else F(2x2)). At the scalar
 * level (dl_cpu_set_level) it runs F(2x2)'s plain C pieces. */
void dl_conv_winograd_force(int mode);
/* Whether the active level runs F(4x4, 3x3) (AVX2 and up). */
bool dl_conv_winograd_has_f4(void);

/* Internal: the pieces for one chunk of up to DL_WINO_TILES tiles (nv vectors of 8), AVX2.
 *   input:  v[xi][ci][t] = (B^T d B)[xi] of the 4x4 input block at src + ci * cs + r * rs
 *           + 2 t + c (r, c < 4), for t < 8 nv (reads columns < 16 nv + 2 of each row);
 *   gemm:   m[co][xi][t] = sum_ci u[xi][co / 4][ci][co % 4] v[xi][ci][t], co < 4 nblocks;
 *   output: y[co][r][c] (r < rows, c < w; ld ldy, plane `plane`) = (A^T m A)[r][c] + bias
 *           (+ res at the same offsets), then act when it can (returns whether it did: else
 *           the caller applies it).
 * The AVX2 input transform leaves the tiles of each vector in the order [0 1 4 5 2 3 6 7]; the
 * AVX2 output transform expects that order (the three go together). */
#define DL_WINO_TILES 24
void dl_wino_input_avx2(int cin, int nv, const float *src, size_t cs, size_t rs, float *v);
void dl_wino_gemm_avx2(int nx, int cin, int nblocks, const float *u, const float *v, float *m,
                       int nv);
/* F(4x4, 3x3): the same with 6x6 input tiles (nx = 36 transform elements, m[co][36][t]),
 * reading columns < 32 nv + 4 of each of 6 rows; lanes in tile order [0 2 4 6 1 3 5 7]. */
void dl_wino4_input_avx2(int cin, int nv, const float *src, size_t cs, size_t rs, float *v);
bool dl_wino4_output_avx2(int cout, int nv, const float *m, const float *bias, const float *res,
                          float *y, size_t plane, int ldy, int rows, int w, dl_act act);
bool dl_wino_output_avx2(int cout, int nv, const float *m, const float *bias, const float *res,
                         float *y, size_t plane, int ldy, int rows, int w, dl_act act);

#endif
