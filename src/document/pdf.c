/* PDF input through MuPDF. */
#include "document/pdf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"
#include "document/arabic_forms.h"
#include "document/bidi.h"
#include "image/image.h"

void dl_pdf_page_clear(dl_pdf_page *page) {
    if (!page) return;
    dl_image_free(page->image);
    dl_cells_free(&page->cells);
    memset(page, 0, sizeof *page);
}

#ifndef DL_HAVE_PDF

int dl_pdf_available(void) { return 0; }
const char *dl_pdf_library(void) { return "none"; }
dl_status dl_pdf_open(const char *name, const void *data, size_t size, const char *password,
                      dl_pdf **out, dl_error *err) {
    if (out) *out = NULL;
    return dl_fail(err, DL_ERR_UNSUPPORTED,
                   "%s: this build of doclayout reads no PDFs (built without MuPDF)", name);
}
int dl_pdf_page_count(const dl_pdf *pdf) { return 0; }
dl_status dl_pdf_load_page(dl_pdf *pdf, int index, double dpi, int render, dl_cell_mode mode,
                           dl_pdf_page *page, dl_error *err) {
    return dl_fail(err, DL_ERR_UNSUPPORTED, "built without MuPDF");
}
void dl_pdf_close(dl_pdf *pdf) {}

#else

#include <mupdf/fitz.h>
#include <pthread.h>

/*
 * Threads. Every dl_pdf has its own fz_context (a context must not be used by two threads at
 * once; a dl_pdf is used by one thread at a time), so PDFs, and several dl_pdfs of one file,
 * can be rendered in parallel. But MuPDF keeps some state process-wide: the fz_context that
 * OpenJPEG's and HarfBuzz's allocator hooks call back into (`opj_secret`, `fz_hb_secret`),
 * set and used under FZ_LOCK_FREETYPE. MuPDF's own words (load-jpx.c): "It is therefore vital
 * that any fz_lock/fz_unlock handlers are shared between all the fz_contexts in use at a
 * time." With NULL locks (no-ops) two threads decoding JPEG 2000 images or shaping text at
 * once race on those globals. So every context gets lock handlers in which FZ_LOCK_FREETYPE
 * is one process-wide mutex; FZ_LOCK_ALLOC and FZ_LOCK_GLYPHCACHE guard only the context's own
 * store and glyph cache (independent contexts share neither), so they are per context and
 * rendering threads do not serialise on every allocation and glyph.
 */
static pthread_mutex_t mupdf_global_lock = PTHREAD_MUTEX_INITIALIZER;

struct dl_pdf {
    fz_context *ctx;
    pthread_mutex_t locks[FZ_LOCK_MAX]; /* [FZ_LOCK_FREETYPE] unused: mupdf_global_lock */
    int locks_ready;
    fz_document *doc;
    unsigned char *data; /* the bytes the document reads from (kept alive) */
    int pages;
    char name[256];
};

int dl_pdf_available(void) { return 1; }
const char *dl_pdf_library(void) { return "MuPDF " FZ_VERSION; }

static void quiet(void *user, const char *message) {}

static void pdf_lock(void *user, int lock) {
    dl_pdf *p = user;
    pthread_mutex_lock(lock == FZ_LOCK_FREETYPE ? &mupdf_global_lock : &p->locks[lock]);
}

static void pdf_unlock(void *user, int lock) {
    dl_pdf *p = user;
    pthread_mutex_unlock(lock == FZ_LOCK_FREETYPE ? &mupdf_global_lock : &p->locks[lock]);
}

void dl_pdf_close(dl_pdf *p) {
    if (!p) return;
    if (p->ctx) {
        fz_drop_document(p->ctx, p->doc);
        fz_drop_context(p->ctx);
    }
    if (p->locks_ready)
        for (int i = 0; i < FZ_LOCK_MAX; i++) pthread_mutex_destroy(&p->locks[i]);
    free(p->data);
    free(p);
}

