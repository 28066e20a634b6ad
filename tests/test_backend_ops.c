/*
 * One op-test case list, run against every backend this machine has (ggml's test-backend-ops
 * is the model): every op of the fixed table and every registry op (ops/op_list.h) against
 * the scalar reference on odd shapes, with fresh random inputs and outputs poisoned with NaN
 * beforehand (an element a kernel forgets to write fails).
 *
 * Backends, in this order (main):
 *   - the CPU table at every kernel level this CPU runs (dl_cpu_levels: scalar, avx2,
 *     avx512, ...), with 1 and 3 threads (3-thread results equal the 1-thread ones bitwise);
 *   - CUDA: float32 (cuBLAS), float32 with our own SGEMM, bf16 and fp16 (loose tolerances);
 *     weights passed as registered host pointers (translated by the backend) and as plain
 *     device pointers. Skipped when the module is not built or no GPU is present, unless
 *     DOCLAYOUT_REQUIRE_CUDA=1 (scripts/gpu-check.sh sets it): then failing to open fails.
 *   - every other backend of the backend table (backends/backend.c), as a detector opens it:
 *     a new backend needs nothing here, nor does a new registry op (its file carries its
 *     test shapes). tests/test_ops.c keeps the CPU kernels' own variants (direct,
 * Winograd and GEMM paths forced one by one, scratch guards).
 */
#include <float.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/packed_weights.h"
#include "backends/cuda/loader.h"
#include "core/cpu_features.h"
#include "core/threadpool.h"
#include "test_util.h"

static unsigned rng = 12345;
static float frand(void) { /* [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}
static float *rnd(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* buffer index of the weight pool (register_weights) */
#define WPOOL_BUF 2u

/* ---- one backend under test -------------------------------------------------------------- */

typedef struct gpu {
    dl_cuda_backend *b; /* CUDA targets; NULL for a CPU table */
    dl_backend *tb;     /* a backend opened from the backend table (run_table_backends) */
    const char *device;
    const dl_ops *ops;
    dl_ops_ctx ctx;
    const char *label;
    double tol;   /* relative tolerance of conv/linear */
    float *wpool; /* host weights registered with the backend as buffer WPOOL_BUF */
    size_t wpool_n, wpool_used;
    float *wsmall;         /* buffer 0, registered before it (a reference must name its buffer) */
    dl_packed_weights *pw; /* the CPU table's weight state, as the CPU backend keeps it */
    /* CPU: the 1-thread results of this run, which the 3-thread run must equal bitwise */
    bool record, replay;
} gpu;

/* outputs of the recording run, in order, compared bitwise by the replaying run */
static float **recorded;
static size_t *recorded_n, n_recorded, n_replayed, cap_recorded;

static const dl_ops *ref;
static dl_ops_ctx rctx; /* reference context with host scratch */

static float *dev(gpu *g, size_t n) {
    float *p = g->ops->mem_alloc(&g->ctx, (n ? n : 1) * sizeof(float));
    CHECK(p != NULL);
    return p;
}
static float *up(gpu *g, const float *h, size_t n) {
    float *p = dev(g, n);
    g->ops->upload(&g->ctx, p, h, n * sizeof(float));
    return p;
}
/* device buffer filled with NaN */
static float *poisoned(gpu *g, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    float *p = up(g, h, n);
    free(h);
    return p;
}
static float *down(gpu *g, const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    g->ops->download(&g->ctx, h, d, n * sizeof(float));
    return h;
}
static void dfree(gpu *g, void *p) { g->ops->mem_free(&g->ctx, p); }

/* `n` random floats inside the registered host pool (a weight as the models pass them) */
static dl_wref weight(gpu *g, size_t n) {
    if (g->wpool_used + n > g->wpool_n) {
        fprintf(stderr, "weight pool exhausted\n");
        exit(1);
    }
    dl_wref r = {g->wpool + g->wpool_used, WPOOL_BUF, g->wpool_used};
    g->wpool_used += (n + 63) / 64 * 64;
    return r;
}

/* The weight buffers a backend takes, as a model's: a small one, an empty index (a buffer the
 * builder freed), then the pool, so that a reference's buffer index and offset both count. */
static dl_status register_weights(gpu *g,
                                  dl_status (*take)(gpu *g, void *const *ptrs, const size_t *bytes,
                                                    size_t n, dl_error *err),
                                  dl_error *err) {
    g->wpool_n = (size_t)4 << 20;
    g->wpool = rnd(g->wpool_n, 0.5f);
    g->wsmall = rnd(256, 0.5f);
    void *ptrs[3] = {g->wsmall, NULL, g->wpool};
    size_t bytes[3] = {256 * sizeof(float), 0, g->wpool_n * sizeof(float)};
    return take(g, ptrs, bytes, 3, err);
}

static void scratch(gpu *g, size_t floats) {
    if (g->ctx.scratch_floats >= floats) return;
    if (g->ctx.scratch) dfree(g, g->ctx.scratch);
    g->ctx.scratch = dev(g, floats);
    g->ctx.scratch_floats = floats;
}

static void synced(gpu *g, const char *what) {
    dl_error err;
    dl_status s = g->ops->sync(&g->ctx, &err);
    CHECK_MSG(s == DL_OK, "%s %s: %s", g->label, what, err.message);
}

/* max |a - b| / max(1, max |b|), NaN counts as infinite */
static double rel_diff(const float *a, const float *b, size_t n) {
    double scale = 1.0, m = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d != d ? INFINITY : d;
    }
    return m / scale;
}

