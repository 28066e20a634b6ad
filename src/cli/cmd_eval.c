/* `doclayout eval`: reading COCO ground truth and detections (a COCO results list or
 * doclayout's detect JSON), class mapping, the metric (eval/coco_eval.c), and the report
 * (table or JSON). It prints, so it lives in the CLI, not the library. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "doclayout.h"

static const char *eval_usage =
    "Usage: %s [options] GT.json DETECTIONS.json\n"
    "  COCO-style box evaluation with pycocotools' semantics (IoU .50:.05:.95, 101-point\n"
    "  interpolated AP, maxDets 1/10/100, area ranges small/medium/large).\n"
    "  GT.json: COCO ground truth (images, annotations with bbox [x,y,w,h], categories).\n"
    "  DETECTIONS.json: a COCO results list [{image_id, category_id, bbox, score}], or the\n"
    "  output of `doclayout detect` ({\"pages\": [{\"source\", \"detections\": [{\"label\",\n"
    "  \"label_id\", \"score\", \"box\": [x0,y0,x1,y1]}]}]}), pages matched to the ground-truth\n"
    "  images by file name (without directories).\n"
    "Options:\n"
    "  --gt-map SPEC    rename ground-truth categories: 'publaynet' (text=Text, "
    "title=Section-header,\n"
    "                   list=none, table=Table, figure=Picture) or 'a=B,c=none,...' (none: "
    "dropped)\n"
    "  --dt-map SPEC    the same for detection labels (default: --gt-map for COCO results lists)\n"
    "  --max-dets N     the largest maxDets (default 100)\n"
    "  --json           print the results as JSON\n"
    "  -o FILE          write the report to FILE\n"
    "When every category name is a Docling label (after mapping), categories are Docling's 17\n"
    "labels with heron's ids 0..16, matched by name. Crowd ground truth (iscrowd) is ignored as\n"
    "pycocotools does. Exit status: 0 ok, 1 error, 2 usage.\n";

/* ---- class maps ---- */

typedef struct map_pair {
    char from[64], to[64];
} map_pair;

typedef struct class_map {
    map_pair *pairs;
    int n;
} class_map;

static void norm_name(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) {
        char c = in[i];
        out[i] = (c == '-' || c == ' ') ? '_' : (char)tolower((unsigned char)c);
    }
    out[i] = '\0';
}

static int names_equal(const char *a, const char *b) {
    char x[64], y[64];
    norm_name(a, x, sizeof x);
    norm_name(b, y, sizeof y);
    return strcmp(x, y) == 0;
}

static int parse_map(const char *spec, class_map *m) {
    if (strcmp(spec, "publaynet") == 0)
        spec = "text=Text,title=Section-header,list=none,table=Table,figure=Picture";
    const char *s = spec;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq || eq == s || (size_t)(eq - s) >= 64 || len - (size_t)(eq - s) - 1 >= 64 ||
            len - (size_t)(eq - s) - 1 == 0)
            return -1;
        map_pair *np = realloc(m->pairs, (size_t)(m->n + 1) * sizeof *np);
        if (!np) return -1;
        m->pairs = np;
        map_pair *p = &m->pairs[m->n++];
        memcpy(p->from, s, (size_t)(eq - s));
        p->from[eq - s] = '\0';
        memcpy(p->to, eq + 1, len - (size_t)(eq - s) - 1);
        p->to[len - (size_t)(eq - s) - 1] = '\0';
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

/* The name after mapping (NULL: dropped). Names without a rule pass unchanged. */
static const char *apply_map(const class_map *m, const char *name) {
    if (!m || !name) return name;
    for (int i = 0; i < m->n; i++)
        if (names_equal(m->pairs[i].from, name))
            return strcmp(m->pairs[i].to, "none") == 0 ? NULL : m->pairs[i].to;
    return name;
}

/* ---- the evaluation problem being built ---- */

