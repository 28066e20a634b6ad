/* Resize kernels for x86-64 with AVX2 (chosen at run time by resize.c). Exact integer
 * arithmetic as the generic kernels, with 16-bit multiply-adds (vpmaddwd) of two taps at a
 * time on the coefficients' 11-bit halves (resize_kernels.h) instead of 32-bit multiplies,
 * which are slow on many x86 cores: a byte shuffle splits RGB into planes, the horizontal pass
 * gathers two taps' bytes for 8 outputs with one byte shuffle of two 16-byte windows, the
 * vertical pass interleaves two rows' bytes. */
#include <immintrin.h>
#include <string.h>

#include "image/resize_kernels.h"

static void deinterleave_avx2(const uint8_t *rgb, int n, uint8_t *r, uint8_t *g, uint8_t *b) {
    /* 16 pixels (48 bytes) at a time: each plane takes 6 or 5 bytes from each 16-byte part */
#define Z -1
    const __m128i ra = _mm_setr_epi8(0, 3, 6, 9, 12, 15, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z);
    const __m128i rb = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, 2, 5, 8, 11, 14, Z, Z, Z, Z, Z);
    const __m128i rc = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 1, 4, 7, 10, 13);
    const __m128i ga = _mm_setr_epi8(1, 4, 7, 10, 13, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z);
    const __m128i gb = _mm_setr_epi8(Z, Z, Z, Z, Z, 0, 3, 6, 9, 12, 15, Z, Z, Z, Z, Z);
    const __m128i gc = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 2, 5, 8, 11, 14);
    const __m128i ba = _mm_setr_epi8(2, 5, 8, 11, 14, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z);
    const __m128i bb = _mm_setr_epi8(Z, Z, Z, Z, Z, 1, 4, 7, 10, 13, Z, Z, Z, Z, Z, Z);
    const __m128i bc = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 3, 6, 9, 12, 15);
#undef Z
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint8_t *s = rgb + 3 * (size_t)i;
        __m128i a = _mm_loadu_si128((const __m128i *)s);
        __m128i m = _mm_loadu_si128((const __m128i *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        __m128i vr = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ra), _mm_shuffle_epi8(m, rb)),
                                  _mm_shuffle_epi8(c, rc));
        __m128i vg = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ga), _mm_shuffle_epi8(m, gb)),
                                  _mm_shuffle_epi8(c, gc));
        __m128i vb = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ba), _mm_shuffle_epi8(m, bb)),
                                  _mm_shuffle_epi8(c, bc));
        _mm_storeu_si128((__m128i *)(r + i), vr);
        _mm_storeu_si128((__m128i *)(g + i), vg);
        _mm_storeu_si128((__m128i *)(b + i), vb);
    }
    if (i < n) dl_resize_deinterleave_generic(rgb + 3 * (size_t)i, n - i, r + i, g + i, b + i);
}

/* clip8 of 8 fixed-point sums held as 11-bit halves, `lo` already holding the rounding half:
 * ((hi << 11) + lo) >> 22, clamped to 0..255 unless the plan proved the clamp a no-op. */
static inline __m256i clip_halves(__m256i hi, __m256i lo, bool clamp) {
    __m256i v = _mm256_srai_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, DL_RS_SPLIT), lo),
                                  DL_RS_PRECISION);
    if (!clamp) return v;
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(255));
}

/* One channel of a row pair: 8 outputs per step, both rows. For each pair of taps one byte
 * shuffle of a block pair's two 16-byte windows gathers (tap 2j, tap 2j+1) as 16-bit pairs,
 * and two multiply-adds with the coefficients' 11-bit halves accumulate them exactly. Writes
 * row 0's outputs to the low and row 1's to the high 16 bits of out's lanes. */
