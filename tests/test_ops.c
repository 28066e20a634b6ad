/* The fast CPU ops against the scalar reference on odd shapes; thread-count invariance
 * (1 vs 3 threads must be bit-identical); no writes outside the output (guard region). The
 * whole list runs at every kernel level this machine has (dl_cpu_levels: scalar, avx2,
 * avx512, ... ; dl_cpu_set_level). */
#include <float.h>
#include <stdint.h>

#include "backends/cpu/conv_direct.h"
#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/packed_weights.h"
#include "core/cpu_features.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "ops/ops.h"
#include "test_util.h"

#define GUARD 64
#define POISON 1234.5f
#define TOL 1e-5

static dl_threadpool *pool1, *pool3;
static const dl_ops *ref, *fast;
static unsigned rng = 12345u;
static double worst_rel;

static float *alloc_f(size_t n) {
    float *p = dl_alloc_aligned((n + GUARD) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n + GUARD; i++) p[i] = POISON;
    return p;
}
static float *rand_f(size_t n, float scale) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = dl_test_rand(&rng) * scale;
    return p;
}
static float *copy_f(const float *src, size_t n) {
    float *p = alloc_f(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}
static bool guard_ok(const float *p, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (p[i] != POISON) return false;
    return true;
}

/* A context with `floats` of scratch (plus a guard, checked by ctx_done). */
static dl_ops_ctx ctx_make(dl_threadpool *pool, size_t floats) {
    dl_ops_ctx c = {pool, alloc_f(floats), floats, NULL};
    return c;
}
static void ctx_done(dl_ops_ctx *c, const char *what) {
    CHECK_MSG(guard_ok(c->scratch, c->scratch_floats), "%s: scratch overrun", what);
    dl_free_aligned(c->scratch);
}

/* An operand given where an op takes a weight (ops.h: dl_wref), not one of a model's buffers. */
#define WR(p) (&(dl_wref){(float *)(p), DL_WBUF_NONE, 0})

/* Compare fast (1 thread) to reference, 3 threads to 1 thread bitwise, and guards. */
static void compare(const char *what, const float *ref_y, const float *y1, const float *y3,
                    size_t n, double tol) {
    double rel = dl_rel_err(y1, ref_y, n);
    if (rel > worst_rel) worst_rel = rel;
    CHECK_MSG(rel <= tol, "%s: rel err %.3g", what, rel);
    CHECK_MSG(memcmp(y1, y3, n * sizeof(float)) == 0, "%s: 1 vs 3 threads differ", what);
    CHECK_MSG(guard_ok(y1, n) && guard_ok(y3, n), "%s: write past output", what);
}

/* ---------------------------------------------------------------------------- conv2d --- */

typedef struct conv_case {
    int cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, groups, h, w;
} conv_case;

static int direct_mode; /* dl_conv_direct_force mode of the current runs */
static int wino_mode;   /* dl_conv_winograd_force mode of the current runs */

static void test_conv(const conv_case *cc, int variant) {
    dl_conv2d_desc d = {cc->cin, cc->cout,   cc->kh, cc->kw, cc->sh, cc->sw, cc->pt,
                        cc->pl,  cc->groups, cc->h,  cc->w,  0,      0};
    d.out_h = dl_conv_out_size(cc->h, cc->kh, cc->sh, cc->pt + cc->pb, false);
    d.out_w = dl_conv_out_size(cc->w, cc->kw, cc->sw, cc->pl + cc->pr, false);
    dl_act act = (dl_act)(variant % 5);
    bool use_bias = variant % 2 == 0;
    int res_mode = variant % 3; /* 0 none, 1 separate, 2 aliases y */
    size_t nx = (size_t)cc->cin * cc->h * cc->w;
    size_t nw = (size_t)cc->cout * (cc->cin / cc->groups) * cc->kh * cc->kw;
    size_t ny = (size_t)cc->cout * d.out_h * d.out_w;
    float *x = rand_f(nx, 1.0f), *w = rand_f(nw, 0.5f), *b = rand_f((size_t)cc->cout, 0.5f);
    float *res = rand_f(ny, 1.0f);
    float *yr = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
    const float *bias = use_bias ? b : NULL;
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    if (res_mode == 2) memcpy(yr, res, ny * sizeof(float));
    ref->conv2d(&rc, &d, x, WR(w), WR(bias),
                res_mode == 1   ? res
                : res_mode == 2 ? yr
                                : NULL,
                act, yr);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int t = 0; t < 2; t++) {
        dl_ops_ctx tmp = {pools[t], NULL, 0, NULL};
        dl_ops_ctx c = ctx_make(pools[t], fast->conv2d_scratch(&tmp, &d));
        if (res_mode == 2) memcpy(outs[t], res, ny * sizeof(float));
        fast->conv2d(&c, &d, x, WR(w), WR(bias),
                     res_mode == 1   ? res
                     : res_mode == 2 ? outs[t]
                                     : NULL,
                     act, outs[t]);
        ctx_done(&c, "conv2d");
    }
    char what[200];
    snprintf(what, sizeof what,
             "conv cin%d cout%d k%dx%d s%d,%d p%d,%d,%d,%d g%d %dx%d act%d bias%d res%d [%s%s%s%s]",
             cc->cin, cc->cout, cc->kh, cc->kw, cc->sh, cc->sw, cc->pt, cc->pl, cc->pb, cc->pr,
             cc->groups, cc->h, cc->w, (int)act, use_bias, res_mode, dl_sgemm_kernel_name(),
             direct_mode >= 2   ? ", direct "
             : direct_mode == 1 ? ", no direct"
                                : "",
             direct_mode >= 2 ? dl_conv_direct_kernel_name() : "",
             wino_mode == 2 && dl_conv_winograd_applies(&d)   ? ", winograd 2x2"
             : wino_mode == 3 && dl_conv_winograd_applies(&d) ? ", winograd 4x4"
                                                              : "");
    compare(what, yr, y1, y3, ny, TOL);
    dl_free_aligned(x);
    dl_free_aligned(w);
    dl_free_aligned(b);
    dl_free_aligned(res);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

static void test_convs(void) {
    static const conv_case cases[] = {
        /* cin cout kh kw sh sw pt pl pb pr g h w */
        {65, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 13, 7},  /* pointwise */
        {257, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   /* pointwise, 1x1 image */
        {9, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 50, 45},   /* N > NC */
        {300, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 5, 7}, /* 2 K blocks, 2 M blocks */
        {17, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 9, 11},
        {33, 65, 3, 3, 2, 2, 1, 1, 1, 1, 1, 17, 13},
        {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 20, 20}, /* K = 576 */
        {3, 17, 7, 7, 2, 2, 3, 3, 3, 3, 1, 33, 29},  /* stem */
        {7, 13, 2, 2, 2, 2, 0, 0, 0, 0, 1, 9, 9},
        {13, 17, 1, 1, 2, 2, 0, 0, 0, 0, 1, 11, 9},   /* strided 1x1 */
        {8, 9, 3, 3, 2, 2, 0, 0, 1, 1, 1, 10, 10},    /* asymmetric "same" pad */
        {6, 5, 2, 2, 1, 1, 0, 0, 1, 1, 1, 7, 6},      /* HGNetV2 stem-like asym */
        {8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, 7, 9},     /* groups 2 */
        {16, 8, 1, 1, 1, 1, 0, 0, 0, 0, 4, 5, 6},     /* grouped pointwise */
        {5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      /* tiny image */
        {19, 19, 3, 3, 1, 1, 1, 1, 1, 1, 19, 13, 17}, /* depthwise 3x3 */
        {19, 19, 3, 3, 2, 2, 1, 1, 1, 1, 19, 13, 17}, /* depthwise 3x3 s2 */
        {11, 11, 5, 5, 1, 1, 2, 2, 2, 2, 11, 9, 10},  /* depthwise 5x5 */
        {11, 11, 5, 5, 2, 2, 1, 2, 2, 1, 11, 9, 10},  /* depthwise 5x5 s2 asym */
        {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, 1},      /* depthwise tiny */
        {4, 4, 5, 5, 2, 2, 2, 2, 2, 2, 4, 2, 3},      /* depthwise, kernel > image */
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++)
        for (int v = 0; v < 3; v++) test_conv(&cases[i], i * 3 + v);
    /* every case through the implicit GEMM alone, then through the direct path wherever it
     * applies */
    for (direct_mode = 1; direct_mode <= 2; direct_mode++) {
        dl_conv_direct_force(direct_mode);
        for (int i = 0; i < n; i++)
            for (int v = 0; v < 3; v++) test_conv(&cases[i], 100 + i * 3 + v);
    }
    /* small-channel shapes for the direct path: odd channel counts and sizes, strides, pads */
    static const int cins[] = {1, 3, 5, 8, 13}, couts[] = {1, 7, 16, 33}, sizes[] = {1, 5, 17, 33};
    int variant = 0;
    for (direct_mode = 0; direct_mode <= 2; direct_mode += 2) {
        dl_conv_direct_force(direct_mode);
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 4; b++)
                for (int s = 0; s < 4; s++) {
                    int h = sizes[s], w = sizes[(s + a + b) % 4];
                    int k = (a + b + s) % 3 == 0 ? 1 : 3, st = 1 + (a + s) % 2;
                    int pad = k == 1 ? (b % 2) : 1 - (b + s) % 3 / 2; /* 3x3: 1 or 0 */
                    conv_case c = {cins[a], couts[b], k, k, st, st, pad, pad, pad, pad, 1, h, w};
                    if (h + 2 * pad < k || w + 2 * pad < k) continue;
                    test_conv(&c, variant++);
                }
        /* asymmetric pads, uneven strides, wide rows, 5x5 / 7x7 and 1xk kernels */
        static const conv_case extra[] = {
            {3, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 65, 67},  /* stem-like */
            {8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 40, 50}, /* rows of 2+ chunks */
            {5, 7, 3, 3, 2, 1, 0, 2, 1, 0, 1, 17, 19},  /* stride 2x1, odd pads */
            {4, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 23, 9},
            {3, 17, 7, 7, 2, 2, 3, 3, 3, 3, 1, 33, 29},
            {6, 5, 1, 3, 1, 1, 0, 1, 0, 1, 1, 9, 26},
            {13, 33, 1, 1, 2, 2, 0, 0, 0, 0, 1, 17, 17},
            {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 12, 12},
            {16, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 48, 48},
        };
        for (int i = 0; i < (int)(sizeof extra / sizeof extra[0]); i++)
            for (int v = 0; v < 3; v++) test_conv(&extra[i], variant++);
    }
    direct_mode = 0;
    dl_conv_direct_force(0);
    /* Winograd F(2x2, 3x3) wherever it applies (3x3 stride 1): every case above, then odd
     * channel counts and sizes (odd output sizes cut the last tiles), every padding from 0 to
     * 2 on each side, rows of several 24-tile chunks (the level's pieces: plain C at scalar) */
    int passes = dl_conv_winograd_has_f4() ? 2 : 1;
    int gen = !dl_conv_direct_kernel_is_simd(); /* the plain C pieces: every other size */
    for (int pass = 0; pass < passes; pass++) {
        /* F(2x2), then F(4x4) (AVX2 and up) */
        wino_mode = pass == 1 ? 3 : 2;
        dl_conv_winograd_force(wino_mode);
        for (int i = 0; i < n; i++)
            for (int v = 0; v < 3; v++) test_conv(&cases[i], 200 + i * 3 + v);
        static const int wcins[] = {1, 3, 4, 8, 13, 32}, wcouts[] = {1, 5, 8, 16, 33};
        static const int wsizes[] = {1, 2, 3, 7, 8, 17, 50, 97};
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 5; b++)
                for (int s = 0; s < 8; s += 1 + gen) {
                    int h = wsizes[s], w = wsizes[(s + a + 2 * b) % 8];
                    int pt = (a + s) % 3, pl = (b + s) % 3, pb = (a + b) % 3, pr = (a + 2 * s) % 3;
                    conv_case c = {wcins[a], wcouts[b], 3, 3, 1, 1, pt, pl, pb, pr, 1, h, w};
                    if (h + pt + pb < 3 || w + pl + pr < 3) continue;
                    test_conv(&c, variant++);
                }
        static const conv_case wextra[] = {
            {8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 64, 130}, /* 65 tiles a row: 3 chunks */
            {32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 20, 20},
            {8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 33, 99},
            {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 11, 13},
            {130, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 9, 10},
            {8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 41, 200}, /* F(4x4): 50 tiles a row, 3 chunks */
            {16, 12, 3, 3, 1, 1, 0, 2, 2, 1, 1, 23, 101},
        };
        for (int i = 0; i < (int)(sizeof wextra / sizeof wextra[0]); i++)
            for (int v = 0; v < 5; v++) test_conv(&wextra[i], variant++);
    }
    wino_mode = 0;
    dl_conv_winograd_force(0);
    direct_mode = 0;
    dl_conv_direct_force(0);
}

/* ---------------------------------------------------------------------------- linear --- */

static void test_linear(int t, int n, int k, int ldx_extra, int ldy_extra, int variant) {
    int ldx = k + ldx_extra, ldy = n + ldy_extra;
    dl_act act = (dl_act)(variant % 5);
    bool use_bias = variant % 2 == 1;
    float *x = rand_f((size_t)t * ldx, 1.0f), *w = rand_f((size_t)n * k, 0.5f);
    float *b = rand_f((size_t)n, 0.5f);
    size_t ny = (size_t)t * ldy;
    float *yr = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    ref->linear(&rc, t, n, k, x, ldx, WR(w), WR(use_bias ? b : NULL), act, yr, ldy);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int i = 0; i < 2; i++) {
        dl_ops_ctx tmp = {pools[i], NULL, 0, NULL};
        dl_ops_ctx c = ctx_make(pools[i], fast->linear_scratch(&tmp, t, n, k));
        fast->linear(&c, t, n, k, x, ldx, WR(w), WR(use_bias ? b : NULL), act, outs[i], ldy);
        ctx_done(&c, "linear");
    }
    char what[128];
    snprintf(what, sizeof what, "linear t%d n%d k%d ldx%d ldy%d act%d bias%d [%s]", t, n, k, ldx,
             ldy, (int)act, use_bias, dl_sgemm_kernel_name());
    /* the gap columns [n, ldy) of every row must stay poisoned, like the tail guard */
    bool gaps = true;
    for (int i = 0; i < t; i++)
        for (int j = n; j < ldy; j++)
            if (y1[(size_t)i * ldy + j] != POISON || y3[(size_t)i * ldy + j] != POISON)
                gaps = false;
    CHECK_MSG(gaps, "%s: wrote into the ldy gap", what);
    compare(what, yr, y1, y3, ny, TOL);
    dl_free_aligned(x);
    dl_free_aligned(w);
    dl_free_aligned(b);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

static void test_linears(void) {
    static const int shapes[][3] = {{1, 1, 1},
                                    {7, 13, 17},
                                    {13, 33, 65},
                                    {17, 7, 257},
                                    {33, 65, 13},
                                    {65, 257, 7},
                                    {300, 256, 256},
                                    {121, 17, 513},
                                    {1, 300, 33},
                                    {6, 16, 256},
                                    /* tall and narrow (A read unpacked: few B strips a task),
                                     * M not a multiple of 6 and of the 120-row blocks */
                                    {1000, 32, 32},
                                    {841, 17, 32},
                                    {245, 4, 32},
                                    {253, 64, 300},
                                    {127, 48, 40},
                                    {6, 80, 7}};
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    for (int i = 0; i < ns; i++)
        for (int v = 0; v < 5; v++)
            test_linear(shapes[i][0], shapes[i][1], shapes[i][2], v % 2 ? 3 : 0, v % 2 ? 5 : 0,
                        i * 5 + v);
}

/* Direct GEMM: row bias + residual aliasing C, both B layouts, K = 0. */
static void test_gemm_direct(void) {
    int m = 37, n = 29, k = 300;
    float *a = rand_f((size_t)m * k, 1.0f), *b = rand_f((size_t)k * n, 1.0f);
    float *rb = rand_f((size_t)m, 1.0f), *res = rand_f((size_t)m * n, 1.0f);
    float *c = alloc_f((size_t)m * n), *c2 = alloc_f((size_t)m * n), *want = alloc_f((size_t)m * n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)a[(size_t)i * k + p] * b[(size_t)p * n + j];
            want[(size_t)i * n + j] =
                dl_act_apply(DL_ACT_SILU, (float)(s + rb[i] + res[(size_t)i * n + j]));
        }
    size_t ns = dl_sgemm_scratch(pool3, m, n, k);
    float *s = alloc_f(ns);
    memcpy(c, res, (size_t)m * n * sizeof(float));
    dl_gemm_epi epi = {rb, NULL, c, n, DL_ACT_SILU};
    dl_sgemm(pool3, s, m, n, k, a, k, b, n, false, c, n, &epi);
    dl_gemm_epi epi2 = {rb, NULL, res, n, DL_ACT_SILU};
    dl_sgemm(pool3, s, m, n, k, a, k, b, n, false, c2, n, &epi2);
    double rel = dl_rel_err(c, want, (size_t)m * n);
    CHECK_MSG(rel <= TOL, "gemm alias rel %.3g", rel);
    CHECK_MSG(memcmp(c, c2, (size_t)m * n * sizeof(float)) == 0, "gemm alias != separate");
    CHECK(guard_ok(s, ns) && guard_ok(c, (size_t)m * n));
    /* k = 0: C = act(residual + bias) */
    dl_gemm_epi epi3 = {rb, NULL, res, n, DL_ACT_RELU};
    dl_sgemm(pool3, s, m, n, 0, a, k, b, n, false, c2, n, &epi3);
    bool ok = true;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float e = dl_act_apply(DL_ACT_RELU, res[(size_t)i * n + j] + rb[i]);
            if (c2[(size_t)i * n + j] != e) ok = false;
        }
    CHECK_MSG(ok, "gemm k=0");
    dl_free_aligned(a);
    dl_free_aligned(b);
    dl_free_aligned(rb);
    dl_free_aligned(res);
    dl_free_aligned(c);
    dl_free_aligned(c2);
    dl_free_aligned(want);
    dl_free_aligned(s);
}

