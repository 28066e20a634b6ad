/* TIFF decoding with libtiff, from memory, through libtiff's RGBA reader (which handles every
 * photometric and compression libtiff knows, 1-bit CCITT fax pages included). Errors and
 * warnings go to per-handle handlers (libtiff >= 4.5), so nothing global is touched. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "core/error.h"
#include "image/image.h"

typedef struct tiff_stream {
    const uint8_t *data; /* [size] the whole file */
    size_t size;
    size_t pos;
    char message[256]; /* libtiff's first error */
} tiff_stream;

static tmsize_t tiff_read(thandle_t h, void *buf, tmsize_t n) {
    tiff_stream *s = h;
    if (n < 0) return -1;
    size_t left = s->size - s->pos;
    size_t take = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, s->data + s->pos, take);
    s->pos += take;
    return (tmsize_t)take;
}

static tmsize_t tiff_write(thandle_t h, void *buf, tmsize_t n) {
    (void)h;
    (void)buf;
    (void)n;
    return -1; /* read-only */
}

static toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
    tiff_stream *s = h;
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->size : 0;
    uint64_t target = base + off; /* SEEK_CUR/END with a "negative" off wraps as libtiff expects */
    if (target > s->size) return (toff_t)-1;
    s->pos = (size_t)target;
    return target;
}

static int tiff_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t tiff_size(thandle_t h) { return ((tiff_stream *)h)->size; }

static int tiff_map(thandle_t h, void **base, toff_t *size) {
    tiff_stream *s = h;
    *base = (void *)s->data;
    *size = s->size;
    return 1;
}

static void tiff_unmap(thandle_t h, void *base, toff_t size) {
    (void)h;
    (void)base;
    (void)size;
}

static int tiff_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)module;
    tiff_stream *s = user;
    if (!s->message[0]) vsnprintf(s->message, sizeof s->message, fmt, ap);
    return 1; /* handled: libtiff prints nothing */
}

static int tiff_on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1; /* unknown tags and the like are not failures; stay silent */
}

static TIFF *tiff_open(tiff_stream *s, const char *name, dl_error *err) {
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create TIFF reader", name);
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, s);
    TIFF *tif = TIFFClientOpenExt(name, "rm", s, tiff_read, tiff_write, tiff_seek, tiff_close,
                                  tiff_size, tiff_map, tiff_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif)
        dl_fail(err, DL_ERR_FORMAT, "%s: corrupt TIFF: %s", name,
                s->message[0] ? s->message : "cannot read the header");
    return tif;
}

dl_status dl_tiff_count_pages(const uint8_t *data, size_t size, const char *name, int *count,
                              dl_error *err) {
    *count = 0;
    tiff_stream s = {.data = data, .size = size};
    TIFF *tif = tiff_open(&s, name, err);
    if (!tif) return err ? err->code : DL_ERR_FORMAT;
    tdir_t n = TIFFNumberOfDirectories(tif);
    TIFFClose(tif);
    if (n == 0 || s.message[0])
        return dl_fail(err, DL_ERR_FORMAT, "%s: corrupt TIFF directory chain: %s", name,
                       s.message[0] ? s.message : "no pages");
    *count = (int)n;
    return DL_OK;
}

/* Decode the current directory of `tif` (page `page_index`, for messages) to RGB. */
static dl_status decode_current(TIFF *tif, tiff_stream *s, const char *name, int page_index,
                                dl_image **out, dl_error *err) {
    dl_status status;
    uint32_t *raster = NULL; /* [height][width] packed ABGR from TIFFRGBAImageGet */
    TIFFRGBAImage reader;
    int reader_open = 0;
    uint32_t width = 0, height = 0;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
    status = dl_image_check_size(name, width, height, err);
    if (status != DL_OK) goto done;

    char why[1024] = "";
    if (!TIFFRGBAImageOK(tif, why) || !TIFFRGBAImageBegin(&reader, tif, 0, why)) {
        status = dl_fail(err, DL_ERR_UNSUPPORTED, "%s: unsupported TIFF page %d: %s", name,
                         page_index, why[0] ? why : s->message);
        goto done;
    }
    reader_open = 1;
    reader.req_orientation = ORIENTATION_TOPLEFT;
    raster = malloc((size_t)width * height * sizeof *raster); /* <= 800 MB by the limits */
    if (!raster) {
        status = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory for %ux%u TIFF", name, width,
                         height);
        goto done;
    }
    if (!TIFFRGBAImageGet(&reader, raster, width, height)) {
        status = dl_fail(err, DL_ERR_FORMAT, "%s: corrupt TIFF page %d: %s", name, page_index,
                         s->message[0] ? s->message : "cannot decode the image data");
        goto done;
    }
    dl_image *img;
    status = dl_image_alloc(name, (int)width, (int)height, &img, err);
    if (status != DL_OK) goto done;
    /* Alpha is dropped. Caveat: libtiff's RGBA reader premultiplies unassociated alpha, so
     * RGBA TIFFs with partial transparency differ from PIL's convert("RGB"); scans have none. */
    for (uint32_t y = 0; y < height; y++) {
        const uint32_t *src = raster + (size_t)y * width;
        uint8_t *dst = img->rgb + (size_t)y * img->stride;
        for (uint32_t x = 0; x < width; x++) {
            dst[3 * x] = (uint8_t)TIFFGetR(src[x]);
            dst[3 * x + 1] = (uint8_t)TIFFGetG(src[x]);
            dst[3 * x + 2] = (uint8_t)TIFFGetB(src[x]);
        }
    }
    *out = img;
