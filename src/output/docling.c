/* The docling format: a DoclingDocument per input (prov boxes in points, BOTTOMLEFT origin),
 * built page by page as the pages come and written at the document's end; a combined result
 * of several inputs is an array of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"
#include "output/json_text.h"
#include "output/sink.h"

/* ---- DoclingDocument ----------------------------------------------------------------------- */

static const char *docling_value(int label) {
    static const char *const v[DL_NUM_DOCLING_LABELS] = {"caption",
                                                         "footnote",
                                                         "formula",
                                                         "list_item",
                                                         "page_footer",
                                                         "page_header",
                                                         "picture",
                                                         "section_header",
                                                         "table",
                                                         "text",
                                                         "title",
                                                         "document_index",
                                                         "code",
                                                         "checkbox_selected",
                                                         "checkbox_unselected",
                                                         "form",
                                                         "key_value_region"};
    return label >= 0 && label < DL_NUM_DOCLING_LABELS ? v[label] : "text";
}

static cJSON *ref(const char *r) {
    cJSON *o = cJSON_CreateObject();
    dl_json_add_text(o, "$ref", r);
    return o;
}

typedef struct dbuild {
    cJSON *root, *body, *furniture, *groups, *texts, *pictures, *tables;
    cJSON *pages;      /* the "pages" object */
    char list_ref[64]; /* the open list group, "" when none */
} dbuild;

static cJSON *prov(const dl_page_out *p, const dl_region *r, size_t text_len) {
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "page_no", p->page_no);
    cJSON_AddNumberToObject(b, "l", r->box.l);
    cJSON_AddNumberToObject(b, "t", p->height_pt - r->box.t);
    cJSON_AddNumberToObject(b, "r", r->box.r);
    cJSON_AddNumberToObject(b, "b", p->height_pt - r->box.b);
    dl_json_add_text(b, "coord_origin", "BOTTOMLEFT");
    cJSON_AddItemToObject(o, "bbox", b);
    cJSON *cs = cJSON_AddArrayToObject(o, "charspan");
    cJSON_AddItemToArray(cs, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(cs, cJSON_CreateNumber((double)text_len));
    cJSON_AddItemToArray(a, o);
    return a;
}

static void add_child(cJSON *parent_node, const char *self_ref) {
    cJSON_AddItemToArray(cJSON_GetObjectItem(parent_node, "children"), ref(self_ref));
}

static cJSON *node_by_ref(dbuild *d, const char *r) {
    if (strcmp(r, "#/body") == 0) return d->body;
    if (strcmp(r, "#/furniture") == 0) return d->furniture;
    const char *k = strrchr(r, '/');
    int i = atoi(k + 1);
    if (strncmp(r, "#/groups/", 9) == 0) return cJSON_GetArrayItem(d->groups, i);
    if (strncmp(r, "#/texts/", 8) == 0) return cJSON_GetArrayItem(d->texts, i);
    if (strncmp(r, "#/pictures/", 11) == 0) return cJSON_GetArrayItem(d->pictures, i);
    return cJSON_GetArrayItem(d->tables, i);
}

static cJSON *new_node(cJSON *arr, const char *kind, char *self_ref, size_t n, const char *parent,
                       const char *layer) {
    snprintf(self_ref, n, "#/%s/%d", kind, cJSON_GetArraySize(arr));
    cJSON *o = cJSON_CreateObject();
    dl_json_add_text(o, "self_ref", self_ref);
    cJSON_AddItemToObject(o, "parent", ref(parent));
    cJSON_AddArrayToObject(o, "children");
    dl_json_add_text(o, "content_layer", layer);
    cJSON_AddItemToArray(arr, o);
    return o;
}