/* ------------------------------------------------------------------------ layer norm --- */

static void test_layer_norm(int t, int d, int mode) {
    /* mode 0: no residual; 1: residual; 2: residual, y aliases x; 3: y aliases residual */
    size_t n = (size_t)t * d;
    float *x = rand_f(n, 2.0f), *r = rand_f(n, 1.0f), *g = rand_f((size_t)d, 1.0f);
    float *be = rand_f((size_t)d, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] += 3.0f; /* a mean offset */
    float *yr = alloc_f(n), *y1 = alloc_f(n), *y3 = alloc_f(n);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    ref->layer_norm(&rc, t, d, x, mode ? r : NULL, WR(g), WR(be), 1e-5f, yr);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int i = 0; i < 2; i++) {
        dl_ops_ctx c = {pools[i], NULL, 0, NULL};
        const float *xi = x, *ri = mode ? r : NULL;
        if (mode == 2) {
            memcpy(outs[i], x, n * sizeof(float));
            xi = outs[i];
        } else if (mode == 3) {
            memcpy(outs[i], r, n * sizeof(float));
            ri = outs[i];
        }
        fast->layer_norm(&c, t, d, xi, ri, WR(g), WR(be), 1e-5f, outs[i]);
    }
    char what[64];
    snprintf(what, sizeof what, "layer_norm t%d d%d mode%d", t, d, mode);
    compare(what, yr, y1, y3, n, TOL);
    dl_free_aligned(x);
    dl_free_aligned(r);
    dl_free_aligned(g);
    dl_free_aligned(be);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

