/* Scan degradation: slight rotation (boxes transformed), uneven lighting, blur, noise,
 * JPEG-like 8x8 DCT quantisation, binarisation. Each effect is drawn with its own chance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "synth/synth_internal.h"

void dl_synth_degrade(rng *r, dl_synth_page *page, rgb paper);

#define SQRT1_2 0.70710678118654752440

static uint8_t clamp8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

static void rotate(rng *r, dl_synth_page *p, rgb paper) {
    double deg = dl_synth_rng_range(r, -1.5, 1.5), a = deg * 3.14159265358979323846 / 180.0;
    double ca = cos(a), sa = sin(a), cx = p->width / 2.0, cy = p->height / 2.0;
    int W = p->width, H = p->height;
    uint8_t *out = malloc((size_t)W * H * 3);
    if (!out) return;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* inverse map: source = R(-a) (dst - c) + c */
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double sx = ca * dx + sa * dy + cx - 0.5, sy = -sa * dx + ca * dy + cy - 0.5;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            uint8_t *o = out + ((size_t)y * W + x) * 3;
            for (int k = 0; k < 3; k++) {
                double v = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i, yy = y0 + j;
                        double s = (xx < 0 || yy < 0 || xx >= W || yy >= H)
                                       ? (k == 0   ? paper.r
                                          : k == 1 ? paper.g
                                                   : paper.b)
                                       : p->rgb[((size_t)yy * W + xx) * 3 + k];
                        v += s * (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
                    }
                o[k] = clamp8(v);
            }
        }
    free(p->rgb);
    p->rgb = out;
    /* boxes: the axis-aligned box of the rotated corners, clamped to the page */
    for (int b = 0; b < p->num_boxes; b++) {
        dl_synth_box *bx = &p->boxes[b];
        double xs[4] = {bx->x, bx->x + bx->w, bx->x, bx->x + bx->w};
        double ys[4] = {bx->y, bx->y, bx->y + bx->h, bx->y + bx->h};
        double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
        for (int i = 0; i < 4; i++) {
            double dx = xs[i] - cx, dy = ys[i] - cy;
            double nx = ca * dx - sa * dy + cx, ny = sa * dx + ca * dy + cy;
            x0 = fmin(x0, nx);
            y0 = fmin(y0, ny);
            x1 = fmax(x1, nx);
            y1 = fmax(y1, ny);
        }
        x0 = fmax(0, floor(x0));
        y0 = fmax(0, floor(y0));
        x1 = fmin(W, ceil(x1));
        y1 = fmin(H, ceil(y1));
        bx->x = x0;
        bx->y = y0;
        bx->w = x1 - x0;
        bx->h = y1 - y0;
    }
}

static void blur(dl_synth_page *p) {
    int W = p->width, H = p->height;
    uint8_t *tmp = malloc((size_t)W * H * 3);
    if (!tmp) return;
    /* [1 2 1] / 4 horizontally then vertically */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++) {
                int l = x > 0 ? x - 1 : x, rr = x < W - 1 ? x + 1 : x;
                const uint8_t *row = p->rgb + (size_t)y * W * 3;
                tmp[((size_t)y * W + x) * 3 + k] =
                    (uint8_t)((row[l * 3 + k] + 2 * row[x * 3 + k] + row[rr * 3 + k] + 2) / 4);
            }
    for (int y = 0; y < H; y++) {
        int u = y > 0 ? y - 1 : y, d = y < H - 1 ? y + 1 : y;
        for (int x = 0; x < W * 3; x++)
            p->rgb[(size_t)y * W * 3 + x] =
                (uint8_t)((tmp[(size_t)u * W * 3 + x] + 2 * tmp[(size_t)y * W * 3 + x] +
                           tmp[(size_t)d * W * 3 + x] + 2) /
                          4);
    }
    free(tmp);
}

static void lighting_and_noise(rng *r, dl_synth_page *p, int light, double sigma) {
    int W = p->width, H = p->height;
    double gx = dl_synth_rng_range(r, -0.15, 0.15), gy = dl_synth_rng_range(r, -0.15, 0.15);
    double vig = dl_synth_rng_range(r, 0, 0.2);
    uint64_t s = dl_synth_rng_next(r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double f = 1.0;
            if (light) {
                double u = (double)x / W - 0.5, v = (double)y / H - 0.5;
                f = 1.0 + gx * u + gy * v - vig * (u * u + v * v);
            }
            uint8_t *px = p->rgb + ((size_t)y * W + x) * 3;
            double n = 0;
            if (sigma > 0) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                n = ((double)(s >> 40) / 16777216.0 - 0.5) * sigma * 3.46;
            }
            for (int k = 0; k < 3; k++) px[k] = clamp8(px[k] * f + n);
        }
}

