/* Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution; see conv_winograd.h. */
#include "backends/cpu/conv_winograd.h"

#include <stdint.h>
#include <string.h>

#include "backends/cpu/act.h"
#include "backends/cpu/conv_direct.h"
#include "core/cpu_features.h"

#define CB DL_CONV_DIRECT_CB /* output channels per micro-kernel call */
#define WT DL_WINO_TILES     /* tiles per chunk */
/* floats of one zero-padded input row of a chunk of tiles mt outputs wide (mt WT + 2 read,
 * + 4 by the F(4x4) loads) */
#define RL(mt) ((mt)*WT + 8)

#if DL_CONV_DIRECT_NP < DL_WINO_TILES
#error "the direct micro-kernel must take a chunk of tiles"
#endif

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static size_t round16(size_t x) { return (x + 15) / 16 * 16; }

static int force_mode;

void dl_conv_winograd_force(int mode) { force_mode = mode; }

bool dl_conv_winograd_applies(const dl_conv2d_desc *d) {
    return d->groups == 1 && d->kh == 3 && d->kw == 3 && d->stride_h == 1 && d->stride_w == 1 &&
           d->cin > 0 && d->cout > 0 && d->out_h > 0 && d->out_w > 0;
}

static bool have_avx2(void) {
#if defined(__x86_64__) || defined(_M_X64)
    return dl_cpu_caps_get()->avx2;
#else
    return false;
#endif
}

bool dl_conv_winograd_use(const dl_conv2d_desc *d) {
    if (!dl_conv_winograd_applies(d) || force_mode == 1) return false;
    if (force_mode >= 2) return true;
    /* measured with bench/bench_conv (AVX2): see docs/benchmarks.md. The direct path's domain
     * (small channel counts; large convs stay on the implicit GEMM), AVX2 pieces only */
    return dl_conv_direct_force_mode() == 0 && have_avx2() && dl_conv_direct_use(d) &&
           d->cin >= 4 && d->out_w >= 32; /* 16+ tiles a row: 8-tile vectors mostly full */
}

bool dl_conv_winograd_has_f4(void) { return have_avx2(); }

/* F(4x4, 3x3) (AVX2 only): from 16 tiles a row, where it does about 30% less work than
 * F(2x2, 3x3) (measured with bench/bench_conv); forced with mode 3. */
static bool use_f4(const dl_conv2d_desc *d) {
    if (!have_avx2() || force_mode == 2) return false;
    return force_mode == 3 || (d->out_w + 3) / 4 >= 16;
}

typedef struct wplan {
    int mt, al, nx;      /* output tile size (2 or 4), input tile size mt + 2, al^2 */
    int th, tw, nblocks; /* tile rows and columns, blocks of 4 output channels */
    size_t u_floats, fb_floats, v_floats, m_floats, per_thread;
} wplan;

static wplan plan_of(const dl_conv2d_desc *d, int mt) {
    wplan p;
    p.mt = mt;
    p.al = mt + 2;
    p.nx = p.al * p.al;
    p.th = (d->out_h + mt - 1) / mt;
    p.tw = (d->out_w + mt - 1) / mt;
    p.nblocks = (d->cout + CB - 1) / CB;
    p.u_floats = round16((size_t)p.nx * p.nblocks * CB * d->cin);
    p.fb_floats = round16((size_t)d->cin * p.al * RL(mt));
    p.v_floats = round16((size_t)p.nx * d->cin * WT);
    p.m_floats = round16((size_t)p.nx * p.nblocks * CB * WT);
    p.per_thread = p.fb_floats + p.v_floats + p.m_floats + round16((size_t)2 * 2 * WT);
    return p;
}

size_t dl_conv_winograd_scratch(const dl_conv2d_desc *d, int nthreads) {
    if (!dl_conv_winograd_applies(d)) return 0;
    if (nthreads < 1) nthreads = 1;
    size_t need = 0;
    for (int mt = 2; mt <= 4; mt += 2) { /* room for either (the testing hook may switch) */
        wplan p = plan_of(d, mt);
        size_t n = p.u_floats + round16((size_t)d->cin) + (size_t)nthreads * p.per_thread + 16;
        if (n > need) need = n;
    }
    return need;
}

typedef struct wjob {
    const dl_conv2d_desc *d;
    wplan p;
    const float *x, *w, *u, *bias, *residual;
    const int *koff;
    float *y, *work;
    dl_act act;
    bool avx2;
    dl_conv_direct_kernel_fn kern;
} wjob;

/* ------------------------------------------------------------- plain C pieces (any CPU) --- */

