/*
 * One input document, whatever its kind: a PDF (every page), a TIFF (every page), or a PNG or
 * JPEG (one page). Opened from a path or, for "-", from standard input. Pages come out as an
 * RGB image plus the page's size in points and, for born-digital PDFs, its text cells.
 * Images are pages of 1 point per pixel.
 *
 * Threads: a dl_doc is used by one thread at a time; different dl_docs (of the same file or
 * not) may be used from different threads at once (each PDF has its own MuPDF context; the
 * contexts share the locks that guard MuPDF's process-wide state, see pdf.c).
 */
#ifndef DL_DOCUMENT_DOCUMENT_H
#define DL_DOCUMENT_DOCUMENT_H

#include "document/pdf.h"

typedef enum dl_doc_kind { DL_DOC_PDF, DL_DOC_TIFF, DL_DOC_IMAGE } dl_doc_kind;

typedef struct dl_doc dl_doc;

/* Open `path` ("-" reads standard input). The kind comes from the file's signature. */
dl_status dl_doc_open(const char *path, const char *password, dl_doc **out, dl_error *err);
/* Open a document from `size` bytes at `data` (copied); `name` names it in messages. The same
 * bytes give the same pages as dl_doc_open of a file holding them (used to open standard input
 * once per thread after reading it once). */
dl_status dl_doc_open_memory(const char *name, const void *data, size_t size, const char *password,
                             dl_doc **out, dl_error *err);
/* Read all of standard input (at most DL_IMAGE_MAX_FILE_BYTES) into *data (malloc'd). */
dl_status dl_doc_read_stdin(unsigned char **data, size_t *size, dl_error *err);
dl_doc_kind dl_doc_get_kind(const dl_doc *doc);
int dl_doc_page_count(const dl_doc *doc);
/* "application/pdf", "image/tiff", "image/png", "image/jpeg" */
const char *dl_doc_mimetype(const dl_doc *doc);
/* A 64-bit hash of the file's bytes (FNV-1a), for DoclingDocument's origin.binary_hash. */
unsigned long long dl_doc_hash(const dl_doc *doc);
/* Page `index` (0-based) rendered at `dpi` (PDFs; images come as they are) with its cells. */
dl_status dl_doc_load_page(dl_doc *doc, int index, double dpi, dl_cell_mode mode, dl_pdf_page *page,
                           dl_error *err);
void dl_doc_close(dl_doc *doc);

/* 1 when the first bytes look like a document this build may read (PDF, PNG, JPEG, TIFF). */
int dl_doc_sniff(const unsigned char *head, size_t n);

#endif
