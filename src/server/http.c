/*
 * KServe v2 over HTTP/1.1 with GNU libmicrohttpd (Debian's libmicrohttpd-dev): a small, mature
 * C library made for embedding an HTTP server in a program, with the limits a server exposed
 * to clients needs (connection limit, idle timeout, header memory cap) and a thread per
 * connection, so a request can wait for its batch without holding anyone else up.
 *
 * Routes: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/versions/V][/ready],
 * /metrics; POST /v2/models/NAME[/versions/V]/infer, in JSON or with the binary tensor
 * extension (Inference-Header-Content-Length, binary_data_size, binary_data outputs).
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/docling.h"
#include "server/server.h"

/*
 * Slow clients. libmicrohttpd's idle timeout restarts with every byte, so a client that
 * trickles its request a byte at a time would hold a connection thread forever. Every
 * connection is therefore watched: from its accept (and, on a kept-alive connection, from its
 * request line) the whole request, headers and body, must be in within --read-timeout-s; a
 * kept-alive connection between requests gets --idle-timeout-s in all. A watchdog thread shuts
 * down the socket of one past its time (libmicrohttpd then closes the connection); the request
 * being handled (waiting for its batch) is bounded by its own deadline instead.
 */
typedef enum conn_phase { PHASE_READING, PHASE_HANDLING, PHASE_IDLE } conn_phase;

typedef struct conn_watch {
    int fd;
    conn_phase phase;
    int64_t since_ms; /* when the phase began */
    bool cut;
    struct conn_watch *prev, *next;
} conn_watch;

struct srv_http {
    srv_server *s;
    struct MHD_Daemon *d;
    int fd;
    pthread_mutex_t mu; /* the watched connections */
    pthread_cond_t cv;  /* stop */
    conn_watch *conns;
    bool stop, watchdog_started;
    pthread_t watchdog;
};

typedef struct conn_state {
    int64_t start_ms;
    char *base; /* the body's allocation: pad bytes, then the body */
    size_t pad; /* so that the binary tensors after the JSON header start 16-byte aligned:
                   the batcher then reads the pixels where they are, without a copy */
    char *body;
    size_t len, cap;
    bool refused; /* a reply was queued before the body was read */
    char model[128];
    int pages;
    const char *disposition; /* a Content-Disposition header for the reply, or NULL */
    char ws_task[72];        /* /v1/status/ws/{task_id}: the task, for the upgraded socket */
} conn_state;

/* ---- replies ------------------------------------------------------------------------------ */

static void peer_text(struct MHD_Connection *c, char *buf, size_t size) {
    snprintf(buf, size, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)size);
}

static const char *content_type_json = "application/json";

/* Queue a reply (takes `body`, malloc'ed), log it and count it. */
static enum MHD_Result reply(srv_http *h, struct MHD_Connection *c, conn_state *st,
                             const char *method, const char *url, int status, srv_code code,
                             const char *ctype, char *body, size_t len, size_t header_len,
                             const char *error) {
    srv_server *s = h->s;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (header_len) {
        char v[32];
        snprintf(v, sizeof v, "%zu", header_len);
        MHD_add_response_header(r, "Inference-Header-Content-Length", v);
    }
    if (status == 429 || status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "X-Api-Key");
    if (st->disposition) MHD_add_response_header(r, "Content-Disposition", st->disposition);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)status, r);
    MHD_destroy_response(r);
    double ms = (double)(srv_now_ms() - st->start_ms);
    srv_metrics_request(&s->metrics, 0, code, ms / 1000.0);
    char peer[64];
    peer_text(c, peer, sizeof peer);
    srv_access_log(s, "http", method, url, status, st->model[0] ? st->model : NULL, st->pages, ms,
                   st->len, len, peer, error);
    return ret;
}

static enum MHD_Result reply_json(srv_http *h, struct MHD_Connection *c, conn_state *st,
                                  const char *method, const char *url, int status, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) return MHD_NO;
    return reply(h, c, st, method, url, status, SRV_OK, content_type_json, text, strlen(text), 0,
                 NULL);
}

static int http_status(srv_code code) {
    switch (code) {
    case SRV_OK: return 200;
    case SRV_BAD_REQUEST: return 400;
    case SRV_UNAUTHORIZED: return 401;
    case SRV_NOT_FOUND: return 404;
    case SRV_TOO_LARGE: return 413;
    case SRV_OVERLOADED: return 429;
    case SRV_UNAVAILABLE: return 503;
    case SRV_DEADLINE: return 504;
    default: return 500;
    }
}

