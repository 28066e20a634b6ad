/* Internals of the resize plan (resize.c) shared with its SIMD kernels (resize_avx2.c,
 * resize_neon.c): the plan's layout, the kernel table, and the plain-C vertical pass.
 *
 * Fixed point as Pillow for 8-bit images: 22-bit coefficients, sums start at one half, the
 * result is (sum >> 22) clipped to 0..255. Sums of uint8 x coefficient products are exact in
 * int32 (the bilinear coefficients are non-negative and sum to about 1 << 22), so any order of
 * accumulation and any exact decomposition of the products gives Pillow's bytes. The AVX2
 * kernels use one: w = (w >> 11) * 2048 + (w & 2047), two 11-bit halves that fit the 16-bit
 * multiply-adds (pmaddwd) of two taps at once.
 */
#ifndef DL_IMAGE_RESIZE_KERNELS_H
#define DL_IMAGE_RESIZE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/resize.h"

#define DL_RS_PRECISION 22
#define DL_RS_HALF (1 << (DL_RS_PRECISION - 1))
#define DL_RS_SPLIT 11 /* bits of the low half of a coefficient (AVX2 pair layout) */
/* Bytes readable past the end of a planar source row (the SIMD kernels' 16-byte windows). */
#define DL_RS_ROW_SLACK 32

/* Pillow's taps for one axis (bilinear, antialiased when shrinking, 22-bit fixed point): output
 * i reads inputs [first[i], first[i] + count[i]) with weights[i * max_taps + t]. Shared by the
 * plan (resize.c) and the reference resampler (resize_ref.c). */
typedef struct dl_rs_axis {
    int max_taps;
    int *first, *count; /* [out_size] */
    int32_t *weights;   /* [out_size][max_taps] */
} dl_rs_axis;

/* What both resizers (resize.c, resize_ref.c) check first: out not NULL (*out = NULL), a valid
 * source, a positive output size; then *dst [out_h, out_w] allocated. */
dl_status dl_resize_begin(const dl_image *src, int out_w, int out_h, dl_image **out, dl_image **dst,
                          dl_error *err);

dl_status dl_rs_axis_init(dl_rs_axis *a, int in_size, int out_size, dl_error *err);
void dl_rs_axis_free(dl_rs_axis *a);

/* How a plan stores the horizontal taps (the kernel table says which it wants). */
typedef enum dl_rs_xlayout {
    DL_RS_X_ROWS, /* xweights[out_w_pad][xtaps]: one output's taps together (generic) */
    DL_RS_X_TAPS, /* xweights[xtaps][out_w_pad] and 32-bit-lane masks (NEON) */
    DL_RS_X_PAIRS /* xpairs[xtaps / 2][2][out_w_pad] and 16-bit-pair masks (AVX2) */
} dl_rs_xlayout;

typedef struct dl_resize_plan dl_resize_plan;

/* A kernel table. Each run keeps a ring of horizontally resampled source rows per channel,
 * in one of two layouts:
 *   byte rows (pairs false): one row of out_w_pad bytes per source row, made by load_row;
 *   row pairs (pairs true): source rows 2k and 2k+1 in one slot of out_w_pad 32-bit lanes,
 *     row 2k in the low 16 bits, made together by load_pair; the vertical kernels read them
 *     with 16-bit multiply-adds and ypairs. */
typedef struct dl_resize_ops {
    const char *name;
    dl_rs_xlayout xlayout; /* the layout of the horizontal taps it wants */
    bool pairs;
    /* One source row `rgb` (in_w pixels) -> out[c] (c < 3). `tmp` is scratch: 6 rows of
     * DL_RS_TMP_BYTES(p) bytes. */
    void (*load_row)(const dl_resize_plan *p, const uint8_t *rgb, uint8_t *const *tmp,
                     uint8_t *const *out);
    /* Source rows rgb0, rgb1 (rgb1 may repeat rgb0 past the image's last row) -> out[c]. */
    void (*load_pair)(const dl_resize_plan *p, const uint8_t *rgb0, const uint8_t *rgb1,
                      uint8_t *const *tmp, uint8_t *const *out);
    /* Output row y of one channel: slots[j] are its ring slots (byte rows: rows yfirst[y] + j,
     * j < ycount[y]; pairs: pairs (yfirst[y] >> 1) + j), each readable up to its slot size. */
    void (*vertical_u8)(const dl_resize_plan *p, int y, const uint8_t *const *slots, int32_t *acc,
                        uint8_t *out);
    void (*vertical_f32)(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                         const dl_pixel_norm *norm, int c, int32_t *acc, float *out);
} dl_resize_ops;

