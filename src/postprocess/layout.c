/* Docling's layout post-processor: see layout.h. */
#include "postprocess/layout.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

dl_layout_options dl_layout_default_options(void) {
    dl_layout_options o = {0, 0, 1};
    return o;
}

double dl_layout_label_threshold(int label) {
    switch (label) {
    case DL_LABEL_SECTION_HEADER:
    case DL_LABEL_TITLE:
    case DL_LABEL_CODE:
    case DL_LABEL_CHECKBOX_SELECTED:
    case DL_LABEL_CHECKBOX_UNSELECTED:
    case DL_LABEL_FORM:
    case DL_LABEL_KEY_VALUE_REGION:
    case DL_LABEL_DOCUMENT_INDEX: return 0.45;
    default: return 0.5;
    }
}

static int is_wrapper(int label) {
    return label == DL_LABEL_FORM || label == DL_LABEL_KEY_VALUE_REGION ||
           label == DL_LABEL_TABLE || label == DL_LABEL_DOCUMENT_INDEX;
}
int dl_layout_is_special(int label) { return is_wrapper(label) || label == DL_LABEL_PICTURE; }

double dl_box_area(dl_box b) { return (b.r - b.l) * (b.b - b.t); }
double dl_box_intersection(dl_box a, dl_box b) {
    double w = fmin(a.r, b.r) - fmax(a.l, b.l), h = fmin(a.b, b.b) - fmax(a.t, b.t);
    return w > 0 && h > 0 ? w * h : 0.0;
}
double dl_box_iou(dl_box a, dl_box b) {
    double i = dl_box_intersection(a, b), u = dl_box_area(a) + dl_box_area(b) - i;
    return u > 0 ? i / u : 0.0;
}
double dl_box_ios(dl_box a, dl_box b) {
    double area = dl_box_area(a);
    return area > 0 ? dl_box_intersection(a, b) / area : 0.0;
}

/* ---- working clusters -------------------------------------------------------------------- */

typedef struct ilist {
    int *v;
    size_t n, cap;
} ilist;

static int il_push(ilist *l, int x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        int *p = realloc(l->v, cap * sizeof *p);
        if (!p) return 0;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 1;
}

typedef struct wcluster {
    int id, label, source;
    double conf;
    dl_box bbox;
    ilist cells; /* cell indices */
    ilist kids;  /* pool indices of children */
} wcluster;

typedef struct ctx {
    wcluster *pool;
    size_t n_pool, cap_pool;
    const dl_cells *cells;
    int oom;
    int max_id;
} ctx;

static int new_cluster(ctx *c, int id, int label, double conf, dl_box box, int source) {
    if (c->n_pool == c->cap_pool) {
        size_t cap = c->cap_pool ? c->cap_pool * 2 : 64;
        wcluster *p = realloc(c->pool, cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return -1;
        }
        c->pool = p;
        c->cap_pool = cap;
    }
    wcluster *w = &c->pool[c->n_pool];
    memset(w, 0, sizeof *w);
    w->id = id;
    w->label = label;
    w->conf = conf;
    w->bbox = box;
    w->source = source;
    if (id > c->max_id) c->max_id = id;
    return (int)c->n_pool++;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Deduplicate keeping the first appearance, then sort ascending (sort alone is enough). */
static void dedupe_sort(ilist *l) {
    if (l->n < 2) return;
    qsort(l->v, l->n, sizeof *l->v, cmp_int);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++)
        if (l->v[i] != l->v[k - 1]) l->v[k++] = l->v[i];
    l->n = k;
}

