/*
 * The implicit-GEMM tensor-core convolution's host-side plan (conv_igemm.cu), in plain C so the
 * CPU tests check it (tests/test_igemm_plan.c): which convolutions it takes and its grid.
 * UNVERIFIED ON A GPU: the kernel is compiled for sm_90/120/121 but has not run; it is off
 * unless DOCLAYOUT_CUDA_CONV=igemm (bf16/fp16 only).
 *
 * The GEMM: M = Cout, N = OH * OW output pixels, K = Cin * KH * KW; blocks of 64 x 64 outputs,
 * K in steps of 32, 4 warps of 2 x 2 WMMA 16x16x16 tiles.
 */
#ifndef DL_BACKENDS_CUDA_IGEMM_PLAN_H
#define DL_BACKENDS_CUDA_IGEMM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"

#ifdef __CUDACC__
#define DL_IGEMM_HD __host__ __device__
#else
#define DL_IGEMM_HD
#endif

#define DL_IGEMM_TILE_M 64
#define DL_IGEMM_TILE_N 64
#define DL_IGEMM_TILE_K 32

typedef struct dl_igemm_plan {
    int m, n, k;        /* GEMM sizes */
    int grid_m, grid_n; /* blocks along Cout and along the output pixels */
} dl_igemm_plan;

/* Whether the kernel takes `d` (ungrouped, sizes within int range, a non-empty output), and
 * its plan. The weights must be the backend's 16-bit copy, row-major [Cout, K]. */
static inline bool dl_igemm_plan_make(const dl_conv2d_desc *d, dl_igemm_plan *p) {
    if (d->groups != 1 || d->cout <= 0 || d->out_h <= 0 || d->out_w <= 0 || d->cin <= 0)
        return false;
    size_t k = (size_t)d->cin * d->kh * d->kw, n = (size_t)d->out_h * d->out_w;
    if (k == 0 || k > (1u << 30) || n > (1u << 30)) return false;
    p->m = d->cout;
    p->n = (int)n;
    p->k = (int)k;
    p->grid_m = (p->m + DL_IGEMM_TILE_M - 1) / DL_IGEMM_TILE_M;
    p->grid_n = (p->n + DL_IGEMM_TILE_N - 1) / DL_IGEMM_TILE_N;
    return p->grid_m <= 65535;
}

/* Column `kk` of the implicit im2col matrix -> (input channel, kernel row, kernel column). */
DL_IGEMM_HD static inline void dl_igemm_k_index(int kk, int kh, int kw, int *ci, int *ky, int *kx) {
    *kx = kk % kw;
    *ky = kk / kw % kh;
    *ci = kk / (kw * kh);
}

#endif
