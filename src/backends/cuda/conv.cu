/* CUDA backend: Convolution and linear layers: im2col or a plain GEMM, direct grouped convolutions,
 * one epilogue kernel for bias, residual and activation. */
#include "backends/cuda/common.cuh"

namespace dlcu {

/* ---- kernels: convolution pieces --------------------------------------------------------- */

/* col (column-major, rows = output pixels p0..p0+np, ld np) of one group's receptive fields */
template <typename T>
__global__ void k_im2col(size_t n, int np, int p0, int cin_g, int c0, int kh, int kw, int sh,
                         int sw, int pt, int pl, int h, int w, int ow, const float *x, T *col) {
    GRID_STRIDE(i, n) {
        int pr = (int)(i % np);
        int kk = (int)(i / np); /* (ci, ky, kx) */
        int kx = kk % kw, ky = kk / kw % kh, ci = kk / (kw * kh);
        int p = p0 + pr, oy = p / ow, ox = p % ow;
        int iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
        float v = 0.0f;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = x[((size_t)(c0 + ci) * h + iy) * w + ix];
        col[i] = to_low<T>(v);
    }
}

/* rows of x [t, k] with stride ldx -> contiguous [t, k] */
template <typename T>
__global__ void k_convert_rows(size_t n, int k, const float *x, int ldx, T *y) {
    GRID_STRIDE(i, n) y[i] = to_low<T>(x[(i / k) * ldx + i % k]);
}

/* conv epilogue: y[co, p] = act(y + bias[co] + res[co, p]) */
__global__ void k_conv_epilogue(size_t n, int hw, const float *bias, const float *res, int act,
                                float *y) {
    GRID_STRIDE(i, n) {
        float v = y[i];
        if (bias) v += bias[i / hw];
        if (res) v += res[i];
        y[i] = act_apply(act, v);
    }
}

/* linear epilogue over y [t, n] with row stride ldy */
__global__ void k_linear_epilogue(size_t total, int n, int ldy, const float *bias, int act,
                                  float *y) {
    GRID_STRIDE(i, total) {
        size_t r = i / n;
        int c = (int)(i % n);
        float *p = y + r * ldy + c;
        float v = *p;
        if (bias) v += bias[c];
        *p = act_apply(act, v);
    }
}

/* grouped / depthwise convolution, direct: one thread per output, plus the epilogue */
__global__ void k_conv_direct(size_t n, dl_conv2d_desc d, const float *x, const float *w,
                              const float *bias, const float *res, int act, float *y) {
    GRID_STRIDE(i, n) {
        int ox = (int)(i % d.out_w), oy = (int)(i / d.out_w % d.out_h);
        int co = (int)(i / ((size_t)d.out_w * d.out_h));
        int cin_g = d.cin / d.groups, cout_g = d.cout / d.groups, g = co / cout_g;
        const float *wk = w + (size_t)co * cin_g * d.kh * d.kw;
        float acc = 0.0f;
        for (int ci = 0; ci < cin_g; ci++) {
            const float *xc = x + (size_t)(g * cin_g + ci) * d.in_h * d.in_w;
            for (int ky = 0; ky < d.kh; ky++) {
                int iy = oy * d.stride_h - d.pad_top + ky;
                if (iy < 0 || iy >= d.in_h) continue;
                for (int kx = 0; kx < d.kw; kx++) {
                    int ix = ox * d.stride_w - d.pad_left + kx;
                    if (ix < 0 || ix >= d.in_w) continue;
                    acc += xc[(size_t)iy * d.in_w + ix] * wk[((size_t)ci * d.kh + ky) * d.kw + kx];
                }
            }
        }
        if (bias) acc += bias[co];
        if (res) acc += res[i];
        y[i] = act_apply(act, acc);
    }
}

/* ---- ops: convolution and linear --------------------------------------------------------- */

bool conv_is_1x1(const dl_conv2d_desc *d) {
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
           d->pad_left == 0 && d->groups == 1 && d->out_h == d->in_h && d->out_w == d->in_w;
}

/* output pixels per im2col chunk */
int conv_chunk(const dl_conv2d_desc *d) {
    size_t K = (size_t)d->cin * d->kh * d->kw, ohw = (size_t)d->out_h * d->out_w;
    if (K * ohw <= kIm2colCapFloats) return (int)ohw;
    size_t c = kIm2colCapFloats / K / 128 * 128;
    return (int)std::max<size_t>(c, 128);
}

size_t cu_conv2d_scratch(const dl_ops_ctx *ctx, const dl_conv2d_desc *d) {
    const cuda_backend *b = B(ctx);
    bool low = low_precision(b);
    if (d->groups != 1) return 0;
    size_t K = (size_t)d->cin * d->kh * d->kw;
    if (conv_is_1x1(d)) return low ? ((size_t)d->cin * d->in_h * d->in_w + 1) / 2 + 64 : 0;
    size_t n = K * (size_t)conv_chunk(d);
    return (low ? (n + 1) / 2 : n) + 64;
}

size_t cu_linear_scratch(const dl_ops_ctx *ctx, int t, int n, int k) {
    return low_precision(B(ctx)) ? ((size_t)t * k + 1) / 2 + 64 : 0;
}

void cu_conv2d(dl_ops_ctx *ctx, const dl_conv2d_desc *d, const float *x, const dl_wref *w,
               const dl_wref *bias, const float *residual, dl_act act, float *y) {
    cuda_backend *b = B(ctx);
    const float *wd = map_w(b, w), *bd = map_w(b, bias);
    if (!wd || (bias && bias->host && !bd)) return; /* a reference to no weight (recorded) */
    size_t ohw = (size_t)d->out_h * d->out_w, n = ohw * d->cout;
    if (!n) return;
    if (d->groups != 1) {
        k_conv_direct<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, *d, x, wd, bd, residual, act,
                                                                 y);
        launched(b, "conv2d (direct)");
        return;
    }
    int K = d->cin * d->kh * d->kw;
    const void *wl = low_precision(b) ? map_low(b, w) : nullptr;
    bool low = wl != nullptr; /* an operand that is not a model weight runs in float32 */
    if (low && b->use_igemm && conv_igemm(b, d, x, wl, bd, residual, act, y)) return;
    /* a residual that aliases y is accumulated by the GEMM (beta 1); else by the epilogue */
    float beta = residual && residual == y ? 1.0f : 0.0f;
    const float *res = residual && residual != y ? residual : nullptr;
    if (conv_is_1x1(d)) {
        /* y[Cout, HW] = W[Cout, Cin] x[Cin, HW]: column-major C(HW x Cout) = X(HW x Cin) W(Cin x
         * Cout) */
        if (low) {
            convert_low(b, (size_t)d->cin * ohw, x, ctx->scratch);
            gemm_low(b, false, false, (int)ohw, d->cout, K, ctx->scratch, (int)ohw, wl, K, beta, y,
                     (int)ohw);
        } else {
            gemm_f32(b, false, false, (int)ohw, d->cout, K, x, (int)ohw, wd, K, beta, y, (int)ohw);
        }
    } else {
        int chunk = conv_chunk(d);
        for (int p0 = 0; p0 < (int)ohw; p0 += chunk) {
            int np = std::min(chunk, (int)ohw - p0);
            size_t cn = (size_t)np * K;
            unsigned g = blocks_for(cn, 256);
            if (low && b->precision == DL_PRECISION_FP16)
                k_im2col<__half><<<g, 256, 0, b->stream>>>(
                    cn, np, p0, d->cin, 0, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_top,
                    d->pad_left, d->in_h, d->in_w, d->out_w, x, (__half *)ctx->scratch);
            else if (low)
                k_im2col<__nv_bfloat16><<<g, 256, 0, b->stream>>>(
                    cn, np, p0, d->cin, 0, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_top,
                    d->pad_left, d->in_h, d->in_w, d->out_w, x, (__nv_bfloat16 *)ctx->scratch);
            else
                k_im2col<float><<<g, 256, 0, b->stream>>>(
                    cn, np, p0, d->cin, 0, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_top,
                    d->pad_left, d->in_h, d->in_w, d->out_w, x, ctx->scratch);
            launched(b, "conv2d (im2col)");
            if (low)
                gemm_low(b, false, false, np, d->cout, K, ctx->scratch, np, wl, K, beta, y + p0,
                         (int)ohw);
            else
                gemm_f32(b, false, false, np, d->cout, K, ctx->scratch, np, wd, K, beta, y + p0,
                         (int)ohw);
        }
    }
    if (bd || res || act != DL_ACT_NONE) {
        k_conv_epilogue<<<blocks_for(n, 256), 256, 0, b->stream>>>(n, (int)ohw, bd, res, act, y);
        launched(b, "conv2d (epilogue)");
    }
}

