/* Direct convolution: band packing, weight repacking, threading, the generic micro-kernel and
 * the choice between this path and the implicit GEMM. See conv_direct.h. */
#include "backends/cpu/conv_direct.h"

#include <stdint.h>
#include <string.h>

#include "backends/cpu/act.h"
#include "core/cpu_features.h"

#define CB DL_CONV_DIRECT_CB
#define NP DL_CONV_DIRECT_NP
#define CHUNKS 4          /* micro-kernel calls (of NP columns) a band is filled for at once */
#define BAND_BUDGET 32768 /* floats of padded input per thread (128 KiB) */
#define L2_BUDGET 65536   /* floats of input + output rows per band (256 KiB) */

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static size_t round16(size_t x) { return (x + 15) / 16 * 16; }

/* ------------------------------------------------------------------ generic micro-kernel --- */

static void kernel_generic(int ks, const float *w4, const int *koff, const float *in, int n,
                           int nco, float *const *y, const float *const *res, const float *bias,
                           dl_act act) {
    float acc[CB][NP];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < ks; k++) {
        const float *p = in + koff[k];
        const float *wk = w4 + (size_t)CB * k;
        for (int c = 0; c < CB; c++) {
            float wv = wk[c];
            for (int j = 0; j < n; j++) acc[c][j] += wv * p[j];
        }
    }
    for (int c = 0; c < nco; c++) {
        float *yc = y[c];
        for (int j = 0; j < n; j++) {
            float a = acc[c][j];
            if (bias) a += bias[c];
            if (res) a += res[c][j];
            yc[j] = a;
        }
        dl_cpu_act_span(act, yc, (size_t)n);
    }
}

/* ------------------------------------------------------------------------------ choice --- */

static int force_mode;

void dl_conv_direct_force(int mode) { force_mode = mode; }
int dl_conv_direct_force_mode(void) { return force_mode; }

typedef struct dkern {
    const char *name;
    dl_conv_direct_kernel_fn fn;
} dkern;

static dkern pick_kernel(void) {
    dkern k = {"generic 4x24", kernel_generic};
    const dl_cpu_caps *caps = dl_cpu_caps_get();
#if defined(__x86_64__) || defined(_M_X64)
    if (caps->avx2) {
        k.name = "avx2-fma 4x24";
        k.fn = dl_conv_direct_kernel_avx2;
    }
#elif defined(__aarch64__)
    if (caps->neon) {
        k.name = "neon 4x24";
        k.fn = dl_conv_direct_kernel_neon;
    }
#endif
    (void)caps;
    return k;
}

const char *dl_conv_direct_kernel_name(void) { return pick_kernel().name; }
dl_conv_direct_kernel_fn dl_conv_direct_kernel(void) { return pick_kernel().fn; }
bool dl_conv_direct_kernel_is_simd(void) { return pick_kernel().fn != kernel_generic; }

bool dl_conv_direct_use(const dl_conv2d_desc *d) {
    if (d->groups > 1 || d->cin <= 0 || d->cout <= 0 || d->out_h <= 0 || d->out_w <= 0)
        return false;
    if (force_mode == 1) return false;
    if (force_mode >= 2) return true;
    /* measured with bench/bench_conv (AVX2, 1-2 threads): direct wins 1.2-4x up to Cin 64 for
     * 3x3 (K = 576) and Cin 128 for 1x1 at Cout <= 64..128; the packed GEMM wins from
     * K ~ 1000 / Cout ~ 192 (128 -> 192 3x3: 0.87x). */
    int k = d->cin * d->kh * d->kw;
    if (d->kh * d->kw == 1) return k <= 128 && d->cout <= 64;
    return k <= 576 && d->cout <= 128;
}

/* ---------------------------------------------------------------------------- planning --- */

typedef struct dplan {
    int s, cw, wq, rb, rows, k, nblocks;
    size_t band_floats, w4_floats, koff_floats;
    /* pointwise (1x1, stride 1, no padding): the image as one row of N pixels, chunks of pw
     * pixels; the band is [ci][pw + PW_PAD] */
    bool pointwise;
    int pw;
} dplan;

