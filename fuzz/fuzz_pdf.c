/* libFuzzer harness: the PDF path. Open from memory, then for the first pages render at a low
 * resolution and extract text cells as lines and as words (MuPDF's text, our UTF-8 and bidi
 * ordering). Every cell must hold valid UTF-8 inside the page; a failure must leave nothing
 * allocated (the sanitizers check). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "document/pdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cells(const dl_pdf_page *pg) {
    for (size_t i = 0; i < pg->cells.n; i++) {
        const dl_cell *c = &pg->cells.items[i];
        if (!dl_utf8_valid(c->text, strlen(c->text))) __builtin_trap();
        if (!(c->box.l <= c->box.r && c->box.t <= c->box.b)) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dl_pdf *pdf = NULL;
    dl_error err;
    if (dl_pdf_open("fuzz.pdf", data, size, NULL, &pdf, &err) != DL_OK) {
        if (pdf) __builtin_trap(); /* NULL on failure */
        return 0;
    }
    int pages = dl_pdf_page_count(pdf);
    for (int i = 0; i < pages && i < 2; i++) {
        dl_pdf_page pg;
        if (dl_pdf_load_page(pdf, i, 12, 1, DL_CELLS_LINES, &pg, &err) == DL_OK) {
            check_cells(&pg);
            dl_pdf_page_clear(&pg);
        }
        if (dl_pdf_load_page(pdf, i, 12, 0, DL_CELLS_WORDS, &pg, &err) == DL_OK) {
            check_cells(&pg);
            dl_pdf_page_clear(&pg);
        }
    }
    dl_pdf_close(pdf);
    return 0;
}
