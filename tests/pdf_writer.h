/*
 * A tiny PDF writer for tests: pages of given sizes with Helvetica text at known positions
 * (PDF user space: origin bottom-left, y up), optionally filled rectangles. The output is a
 * minimal, valid PDF 1.4 with a correct cross-reference table.
 */
#ifndef DL_TEST_PDF_WRITER_H
#define DL_TEST_PDF_WRITER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tpdf_page {
    double width, height;
    char content[8192];
    size_t len;
} tpdf_page;

typedef struct tpdf {
    tpdf_page pages[16];
    int n;
    /* NULL, or the bfchar lines of a ToUnicode CMap for F1 ("<41> <D800>\n..."): to make fonts
     * whose maps say what real broken PDFs say */
    const char *tounicode;
} tpdf;

static inline tpdf_page *tpdf_add_page(tpdf *d, double w, double h) {
    tpdf_page *p = &d->pages[d->n++];
    p->width = w;
    p->height = h;
    p->len = 0;
    p->content[0] = '\0';
    return p;
}

/* Text with its baseline starting at (x, y) in PDF user space. */
static inline void tpdf_text(tpdf_page *p, double x, double y, double size, const char *text) {
    p->len += (size_t)snprintf(p->content + p->len, sizeof p->content - p->len,
                               "BT /F1 %g Tf %g %g Td (%s) Tj ET\n", size, x, y, text);
}

static inline void tpdf_rect(tpdf_page *p, double x, double y, double w, double h, double grey) {
    p->len += (size_t)snprintf(p->content + p->len, sizeof p->content - p->len,
                               "%g g %g %g %g %g re f 0 g\n", grey, x, y, w, h);
}

/* Helvetica advance widths (1/1000 em) for the characters the tests use. */
static inline double tpdf_helvetica_width(const char *s, double size) {
    double w = 0;
    for (; *s; s++) {
        int c = (unsigned char)*s, a;
        if (c == ' ') a = 278;
        else if (c >= 'a' && c <= 'z') {
            static const int lw[26] = {556, 556, 500, 556, 556, 278, 556, 556, 222,
                                       222, 500, 222, 833, 556, 556, 556, 556, 333,
                                       500, 278, 556, 500, 722, 500, 500, 500};
            a = lw[c - 'a'];
        } else if (c >= 'A' && c <= 'Z') {
            static const int uw[26] = {667, 667, 722, 722, 667, 611, 778, 722, 278,
                                       500, 667, 556, 833, 722, 778, 667, 778, 722,
                                       667, 611, 722, 667, 944, 667, 667, 611};
            a = uw[c - 'A'];
        } else if (c >= '0' && c <= '9') a = 556;
        else a = 278;
        w += a;
    }
    return w * size / 1000.0;
}

/* Write the PDF; returns 0 on success. */
static inline int tpdf_write(const tpdf *d, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    long off[64];
    int obj = 0;
    fprintf(f, "%%PDF-1.4\n%%\xE2\xE3\xCF\xD3\n");
    /* 1 catalog, 2 pages, 3 font, then page i: 4+2i (page), 5+2i (content) */
    off[++obj] = ftell(f);
    fprintf(f, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[++obj] = ftell(f);
    fprintf(f, "2 0 obj\n<< /Type /Pages /Count %d /Kids [", d->n);
    for (int i = 0; i < d->n; i++) fprintf(f, " %d 0 R", 4 + 2 * i);
    fprintf(f, " ] >>\nendobj\n");
    off[++obj] = ftell(f);
    int cmap_obj = 4 + 2 * d->n; /* after the pages */
    fprintf(f, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               "/Encoding /WinAnsiEncoding");
    if (d->tounicode) fprintf(f, " /ToUnicode %d 0 R", cmap_obj);
    fprintf(f, " >>\nendobj\n");
    for (int i = 0; i < d->n; i++) {
        const tpdf_page *p = &d->pages[i];
        off[++obj] = ftell(f);
        fprintf(f,
                "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] "
                "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n",
                obj, p->width, p->height, obj + 1);
        off[++obj] = ftell(f);
        fprintf(f, "%d 0 obj\n<< /Length %zu >>\nstream\n%sendstream\nendobj\n", obj, p->len,
                p->content);
    }
    if (d->tounicode) {
        char cmap[8192];
        int n = 0;
        for (const char *l = d->tounicode; *l; l++) n += *l == '\n';
        int len = snprintf(cmap, sizeof cmap,
                           "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
                           "/CMapName /Test def /CMapType 2 def\n"
                           "1 begincodespacerange <00> <FF> endcodespacerange\n"
                           "%d beginbfchar\n%sendbfchar\n"
                           "endcmap CMapName currentdict /CMap defineresource pop end end\n",
                           n, d->tounicode);
        off[++obj] = ftell(f);
        fprintf(f, "%d 0 obj\n<< /Length %d >>\nstream\n%sendstream\nendobj\n", obj, len, cmap);
    }
    long xref = ftell(f);
    fprintf(f, "xref\n0 %d\n0000000000 65535 f \n", obj + 1);
    for (int i = 1; i <= obj; i++) fprintf(f, "%010ld 00000 n \n", off[i]);
    fprintf(f, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", obj + 1, xref);
    return fclose(f);
}

#ifdef DL_HAVE_PDF
#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

/* Encrypt `in` into `out` (AES-128, user password "secret") with MuPDF itself. */
static inline int tpdf_encrypt(const char *in, const char *out) {
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    int ok = 1;
    pdf_document *doc = NULL;
    fz_try(ctx) {
        doc = pdf_open_document(ctx, in);
        pdf_write_options o = pdf_default_write_options;
        o.do_encrypt = PDF_ENCRYPT_AES_128;
        o.permissions = -1;
        strcpy(o.upwd_utf8, "secret");
        strcpy(o.opwd_utf8, "owner");
        pdf_save_document(ctx, doc, out, &o);
    }
    fz_always(ctx) { pdf_drop_document(ctx, doc); }
    fz_catch(ctx) { ok = 0; }
    fz_drop_context(ctx);
    return ok;
}
#endif

#endif