typedef struct image_rec {
    double id;
    const char *file; /* base name, points into the GT JSON */
} image_rec;

typedef struct problem {
    image_rec *images;
    int n_images;
    int docling; /* category space = Docling's labels */
    char (*cat_names)[64];
    int n_cats;
    dl_eval_box *gt, *dt;
    size_t n_gt, n_dt, cap_dt;
    size_t dropped_dt, unmatched_pages;
} problem;

static int cmp_image(const void *a, const void *b) {
    double x = ((const image_rec *)a)->id, y = ((const image_rec *)b)->id;
    return x < y ? -1 : x > y;
}

static int find_image(const problem *p, double id) {
    int lo = 0, hi = p->n_images - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (p->images[mid].id == id) return mid;
        if (p->images[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int find_image_by_name(const problem *p, const char *path) {
    const char *b = base_name(path);
    for (int i = 0; i < p->n_images; i++)
        if (p->images[i].file && strcmp(p->images[i].file, b) == 0) return i;
    return -1;
}

/* Category index of a (mapped) name, or -1. */
static int resolve_category(const problem *p, const char *name) {
    if (!name) return -1;
    if (p->docling) return dl_docling_label_from_string(name);
    for (int i = 0; i < p->n_cats; i++)
        if (names_equal(p->cat_names[i], name)) return i;
    return -1;
}

static int add_dt(problem *p, int image, int cat, const double bbox[4], double score) {
    if (p->n_dt == p->cap_dt) {
        size_t nc = p->cap_dt ? 2 * p->cap_dt : 1024;
        dl_eval_box *nd = realloc(p->dt, nc * sizeof *nd);
        if (!nd) return -1;
        p->dt = nd;
        p->cap_dt = nc;
    }
    dl_eval_box *b = &p->dt[p->n_dt++];
    memset(b, 0, sizeof *b);
    b->image = image;
    b->category = cat;
    memcpy(b->bbox, bbox, sizeof b->bbox);
    b->area = bbox[2] * bbox[3];
    b->score = score;
    return 0;
}

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "eval: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j) fprintf(stderr, "eval: %s is not valid JSON\n", path);
    return j;
}

static int get_bbox(const cJSON *arr, double out[4]) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != 4) return -1;
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsNumber(v)) return -1;
        out[i] = v->valuedouble;
    }
    return 0;
}

/* GT category id -> index in the evaluation space (-1 dropped), and names. */
typedef struct gt_cat {
    double id;
    const char *name;
    int index;
} gt_cat;