static void add_region(dbuild *d, const dl_page_out *p, const dl_region *r, const char *parent) {
    char self[64], pref[64];
    snprintf(pref, sizeof pref, "%s", parent);
    int lab = r->label;
    const char *layer =
        (lab == DL_LABEL_PAGE_HEADER || lab == DL_LABEL_PAGE_FOOTER) ? "furniture" : "body";
    if (strcmp(layer, "furniture") == 0 && strcmp(parent, "#/body") == 0)
        snprintf(pref, sizeof pref, "#/furniture");
    /* consecutive list items share a list group */
    if (lab == DL_LABEL_LIST_ITEM && strcmp(parent, "#/body") == 0) {
        if (!d->list_ref[0]) {
            cJSON *g =
                new_node(d->groups, "groups", d->list_ref, sizeof d->list_ref, "#/body", "body");
            dl_json_add_text(g, "name", "list");
            dl_json_add_text(g, "label", "list");
            add_child(d->body, d->list_ref);
        }
        snprintf(pref, sizeof pref, "%s", d->list_ref);
    } else if (strcmp(parent, "#/body") == 0) {
        d->list_ref[0] = '\0';
    }
    cJSON *o;
    if (lab == DL_LABEL_FORM || lab == DL_LABEL_KEY_VALUE_REGION) {
        o = new_node(d->groups, "groups", self, sizeof self, pref, layer);
        dl_json_add_text(o, "name", lab == DL_LABEL_FORM ? "form" : "key-value area");
        dl_json_add_text(o, "label", lab == DL_LABEL_FORM ? "form_area" : "key_value_area");
    } else if (lab == DL_LABEL_PICTURE || lab == DL_LABEL_TABLE || lab == DL_LABEL_DOCUMENT_INDEX) {
        int pic = lab == DL_LABEL_PICTURE;
        o = new_node(pic ? d->pictures : d->tables, pic ? "pictures" : "tables", self, sizeof self,
                     pref, layer);
        dl_json_add_text(o, "label", docling_value(lab));
        cJSON_AddItemToObject(o, "prov", prov(p, r, 0));
        cJSON_AddArrayToObject(o, "captions");
        cJSON_AddArrayToObject(o, "references");
        cJSON_AddArrayToObject(o, "footnotes");
        if (!pic) {
            cJSON *data = cJSON_AddObjectToObject(o, "data");
            cJSON_AddArrayToObject(data, "table_cells");
            cJSON_AddNumberToObject(data, "num_rows", 0);
            cJSON_AddNumberToObject(data, "num_cols", 0);
        }
        cJSON_AddArrayToObject(o, "annotations");
    } else {
        o = new_node(d->texts, "texts", self, sizeof self, pref, layer);
        char *t = dl_region_text(r, p->cells);
        dl_json_add_text(o, "label", docling_value(lab));
        /* charspan counts characters (code points), as Python's str in Docling does */
        cJSON_AddItemToObject(o, "prov", prov(p, r, t ? dl_utf8_count(t, strlen(t)) : 0));
        dl_json_add_text(o, "orig", t ? t : "");
        dl_json_add_text(o, "text", t ? t : "");
        free(t);
        if (lab == DL_LABEL_SECTION_HEADER) cJSON_AddNumberToObject(o, "level", 1);
        if (lab == DL_LABEL_LIST_ITEM) {
            cJSON_AddBoolToObject(o, "enumerated", 0);
            dl_json_add_text(o, "marker", "-");
        }
        if (lab == DL_LABEL_CODE) {
            cJSON_AddArrayToObject(o, "captions");
            cJSON_AddArrayToObject(o, "references");
            cJSON_AddArrayToObject(o, "footnotes");
            dl_json_add_text(o, "code_language", "unknown");
        }
    }
    add_child(node_by_ref(d, pref), self);
    /* children of pictures, forms and key-value areas become items under them (a table's
     * text belongs to its structure, which is not predicted here) */
    if (lab != DL_LABEL_TABLE && lab != DL_LABEL_DOCUMENT_INDEX)
        for (size_t k = 0; k < r->n_children; k++) add_region(d, p, &r->children[k], self);
}

/* The document's frame: everything but its pages' items. 0 on out of memory. */
static int docling_start(dbuild *dp, const char *source, const char *mimetype,
                         unsigned long long hash) {
    dbuild d = {0};
    d.root = cJSON_CreateObject();
    if (!d.root) return 0;
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    dl_json_add_text(d.root, "schema_name", "DoclingDocument");
    dl_json_add_text(d.root, "version", "1.10.0");
    dl_json_add_text(d.root, "name", name);
    cJSON *origin = cJSON_AddObjectToObject(d.root, "origin");
    dl_json_add_text(origin, "mimetype", mimetype);
    cJSON_AddNumberToObject(origin, "binary_hash", (double)(hash >> 11)); /* exact in a double */
    dl_json_add_text(origin, "filename", base);
    d.furniture = cJSON_AddObjectToObject(d.root, "furniture");
    dl_json_add_text(d.furniture, "self_ref", "#/furniture");
    cJSON_AddArrayToObject(d.furniture, "children");
    dl_json_add_text(d.furniture, "content_layer", "furniture");
    dl_json_add_text(d.furniture, "name", "_root_");
    dl_json_add_text(d.furniture, "label", "unspecified");
    d.body = cJSON_AddObjectToObject(d.root, "body");
    dl_json_add_text(d.body, "self_ref", "#/body");
    cJSON_AddArrayToObject(d.body, "children");
    dl_json_add_text(d.body, "content_layer", "body");
    dl_json_add_text(d.body, "name", "_root_");
    dl_json_add_text(d.body, "label", "unspecified");
    d.groups = cJSON_AddArrayToObject(d.root, "groups");
    d.texts = cJSON_AddArrayToObject(d.root, "texts");
    d.pictures = cJSON_AddArrayToObject(d.root, "pictures");
    d.tables = cJSON_AddArrayToObject(d.root, "tables");
    cJSON_AddArrayToObject(d.root, "key_value_items");
    cJSON_AddArrayToObject(d.root, "form_items");
    d.pages = cJSON_AddObjectToObject(d.root, "pages");
    *dp = d;
    return 1;
}