static void expect_close(gpu *g, const char *what, const float *got, const float *want, size_t n,
                         double tol) {
    double d = rel_diff(got, want, n);
    CHECK_MSG(d <= tol, "%s %s: relative difference %.3g > %.3g", g->label, what, d, tol);
    if (g->record) {
        if (n_recorded == cap_recorded) {
            cap_recorded = cap_recorded ? cap_recorded * 2 : 256;
            recorded = realloc(recorded, cap_recorded * sizeof *recorded);
            recorded_n = realloc(recorded_n, cap_recorded * sizeof *recorded_n);
        }
        recorded[n_recorded] = malloc((n ? n : 1) * sizeof(float));
        memcpy(recorded[n_recorded], got, n * sizeof(float));
        recorded_n[n_recorded++] = n;
    } else if (g->replay) {
        size_t i = n_replayed++;
        CHECK_MSG(i < n_recorded && recorded_n[i] == n &&
                      memcmp(recorded[i], got, n * sizeof(float)) == 0,
                  "%s %s: differs from the 1-thread result", g->label, what);
    }
}

static void forget_recorded(void) {
    for (size_t i = 0; i < n_recorded; i++) free(recorded[i]);
    n_recorded = n_replayed = 0;
}

static dl_status take_cuda(gpu *g, void *const *ptrs, const size_t *bytes, size_t n,
                           dl_error *err) {
    return g->b->map_weights(g->b, ptrs, bytes, n, err);
}
static dl_status take_cpu(gpu *g, void *const *ptrs, const size_t *bytes, size_t n, dl_error *err) {
    if (!dl_packed_weights_set_buffers(g->pw, ptrs, bytes, n)) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return DL_ERR_OUT_OF_MEMORY;
    }
    return DL_OK;
}
static dl_status take_table(gpu *g, void *const *ptrs, const size_t *bytes, size_t n,
                            dl_error *err) {
    return g->tb->upload_weights ? g->tb->upload_weights(g->tb, ptrs, bytes, n, err) : DL_OK;
}

static gpu *open_gpu(dl_precision p, const char *label, double tol, dl_error *err) {
    gpu *g = calloc(1, sizeof *g);
    if (dl_cuda_open(0, p, &g->b, err) != DL_OK) {
        free(g);
        return NULL;
    }
    g->ops = g->b->ops;
    g->device = g->b->device_name;
    g->ctx.backend = g->b->ctx;
    g->label = label;
    g->tol = tol;
    /* weights: a host pool of random values, registered once as the model's would be */
    if (register_weights(g, take_cuda, err) != DL_OK) {
        g->b->close(g->b);
        free(g->wpool);
        free(g->wsmall);
        free(g);
        return NULL;
    }
    return g;
}

/* The CPU table on `pool`: host memory, weights read where they are. */
static gpu *open_cpu(dl_threadpool *pool, const char *label) {
    gpu *g = calloc(1, sizeof *g);
    g->ops = dl_ops_cpu();
    g->device = "cpu";
    g->ctx.pool = pool;
    g->label = label;
    g->tol = 1e-5;
    /* the weight state the CPU backend gives its ops: weights packed once, references checked */
    g->pw = dl_packed_weights_new((size_t)1 << 30);
    CHECK(g->pw != NULL);
    g->ctx.backend = g->pw;
    dl_error err;
    CHECK(register_weights(g, take_cpu, &err) == DL_OK);
    return g;
}

/* A backend of the backend table as a detector opens it, its weights uploaded as a model's. */
static gpu *open_table_backend(const dl_backend_entry *e, dl_threadpool *pool, dl_error *err) {
    dl_backend_open_args a = {.device_index = 0, .precision = DL_PRECISION_DEFAULT};
    dl_backend *b = NULL;
    if (e->open(&a, &b, err) != DL_OK) return NULL;
    gpu *g = calloc(1, sizeof *g);
    g->tb = b;
    g->ops = b->ops;
    g->device = b->device_name;
    g->ctx.pool = pool;
    g->ctx.backend = b->op_ctx;
    g->label = e->name;
    g->tol = 1e-5;
    if (register_weights(g, take_table, err) != DL_OK) {
        b->close(b);
        free(g->wpool);
        free(g->wsmall);
        free(g);
        return NULL;
    }
    return g;
}

static void close_gpu(gpu *g) {
    if (g->ctx.scratch) dfree(g, g->ctx.scratch);
    if (g->b) g->b->close(g->b);
    if (g->tb) g->tb->close(g->tb);
    dl_packed_weights_free(g->pw);
    free(g->wpool);
    free(g->wsmall);
    free(g);
}

/* ---- products ---------------------------------------------------------------------------- */

