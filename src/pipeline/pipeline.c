/*
 * The document pipeline (public API: "Document pipeline" in doclayout.h): inputs -> pages ->
 * the detector in batches -> Docling's layout post-processor -> the output sinks, in input
 * order. Page workers open inputs, render/decode and preprocess pages into a reorder buffer;
 * the thread calling dl_pipeline_run (the consumer) takes them in input order, runs the
 * detector in batches, post-processes and hands each page to the sinks, then frees it, so
 * memory stays bounded (at most 2 x batch + workers + 2 pages in flight). See "the page
 * pipeline" below.
 */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "document/document.h"
#include "output/sink.h"
#include "pipeline/batcher.h"
#include "postprocess/layout.h"

/* ---- page selection ---------------------------------------------------------------------- */

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

/* The pipeline: its options (strings copied), its outputs, and the cancel flag. */
struct dl_pipeline {
    const dl_model *model;
    dl_detector *detector;   /* the forward passes run here, or */
    dl_batcher *batcher;     /* through here, pooled with its other clients' pages */
    const dl_detector *info; /* the one that runs them (its device, for workers and outputs) */
    dl_pipeline_options o;
    char *pages, *password; /* copies of o.pages, o.password */
    dl_sink **sinks;
    int n_sinks;
    atomic_int cancel;
};

/* 1 when every per-document output of `path` exists (and there is at least one). */
static int results_exist(const dl_pipeline *p, const char *path) {
    int n = 0;
    for (int i = 0; i < p->n_sinks; i++) {
        if (!dl_sink_is_per_document(p->sinks[i])) continue;
        if (!dl_sink_result_exists(p->sinks[i], path)) return 0;
        n++;
    }
    return n > 0;
}

/* ---- the page pipeline ------------------------------------------------------------------
 *
 * `workers` threads open inputs, render/decode pages and preprocess them; the main thread
 * (the consumer) takes the pages in input order, runs inference in batches, post-processes
 * and writes. Work is claimed in input order under one mutex: a claim is either "open input
 * i" (the first worker to reach an input checks for its existing results, opens it, counts
 * and selects its pages, then publishes them; the others wait for that, which is short) or
 * "page p of input i", numbered by a sequence number. Pages of one document go to different
 * workers, each with its own open dl_doc of that file (a dl_doc, so a MuPDF context, is used
 * by one thread at a time); standard input is read once, by the worker that opens it, and the
 * others open their copy from those bytes. Finished jobs go to a reorder buffer of `cap`
 * slots, slot = sequence number % cap: a claim is allowed only while fewer than `cap` jobs
 * are claimed and not yet consumed, so memory stays bounded, and since claims are made in
 * input order the job the consumer waits for is always claimed (no deadlock). */

typedef struct job {
    int doc;        /* input index */
    int page_no;    /* 1-based, 0 for a document-level result */
    int last;       /* the document's last job */
    int skip;       /* the document's results exist (skip_existing) */
    int has_pixels; /* the slot's pixels hold this page, preprocessed */
    int is_pdf;
    const char *mime; /* static string */
    unsigned long long hash;
    dl_pdf_page page;
    char *error; /* the page's or the document's error; NULL when none */
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
    int cur;                /* the input claims come from */
    int cur_state;          /* IN_NEW: nobody opened it yet; IN_OPENING; IN_READY: pages */
    int cur_next, cur_last; /* its next and last selected page (1-based) */
    int cur_is_pdf;
    const char *cur_mime;
    unsigned long long cur_hash;
    long long next_seq;    /* the next claim's sequence number */
    long long consumed;    /* jobs the consumer has taken */
    int cap;               /* most jobs claimed and not yet consumed */
    slot *slots;           /* [cap] */
    int stop;              /* the consumer gave up: workers return */
    stdin_bytes *stdin_in; /* [n_inputs] the bytes of "-" inputs, read once */
} pipeline;

typedef struct run_ctx run_ctx;

typedef struct worker {
    run_ctx *c;
    pthread_t th;
    dl_doc *doc;            /* this worker's own open document ... */
    int doc_idx;            /* ... input index, -1 when none */
    double t_render, t_pre; /* this worker's stage totals (s, wall clock inside the worker) */
} worker;

