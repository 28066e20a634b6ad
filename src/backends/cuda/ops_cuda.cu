/*
 * The CUDA backend: every op of dl_ops on device memory, built as the separate module
 * libdoclayout_cuda.so that the core loads at run time (see dl_cuda.h).
 *
 * Design:
 *  - One backend per detector: its stream, cuBLAS handle, weights and error state.
 *  - Weights: the model's host allocations are copied once into one device buffer (plus a
 *    bf16/fp16 copy in reduced precision); ops translate weight pointers (host addresses
 *    inside a registered allocation) by binary search in a sorted range table, so the model
 *    code stays backend-agnostic.
 *  - Large products: cuBLAS (SGEMM in float32 with TF32 off, GemmEx with bf16/fp16 inputs and
 *    float32 accumulation in reduced precision), or our own tiled SGEMM kernel
 *    (DOCLAYOUT_CUDA_GEMM=own). Convolutions: 1x1 as a plain GEMM, others im2col + GEMM in
 *    column chunks, grouped/depthwise convolutions direct. Bias, residual and activation in
 *    one epilogue kernel. Deformable sampling, softmax, norms, box decoding stay float32.
 *  - Errors: ops return nothing, so the first CUDA/cuBLAS failure is recorded in the backend
 *    and reported by the `sync` op (the API calls it after each pass) as a dl_status.
 *  - No kernel uses more than 99 KB of shared memory per block (GB10's limit).
 */
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

static const size_t kSmemCap = 99 * 1024;        /* GB10: 99 KB of shared memory per block */
static const size_t kIm2colCapFloats = 16u << 20; /* im2col panel at most 64 MB */
static const int kMaxLevels = 8;
/* attention's dynamic shared memory: the cap less its static part (a 32-float reduction) */
static const size_t kAttnSmemCap = kSmemCap - 1024;

/* ---- backend state ------------------------------------------------------------------------ */

struct wrange {
    uintptr_t host;
    size_t bytes;
    size_t off; /* byte offset in the device weight buffer (256-aligned) */
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
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    /* weights */
    std::vector<wrange> ranges; /* sorted by host address */
    char *wdev;                 /* float32 copy */
    char *wlow;                 /* bf16/fp16 copy at half the float32 offsets */
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

static cuda_backend *B(dl_ops_ctx *ctx) { return static_cast<cuda_backend *>(ctx->backend); }
static cuda_backend *B(const dl_ops_ctx *ctx) { return static_cast<cuda_backend *>(ctx->backend); }

static dl_status fail(dl_error *err, dl_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static dl_status status_of(cudaError_t e) {
    return e == cudaErrorMemoryAllocation ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND;
}

/* Record the first failure (later ones are consequences). */
static void record(cuda_backend *b, dl_status code, const char *fmt, ...) {
    if (b->status != DL_OK) return;
    b->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->message, sizeof b->message, fmt, ap);
    va_end(ap);
}

static bool check(cuda_backend *b, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return true;
    record(b, status_of(e), "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e),
           cudaGetErrorName(e));
    return false;
}

static const char *blas_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
    }
}

static bool check_blas(cuda_backend *b, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    record(b, s == CUBLAS_STATUS_ALLOC_FAILED ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND,
           "cuBLAS error in %s: %s (%d)", what, blas_name(s), (int)s);
    return false;
}

/* After a kernel launch: launch errors (bad configuration, no image for this GPU). */
static void launched(cuda_backend *b, const char *what) { check(b, cudaGetLastError(), what); }

/* Host weight pointer -> its device copy (pointers outside the table are returned as is). */
static const wrange *find_range(const cuda_backend *b, const void *p) {
    uintptr_t a = (uintptr_t)p;
    const std::vector<wrange> &r = b->ranges;
    size_t lo = 0, hi = r.size();
    while (lo < hi) { /* first range with host > a */
        size_t mid = (lo + hi) / 2;
        if (r[mid].host <= a) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return nullptr;
    const wrange &c = r[lo - 1];
    return a < c.host + c.bytes ? &c : nullptr;
}

static const float *map_w(const cuda_backend *b, const float *p) {
    if (!p) return p;
    const wrange *r = find_range(b, p);
    if (!r) return p;
    return (const float *)(b->wdev + r->off + ((uintptr_t)p - r->host));
}

/* The bf16/fp16 copy of a registered weight, or NULL. */
static const void *map_low(const cuda_backend *b, const float *p) {
    if (!p || !b->wlow) return nullptr;
    const wrange *r = find_range(b, p);
    if (!r) return nullptr;
    return b->wlow + (r->off + ((uintptr_t)p - r->host)) / 2;
}

static bool low_precision(const cuda_backend *b) { return b->precision != DL_PRECISION_FP32; }

/* ---- small helpers ------------------------------------------------------------------------ */

static unsigned blocks_for(size_t n, unsigned threads) {
    size_t g = (n + threads - 1) / threads;
    return (unsigned)std::min<size_t>(g ? g : 1, 65535u * 32u);
}

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

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

/* ---- kernels: elementwise and glue ------------------------------------------------------- */

__global__ void k_probe(int *p) {
    if (p) *p = 1;
}

__global__ void k_activate(size_t n, int act, float *x) {
    GRID_STRIDE(i, n) x[i] = act_apply(act, x[i]);
}

__global__ void k_add(size_t n, const float *a, const float *b, float *y) {
    GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

__global__ void k_scale_rows(size_t n, int cols, const float *x, const float *s, float *y) {
    GRID_STRIDE(i, n) y[i] = x[i] * s[i / cols];
}

__global__ void k_box_refine(size_t n, const float *delta, float *ref) {
    const float eps = 1e-5f;
    GRID_STRIDE(i, n) {
        float x = fminf(fmaxf(ref[i], 0.0f), 1.0f);
        float x1 = fmaxf(x, eps), x2 = fmaxf(1.0f - x, eps);
        float v = delta[i] + logf(x1 / x2);
        ref[i] = 1.0f / (1.0f + expf(-v));
    }
}

/* y[cols, rows] = x[rows, cols]^T through a padded 32x32 tile */
__global__ void k_transpose(int rows, int cols, const float *x, float *y) {
    __shared__ float tile[32][33];
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        int r = r0 + j, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[j][threadIdx.x] = x[(size_t)r * cols + c];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        int c = c0 + j, r = r0 + threadIdx.x;
        if (r < rows && c < cols) y[(size_t)c * rows + r] = tile[threadIdx.x][j];
    }
}

__global__ void k_gather_rows(size_t n, int cols, const int *idx, const float *src, float *dst) {
    GRID_STRIDE(i, n) {
        size_t r = i / cols, c = i % cols;
        dst[i] = src[(size_t)idx[r] * cols + c];
    }
}

struct level_info {
    int n;
    int points[kMaxLevels];
    int h[kMaxLevels], w[kMaxLevels], start[kMaxLevels];
};

__global__ void k_deform_locations(size_t n, int total_points, level_info lv, float offset_scale,
                                   const float *ref, int heads, float *off) {
    GRID_STRIDE(i, n) { /* i over q * heads * P */
        int p = (int)(i % total_points);
        size_t q = i / total_points / heads;
        int l = 0, acc = lv.points[0];
        while (p >= acc && l + 1 < lv.n) acc += lv.points[++l];
        float scale = 1.0f / (float)lv.points[l];
        const float *r = ref + q * 4;
        float *o = off + i * 2;
        o[0] = r[0] + o[0] * scale * r[2] * offset_scale;
        o[1] = r[1] + o[1] * scale * r[3] * offset_scale;
    }
}

/* row maxima, then each row's rank among all rows (ties: lower index first) */
__global__ void k_row_max(int rows, int cols, const float *x, float *best) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    float m = -INFINITY;
    for (int c = 0; c < cols; c++) m = fmaxf(m, x[(size_t)r * cols + c]);
    best[r] = m;
}