static void test_conv(gpu *g, dl_conv2d_desc d, dl_act act, int res_mode, const char *name) {
    /* res_mode 0: none, 1: separate residual, 2: residual aliases y */
    d.out_h = d.out_h ? d.out_h : (d.in_h + 2 * d.pad_top - d.kh) / d.stride_h + 1;
    d.out_w = d.out_w ? d.out_w : (d.in_w + 2 * d.pad_left - d.kw) / d.stride_w + 1;
    size_t nx = (size_t)d.cin * d.in_h * d.in_w, ny = (size_t)d.cout * d.out_h * d.out_w;
    size_t nw = (size_t)d.cout * (d.cin / d.groups) * d.kh * d.kw;
    float *x = rnd(nx, 1.0f), *res = res_mode ? rnd(ny, 1.0f) : NULL;
    dl_wref w = weight(g, nw), bias = weight(g, (size_t)d.cout);
    float *want = malloc(ny * sizeof(float));
    ref->conv2d(&rctx, &d, x, &w, &bias, res, act, want);
    float *dx = up(g, x, nx), *dy = res_mode == 2 ? up(g, res, ny) : poisoned(g, ny);
    float *dres = res_mode == 1 ? up(g, res, ny) : res_mode == 2 ? dy : NULL;
    scratch(g, g->ops->conv2d_scratch(&g->ctx, &d));
    g->ops->conv2d(&g->ctx, &d, dx, &w, &bias, dres, act, dy);
    synced(g, name);
    float *got = down(g, dy, ny);
    expect_close(g, name, got, want, ny, g->tol);
    free(x), free(res), free(want), free(got);
    dfree(g, dx), dfree(g, dy);
    if (res_mode == 1) dfree(g, dres);
}

/* one shape in two lines (clang-format would put one field a line) */
// clang-format off
static void test_convs(gpu *g) {
    dl_conv2d_desc c1 = {.cin = 13, .cout = 7, .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
                         .groups = 1, .in_h = 9, .in_w = 11};
    test_conv(g, c1, DL_ACT_NONE, 0, "conv 1x1");
    test_conv(g, c1, DL_ACT_RELU, 2, "conv 1x1 + residual in place + relu");
    dl_conv2d_desc c3 = {.cin = 5, .cout = 6, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                         .pad_top = 1, .pad_left = 1, .groups = 1, .in_h = 13, .in_w = 10};
    test_conv(g, c3, DL_ACT_SILU, 0, "conv 3x3");
    test_conv(g, c3, DL_ACT_RELU, 1, "conv 3x3 + residual + relu");
    test_conv(g, c3, DL_ACT_GELU, 2, "conv 3x3 + residual in place + gelu");
    dl_conv2d_desc s2 = {.cin = 3, .cout = 8, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
                         .pad_top = 1, .pad_left = 1, .groups = 1, .in_h = 17, .in_w = 14};
    test_conv(g, s2, DL_ACT_RELU, 0, "conv 3x3 stride 2");
    dl_conv2d_desc k7 = {.cin = 3, .cout = 4, .kh = 7, .kw = 7, .stride_h = 2, .stride_w = 2,
                         .pad_top = 3, .pad_left = 3, .groups = 1, .in_h = 19, .in_w = 23};
    test_conv(g, k7, DL_ACT_SIGMOID, 0, "conv 7x7 stride 2");
    dl_conv2d_desc p1 = {.cin = 9, .cout = 5, .kh = 1, .kw = 1, .stride_h = 2, .stride_w = 2,
                         .groups = 1, .in_h = 11, .in_w = 9};
    test_conv(g, p1, DL_ACT_NONE, 1, "conv 1x1 stride 2");
    dl_conv2d_desc asym = {.cin = 4, .cout = 3, .kh = 2, .kw = 2, .stride_h = 1, .stride_w = 1,
                           .pad_top = 0, .pad_left = 0, .groups = 1, .in_h = 8, .in_w = 7,
                           .out_h = 8, .out_w = 7}; /* extra bottom/right padding */
    test_conv(g, asym, DL_ACT_NONE, 0, "conv 2x2 with extra padding");
    dl_conv2d_desc gr = {.cin = 6, .cout = 9, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                         .pad_top = 1, .pad_left = 1, .groups = 3, .in_h = 7, .in_w = 9};
    test_conv(g, gr, DL_ACT_RELU, 1, "grouped conv");
    dl_conv2d_desc dw = {.cin = 5, .cout = 5, .kh = 5, .kw = 5, .stride_h = 2, .stride_w = 2,
                         .pad_top = 2, .pad_left = 2, .groups = 5, .in_h = 12, .in_w = 11};
    test_conv(g, dw, DL_ACT_NONE, 0, "depthwise conv");
    /* large enough for im2col to go in column chunks (K * pixels > 16M floats) */
    dl_conv2d_desc big = {.cin = 64, .cout = 8, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                          .pad_top = 1, .pad_left = 1, .groups = 1, .in_h = 150, .in_w = 201};
    test_conv(g, big, DL_ACT_RELU, 0, "conv 3x3 in chunks");
}
// clang-format on

static void test_linear_case(gpu *g, int t, int n, int k, int ldx, int ldy, bool bias, dl_act act,
                             bool device_weight, const char *name) {
    float *x = rnd((size_t)t * ldx, 1.0f);
    dl_wref w = weight(g, (size_t)n * k), b = bias ? weight(g, (size_t)n) : dl_wref_raw(NULL);
    float *want = malloc((size_t)t * ldy * sizeof(float));
    for (size_t i = 0; i < (size_t)t * ldy; i++) want[i] = NAN;
    ref->linear(&rctx, t, n, k, x, ldx, &w, &b, act, want, ldy);
    float *dx = up(g, x, (size_t)t * ldx), *dy = poisoned(g, (size_t)t * ldy);
    /* an operand in the backend's memory that is not a model weight (buf DL_WBUF_NONE) */
    float *dw = device_weight ? up(g, w.host, (size_t)n * k) : NULL;
    dl_wref wd = dl_wref_raw(dw);
    scratch(g, g->ops->linear_scratch(&g->ctx, t, n, k));
    g->ops->linear(&g->ctx, t, n, k, dx, ldx, dw ? &wd : &w, bias ? &b : NULL, act, dy, ldy);
    synced(g, name);
    float *got = down(g, dy, (size_t)t * ldy);
    /* compare the written columns; the gap between n and ldy must stay untouched (NaN) */
    int gap_ok = 1;
    for (int i = 0; i < t; i++)
        for (int j = n; j < ldy; j++) gap_ok &= isnan(got[(size_t)i * ldy + j]);
    CHECK_MSG(gap_ok, "%s %s: wrote outside [t, n] of the ldy rows", g->label, name);
    float *gc = malloc((size_t)t * n * sizeof(float)), *wc = malloc((size_t)t * n * sizeof(float));
    for (int i = 0; i < t; i++)
        for (int j = 0; j < n; j++) {
            gc[(size_t)i * n + j] = got[(size_t)i * ldy + j];
            wc[(size_t)i * n + j] = want[(size_t)i * ldy + j];
        }
    /* a device (unregistered) weight runs in float32 even in reduced precision */
    expect_close(g, name, gc, wc, (size_t)t * n, device_weight ? 1e-4 : g->tol);
    free(x), free(want), free(got), free(gc), free(wc);
    dfree(g, dx), dfree(g, dy);
    if (dw) dfree(g, dw);
}