static int load_gt(problem *p, const cJSON *gt, const class_map *gmap, gt_cat **cats_out,
                   int *n_cats_out) {
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(gt, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(gt, "annotations");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(gt, "categories");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns) || !cJSON_IsArray(cats)) {
        fprintf(stderr, "eval: ground truth needs \"images\", \"annotations\", \"categories\"\n");
        return -1;
    }
    p->n_images = cJSON_GetArraySize(images);
    p->images = calloc((size_t)p->n_images + 1, sizeof *p->images);
    int nc = cJSON_GetArraySize(cats);
    gt_cat *gc = calloc((size_t)nc + 1, sizeof *gc);
    *cats_out = gc;
    *n_cats_out = nc;
    if (!p->images || !gc) return -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, images) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "file_name");
        if (!cJSON_IsNumber(id)) {
            fprintf(stderr, "eval: ground-truth image without a numeric id\n");
            return -1;
        }
        p->images[i].id = id->valuedouble;
        p->images[i].file = cJSON_IsString(fn) ? base_name(fn->valuestring) : NULL;
        i++;
    }
    qsort(p->images, (size_t)p->n_images, sizeof *p->images, cmp_image);
    /* categories: mapped names; the space is Docling's when all of them are Docling labels */
    int all_docling = 1, n_kept = 0;
    i = 0;
    cJSON_ArrayForEach(it, cats) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(nm)) {
            fprintf(stderr, "eval: category without id or name\n");
            return -1;
        }
        gc[i].id = id->valuedouble;
        gc[i].name = apply_map(gmap, nm->valuestring);
        if (gc[i].name) {
            n_kept++;
            if (dl_docling_label_from_string(gc[i].name) < 0) all_docling = 0;
        }
        i++;
    }
    if (n_kept == 0) {
        fprintf(stderr, "eval: no ground-truth category left to evaluate\n");
        return -1;
    }
    p->docling = all_docling;
    if (all_docling) {
        p->n_cats = DL_NUM_DOCLING_LABELS;
        p->cat_names = calloc((size_t)p->n_cats, sizeof *p->cat_names);
        if (!p->cat_names) return -1;
        for (int k = 0; k < p->n_cats; k++)
            snprintf(p->cat_names[k], sizeof p->cat_names[k], "%s", dl_docling_label_name(k));
    } else {
        /* in order of category id, names merged when two map to the same one */
        p->cat_names = calloc((size_t)nc + 1, sizeof *p->cat_names);
        if (!p->cat_names) return -1;
        for (;;) {
            int best = -1;
            for (int k = 0; k < nc; k++)
                if (gc[k].name && resolve_category(p, gc[k].name) < 0 &&
                    (best < 0 || gc[k].id < gc[best].id))
                    best = k;
            if (best < 0) break;
            snprintf(p->cat_names[p->n_cats++], sizeof p->cat_names[0], "%s", gc[best].name);
        }
    }
    for (int k = 0; k < nc; k++) gc[k].index = resolve_category(p, gc[k].name);

    p->n_gt = 0;
    p->gt = calloc((size_t)cJSON_GetArraySize(anns) + 1, sizeof *p->gt);
    if (!p->gt) return -1;
    cJSON_ArrayForEach(it, anns) {
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(it, "image_id");
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(it, "category_id");
        const cJSON *area = cJSON_GetObjectItemCaseSensitive(it, "area");
        const cJSON *crowd = cJSON_GetObjectItemCaseSensitive(it, "iscrowd");
        double bb[4];
        if (!cJSON_IsNumber(im) || !cJSON_IsNumber(ci) ||
            get_bbox(cJSON_GetObjectItemCaseSensitive(it, "bbox"), bb) != 0) {
            fprintf(stderr, "eval: ground-truth annotation needs image_id, category_id, bbox\n");
            return -1;
        }
        int img = find_image(p, im->valuedouble);
        if (img < 0) {
            fprintf(stderr, "eval: annotation on unknown image id %g\n", im->valuedouble);
            return -1;
        }
        int cat = -1, known = 0;
        for (int k = 0; k < nc; k++)
            if (gc[k].id == ci->valuedouble) {
                cat = gc[k].index;
                known = 1;
            }
        if (!known) {
            fprintf(stderr, "eval: annotation with unknown category id %g\n", ci->valuedouble);
            return -1;
        }
        if (cat < 0) continue; /* mapped to none */
        dl_eval_box *b = &p->gt[p->n_gt++];
        b->image = img;
        b->category = cat;
        memcpy(b->bbox, bb, sizeof bb);
        b->area = cJSON_IsNumber(area) ? area->valuedouble : bb[2] * bb[3];
        b->iscrowd = cJSON_IsNumber(crowd) ? crowd->valueint != 0 : cJSON_IsTrue(crowd);
    }
    return 0;
}