/* ------------------------------------------------------------------------- attention --- */

static void test_attention(int t, int s, int heads, int dh, int pad) {
    int w = heads * dh;
    int ldq = w + pad, ldk = w + 2 * pad, ldv = w + 3 * pad, ldo = w + pad;
    float *q = rand_f((size_t)t * ldq, 2.0f), *k = rand_f((size_t)s * ldk, 2.0f);
    float *v = rand_f((size_t)s * ldv, 1.0f);
    size_t no = (size_t)t * ldo;
    float *yr = alloc_f(no), *y1 = alloc_f(no), *y3 = alloc_f(no);
    /* zero the ldo gaps so the comparison covers them (they must stay untouched) */
    for (size_t i = 0; i < no; i++) yr[i] = y1[i] = y3[i] = 0.0f;
    float sref[4096];
    dl_ops_ctx rc = {NULL, sref, 4096, NULL};
    ref->attention(&rc, t, s, heads, dh, q, ldq, k, ldk, v, ldv, yr, ldo);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int i = 0; i < 2; i++) {
        /* the documented maximum: T*S floats per thread */
        dl_ops_ctx c = ctx_make(pools[i], (size_t)t * s * dl_threadpool_size(pools[i]) + 64);
        fast->attention(&c, t, s, heads, dh, q, ldq, k, ldk, v, ldv, outs[i], ldo);
        ctx_done(&c, "attention");
    }
    char what[96];
    snprintf(what, sizeof what, "attention t%d s%d h%d dh%d pad%d", t, s, heads, dh, pad);
    compare(what, yr, y1, y3, no, TOL);
    dl_free_aligned(q);
    dl_free_aligned(k);
    dl_free_aligned(v);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

/* ---------------------------------------------------------------------- deform attn --- */

