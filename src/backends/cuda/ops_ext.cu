/* CUDA backend: kernels of the op registry (ops/op_list.h), found by name. Each matches its
 * scalar reference in src/ops/op_NAME.c (tests/test_ops.c compares them). */
#include "backends/cuda/common.cuh"

namespace dlcu {

__global__ void k_fill(size_t n, float v, float *x) { GRID_STRIDE(i, n) x[i] = v; }

__global__ void k_clamp(size_t n, float lo, float hi, float *x) {
    GRID_STRIDE(i, n) x[i] = fminf(fmaxf(x[i], lo), hi);
}

__global__ void k_affine(size_t n, float s, float b, float *x) {
    GRID_STRIDE(i, n) x[i] = s * x[i] + b;
}

__global__ void k_concat_cols(size_t n, int A, int Bc, const float *a, const float *b, float *y) {
    GRID_STRIDE(i, n) {
        size_t r = i / (A + Bc);
        int c = (int)(i % (A + Bc));
        y[i] = c < A ? a[r * A + c] : b[r * Bc + (c - A)];
    }
}

__global__ void k_pad2d(size_t n, int H, int W, int OH, int OW, const float *x, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % OW), oy = (int)(i / OW % OH);
        size_t c = i / ((size_t)OW * OH);
        y[i] = oy < H && ox < W ? x[(c * H + oy) * W + ox] : 0.0f;
    }
}

__global__ void k_gate_mix(size_t n, int D, const float *g, const float *a, float *h) {
    GRID_STRIDE(i, n) {
        size_t r = i / D;
        int k = (int)(i % D);
        const float *gr = g + r * 2 * D;
        h[i] = gr[k] * h[i] + gr[D + k] * a[i];
    }
}

__global__ void k_add_row_scalar(size_t n, int N, const float *s, float *y) {
    GRID_STRIDE(i, n) y[i] += s[i / N];
}

/* one thread per query: 4 edge integrals in the reference's order, then the box */
__global__ void k_fdr_boxes(int T, int bins, float rs, const float *prob, const float *W,
                            const float *ref0, float *box) {
    int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= T) return;
    float dist[4];
    for (int e = 0; e < 4; e++) {
        const float *pr = prob + ((size_t)q * 4 + e) * bins;
        float s = 0.0f;
        for (int n = 0; n < bins; n++) s += pr[n] * W[n];
        dist[e] = s;
    }
    const float *p0 = ref0 + (size_t)q * 4;
    float x1 = p0[0] - (0.5f * rs + dist[0]) * (p0[2] / rs);
    float y1 = p0[1] - (0.5f * rs + dist[1]) * (p0[3] / rs);
    float x2 = p0[0] + (0.5f * rs + dist[2]) * (p0[2] / rs);
    float y2 = p0[1] + (0.5f * rs + dist[3]) * (p0[3] / rs);
    float *r = box + (size_t)q * 4;
    r[0] = (x1 + x2) / 2.0f;
    r[1] = (y1 + y2) / 2.0f;
    r[2] = x2 - x1;
    r[3] = y2 - y1;
}

/* one thread per row: the same insertion as the reference (top <= 32) */
__global__ void k_lqe_stats(int R, int bins, int top, const float *prob, float *stat) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    float st[32];
    const float *pr = prob + (size_t)r * bins;
    for (int t = 0; t < top; t++) st[t] = -INFINITY;
    for (int n = 0; n < bins; n++) {
        float v = pr[n];
        if (v <= st[top - 1]) continue;
        int t = top - 1;
        while (t > 0 && st[t - 1] < v) {
            st[t] = st[t - 1];
            t--;
        }
        st[t] = v;
    }
    float sum = 0.0f, *o = stat + (size_t)r * (top + 1);
    for (int t = 0; t < top; t++) {
        sum += st[t];
        o[t] = st[t];
    }
    o[top] = sum / (float)top;
}

/* one thread per cell, the reference's arithmetic */
__global__ void k_dense_decode(int L, int hw, int lw, int s, int W, int H, const float *hp,
                               float *logits, float *boxes) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hw) return;
    float ctr = 1.0f / (1.0f + expf(-hp[(size_t)(L + 4) * hw + i]));
    for (int k = 0; k < L; k++) {
        float sc = sqrtf(ctr / (1.0f + expf(-hp[(size_t)k * hw + i])));
        sc = fminf(fmaxf(sc, 1e-6f), 1.0f - 1e-6f);
        logits[(size_t)i * L + k] = logf(sc / (1.0f - sc));
    }
    float cx = ((float)(i % lw) + 0.5f) * (float)s, cy = ((float)(i / lw) + 0.5f) * (float)s;
    float d[4];
    for (int k = 0; k < 4; k++) d[k] = expf(fminf(hp[(size_t)(L + k) * hw + i], 8.0f)) * (float)s;
    float x0 = cx - d[0], y0 = cy - d[1], x1 = cx + d[2], y1 = cy + d[3];
    float *b = boxes + (size_t)i * 4;
    b[0] = (x0 + x1) / 2 / (float)W;
    b[1] = (y0 + y1) / 2 / (float)H;
    b[2] = (x1 - x0) / (float)W;
    b[3] = (y1 - y0) / (float)H;
}

