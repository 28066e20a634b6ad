/* JPEG EXIF orientation: read the tag, and turn the decoded pixels upright (as Pillow's
 * ImageOps.exif_transpose does). Every offset read from the file is bounds-checked. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"

static unsigned rd16(const uint8_t *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int dl_jpeg_exif_orientation(const uint8_t *data, size_t size) {
    if (size < 4 || data[0] != 0xff || data[1] != 0xd8) return 1;
    size_t pos = 2;
    while (pos + 4 <= size && data[pos] == 0xff) {
        unsigned marker = data[pos + 1];
        size_t len = (size_t)data[pos + 2] << 8 | data[pos + 3];
        if (marker == 0xda || marker == 0xd9 || len < 2 || pos + 2 + len > size) break;
        const uint8_t *seg = data + pos + 4;
        size_t n = len - 2;
        if (marker == 0xe1 && n >= 14 && memcmp(seg, "Exif\0\0", 6) == 0) {
            const uint8_t *t = seg + 6; /* TIFF header */
            size_t tn = n - 6;
            int le = t[0] == 'I' && t[1] == 'I';
            if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
            if (rd16(t + 2, le) != 42) return 1;
            uint32_t ifd = rd32(t + 4, le);
            if (ifd > tn - 2) return 1;
            unsigned count = rd16(t + ifd, le);
            for (unsigned i = 0; i < count; i++) {
                size_t e = (size_t)ifd + 2 + (size_t)i * 12;
                if (e + 12 > tn) return 1;
                if (rd16(t + e, le) == 0x0112 && rd16(t + e + 2, le) == 3) {
                    unsigned v = rd16(t + e + 8, le);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        pos += 2 + len;
    }
    return 1;
}

dl_status dl_image_orient(dl_image **img, int orientation, dl_error *err) {
    if (orientation <= 1 || orientation > 8) return DL_OK;
    const dl_image *s = *img;
    int w = s->width, h = s->height;
    int swap = orientation >= 5; /* 5..8 transpose the axes */
    dl_image *d = NULL;
    dl_status st = dl_image_alloc("exif", swap ? h : w, swap ? w : h, &d, err);
    if (st != DL_OK) return st;
    for (int y = 0; y < d->height; y++) {
        for (int x = 0; x < d->width; x++) {
            int sx, sy; /* the source pixel shown at (x, y) after the EXIF transform */
            switch (orientation) {
            case 2: sx = w - 1 - x, sy = y; break;         /* mirror horizontal */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break; /* rotate 180 */
            case 4: sx = x, sy = h - 1 - y; break;         /* mirror vertical */
            case 5: sx = y, sy = x; break;                 /* transpose */
            case 6: sx = y, sy = h - 1 - x; break;         /* rotate 90 clockwise */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break; /* transverse */
            default: sx = w - 1 - y, sy = x; break;        /* 8: rotate 90 counter-cw */
            }
            memcpy(d->rgb + (size_t)y * d->stride + (size_t)x * 3,
                   s->rgb + (size_t)sy * s->stride + (size_t)sx * 3, 3);
        }
    }
    dl_image_free(*img);
    *img = d;
    return DL_OK;
}