#define PW_MAX 240 /* pixels of a pointwise chunk (10 micro-kernel calls) */
#define PW_PAD 8   /* floats between a pointwise band's rows (so they do not alias in L1) */

static bool is_pointwise(const dl_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
           d->pad_left == 0 && d->out_h == d->in_h && d->out_w == d->in_w;
}

static dplan plan_of(const dl_conv2d_desc *d, int nthreads) {
    dplan p;
    p.s = imax(1, d->stride_w);
    /* stride_h may differ from stride_w: rows use stride_h, columns the phases of stride_w.
     * Bands are CHUNKS x NP output columns wide, so that the rows of one channel a
     * micro-kernel call reads are close (dense in L1) however wide the image is, while each
     * row copied into the band is long enough for the copy's fixed costs not to matter. */
    p.cw = imin(NP * CHUNKS, d->out_w);
    /* few input channels (the stem): a band as wide as the image when it fits with 2+ output
     * rows, so that every input row is copied in one sequential pass (the prefetchers follow
     * a long row; dozens of 384-byte pieces of rows left them behind) */
    int sh0 = imax(1, d->stride_h);
    size_t full_row =
        (size_t)d->cin * p.s * (((size_t)d->out_w + 7) / 8 * 8 + (d->kw - 1) / p.s + 3);
    if (full_row * (size_t)(d->kh + sh0) <= BAND_BUDGET) p.cw = d->out_w;
    p.wq = (p.cw + 7) / 8 * 8 + (d->kw - 1) / p.s;
    p.wq = (p.wq + 3) / 4 * 4;
    p.k = d->cin * d->kh * d->kw;
    p.nblocks = (d->cout + CB - 1) / CB;
    int sh = imax(1, d->stride_h);
    size_t row_floats = (size_t)d->cin * p.s * p.wq;
    int rb_max = (int)((BAND_BUDGET / row_floats > (size_t)d->kh
                            ? (BAND_BUDGET / row_floats - (size_t)d->kh) / (size_t)sh + 1
                            : 1));
    /* and the full-width input rows and output rows of a band stay in L2 across its chunks */
    size_t per_row = (size_t)d->cin * sh * d->in_w + (size_t)d->cout * d->out_w;
    int rb = imin(rb_max, (int)imin(1 << 20, (int)(L2_BUDGET / per_row)));
    if (nthreads > 1) rb = imin(rb, (d->out_h + 4 * nthreads - 1) / (4 * nthreads));
    p.rb = imax(1, imin(rb, d->out_h));
    p.rows = (p.rb - 1) * sh + d->kh;
    p.band_floats = round16((size_t)p.rows * row_floats);
    p.w4_floats = round16((size_t)p.nblocks * CB * p.k);
    p.koff_floats = round16((size_t)p.k);
    p.pointwise = is_pointwise(d);
    p.pw = 0;
    if (p.pointwise) {
        /* whole micro-kernel calls, about 4 chunks per thread at least */
        long n = (long)d->out_h * d->out_w;
        long per = (n + 4L * nthreads - 1) / (4L * nthreads);
        per = (per + NP - 1) / NP * NP;
        p.pw = (int)(per < NP ? NP : per > PW_MAX ? PW_MAX : per);
        p.band_floats = round16((size_t)d->cin * (p.pw + PW_PAD));
    }
    return p;
}

size_t dl_conv_direct_scratch(const dl_conv2d_desc *d, int nthreads) {
    if (d->cin <= 0 || d->cout <= 0 || d->out_h <= 0 || d->out_w <= 0) return 0;
    if (nthreads < 1) nthreads = 1;
    dplan p = plan_of(d, nthreads);
    return p.w4_floats + p.koff_floats + (size_t)nthreads * p.band_floats + 16;
}

/* ------------------------------------------------------------------------------ driver --- */

typedef struct djob {
    const dl_conv2d_desc *d;
    dplan p;
    const float *x, *w4, *bias, *residual;
    const int *koff;
    float *y, *bands;
    dl_act act;
    dl_conv_direct_kernel_fn kern;
} djob;

