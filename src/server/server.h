/*
 * doclayout serve: the state the transports share (models, limits, metrics, the API key) and
 * the KServe v2 inference step both transports call: inputs decoded by the transport are
 * checked against the model, queued on its batcher and waited for.
 */
#ifndef DL_SERVER_SERVER_H
#define DL_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

#define SRV_MAX_MODELS 16
#define SRV_MAX_CONVERT_WORKERS 16
#define SRV_MAX_DIMS 8
#define SRV_MODEL_VERSION "1"

typedef struct srv_config {
    const char *model_args[SRV_MAX_MODELS];
    int n_models;
    const char *host;
    int port;      /* 0: ephemeral */
    int grpc_port; /* -1: no gRPC; 0: ephemeral */
    dl_device device;
    int device_index;
    dl_precision precision;
    int threads;
    const char *api_key; /* NULL: none */
    int max_batch, max_wait_ms, max_queue;
    int max_request_pages;      /* pages in one request */
    size_t max_body_bytes;      /* HTTP body, gRPC message */
    int request_timeout_ms;     /* per-request deadline */
    int idle_timeout_s;         /* HTTP connection idle timeout */
    int read_timeout_s;         /* an HTTP request must be read within this (slow clients) */
    int max_connections;        /* HTTP connections at once */
    int max_connections_per_ip; /* 0: no limit */
    int grpc_threads;           /* gRPC calls handled at once */
    int drain_timeout_s;        /* SIGTERM: how long accepted requests may take to finish */
    bool access_log;
    /* the document API (docling.h) */
    const char *state_dir;   /* NULL: a temporary directory */
    int convert_timeout_ms;  /* a sync conversion's deadline */
    int max_tasks;           /* tasks waiting at most; beyond, 429 */
    int convert_workers;     /* conversions run at once (their pages share the batcher) */
    int result_ttl_s;        /* finished async tasks are kept this long */
    size_t result_max_bytes; /* and their results this much in all */
    bool allow_url_sources;  /* kind "http" sources */
    size_t max_url_bytes;    /* a fetched URL's document at most (0 before parsing: the body's) */
    int url_timeout_s;       /* a URL is fetched within this */
} srv_config;

typedef struct srv_model {
    char name[128];
    dl_model *model;
    dl_detector *detector; /* used by the batcher's thread only */
    dl_batcher *batcher;
    char device[32];
    int k, h, w;
} srv_model;

/* Prometheus metrics (metrics.c). */
#define SRV_LAT_BUCKETS 12
#define SRV_BATCH_BUCKETS 8
typedef struct srv_metrics {
    pthread_mutex_t mu;
    /* requests by transport (0 http, 1 grpc) and status class */
    uint64_t requests[2][9]; /* by srv_code */
    double latency_sum[2];
    uint64_t latency_count[2], latency_bucket[2][SRV_LAT_BUCKETS];
    uint64_t pages, batches, rejected_queue_full, deadline_exceeded;
    uint64_t slow_clients_cut; /* HTTP connections closed by the read/idle watchdog */
    uint64_t batch_bucket[SRV_BATCH_BUCKETS];
    double batch_pages_sum, forward_seconds_sum;
} srv_metrics;

typedef struct srv_server {
    srv_config cfg;
    srv_model models[SRV_MAX_MODELS];
    int n_models;
    atomic_bool draining;
    atomic_int in_flight; /* requests being handled, both transports */
    srv_metrics metrics;
    pthread_mutex_t log_mu;
    struct srv_tasks *tasks; /* the document API's tasks (docling.h) */
} srv_server;