/* V[xi][ci][t] = (B^T d B)[xi]; B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void input_c(int cin, int nt, const float *src, size_t cs, size_t rs, float *v) {
    size_t xs = (size_t)cin * WT; /* stride between transform elements */
    for (int ci = 0; ci < cin; ci++) {
        const float *sc = src + (size_t)ci * cs;
        float *vc = v + (size_t)ci * WT;
        for (int t = 0; t < nt; t++) {
            float b[4][4];
            for (int r = 0; r < 4; r++) {
                const float *p = sc + (size_t)r * rs + 2 * t;
                b[r][0] = p[0] - p[2];
                b[r][1] = p[1] + p[2];
                b[r][2] = p[2] - p[1];
                b[r][3] = p[1] - p[3];
            }
            for (int c = 0; c < 4; c++) {
                vc[(size_t)(0 + c) * xs + t] = b[0][c] - b[2][c];
                vc[(size_t)(4 + c) * xs + t] = b[1][c] + b[2][c];
                vc[(size_t)(8 + c) * xs + t] = b[2][c] - b[1][c];
                vc[(size_t)(12 + c) * xs + t] = b[1][c] - b[3][c];
            }
        }
    }
}

/* Y = A^T M A + bias (+ residual), A^T = [1 1 1 0; 0 1 -1 -1]. */
static void output_c(int cout, int n, const float *m, const float *bias, const float *res, float *y,
                     size_t plane, int ldy, int rows, int w, float *tmp) {
    float *t0 = tmp, *t1 = tmp + 2 * WT;
    for (int co = 0; co < cout; co++) {
        const float *mc = m + (size_t)co * 16 * WT;
        for (int t = 0; t < n; t++) {
            float q[16];
            for (int e = 0; e < 16; e++) q[e] = mc[(size_t)e * WT + t];
            float a0 = q[0] + q[4] + q[8], a1 = q[1] + q[5] + q[9];
            float a2 = q[2] + q[6] + q[10], a3 = q[3] + q[7] + q[11];
            float b0 = q[4] - q[8] - q[12], b1 = q[5] - q[9] - q[13];
            float b2 = q[6] - q[10] - q[14], b3 = q[7] - q[11] - q[15];
            t0[2 * t] = a0 + a1 + a2;
            t0[2 * t + 1] = a1 - a2 - a3;
            t1[2 * t] = b0 + b1 + b2;
            t1[2 * t + 1] = b1 - b2 - b3;
        }
        float bv = bias ? bias[co] : 0.0f;
        for (int r = 0; r < rows; r++) {
            const float *src = r ? t1 : t0;
            size_t o = (size_t)co * plane + (size_t)r * ldy;
            float *yr = y + o;
            for (int q = 0; q < w; q++) {
                float a = src[q];
                if (bias) a += bv;
                if (res) a += res[o + q];
                yr[q] = a;
            }
        }
    }
}

/* ------------------------------------------------------------------------------ driver --- */

static void wino_task(void *arg, int ty, int thread) {
    wjob *j = arg;
    const dl_conv2d_desc *d = j->d;
    const wplan *p = &j->p;
    int mt = p->mt, al = p->al, rl = RL(mt);
    float *fb = j->work + (size_t)thread * p->per_thread;
    float *v = fb + p->fb_floats, *m = v + p->v_floats, *tmp = m + p->m_floats;
    size_t plane = (size_t)d->out_h * d->out_w, in_plane = (size_t)d->in_h * d->in_w;
    int iy0 = mt * ty - d->pad_top; /* input row of the tiles' row 0 */
    bool rows_in = iy0 >= 0 && iy0 + al <= d->in_h;
    int oy = mt * ty, rows = imin(mt, d->out_h - oy);
    float *yp[CB];
    for (int tx0 = 0; tx0 < p->tw; tx0 += WT) {
        int n = imin(WT, p->tw - tx0), nv = (n + 7) / 8;
        int c0 = mt * tx0 - d->pad_left; /* input column of the tiles' column 0 */
        const float *src;
        size_t cs, rs;
        /* columns read: < 8 mt nv + 2 (F(4x4): + 4) */
        if (rows_in && c0 >= 0 && c0 + 8 * mt * nv + 2 + (mt == 4 ? 4 : 0) <= d->in_w) {
            src = j->x + (size_t)iy0 * d->in_w + c0; /* read in place */
            cs = in_plane;
            rs = (size_t)d->in_w;
        } else {
            /* zero-padded copy of the al rows: fb[ci][r][q] = x[ci][iy0 + r][c0 + q] */
            int qa = imin(rl, imax(0, -c0)), qb = imax(qa, imin(rl, d->in_w - c0));
            for (int ci = 0; ci < d->cin; ci++)
                for (int r = 0; r < al; r++) {
                    float *row = fb + ((size_t)ci * al + r) * rl;
                    int iy = iy0 + r;
                    if (iy < 0 || iy >= d->in_h || qb == qa) {
                        memset(row, 0, (size_t)rl * sizeof(float));
                        continue;
                    }
                    const float *xr = j->x + (size_t)ci * in_plane + (size_t)iy * d->in_w + c0;
                    if (qa > 0) memset(row, 0, (size_t)qa * sizeof(float));
                    memcpy(row + qa, xr + qa, (size_t)(qb - qa) * sizeof(float));
                    if (qb < rl) memset(row + qb, 0, (size_t)(rl - qb) * sizeof(float));
                }
            src = fb;
            cs = (size_t)al * rl;
            rs = (size_t)rl;
        }
        int ox = mt * tx0, w = imin(mt * n, d->out_w - ox);
        size_t o = (size_t)oy * d->out_w + ox;
        const float *res = j->residual ? j->residual + o : NULL;
        float *y = j->y + o;
        bool act_done = false;
#if defined(__x86_64__) || defined(_M_X64)
        if (j->avx2) {
            if (mt == 4) dl_wino4_input_avx2(d->cin, nv, src, cs, rs, v);
            else dl_wino_input_avx2(d->cin, nv, src, cs, rs, v);
            dl_wino_gemm_avx2(p->nx, d->cin, p->nblocks, j->u, v, m, nv);
            if (mt == 4)
                act_done = dl_wino4_output_avx2(d->cout, nv, m, j->bias, res, y, plane, d->out_w,
                                                rows, w, j->act);
            else
                act_done = dl_wino_output_avx2(d->cout, nv, m, j->bias, res, y, plane, d->out_w,
                                               rows, w, j->act);
        } else
#endif
        {
            /* F(2x2, 3x3) only (plan_of chose it) */
            input_c(d->cin, 8 * nv, src, cs, rs, v);
            for (int xi = 0; xi < 16; xi++) {
                const float *vx = v + (size_t)xi * d->cin * WT;
                for (int b = 0; b < p->nblocks; b++) {
                    int co = b * CB, nco = imin(CB, d->cout - co);
                    for (int c = 0; c < nco; c++) yp[c] = m + ((size_t)(co + c) * 16 + xi) * WT;
                    j->kern(d->cin, j->u + ((size_t)xi * p->nblocks + b) * CB * d->cin, j->koff, vx,
                            n, nco, yp, NULL, NULL, DL_ACT_NONE);
                }
            }
            output_c(d->cout, n, m, j->bias, res, y, plane, d->out_w, rows, w, tmp);
        }
        if (j->act != DL_ACT_NONE && !act_done)
            for (int co = 0; co < d->cout; co++)
                for (int r = 0; r < rows; r++)
                    dl_cpu_act_span(j->act, y + (size_t)co * plane + (size_t)r * d->out_w,
                                    (size_t)w);
    }
}