__global__ void k_topk_rank(int rows, int k, const float *best, int *idx) {
    __shared__ float tile[1024];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float si = i < rows ? best[i] : 0.0f;
    int rank = 0;
    for (int j0 = 0; j0 < rows; j0 += blockDim.x) {
        int j = j0 + threadIdx.x;
        tile[threadIdx.x] = j < rows ? best[j] : -INFINITY;
        __syncthreads();
        int lim = min((int)blockDim.x, rows - j0);
        for (int t = 0; t < lim; t++) {
            float sj = tile[t];
            rank += (sj > si) || (sj == si && j0 + t < i);
        }
        __syncthreads();
    }
    if (i < rows && rank < k) idx[rank] = i;
}

/* ---- kernels: pooling, upsampling, norms, softmax ------------------------------------------ */

__global__ void k_max_pool(size_t n, int h, int w, int k, int stride, int pad, int oh, int ow,
                           const float *x, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % ow), oy = (int)(i / ow % oh);
        size_t ch = i / ((size_t)ow * oh);
        const float *xc = x + ch * h * w;
        float m = -INFINITY;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= w) continue;
                float v = xc[(size_t)iy * w + ix];
                if (v > m || isnan(v)) m = v;
            }
        }
        y[i] = m;
    }
}

__global__ void k_avg_pool(size_t n, int h, int w, int k, int stride, int oh, int ow,
                           const float *x, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % ow), oy = (int)(i / ow % oh);
        size_t ch = i / ((size_t)ow * oh);
        const float *xc = x + ch * h * w;
        float s = 0.0f;
        int cnt = 0;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride + ky;
            if (iy >= h) continue;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride + kx;
                if (ix >= w) continue;
                s += xc[(size_t)iy * w + ix];
                cnt++;
            }
        }
        y[i] = cnt ? s / (float)cnt : 0.0f;
    }
}

__global__ void k_upsample2x(size_t n, int h, int w, const float *x, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % (2 * w)), oy = (int)(i / (2 * w) % (2 * h));
        size_t ch = i / ((size_t)4 * h * w);
        y[i] = x[(ch * h + oy / 2) * w + ox / 2];
    }
}

/* one warp per row: y = LN(x + r) * g + b, two passes over the row in float32 */
__global__ void k_layer_norm(int t, int d, const float *x, const float *res, const float *g,
                             const float *bt, float eps, float *y) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= t) return;
    const float *xr = x + (size_t)row * d;
    const float *rr = res ? res + (size_t)row * d : nullptr;
    float s = 0.0f;
    for (int j = lane; j < d; j += 32) s += xr[j] + (rr ? rr[j] : 0.0f);
    float mean = warp_sum(s) / (float)d;
    float v = 0.0f;
    for (int j = lane; j < d; j += 32) {
        float e = xr[j] + (rr ? rr[j] : 0.0f) - mean;
        v += e * e;
    }
    float inv = rsqrtf(warp_sum(v) / (float)d + eps);
    float *yr = y + (size_t)row * d;
    for (int j = lane; j < d; j += 32) { /* y may alias x or r: read before write, per element */
        float e = xr[j] + (rr ? rr[j] : 0.0f);
        yr[j] = (e - mean) * inv * g[j] + bt[j];
    }
}

/* one warp per row, in place */
__global__ void k_softmax_rows(int rows, int n, float *x) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    float *xr = x + (size_t)row * n;
    float m = -INFINITY;
    for (int j = lane; j < n; j += 32) m = fmaxf(m, xr[j]);
    m = warp_max(m);
    float s = 0.0f;
    for (int j = lane; j < n; j += 32) s += expf(xr[j] - m);
    s = warp_sum(s);
    for (int j = lane; j < n; j += 32) xr[j] = expf(xr[j] - m) / s;
}

/* ---- kernels: attention ------------------------------------------------------------------ */

/*
 * One block per (query row, head): scores of the row in shared memory (S floats), softmax,
 * then the weighted sum of values with the block split into groups over keys, summed in a
 * fixed order (deterministic). Shared memory: (dh + S + groups * dh) floats <= 99 KB.
 */
__global__ void k_attention(int t, int s, int heads, int dh, float scale, const float *q, int ldq,
                            const float *k, int ldk, const float *v, int ldv, float *out, int ldo) {
    extern __shared__ float sm[];
    float *qs = sm, *p = sm + dh, *part = p + s;
    __shared__ float red[32];
    int i = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, nt = blockDim.x;
    const float *qi = q + (size_t)i * ldq + h * dh;
    for (int c = tid; c < dh; c += nt) qs[c] = qi[c];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = tid; j < s; j += nt) {
        const float *kj = k + (size_t)j * ldk + h * dh;
        float acc = 0.0f;
        for (int c = 0; c < dh; c++) acc += qs[c] * kj[c];
        acc *= scale;
        p[j] = acc;
        mx = fmaxf(mx, acc);
    }
    mx = warp_max(mx);
    if (tid % 32 == 0) red[tid / 32] = mx;
    __syncthreads();
    if (tid < 32) {
        float m = tid < nt / 32 ? red[tid] : -INFINITY;
        m = warp_max(m);
        if (tid == 0) red[0] = m;
    }
    __syncthreads();
    mx = red[0];
    __syncthreads();
    float sum = 0.0f;
    for (int j = tid; j < s; j += nt) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    if (tid % 32 == 0) red[tid / 32] = sum;
    __syncthreads();
    if (tid == 0) {
        float tot = 0.0f;
        for (int w = 0; w < nt / 32; w++) tot += red[w];
        red[0] = tot;
    }
    __syncthreads();
    float inv = 1.0f / red[0];
    if (dh <= nt) {
        /* groups of dh threads take every groups-th key; partial sums added in group order */
        int groups = nt / dh, g = tid / dh, c = tid % dh;
        if (g < groups) {
            float acc = 0.0f;
            for (int j = g; j < s; j += groups) acc += p[j] * v[(size_t)j * ldv + h * dh + c];
            part[g * dh + c] = acc;
        }
        __syncthreads();
        for (int cc = tid; cc < dh; cc += nt) {
            float acc = 0.0f;
            for (int gg = 0; gg < groups; gg++) acc += part[gg * dh + cc];
            out[(size_t)i * ldo + h * dh + cc] = acc * inv;
        }
    } else {
        for (int c = tid; c < dh; c += nt) {
            float acc = 0.0f;
            for (int j = 0; j < s; j++) acc += p[j] * v[(size_t)j * ldv + h * dh + c];
            out[(size_t)i * ldo + h * dh + c] = acc * inv;
        }
    }
}

