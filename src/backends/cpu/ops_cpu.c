/*
 * The fast CPU op table: threads over outputs (never over a reduction) with ctx->pool, the
 * packed SGEMM of gemm.c (AVX-512/AVX2/NEON micro-kernels by the capabilities record,
 * core/cpu_features.h; generic C otherwise),
 * implicit-GEMM convolution, a direct path for small-channel convolutions (conv_direct.c) and
 * a direct depthwise path. No op allocates: temporaries come
 * from ctx->scratch, sized by conv2d_scratch / linear_scratch for the whole pool.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/cpu/act.h"
#include "backends/cpu/attention.h"
#include "backends/cpu/conv_direct.h"
#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/packed_weights.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "ops/ops.h"

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int nthreads_of(const dl_ops_ctx *ctx) { return dl_threadpool_size(ctx->pool); }
static size_t round16(size_t x) { return (x + 15) / 16 * 16; }

/* Per-thread slice of the scratch, 64-byte aligned; each slice `per` floats (rounded). */
static float *thread_scratch(const dl_ops_ctx *ctx, size_t per, int thread) {
    uintptr_t base = ((uintptr_t)ctx->scratch + 63) & ~(uintptr_t)63;
    return (float *)base + (size_t)thread * round16(per);
}

/* ------------------------------------------------------------------------ activations --- */

static void act_span(dl_act act, float *x, size_t n) { dl_cpu_act_span(act, x, n); }

#define ELEM_CHUNK 16384

typedef struct elem_job {
    size_t n;
    dl_act act;
    float *x;
    const float *a, *b;
} elem_job;

static void activate_task(void *arg, int task, int thread) {
    (void)thread;
    elem_job *j = arg;
    size_t i0 = (size_t)task * ELEM_CHUNK;
    size_t n = j->n - i0 < ELEM_CHUNK ? j->n - i0 : ELEM_CHUNK;
    act_span(j->act, j->x + i0, n);
}

static void cpu_activate(dl_ops_ctx *ctx, size_t n, dl_act act, float *x) {
    if (act == DL_ACT_NONE || n == 0) return;
    elem_job j = {n, act, x, NULL, NULL};
    dl_parallel_for(ctx->pool, (int)((n + ELEM_CHUNK - 1) / ELEM_CHUNK), activate_task, &j);
}

static void add_task(void *arg, int task, int thread) {
    (void)thread;
    elem_job *j = arg;
    size_t i0 = (size_t)task * ELEM_CHUNK;
    size_t n = j->n - i0 < ELEM_CHUNK ? j->n - i0 : ELEM_CHUNK;
    const float *a = j->a + i0, *b = j->b + i0;
    float *y = j->x + i0;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void cpu_add(dl_ops_ctx *ctx, size_t n, const float *a, const float *b, float *y) {
    if (n == 0) return;
    elem_job j = {n, DL_ACT_NONE, y, a, b};
    dl_parallel_for(ctx->pool, (int)((n + ELEM_CHUNK - 1) / ELEM_CHUNK), add_task, &j);
}

/* ----------------------------------------------------------------------------- conv2d --- */

static bool conv_is_depthwise(const dl_conv2d_desc *d) {
    return d->groups > 1 && d->groups == d->cin && d->groups == d->cout;
}

static bool conv_is_pointwise(const dl_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
           d->pad_left == 0 && d->out_h == d->in_h && d->out_w == d->in_w;
}

static size_t cpu_conv2d_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    int g = d->groups > 0 ? d->groups : 1;
    if (conv_is_depthwise(d)) return (size_t)nthreads_of(ctx) * round16((size_t)d->out_w) + 16;
    int m = d->cout / g, n = d->out_h * d->out_w, k = d->cin / g * d->kh * d->kw;
    size_t need = dl_sgemm_scratch(ctx->pool, m, n, k);
    /* room for either path whatever dl_conv_direct_use says (its testing hook may change) */
    if (g == 1) {
        size_t dn = dl_conv_direct_scratch(d, nthreads_of(ctx));
        if (dn > need) need = dn;
        /* Winograd's transformed weights are large for wide convs: only where it runs (the
         * model reserves right before each call, so the policy cannot change in between) */
        if (dl_conv_winograd_use(d)) {
            size_t wn = dl_conv_winograd_scratch(d, nthreads_of(ctx));
            if (wn > need) need = wn;
        }
    }
    return need;
}

/* The bf16 table's conv scratch: the flat path's too where it may run (conv_flat_run). */
static size_t flat_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d);
static bool conv_flat_applies(const dl_conv2d_desc *d);
static size_t cpu_conv2d_scratch_bf16(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    size_t need = cpu_conv2d_scratch(ctx, d);
    if (conv_flat_applies(d)) {
        size_t f = flat_scratch(ctx, d);
        if (f > need) need = f;
    }
    return need;
}

/* Implicit im2col: row k = (ci, ky, kx), column n = (oy, ox) of the output. */
typedef struct conv_src {
    const float *x; /* first channel of the group */
    int kh, kw, sh, sw, pt, pl, h, w, oh, ow;
} conv_src;

/* A strip of output pixels (columns n0 .. n0+wdt) cut into runs along one output row (a 20-
 * or 40-wide map puts 2-3 rows in a 32-wide strip): run q covers strip columns
 * [j[q], j[q+1]) from output pixel (oy[q], ox[q]). */
typedef struct strip_runs {
    int n;
    int j[DL_GEMM_MAX_NR + 1], oy[DL_GEMM_MAX_NR], ox[DL_GEMM_MAX_NR];
} strip_runs;

static void strip_runs_of(const conv_src *cs, int n0, int wdt, strip_runs *sr) {
    int oy = n0 / cs->ow, ox = n0 % cs->ow;
    sr->n = 0;
    for (int j = 0; j < wdt; sr->n++) {
        int len = imin(wdt - j, cs->ow - ox);
        sr->j[sr->n] = j;
        sr->oy[sr->n] = oy;
        sr->ox[sr->n] = ox;
        j += len;
        ox = 0;
        oy++;
    }
    sr->j[sr->n] = wdt;
}

/* One row k = (ci, ky, kx) of the strip into dp[0 .. nr): each run a copy (stride 1) or a
 * strided gather of the input row, zeros where it reads the padding and past the strip. */
