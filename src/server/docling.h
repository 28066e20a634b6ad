/*
 * doclayout serve's document API, a subset of docling-serve v1 (docs/server.md): conversion
 * routes (/v1/convert/file, /v1/convert/source, and /async), tasks (/v1/status/poll,
 * /v1/result, DELETE /v1/tasks) and the service routes /health, /ready, /version.
 *
 * docling_api.c reads requests and writes docling-serve's response shapes; tasks.c keeps the
 * tasks: a queue, a worker that runs the library's document pipeline, and a state directory
 * where every async task is written atomically so that a restart finishes what a crash cut.
 */
#ifndef DL_SERVER_DOCLING_H
#define DL_SERVER_DOCLING_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

/* What a route answers: http.c queues it (body malloc'ed, taken). */
typedef struct srv_reply {
    int status;
    srv_code code; /* for the metrics */
    const char *ctype;
    char *body;
    size_t len;
    const char *disposition; /* a Content-Disposition header (a static string), or NULL */
    char error[512];         /* for the access log; "" when none */
} srv_reply;

/* True for the routes of this API (http.c hands them to srv_docling_handle). */
bool srv_docling_owns(const char *url);
/* True for the routes that need no API key (/health). */
bool srv_docling_is_health(const char *url);
/* Answer one request; `conn` is the libmicrohttpd connection (multipart, query arguments). */
void srv_docling_handle(srv_server *s, void *conn, const char *method, const char *url,
                        const char *body, size_t len, srv_reply *r);

/* ---- tasks (tasks.c) ---- */

enum { SRV_FMT_JSON = 1, SRV_FMT_MD = 2, SRV_FMT_TEXT = 4, SRV_FMT_DOCLAYOUT = 8 };

/* Conversion options as understood (docling_api.c parses them from docling-serve's names). */
typedef struct srv_doc_options {
    unsigned formats; /* SRV_FMT_* */
    char pages[64];   /* "" = every page; else "A-B" */
    double dpi;       /* 0 = the pipeline's default */
    int model;        /* index into the server's models */
    bool abort_on_error;
    bool zip;           /* answer with a zip even for one document (target zip) */
    int64_t timeout_ms; /* document_timeout; 0 = the server's */
    char warnings[2][200];
    int n_warnings;
} srv_doc_options;

typedef struct srv_task srv_task;
typedef struct srv_tasks srv_tasks;

typedef enum srv_task_state {
    SRV_TASK_PENDING = 0,
    SRV_TASK_STARTED,
    SRV_TASK_SUCCESS,
    SRV_TASK_FAILURE,
    SRV_TASK_CANCELLED
} srv_task_state;

/* Start the worker; read the state directory (cfg.state_dir, or a private temporary one) and
 * queue again the tasks a crash interrupted. NULL with msg set on failure. */
srv_tasks *srv_tasks_start(srv_server *s, char *msg, size_t size);
/* Stop: the running task is cancelled (an async one stays queued on disk for the next start),
 * waiting requests are answered, the worker is joined. Then free (after the transports). */
void srv_tasks_stop(srv_tasks *t);
void srv_tasks_free(srv_tasks *t);

/* One input document of a new task. */
typedef struct srv_doc_input {
    char filename[256];
    const void *data;
    size_t size;
} srv_doc_input;

/*
 * A new task with these documents (written to disk, fsynced with the task's record when
 * `async`, before this returns). The options JSON (`options_json`, may be NULL) is kept with
 * an async task so a restart can parse it again. Returns the task (the caller's reference) or
 * NULL with *status (429 queue full, 503 stopping, 500) and msg.
 */
srv_task *srv_task_submit(srv_tasks *t, const srv_doc_input *docs, int n_docs,
                          const srv_doc_options *o, const cJSON *options_json, bool async,
                          int *status, char *msg, size_t size);
/* Find a task by id (a new reference) or NULL. */
srv_task *srv_task_find(srv_tasks *t, const char *id);
void srv_task_release(srv_tasks *t, srv_task *task);
/* Wait until the task is finished or deadline_ms (CLOCK_MONOTONIC ms) passes; returns its state. */
srv_task_state srv_task_wait(srv_tasks *t, srv_task *task, int64_t deadline_ms);
/* Cancel a task (queued: dropped; running: its pipeline is stopped). False when it had finished. */
bool srv_task_cancel(srv_tasks *t, srv_task *task);
/* Forget a finished sync task (its files). */
void srv_task_discard(srv_tasks *t, srv_task *task);
/* docling-serve's TaskStatusResponse of the task. */
cJSON *srv_task_status_json(srv_tasks *t, srv_task *task);
/* The finished task's response, malloc'ed: ConvertDocumentResponse JSON, or a zip (*is_zip)
 * for several documents; and the HTTP status a sync request answers with (422 and docling-
 * serve's {"detail"} when the task failed). NULL when it is not finished or its result
 * expired. */
char *srv_task_result(srv_tasks *t, srv_task *task, size_t *len, int *http_status, bool *is_zip);
const char *srv_task_id(const srv_task *task);

/* ---- zip archives (zip.c, with libzip; without it srv_zip_available() is false) ---- */

typedef struct srv_zip_member {
    char name[300];
    const void *data;
    size_t size;
} srv_zip_member;

bool srv_zip_available(void);
/* A zip archive (deflated members) in memory, malloc'ed; NULL with msg set on failure. */
char *srv_zip_build(const srv_zip_member *members, int n, size_t *len, char *msg, size_t size);

/* ---- sources of kind "http" (fetch.c, with libcurl) ---- */

bool srv_fetch_available(void);
/* Fetch `url` (http/https, redirects at most 5, cfg->max_url_bytes, cfg->url_timeout_s) with
 * these request headers (a JSON object, may be NULL) into doc (data = *buf, malloc'ed; the
 * file name from the URL's path). False with msg naming the URL and the reason. */
bool srv_fetch_url(const srv_config *cfg, const char *url, const cJSON *headers, srv_doc_input *doc,
                   char **buf, char *msg, size_t size);

/* ---- the WebSocket status route (websocket.c; the handshake's HTTP part is in http.c) ---- */

/* False in a build without nettle (SHA-1 for the handshake): the route then answers 501. */
bool srv_ws_available(void);
/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key; false when the key is malformed. */
bool srv_ws_accept_key(const char *client_key, char out[32]);
/* A session on the upgraded socket `fd` (bytes already read in `extra`), until the task has
 * finished, the client closes, or the server stops. Blocks. */
void srv_ws_session(srv_server *s, int fd, const char *extra, size_t extra_len,
                    const char *task_id);

/* The options the worker parses back from a task record (docling_api.c). */
bool srv_docling_parse_options(srv_server *s, const cJSON *opts, srv_doc_options *o, char *msg,
                               size_t size);

#endif
