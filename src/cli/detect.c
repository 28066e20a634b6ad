/*
 * doclayout detect: inputs (files, directories, @lists, "-") -> pages -> the model -> Docling's
 * layout post-processor -> results. --workers threads open inputs, render/decode and
 * preprocess pages (the pages of one document spread over them) into a reorder buffer while
 * this thread takes them in input order, runs inference in batches, post-processes and writes,
 * so results stay in input order and memory stays bounded (at most 2 x batch + workers + 2
 * pages in flight). See "the page pipeline" below.
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
#include "core/threadpool.h"
#include "document/document.h"
#include "image/draw.h"
#include "output/documents.h"
#include "output/json_text.h"
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

/* ---- the page pipeline ------------------------------------------------------------------
 *
 * `workers` threads open inputs, render/decode pages and preprocess them; the main thread
 * (the consumer) takes the pages in input order, runs inference in batches, post-processes
 * and writes. Work is claimed in input order under one mutex: a claim is either "open input
 * i" (the first worker to reach an input checks -o DIR's existing result, opens it, counts
 * and selects its pages, then publishes them; the others wait for that, which is short) or
 * "page p of input i", numbered by a sequence number. Pages of one document go to different
 * workers, each with its own open dl_doc of that file (a dl_doc, so a MuPDF context, is used
 * by one thread at a time); standard input is read once, by the worker that opens it, and the
 * others open their copy from those bytes. Finished jobs go to a reorder buffer of `cap`
 * slots, slot = sequence number % cap: a claim is allowed only while fewer than `cap` jobs
 * are claimed and not yet consumed, so memory stays bounded, and since claims are made in
 * input order the job the consumer waits for is always claimed (no deadlock). */

typedef struct job {
    int doc;             /* input index */
    int page_no;         /* 1-based, 0 for a document-level result */
    int last;            /* the document's last job */
    int skip;            /* the document's result exists (-o DIR without --force) */
    int has_pixels;      /* the slot's pixels hold this page, preprocessed */
    int is_pdf;
    const char *mime;    /* static string */
    unsigned long long hash;
    dl_pdf_page page;
    char *error;         /* the page's or the document's error; NULL when none */
} job;

typedef struct slot {
    job j;
    float *pixels; /* [3, H, W]: allocated by the first worker using the slot, then reused */
    int ready;     /* j is done: the consumer may take it */
} slot;

enum { IN_NEW, IN_OPENING, IN_READY };

typedef struct stdin_bytes {
    unsigned char *data;
    size_t size;
} stdin_bytes;

typedef struct pipeline {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers: room in flight, the current input opened, stop */
    pthread_cond_t ready_cv; /* the consumer: the job it waits for is done */
    int n_inputs;
    int cur;                 /* the input claims come from */
    int cur_state;           /* IN_NEW: nobody opened it yet; IN_OPENING; IN_READY: pages */
    int cur_next, cur_last;  /* its next and last selected page (1-based) */
    int cur_is_pdf;
    const char *cur_mime;
    unsigned long long cur_hash;
    long long next_seq;      /* the next claim's sequence number */
    long long consumed;      /* jobs the consumer has taken */
    int cap;                 /* most jobs claimed and not yet consumed */
    slot *slots;             /* [cap] */
    int stop;                /* the consumer gave up: workers return */
    stdin_bytes *stdin_in;   /* [n_inputs] the bytes of "-" inputs, read once */
} pipeline;

typedef struct run_ctx run_ctx;

typedef struct worker {
    run_ctx *c;
    pthread_t th;
    dl_doc *doc; /* this worker's own open document ... */
    int doc_idx; /* ... input index, -1 when none */
    double t_render, t_pre; /* this worker's stage totals (s, wall clock inside the worker) */
} worker;

struct run_ctx {
    const options *o;
    strv inputs;
    const dl_model *model;
    pipeline pl;
    int out_is_dir;
    const char *out_dir;
};

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

static void job_clear(job *j) {
    dl_pdf_page_clear(&j->page);
    free(j->error);
    memset(j, 0, sizeof *j);
}

static void set_error(job *j, const char *message) {
    free(j->error);
    j->error = strdup(message);
}

typedef struct task {
    int kind; /* T_OPEN or T_PAGE */
    int doc, page, last, is_pdf;
    const char *mime;
    unsigned long long hash;
    long long seq;
} task;

enum { T_OPEN = 1, T_PAGE = 2 };