static void test_deform(int nq, int heads, int dh, bool discrete, bool uneven) {
    int lh[3] = {10, 5, 3}, lw[3] = {13, 7, 2}, lp[3] = {4, 4, 4};
    if (uneven) {
        lp[0] = 3;
        lp[1] = 1;
        lp[2] = 5;
    }
    int ls[3] = {0, 0, 0};
    int total_tok = 0, tp = 0;
    for (int l = 0; l < 3; l++) {
        ls[l] = total_tok;
        total_tok += lh[l] * lw[l];
        tp += lp[l];
    }
    dl_deform_desc d = {nq, heads, dh, 3, lh, lw, ls, lp, tp, discrete};
    int ld = heads * dh;
    float *val = rand_f((size_t)total_tok * ld, 1.0f);
    size_t nl = (size_t)nq * heads * tp;
    float *loc = alloc_f(nl * 2), *wt = rand_f(nl, 1.0f);
    for (size_t i = 0; i < nl * 2; i++) {
        float u = (dl_test_rand(&rng) + 1.0f) * 0.5f; /* [0,1) */
        loc[i] = u * 1.4f - 0.2f;                     /* partly outside the map */
        if (i % 37 == 0) loc[i] = 7.5f;               /* far outside */
        if (i % 41 == 0) loc[i] = -3.0f;
        if (i % 43 == 0) loc[i] = 0.0f; /* edges */
        if (i % 47 == 0) loc[i] = 1.0f;
    }
    size_t no = (size_t)nq * ld;
    float *yr = alloc_f(no), *y1 = alloc_f(no), *y3 = alloc_f(no);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    ref->deform_attn(&rc, &d, val, loc, wt, yr);
    dl_ops_ctx c1 = {pool1, NULL, 0, NULL}, c3 = {pool3, NULL, 0, NULL};
    fast->deform_attn(&c1, &d, val, loc, wt, y1);
    fast->deform_attn(&c3, &d, val, loc, wt, y3);
    char what[96];
    snprintf(what, sizeof what, "deform_attn q%d h%d dh%d discrete%d uneven%d", nq, heads, dh,
             discrete, uneven);
    compare(what, yr, y1, y3, no, TOL);
    dl_free_aligned(val);
    dl_free_aligned(loc);
    dl_free_aligned(wt);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

/* ------------------------------------------------------------- pools, elementwise --- */

static void test_pools(int c, int h, int w, int k, int stride, int pad, bool ceil_mode) {
    int oh = dl_conv_out_size(h, k, stride, 2 * pad, ceil_mode);
    int ow = dl_conv_out_size(w, k, stride, 2 * pad, ceil_mode);
    size_t nx = (size_t)c * h * w, ny = (size_t)c * oh * ow;
    float *x = rand_f(nx, 1.0f);
    if (nx > 5) x[5] = NAN; /* max pool propagates NaN */
    float *yr = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL}, c1 = {pool1, NULL, 0, NULL}, c3 = {pool3, NULL, 0, NULL};
    char what[96];
    ref->max_pool2d(&rc, c, h, w, k, stride, pad, oh, ow, x, yr);
    fast->max_pool2d(&c1, c, h, w, k, stride, pad, oh, ow, x, y1);
    fast->max_pool2d(&c3, c, h, w, k, stride, pad, oh, ow, x, y3);
    snprintf(what, sizeof what, "max_pool c%d %dx%d k%d s%d p%d ceil%d", c, h, w, k, stride, pad,
             ceil_mode);
    CHECK_MSG(memcmp(yr, y1, ny * sizeof(float)) == 0 || ny == 0, "%s: differs", what);
    CHECK_MSG(memcmp(y1, y3, ny * sizeof(float)) == 0, "%s: threads", what);
    CHECK_MSG(guard_ok(y1, ny) && guard_ok(y3, ny), "%s: guard", what);
    if (nx > 5) x[5] = 0.25f;
    oh = dl_conv_out_size(h, k, stride, 0, ceil_mode);
    ow = dl_conv_out_size(w, k, stride, 0, ceil_mode);
    ny = (size_t)c * oh * ow;
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
    yr = alloc_f(ny);
    y1 = alloc_f(ny);
    y3 = alloc_f(ny);
    ref->avg_pool2d(&rc, c, h, w, k, stride, oh, ow, x, yr);
    fast->avg_pool2d(&c1, c, h, w, k, stride, oh, ow, x, y1);
    fast->avg_pool2d(&c3, c, h, w, k, stride, oh, ow, x, y3);
    snprintf(what, sizeof what, "avg_pool c%d %dx%d k%d s%d ceil%d", c, h, w, k, stride, ceil_mode);
    compare(what, yr, y1, y3, ny, 1e-6);
    dl_free_aligned(x);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

/* copy (threaded in chunks when large) and transpose, against the host table's */
static void test_copy_transpose(void) {
    static const int tr[][2] = {{1, 1},     {1, 77},    {33, 1},    {31, 33},
                                {32, 6400}, {6400, 32}, {1601, 33}, {100, 164}};
    for (int i = 0; i < (int)(sizeof tr / sizeof tr[0]); i++) {
        int r = tr[i][0], c = tr[i][1];
        size_t n = (size_t)r * c;
        float *x = rand_f(n, 1.0f), *yr = alloc_f(n), *y1 = alloc_f(n), *y3 = alloc_f(n);
        dl_ops_ctx rc = {NULL, NULL, 0, NULL}, c1 = {pool1, NULL, 0, NULL},
                   c3 = {pool3, NULL, 0, NULL};
        ref->transpose(&rc, r, c, x, yr);
        fast->transpose(&c1, r, c, x, y1);
        fast->transpose(&c3, r, c, x, y3);
        char what[64];
        snprintf(what, sizeof what, "transpose %dx%d", r, c);
        CHECK_MSG(memcmp(yr, y1, n * sizeof(float)) == 0, "%s: differs", what);
        CHECK_MSG(memcmp(y1, y3, n * sizeof(float)) == 0 && guard_ok(y1, n) && guard_ok(y3, n),
                  "%s: threads or guard", what);
        dl_free_aligned(x);
        dl_free_aligned(yr);
        dl_free_aligned(y1);
        dl_free_aligned(y3);
    }
    static const int sizes[] = {0, 1, 4097, 65536, 262144, 262145, 1000003};
    for (int i = 0; i < (int)(sizeof sizes / sizeof sizes[0]); i++) {
        int n = sizes[i];
        float *x = rand_f((size_t)n + 1, 1.0f), *y = alloc_f((size_t)n);
        dl_ops_ctx c3 = {pool3, NULL, 0, NULL};
        fast->copy(&c3, y, x, (size_t)n * sizeof(float));
        CHECK_MSG(memcmp(x, y, (size_t)n * sizeof(float)) == 0 && guard_ok(y, (size_t)n),
                  "copy %d floats", n);
        /* overlapping: a memmove */
        float *z = rand_f((size_t)n + 1, 1.0f), *w = alloc_f((size_t)n + 1);
        for (int q = 0; q <= n; q++) w[q] = z[q];
        memmove(z + 1, z, (size_t)n * sizeof(float));
        fast->copy(&c3, w + 1, w, (size_t)n * sizeof(float));
        CHECK_MSG(memcmp(z, w, ((size_t)n + 1) * sizeof(float)) == 0, "overlapping copy %d", n);
        dl_free_aligned(w);
        dl_free_aligned(z);
        dl_free_aligned(x);
        dl_free_aligned(y);
    }
}

static void test_elementwise(void) {
    dl_ops_ctx rc = {NULL, NULL, 0, NULL}, c1 = {pool1, NULL, 0, NULL}, c3 = {pool3, NULL, 0, NULL};
    char what[64];
    /* upsample */
    static const int ups[][3] = {{3, 1, 1}, {5, 7, 3}, {17, 13, 20}};
    for (int i = 0; i < 3; i++) {
        int c = ups[i][0], h = ups[i][1], w = ups[i][2];
        size_t nx = (size_t)c * h * w, ny = nx * 4;
        float *x = rand_f(nx, 1.0f), *yr = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
        ref->upsample2x(&rc, c, h, w, x, yr);
        fast->upsample2x(&c1, c, h, w, x, y1);
        fast->upsample2x(&c3, c, h, w, x, y3);
        snprintf(what, sizeof what, "upsample c%d %dx%d", c, h, w);
        compare(what, yr, y1, y3, ny, 0.0);
        dl_free_aligned(x);
        dl_free_aligned(yr);
        dl_free_aligned(y1);
        dl_free_aligned(y3);
    }
    /* softmax */
    static const int sm[][2] = {{1, 1}, {7, 13}, {300, 80}, {33, 257}, {3, 40000}};
    for (int i = 0; i < 5; i++) {
        size_t n = (size_t)sm[i][0] * sm[i][1];
        float *yr = rand_f(n, 8.0f), *y1 = copy_f(yr, n), *y3 = copy_f(yr, n);
        ref->softmax_rows(&rc, sm[i][0], sm[i][1], yr);
        fast->softmax_rows(&c1, sm[i][0], sm[i][1], y1);
        fast->softmax_rows(&c3, sm[i][0], sm[i][1], y3);
        snprintf(what, sizeof what, "softmax %dx%d", sm[i][0], sm[i][1]);
        compare(what, yr, y1, y3, n, 1e-6);
        dl_free_aligned(yr);
        dl_free_aligned(y1);
        dl_free_aligned(y3);
    }
    /* activations */
    static const size_t sizes[] = {1, 7, 33, 16385, 100003};
    for (int a = 0; a < 5; a++)
        for (int i = 0; i < 5; i++) {
            size_t n = sizes[i];
            float *yr = rand_f(n, 12.0f);
            if (n > 3) {
                yr[0] = 0.0f;
                yr[1] = -100.0f;
                yr[2] = 100.0f;
            }
            float *y1 = copy_f(yr, n), *y3 = copy_f(yr, n);
            ref->activate(&rc, n, (dl_act)a, yr);
            fast->activate(&c1, n, (dl_act)a, y1);
            fast->activate(&c3, n, (dl_act)a, y3);
            snprintf(what, sizeof what, "activate act%d n%zu", a, n);
            compare(what, yr, y1, y3, n, 1e-6);
            dl_free_aligned(yr);
            dl_free_aligned(y1);
            dl_free_aligned(y3);
        }
    /* add, including y aliasing a */
    for (int i = 0; i < 5; i++) {
        size_t n = sizes[i];
        float *a = rand_f(n, 1.0f), *b = rand_f(n, 1.0f);
        float *yr = alloc_f(n), *y1 = copy_f(a, n), *y3 = alloc_f(n);
        ref->add(&rc, n, a, b, yr);
        fast->add(&c1, n, y1, b, y1);
        fast->add(&c3, n, a, b, y3);
        snprintf(what, sizeof what, "add n%zu", n);
        compare(what, yr, y1, y3, n, 0.0);
        dl_free_aligned(a);
        dl_free_aligned(b);
        dl_free_aligned(yr);
        dl_free_aligned(y1);
        dl_free_aligned(y3);
    }
}

/* --------------------------------------------------------------------------------- bf16 --- */

static float *bf16_copy(const float *x, size_t n) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = dl_bf16_round(x[i]);
    return p;
}

