/* The coco format: COCO detection results (category_id = Docling label id + 1, bbox
 * [x, y, w, h] in image pixels), or with coco_images a whole COCO file whose images and
 * annotations are streamed (the annotations through a temporary file) and whose header
 * (the categories) is written once, at the end. Image ids run across the run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "output/json_text.h"
#include "output/sink.h"

static double round_to(double v, double scale) { return round(v * scale) / scale; }

/* ---- COCO ---------------------------------------------------------------------------------- */

cJSON *dl_coco_categories(void) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < DL_NUM_DOCLING_LABELS; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "id", i + 1);
        dl_json_add_text(c, "name", dl_docling_label_name(i));
        dl_json_add_text(c, "supercategory", "layout");
        cJSON_AddItemToArray(a, c);
    }
    return a;
}

/* The page's image entry (when images is not NULL) and its annotations, numbered from
 * first_id. */
static void coco_page(cJSON *results, cJSON *images, int image_id, int first_id,
                      const dl_page_out *p) {
    if (images) {
        cJSON *im = cJSON_CreateObject();
        char name[1200];
        snprintf(name, sizeof name, "%s#page=%d", p->source, p->page_no);
        cJSON_AddNumberToObject(im, "id", image_id);
        dl_json_add_text(im, "file_name", name);
        cJSON_AddNumberToObject(im, "width", p->width);
        cJSON_AddNumberToObject(im, "height", p->height);
        if (p->error) dl_json_add_text(im, "error", p->error);
        cJSON_AddItemToArray(images, im);
    }
    if (p->error) return;
    for (size_t i = 0; i < p->n_regions; i++) {
        const dl_region *r = &p->regions[i];
        double x = r->box.l * p->scale, y = r->box.t * p->scale;
        double w = (r->box.r - r->box.l) * p->scale, h = (r->box.b - r->box.t) * p->scale;
        cJSON *d = cJSON_CreateObject();
        if (images) cJSON_AddNumberToObject(d, "id", first_id + (double)i);
        cJSON_AddNumberToObject(d, "image_id", image_id);
        cJSON_AddNumberToObject(d, "category_id", r->label + 1);
        cJSON *b = cJSON_AddArrayToObject(d, "bbox");
        cJSON_AddItemToArray(b, cJSON_CreateNumber(round_to(x, 1e3)));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(round_to(y, 1e3)));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(round_to(w, 1e3)));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(round_to(h, 1e3)));
        cJSON_AddNumberToObject(d, "score", round_to(r->confidence, 1e6));
        if (images) {
            cJSON_AddNumberToObject(d, "area", round_to(w * h, 1e3));
            cJSON_AddNumberToObject(d, "iscrowd", 0);
        }
        cJSON_AddItemToArray(results, d);
    }
}

void dl_coco_add_page(cJSON *results, cJSON *images, int image_id, const dl_page_out *p) {
    coco_page(results, images, image_id, cJSON_GetArraySize(results) + 1, p);
}

typedef struct coco_state {
    int image_id;      /* the last image's id: runs across the run's streams */
    int n_annotations; /* in the current stream */
    int n_images;
    FILE *annotations; /* with coco_images: the stream's annotations until its end */
} coco_state;

static dl_status coco_begin(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    coco_state *s = state;
    s->n_annotations = s->n_images = 0;
    if (run->coco_images) {
        s->annotations = tmpfile();
        if (!s->annotations) return dl_fail(err, DL_ERR_IO, "coco: cannot create a temporary file");
        dl_stream_puts(out, "{\n\t\"images\":\t[");
    } else {
        dl_stream_puts(out, "[");
    }
    return DL_OK;
}

/* Items of a JSON array, ", " between them, nested `depth` deep. */
static void put_items(dl_stream *out, FILE *spill, const cJSON *arr, int *n, int depth) {
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (spill) {
            char *t = dl_json_print(it, 1);
            if (!t) continue;
            if ((*n)++) fputs(", ", spill);
            for (const char *c = t; *c; c++) {
                fputc(*c, spill);
                if (*c == '\n')
                    for (int k = 0; k < depth; k++) fputc('\t', spill);
            }
            free(t);
        } else {
            if ((*n)++) dl_stream_puts(out, ", ");
            dl_stream_json(out, it, depth);
        }
    }
}

static dl_status coco_page_out(void *state, dl_stream *out, const dl_sink_run *run,
                               const dl_sink_doc *doc, const dl_page_out *page, dl_image *image,
                               int only_page, dl_error *err) {
    coco_state *s = state;
    cJSON *results = cJSON_CreateArray(), *images = run->coco_images ? cJSON_CreateArray() : NULL;
    if (!results || (run->coco_images && !images)) {
        cJSON_Delete(results);
        cJSON_Delete(images);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    coco_page(results, images, ++s->image_id, s->n_annotations + 1, page);
    if (images) {
        put_items(out, NULL, images, &s->n_images, 2);
        put_items(out, s->annotations, results, &s->n_annotations, 2);
    } else {
        put_items(out, NULL, results, &s->n_annotations, 1);
    }
    cJSON_Delete(results);
    cJSON_Delete(images);
    return DL_OK;
}

static dl_status coco_end(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    coco_state *s = state;
    if (!run->coco_images) {
        dl_stream_puts(out, "]\n");
        return DL_OK;
    }
    /* the header, once */
    cJSON *categories = dl_coco_categories();
    dl_stream_puts(out, "],\n\t\"categories\":\t");
    dl_stream_json(out, categories, 1);
    cJSON_Delete(categories);
    dl_stream_puts(out, ",\n\t\"annotations\":\t[");
    dl_status st = DL_OK;
    if (fflush(s->annotations) != 0 || ferror(s->annotations) ||
        fseek(s->annotations, 0, SEEK_SET) != 0) {
        st = dl_fail(err, DL_ERR_IO, "coco: the temporary file of annotations failed");
    } else {
        char buf[1 << 14];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, s->annotations)) > 0) dl_stream_write(out, buf, k);
        if (ferror(s->annotations))
            st = dl_fail(err, DL_ERR_IO, "coco: cannot read back the annotations");
    }
    dl_stream_puts(out, "]\n}\n");
    fclose(s->annotations);
    s->annotations = NULL;
    return st;
}

static void coco_discard(void *state) {
    coco_state *s = state;
    if (s->annotations) fclose(s->annotations);
    s->annotations = NULL;
}

const dl_output_format dl_output_coco = {
    .name = "coco",
    .extension = ".coco.json",
    .state_size = sizeof(coco_state),
    .begin = coco_begin,
    .page = coco_page_out,
    .end = coco_end,
    .discard = coco_discard,
};