/* The next selected page after `p`, or 0. */
static int next_selected(const char *spec, int p, int last) {
    for (p++; p <= last; p++)
        if (page_selected(spec, p)) return p;
    return 0;
}

/* Claim the current input's next page (pl->mu held, the input IN_READY, room in flight). */
static void claim_page(pipeline *pl, const options *o, task *t) {
    t->kind = T_PAGE;
    t->doc = pl->cur;
    t->page = pl->cur_next;
    t->last = t->page == pl->cur_last;
    t->is_pdf = pl->cur_is_pdf;
    t->mime = pl->cur_mime;
    t->hash = pl->cur_hash;
    t->seq = pl->next_seq++;
    if (t->last) {
        pl->cur++;
        pl->cur_state = IN_NEW;
    } else {
        pl->cur_next = next_selected(o->pages, t->page, pl->cur_last);
    }
}

/* Wait for and claim the next piece of work (pl->mu held); 0 when there is none left. */
static int claim(pipeline *pl, const options *o, task *t) {
    for (;;) {
        if (pl->stop || pl->cur >= pl->n_inputs) return 0;
        if (pl->cur_state == IN_OPENING || pl->next_seq - pl->consumed >= pl->cap) {
            pthread_cond_wait(&pl->work_cv, &pl->mu);
            continue;
        }
        if (pl->cur_state == IN_NEW) {
            /* the opener's job (a document-level result or the first page) is the next
             * sequence number: nobody claims until it publishes, so its room is kept */
            pl->cur_state = IN_OPENING;
            t->kind = T_OPEN;
            t->doc = pl->cur;
            return 1;
        }
        claim_page(pl, o, t);
        return 1;
    }
}

/* Hand a finished job to the consumer (its slot's pixels are already written). */
static void deliver(pipeline *pl, long long seq, job *j) {
    pthread_mutex_lock(&pl->mu);
    slot *s = &pl->slots[seq % pl->cap];
    s->j = *j;
    s->ready = 1;
    if (seq == pl->consumed) pthread_cond_signal(&pl->ready_cv);
    pthread_mutex_unlock(&pl->mu);
    memset(j, 0, sizeof *j);
}

/* This worker's own handle of input `i`: reuses the open one or opens it. */
static dl_status worker_doc(worker *w, int i, dl_error *err) {
    if (w->doc_idx == i && w->doc) return DL_OK;
    run_ctx *c = w->c;
    dl_doc_close(w->doc);
    w->doc = NULL;
    w->doc_idx = -1;
    const char *path = c->inputs.v[i];
    dl_status s;
    if (strcmp(path, "-") == 0) {
        /* read by the worker that opened it, published before any page was claimed */
        const stdin_bytes *b = &c->pl.stdin_in[i];
        s = dl_doc_open_memory("stdin", b->data, b->size, c->o->password, &w->doc, err);
    } else {
        s = dl_doc_open(path, c->o->password, &w->doc, err);
    }
    if (s == DL_OK) w->doc_idx = i;
    return s;
}

/* Render/decode and preprocess page t->page into slot t->seq. */
static void do_page(worker *w, const task *t) {
    run_ctx *c = w->c;
    const options *o = c->o;
    pipeline *pl = &c->pl;
    slot *sl = &pl->slots[t->seq % pl->cap]; /* ours until delivered */
    job j = {0};
    j.doc = t->doc;
    j.page_no = t->page;
    j.last = t->last;
    j.is_pdf = t->is_pdf;
    j.mime = t->mime;
    j.hash = t->hash;
    dl_error err;
    double t0 = now_s();
    dl_status s = worker_doc(w, t->doc, &err);
    if (s == DL_OK)
        s = dl_doc_load_page(w->doc, t->page - 1, o->dpi, o->words ? DL_CELLS_WORDS : DL_CELLS_LINES, &j.page, &err);
    double t1 = now_s();
    w->t_render += t1 - t0;
    if (s == DL_OK) {
        int in_w = dl_model_input_width(c->model), in_h = dl_model_input_height(c->model);
        if (!sl->pixels) sl->pixels = malloc((size_t)3 * in_w * in_h * sizeof(float));
        if (!sl->pixels) s = DL_ERR_OUT_OF_MEMORY, snprintf(err.message, sizeof err.message, "out of memory");
        else s = dl_model_preprocess(c->model, j.page.image, sl->pixels, &err);
        w->t_pre += now_s() - t1;
    }
    if (s != DL_OK) {
        set_error(&j, err.message);
        dl_image_free(j.page.image);
        j.page.image = NULL;
    } else {
        j.has_pixels = 1;
    }
    deliver(pl, t->seq, &j);
}