static void test_linears(gpu *g) {
    test_linear_case(g, 37, 19, 45, 45, 19, true, DL_ACT_NONE, false, "linear");
    test_linear_case(g, 37, 19, 45, 50, 23, true, DL_ACT_GELU, false, "linear ld + gelu");
    test_linear_case(g, 5, 300, 256, 256, 300, false, DL_ACT_RELU, false, "linear no bias + relu");
    test_linear_case(g, 301, 64, 33, 33, 64, true, DL_ACT_SILU, true, "linear device weight");
}

/* ---- the float32 ops --------------------------------------------------------------------- */

static void test_layer_norm(gpu *g) {
    int t = 33, d = 77;
    size_t n = (size_t)t * d;
    float *x = rnd(n, 2.0f), *r = rnd(n, 1.0f);
    dl_wref gm = weight(g, d), bt = weight(g, d);
    float *want = malloc(n * sizeof(float));
    for (int mode = 0; mode < 3; mode++) { /* 0: no residual, 1: residual, 2: in place */
        ref->layer_norm(&rctx, t, d, x, mode ? r : NULL, &gm, &bt, 1e-5f, want);
        float *dx = up(g, x, n), *dr = up(g, r, n), *dy = mode == 2 ? dx : poisoned(g, n);
        g->ops->layer_norm(&g->ctx, t, d, dx, mode ? dr : NULL, &gm, &bt, 1e-5f, dy);
        synced(g, "layer_norm");
        float *got = down(g, dy, n);
        expect_close(g, mode == 2 ? "layer_norm in place" : "layer_norm", got, want, n, 1e-5);
        free(got);
        if (dy != dx) dfree(g, dy);
        dfree(g, dx), dfree(g, dr);
    }
    free(x), free(r), free(want);
}

static void test_attention_case(gpu *g, int t, int s, int heads, int dh, int pad) {
    int ld = heads * dh + pad;
    float *q = rnd((size_t)t * ld, 1.0f), *k = rnd((size_t)s * ld, 1.0f),
          *v = rnd((size_t)s * ld, 1.0f);
    float *want = malloc((size_t)t * ld * sizeof(float));
    ref->attention(&rctx, t, s, heads, dh, q, ld, k, ld, v, ld, want, ld);
    float *dq = up(g, q, (size_t)t * ld), *dk = up(g, k, (size_t)s * ld),
          *dv = up(g, v, (size_t)s * ld);
    float *dout = poisoned(g, (size_t)t * ld);
    scratch(g, (size_t)s); /* S scores, as the models reserve (the reference's row) */
    g->ops->attention(&g->ctx, t, s, heads, dh, dq, ld, dk, ld, dv, ld, dout, ld);
    char name[64];
    snprintf(name, sizeof name, "attention t%d s%d h%d dh%d", t, s, heads, dh);
    synced(g, name);
    float *got = down(g, dout, (size_t)t * ld);
    /* the pad columns are not written: compare the head columns only */
    for (int i = 0; i < t; i++)
        for (int c = heads * dh; c < ld; c++)
            got[(size_t)i * ld + c] = want[(size_t)i * ld + c] = 0;
    expect_close(g, name, got, want, (size_t)t * ld, 1e-5);
    free(q), free(k), free(v), free(want), free(got);
    dfree(g, dq), dfree(g, dk), dfree(g, dv), dfree(g, dout);
}

static void test_attention(gpu *g) {
    test_attention_case(g, 17, 23, 3, 5, 3);
    test_attention_case(g, 300, 300, 8, 32, 0);
    test_attention_case(g, 7, 400, 2, 160, 1);  /* head_dim beyond the block */
    test_attention_case(g, 3, 20000, 1, 16, 0); /* ~80 KB of shared memory: within GB10's 99 KB */
    /* CUDA: past the 99 KB cap, refused with a status, never launched */
    if (!g->b) return;
    int s = 30000, t = 2;
    float *dq = poisoned(g, (size_t)t * 8), *dk = poisoned(g, (size_t)s * 8);
    float *dout = poisoned(g, (size_t)t * 8);
    g->ops->attention(&g->ctx, t, s, 1, 8, dq, 8, dk, 8, dk, 8, dout, 8);
    dl_error err;
    dl_status st = g->ops->sync(&g->ctx, &err);
    CHECK_MSG(st == DL_ERR_UNSUPPORTED && strstr(err.message, "shared memory"),
              "%s: attention past the shared-memory cap gave %d (%s)", g->label, (int)st,
              st ? err.message : "");
    CHECK(g->ops->sync(&g->ctx, &err) == DL_OK); /* the error was reported once */
    dfree(g, dq), dfree(g, dk), dfree(g, dout);
}

