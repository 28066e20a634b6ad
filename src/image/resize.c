/* Bilinear resize that reproduces Pillow's ImagingResample (libImaging/Resample.c) bit for bit
 * on 8-bit RGB, as a plan (resize.h): same filter support, same box rounding, same coefficient
 * normalisation and 22-bit fixed point, same pass order (horizontal, then vertical, each
 * skipped when that side is unchanged: an unchanged height runs as one tap of weight 1.0,
 * which is exact) and the same uint8 clipping between passes. The coefficients are computed
 * exactly as in the reference (resize_ref.c); the build uses -std=c11, where GCC does not
 * contract a*b+c into FMA, which would change them.
 *
 * A run goes down the output rows once. Each source row an output row needs is resampled
 * horizontally once, into planes, into a ring of the last few rows per channel (byte rows, or
 * row pairs for the AVX2 kernels); each output row is then the vertical pass over its rows of
 * the ring, written straight into the caller's interleaved bytes or planar floats (the
 * uint8 -> float conversion fused into it). Scratch: a few rows, allocated per run, so a plan
 * is never written after it is made and threads may share it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "core/error.h"
#include "image/image.h"
#include "image/resize.h"
#include "image/resize_kernels.h"

static double triangle_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

void dl_rs_axis_free(dl_rs_axis *a) {
    free(a->first);
    free(a->count);
    free(a->weights);
    memset(a, 0, sizeof *a);
}

dl_status dl_rs_axis_init(dl_rs_axis *a, int in_size, int out_size, dl_error *err) {
    memset(a, 0, sizeof *a);
    double scale = (double)in_size / out_size;
    /* Shrinking widens the triangle to cover `scale` input pixels (antialiasing). */
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filter_scale;
    a->max_taps = (int)ceil(support) * 2 + 1;
    double *taps = malloc(sizeof *taps * (size_t)a->max_taps);
    a->first = malloc(sizeof *a->first * (size_t)out_size);
    a->count = malloc(sizeof *a->count * (size_t)out_size);
    a->weights = calloc((size_t)out_size * (size_t)a->max_taps, sizeof *a->weights);
    if (!taps || !a->first || !a->count || !a->weights) {
        free(taps);
        dl_rs_axis_free(a);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory for coefficients");
    }
    double inv_filter_scale = 1.0 / filter_scale;
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        /* Pillow's rounding: truncate (center -+ support + 0.5), then clamp to the image. */
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        double total = 0.0;
        for (int t = 0; t < n; t++) {
            double w = triangle_filter((t + lo - center + 0.5) * inv_filter_scale);
            taps[t] = w;
            total += w;
        }
        int32_t *k = a->weights + (size_t)i * a->max_taps;
        for (int t = 0; t < n; t++) {
            double w = total != 0.0 ? taps[t] / total : taps[t];
            k[t] = w < 0 ? (int32_t)(-0.5 + w * (1 << DL_RS_PRECISION))
                         : (int32_t)(0.5 + w * (1 << DL_RS_PRECISION));
        }
        a->first[i] = lo;
        a->count[i] = n;
    }
    free(taps);
    return DL_OK;
}

/* Whether clip8's clamp can change the sum of `n` taps k[] over any bytes (see xclamp). */
static bool taps_need_clamp(const int32_t *k, int n) {
    int64_t total = 0;
    for (int t = 0; t < n; t++) {
        if (k[t] < 0) return true;
        total += k[t];
    }
    return DL_RS_HALF + 255 * total >= (int64_t)256 << DL_RS_PRECISION;
}

/* ---- generic kernels ------------------------------------------------------------------- */

void dl_resize_deinterleave_generic(const uint8_t *rgb, int n, uint8_t *r, uint8_t *g, uint8_t *b) {
    for (int i = 0; i < n; i++) {
        r[i] = rgb[3 * i];
        g[i] = rgb[3 * i + 1];
        b[i] = rgb[3 * i + 2];
    }
}