static int load_dt(problem *p, const cJSON *dt, const class_map *dmap, const gt_cat *gc, int nc) {
    const cJSON *it;
    if (cJSON_IsArray(dt)) { /* COCO results list */
        cJSON_ArrayForEach(it, dt) {
            const cJSON *im = cJSON_GetObjectItemCaseSensitive(it, "image_id");
            const cJSON *ci = cJSON_GetObjectItemCaseSensitive(it, "category_id");
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(it, "score");
            double bb[4];
            if (!cJSON_IsNumber(im) || !cJSON_IsNumber(ci) || !cJSON_IsNumber(sc) ||
                get_bbox(cJSON_GetObjectItemCaseSensitive(it, "bbox"), bb) != 0) {
                fprintf(stderr, "eval: detection needs image_id, category_id, bbox, score\n");
                return -1;
            }
            int img = find_image(p, im->valuedouble);
            const char *name = NULL;
            for (int k = 0; k < nc; k++)
                if (gc[k].id == ci->valuedouble) name = gc[k].name;
            int cat = dmap ? resolve_category(p, apply_map(dmap, name)) : resolve_category(p, name);
            if (img < 0 || cat < 0) {
                p->dropped_dt++;
                continue;
            }
            if (add_dt(p, img, cat, bb, sc->valuedouble) != 0) return -1;
        }
        return 0;
    }
    const cJSON *pages = cJSON_GetObjectItemCaseSensitive(dt, "pages");
    if (!cJSON_IsArray(pages)) {
        fprintf(stderr, "eval: detections must be a COCO results list or doclayout's JSON\n");
        return -1;
    }
    cJSON_ArrayForEach(it, pages) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "source");
        const cJSON *dets = cJSON_GetObjectItemCaseSensitive(it, "detections");
        int img = cJSON_IsString(src) ? find_image_by_name(p, src->valuestring) : -1;
        if (img < 0) {
            p->unmatched_pages++;
            if (cJSON_IsString(src))
                fprintf(stderr, "eval: warning: page %s is not in the ground truth\n",
                        src->valuestring);
            continue;
        }
        const cJSON *d;
        cJSON_ArrayForEach(d, dets) {
            const cJSON *lb = cJSON_GetObjectItemCaseSensitive(d, "label");
            const cJSON *li = cJSON_GetObjectItemCaseSensitive(d, "label_id");
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(d, "score");
            double xyxy[4];
            if (!cJSON_IsNumber(sc) || get_bbox(cJSON_GetObjectItemCaseSensitive(d, "box"), xyxy)) {
                fprintf(stderr, "eval: detection needs score and box\n");
                return -1;
            }
            const char *name = cJSON_IsString(lb)   ? lb->valuestring
                               : cJSON_IsNumber(li) ? dl_docling_label_name(li->valueint)
                                                    : NULL;
            int cat = resolve_category(p, dmap ? apply_map(dmap, name) : name);
            if (cat < 0) {
                p->dropped_dt++;
                continue;
            }
            double bb[4] = {xyxy[0], xyxy[1], xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]};
            if (add_dt(p, img, cat, bb, sc->valuedouble) != 0) return -1;
        }
    }
    return 0;
}

/* ---- report ---- */

static const char *stat_names[DL_EVAL_NUM_STATS] = {
    "AP",  "AP50", "AP75",  "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"};