struct run_ctx {
    dl_pipeline *p;
    const dl_pipeline_options *o;
    const char *const *inputs; /* [pl.n_inputs] */
    const dl_model *model;
    pipeline pl;
};

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
static void claim_page(pipeline *pl, const dl_pipeline_options *o, task *t) {
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
static int claim(pipeline *pl, const dl_pipeline_options *o, task *t) {
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
    const char *path = c->inputs[i];
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
    const dl_pipeline_options *o = c->o;
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
    double t0 = dl_now_s();
    dl_status s = worker_doc(w, t->doc, &err);
    if (s == DL_OK)
        s = dl_doc_load_page(w->doc, t->page - 1, o->dpi,
                             o->word_cells ? DL_CELLS_WORDS : DL_CELLS_LINES, &j.page, &err);
    double t1 = dl_now_s();
    w->t_render += t1 - t0;
    if (s == DL_OK) {
        int in_w = dl_model_input_width(c->model), in_h = dl_model_input_height(c->model);
        if (!sl->pixels) sl->pixels = malloc((size_t)3 * in_w * in_h * sizeof(float));
        if (!sl->pixels)
            s = DL_ERR_OUT_OF_MEMORY, snprintf(err.message, sizeof err.message, "out of memory");
        else s = dl_model_preprocess(c->model, j.page.image, sl->pixels, &err);
        w->t_pre += dl_now_s() - t1;
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
    const dl_pipeline_options *o = c->o;
    pipeline *pl = &c->pl;
    int i = t->doc;
    const char *path = c->inputs[i];
    job j = {0};
    j.doc = i;
    j.last = 1;
    int first = 0, last = 0;
    if (o->skip_existing && strcmp(path, "-") != 0) j.skip = results_exist(c->p, path);
    if (!j.skip) {
        dl_error err;
        double t0 = dl_now_s();
        dl_status s;
        dl_doc_close(w->doc);
        w->doc = NULL;
        w->doc_idx = -1;
        if (strcmp(path, "-") == 0) {
            stdin_bytes *b = &pl->stdin_in[i];
            s = dl_doc_read_stdin(&b->data, &b->size, &err);
            if (s == DL_OK)
                s = dl_doc_open_memory("stdin", b->data, b->size, o->password, &w->doc, &err);
        } else {
            s = dl_doc_open(path, o->password, &w->doc, &err);
        }
        w->t_render += dl_now_s() - t0;
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
                snprintf(m, sizeof m, "%s: --pages %s selects none of its %d pages", path, o->pages,
                         n);
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
        double t0 = dl_now_s();
        while (!s->ready && !pl->stop && !(pl->cur >= pl->n_inputs && pl->consumed == pl->next_seq))
            pthread_cond_wait(&pl->ready_cv, &pl->mu);
        *t_wait += dl_now_s() - t0;
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
    int n = !dl_detector_uses_cpu_threads(det) ? (cores - 1 < WORKERS_GPU ? cores - 1 : WORKERS_GPU)
                                               : cores / WORKERS_CPU_CORES;
    return n < 1 ? 1 : n;
}

/* ---- the consumer: batches, post-processing, the sinks ----------------------------------- */

/* The network on n pages [n,3,H,W] -> logits [n,Q,L], boxes [n,Q,4], on the pipeline's detector
 * or through its batcher (the same detector call, in a batch shared with other clients: on the
 * CPU each page is run on its own, so the outputs are the same bits). */
static dl_status forward(dl_pipeline *p, const float *px, int n, int h, int w, float *logits,
                         float *boxes, dl_error *err) {
    if (!p->batcher) return dl_detector_forward(p->detector, px, n, h, w, logits, boxes, err);
    dl_batch_job *bj = NULL;
    dl_status s;
    /* a full queue (other clients' pages): wait for room, unless the run is cancelled */
    while ((s = dl_batcher_submit_forward(p->batcher, px, n, logits, boxes, &bj, err)) ==
           DL_ERR_BUSY) {
        if (atomic_load(&p->cancel)) return dl_fail(err, DL_ERR_CANCELLED, "cancelled");
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    if (s != DL_OK) return s;
    s = dl_batch_job_wait(bj, -1, err);
    dl_batch_job_release(bj);
    return s;
}

/* What the consumer keeps of the run. */
typedef struct consumer {
    dl_pipeline *p;
    const char *const *inputs;
    dl_pipeline_report rep;
    int cur_doc;       /* the document being written, -1 before the first */
    int doc_ok;        /* no page of it failed */
    int *sink_bad;     /* [n_sinks] the sink failed for the current document */
    dl_detection *raw; /* [max detections] */
} consumer;

static void emit(consumer *k, dl_pipeline_event_kind kind, const char *source, int page,
                 const char *message) {
    const dl_pipeline_options *o = &k->p->o;
    if (!o->on_event) return;
    dl_pipeline_event e = {kind, source, page, message, k->rep.pages};
    o->on_event(o->user, &e);
}

static const char *source_name(const char *path) { return strcmp(path, "-") == 0 ? "stdin" : path; }

/* A document starts in every sink. */
static void doc_begin(consumer *k, const job *jb, double *t_out) {
    dl_pipeline *p = k->p;
    double t0 = dl_now_s();
    const char *src = source_name(k->inputs[jb->doc]);
    dl_sink_doc d = {src, jb->mime ? jb->mime : "application/octet-stream", jb->hash, 0};
    k->cur_doc = jb->doc;
    k->doc_ok = 1;
    for (int i = 0; i < p->n_sinks; i++) {
        dl_error err;
        k->sink_bad[i] = dl_sink_doc_begin(p->sinks[i], &d, &err) != DL_OK;
        if (k->sink_bad[i]) {
            k->doc_ok = 0;
            emit(k, DL_EVENT_DOCUMENT_FAILED, src, 0, err.message);
        }
    }
    *t_out += dl_now_s() - t0;
}

/* The document ends: per-document results are committed only when it succeeded. */
static void doc_end(consumer *k, double *t_out) {
    dl_pipeline *p = k->p;
    double t0 = dl_now_s();
    const char *src = source_name(k->inputs[k->cur_doc]);
    for (int i = 0; i < p->n_sinks; i++) {
        dl_error err;
        if (dl_sink_doc_end(p->sinks[i], k->doc_ok && !k->sink_bad[i], &err) != DL_OK) {
            if (!k->sink_bad[i]) emit(k, DL_EVENT_DOCUMENT_FAILED, src, 0, err.message);
            k->doc_ok = 0;
        }
    }
    k->rep.documents++;
    if (!k->doc_ok) k->rep.documents_failed++;
    k->cur_doc = -1;
    *t_out += dl_now_s() - t0;
}

/* One page (or a document-level failure) through post-processing and the sinks. `logits`,
 * `boxes`: its network outputs when it has pixels and the batch's forward succeeded. */
static void consume(consumer *k, job *jb, const float *logits, const float *boxes,
                    dl_status forward, const char *forward_error, double *t_post, double *t_out) {
    dl_pipeline *p = k->p;
    const dl_pipeline_options *o = &p->o;
    const char *src = source_name(k->inputs[jb->doc]);
    dl_page_out out = {0};
    out.source = src;
    out.page_no = jb->page_no ? jb->page_no : 1;
    if (jb->page.image) {
        out.width = jb->page.image->width;
        out.height = jb->page.image->height;
    }
    out.width_pt = jb->page.width_pt;
    out.height_pt = jb->page.height_pt;
    out.scale = jb->page.scale;
    out.dpi = jb->is_pdf ? o->dpi : 0;
    out.cells = &jb->page.cells;
    int good = jb->has_pixels && !jb->error;
    if (good && forward != DL_OK) set_error(jb, forward_error);
    if (!good && !jb->error) set_error(jb, "out of memory"); /* no room even for the message */
    dl_layout layout = {0};
    dl_region *raw_regions = NULL;
    size_t n = 0;
    if (!jb->error) {
        double t1 = dl_now_s();
        const dl_image *img = jb->page.image;
        dl_error perr;
        if (dl_model_postprocess(p->model, logits, boxes, o->threshold, img->width, img->height,
                                 k->raw, &n, &perr) != DL_OK)
            emit(k, DL_EVENT_WARNING, src, jb->page_no, perr.message);
        dl_cluster_in *in = calloc(n ? n : 1, sizeof *in);
        size_t nin = 0;
        for (size_t i = 0; i < n && in; i++) {
            const dl_detection *dd = &k->raw[i];
            int lab = dl_model_docling_label(p->model, dd->label_id);
            if (lab < 0) continue; /* not a Docling label: only raw keeps it */
            double sc = jb->page.scale;
            in[nin++] = (dl_cluster_in){
                lab,
                dd->score,
                {dd->box[0] / sc, dd->box[1] / sc, dd->box[2] / sc, dd->box[3] / sc}};
        }
        if (!in) {
            set_error(jb, "out of memory");
        } else if (o->raw) {
            out.raw = k->raw;
            out.n_raw = n;
            raw_regions = calloc(nin ? nin : 1, sizeof *raw_regions);
            for (size_t i = 0; i < nin && raw_regions; i++)
                raw_regions[i] =
                    (dl_region){in[i].label, in[i].confidence, in[i].box, (int)i, NULL, 0, NULL, 0};
            if (!raw_regions) set_error(jb, "out of memory");
            out.regions = raw_regions;
            out.n_regions = raw_regions ? nin : 0;
        } else {
            /* a page without a text layer (an image, a scan) keeps its clusters: Docling's
             * skip_cell_assignment mode */
            dl_layout_options lo = dl_layout_default_options();
            lo.skip_cell_assignment = jb->page.cells.n == 0;
            dl_error lerr;
            if (dl_layout_postprocess(in, nin, &jb->page.cells, jb->page.width_pt,
                                      jb->page.height_pt, &lo, &layout, &lerr) != DL_OK)
                set_error(jb, lerr.message);
            out.regions = layout.regions;
            out.n_regions = layout.n;
        }
        free(in);
        *t_post += dl_now_s() - t1;
    }
    if (jb->error) {
        out.error = jb->error;
        k->rep.pages_failed++;
        k->doc_ok = 0;
        if (jb->page_no) emit(k, DL_EVENT_PAGE_FAILED, src, jb->page_no, jb->error);
        else emit(k, DL_EVENT_DOCUMENT_FAILED, src, 0, jb->error);
    }
    double t2 = dl_now_s();
    int only_page = jb->last && jb->page_no == 1;
    for (int i = 0; i < p->n_sinks; i++) {
        if (k->sink_bad[i]) continue;
        dl_error serr;
        if (dl_sink_page(p->sinks[i], &out, jb->page.image, only_page, &serr) != DL_OK)
            emit(k, DL_EVENT_WARNING, src, jb->page_no, serr.message);
    }
    *t_out += dl_now_s() - t2;
    dl_layout_free(&layout);
    free(raw_regions);
    k->rep.pages++;
    emit(k, DL_EVENT_PAGE_DONE, src, jb->page_no, NULL);
}

/* ---- the API ----------------------------------------------------------------------------- */

dl_pipeline_options dl_pipeline_default_options(void) {
    dl_pipeline_options o;
    memset(&o, 0, sizeof o);
    o.batch = 1;
    o.threshold = 0.3f;
    o.dpi = 72;
    return o;
}

dl_status dl_pipeline_check_options(const dl_pipeline_options *o, dl_error *err) {
    if (!o) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pipeline: NULL options");
    if (!valid_pages(o->pages))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "--pages expects a list like 1-3,7 or 5-, got '%s'", o->pages);
    if (o->batch < 1 || o->batch > 256)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "batch must be in [1, 256], got %d", o->batch);
    if (o->workers < 0 || o->workers > 256)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "workers must be in [0, 256], got %d",
                       o->workers);
    if (!(o->threshold >= 0 && o->threshold <= 1))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "threshold must be in [0, 1], got %g",
                       o->threshold);
    if (!(o->dpi >= 1 && o->dpi <= 2400))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dpi must be in [1, 2400], got %g", o->dpi);
    return DL_OK;
}