/* Straight from the interleaved row, three channels per output (no planar copy). */
void dl_resize_horizontal_generic(const dl_resize_plan *p, const uint8_t *rgb,
                                  uint8_t *const *out) {
    int taps = p->xtaps;
    uint8_t *o0 = out[0], *o1 = out[1], *o2 = out[2];
    for (int x = 0; x < p->out_w; x++) {
        const uint8_t *s = rgb + 3 * (size_t)p->xfirst[x];
        const int32_t *k = p->xweights + (size_t)x * taps;
        int32_t r = DL_RS_HALF, g = DL_RS_HALF, b = DL_RS_HALF;
        for (int t = 0; t < taps; t++) {
            r += s[3 * t] * k[t];
            g += s[3 * t + 1] * k[t];
            b += s[3 * t + 2] * k[t];
        }
        o0[x] = (uint8_t)dl_rs_clip(r);
        o1[x] = (uint8_t)dl_rs_clip(g);
        o2[x] = (uint8_t)dl_rs_clip(b);
    }
}

void dl_resize_load_row_generic(const dl_resize_plan *p, const uint8_t *rgb, uint8_t *const *tmp,
                                uint8_t *const *out) {
    (void)tmp;
    if (p->horizontal) dl_resize_horizontal_generic(p, rgb, out);
    else dl_resize_deinterleave_generic(rgb, p->in_w, out[0], out[1], out[2]);
}

/* acc[x] = half + sum_t rows[t][x] * w[t]: passes of one or two taps over `acc` (in L1), each
 * a widening multiply-add that the compiler vectorises (NEON: the aarch64 kernels use this). */
static void vertical_acc(const uint8_t *const *rows, const int32_t *w, int n, int width,
                         int32_t *restrict acc) {
    const uint8_t *restrict r0 = rows[0];
    int32_t w0 = w[0];
    if (n >= 2) {
        const uint8_t *restrict r1 = rows[1];
        int32_t w1 = w[1];
        for (int x = 0; x < width; x++) acc[x] = DL_RS_HALF + r0[x] * w0 + r1[x] * w1;
    } else {
        for (int x = 0; x < width; x++) acc[x] = DL_RS_HALF + r0[x] * w0;
    }
    int t = 2;
    for (; t + 1 < n; t += 2) {
        const uint8_t *restrict ra = rows[t], *restrict rb = rows[t + 1];
        int32_t wa = w[t], wb = w[t + 1];
        for (int x = 0; x < width; x++) acc[x] += ra[x] * wa + rb[x] * wb;
    }
    if (t < n) {
        const uint8_t *restrict ra = rows[t];
        int32_t wa = w[t];
        for (int x = 0; x < width; x++) acc[x] += ra[x] * wa;
    }
}

void dl_resize_vertical_u8_generic(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                                   int32_t *acc, uint8_t *out) {
    int width = p->out_w;
    vertical_acc(slots, p->yweights + (size_t)y * p->ystride, p->ycount[y], width, acc);
    for (int x = 0; x < width; x++) out[x] = (uint8_t)dl_rs_clip(acc[x]);
}

/* The conversion is the reference's, operation for operation: (float)u8 * scale, then
 * (v - mean) / std in single precision, as separate statements (never contracted to FMA). */
void dl_resize_vertical_f32_generic(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                                    const dl_pixel_norm *norm, int c, int32_t *acc, float *out) {
    int width = p->out_w;
    vertical_acc(slots, p->yweights + (size_t)y * p->ystride, p->ycount[y], width, acc);
    float scale = norm->scale;
    if (!norm->normalize) {
        for (int x = 0; x < width; x++) out[x] = (float)dl_rs_clip(acc[x]) * scale;
    } else {
        float mean = norm->mean[c], std = norm->std[c];
        for (int x = 0; x < width; x++) {
            float v = (float)dl_rs_clip(acc[x]) * scale;
            v = v - mean;
            out[x] = v / std;
        }
    }
}

static const dl_resize_ops generic_ops = {
    "generic",
    DL_RS_X_ROWS,
    false,
    dl_resize_load_row_generic,
    NULL,
    dl_resize_vertical_u8_generic,
    dl_resize_vertical_f32_generic,
};

static const dl_resize_ops *best_ops(void) {
#if defined(__x86_64__) || defined(_M_X64)
    if (dl_cpu_caps_get()->avx2) return &dl_resize_ops_avx2;
#endif
#if defined(__aarch64__)
    return &dl_resize_ops_neon;
#endif
    return &generic_ops;
}

/* ---- the plan ---------------------------------------------------------------------------- */

void dl_resize_plan_free(dl_resize_plan *p) {
    if (!p) return;
    free(p->xfirst);
    free(p->xweights);
    free(p->xpairs);
    free(p->xbase);
    free(p->xmask);
    free(p->yfirst);
    free(p->ycount);
    free(p->yweights);
    free(p->ypairs);
    free(p);
}

