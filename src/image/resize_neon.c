/* Resize kernels for aarch64 (NEON is always there). Exact integer arithmetic as the generic
 * kernels: LD3 splits RGB into planes, the horizontal pass gathers one tap's bytes for 4
 * outputs with one TBL of a 16-byte window and multiply-accumulates in 32 bits (fast on Arm),
 * and the vertical pass is the generic plain C, which the compiler vectorises for NEON. */
#include <arm_neon.h>

#include "image/resize_kernels.h"

static void deinterleave_neon(const uint8_t *rgb, int n, uint8_t *r, uint8_t *g, uint8_t *b) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16x3_t v = vld3q_u8(rgb + 3 * (size_t)i);
        vst1q_u8(r + i, v.val[0]);
        vst1q_u8(g + i, v.val[1]);
        vst1q_u8(b + i, v.val[2]);
    }
    if (i < n) dl_resize_deinterleave_generic(rgb + 3 * (size_t)i, n - i, r + i, g + i, b + i);
}

/* One channel, 8 outputs (two blocks of 4) per step. */
static void horizontal_plane(const dl_resize_plan *p, const uint8_t *in, uint8_t *out) {
    int taps = p->xtaps, pad = p->out_w_pad;
    for (int x = 0; x < pad; x += 8) {
        const uint8_t *s0 = in + p->xbase[x / 4], *s1 = in + p->xbase[x / 4 + 1];
        uint8x16_t m0 = vld1q_u8(p->xmask + (size_t)x * 4);
        uint8x16_t m1 = vld1q_u8(p->xmask + (size_t)x * 4 + 16);
        const int32_t *w = p->xweights + x;
        int32x4_t a0 = vdupq_n_s32(DL_RS_HALF), a1 = a0;
        for (int t = 0; t < taps; t++, w += pad) {
            /* 4 zero-extended bytes per vector (mask bytes 0x80 gather zero) */
            int32x4_t p0 = vreinterpretq_s32_u8(vqtbl1q_u8(vld1q_u8(s0 + t), m0));
            int32x4_t p1 = vreinterpretq_s32_u8(vqtbl1q_u8(vld1q_u8(s1 + t), m1));
            a0 = vmlaq_s32(a0, p0, vld1q_s32(w));
            a1 = vmlaq_s32(a1, p1, vld1q_s32(w + 4));
        }
        /* clip8: >> 22, then saturate to 0..255 */
        int16x8_t v16 = vcombine_s16(vqmovn_s32(vshrq_n_s32(a0, DL_RS_PRECISION)),
                                     vqmovn_s32(vshrq_n_s32(a1, DL_RS_PRECISION)));
        vst1_u8(out + x, vqmovun_s16(v16));
    }
}

static void load_row_neon(const dl_resize_plan *p, const uint8_t *rgb, uint8_t *const *tmp,
                          uint8_t *const *out) {
    if (!p->horizontal) {
        deinterleave_neon(rgb, p->in_w, out[0], out[1], out[2]);
    } else if (p->xlayout == DL_RS_X_TAPS) {
        deinterleave_neon(rgb, p->in_w, tmp[0], tmp[1], tmp[2]);
        for (int c = 0; c < 3; c++) horizontal_plane(p, tmp[c], out[c]);
    } else { /* strong downscale: the blocks do not fit 16 bytes */
        dl_resize_horizontal_generic(p, rgb, out);
    }
}

const dl_resize_ops dl_resize_ops_neon = {
    "neon",
    DL_RS_X_TAPS,
    false,
    load_row_neon,
    NULL,
    dl_resize_vertical_u8_generic,
    dl_resize_vertical_f32_generic,
};
