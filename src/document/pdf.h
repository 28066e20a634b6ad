/*
 * PDF pages through MuPDF (when built with DL_HAVE_PDF): page count, rendering at a given dpi
 * and the page's text cells from its own text layer. Without MuPDF every call fails with
 * DL_ERR_UNSUPPORTED. One dl_pdf is used by one thread at a time (it owns its MuPDF context).
 */
#ifndef DL_DOCUMENT_PDF_H
#define DL_DOCUMENT_PDF_H

#include <stddef.h>

#include "doclayout.h"
#include "document/cells.h"

/* Rendering never allocates more pixels than this: larger pages are rendered at the largest
 * resolution that fits (the page's size in points, and so every box, is unaffected). */
#define DL_PDF_MAX_PIXELS (40u * 1000u * 1000u)

typedef struct dl_pdf dl_pdf;

typedef enum dl_cell_mode {
    DL_CELLS_LINES = 0,
    DL_CELLS_WORDS = 1,
    DL_CELLS_NONE = 2
} dl_cell_mode;

typedef struct dl_pdf_page {
    double width_pt, height_pt; /* the page's size in points (after /Rotate) */
    double scale;               /* image pixels per point: dpi / 72, or less when capped */
    dl_image *image;            /* NULL unless asked for */
    dl_cells cells;             /* empty unless asked for */
} dl_pdf_page;

/* 1 when this build reads PDFs. */
int dl_pdf_available(void);
/* "MuPDF 1.21.1", or "none". */
const char *dl_pdf_library(void);

/* Open from memory (`data`, copied) or, when data is NULL, from `name`. A PDF that needs a
 * password fails with DL_ERR_INVALID_ARGUMENT unless `password` opens it; a PDF with no pages
 * fails with DL_ERR_FORMAT. */
dl_status dl_pdf_open(const char *name, const void *data, size_t size, const char *password,
                      dl_pdf **out, dl_error *err);
int dl_pdf_page_count(const dl_pdf *pdf);
/* Load page `index` (0-based): its size, and its image at `dpi` (when `render`) and its text
 * cells (unless mode is DL_CELLS_NONE). On failure nothing is left allocated in *page. */
dl_status dl_pdf_load_page(dl_pdf *pdf, int index, double dpi, int render, dl_cell_mode mode,
                           dl_pdf_page *page, dl_error *err);
void dl_pdf_page_clear(dl_pdf_page *page);
void dl_pdf_close(dl_pdf *pdf);

#endif