/* The bf16 table's linear and GEMM-path conv2d against the reference on the operands rounded
 * to bf16 (the products are then exact in fp32: only the order of the sums differs), 1 vs 3
 * threads bitwise; and far enough from the fp32 result to show the rounding happened. */
static void test_bf16_linear(const dl_ops *bf, int t, int n, int k, int variant) {
    dl_act act = (dl_act)(variant % 5);
    bool use_bias = variant % 2 == 1;
    int ldx = k + variant % 3, ldy = n + variant % 2;
    float *x = rand_f((size_t)t * ldx, 1.0f), *w = rand_f((size_t)n * k, 0.5f);
    float *b = rand_f((size_t)n, 0.5f);
    float *xr = bf16_copy(x, (size_t)t * ldx), *wr = bf16_copy(w, (size_t)n * k);
    size_t ny = (size_t)t * ldy;
    float *yr = alloc_f(ny), *yf = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    ref->linear(&rc, t, n, k, xr, ldx, WR(wr), WR(use_bias ? b : NULL), act, yr, ldy);
    ref->linear(&rc, t, n, k, x, ldx, WR(w), WR(use_bias ? b : NULL), act, yf, ldy);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int i = 0; i < 2; i++) {
        dl_ops_ctx tmp = {pools[i], NULL, 0, NULL};
        dl_ops_ctx c = ctx_make(pools[i], bf->linear_scratch(&tmp, t, n, k));
        bf->linear(&c, t, n, k, x, ldx, WR(w), WR(use_bias ? b : NULL), act, outs[i], ldy);
        ctx_done(&c, "bf16 linear");
    }
    /* the ldy gaps compared too: poisoned in all four */
    char what[128];
    snprintf(what, sizeof what, "bf16 linear t%d n%d k%d act%d bias%d [%s]", t, n, k, (int)act,
             use_bias, dl_sgemm_bf16_kernel_name());
    compare(what, yr, y1, y3, ny, TOL);
    if (k >= 16 && act != DL_ACT_SIGMOID) /* (sigmoid flattens the differences) */
        CHECK_MSG(dl_rel_err(y1, yr, ny) * 4 < dl_rel_err(y1, yf, ny),
                  "%s: no bf16 rounding seen (rel %.3g to bf16 ref, %.3g to fp32)", what,
                  dl_rel_err(y1, yr, ny), dl_rel_err(y1, yf, ny));
    dl_free_aligned(x);
    dl_free_aligned(w);
    dl_free_aligned(b);
    dl_free_aligned(xr);
    dl_free_aligned(wr);
    dl_free_aligned(yr);
    dl_free_aligned(yf);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

