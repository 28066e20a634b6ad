/* The dynamic batcher (see batcher.h). One mutex guards the queue and every job's state. */
#include "server/batcher.h"

#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_job {
    srv_batcher *b;
    int n;          /* pages */
    int next;       /* first page not yet taken into a batch */
    int done;       /* pages finished (or dropped) */
    int refs;       /* the caller's, and the queue's while pages are pending or running */
    bool cancelled; /* the caller gave up: pages not yet taken are dropped */
    bool failed;
    char message[DL_ERROR_MESSAGE_MAX + 64];
    float *pixels;     /* [n,3,H,W] */
    int64_t *sizes;    /* [n,2] width, height */
    int64_t *labels;   /* [n,K] */
    float *scores;     /* [n,K] */
    float *boxes;      /* [n,K,4] */
    int64_t since_ms;  /* when it was queued */
    pthread_cond_t cv; /* signalled when done reaches n */
    srv_job *queue_next;
};

struct srv_batcher {
    const dl_model *model;
    dl_detector *det;
    srv_batcher_config cfg;
    srv_batch_hook hook;
    void *hook_ctx;
    int k, q, labels, h, w;
    size_t page_floats;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* work arrived, or stop */
    srv_job *head, *tail;
    int queued; /* pages queued, not yet taken */
    bool stop;
    pthread_t worker;
    /* the worker's buffers, [max_batch, ...] */
    float *batch_pixels, *logits, *pred_boxes;
};

int64_t srv_now_ms(void) {
    return (int64_t)(dl_now_s() * 1000.0);
}

static void job_free(srv_job *j) {
    pthread_cond_destroy(&j->cv);
    free(j->pixels);
    free(j->sizes);
    free(j->labels);
    free(j->scores);
    free(j->boxes);
    free(j);
}

/* With b->mu held. */
static void job_unref_locked(srv_job *j) {
    if (--j->refs == 0) job_free(j);
}

typedef struct page_ref {
    srv_job *job;
    int page;
} page_ref;

/* Take up to max_batch pages from the queue head, dropping cancelled jobs' pages. Each job
 * with a page taken gains a reference for the batch. With b->mu held. */
static int take_batch(srv_batcher *b, page_ref *out) {
    int n = 0;
    while (b->head && n < b->cfg.max_batch) {
        srv_job *j = b->head;
        if (j->cancelled) {
            int dropped = j->n - j->next;
            b->queued -= dropped;
            j->done += dropped;
            j->next = j->n;
        }
        while (j->next < j->n && n < b->cfg.max_batch) {
            out[n].job = j;
            out[n].page = j->next++;
            j->refs++;
            n++;
            b->queued--;
        }
        if (j->next == j->n) { /* all taken: off the queue, its queue reference goes */
            b->head = j->queue_next;
            if (!b->head) b->tail = NULL;
            if (j->done == j->n) pthread_cond_broadcast(&j->cv);
            job_unref_locked(j);
        }
    }
    return n;
}

static void *worker_main(void *arg) {
    srv_batcher *b = arg;
    page_ref *batch = malloc((size_t)b->cfg.max_batch * sizeof *batch);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->queued == 0) pthread_cond_wait(&b->cv, &b->mu);
        if (b->queued == 0 && b->stop) break;
        /* wait for the batch to fill, at most max_wait_ms after the oldest page came */
        int64_t until = b->head->since_ms + b->cfg.max_wait_ms;
        while (!b->stop && b->queued < b->cfg.max_batch) {
            int64_t now = srv_now_ms();
            if (now >= until) break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (until - now) * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        int n = batch ? take_batch(b, batch) : 0;
        int queued_after = b->queued;
        if (n == 0) {
            if (!batch) break; /* no memory for the batch list: nothing can run */
            continue;
        }
        pthread_mutex_unlock(&b->mu);

        /* One job's consecutive pages are already [n,3,H,W] in its buffer; otherwise gather. */
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
        int64_t t0 = srv_now_ms();
        dl_status st =
            dl_detector_forward(b->det, px, n, b->h, b->w, b->logits, b->pred_boxes, &err);
        double forward_ms = (double)(srv_now_ms() - t0);
        for (int p = 0; p < n && st == DL_OK; p++) {
            srv_job *j = batch[p].job;
            size_t pg = (size_t)batch[p].page, k = (size_t)b->k;
            dl_status s = dl_model_postprocess_topk(
                b->model, b->logits + (size_t)p * b->q * b->labels,
                b->pred_boxes + (size_t)p * b->q * 4, j->sizes[2 * pg], j->sizes[2 * pg + 1],
                j->labels + pg * k, j->scores + pg * k, j->boxes + pg * k * 4, &err);
            if (s != DL_OK) {
                j->failed = true; /* a page's own error; the rest of the batch goes on */
                snprintf(j->message, sizeof j->message, "page %zu: %s", pg, err.message);
            }
        }
        if (b->hook) b->hook(b->hook_ctx, n, forward_ms, queued_after);

        pthread_mutex_lock(&b->mu);
        for (int p = 0; p < n; p++) {
            srv_job *j = batch[p].job;
            if (st != DL_OK && !j->failed) {
                j->failed = true;
                memcpy(j->message, err.message, sizeof err.message);
            }
            if (++j->done == j->n) pthread_cond_broadcast(&j->cv);
            job_unref_locked(j);
        }
    }
    pthread_mutex_unlock(&b->mu);
    free(batch);
    return NULL;
}

