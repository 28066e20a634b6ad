/* CUDA backend: GEMM dispatch: cuBLAS (float32 SGEMM, or GemmEx with bf16/fp16 inputs) or our own
 * tiled SGEMM (DOCLAYOUT_CUDA_GEMM=own); conversions to the reduced-precision types. */
#include "backends/cuda/common.cuh"

namespace dlcu {

template <typename T> __global__ void k_convert(size_t n, const float *x, T *y) {
    GRID_STRIDE(i, n) y[i] = to_low<T>(x[i]);
}

/*
 * Our own tiled SGEMM (column-major, as cuBLAS): C[m, n] = op(A) op(B) + beta C, 64x64 tiles,
 * K steps of 16, 256 threads with 4x4 outputs each; 8 KB of shared memory. The fallback and
 * the comparison point for cuBLAS (DOCLAYOUT_CUDA_GEMM=own).
 */
__global__ void k_sgemm(bool ta, bool tb, int m, int n, int k, const float *A, int lda,
                        const float *Bm, int ldb, float beta, float *C, int ldc) {
    __shared__ float As[16][64 + 1], Bs[16][64 + 1];
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    int i0 = blockIdx.x * 64, j0 = blockIdx.y * 64;
    float acc[4][4] = {};
    for (int p0 = 0; p0 < k; p0 += 16) {
        for (int e = threadIdx.x; e < 16 * 64; e += 256) {
            int pp = e / 64, ii = e % 64;
            int gi = i0 + ii, gp = p0 + pp;
            As[pp][ii] = (gi < m && gp < k)
                             ? (ta ? A[gp + (size_t)gi * lda] : A[gi + (size_t)gp * lda])
                             : 0.0f;
            int gj = j0 + ii;
            Bs[pp][ii] = (gj < n && gp < k)
                             ? (tb ? Bm[gj + (size_t)gp * ldb] : Bm[gp + (size_t)gj * ldb])
                             : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int pp = 0; pp < 16; pp++) {
            float a[4], bv[4];
#pragma unroll
            for (int r = 0; r < 4; r++) a[r] = As[pp][tx + 16 * r];
#pragma unroll
            for (int c = 0; c < 4; c++) bv[c] = Bs[pp][ty + 16 * c];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[r][c] += a[r] * bv[c];
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) {
            int gi = i0 + tx + 16 * r, gj = j0 + ty + 16 * c;
            if (gi < m && gj < n) {
                float *cp = C + gi + (size_t)gj * ldc;
                *cp = acc[r][c] + (beta != 0.0f ? beta * *cp : 0.0f);
            }
        }
}

/* ---- GEMM dispatch ------------------------------------------------------------------------ */

/* C (column-major m x n, ldc) = op(A) op(B) + beta C, float32 */
void gemm_f32(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const float *A, int lda,
              const float *Bm, int ldb, float beta, float *C, int ldc) {
    if (b->own_gemm) {
        dim3 grid((m + 63) / 64, (n + 63) / 64);
        k_sgemm<<<grid, 256, 0, b->stream>>>(ta, tb, m, n, k, A, lda, Bm, ldb, beta, C, ldc);
        launched(b, "sgemm");
        return;
    }
    const float one = 1.0f;
    check_blas(b,
               cublasSgemm(b->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                           m, n, k, &one, A, lda, Bm, ldb, &beta, C, ldc),
               "cublasSgemm");
}

/* the same with bf16/fp16 inputs, float32 output and accumulation (tensor cores) */
void gemm_low(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, int lda,
              const void *Bm, int ldb, float beta, float *C, int ldc) {
    cudaDataType t = b->precision == DL_PRECISION_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    const float one = 1.0f;
    check_blas(b,
               cublasGemmEx(b->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                            m, n, k, &one, A, t, lda, Bm, t, ldb, &beta, C, CUDA_R_32F, ldc,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

template <typename T> void convert(cuda_backend *b, size_t n, const float *x, void *y) {
    k_convert<T><<<blocks_for(n, 256), 256, 0, b->stream>>>(n, x, (T *)y);
}

void convert_low(cuda_backend *b, size_t n, const float *x, void *y) {
    if (b->precision == DL_PRECISION_FP16) convert<__half>(b, n, x, y);
    else convert<__nv_bfloat16>(b, n, x, y);
    launched(b, "convert");
}

} // namespace dlcu