/* One page's items (a failed page adds none). */
static void docling_add_page(dbuild *dp, const dl_page_out *p) {
    dbuild d = *dp;
    cJSON *pg = d.pages;
    if (!p->error) {
        char key[16];
        snprintf(key, sizeof key, "%d", p->page_no);
        cJSON *po = cJSON_AddObjectToObject(pg, key);
        cJSON *sz = cJSON_AddObjectToObject(po, "size");
        cJSON_AddNumberToObject(sz, "width", p->width_pt);
        cJSON_AddNumberToObject(sz, "height", p->height_pt);
        cJSON_AddNumberToObject(po, "page_no", p->page_no);
        for (size_t k = 0; k < p->n_regions; k++) add_region(&d, p, &p->regions[k], "#/body");
    }
    *dp = d;
}

cJSON *dl_docling_document(const char *source, const char *mimetype, unsigned long long hash,
                           const dl_page_out *pages, size_t n) {
    dbuild d;
    if (!docling_start(&d, source, mimetype, hash)) return NULL;
    for (size_t i = 0; i < n; i++) docling_add_page(&d, &pages[i]);
    return d.root;
}

typedef struct docling_state {
    dbuild d;
    int open;   /* d holds a document */
    int n_docs; /* written to the current stream */
} docling_state;

static dl_status docling_begin(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    ((docling_state *)state)->n_docs = 0;
    return DL_OK;
}

static dl_status docling_doc_begin(void *state, dl_stream *out, const dl_sink_run *run,
                                   const dl_sink_doc *doc, dl_error *err) {
    docling_state *s = state;
    if (s->open) cJSON_Delete(s->d.root);
    s->open = docling_start(&s->d, doc->source, doc->mimetype, doc->hash);
    return s->open ? DL_OK : dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
}

static dl_status docling_page(void *state, dl_stream *out, const dl_sink_run *run,
                              const dl_sink_doc *doc, const dl_page_out *page, dl_image *image,
                              int only_page, dl_error *err) {
    docling_state *s = state;
    if (s->open) docling_add_page(&s->d, page);
    return DL_OK;
}

static dl_status docling_doc_end(void *state, dl_stream *out, const dl_sink_run *run,
                                 const dl_sink_doc *doc, dl_error *err) {
    docling_state *s = state;
    if (!s->open) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    int many = !run->per_document && run->n_inputs > 1; /* an array of documents */
    if (many) dl_stream_puts(out, s->n_docs ? ", " : "[");
    s->n_docs++;
    dl_stream_json(out, s->d.root, many ? 1 : 0);
    cJSON_Delete(s->d.root);
    s->open = 0;
    return DL_OK;
}

static dl_status docling_end(void *state, dl_stream *out, const dl_sink_run *run, dl_error *err) {
    docling_state *s = state;
    if (!run->per_document && run->n_inputs > 1) dl_stream_puts(out, s->n_docs ? "]" : "[]");
    dl_stream_puts(out, "\n");
    return DL_OK;
}

static void docling_discard(void *state) {
    docling_state *s = state;
    if (s->open) cJSON_Delete(s->d.root);
    s->open = 0;
}

const dl_output_format dl_output_docling = {
    .name = "docling",
    .extension = ".docling.json",
    .state_size = sizeof(docling_state),
    .begin = docling_begin,
    .doc_begin = docling_doc_begin,
    .page = docling_page,
    .doc_end = docling_doc_end,
    .end = docling_end,
    .discard = docling_discard,
};