/* ---- kernels: multi-scale deformable attention ------------------------------------------- */

struct deform_params {
    int q, heads, dh, total_points;
    bool discrete;
    level_info lv;
};

/* grid (Q, ceil(H*dh / blockDim)): thread = one output channel of one query */
__global__ void k_deform_attn(deform_params dp, const float *value, const float *loc,
                              const float *weight, float *out) {
    int qi = blockIdx.x;
    int gc = blockIdx.y * blockDim.x + threadIdx.x, ld = dp.heads * dp.dh;
    if (gc >= ld) return;
    int h = gc / dp.dh;
    float acc = 0.0f;
    int p = 0;
    for (int l = 0; l < dp.lv.n; l++) {
        int hgt = dp.lv.h[l], wid = dp.lv.w[l];
        const float *vl = value + (size_t)dp.lv.start[l] * ld + gc;
        for (int kk = 0; kk < dp.lv.points[l]; kk++, p++) {
            size_t ix = ((size_t)qi * dp.heads + h) * dp.total_points + p;
            float lx = loc[ix * 2], ly = loc[ix * 2 + 1], wgt = weight[ix];
            if (dp.discrete) {
                int x = (int)(lx * wid + 0.5f), y = (int)(ly * hgt + 0.5f);
                x = min(max(x, 0), wid - 1);
                y = min(max(y, 0), hgt - 1);
                acc += wgt * vl[((size_t)y * wid + x) * ld];
            } else {
                float px = lx * wid - 0.5f, py = ly * hgt - 0.5f;
                float fx = floorf(px), fy = floorf(py);
                int x0 = (int)fx, y0 = (int)fy;
                float ax = px - fx, ay = py - fy;
                float cw[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
                int cx[4] = {x0, x0 + 1, x0, x0 + 1}, cy[4] = {y0, y0, y0 + 1, y0 + 1};
#pragma unroll
                for (int n = 0; n < 4; n++) {
                    if (cx[n] < 0 || cx[n] >= wid || cy[n] < 0 || cy[n] >= hgt) continue;
                    acc += wgt * cw[n] * vl[((size_t)cy[n] * wid + cx[n]) * ld];
                }
            }
        }
    }
    out[(size_t)qi * ld + gc] = acc;
}

/* ---- kernels: convolution pieces --------------------------------------------------------- */

/* col (column-major, rows = output pixels p0..p0+np, ld np) of one group's receptive fields */
template <typename T>
__global__ void k_im2col(size_t n, int np, int p0, int cin_g, int c0, int kh, int kw, int sh,
                         int sw, int pt, int pl, int h, int w, int ow, const float *x, T *col) {
    GRID_STRIDE(i, n) {
        int pr = (int)(i % np);
        int kk = (int)(i / np); /* (ci, ky, kx) */
        int kx = kk % kw, ky = kk / kw % kh, ci = kk / (kw * kh);
        int p = p0 + pr, oy = p / ow, ox = p % ow;
        int iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
        float v = 0.0f;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = x[((size_t)(c0 + ci) * h + iy) * w + ix];
        col[i] = to_low<T>(v);
    }
}

template <typename T> __global__ void k_convert(size_t n, const float *x, T *y) {
    GRID_STRIDE(i, n) y[i] = to_low<T>(x[i]);
}

/* rows of x [t, k] with stride ldx -> contiguous [t, k] */
template <typename T> __global__ void k_convert_rows(size_t n, int k, const float *x, int ldx, T *y) {
    GRID_STRIDE(i, n) y[i] = to_low<T>(x[(i / k) * ldx + i % k]);
}

/* conv epilogue: y[co, p] = act(y + bias[co] + res[co, p]) */
__global__ void k_conv_epilogue(size_t n, int hw, const float *bias, const float *res, int act,
                                float *y) {
    GRID_STRIDE(i, n) {
        float v = y[i];
        if (bias) v += bias[i / hw];
        if (res) v += res[i];
        y[i] = act_apply(act, v);
    }
}

/* linear epilogue over y [t, n] with row stride ldy */
__global__ void k_linear_epilogue(size_t total, int n, int ldy, const float *bias, int act,
                                  float *y) {
    GRID_STRIDE(i, total) {
        size_t r = i / n;
        int c = (int)(i % n);
        float *p = y + r * ldy + c;
        float v = *p;
        if (bias) v += bias[c];
        *p = act_apply(act, v);
    }
}

/* grouped / depthwise convolution, direct: one thread per output, plus the epilogue */
__global__ void k_conv_direct(size_t n, dl_conv2d_desc d, const float *x, const float *w,
                              const float *bias, const float *res, int act, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % d.out_w), oy = (int)(i / d.out_w % d.out_h);
        int co = (int)(i / ((size_t)d.out_w * d.out_h));
        int cin_g = d.cin / d.groups, cout_g = d.cout / d.groups, g = co / cout_g;
        const float *wk = w + (size_t)co * cin_g * d.kh * d.kw;
        float acc = 0.0f;
        for (int ci = 0; ci < cin_g; ci++) {
            const float *xc = x + (size_t)(g * cin_g + ci) * d.in_h * d.in_w;
            for (int ky = 0; ky < d.kh; ky++) {
                int iy = oy * d.stride_h - d.pad_top + ky;
                if (iy < 0 || iy >= d.in_h) continue;
                for (int kx = 0; kx < d.kw; kx++) {
                    int ix = ox * d.stride_w - d.pad_left + kx;
                    if (ix < 0 || ix >= d.in_w) continue;
                    acc += xc[(size_t)iy * d.in_w + ix] * wk[((size_t)ci * d.kh + ky) * d.kw + kx];
                }
            }
        }
        if (bias) acc += bias[co];
        if (res) acc += res[i];
        y[i] = act_apply(act, acc);
    }
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
            As[pp][ii] = (gi < m && gp < k) ? (ta ? A[gp + (size_t)gi * lda] : A[gi + (size_t)gp * lda]) : 0.0f;
            int gj = j0 + ii;
            Bs[pp][ii] = (gj < n && gp < k) ? (tb ? Bm[gj + (size_t)gp * ldb] : Bm[gp + (size_t)gj * ldb]) : 0.0f;
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
static void gemm_f32(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const float *A,
                     int lda, const float *Bm, int ldb, float beta, float *C, int ldc) {
    if (b->own_gemm) {
        dim3 grid((m + 63) / 64, (n + 63) / 64);
        k_sgemm<<<grid, 256, 0, b->stream>>>(ta, tb, m, n, k, A, lda, Bm, ldb, beta, C, ldc);
        launched(b, "sgemm");
        return;
    }
    const float one = 1.0f;
    check_blas(b, cublasSgemm(b->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                              m, n, k, &one, A, lda, Bm, ldb, &beta, C, ldc),
               "cublasSgemm");
}

