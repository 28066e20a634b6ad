/*
 * The dynamic batcher (public API: "Dynamic batcher" in doclayout.h): pages submitted by any
 * number of threads are pooled into detector batches of at most max_batch pages, waiting at
 * most max_wait_ms after the oldest queued page for a batch to fill. One worker thread owns
 * the detector; each page's results go to its own slot of its job, so a job's pages may be
 * split across batches and still come back in its order. One mutex guards the queue and
 * every job's state.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "doclayout.h"
#include "pipeline/batcher.h"

#define BATCHER_MAX_BATCH 256
#define BATCHER_MAX_WAIT_MS 60000

struct dl_batch_job {
    dl_batcher *b;
    int n;          /* pages */
    int next;       /* first page not yet taken into a batch */
    int done;       /* pages finished (or dropped) */
    int refs;       /* the caller's, the queue's while pages wait, one per page in a batch */
    bool cancelled; /* the caller gave up: pages not yet taken are dropped */
    dl_status failed;
    char message[DL_ERROR_MESSAGE_MAX + 32]; /* "page N: " and the error */
    const float *pixels; /* [n,3,H,W]: `owned`, or the caller's with borrow_pixels */
    float *owned;        /* the copy, freed once every page is through */
    int64_t *sizes;      /* [n,2] width, height */
    int64_t *labels;     /* [n,K] */
    float *scores;       /* [n,K] */
    float *boxes;        /* [n,K,4] */
    float *out_logits;   /* a forward-only job's: the caller's [n,Q,L], else NULL */
    float *out_boxes;    /* [n,Q,4] */
    double since_s;      /* when it was queued */
    pthread_cond_t cv;   /* signalled when done reaches n */
    dl_batch_job *queue_next;
};

struct dl_batcher {
    const dl_model *model;
    dl_detector *det;
    dl_batcher_options opt;
    int k, q, labels, h, w;
    size_t page_floats;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* work arrived, or stop */
    dl_batch_job *head, *tail;
    int queued; /* pages queued, not yet taken */
    bool stop;
    bool draining; /* dl_batcher_drain: run what is queued without waiting for more */
    pthread_t worker;
    /* the worker's buffers: the batch's pages [max_batch], pixels [max_batch,3,H,W] (when
     * they are not consecutive in one job), logits [max_batch,Q,L], boxes [max_batch,Q,4] */
    struct page_ref {
        dl_batch_job *job;
        int page;
    } * batch;
    float *batch_pixels, *logits, *pred_boxes;
};

dl_batcher_options dl_batcher_default_options(void) {
    dl_batcher_options o = {0};
    o.max_batch = 8;
    o.max_wait_ms = 2;
    o.max_queue = 256;
    return o;
}

static void job_free(dl_batch_job *j) {
    pthread_cond_destroy(&j->cv);
    free(j->owned);
    free(j->sizes);
    free(j->labels);
    free(j->scores);
    free(j->boxes);
    free(j);
}

/* With b->mu held. */
static void job_unref_locked(dl_batch_job *j) {
    if (--j->refs == 0) job_free(j);
}

/* With b->mu held: one more page of j is through; wake its waiter when it was the last, or a
 * release waiting for the pages of a cancelled job that are in a batch. */
static void job_page_done_locked(dl_batch_job *j) {
    if (++j->done == j->n) {
        free(j->owned); /* the pages are through: only the results are still needed */
        j->owned = NULL;
        j->pixels = NULL;
        pthread_cond_broadcast(&j->cv);
    } else if (j->cancelled && j->done == j->next) {
        pthread_cond_broadcast(&j->cv); /* a release waits for the pages in a batch */
    }
}

/* With b->mu held: drop the pages of a cancelled job not yet taken into a batch, so that they
 * leave room in the queue at once (the job stays listed until take_batch passes it). */
static void job_drop_pending_locked(dl_batcher *b, dl_batch_job *j) {
    b->queued -= j->n - j->next;
    while (j->next < j->n) {
        j->next++;
        job_page_done_locked(j);
    }
}

/* Take up to max_batch pages from the queue head, passing cancelled jobs. Each page taken
 * holds a reference to its job. With b->mu held. */
static int take_batch(dl_batcher *b) {
    int n = 0;
    while (b->head && n < b->opt.max_batch) {
        dl_batch_job *j = b->head;
        if (j->cancelled) job_drop_pending_locked(b, j);
        while (j->next < j->n && n < b->opt.max_batch) {
            b->batch[n].job = j;
            b->batch[n].page = j->next++;
            j->refs++;
            n++;
            b->queued--;
        }
        if (j->next == j->n) { /* all taken: off the queue, its queue reference goes */
            b->head = j->queue_next;
            if (!b->head) b->tail = NULL;
            job_unref_locked(j);
        }
    }
    return n;
}