/* {"error": msg}, the KServe v2 error shape. */
static enum MHD_Result reply_error(srv_http *h, struct MHD_Connection *c, conn_state *st,
                                   const char *method, const char *url, srv_code code,
                                   const char *msg) {
    char safe[600];
    srv_sanitize(safe, sizeof safe, msg, strlen(msg));
    cJSON *j = cJSON_CreateObject();
    /* KServe's error shape, or docling-serve's (FastAPI's) on its routes (401, 413, ...) */
    if (j) cJSON_AddStringToObject(j, srv_docling_owns(url) ? "detail" : "error", safe);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) return MHD_NO;
    return reply(h, c, st, method, url, http_status(code), code, content_type_json, text,
                 strlen(text), 0, safe);
}

/* ---- metadata ----------------------------------------------------------------------------- */

static cJSON *tensor_meta(const char *name, const char *datatype, const int64_t *shape, int ndim) {
    cJSON *t = cJSON_CreateObject(), *sh = cJSON_CreateArray();
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddStringToObject(t, "datatype", datatype);
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[d]));
    cJSON_AddItemToObject(t, "shape", sh);
    return t;
}

static cJSON *model_metadata(const srv_model *m) {
    cJSON *j = cJSON_CreateObject(), *in = cJSON_CreateArray(), *out = cJSON_CreateArray();
    cJSON *versions = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddItemToArray(versions, cJSON_CreateString(SRV_MODEL_VERSION));
    cJSON_AddItemToObject(j, "versions", versions);
    char platform[64];
    snprintf(platform, sizeof platform, "doclayout_%s", dl_model_type(m->model));
    cJSON_AddStringToObject(j, "platform", platform);
    int64_t img[4] = {-1, 3, m->h, m->w}, sz[2] = {-1, 2};
    cJSON_AddItemToArray(in, tensor_meta("images", "FP32", img, 4));
    cJSON_AddItemToArray(in, tensor_meta("orig_target_sizes", "INT64", sz, 2));
    for (int i = 0; i < SRV_NUM_OUTPUTS; i++) {
        int64_t shape[3];
        int nd = srv_output_shape(m, i, -1, shape);
        cJSON_AddItemToArray(out,
                             tensor_meta(srv_output_names[i], srv_output_datatypes[i], shape, nd));
    }
    cJSON_AddItemToObject(j, "inputs", in);
    cJSON_AddItemToObject(j, "outputs", out);
    return j;
}

/* ---- the infer request -------------------------------------------------------------------- */

typedef struct decoded {
    srv_tensor t[4];
    void *owned[4]; /* converted "data" arrays */
    int n;
    int want[SRV_NUM_OUTPUTS]; /* requested outputs in reply order */
    bool binary[SRV_NUM_OUTPUTS];
    int n_want;
} decoded;

static bool whole_number(double v, double lo, double hi) {
    return v == v && v >= lo && v <= hi && v == (double)(long long)v;
}

/* Flatten a nested JSON array of numbers into out[count] (float or int64). */
static bool flatten(const cJSON *a, bool is_float, void *out, size_t count, size_t *at, char *msg,
                    size_t size, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (cJSON_IsArray(e)) {
            if (!flatten(e, is_float, out, count, at, msg, size, name)) return false;
            continue;
        }
        if (!cJSON_IsNumber(e)) {
            snprintf(msg, size, "input '%s': \"data\" holds something that is not a number", name);
            return false;
        }
        if (*at >= count) {
            snprintf(msg, size, "input '%s': \"data\" has more elements than its shape", name);
            return false;
        }
        double v = e->valuedouble;
        if (is_float) {
            ((float *)out)[*at] = (float)v;
        } else {
            if (!whole_number(v, -9007199254740992.0, 9007199254740992.0)) {
                snprintf(msg, size, "input '%s': INT64 \"data\" holds %g, not a whole number", name,
                         v);
                return false;
            }
            ((int64_t *)out)[*at] = (int64_t)v;
        }
        (*at)++;
    }
    return true;
}

static bool param_bool(const cJSON *params, const char *key) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, key);
    return p && cJSON_IsTrue(p);
}