/* the same with bf16/fp16 inputs, float32 output and accumulation (tensor cores) */
static void gemm_low(cuda_backend *b, bool ta, bool tb, int m, int n, int k, const void *A,
                     int lda, const void *Bm, int ldb, float beta, float *C, int ldc) {
    cudaDataType t = b->precision == DL_PRECISION_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    const float one = 1.0f;
    check_blas(b, cublasGemmEx(b->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                               m, n, k, &one, A, t, lda, Bm, t, ldb, &beta, C, CUDA_R_32F, ldc,
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

template <typename T>
static void convert(cuda_backend *b, size_t n, const float *x, void *y) {
    k_convert<T><<<blocks_for(n, 256), 256, 0, b->stream>>>(n, x, (T *)y);
}

static void convert_low(cuda_backend *b, size_t n, const float *x, void *y) {
    if (b->precision == DL_PRECISION_FP16) convert<__half>(b, n, x, y);
    else convert<__nv_bfloat16>(b, n, x, y);
    launched(b, "convert");
}

/* ---- ops: memory ------------------------------------------------------------------------- */

static void *cu_mem_alloc(dl_ops_ctx *ctx, size_t bytes) {
    cuda_backend *b = B(ctx);
    cudaSetDevice(b->device);
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: the caller reports it */
        return nullptr;
    }
    (void)b;
    return p;
}

static void cu_mem_free(dl_ops_ctx *ctx, void *p) {
    if (!p) return;
    cudaSetDevice(B(ctx)->device);
    check(B(ctx), cudaFree(p), "cudaFree");
}

/* pinned staging for a captured copy (sized before the capture from the last pass) */
static void *stage(cuda_backend *b, size_t bytes) {
    size_t at = (b->pinned_used + 255) / 256 * 256;
    if (at + bytes > b->pinned_size) {
        record(b, DL_ERR_BACKEND, "CUDA graph capture: staging exhausted (%zu bytes)", at + bytes);
        return nullptr;
    }
    b->pinned_used = at + bytes;
    return b->pinned + at;
}

static void cu_upload(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (!bytes) return;
    /* every pass starts with an upload (the pixels): the detector's GPU becomes this thread's
     * current device, whatever other detectors this thread ran before */
    if (!b->capturing) cudaSetDevice(b->device);
    b->pass_staging += (bytes + 255) / 256 * 256;
    if (b->capturing) { /* the graph keeps a snapshot: sources are constant from pass to pass */
        void *s = stage(b, bytes);
        if (!s) return;
        memcpy(s, src, bytes);
        src = s;
    }
    check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, b->stream), "upload");
}

static void cu_download(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (!bytes) return;
    b->pass_staging += (bytes + 255) / 256 * 256;
    if (b->capturing) { /* into staging; copied to dst after each launch */
        void *s = stage(b, bytes);
        if (!s) return;
        if (check(b, cudaMemcpyAsync(s, src, bytes, cudaMemcpyDeviceToHost, b->stream), "download"))
            b->downloads.push_back({s, dst, bytes});
        return;
    }
    if (check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, b->stream), "download"))
        check(b, cudaStreamSynchronize(b->stream), "download");
    if (b->status != DL_OK) memset(dst, 0, bytes); /* never hand back stale numbers */
}

static void cu_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (dst == src || !bytes) return;
    check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, b->stream), "copy");
}

static dl_status cu_sync(dl_ops_ctx *ctx, dl_error *err) {
    cuda_backend *b = B(ctx);
    if (!b->capturing) check(b, cudaStreamSynchronize(b->stream), "stream synchronize");
    b->last_pass_staging = b->pass_staging;
    b->pass_staging = 0;
    dl_status s = b->status;
    if (s != DL_OK) {
        fail(err, s, "%s", b->message);
        b->status = DL_OK; /* a sticky CUDA error will come back on the next call */
    }
    return s;
}

/* ---- ops: glue --------------------------------------------------------------------------- */

static void cu_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y) {
    cuda_backend *b = B(ctx);
    if (rows <= 0 || cols <= 0) return;
    dim3 grid((cols + 31) / 32, (rows + 31) / 32), block(32, 8);
    k_transpose<<<grid, block, 0, b->stream>>>(rows, cols, x, y);
    launched(b, "transpose");
}

static void cu_scale_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *s,
                          float *y) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)rows * cols;
    if (!n) return;
    k_scale_rows<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, cols, x, s, y);
    launched(b, "scale_rows");
}

static void cu_topk_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx) {
    cuda_backend *b = B(ctx);
    if (k > rows) k = rows;
    if (k <= 0) return;
    float *best = ctx->scratch; /* [rows] */
    k_row_max<<<(rows + 255) / 256, 256, 0, b->stream>>>(rows, cols, x, best);
    launched(b, "topk_rows (row max)");
    k_topk_rank<<<(rows + 255) / 256, 256, 0, b->stream>>>(rows, k, best, idx);
    launched(b, "topk_rows (rank)");
}

static void cu_gather_rows(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src,
                           float *dst) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)k * cols;
    if (!n) return;
    k_gather_rows<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, cols, idx, src, dst);
    launched(b, "gather_rows");
}

static bool levels(cuda_backend *b, int n, level_info *lv) {
    if (n < 1 || n > kMaxLevels) {
        record(b, DL_ERR_UNSUPPORTED, "the CUDA backend handles 1..%d feature levels, not %d",
               kMaxLevels, n);
        return false;
    }
    memset(lv, 0, sizeof *lv);
    lv->n = n;
    return true;
}