const char *dl_resize_plan_kernels(const dl_resize_plan *p) { return p ? p->kernels : ""; }

/* The SIMD blocks of 4 outputs: false when some block's inputs do not fit its 16 bytes. */
static bool plan_blocks(dl_resize_plan *p, bool pairs) {
    int pad = p->out_w_pad;
    for (int b = 0; b < pad / 4; b++) {
        int base = p->xfirst[4 * b];
        p->xbase[b] = base;
        uint8_t *m = p->xmask + (size_t)b * 16;
        memset(m, 0x80, 16);
        for (int l = 0; l < 4; l++) {
            int d = p->xfirst[4 * b + l] - base;
            if (d > (pairs ? 14 : 15)) return false;
            m[4 * l] = (uint8_t)d;
            if (pairs) m[4 * l + 2] = (uint8_t)(d + 1);
        }
    }
    return true;
}

/* The horizontal taps in the kernels' layout (see resize_kernels.h). */
static dl_status plan_horizontal(dl_resize_plan *p, dl_error *err) {
    dl_rs_axis ax;
    dl_status st = dl_rs_axis_init(&ax, p->in_w, p->out_w, err);
    if (st != DL_OK) return st;
    int taps = 1;
    for (int x = 0; x < p->out_w; x++)
        if (ax.count[x] > taps) taps = ax.count[x];
    size_t pad = (size_t)p->out_w_pad;
    dl_rs_xlayout layout = p->ops->xlayout;
    int taps_pad = layout == DL_RS_X_PAIRS ? (taps + 1) / 2 * 2 : taps;
    /* one table of every output's taps (padded with zeros), as the generic kernel reads it */
    int32_t *rows = calloc(pad * (size_t)taps_pad, sizeof *rows);
    p->xfirst = malloc(sizeof *p->xfirst * pad);
    p->xbase = malloc(sizeof *p->xbase * (pad / 4));
    p->xmask = malloc(pad * 4);
    if (!rows || !p->xfirst || !p->xbase || !p->xmask) {
        free(rows);
        dl_rs_axis_free(&ax);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory for coefficients");
    }
    for (size_t x = 0; x < pad; x++) {
        int i = x < (size_t)p->out_w ? (int)x : p->out_w - 1;
        int first = ax.first[i];
        if (first > p->in_w - taps) first = p->in_w - taps; /* count <= taps <= in_w */
        p->xfirst[x] = first;
        if (x != (size_t)i) continue; /* padding: zero weights */
        if (taps_need_clamp(ax.weights + (size_t)i * ax.max_taps, ax.count[i])) p->xclamp = true;
        int shift = ax.first[i] - first;
        for (int t = 0; t < ax.count[i]; t++)
            rows[x * (size_t)taps_pad + (size_t)(t + shift)] =
                ax.weights[(size_t)i * ax.max_taps + (size_t)t];
    }
    dl_rs_axis_free(&ax);
    p->xtaps = taps;
    p->xlayout = DL_RS_X_ROWS;
    if (layout != DL_RS_X_ROWS && plan_blocks(p, layout == DL_RS_X_PAIRS)) {
        /* the SIMD layout: tap-major, or tap pairs split in 11-bit halves */
        size_t n = (size_t)taps_pad * pad;
        uint32_t *simd = malloc(sizeof *simd * n);
        if (!simd) {
            free(rows);
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory for coefficients");
        }
        for (size_t x = 0; x < pad; x++) {
            const int32_t *k = rows + x * (size_t)taps_pad;
            for (int t = 0; t < taps_pad; t++) {
                if (layout == DL_RS_X_TAPS) {
                    simd[(size_t)t * pad + x] = (uint32_t)k[t];
                } else if (t % 2 == 0) {
                    uint32_t a = (uint32_t)k[t], b = (uint32_t)k[t + 1];
                    simd[(size_t)t * pad + x] = (a >> DL_RS_SPLIT) | (b >> DL_RS_SPLIT) << 16;
                    simd[(size_t)(t + 1) * pad + x] =
                        (a & ((1u << DL_RS_SPLIT) - 1)) | (b & ((1u << DL_RS_SPLIT) - 1)) << 16;
                }
            }
        }
        free(rows);
        rows = NULL;
        p->xtaps = taps_pad;
        p->xlayout = layout;
        if (layout == DL_RS_X_TAPS) p->xweights = (int32_t *)simd;
        else p->xpairs = simd;
    } else {
        /* generic layout: rows of taps_pad, but the generic kernel reads xtaps of them */
        if (taps_pad != taps) {
            for (size_t x = 0; x < pad; x++)
                memmove(rows + x * (size_t)taps, rows + x * (size_t)taps_pad,
                        sizeof *rows * (size_t)taps);
        }
        p->xweights = rows;
    }
    return DL_OK;
}