/* Open input t->doc for everyone: check -o DIR's existing result, open, select pages, then
 * publish (a document-level job, or the pages, of which this worker takes the first). */
static void do_open(worker *w, task *t) {
    run_ctx *c = w->c;
    const options *o = c->o;
    pipeline *pl = &c->pl;
    int i = t->doc;
    const char *path = c->inputs.v[i];
    job j = {0};
    j.doc = i;
    j.last = 1;
    int first = 0, last = 0;
    if (c->out_is_dir && !o->force && strcmp(path, "-") != 0) {
        char op[PATH_MAX + 64];
        out_path(c, path, op, sizeof op);
        struct stat st;
        j.skip = stat(op, &st) == 0;
    }
    if (!j.skip) {
        dl_error err;
        double t0 = now_s();
        dl_status s;
        dl_doc_close(w->doc);
        w->doc = NULL;
        w->doc_idx = -1;
        if (strcmp(path, "-") == 0) {
            stdin_bytes *b = &pl->stdin_in[i];
            s = dl_doc_read_stdin(&b->data, &b->size, &err);
            if (s == DL_OK) s = dl_doc_open_memory("stdin", b->data, b->size, o->password, &w->doc, &err);
        } else {
            s = dl_doc_open(path, o->password, &w->doc, &err);
        }
        w->t_render += now_s() - t0;
        if (s != DL_OK) {
            set_error(&j, err.message);
        } else {
            w->doc_idx = i;
            int n = dl_doc_page_count(w->doc);
            for (int p = 1; p <= n; p++)
                if (page_selected(o->pages, p)) {
                    if (!first) first = p;
                    last = p;
                }
            if (!first) {
                char m[600];
                snprintf(m, sizeof m, "%s: --pages %s selects none of its %d pages", path, o->pages, n);
                set_error(&j, m);
            }
        }
    }
    pthread_mutex_lock(&pl->mu);
    if (!first) {
        long long seq = pl->next_seq++;
        pl->cur++;
        pl->cur_state = IN_NEW;
        slot *s = &pl->slots[seq % pl->cap];
        s->j = j;
        s->ready = 1;
        if (seq == pl->consumed) pthread_cond_signal(&pl->ready_cv);
        t->kind = 0;
    } else {
        pl->cur_state = IN_READY;
        pl->cur_next = first;
        pl->cur_last = last;
        pl->cur_is_pdf = dl_doc_get_kind(w->doc) == DL_DOC_PDF;
        pl->cur_mime = dl_doc_mimetype(w->doc);
        pl->cur_hash = dl_doc_hash(w->doc);
        claim_page(pl, o, t);
    }
    pthread_cond_broadcast(&pl->work_cv);
    pthread_mutex_unlock(&pl->mu);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pipeline *pl = &w->c->pl;
    for (;;) {
        task t = {0};
        pthread_mutex_lock(&pl->mu);
        int more = claim(pl, w->c->o, &t);
        pthread_mutex_unlock(&pl->mu);
        if (!more) break;
        if (t.kind == T_OPEN) do_open(w, &t);
        if (t.kind == T_PAGE) do_page(w, &t);
    }
    dl_doc_close(w->doc);
    w->doc = NULL;
    return NULL;
}

/* The consumer: the next job in input order into *out, its pixels (when it has them) copied
 * to px. 0 when every input is done (or the run stopped). Adds the time spent waiting. */
static int pl_take(pipeline *pl, job *out, float *px, size_t plane, double *t_wait) {
    pthread_mutex_lock(&pl->mu);
    slot *s = &pl->slots[pl->consumed % pl->cap];
    if (!s->ready) {
        double t0 = now_s();
        while (!s->ready && !pl->stop && !(pl->cur >= pl->n_inputs && pl->consumed == pl->next_seq))
            pthread_cond_wait(&pl->ready_cv, &pl->mu);
        *t_wait += now_s() - t0;
    }
    int got = s->ready;
    pthread_mutex_unlock(&pl->mu);
    if (!got) return 0;
    /* a ready slot is the consumer's alone until it counts it consumed */
    *out = s->j;
    memset(&s->j, 0, sizeof s->j);
    if (out->has_pixels && !out->error) memcpy(px, s->pixels, plane * sizeof(float));
    pthread_mutex_lock(&pl->mu);
    s->ready = 0;
    pl->consumed++;
    pthread_cond_broadcast(&pl->work_cv);
    pthread_mutex_unlock(&pl->mu);
    return 1;
}

