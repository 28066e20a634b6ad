/*
 * The CUDA backend's common header: every op of dl_ops on device memory, built as the separate
 * module libdoclayout_cuda.so that the core loads at run time (see dl_cuda.h). One file per
 * concern, all in namespace dlcu (hidden in the module):
 *
 *   errors.cu     the first CUDA/cuBLAS failure of a pass, reported by the sync op
 *   memory.cu     allocations, uploads, downloads, copies (pinned staging under graph capture)
 *   weights.cu    the model's weights as one device buffer (+ a bf16/fp16 copy)
 *   gemm.cu       cuBLAS or our own SGEMM; conversions to bf16/fp16
 *   conv.cu       convolution (1x1 GEMM, im2col + GEMM, direct grouped) and linear layers
 *   attention.cu  dot-product and multi-scale deformable attention
 *   norm_pool.cu  layer norm, softmax, pooling, upsampling, activations, sums
 *   glue.cu       transposes, top-k, gathers, sampling locations, box refinement
 *   ops_ext.cu    kernels of the op registry (ops/op_list.h), looked up by name
 *   graphs.cu     CUDA graph capture and replay
 *   backend.cu    the entry point: opening a device, the op tables, closing
 *
 * Design:
 *  - One backend per detector: its stream, cuBLAS handle, weights and error state.
 *  - Large products: cuBLAS (SGEMM in float32 with TF32 off, GemmEx with bf16/fp16 inputs and
 *    float32 accumulation in reduced precision), or our own tiled SGEMM kernel
 *    (DOCLAYOUT_CUDA_GEMM=own). Deformable sampling, softmax, norms, box decoding stay float32.
 *  - Errors: ops return nothing, so the first CUDA/cuBLAS failure is recorded in the backend
 *    and reported by the `sync` op (the API calls it after each pass) as a dl_status.
 *  - No kernel uses more than 99 KB of shared memory per block (GB10's limit).
 *  - A kernel is launched only from the file that defines it (no relocatable device code).
 */
#ifndef DL_BACKENDS_CUDA_COMMON_CUH
#define DL_BACKENDS_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "backends/cuda/dl_cuda.h"

#define DL_EXPORT extern "C" __attribute__((visibility("default")))

/* Compiled architectures, from CMake ("90,120,121" real code, "121" PTX). */
#ifndef DL_CUDA_SASS
#define DL_CUDA_SASS ""
#endif
#ifndef DL_CUDA_PTX
#define DL_CUDA_PTX ""
#endif