done:
    if (reader_open) TIFFRGBAImageEnd(&reader);
    free(raster);
    return status;
}

dl_status dl_tiff_decode(const uint8_t *data, size_t size, const char *name, int page_index,
                         dl_image **out, dl_error *err) {
    *out = NULL;
    tiff_stream s = {.data = data, .size = size};
    TIFF *tif = tiff_open(&s, name, err);
    if (!tif) return err ? err->code : DL_ERR_FORMAT;
    dl_status status;
    if (page_index > 0 && !TIFFSetDirectory(tif, (tdir_t)page_index))
        status = dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: TIFF has no page %d%s%s", name,
                         page_index, s.message[0] ? ": " : "", s.message);
    else status = decode_current(tif, &s, name, page_index, out, err);
    TIFFClose(tif);
    return status;
}

/* ---- an open multi-page TIFF --------------------------------------------------------------- */

struct dl_tiff {
    tiff_stream s; /* before tif: libtiff's handle points at it */
    TIFF *tif;
    uint64_t *offsets; /* [pages] each page's directory offset, read once */
    int pages;
};

static uint64_t read_uint(const uint8_t *p, size_t bytes, int le) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) v |= (uint64_t)p[le ? i : bytes - 1 - i] << (8 * i);
    return v;
}

/* Each directory's (page's) offset, following the chain in the file's bytes: 8-byte classic
 * or 16-byte BigTIFF header, then per IFD its entry count, the entries and the next IFD's
 * offset. Returns how many were found (at most max), 0 on anything unexpected. */
static size_t ifd_offsets(const uint8_t *d, size_t size, uint64_t *out, size_t max) {
    if (size < 8) return 0;
    int le = d[0] == 'I';
    int big = (le ? d[2] | d[3] << 8 : d[2] << 8 | d[3]) == 43;
#define RD(off, bytes) read_uint(d + (off), (bytes), le)
    uint64_t off = big ? (size >= 16 ? RD(8, 8) : 0) : RD(4, 4);
    size_t n = 0;
    while (off && n < max) {
        size_t count_bytes = big ? 8 : 2, entry = big ? 20 : 12, link = big ? 8 : 4;
        if (off > size || size - off < count_bytes) return 0;
        uint64_t entries = RD(off, count_bytes);
        if (entries > (size - off - count_bytes) / entry) return 0;
        uint64_t next_at = off + count_bytes + entries * entry;
        if (size - next_at < link) return 0;
        for (size_t k = 0; k < n; k++)
            if (out[k] == off) return 0; /* a loop */
        out[n++] = off;
        off = RD(next_at, link);
    }
#undef RD
    return n;
}

dl_status dl_tiff_open(const uint8_t *data, size_t size, const char *name, dl_tiff **out,
                       dl_error *err) {
    *out = NULL;
    dl_tiff *t = calloc(1, sizeof *t);
    if (!t) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    t->s.data = data;
    t->s.size = size;
    t->tif = tiff_open(&t->s, name, err);
    if (!t->tif) {
        free(t);
        return err ? err->code : DL_ERR_FORMAT;
    }
    /* libtiff counts the pages (its own checks of the chain); the offsets come from one walk
     * of the chain, and are used only when that walk finds the same pages */
    tdir_t n = TIFFNumberOfDirectories(t->tif);
    if (n == 0 || t->s.message[0]) {
        dl_status st = dl_fail(err, DL_ERR_FORMAT, "%s: corrupt TIFF directory chain: %s", name,
                               t->s.message[0] ? t->s.message : "no pages");
        dl_tiff_close(t);
        return st;
    }
    t->pages = (int)n;
    t->offsets = malloc((size_t)n * sizeof *t->offsets);
    if (t->offsets && ifd_offsets(data, size, t->offsets, n) != n) {
        free(t->offsets);
        t->offsets = NULL; /* pages are then reached by number, walking the chain */
    }
    *out = t;
    return DL_OK;
}

int dl_tiff_pages(const dl_tiff *t) { return t ? t->pages : 0; }

dl_status dl_tiff_decode_page(dl_tiff *t, int page_index, const char *name, dl_image **out,
                              dl_error *err) {
    *out = NULL;
    if (page_index < 0 || page_index >= t->pages)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: TIFF has no page %d", name, page_index);
    t->s.message[0] = '\0';
    int ok = t->offsets ? TIFFSetSubDirectory(t->tif, t->offsets[page_index])
                        : TIFFSetDirectory(t->tif, (tdir_t)page_index);
    if (!ok)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: TIFF has no page %d%s%s", name,
                       page_index, t->s.message[0] ? ": " : "", t->s.message);
    return decode_current(t->tif, &t->s, name, page_index, out, err);
}

void dl_tiff_close(dl_tiff *t) {
    if (!t) return;
    if (t->tif) TIFFClose(t->tif);
    free(t->offsets);
    free(t);
}