static void gather_tap_row(const conv_src *cs, const strip_runs *sr, int ci, int ky, int kx, int nr,
                           float *dp) {
    const float *xc = cs->x + (size_t)ci * cs->h * cs->w;
    for (int q = 0; q < sr->n; q++) {
        float *o = dp + sr->j[q];
        int len = sr->j[q + 1] - sr->j[q];
        int iy = sr->oy[q] * cs->sh - cs->pt + ky;
        if (iy < 0 || iy >= cs->h) {
            memset(o, 0, (size_t)len * sizeof(float));
            continue;
        }
        const float *xr = xc + (size_t)iy * cs->w;
        int sw = cs->sw, ix0 = sr->ox[q] * sw - cs->pl + kx;
        /* elements t in [lo, hi) read inside the row: 0 <= ix0 + t sw < w */
        int lo = ix0 >= 0 ? 0 : imin(len, (-ix0 + sw - 1) / sw);
        int hi = ix0 >= cs->w ? 0 : imin(len, (cs->w - 1 - ix0) / sw + 1);
        if (hi < lo) hi = lo;
        for (int t = 0; t < lo; t++) o[t] = 0.0f;
        if (hi > lo && sw == 1) memcpy(o + lo, xr + ix0 + lo, (size_t)(hi - lo) * sizeof(float));
        else
            for (int t = lo; t < hi; t++) o[t] = xr[ix0 + t * sw];
        for (int t = hi; t < len; t++) o[t] = 0.0f;
    }
    for (int j = sr->j[sr->n]; j < nr; j++) dp[j] = 0.0f;
}

/* Row k = (ci, ky, kx) of a strip as a pointer into the input, when it is one: the strip is
 * nr output pixels of one output row (one run), stride 1, all inside the input row. Else NULL
 * (gather_tap_row then copies it with the padding's zeros). */
static const float *tap_span(const conv_src *cs, const strip_runs *sr, int ci, int ky, int kx,
                             int nr) {
    if (sr->n != 1 || sr->j[1] != nr || cs->sw != 1) return NULL;
    int iy = sr->oy[0] * cs->sh - cs->pt + ky, ix0 = sr->ox[0] - cs->pl + kx;
    if (iy < 0 || iy >= cs->h || ix0 < 0 || ix0 + nr > cs->w) return NULL;
    return cs->x + ((size_t)ci * cs->h + (size_t)iy) * cs->w + ix0;
}

/* the next row of the implicit im2col: (ci, ky, kx) in that order of significance */
static void next_tap(const conv_src *cs, int *ci, int *ky, int *kx) {
    if (++*kx == cs->kw) {
        *kx = 0;
        if (++*ky == cs->kh) {
            *ky = 0;
            ++*ci;
        }
    }
}

/* The implicit im2col's rows [k0, k0+kc) x columns [n0, n0+nc) as fp32 strips (gemm.h:
 * dl_gemm_pack_b_fn). */
static void conv_pack_b(const void *ctxp, int k0, int kc, int n0, int nc, int nr, float *dst) {
    const conv_src *cs = ctxp;
    int khw = cs->kh * cs->kw;
    strip_runs sr;
    for (int s = 0; s < nc; s += nr) {
        strip_runs_of(cs, n0 + s, imin(nr, nc - s), &sr);
        float *d = dst + (size_t)(s / nr) * kc * nr;
        int ci = k0 / khw, ky = k0 % khw / cs->kw, kx = k0 % cs->kw;
        for (int p = 0; p < kc; p++) {
            gather_tap_row(cs, &sr, ci, ky, kx, nr, d + (size_t)p * nr);
            next_tap(cs, &ci, &ky, &kx);
        }
    }
}

/* The same as bf16 k pairs (gemm.h: dl_gemm_pack_b_pairs_fn), two rows gathered at a time
 * into rows of nr floats and converted, so that no fp32 strip is staged. K pairs outer over
 * groups of strips: each tap then reads PAIR_STRIPS x nr contiguous output pixels of an input
 * row, instead of nr from each of kc rows per strip (which no prefetcher follows). */
#define PAIR_STRIPS 1
static void conv_pack_b_pairs(const void *ctxp, int k0, int kc, int n0, int nc, int nr,
                              uint32_t *dst) {
    const conv_src *cs = ctxp;
    int khw = cs->kh * cs->kw, kc2 = (kc + 1) / 2;
    strip_runs sr[PAIR_STRIPS];
    float rows[2][DL_GEMM_MAX_NR];
    for (int g = 0; g < nc; g += PAIR_STRIPS * nr) {
        int ns = imin(PAIR_STRIPS, (nc - g + nr - 1) / nr);
        for (int t = 0; t < ns; t++)
            strip_runs_of(cs, n0 + g + t * nr, imin(nr, nc - g - t * nr), &sr[t]);
        uint32_t *d = dst + (size_t)(g / nr) * kc2 * nr;
        int ci = k0 / khw, ky = k0 % khw / cs->kw, kx = k0 % cs->kw;
        for (int q = 0; q < kc2; q++) {
            bool pair = 2 * q + 1 < kc;
            int ci1 = ci, ky1 = ky, kx1 = kx;
            next_tap(cs, &ci1, &ky1, &kx1);
            for (int t = 0; t < ns; t++) {
                /* a full strip on one output row, reading inside the input rows: converted
                 * straight from them (most strips of a large map), else gathered first */
                const float *s0 = tap_span(cs, &sr[t], ci, ky, kx, nr);
                const float *s1 = pair ? tap_span(cs, &sr[t], ci1, ky1, kx1, nr) : NULL;
                if (!s0 || (pair && !s1)) {
                    gather_tap_row(cs, &sr[t], ci, ky, kx, nr, rows[0]);
                    s0 = rows[0];
                    if (pair) {
                        gather_tap_row(cs, &sr[t], ci1, ky1, kx1, nr, rows[1]);
                        s1 = rows[1];
                    }
                }
                dl_gemm_pairs_of_rows(s0, s1, nr, d + ((size_t)t * kc2 + q) * nr);
            }
            ci = ci1, ky = ky1, kx = kx1;
            if (pair) next_tap(cs, &ci, &ky, &kx);
        }
    }
}

/*
 * bf16 convolutions with k x k taps at stride 1 (the 3x3 convs of ResNet and the encoder), when
 * the bf16 kernel takes k pairs: the input is padded and rounded to bf16 once, [Cin][H'][W']
 * (H' = OH + KH - 1, W' = OW + KW - 1), and the GEMM runs over OH x W' columns, the padded
 * width: column n = oy W' + ox then reads tap (ky, kx) of channel ci at xb[ci][n + ky W' + kx],
 * one contiguous row for every k row of a strip. B is packed by interleaving two such rows (no
 * gather, no padding checks, no rounding per tap), the W' - OW extra columns a row are computed
 * and dropped. Same K order, K blocks, products and sums as the gathered path: same bits.
 */
typedef struct flat_src {
    const uint16_t *xb; /* [cin][hp][wp] bf16 bits, zero padding, slack after */
    int kh, kw, wp;
    size_t plane; /* hp x wp */
} flat_src;

static bool conv_flat_applies(const dl_conv2d_desc *d) {
    return (d->groups <= 1) && d->stride_h == 1 && d->stride_w == 1 && d->kh * d->kw > 1 &&
           !conv_is_pointwise(d);
}

/* Floats of scratch the flat path takes besides the GEMM's: xb (with a strip of slack) and
 * the padded-width output. */