/* Workers for the device. On the CPU the inference thread pool needs the cores, and one
 * worker per WORKERS_CPU_CORES cores keeps the pages coming. On a GPU the cores have nothing
 * else to do, but MuPDF 1.19 takes its process-wide FreeType lock for every glyph drawn, so
 * rendering stops scaling at about WORKERS_GPU workers (an H200 machine with 16 cores, tiny
 * model: 205 pages/s with 1 worker, 274 with 4, 228 with 8, 197 with 15; one core stays with
 * the main thread). Measured: docs/benchmarks.md. */
#define WORKERS_CPU_CORES 8
#define WORKERS_GPU 4
static int default_workers(const dl_detector *det) {
    int cores = dl_cpu_count();
    const char *dev = dl_detector_device_name(det);
    int n = dev && strncmp(dev, "cuda", 4) == 0
                ? (cores - 1 < WORKERS_GPU ? cores - 1 : WORKERS_GPU)
                : cores / WORKERS_CPU_CORES;
    return n < 1 ? 1 : n;
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
    char *t = dl_json_print(j, 1);
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

static int detect(const options *o) {
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
    if (dl_cli_load_detector(o, &model, &det)) {
        sv_free(&c.inputs);
        return 1;
    }
    c.model = model;
    int batch = o->batch;
    int n_workers = o->workers > 0 ? o->workers : default_workers(det);
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
    int q = dl_model_num_queries(model), nl = dl_model_num_labels(model);
    int in_w = dl_model_input_width(model), in_h = dl_model_input_height(model);
    size_t plane = (size_t)3 * in_w * in_h;
    /* pages in flight: a batch being filled, a batch's worth ahead, one per worker, slack */
    pipeline *pl = &c.pl;
    pl->n_inputs = c.inputs.n;
    pl->cap = 2 * batch + n_workers + 2;
    pl->slots = calloc((size_t)pl->cap, sizeof *pl->slots);
    pl->stdin_in = calloc(c.inputs.n ? (size_t)c.inputs.n : 1, sizeof *pl->stdin_in);
    worker *workers = calloc((size_t)n_workers, sizeof *workers);
    float *px = malloc(plane * batch * sizeof(float));
    float *logits = malloc((size_t)batch * q * nl * sizeof(float)), *boxes = malloc((size_t)batch * q * 4 * sizeof(float));
    int max_det = dl_model_max_detections(model);
    dl_detection *raw = malloc((size_t)max_det * sizeof *raw);
    job *pend = calloc((size_t)batch, sizeof *pend);
    int sync_ok = 0;
    if (pthread_mutex_init(&pl->mu, NULL) == 0) {
        sync_ok = 1;
        if (pthread_cond_init(&pl->work_cv, NULL) == 0) {
            sync_ok = 2;
            if (pthread_cond_init(&pl->ready_cv, NULL) == 0) sync_ok = 3;
        }
    }
    doc_acc acc = {0};
    sink s = {0};
    int failed = 0, pages_done = 0, docs_skipped = 0, started = 0, fatal = 0;
    double t_start = now_s(), t_inf = 0, t_post = 0, t_out = 0, t_wait = 0;
    if (!pl->slots || !pl->stdin_in || !workers || !px || !logits || !boxes || !raw || !pend || sync_ok < 3) {
        fprintf(stderr, "doclayout: out of memory\n");
        fatal = 1;
    }
    for (; !fatal && started < n_workers; started++) {
        workers[started].c = &c;
        workers[started].doc_idx = -1;
        if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0) break;
    }
    if (!fatal && started == 0) {
        fprintf(stderr, "doclayout: cannot start the page workers\n");
        fatal = 1;
    }
    while (!fatal) {
        int np = 0, ng = 0;
        /* a batch: pages in input order, the good ones' pixels side by side in px */
        while (np < batch && pl_take(pl, &pend[np], px + plane * ng, plane, &t_wait)) {
            if (pend[np].has_pixels && !pend[np].error) ng++;
            np++;
        }
        if (np == 0) break;
        dl_error err;
        double t0 = now_s();
        dl_status fs = ng ? dl_detector_forward(det, px, ng, in_h, in_w, logits, boxes, &err) : DL_OK;
        t_inf += now_s() - t0;
        int gi = 0;
        for (int k = 0; k < np; k++) {
            job *jb = &pend[k];
            const char *source = c.inputs.v[jb->doc];
            if (fatal) {
                job_clear(jb);
                continue;
            }
            if (jb->skip) {
                docs_skipped++;
                job_clear(jb);
                continue;
            }
            if (acc.n == acc.cap) {
                int cap = acc.cap ? acc.cap * 2 : 8;
                page_res *v = realloc(acc.v, (size_t)cap * sizeof *v);
                if (!v) {
                    fprintf(stderr, "%sdoclayout: out of memory\n", show ? "\n" : "");
                    fatal = 1;
                    job_clear(jb);
                    continue;
                }
                acc.v = v;
                acc.cap = cap;
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
            int good = jb->has_pixels && !jb->error;
            if (good && fs != DL_OK) set_error(jb, err.message);
            if (!good && !jb->error) set_error(jb, "out of memory"); /* no room even for the message */
            if (!jb->has_pixels || jb->error) {
                r->error = jb->error;
                jb->error = NULL;
                r->out.error = r->error ? r->error : "out of memory";
                failed++;
                if (jb->page_no) fprintf(stderr, "%sdoclayout: %s: page %d: %s\n", show ? "\n" : "", r->out.source, jb->page_no, r->out.error);
                else fprintf(stderr, "%sdoclayout: %s\n", show ? "\n" : "", r->out.error);
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
                    int lab = dl_model_docling_label(model, dd->label_id);
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
                        r->out.error = r->error ? r->error : "out of memory";
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
            job_clear(jb);
            if (show) progress(pages_done, total, t_start);
        }
    }
    /* stop the workers (they are done unless the run gave up) and free what is in flight */
    if (sync_ok == 3) {
        pthread_mutex_lock(&pl->mu);
        pl->stop = 1;
        pthread_cond_broadcast(&pl->work_cv);
        pthread_mutex_unlock(&pl->mu);
    }
    double t_render = 0, t_pre = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].th, NULL);
        t_render += workers[i].t_render;
        t_pre += workers[i].t_pre;
    }
    if (fatal) failed++;
    else {
        double t2 = now_s();
        if (!finish_sink(&c, &s)) failed++;
        t_out += now_s() - t2;
    }
    double wall = now_s() - t_start;
    if (show) fputc('\n', stderr);
    if (docs_skipped && !o->quiet)
        fprintf(stderr, "doclayout: %d input%s skipped: the result exists (--force redoes it)\n", docs_skipped, docs_skipped > 1 ? "s" : "");
    if (o->timings && !fatal) {
        int n = pages_done > 0 ? pages_done : 1;
        double busy = started > 0 && wall > 0 ? 100.0 * (t_render + t_pre) / (started * wall) : 0;
        fprintf(stderr,
                "timings: %d pages in %.3f s = %.2f pages/s end to end (batch %d, %d inference threads, %d page workers)\n"
                "  page workers, ms/page summed over the %d workers (CPU time when each has a core): "
                "render/decode %.2f, preprocess %.2f; busy %.0f%% of the time\n"
                "  main thread, ms/page: inference %.2f, post-process %.2f, output %.2f, waiting for pages %.2f\n",
                pages_done, wall, pages_done / wall, batch, dl_detector_num_threads(det), started, started,
                1e3 * t_render / n, 1e3 * t_pre / n, busy, 1e3 * t_inf / n, 1e3 * t_post / n, 1e3 * t_out / n,
                1e3 * t_wait / n);
    }
    if (fatal) { /* never emitted */
        acc_clear(&acc);
        for (int k = 0; k < batch && pend; k++) job_clear(&pend[k]);
        cJSON_Delete(s.json_root);
        cJSON_Delete(s.coco_results);
        cJSON_Delete(s.coco_images);
        cJSON_Delete(s.docling_docs);
        free(s.markdown);
    }
    if (pl->slots)
        for (int k = 0; k < pl->cap; k++) {
            job_clear(&pl->slots[k].j);
            free(pl->slots[k].pixels);
        }
    if (pl->stdin_in)
        for (int i = 0; i < c.inputs.n; i++) free(pl->stdin_in[i].data);
    free(pl->slots);
    free(pl->stdin_in);
    free(workers);
    free(acc.v);
    free(px); free(logits); free(boxes); free(raw); free(pend);
    sv_free(&c.inputs);
    if (sync_ok >= 3) pthread_cond_destroy(&pl->ready_cv);
    if (sync_ok >= 2) pthread_cond_destroy(&pl->work_cv);
    if (sync_ok >= 1) pthread_mutex_destroy(&pl->mu);
    dl_detector_free(det);
    dl_model_free(model);
    return failed ? 1 : 0;
}

