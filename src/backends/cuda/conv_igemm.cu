/*
 * CUDA backend: an implicit-GEMM convolution on tensor cores (WMMA bf16/fp16 16x16x16, float32
 * accumulation) with the epilogue fused: bias, residual and activation applied as the tile is
 * written. No im2col buffer: each block gathers its input patch into shared memory as it goes.
 *
 * UNVERIFIED ON A GPU: compiled for every listed architecture, never run. Off by default; on
 * with DOCLAYOUT_CUDA_CONV=igemm (bf16/fp16 precisions, ungrouped convolutions). The host plan
 * is backends/cuda/igemm_plan.h (checked on the CPU by tests/test_igemm_plan.c).
 */
#include <mma.h>

#include "backends/cuda/common.cuh"
#include "backends/cuda/igemm_plan.h"

namespace dlcu {

using namespace nvcuda;

namespace {
const int TM = DL_IGEMM_TILE_M, TN = DL_IGEMM_TILE_N, TK = DL_IGEMM_TILE_K;
const int LDA = TK + 8; /* 16-bit elements: a multiple of 8 */
const int LDB = TN + 8;
const int LDC = TN + 4; /* floats */
} // namespace

template <typename T>
__global__ void __launch_bounds__(128)
    k_conv_igemm(dl_conv2d_desc d, int K, int N, const float *x, const T *w, const float *bias,
                 const float *res, int act, float *y) {
    __shared__ __align__(32) T As[TM * LDA];
    __shared__ __align__(32) T Bs[TK * LDB];
    __shared__ __align__(32) float Cs[TM * LDC];
    int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2; /* 2 x 2 warps of 32 x 32 */
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    for (int k0 = 0; k0 < K; k0 += TK) {
        /* A: weights [Cout, K] rows m0.., columns k0.. */
        for (int e = threadIdx.x; e < TM * TK; e += blockDim.x) {
            int r = e / TK, c = e % TK, gm = m0 + r, gk = k0 + c;
            As[r * LDA + c] = (gm < d.cout && gk < K) ? w[(size_t)gm * K + gk] : to_low<T>(0.0f);
        }
        /* B: the implicit im2col, rows k0.., columns (output pixels) n0.. */
        for (int e = threadIdx.x; e < TK * TN; e += blockDim.x) {
            int r = e / TN, c = e % TN, gk = k0 + r, gn = n0 + c;
            float v = 0.0f;
            if (gk < K && gn < N) {
                int ci, ky, kx;
                dl_igemm_k_index(gk, d.kh, d.kw, &ci, &ky, &kx);
                int oy = gn / d.out_w, ox = gn % d.out_w;
                int iy = oy * d.stride_h - d.pad_top + ky, ix = ox * d.stride_w - d.pad_left + kx;
                if (iy >= 0 && iy < d.in_h && ix >= 0 && ix < d.in_w)
                    v = x[((size_t)ci * d.in_h + iy) * d.in_w + ix];
            }
            Bs[r * LDB + c] = to_low<T>(v);
        }
        __syncthreads();
        for (int kk = 0; kk < TK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
            for (int i = 0; i < 2; i++)
                wmma::load_matrix_sync(fa[i], As + (wm * 32 + i * 16) * LDA + kk, LDA);
            for (int j = 0; j < 2; j++)
                wmma::load_matrix_sync(fb[j], Bs + kk * LDB + wn * 32 + j * 16, LDB);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * LDC + wn * 32 + j * 16, acc[i][j],
                                    LDC, wmma::mem_row_major);
    __syncthreads();
    /* the fused epilogue; a residual that aliases y is read before it is written */
    for (int e = threadIdx.x; e < TM * TN; e += blockDim.x) {
        int r = e / TN, c = e % TN, gm = m0 + r, gn = n0 + c;
        if (gm >= d.cout || gn >= N) continue;
        size_t o = (size_t)gm * N + gn;
        float v = Cs[r * LDC + c];
        if (bias) v += bias[gm];
        if (res) v += res[o];
        y[o] = act_apply(act, v);
    }
}

bool conv_igemm(cuda_backend *b, const dl_conv2d_desc *d, const float *x, const void *wlow,
                const float *bias, const float *residual, dl_act act, float *y) {
    dl_igemm_plan p;
    if (!wlow || !dl_igemm_plan_make(d, &p)) return false;
    dim3 grid(p.grid_n, p.grid_m);
    if (b->precision == DL_PRECISION_FP16)
        k_conv_igemm<__half><<<grid, 128, 0, b->stream>>>(*d, p.k, p.n, x, (const __half *)wlow,
                                                          bias, residual, act, y);
    else
        k_conv_igemm<__nv_bfloat16><<<grid, 128, 0, b->stream>>>(
            *d, p.k, p.n, x, (const __nv_bfloat16 *)wlow, bias, residual, act, y);
    launched(b, "conv2d (implicit GEMM, tensor cores)");
    return true;
}

} // namespace dlcu