static dl_status plan_vertical(dl_resize_plan *p, dl_error *err) {
    if (p->out_h < 1 || p->in_h < 1) /* checked by the caller; tells the compiler too */
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: invalid height");
    size_t out_h = (size_t)p->out_h;
    if (p->in_h == p->out_h) { /* no vertical pass: one tap of weight 1 per row */
        p->ytaps = p->ystride = 1;
        p->yfirst = malloc(sizeof *p->yfirst * out_h);
        p->ycount = malloc(sizeof *p->ycount * out_h);
        p->yweights = malloc(sizeof *p->yweights * out_h);
        if (!p->yfirst || !p->ycount || !p->yweights)
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory for coefficients");
        for (int y = 0; y < p->out_h; y++) {
            p->yfirst[y] = y;
            p->ycount[y] = 1;
            p->yweights[y] = 1 << DL_RS_PRECISION;
        }
    } else {
        dl_rs_axis ay;
        dl_status st = dl_rs_axis_init(&ay, p->in_h, p->out_h, err);
        if (st != DL_OK) return st;
        int taps = 1;
        for (int y = 0; y < p->out_h; y++)
            if (ay.count[y] > taps) taps = ay.count[y];
        p->ytaps = taps;
        p->ystride = ay.max_taps;
        p->yfirst = ay.first; /* the plan takes the arrays over */
        p->ycount = ay.count;
        p->yweights = ay.weights;
        for (int y = 0; y < p->out_h; y++)
            if (taps_need_clamp(p->yweights + (size_t)y * p->ystride, p->ycount[y]))
                p->yclamp = true;
    }
    if (p->ops->pairs) {
        p->ypstride = (p->ystride + 2) / 2;
        p->ypairs = malloc(sizeof *p->ypairs * out_h * (size_t)p->ypstride * 2);
        if (!p->ypairs)
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory for coefficients");
        for (size_t y = 0; y < out_h; y++) {
            const int32_t *k = p->yweights + y * (size_t)p->ystride;
            int n = p->ycount[y], odd = p->yfirst[y] & 1;
            uint32_t *o = p->ypairs + y * (size_t)p->ypstride * 2;
            for (int j = 0; j < p->ypstride; j++) {
                int t0 = 2 * j - odd, t1 = t0 + 1; /* the taps of rows 2j, 2j+1 of the pairs */
                uint32_t a = t0 >= 0 && t0 < n ? (uint32_t)k[t0] : 0;
                uint32_t b = t1 >= 0 && t1 < n ? (uint32_t)k[t1] : 0;
                o[2 * j] = (a >> DL_RS_SPLIT) | (b >> DL_RS_SPLIT) << 16;
                o[2 * j + 1] = (a & ((1u << DL_RS_SPLIT) - 1)) | (b & ((1u << DL_RS_SPLIT) - 1))
                                                                     << 16;
            }
        }
    }
    return DL_OK;
}

dl_status dl_resize_plan_create(int in_w, int in_h, int out_w, int out_h, dl_resize_kernels kernels,
                                dl_resize_plan **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: out is NULL");
    *out = NULL;
    if (in_w <= 0 || in_h <= 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: invalid input size %dx%d", in_w,
                       in_h);
    if (out_w <= 0 || out_h <= 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: invalid output size %dx%d", out_w,
                       out_h);
    if (in_w > DL_IMAGE_MAX_SIDE || in_h > DL_IMAGE_MAX_SIDE || out_w > DL_IMAGE_MAX_SIDE ||
        out_h > DL_IMAGE_MAX_SIDE)
        return dl_fail(err, DL_ERR_LIMIT, "resize: %dx%d -> %dx%d exceeds %d pixels per side", in_w,
                       in_h, out_w, out_h, DL_IMAGE_MAX_SIDE);
    dl_resize_plan *p = calloc(1, sizeof *p);
    if (!p) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory");
    p->in_w = in_w;
    p->in_h = in_h;
    p->out_w = out_w;
    p->out_h = out_h;
    p->horizontal = in_w != out_w;
    p->out_w_pad = (out_w + 15) / 16 * 16;
    p->ops = kernels == DL_RESIZE_KERNELS_GENERIC ? &generic_ops : best_ops();
    dl_status st = DL_OK;
    if (p->horizontal) st = plan_horizontal(p, err);
    if (st == DL_OK) st = plan_vertical(p, err);
    if (st != DL_OK) {
        dl_resize_plan_free(p);
        return st;
    }
    snprintf(p->kernels, sizeof p->kernels, "%s%s", p->ops->name,
             p->horizontal && p->xlayout != p->ops->xlayout ? " (generic horizontal)" : "");
    *out = p;
    return DL_OK;
}