static void cu_deform_locations(dl_ops_ctx *ctx, int q, int heads, int n_levels,
                                const int *level_points, int total_points, float offset_scale,
                                const float *ref, float *off) {
    cuda_backend *b = B(ctx);
    level_info lv;
    if (!levels(b, n_levels, &lv)) return;
    for (int l = 0; l < n_levels; l++) lv.points[l] = level_points[l];
    size_t n = (size_t)q * heads * total_points;
    if (!n) return;
    k_deform_locations<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, total_points, lv,
                                                                  offset_scale, ref, heads, off);
    launched(b, "deform_locations");
}

static void cu_box_refine(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref) {
    cuda_backend *b = B(ctx);
    if (!n) return;
    k_box_refine<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, delta, ref);
    launched(b, "box_refine");
}

/* ---- ops: convolution and linear --------------------------------------------------------- */

static bool conv_is_1x1(const dl_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
           d->pad_left == 0 && d->groups == 1 && d->out_h == d->in_h && d->out_w == d->in_w;
}

/* output pixels per im2col chunk */
static int conv_chunk(const dl_conv2d_desc *d) {
    size_t K = (size_t)d->cin * d->kh * d->kw, ohw = (size_t)d->out_h * d->out_w;
    if (K * ohw <= kIm2colCapFloats) return (int)ohw;
    size_t c = kIm2colCapFloats / K / 128 * 128;
    return (int)std::max<size_t>(c, 128);
}

static size_t cu_conv2d_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    const cuda_backend *b = B(ctx);
    bool low = low_precision(b);
    if (d->groups != 1) return 0;
    size_t K = (size_t)d->cin * d->kh * d->kw;
    if (conv_is_1x1(d)) return low ? ((size_t)d->cin * d->in_h * d->in_w + 1) / 2 + 64 : 0;
    size_t n = K * (size_t)conv_chunk(d);
    return (low ? (n + 1) / 2 : n) + 64;
}

static size_t cu_linear_scratch(const dl_ops_ctx *ctx, int t, int n, int k) {
    return low_precision(B(ctx)) ? ((size_t)t * k + 1) / 2 + 64 : 0;
}

static void cu_conv2d(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x, const float *w,
                      const float *bias, const float *residual, dl_act act, float *y) {
    cuda_backend *b = B(ctx);
    const float *wd = map_w(b, w), *bd = map_w(b, bias);
    size_t ohw = (size_t)d->out_h * d->out_w, n = ohw * d->cout;
    if (!n) return;
    if (d->groups != 1) {
        k_conv_direct<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, *d, x, wd, bd, residual, act, y);
        launched(b, "conv2d (direct)");
        return;
    }
    int K = d->cin * d->kh * d->kw;
    const void *wl = low_precision(b) ? map_low(b, w) : nullptr;
    bool low = wl != nullptr; /* an unregistered weight runs in float32 */
    /* a residual that aliases y is accumulated by the GEMM (beta 1); else by the epilogue */
    float beta = residual && residual == y ? 1.0f : 0.0f;
    const float *res = residual && residual != y ? residual : nullptr;
    if (conv_is_1x1(d)) {
        /* y[Cout, HW] = W[Cout, Cin] x[Cin, HW]: column-major C(HW x Cout) = X(HW x Cin) W(Cin x Cout) */
        if (low) {
            convert_low(b, (size_t)d->cin * ohw, x, ctx->scratch);
            gemm_low(b, false, false, (int)ohw, d->cout, K, ctx->scratch, (int)ohw, wl, K, beta, y,
                     (int)ohw);
        } else {
            gemm_f32(b, false, false, (int)ohw, d->cout, K, x, (int)ohw, wd, K, beta, y, (int)ohw);
        }
    } else {
        int chunk = conv_chunk(d);
        for (int p0 = 0; p0 < (int)ohw; p0 += chunk) {
            int np = std::min(chunk, (int)ohw - p0);
            size_t cn = (size_t)np * K;
            unsigned g = blocks_for(cn, 256);
            if (low && b->precision == DL_PRECISION_FP16)
                k_im2col<__half><<<g, 256, 0, b->stream>>>(cn, np, p0, d->cin, 0, d->kh, d->kw,
                    d->stride_h, d->stride_w, d->pad_top, d->pad_left, d->in_h, d->in_w, d->out_w,
                    x, (__half *)ctx->scratch);
            else if (low)
                k_im2col<__nv_bfloat16><<<g, 256, 0, b->stream>>>(cn, np, p0, d->cin, 0, d->kh,
                    d->kw, d->stride_h, d->stride_w, d->pad_top, d->pad_left, d->in_h, d->in_w,
                    d->out_w, x, (__nv_bfloat16 *)ctx->scratch);
            else
                k_im2col<float><<<g, 256, 0, b->stream>>>(cn, np, p0, d->cin, 0, d->kh, d->kw,
                    d->stride_h, d->stride_w, d->pad_top, d->pad_left, d->in_h, d->in_w, d->out_w,
                    x, ctx->scratch);
            launched(b, "conv2d (im2col)");
            if (low)
                gemm_low(b, false, false, np, d->cout, K, ctx->scratch, np, wl, K, beta, y + p0,
                         (int)ohw);
            else
                gemm_f32(b, false, false, np, d->cout, K, ctx->scratch, np, wd, K, beta, y + p0,
                         (int)ohw);
        }
    }
    if (bd || res || act != DL_ACT_NONE) {
        k_conv_epilogue<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, (int)ohw, bd, res, act, y);
        launched(b, "conv2d (epilogue)");
    }
}

static void cu_linear(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx,
                      const float *w, const float *bias, dl_act act, float *y, int ldy) {
    cuda_backend *b = B(ctx);
    if (t <= 0 || n <= 0) return;
    const float *wd = map_w(b, w), *bd = map_w(b, bias);
    const void *wl = low_precision(b) ? map_low(b, w) : nullptr;
    /* y[T, N] = x[T, K] W[N, K]^T: column-major C(N x T) = W^T(N x K) X(K x T) */
    if (wl) {
        size_t cnt = (size_t)t * k;
        if (b->precision == DL_PRECISION_FP16)
            k_convert_rows<__half><<<blocks_for(cnt, 256), 256, 0, b->stream>>>(cnt, k, x, ldx,
                                                                                (__half *)ctx->scratch);
        else
            k_convert_rows<__nv_bfloat16><<<blocks_for(cnt, 256), 256, 0, b->stream>>>(
                cnt, k, x, ldx, (__nv_bfloat16 *)ctx->scratch);
        launched(b, "linear (convert)");
        gemm_low(b, true, false, n, t, k, wl, k, ctx->scratch, k, 0.0f, y, ldy);
    } else {
        gemm_f32(b, true, false, n, t, k, wd, k, x, ldx, 0.0f, y, ldy);
    }
    if (bd || act != DL_ACT_NONE) {
        size_t tot = (size_t)t * n;
        k_linear_epilogue<<<blocks_for(tot, 256), 256, 0, b->stream>>>(tot, n, ldy, bd, act, y);
        launched(b, "linear (epilogue)");
    }
}

