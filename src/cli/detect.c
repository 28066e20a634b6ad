/*
 * doclayout detect: inputs (files, directories, @lists, "-") -> pages -> the model -> Docling's
 * layout post-processor -> results. A reader thread renders/decodes and preprocesses pages
 * into a bounded queue while this thread runs inference in batches, post-processes and writes,
 * so results stay in input order and memory stays bounded (queue of at most 2 x batch + 2 pages).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "document/document.h"
#include "image/draw.h"
#include "output/documents.h"
#include "output/results_json.h"
#include "postprocess/detections.h"
#include "postprocess/layout.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- inputs ---------------------------------------------------------------------------- */

typedef struct strv {
    char **v;
    int n, cap;
} strv;

static int sv_push(strv *s, const char *x) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->v, (size_t)cap * sizeof *p);
        if (!p) return 0;
        s->v = p;
        s->cap = cap;
    }
    return (s->v[s->n++] = strdup(x)) != NULL;
}

static void sv_free(strv *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int known_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char e[8];
    size_t k = 0;
    for (dot++; *dot && k < sizeof e - 1; dot++) e[k++] = (char)tolower((unsigned char)*dot);
    e[k] = '\0';
    return !strcmp(e, "pdf") || !strcmp(e, "png") || !strcmp(e, "jpg") || !strcmp(e, "jpeg") ||
           !strcmp(e, "tif") || !strcmp(e, "tiff");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Expand the command line: a directory gives its files with a known extension (sorted), @FILE
 * gives the lines of FILE. Returns 0 on an error already reported. */
static int expand_inputs(const options *o, strv *out) {
    for (int i = 0; i < o->n_files; i++) {
        const char *a = o->files[i];
        struct stat st;
        if (a[0] == '@') {
            FILE *f = fopen(a + 1, "r");
            if (!f) {
                fprintf(stderr, "doclayout: cannot read the list %s: %s\n", a + 1, strerror(errno));
                return 0;
            }
            char line[PATH_MAX + 2];
            while (fgets(line, sizeof line, f)) {
                size_t n = strlen(line);
                while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
                char *s = line;
                while (*s == ' ' || *s == '\t') s++;
                if (*s && *s != '#') sv_push(out, s);
            }
            fclose(f);
        } else if (strcmp(a, "-") != 0 && stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(a);
            if (!d) {
                fprintf(stderr, "doclayout: cannot read the directory %s: %s\n", a, strerror(errno));
                return 0;
            }
            strv names = {0};
            struct dirent *e;
            while ((e = readdir(d)))
                if (e->d_name[0] != '.' && known_ext(e->d_name)) sv_push(&names, e->d_name);
            closedir(d);
            if (names.n) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
            size_t al = strlen(a);
            for (int k = 0; k < names.n; k++) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s%s%s", a, al && a[al - 1] == '/' ? "" : "/", names.v[k]);
                sv_push(out, p);
                free(names.v[k]);
            }
            free(names.v);
        } else {
            sv_push(out, a);
        }
    }
    return 1;
}

/* --pages "1-3,7,10-": 1 when page (1-based) is selected. */
static int page_selected(const char *spec, int page) {
    if (!spec) return 1;
    const char *s = spec;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s) return 0;
        s = end;
        if (*s == '-') {
            s++;
            if (*s == ',' || *s == '\0') b = LONG_MAX;
            else {
                b = strtol(s, &end, 10);
                s = end;
            }
        }
        if (page >= a && page <= b) return 1;
        if (*s == ',') s++;
    }
    return 0;
}

static int valid_pages(const char *spec) {
    if (!spec || !*spec) return spec == NULL;
    for (const char *s = spec; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '-' && *s != ',') return 0;
    return 1;
}

/* ---- the page queue ---------------------------------------------------------------------- */

typedef struct job {
    int doc;             /* input index */
    int page_no;         /* 1-based, 0 for a document-level error */
    int last;            /* the document's last job */
    int skip;            /* the document's result exists (-o DIR without --force) */
    dl_pdf_page page;
    float *pixels;
    char *error;
    int is_pdf;
    const char *mime;
    unsigned long long hash;
} job;

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    job **v;
    int cap, head, count, done;
} queue;