dl_status dl_pdf_open(const char *name, const void *data, size_t size, const char *password,
                      dl_pdf **out, dl_error *err) {
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pdf_open: out is NULL");
    *out = NULL;
    dl_pdf *p = calloc(1, sizeof *p);
    if (!p) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(p->name, sizeof p->name, "%s", name ? name : "<pdf>");
    int nl = 0;
    while (nl < FZ_LOCK_MAX && pthread_mutex_init(&p->locks[nl], NULL) == 0) nl++;
    if (nl < FZ_LOCK_MAX) {
        while (nl-- > 0) pthread_mutex_destroy(&p->locks[nl]);
        free(p);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create a mutex",
                       name ? name : "<pdf>");
    }
    p->locks_ready = 1;
    fz_locks_context locks = {p, pdf_lock, pdf_unlock};
    p->ctx = fz_new_context(NULL, &locks, FZ_STORE_DEFAULT);
    if (!p->ctx) {
        dl_pdf_close(p);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: cannot create a MuPDF context",
                       name ? name : "<pdf>");
    }
    fz_set_warning_callback(p->ctx, quiet, NULL);
    fz_set_error_callback(p->ctx, quiet, NULL);
    if (data) {
        p->data = malloc(size ? size : 1);
        if (!p->data) {
            dl_pdf_close(p);
            return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(p->data, data, size);
    }
    dl_status s = DL_OK;
    fz_stream *volatile stm = NULL;
    fz_try(p->ctx) {
        fz_register_document_handlers(p->ctx);
        if (p->data) {
            stm = fz_open_memory(p->ctx, p->data, size);
            p->doc = fz_open_document_with_stream(p->ctx, "application/pdf", stm);
        } else {
            p->doc = fz_open_document(p->ctx, name);
        }
    }
    fz_always(p->ctx) { fz_drop_stream(p->ctx, stm); }
    fz_catch(p->ctx) {
        s = dl_fail(err, DL_ERR_FORMAT, "%s: not a readable PDF (%s)", p->name,
                    fz_caught_message(p->ctx));
    }
    if (s == DL_OK && fz_needs_password(p->ctx, p->doc)) {
        if (!password)
            s = dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                        "%s: the PDF is encrypted: give its password with --password", p->name);
        else if (!fz_authenticate_password(p->ctx, p->doc, password))
            s = dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: wrong password", p->name);
    }
    if (s == DL_OK) {
        fz_try(p->ctx) { p->pages = fz_count_pages(p->ctx, p->doc); }
        fz_catch(p->ctx) {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: cannot read the page tree (%s)", p->name,
                        fz_caught_message(p->ctx));
        }
    }
    if (s == DL_OK && p->pages < 1)
        s = dl_fail(err, DL_ERR_FORMAT, "%s: the PDF has no pages", p->name);
    if (s != DL_OK) {
        dl_pdf_close(p);
        return s;
    }
    *out = p;
    return DL_OK;
}

int dl_pdf_page_count(const dl_pdf *p) { return p ? p->pages : 0; }

static int is_space(int c) { return c == ' ' || c == '\t' || c == 0xA0 || c == '\n' || c == '\r'; }

typedef struct cell_builder {
    char *text;
    size_t len, cap;
    dl_box box;
    int empty; /* no visible character yet */
} cell_builder;