static void flat_dims(const dl_conv2d_desc *d, int *hp, int *wp, size_t *xb_floats,
                      size_t *c_floats) {
    *hp = d->out_h + d->kh - 1;
    *wp = d->out_w + d->kw - 1;
    size_t xb = (size_t)d->cin * (size_t)*hp * (size_t)*wp + (size_t)d->kw + DL_GEMM_MAX_NR;
    *xb_floats = round16((xb + 1) / 2);
    *c_floats = round16((size_t)d->cout * (size_t)d->out_h * (size_t)*wp);
}

static size_t flat_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    int hp, wp;
    size_t xb, cf;
    flat_dims(d, &hp, &wp, &xb, &cf);
    int k = d->cin * d->kh * d->kw;
    return xb + cf + dl_sgemm_scratch(ctx->pool, d->cout, d->out_h * wp, k) + 16;
}

static const uint16_t *flat_row(const flat_src *fs, int k) {
    int khw = fs->kh * fs->kw, ci = k / khw, t = k % khw;
    return fs->xb + (size_t)ci * fs->plane + (size_t)(t / fs->kw) * fs->wp + t % fs->kw;
}

/* dl_gemm_pack_b_pairs_fn over the padded input (strips past the columns read zeros or other
 * channels' values into columns that are dropped) */
static void flat_pack_b_pairs(const void *ctxp, int k0, int kc, int n0, int nc, int nr,
                              uint32_t *dst) {
    const flat_src *fs = ctxp;
    int kc2 = (kc + 1) / 2;
    for (int q = 0; q < kc2; q++) {
        const uint16_t *r0 = flat_row(fs, k0 + 2 * q) + n0;
        const uint16_t *r1 = 2 * q + 1 < kc ? flat_row(fs, k0 + 2 * q + 1) + n0 : NULL;
        for (int s = 0; s < nc; s += nr)
            dl_gemm_pairs_of_bf16_rows(r0 + s, r1 ? r1 + s : NULL, nr,
                                       dst + ((size_t)(s / nr) * kc2 + q) * nr);
    }
}

/* the same as fp32 strips of the rounded values (dl_gemm_pack_b_fn; the driver takes pairs
 * from the kernels this path runs with, this is for completeness) */
static void flat_pack_b(const void *ctxp, int k0, int kc, int n0, int nc, int nr, float *dst) {
    const flat_src *fs = ctxp;
    for (int p = 0; p < kc; p++) {
        const uint16_t *r = flat_row(fs, k0 + p) + n0;
        for (int s = 0; s < nc; s += nr)
            for (int j = 0; j < nr; j++) {
                uint32_t u = (uint32_t)r[s + j] << 16;
                memcpy(dst + ((size_t)(s / nr) * kc + p) * nr + j, &u, sizeof u);
            }
    }
}

typedef struct flat_job {
    const dl_conv2d_desc *d;
    const float *x, *residual;
    uint16_t *xb;
    float *c, *y;
    int hp, wp;
} flat_job;

/* channel ci of the input, padded and rounded: xb[ci] */
static void flat_input_task(void *arg, int ci, int thread) {
    (void)thread;
    const flat_job *j = arg;
    const dl_conv2d_desc *d = j->d;
    uint16_t *dst = j->xb + (size_t)ci * j->hp * j->wp;
    const float *xc = j->x + (size_t)ci * d->in_h * d->in_w;
    int cols = imin(d->in_w, j->wp - d->pad_left); /* input columns inside the padded row */
    for (int py = 0; py < j->hp; py++) {
        uint16_t *row = dst + (size_t)py * j->wp;
        int iy = py - d->pad_top;
        memset(row, 0, (size_t)j->wp * sizeof *row);
        if (iy < 0 || iy >= d->in_h || cols <= 0) continue;
        dl_gemm_bf16_row(xc + (size_t)iy * d->in_w, (size_t)cols, row + d->pad_left);
    }
}

/* output channel co: the residual into the padded-width C, before the GEMM */
static void flat_residual_task(void *arg, int co, int thread) {
    (void)thread;
    const flat_job *j = arg;
    const dl_conv2d_desc *d = j->d;
    float *c = j->c + (size_t)co * d->out_h * j->wp;
    const float *r = j->residual + (size_t)co * d->out_h * d->out_w;
    for (int oy = 0; oy < d->out_h; oy++) {
        memcpy(c + (size_t)oy * j->wp, r + (size_t)oy * d->out_w, (size_t)d->out_w * sizeof *c);
        memset(c + (size_t)oy * j->wp + d->out_w, 0, (size_t)(j->wp - d->out_w) * sizeof *c);
    }
}

/* output channel co: C's kept columns out to y, after the GEMM */
static void flat_output_task(void *arg, int co, int thread) {
    (void)thread;
    const flat_job *j = arg;
    const dl_conv2d_desc *d = j->d;
    const float *c = j->c + (size_t)co * d->out_h * j->wp;
    float *y = j->y + (size_t)co * d->out_h * d->out_w;
    for (int oy = 0; oy < d->out_h; oy++)
        memcpy(y + (size_t)oy * d->out_w, c + (size_t)oy * j->wp, (size_t)d->out_w * sizeof *y);
}

/* The flat path when it applies and the scratch holds it (else false: the gathered path) */
static int flat_force; /* testing hook: 0 auto, 1 never (the gathered path) */
void dl_conv_flat_force(int mode) { flat_force = mode; }

static bool conv_flat_run(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x,
                          const dl_wref *wref, const float *bias, const float *residual, dl_act act,
                          float *y) {
    if (flat_force == 1 || !conv_flat_applies(d) || !dl_sgemm_bf16_pairs()) return false;
    if (ctx->scratch_floats < flat_scratch(ctx, d)) return false;
    int hp, wp;
    size_t xbf, cf;
    flat_dims(d, &hp, &wp, &xbf, &cf);
    int k = d->cin * d->kh * d->kw, n = d->out_h * wp;
    uintptr_t base = ((uintptr_t)ctx->scratch + 63) & ~(uintptr_t)63;
    uint16_t *xb = (uint16_t *)base;
    float *c = (float *)base + xbf;
    float *gs = c + cf;
    flat_job j = {d, x, residual, xb, c, y, hp, wp};
    /* the slack past the last channel: zeros (read only into dropped columns) */
    size_t used = (size_t)d->cin * hp * wp;
    memset(xb + used, 0, (xbf * 2 - used) * sizeof *xb);
    dl_parallel_for(ctx->pool, d->cin, flat_input_task, &j);
    if (residual) dl_parallel_for(ctx->pool, d->cout, flat_residual_task, &j);
    flat_src fs = {xb, d->kh, d->kw, wp, (size_t)hp * wp};
    dl_gemm_bsrc src = {NULL, 0, false, flat_pack_b, &fs, flat_pack_b_pairs};
    /* a residual is C's starting value, as the gathered path's */
    dl_gemm_epi epi = {bias, NULL, residual ? c : NULL, n, act};
    const dl_gemm_packed *pa =
        dl_packed_weights_get(ctx->backend, false, wref, 0, k, d->cout, k, true);
    dl_sgemm_packed_ex(ctx->pool, gs, d->cout, n, k, dl_wref_host(wref), k, pa, &src, NULL, c, n,
                       &epi, true);
    dl_parallel_for(ctx->pool, d->cout, flat_output_task, &j);
    return true;
}