static int has_text(const char *s) {
    for (; s && *s; s++)
        if (!(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v'))
            return 1;
    return 0;
}

/* code points of the stripped text (Python's len(text.strip())) */
static size_t stripped_len(const char *s) {
    if (!s) return 0;
    size_t a = 0, e = strlen(s);
    while (a < e && strchr(" \t\n\r\f\v", s[a])) a++;
    while (e > a && strchr(" \t\n\r\f\v", s[e - 1])) e--;
    size_t n = 0;
    for (size_t i = a; i < e; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- Docling's candidate search: R-tree intersection plus the interval lists ------------- */

typedef struct ival {
    double lo, hi;
    int id;
} ival;

typedef struct sindex {
    int *ids;
    dl_box *boxes;
    size_t n;
    ival *x, *y; /* sorted by lo, stable (bisect.insort) */
} sindex;

static int cmp_ival(const void *a, const void *b) {
    const ival *p = a, *q = b;
    if (p->lo < q->lo) return -1;
    if (p->lo > q->lo) return 1;
    return (p->id > q->id) - (p->id < q->id); /* ids grow with insertion order */
}

static int sindex_build(sindex *s, const ctx *c, const int *members, size_t n) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->ids = malloc((n ? n : 1) * sizeof *s->ids);
    s->boxes = malloc((n ? n : 1) * sizeof *s->boxes);
    s->x = malloc((n ? n : 1) * sizeof *s->x);
    s->y = malloc((n ? n : 1) * sizeof *s->y);
    if (!s->ids || !s->boxes || !s->x || !s->y) return 0;
    for (size_t i = 0; i < n; i++) {
        const wcluster *w = &c->pool[members[i]];
        s->ids[i] = w->id;
        s->boxes[i] = w->bbox;
        s->x[i] = (ival){w->bbox.l, w->bbox.r, w->id};
        s->y[i] = (ival){w->bbox.t, w->bbox.b, w->id};
    }
    qsort(s->x, n, sizeof *s->x, cmp_ival);
    qsort(s->y, n, sizeof *s->y, cmp_ival);
    return 1;
}

static void sindex_free(sindex *s) {
    free(s->ids);
    free(s->boxes);
    free(s->x);
    free(s->y);
}

/* IntervalTree.find_containing, including its early stops. */
static void find_containing(const ival *v, size_t n, double p, unsigned char *mark) {
    size_t lo = 0, hi = n;
    while (lo < hi) { /* bisect_left: first lo >= p */
        size_t mid = (lo + hi) / 2;
        if (v[mid].lo < p) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i-- > 0;) {
        if (v[i].lo <= p && p <= v[i].hi) mark[v[i].id] = 1;
        else break;
    }
    for (size_t i = lo; i < n; i++) {
        if (p <= v[i].hi) {
            if (v[i].lo <= p) mark[v[i].id] = 1;
        } else break;
    }
}

static void find_candidates(const sindex *s, dl_box b, unsigned char *mark) {
    for (size_t i = 0; i < s->n; i++) {
        dl_box e = s->boxes[i];
        if (e.l <= b.r && e.r >= b.l && e.t <= b.b && e.b >= b.t) mark[s->ids[i]] = 1;
    }
    find_containing(s->x, s->n, b.l, mark);
    find_containing(s->x, s->n, b.r, mark);
    find_containing(s->y, s->n, b.t, mark);
    find_containing(s->y, s->n, b.b, mark);
}

static int check_overlap(dl_box a, dl_box b) {
    if (dl_box_area(a) <= 0 || dl_box_area(b) <= 0) return 0;
    return dl_box_iou(a, b) > 0.8 || dl_box_ios(a, b) > 0.8 || dl_box_ios(b, a) > 0.8;
}

/* ---- overlap removal --------------------------------------------------------------------- */

typedef struct params {
    double area, conf;
} params;
static const params P_REGULAR = {1.3, 0.05}, P_PICTURE = {2.0, 0.3}, P_WRAPPER = {2.0, 0.2};

static int prefer(const wcluster *cand, const wcluster *other, params p) {
    if (cand->label == DL_LABEL_LIST_ITEM && other->label == DL_LABEL_TEXT) {
        double ratio = dl_box_area(cand->bbox) / dl_box_area(other->bbox);
        if (fabs(1 - ratio) < 0.2) return 1;
    }
    if (cand->label == DL_LABEL_CODE && dl_box_ios(other->bbox, cand->bbox) > 0.8) return 1;
    double ratio = dl_box_area(cand->bbox) / dl_box_area(other->bbox);
    double diff = other->conf - cand->conf;
    if (ratio <= p.area && diff > p.conf) return 0;
    return 1;
}

static int uf_find(int *parent, int x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* clusters: pool indices (in order); rewritten in place, returns the new count. */
static size_t remove_overlaps(ctx *c, int *list, size_t n, const sindex *idx, params p) {
    if (n == 0) return 0;
    size_t nid = (size_t)c->max_id + 1;
    int *pos = malloc(nid * sizeof *pos); /* id -> position in list, -1 if not valid */
    unsigned char *mark = calloc(nid, 1);
    int *parent = malloc(n * sizeof *parent), *rank = calloc(n, sizeof *rank);
    int *root_group = malloc(n * sizeof *root_group), *out = malloc(n * sizeof *out);
    int *members = malloc(n * sizeof *members);
    if (!pos || !mark || !parent || !rank || !root_group || !out || !members) {
        c->oom = 1;
        n = 0;
        goto done;
    }
    for (size_t i = 0; i < nid; i++) pos[i] = -1;
    for (size_t i = 0; i < n; i++) {
        pos[c->pool[list[i]].id] = (int)i;
        parent[i] = (int)i;
    }
    for (size_t i = 0; i < n; i++) {
        const wcluster *a = &c->pool[list[i]];
        memset(mark, 0, nid);
        find_candidates(idx, a->bbox, mark);
        for (size_t id = 0; id < nid; id++) {
            if (!mark[id] || pos[id] < 0 || (int)id == a->id) continue;
            int j = pos[id];
            if (!check_overlap(a->bbox, c->pool[list[j]].bbox)) continue;
            int ra = uf_find(parent, (int)i), rb = uf_find(parent, j);
            if (ra == rb) continue;
            if (rank[ra] > rank[rb]) parent[rb] = ra;
            else if (rank[ra] < rank[rb]) parent[ra] = rb;
            else {
                parent[rb] = ra;
                rank[ra]++;
            }
        }
    }
    /* groups in order of their first member; members in list order */
    for (size_t i = 0; i < n; i++) root_group[i] = -1;
    size_t n_out = 0;
    for (size_t i = 0; i < n; i++) {
        int r = uf_find(parent, (int)i);
        if (root_group[r] >= 0) continue;
        root_group[r] = 1;
        size_t m = 0;
        for (size_t k = i; k < n; k++)
            if (uf_find(parent, (int)k) == r) members[m++] = list[k];
        if (m == 1) {
            out[n_out++] = members[0];
            continue;
        }
        int best = -1;
        for (size_t a = 0; a < m; a++) {
            const wcluster *cand = &c->pool[members[a]];
            int ok = 1;
            for (size_t b = 0; b < m && ok; b++)
                if (b != a && !prefer(cand, &c->pool[members[b]], p)) ok = 0;
            if (!ok) continue;
            if (best < 0) best = members[a];
            else {
                const wcluster *cur = &c->pool[best];
                if (dl_box_area(cand->bbox) > dl_box_area(cur->bbox) &&
                    cur->conf - cand->conf <= p.conf)
                    best = members[a];
            }
        }
        if (best < 0) best = members[0];
        wcluster *w = &c->pool[best];
        for (size_t a = 0; a < m; a++) {
            if (members[a] == best) continue;
            const ilist *cl = &c->pool[members[a]].cells;
            for (size_t k = 0; k < cl->n; k++)
                if (!il_push(&w->cells, cl->v[k])) c->oom = 1;
        }
        dedupe_sort(&w->cells);
        out[n_out++] = best;
    }
    memcpy(list, out, n_out * sizeof *list);
    n = n_out;
done:
    free(pos);
    free(mark);
    free(parent);
    free(rank);
    free(root_group);
    free(out);
    free(members);
    return n;
}

/* ---- ordering ---------------------------------------------------------------------------- */

static int min_cell(const wcluster *w) {
    int m = INT_MAX;
    for (size_t i = 0; i < w->cells.n; i++)
        if (w->cells.v[i] < m) m = w->cells.v[i];
    return m;
}

static int key_less(const ctx *c, int a, int b) {
    const wcluster *x = &c->pool[a], *y = &c->pool[b];
    int ma = min_cell(x), mb = min_cell(y);
    if (ma != mb) return ma < mb;
    if (x->bbox.t != y->bbox.t) return x->bbox.t < y->bbox.t;
    return x->bbox.l < y->bbox.l;
}

/* Stable sort by (min cell index, t, l), as Python's sorted(). */
static void sort_by_id(const ctx *c, int *v, size_t n) {
    for (size_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        int x = v[i];
        size_t j = i;
        while (j > 0 && key_less(c, x, v[j - 1])) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* ---- the pipeline ------------------------------------------------------------------------ */

static void assign_cells(ctx *c, const int *list, size_t n) {
    for (size_t i = 0; i < n; i++) c->pool[list[i]].cells.n = 0;
    const dl_cells *cells = c->cells;
    for (size_t k = 0; cells && k < cells->n; k++) {
        const dl_cell *cell = &cells->items[k];
        if (!has_text(cell->text)) continue;
        if (dl_box_area(cell->box) <= 0) continue;
        double best = 0.2;
        int bi = -1;
        for (size_t i = 0; i < n; i++) {
            double r = dl_box_ios(cell->box, c->pool[list[i]].bbox);
            if (r > best) {
                best = r;
                bi = list[i];
            }
        }
        if (bi >= 0 && !il_push(&c->pool[bi].cells, cell->index)) c->oom = 1;
    }
    for (size_t i = 0; i < n; i++) dedupe_sort(&c->pool[list[i]].cells);
}

static void adjust_bboxes(ctx *c, const int *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        wcluster *w = &c->pool[list[i]];
        if (!w->cells.n) continue;
        dl_box u = {INFINITY, INFINITY, -INFINITY, -INFINITY};
        for (size_t k = 0; k < w->cells.n; k++) {
            dl_box b = c->cells->items[w->cells.v[k]].box;
            u.l = fmin(u.l, b.l);
            u.t = fmin(u.t, b.t);
            u.r = fmax(u.r, b.r);
            u.b = fmax(u.b, b.b);
        }
        if (w->label == DL_LABEL_TABLE) {
            u.l = fmin(u.l, w->bbox.l);
            u.t = fmin(u.t, w->bbox.t);
            u.r = fmax(u.r, w->bbox.r);
            u.b = fmax(u.b, w->bbox.b);
        }
        w->bbox = u;
    }
}

static int copy_region(const ctx *c, int pi, dl_region *r) {
    const wcluster *w = &c->pool[pi];
    memset(r, 0, sizeof *r);
    r->label = w->label;
    r->confidence = (float)w->conf;
    r->box = w->bbox;
    r->source = w->source;
    if (w->cells.n) {
        r->cells = malloc(w->cells.n * sizeof *r->cells);
        if (!r->cells) return 0;
        memcpy(r->cells, w->cells.v, w->cells.n * sizeof *r->cells);
        qsort(r->cells, w->cells.n, sizeof *r->cells, cmp_int);
        r->n_cells = w->cells.n;
    }
    if (w->kids.n) {
        r->children = calloc(w->kids.n, sizeof *r->children);
        if (!r->children) return 0;
        r->n_children = w->kids.n;
        for (size_t k = 0; k < w->kids.n; k++)
            if (!copy_region(c, w->kids.v[k], &r->children[k])) return 0;
    }
    return 1;
}

static void free_region(dl_region *r) {
    for (size_t k = 0; k < r->n_children; k++) free_region(&r->children[k]);
    free(r->children);
    free(r->cells);
}

void dl_layout_free(dl_layout *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free_region(&l->regions[i]);
    free(l->regions);
    memset(l, 0, sizeof *l);
}

dl_status dl_layout_postprocess(const dl_cluster_in *in, size_t n, const dl_cells *cells,
                                double page_w, double page_h, const dl_layout_options *opt,
                                dl_layout *out, dl_error *err) {
    if (!out || (!in && n))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_layout_postprocess: NULL");
    memset(out, 0, sizeof *out);
    dl_layout_options o = opt ? *opt : dl_layout_default_options();
    dl_cells none = {0};
    ctx c = {0};
    c.cells = cells ? cells : &none;
    size_t n_cells = c.cells->n;
    for (size_t j = 0; j < n_cells; j++)
        if (c.cells->items[j].index != (int)j)
            return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                           "cell %zu has index %d: cells must be indexed by position", j,
                           c.cells->items[j].index);
    size_t cap = n + n_cells + 1;
    int *reg = malloc(cap * sizeof *reg), *spec = malloc(cap * sizeof *spec);
    int *all_reg = malloc(cap * sizeof *all_reg), *pics = malloc(cap * sizeof *pics);
    int *wraps = malloc(cap * sizeof *wraps), *fin = malloc(cap * sizeof *fin);
    unsigned char *assigned = calloc(n_cells + 1, 1);
    sindex ireg = {0}, ipic = {0}, iwrap = {0};
    dl_status s = DL_OK;
    if (!reg || !spec || !all_reg || !pics || !wraps || !fin || !assigned) {
        c.oom = 1;
        goto done;
    }
    size_t n_all_reg = 0, n_pics = 0, n_wraps = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].label < 0 || in[i].label >= DL_NUM_DOCLING_LABELS) {
            s = dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                        "cluster %zu has label id %d, not a Docling label", i, in[i].label);
            goto done;
        }
        int pi = new_cluster(&c, (int)i, in[i].label, (double)in[i].confidence, in[i].box, (int)i);
        if (pi < 0) goto done;
        if (!dl_layout_is_special(in[i].label)) all_reg[n_all_reg++] = pi;
        else if (in[i].label == DL_LABEL_PICTURE) pics[n_pics++] = pi;
        else wraps[n_wraps++] = pi;
    }
    if (!sindex_build(&ireg, &c, all_reg, n_all_reg) || !sindex_build(&ipic, &c, pics, n_pics) ||
        !sindex_build(&iwrap, &c, wraps, n_wraps)) {
        c.oom = 1;
        goto done;
    }

    /* regular clusters */
    size_t nr = 0;
    for (size_t i = 0; i < n_all_reg; i++) {
        wcluster *w = &c.pool[all_reg[i]];
        if (w->conf >= dl_layout_label_threshold(w->label)) {
            if (w->label == DL_LABEL_TITLE) w->label = DL_LABEL_SECTION_HEADER;
            reg[nr++] = all_reg[i];
        }
    }
    if (!o.skip_cell_assignment) {
        assign_cells(&c, reg, nr);
        if (!o.keep_empty_clusters) {
            size_t k = 0;
            for (size_t i = 0; i < nr; i++)
                if (c.pool[reg[i]].cells.n || c.pool[reg[i]].label == DL_LABEL_FORMULA)
                    reg[k++] = reg[i];
            nr = k;
        }
        for (size_t i = 0; i < nr; i++)
            for (size_t k = 0; k < c.pool[reg[i]].cells.n; k++)
                assigned[c.pool[reg[i]].cells.v[k]] = 1;
        if (o.create_orphan_clusters) {
            int next_id = (int)(n ? n : 0) + (n ? 0 : 1); /* max(id) + 1, or 1 with no clusters */
            int k = 0;
            for (size_t j = 0; j < n_cells; j++) {
                const dl_cell *cell = &c.cells->items[j];
                if (assigned[cell->index] || !has_text(cell->text)) continue;
                int pi = new_cluster(&c, next_id + k++, DL_LABEL_TEXT, (double)cell->confidence,
                                     cell->box, -1);
                if (pi < 0 || !il_push(&c.pool[pi].cells, cell->index)) {
                    c.oom = 1;
                    goto done;
                }
                reg[nr++] = pi;
            }
        }
    }
    size_t prev = nr + 1;
    for (int it = 0; it < 3 && prev != nr; it++) {
        prev = nr;
        adjust_bboxes(&c, reg, nr);
        nr = remove_overlaps(&c, reg, nr, &ireg, P_REGULAR);
        if (c.oom) goto done;
    }

    /* special clusters */
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        wcluster *w = &c.pool[i];
        if (dl_layout_is_special(w->label) && w->conf >= dl_layout_label_threshold(w->label))
            spec[ns++] = (int)i;
    }
    { /* a picture that nearly coincides with a table goes */
        size_t k = 0;
        for (size_t i = 0; i < ns; i++) {
            const wcluster *w = &c.pool[spec[i]];
            int drop = 0;
            if (w->label == DL_LABEL_PICTURE)
                for (size_t j = 0; j < ns && !drop; j++)
                    drop = c.pool[spec[j]].label == DL_LABEL_TABLE &&
                           dl_box_iou(w->bbox, c.pool[spec[j]].bbox) > 0.8;
            if (!drop) spec[k++] = spec[i];
        }
        ns = k;
    }
    if (page_w > 0 && page_h > page_w) { /* content-container pictures on portrait pages */
        size_t total = 0;
        for (size_t j = 0; j < n_cells; j++)
            if (!c.cells->items[j].from_ocr && has_text(c.cells->items[j].text))
                total += stripped_len(c.cells->items[j].text);
        if (total >= 200) {
            unsigned char *drop = calloc(ns + 1, 1);
            if (!drop) {
                c.oom = 1;
                goto done;
            }
            for (size_t i = 0; i < ns; i++) {
                const wcluster *pic = &c.pool[spec[i]];
                double pa = dl_box_area(pic->bbox);
                if (pic->label != DL_LABEL_PICTURE || pa <= 0) continue;
                double pw = pic->bbox.r - pic->bbox.l, ph = pic->bbox.b - pic->bbox.t;
                if (pw <= ph || pw / page_w < 0.8) continue;
                int nested = 0;
                for (size_t j = 0; j < ns && !nested; j++) {
                    const wcluster *q = &c.pool[spec[j]];
                    if (q->label != DL_LABEL_PICTURE || dl_box_area(q->bbox) <= 0 ||
                        q->id == pic->id)
                        continue;
                    nested =
                        dl_box_area(q->bbox) / pa < 0.8 && dl_box_ios(q->bbox, pic->bbox) > 0.8;
                }
                if (!nested) continue;
                size_t inside = 0;
                for (size_t j = 0; j < n_cells; j++) {
                    const dl_cell *cell = &c.cells->items[j];
                    if (!cell->from_ocr && has_text(cell->text) &&
                        dl_box_ios(cell->box, pic->bbox) > 0.8)
                        inside += stripped_len(cell->text);
                }
                if ((double)inside / (double)total >= 0.8) drop[i] = 1;
            }
            size_t k = 0;
            for (size_t i = 0; i < ns; i++)
                if (!drop[i]) spec[k++] = spec[i];
            ns = k;
            free(drop);
        }
    }
    double page_area = page_w * page_h;
    if (page_area > 0) {
        size_t k = 0;
        for (size_t i = 0; i < ns; i++) {
            const wcluster *w = &c.pool[spec[i]];
            if (!(w->label == DL_LABEL_PICTURE && dl_box_area(w->bbox) / page_area > 0.90))
                spec[k++] = spec[i];
        }
        ns = k;
    }
    for (size_t i = 0; i < ns; i++) {
        wcluster *sp = &c.pool[spec[i]];
        ilist kids = {0};
        for (size_t j = 0; j < nr; j++)
            if (dl_box_ios(c.pool[reg[j]].bbox, sp->bbox) > 0.8 && !il_push(&kids, reg[j]))
                c.oom = 1;
        if (!kids.n) {
            free(kids.v);
            continue;
        }
        sort_by_id(&c, kids.v, kids.n);
        sp = &c.pool[spec[i]];
        free(sp->kids.v);
        sp->kids = kids;
        if (sp->label == DL_LABEL_FORM || sp->label == DL_LABEL_KEY_VALUE_REGION) {
            dl_box u = c.pool[kids.v[0]].bbox;
            for (size_t k = 1; k < kids.n; k++) {
                dl_box b = c.pool[kids.v[k]].bbox;
                u.l = fmin(u.l, b.l);
                u.t = fmin(u.t, b.t);
                u.r = fmax(u.r, b.r);
                u.b = fmax(u.b, b.b);
            }
            sp->bbox = u;
        }
        sp->cells.n = 0;
        if (!o.skip_cell_assignment) {
            for (size_t k = 0; k < kids.n; k++) {
                const ilist *cl = &c.pool[kids.v[k]].cells;
                for (size_t q = 0; q < cl->n; q++)
                    if (!il_push(&sp->cells, cl->v[q])) c.oom = 1;
            }
            dedupe_sort(&sp->cells);
        }
    }
    n_pics = n_wraps = 0;
    for (size_t i = 0; i < ns; i++) {
        if (c.pool[spec[i]].label == DL_LABEL_PICTURE) pics[n_pics++] = spec[i];
        else wraps[n_wraps++] = spec[i];
    }
    n_pics = remove_overlaps(&c, pics, n_pics, &ipic, P_PICTURE);
    n_wraps = remove_overlaps(&c, wraps, n_wraps, &iwrap, P_WRAPPER);
    if (c.oom) goto done;

    /* regular clusters that became children leave the top level; final order */
    size_t nf = 0;
    for (size_t i = 0; i < nr; i++) {
        int child = 0;
        for (size_t j = 0; j < n_pics + n_wraps && !child; j++) {
            const wcluster *sp = &c.pool[j < n_pics ? pics[j] : wraps[j - n_pics]];
            for (size_t k = 0; k < sp->kids.n && !child; k++)
                child = c.pool[sp->kids.v[k]].id == c.pool[reg[i]].id;
        }
        if (!child) fin[nf++] = reg[i];
    }
    for (size_t i = 0; i < n_pics; i++) fin[nf++] = pics[i];
    for (size_t i = 0; i < n_wraps; i++) fin[nf++] = wraps[i];
    sort_by_id(&c, fin, nf);
    out->regions = calloc(nf ? nf : 1, sizeof *out->regions);
    if (!out->regions) {
        c.oom = 1;
        goto done;
    }
    out->n = nf;
    for (size_t i = 0; i < nf; i++)
        if (!copy_region(&c, fin[i], &out->regions[i])) c.oom = 1;
done:
    if (c.oom && s == DL_OK)
        s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory in the layout post-processor");
    if (s != DL_OK) dl_layout_free(out);
    for (size_t i = 0; i < c.n_pool; i++) {
        free(c.pool[i].cells.v);
        free(c.pool[i].kids.v);
    }
    free(c.pool);
    free(reg);
    free(spec);
    free(all_reg);
    free(pics);
    free(wraps);
    free(fin);
    free(assigned);
    sindex_free(&ireg);
    sindex_free(&ipic);
    sindex_free(&iwrap);
    return s;
}
