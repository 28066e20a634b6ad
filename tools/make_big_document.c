/*
 * Big documents for the big-document test and bench, made from small ones (nothing big is
 * committed):
 *   make_big_document pdf SOURCE.pdf PAGES OUT.pdf
 *       OUT.pdf has PAGES pages: the source's pages over and over, grafted with MuPDF (one
 *       graft map, so fonts, images and content streams are stored once, not per page).
 *   make_big_document tiff SOURCE PAGES OUT.tif [DPI]
 *       OUT.tif has PAGES pages: the source's first page (a PDF rendered at DPI, default 150,
 *       or an image) as a 1-bit CCITT G4 scan, as office scanners write them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "document/document.h"

#ifdef DL_HAVE_PDF
#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

static int make_pdf(const char *source, int pages, const char *out) {
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) return 1;
    pdf_document *src = NULL, *dst = NULL;
    pdf_graft_map *map = NULL;
    int rc = 0;
    fz_try(ctx) {
        src = pdf_open_document(ctx, source);
        int n = pdf_count_pages(ctx, src);
        if (n < 1) fz_throw(ctx, FZ_ERROR_GENERIC, "%s has no pages", source);
        dst = pdf_create_document(ctx);
        map = pdf_new_graft_map(ctx, dst);
        for (int i = 0; i < pages; i++) pdf_graft_mapped_page(ctx, map, -1, src, i % n);
        pdf_write_options o = pdf_default_write_options;
        o.do_compress = 1;
        pdf_save_document(ctx, dst, out, &o);
    }
    fz_always(ctx) {
        pdf_drop_graft_map(ctx, map);
        pdf_drop_document(ctx, dst);
        pdf_drop_document(ctx, src);
    }
    fz_catch(ctx) {
        fprintf(stderr, "make_big_document: %s\n", fz_caught_message(ctx));
        rc = 1;
    }
    fz_drop_context(ctx);
    return rc;
}
#else
static int make_pdf(const char *source, int pages, const char *out) {
    fprintf(stderr, "make_big_document: this build has no PDF support (MuPDF)\n");
    return 1;
}
#endif

static int make_tiff(const char *source, int pages, const char *out, double dpi) {
    dl_doc *doc = NULL;
    dl_pdf_page page;
    dl_error err;
    if (dl_doc_open(source, NULL, &doc, &err) != DL_OK ||
        dl_doc_load_page(doc, 0, dpi, DL_CELLS_NONE, &page, &err) != DL_OK) {
        fprintf(stderr, "make_big_document: %s\n", err.message);
        dl_doc_close(doc);
        return 1;
    }
    dl_doc_close(doc);
    const dl_image *im = page.image;
    int w = im->width, h = im->height;
    size_t row = ((size_t)w + 7) / 8;
    unsigned char *bits = calloc((size_t)h, row); /* [h][row] 1 = black (MINISWHITE) */
    TIFF *t = bits ? TIFFOpen(out, "w") : NULL;
    if (!t) {
        fprintf(stderr, "make_big_document: cannot write %s\n", out);
        free(bits);
        dl_pdf_page_clear(&page);
        return 1;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = im->rgb + (size_t)y * im->stride + 3 * (size_t)x;
            if (p[0] * 299 + p[1] * 587 + p[2] * 114 < 128000)
                bits[(size_t)y * row + x / 8] |= (unsigned char)(0x80 >> (x % 8));
        }
    int rc = 0;
    for (int i = 0; i < pages && rc == 0; i++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)h);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, (float)dpi);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, (float)dpi);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, (uint16_t)i, (uint16_t)pages);
        for (int y = 0; y < h && rc == 0; y++)
            if (TIFFWriteScanline(t, bits + (size_t)y * row, (uint32_t)y, 0) < 0) rc = 1;
        if (rc == 0 && !TIFFWriteDirectory(t)) rc = 1;
    }
    TIFFClose(t);
    free(bits);
    dl_pdf_page_clear(&page);
    if (rc) fprintf(stderr, "make_big_document: cannot write %s\n", out);
    return rc;
}

int main(int argc, char **argv) {
    int pages = argc >= 4 ? atoi(argv[3]) : 0;
    if (argc < 5 || pages < 1 || (strcmp(argv[1], "pdf") && strcmp(argv[1], "tiff"))) {
        fprintf(stderr, "usage: make_big_document pdf SOURCE.pdf PAGES OUT.pdf\n"
                        "       make_big_document tiff SOURCE PAGES OUT.tif [DPI]\n");
        return 2;
    }
    if (strcmp(argv[1], "pdf") == 0) return make_pdf(argv[2], pages, argv[4]);
    return make_tiff(argv[2], pages, argv[4], argc > 5 ? atof(argv[5]) : 150);
}
