/* CUDA backend: Glue ops: transposes, row scaling, query selection (top-k, gather), sampling
 * locations and box refinement. */
#include "backends/cuda/common.cuh"

namespace dlcu {

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

/* ---- ops: glue --------------------------------------------------------------------------- */

void cu_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y) {
    cuda_backend *b = B(ctx);
    if (rows <= 0 || cols <= 0) return;
    dim3 grid((cols + 31) / 32, (rows + 31) / 32), block(32, 8);
    k_transpose<<<grid, block, 0, b->stream>>>(rows, cols, x, y);
    launched(b, "transpose");
}

void cu_scale_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *s, float *y) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)rows * cols;
    if (!n) return;
    k_scale_rows<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, cols, x, s, y);
    launched(b, "scale_rows");
}

void cu_topk_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx) {
    cuda_backend *b = B(ctx);
    if (k > rows) k = rows;
    if (k <= 0) return;
    float *best = ctx->scratch; /* [rows] */
    k_row_max<<<(rows + 255) / 256, 256, 0, b->stream>>>(rows, cols, x, best);
    launched(b, "topk_rows (row max)");
    k_topk_rank<<<(rows + 255) / 256, 256, 0, b->stream>>>(rows, k, best, idx);
    launched(b, "topk_rows (rank)");
}

void cu_gather_rows(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src,
                    float *dst) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)k * cols;
    if (!n) return;
    k_gather_rows<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, cols, idx, src, dst);
    launched(b, "gather_rows");
}

bool levels(cuda_backend *b, int n, level_info *lv) {
    if (n < 1 || n > kMaxLevels) {
        record(b, DL_ERR_UNSUPPORTED, "the CUDA backend handles 1..%d feature levels, not %d",
               kMaxLevels, n);
        return false;
    }
    memset(lv, 0, sizeof *lv);
    lv->n = n;
    return true;
}

void cu_deform_locations(dl_ops_ctx *ctx, int q, int heads, int n_levels, const int *level_points,
                         int total_points, float offset_scale, const float *ref, float *off) {
    cuda_backend *b = B(ctx);
    level_info lv;
    if (!levels(b, n_levels, &lv)) return;
    for (int l = 0; l < n_levels; l++) lv.points[l] = level_points[l];
    size_t n = (size_t)q * heads * total_points;
    if (!n) return;
    k_deform_locations<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, total_points, lv, offset_scale,
                                                                  ref, heads, off);
    launched(b, "deform_locations");
}

void cu_box_refine(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref) {
    cuda_backend *b = B(ctx);
    if (!n) return;
    k_box_refine<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, delta, ref);
    launched(b, "box_refine");
}

} // namespace dlcu