static srv_code decode_request(srv_server *s, const char *body, size_t len, size_t json_len,
                               decoded *d, char *msg, size_t size) {
    memset(d, 0, sizeof *d);
    cJSON *req = cJSON_ParseWithLength(body, json_len);
    if (!req || !cJSON_IsObject(req)) {
        const char *at = cJSON_GetErrorPtr();
        long off = req || !at ? 0 : (long)(at - body);
        if (off < 0 || (size_t)off > json_len) off = 0;
        snprintf(msg, size,
                 "the inference request header is not a JSON object (error near byte %ld)", off);
        cJSON_Delete(req);
        return SRV_BAD_REQUEST;
    }
    srv_code rc = SRV_BAD_REQUEST;
    const char *raw = body + json_len;
    size_t raw_left = len - json_len;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(req, "inputs"), *in;
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) < 1) {
        snprintf(msg, size, "\"inputs\" must be a non-empty array");
        goto done;
    }
    if (cJSON_GetArraySize(inputs) > 4) {
        snprintf(msg, size, "%d inputs; the model takes 2", cJSON_GetArraySize(inputs));
        goto done;
    }
    cJSON_ArrayForEach(in, inputs) {
        srv_tensor *t = &d->t[d->n];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(in, "datatype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape"), *dim;
        if (!cJSON_IsString(name) || !cJSON_IsString(dt) || !cJSON_IsArray(shape)) {
            snprintf(msg, size,
                     "inputs[%d] needs \"name\" and \"datatype\" strings and a "
                     "\"shape\" array",
                     d->n);
            goto done;
        }
        t->name = name->valuestring;
        t->datatype = dt->valuestring;
        char safe[96];
        srv_sanitize(safe, sizeof safe, t->name, strlen(t->name));
        if (cJSON_GetArraySize(shape) > SRV_MAX_DIMS) {
            snprintf(msg, size, "input '%s': shape has more than %d dimensions", safe,
                     SRV_MAX_DIMS);
            goto done;
        }
        double elems = 1;
        cJSON_ArrayForEach(dim, shape) {
            if (!cJSON_IsNumber(dim) || !whole_number(dim->valuedouble, 0, 1e9)) {
                snprintf(msg, size, "input '%s': shape must hold whole numbers >= 0", safe);
                goto done;
            }
            t->shape[t->ndim++] = (int64_t)dim->valuedouble;
            elems *= dim->valuedouble;
        }
        bool is_float = strcmp(t->datatype, "FP32") == 0,
             is_i64 = strcmp(t->datatype, "INT64") == 0;
        size_t esize = is_float ? 4 : 8;
        if (!is_float && !is_i64) {
            char sdt[32];
            srv_sanitize(sdt, sizeof sdt, t->datatype, strlen(t->datatype));
            snprintf(msg, size,
                     "input '%s': datatype '%s' is not taken (FP32 images, INT64 "
                     "orig_target_sizes)",
                     safe, sdt);
            goto done;
        }
        if (elems * (double)esize > (double)s->cfg.max_body_bytes) {
            snprintf(msg, size, "input '%s': shape of %.0f elements is larger than the body limit",
                     safe, elems);
            rc = SRV_TOO_LARGE;
            goto done;
        }
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(in, "parameters");
        const cJSON *bds = cJSON_GetObjectItemCaseSensitive(params, "binary_data_size");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
        if (bds) {
            if (!cJSON_IsNumber(bds) || !whole_number(bds->valuedouble, 0, (double)raw_left)) {
                snprintf(msg, size,
                         "input '%s': binary_data_size must be a whole number of "
                         "bytes within the %zu binary bytes left in the body",
                         safe, raw_left);
                goto done;
            }
            t->data = raw;
            t->size = (size_t)bds->valuedouble;
            raw += t->size;
            raw_left -= t->size;
        } else if (cJSON_IsArray(data)) {
            size_t count = (size_t)elems, at = 0;
            void *buf = malloc(count ? count * esize : 1);
            if (!buf) {
                snprintf(msg, size, "out of memory");
                rc = SRV_INTERNAL;
                goto done;
            }
            d->owned[d->n] = buf;
            if (!flatten(data, is_float, buf, count, &at, msg, size, safe)) goto done;
            if (at != count) {
                snprintf(msg, size, "input '%s': \"data\" has %zu elements, its shape %zu", safe,
                         at, count);
                goto done;
            }
            t->data = buf;
            t->size = count * esize;
        } else {
            snprintf(msg, size,
                     "input '%s' has neither \"data\" nor a binary_data_size "
                     "parameter",
                     safe);
            goto done;
        }
        d->n++;
    }
    if (raw_left) {
        snprintf(msg, size, "%zu bytes of binary data follow the inputs' binary_data_size",
                 raw_left);
        goto done;
    }
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(req, "outputs"), *o;
    bool all_binary =
        param_bool(cJSON_GetObjectItemCaseSensitive(req, "parameters"), "binary_data_output");
    if (outputs && !cJSON_IsArray(outputs)) {
        snprintf(msg, size, "\"outputs\" must be an array");
        goto done;
    }
    if (outputs && cJSON_GetArraySize(outputs) > 0) {
        cJSON_ArrayForEach(o, outputs) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
            int i = cJSON_IsString(name) ? srv_output_index(name->valuestring) : -1;
            if (i < 0) {
                char safe[96];
                const char *nm = cJSON_IsString(name) ? name->valuestring : "";
                srv_sanitize(safe, sizeof safe, nm, strlen(nm));
                snprintf(msg, size, "unknown output '%s' (the outputs are labels, boxes, scores)",
                         safe);
                goto done;
            }
            for (int k = 0; k < d->n_want; k++)
                if (d->want[k] == i) {
                    snprintf(msg, size, "output '%s' requested twice", srv_output_names[i]);
                    goto done;
                }
            d->binary[d->n_want] =
                all_binary ||
                param_bool(cJSON_GetObjectItemCaseSensitive(o, "parameters"), "binary_data");
            d->want[d->n_want++] = i;
        }
    } else {
        for (int i = 0; i < SRV_NUM_OUTPUTS; i++) {
            d->binary[i] = all_binary;
            d->want[d->n_want++] = i;
        }
    }
    rc = SRV_OK;