/* ---- running ------------------------------------------------------------------------------ */

/* Per-run scratch: the kernels' tmp rows, the ring of horizontally resampled rows (or row
 * pairs), the vertical accumulators, slot pointers, and (byte output) one output row per
 * channel. */
typedef struct run_scratch {
    void *block;
    uint8_t *tmp[6];  /* [DL_RS_TMP_BYTES] */
    uint8_t *ring[3]; /* [nslots][slot] */
    int nslots;
    size_t slot;           /* bytes per slot */
    int32_t *acc;          /* [out_w_pad] */
    const uint8_t **slots; /* [ytaps + 1] */
    uint8_t *orow[3];      /* [out_w_pad] */
} run_scratch;

static dl_status scratch_init(const dl_resize_plan *p, run_scratch *s, dl_error *err) {
    size_t tmp = DL_RS_TMP_BYTES(p);
    /* byte rows: ycount <= ytaps rows at once; pairs: at most ytaps / 2 + 1 pairs */
    s->nslots = p->ops->pairs ? p->ytaps / 2 + 1 : p->ytaps;
    s->slot = (size_t)p->out_w_pad * (p->ops->pairs ? 4 : 1);
    size_t ring = (size_t)s->nslots * s->slot;
    size_t width = (size_t)p->out_w_pad;
    /* pointers first, then int32, then bytes: every part stays aligned */
    size_t bytes = sizeof *s->slots * ((size_t)p->ytaps + 1) + sizeof *s->acc * width + 6 * tmp +
                   3 * (ring + width);
    s->block = calloc(1, bytes);
    if (!s->block) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory");
    uint8_t *q = s->block;
    s->slots = (const uint8_t **)(void *)q;
    q += sizeof *s->slots * ((size_t)p->ytaps + 1);
    s->acc = (int32_t *)(void *)q;
    q += sizeof *s->acc * width;
    for (int c = 0; c < 3; c++) {
        s->ring[c] = q;
        q += ring;
        s->orow[c] = q;
        q += width;
    }
    for (int i = 0; i < 6; i++) {
        s->tmp[i] = q;
        q += tmp;
    }
    return DL_OK;
}

/* Load ring unit u (a source row, or the row pair 2u, 2u+1) into slot u % nslots. */
static void load_unit(const dl_resize_plan *p, const dl_image *src, int u, run_scratch *s) {
    size_t off = (size_t)(u % s->nslots) * s->slot;
    uint8_t *out[3] = {s->ring[0] + off, s->ring[1] + off, s->ring[2] + off};
    if (!p->ops->pairs) {
        p->ops->load_row(p, src->rgb + (size_t)u * src->stride, s->tmp, out);
        return;
    }
    int y0 = 2 * u, y1 = y0 + 1 < p->in_h ? y0 + 1 : y0; /* a lone last row: weight 0 */
    p->ops->load_pair(p, src->rgb + (size_t)y0 * src->stride, src->rgb + (size_t)y1 * src->stride,
                      s->tmp, out);
}

typedef struct run_sink {
    uint8_t *dst; /* interleaved bytes, or NULL */
    size_t dst_stride;
    float *chw; /* planar floats, or NULL */
    const dl_pixel_norm *norm;
} run_sink;

