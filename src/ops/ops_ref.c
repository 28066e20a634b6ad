/*
 * Scalar reference of every op: single-threaded, straightforward loops, float32 with the
 * summation order written out. Fast paths are tested against these.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops/ops.h"

float dl_act_apply(dl_act act, float x) {
    switch (act) {
    case DL_ACT_NONE: return x;
    case DL_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case DL_ACT_SILU: return x / (1.0f + expf(-x));
    case DL_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case DL_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    }
    return x;
}

static size_t ref_conv2d_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    (void)ctx;
    (void)d;
    return 0;
}

static size_t ref_linear_scratch(const dl_ops_ctx *ctx, int t, int n, int k) {
    (void)ctx;
    (void)t;
    (void)n;
    (void)k;
    return 0;
}

static void ref_conv2d(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x,
                       const dl_wref *wref, const dl_wref *bref, const float *residual, dl_act act,
                       float *y) {
    (void)ctx;
    const float *w = dl_wref_host(wref), *bias = dl_wref_host(bref);
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    for (int co = 0; co < d->cout; co++) {
        int g = co / cout_g;
        const float *wk = w + (size_t)co * cin_g * d->kh * d->kw;
        for (int oy = 0; oy < d->out_h; oy++) {
            for (int ox = 0; ox < d->out_w; ox++) {
                float acc = 0.0f;
                for (int ci = 0; ci < cin_g; ci++) {
                    const float *xc = x + (size_t)(g * cin_g + ci) * d->in_h * d->in_w;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->stride_h - d->pad_top + ky;
                        if (iy < 0 || iy >= d->in_h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->stride_w - d->pad_left + kx;
                            if (ix < 0 || ix >= d->in_w) continue;
                            acc += xc[(size_t)iy * d->in_w + ix] *
                                   wk[((size_t)ci * d->kh + ky) * d->kw + kx];
                        }
                    }
                }
                size_t o = ((size_t)co * d->out_h + oy) * d->out_w + ox;
                if (bias) acc += bias[co];
                if (residual) acc += residual[o];
                y[o] = dl_act_apply(act, acc);
            }
        }
    }
}

static void ref_linear(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx,
                       const dl_wref *wref, const dl_wref *bref, dl_act act, float *y, int ldy) {
    (void)ctx;
    const float *w = dl_wref_host(wref), *bias = dl_wref_host(bref);
    for (int i = 0; i < t; i++) {
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) acc += x[(size_t)i * ldx + p] * w[(size_t)j * k + p];
            if (bias) acc += bias[j];
            y[(size_t)i * ldy + j] = dl_act_apply(act, acc);
        }
    }
}

static void ref_layer_norm(dl_ops_ctx *ctx, int t, int d, const float *x, const float *residual,
                           const dl_wref *gref, const dl_wref *bref, float eps, float *y) {
    (void)ctx;
    const float *gamma = dl_wref_host(gref), *beta = dl_wref_host(bref);
    for (int i = 0; i < t; i++) {
        const float *xr = x + (size_t)i * d;
        const float *rr = residual ? residual + (size_t)i * d : NULL;
        float *yr = y + (size_t)i * d;
        double mean = 0.0, var = 0.0;
        for (int j = 0; j < d; j++) mean += xr[j] + (rr ? rr[j] : 0.0f);
        mean /= d;
        for (int j = 0; j < d; j++) {
            double v = (double)(xr[j] + (rr ? rr[j] : 0.0f)) - mean;
            var += v * v;
        }
        var /= d;
        float inv = (float)(1.0 / sqrt(var + eps));
        for (int j = 0; j < d; j++) {
            float v = xr[j] + (rr ? rr[j] : 0.0f);
            yr[j] = (v - (float)mean) * inv * gamma[j] + beta[j];
        }
    }
}

static void ref_attention(dl_ops_ctx *ctx, int t, int s, int heads, int head_dim, const float *q,
                          int ldq, const float *k, int ldk, const float *v, int ldv, float *out,
                          int ldo) {
    float *p = ctx->scratch; /* [S] */
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int h = 0; h < heads; h++) {
        for (int i = 0; i < t; i++) {
            const float *qi = q + (size_t)i * ldq + h * head_dim;
            float mx = -FLT_MAX;
            for (int j = 0; j < s; j++) {
                const float *kj = k + (size_t)j * ldk + h * head_dim;
                float acc = 0.0f;
                for (int c = 0; c < head_dim; c++) acc += qi[c] * kj[c];
                p[j] = acc * scale;
                if (p[j] > mx) mx = p[j];
            }
            float sum = 0.0f;
            for (int j = 0; j < s; j++) {
                p[j] = expf(p[j] - mx);
                sum += p[j];
            }
            float *oi = out + (size_t)i * ldo + h * head_dim;
            for (int c = 0; c < head_dim; c++) oi[c] = 0.0f;
            for (int j = 0; j < s; j++) {
                const float *vj = v + (size_t)j * ldv + h * head_dim;
                float pj = p[j] / sum;
                for (int c = 0; c < head_dim; c++) oi[c] += pj * vj[c];
            }
        }
    }
}