done:
    /* the tensors point into the body or into owned[]; names into req, so keep req alive by
     * copying what is needed before freeing it */
    if (rc == SRV_OK) {
        for (int i = 0; i < d->n; i++) {
            d->t[i].name = strdup(d->t[i].name);
            d->t[i].datatype = strdup(d->t[i].datatype);
            if (!d->t[i].name || !d->t[i].datatype) {
                snprintf(msg, size, "out of memory");
                rc = SRV_INTERNAL;
            }
        }
    } else {
        for (int i = 0; i < 4; i++) d->t[i].name = d->t[i].datatype = NULL;
    }
    cJSON_Delete(req);
    return rc;
}

static void decoded_free(decoded *d) {
    for (int i = 0; i < 4; i++) {
        free(d->owned[i]);
        free((char *)d->t[i].name);
        free((char *)d->t[i].datatype);
    }
}

static enum MHD_Result handle_infer(srv_http *h, struct MHD_Connection *c, conn_state *st,
                                    srv_model *m, const char *url) {
    srv_server *s = h->s;
    char msg[600];
    size_t json_len = st->len;
    const char *hl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    if (hl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(hl, &end, 10);
        if (errno || end == hl || *end || hl[0] == '-' || v > st->len) {
            snprintf(msg, sizeof msg,
                     "Inference-Header-Content-Length '%.32s' is not a byte "
                     "count within the body's %zu bytes",
                     hl, st->len);
            return reply_error(h, c, st, "POST", url, SRV_BAD_REQUEST, msg);
        }
        json_len = (size_t)v;
    }
    decoded d;
    srv_code code =
        decode_request(s, st->body ? st->body : "", st->len, json_len, &d, msg, sizeof msg);
    if (code != SRV_OK) {
        decoded_free(&d);
        return reply_error(h, c, st, "POST", url, code, msg);
    }
    dl_batch_job *job = NULL;
    int pages = 0;
    code = srv_infer(s, m, d.t, d.n, st->start_ms + s->cfg.request_timeout_ms, &job, &pages, msg,
                     sizeof msg);
    decoded_free(&d);
    if (code != SRV_OK) return reply_error(h, c, st, "POST", url, code, msg);
    st->pages = pages;

    /* header JSON, then the binary outputs in the order listed */
    cJSON *res = cJSON_CreateObject(), *outs = cJSON_CreateArray();
    cJSON_AddStringToObject(res, "model_name", m->name);
    cJSON_AddStringToObject(res, "model_version", SRV_MODEL_VERSION);
    size_t raw_total = 0;
    for (int k = 0; k < d.n_want; k++) {
        int i = d.want[k];
        int64_t shape[3];
        int nd = srv_output_shape(m, i, pages, shape);
        cJSON *t = tensor_meta(srv_output_names[i], srv_output_datatypes[i], shape, nd);
        size_t bytes;
        const void *data = srv_output_data(m, job, i, pages, &bytes);
        if (d.binary[k]) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "binary_data_size", (double)bytes);
            cJSON_AddItemToObject(t, "parameters", p);
            raw_total += bytes;
        } else {
            cJSON *arr = cJSON_CreateArray();
            size_t count = i == 0 ? bytes / 8 : bytes / 4;
            for (size_t e = 0; e < count; e++)
                cJSON_AddItemToArray(arr,
                                     cJSON_CreateNumber(i == 0 ? (double)((const int64_t *)data)[e]
                                                               : (double)((const float *)data)[e]));
            cJSON_AddItemToObject(t, "data", arr);
        }
        cJSON_AddItemToArray(outs, t);
    }
    cJSON_AddItemToObject(res, "outputs", outs);
    char *header = cJSON_PrintUnformatted(res);
    cJSON_Delete(res);
    size_t hlen = header ? strlen(header) : 0;
    char *body = header ? malloc(hlen + raw_total + 1) : NULL;
    if (!body) {
        free(header);
        dl_batch_job_release(job);
        return reply_error(h, c, st, "POST", url, SRV_INTERNAL, "out of memory for the reply");
    }
    memcpy(body, header, hlen);
    free(header);
    size_t at = hlen;
    for (int k = 0; k < d.n_want; k++) {
        if (!d.binary[k]) continue;
        size_t bytes;
        const void *data = srv_output_data(m, job, d.want[k], pages, &bytes);
        memcpy(body + at, data, bytes);
        at += bytes;
    }
    dl_batch_job_release(job);
    if (raw_total == 0)
        return reply(h, c, st, "POST", url, 200, SRV_OK, content_type_json, body, at, 0, NULL);
    return reply(h, c, st, "POST", url, 200, SRV_OK, "application/octet-stream", body, at, hlen,
                 NULL);
}