srv_batcher *srv_batcher_create(const dl_model *model, dl_detector *det,
                                const srv_batcher_config *cfg, srv_batch_hook hook, void *hook_ctx,
                                dl_error *err) {
    srv_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        if (err) snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    b->model = model;
    b->det = det;
    b->cfg = *cfg;
    b->hook = hook;
    b->hook_ctx = hook_ctx;
    b->q = dl_model_num_queries(model);
    b->labels = dl_model_num_labels(model);
    b->k = dl_model_max_detections(model);
    b->h = dl_model_input_height(model);
    b->w = dl_model_input_width(model);
    b->page_floats = (size_t)3 * b->h * b->w;
    size_t mb = (size_t)cfg->max_batch;
    b->batch_pixels = malloc(mb * b->page_floats * sizeof(float));
    b->logits = malloc(mb * (size_t)b->q * b->labels * sizeof(float));
    b->pred_boxes = malloc(mb * (size_t)b->q * 4 * sizeof(float));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!b->batch_pixels || !b->logits || !b->pred_boxes ||
        pthread_create(&b->worker, NULL, worker_main, b) != 0) {
        if (err) snprintf(err->message, sizeof err->message, "out of memory for the batcher");
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b->batch_pixels);
        free(b->logits);
        free(b->pred_boxes);
        free(b);
        return NULL;
    }
    return b;
}

void srv_batcher_free(srv_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->worker, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    dl_detector_free(b->det);
    free(b->batch_pixels);
    free(b->logits);
    free(b->pred_boxes);
    free(b);
}

srv_submit_status srv_batcher_submit(srv_batcher *b, const void *pixels, const int64_t *sizes,
                                     int n, srv_job **out) {
    *out = NULL;
    pthread_mutex_lock(&b->mu);
    srv_submit_status refuse = b->stop                            ? SRV_SUBMIT_STOPPING
                               : b->queued + n > b->cfg.max_queue ? SRV_SUBMIT_QUEUE_FULL
                                                                  : SRV_SUBMIT_OK;
    pthread_mutex_unlock(&b->mu);
    if (refuse != SRV_SUBMIT_OK) return refuse;
    srv_job *j = calloc(1, sizeof *j);
    size_t k = (size_t)b->k;
    if (j) {
        j->pixels = malloc((size_t)n * b->page_floats * sizeof(float));
        j->sizes = malloc((size_t)n * 2 * sizeof(int64_t));
        j->labels = calloc((size_t)n * k, sizeof(int64_t));
        j->scores = calloc((size_t)n * k, sizeof(float));
        j->boxes = calloc((size_t)n * k * 4, sizeof(float));
    }
    if (!j || !j->pixels || !j->sizes || !j->labels || !j->scores || !j->boxes) {
        if (j) {
            free(j->pixels);
            free(j->sizes);
            free(j->labels);
            free(j->scores);
            free(j->boxes);
            free(j);
        }
        return SRV_SUBMIT_NO_MEMORY;
    }
    memcpy(j->pixels, pixels, (size_t)n * b->page_floats * sizeof(float));
    memcpy(j->sizes, sizes, (size_t)n * 2 * sizeof(int64_t));
    j->b = b;
    j->n = n;
    j->refs = 2; /* the caller's and the queue's */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&b->mu);
    /* checked again: others may have queued while this one copied its pixels */
    if (b->stop || b->queued + n > b->cfg.max_queue) {
        refuse = b->stop ? SRV_SUBMIT_STOPPING : SRV_SUBMIT_QUEUE_FULL;
        pthread_mutex_unlock(&b->mu);
        job_free(j);
        return refuse;
    }
    j->since_ms = srv_now_ms();
    if (b->tail) b->tail->queue_next = j;
    else b->head = j;
    b->tail = j;
    b->queued += n;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    *out = j;
    return SRV_SUBMIT_OK;
}

int srv_batcher_queued(srv_batcher *b) {
    pthread_mutex_lock(&b->mu);
    int n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

srv_wait_status srv_job_wait(srv_job *j, int64_t deadline_ms, char *message, size_t size) {
    srv_batcher *b = j->b;
    srv_wait_status r = SRV_JOB_DONE;
    pthread_mutex_lock(&b->mu);
    while (j->done < j->n) {
        if (deadline_ms <= 0) {
            pthread_cond_wait(&j->cv, &b->mu);
            continue;
        }
        int64_t left = deadline_ms - srv_now_ms();
        if (left <= 0) {
            r = SRV_JOB_TIMEOUT;
            j->cancelled = true; /* the worker drops its pages not yet taken */
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + left * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&j->cv, &b->mu, &ts);
    }
    if (r == SRV_JOB_DONE && j->failed) {
        r = SRV_JOB_FAILED;
        if (message && size) snprintf(message, size, "%s", j->message);
    }
    pthread_mutex_unlock(&b->mu);
    return r;
}

const int64_t *srv_job_labels(const srv_job *j) {
    return j->labels;
}
const float *srv_job_scores(const srv_job *j) {
    return j->scores;
}
const float *srv_job_boxes(const srv_job *j) {
    return j->boxes;
}

void srv_job_release(srv_job *j) {
    if (!j) return;
    srv_batcher *b = j->b;
    pthread_mutex_lock(&b->mu);
    if (j->done < j->n) j->cancelled = true;
    job_unref_locked(j);
    pthread_mutex_unlock(&b->mu);
}