struct dl_resize_plan {
    int refs; /* dl_resize_cache's references (under its mutex); 0 outside it */
    int in_w, in_h, out_w, out_h;
    bool horizontal; /* in_w != out_w */
    const dl_resize_ops *ops;
    char kernels[48]; /* "avx2", "generic", ... */
    int out_w_pad;    /* out_w rounded up to a multiple of 16 */
    /* Horizontal pass: out[x] = clip(sum_t in[xfirst[x] + t] * w[x][t]) over t < xtaps, every
     * output with the same number of taps: its own, then zeros, its window moved left (with
     * its weights) where it would pass the row's end, so that xfirst[x] + xtaps <= in_w (+ 1
     * for the even count of DL_RS_X_PAIRS, whose extra tap reads the planar rows' slack).
     * Outputs [out_w, out_w_pad) repeat the last window with zero weights. The layout is the
     * kernels' own where their blocks fit, else DL_RS_X_ROWS (for the generic kernel). */
    dl_rs_xlayout xlayout;
    int xtaps;         /* even for DL_RS_X_PAIRS */
    int *xfirst;       /* [out_w_pad] */
    int32_t *xweights; /* DL_RS_X_ROWS, DL_RS_X_TAPS */
    /* DL_RS_X_PAIRS: for taps 2j, 2j+1 of outputs x: xpairs[(2j + h) * out_w_pad + x] =
     * half h (0: w >> 11, 1: w & 2047) of tap 2j in the low 16 bits, of tap 2j+1 in the high. */
    uint32_t *xpairs;
    /* SIMD blocks of 4 outputs: block b gathers from the 16 bytes at in + xbase[b] + t (tap t;
     * pairs: + 2j) with the byte shuffle xmask[b][16]: for output l, lane bytes 4l..4l+3 are
     * TAPS (d, Z, Z, Z), PAIRS (d, Z, d+1, Z), d = xfirst[4b + l] - xbase[b], Z = 0x80 (zero). */
    int *xbase;     /* [out_w_pad / 4] */
    uint8_t *xmask; /* [out_w_pad / 4][16] */
    /* Whether clip8's clamp to 0..255 can change a value of that pass: false when every
     * output's taps are >= 0 and half + 255 * (sum of its taps) < 256 << 22 (checked for
     * each output in integers; true only past ~16000 taps), so SIMD kernels may skip it. */
    bool xclamp, yclamp;
    /* Vertical pass: output row y = clip(sum_t hrow[yfirst[y] + t] * yweights[y][t]),
     * t < ycount[y]. Without a vertical pass (in_h == out_h) every row has one tap of weight
     * 1 << 22, which reproduces its input exactly. */
    int ytaps;         /* the largest ycount */
    int ystride;       /* >= ytaps */
    int *yfirst;       /* [out_h] */
    int *ycount;       /* [out_h] */
    int32_t *yweights; /* [out_h][ystride] */
    /* ops->pairs: the taps of row y over the row pairs from (yfirst[y] >> 1), that is with
     * a zero tap first when yfirst[y] is odd, as xpairs: ypairs[(y * ypstride + j) * 2 + h] */
    int ypstride; /* (ystride + 2) / 2 */
    uint32_t *ypairs;
};

/* Bytes of one row of the kernels' scratch (tmp): a planar source row with room for the
 * padding taps and 16-byte windows, or an output row. */
#define DL_RS_TMP_BYTES(p)                                                                         \
    ((size_t)((p)->in_w + (p)->xtaps > (p)->out_w_pad ? (p)->in_w + (p)->xtaps : (p)->out_w_pad) + \
     DL_RS_ROW_SLACK)

/* The generic kernels (resize.c), also used by the SIMD tables for what they do not replace. */
void dl_resize_deinterleave_generic(const uint8_t *rgb, int n, uint8_t *r, uint8_t *g, uint8_t *b);
/* The horizontal pass from the interleaved row (DL_RS_X_ROWS taps): out[c][out_w]. */
void dl_resize_horizontal_generic(const dl_resize_plan *p, const uint8_t *rgb, uint8_t *const *out);
void dl_resize_load_row_generic(const dl_resize_plan *p, const uint8_t *rgb, uint8_t *const *tmp,
                                uint8_t *const *out);
void dl_resize_vertical_u8_generic(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                                   int32_t *acc, uint8_t *out);
void dl_resize_vertical_f32_generic(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                                    const dl_pixel_norm *norm, int c, int32_t *acc, float *out);

#if defined(__x86_64__) || defined(_M_X64)
extern const dl_resize_ops dl_resize_ops_avx2;
#endif
#if defined(__aarch64__)
extern const dl_resize_ops dl_resize_ops_neon;
#endif

/* Pillow's clip8 of a fixed-point sum. */
static inline int32_t dl_rs_clip(int32_t sum) {
    int32_t v = sum >> DL_RS_PRECISION;
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

#endif
