/* The markdown format: text in reading order, streamed page by page; a combined result of
 * several inputs names each one in a comment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"
#include "output/sink.h"

/* ---- Markdown ------------------------------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *t) {
    size_t k = strlen(t);
    if (b->n + k + 1 > b->cap) {
        size_t cap = (b->cap + k + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, t, k + 1);
    b->n += k;
}

static void md_region(sbuf *b, const dl_page_out *p, const dl_region *r, int *in_list) {
    int lab = r->label;
    if (lab == DL_LABEL_PAGE_HEADER || lab == DL_LABEL_PAGE_FOOTER) return; /* furniture */
    if (lab != DL_LABEL_LIST_ITEM && *in_list) {
        sb_add(b, "\n");
        *in_list = 0;
    }
    char *t = dl_region_text(r, p->cells);
    const char *text = t ? t : "";
    switch (lab) {
    case DL_LABEL_TITLE:
        sb_add(b, "# ");
        sb_add(b, text);
        sb_add(b, "\n\n");
        break;
    case DL_LABEL_SECTION_HEADER:
        sb_add(b, "## ");
        sb_add(b, text);
        sb_add(b, "\n\n");
        break;
    case DL_LABEL_LIST_ITEM:
        sb_add(b, "- ");
        sb_add(b, text);
        sb_add(b, "\n");
        *in_list = 1;
        break;
    case DL_LABEL_PICTURE: sb_add(b, "<!-- image -->\n\n"); break;
    case DL_LABEL_TABLE:
    case DL_LABEL_DOCUMENT_INDEX: sb_add(b, "<!-- table -->\n\n"); break;
    case DL_LABEL_CODE:
        sb_add(b, "```\n");
        sb_add(b, text);
        sb_add(b, "\n```\n\n");
        break;
    case DL_LABEL_FORMULA:
        if (*text) {
            sb_add(b, "$$");
            sb_add(b, text);
            sb_add(b, "$$\n\n");
        } else sb_add(b, "<!-- formula-not-decoded -->\n\n");
        break;
    case DL_LABEL_FORM:
    case DL_LABEL_KEY_VALUE_REGION:
        for (size_t k = 0; k < r->n_children; k++) md_region(b, p, &r->children[k], in_list);
        break;
    default:
        if (*text) {
            sb_add(b, text);
            sb_add(b, "\n\n");
        }
    }
    free(t);
}

/* One page's Markdown appended to b; *in_list carries an open list across pages. */
static void md_page(sbuf *b, const dl_page_out *p, int *in_list) {
    if (p->error) {
        char e[1200];
        snprintf(e, sizeof e, "<!-- page %d failed: %s -->\n\n", p->page_no, p->error);
        sb_add(b, e);
        return;
    }
    for (size_t k = 0; k < p->n_regions; k++) md_region(b, p, &p->regions[k], in_list);
}

char *dl_markdown_document(const dl_page_out *pages, size_t n) {
    sbuf b = {0};
    sb_add(&b, "");
    int in_list = 0;
    for (size_t i = 0; i < n; i++) md_page(&b, &pages[i], &in_list);
    if (in_list) sb_add(&b, "\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (dl_utf8_valid(b.s, b.n)) return b.s;
    char *clean = dl_utf8_sanitize(b.s, b.n, NULL); /* the cells' text is valid already */
    free(b.s);
    return clean;
}

/* Text as valid UTF-8 (a file name in a comment may be anything). */
static void put_text(dl_stream *out, const char *s, size_t n) {
    if (dl_utf8_valid(s, n)) {
        dl_stream_write(out, s, n);
        return;
    }
    char *clean = dl_utf8_sanitize(s, n, NULL);
    if (clean) dl_stream_puts(out, clean);
    free(clean);
}

typedef struct markdown_state {
    int in_list;
} markdown_state;

static dl_status md_doc_begin(void *state, dl_stream *out, const dl_sink_run *run,
                              const dl_sink_doc *doc, dl_error *err) {
    ((markdown_state *)state)->in_list = 0;
    if (run->per_document) return DL_OK;
    /* a combined result: documents apart, named when there are several inputs */
    if (doc->ordinal > 0) dl_stream_puts(out, "\n");
    if (run->n_inputs > 1) {
        dl_stream_puts(out, "<!-- source: ");
        put_text(out, doc->source, strlen(doc->source));
        dl_stream_puts(out, " -->\n\n");
    }
    return DL_OK;
}

static dl_status md_page_out(void *state, dl_stream *out, const dl_sink_run *run,
                             const dl_sink_doc *doc, const dl_page_out *page, dl_image *image,
                             int only_page, dl_error *err) {
    markdown_state *s = state;
    sbuf b = {0};
    sb_add(&b, "");
    md_page(&b, page, &s->in_list);
    if (!b.oom) put_text(out, b.s, b.n);
    free(b.s);
    return b.oom ? dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory") : DL_OK;
}

static dl_status md_doc_end(void *state, dl_stream *out, const dl_sink_run *run,
                            const dl_sink_doc *doc, dl_error *err) {
    markdown_state *s = state;
    if (s->in_list) dl_stream_puts(out, "\n");
    s->in_list = 0;
    return DL_OK;
}

const dl_output_format dl_output_markdown = {
    .name = "markdown",
    .extension = ".md",
    .state_size = sizeof(markdown_state),
    .doc_begin = md_doc_begin,
    .page = md_page_out,
    .doc_end = md_doc_end,
};