/* ---- ops: the rest ----------------------------------------------------------------------- */

static void cu_layer_norm(dl_ops_ctx *ctx, int t, int d, const float *x, const float *residual,
                          const float *gamma, const float *beta, float eps, float *y) {
    cuda_backend *b = B(ctx);
    if (t <= 0) return;
    k_layer_norm<<<(t + 7) / 8, 256, 0, b->stream>>>(t, d, x, residual, map_w(b, gamma),
                                                     map_w(b, beta), eps, y);
    launched(b, "layer_norm");
}

static void cu_attention(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q,
                         int ldq, const float *k, int ldk, const float *v, int ldv, float *out,
                         int ldo) {
    cuda_backend *b = B(ctx);
    if (t <= 0 || heads <= 0) return;
    const int threads = 128;
    int groups = head_dim <= threads ? threads / head_dim : 0;
    size_t smem = ((size_t)head_dim + s + (size_t)groups * head_dim) * sizeof(float);
    if (smem > kAttnSmemCap) {
        record(b, DL_ERR_UNSUPPORTED,
               "attention over %d keys (head_dim %d) needs %zu bytes of shared memory, more than "
               "the %zu this backend allows a block", s, head_dim, smem, kAttnSmemCap);
        return;
    }
    dim3 grid(t, heads);
    k_attention<<<grid, threads, smem, b->stream>>>(t, s, heads, head_dim,
                                                    1.0f / sqrtf((float)head_dim), q, ldq, k, ldk,
                                                    v, ldv, out, ldo);
    launched(b, "attention");
}

static void cu_deform_attn(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value,
                           const float *loc, const float *weight, float *out) {
    cuda_backend *b = B(ctx);
    deform_params dp;
    if (!levels(b, d->n_levels, &dp.lv)) return;
    for (int l = 0; l < d->n_levels; l++) {
        dp.lv.points[l] = d->level_points[l];
        dp.lv.h[l] = d->level_h[l];
        dp.lv.w[l] = d->level_w[l];
        dp.lv.start[l] = d->level_start[l];
    }
    dp.q = d->n_queries;
    dp.heads = d->n_heads;
    dp.dh = d->head_dim;
    dp.total_points = d->total_points;
    dp.discrete = d->discrete;
    int ld = d->n_heads * d->head_dim;
    if (dp.q <= 0 || ld <= 0) return;
    dim3 grid(dp.q, (ld + 127) / 128);
    k_deform_attn<<<grid, 128, 0, b->stream>>>(dp, value, loc, weight, out);
    launched(b, "deform_attn");
}

static void cu_max_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int pad,
                          int out_h, int out_w, const float *x, float *y) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)c * out_h * out_w;
    if (!n) return;
    k_max_pool<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, h, w, k, stride, pad, out_h, out_w, x, y);
    launched(b, "max_pool2d");
}

static void cu_avg_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int out_h,
                          int out_w, const float *x, float *y) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)c * out_h * out_w;
    if (!n) return;
    k_avg_pool<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, h, w, k, stride, out_h, out_w, x, y);
    launched(b, "avg_pool2d");
}

static void cu_upsample2x(dl_ops_ctx *ctx, int c, int h, int w, const float *x, float *y) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)c * 4 * h * w;
    if (!n) return;
    k_upsample2x<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, h, w, x, y);
    launched(b, "upsample2x");
}

static void cu_softmax_rows(dl_ops_ctx *ctx, int rows, int n, float *x) {
    cuda_backend *b = B(ctx);
    if (rows <= 0 || n <= 0) return;
    k_softmax_rows<<<(rows + 7) / 8, 256, 0, b->stream>>>(rows, n, x);
    launched(b, "softmax_rows");
}

static void cu_activate(dl_ops_ctx *ctx, size_t n, dl_act act, float *x) {
    cuda_backend *b = B(ctx);
    if (!n || act == DL_ACT_NONE) return;
    k_activate<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, act, x);
    launched(b, "activate");
}

static void cu_add(dl_ops_ctx *ctx, size_t n, const float *a, const float *bb, float *y) {
    cuda_backend *b = B(ctx);
    if (!n) return;
    k_add<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, map_w(b, a), map_w(b, bb), y);
    launched(b, "add");
}

static dl_ops make_ops(const char *name) {
    dl_ops o;
    memset(&o, 0, sizeof o);
    o.name = name;
    o.device = true;
    o.mem_alloc = cu_mem_alloc;
    o.mem_free = cu_mem_free;
    o.upload = cu_upload;
    o.download = cu_download;
    o.copy = cu_copy;
    o.sync = cu_sync;
    o.transpose = cu_transpose;
    o.scale_rows = cu_scale_rows;
    o.topk_rows = cu_topk_rows;
    o.gather_rows = cu_gather_rows;
    o.deform_locations = cu_deform_locations;
    o.box_refine = cu_box_refine;
    o.conv2d_scratch = cu_conv2d_scratch;
    o.linear_scratch = cu_linear_scratch;
    o.conv2d = cu_conv2d;
    o.linear = cu_linear;
    o.layer_norm = cu_layer_norm;
    o.attention = cu_attention;
    o.deform_attn = cu_deform_attn;
    o.max_pool2d = cu_max_pool2d;
    o.avg_pool2d = cu_avg_pool2d;
    o.upsample2x = cu_upsample2x;
    o.softmax_rows = cu_softmax_rows;
    o.activate = cu_activate;
    o.add = cu_add;
    return o;
}

static const dl_ops ops_fp32 = make_ops("cuda-fp32");
static const dl_ops ops_bf16 = make_ops("cuda-bf16");
static const dl_ops ops_fp16 = make_ops("cuda-fp16");

/* ---- weights ----------------------------------------------------------------------------- */