static int cb_add(cell_builder *b, int c, fz_rect r, double ox, double oy) {
    uint32_t letters[DL_ARABIC_FORM_MAX];
    size_t n_letters = c > 0 ? dl_arabic_form_letters((uint32_t)c, letters) : 0;
    if (n_letters) { /* a shaped Arabic form stands for its letters */
        for (size_t i = 0; i < n_letters; i++)
            if (!cb_add(b, (int)letters[i], r, ox, oy)) return 0;
        return 1;
    }
    if (b->len + 4 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char *t = realloc(b->text, cap);
        if (!t) return 0;
        b->text = t;
        b->cap = cap;
    }
    /* MuPDF passes on whatever the font's ToUnicode map says: surrogates, values past
     * U+10FFFF and NUL become U+FFFD here, where text enters */
    b->len += dl_utf8_encode(c == 0 ? (int64_t)DL_UTF8_REPLACEMENT : c, b->text + b->len);
    if (!is_space(c)) {
        dl_box x = {r.x0 - ox, r.y0 - oy, r.x1 - ox, r.y1 - oy};
        if (b->empty) b->box = x;
        else {
            b->box.l = fmin(b->box.l, x.l);
            b->box.t = fmin(b->box.t, x.t);
            b->box.r = fmax(b->box.r, x.r);
            b->box.b = fmax(b->box.b, x.b);
        }
        b->empty = 0;
    }
    return 1;
}

/* Emit the cell being built (trimmed); returns 0 on out of memory. */
static int cb_flush(cell_builder *b, dl_cells *cells) {
    int ok = 1;
    if (!b->empty) {
        size_t s = 0, e = b->len;
        while (s < e && (b->text[s] == ' ' || b->text[s] == '\t')) s++;
        while (e > s && (b->text[e - 1] == ' ' || b->text[e - 1] == '\t')) e--;
        ok = dl_cells_push(cells, b->box, b->text + s, e - s);
    }
    b->len = 0;
    b->empty = 1;
    return ok;
}

/* One visual line's characters and their reading order (document/bidi.h). */
typedef struct line_chars {
    fz_stext_char **ptr;
    dl_bidi_char *chars;
    size_t *order;
    unsigned *piece; /* which of the visual line's stext lines the character came from */
    size_t n, cap;
} line_chars;

static int line_has_rtl(const fz_stext_line *ln) {
    for (const fz_stext_char *ch = ln->first_char; ch; ch = ch->next)
        if (ch->c > 0 && dl_bidi_is_rtl((uint32_t)ch->c)) return 1;
    return 0;
}

static int same_baseline(const fz_stext_line *a, const fz_stext_line *b) {
    if (!a->first_char || !b->first_char || a->wmode || b->wmode) return 0;
    if (fabsf(a->dir.y) > 0.01f || fabsf(b->dir.y) > 0.01f || a->dir.x * b->dir.x <= 0) return 0;
    float size = fmaxf(a->first_char->size, b->first_char->size);
    return fabsf(a->first_char->origin.y - b->first_char->origin.y) <= 0.2f * size;
}

/* The line after ln's visual line. MuPDF starts a new stext line where the drawing goes back
 * along the line, which producers do for right-to-left runs (cairo draws a line's runs left to
 * right, each right-to-left run from its right end), and drops the space that began the piece.
 * Lines of a block that continue ln's baseline are one visual line when any of them holds
 * right-to-left letters; other lines stay as MuPDF made them. */
static fz_stext_line *visual_line_end(fz_stext_line *ln) {
    fz_stext_line *end = ln->next;
    int rtl = line_has_rtl(ln);
    for (; end && same_baseline(ln, end); end = end->next) rtl |= line_has_rtl(end);
    return rtl ? end : ln->next;
}

