#include "output/documents.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "output/json_text.h"

static double round_to(double v, double scale) { return round(v * scale) / scale; }

char *dl_region_text(const dl_region *r, const dl_cells *cells) {
    size_t len = 1;
    for (size_t i = 0; cells && i < r->n_cells; i++) len += strlen(cells->items[r->cells[i]].text) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    *p = '\0';
    for (size_t i = 0; cells && i < r->n_cells; i++) {
        const char *t = cells->items[r->cells[i]].text;
        if (!*t) continue;
        if (p > s) {
            /* "exam-" + "ple" -> "example"; otherwise a space */
            if (p - s >= 2 && p[-1] == '-' && p[-2] >= 'a' && p[-2] <= 'z' && t[0] >= 'a' && t[0] <= 'z') p--;
            else *p++ = ' ';
        }
        size_t k = strlen(t);
        memcpy(p, t, k);
        p += k;
    }
    *p = '\0';
    return s;
}

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
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(box, cJSON_CreateNumber(round_to(p->raw[i].box[k], 1e3)));
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
        for (int k = 0; k < 4; k++) cJSON_AddItemToArray(box, cJSON_CreateNumber(round_to(b[k] * p->scale, 1e3)));
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
                for (int j = 0; j < 4; j++) cJSON_AddItemToArray(cb, cJSON_CreateNumber(round_to(q[j] * p->scale, 1e3)));
                cJSON_AddItemToArray(ch, e);
            }
        }
        cJSON_AddItemToArray(arr, d);
    }
    return o;
}

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

void dl_coco_add_page(cJSON *results, cJSON *images, int image_id, const dl_page_out *p) {
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
        if (images) cJSON_AddNumberToObject(d, "id", cJSON_GetArraySize(results) + 1);
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

/* ---- DoclingDocument ----------------------------------------------------------------------- */

static const char *docling_value(int label) {
    static const char *const v[DL_NUM_DOCLING_LABELS] = {
        "caption", "footnote", "formula", "list_item", "page_footer", "page_header", "picture",
        "section_header", "table", "text", "title", "document_index", "code",
        "checkbox_selected", "checkbox_unselected", "form", "key_value_region"};
    return label >= 0 && label < DL_NUM_DOCLING_LABELS ? v[label] : "text";
}

static cJSON *ref(const char *r) {
    cJSON *o = cJSON_CreateObject();
    dl_json_add_text(o, "$ref", r);
    return o;
}

typedef struct dbuild {
    cJSON *root, *body, *furniture, *groups, *texts, *pictures, *tables;
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
    const char *layer = (lab == DL_LABEL_PAGE_HEADER || lab == DL_LABEL_PAGE_FOOTER) ? "furniture" : "body";
    if (strcmp(layer, "furniture") == 0 && strcmp(parent, "#/body") == 0) snprintf(pref, sizeof pref, "#/furniture");
    /* consecutive list items share a list group */
    if (lab == DL_LABEL_LIST_ITEM && strcmp(parent, "#/body") == 0) {
        if (!d->list_ref[0]) {
            cJSON *g = new_node(d->groups, "groups", d->list_ref, sizeof d->list_ref, "#/body", "body");
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
        o = new_node(pic ? d->pictures : d->tables, pic ? "pictures" : "tables", self, sizeof self, pref, layer);
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

cJSON *dl_docling_document(const char *source, const char *mimetype, unsigned long long hash,
                           const dl_page_out *pages, size_t n) {
    dbuild d = {0};
    d.root = cJSON_CreateObject();
    if (!d.root) return NULL;
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
    cJSON *pg = cJSON_AddObjectToObject(d.root, "pages");
    for (size_t i = 0; i < n; i++) {
        const dl_page_out *p = &pages[i];
        if (p->error) continue;
        char key[16];
        snprintf(key, sizeof key, "%d", p->page_no);
        cJSON *po = cJSON_AddObjectToObject(pg, key);
        cJSON *sz = cJSON_AddObjectToObject(po, "size");
        cJSON_AddNumberToObject(sz, "width", p->width_pt);
        cJSON_AddNumberToObject(sz, "height", p->height_pt);
        cJSON_AddNumberToObject(po, "page_no", p->page_no);
        for (size_t k = 0; k < p->n_regions; k++) add_region(&d, p, &p->regions[k], "#/body");
    }
    return d.root;
}

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
    case DL_LABEL_TITLE: sb_add(b, "# "); sb_add(b, text); sb_add(b, "\n\n"); break;
    case DL_LABEL_SECTION_HEADER: sb_add(b, "## "); sb_add(b, text); sb_add(b, "\n\n"); break;
    case DL_LABEL_LIST_ITEM: sb_add(b, "- "); sb_add(b, text); sb_add(b, "\n"); *in_list = 1; break;
    case DL_LABEL_PICTURE: sb_add(b, "<!-- image -->\n\n"); break;
    case DL_LABEL_TABLE: case DL_LABEL_DOCUMENT_INDEX: sb_add(b, "<!-- table -->\n\n"); break;
    case DL_LABEL_CODE: sb_add(b, "```\n"); sb_add(b, text); sb_add(b, "\n```\n\n"); break;
    case DL_LABEL_FORMULA:
        if (*text) { sb_add(b, "$$"); sb_add(b, text); sb_add(b, "$$\n\n"); }
        else sb_add(b, "<!-- formula-not-decoded -->\n\n");
        break;
    case DL_LABEL_FORM: case DL_LABEL_KEY_VALUE_REGION:
        for (size_t k = 0; k < r->n_children; k++) md_region(b, p, &r->children[k], in_list);
        break;
    default:
        if (*text) { sb_add(b, text); sb_add(b, "\n\n"); }
    }
    free(t);
}

char *dl_markdown_document(const dl_page_out *pages, size_t n) {
    sbuf b = {0};
    sb_add(&b, "");
    int in_list = 0;
    for (size_t i = 0; i < n; i++) {
        const dl_page_out *p = &pages[i];
        if (p->error) {
            char e[1200];
            snprintf(e, sizeof e, "<!-- page %d failed: %s -->\n\n", p->page_no, p->error);
            sb_add(&b, e);
            continue;
        }
        for (size_t k = 0; k < p->n_regions; k++) md_region(&b, p, &p->regions[k], &in_list);
    }
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