typedef struct dw_job {
    const dl_conv2d_desc *d;
    const float *x, *w, *bias, *residual;
    dl_act act;
    float *y;
    const dl_ops_ctx *ctx;
    int rows_per_task, row_tasks;
} dw_job;

#define DW_ROWS 8

static void dw_task(void *arg, int task, int thread) {
    dw_job *j = arg;
    const dl_conv2d_desc *d = j->d;
    int c = task / j->row_tasks;
    int oy0 = (task % j->row_tasks) * j->rows_per_task;
    int oy1 = imin(d->out_h, oy0 + j->rows_per_task);
    int kh = d->kh, kw = d->kw, sh = d->stride_h, sw = d->stride_w, ow = d->out_w;
    const float *xc = j->x + (size_t)c * d->in_h * d->in_w;
    const float *wk = j->w + (size_t)c * kh * kw;
    float *acc = thread_scratch(j->ctx, (size_t)ow, thread);
    /* output columns where tap kx reads inside the row: ix = ox*sw - pl + kx in [0, W) */
    for (int oy = oy0; oy < oy1; oy++) {
        for (int ox = 0; ox < ow; ox++) acc[ox] = 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            int iy = oy * sh - d->pad_top + ky;
            if (iy < 0 || iy >= d->in_h) continue;
            const float *xr = xc + (size_t)iy * d->in_w;
            for (int kx = 0; kx < kw; kx++) {
                float wv = wk[ky * kw + kx];
                int off = kx - d->pad_left;
                /* ox*sw + off >= 0  and  ox*sw + off <= W-1 */
                int lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int hi = (d->in_w - 1 - off) < 0 ? 0 : (d->in_w - 1 - off) / sw + 1;
                lo = imin(lo, ow);
                hi = imin(hi, ow);
                if (sw == 1) {
                    const float *xs = xr + off;
                    for (int ox = lo; ox < hi; ox++) acc[ox] += wv * xs[ox];
                } else {
                    for (int ox = lo; ox < hi; ox++) acc[ox] += wv * xr[ox * sw + off];
                }
            }
        }
        size_t o = ((size_t)c * d->out_h + oy) * ow;
        float b = j->bias ? j->bias[c] : 0.0f;
        float *yr = j->y + o;
        if (j->bias)
            for (int ox = 0; ox < ow; ox++) acc[ox] += b;
        if (j->residual) {
            const float *rr = j->residual + o;
            for (int ox = 0; ox < ow; ox++) acc[ox] += rr[ox];
        }
        act_span(j->act, acc, (size_t)ow);
        memcpy(yr, acc, (size_t)ow * sizeof(float));
    }
}

/* bf16: the GEMM path's operands rounded to bf16 (gemm.h: dl_sgemm_bf16_ex); the depthwise,
 * direct and Winograd paths (small channel counts) stay fp32. */
static void conv2d_run(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x,
                       const dl_wref *wref, const dl_wref *bref, const float *residual, dl_act act,
                       float *y, bool bf16) {
    if (d->cout <= 0 || d->out_h <= 0 || d->out_w <= 0) return;
    int groups = d->groups > 0 ? d->groups : 1;
    size_t w_floats = (size_t)d->cout * (size_t)(d->cin / groups) * (size_t)d->kh * (size_t)d->kw;
    if (!dl_packed_weights_check(ctx->backend, wref, w_floats) ||
        !dl_packed_weights_check(ctx->backend, bref, (size_t)d->cout))
        return; /* a stale reference: sync reports it */
    const float *w = dl_wref_host(wref), *bias = dl_wref_host(bref);
    if (conv_is_depthwise(d)) {
        dw_job j = {d, x, w, bias, residual, act, y, ctx, DW_ROWS, 0};
        j.row_tasks = (d->out_h + DW_ROWS - 1) / DW_ROWS;
        dl_parallel_for(ctx->pool, d->cout * j.row_tasks, dw_task, &j);
        return;
    }
    if (dl_conv_winograd_use(d) &&
        ctx->scratch_floats >= dl_conv_winograd_scratch(d, nthreads_of(ctx))) {
        dl_conv_winograd(ctx->pool, ctx->scratch, d, x, w, bias, residual, act, y);
        return;
    }
    if (dl_conv_direct_use(d) &&
        ctx->scratch_floats >= dl_conv_direct_scratch(d, nthreads_of(ctx))) {
        dl_conv_direct(ctx->pool, ctx->scratch, d, x, w, bias, residual, act, y);
        return;
    }
    if (bf16 && conv_flat_run(ctx, d, x, wref, bias, residual, act, y)) return;
    int g = d->groups > 0 ? d->groups : 1;
    int cin_g = d->cin / g, cout_g = d->cout / g;
    int n = d->out_h * d->out_w;
    int k = cin_g * d->kh * d->kw;
    size_t in_plane = (size_t)d->in_h * d->in_w, out_plane = (size_t)n;
    for (int gi = 0; gi < g; gi++) {
        const float *xg = x + (size_t)gi * cin_g * in_plane;
        float *yg = y + (size_t)gi * cout_g * out_plane;
        dl_gemm_epi epi = {bias ? bias + (size_t)gi * cout_g : NULL, NULL,
                           residual ? residual + (size_t)gi * cout_g * out_plane : NULL, n, act};
        const float *wg = w + (size_t)gi * cout_g * k;
        conv_src cs = {xg,          d->kh,   d->kw,   d->stride_h, d->stride_w, d->pad_top,
                       d->pad_left, d->in_h, d->in_w, d->out_h,    d->out_w};
        dl_gemm_bsrc src = {NULL, 0, false, conv_pack_b, &cs, conv_pack_b_pairs};
        if (conv_is_pointwise(d)) src = (dl_gemm_bsrc){xg, n, false, NULL, NULL, NULL};
        /* the weights (A) packed once where the detector keeps them (packed_weights.h) */
        const dl_gemm_packed *pa = dl_packed_weights_get(
            ctx->backend, false, wref, (size_t)gi * cout_g * k, k, cout_g, k, bf16);
        dl_sgemm_packed_ex(ctx->pool, ctx->scratch, cout_g, n, k, wg, k, pa, &src, NULL, yg, n,
                           &epi, bf16);
    }
}

static void cpu_conv2d(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x, const dl_wref *w,
                       const dl_wref *bias, const float *residual, dl_act act, float *y) {
    conv2d_run(ctx, d, x, w, bias, residual, act, y, false);
}