static void test_bf16_conv(const dl_ops *bf, const conv_case *cc, int variant) {
    dl_conv2d_desc d = {cc->cin, cc->cout,   cc->kh, cc->kw, cc->sh, cc->sw, cc->pt,
                        cc->pl,  cc->groups, cc->h,  cc->w,  0,      0};
    d.out_h = dl_conv_out_size(cc->h, cc->kh, cc->sh, cc->pt + cc->pb, false);
    d.out_w = dl_conv_out_size(cc->w, cc->kw, cc->sw, cc->pl + cc->pr, false);
    dl_act act = (dl_act)(variant % 5);
    const float *bias = NULL;
    size_t nx = (size_t)cc->cin * cc->h * cc->w;
    size_t nw = (size_t)cc->cout * (cc->cin / cc->groups) * cc->kh * cc->kw;
    size_t ny = (size_t)cc->cout * d.out_h * d.out_w;
    float *x = rand_f(nx, 1.0f), *w = rand_f(nw, 0.5f), *b = rand_f((size_t)cc->cout, 0.5f);
    float *res = rand_f(ny, 1.0f);
    float *xr = bf16_copy(x, nx), *wr = bf16_copy(w, nw);
    if (variant % 2) bias = b;
    const float *r = variant % 3 == 1 ? res : NULL;
    float *yr = alloc_f(ny), *y1 = alloc_f(ny), *y3 = alloc_f(ny);
    dl_ops_ctx rc = {NULL, NULL, 0, NULL};
    ref->conv2d(&rc, &d, xr, WR(wr), WR(bias), r, act, yr);
    float *outs[2] = {y1, y3};
    dl_threadpool *pools[2] = {pool1, pool3};
    for (int t = 0; t < 2; t++) {
        dl_ops_ctx tmp = {pools[t], NULL, 0, NULL};
        dl_ops_ctx c = ctx_make(pools[t], bf->conv2d_scratch(&tmp, &d));
        bf->conv2d(&c, &d, x, WR(w), WR(bias), r, act, outs[t]);
        ctx_done(&c, "bf16 conv2d");
    }
    char what[160];
    snprintf(what, sizeof what, "bf16 conv cin%d cout%d k%dx%d s%d g%d %dx%d act%d [%s]", cc->cin,
             cc->cout, cc->kh, cc->kw, cc->sh, cc->groups, cc->h, cc->w, (int)act,
             dl_sgemm_bf16_kernel_name());
    compare(what, yr, y1, y3, ny, TOL);
    /* the padded-input path of k x k stride-1 convs (ops.h: dl_conv_flat_force) gives the
     * gathered path's bits, with the residual apart and aliasing the output; it runs where
     * the bf16 kernel takes pairs (elsewhere there is nothing to compare) */
    if (dl_sgemm_bf16_pairs()) {
        float *yg = alloc_f(ny), *ya = alloc_f(ny), *yga = alloc_f(ny);
        for (int forced = 0; forced < 2; forced++) {
            dl_conv_flat_force(forced);
            dl_ops_ctx tmp = {pool3, NULL, 0, NULL};
            dl_ops_ctx c = ctx_make(pool3, bf->conv2d_scratch(&tmp, &d));
            float *o = forced ? yg : y3, *oa = forced ? yga : ya;
            if (forced) bf->conv2d(&c, &d, x, WR(w), WR(bias), r, act, o);
            memcpy(oa, res, ny * sizeof(float));
            bf->conv2d(&c, &d, x, WR(w), WR(bias), oa, act, oa);
            ctx_done(&c, "bf16 conv2d, flat or gathered");
        }
        dl_conv_flat_force(0);
        CHECK_MSG(memcmp(y3, yg, ny * sizeof(float)) == 0 &&
                      memcmp(ya, yga, ny * sizeof(float)) == 0,
                  "%s: the padded-input path differs from the gathered one", what);
        dl_free_aligned(yg);
        dl_free_aligned(ya);
        dl_free_aligned(yga);
    }
    dl_free_aligned(x);
    dl_free_aligned(w);
    dl_free_aligned(b);
    dl_free_aligned(res);
    dl_free_aligned(xr);
    dl_free_aligned(wr);
    dl_free_aligned(yr);
    dl_free_aligned(y1);
    dl_free_aligned(y3);
}

static void test_bf16(void) {
    const dl_ops *bf = dl_ops_cpu_bf16();
    char want[48];
    snprintf(want, sizeof want, "%s+bf16", fast->name);
    CHECK_MSG(strcmp(bf->name, want) == 0, "bf16 table %s at level %s", bf->name, fast->name);
    CHECK(dl_bf16_round(1.0f + 1.0f / 512) == 1.0f);              /* ties to even: down */
    CHECK(dl_bf16_round(1.0f + 3.0f / 512) == 1.0f + 4.0f / 512); /* ties to even: up */
    CHECK(dl_bf16_round(-2.5f) == -2.5f);
    float nan = dl_bf16_round(NAN);
    CHECK(nan != nan);
#if defined(__x86_64__) || defined(_M_X64)
    if (dl_cpu_caps_get()->avx512bf16) {
        /* the vector conversion of B strips: the scalar rounding's bits, specials included */
        enum { KC = 7 };
        float src[KC * 32];
        uint32_t got[(KC + 1) / 2 * 32];
        static const float special[] = {
            1.0f + 1.0f / 512, 1.0f + 3.0f / 512, -2.5f,    0.0f,     -0.0f,    1e-40f,
            -3e-39f,           FLT_MAX,           -FLT_MAX, INFINITY, -INFINITY};
        for (int i = 0; i < KC * 32; i++)
            src[i] = i < 11 ? special[i] : i == 11 ? NAN : dl_test_rand(&rng) * 1e3f;
        dl_gemm_strip32_to_bf16_avx512(src, KC, got);
        bool same = true;
        for (int p = 0; p < KC; p++)
            for (int j = 0; j < 32; j++) {
                float r = dl_bf16_round(src[p * 32 + j]);
                uint32_t bits;
                memcpy(&bits, &r, sizeof bits);
                uint32_t v = got[(p / 2) * 32 + j] >> (p % 2 ? 16 : 0) & 0xffffu;
                if (v != bits >> 16) same = false;
            }
        CHECK_MSG(same, "AVX-512 bf16 strip conversion differs from the scalar rounding");
        /* the same straight from a row-major matrix (KC x 45, ld 47: a full strip and a
         * partial one, an odd last k row), and one row as pairs (45 values: 23 pairs) */
        enum { NC = 45, LD = 47 };
        float rows[KC * LD];
        uint32_t strips[2 * ((KC + 1) / 2) * 32], pairs[24];
        for (int i = 0; i < KC * LD; i++)
            rows[i] = i < 11 ? special[i] : i == 11 ? NAN : dl_test_rand(&rng) * 1e3f;
        for (size_t i = 0; i < sizeof strips / sizeof strips[0]; i++) strips[i] = 0xdeadbeefu;
        for (int i = 0; i < 24; i++) pairs[i] = 0xdeadbeefu;
        dl_gemm_rows_to_bf16_strips32_avx512(rows, LD, KC, NC, strips);
        dl_gemm_row_to_bf16_pairs_avx512(rows, NC, pairs);
        same = true;
        for (int p = 0; p < KC + 1; p++)
            for (int j = 0; j < 64; j++) {
                uint32_t expect = 0; /* zero past KC and past NC */
                if (p < KC && j < NC) {
                    float r = dl_bf16_round(rows[p * LD + j]);
                    memcpy(&expect, &r, sizeof expect);
                    expect >>= 16;
                }
                uint32_t v = strips[(j / 32) * ((KC + 1) / 2) * 32 + (p / 2) * 32 + j % 32];
                if ((v >> (p % 2 ? 16 : 0) & 0xffffu) != expect) same = false;
            }
        for (int j = 0; j < NC + 1; j++) {
            uint32_t expect = 0;
            if (j < NC) {
                float r = dl_bf16_round(rows[j]);
                memcpy(&expect, &r, sizeof expect);
                expect >>= 16;
            }
            if ((pairs[j / 2] >> (j % 2 ? 16 : 0) & 0xffffu) != expect) same = false;
        }
        CHECK_MSG(same && pairs[23] == 0xdeadbeefu,
                  "AVX-512 bf16 row conversion differs from the scalar rounding");
    }
#endif
    static const int shapes[][3] = {{1, 1, 1},     {7, 13, 17},     {13, 33, 65},   {17, 7, 257},
                                    {33, 65, 13},  {300, 256, 256}, {121, 17, 513}, {1, 300, 33},
                                    {25, 40, 300}, {6, 80, 7}};
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++)
        for (int v = 0; v < 3; v++)
            test_bf16_linear(bf, shapes[i][0], shapes[i][1], shapes[i][2], i * 3 + v);
    /* the GEMM path only: the direct and Winograd paths stay fp32 */
    dl_conv_direct_force(1);
    dl_conv_winograd_force(1);
    static const conv_case cases[] = {
        /* cin cout kh kw sh sw pt pl pb pr g h w */
        {65, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 13, 7},
        {300, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 5, 7},
        {17, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 9, 11},
        {33, 65, 3, 3, 2, 2, 1, 1, 1, 1, 1, 17, 13},
        {3, 17, 7, 7, 2, 2, 3, 3, 3, 3, 1, 33, 29},
        {8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, 7, 9},
        {13, 17, 1, 1, 2, 2, 0, 0, 0, 0, 1, 11, 9},
        {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 20, 20},
        /* K past the pair kernels' 512-deep blocks: 3 blocks of 344/343 (1x1, B as it lies,
         * shared and per-task B panels), 2 of 266/265 (implicit GEMM, odd last block) */
        {1031, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 6, 7},
        {1031, 29, 1, 1, 1, 1, 0, 0, 0, 0, 1, 6, 7},
        {59, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 9, 7},
        /* 20 strips of output pixels: the implicit GEMM's pairs packer does 16 at a time */
        {5, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 23, 27},
        /* the padded-input path: uneven padding, none, 2x2 and 1x3 taps, odd cin, a map
         * narrower than a strip, K past a block */
        {6, 9, 3, 3, 1, 1, 0, 1, 2, 0, 1, 11, 8},
        {7, 5, 3, 3, 1, 1, 0, 0, 0, 0, 1, 10, 13},
        {4, 6, 2, 2, 1, 1, 0, 0, 1, 1, 1, 9, 9},
        {9, 10, 1, 3, 1, 1, 0, 1, 0, 1, 1, 5, 40},
        {120, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 5},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        for (int v = 0; v < 3; v++) test_bf16_conv(bf, &cases[i], i * 3 + v);
    dl_conv_direct_force(0);
    dl_conv_winograd_force(0);
}