/* Outcome classes, mapped by each transport to its own codes. */
typedef enum srv_code {
    SRV_OK = 0,
    SRV_BAD_REQUEST,  /* HTTP 400, gRPC INVALID_ARGUMENT */
    SRV_UNAUTHORIZED, /* 401, UNAUTHENTICATED */
    SRV_NOT_FOUND,    /* 404, NOT_FOUND */
    SRV_TOO_LARGE,    /* 413, RESOURCE_EXHAUSTED */
    SRV_OVERLOADED,   /* 429 + Retry-After, RESOURCE_EXHAUSTED */
    SRV_UNAVAILABLE,  /* 503, UNAVAILABLE (shutting down) */
    SRV_DEADLINE,     /* 504, DEADLINE_EXCEEDED */
    SRV_INTERNAL      /* 500, INTERNAL */
} srv_code;

/* One input tensor as a transport decoded it: raw little-endian bytes of datatype. */
typedef struct srv_tensor {
    const char *name;
    const char *datatype;
    int64_t shape[SRV_MAX_DIMS];
    int ndim;
    const void *data;
    size_t size;
} srv_tensor;

/* The three outputs, in the order the model metadata lists them. */
#define SRV_NUM_OUTPUTS 3
extern const char *const srv_output_names[SRV_NUM_OUTPUTS];     /* labels, boxes, scores */
extern const char *const srv_output_datatypes[SRV_NUM_OUTPUTS]; /* INT64, FP32, FP32 */
/* Index of an output name, or -1. */
int srv_output_index(const char *name);
/* Shape of output i for n pages: [n,K] or [n,K,4]; returns ndim. */
int srv_output_shape(const srv_model *m, int i, int n, int64_t *shape);
/* The bytes of output i of a finished job, and their size. */
const void *srv_output_data(const srv_model *m, const dl_batch_job *job, int i, int n,
                            size_t *size);

/* The model named `name` (version NULL, "" or "1"), or NULL with msg set (SRV_NOT_FOUND). */
srv_model *srv_find_model(srv_server *s, const char *name, const char *version, char *msg,
                          size_t size);

/*
 * Check the inputs (images FP32 [N,3,H,W], orig_target_sizes INT64 [N,2] as (width, height)),
 * queue the pages and wait until deadline_ms (CLOCK_MONOTONIC ms). On SRV_OK *job holds the
 * results (dl_batch_job_release it) and *pages N. Otherwise msg names what was wrong.
 */
srv_code srv_infer(srv_server *s, srv_model *m, const srv_tensor *inputs, int n_inputs,
                   int64_t deadline_ms, dl_batch_job **job, int *pages, char *msg, size_t size);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t srv_now_ms(void);

/* Constant-time API key check of a header value (NULL: missing). True when no key is set. */
bool srv_api_key_ok(const srv_server *s, const char *value, size_t len);

/* Copy text with bytes outside printable ASCII replaced by '?', so logs and JSON errors that
 * quote request data stay valid UTF-8. */
void srv_sanitize(char *dst, size_t size, const char *src, size_t len);

/* metrics.c */
void srv_metrics_init(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, int transport, srv_code code, double seconds);
void srv_metrics_batch(void *server, int pages, double forward_ms, int queued_after);
/* The Prometheus text exposition, malloc'ed. */
char *srv_metrics_render(srv_server *s, size_t *len);

/* One structured access-log line (JSON) on stderr. */
void srv_access_log(srv_server *s, const char *transport, const char *method, const char *path,
                    int status, const char *model, int pages, double ms, size_t bytes_in,
                    size_t bytes_out, const char *peer, const char *error);

/* Transports (http.c, grpc.c). Start returns 0 and the bound port, or -1 with msg set. */
typedef struct srv_http srv_http;
srv_http *srv_http_start(srv_server *s, int *port, char *msg, size_t size);
void srv_http_quiesce(srv_http *h); /* stop accepting connections */
void srv_http_stop(srv_http *h);
typedef struct srv_grpc srv_grpc;
srv_grpc *srv_grpc_start(srv_server *s, int *port, char *msg, size_t size);
void srv_grpc_shutdown(srv_grpc *g); /* stop accepting, finish accepted calls, free */

#endif