static void cpu_conv2d_bf16(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x,
                            const dl_wref *w, const dl_wref *bias, const float *residual,
                            dl_act act, float *y) {
    conv2d_run(ctx, d, x, w, bias, residual, act, y, true);
}

/* ----------------------------------------------------------------------------- linear --- */

static size_t cpu_linear_scratch(const dl_ops_ctx *ctx, int t, int n, int k) {
    return dl_sgemm_scratch(ctx->pool, t, n, k);
}

/* the weights (B, [N,K]) packed once where the detector keeps them (packed_weights.h) */
static void linear_run(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx,
                       const dl_wref *w, const dl_wref *bias, dl_act act, float *y, int ldy,
                       bool bf16) {
    if (!dl_packed_weights_check(ctx->backend, w, (size_t)n * k) ||
        !dl_packed_weights_check(ctx->backend, bias, (size_t)n))
        return; /* a stale reference: sync reports it */
    dl_gemm_epi epi = {NULL, dl_wref_host(bias), NULL, 0, act};
    dl_gemm_bsrc src = {dl_wref_host(w), k, true, NULL, NULL, NULL};
    const dl_gemm_packed *pb = dl_packed_weights_get(ctx->backend, true, w, 0, k, n, k, bf16);
    dl_sgemm_packed_ex(ctx->pool, ctx->scratch, t, n, k, x, ldx, NULL, &src, pb, y, ldy, &epi,
                       bf16);
}

static void cpu_linear(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx,
                       const dl_wref *w, const dl_wref *bias, dl_act act, float *y, int ldy) {
    linear_run(ctx, t, n, k, x, ldx, w, bias, act, y, ldy, false);
}

static void cpu_linear_bf16(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx,
                            const dl_wref *w, const dl_wref *bias, dl_act act, float *y, int ldy) {
    linear_run(ctx, t, n, k, x, ldx, w, bias, act, y, ldy, true);
}

/* ------------------------------------------------------------------------- layer norm --- */

typedef struct ln_job {
    int t, d, rows_per_task;
    const float *x, *residual, *gamma, *beta;
    float eps;
    float *y;
} ln_job;

/* y = LN(x + r) for rows [i, i + n), n <= 4: the reference's arithmetic per row (float sums
 * x + r, double statistics summed in order), the rows interleaved so that their dependent
 * chains of double additions overlap (a 4x higher throughput, same bits). */
static void ln_rows(const ln_job *j, int i, int n) {
    int d = j->d;
    const float *xr[4], *rr[4];
    double mean[4] = {0, 0, 0, 0}, var[4] = {0, 0, 0, 0};
    for (int k = 0; k < n; k++) {
        xr[k] = j->x + (size_t)(i + k) * d;
        rr[k] = j->residual ? j->residual + (size_t)(i + k) * d : NULL;
    }
    if (j->residual)
        for (int q = 0; q < d; q++)
            for (int k = 0; k < n; k++) mean[k] += xr[k][q] + rr[k][q];
    else
        for (int q = 0; q < d; q++)
            for (int k = 0; k < n; k++) mean[k] += xr[k][q];
    for (int k = 0; k < n; k++) mean[k] /= d;
    for (int q = 0; q < d; q++)
        for (int k = 0; k < n; k++) {
            double v = (double)(xr[k][q] + (rr[k] ? rr[k][q] : 0.0f)) - mean[k];
            var[k] += v * v;
        }
    const float *g = j->gamma, *b = j->beta;
    for (int k = 0; k < n; k++) {
        double vk = var[k] / d;
        float inv = (float)(1.0 / sqrt(vk + j->eps));
        float mf = (float)mean[k];
        float *yr = j->y + (size_t)(i + k) * d;
        if (rr[k])
            for (int q = 0; q < d; q++) yr[q] = (xr[k][q] + rr[k][q] - mf) * inv * g[q] + b[q];
        else
            for (int q = 0; q < d; q++) yr[q] = (xr[k][q] - mf) * inv * g[q] + b[q];
    }
}

static void ln_task(void *arg, int task, int thread) {
    (void)thread;
    ln_job *j = arg;
    int r0 = task * j->rows_per_task, r1 = imin(j->t, r0 + j->rows_per_task);
    for (int i = r0; i < r1; i += 4) ln_rows(j, i, imin(4, r1 - i));
}

static void cpu_layer_norm(dl_ops_ctx *ctx, int t, int d, const float *x, const float *residual,
                           const dl_wref *gamma, const dl_wref *beta, float eps, float *y) {
    if (t <= 0 || d <= 0) return;
    if (!dl_packed_weights_check(ctx->backend, gamma, (size_t)d) ||
        !dl_packed_weights_check(ctx->backend, beta, (size_t)d))
        return; /* a stale reference: sync reports it */
    int rpt = imax(1, 8192 / d);
    ln_job j = {t, d, rpt, x, residual, dl_wref_host(gamma), dl_wref_host(beta), eps, y};
    dl_parallel_for(ctx->pool, (t + rpt - 1) / rpt, ln_task, &j);
}

/* -------------------------------------------------------------------------- attention --- */

#define ATT_QB 8

typedef struct att_job {
    int t, s, heads, dh, qblocks;
    const float *q, *k, *v;
    int ldq, ldk, ldv, ldo;
    float *out;
    const dl_ops_ctx *ctx;
    float scale;
} att_job;

static float dot8(const float *a, const float *b, int n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[c + l] * b[c + l];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; c < n; c++) s += a[c] * b[c];
    return s;
}

static void att_task(void *arg, int task, int thread) {
    att_job *j = arg;
    int h = task / j->qblocks;
    int i0 = (task % j->qblocks) * ATT_QB, i1 = imin(j->t, i0 + ATT_QB);
    int s = j->s, dh = j->dh;
    float *p = thread_scratch(j->ctx, (size_t)s, thread);
    for (int i = i0; i < i1; i++) {
        const float *qi = j->q + (size_t)i * j->ldq + (size_t)h * dh;
        float mx = -FLT_MAX;
        for (int jj = 0; jj < s; jj++) {
            float sc = dot8(qi, j->k + (size_t)jj * j->ldk + (size_t)h * dh, dh) * j->scale;
            p[jj] = sc;
            if (sc > mx) mx = sc;
        }
        float sum = 0.0f;
        for (int jj = 0; jj < s; jj++) {
            p[jj] = expf(p[jj] - mx);
            sum += p[jj];
        }
        float inv = 1.0f / sum;
        float *oi = j->out + (size_t)i * j->ldo + (size_t)h * dh;
        for (int c = 0; c < dh; c++) oi[c] = 0.0f;
        for (int jj = 0; jj < s; jj++) {
            const float *vj = j->v + (size_t)jj * j->ldv + (size_t)h * dh;
            float pj = p[jj] * inv;
            for (int c = 0; c < dh; c++) oi[c] += pj * vj[c];
        }
    }
}

#if defined(__x86_64__) || defined(_M_X64)
static bool att_have_avx2(void) { return dl_cpu_caps_get()->avx2; }