static void test_deform(gpu *g, bool discrete) {
    int lh[3] = {5, 3, 2}, lw[3] = {7, 4, 2}, ls[3], lp[3] = {2, 3, 1}, S = 0, P = 6;
    for (int l = 0; l < 3; l++) ls[l] = S, S += lh[l] * lw[l];
    int Q = 11, H = 3, dh = 7, ld = H * dh;
    dl_deform_desc d = {.n_queries = Q,
                        .n_heads = H,
                        .head_dim = dh,
                        .n_levels = 3,
                        .level_h = lh,
                        .level_w = lw,
                        .level_start = ls,
                        .level_points = lp,
                        .total_points = P,
                        .discrete = discrete};
    float *value = rnd((size_t)S * ld, 1.0f), *loc = rnd((size_t)Q * H * P * 2, 0.7f);
    float *wgt = rnd((size_t)Q * H * P, 1.0f);
    for (size_t i = 0; i < (size_t)Q * H * P * 2; i++)
        loc[i] += 0.5f; /* [-0.2, 1.2]: taps outside */
    float *want = malloc((size_t)Q * ld * sizeof(float));
    ref->deform_attn(&rctx, &d, value, loc, wgt, want);
    float *dv = up(g, value, (size_t)S * ld), *dl = up(g, loc, (size_t)Q * H * P * 2);
    float *dw = up(g, wgt, (size_t)Q * H * P), *dout = poisoned(g, (size_t)Q * ld);
    g->ops->deform_attn(&g->ctx, &d, dv, dl, dw, dout);
    synced(g, "deform_attn");
    float *got = down(g, dout, (size_t)Q * ld);
    expect_close(g, discrete ? "deform_attn discrete" : "deform_attn bilinear", got, want,
                 (size_t)Q * ld, 1e-5);
    free(value), free(loc), free(wgt), free(want), free(got);
    dfree(g, dv), dfree(g, dl), dfree(g, dw), dfree(g, dout);
}

static void test_pools(gpu *g) {
    int c = 3, h = 13, w = 11;
    size_t nx = (size_t)c * h * w;
    float *x = rnd(nx, 1.0f);
    float *dx = up(g, x, nx);
    int oh = dl_conv_out_size(h, 3, 2, 2, false), ow = dl_conv_out_size(w, 3, 2, 2, false);
    size_t ny = (size_t)c * oh * ow;
    float *want = malloc(ny * sizeof(float)), *dy = poisoned(g, ny);
    ref->max_pool2d(&rctx, c, h, w, 3, 2, 1, oh, ow, x, want);
    g->ops->max_pool2d(&g->ctx, c, h, w, 3, 2, 1, oh, ow, dx, dy);
    synced(g, "max_pool2d");
    float *got = down(g, dy, ny);
    expect_close(g, "max_pool2d", got, want, ny, 0);
    free(want), free(got), dfree(g, dy);
    oh = dl_conv_out_size(h, 2, 2, 0, true), ow = dl_conv_out_size(w, 2, 2, 0, true);
    ny = (size_t)c * oh * ow;
    want = malloc(ny * sizeof(float)), dy = poisoned(g, ny);
    ref->avg_pool2d(&rctx, c, h, w, 2, 2, oh, ow, x, want);
    g->ops->avg_pool2d(&g->ctx, c, h, w, 2, 2, oh, ow, dx, dy);
    synced(g, "avg_pool2d");
    got = down(g, dy, ny);
    expect_close(g, "avg_pool2d (ceil)", got, want, ny, 1e-6);
    free(want), free(got), dfree(g, dy);
    ny = nx * 4;
    want = malloc(ny * sizeof(float)), dy = poisoned(g, ny);
    ref->upsample2x(&rctx, c, h, w, x, want);
    g->ops->upsample2x(&g->ctx, c, h, w, dx, dy);
    synced(g, "upsample2x");
    got = down(g, dy, ny);
    expect_close(g, "upsample2x", got, want, ny, 0);
    free(want), free(got), dfree(g, dy);
    free(x), dfree(g, dx);
}