static dl_status create(const dl_model *model, dl_detector *detector, dl_batcher *batcher,
                        const dl_pipeline_options *options, dl_pipeline **out, dl_error *err) {
    dl_pipeline_options o = options ? *options : dl_pipeline_default_options();
    dl_status s = dl_pipeline_check_options(&o, err);
    if (s != DL_OK) return s;
    dl_pipeline *p = calloc(1, sizeof *p);
    if (!p || (o.pages && !(p->pages = strdup(o.pages))) ||
        (o.password && !(p->password = strdup(o.password)))) {
        dl_pipeline_free(p);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    o.pages = p->pages;
    o.password = p->password;
    p->o = o;
    p->model = model;
    p->detector = detector;
    p->batcher = batcher;
    p->info = batcher ? dl_batcher_detector(batcher) : detector;
    atomic_init(&p->cancel, 0);
    *out = p;
    return DL_OK;
}

dl_status dl_pipeline_create(const dl_model *model, dl_detector *detector,
                             const dl_pipeline_options *options, dl_pipeline **out, dl_error *err) {
    if (out) *out = NULL;
    if (!out || !model || !detector)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pipeline_create: NULL");
    return create(model, detector, NULL, options, out, err);
}

dl_status dl_pipeline_create_batched(const dl_model *model, dl_batcher *batcher,
                                     const dl_pipeline_options *options, dl_pipeline **out,
                                     dl_error *err) {
    if (out) *out = NULL;
    if (!out || !model || !batcher)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pipeline_create_batched: NULL");
    if (dl_batcher_model(batcher) != model)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "dl_pipeline_create_batched: the batcher runs another model");
    return create(model, NULL, batcher, options, out, err);
}