/* one task = one head x one block of 8 queries, one query per lane (attention_avx2.c) */
static void att_task_avx2(void *arg, int task, int thread) {
    att_job *j = arg;
    int h = task / j->qblocks;
    int i0 = (task % j->qblocks) * DL_ATT_LANES, nq = imin(DL_ATT_LANES, j->t - i0);
    size_t col = (size_t)h * j->dh;
    float *p = thread_scratch(j->ctx, (size_t)DL_ATT_LANES * j->s, thread);
    dl_attention_block_avx2(nq, j->s, j->dh, j->scale, j->q + (size_t)i0 * j->ldq + col, j->ldq,
                            j->k + col, j->ldk, j->v + col, j->ldv,
                            j->out + (size_t)i0 * j->ldo + col, j->ldo, p);
}
#endif

static void cpu_attention(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q,
                          int ldq, const float *k, int ldk, const float *v, int ldv, float *out,
                          int ldo) {
    if (t <= 0 || heads <= 0 || head_dim <= 0) return;
    att_job j = {t,   s,   heads, head_dim, (t + ATT_QB - 1) / ATT_QB,    q, k, v, ldq, ldk,
                 ldv, ldo, out,   ctx,      1.0f / sqrtf((float)head_dim)};
#if defined(__x86_64__) || defined(_M_X64)
    /* 8 x S floats of scores per thread; else the scalar path below */
    size_t need8 = (size_t)nthreads_of(ctx) * round16((size_t)DL_ATT_LANES * s) + 16;
    if (s > 0 && head_dim <= DL_ATT_MAX_DH && ctx->scratch_floats >= need8 && att_have_avx2()) {
        j.qblocks = (t + DL_ATT_LANES - 1) / DL_ATT_LANES;
        dl_parallel_for(ctx->pool, heads * j.qblocks, att_task_avx2, &j);
        return;
    }
#endif
    /* S floats (+ alignment) per thread; run serially if the scratch holds only one slot */
    size_t need = (size_t)nthreads_of(ctx) * round16((size_t)s) + 16;
    dl_ops_ctx serial = *ctx;
    att_job *jp = &j;
    if (ctx->scratch_floats < need) {
        serial.pool = NULL;
        j.ctx = &serial;
    }
    dl_parallel_for(j.ctx->pool, heads * j.qblocks, att_task, jp);
}

/* ---------------------------------------------------------------- deformable attention --- */

typedef struct deform_job {
    const dl_deform_desc *d;
    const float *value, *loc, *weight;
    float *out;
    int q_per_task;
} deform_job;

static void deform_task(void *arg, int task, int thread) {
    (void)thread;
    deform_job *j = arg;
    const dl_deform_desc *d = j->d;
    int ld = d->n_heads * d->head_dim, dh = d->head_dim;
    int q0 = task * j->q_per_task, q1 = imin(d->n_queries, q0 + j->q_per_task);
    for (int q = q0; q < q1; q++) {
        for (int h = 0; h < d->n_heads; h++) {
            float *acc = j->out + (size_t)q * ld + (size_t)h * dh;
            for (int c = 0; c < dh; c++) acc[c] = 0.0f;
            int p = 0;
            for (int l = 0; l < d->n_levels; l++) {
                int hgt = d->level_h[l], wid = d->level_w[l];
                const float *vl = j->value + (size_t)d->level_start[l] * ld + (size_t)h * dh;
                for (int kp = 0; kp < d->level_points[l]; kp++, p++) {
                    size_t qi = ((size_t)q * d->n_heads + h) * d->total_points + p;
                    float lx = j->loc[qi * 2], ly = j->loc[qi * 2 + 1], wgt = j->weight[qi];
                    if (d->discrete) {
                        float fx = lx * wid + 0.5f, fy = ly * hgt + 0.5f;
                        /* truncation toward zero, clamped; done in float so that huge or NaN
                         * coordinates never reach an int conversion */
                        int ix = fx >= (float)(wid - 1) ? wid - 1 : (fx > 0.0f ? (int)fx : 0);
                        int iy = fy >= (float)(hgt - 1) ? hgt - 1 : (fy > 0.0f ? (int)fy : 0);
                        if (ix < 0 || iy < 0) continue; /* empty level */
                        const float *src = vl + ((size_t)iy * wid + ix) * ld;
                        for (int c = 0; c < dh; c++) acc[c] += wgt * src[c];
                        continue;
                    }
                    float px = lx * wid - 0.5f, py = ly * hgt - 0.5f;
                    /* every tap is outside (or NaN): nothing to add */
                    if (!(px > -2.0f && px < (float)wid + 1.0f && py > -2.0f &&
                          py < (float)hgt + 1.0f))
                        continue;
                    dl_bilinear_accumulate(vl, ld, hgt, wid, px, py, dh, wgt, acc);
                }
            }
        }
    }
}

static void cpu_deform_attn(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value,
                            const float *loc, const float *weight, float *out) {
    if (d->n_queries <= 0) return;
    deform_job j = {d, value, loc, weight, out, 4};
    dl_parallel_for(ctx->pool, (d->n_queries + 3) / 4, deform_task, &j);
}

/* ---------------------------------------------------------------- copy and transpose --- */

#define COPY_CHUNK (256 * 1024) /* bytes per copy task; smaller copies run on the caller */

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t bytes;
} copy_job;

static void copy_task(void *arg, int task, int thread) {
    (void)thread;
    copy_job *j = arg;
    size_t o = (size_t)task * COPY_CHUNK;
    size_t n = j->bytes - o < COPY_CHUNK ? j->bytes - o : COPY_CHUNK;
    memcpy(j->dst + o, j->src + o, n);
}

static void cpu_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    if (dst == src || bytes == 0) return;
    const char *s = src;
    char *d = dst;
    /* overlapping buffers: one memmove, as the host table */
    if (bytes <= COPY_CHUNK || (d < s + bytes && s < d + bytes)) {
        memmove(dst, src, bytes);
        return;
    }
    copy_job j = {d, s, bytes};
    dl_parallel_for(ctx->pool, (int)((bytes + COPY_CHUNK - 1) / COPY_CHUNK), copy_task, &j);
}

#define TR_BLOCK 32

typedef struct tr_job {
    int rows, cols;
    const float *x;
    float *y;
} tr_job;

/* one task: TR_BLOCK columns of x (rows of y), in 32 x 32 blocks so both sides stay cached */
static void transpose_task(void *arg, int task, int thread) {
    (void)thread;
    tr_job *j = arg;
    int c0 = task * TR_BLOCK, c1 = imin(j->cols, c0 + TR_BLOCK);
    for (int r0 = 0; r0 < j->rows; r0 += TR_BLOCK) {
        int r1 = imin(j->rows, r0 + TR_BLOCK);
        for (int c = c0; c < c1; c++) {
            float *yr = j->y + (size_t)c * j->rows;
            for (int r = r0; r < r1; r++) yr[r] = j->x[(size_t)r * j->cols + c];
        }
    }
}