static void print_table(FILE *f, const problem *p, const dl_eval_result *r, int max_det) {
    fprintf(f,
            "COCO bbox evaluation (pycocotools semantics): %d images, %zu ground-truth boxes, "
            "%zu detections\n",
            p->n_images, p->n_gt, p->n_dt);
    if (p->dropped_dt || p->unmatched_pages)
        fprintf(f, "left out: %zu detections of unknown classes or images, %zu unmatched pages\n",
                p->dropped_dt, p->unmatched_pages);
    fprintf(f, "\n%-20s %6s %7s %7s %7s %7s %7s\n", "category", "gt", "det", "AP", "AP50", "AP75",
            "AR");
    for (int k = 0; k < r->num_categories; k++) {
        if (r->num_gt[k] == 0 && r->num_dt[k] == 0) continue;
        fprintf(f, "%-20s %6d %7d", p->cat_names[k], r->num_gt[k], r->num_dt[k]);
        const double v[4] = {r->ap[k], r->ap50[k], r->ap75[k], r->ar[k]};
        for (int i = 0; i < 4; i++) {
            if (v[i] < 0) fprintf(f, " %7s", "-");
            else fprintf(f, " %7.4f", v[i]);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    static const char *kind[DL_EVAL_NUM_STATS] = {
        "Precision", "Precision", "Precision", "Precision", "Precision", "Precision",
        "Recall",    "Recall",    "Recall",    "Recall",    "Recall",    "Recall"};
    static const char *iou[DL_EVAL_NUM_STATS] = {
        "0.50:0.95", "0.50     ", "0.75     ", "0.50:0.95", "0.50:0.95", "0.50:0.95",
        "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95", "0.50:0.95"};
    static const char *area[DL_EVAL_NUM_STATS] = {"   all", "   all", "   all", " small",
                                                  "medium", " large", "   all", "   all",
                                                  "   all", " small", "medium", " large"};
    int md[DL_EVAL_NUM_STATS] = {max_det, max_det, max_det, max_det, max_det, max_det,
                                 1,       10,      max_det, max_det, max_det, max_det};
    dl_eval_params dp = dl_eval_default_params();
    md[6] = dp.max_dets[0] < max_det ? dp.max_dets[0] : max_det;
    md[7] = dp.max_dets[1] < max_det ? dp.max_dets[1] : max_det;
    for (int i = 0; i < DL_EVAL_NUM_STATS; i++)
        fprintf(f, " Average %-9s (%s) @[ IoU=%s | area=%s | maxDets=%3d ] = %6.3f\n", kind[i],
                i < 6 ? "AP" : "AR", iou[i], area[i], md[i], r->stats[i]);
}

static cJSON *result_json(const problem *p, const dl_eval_result *r, int max_det) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "images", p->n_images);
    cJSON_AddNumberToObject(o, "ground_truth_boxes", (double)p->n_gt);
    cJSON_AddNumberToObject(o, "detections", (double)p->n_dt);
    cJSON_AddNumberToObject(o, "detections_left_out", (double)p->dropped_dt);
    cJSON_AddNumberToObject(o, "pages_left_out", (double)p->unmatched_pages);
    cJSON_AddNumberToObject(o, "max_dets", max_det);
    cJSON_AddStringToObject(o, "label_space", p->docling ? "docling" : "ground_truth");
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    for (int i = 0; st && i < DL_EVAL_NUM_STATS; i++)
        cJSON_AddNumberToObject(st, stat_names[i], r->stats[i]);
    cJSON *cats = cJSON_AddArrayToObject(o, "categories");
    for (int k = 0; cats && k < r->num_categories; k++) {
        cJSON *c = cJSON_CreateObject();
        if (!c) break;
        cJSON_AddNumberToObject(c, "id", k);
        cJSON_AddStringToObject(c, "name", p->cat_names[k]);
        cJSON_AddNumberToObject(c, "ground_truth", r->num_gt[k]);
        cJSON_AddNumberToObject(c, "detections", r->num_dt[k]);
        cJSON_AddNumberToObject(c, "AP", r->ap[k]);
        cJSON_AddNumberToObject(c, "AP50", r->ap50[k]);
        cJSON_AddNumberToObject(c, "AP75", r->ap75[k]);
        cJSON_AddNumberToObject(c, "AR", r->ar[k]);
        cJSON_AddItemToArray(cats, c);
    }
    return o;
}

const char dl_cli_eval_help[] =
    "  doclayout eval [options] GT.json DETECTIONS.json\n"
    "      COCO-style evaluation (pycocotools semantics: AP .50:.95, AP50, AP75, per class,\n"
    "      area ranges) of detections (COCO results or this program's detect JSON) against\n"
    "      COCO ground truth; see doclayout eval --help.\n";