/* The characters of stext lines [ln, end) in reading order (lc->order). */
static int logical_line(fz_stext_line *ln, fz_stext_line *end, int rtl_page, line_chars *lc) {
    lc->n = 0;
    for (unsigned piece = 0; ln != end; ln = ln->next, piece++) {
        for (fz_stext_char *ch = ln->first_char; ch; ch = ch->next) {
            if (lc->n == lc->cap) {
                size_t cap = lc->cap ? lc->cap * 2 : 128;
                fz_stext_char **p = realloc(lc->ptr, cap * sizeof *p);
                if (p) lc->ptr = p;
                dl_bidi_char *c = realloc(lc->chars, cap * sizeof *c);
                if (c) lc->chars = c;
                size_t *o = realloc(lc->order, cap * sizeof *o);
                if (o) lc->order = o;
                unsigned *pc = realloc(lc->piece, cap * sizeof *pc);
                if (pc) lc->piece = pc;
                if (!p || !c || !o || !pc) return 0;
                lc->cap = cap;
            }
            fz_rect r = fz_rect_from_quad(ch->quad);
            lc->ptr[lc->n] = ch;
            lc->chars[lc->n] = (dl_bidi_char){ch->c > 0 ? (uint32_t)ch->c : 0, r.x0, r.x1};
            lc->piece[lc->n] = piece;
            lc->n++;
        }
    }
    return dl_bidi_line_order(lc->chars, lc->n, rtl_page, lc->order);
}

/* 1 when reading goes from character a to b across pieces of a visual line with room between
 * them and no space: the space MuPDF dropped at the start of a piece. */
static int gap_between_pieces(const line_chars *lc, size_t a, size_t b) {
    if (lc->piece[a] == lc->piece[b] || is_space(lc->ptr[a]->c) || is_space(lc->ptr[b]->c))
        return 0;
    double gap = fmax(lc->chars[a].x0, lc->chars[b].x0) - fmin(lc->chars[a].x1, lc->chars[b].x1);
    return gap > 0.15 * fmax(lc->ptr[a]->size, lc->ptr[b]->size);
}

/* 1 when most of the page's letters are right-to-left ones. */
static int page_is_rtl(fz_stext_page *st) {
    size_t rtl = 0, ltr = 0;
    for (fz_stext_block *blk = st ? st->first_block : NULL; blk; blk = blk->next) {
        if (blk->type != FZ_STEXT_BLOCK_TEXT) continue;
        for (fz_stext_line *ln = blk->u.t.first_line; ln; ln = ln->next)
            for (fz_stext_char *ch = ln->first_char; ch; ch = ch->next) {
                uint32_t c = ch->c > 0 ? (uint32_t)ch->c : 0;
                rtl += (size_t)dl_bidi_is_rtl(c);
                ltr += (size_t)dl_bidi_is_ltr(c);
            }
    }
    return rtl > ltr;
}