static struct timespec monotonic_after_ms(double ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Forward and post-process the n pages of b->batch, outside the lock. */
static void run_batch(dl_batcher *b, int n, double *forward_ms) {
    /* One job's consecutive pages are already [n,3,H,W] in its buffer; otherwise gather. */
    const struct page_ref *batch = b->batch;
    const float *px = batch[0].job->pixels + b->page_floats * (size_t)batch[0].page;
    for (int i = 1; i < n; i++) {
        if (batch[i].job != batch[0].job || batch[i].page != batch[0].page + i) {
            for (int p = 0; p < n; p++)
                memcpy(b->batch_pixels + b->page_floats * (size_t)p,
                       batch[p].job->pixels + b->page_floats * (size_t)batch[p].page,
                       b->page_floats * sizeof(float));
            px = b->batch_pixels;
            break;
        }
    }
    dl_error err = {0};
    double t0 = dl_now_s();
    dl_status st = dl_detector_forward(b->det, px, n, b->h, b->w, b->logits, b->pred_boxes, &err);
    *forward_ms = (dl_now_s() - t0) * 1000.0;
    for (int p = 0; p < n; p++) {
        dl_batch_job *j = batch[p].job;
        size_t pg = (size_t)batch[p].page, k = (size_t)b->k;
        size_t ql = (size_t)b->q * b->labels, q4 = (size_t)b->q * 4;
        dl_status s = st;
        if (s == DL_OK && j->out_logits) { /* forward only: the network outputs as they are */
            memcpy(j->out_logits + pg * ql, b->logits + (size_t)p * ql, ql * sizeof(float));
            memcpy(j->out_boxes + pg * q4, b->pred_boxes + (size_t)p * q4, q4 * sizeof(float));
        } else if (s == DL_OK)
            s = dl_model_postprocess_topk(b->model, b->logits + (size_t)p * b->q * b->labels,
                                          b->pred_boxes + (size_t)p * b->q * 4, j->sizes[2 * pg],
                                          j->sizes[2 * pg + 1], j->labels + pg * k,
                                          j->scores + pg * k, j->boxes + pg * k * 4, &err);
        /* A page's own error fails its job; the rest of the batch goes on. Only the worker
         * writes `failed` and `message`, and the waiter reads them after `done` reaches n. */
        if (s != DL_OK && j->failed == DL_OK) {
            j->failed = s;
            snprintf(j->message, sizeof j->message, "page %zu: %s", pg, err.message);
        }
    }
}

static void *worker_main(void *arg) {
    dl_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->queued == 0) pthread_cond_wait(&b->cv, &b->mu);
        if (b->queued == 0 && b->stop) break;
        /* wait for the batch to fill, at most max_wait_ms after the oldest page came */
        double until = b->head->since_s + b->opt.max_wait_ms / 1000.0;
        while (!b->stop && !b->draining && b->queued < b->opt.max_batch) {
            double left_ms = (until - dl_now_s()) * 1000.0;
            if (left_ms <= 0) break;
            struct timespec ts = monotonic_after_ms(left_ms);
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        int n = take_batch(b);
        int queued_after = b->queued;
        if (n == 0) continue; /* every queued page was a cancelled job's */
        pthread_mutex_unlock(&b->mu);

        double forward_ms = 0;
        run_batch(b, n, &forward_ms);
        if (b->opt.on_batch) b->opt.on_batch(b->opt.user, n, forward_ms, queued_after);

        pthread_mutex_lock(&b->mu);
        for (int p = 0; p < n; p++) {
            dl_batch_job *j = b->batch[p].job;
            job_page_done_locked(j);
            job_unref_locked(j);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void batcher_free_buffers(dl_batcher *b) {
    free(b->batch);
    free(b->batch_pixels);
    free(b->logits);
    free(b->pred_boxes);
    free(b);
}

dl_status dl_batcher_create(const dl_model *model, dl_detector *detector,
                            const dl_batcher_options *options, dl_batcher **out, dl_error *err) {
    if (out) *out = NULL;
    if (!model || !detector || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "dl_batcher_create: NULL model, detector "
                       "or out");
    dl_batcher_options o = options ? *options : dl_batcher_default_options();
    if (o.max_batch < 1 || o.max_batch > BATCHER_MAX_BATCH)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "batcher max_batch %d: must be in 1..%d",
                       o.max_batch, BATCHER_MAX_BATCH);
    if (o.max_wait_ms < 0 || o.max_wait_ms > BATCHER_MAX_WAIT_MS)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "batcher max_wait_ms %d: must be in 0..%d",
                       o.max_wait_ms, BATCHER_MAX_WAIT_MS);
    if (o.max_queue < 1)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "batcher max_queue %d: must be at least 1",
                       o.max_queue);
    dl_batcher *b = calloc(1, sizeof *b);
    if (!b) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for the batcher");
    b->model = model;
    b->det = detector;
    b->opt = o;
    b->q = dl_model_num_queries(model);
    b->labels = dl_model_num_labels(model);
    b->k = dl_model_max_detections(model);
    b->h = dl_model_input_height(model);
    b->w = dl_model_input_width(model);
    b->page_floats = (size_t)3 * b->h * b->w;
    size_t mb = (size_t)o.max_batch;
    b->batch = malloc(mb * sizeof *b->batch);
    b->batch_pixels = malloc(mb * b->page_floats * sizeof(float));
    b->logits = malloc(mb * (size_t)b->q * b->labels * sizeof(float));
    b->pred_boxes = malloc(mb * (size_t)b->q * 4 * sizeof(float));
    if (!b->batch || !b->batch_pixels || !b->logits || !b->pred_boxes) {
        batcher_free_buffers(b);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY,
                       "out of memory for the batcher's buffers (max_batch %d)", o.max_batch);
    }
    /* resident now: else each page of the gather buffer is counted the first time a batch of
     * that many pages from different jobs is gathered, which under steady load can be minutes
     * in, and looks like growth (one 4.7 MB step in a soak of the 640x640 model) */
    dl_touch_pages(b->batch_pixels, mb * b->page_floats * sizeof(float));
    dl_touch_pages(b->logits, mb * (size_t)b->q * b->labels * sizeof(float));
    dl_touch_pages(b->pred_boxes, mb * (size_t)b->q * 4 * sizeof(float));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&b->worker, NULL, worker_main, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        batcher_free_buffers(b);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "could not start the batcher's thread");
    }
    *out = b;
    return DL_OK;
}

