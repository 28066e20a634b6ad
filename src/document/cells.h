/* Text cells of a page: words or lines from a PDF's own text layer, with their boxes. */
#ifndef DL_DOCUMENT_CELLS_H
#define DL_DOCUMENT_CELLS_H

#include <stddef.h>

/* A box in page points, top-left origin (l <= r, t <= b). */
typedef struct dl_box {
    double l, t, r, b;
} dl_box;

typedef struct dl_cell {
    int index;        /* position in the page's native text order (0, 1, ...) */
    dl_box box;       /* page points, top-left origin */
    char *text;       /* valid UTF-8 (dl_cells_push sanitises), owned */
    float confidence; /* 1 for PDF text */
    int from_ocr;
} dl_cell;

typedef struct dl_cells {
    dl_cell *items;
    size_t n, cap;
} dl_cells;

/* Append a cell (text copied, `len` bytes); index = position. Returns 0 on out of memory. */
int dl_cells_push(dl_cells *cells, dl_box box, const char *text, size_t len);
void dl_cells_free(dl_cells *cells);

#endif