static dl_status map_weights(dl_cuda_backend *pub, void *const *ptrs, const size_t *bytes,
                             size_t n, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (b->wdev) return fail(err, DL_ERR_INTERNAL, "map_weights called twice");
    cudaSetDevice(b->device);
    std::vector<wrange> r;
    r.reserve(n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ptrs[i] || !bytes[i]) continue;
        r.push_back({(uintptr_t)ptrs[i], bytes[i], total});
        total += (bytes[i] + 255) / 256 * 256;
    }
    std::sort(r.begin(), r.end(), [](const wrange &a, const wrange &c) { return a.host < c.host; });
    for (size_t i = 1; i < r.size(); i++)
        if (r[i - 1].host + r[i - 1].bytes > r[i].host)
            return fail(err, DL_ERR_INTERNAL, "map_weights: overlapping host ranges");
    cudaError_t e = cudaMalloc(&b->wdev, total ? total : 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        b->wdev = nullptr;
        return fail(err, status_of(e), "cuda:%d: cannot allocate %.1f MB for the weights: %s",
                    b->device, total / 1e6, cudaGetErrorString(e));
    }
    for (const wrange &w : r) {
        e = cudaMemcpy(b->wdev + w.off, (const void *)w.host, w.bytes, cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            return fail(err, status_of(e), "cuda:%d: uploading the weights: %s", b->device,
                        cudaGetErrorString(e));
    }
    if (low_precision(b)) {
        e = cudaMalloc(&b->wlow, total / 2 + 256);
        if (e != cudaSuccess) {
            cudaGetLastError();
            b->wlow = nullptr;
            return fail(err, status_of(e), "cuda:%d: cannot allocate %.1f MB for the %s weights",
                        b->device, total / 2e6, b->pub.ops->name);
        }
        size_t nf = total / sizeof(float);
        convert_low(b, nf, (const float *)b->wdev, b->wlow);
        check(b, cudaStreamSynchronize(b->stream), "weights conversion");
        if (b->status != DL_OK) {
            dl_status s = fail(err, b->status, "%s", b->message);
            b->status = DL_OK;
            return s;
        }
    }
    b->ranges.swap(r);
    return DL_OK;
}

/* ---- CUDA graphs ------------------------------------------------------------------------- */

static void graph_drop(dl_cuda_backend *pub) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (b->capturing) { /* abandon a capture in progress */
        cudaGraph_t g = nullptr;
        cudaStreamEndCapture(b->stream, &g);
        if (g) cudaGraphDestroy(g);
        b->capturing = false;
    }
    if (b->graph_exec) cudaGraphExecDestroy(b->graph_exec);
    if (b->graph) cudaGraphDestroy(b->graph);
    b->graph_exec = nullptr;
    b->graph = nullptr;
    b->downloads.clear();
    b->pinned_used = 0;
    cudaGetLastError(); /* capture failures are not sticky; the caller runs eagerly */
    b->status = DL_OK;
}

static dl_status graph_begin(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    graph_drop(pub);
    cudaSetDevice(b->device);
    /* staging for the pass's uploads and downloads, from what the last eager pass moved */
    size_t need = b->last_pass_staging + (64u << 10);
    if (need > b->pinned_size) {
        if (b->pinned) cudaFreeHost(b->pinned);
        b->pinned = nullptr;
        b->pinned_size = 0;
        cudaError_t e = cudaMallocHost((void **)&b->pinned, need);
        if (e != cudaSuccess) {
            cudaGetLastError();
            return fail(err, status_of(e), "CUDA graph: pinned staging: %s", cudaGetErrorString(e));
        }
        b->pinned_size = need;
    }
    b->pinned_used = 0;
    cudaError_t e = cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "CUDA graph capture: %s", cudaGetErrorString(e));
    }
    b->capturing = true;
    return DL_OK;
}

static dl_status graph_end(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b->capturing) return fail(err, DL_ERR_INTERNAL, "graph_end without graph_begin");
    b->capturing = false;
    cudaError_t e = cudaStreamEndCapture(b->stream, &b->graph);
    if (e == cudaSuccess && b->status == DL_OK)
        e = cudaGraphInstantiate(&b->graph_exec, b->graph, 0);
    if (e != cudaSuccess || b->status != DL_OK) {
        dl_status s = fail(err, DL_ERR_BACKEND, "CUDA graph capture failed: %s",
                           b->status != DL_OK ? b->message : cudaGetErrorString(e));
        graph_drop(pub);
        return s;
    }
    return DL_OK;
}

/* Start a replay on the backend's stream and return at once (detector lanes overlap). */
static dl_status graph_launch_async(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b->graph_exec) return fail(err, DL_ERR_INTERNAL, "no CUDA graph to launch");
    cudaSetDevice(b->device);
    check(b, cudaGraphLaunch(b->graph_exec, b->stream), "graph launch");
    if (b->status != DL_OK) {
        dl_status s = fail(err, b->status, "%s", b->message);
        b->status = DL_OK;
        return s;
    }
    return DL_OK;
}

/* Wait for the replay started by graph_launch_async and finish its downloads. */
static dl_status graph_wait(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    cudaSetDevice(b->device);
    check(b, cudaStreamSynchronize(b->stream), "graph launch");
    if (b->status != DL_OK) {
        dl_status s = fail(err, b->status, "%s", b->message);
        b->status = DL_OK;
        return s;
    }
    for (const staged &s : b->downloads) memcpy(s.dst, s.pinned, s.bytes);
    return DL_OK;
}

static dl_status graph_launch(dl_cuda_backend *pub, dl_error *err) {
    dl_status s = graph_launch_async(pub, err);
    return s == DL_OK ? graph_wait(pub, err) : s;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void backend_close(dl_cuda_backend *pub) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b) return;
    cudaSetDevice(b->device);
    graph_drop(pub);
    if (b->stream) cudaStreamSynchronize(b->stream);
    if (b->pinned) cudaFreeHost(b->pinned);
    if (b->wdev) cudaFree(b->wdev);
    if (b->wlow) cudaFree(b->wlow);
    if (b->blas) cublasDestroy(b->blas);
    if (b->blas_ws) cudaFree(b->blas_ws);
    if (b->stream) cudaStreamDestroy(b->stream);
    cudaGetLastError();
    delete b;
}

/* "90,120,121" -> whether any entry runs on compute capability `sm` */
static bool arch_list_runs(const char *list, int sm, bool ptx) {
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p) break;
        /* real code: same major, minor <= the device's; PTX: any older-or-equal target */
        if (ptx ? a <= sm : (a / 10 == sm / 10 && a <= sm)) return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

static void arch_list_text(char *out, size_t n) {
    size_t len = 0;
    out[0] = '\0';
    const char *lists[2] = {DL_CUDA_SASS, DL_CUDA_PTX};
    for (int k = 0; k < 2; k++) {
        const char *p = lists[k];
        while (*p && len + 16 < n) {
            char *end;
            long a = strtol(p, &end, 10);
            if (end == p) break;
            len += snprintf(out + len, n - len, "%s%s_%ld", len ? ", " : "", k ? "compute" : "sm", a);
            p = *end ? end + 1 : end;
        }
    }
}

