/* The reference resampler and preprocessing: the straightforward implementation that the fast
 * path (resize.c) is tested and benchmarked against: the passes as they were, the taps from
 * dl_rs_axis_init (shared with the plan, so both start from the same coefficients).
 *
 * Bilinear resize that reproduces Pillow's ImagingResample (libImaging/Resample.c) bit for bit
 * on 8-bit RGB: same filter support, same box rounding, same coefficient normalisation and
 * 22-bit fixed point, same pass order (horizontal, then vertical, each skipped when that side
 * is unchanged) and the same uint8 clipping between passes. Written from the algorithm; the
 * build uses -std=c11, where GCC does not contract a*b+c into FMA, which would change the
 * double-precision coefficients. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "image/image.h"
#include "image/resize.h"
#include "image/resize_kernels.h"

/* 8 bits of result, 2 bits of headroom for filters with negative lobes, in a 32-bit int. */
#define PRECISION_BITS (32 - 8 - 2)

/* Fixed-point sum (already holding the rounding half) to uint8, as Pillow's clip8. */
static inline uint8_t clip_fixed(int32_t sum) {
    if (sum < 0) return 0;
    int32_t v = sum >> PRECISION_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* Rows [row0, row0 + rows) of src, resampled horizontally into dst (stride 3 * out_w). */
static void resample_horizontal(const dl_image *src, int row0, int rows, const dl_rs_axis *ax,
                                int out_w, uint8_t *dst) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->rgb + (size_t)(row0 + y) * src->stride;
        uint8_t *o = dst + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = ax->weights + (size_t)x * ax->max_taps;
            const uint8_t *p = in + (size_t)ax->first[x] * 3;
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            for (int t = 0, n = ax->count[x]; t < n; t++) {
                r += p[3 * t] * k[t];
                g += p[3 * t + 1] * k[t];
                b += p[3 * t + 2] * k[t];
            }
            o[3 * x] = clip_fixed(r);
            o[3 * x + 1] = clip_fixed(g);
            o[3 * x + 2] = clip_fixed(b);
        }
    }
}

/* Vertical pass over an image whose row `row0` is stored first (rows of `in_stride` bytes,
 * `row_bytes` used). One output row at a time, accumulating whole input rows: integer sums are
 * exact, so the order differs from Pillow's without changing any result. */
static void resample_vertical(const uint8_t *in, size_t in_stride, int row0, size_t row_bytes,
                              const dl_rs_axis *ay, int out_h, int32_t *acc, uint8_t *dst,
                              size_t dst_stride) {
    for (int y = 0; y < out_h; y++) {
        for (size_t i = 0; i < row_bytes; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        const int32_t *k = ay->weights + (size_t)y * ay->max_taps;
        for (int t = 0, n = ay->count[y]; t < n; t++) {
            const uint8_t *row = in + (size_t)(ay->first[y] + t - row0) * in_stride;
            int32_t w = k[t];
            for (size_t i = 0; i < row_bytes; i++) acc[i] += row[i] * w;
        }
        uint8_t *o = dst + (size_t)y * dst_stride;
        for (size_t i = 0; i < row_bytes; i++) o[i] = clip_fixed(acc[i]);
    }
}

dl_status dl_image_resize_bilinear_ref(const dl_image *src, int out_w, int out_h, dl_image **out,
                                       dl_error *err) {
    dl_image *dst;
    dl_status st = dl_resize_begin(src, out_w, out_h, out, &dst, err);
    if (st != DL_OK) return st;
    int need_horizontal = out_w != src->width;
    int need_vertical = out_h != src->height;
    if (!need_horizontal && !need_vertical) {
        for (int y = 0; y < out_h; y++)
            memcpy(dst->rgb + (size_t)y * dst->stride, src->rgb + (size_t)y * src->stride,
                   (size_t)out_w * 3);
        *out = dst;
        return DL_OK;
    }

    dl_rs_axis ax = {0}, ay = {0};
    uint8_t *temp = NULL; /* [rows_used][out_w * 3] horizontal pass, only the rows needed */
    int32_t *acc = NULL;  /* [out_w * 3] vertical accumulators */
    if (need_horizontal && (st = dl_rs_axis_init(&ax, src->width, out_w, err)) != DL_OK) goto fail;
    if (need_vertical && (st = dl_rs_axis_init(&ay, src->height, out_h, err)) != DL_OK) goto fail;

    if (need_horizontal) {
        /* Only source rows some output row reads are resampled (Pillow's ybox_first/last). */
        int row0 = need_vertical ? ay.first[0] : 0;
        int row_end = need_vertical ? ay.first[out_h - 1] + ay.count[out_h - 1] : src->height;
        int rows = row_end - row0;
        uint8_t *h_out = need_vertical ? NULL : dst->rgb;
        if (need_vertical) {
            temp = malloc((size_t)rows * out_w * 3);
            if (!temp) {
                st = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory");
                goto fail;
            }
            h_out = temp;
        }
        resample_horizontal(src, row0, rows, &ax, out_w, h_out);
        if (need_vertical) {
            acc = malloc(sizeof *acc * (size_t)out_w * 3);
            if (!acc) {
                st = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory");
                goto fail;
            }
            resample_vertical(temp, (size_t)out_w * 3, row0, (size_t)out_w * 3, &ay, out_h, acc,
                              dst->rgb, dst->stride);
        }
    } else {
        acc = malloc(sizeof *acc * (size_t)out_w * 3);
        if (!acc) {
            st = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "resize: out of memory");
            goto fail;
        }
        resample_vertical(src->rgb, src->stride, 0, (size_t)out_w * 3, &ay, out_h, acc, dst->rgb,
                          dst->stride);
    }
    dl_rs_axis_free(&ax);
    dl_rs_axis_free(&ay);
    free(temp);
    free(acc);
    *out = dst;
    return DL_OK;

fail:
    dl_rs_axis_free(&ax);
    dl_rs_axis_free(&ay);
    free(temp);
    free(acc);
    dl_image_free(dst);
    return st;
}

dl_status dl_preprocess_ref(const dl_image *src, int out_w, int out_h, const dl_pixel_norm *norm,
                            float *out, dl_error *err) {
    if (!src || !src->rgb || !norm || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "preprocess: NULL argument");
    dl_image *resized = NULL;
    const dl_image *img = src;
    if (src->width != out_w || src->height != out_h) {
        dl_status s = dl_image_resize_bilinear_ref(src, out_w, out_h, &resized, err);
        if (s != DL_OK) return s;
        img = resized;
    }
    size_t plane = (size_t)out_w * out_h;
    for (int y = 0; y < out_h; y++) {
        const uint8_t *row = img->rgb + (size_t)y * img->stride;
        for (int x = 0; x < out_w; x++) {
            for (int c = 0; c < 3; c++) {
                /* [3, H, W]: rescale, then normalise only when the preprocessor says so */
                float v = (float)row[x * 3 + c] * norm->scale;
                if (norm->normalize) v = (v - norm->mean[c]) / norm->std[c];
                out[c * plane + (size_t)y * out_w + x] = v;
            }
        }
    }
    dl_image_free(resized);
    return DL_OK;
}
