/* CUDA backend: Attention: dot-product attention and multi-scale deformable attention. */
#include "backends/cuda/common.cuh"

namespace dlcu {

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

void cu_attention(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q, int ldq,
                  const float *k, int ldk, const float *v, int ldv, float *out, int ldo) {
    cuda_backend *b = B(ctx);
    if (t <= 0 || heads <= 0) return;
    const int threads = 128;
    int groups = head_dim <= threads ? threads / head_dim : 0;
    size_t smem = ((size_t)head_dim + s + (size_t)groups * head_dim) * sizeof(float);
    if (smem > kAttnSmemCap) {
        record(b, DL_ERR_UNSUPPORTED,
               "attention over %d keys (head_dim %d) needs %zu bytes of shared memory, more than "
               "the %zu this backend allows a block",
               s, head_dim, smem, kAttnSmemCap);
        return;
    }
    dim3 grid(t, heads);
    k_attention<<<grid, threads, smem, b->stream>>>(
        t, s, heads, head_dim, 1.0f / sqrtf((float)head_dim), q, ldq, k, ldk, v, ldv, out, ldo);
    launched(b, "attention");
}

void cu_deform_attn(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value, const float *loc,
                    const float *weight, float *out) {
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

cudaError_t attention_allow_smem(int bytes) {
    return cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

} // namespace dlcu