void dl_pipeline_free(dl_pipeline *p) {
    if (!p) return;
    for (int i = 0; i < p->n_sinks; i++) dl_sink_free(p->sinks[i]);
    free(p->sinks);
    free(p->pages);
    free(p->password);
    free(p);
}

dl_status dl_pipeline_add_output(dl_pipeline *p, const dl_output_options *options, dl_error *err) {
    if (!p || !options)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pipeline_add_output: NULL");
    dl_sink **v = realloc(p->sinks, (size_t)(p->n_sinks + 1) * sizeof *v);
    if (!v) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    p->sinks = v;
    dl_status s = dl_sink_create(options, p->model, p->info, &p->sinks[p->n_sinks], err);
    if (s == DL_OK) p->n_sinks++;
    return s;
}

void dl_pipeline_cancel(dl_pipeline *p) {
    if (p) atomic_store(&p->cancel, 1);
}

int dl_pipeline_count_pages(const dl_pipeline *p, const char *const *inputs, size_t count) {
    int total = 0;
    for (size_t i = 0; p && i < count; i++) {
        dl_doc *d = NULL;
        dl_error e;
        if (strcmp(inputs[i], "-") != 0 && dl_doc_open(inputs[i], p->password, &d, &e) == DL_OK) {
            for (int pg = 1; pg <= dl_doc_page_count(d); pg++) total += page_selected(p->pages, pg);
            dl_doc_close(d);
        } else {
            total++;
        }
    }
    return total;
}