static dl_status run_rows(const dl_resize_plan *p, const dl_image *src, const run_sink *sink,
                          int row0, int row1, dl_error *err) {
    if (!src || !src->rgb || src->width != p->in_w || src->height != p->in_h ||
        src->stride < (size_t)src->width * 3)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "resize: source image does not match the plan's %dx%d", p->in_w, p->in_h);
    run_scratch s = {0};
    dl_status st = scratch_init(p, &s, err);
    if (st != DL_OK) return st;
    size_t plane = (size_t)p->out_w * p->out_h;
    bool pairs = p->ops->pairs;
    int loaded_end = -1; /* units [.., loaded_end) are in the ring */
    for (int y = row0; y < row1; y++) {
        int first = p->yfirst[y], n = p->ycount[y];
        /* the ring units this row reads: [u0, u1) */
        int u0 = pairs ? first >> 1 : first, u1 = pairs ? ((first + n - 1) >> 1) + 1 : first + n;
        for (int u = loaded_end > u0 ? loaded_end : u0; u < u1; u++) load_unit(p, src, u, &s);
        if (u1 > loaded_end) loaded_end = u1;
        for (int c = 0; c < 3; c++) {
            for (int u = u0; u < u1; u++)
                s.slots[u - u0] = s.ring[c] + (size_t)(u % s.nslots) * s.slot;
            s.slots[u1 - u0] = s.slots[u1 - u0 - 1];
            if (sink->chw)
                p->ops->vertical_f32(p, y, s.slots, sink->norm, c, s.acc,
                                     sink->chw + c * plane + (size_t)y * p->out_w);
            else p->ops->vertical_u8(p, y, s.slots, s.acc, s.orow[c]);
        }
        if (!sink->chw) {
            uint8_t *o = sink->dst + (size_t)y * sink->dst_stride;
            const uint8_t *r = s.orow[0], *g = s.orow[1], *b = s.orow[2];
            for (int x = 0; x < p->out_w; x++) {
                o[3 * x] = r[x];
                o[3 * x + 1] = g[x];
                o[3 * x + 2] = b[x];
            }
        }
    }
    free(s.block);
    return DL_OK;
}

dl_status dl_resize_plan_run(const dl_resize_plan *p, const dl_image *src, uint8_t *dst,
                             size_t dst_stride, dl_error *err) {
    if (!p || !dst) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: NULL argument");
    if (dst_stride < (size_t)p->out_w * 3)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: output stride %zu is too small",
                       dst_stride);
    run_sink sink = {dst, dst_stride, NULL, NULL};
    return run_rows(p, src, &sink, 0, p->out_h, err);
}

dl_status dl_resize_plan_run_chw(const dl_resize_plan *p, const dl_image *src,
                                 const dl_pixel_norm *norm, float *out, int row0, int row1,
                                 dl_error *err) {
    if (!p || !norm || !out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: NULL argument");
    if (row0 < 0 || row1 > p->out_h || row0 > row1)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: rows [%d, %d) outside [0, %d)", row0,
                       row1, p->out_h);
    run_sink sink = {NULL, 0, out, norm};
    return run_rows(p, src, &sink, row0, row1, err);
}

dl_status dl_preprocess_image(const dl_image *src, int out_w, int out_h, const dl_pixel_norm *norm,
                              float *out, dl_error *err) {
    if (!src || !src->rgb || !norm || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "preprocess: NULL argument");
    dl_resize_plan *p;
    dl_status st = dl_resize_plan_create(src->width, src->height, out_w, out_h,
                                         DL_RESIZE_KERNELS_AUTO, &p, err);
    if (st != DL_OK) return st;
    st = dl_resize_plan_run_chw(p, src, norm, out, 0, out_h, err);
    dl_resize_plan_free(p);
    return st;
}

dl_status dl_resize_begin(const dl_image *src, int out_w, int out_h, dl_image **out, dl_image **dst,
                          dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: out is NULL");
    *out = NULL;
    if (!src || !src->rgb || src->width <= 0 || src->height <= 0 ||
        src->stride < (size_t)src->width * 3)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: invalid source image");
    if (out_w <= 0 || out_h <= 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize: invalid output size %dx%d", out_w,
                       out_h);
    return dl_image_alloc("resize", out_w, out_h, dst, err);
}

