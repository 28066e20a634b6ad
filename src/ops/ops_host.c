/*
 * Memory and glue ops for backends whose activations live in host memory (the CPU tables).
 * Plain loops: these move little data next to the convolutions and matrix products.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "ops/ops.h"

void *dl_host_mem_alloc(dl_ops_ctx *ctx, size_t bytes) {
    (void)ctx;
    return dl_alloc_aligned(bytes);
}

void dl_host_mem_free(dl_ops_ctx *ctx, void *p) {
    (void)ctx;
    dl_free_aligned(p);
}

void dl_host_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (dst != src && bytes) memmove(dst, src, bytes);
}

dl_status dl_host_sync(dl_ops_ctx *ctx, dl_error *err) {
    (void)ctx;
    (void)err;
    return DL_OK;
}

void dl_host_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y) {
    (void)ctx;
    /* blocked so that both sides stay in cache */
    const int B = 32;
    for (int r0 = 0; r0 < rows; r0 += B)
        for (int c0 = 0; c0 < cols; c0 += B)
            for (int r = r0; r < rows && r < r0 + B; r++)
                for (int c = c0; c < cols && c < c0 + B; c++)
                    y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
}

void dl_host_scale_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, const float *scale,
                        float *y) {
    (void)ctx;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) y[(size_t)r * cols + c] = x[(size_t)r * cols + c] * scale[r];
}

/* a is weaker than b: lower score, or equal score and higher index */
static int weaker(const float *s, int a, int b) { return s[a] < s[b] || (s[a] == s[b] && a > b); }

static void sift_down(const float *s, int *heap, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && weaker(s, heap[l], heap[m])) m = l;
        if (r < n && weaker(s, heap[r], heap[m])) m = r;
        if (m == i) return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

void dl_topk(const float *scores, int n, int k, int *idx, int *tmp) {
    if (k > n) k = n;
    if (k <= 0) return;
    int *heap = tmp; /* min-heap of the k strongest seen so far */
    for (int i = 0; i < k; i++) heap[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(scores, heap, k, i);
    for (int i = k; i < n; i++) {
        if (weaker(scores, heap[0], i)) {
            heap[0] = i;
            sift_down(scores, heap, k, 0);
        }
    }
    for (int m = k; m > 0; m--) { /* pop weakest first into the back */
        idx[m - 1] = heap[0];
        heap[0] = heap[m - 1];
        sift_down(scores, heap, m - 1, 0);
    }
}

void dl_host_topk_rows(dl_ops_ctx *ctx, int rows, int cols, const float *x, int k, int *idx) {
    float *best = ctx->scratch;       /* [rows] */
    int *heap = (int *)(best + rows); /* [k] */
    for (int r = 0; r < rows; r++) {
        float m = -INFINITY;
        for (int c = 0; c < cols; c++) {
            /* fmaxf without the library call: a NaN is skipped */
            float v = x[(size_t)r * cols + c];
            m = (v > m || m != m) ? v : m;
        }
        best[r] = m;
    }
    dl_topk(best, rows, k, idx, heap);
}

void dl_host_gather_rows(dl_ops_ctx *ctx, int k, int cols, const int *idx, const float *src,
                         float *dst) {
    (void)ctx;
    for (int i = 0; i < k; i++)
        memcpy(dst + (size_t)i * cols, src + (size_t)idx[i] * cols, (size_t)cols * sizeof(float));
}

void dl_host_deform_locations(dl_ops_ctx *ctx, int q, int heads, int n_levels,
                              const int *level_points, int total_points, float offset_scale,
                              const float *ref, float *off) {
    (void)ctx;
    for (int i = 0; i < q; i++) {
        const float *r = ref + (size_t)i * 4;
        for (int h = 0; h < heads; h++) {
            float *o = off + ((size_t)i * heads + h) * total_points * 2;
            int p = 0;
            for (int l = 0; l < n_levels; l++) {
                float scale = 1.0f / (float)level_points[l];
                for (int k = 0; k < level_points[l]; k++, p++) {
                    o[p * 2] = r[0] + o[p * 2] * scale * r[2] * offset_scale;
                    o[p * 2 + 1] = r[1] + o[p * 2 + 1] * scale * r[3] * offset_scale;
                }
            }
        }
    }
}

void dl_host_box_refine(dl_ops_ctx *ctx, size_t n, const float *delta, float *ref) {
    (void)ctx;
    const float eps = 1e-5f;
    for (size_t i = 0; i < n; i++) {
        float x = ref[i] < 0.0f ? 0.0f : (ref[i] > 1.0f ? 1.0f : ref[i]);
        float x1 = x < eps ? eps : x, x2 = (1.0f - x) < eps ? eps : (1.0f - x);
        float v = delta[i] + logf(x1 / x2);
        ref[i] = 1.0f / (1.0f + expf(-v));
    }
}
