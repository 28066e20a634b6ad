/* The dynamic batcher (dl_batcher_*, doclayout.h) on the committed tiny model: jobs submitted
 * from several threads, pooled into shared batches and split across them, each get their own
 * pages' results in their order, bit for bit equal to the page run alone (a page's result must
 * not depend on the batch it rode in, on the CPU); bad options and pages are refused by name;
 * a full queue gives DL_ERR_BUSY at once; a wait past its time gives DL_ERR_TIMEOUT and drops
 * the job's pages. A document pipeline run through a batcher (dl_pipeline_create_batched),
 * sharing its batches with another client, writes the same bytes as on the detector. */
#include <pthread.h>
#include <stdint.h>

#include "doclayout.h"
#include "pipeline/batcher.h"
#include "test_util.h"

#define PAGES 3

static const dl_model *model;
static float *pages;                  /* [PAGES,3,H,W] */
static int64_t *ref_labels;           /* [PAGES,K] */
static float *ref_scores, *ref_boxes; /* [PAGES,K], [PAGES,K,4] */
static const int64_t sizes[PAGES][2] = {{612, 792}, {1240, 1754}, {300, 200}};
static size_t page_floats;
static int k;

typedef struct client {
    dl_batcher *b;
    int order[4], n;
    int ok;
} client;

/* Submit the pages of c->order as one job and compare its results with the references. */
static void *run_client(void *arg) {
    client *c = arg;
    float *px = malloc((size_t)c->n * page_floats * sizeof(float));
    int64_t wh[8];
    for (int i = 0; i < c->n; i++) {
        memcpy(px + (size_t)i * page_floats, pages + (size_t)c->order[i] * page_floats,
               page_floats * sizeof(float));
        wh[2 * i] = sizes[c->order[i]][0];
        wh[2 * i + 1] = sizes[c->order[i]][1];
    }
    dl_error err;
    dl_batch_job *job = NULL;
    c->ok = px && dl_batcher_submit(c->b, px, wh, c->n, &job, &err) == DL_OK;
    if (c->ok) c->ok = dl_batch_job_wait(job, -1, &err) == DL_OK;
    for (int i = 0; c->ok && i < c->n; i++) {
        size_t p = (size_t)c->order[i], at = (size_t)i * (size_t)k;
        c->ok = memcmp(dl_batch_job_labels(job) + at, ref_labels + p * k, k * 8) == 0 &&
                memcmp(dl_batch_job_scores(job) + at, ref_scores + p * k, k * 4) == 0 &&
                memcmp(dl_batch_job_boxes(job) + at * 4, ref_boxes + p * k * 4, k * 16) == 0;
    }
    dl_batch_job_release(job);
    free(px); /* borrowed by the batcher until the release */
    return NULL;
}

/* A growing buffer for a pipeline output. */
typedef struct text {
    char *p;
    size_t n;
} text;
static int text_write(void *user, const void *data, size_t size) {
    text *t = user;
    char *q = realloc(t->p, t->n + size + 1);
    if (!q) return 0;
    memcpy(q + t->n, data, size);
    t->n += size;
    q[t->n] = '\0';
    t->p = q;
    return 1;
}

/* Run the document pipeline (batches of 2, json of the raw detections at threshold 0) on a 3-page
 * TIFF and a PNG, on `det` or through `b`; the json output in *out. */
static dl_status run_documents(dl_detector *det, dl_batcher *b, text *out, dl_error *err) {
    dl_pipeline_options po = dl_pipeline_default_options();
    po.batch = 2;
    po.threshold = 0.0f;
    po.raw = 1; /* every detection, not Docling's post-processed regions */
    po.workers = 2;
    dl_pipeline *p = NULL;
    dl_output_options oo = {.format = "json", .write = text_write, .write_user = out};
    const char *in[2] = {DL_SOURCE_DIR "/tests/fixtures/images/multipage.tif",
                         DL_SOURCE_DIR "/tests/fixtures/images/rgb.png"};
    dl_pipeline_report rep;
    dl_status s = b ? dl_pipeline_create_batched(model, b, &po, &p, err)
                    : dl_pipeline_create(model, det, &po, &p, err);
    if (s == DL_OK) s = dl_pipeline_add_output(p, &oo, err);
    if (s == DL_OK) s = dl_pipeline_run(p, in, 2, &rep, err);
    if (s == DL_OK && (rep.pages != 4 || rep.pages_failed)) {
        snprintf(err->message, sizeof err->message, "%d pages, %d failed", rep.pages,
                 rep.pages_failed);
        s = DL_ERR_INTERNAL;
    }
    dl_pipeline_free(p);
    return s;
}

static int batches, largest_batch;
static void on_batch(void *user, int n, double forward_ms, int queued_after) {
    (void)user, (void)forward_ms, (void)queued_after;
    batches++; /* the batcher's one thread calls this */
    if (n > largest_batch) largest_batch = n;
}