static dl_status open_impl(const dl_cuda_open_args *a, dl_cuda_backend **out, dl_error *err) {
    int drv = 0, rt = 0;
    cudaRuntimeGetVersion(&rt);
    cudaError_t e = cudaDriverGetVersion(&drv);
    if (e != cudaSuccess || drv == 0)
        return fail(err, DL_ERR_BACKEND,
                    "device cuda: no NVIDIA driver found (libcuda.so.1 is missing or fails to "
                    "load), so CUDA cannot run here");
    if (drv < rt)
        return fail(err, DL_ERR_BACKEND,
                    "device cuda: the NVIDIA driver supports CUDA %d.%d, but this "
                    "libdoclayout_cuda.so was built with CUDA %d.%d: update the driver or build "
                    "the module with an older toolkit", drv / 1000, drv % 1000 / 10, rt / 1000,
                    rt % 1000 / 10);
    int count = 0;
    e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda: the NVIDIA driver is too old for CUDA %d.%d",
                    rt / 1000, rt % 1000 / 10);
    }
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda: no CUDA device is present%s%s",
                    e != cudaSuccess ? ": " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
    }
    if (a->device < 0 || a->device >= count)
        return fail(err, DL_ERR_BACKEND, "device cuda:%d does not exist (%d CUDA device%s: 0..%d)",
                    a->device, count, count == 1 ? "" : "s", count - 1);
    e = cudaSetDevice(a->device);
    cudaDeviceProp prop;
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, a->device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda:%d: %s", a->device, cudaGetErrorString(e));
    }
    int sm = prop.major * 10 + prop.minor;
    char built[160];
    arch_list_text(built, sizeof built);
    cudaFuncAttributes fa;
    cudaError_t pe = cudaFuncGetAttributes(&fa, k_probe);
    if (pe == cudaSuccess) /* attention may use up to kAttnSmemCap of dynamic shared memory */
        pe = cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)std::min<size_t>(kAttnSmemCap, prop.sharedMemPerBlockOptin - 1024));
    if (pe != cudaSuccess) cudaGetLastError();
    if (pe == cudaErrorNoKernelImageForDevice ||
        (!arch_list_runs(DL_CUDA_SASS, sm, false) && !arch_list_runs(DL_CUDA_PTX, sm, true) &&
         pe != cudaSuccess))
        return fail(err, DL_ERR_BACKEND,
                    "device cuda:%d (%s) is sm_%d, and libdoclayout_cuda.so has no code for sm_%d "
                    "(built for %s): rebuild it with -DCMAKE_CUDA_ARCHITECTURES=\"%d-real\" added",
                    a->device, prop.name, sm, sm, built, sm);
    if (pe != cudaSuccess)
        return fail(err, DL_ERR_BACKEND, "device cuda:%d (%s): %s", a->device, prop.name,
                    cudaGetErrorString(pe));

    cuda_backend *b = new (std::nothrow) cuda_backend();
    if (!b) return fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    b->device = a->device;
    b->precision = a->precision == DL_PRECISION_DEFAULT ? DL_PRECISION_BF16 : a->precision;
    b->status = DL_OK;
    const char *g = getenv("DOCLAYOUT_CUDA_GEMM");
    b->own_gemm = g && strcmp(g, "own") == 0;
    b->pub.abi = DL_CUDA_ABI;
    b->pub.ops = b->precision == DL_PRECISION_FP32   ? &ops_fp32
                 : b->precision == DL_PRECISION_FP16 ? &ops_fp16
                                                     : &ops_bf16;
    b->pub.ctx = b;
    b->pub.sm = sm;
    snprintf(b->pub.device_name, sizeof b->pub.device_name, "cuda:%d (%.80s, sm_%d)", a->device,
             prop.name, sm);
    b->pub.map_weights = map_weights;
    b->pub.graph_begin = graph_begin;
    b->pub.graph_end = graph_end;
    b->pub.graph_launch = graph_launch;
    b->pub.graph_launch_async = graph_launch_async;
    b->pub.graph_wait = graph_wait;
    b->pub.graph_drop = graph_drop;
    b->pub.close = backend_close;
    e = cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        dl_status s = fail(err, status_of(e), "device cuda:%d: cannot create a stream: %s",
                           a->device, cudaGetErrorString(e));
        backend_close(&b->pub);
        return s;
    }
    cublasStatus_t bs = cublasCreate(&b->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        b->blas = nullptr;
        dl_status s = fail(err, bs == CUBLAS_STATUS_ALLOC_FAILED ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND,
                           "device cuda:%d: cuBLAS initialisation failed: %s", a->device,
                           blas_name(bs));
        backend_close(&b->pub);
        return s;
    }
    /* our own workspace: cuBLAS then allocates nothing inside a CUDA graph capture */
    const size_t ws = 32u << 20;
    e = cudaMalloc(&b->blas_ws, ws);
    if (e == cudaSuccess) bs = cublasSetWorkspace(b->blas, b->blas_ws, ws);
    if (e != cudaSuccess || bs != CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        dl_status s = fail(err, DL_ERR_OUT_OF_MEMORY, "device cuda:%d: no memory for the cuBLAS "
                           "workspace", a->device);
        backend_close(&b->pub);
        return s;
    }
    cublasSetStream(b->blas, b->stream);
    /* float32 means float32: no TF32 tensor-core rounding in the parity mode */
    cublasSetMathMode(b->blas, CUBLAS_DEFAULT_MATH);
    *out = &b->pub;
    return DL_OK;
}

DL_EXPORT dl_status dl_cuda_backend_open(const dl_cuda_open_args *a, dl_cuda_backend **out,
                                         dl_error *err) {
    if (!out) return fail(err, DL_ERR_INVALID_ARGUMENT, "dl_cuda_backend_open: out is NULL");
    *out = nullptr;
    if (!a) return fail(err, DL_ERR_INVALID_ARGUMENT, "dl_cuda_backend_open: args is NULL");
    if (a->abi != DL_CUDA_ABI)
        return fail(err, DL_ERR_BACKEND,
                    "libdoclayout_cuda.so speaks interface version %d, the library %d: install "
                    "the module built with this doclayout", DL_CUDA_ABI, a->abi);
    if (a->precision != DL_PRECISION_DEFAULT && a->precision != DL_PRECISION_FP32 &&
        a->precision != DL_PRECISION_FP16 && a->precision != DL_PRECISION_BF16)
        return fail(err, DL_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)a->precision);
    try {
        return open_impl(a, out, err);
    } catch (...) {
        return fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory opening the CUDA backend");
    }
}
