/*
 * Docling's LayoutPostprocessor (docling/utils/layout_postprocessor.py), reimplemented:
 * per-label thresholds, Title -> Section-header, assignment of text cells to clusters
 * (> 0.2 of the cell's area), removal of empty clusters (except Formula), orphan cells as Text
 * clusters, bbox adjustment to the cells, overlap removal with union-find groups and Docling's
 * preference rules, the picture/table and full-page picture rules, children of special
 * clusters, and the final order (minimum cell index, then top, then left).
 *
 * Everything is in page points, top-left origin. Labels are Docling label ids (0..16, heron's
 * order, see dl_docling_label_name). Candidate pairs for overlap checks are found exactly as
 * Docling's R-tree + interval lists find them, from the clusters' boxes as first given.
 */
#ifndef DL_POSTPROCESS_LAYOUT_H
#define DL_POSTPROCESS_LAYOUT_H

#include <stddef.h>

#include "doclayout.h"
#include "document/cells.h"
#include "postprocess/labels.h"

typedef struct dl_cluster_in {
    int label; /* Docling label id */
    float confidence;
    dl_box box; /* page points, top-left origin */
} dl_cluster_in;

typedef struct dl_region {
    int label; /* Docling label id (after the remap) */
    float confidence;
    dl_box box;
    int source; /* index of the input cluster, -1 for a cluster made from an orphan cell */
    int *cells; /* indices into the page's cells, ascending */
    size_t n_cells;
    struct dl_region *children; /* regular regions inside a special one (table, picture, ...) */
    size_t n_children;
} dl_region;

typedef struct dl_layout {
    dl_region *regions; /* in reading order */
    size_t n;
} dl_layout;

typedef struct dl_layout_options {
    int keep_empty_clusters;    /* Docling default 0 */
    int skip_cell_assignment;   /* 0 */
    int create_orphan_clusters; /* 1 */
} dl_layout_options;

dl_layout_options dl_layout_default_options(void);

/* Clusters in the model's order (descending score), cells in the page's text order. */
dl_status dl_layout_postprocess(const dl_cluster_in *clusters, size_t n, const dl_cells *cells,
                                double page_width, double page_height,
                                const dl_layout_options *options, dl_layout *out, dl_error *err);
void dl_layout_free(dl_layout *layout);

/* Docling's per-label confidence threshold (0.5 or 0.45). */
double dl_layout_label_threshold(int label);
/* 1 for Picture, Table, Form, Key-Value Region, Document Index. */
int dl_layout_is_special(int label);

/* Box helpers (Docling's BoundingBox arithmetic, top-left origin). */
double dl_box_area(dl_box b);
double dl_box_intersection(dl_box a, dl_box b);
double dl_box_iou(dl_box a, dl_box b);
/* intersection / area(a), 0 when a has no area */
double dl_box_ios(dl_box a, dl_box b);

#endif