static void binarise(rng *r, dl_synth_page *p) {
    int thr = dl_synth_rng_int(r, 110, 170);
    size_t n = (size_t)p->width * p->height;
    for (size_t i = 0; i < n; i++) {
        int v = (p->rgb[i * 3] * 299 + p->rgb[i * 3 + 1] * 587 + p->rgb[i * 3 + 2] * 114) / 1000;
        uint8_t o = v < thr ? 0 : 255;
        p->rgb[i * 3] = p->rgb[i * 3 + 1] = p->rgb[i * 3 + 2] = o;
    }
}

/* JPEG-like artefacts: per channel 8x8 DCT, quantised with a scaled standard table. */
static void jpeg_like(rng *r, dl_synth_page *p) {
    static const int q[64] = {16,  11,  10,  16,  24, 40, 51,  61,  12,  12,  14,  19,  26,
                              58,  60,  55,  14,  13, 16, 24,  40,  57,  69,  56,  14,  17,
                              22,  29,  51,  87,  80, 62, 18,  22,  37,  56,  68,  109, 103,
                              77,  24,  35,  55,  64, 81, 104, 113, 92,  49,  64,  78,  87,
                              103, 121, 120, 101, 72, 92, 95,  98,  112, 100, 103, 99};
    double scale = dl_synth_rng_range(r, 0.5, 2.5), cosv[8][8];
    for (int i = 0; i < 8; i++)
        for (int u = 0; u < 8; u++) cosv[i][u] = cos((2 * i + 1) * u * 3.14159265358979323846 / 16);
    int W = p->width, H = p->height;
    for (int by = 0; by + 8 <= H; by += 8)
        for (int bx = 0; bx + 8 <= W; bx += 8)
            for (int k = 0; k < 3; k++) {
                double blk[8][8], co[8][8];
                int flat = 1;
                for (int y = 0; y < 8; y++)
                    for (int x = 0; x < 8; x++) {
                        blk[y][x] = p->rgb[((size_t)(by + y) * W + bx + x) * 3 + k] - 128.0;
                        if (blk[y][x] != blk[0][0]) flat = 0;
                    }
                if (flat) continue;
                /* separable: rows then columns */
                double tmp[8][8];
                for (int y = 0; y < 8; y++)
                    for (int u = 0; u < 8; u++) {
                        double s = 0;
                        for (int x = 0; x < 8; x++) s += blk[y][x] * cosv[x][u];
                        tmp[y][u] = s * (u ? 1 : SQRT1_2);
                    }
                for (int v = 0; v < 8; v++)
                    for (int u = 0; u < 8; u++) {
                        double s = 0;
                        for (int y = 0; y < 8; y++) s += tmp[y][u] * cosv[y][v];
                        double qq = q[v * 8 + u] * scale;
                        co[v][u] = round(0.25 * (v ? 1 : SQRT1_2) * s / qq) * qq *
                                   (u ? 1 : SQRT1_2) * (v ? 1 : SQRT1_2);
                    }
                for (int y = 0; y < 8; y++)
                    for (int u = 0; u < 8; u++) {
                        double s = 0;
                        for (int v = 0; v < 8; v++) s += co[v][u] * cosv[y][v];
                        tmp[y][u] = s;
                    }
                for (int y = 0; y < 8; y++)
                    for (int x = 0; x < 8; x++) {
                        double s = 0;
                        for (int u = 0; u < 8; u++) s += tmp[y][u] * cosv[x][u];
                        p->rgb[((size_t)(by + y) * W + bx + x) * 3 + k] = clamp8(0.25 * s + 128);
                    }
            }
}

void dl_synth_degrade(rng *r, dl_synth_page *page, rgb paper) {
    int do_rot = dl_synth_rng_chance(r, 0.6), do_light = dl_synth_rng_chance(r, 0.5),
        do_blur = dl_synth_rng_chance(r, 0.4);
    int do_noise = dl_synth_rng_chance(r, 0.6), do_bin = dl_synth_rng_chance(r, 0.12),
        do_jpeg = dl_synth_rng_chance(r, 0.3);
    if (do_rot) rotate(r, page, paper);
    if (do_blur) blur(page);
    if (do_light || do_noise)
        lighting_and_noise(r, page, do_light, do_noise ? dl_synth_rng_range(r, 3, 14) : 0);
    if (do_bin) binarise(r, page);
    else if (do_jpeg) jpeg_like(r, page);
}