/* U[xi][block][ci][c] = (G g G^T)[xi] of channel block * 4 + c (zero past cout), with
 *   F(2x2): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   F(4x4): G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6;
 *                0 0 1] */
static void weight_task(void *arg, int b, int thread) {
    (void)thread;
    wjob *j = arg;
    const dl_conv2d_desc *d = j->d;
    static const float g2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    static const float g4[6][3] = {{0.25f, 0, 0},
                                   {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                   {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                   {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                   {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                   {0, 0, 1}};
    int cin = d->cin, nb = j->p.nblocks, al = j->p.al;
    const float(*gm)[3] = al == 4 ? g2 : g4;
    float *u = (float *)j->u;
    for (int c = 0; c < CB; c++) {
        int co = b * CB + c;
        for (int ci = 0; ci < cin; ci++) {
            float g[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
            if (co < d->cout) memcpy(g, j->w + ((size_t)co * cin + ci) * 9, sizeof g);
            float gg[6][3]; /* G g */
            for (int r = 0; r < al; r++)
                for (int k = 0; k < 3; k++)
                    gg[r][k] = gm[r][0] * g[k] + gm[r][1] * g[3 + k] + gm[r][2] * g[6 + k];
            for (int r = 0; r < al; r++)
                for (int e = 0; e < al; e++) {
                    float uv = gg[r][0] * gm[e][0] + gg[r][1] * gm[e][1] + gg[r][2] * gm[e][2];
                    u[(((size_t)(r * al + e) * nb + b) * cin + ci) * CB + c] = uv;
                }
        }
    }
}

void dl_conv_winograd(dl_threadpool *pool, float *scratch, const dl_conv2d_desc *d, const float *x,
                      const float *w, const float *bias, const float *residual, dl_act act,
                      float *y) {
    if (!dl_conv_winograd_applies(d)) return;
    wjob j;
    j.d = d;
    j.avx2 = have_avx2();
    j.p = plan_of(d, use_f4(d) ? 4 : 2);
    uintptr_t base = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
    float *u = (float *)base;
    int *koff = (int *)(u + j.p.u_floats);
    j.work = u + j.p.u_floats + round16((size_t)d->cin);
    j.w = w;
    j.u = u;
    /* the weight transform, one task per block of 4 output channels */
    dl_parallel_for(pool, j.p.nblocks, weight_task, &j);
    int cin = d->cin;
    for (int ci = 0; ci < cin; ci++) koff[ci] = ci * WT;
    j.x = x;
    j.koff = koff;
    j.bias = bias;
    j.residual = residual;
    j.y = y;
    j.act = act;
    j.kern = dl_conv_direct_kernel();
    dl_parallel_for(pool, j.p.th, wino_task, &j);
}
