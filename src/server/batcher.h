/*
 * The server's dynamic batcher: pages from all concurrent requests (HTTP and gRPC) for one
 * model are pooled into device batches of at most max_batch pages, waiting at most
 * max_wait_ms after the oldest queued page for the batch to fill. A request's pages may be
 * split across batches; each page's result is written to its own slot, so a request gets its
 * results in its own order. On the CPU dl_detector_forward runs each page on its own, so a
 * page's result does not depend on the batch it rode in (tests/server: test_server_batching).
 *
 * One worker thread per batcher owns the detector. The queue is bounded (max_queue pages):
 * a request that does not fit is refused at once (HTTP 429, gRPC RESOURCE_EXHAUSTED).
 */
#ifndef DL_SERVER_BATCHER_H
#define DL_SERVER_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

typedef struct srv_batcher srv_batcher;
typedef struct srv_job srv_job;

typedef struct srv_batcher_config {
    int max_batch;   /* pages per forward call */
    int max_wait_ms; /* how long a queued page waits for the batch to fill */
    int max_queue;   /* pages queued (not yet in a batch) at most */
} srv_batcher_config;

/* Called by the worker after each batch (for metrics), outside the batcher's lock. */
typedef void (*srv_batch_hook)(void *ctx, int pages, double forward_ms, int queued_after);

/* Takes ownership of `detector` (freed by srv_batcher_free). */
srv_batcher *srv_batcher_create(const dl_model *model, dl_detector *detector,
                                const srv_batcher_config *config, srv_batch_hook hook,
                                void *hook_ctx, dl_error *err);
/* Finish every accepted page, stop the worker, free everything. */
void srv_batcher_free(srv_batcher *b);

typedef enum srv_submit_status {
    SRV_SUBMIT_OK = 0,
    SRV_SUBMIT_QUEUE_FULL = 1, /* try again later */
    SRV_SUBMIT_STOPPING = 2,   /* the server is shutting down */
    SRV_SUBMIT_NO_MEMORY = 3
} srv_submit_status;

/*
 * Queue n pages: pixels [n,3,H,W] float32 (H, W the model's input size; any alignment, copied)
 * and sizes [n,2] (original width, height). On SRV_SUBMIT_OK *job is the caller's reference.
 */
srv_submit_status srv_batcher_submit(srv_batcher *b, const void *pixels, const int64_t *sizes,
                                     int n, srv_job **job);
/* Pages queued and not yet in a batch. */
int srv_batcher_queued(srv_batcher *b);

typedef enum srv_wait_status {
    SRV_JOB_DONE = 0,
    SRV_JOB_FAILED = 1,
    SRV_JOB_TIMEOUT = 2
} srv_wait_status;
/*
 * Wait until every page of the job is done, or until deadline_ms (CLOCK_MONOTONIC, in ms;
 * <= 0: no deadline). On a timeout the job's pages not yet started are dropped. On failure
 * message (when not NULL) receives the reason.
 */
srv_wait_status srv_job_wait(srv_job *job, int64_t deadline_ms, char *message, size_t size);
/* The results, valid until srv_job_release: labels [n,K], scores [n,K], boxes [n,K,4]. */
const int64_t *srv_job_labels(const srv_job *job);
const float *srv_job_scores(const srv_job *job);
const float *srv_job_boxes(const srv_job *job);
/* Give back the caller's reference (cancels the job when it is still running). */
void srv_job_release(srv_job *job);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t srv_now_ms(void);

#endif