void dl_batcher_free(dl_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->worker, NULL);
    while (b->head) { /* cancelled jobs with nothing left to run: their queue references */
        dl_batch_job *j = b->head;
        b->head = j->queue_next;
        job_unref_locked(j);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    batcher_free_buffers(b);
}

static void job_free_partial(dl_batch_job *j) {
    free(j->owned);
    free(j->sizes);
    free(j->labels);
    free(j->scores);
    free(j->boxes);
    free(j);
}

/* Queue n pages: post-processed into the job's own top-K buffers (sizes given), or, with
 * out_logits, forward only into the caller's buffers. */
static dl_status submit(dl_batcher *b, const float *pixel_values, const int64_t *sizes, int n,
                        float *out_logits, float *out_boxes, dl_batch_job **out, dl_error *err) {
    if (n > b->opt.max_queue)
        return dl_fail(err, DL_ERR_LIMIT, "%d pages at once; the batcher queues at most %d", n,
                       b->opt.max_queue);
    for (int i = 0; sizes && i < n; i++)
        if (sizes[2 * i] < 1 || sizes[2 * i + 1] < 1 || sizes[2 * i] > DL_POSTPROCESS_MAX_SIDE ||
            sizes[2 * i + 1] > DL_POSTPROCESS_MAX_SIDE)
            return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                           "page %d: size %lld x %lld; width and height must be in 1..%d", i,
                           (long long)sizes[2 * i], (long long)sizes[2 * i + 1],
                           DL_POSTPROCESS_MAX_SIDE);
    pthread_mutex_lock(&b->mu);
    bool full = b->queued + n > b->opt.max_queue;
    pthread_mutex_unlock(&b->mu);
    if (full) goto busy;
    dl_batch_job *j = calloc(1, sizeof *j);
    size_t k = (size_t)b->k;
    if (j && !b->opt.borrow_pixels) j->owned = malloc((size_t)n * b->page_floats * sizeof(float));
    if (j && sizes) {
        j->sizes = malloc((size_t)n * 2 * sizeof(int64_t));
        j->labels = calloc((size_t)n * k, sizeof(int64_t));
        j->scores = calloc((size_t)n * k, sizeof(float));
        j->boxes = calloc((size_t)n * k * 4, sizeof(float));
    }
    if (!j || (!b->opt.borrow_pixels && !j->owned) ||
        (sizes && (!j->sizes || !j->labels || !j->scores || !j->boxes))) {
        if (j) job_free_partial(j);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory for %d pages", n);
    }
    if (j->owned) memcpy(j->owned, pixel_values, (size_t)n * b->page_floats * sizeof(float));
    j->pixels = j->owned ? j->owned : pixel_values;
    if (sizes) memcpy(j->sizes, sizes, (size_t)n * 2 * sizeof(int64_t));
    j->out_logits = out_logits;
    j->out_boxes = out_boxes;
    j->b = b;
    j->n = n;
    j->refs = 2; /* the caller's and the queue's */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&b->mu);
    /* checked again: others may have queued meanwhile */
    if (b->queued + n > b->opt.max_queue) {
        pthread_mutex_unlock(&b->mu);
        job_free(j);
        goto busy;
    }
    j->since_s = dl_now_s();
    if (b->tail) b->tail->queue_next = j;
    else b->head = j;
    b->tail = j;
    b->queued += n;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    *out = j;
    return DL_OK;