static void horizontal_pair(const dl_resize_plan *p, const uint8_t *in0, const uint8_t *in1,
                            uint32_t *out) {
    int taps = p->xtaps, pad = p->out_w_pad;
    const __m256i half = _mm256_set1_epi32(DL_RS_HALF);
    for (int x = 0; x < pad; x += 8) {
        int b0 = p->xbase[x / 4], b1 = p->xbase[x / 4 + 1];
        __m256i mask =
            _mm256_loadu_si256((const __m256i *)(const void *)(p->xmask + (size_t)x * 4));
        const uint32_t *w = p->xpairs + x;
        __m256i h0 = _mm256_setzero_si256(), h1 = h0, l0 = half, l1 = half;
        for (int t = 0; t < taps; t += 2, w += 2 * (size_t)pad) {
            __m256i wh = _mm256_loadu_si256((const __m256i *)(const void *)w);
            __m256i wl = _mm256_loadu_si256((const __m256i *)(const void *)(w + pad));
            __m256i p0 = _mm256_shuffle_epi8(
                _mm256_inserti128_si256(
                    _mm256_castsi128_si256(
                        _mm_loadu_si128((const __m128i *)(const void *)(in0 + b0 + t))),
                    _mm_loadu_si128((const __m128i *)(const void *)(in0 + b1 + t)), 1),
                mask);
            __m256i p1 = _mm256_shuffle_epi8(
                _mm256_inserti128_si256(
                    _mm256_castsi128_si256(
                        _mm_loadu_si128((const __m128i *)(const void *)(in1 + b0 + t))),
                    _mm_loadu_si128((const __m128i *)(const void *)(in1 + b1 + t)), 1),
                mask);
            h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(p0, wh));
            l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(p0, wl));
            h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(p1, wh));
            l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(p1, wl));
        }
        __m256i v = _mm256_or_si256(clip_halves(h0, l0, p->xclamp),
                                    _mm256_slli_epi32(clip_halves(h1, l1, p->xclamp), 16));
        _mm256_storeu_si256((__m256i *)(void *)(out + x), v);
    }
}

/* Two byte rows -> 16-bit pairs (row a low, row b high), out_w_pad lanes (the rows must be
 * readable that far). */
static void interleave_pair(const uint8_t *a, const uint8_t *b, int pad, uint32_t *out) {
    for (int x = 0; x < pad; x += 16) {
        __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(a + x));
        __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(b + x));
        _mm256_storeu_si256((__m256i *)(void *)(out + x),
                            _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(va, vb)));
        _mm256_storeu_si256((__m256i *)(void *)(out + x + 8),
                            _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(va, vb)));
    }
}

static void load_pair_avx2(const dl_resize_plan *p, const uint8_t *rgb0, const uint8_t *rgb1,
                           uint8_t *const *tmp, uint8_t *const *out) {
    if (p->horizontal && p->xlayout == DL_RS_X_PAIRS) {
        deinterleave_avx2(rgb0, p->in_w, tmp[0], tmp[1], tmp[2]);
        deinterleave_avx2(rgb1, p->in_w, tmp[3], tmp[4], tmp[5]);
        for (int c = 0; c < 3; c++)
            horizontal_pair(p, tmp[c], tmp[3 + c], (uint32_t *)(void *)out[c]);
        return;
    }
    if (p->horizontal) { /* strong downscale: generic horizontal pass */
        dl_resize_horizontal_generic(p, rgb0, tmp);
        dl_resize_horizontal_generic(p, rgb1, tmp + 3);
    } else {
        deinterleave_avx2(rgb0, p->in_w, tmp[0], tmp[1], tmp[2]);
        deinterleave_avx2(rgb1, p->in_w, tmp[3], tmp[4], tmp[5]);
    }
    for (int c = 0; c < 3; c++)
        interleave_pair(tmp[c], tmp[3 + c], p->out_w_pad, (uint32_t *)(void *)out[c]);
}

/* 16 outputs of the vertical pass at column x: two multiply-adds per row pair (its 16-bit
 * pairs against the two rows' coefficient halves, broadcast in wh/wl). */
static inline void vertical16(const uint8_t *const *slots, const __m256i *wh, const __m256i *wl,
                              int np, int x, bool clamp, __m256i *v0, __m256i *v1) {
    __m256i h0 = _mm256_setzero_si256(), h1 = h0;
    __m256i l0 = _mm256_set1_epi32(DL_RS_HALF), l1 = l0;
    for (int j = 0; j < np; j++) {
        const uint32_t *s = (const uint32_t *)(const void *)slots[j] + x;
        __m256i p0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
        __m256i p1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 8));
        h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(p0, wh[j]));
        l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(p0, wl[j]));
        h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(p1, wh[j]));
        l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(p1, wl[j]));
    }
    *v0 = clip_halves(h0, l0, clamp);
    *v1 = clip_halves(h1, l1, clamp);
}

/* Up to VROW_MAX row pairs per output row get their coefficients broadcast once per row;
 * rows with more (vertical downscales past about 7x) broadcast them per block instead. */
#define VROW_MAX 8

typedef struct vrow {
    __m256i wh[VROW_MAX], wl[VROW_MAX];
} vrow;