static void cpu_transpose(dl_ops_ctx *ctx, int rows, int cols, const float *x, float *y) {
    if (rows <= 0 || cols <= 0) return;
    tr_job j = {rows, cols, x, y};
    int tasks = (cols + TR_BLOCK - 1) / TR_BLOCK;
    /* small ones on the caller alone (the pool's hand-off costs more than the copy) */
    if ((size_t)rows * (size_t)cols < 16384) {
        for (int t = 0; t < tasks; t++) transpose_task(&j, t, 0);
        return;
    }
    dl_parallel_for(ctx->pool, tasks, transpose_task, &j);
}

/* ------------------------------------------------------------------------------ pools --- */

typedef struct pool_job {
    int c, h, w, k, stride, pad, oh, ow;
    const float *x;
    float *y;
    int rows_per_task, row_tasks; /* tasks: channel x band of output rows */
} pool_job;

/* max that keeps the first NaN it meets, as the reference's `v > m || isnan(v)`; branch-free
 * so that the loops below vectorise (random data made the branches mispredict half the time) */
static inline float nanmax(float m, float v) { return (v > m || v != v) ? v : m; }

#define POOL_SPAN 2048 /* floats of one padded input row a max-pool task keeps on its stack */

/*
 * Separable max pool: for each output row, the element-wise max of its (at most k) input rows
 * into a padded row buffer (padding -inf), then the max of k adjacent buffer cells per output.
 * Max is exact and order-free (a NaN anywhere in the window gives a NaN either way), so this
 * gives the reference's values bit for bit (up to which NaN, when a window holds several). Rows are
 * processed in chunks of output columns whose input span fits POOL_SPAN.
 */
static void maxpool_task(void *arg, int task, int thread) {
    (void)thread;
    pool_job *j = arg;
    int ch = task / j->row_tasks, oy0 = (task % j->row_tasks) * j->rows_per_task;
    int oy1 = imin(j->oh, oy0 + j->rows_per_task);
    int k = j->k, s = j->stride, w = j->w;
    const float *xc = j->x + (size_t)ch * j->h * w;
    float *yc = j->y + (size_t)ch * j->oh * j->ow;
    float vm[POOL_SPAN];
    int chunk = k <= POOL_SPAN ? (POOL_SPAN - k) / s + 1 : 0;
    for (int oy = oy0; oy < oy1; oy++) {
        int y0 = oy * s - j->pad;
        int ky0 = imax(0, -y0), ky1 = imin(k, j->h - y0);
        float *yr = yc + (size_t)oy * j->ow;
        if (chunk == 0 || ky1 <= ky0) {
            /* a kernel wider than the buffer, or a row of padding only: plain windows */
            for (int ox = 0; ox < j->ow; ox++) {
                int x0 = ox * s - j->pad;
                int kx0 = imax(0, -x0), kx1 = imin(k, w - x0);
                float m = -INFINITY;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        m = nanmax(m, xc[(size_t)(y0 + ky) * w + x0 + kx]);
                yr[ox] = m;
            }
            continue;
        }
        for (int ox0 = 0; ox0 < j->ow; ox0 += chunk) {
            int n = imin(chunk, j->ow - ox0);
            int span = (n - 1) * s + k;
            int q0 = ox0 * s - j->pad; /* input column of vm[0] */
            /* the valid input columns of the span: vm[a, b) */
            int a = imin(span, imax(0, -q0)), b = imax(a, imin(span, w - q0));
            for (int q = 0; q < a; q++) vm[q] = -INFINITY;
            for (int q = b; q < span; q++) vm[q] = -INFINITY;
            const float *r0 = xc + (size_t)(y0 + ky0) * w + q0;
            for (int q = a; q < b; q++) vm[q] = r0[q];
            for (int ky = ky0 + 1; ky < ky1; ky++) {
                const float *r = xc + (size_t)(y0 + ky) * w + q0;
                for (int q = a; q < b; q++) vm[q] = nanmax(vm[q], r[q]);
            }
            float *yo = yr + ox0;
            if (k == 3 && s == 2) {
                for (int o = 0; o < n; o++)
                    yo[o] = nanmax(nanmax(vm[2 * o], vm[2 * o + 1]), vm[2 * o + 2]);
            } else {
                for (int o = 0; o < n; o++) {
                    const float *v = vm + (size_t)o * s;
                    float m = v[0];
                    for (int kx = 1; kx < k; kx++) m = nanmax(m, v[kx]);
                    yo[o] = m;
                }
            }
        }
    }
}

/* Rows per task: about 16k output cells, so that small maps are one task per channel. */
static void pool_split(pool_job *j) {
    int per = imax(1, 16384 / imax(1, j->ow));
    j->rows_per_task = imin(imax(1, j->oh), per);
    j->row_tasks = imax(1, (j->oh + j->rows_per_task - 1) / j->rows_per_task);
}

static void cpu_max_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int pad,
                           int out_h, int out_w, const float *x, float *y) {
    if (c <= 0 || out_h <= 0 || out_w <= 0) return;
    pool_job j = {c, h, w, k, imax(1, stride), pad, out_h, out_w, x, y, 0, 0};
    pool_split(&j);
    dl_parallel_for(ctx->pool, c * j.row_tasks, maxpool_task, &j);
}

/* Average pool without padding, the reference's order of summation (row by row, left to
 * right) and its divisor (cells inside the input); 2x2 stride 2, the ResNet-vd shortcut's
 * pool, in a loop that vectorises. */
static void avgpool_task(void *arg, int task, int thread) {
    (void)thread;
    pool_job *j = arg;
    int ch = task / j->row_tasks, oy0 = (task % j->row_tasks) * j->rows_per_task;
    int oy1 = imin(j->oh, oy0 + j->rows_per_task);
    int k = j->k, s = j->stride, w = j->w;
    const float *xc = j->x + (size_t)ch * j->h * w;
    float *yc = j->y + (size_t)ch * j->oh * j->ow;
    for (int oy = oy0; oy < oy1; oy++) {
        int y0 = oy * s;
        int ky1 = imax(0, imin(k, j->h - y0));
        float *yr = yc + (size_t)oy * j->ow;
        int ox = 0;
        if (k == 2 && s == 2 && ky1 == 2) {
            /* full windows: columns 2 ox + 1 < w */
            int full = imin(j->ow, w / 2);
            const float *r0 = xc + (size_t)y0 * w, *r1 = r0 + w;
            for (; ox < full; ox++)
                yr[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) / 4.0f;
        }
        for (; ox < j->ow; ox++) {
            int x0 = ox * s;
            int kx1 = imax(0, imin(k, w - x0));
            float sum = 0.0f;
            for (int ky = 0; ky < ky1; ky++) {
                const float *xr = xc + (size_t)(y0 + ky) * w + x0;
                for (int kx = 0; kx < kx1; kx++) sum += xr[kx];
            }
            int cnt = ky1 * kx1;
            yr[ox] = cnt ? sum / (float)cnt : 0.0f;
        }
    }
}