dl_status dl_pdf_load_page(dl_pdf *p, int index, double dpi, int render, dl_cell_mode mode,
                           dl_pdf_page *page, dl_error *err) {
    if (!p || !page) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pdf_load_page: NULL");
    memset(page, 0, sizeof *page);
    if (index < 0 || index >= p->pages)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: no page %d (the PDF has %d)", p->name,
                       index + 1, p->pages);
    if (!(dpi >= 1 && dpi <= 2400))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dpi %g is outside [1, 2400]", dpi);
    fz_context *ctx = p->ctx;
    fz_page *volatile pg = NULL;
    fz_pixmap *volatile pix = NULL;
    fz_device *volatile dev = NULL;
    fz_stext_page *volatile st = NULL;
    dl_status s = DL_OK;
    fz_rect bounds = fz_empty_rect;
    fz_try(ctx) {
        pg = fz_load_page(ctx, p->doc, index);
        bounds = fz_bound_page(ctx, pg);
    }
    fz_catch(ctx) {
        s = dl_fail(err, DL_ERR_FORMAT, "%s: page %d: %s", p->name, index + 1,
                    fz_caught_message(ctx));
    }
    double w = bounds.x1 - bounds.x0, h = bounds.y1 - bounds.y0;
    if (s == DL_OK && !(w >= 1 && h >= 1 && w < 1e6 && h < 1e6))
        s = dl_fail(err, DL_ERR_FORMAT, "%s: page %d has an invalid size %gx%g pt", p->name,
                    index + 1, w, h);
    if (s == DL_OK) {
        page->width_pt = w;
        page->height_pt = h;
        double zoom = dpi / 72.0;
        double px = w * zoom * h * zoom;
        if (px > DL_PDF_MAX_PIXELS) zoom *= sqrt((double)DL_PDF_MAX_PIXELS / px) * 0.9999;
        if (w * zoom > DL_IMAGE_MAX_SIDE) zoom = DL_IMAGE_MAX_SIDE / w;
        if (h * zoom > DL_IMAGE_MAX_SIDE) zoom = DL_IMAGE_MAX_SIDE / h;
        page->scale = zoom;
    }
    if (s == DL_OK && render) {
        int iw = (int)fmax(1, floor(w * page->scale + 0.5)),
            ih = (int)fmax(1, floor(h * page->scale + 0.5));
        s = dl_image_alloc(p->name, iw, ih, &page->image, err);
        if (s == DL_OK) {
            memset(page->image->rgb, 255, page->image->stride * (size_t)ih);
            fz_try(ctx) {
                pix = fz_new_pixmap_with_data(ctx, fz_device_rgb(ctx), iw, ih, NULL, 0,
                                              (int)page->image->stride, page->image->rgb);
                fz_matrix ctm = fz_concat(fz_translate(-bounds.x0, -bounds.y0),
                                          fz_scale((float)page->scale, (float)page->scale));
                dev = fz_new_draw_device(ctx, fz_identity, pix);
                fz_run_page(ctx, pg, dev, ctm, NULL);
                fz_close_device(ctx, dev);
            }
            fz_always(ctx) {
                fz_drop_device(ctx, dev);
                fz_drop_pixmap(ctx, pix);
            }
            fz_catch(ctx) {
                s = dl_fail(err, DL_ERR_FORMAT, "%s: page %d: render failed: %s", p->name,
                            index + 1, fz_caught_message(ctx));
            }
        }
    }
    if (s == DL_OK && mode != DL_CELLS_NONE) {
        fz_try(ctx) { st = fz_new_stext_page_from_page(ctx, pg, NULL); }
        fz_catch(ctx) {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: page %d: cannot read its text: %s", p->name,
                        index + 1, fz_caught_message(ctx));
        }
        cell_builder b = {NULL, 0, 0, {0, 0, 0, 0}, 1};
        line_chars lc = {0};
        int ok = 1, rtl_page = page_is_rtl(st);
        for (fz_stext_block *blk = st ? st->first_block : NULL; ok && blk; blk = blk->next) {
            if (blk->type != FZ_STEXT_BLOCK_TEXT) continue;
            for (fz_stext_line *ln = blk->u.t.first_line, *end; ok && ln; ln = end) {
                /* in reading order: right-to-left runs come from their glyphs' positions */
                end = visual_line_end(ln);
                ok = logical_line(ln, end, rtl_page, &lc);
                for (size_t k = 0; ok && k < lc.n; k++) {
                    fz_stext_char *ch = lc.ptr[lc.order[k]];
                    if (k > 0 && gap_between_pieces(&lc, lc.order[k - 1], lc.order[k]))
                        ok = mode == DL_CELLS_WORDS ? cb_flush(&b, &page->cells)
                                                    : cb_add(&b, ' ', fz_empty_rect, 0, 0);
                    if (ok && mode == DL_CELLS_WORDS && is_space(ch->c)) {
                        ok = cb_flush(&b, &page->cells);
                        continue;
                    }
                    if (ok)
                        ok = cb_add(&b, ch->c, fz_rect_from_quad(ch->quad), bounds.x0, bounds.y0);
                }
                if (ok) ok = cb_flush(&b, &page->cells);
            }
        }
        free(b.text);
        free(lc.ptr);
        free(lc.chars);
        free(lc.order);
        free(lc.piece);
        if (!ok && s == DL_OK) s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        fz_drop_stext_page(ctx, st);
    }
    fz_drop_page(ctx, pg);
    if (s != DL_OK) dl_pdf_page_clear(page);
    return s;
}

#endif