void cu_linear(dl_ops_ctx *ctx, int t, int n, int k, const float *x, int ldx, const dl_wref *w,
               const dl_wref *bias, dl_act act, float *y, int ldy) {
    cuda_backend *b = B(ctx);
    if (t <= 0 || n <= 0) return;
    const float *wd = map_w(b, w), *bd = map_w(b, bias);
    if (!wd || (bias && bias->host && !bd)) return; /* a reference to no weight (recorded) */
    const void *wl = low_precision(b) ? map_low(b, w) : nullptr;
    /* y[T, N] = x[T, K] W[N, K]^T: column-major C(N x T) = W^T(N x K) X(K x T) */
    if (wl) {
        size_t cnt = (size_t)t * k;
        if (b->precision == DL_PRECISION_FP16)
            k_convert_rows<__half><<<blocks_for(cnt, 256), 256, 0, b->stream>>>(
                cnt, k, x, ldx, (__half *)ctx->scratch);
        else
            k_convert_rows<__nv_bfloat16><<<blocks_for(cnt, 256), 256, 0, b->stream>>>(
                cnt, k, x, ldx, (__nv_bfloat16 *)ctx->scratch);
        launched(b, "linear (convert)");
        gemm_low(b, true, false, n, t, k, wl, k, ctx->scratch, k, 0.0f, y, ldy);
    } else {
        gemm_f32(b, true, false, n, t, k, wd, k, x, ldx, 0.0f, y, ldy);
    }
    if (bd || act != DL_ACT_NONE) {
        size_t tot = (size_t)t * n;
        k_linear_epilogue<<<blocks_for(tot, 256), 256, 0, b->stream>>>(tot, n, ldy, bd, act, y);
        launched(b, "linear (epilogue)");
    }
}

} // namespace dlcu