namespace dlcu {

static const size_t kSmemCap = 99 * 1024;         /* GB10: 99 KB of shared memory per block */
static const size_t kIm2colCapFloats = 16u << 20; /* im2col panel at most 64 MB */
static const int kMaxLevels = 8;
/* attention's dynamic shared memory: the cap less its static part (a 32-float reduction) */
static const size_t kAttnSmemCap = kSmemCap - 1024;

/* ---- backend state ------------------------------------------------------------------------ */

/* One of the model's weight buffers (dl_wref.buf indexes them) in the device copy. */
struct wbuf {
    size_t off;    /* byte offset in wdev (256-aligned); SIZE_MAX: an empty index */
    size_t floats; /* its length */
};

struct staged {
    void *pinned;
    void *dst;
    size_t bytes;
};

struct cuda_backend {
    dl_cuda_backend pub;
    int device;
    dl_precision precision;
    bool own_gemm;
    bool use_igemm; /* DOCLAYOUT_CUDA_CONV=igemm: the unverified tensor-core convolution */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    /* weights */
    std::vector<wbuf> bufs; /* [dl_wref.buf] where each buffer lies in wdev */
    char *wdev;             /* float32 copy */
    char *wlow;             /* bf16/fp16 copy at half the float32 offsets */
    /* the first failure since the last sync */
    dl_status status;
    char message[DL_ERROR_MESSAGE_MAX];
    /* bytes moved between host and device since the last sync (sizes the capture staging) */
    size_t pass_staging, last_pass_staging;
    /* CUDA graph capture */
    bool capturing;
    cudaGraph_t graph;
    cudaGraphExec_t graph_exec;
    char *pinned;
    size_t pinned_size, pinned_used;
    std::vector<staged> downloads;
};

static inline cuda_backend *B(dl_ops_ctx *ctx) { return static_cast<cuda_backend *>(ctx->backend); }
static inline cuda_backend *B(const dl_ops_ctx *ctx) {
    return static_cast<cuda_backend *>(ctx->backend);
}
static inline bool low_precision(const cuda_backend *b) {
    return b->precision != DL_PRECISION_FP32;
}

/* ---- errors.cu ---------------------------------------------------------------------------- */

dl_status fail(dl_error *err, dl_status code, const char *fmt, ...);
dl_status status_of(cudaError_t e);
/* Record the first failure (later ones are consequences). */
void record(cuda_backend *b, dl_status code, const char *fmt, ...);
bool check(cuda_backend *b, cudaError_t e, const char *what);
const char *blas_name(cublasStatus_t s);
bool check_blas(cuda_backend *b, cublasStatus_t s, const char *what);
/* After a kernel launch: launch errors (bad configuration, no image for this GPU). */
void launched(cuda_backend *b, const char *what);

/* ---- weights.cu --------------------------------------------------------------------------- */

/* A weight's device copy: base of buffer r->buf + r->offset (NULL for an absent weight; a
 * reference with buf DL_WBUF_NONE is device memory already and is returned as is; one naming
 * no uploaded buffer records an internal error and gives NULL). */
const float *map_w(cuda_backend *b, const dl_wref *r);
/* Its bf16/fp16 copy, or NULL (absent, not a model weight, no reduced-precision copy). */
const void *map_low(cuda_backend *b, const dl_wref *r);
dl_status map_weights(dl_cuda_backend *pub, void *const *ptrs, const size_t *bytes, size_t n,
                      dl_error *err);

/* ---- gemm.cu ------------------------------------------------------------------------------ */

/* C (column-major m x n, ldc) = op(A) op(B) + beta C, float32 */
void gemm_f32(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const float *A, int lda,
              const float *Bm, int ldb, float beta, float *C, int ldc);
/* the same with bf16/fp16 inputs, float32 output and accumulation (tensor cores) */
void gemm_low(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const void *A, int lda,
              const void *Bm, int ldb, float beta, float *C, int ldc);
/* x[n] float32 -> y[n] in the backend's reduced precision */
void convert_low(cuda_backend *b, size_t n, const float *x, void *y);

/* ---- conv_igemm.cu (UNVERIFIED on a GPU; opt-in) ----------------------------------------- */

/* The implicit-GEMM tensor-core convolution with its fused epilogue; false when it does not
 * take `d` (the caller then runs its usual path). */
bool conv_igemm(cuda_backend *b, const dl_conv2d_desc *d, const float *x, const void *wlow,
                const float *bias, const float *residual, dl_act act, float *y);

/* ---- graphs.cu ---------------------------------------------------------------------------- */

void graph_drop(dl_cuda_backend *pub);
dl_status graph_begin(dl_cuda_backend *pub, dl_error *err);
dl_status graph_end(dl_cuda_backend *pub, dl_error *err);
dl_status graph_launch_async(dl_cuda_backend *pub, dl_error *err);
dl_status graph_wait(dl_cuda_backend *pub, dl_error *err);
dl_status graph_launch(dl_cuda_backend *pub, dl_error *err);

/* ---- attention.cu ------------------------------------------------------------------------- */

/* Let attention use up to `bytes` of dynamic shared memory (at device open). */
cudaError_t attention_allow_smem(int bytes);

/* ---- ops_ext.cu --------------------------------------------------------------------------- */

/* This backend's kernel of a registry op (ops/op_list.h), or NULL. */
dl_op_kernel find_kernel(const char *name);

/* ---- the ops of dl_ops, by file ----------------------------------------------------------- */

void *cu_mem_alloc(dl_ops_ctx *ctx, size_t bytes);
void cu_mem_free(dl_ops_ctx *ctx, void *p);
void cu_upload(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes);
void cu_download(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes);
void cu_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes);
dl_status cu_sync(dl_ops_ctx *ctx, dl_error *err);
void cu_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y);
void cu_scale_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *s, float *y);
void cu_topk_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx);
void cu_gather_rows(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src, float *dst);
void cu_deform_locations(dl_ops_ctx *ctx, int q, int heads, int n_levels, const int *level_points,
                         int total_points, float offset_scale, const float *ref, float *off);
void cu_box_refine(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref);
size_t cu_conv2d_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d);
size_t cu_linear_scratch(const dl_ops_ctx *ctx, int t, int n, int k);
void cu_conv2d(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x, const dl_wref *w,
               const dl_wref *bias, const float *residual, dl_act act, float *y);
void cu_linear(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx, const dl_wref *w,
               const dl_wref *bias, dl_act act, float *y, int ldy);
void cu_layer_norm(dl_ops_ctx *ctx, int t, int d, const float *x, const float *residual,
                   const dl_wref *gamma, const dl_wref *beta, float eps, float *y);
void cu_attention(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q, int ldq,
                  const float *k, int ldk, const float *v, int ldv, float *out, int ldo);
void cu_deform_attn(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value, const float *loc,
                    const float *weight, float *out);
void cu_max_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int pad, int out_h,
                   int out_w, const float *x, float *y);
void cu_avg_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int out_h, int out_w,
                   const float *x, float *y);
void cu_upsample2x(dl_ops_ctx *ctx, int c, int h, int w, const float *x, float *y);
void cu_softmax_rows(dl_ops_ctx *ctx, int rows, int n, float *x);
void cu_activate(dl_ops_ctx *ctx, size_t n, dl_act act, float *x);
void cu_add(dl_ops_ctx *ctx, size_t n, const float *a, const float *bb, float *y);

/* ---- small helpers ------------------------------------------------------------------------ */

static inline unsigned blocks_for(size_t n, unsigned threads) {
    size_t g = (n + threads - 1) / threads;
    return (unsigned)std::min<size_t>(g ? g : 1, 65535u * 32u);
}

#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float act_apply(int act, float x) {
    switch (act) {
    case DL_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case DL_ACT_SILU: return x / (1.0f + expf(-x));
    case DL_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case DL_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    default: return x;
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename T> __device__ __forceinline__ T to_low(float x);
template <> __device__ __forceinline__ __nv_bfloat16 to_low<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}
template <> __device__ __forceinline__ __half to_low<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ float to_low<float>(float x) { return x; }

/* feature levels as kernel arguments */
struct level_info {
    int n;
    int points[kMaxLevels];
    int h[kMaxLevels], w[kMaxLevels], start[kMaxLevels];
};
/* lv for n levels, or false (recorded) beyond kMaxLevels */
bool levels(cuda_backend *b, int n, level_info *lv);

} // namespace dlcu

#endif