/* ---- routing ------------------------------------------------------------------------------ */

static bool is_health(const char *url) {
    return strcmp(url, "/v2/health/live") == 0 || strcmp(url, "/v2/health/ready") == 0;
}

static enum MHD_Result method_not_allowed(srv_http *h, struct MHD_Connection *c, conn_state *st,
                                          const char *method, const char *url, const char *allow) {
    char msg[160], safe[16];
    srv_sanitize(safe, sizeof safe, method, strlen(method));
    snprintf(msg, sizeof msg, "method %s is not allowed here (use %s)", safe, allow);
    cJSON *j = cJSON_CreateObject();
    if (j) cJSON_AddStringToObject(j, "error", msg);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) return MHD_NO;
    return reply(h, c, st, method, url, 405, SRV_BAD_REQUEST, content_type_json, text, strlen(text),
                 0, msg);
}

/* ---- the WebSocket status route (websocket.c has the protocol) --------------------------- */

static const char ws_prefix[] = "/v1/status/ws/";

/* The upgraded socket, in the connection's own thread (thread-per-connection: it may block). */
static void on_ws_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                           size_t extra_in_size, MHD_socket sock,
                           struct MHD_UpgradeResponseHandle *urh) {
    srv_http *h = cls;
    conn_state *st = con_cls;
    (void)c;
    srv_ws_session(h->s, sock, extra_in, extra_in_size, st ? st->ws_task : "");
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static bool header_has(struct MHD_Connection *c, const char *name, const char *token) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    if (!v) return false;
    for (const char *p = v; *p; p++)
        if (strncasecmp(p, token, strlen(token)) == 0) return true;
    return false;
}