dl_status dl_pipeline_run(dl_pipeline *p, const char *const *inputs, size_t count,
                          dl_pipeline_report *report, dl_error *err) {
    if (report) memset(report, 0, sizeof *report);
    if (!p || (!inputs && count))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_pipeline_run: NULL");
    if (count > INT_MAX / 2)
        return dl_fail(err, DL_ERR_LIMIT, "dl_pipeline_run: %zu inputs", count);
    atomic_store(&p->cancel, 0);
    const dl_pipeline_options *o = &p->o;
    const dl_model *model = p->model;
    run_ctx c = {0};
    c.p = p;
    c.o = o;
    c.inputs = inputs;
    c.model = model;
    consumer k = {0};
    k.p = p;
    k.inputs = inputs;
    k.cur_doc = -1;
    int batch = o->batch;
    int n_workers = o->workers > 0 ? o->workers : default_workers(p->info);
    int q = dl_model_num_queries(model), nl = dl_model_num_labels(model);
    int in_w = dl_model_input_width(model), in_h = dl_model_input_height(model);
    size_t plane = (size_t)3 * in_w * in_h;
    /* pages in flight: a batch being filled, a batch's worth ahead, one per worker, slack */
    pipeline *pl = &c.pl;
    pl->n_inputs = (int)count;
    pl->cap = 2 * batch + n_workers + 2;
    pl->slots = calloc((size_t)pl->cap, sizeof *pl->slots);
    pl->stdin_in = calloc(count ? count : 1, sizeof *pl->stdin_in);
    worker *workers = calloc((size_t)n_workers, sizeof *workers);
    float *px = malloc(plane * batch * sizeof(float));
    float *logits = malloc((size_t)batch * q * nl * sizeof(float));
    float *boxes = malloc((size_t)batch * q * 4 * sizeof(float));
    k.raw = malloc((size_t)dl_model_max_detections(model) * sizeof *k.raw);
    k.sink_bad = calloc((size_t)p->n_sinks + 1, sizeof *k.sink_bad);
    job *pend = calloc((size_t)batch, sizeof *pend);
    int sync_ok = 0;
    if (pthread_mutex_init(&pl->mu, NULL) == 0) {
        sync_ok = 1;
        if (pthread_cond_init(&pl->work_cv, NULL) == 0) {
            sync_ok = 2;
            if (pthread_cond_init(&pl->ready_cv, NULL) == 0) sync_ok = 3;
        }
    }
    dl_status status = DL_OK;
    int started = 0, sinks_begun = 0;
    double t_start = dl_now_s(), t_inf = 0, t_post = 0, t_out = 0, t_wait = 0;
    if (!pl->slots || !pl->stdin_in || !workers || !px || !logits || !boxes || !k.raw ||
        !k.sink_bad || !pend || sync_ok < 3)
        status = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    for (; status == DL_OK && sinks_begun < p->n_sinks; sinks_begun++)
        status = dl_sink_run_begin(p->sinks[sinks_begun], count, err);
    for (; status == DL_OK && started < n_workers; started++) {
        workers[started].c = &c;
        workers[started].doc_idx = -1;
        if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0) break;
    }
    if (status == DL_OK && started == 0)
        status = dl_fail(err, DL_ERR_INTERNAL, "cannot start the page workers");
    while (status == DL_OK) {
        if (atomic_load(&p->cancel)) {
            status = dl_fail(err, DL_ERR_CANCELLED, "cancelled");
            break;
        }
        int np = 0, ng = 0;
        /* a batch: pages in input order, the good ones' pixels side by side in px */
        while (np < batch && pl_take(pl, &pend[np], px + plane * ng, plane, &t_wait)) {
            if (pend[np].has_pixels && !pend[np].error) ng++;
            np++;
        }
        if (np == 0) break;
        dl_error ferr;
        ferr.message[0] = '\0';
        double t0 = dl_now_s();
        dl_status fs = ng ? forward(p, px, ng, in_h, in_w, logits, boxes, &ferr) : DL_OK;
        t_inf += dl_now_s() - t0;
        if (fs == DL_ERR_CANCELLED) {
            status = dl_fail(err, DL_ERR_CANCELLED, "cancelled");
            break;
        }
        int gi = 0;
        for (int i = 0; i < np; i++) {
            job *jb = &pend[i];
            if (jb->skip) {
                k.rep.documents_skipped++;
                emit(&k, DL_EVENT_DOCUMENT_SKIPPED, source_name(inputs[jb->doc]), 0, NULL);
                job_clear(jb);
                continue;
            }
            int good = jb->has_pixels && !jb->error;
            if (k.cur_doc != jb->doc) doc_begin(&k, jb, &t_out);
            consume(&k, jb, logits + (size_t)gi * q * nl, boxes + (size_t)gi * q * 4, fs,
                    ferr.message, &t_post, &t_out);
            gi += good;
            if (jb->last) doc_end(&k, &t_out);
            job_clear(jb);
        }
    }
    /* stop the workers (they are done unless the run gave up) and free what is in flight */
    if (sync_ok == 3) {
        pthread_mutex_lock(&pl->mu);
        pl->stop = 1;
        pthread_cond_broadcast(&pl->work_cv);
        pthread_mutex_unlock(&pl->mu);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].th, NULL);
        k.rep.render_s += workers[i].t_render;
        k.rep.preprocess_s += workers[i].t_pre;
    }
    /* a document cut short leaves no result; the combined results are committed when the
     * run completed */
    double t2 = dl_now_s();
    for (int i = 0; i < sinks_begun; i++) {
        dl_error e;
        dl_status s = dl_sink_run_end(p->sinks[i], status == DL_OK, &e);
        if (s != DL_OK && status == DL_OK) {
            status = s;
            if (err) *err = e;
        }
    }
    t_out += dl_now_s() - t2;
    k.rep.workers = started;
    k.rep.seconds = dl_now_s() - t_start;
    k.rep.inference_s = t_inf;
    k.rep.postprocess_s = t_post;
    k.rep.output_s = t_out;
    k.rep.wait_s = t_wait;
    if (report) *report = k.rep;
    for (int i = 0; i < batch && pend; i++) job_clear(&pend[i]);
    if (pl->slots)
        for (int i = 0; i < pl->cap; i++) {
            job_clear(&pl->slots[i].j);
            free(pl->slots[i].pixels);
        }
    if (pl->stdin_in)
        for (size_t i = 0; i < count; i++) free(pl->stdin_in[i].data);
    free(pl->slots);
    free(pl->stdin_in);
    free(workers);
    free(px);
    free(logits);
    free(boxes);
    free(k.raw);
    free(k.sink_bad);
    free(pend);
    if (sync_ok >= 3) pthread_cond_destroy(&pl->ready_cv);
    if (sync_ok >= 2) pthread_cond_destroy(&pl->work_cv);
    if (sync_ok >= 1) pthread_mutex_destroy(&pl->mu);
    return status;
}
