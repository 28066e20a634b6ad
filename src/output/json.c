/* The json format: {"model": {...}, "pages": [page entries]}, streamed page by page. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/json_text.h"
#include "output/results_json.h"
#include "output/sink.h"

static double round_to(double v, double scale) { return round(v * scale) / scale; }

cJSON *dl_json_page_out(const dl_page_out *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    dl_json_add_text(o, "source", p->source);
    cJSON_AddNumberToObject(o, "page", p->page_no);
    cJSON_AddNumberToObject(o, "width", p->width);
    cJSON_AddNumberToObject(o, "height", p->height);
    if (p->dpi > 0) {
        cJSON_AddNumberToObject(o, "dpi", round_to(p->scale * 72, 1e3));
        cJSON_AddNumberToObject(o, "width_pt", round_to(p->width_pt, 1e3));
        cJSON_AddNumberToObject(o, "height_pt", round_to(p->height_pt, 1e3));
    }
    if (p->error) {
        dl_json_add_text(o, "error", p->error);
        return o;
    }
    cJSON *arr = cJSON_AddArrayToObject(o, "detections");
    if (p->raw || !p->regions) {
        for (size_t i = 0; i < p->n_raw; i++) {
            cJSON *d = cJSON_CreateObject();
            dl_json_add_text(d, "label", p->raw[i].label);
            cJSON_AddNumberToObject(d, "label_id", p->raw[i].label_id);
            cJSON_AddNumberToObject(d, "score", round_to(p->raw[i].score, 1e6));
            cJSON *box = cJSON_AddArrayToObject(d, "box");
            for (int k = 0; k < 4; k++)
                cJSON_AddItemToArray(box, cJSON_CreateNumber(round_to(p->raw[i].box[k], 1e3)));
            cJSON_AddItemToArray(arr, d);
        }
        return o;
    }
    for (size_t i = 0; i < p->n_regions; i++) {
        const dl_region *r = &p->regions[i];
        cJSON *d = cJSON_CreateObject();
        dl_json_add_text(d, "label", dl_docling_label_name(r->label));
        cJSON_AddNumberToObject(d, "label_id", r->label);
        cJSON_AddNumberToObject(d, "score", round_to(r->confidence, 1e6));
        cJSON *box = cJSON_AddArrayToObject(d, "box");
        double b[4] = {r->box.l, r->box.t, r->box.r, r->box.b};
        for (int k = 0; k < 4; k++)
            cJSON_AddItemToArray(box, cJSON_CreateNumber(round_to(b[k] * p->scale, 1e3)));
        if (p->cells && p->cells->n) {
            char *t = dl_region_text(r, p->cells);
            dl_json_add_text(d, "text", t ? t : "");
            free(t);
        }
        if (r->n_children) {
            cJSON *ch = cJSON_AddArrayToObject(d, "children");
            for (size_t k = 0; k < r->n_children; k++) {
                const dl_region *c = &r->children[k];
                cJSON *e = cJSON_CreateObject();
                dl_json_add_text(e, "label", dl_docling_label_name(c->label));
                cJSON_AddNumberToObject(e, "label_id", c->label);
                cJSON *cb = cJSON_AddArrayToObject(e, "box");
                double q[4] = {c->box.l, c->box.t, c->box.r, c->box.b};
                for (int j = 0; j < 4; j++)
                    cJSON_AddItemToArray(cb, cJSON_CreateNumber(round_to(q[j] * p->scale, 1e3)));
                cJSON_AddItemToArray(ch, e);
            }
        }
        cJSON_AddItemToArray(arr, d);
    }
    return o;
}

typedef struct json_state {
    size_t n_pages; /* in the current stream */
} json_state;

static dl_status json_begin(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    json_state *s = state;
    s->n_pages = 0;
    cJSON *model = dl_json_model_info(run->model, run->detector);
    dl_stream_puts(out, "{\n\t\"model\":\t");
    dl_stream_json(out, model, 1);
    dl_stream_puts(out, ",\n\t\"pages\":\t[");
    cJSON_Delete(model);
    return DL_OK;
}

static dl_status json_page(void *state, dl_stream *out, const dl_sink_run *run,
                           const dl_sink_doc *doc, const dl_page_out *page, dl_image *image,
                           int only_page, dl_error *err) {
    json_state *s = state;
    cJSON *p = dl_json_page_out(page);
    if (s->n_pages++) dl_stream_puts(out, ", ");
    dl_stream_json(out, p, 2);
    cJSON_Delete(p);
    return DL_OK;
}

static dl_status json_end(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    dl_stream_puts(out, "]\n}\n");
    return DL_OK;
}

const dl_output_format dl_output_json = {
    .name = "json",
    .extension = ".json",
    .state_size = sizeof(json_state),
    .begin = json_begin,
    .page = json_page,
    .end = json_end,
};