static enum MHD_Result handle_ws(srv_http *h, struct MHD_Connection *c, conn_state *st,
                                 const char *method, const char *task_id) {
    const char *url = ws_prefix;
    if (strcmp(method, "GET") != 0) return method_not_allowed(h, c, st, method, url, "GET");
    if (!srv_ws_available())
        return reply_error(h, c, st, method, url, SRV_INTERNAL,
                           "this build of doclayout has no WebSocket support (built without "
                           "nettle): poll /v1/status/poll/{task_id}");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    char accept[32];
    if (!header_has(c, "Upgrade", "websocket") || !header_has(c, "Connection", "upgrade"))
        return reply_error(h, c, st, method, url, SRV_BAD_REQUEST,
                           "/v1/status/ws/{task_id} is a WebSocket: send Upgrade: websocket and "
                           "Connection: Upgrade (or poll /v1/status/poll/{task_id})");
    if (!version || strcmp(version, "13") != 0)
        return reply_error(h, c, st, method, url, SRV_BAD_REQUEST,
                           "Sec-WebSocket-Version must be 13");
    if (!key || !srv_ws_accept_key(key, accept))
        return reply_error(h, c, st, method, url, SRV_BAD_REQUEST,
                           "Sec-WebSocket-Key is missing or not 16 bytes in base64");
    size_t n = strlen(task_id);
    bool id_ok = n > 0 && n < sizeof st->ws_task;
    for (size_t i = 0; id_ok && i < n; i++)
        id_ok =
            (task_id[i] >= '0' && task_id[i] <= '9') || (task_id[i] >= 'a' && task_id[i] <= 'z');
    /* a malformed id is an unknown task: the session says "Task not found." */
    snprintf(st->ws_task, sizeof st->ws_task, "%s", id_ok ? task_id : "-");
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_ws_upgraded, h);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    /* libmicrohttpd adds Connection: Upgrade itself */
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    double ms = (double)(srv_now_ms() - st->start_ms);
    srv_metrics_request(&h->s->metrics, 0, SRV_OK, ms / 1000.0);
    char peer[64];
    peer_text(c, peer, sizeof peer);
    srv_access_log(h->s, "http", method, url, 101, NULL, 0, ms, st->len, 0, peer, NULL);
    return ret;
}

static enum MHD_Result route(srv_http *h, struct MHD_Connection *c, conn_state *st, const char *url,
                             const char *method) {
    srv_server *s = h->s;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/v2/health/live") == 0) {
        if (!get) return method_not_allowed(h, c, st, method, url, "GET");
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "live", 1);
        return reply_json(h, c, st, method, url, 200, j);
    }
    if (strcmp(url, "/v2/health/ready") == 0) {
        if (!get) return method_not_allowed(h, c, st, method, url, "GET");
        bool ready = !atomic_load(&s->draining);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ready", ready);
        return reply_json(h, c, st, method, url, ready ? 200 : 503, j);
    }
    if (strcmp(url, "/v2") == 0 || strcmp(url, "/v2/") == 0) {
        if (!get) return method_not_allowed(h, c, st, method, url, "GET");
        cJSON *j = cJSON_CreateObject(), *ext = cJSON_CreateArray();
        cJSON_AddStringToObject(j, "name", "doclayout");
        cJSON_AddStringToObject(j, "version", dl_version());
        cJSON_AddItemToArray(ext, cJSON_CreateString("binary_tensor_data"));
        cJSON_AddItemToObject(j, "extensions", ext);
        return reply_json(h, c, st, method, url, 200, j);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get) return method_not_allowed(h, c, st, method, url, "GET");
        size_t len;
        char *text = srv_metrics_render(s, &len);
        if (!text) return MHD_NO;
        return reply(h, c, st, method, url, 200, SRV_OK, "text/plain; version=0.0.4", text, len, 0,
                     NULL);
    }
    if (strncmp(url, ws_prefix, strlen(ws_prefix)) == 0)
        return handle_ws(h, c, st, method, url + strlen(ws_prefix));
    if (srv_docling_owns(url)) { /* the docling-serve API (docling_api.c) */
        srv_reply r;
        srv_docling_handle(s, c, method, url, st->body, st->len, &r);
        st->disposition = r.disposition;
        return reply(h, c, st, method, url, r.status, r.code, r.ctype, r.body, r.len, 0,
                     r.error[0] ? r.error : NULL);
    }
    const char *prefix = "/v2/models/";
    if (strncmp(url, prefix, strlen(prefix)) != 0) {
        char msg[300], safe[200];
        srv_sanitize(safe, sizeof safe, url, strlen(url));
        snprintf(msg, sizeof msg, "no route %s (see /v2/models/NAME)", safe);
        return reply_error(h, c, st, method, url, SRV_NOT_FOUND, msg);
    }
    /* NAME[/versions/V][/ready|/infer] */
    char path[512];
    if (strlen(url + strlen(prefix)) >= sizeof path)
        return reply_error(h, c, st, method, url, SRV_NOT_FOUND, "path too long");
    strcpy(path, url + strlen(prefix));
    char *seg[5];
    int n = 0;
    for (char *p = path; p && n < 5;) {
        seg[n++] = p;
        p = strchr(p, '/');
        if (p) *p++ = '\0';
    }
    const char *name = seg[0], *version = NULL, *action = NULL;
    int at = 1;
    if (n >= 3 && strcmp(seg[1], "versions") == 0) {
        version = seg[2];
        at = 3;
    }
    if (at < n) action = seg[at++];
    if (at < n || (action && strcmp(action, "ready") != 0 && strcmp(action, "infer") != 0) ||
        !*name) {
        char msg[300], safe[200];
        srv_sanitize(safe, sizeof safe, url, strlen(url));
        snprintf(msg, sizeof msg, "no route %s", safe);
        return reply_error(h, c, st, method, url, SRV_NOT_FOUND, msg);
    }
    char msg[400];
    srv_model *m = srv_find_model(s, name, version, msg, sizeof msg);
    if (!m) return reply_error(h, c, st, method, url, SRV_NOT_FOUND, msg);
    snprintf(st->model, sizeof st->model, "%s", m->name);
    if (action && strcmp(action, "infer") == 0) {
        if (!post) return method_not_allowed(h, c, st, method, url, "POST");
        return handle_infer(h, c, st, m, url);
    }
    if (!get) return method_not_allowed(h, c, st, method, url, "GET");
    if (action) { /* ready */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", m->name);
        cJSON_AddBoolToObject(j, "ready", !atomic_load(&s->draining));
        return reply_json(h, c, st, method, url, 200, j);
    }
    return reply_json(h, c, st, method, url, 200, model_metadata(m));
}