static void cpu_avg_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int out_h,
                           int out_w, const float *x, float *y) {
    if (c <= 0 || out_h <= 0 || out_w <= 0) return;
    pool_job j = {c, h, w, k, imax(1, stride), 0, out_h, out_w, x, y, 0, 0};
    pool_split(&j);
    dl_parallel_for(ctx->pool, c * j.row_tasks, avgpool_task, &j);
}

static void upsample_task(void *arg, int ch, int thread) {
    (void)thread;
    pool_job *j = arg;
    const float *xc = j->x + (size_t)ch * j->h * j->w;
    float *yc = j->y + (size_t)ch * 4 * j->h * j->w;
    int w2 = 2 * j->w;
    for (int iy = 0; iy < j->h; iy++) {
        const float *xr = xc + (size_t)iy * j->w;
        float *y0 = yc + (size_t)(2 * iy) * w2;
        for (int ix = 0; ix < j->w; ix++) y0[2 * ix] = y0[2 * ix + 1] = xr[ix];
        memcpy(y0 + w2, y0, (size_t)w2 * sizeof(float));
    }
}

static void cpu_upsample2x(dl_ops_ctx *ctx, int c, int h, int w, const float *x, float *y) {
    pool_job j = {c, h, w, 0, 0, 0, 2 * h, 2 * w, x, y, 0, 0};
    dl_parallel_for(ctx->pool, c, upsample_task, &j);
}

/* ---------------------------------------------------------------------------- softmax --- */

typedef struct sm_job {
    int rows, n, rows_per_task;
    float *x;
} sm_job;

static void softmax_task(void *arg, int task, int thread) {
    (void)thread;
    sm_job *j = arg;
    int r0 = task * j->rows_per_task, r1 = imin(j->rows, r0 + j->rows_per_task);
    for (int r = r0; r < r1; r++) {
        float *xr = j->x + (size_t)r * j->n;
        float mx = -FLT_MAX;
        for (int q = 0; q < j->n; q++)
            if (xr[q] > mx) mx = xr[q];
        float sum = 0.0f;
        for (int q = 0; q < j->n; q++) {
            xr[q] = expf(xr[q] - mx);
            sum += xr[q];
        }
        for (int q = 0; q < j->n; q++) xr[q] /= sum;
    }
}

static void cpu_softmax_rows(dl_ops_ctx *ctx, int rows, int n, float *x) {
    if (rows <= 0 || n <= 0) return;
    int rpt = imax(1, 4096 / n);
    sm_job j = {rows, n, rpt, x};
    dl_parallel_for(ctx->pool, (rows + rpt - 1) / rpt, softmax_task, &j);
}

/* ------------------------------------------------------------------------------ table --- */

/* Host ops finish as they are called; what can fail is a weight reference that does not match
 * the model's buffers (packed_weights.h), which the op refused to run with. */
static dl_status cpu_sync(dl_ops_ctx *ctx, dl_error *err) {
    size_t stale = dl_packed_weights_take_stale(ctx->backend);
    if (stale)
        return dl_fail(err, DL_ERR_INTERNAL,
                       "%zu weight reference(s) do not match the model's weight buffers (a model "
                       "builder's bug)",
                       stale);
    return DL_OK;
}

/* The host glue ops of DL_HOST_OPS, except copy and transpose: threaded here. */
#define DL_CPU_OPS(NAME) DL_CPU_OPS_WITH(NAME, cpu_conv2d, cpu_linear, cpu_conv2d_scratch)
#define DL_CPU_OPS_BF16(NAME)                                                                      \
    DL_CPU_OPS_WITH(NAME, cpu_conv2d_bf16, cpu_linear_bf16, cpu_conv2d_scratch_bf16)
#define DL_CPU_OPS_WITH(NAME, CONV2D, LINEAR, CONV2D_SCRATCH)                                      \
    {                                                                                              \
        .name = NAME, .device = false, .mem_alloc = dl_host_mem_alloc,                             \
        .mem_free = dl_host_mem_free, .upload = dl_host_copy, .download = dl_host_copy,            \
        .copy = cpu_copy, .sync = cpu_sync, .transpose = cpu_transpose,                            \
        .scale_rows = dl_host_scale_rows, .topk_rows = dl_host_topk_rows,                          \
        .gather_rows = dl_host_gather_rows, .deform_locations = dl_host_deform_locations,          \
        .box_refine = dl_host_box_refine, .conv2d_scratch = CONV2D_SCRATCH,                        \
        .linear_scratch = cpu_linear_scratch, .conv2d = CONV2D, .linear = LINEAR,                  \
        .layer_norm = cpu_layer_norm, .attention = cpu_attention, .deform_attn = cpu_deform_attn,  \
        .max_pool2d = cpu_max_pool2d, .avg_pool2d = cpu_avg_pool2d, .upsample2x = cpu_upsample2x,  \
        .softmax_rows = cpu_softmax_rows, .activate = cpu_activate, .add = cpu_add,                \
    }

/* One table per kernel level (core/cpu_features.h), so that `name` says which kernels run;
 * the functions are shared and dispatch inside on the same record (gemm.c, act.c, ...). */
static const dl_ops cpu_ops_by_level[DL_CPU_LEVEL_COUNT] = {
    [DL_CPU_SCALAR] = DL_CPU_OPS("scalar"), [DL_CPU_AVX2] = DL_CPU_OPS("avx2"),
    [DL_CPU_AVX512] = DL_CPU_OPS("avx512"), [DL_CPU_AVX512BF16] = DL_CPU_OPS("avx512bf16"),
    [DL_CPU_NEON] = DL_CPU_OPS("neon"),     [DL_CPU_NEONBF16] = DL_CPU_OPS("neonbf16"),
};

/* The same with bf16 GEMM operands (--precision bf16). */
static const dl_ops cpu_ops_bf16_by_level[DL_CPU_LEVEL_COUNT] = {
    [DL_CPU_SCALAR] = DL_CPU_OPS_BF16("scalar+bf16"),
    [DL_CPU_AVX2] = DL_CPU_OPS_BF16("avx2+bf16"),
    [DL_CPU_AVX512] = DL_CPU_OPS_BF16("avx512+bf16"),
    [DL_CPU_AVX512BF16] = DL_CPU_OPS_BF16("avx512bf16+bf16"),
    [DL_CPU_NEON] = DL_CPU_OPS_BF16("neon+bf16"),
    [DL_CPU_NEONBF16] = DL_CPU_OPS_BF16("neonbf16+bf16"),
};

const dl_ops *dl_ops_cpu(void) { return &cpu_ops_by_level[dl_cpu_caps_get()->level]; }

const dl_ops *dl_ops_cpu_bf16(void) { return &cpu_ops_bf16_by_level[dl_cpu_caps_get()->level]; }
