#include "document/document.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"
#include "io/file.h"

struct dl_doc {
    dl_doc_kind kind;
    const char *mime;
    char *name;
    unsigned char *data;
    size_t size;
    dl_pdf *pdf;
    dl_tiff *tiff; /* reads d->data */
    int pages;
    unsigned long long hash;
};

static int is_pdf(const unsigned char *d, size_t n) {
    /* the header may follow some junk within the first 1024 bytes */
    size_t lim = n < 1024 ? n : 1024;
    for (size_t i = 0; i + 5 <= lim; i++)
        if (memcmp(d + i, "%PDF-", 5) == 0) return 1;
    return 0;
}
static int is_tiff(const unsigned char *d, size_t n) {
    return n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0 ||
                      memcmp(d, "II+\0", 4) == 0 || memcmp(d, "MM\0+", 4) == 0);
}
int dl_doc_sniff(const unsigned char *d, size_t n) {
    return is_pdf(d, n) || is_tiff(d, n) || (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) ||
           (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0);
}

dl_status dl_doc_read_stdin(unsigned char **data, size_t *size, dl_error *err) {
    *data = NULL;
    *size = 0;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    for (;;) {
        if (n == cap) {
            if (cap >= DL_IMAGE_MAX_FILE_BYTES) {
                free(buf);
                return dl_fail(err, DL_ERR_LIMIT, "stdin: more than %zu bytes",
                               (size_t)DL_IMAGE_MAX_FILE_BYTES);
            }
            unsigned char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
            }
            buf = p;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return dl_fail(err, DL_ERR_IO, "stdin: read error");
    }
    *data = buf;
    *size = n;
    return DL_OK;
}

void dl_doc_close(dl_doc *d) {
    if (!d) return;
    dl_pdf_close(d->pdf);
    dl_tiff_close(d->tiff);
    free(d->data);
    free(d->name);
    free(d);
}

/* Take the bytes in d->data (owned), sniff the kind and open it. Closes d on failure. */
static dl_status open_data(dl_doc *d, const char *password, dl_doc **out, dl_error *err) {
    dl_status s = DL_OK;
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < d->size; i++) h = (h ^ d->data[i]) * 1099511628211ull;
    d->hash = h;
    if (d->size == 0) s = dl_fail(err, DL_ERR_FORMAT, "%s: empty file", d->name);
    if (s == DL_OK && is_pdf(d->data, d->size)) {
        d->kind = DL_DOC_PDF;
        d->mime = "application/pdf";
        s = dl_pdf_open(d->name, d->data, d->size, password, &d->pdf, err);
        if (s == DL_OK) {
            d->pages = dl_pdf_page_count(d->pdf);
            free(d->data); /* MuPDF holds its own copy */
            d->data = NULL;
        }
    } else if (s == DL_OK && is_tiff(d->data, d->size)) {
        d->kind = DL_DOC_TIFF;
        d->mime = "image/tiff";
        s = dl_tiff_open(d->data, d->size, d->name, &d->tiff, err);
        if (s == DL_OK) d->pages = dl_tiff_pages(d->tiff);
    } else if (s == DL_OK) {
        d->kind = DL_DOC_IMAGE;
        d->mime = d->size >= 2 && d->data[0] == 0xff ? "image/jpeg" : "image/png";
        d->pages = 1;
        if (!dl_doc_sniff(d->data, d->size))
            s = dl_fail(err, DL_ERR_FORMAT,
                        "%s: not a PDF, PNG, JPEG or TIFF file (unknown signature)", d->name);
    }
    if (s != DL_OK) {
        dl_doc_close(d);
        return s;
    }
    *out = d;
    return DL_OK;
}

static dl_doc *new_doc(const char *name, dl_error *err) {
    dl_doc *d = calloc(1, sizeof *d);
    if (!d || !(d->name = strdup(name))) {
        free(d);
        dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    return d;
}

dl_status dl_doc_open(const char *path, const char *password, dl_doc **out, dl_error *err) {
    if (!out || !path) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_doc_open: NULL");
    *out = NULL;
    int is_stdin = strcmp(path, "-") == 0;
    dl_doc *d = new_doc(is_stdin ? "stdin" : path, err);
    if (!d) return DL_ERR_OUT_OF_MEMORY;
    void *data = NULL;
    dl_status s = is_stdin ? dl_doc_read_stdin((unsigned char **)&data, &d->size, err)
                           : dl_read_file(path, DL_IMAGE_MAX_FILE_BYTES, &data, &d->size, err);
    d->data = data;
    if (s != DL_OK) {
        dl_doc_close(d);
        return s;
    }
    return open_data(d, password, out, err);
}

dl_status dl_doc_open_memory(const char *name, const void *data, size_t size, const char *password,
                             dl_doc **out, dl_error *err) {
    if (!out || !name || (!data && size))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_doc_open_memory: NULL");
    *out = NULL;
    dl_doc *d = new_doc(name, err);
    if (!d) return DL_ERR_OUT_OF_MEMORY;
    d->data = malloc(size ? size : 1);
    if (!d->data) {
        dl_doc_close(d);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (size) memcpy(d->data, data, size);
    d->size = size;
    return open_data(d, password, out, err);
}

dl_doc_kind dl_doc_get_kind(const dl_doc *d) { return d->kind; }
int dl_doc_page_count(const dl_doc *d) { return d ? d->pages : 0; }
const char *dl_doc_mimetype(const dl_doc *d) { return d->mime; }
unsigned long long dl_doc_hash(const dl_doc *d) { return d->hash; }

dl_status dl_doc_load_page(dl_doc *d, int index, double dpi, dl_cell_mode mode, dl_pdf_page *page,
                           dl_error *err) {
    memset(page, 0, sizeof *page);
    if (d->kind == DL_DOC_PDF) return dl_pdf_load_page(d->pdf, index, dpi, 1, mode, page, err);
    if (index < 0 || index >= d->pages)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: no page %d", d->name, index + 1);
    char name[600];
    if (d->pages > 1) snprintf(name, sizeof name, "%s (page %d)", d->name, index + 1);
    else snprintf(name, sizeof name, "%s", d->name);
    dl_status s = d->kind == DL_DOC_TIFF
                      ? dl_tiff_decode_page(d->tiff, index, name, &page->image, err)
                      : dl_image_load_memory(d->data, d->size, &page->image, err);
    /* photos and scans from cameras: stored sideways with an EXIF orientation tag */
    if (s == DL_OK && d->kind == DL_DOC_IMAGE && d->size >= 2 && d->data[0] == 0xff &&
        d->data[1] == 0xd8)
        s = dl_image_orient(&page->image, dl_jpeg_exif_orientation(d->data, d->size), err);
    if (s != DL_OK) {
        if (d->kind == DL_DOC_IMAGE) dl_fail_prefix(err, "%s: ", d->name);
        return s;
    }
    page->width_pt = page->image->width;
    page->height_pt = page->image->height;
    page->scale = 1.0;
    return DL_OK;
}