static void op_fill(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    if (!a->n[0]) return;
    k_fill<<<blocks_for(a->n[0], 256), 256, 0, b->stream>>>(a->n[0], a->f[0], a->t[0]);
    launched(b, "fill");
}

static void op_clamp(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    if (!a->n[0]) return;
    k_clamp<<<blocks_for(a->n[0], 256), 256, 0, b->stream>>>(a->n[0], a->f[0], a->f[1], a->t[0]);
    launched(b, "clamp");
}

static void op_affine(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    if (!a->n[0]) return;
    k_affine<<<blocks_for(a->n[0], 256), 256, 0, b->stream>>>(a->n[0], a->f[0], a->f[1], a->t[0]);
    launched(b, "affine");
}

static void op_concat_cols(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)a->i[0] * (a->i[1] + a->i[2]);
    if (!n) return;
    k_concat_cols<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, a->i[1], a->i[2], a->t[0], a->t[1],
                                                             a->t[2]);
    launched(b, "concat_cols");
}

static void op_pad2d(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    int OH = a->i[1] + a->i[3], OW = a->i[2] + a->i[4];
    size_t n = (size_t)a->i[0] * OH * OW;
    if (!n) return;
    k_pad2d<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, a->i[1], a->i[2], OH, OW, a->t[0],
                                                       a->t[1]);
    launched(b, "pad2d");
}

static void op_gate_mix(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)a->i[0] * a->i[1];
    if (!n) return;
    k_gate_mix<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, a->i[1], a->t[0], a->t[1], a->t[2]);
    launched(b, "gate_mix");
}

static void op_add_row_scalar(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    size_t n = (size_t)a->i[0] * a->i[1];
    if (!n) return;
    k_add_row_scalar<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, a->i[1], a->t[0], a->t[1]);
    launched(b, "add_row_scalar");
}

static void op_fdr_boxes(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    int T = a->i[0];
    if (T <= 0) return;
    k_fdr_boxes<<<(T + 127) / 128, 128, 0, b->stream>>>(T, a->i[1], a->f[0], a->t[0], a->t[1],
                                                        a->t[2], a->t[3]);
    launched(b, "fdr_boxes");
}

static void op_lqe_stats(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    int R = a->i[0], top = a->i[2];
    if (R <= 0) return;
    if (top < 1 || top > 32) {
        record(b, DL_ERR_UNSUPPORTED, "lqe_stats: top %d (the CUDA kernel takes 1..32)", top);
        return;
    }
    k_lqe_stats<<<(R + 127) / 128, 128, 0, b->stream>>>(R, a->i[1], top, a->t[0], a->t[1]);
    launched(b, "lqe_stats");
}

static void op_dense_decode(dl_ops_ctx *ctx, const dl_op_args *a) {
    cuda_backend *b = B(ctx);
    int hw = a->i[1];
    if (hw <= 0) return;
    k_dense_decode<<<(hw + 127) / 128, 128, 0, b->stream>>>(a->i[0], hw, a->i[2], a->i[3], a->i[4],
                                                            a->i[5], a->t[0], a->t[1], a->t[2]);
    launched(b, "dense_decode");
}

struct named_kernel {
    const char *name;
    dl_op_kernel fn;
};

static const named_kernel kernels[] = {
    {"fill", op_fill},
    {"clamp", op_clamp},
    {"affine", op_affine},
    {"concat_cols", op_concat_cols},
    {"pad2d", op_pad2d},
    {"gate_mix", op_gate_mix},
    {"add_row_scalar", op_add_row_scalar},
    {"fdr_boxes", op_fdr_boxes},
    {"lqe_stats", op_lqe_stats},
    {"dense_decode", op_dense_decode},
};

dl_op_kernel find_kernel(const char *name) {
    for (const named_kernel &k : kernels)
        if (strcmp(k.name, name) == 0) return k.fn;
    return nullptr;
}

} // namespace dlcu