/* Padded input of the band at output row oy0, column ox0: [ci][r][phase][wq]. */
static void fill_band(const djob *j, int oy0, int nrows, int ox0, float *band) {
    const dl_conv2d_desc *d = j->d;
    int s = j->p.s, wq = j->p.wq, sh = imax(1, d->stride_h);
    size_t rs = (size_t)s * wq;
    int pl = d->pad_left - ox0 * s; /* padded column q*s + ph <-> ix = q*s + ph - pl */
    for (int ci = 0; ci < d->cin; ci++) {
        const float *xc = j->x + (size_t)ci * d->in_h * d->in_w;
        for (int r = 0; r < nrows; r++) {
            float *dst = band + ((size_t)ci * j->p.rows + r) * rs;
            int iy = oy0 * sh - d->pad_top + r;
            if (iy < 0 || iy >= d->in_h) {
                memset(dst, 0, rs * sizeof(float));
                continue;
            }
            const float *xr = xc + (size_t)iy * d->in_w;
            if (s == 1) {
                /* padded column q <-> ix = q - pad_left */
                int q0 = imin(wq, imax(0, pl));
                int q1 = imax(q0, imin(wq, d->in_w + pl));
                if (q0 > 0) memset(dst, 0, (size_t)q0 * sizeof(float));
                if (q1 > q0) memcpy(dst + q0, xr + (q0 - pl), (size_t)(q1 - q0) * sizeof(float));
                if (wq > q1) memset(dst + q1, 0, (size_t)(wq - q1) * sizeof(float));
            } else {
                for (int ph = 0; ph < s; ph++) {
                    float *dp = dst + (size_t)ph * wq;
                    /* ix = q s + ph - pl inside [0, in_w) for q in [q0, q1) */
                    int o = ph - pl;
                    int q0 = o >= 0 ? 0 : (-o + s - 1) / s;
                    int q1 = d->in_w - o <= 0 ? 0 : (d->in_w - o + s - 1) / s;
                    q0 = imin(q0, wq);
                    q1 = imax(q0, imin(q1, wq));
                    for (int q = 0; q < q0; q++) dp[q] = 0.0f;
                    const float *xs = xr + o;
                    if (s == 2)
                        for (int q = q0; q < q1; q++) dp[q] = xs[2 * q];
                    else
                        for (int q = q0; q < q1; q++) dp[q] = xs[q * s];
                    for (int q = q1; q < wq; q++) dp[q] = 0.0f;
                }
            }
        }
    }
}

static void direct_task(void *arg, int task, int thread) {
    djob *j = arg;
    const dl_conv2d_desc *d = j->d;
    const dplan *p = &j->p;
    int oy0 = task * p->rb, oy1 = imin(d->out_h, oy0 + p->rb);
    int sh = imax(1, d->stride_h);
    int nrows = (oy1 - oy0 - 1) * sh + d->kh;
    float *band = j->bands + (size_t)thread * p->band_floats;
    size_t plane = (size_t)d->out_h * d->out_w, rs = (size_t)p->s * p->wq;
    float *yp[CB];
    const float *rp[CB];
    for (int ox0 = 0; ox0 < d->out_w; ox0 += p->cw) {
        int n = imin(p->cw, d->out_w - ox0);
        fill_band(j, oy0, nrows, ox0, band);
        for (int oy = oy0; oy < oy1; oy++) {
            const float *in = band + (size_t)(oy - oy0) * sh * rs;
            for (int q0 = 0; q0 < n; q0 += NP) {
                int nq = imin(NP, n - q0);
                for (int b = 0; b < p->nblocks; b++) {
                    int co = b * CB, nco = imin(CB, d->cout - co);
                    for (int c = 0; c < nco; c++) {
                        size_t o = (size_t)(co + c) * plane + (size_t)oy * d->out_w + ox0 + q0;
                        yp[c] = j->y + o;
                        rp[c] = j->residual ? j->residual + o : NULL;
                    }
                    j->kern(p->k, j->w4 + (size_t)b * CB * p->k, j->koff, in + q0, nq, nco, yp,
                            j->residual ? rp : NULL, j->bias ? j->bias + co : NULL, j->act);
                }
            }
        }
    }
}

/* Pointwise: the pixels [p0, p0 + pw) of every input channel copied into the band (one copy per
 * channel), then the micro-kernel on each 24 pixels for every block of 4 output channels. */