/* ------------------------------------------------------------- weights packed once --- */

/* One conv2d or linear call of table `t` with the weights packed once in pw (or not: pw NULL),
 * on `pool`; out poisoned first. `registered`: w and b are given as buffers 0 and 1 of the
 * model (dl_wref), else as operands that are not model weights. */
static void packed_call(const dl_ops *t, dl_threadpool *pool, dl_packed_weights *pw,
                        bool registered, const dl_conv2d_desc *d, int lt, int ln, int lk,
                        const float *x, float *wp, float *bp, float *out, size_t ny) {
    dl_wref w = {wp, registered ? 0 : DL_WBUF_NONE, 0}, b = {bp, registered ? 1 : DL_WBUF_NONE, 0};
    for (size_t i = 0; i < ny; i++) out[i] = POISON;
    dl_ops_ctx tmp = {pool, NULL, 0, NULL};
    size_t need = d ? t->conv2d_scratch(&tmp, d) : t->linear_scratch(&tmp, lt, ln, lk);
    dl_ops_ctx c = ctx_make(pool, need);
    c.backend = pw;
    if (d) t->conv2d(&c, d, x, &w, &b, NULL, DL_ACT_SILU, out);
    else t->linear(&c, lt, ln, lk, x, lk + 1, &w, &b, DL_ACT_GELU, out, ln);
    dl_error err;
    CHECK_MSG(t->sync(&c, &err) == DL_OK, "packed weights: %s", err.message);
    ctx_done(&c, "packed weights");
}

/* The GEMM paths with their weights packed once (packed_weights.h) give the bits of the same
 * call without, fp32 and bf16, 1 and 3 threads, first (packing) and second (cached) use; only
 * the registered weights are packed, and nothing past the cap. */
static void test_packed_weights(void) {
    static const conv_case cases[] = {
        /* cin cout kh kw sh sw pt pl pb pr g h w */
        {65, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 13, 7},  {300, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 5, 7},
        {33, 65, 3, 3, 2, 2, 1, 1, 1, 1, 1, 17, 13}, {8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, 7, 9},
        {17, 253, 3, 3, 1, 1, 1, 1, 1, 1, 1, 9, 11}, {520, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 3, 5},
    };
    static const int lin[][3] = {{1, 1, 1}, {7, 13, 17}, {130, 45, 300}, {33, 37, 600}};
    int ncases = (int)(sizeof cases / sizeof cases[0]), nlin = (int)(sizeof lin / sizeof lin[0]);
    dl_conv_direct_force(1);
    dl_conv_winograd_force(1);
    for (int bf = 0; bf < 2; bf++) {
        const dl_ops *t = bf ? dl_ops_cpu_bf16() : fast;
        for (int i = 0; i < ncases + nlin; i++) {
            dl_conv2d_desc d = {0};
            size_t nx, nw, ny, nb;
            int lt = 0, ln = 0, lk = 0;
            bool conv = i < ncases;
            if (conv) {
                const conv_case *cc = &cases[i];
                d = (dl_conv2d_desc){cc->cin, cc->cout,   cc->kh, cc->kw, cc->sh, cc->sw, cc->pt,
                                     cc->pl,  cc->groups, cc->h,  cc->w,  0,      0};
                d.out_h = dl_conv_out_size(cc->h, cc->kh, cc->sh, cc->pt + cc->pb, false);
                d.out_w = dl_conv_out_size(cc->w, cc->kw, cc->sw, cc->pl + cc->pr, false);
                nx = (size_t)cc->cin * cc->h * cc->w;
                nw = (size_t)cc->cout * (cc->cin / cc->groups) * cc->kh * cc->kw;
                ny = (size_t)cc->cout * d.out_h * d.out_w;
                nb = (size_t)cc->cout;
            } else {
                lt = lin[i - ncases][0], ln = lin[i - ncases][1], lk = lin[i - ncases][2];
                nx = (size_t)lt * (lk + 1);
                nw = (size_t)ln * lk;
                ny = (size_t)lt * ln;
                nb = (size_t)ln;
            }
            const dl_conv2d_desc *dp = conv ? &d : NULL;
            float *x = rand_f(nx, 1.0f), *w = rand_f(nw, 0.5f), *b = rand_f(nb, 0.5f);
            float *want = alloc_f(ny), *got = alloc_f(ny);
            void *ptrs[2] = {w, b};
            size_t bytes[2] = {nw * sizeof(float), nb * sizeof(float)};
            char what[96];
            snprintf(what, sizeof what, "%s %d %s [%s]", conv ? "conv" : "linear", i,
                     bf ? "bf16" : "fp32", t->name);
            for (int p = 0; p < 2; p++) {
                dl_threadpool *pool = p ? pool3 : pool1;
                packed_call(t, pool, NULL, false, dp, lt, ln, lk, x, w, b, want, ny);
                dl_packed_weights *pw = dl_packed_weights_new((size_t)1 << 30);
                CHECK(pw && dl_packed_weights_set_buffers(pw, ptrs, bytes, 2));
                for (int use = 0; use < 2; use++) {
                    packed_call(t, pool, pw, true, dp, lt, ln, lk, x, w, b, got, ny);
                    CHECK_MSG(memcmp(want, got, ny * sizeof(float)) == 0,
                              "%s: packed-once weights change the result (use %d, %d threads)",
                              what, use, p ? 3 : 1);
                }
                CHECK_MSG(dl_packed_weights_bytes(pw) > 0, "%s: nothing packed", what);
                dl_packed_weights_free(pw);
                if (p) continue;
                /* not a model weight, or over the cap: nothing packed, same result */
                pw = dl_packed_weights_new((size_t)1 << 30);
                CHECK(pw && dl_packed_weights_set_buffers(pw, ptrs, bytes, 2));
                packed_call(t, pool, pw, false, dp, lt, ln, lk, x, w, b, got, ny);
                CHECK_MSG(dl_packed_weights_bytes(pw) == 0, "%s: unregistered packed", what);
                CHECK(memcmp(want, got, ny * sizeof(float)) == 0);
                dl_packed_weights_free(pw);
                pw = dl_packed_weights_new(16);
                CHECK(pw && dl_packed_weights_set_buffers(pw, ptrs, bytes, 2));
                packed_call(t, pool, pw, true, dp, lt, ln, lk, x, w, b, got, ny);
                CHECK_MSG(dl_packed_weights_bytes(pw) == 0, "%s: cap ignored", what);
                CHECK(memcmp(want, got, ny * sizeof(float)) == 0);
                dl_packed_weights_free(pw);
            }
            dl_free_aligned(x);
            dl_free_aligned(w);
            dl_free_aligned(b);
            dl_free_aligned(want);
            dl_free_aligned(got);
        }
    }
    dl_conv_direct_force(0);
    dl_conv_winograd_force(0);
}