int main(void) {
    dl_error err;
    dl_model *m = NULL;
    dl_detector *det = NULL;
    CHECK_OK(dl_model_load(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny", NULL, &m, &err),
             &err);
    dl_detector_options o = dl_detector_default_options();
    o.num_threads = 2;
    if (m) CHECK_OK(dl_detector_create(m, &o, &det, &err), &err);
    if (!det) return dl_test_finish("test_batcher");
    model = m;
    int h = dl_model_input_height(m), w = dl_model_input_width(m);
    int q = dl_model_num_queries(m), nl = dl_model_num_labels(m);
    k = dl_model_max_detections(m);
    page_floats = (size_t)3 * h * w;
    pages = malloc(PAGES * page_floats * sizeof(float));
    ref_labels = malloc(PAGES * (size_t)k * sizeof(int64_t));
    ref_scores = malloc(PAGES * (size_t)k * sizeof(float));
    ref_boxes = malloc(PAGES * (size_t)k * 4 * sizeof(float));
    float *logits = malloc((size_t)q * nl * sizeof(float)), *pred = malloc((size_t)q * 16);
    uint32_t seed = 7;
    for (size_t i = 0; i < PAGES * page_floats; i++) {
        seed = seed * 1664525u + 1013904223u;
        pages[i] = (float)(seed >> 8) / 16777216.0f;
    }
    /* the references: each page alone */
    for (int p = 0; p < PAGES; p++) {
        CHECK_OK(dl_detector_forward(det, pages + p * page_floats, 1, h, w, logits, pred, &err),
                 &err);
        CHECK_OK(dl_model_postprocess_topk(m, logits, pred, sizes[p][0], sizes[p][1],
                                           ref_labels + (size_t)p * k, ref_scores + (size_t)p * k,
                                           ref_boxes + (size_t)p * k * 4, &err),
                 &err);
    }

    /* options out of range are refused, naming the option */
    dl_batcher *b = NULL;
    dl_batcher_options bo = dl_batcher_default_options();
    bo.max_batch = 0;
    CHECK(dl_batcher_create(m, det, &bo, &b, &err) == DL_ERR_INVALID_ARGUMENT && !b &&
          strstr(err.message, "max_batch"));
    bo = dl_batcher_default_options();
    bo.max_wait_ms = -1;
    CHECK(dl_batcher_create(m, det, &bo, &b, &err) == DL_ERR_INVALID_ARGUMENT &&
          strstr(err.message, "max_wait_ms"));
    CHECK(dl_batcher_create(m, NULL, NULL, &b, &err) == DL_ERR_INVALID_ARGUMENT);

    /* Three clients at once (borrowed pixels), batches of at most 2 pages with a long wait so that
     * pages of different jobs share batches; the 3-page job is split across batches. */
    bo = dl_batcher_default_options();
    bo.max_batch = 2;
    bo.max_wait_ms = 300;
    bo.on_batch = on_batch;
    bo.borrow_pixels = 1; /* as the server uses it: the pages read where the caller has them */
    CHECK_OK(dl_batcher_create(m, det, &bo, &b, &err), &err);
    client c[3] = {{b, {0}, 1, 0}, {b, {2, 1}, 2, 0}, {b, {1, 2, 0}, 3, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, run_client, &c[i]);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_MSG(c[i].ok, "client %d: its own results, in order", i);
    CHECK(dl_batcher_queued(b) == 0);
    CHECK_MSG(batches >= 3 && largest_batch == 2, "%d batches, the largest %d pages", batches,
              largest_batch);

    /* bad pages */
    dl_batch_job *job = NULL;
    int64_t bad[2] = {0, 100};
    CHECK(dl_batcher_submit(b, pages, bad, 1, &job, &err) == DL_ERR_INVALID_ARGUMENT && !job &&
          strstr(err.message, "page 0"));
    CHECK(dl_batcher_submit(b, pages, sizes[0], 0, &job, &err) == DL_ERR_INVALID_ARGUMENT);
    dl_batcher_free(b);

    /* A full queue refuses at once; a wait past its time drops the job's pages. The worker
     * waits a minute for a second page that never comes, so nothing runs meanwhile. */
    bo = dl_batcher_default_options();
    bo.max_batch = 2;
    bo.max_wait_ms = 60000;
    bo.max_queue = 2;
    CHECK_OK(dl_batcher_create(m, det, &bo, &b, &err), &err);
    CHECK_OK(dl_batcher_submit(b, pages, sizes[0], 1, &job, &err), &err);
    dl_batch_job *other = NULL;
    CHECK(dl_batcher_submit(b, pages, &sizes[0][0], 2, &other, &err) == DL_ERR_BUSY && !other &&
          strstr(err.message, "full"));
    CHECK(dl_batcher_submit(b, pages, &sizes[0][0], 3, &other, &err) == DL_ERR_LIMIT);
    CHECK(dl_batch_job_wait(job, 20, &err) == DL_ERR_TIMEOUT && strstr(err.message, "20 ms"));
    dl_batch_job_release(job);
    /* copied pixels: the caller's buffer may go at once; a full batch runs without waiting */
    float *copy = malloc(2 * page_floats * sizeof(float));
    memcpy(copy, pages + 2 * page_floats, page_floats * sizeof(float));
    memcpy(copy + page_floats, pages, page_floats * sizeof(float));
    const int64_t wh[4] = {sizes[2][0], sizes[2][1], sizes[0][0], sizes[0][1]};
    CHECK_OK(dl_batcher_submit(b, copy, wh, 2, &job, &err), &err);
    free(copy);
    CHECK_OK(dl_batch_job_wait(job, -1, &err), &err);
    CHECK(memcmp(dl_batch_job_scores(job), ref_scores + 2 * (size_t)k, (size_t)k * 4) == 0 &&
          memcmp(dl_batch_job_scores(job) + k, ref_scores, (size_t)k * 4) == 0 &&
          memcmp(dl_batch_job_boxes(job) + 4 * (size_t)k, ref_boxes, (size_t)k * 16) == 0);
    dl_batch_job_release(job);
    /* drained (a server stopping): a lone page runs at once, not after the minute's wait */
    CHECK_OK(dl_batcher_submit(b, pages, sizes[0], 1, &job, &err), &err);
    dl_batcher_drain(b);
    CHECK_OK(dl_batch_job_wait(job, 5000, &err), &err);
    CHECK(memcmp(dl_batch_job_scores(job), ref_scores, (size_t)k * 4) == 0);
    dl_batch_job_release(job);
    dl_batcher_drain(NULL);
    /* a job released unfinished: its pages are dropped, and free does not wait for them */
    CHECK_OK(dl_batcher_submit(b, pages, sizes[0], 1, &job, &err), &err);
    dl_batch_job_release(job);
    dl_batcher_free(b);

    /* A document through a batcher, its batches shared with a KServe-style client's pages,
     * gives the same bits as through the detector (issue 14: one detector per model) */
    text direct = {0}, batched = {0};
    CHECK_OK(run_documents(det, NULL, &direct, &err), &err);
    bo = dl_batcher_default_options();
    bo.max_batch = 3;
    bo.max_wait_ms = 100;
    bo.on_batch = on_batch;
    batches = largest_batch = 0;
    CHECK_OK(dl_batcher_create(m, det, &bo, &b, &err), &err);
    client kc = {b, {2, 0, 1}, 3, 0};
    pthread_t kt;
    pthread_create(&kt, NULL, run_client, &kc);
    CHECK_OK(run_documents(NULL, b, &batched, &err), &err);
    pthread_join(kt, NULL);
    CHECK_MSG(kc.ok, "the other client's own results");
    CHECK_MSG(direct.p && batched.p && direct.n > 1000 && strstr(direct.p, "\"label\"") &&
                  direct.n == batched.n && memcmp(direct.p, batched.p, direct.n) == 0,
              "the document's json through the batcher (%zu bytes) == through the detector "
              "(%zu bytes)",
              batched.n, direct.n);
    CHECK_MSG(batches >= 3, "%d batches", batches);
    /* the json rounds; the network outputs the pipeline takes from the batcher are the bits */
    float *bl = malloc(PAGES * (size_t)q * nl * sizeof(float)),
          *bb = malloc(PAGES * (size_t)q * 16);
    CHECK_OK(dl_batcher_submit_forward(b, pages, PAGES, bl, bb, &job, &err), &err);
    CHECK_OK(dl_batch_job_wait(job, -1, &err), &err);
    CHECK(!dl_batch_job_scores(job));
    dl_batch_job_release(job);
    for (int p = 0; p < PAGES; p++) {
        CHECK_OK(dl_detector_forward(det, pages + p * page_floats, 1, h, w, logits, pred, &err),
                 &err);
        CHECK_MSG(memcmp(bl + (size_t)p * q * nl, logits, (size_t)q * nl * 4) == 0 &&
                      memcmp(bb + (size_t)p * q * 4, pred, (size_t)q * 16) == 0,
                  "page %d: the batcher's network outputs == the detector's", p);
    }
    free(bl);
    free(bb);
    dl_pipeline *np = NULL;
    CHECK(dl_pipeline_create_batched(m, NULL, NULL, &np, &err) == DL_ERR_INVALID_ARGUMENT && !np);
    dl_batcher_free(b);
    free(direct.p);
    free(batched.p);

    free(logits);
    free(pred);
    free(pages);
    free(ref_labels);
    free(ref_scores);
    free(ref_boxes);
    dl_detector_free(det);
    dl_model_free(m);
    return dl_test_finish("test_batcher");
}
