/* The overlay format: each page as a PNG with its regions drawn on it, DIR/NAME.png for a
 * document's only page, DIR/NAME-pN.png otherwise (NAME: the input's file name up to its
 * first dot). Written per page; a page that failed has none. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "image/draw.h"
#include "output/sink.h"

static dl_status overlay_page(void *state, dl_stream *out, const dl_sink_run *run,
                              const dl_sink_doc *doc, const dl_page_out *page, dl_image *image,
                              int only_page, dl_error *err) {
    if (page->error || !image) return DL_OK;
    for (size_t i = page->n_regions; i-- > 0;) {
        const dl_region *g = &page->regions[i];
        float box[4] = {(float)(g->box.l * page->scale), (float)(g->box.t * page->scale),
                        (float)(g->box.r * page->scale), (float)(g->box.b * page->scale)};
        dl_draw_detection(image, box, g->label, dl_docling_label_name(g->label), g->confidence);
    }
    const char *source = doc->source;
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    char name[4200];
    int len = (int)strcspn(base, ".");
    if (only_page) snprintf(name, sizeof name, "%s/%.*s.png", run->dir, len, base);
    else snprintf(name, sizeof name, "%s/%.*s-p%d.png", run->dir, len, base, page->page_no);
    dl_status s = dl_image_save_png(image, name, err);
    if (s != DL_OK) dl_fail_prefix(err, "overlay: ");
    return s;
}

const dl_output_format dl_output_overlay = {
    .name = "overlay",
    .extension = NULL,
    .page = overlay_page,
};