/* The whole op-test list at the active level. */
static void run_op_tests(void) {
    test_convs();
    test_linears();
    test_gemm_direct();
    static const int ln[][2] = {{1, 1}, {7, 13}, {300, 256}, {33, 257}};
    for (int i = 0; i < 4; i++)
        for (int m = 0; m < 4; m++) test_layer_norm(ln[i][0], ln[i][1], m);
    test_attention(1, 1, 1, 1, 0);
    test_attention(13, 7, 3, 5, 2);
    test_attention(33, 17, 2, 32, 1);
    test_attention(100, 100, 8, 32, 0);
    test_attention(65, 257, 2, 13, 3);
    /* the tiny model's encoder and decoder, head sizes at and past the block kernel's limit,
     * too little scratch for 8-query blocks (the per-query path) */
    test_attention(400, 400, 2, 16, 0);
    test_attention(40, 40, 2, 16, 0);
    test_attention(9, 33, 1, 256, 1);
    test_attention(9, 20, 1, 300, 0);
    test_attention(3, 50, 2, 16, 1);
    test_attention(17, 9, 4, 8, 0);
    test_deform(17, 8, 32, false, false);
    test_deform(13, 3, 5, false, true);
    test_deform(9, 2, 7, true, true);
    test_deform(1, 1, 1, true, false);
    test_copy_transpose();
    test_pools(5, 13, 11, 3, 2, 1, false);
    test_pools(3, 12, 12, 2, 2, 0, true);
    test_pools(3, 13, 9, 2, 2, 0, true);
    test_pools(2, 1, 1, 3, 2, 1, true);
    test_pools(4, 7, 8, 3, 1, 1, false);
    /* rows wider than one max-pool chunk (1023 outputs of 3x3 s2), the stem's shape, other
     * kernels and strides, odd sizes for the 2x2 average */
    test_pools(2, 5, 4101, 3, 2, 1, false);
    test_pools(3, 6, 2050, 3, 2, 1, true);
    test_pools(16, 64, 64, 3, 2, 1, false);
    test_pools(3, 17, 19, 5, 3, 2, false);
    test_pools(3, 17, 19, 5, 3, 2, true);
    test_pools(2, 9, 7, 4, 1, 0, false);
    test_pools(5, 33, 31, 2, 2, 0, true);
    test_pools(2, 1, 9, 2, 2, 0, true);
    test_elementwise();
    test_bf16();
    test_packed_weights();
}

int main(void) {
    ref = dl_ops_reference();
    pool1 = dl_threadpool_create(1);
    pool3 = dl_threadpool_create(3);
    if (!pool1 || !pool3) return 1;
    /* The levels must be the ones the CPU allows, or this test would only compare the generic
     * kernels with the reference (e.g. under an emulator that hides NEON). */
    dl_cpu_info cpu;
    dl_cpu_info_get(&cpu);
    printf("cpu: %s (%s)\n", cpu.model, cpu.arch);
    dl_cpu_level levels[DL_CPU_LEVEL_COUNT];
    int nl = dl_cpu_levels(levels, DL_CPU_LEVEL_COUNT);
    dl_cpu_level top = levels[nl - 1];
#if defined(__aarch64__)
    CHECK_MSG(cpu.neon, "no NEON reported by HWCAP: the NEON kernels are not exercised");
    CHECK_MSG(top == DL_CPU_NEON || top == DL_CPU_NEONBF16, "NEON present but top level %s",
              dl_cpu_level_name(top));
#elif defined(__x86_64__)
    if (cpu.avx2 && cpu.fma)
        CHECK_MSG(top != DL_CPU_SCALAR, "AVX2+FMA present but top level %s",
                  dl_cpu_level_name(top));
    if (cpu.avx512f && dl_cpu_has(&cpu, "avx512bw") && dl_cpu_has(&cpu, "avx512vl") &&
        dl_cpu_has(&cpu, "avx512dq"))
        CHECK_MSG(top == DL_CPU_AVX512 || top == DL_CPU_AVX512BF16,
                  "AVX-512 present but top level %s", dl_cpu_level_name(top));
#endif
    for (int li = 0; li < nl; li++) {
        CHECK(dl_cpu_set_level(levels[li]));
        fast = dl_ops_cpu();
        printf("level %s: fast ops %s, sgemm kernel %s, bf16 %s, direct conv kernel %s\n",
               dl_cpu_level_name(levels[li]), fast->name, dl_sgemm_kernel_name(),
               dl_sgemm_bf16_kernel_name(), dl_conv_direct_kernel_name());
        CHECK_MSG(dl_cpu_caps_get()->level == levels[li], "level %s not set",
                  dl_cpu_level_name(levels[li]));
        int before = dl_test_failed;
        run_op_tests();
        if (dl_test_failed > before)
            printf("  ^ %d failures at level %s\n", dl_test_failed - before,
                   dl_cpu_level_name(levels[li]));
    }
    CHECK(dl_cpu_set_level(top));
    /* a level of the other architecture is refused */
#if defined(__x86_64__)
    CHECK(!dl_cpu_set_level(DL_CPU_NEON));
#else
    CHECK(!dl_cpu_set_level(DL_CPU_AVX2));
#endif
    printf("worst relative error vs reference: %.3g\n", worst_rel);
    dl_threadpool_free(pool1);
    dl_threadpool_free(pool3);
    return dl_test_finish("test_ops");
}