dl_status dl_image_resize_bilinear(const dl_image *src, int out_w, int out_h, dl_image **out,
                                   dl_error *err) {
    dl_image *dst;
    dl_status st = dl_resize_begin(src, out_w, out_h, out, &dst, err);
    if (st != DL_OK) return st;
    if (out_w == src->width && out_h == src->height) {
        for (int y = 0; y < out_h; y++)
            memcpy(dst->rgb + (size_t)y * dst->stride, src->rgb + (size_t)y * src->stride,
                   (size_t)out_w * 3);
        *out = dst;
        return DL_OK;
    }
    dl_resize_plan *p;
    st = dl_resize_plan_create(src->width, src->height, out_w, out_h, DL_RESIZE_KERNELS_AUTO, &p,
                               err);
    if (st == DL_OK) {
        st = dl_resize_plan_run(p, src, dst->rgb, dst->stride, err);
        dl_resize_plan_free(p);
    }
    if (st != DL_OK) {
        dl_image_free(dst);
        return st;
    }
    *out = dst;
    return DL_OK;
}

/* ---- the plan cache ------------------------------------------------------------------------ */

struct dl_resize_cache {
    pthread_mutex_t mu;
    int out_w, out_h;
    int n;
    dl_resize_plan *plans[DL_RESIZE_CACHE_SIZE]; /* most recently used first */
};

dl_status dl_resize_cache_create(int out_w, int out_h, dl_resize_cache **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize cache: out is NULL");
    *out = NULL;
    if (out_w <= 0 || out_h <= 0)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize cache: invalid size %dx%d", out_w,
                       out_h);
    dl_resize_cache *c = calloc(1, sizeof *c);
    if (!c) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize cache: out of memory");
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize cache: cannot create a mutex");
    }
    c->out_w = out_w;
    c->out_h = out_h;
    *out = c;
    return DL_OK;
}

void dl_resize_cache_free(dl_resize_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) dl_resize_plan_free(c->plans[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Under the mutex: the cached plan for in_w x in_h moved to the front with a reference for
 * the caller, or NULL. */
static dl_resize_plan *cache_find(dl_resize_cache *c, int in_w, int in_h) {
    for (int i = 0; i < c->n; i++) {
        dl_resize_plan *p = c->plans[i];
        if (p->in_w != in_w || p->in_h != in_h) continue;
        memmove(c->plans + 1, c->plans, sizeof *c->plans * (size_t)i);
        c->plans[0] = p;
        p->refs++;
        return p;
    }
    return NULL;
}

dl_status dl_resize_cache_acquire(dl_resize_cache *c, int in_w, int in_h,
                                  const dl_resize_plan **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize cache: out is NULL");
    *out = NULL;
    if (!c) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "resize cache: NULL cache");
    pthread_mutex_lock(&c->mu);
    dl_resize_plan *p = cache_find(c, in_w, in_h);
    pthread_mutex_unlock(&c->mu);
    if (p) {
        *out = p;
        return DL_OK;
    }
    /* a miss: make the plan outside the lock, then insert it unless another thread did */
    dl_resize_plan *made;
    dl_status st =
        dl_resize_plan_create(in_w, in_h, c->out_w, c->out_h, DL_RESIZE_KERNELS_AUTO, &made, err);
    if (st != DL_OK) return st;
    dl_resize_plan *evicted = NULL;
    pthread_mutex_lock(&c->mu);
    p = cache_find(c, in_w, in_h);
    if (!p) {
        if (c->n == DL_RESIZE_CACHE_SIZE) {
            dl_resize_plan *last = c->plans[--c->n];
            if (--last->refs == 0) evicted = last;
        }
        memmove(c->plans + 1, c->plans, sizeof *c->plans * (size_t)c->n);
        c->plans[0] = made;
        c->n++;
        made->refs = 2; /* the cache's and the caller's */
        p = made;
        made = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    dl_resize_plan_free(made);
    dl_resize_plan_free(evicted);
    *out = p;
    return DL_OK;
}

void dl_resize_cache_release(dl_resize_cache *c, const dl_resize_plan *plan) {
    if (!c || !plan) return;
    dl_resize_plan *p = (dl_resize_plan *)plan; /* the cache's own, handed out const */
    pthread_mutex_lock(&c->mu);
    int left = --p->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0) dl_resize_plan_free(p);
}

dl_status dl_resize_cache_run_chw(dl_resize_cache *c, const dl_image *src,
                                  const dl_pixel_norm *norm, float *out, dl_error *err) {
    if (!c || !src || !src->rgb || !norm || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "preprocess: NULL argument");
    const dl_resize_plan *p;
    dl_status st = dl_resize_cache_acquire(c, src->width, src->height, &p, err);
    if (st != DL_OK) return st;
    st = dl_resize_plan_run_chw(p, src, norm, out, 0, c->out_h, err);
    dl_resize_cache_release(c, p);
    return st;
}