static void test_elementwise(gpu *g) {
    const int shapes[2][2] = {{37, 12}, {5, 1000}};
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)shapes[i][0] * shapes[i][1];
        float *x = rnd(n, 4.0f), *want = malloc(n * sizeof(float));
        memcpy(want, x, n * sizeof(float));
        ref->softmax_rows(&rctx, shapes[i][0], shapes[i][1], want);
        float *dx = up(g, x, n);
        g->ops->softmax_rows(&g->ctx, shapes[i][0], shapes[i][1], dx);
        synced(g, "softmax_rows");
        float *got = down(g, dx, n);
        expect_close(g, "softmax_rows", got, want, n, 1e-6);
        free(x), free(want), free(got), dfree(g, dx);
    }
    size_t n = 1001;
    const dl_act acts[5] = {DL_ACT_NONE, DL_ACT_RELU, DL_ACT_SILU, DL_ACT_GELU, DL_ACT_SIGMOID};
    for (int a = 0; a < 5; a++) {
        float *x = rnd(n, 6.0f), *want = malloc(n * sizeof(float));
        memcpy(want, x, n * sizeof(float));
        ref->activate(&rctx, n, acts[a], want);
        float *dx = up(g, x, n);
        g->ops->activate(&g->ctx, n, acts[a], dx);
        synced(g, "activate");
        float *got = down(g, dx, n);
        char name[32];
        snprintf(name, sizeof name, "activate %d", a);
        expect_close(g, name, got, want, n, 1e-6);
        free(x), free(want), free(got), dfree(g, dx);
    }
    float *a = rnd(n, 1.0f), *b = rnd(n, 1.0f), *want = malloc(n * sizeof(float));
    ref->add(&rctx, n, a, b, want);
    float *da = up(g, a, n), *db = up(g, b, n), *dy = poisoned(g, n);
    g->ops->add(&g->ctx, n, da, db, dy);
    g->ops->add(&g->ctx, n, da, db, da); /* aliasing */
    synced(g, "add");
    float *got = down(g, dy, n), *got2 = down(g, da, n);
    expect_close(g, "add", got, want, n, 0);
    expect_close(g, "add in place", got2, want, n, 0);
    free(a), free(b), free(want), free(got), free(got2);
    dfree(g, da), dfree(g, db), dfree(g, dy);
    /* box refinement, with references on and beyond the [0, 1] edges */
    float *delta = rnd(n, 3.0f), *r = rnd(n, 0.7f);
    for (size_t i = 0; i < n; i++) r[i] += 0.5f;
    r[0] = 0.0f, r[1] = 1.0f, r[2] = 1e-7f;
    float *rw = malloc(n * sizeof(float));
    memcpy(rw, r, n * sizeof(float));
    dl_host_box_refine(&rctx, n, delta, rw);
    float *dd = up(g, delta, n), *dr = up(g, r, n);
    g->ops->box_refine(&g->ctx, n, dd, dr);
    synced(g, "box_refine");
    got = down(g, dr, n);
    expect_close(g, "box_refine", got, rw, n, 1e-6);
    free(delta), free(r), free(rw), free(got), dfree(g, dd), dfree(g, dr);
}

static void test_glue(gpu *g) {
    /* transpose */
    const int shapes[3][2] = {{37, 45}, {300, 33}, {1, 7}};
    for (int i = 0; i < 3; i++) {
        int r = shapes[i][0], c = shapes[i][1];
        size_t n = (size_t)r * c;
        float *x = rnd(n, 1.0f), *want = malloc(n * sizeof(float));
        dl_host_transpose(&rctx, r, c, x, want);
        float *dx = up(g, x, n), *dy = poisoned(g, n);
        g->ops->transpose(&g->ctx, r, c, dx, dy);
        synced(g, "transpose");
        float *got = down(g, dy, n);
        expect_close(g, "transpose", got, want, n, 0);
        free(x), free(want), free(got), dfree(g, dx), dfree(g, dy);
    }
    /* scale_rows, in place too */
    int rows = 37, cols = 19;
    size_t n = (size_t)rows * cols;
    float *x = rnd(n, 1.0f), *s = rnd((size_t)rows, 1.0f), *want = malloc(n * sizeof(float));
    dl_host_scale_rows(&rctx, rows, cols, x, s, want);
    float *dx = up(g, x, n), *ds = up(g, s, (size_t)rows), *dy = poisoned(g, n);
    g->ops->scale_rows(&g->ctx, rows, cols, dx, ds, dy);
    g->ops->scale_rows(&g->ctx, rows, cols, dx, ds, dx);
    synced(g, "scale_rows");
    float *got = down(g, dy, n), *got2 = down(g, dx, n);
    expect_close(g, "scale_rows", got, want, n, 0);
    expect_close(g, "scale_rows in place", got2, want, n, 0);
    free(x), free(s), free(want), free(got), free(got2), dfree(g, dx), dfree(g, ds), dfree(g, dy);

    /* top-k over 8400 rows with many exact ties: the same indices in the same order */
    rows = 8400, cols = 17;
    int k = 300;
    n = (size_t)rows * cols;
    x = rnd(n, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] = floorf(x[i] * 40.0f) / 40.0f; /* coarse: ties */
    int *want_idx = malloc((size_t)k * sizeof(int));
    dl_host_topk_rows(&rctx, rows, cols, x, k, want_idx);
    dx = up(g, x, n);
    int *didx = (int *)poisoned(g, (size_t)k);
    scratch(g, (size_t)rows + k);
    g->ops->topk_rows(&g->ctx, rows, cols, dx, k, didx);
    synced(g, "topk_rows");
    int *got_idx = (int *)down(g, (float *)didx, (size_t)k);
    CHECK_MSG(memcmp(got_idx, want_idx, (size_t)k * sizeof(int)) == 0,
              "%s topk_rows: indices differ from the host's (ties: lower index first)", g->label);

    /* gather_rows with those indices */
    size_t ng = (size_t)k * cols;
    float *gwant = malloc(ng * sizeof(float));
    dl_host_gather_rows(&rctx, k, cols, want_idx, x, gwant);
    float *dg = poisoned(g, ng);
    g->ops->gather_rows(&g->ctx, k, cols, didx, dx, dg);
    synced(g, "gather_rows");
    got = down(g, dg, ng);
    expect_close(g, "gather_rows", got, gwant, ng, 0);
    free(gwant), free(got), dfree(g, dg);
    free(x), free(want_idx), free(got_idx), dfree(g, dx), dfree(g, didx);

    /* deformable sampling locations, per-level point counts */
    int Q = 11, H = 3, lp[3] = {2, 3, 1}, P = 6;
    size_t no = (size_t)Q * H * P * 2;
    float *off = rnd(no, 1.0f), *ref4 = rnd((size_t)Q * 4, 0.5f);
    for (int i = 0; i < Q * 4; i++) ref4[i] += 0.5f;
    float *owant = malloc(no * sizeof(float));
    memcpy(owant, off, no * sizeof(float));
    dl_host_deform_locations(&rctx, Q, H, 3, lp, P, 0.5f, ref4, owant);
    float *doff = up(g, off, no), *dref = up(g, ref4, (size_t)Q * 4);
    g->ops->deform_locations(&g->ctx, Q, H, 3, lp, P, 0.5f, dref, doff);
    synced(g, "deform_locations");
    got = down(g, doff, no);
    expect_close(g, "deform_locations", got, owant, no, 1e-6);
    free(off), free(ref4), free(owant), free(got), dfree(g, doff), dfree(g, dref);

    /* memory: upload, device copy, download round trip */
    n = 12345;
    x = rnd(n, 1.0f);
    dx = up(g, x, n), dy = poisoned(g, n);
    g->ops->copy(&g->ctx, dy, dx, n * sizeof(float));
    synced(g, "copy");
    got = down(g, dy, n);
    CHECK_MSG(memcmp(got, x, n * sizeof(float)) == 0, "%s: upload/copy/download", g->label);
    free(x), free(got), dfree(g, dx), dfree(g, dy);
}