void dl_bilinear_accumulate(const float *value, int ld, int hgt, int wid, float px, float py,
                            int dh, float wgt, float *acc) {
    float fx = floorf(px), fy = floorf(py);
    int x0 = (int)fx, y0 = (int)fy;
    float ax = px - fx, ay = py - fy;
    float cw[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
    int cx[4] = {x0, x0 + 1, x0, x0 + 1};
    int cy[4] = {y0, y0, y0 + 1, y0 + 1};
    for (int n = 0; n < 4; n++) {
        if (cx[n] < 0 || cx[n] >= wid || cy[n] < 0 || cy[n] >= hgt) continue;
        const float *src = value + ((size_t)cy[n] * wid + cx[n]) * ld;
        float f = wgt * cw[n];
        for (int c = 0; c < dh; c++) acc[c] += f * src[c];
    }
}

static void ref_deform_attn(dl_ops_ctx *ctx, const dl_deform_desc *d, const float *value,
                            const float *loc, const float *weight, float *out) {
    (void)ctx;
    int ld = d->n_heads * d->head_dim;
    for (int q = 0; q < d->n_queries; q++) {
        for (int h = 0; h < d->n_heads; h++) {
            float *acc = out + (size_t)q * ld + h * d->head_dim;
            for (int c = 0; c < d->head_dim; c++) acc[c] = 0.0f;
            int p = 0;
            for (int l = 0; l < d->n_levels; l++) {
                int hgt = d->level_h[l], wid = d->level_w[l];
                const float *vl = value + (size_t)d->level_start[l] * ld + h * d->head_dim;
                for (int k = 0; k < d->level_points[l]; k++, p++) {
                    size_t qi = ((size_t)q * d->n_heads + h) * d->total_points + p;
                    float lx = loc[qi * 2], ly = loc[qi * 2 + 1], wgt = weight[qi];
                    if (d->discrete) {
                        /* transformers: (loc * [W,H] + 0.5).to(int64), clamped to the map */
                        float fx = lx * wid + 0.5f, fy = ly * hgt + 0.5f;
                        int ix = (int)fx, iy = (int)fy; /* truncation toward zero */
                        if (ix < 0) ix = 0;
                        if (ix > wid - 1) ix = wid - 1;
                        if (iy < 0) iy = 0;
                        if (iy > hgt - 1) iy = hgt - 1;
                        const float *src = vl + ((size_t)iy * wid + ix) * ld;
                        for (int c = 0; c < d->head_dim; c++) acc[c] += wgt * src[c];
                    } else {
                        /* grid_sample(align_corners=False): pixel = loc * size - 0.5 */
                        dl_bilinear_accumulate(vl, ld, hgt, wid, lx * wid - 0.5f, ly * hgt - 0.5f,
                                               d->head_dim, wgt, acc);
                    }
                }
            }
        }
    }
}

static void ref_max_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int pad,
                           int out_h, int out_w, const float *x, float *y) {
    (void)ctx;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * h * w;
        for (int oy = 0; oy < out_h; oy++) {
            for (int ox = 0; ox < out_w; ox++) {
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
                y[((size_t)ch * out_h + oy) * out_w + ox] = m;
            }
        }
    }
}

static void ref_avg_pool2d(dl_ops_ctx *ctx, int c, int h, int w, int k, int stride, int out_h,
                           int out_w, const float *x, float *y) {
    (void)ctx;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * h * w;
        for (int oy = 0; oy < out_h; oy++) {
            for (int ox = 0; ox < out_w; ox++) {
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
                y[((size_t)ch * out_h + oy) * out_w + ox] = cnt ? s / (float)cnt : 0.0f;
            }
        }
    }
}

static void ref_upsample2x(dl_ops_ctx *ctx, int c, int h, int w, const float *x, float *y) {
    (void)ctx;
    for (int ch = 0; ch < c; ch++)
        for (int oy = 0; oy < 2 * h; oy++)
            for (int ox = 0; ox < 2 * w; ox++)
                y[((size_t)ch * 2 * h + oy) * 2 * w + ox] =
                    x[((size_t)ch * h + oy / 2) * w + ox / 2];
}

static void ref_softmax_rows(dl_ops_ctx *ctx, int rows, int n, float *x) {
    (void)ctx;
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * n;
        float mx = -FLT_MAX;
        for (int j = 0; j < n; j++)
            if (xr[j] > mx) mx = xr[j];
        float sum = 0.0f;
        for (int j = 0; j < n; j++) {
            xr[j] = expf(xr[j] - mx);
            sum += xr[j];
        }
        for (int j = 0; j < n; j++) xr[j] /= sum;
    }
}

static void ref_activate(dl_ops_ctx *ctx, size_t n, dl_act act, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) x[i] = dl_act_apply(act, x[i]);
}

static void ref_add(dl_ops_ctx *ctx, size_t n, const float *a, const float *b, float *y) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static const dl_ops reference_ops = {
    .name = "reference",
    DL_HOST_OPS,
    .conv2d_scratch = ref_conv2d_scratch,
    .linear_scratch = ref_linear_scratch,
    .conv2d = ref_conv2d,
    .linear = ref_linear,
    .layer_norm = ref_layer_norm,
    .attention = ref_attention,
    .deform_attn = ref_deform_attn,
    .max_pool2d = ref_max_pool2d,
    .avg_pool2d = ref_avg_pool2d,
    .upsample2x = ref_upsample2x,
    .softmax_rows = ref_softmax_rows,
    .activate = ref_activate,
    .add = ref_add,
};

const dl_ops *dl_ops_reference(void) { return &reference_ops; }