/* The row pairs output row y reads, and their broadcast coefficients. */
static inline int vrow_load(const dl_resize_plan *p, int y, vrow *r) {
    const uint32_t *wp = p->ypairs + (size_t)y * p->ypstride * 2;
    int np = ((p->yfirst[y] & 1) + p->ycount[y] + 1) / 2;
    for (int j = 0; j < np && j < VROW_MAX; j++) {
        r->wh[j] = _mm256_set1_epi32((int)wp[2 * j]);
        r->wl[j] = _mm256_set1_epi32((int)wp[2 * j + 1]);
    }
    return np;
}

/* vertical16 for any number of row pairs. */
static inline void vertical16_any(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                                  const vrow *r, int np, int x, __m256i *v0, __m256i *v1) {
    if (np <= VROW_MAX) {
        vertical16(slots, r->wh, r->wl, np, x, p->yclamp, v0, v1);
        return;
    }
    const uint32_t *wp = p->ypairs + (size_t)y * p->ypstride * 2;
    __m256i h0 = _mm256_setzero_si256(), h1 = h0;
    __m256i l0 = _mm256_set1_epi32(DL_RS_HALF), l1 = l0;
    for (int j = 0; j < np; j++) {
        const uint32_t *s = (const uint32_t *)(const void *)slots[j] + x;
        __m256i wh = _mm256_set1_epi32((int)wp[2 * j]);
        __m256i wl = _mm256_set1_epi32((int)wp[2 * j + 1]);
        __m256i p0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
        __m256i p1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 8));
        h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(p0, wh));
        l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(p0, wl));
        h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(p1, wh));
        l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(p1, wl));
    }
    *v0 = clip_halves(h0, l0, p->yclamp);
    *v1 = clip_halves(h1, l1, p->yclamp);
}

/* The slots are out_w_pad (a multiple of 16) lanes, so the last block reads whole; only the
 * outputs below out_w are stored. */
static void vertical_u8_avx2(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                             int32_t *acc, uint8_t *out) {
    (void)acc;
    vrow r;
    int np = vrow_load(p, y, &r), width = p->out_w;
    for (int x = 0; x < width; x += 16) {
        __m256i v0, v1;
        vertical16_any(p, y, slots, &r, np, x, &v0, &v1);
        __m256i v16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xd8);
        __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(v16), _mm256_extracti128_si256(v16, 1));
        if (x + 16 <= width) {
            _mm_storeu_si128((__m128i *)(void *)(out + x), b);
        } else {
            uint8_t tmp[16];
            _mm_storeu_si128((__m128i *)(void *)tmp, b);
            memcpy(out + x, tmp, (size_t)(width - x));
        }
    }
}

/* The reference's conversion, operation for operation: (float)u8 * scale, then (v - mean) /
 * std, each rounded to single precision (separate intrinsics: nothing is fused). */
static void vertical_f32_avx2(const dl_resize_plan *p, int y, const uint8_t *const *slots,
                              const dl_pixel_norm *norm, int c, int32_t *acc, float *out) {
    (void)acc;
    vrow r;
    int np = vrow_load(p, y, &r), width = p->out_w;
    __m256 scale = _mm256_set1_ps(norm->scale);
    bool normalize = norm->normalize;
    __m256 mean = _mm256_set1_ps(normalize ? norm->mean[c] : 0.0f);
    __m256 std = _mm256_set1_ps(normalize ? norm->std[c] : 1.0f);
    for (int x = 0; x < width; x += 16) {
        __m256i v0, v1;
        vertical16_any(p, y, slots, &r, np, x, &v0, &v1);
        __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(v0), scale);
        __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(v1), scale);
        if (normalize) {
            f0 = _mm256_div_ps(_mm256_sub_ps(f0, mean), std);
            f1 = _mm256_div_ps(_mm256_sub_ps(f1, mean), std);
        }
        if (x + 16 <= width) {
            _mm256_storeu_ps(out + x, f0);
            _mm256_storeu_ps(out + x + 8, f1);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, f0);
            _mm256_storeu_ps(tmp + 8, f1);
            memcpy(out + x, tmp, sizeof *tmp * (size_t)(width - x));
        }
    }
}

const dl_resize_ops dl_resize_ops_avx2 = {
    "avx2", DL_RS_X_PAIRS, true, NULL, load_pair_avx2, vertical_u8_avx2, vertical_f32_avx2,
};