busy:
    return dl_fail(err, DL_ERR_BUSY, "the batcher's queue is full (%d pages at most); retry later",
                   b->opt.max_queue);
}

dl_status dl_batcher_submit(dl_batcher *b, const float *pixel_values, const int64_t *sizes, int n,
                            dl_batch_job **out, dl_error *err) {
    if (out) *out = NULL;
    if (!b || !pixel_values || !sizes || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "dl_batcher_submit: NULL batcher, pixel_values, sizes or out");
    if (n < 1) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_batcher_submit: %d pages", n);
    return submit(b, pixel_values, sizes, n, NULL, NULL, out, err);
}

dl_status dl_batcher_submit_forward(dl_batcher *b, const float *pixel_values, int n, float *logits,
                                    float *boxes, dl_batch_job **out, dl_error *err) {
    if (out) *out = NULL;
    if (!b || !pixel_values || !logits || !boxes || !out)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "dl_batcher_submit_forward: NULL batcher, pixel_values, outputs or out");
    if (n < 1)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_batcher_submit_forward: %d pages", n);
    return submit(b, pixel_values, NULL, n, logits, boxes, out, err);
}

const dl_detector *dl_batcher_detector(const dl_batcher *b) { return b ? b->det : NULL; }
const dl_model *dl_batcher_model(const dl_batcher *b) { return b ? b->model : NULL; }

void dl_batcher_drain(dl_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->draining = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

int dl_batcher_queued(dl_batcher *b) {
    if (!b) return 0;
    pthread_mutex_lock(&b->mu);
    int n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

dl_status dl_batch_job_wait(dl_batch_job *j, int timeout_ms, dl_error *err) {
    if (!j) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_batch_job_wait: NULL job");
    dl_batcher *b = j->b;
    double until = dl_now_s() + timeout_ms / 1000.0;
    dl_status r = DL_OK;
    pthread_mutex_lock(&b->mu);
    while (j->done < j->n) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&j->cv, &b->mu);
            continue;
        }
        double left_ms = (until - dl_now_s()) * 1000.0;
        if (left_ms <= 0) {
            j->cancelled = true; /* its pages not yet taken are dropped */
            job_drop_pending_locked(b, j);
            r = dl_fail(err, DL_ERR_TIMEOUT, "%d of %d pages not done within %d ms", j->n - j->done,
                        j->n, timeout_ms);
            break;
        }
        struct timespec ts = monotonic_after_ms(left_ms);
        pthread_cond_timedwait(&j->cv, &b->mu, &ts);
    }
    if (r == DL_OK && j->failed != DL_OK) r = dl_fail(err, j->failed, "%s", j->message);
    pthread_mutex_unlock(&b->mu);
    return r;
}

const int64_t *dl_batch_job_labels(const dl_batch_job *j) { return j ? j->labels : NULL; }
const float *dl_batch_job_scores(const dl_batch_job *j) { return j ? j->scores : NULL; }
const float *dl_batch_job_boxes(const dl_batch_job *j) { return j ? j->boxes : NULL; }

void dl_batch_job_release(dl_batch_job *j) {
    if (!j) return;
    dl_batcher *b = j->b;
    pthread_mutex_lock(&b->mu);
    if (j->done < j->n) {
        j->cancelled = true;
        job_drop_pending_locked(b, j);
    }
    /* borrowed pixels, the caller's output buffers: the caller may free them once this
     * returns */
    while ((b->opt.borrow_pixels || j->out_logits) && j->done < j->next)
        pthread_cond_wait(&j->cv, &b->mu);
    job_unref_locked(j);
    pthread_mutex_unlock(&b->mu);
}