const char dl_cli_detect_help[] =
    "  doclayout detect --model DIR [options] INPUT...\n"
    "      Detect the layout of every page of each input: PDF (rendered with MuPDF), TIFF\n"
    "      (every page), PNG, JPEG; '-' reads standard input, a DIRECTORY gives its .pdf .png\n"
    "      .jpg .jpeg .tif .tiff files, @LIST.txt gives one path per line. A failing page or\n"
    "      file is reported and the run goes on. Docling's layout post-processor (per-label\n"
    "      thresholds, text cells assigned to regions, overlap rules, reading order) runs by\n"
    "      default; pages without a text layer skip its cell assignment.\n"
    "        --model DIR      Hugging Face model directory (config.json, model.safetensors,\n"
    "                         preprocessor_config.json) or a cached repo id such as\n"
    "                         docling-project/docling-layout-heron (looked up offline in\n"
    "                         $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)\n"
    "        --format F       json (default): {\"model\", \"pages\": [{\"source\", \"page\",\n"
    "                         \"width\", \"height\", \"detections\": [{\"label\", \"label_id\",\n"
    "                         \"score\", \"box\": [x0, y0, x1, y1], \"text\"}]}]}, boxes in page\n"
    "                         pixels, top-left origin; coco: COCO detection results;\n"
    "                         docling: a DoclingDocument per input (boxes in PDF points,\n"
    "                         BOTTOMLEFT origin); markdown: text in reading order\n"
    "        --raw            the model's detections unchanged (no post-processor)\n"
    "        --coco-images    with --format coco: add the images and categories blocks\n"
    "        --dpi N          PDF render resolution (default 72: 1 pixel = 1 point)\n"
    "        --pages LIST     pages to process, e.g. 1-3,7 or 5- (default: all)\n"
    "        --password PW    password of encrypted PDFs\n"
    "        --cells MODE     PDF text cells: lines (default, as Docling) or words\n"
    "        --threads N      CPU threads (default: all cores)\n"
    "        --batch N        pages per inference call (default 1)\n"
    "        --workers N      threads that open, render/decode and preprocess pages, the pages\n"
    "                         of one PDF spread over them; results stay in input order\n"
    "                         (default: with --device cuda 4 (MuPDF serialises glyph drawing\n"
    "                         beyond that), on the CPU one per 8 cores, at least 1)\n"
    "        --threshold T    keep detections with score > T (default 0.3)\n"
    "        --device D       cpu (default), cuda, cuda:N (GPU N) or auto (the GPU when the\n"
    "                         CUDA module libdoclayout_cuda.so loads and a GPU works, else CPU)\n"
    "        --precision P    fp32, bf16 or fp16 (GPU; default bf16 there, fp32 on CPU; bf16 on\n"
    "                         the CPU: bf16 products, fp32 sums; fast with AVX512_BF16)\n"
    "        --cpu LEVEL      CPU kernels: scalar, avx2, avx512, avx512bf16 (x86-64), neon,\n"
    "                         neonbf16 (aarch64); default the best this CPU runs (also the\n"
    "                         DOCLAYOUT_CPU environment variable)\n"
    "        -o FILE          write one combined result to FILE instead of standard output\n"
    "        -o DIR/          (an existing directory, or a path ending in '/') one result per\n"
    "                         input, DIR/NAME.json (.coco.json, .docling.json, .md); inputs\n"
    "                         whose result exists are skipped, so a stopped run resumes\n"
    "        --force          with -o DIR/: redo inputs whose result exists\n"
    "        --overlay DIR    also write each page as a PNG with the boxes drawn on it\n"
    "        --quiet          no progress bar (it is shown only when stderr is a terminal)\n"
    "        --timings        print pages/s and per-stage ms/page to stderr at the end\n";

int dl_cli_detect(int argc, char **argv) {
    options o;
    int rc = dl_cli_parse_options(argc, argv, &o);
    if (rc == 0) rc = detect(&o);
    free(o.files);
    return rc;
}