/* ---- slow clients (see conn_watch) ------------------------------------------------------- */

static void watch_set(srv_http *h, struct MHD_Connection *c, conn_phase phase) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_watch *w = ci ? ci->socket_context : NULL;
    if (!w) return;
    pthread_mutex_lock(&h->mu);
    w->phase = phase;
    w->since_ms = srv_now_ms();
    pthread_mutex_unlock(&h->mu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_watch *w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w) return; /* not watched: the idle timeout still applies */
        w->fd = ci->connect_fd;
        w->phase = PHASE_READING;
        w->since_ms = srv_now_ms();
        pthread_mutex_lock(&h->mu);
        w->next = h->conns;
        if (h->conns) h->conns->prev = w;
        h->conns = w;
        pthread_mutex_unlock(&h->mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        /* before libmicrohttpd closes the socket: the watchdog never touches a reused fd */
        conn_watch *w = *socket_context;
        pthread_mutex_lock(&h->mu);
        if (w->prev) w->prev->next = w->next;
        else h->conns = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&h->mu);
        free(w);
        *socket_context = NULL;
    }
}

/* Called with a request's first line: reading the request begins. Returns the request's
 * initial state (none: on_request makes it once the headers are in). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)uri;
    watch_set(cls, c, PHASE_READING);
    return NULL;
}

static void *watchdog_main(void *arg) {
    srv_http *h = arg;
    srv_server *s = h->s;
    int64_t read_ms = (int64_t)s->cfg.read_timeout_s * 1000;
    int64_t idle_ms = (int64_t)s->cfg.idle_timeout_s * 1000;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        int64_t now = srv_now_ms();
        for (conn_watch *w = h->conns; w; w = w->next) {
            int64_t limit = w->phase == PHASE_READING ? read_ms
                            : w->phase == PHASE_IDLE  ? idle_ms
                                                      : -1;
            if (w->cut || limit < 0 || now - w->since_ms <= limit) continue;
            w->cut = true;
            shutdown(w->fd, SHUT_RDWR); /* libmicrohttpd sees the end and closes it */
            pthread_mutex_lock(&s->metrics.mu);
            s->metrics.slow_clients_cut++;
            pthread_mutex_unlock(&s->metrics.mu);
            srv_access_log(
                s, "http", "-", "-", 408, NULL, 0, (double)(now - w->since_ms), 0, 0, "-",
                w->phase == PHASE_READING ? "connection closed: the request was not in within "
                                            "--read-timeout-s"
                                          : "connection closed: idle past --idle-timeout-s");
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    srv_http *h = cls;
    srv_server *s = h->s;
    conn_state *st = *con_cls;
    if (!st) { /* the headers are in */
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        st->start_ms = srv_now_ms();
        *con_cls = st;
        atomic_fetch_add(&s->in_flight, 1);
        if (!is_health(url) && !srv_docling_is_health(url)) {
            const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Api-Key");
            /* docling-serve's WebSocket route takes the key as ?api_key= (browsers cannot set
             * headers on a WebSocket) */
            if (!key && strncmp(url, ws_prefix, strlen(ws_prefix)) == 0)
                key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api_key");
            if (!srv_api_key_ok(s, key, key ? strlen(key) : 0)) {
                st->refused = true;
                return reply_error(h, c, st, method, url, SRV_UNAUTHORIZED,
                                   key ? "wrong API key (header X-Api-Key)"
                                       : "this server needs an API key (header X-Api-Key)");
            }
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "request body of %.24s bytes is larger than this server "
                     "takes (%zu, --max-body-mb)",
                     cl, s->cfg.max_body_bytes);
            st->refused = true;
            return reply_error(h, c, st, method, url, SRV_TOO_LARGE, msg);
        }
        return MHD_YES;
    }
    if (st->refused) { /* the reply is queued: drop the rest of the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (st->len + n > s->cfg.max_body_bytes) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "request body is larger than this server takes (%zu bytes, "
                     "--max-body-mb)",
                     s->cfg.max_body_bytes);
            *upload_size = 0;
            st->refused = true;
            return reply_error(h, c, st, method, url, SRV_TOO_LARGE, msg);
        }
        if (st->len + n > st->cap) {
            size_t cap = st->cap ? st->cap : 65536;
            while (cap < st->len + n) cap *= 2;
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
            if (want >= st->len + n && want <= s->cfg.max_body_bytes && want > cap) cap = want;
            if (!st->base) {
                const char *hl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                             "Inference-Header-Content-Length");
                st->pad = hl ? (16 - strtoull(hl, NULL, 10) % 16) % 16 : 0;
            }
            char *p = realloc(st->base, cap + st->pad);
            if (!p) return MHD_NO;
            st->base = p;
            st->body = p + st->pad;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload, n);
        st->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    (void)version;
    watch_set(h, c, PHASE_HANDLING); /* the request is in */
    return route(h, c, st, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    srv_http *h = cls;
    conn_state *st = *con_cls;
    (void)why;
    watch_set(h, c, PHASE_IDLE); /* kept alive until the next request line, or closed */
    if (!st) return;
    free(st->base);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&h->s->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    (void)fmt;
    (void)ap; /* libmicrohttpd's own notes (a client that went away, ...) are not ours to print */
}

/* A listening socket bound to host:port, without SO_REUSEPORT (a second server on the same
 * port fails to bind instead of sharing it). */
int srv_listen(const char *host, int port, int *bound, char *msg, size_t size);
int srv_listen(const char *host, int port, int *bound, char *msg, size_t size) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int e = getaddrinfo(host, ps, &hints, &res);
    if (e) {
        snprintf(msg, size, "cannot resolve --host '%s': %s", host, gai_strerror(e));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(msg, size, "cannot listen on %s port %d: %s", host, port, strerror(last));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

srv_http *srv_http_start(srv_server *s, int *port, char *msg, size_t size) {
    srv_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(msg, size, "out of memory");
        return NULL;
    }
    h->s = s;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->fd = srv_listen(s->cfg.host, s->cfg.port, port, msg, size);
    if (h->fd >= 0)
        h->d = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                MHD_USE_POLL | MHD_ALLOW_UPGRADE,
            0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->cfg.max_connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)s->cfg.max_connections_per_ip,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->cfg.idle_timeout_s,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
            MHD_OPTION_URI_LOG_CALLBACK, on_request_line, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
            NULL, MHD_OPTION_END);
    else h->fd = -1;
    if (h->d) h->watchdog_started = pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0;
    if (!h->d || !h->watchdog_started) {
        if (h->fd >= 0 && !h->d)
            snprintf(msg, size, "libmicrohttpd could not start on port %d", *port);
        else if (h->d) snprintf(msg, size, "could not start the HTTP watchdog thread");
        if (h->d) MHD_stop_daemon(h->d); /* closes the listening socket too */
        else if (h->fd >= 0) close(h->fd);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h);
        return NULL;
    }
    return h;
}

void srv_http_quiesce(srv_http *h) {
    if (!h || h->fd < 0) return;
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    h->fd = -1;
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    srv_http_quiesce(h);
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->watchdog, NULL);
    MHD_stop_daemon(h->d);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
