/* A minimal deterministic PNG writer (8-bit RGB, filter Up, zlib level 1: fast, 10-20% larger than
 * level 6). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "synth/synth.h"

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len) {
    put32(p, len);
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    uLong crc = crc32(0L, p + 4, len + 4);
    put32(p + 8 + len, (uint32_t)crc);
    return p + 12 + len;
}

int dl_synth_png_encode(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *size) {
    *out = NULL;
    *size = 0;
    size_t stride = (size_t)width * 3, raw_len = (stride + 1) * (size_t)height;
    uint8_t *raw = malloc(raw_len);
    if (!raw) return -1;
    for (int y = 0; y < height; y++) {
        uint8_t *row = raw + (size_t)y * (stride + 1);
        const uint8_t *src = rgb + (size_t)y * stride;
        if (y == 0) {
            row[0] = 0;
            memcpy(row + 1, src, stride);
        } else {
            row[0] = 2; /* Up: mostly zeros on documents */
            for (size_t i = 0; i < stride; i++) row[1 + i] = (uint8_t)(src[i] - (src - stride)[i]);
        }
    }
    uLongf zlen = compressBound((uLong)raw_len);
    uint8_t *buf = malloc(8 + 25 + 12 + zlen + 12);
    if (!buf) {
        free(raw);
        return -1;
    }
    if (compress2(buf + 8 + 25 + 8, &zlen, raw, (uLong)raw_len, 1) != Z_OK) {
        free(raw);
        free(buf);
        return -1;
    }
    free(raw);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)width);
    put32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    uint8_t *p = chunk(buf + 8, "IHDR", ihdr, 13);
    /* IDAT: the compressed data is already in place after the 8-byte chunk head */
    put32(p, (uint32_t)zlen);
    memcpy(p + 4, "IDAT", 4);
    uLong crc = crc32(0L, p + 4, (uInt)zlen + 4);
    put32(p + 8 + zlen, (uint32_t)crc);
    p += 12 + zlen;
    p = chunk(p, "IEND", NULL, 0);
    *out = buf;
    *size = (size_t)(p - buf);
    return 0;
}
