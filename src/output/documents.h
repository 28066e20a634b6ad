/*
 * The result formats' builders, shared by their sinks (one file per format in src/output/:
 * json.c, coco.c, docling.c, markdown.c, overlay.c; the sink interface in sink.h) and the
 * tests. All take pages as dl_page_out: the page's regions in page points (top-left origin,
 * from the layout post-processor or the raw detections mapped to Docling labels) and its
 * text cells.
 */
#ifndef DL_OUTPUT_DOCUMENTS_H
#define DL_OUTPUT_DOCUMENTS_H

#include <cjson/cJSON.h>

#include "doclayout.h"
#include "postprocess/layout.h"

typedef struct dl_page_out {
    const char *source;
    int page_no;                /* 1-based */
    int width, height;          /* image pixels */
    double width_pt, height_pt; /* page size in points */
    double scale;               /* pixels per point */
    double dpi;                 /* > 0 for PDF pages */
    const char *error;          /* non-NULL: the page failed (no regions) */
    const dl_region *regions;   /* reading order */
    size_t n_regions;
    const dl_cells *cells;   /* may be NULL */
    const dl_detection *raw; /* --raw: the model's detections, for the json format */
    size_t n_raw;
} dl_page_out;

/* The text of a region: its cells joined by spaces (a word split by a hyphen at a line end is
 * joined back). Never NULL unless out of memory; "" without cells. */
char *dl_region_text(const dl_region *r, const dl_cells *cells);

/* One entry of the json format's "pages" array. */
cJSON *dl_json_page_out(const dl_page_out *p);

/* COCO: append this page's results (image_id given; category_id = Docling label id + 1; bbox
 * [x, y, w, h] in image pixels) and, when images is not NULL, its image entry. */
void dl_coco_add_page(cJSON *results, cJSON *images, int image_id, const dl_page_out *p);
cJSON *dl_coco_categories(void);

/* A DoclingDocument of the pages of one input (prov boxes in points, BOTTOMLEFT origin). */
cJSON *dl_docling_document(const char *source, const char *mimetype, unsigned long long hash,
                           const dl_page_out *pages, size_t n);

/* Markdown of the pages of one input; malloc'd. */
char *dl_markdown_document(const dl_page_out *pages, size_t n);

#endif