/* ---- registry ops (ops/op_list.h): shapes and inputs come from each op's own file -------- */

static void registry_case(gpu *g, dl_op_id id, int c, bool native) {
    const dl_op_info *info = dl_op_info_of(id);
    int nt = info->n_in + info->n_out;
    dl_op_args host = {0}, want, dev;
    info->test_shape(c, &host);
    for (int k = 0; k < nt; k++) host.t[k] = rnd(host.n[k], 1.0f);
    if (info->test_fill) info->test_fill(c, &host);
    want = host;
    for (int k = 0; k < nt; k++) {
        want.t[k] = malloc((host.n[k] ? host.n[k] : 1) * sizeof(float));
        memcpy(want.t[k], host.t[k], host.n[k] * sizeof(float));
    }
    dl_ops_ctx hctx = {NULL, NULL, 0, NULL};
    info->reference(&hctx, &want);
    dev = host;
    for (int k = 0; k < nt; k++) {
        bool read = k < info->n_in || (info->inout >> (k - info->n_in) & 1u);
        dev.t[k] = read ? up(g, host.t[k], host.n[k]) : poisoned(g, host.n[k]);
    }
    float *staging = NULL;
    size_t staging_n = 0;
    dl_op_kernel kern = dl_ops_find(g->ops, id);
    if (native && kern) kern(&g->ctx, &dev);
    else CHECK(dl_op_fallback(g->ops, &g->ctx, id, &dev, &staging, &staging_n));
    char what[96];
    snprintf(what, sizeof what, "%s case %d (%s)", info->name, c,
             native && kern ? "kernel" : "reference fallback");
    synced(g, what);
    for (int k = info->n_in; k < nt; k++) {
        float *got = down(g, dev.t[k], host.n[k]);
        expect_close(g, what, got, want.t[k], host.n[k], info->tol);
        free(got);
    }
    for (int k = 0; k < nt; k++) free(host.t[k]), free(want.t[k]), dfree(g, dev.t[k]);
    free(staging);
}

static void test_registry(gpu *g) {
    for (int id = 0; id < DL_OP_COUNT; id++) {
        const dl_op_info *info = dl_op_info_of((dl_op_id)id);
        for (int c = 0; c < info->n_cases; c++) {
            registry_case(g, (dl_op_id)id, c, true);
            /* a device's fallback (download, reference, upload) is a path of its own */
            if (g->ops->device && dl_ops_supports(g->ops, (dl_op_id)id))
                registry_case(g, (dl_op_id)id, c, false);
        }
    }
}

/* A reference that does not match the buffers the backend took (a builder that moved a weight
 * and kept its old reference) is refused with an error at the next sync, not computed with
 * whatever lies there: the CPU checks every reference, CUDA every buffer index and offset. */
static void test_stale_reference(gpu *g) {
    if (!g->pw && !g->b) return; /* other backends: theirs to check */
    int t = 3, n = 4, k = 5;
    float *x = rnd((size_t)t * k, 1.0f);
    float *dx = up(g, x, (size_t)t * k), *dy = poisoned(g, (size_t)t * n);
    scratch(g, g->ops->linear_scratch(&g->ctx, t, n, k));
    dl_wref good = weight(g, (size_t)n * k);
    dl_wref cases[3] = {good, good, good};
    cases[0].buf = 1;             /* the empty index */
    cases[1].buf = 7;             /* past the buffers */
    cases[2].offset = g->wpool_n; /* past the end of its buffer */
    for (int i = 0; i < 3; i++) {
        g->ops->linear(&g->ctx, t, n, k, dx, k, &cases[i], NULL, DL_ACT_NONE, dy, n);
        dl_error err;
        dl_status st = g->ops->sync(&g->ctx, &err);
        CHECK_MSG(st == DL_ERR_INTERNAL, "%s: stale weight reference %d not refused (status %d)",
                  g->label, i, (int)st);
        /* reported once: the next sync is clean */
        synced(g, "after a stale reference");
    }
    /* the good one still runs */
    g->ops->linear(&g->ctx, t, n, k, dx, k, &good, NULL, DL_ACT_NONE, dy, n);
    synced(g, "a reference after stale ones");
    free(x);
    dfree(g, dx), dfree(g, dy);
}

