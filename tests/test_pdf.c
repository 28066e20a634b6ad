/*
 * PDF input: pages rendered at a dpi, text cells read at their known positions (a PDF made by
 * the test itself), page selection sizes, the memory cap for huge pages, and bad input
 * (truncated, garbage, zero pages, encrypted without or with a wrong password).
 */
#include "document/pdf.h"

#include <unistd.h>

#include "pdf_writer.h"
#include "test_util.h"

static char tmp[256];

static const char *path(const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 512, "%s/%s", tmp, name);
    return b;
}

int main(void) {
    if (!dl_pdf_available()) {
        dl_pdf *p = NULL;
        dl_error err;
        CHECK(dl_pdf_open("x.pdf", NULL, 0, NULL, &p, &err) == DL_ERR_UNSUPPORTED && !p);
        dl_test_finish("test_pdf");
        return dl_test_skip("test_pdf", "built without MuPDF");
    }
    snprintf(tmp, sizeof tmp, "/tmp/doclayout_pdf_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp, tmp);
    CHECK(system(cmd) == 0);

    tpdf doc = {0};
    tpdf_page *p1 = tpdf_add_page(&doc, 612, 792);
    tpdf_text(p1, 72, 700, 12, "Hello world");
    tpdf_text(p1, 72, 650, 10, "Second line");
    tpdf_page *p2 = tpdf_add_page(&doc, 200, 100);
    tpdf_text(p2, 20, 50, 20, "Two");
    tpdf_page *p3 = tpdf_add_page(&doc, 20000, 20000);
    tpdf_text(p3, 100, 19000, 400, "Big");
    CHECK(tpdf_write(&doc, path("doc.pdf")) == 0);

    dl_error err;
    dl_pdf *pdf = NULL;
    CHECK_OK(dl_pdf_open(path("doc.pdf"), NULL, 0, NULL, &pdf, &err), &err);
    CHECK(dl_pdf_page_count(pdf) == 3);

    /* page 1 at 72 dpi: 1 px = 1 pt, two line cells at their known positions */
    dl_pdf_page pg;
    CHECK_OK(dl_pdf_load_page(pdf, 0, 72, 1, DL_CELLS_LINES, &pg, &err), &err);
    CHECK(pg.width_pt == 612 && pg.height_pt == 792 && pg.scale == 1.0);
    CHECK(pg.image && pg.image->width == 612 && pg.image->height == 792);
    CHECK_MSG(pg.cells.n == 2, "%zu cells", pg.cells.n);
    if (pg.cells.n == 2) {
        const dl_cell *c = &pg.cells.items[0];
        double w = tpdf_helvetica_width("Hello world", 12);
        CHECK_MSG(strcmp(c->text, "Hello world") == 0, "'%s'", c->text);
        CHECK_MSG(fabs(c->box.l - 72) < 0.5 && fabs(c->box.r - (72 + w)) < 0.5,
                  "l %g r %g (want %g)", c->box.l, c->box.r, 72 + w);
        /* the baseline (792 - 700 = 92 from the top) lies in the cell; the cell is a line high */
        CHECK_MSG(c->box.t < 92 && c->box.b > 92 && c->box.t > 92 - 13 && c->box.b < 92 + 5,
                  "t %g b %g", c->box.t, c->box.b);
        CHECK(c->index == 0 && c->confidence == 1.0f && !c->from_ocr);
        c = &pg.cells.items[1];
        CHECK_MSG(strcmp(c->text, "Second line") == 0, "'%s'", c->text);
        CHECK(c->index == 1 && fabs(c->box.l - 72) < 0.5 && c->box.t < 142 && c->box.b > 142);
        /* the text is drawn: dark pixels inside the first cell, white paper elsewhere */
        int dark = 0;
        const dl_cell *c0 = &pg.cells.items[0];
        for (int y = (int)c0->box.t; y < (int)c0->box.b; y++)
            for (int x = (int)c0->box.l; x < (int)c0->box.r; x++)
                dark += pg.image->rgb[(size_t)y * pg.image->stride + 3 * x] < 100;
        CHECK_MSG(dark > 20, "%d dark pixels", dark);
        CHECK(pg.image->rgb[(size_t)400 * pg.image->stride + 3 * 300] == 255);
    }
    dl_pdf_page_clear(&pg);

    /* words, at 144 dpi: the image doubles, the cells stay in points */
    CHECK_OK(dl_pdf_load_page(pdf, 0, 144, 1, DL_CELLS_WORDS, &pg, &err), &err);
    CHECK(pg.image && pg.image->width == 1224 && pg.image->height == 1584 && pg.scale == 2.0);
    CHECK_MSG(pg.cells.n == 4, "%zu cells", pg.cells.n);
    if (pg.cells.n == 4) {
        CHECK(strcmp(pg.cells.items[0].text, "Hello") == 0);
        CHECK(strcmp(pg.cells.items[1].text, "world") == 0);
        double hello = tpdf_helvetica_width("Hello ", 12);
        CHECK_MSG(fabs(pg.cells.items[1].box.l - (72 + hello)) < 0.5, "%g",
                  pg.cells.items[1].box.l);
        CHECK(pg.cells.items[3].index == 3);
    }
    dl_pdf_page_clear(&pg);

    /* page 2 without rendering */
    CHECK_OK(dl_pdf_load_page(pdf, 1, 72, 0, DL_CELLS_LINES, &pg, &err), &err);
    CHECK(!pg.image && pg.width_pt == 200 && pg.height_pt == 100 && pg.cells.n == 1);
    dl_pdf_page_clear(&pg);

    /* a 20000 x 20000 pt page renders within the pixel cap; boxes stay in points */
    CHECK_OK(dl_pdf_load_page(pdf, 2, 72, 1, DL_CELLS_LINES, &pg, &err), &err);
    CHECK(pg.width_pt == 20000 && pg.height_pt == 20000 && pg.scale < 1);
    CHECK(pg.image && (double)pg.image->width * pg.image->height <= DL_PDF_MAX_PIXELS);
    CHECK(pg.cells.n == 1 && fabs(pg.cells.items[0].box.l - 100) < 1);
    dl_pdf_page_clear(&pg);
    CHECK(dl_pdf_load_page(pdf, 3, 72, 1, DL_CELLS_LINES, &pg, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "no page 4") != NULL);
    dl_pdf_close(pdf);

    /* the same from memory */
    void *bytes;
    FILE *f = fopen(path("doc.pdf"), "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    CHECK_OK(dl_pdf_open("stdin", bytes, (size_t)size, NULL, &pdf, &err), &err);
    CHECK(dl_pdf_page_count(pdf) == 3);
    dl_pdf_close(pdf);

    /* bad input: truncated in the header, garbage, zero pages */
    pdf = NULL;
    CHECK(dl_pdf_open("cut", bytes, 40, NULL, &pdf, &err) != DL_OK && !pdf);
    CHECK_MSG(strstr(err.message, "cut:") != NULL, "%s", err.message);
    CHECK(dl_pdf_open("junk", "%PDF-1.4\n\x01\x02garbage", 19, NULL, &pdf, &err) != DL_OK);
    CHECK(dl_pdf_open("rnd", "not a pdf at all", 16, NULL, &pdf, &err) != DL_OK);
    CHECK(dl_pdf_open(path("missing.pdf"), NULL, 0, NULL, &pdf, &err) != DL_OK);
    free(bytes);
    tpdf empty = {0};
    CHECK(tpdf_write(&empty, path("empty.pdf")) == 0);
    CHECK(dl_pdf_open(path("empty.pdf"), NULL, 0, NULL, &pdf, &err) == DL_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "no pages") != NULL, "%s", err.message);

#ifdef DL_HAVE_PDF
    /* encrypted: no password, a wrong one, the right one */
    CHECK(tpdf_encrypt(path("doc.pdf"), path("enc.pdf")));
    CHECK(dl_pdf_open(path("enc.pdf"), NULL, 0, NULL, &pdf, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(err.message, "encrypted") && strstr(err.message, "--password"), "%s",
              err.message);
    CHECK(dl_pdf_open(path("enc.pdf"), NULL, 0, "nope", &pdf, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "wrong password") != NULL);
    CHECK_OK(dl_pdf_open(path("enc.pdf"), NULL, 0, "secret", &pdf, &err), &err);
    if (pdf) {
        CHECK_OK(dl_pdf_load_page(pdf, 0, 72, 1, DL_CELLS_LINES, &pg, &err), &err);
        CHECK(pg.cells.n == 2 && strcmp(pg.cells.items[0].text, "Hello world") == 0);
        dl_pdf_page_clear(&pg);
        dl_pdf_close(pdf);
    }
    /* the same through the CLI: --password opens it, its text reaches the JSON */
    char run[4096], out[1 << 16];
    snprintf(run, sizeof run,
             "%s detect --quiet --model %s/tests/fixtures/golden/rtdetrv2-tiny "
             "--threshold 0 --password secret %s",
             DL_CLI_PATH, DL_SOURCE_DIR, path("enc.pdf"));
    int rc = dl_test_run(run, out, sizeof out);
    CHECK_MSG(rc == 0 && strstr(out, "\"page\":\t1") && strstr(out, "\"detections\""), "%s", out);
    snprintf(run, sizeof run, "%s detect --quiet --model %s/tests/fixtures/golden/rtdetrv2-tiny %s",
             DL_CLI_PATH, DL_SOURCE_DIR, path("enc.pdf"));
    rc = dl_test_run(run, out, sizeof out);
    CHECK_MSG(rc != 0 && strstr(out, "--password"), "%s", out);
#endif
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return dl_test_finish("test_pdf");
}