static void pointwise_task(void *arg, int task, int thread) {
    djob *j = arg;
    const dl_conv2d_desc *d = j->d;
    const dplan *p = &j->p;
    size_t plane = (size_t)d->out_h * d->out_w;
    size_t p0 = (size_t)task * p->pw;
    int np = (int)(plane - p0 < (size_t)p->pw ? plane - p0 : (size_t)p->pw);
    float *band = j->bands + (size_t)thread * p->band_floats;
    size_t rs = (size_t)p->pw + PW_PAD;
    for (int ci = 0; ci < d->cin; ci++) {
        float *dst = band + (size_t)ci * rs;
        memcpy(dst, j->x + (size_t)ci * plane + p0, (size_t)np * sizeof(float));
        /* the kernel reads whole vectors: zeros past the image */
        if (np < p->pw) memset(dst + np, 0, (size_t)(p->pw - np) * sizeof(float));
    }
    float *yp[CB];
    const float *rp[CB];
    for (int q0 = 0; q0 < np; q0 += NP) {
        int n = imin(NP, np - q0);
        for (int b = 0; b < p->nblocks; b++) {
            int co = b * CB, nco = imin(CB, d->cout - co);
            for (int c = 0; c < nco; c++) {
                size_t o = (size_t)(co + c) * plane + p0 + (size_t)q0;
                yp[c] = j->y + o;
                rp[c] = j->residual ? j->residual + o : NULL;
            }
            j->kern(p->k, j->w4 + (size_t)b * CB * p->k, j->koff, band + q0, n, nco, yp,
                    j->residual ? rp : NULL, j->bias ? j->bias + co : NULL, j->act);
        }
    }
}

void dl_conv_direct(dl_threadpool *pool, float *scratch, const dl_conv2d_desc *d, const float *x,
                    const float *w, const float *bias, const float *residual, dl_act act,
                    float *y) {
    if (d->cout <= 0 || d->out_h <= 0 || d->out_w <= 0) return;
    int nthreads = dl_threadpool_size(pool);
    if (nthreads < 1) nthreads = 1;
    djob j;
    j.d = d;
    j.p = plan_of(d, nthreads);
    uintptr_t base = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    float *w4 = (float *)base;
    int *koff = (int *)(w4 + j.p.w4_floats);
    j.bands = w4 + j.p.w4_floats + j.p.koff_floats;
    /* weights [cout][k] -> blocks of CB channels, w4[b][k][c] (zero past cout) */
    int k = j.p.k;
    for (int b = 0; b < j.p.nblocks; b++) {
        float *wb = w4 + (size_t)b * CB * k;
        for (int c = 0; c < CB; c++) {
            int co = b * CB + c;
            if (co < d->cout) {
                const float *wr = w + (size_t)co * k;
                for (int q = 0; q < k; q++) wb[(size_t)q * CB + c] = wr[q];
            } else {
                for (int q = 0; q < k; q++) wb[(size_t)q * CB + c] = 0.0f;
            }
        }
    }
    /* tap (ci, ky, kx) -> offset in the band from output pixel 0 of band row 0 */
    int s = j.p.s, wq = j.p.wq, q = 0;
    for (int ci = 0; ci < d->cin; ci++)
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++)
                koff[q++] = (int)(((size_t)ci * j.p.rows + ky) * s * wq) + (kx % s) * wq + kx / s;
    j.x = x;
    j.w4 = w4;
    j.koff = koff;
    j.bias = bias;
    j.residual = residual;
    j.y = y;
    j.act = act;
    j.kern = pick_kernel().fn;
    if (j.p.pointwise) {
        for (int ci = 0; ci < d->cin; ci++) koff[ci] = (int)((size_t)ci * (j.p.pw + PW_PAD));
        size_t n = (size_t)d->out_h * d->out_w;
        dl_parallel_for(pool, (int)((n + (size_t)j.p.pw - 1) / (size_t)j.p.pw), pointwise_task, &j);
        return;
    }
    dl_parallel_for(pool, (d->out_h + j.p.rb - 1) / j.p.rb, direct_task, &j);
}
