/*
 * Output sinks: every result format behind one interface. A format is a dl_output_format in
 * the table of sinks.c (a new format = one new file + one table line). The pipeline drives a
 * sink with a run's documents and pages in input order; sink.c frames them into streams:
 * one stream for the whole run (a combined file, or a caller's write function), or one
 * stream per document (per_document: DIR/INPUT + extension, committed only when the document
 * succeeded). A format that has no extension (overlay) gets no stream and writes per page.
 */
#ifndef DL_OUTPUT_SINK_H
#define DL_OUTPUT_SINK_H

#include <cjson/cJSON.h>

#include "doclayout.h"
#include "output/documents.h"
#include "output/stream.h"

/* What a format may need about the run. */
typedef struct dl_sink_run {
    const dl_model *model;
    const dl_detector *detector;
    size_t n_inputs;
    int per_document; /* the stream holds one document */
    int coco_images;
    const char *dir; /* the output directory (per_document, or a per-page format) */
} dl_sink_run;

/* The document a page belongs to. */
typedef struct dl_sink_doc {
    const char *source;   /* the input's name ("stdin" for "-") */
    const char *mimetype; /* "application/octet-stream" when it did not open */
    unsigned long long hash;
    int ordinal; /* documents begun before this one in the same stream */
} dl_sink_doc;

typedef struct dl_output_format {
    const char *name;
    const char *extension; /* per-document file suffix; NULL: no stream (written per page) */
    size_t state_size;     /* zeroed state, kept for the whole run */
    /* a stream starts (the run's, or a document's with per_document) */
    dl_status (*begin)(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err);
    dl_status (*doc_begin)(void *state, dl_stream *out, const dl_sink_run *run,
                           const dl_sink_doc *doc, dl_error *err);
    /* one page; `image` (may be NULL) is the page's, free to draw on; `only_page`: the
     * document's one selected page is its first */
    dl_status (*page)(void *state, dl_stream *out, const dl_sink_run *run, const dl_sink_doc *doc,
                      const dl_page_out *page, dl_image *image, int only_page, dl_error *err);
    dl_status (*doc_end)(void *state, dl_stream *out, const dl_sink_run *run,
                         const dl_sink_doc *doc, dl_error *err);
    /* the stream ends (then it is committed) */
    dl_status (*end)(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err);
    /* free what a stream that was abandoned midway still holds (may be NULL) */
    void (*discard)(void *state);
} dl_output_format;

/* The registered formats (sinks.c). */
extern const dl_output_format *const dl_output_formats[];
const dl_output_format *dl_output_format_find(const char *name);

/* ---- a sink: a format, its destination and its state (sinks.c) ---- */

typedef struct dl_sink dl_sink;

dl_status dl_sink_create(const dl_output_options *options, const dl_model *model,
                         const dl_detector *detector, dl_sink **out, dl_error *err);
/* The run starts (opens the combined stream). */
dl_status dl_sink_run_begin(dl_sink *s, size_t n_inputs, dl_error *err);
dl_status dl_sink_doc_begin(dl_sink *s, const dl_sink_doc *doc, dl_error *err);
dl_status dl_sink_page(dl_sink *s, const dl_page_out *page, dl_image *image, int only_page,
                       dl_error *err);
/* The document ends: a per-document stream is committed when `ok`, else removed. */
dl_status dl_sink_doc_end(dl_sink *s, int ok, dl_error *err);
/* The run ends: the combined stream is committed when `ok`, else removed. */
dl_status dl_sink_run_end(dl_sink *s, int ok, dl_error *err);
/* 1 when this sink writes per-document files and the one of `source` exists. */
int dl_sink_result_exists(const dl_sink *s, const char *source);
int dl_sink_is_per_document(const dl_sink *s);
void dl_sink_free(dl_sink *s);

/* "DIR/BASE" + suffix, BASE the input's file name ("stdin" for "-"). */
void dl_sink_result_path(const char *dir, const char *source, const char *suffix, char *buf,
                         size_t n);

#endif