static void q_push(queue *q, job *j) {
    pthread_mutex_lock(&q->mu);
    while (q->count == q->cap) pthread_cond_wait(&q->not_full, &q->mu);
    q->v[(q->head + q->count) % q->cap] = j;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* NULL when the producer is done and the queue is empty. `wait` 0: NULL when empty now. */
static job *q_pop(queue *q, int wait) {
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->done && wait) pthread_cond_wait(&q->not_empty, &q->mu);
    job *j = NULL;
    if (q->count) {
        j = q->v[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

typedef struct run_ctx {
    const options *o;
    strv inputs;
    const dl_model *model;
    queue q;
    int out_is_dir;
    const char *out_dir;
    double t_render, t_pre; /* producer stage totals (s) */
} run_ctx;

static const char *format_ext(out_format f) {
    switch (f) {
    case FMT_COCO: return ".coco.json";
    case FMT_DOCLING: return ".docling.json";
    case FMT_MARKDOWN: return ".md";
    default: return ".json";
    }
}

static void out_path(const run_ctx *c, const char *source, char *buf, size_t n) {
    const char *base = strcmp(source, "-") == 0 ? "stdin" : strrchr(source, '/');
    base = base ? (base[0] == '/' ? base + 1 : base) : source;
    size_t dl = strlen(c->out_dir);
    snprintf(buf, n, "%s%s%s%s", c->out_dir, dl && c->out_dir[dl - 1] == '/' ? "" : "/", base,
             format_ext(c->o->format));
}

static job *new_job(int doc, int page_no) {
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->doc = doc;
        j->page_no = page_no;
    }
    return j;
}

static void free_job(job *j) {
    if (!j) return;
    dl_pdf_page_clear(&j->page);
    free(j->pixels);
    free(j->error);
    free(j);
}

static void *producer(void *arg) {
    run_ctx *c = arg;
    const options *o = c->o;
    int in_w = dl_model_input_width(c->model), in_h = dl_model_input_height(c->model);
    for (int i = 0; i < c->inputs.n; i++) {
        const char *path = c->inputs.v[i];
        if (c->out_is_dir && !o->force && strcmp(path, "-") != 0) {
            char op[PATH_MAX + 64];
            out_path(c, path, op, sizeof op);
            struct stat st;
            if (stat(op, &st) == 0) {
                job *j = new_job(i, 0);
                if (!j) break;
                j->skip = j->last = 1;
                q_push(&c->q, j);
                continue;
            }
        }
        dl_error err;
        dl_doc *doc = NULL;
        double t0 = now_s();
        dl_status s = dl_doc_open(path, o->password, &doc, &err);
        c->t_render += now_s() - t0;
        if (s != DL_OK) {
            job *j = new_job(i, 0);
            if (!j) break;
            j->error = strdup(err.message);
            j->last = 1;
            q_push(&c->q, j);
            continue;
        }
        int n = dl_doc_page_count(doc), any = 0;
        int last_sel = 0;
        for (int p = 1; p <= n; p++)
            if (page_selected(o->pages, p)) last_sel = p;
        for (int p = 1; p <= n; p++) {
            if (!page_selected(o->pages, p)) continue;
            any = 1;
            job *j = new_job(i, p);
            if (!j) break;
            j->last = p == last_sel;
            j->is_pdf = dl_doc_get_kind(doc) == DL_DOC_PDF;
            j->mime = dl_doc_mimetype(doc);
            j->hash = dl_doc_hash(doc);
            t0 = now_s();
            s = dl_doc_load_page(doc, p - 1, o->dpi, o->words ? DL_CELLS_WORDS : DL_CELLS_LINES, &j->page, &err);
            double t1 = now_s();
            c->t_render += t1 - t0;
            if (s == DL_OK) {
                j->pixels = malloc((size_t)3 * in_w * in_h * sizeof(float));
                if (!j->pixels) s = DL_ERR_OUT_OF_MEMORY, snprintf(err.message, sizeof err.message, "out of memory");
                else s = dl_model_preprocess(c->model, j->page.image, j->pixels, &err);
                c->t_pre += now_s() - t1;
            }
            if (s != DL_OK) {
                j->error = strdup(err.message);
                dl_image_free(j->page.image);
                j->page.image = NULL;
            }
            q_push(&c->q, j);
        }
        if (!any) {
            job *j = new_job(i, 0);
            if (j) {
                char m[600];
                snprintf(m, sizeof m, "%s: --pages %s selects none of its %d pages", path, o->pages, n);
                j->error = strdup(m);
                j->last = 1;
                q_push(&c->q, j);
            }
        }
        dl_doc_close(doc);
    }
    pthread_mutex_lock(&c->q.mu);
    c->q.done = 1;
    pthread_cond_broadcast(&c->q.not_empty);
    pthread_mutex_unlock(&c->q.mu);
    return NULL;
}

/* ---- per-page results -------------------------------------------------------------------- */

typedef struct page_res {
    dl_page_out out;
    dl_layout layout;
    dl_region *raw_regions;
    dl_detection *dets;
    dl_cells cells;
    char *error;
} page_res;

typedef struct doc_acc {
    page_res *v;
    int n, cap;
    const char *mime;
    unsigned long long hash;
} doc_acc;

static void acc_clear(doc_acc *a) {
    for (int i = 0; i < a->n; i++) {
        dl_layout_free(&a->v[i].layout);
        free(a->v[i].raw_regions);
        free(a->v[i].dets);
        dl_cells_free(&a->v[i].cells);
        free(a->v[i].error);
    }
    a->n = 0;
}

static void write_overlay(const char *dir, const char *source, int page, int many, const dl_image *img,
                          const page_res *r) {
    for (size_t i = r->out.n_regions; i-- > 0;) {
        const dl_region *g = &r->out.regions[i];
        float box[4] = {(float)(g->box.l * r->out.scale), (float)(g->box.t * r->out.scale),
                        (float)(g->box.r * r->out.scale), (float)(g->box.b * r->out.scale)};
        dl_draw_detection((dl_image *)img, box, g->label, dl_docling_label_name(g->label), g->confidence);
    }
    const char *base = strcmp(source, "-") == 0 ? "stdin" : strrchr(source, '/');
    base = base ? (base[0] == '/' ? base + 1 : base) : source;
    char name[PATH_MAX];
    int len = (int)strcspn(base, ".");
    if (many) snprintf(name, sizeof name, "%s/%.*s-p%d.png", dir, len, base, page);
    else snprintf(name, sizeof name, "%s/%.*s.png", dir, len, base);
    dl_error err;
    if (dl_image_save_png(img, name, &err) != DL_OK) fprintf(stderr, "doclayout: overlay: %s\n", err.message);
}

/* ---- writing ----------------------------------------------------------------------------- */

static int write_text_file(const char *path, const char *text) {
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "doclayout: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
    }
    return ok;
}

static char *json_text(cJSON *j) {
    char *t = cJSON_Print(j);
    if (!t) return NULL;
    size_t n = strlen(t);
    char *u = realloc(t, n + 2);
    if (!u) return t;
    u[n] = '\n';
    u[n + 1] = '\0';
    return u;
}

typedef struct sink {
    cJSON *json_root, *json_pages; /* json */
    cJSON *coco_results, *coco_images;
    int coco_image_id;
    cJSON *docling_docs;            /* array of documents */
    char *markdown;
    size_t md_len;
    int n_docs;
} sink;

static void md_append(sink *s, const char *t) {
    size_t k = strlen(t);
    char *p = realloc(s->markdown, s->md_len + k + 1);
    if (!p) return;
    memcpy(p + s->md_len, t, k + 1);
    s->markdown = p;
    s->md_len += k;
}

/* Emit one finished document, to its own file (-o DIR) or into the combined result. */
static int emit_doc(run_ctx *c, sink *s, const char *source, doc_acc *a, const dl_model *m, const dl_detector *d) {
    const options *o = c->o;
    dl_page_out *pages = malloc(((size_t)a->n + 1) * sizeof *pages);
    if (!pages) return 0;
    for (int i = 0; i < a->n; i++) {
        pages[i] = a->v[i].out;
        pages[i].cells = &a->v[i].cells; /* a->v moves as it grows: point into it only now */
    }
    int ok = 1;
    sink local = {0};
    sink *t = c->out_is_dir ? &local : s;
    const char *src = strcmp(source, "-") == 0 ? "stdin" : source;
    switch (o->format) {
    case FMT_JSON:
        if (!t->json_root) {
            t->json_root = cJSON_CreateObject();
            cJSON_AddItemToObject(t->json_root, "model", dl_json_model_info(m, d));
            t->json_pages = cJSON_AddArrayToObject(t->json_root, "pages");
        }
        for (int i = 0; i < a->n; i++) cJSON_AddItemToArray(t->json_pages, dl_json_page_out(&pages[i]));
        break;
    case FMT_COCO:
        if (!t->coco_results) {
            t->coco_results = cJSON_CreateArray();
            if (o->coco_images) t->coco_images = cJSON_CreateArray();
        }
        for (int i = 0; i < a->n; i++) dl_coco_add_page(t->coco_results, t->coco_images, ++s->coco_image_id, &pages[i]);
        break;
    case FMT_DOCLING:
        if (!t->docling_docs) t->docling_docs = cJSON_CreateArray();
        cJSON_AddItemToArray(t->docling_docs, dl_docling_document(src, a->mime ? a->mime : "application/octet-stream", a->hash, pages, (size_t)a->n));
        break;
    case FMT_MARKDOWN: {
        char *md = dl_markdown_document(pages, (size_t)a->n);
        if (!c->out_is_dir && s->n_docs > 0) md_append(t, "\n");
        if (!c->out_is_dir && c->inputs.n > 1) {
            char h[PATH_MAX + 32];
            snprintf(h, sizeof h, "<!-- source: %s -->\n\n", src);
            md_append(t, h);
        }
        md_append(t, md ? md : "");
        free(md);
        break;
    }
    }
    s->n_docs++;
    free(pages);
    if (c->out_is_dir) {
        char op[PATH_MAX + 64];
        out_path(c, source, op, sizeof op);
        char *text = NULL;
        if (o->format == FMT_JSON) text = json_text(local.json_root);
        else if (o->format == FMT_COCO) {
            if (local.coco_images) {
                cJSON *root = cJSON_CreateObject();
                cJSON_AddItemToObject(root, "images", local.coco_images);
                cJSON_AddItemToObject(root, "categories", dl_coco_categories());
                cJSON_AddItemToObject(root, "annotations", local.coco_results);
                local.coco_images = local.coco_results = NULL;
                text = json_text(root);
                cJSON_Delete(root);
            } else text = json_text(local.coco_results);
        } else if (o->format == FMT_DOCLING) text = json_text(cJSON_GetArrayItem(local.docling_docs, 0));
        else text = local.markdown, local.markdown = NULL;
        ok = text && write_text_file(op, text);
        free(text);
        cJSON_Delete(local.json_root);
        cJSON_Delete(local.coco_results);
        cJSON_Delete(local.coco_images);
        cJSON_Delete(local.docling_docs);
        free(local.markdown);
    }
    return ok;
}

static int finish_sink(run_ctx *c, sink *s) {
    const options *o = c->o;
    if (c->out_is_dir) return 1;
    char *text = NULL;
    if (o->format == FMT_JSON) {
        if (!s->json_root) {
            s->json_root = cJSON_CreateObject();
            cJSON_AddArrayToObject(s->json_root, "pages");
        }
        text = json_text(s->json_root);
    } else if (o->format == FMT_COCO) {
        if (!s->coco_results) s->coco_results = cJSON_CreateArray();
        if (o->coco_images) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddItemToObject(root, "images", s->coco_images ? s->coco_images : cJSON_CreateArray());
            cJSON_AddItemToObject(root, "categories", dl_coco_categories());
            cJSON_AddItemToObject(root, "annotations", s->coco_results);
            s->coco_images = s->coco_results = NULL;
            text = json_text(root);
            cJSON_Delete(root);
        } else text = json_text(s->coco_results);
    } else if (o->format == FMT_DOCLING) {
        if (!s->docling_docs) s->docling_docs = cJSON_CreateArray();
        text = json_text(cJSON_GetArraySize(s->docling_docs) == 1 ? cJSON_GetArrayItem(s->docling_docs, 0) : s->docling_docs);
    } else {
        text = s->markdown ? s->markdown : strdup("");
        s->markdown = NULL;
    }
    int ok = text != NULL;
    if (ok && o->out_file) ok = write_text_file(o->out_file, text);
    else if (ok) ok = fputs(text, stdout) >= 0;
    free(text);
    cJSON_Delete(s->json_root);
    cJSON_Delete(s->coco_results);
    cJSON_Delete(s->coco_images);
    cJSON_Delete(s->docling_docs);
    free(s->markdown);
    return ok;
}