int dl_cli_eval(int argc, char **argv) {
    const char *prog = argc > 0 ? argv[0] : "eval";
    const char *files[2] = {NULL, NULL}, *gt_spec = NULL, *dt_spec = NULL, *out_file = NULL;
    int as_json = 0, max_det = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf(eval_usage, prog);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--gt-map") == 0 || strcmp(a, "--dt-map") == 0 ||
                   strcmp(a, "-o") == 0 || strcmp(a, "--max-dets") == 0 || strcmp(a, "--gt") == 0 ||
                   strcmp(a, "--dt") == 0) {
            if (!val) {
                fprintf(stderr, "%s: %s needs a value\n", prog, a);
                return 2;
            }
            i++;
            if (strcmp(a, "--gt-map") == 0) gt_spec = val;
            else if (strcmp(a, "--dt-map") == 0) dt_spec = val;
            else if (strcmp(a, "-o") == 0) out_file = val;
            else if (strcmp(a, "--gt") == 0) files[0] = val;
            else if (strcmp(a, "--dt") == 0) files[1] = val;
            else {
                char *end;
                long v = strtol(val, &end, 10);
                if (*end || v < 1 || v > 100000) {
                    fprintf(stderr, "%s: bad --max-dets %s\n", prog, val);
                    return 2;
                }
                max_det = (int)v;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            return 2;
        } else {
            if (files[0] && files[1]) {
                fprintf(stderr, "%s: too many files\n", prog);
                return 2;
            }
            files[files[0] ? 1 : 0] = a;
        }
    }
    if (!files[0] || !files[1]) {
        fprintf(stderr, eval_usage, prog);
        return 2;
    }
    class_map gmap = {NULL, 0}, dmap = {NULL, 0};
    if ((gt_spec && parse_map(gt_spec, &gmap) != 0) || (dt_spec && parse_map(dt_spec, &dmap))) {
        fprintf(stderr, "%s: bad class map (want 'publaynet' or 'a=B,c=none')\n", prog);
        free(gmap.pairs);
        free(dmap.pairs);
        return 2;
    }
    int status = 1;
    problem p;
    memset(&p, 0, sizeof p);
    gt_cat *gc = NULL;
    int nc = 0;
    dl_eval_result r;
    memset(&r, 0, sizeof r);
    cJSON *gt = load_json(files[0]), *dt = gt ? load_json(files[1]) : NULL;
    if (!gt || !dt) goto done;
    if (load_gt(&p, gt, gt_spec ? &gmap : NULL, &gc, &nc) != 0) goto done;
    /* COCO results use the ground truth's category ids: the GT map applies unless --dt-map */
    if (load_dt(&p, dt, dt_spec ? &dmap : NULL, gc, nc) != 0) goto done;
    dl_eval_params params = dl_eval_default_params();
    params.max_dets[2] = max_det;
    if (params.max_dets[1] > max_det) params.max_dets[1] = max_det;
    if (params.max_dets[0] > max_det) params.max_dets[0] = max_det;
    if (dl_eval_run(p.gt, p.n_gt, p.dt, p.n_dt, p.n_images, p.n_cats, &params, &r) != 0) {
        fprintf(stderr, "%s: evaluation failed (out of memory)\n", prog);
        goto done;
    }
    FILE *f = out_file ? fopen(out_file, "w") : stdout;
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, out_file, strerror(errno));
        goto done;
    }
    if (as_json) {
        cJSON *o = result_json(&p, &r, max_det);
        char *s = o ? dl_cli_json_print(o) : NULL;
        if (s) fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        status = s ? 0 : 1;
    } else {
        print_table(f, &p, &r, max_det);
        status = 0;
    }
    if (out_file && fclose(f) != 0) status = 1;
done:
    dl_eval_result_free(&r);
    cJSON_Delete(gt);
    cJSON_Delete(dt);
    free(gc);
    free(p.images);
    free(p.cat_names);
    free(p.gt);
    free(p.dt);
    free(gmap.pairs);
    free(dmap.pairs);
    return status;
}