static void run_all(gpu *g, bool products_only) {
    printf("%s (%s, kernels %s)\n", g->label, g->device, g->ops->name);
    test_convs(g);
    test_linears(g);
    test_stale_reference(g);
    if (products_only) return;
    test_layer_norm(g);
    test_attention(g);
    test_deform(g, false);
    test_deform(g, true);
    test_pools(g);
    test_elementwise(g);
    test_glue(g);
    test_registry(g);
}

/* The CPU table at its current kernel level: 1 thread against the reference, then 3 threads
 * against the 1-thread results bit for bit. */
static void run_cpu(const char *level) {
    char l1[96], l3[96];
    snprintf(l1, sizeof l1, "cpu %s, 1 thread", level);
    snprintf(l3, sizeof l3, "cpu %s, 3 threads", level);
    dl_threadpool *p1 = dl_threadpool_create(1), *p3 = dl_threadpool_create(3);
    rng = 12345;
    gpu *g = open_cpu(p1, l1);
    g->record = true;
    run_all(g, false);
    close_gpu(g);
    rng = 12345;
    g = open_cpu(p3, l3);
    g->replay = true;
    run_all(g, false);
    close_gpu(g);
    forget_recorded();
    dl_threadpool_free(p1);
    dl_threadpool_free(p3);
}

/* Every other line of the backend table (backends/backend.c; cpu and cuda have their runs in
 * main), so that a new backend is tested with no line here. One that does not open on this
 * machine (no device) is skipped. */
static void run_table_backends(void) {
    dl_threadpool *pool = dl_threadpool_create(1);
    for (int v = 0; v < 64; v++) {
        const dl_backend_entry *e = dl_backend_find((dl_device)v);
        if (v == DL_DEVICE_AUTO) continue;
        if (!e) break;
        if (v == DL_DEVICE_CPU || v == DL_DEVICE_CUDA) continue;
        dl_error err;
        gpu *g = open_table_backend(e, pool, &err);
        if (!g) {
            printf("%s: skipped (%s)\n", e->name, err.message);
            continue;
        }
        run_all(g, false);
        close_gpu(g);
    }
    dl_threadpool_free(pool);
}

int main(void) {
    const char *req = getenv("DOCLAYOUT_REQUIRE_CUDA");
    bool required = req && strcmp(req, "1") == 0;
    ref = dl_ops_reference();
    rctx.scratch = malloc((size_t)(8400 + 300 + 40000) * sizeof(float));
    rctx.scratch_floats = 8400 + 300 + 40000;
    /* the CPU at every kernel level this machine runs (core/cpu_features.h), lowest first */
    dl_cpu_level levels[DL_CPU_LEVEL_COUNT];
    int nl = dl_cpu_levels(levels, DL_CPU_LEVEL_COUNT);
    for (int i = 0; i < nl; i++) {
        CHECK(dl_cpu_set_level(levels[i]));
        char what[96];
        snprintf(what, sizeof what, "%s (%s)", dl_cpu_level_name(levels[i]),
                 dl_sgemm_kernel_name());
        run_cpu(what);
    }
    dl_cpu_set_level(levels[nl - 1]);
    free(recorded);
    free(recorded_n);
    run_table_backends();
    /* CUDA, when the module and a GPU are here */
    dl_error err;
    gpu *g = open_gpu(DL_PRECISION_FP32, "cuda-fp32 (cuBLAS)", 2e-5, &err);
    if (!g) {
        free(rctx.scratch);
        if (required) {
            fprintf(stderr, "test_backend_ops: %s\n", err.message);
            return 1;
        }
        printf("cuda: skipped (%s)\n", err.message);
        return dl_test_finish("test_backend_ops");
    }
    run_all(g, false);
    close_gpu(g);
    /* our own SGEMM kernel in place of cuBLAS */
    setenv("DOCLAYOUT_CUDA_GEMM", "own", 1);
    g = open_gpu(DL_PRECISION_FP32, "cuda-fp32 (own SGEMM)", 2e-5, &err);
    unsetenv("DOCLAYOUT_CUDA_GEMM");
    CHECK_MSG(g != NULL, "%s", err.message);
    if (g) run_all(g, true), close_gpu(g);
    /* tensor-core products: bf16 has 8 mantissa bits, fp16 11 */
    g = open_gpu(DL_PRECISION_BF16, "cuda-bf16", 3e-2, &err);
    CHECK_MSG(g != NULL, "%s", err.message);
    if (g) run_all(g, false), close_gpu(g);
    /* the implicit-GEMM tensor-core convolution (opt-in, DOCLAYOUT_CUDA_CONV=igemm) */
    setenv("DOCLAYOUT_CUDA_CONV", "igemm", 1);
    g = open_gpu(DL_PRECISION_BF16, "cuda-bf16 (implicit-GEMM conv)", 3e-2, &err);
    unsetenv("DOCLAYOUT_CUDA_CONV");
    CHECK_MSG(g != NULL, "%s", err.message);
    if (g) run_all(g, true), close_gpu(g);
    g = open_gpu(DL_PRECISION_FP16, "cuda-fp16", 5e-3, &err);
    CHECK_MSG(g != NULL, "%s", err.message);
    if (g) run_all(g, true), close_gpu(g);
    free(rctx.scratch);
    return dl_test_finish("test_backend_ops");
}