/* ---- progress ---------------------------------------------------------------------------- */

static void progress(int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int w = 30, fill = total > 0 ? (int)((double)w * done / total) : 0;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    double eta = rate > 0 && total >= done ? (total - done) / rate : 0;
    fprintf(stderr, "\r[%s] %d/%d pages  %.1f pages/s  ETA %dm%02ds ", bar, done, total, rate,
            (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

/* ---- the command ------------------------------------------------------------------------- */

static int ensure_out_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0) {
        fprintf(stderr, "doclayout: cannot create the output directory %s: %s\n", dir, strerror(errno));
        return 0;
    }
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/.doclayout-probe-%d", dir, (int)getpid());
    FILE *f = fopen(probe, "w");
    if (!f) {
        fprintf(stderr, "doclayout: the output directory %s is not writable: %s\n", dir, strerror(errno));
        return 0;
    }
    fclose(f);
    remove(probe);
    return 1;
}

int cmd_detect(const options *o) {
    if (o->n_files == 0) {
        fprintf(stderr, "doclayout detect: no input images given\n");
        return 2;
    }
    if (!valid_pages(o->pages)) {
        fprintf(stderr, "doclayout: --pages expects a list like 1-3,7 or 5-, got '%s'\n", o->pages);
        return 2;
    }
    run_ctx c = {0};
    c.o = o;
    if (o->out_file) {
        struct stat st;
        size_t n = strlen(o->out_file);
        if ((n && o->out_file[n - 1] == '/') || (stat(o->out_file, &st) == 0 && S_ISDIR(st.st_mode))) {
            c.out_is_dir = 1;
            c.out_dir = o->out_file;
            if (!ensure_out_dir(o->out_file)) return 1;
        }
    }
    if (o->overlay_dir && !ensure_out_dir(o->overlay_dir)) return 1;
    if (!expand_inputs(o, &c.inputs)) {
        sv_free(&c.inputs);
        return 1;
    }
    dl_model *model = NULL;
    dl_detector *det = NULL;
    if (load_detector(o, &model, &det)) {
        sv_free(&c.inputs);
        return 1;
    }
    c.model = model;
    int batch = o->batch;
    c.q.cap = 2 * batch + 2;
    c.q.v = calloc((size_t)c.q.cap, sizeof *c.q.v);
    pthread_mutex_init(&c.q.mu, NULL);
    pthread_cond_init(&c.q.not_empty, NULL);
    pthread_cond_init(&c.q.not_full, NULL);
    int show = !o->quiet && isatty(2);
    int total = 0;
    if (show) { /* count the pages first for the progress bar */
        for (int i = 0; i < c.inputs.n; i++) {
            dl_doc *d = NULL;
            dl_error e;
            if (strcmp(c.inputs.v[i], "-") != 0 && dl_doc_open(c.inputs.v[i], o->password, &d, &e) == DL_OK) {
                for (int p = 1; p <= dl_doc_page_count(d); p++) total += page_selected(o->pages, p);
                dl_doc_close(d);
            } else total++;
        }
    }
    double t_start = now_s(), t_inf = 0, t_post = 0, t_out = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, producer, &c) != 0) {
        fprintf(stderr, "doclayout: cannot start the reader thread\n");
        return 1;
    }
    int q = dl_model_num_queries(model), nl = dl_model_num_labels(model);
    int in_w = dl_model_input_width(model), in_h = dl_model_input_height(model);
    size_t plane = (size_t)3 * in_w * in_h;
    float *px = malloc(plane * batch * sizeof(float));
    float *logits = malloc((size_t)batch * q * nl * sizeof(float)), *boxes = malloc((size_t)batch * q * 4 * sizeof(float));
    int max_det = dl_model_max_detections(model);
    dl_detection *raw = malloc((size_t)max_det * sizeof *raw);
    job **pend = calloc((size_t)batch, sizeof *pend);
    doc_acc acc = {0};
    sink s = {0};
    int failed = 0, pages_done = 0, docs_skipped = 0;
    if (!px || !logits || !boxes || !raw || !pend) {
        fprintf(stderr, "doclayout: out of memory\n");
        return 1;
    }
    for (;;) {
        int np = 0;
        job *j = q_pop(&c.q, 1);
        if (!j) break;
        pend[np++] = j;
        while (np < batch && (j = q_pop(&c.q, 1))) pend[np++] = j;
        /* inference on the good pages of the batch */
        int ng = 0;
        for (int k = 0; k < np; k++)
            if (pend[k]->pixels && !pend[k]->error) memcpy(px + plane * ng++, pend[k]->pixels, plane * sizeof(float));
        dl_error err;
        double t0 = now_s();
        dl_status fs = ng ? dl_detector_forward(det, px, ng, in_h, in_w, logits, boxes, &err) : DL_OK;
        t_inf += now_s() - t0;
        int gi = 0;
        for (int k = 0; k < np; k++) {
            job *jb = pend[k];
            const char *source = c.inputs.v[jb->doc];
            if (jb->skip) {
                docs_skipped++;
                free_job(jb);
                continue;
            }
            if (acc.n == acc.cap) {
                acc.cap = acc.cap ? acc.cap * 2 : 8;
                acc.v = realloc(acc.v, (size_t)acc.cap * sizeof *acc.v);
            }
            page_res *r = &acc.v[acc.n++];
            memset(r, 0, sizeof *r);
            acc.mime = jb->mime;
            acc.hash = jb->hash;
            r->out.source = strcmp(source, "-") == 0 ? "stdin" : source;
            r->out.page_no = jb->page_no ? jb->page_no : 1;
            if (jb->page.image) {
                r->out.width = jb->page.image->width;
                r->out.height = jb->page.image->height;
            }
            r->out.width_pt = jb->page.width_pt;
            r->out.height_pt = jb->page.height_pt;
            r->out.scale = jb->page.scale;
            r->out.dpi = jb->is_pdf ? o->dpi : 0;
            int good = jb->pixels && !jb->error;
            if (good && fs != DL_OK) jb->error = strdup(err.message);
            if (jb->error) {
                r->error = jb->error;
                jb->error = NULL;
                r->out.error = r->error;
                failed++;
                if (jb->page_no) fprintf(stderr, "%sdoclayout: %s: page %d: %s\n", show ? "\n" : "", r->out.source, jb->page_no, r->error);
                else fprintf(stderr, "%sdoclayout: %s\n", show ? "\n" : "", r->error);
            } else {
                double t1 = now_s();
                const dl_image *img = jb->page.image;
                size_t n = 0;
                dl_error perr;
                if (dl_model_postprocess(model, logits + (size_t)gi * q * nl, boxes + (size_t)gi * q * 4,
                                         o->threshold, img->width, img->height, raw, &n, &perr) != DL_OK)
                    fprintf(stderr, "doclayout: %s\n", perr.message);
                gi++;
                r->dets = calloc(n ? (size_t)n : 1, sizeof *r->dets);
                dl_cluster_in *in = calloc(n ? (size_t)n : 1, sizeof *in);
                size_t nin = 0;
                for (size_t i = 0; i < n && r->dets && in; i++) {
                    dl_detection *dd = &r->dets[i];
                    *dd = raw[i];
                    int lab = dl_docling_label_from_string(dd->label);
                    if (lab < 0) continue; /* not a Docling label: only --raw keeps it */
                    double sc = jb->page.scale;
                    in[nin++] = (dl_cluster_in){lab, dd->score, {dd->box[0] / sc, dd->box[1] / sc, dd->box[2] / sc, dd->box[3] / sc}};
                }
                r->cells = jb->page.cells;
                memset(&jb->page.cells, 0, sizeof jb->page.cells);
                r->out.cells = &r->cells;
                if (o->raw) {
                    r->out.raw = r->dets;
                    r->out.n_raw = (size_t)n;
                    r->raw_regions = calloc(nin ? nin : 1, sizeof *r->raw_regions);
                    for (size_t i = 0; i < nin && r->raw_regions; i++)
                        r->raw_regions[i] = (dl_region){in[i].label, in[i].confidence, in[i].box, (int)i, NULL, 0, NULL, 0};
                    r->out.regions = r->raw_regions;
                    r->out.n_regions = nin;
                } else {
                    /* a page without a text layer (an image, a scan) keeps its clusters:
                     * Docling's skip_cell_assignment mode */
                    dl_layout_options lo = dl_layout_default_options();
                    lo.skip_cell_assignment = r->cells.n == 0;
                    dl_status ls = dl_layout_postprocess(in, nin, &r->cells, jb->page.width_pt, jb->page.height_pt, &lo, &r->layout, &err);
                    if (ls != DL_OK) {
                        r->error = strdup(err.message);
                        r->out.error = r->error;
                        failed++;
                        fprintf(stderr, "doclayout: %s: page %d: %s\n", r->out.source, jb->page_no, err.message);
                    }
                    r->out.regions = r->layout.regions;
                    r->out.n_regions = r->layout.n;
                }
                free(in);
                t_post += now_s() - t1;
                if (o->overlay_dir && !r->out.error) {
                    double t2 = now_s();
                    write_overlay(o->overlay_dir, source, jb->page_no, jb->last && jb->page_no == 1 ? 0 : 1, img, r);
                    t_out += now_s() - t2;
                }
            }
            pages_done++;
            if (jb->last) {
                double t2 = now_s();
                if (!emit_doc(&c, &s, source, &acc, model, det)) failed++;
                t_out += now_s() - t2;
                acc_clear(&acc);
            }
            free_job(jb);
            if (show) progress(pages_done, total, t_start);
        }
    }
    pthread_join(th, NULL);
    double t2 = now_s();
    if (!finish_sink(&c, &s)) failed++;
    t_out += now_s() - t2;
    double wall = now_s() - t_start;
    if (show) fputc('\n', stderr);
    if (docs_skipped && !o->quiet)
        fprintf(stderr, "doclayout: %d input%s skipped: the result exists (--force redoes it)\n", docs_skipped, docs_skipped > 1 ? "s" : "");
    if (o->timings) {
        int n = pages_done - docs_skipped > 0 ? pages_done - docs_skipped : 1;
        double in_stage = c.t_render + c.t_pre + t_inf + t_post + t_out;
        fprintf(stderr,
                "timings: %d pages in %.3f s = %.2f pages/s (batch %d, %d threads)\n"
                "  ms/page: render/decode %.2f, preprocess %.2f, inference %.2f, post-process %.2f, output %.2f\n"
                "  render+preprocess run in the reader thread, overlapped with inference; outside inference: %.1f%% of the stage time\n",
                n, wall, n / wall, batch, dl_detector_num_threads(det), 1e3 * c.t_render / n, 1e3 * c.t_pre / n,
                1e3 * t_inf / n, 1e3 * t_post / n, 1e3 * t_out / n, in_stage > 0 ? 100.0 * (in_stage - t_inf) / in_stage : 0);
    }
    free(acc.v);
    free(px); free(logits); free(boxes); free(raw); free(pend);
    sv_free(&c.inputs);
    free(c.q.v);
    pthread_mutex_destroy(&c.q.mu);
    pthread_cond_destroy(&c.q.not_empty);
    pthread_cond_destroy(&c.q.not_full);
    dl_detector_free(det);
    dl_model_free(model);
    return failed ? 1 : 0;
}
