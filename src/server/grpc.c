/*
 * KServe v2 over gRPC (inference.GRPCInferenceService) on Debian's gRPC C core (libgrpc-dev),
 * with the messages of kserve_v2.proto encoded by protobuf-c. A fixed set of threads, each
 * with its own completion queue, takes one call at a time: receive the message, answer it
 * (an inference waits for its batch), send the reply.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kserve_v2.pb-c.h"
#include "server/server.h"

/*
 * Calls are taken by one acceptor thread and handed to --grpc-threads workers. Each call is
 * requested bound to a completion queue of its own, so that whichever worker takes it can
 * drive it alone; when every worker is busy the acceptor refuses the call at once with
 * RESOURCE_EXHAUSTED instead of letting it wait in gRPC core for a free worker.
 */
typedef struct grpc_pending {
    grpc_call *call;
    grpc_call_details det;
    grpc_metadata_array md;
    grpc_completion_queue *cq; /* bound to the call */
    struct grpc_pending *next;
} grpc_pending;

struct srv_grpc {
    srv_server *s;
    grpc_server *server;
    grpc_completion_queue *ctrl;   /* the shutdown notification */
    grpc_completion_queue *accept; /* new calls */
    pthread_t acceptor;
    bool acceptor_started;
    int n_workers;
    struct grpc_worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    grpc_pending *head, *tail; /* calls handed to the workers, not yet taken */
    int busy;                  /* calls handed to the workers and not finished */
    bool stop;
};

typedef struct grpc_worker {
    srv_grpc *g;
    pthread_t thread;
    bool started;
} grpc_worker;

enum { TAG_NEW = 1, TAG_RECV, TAG_SEND, TAG_SHUTDOWN };

static bool wait_tag(grpc_completion_queue *cq, intptr_t tag) {
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) return false;
        if (ev.type == GRPC_OP_COMPLETE && (intptr_t)ev.tag == tag) return ev.success != 0;
    }
}

static grpc_status_code grpc_code(srv_code c) {
    switch (c) {
    case SRV_OK: return GRPC_STATUS_OK;
    case SRV_BAD_REQUEST: return GRPC_STATUS_INVALID_ARGUMENT;
    case SRV_UNAUTHORIZED: return GRPC_STATUS_UNAUTHENTICATED;
    case SRV_NOT_FOUND: return GRPC_STATUS_NOT_FOUND;
    case SRV_TOO_LARGE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case SRV_OVERLOADED: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case SRV_UNAVAILABLE: return GRPC_STATUS_UNAVAILABLE;
    case SRV_DEADLINE: return GRPC_STATUS_DEADLINE_EXCEEDED;
    default: return GRPC_STATUS_INTERNAL;
    }
}

/* A reply: the packed message (or none) and the status. */
typedef struct answer {
    srv_code code;
    char msg[600];
    uint8_t *msg_bytes;
    size_t msg_len;
    const char *model;
    int pages;
} answer;

static void pack(answer *a, const ProtobufCMessage *m) {
    a->msg_len = protobuf_c_message_get_packed_size(m);
    a->msg_bytes = malloc(a->msg_len ? a->msg_len : 1);
    if (!a->msg_bytes) {
        a->code = SRV_INTERNAL;
        snprintf(a->msg, sizeof a->msg, "out of memory for the reply");
        return;
    }
    protobuf_c_message_pack(m, a->msg_bytes);
}

static void fail(answer *a, srv_code code, const char *msg) {
    a->code = code;
    srv_sanitize(a->msg, sizeof a->msg, msg, strlen(msg));
}

static Inference__ModelMetadataResponse__TensorMetadata *
tensor_meta(Inference__ModelMetadataResponse__TensorMetadata *t, const char *name,
            const char *datatype, int64_t *shape, int ndim) {
    inference__model_metadata_response__tensor_metadata__init(t);
    t->name = (char *)name;
    t->datatype = (char *)datatype;
    t->n_shape = (size_t)ndim;
    t->shape = shape;
    return t;
}

static void model_metadata(const srv_model *m, answer *a) {
    Inference__ModelMetadataResponse r = INFERENCE__MODEL_METADATA_RESPONSE__INIT;
    Inference__ModelMetadataResponse__TensorMetadata tin[2], tout[SRV_NUM_OUTPUTS];
    Inference__ModelMetadataResponse__TensorMetadata *pin[2], *pout[SRV_NUM_OUTPUTS];
    int64_t img[4] = {-1, 3, m->h, m->w}, sz[2] = {-1, 2}, oshape[SRV_NUM_OUTPUTS][3];
    char *versions[1] = {(char *)SRV_MODEL_VERSION};
    char platform[64];
    snprintf(platform, sizeof platform, "doclayout_%s", dl_model_type(m->model));
    r.name = (char *)m->name;
    r.n_versions = 1;
    r.versions = versions;
    r.platform = platform;
    pin[0] = tensor_meta(&tin[0], "images", "FP32", img, 4);
    pin[1] = tensor_meta(&tin[1], "orig_target_sizes", "INT64", sz, 2);
    for (int i = 0; i < SRV_NUM_OUTPUTS; i++) {
        int nd = srv_output_shape(m, i, -1, oshape[i]);
        pout[i] =
            tensor_meta(&tout[i], srv_output_names[i], srv_output_datatypes[i], oshape[i], nd);
    }
    r.n_inputs = 2;
    r.inputs = pin;
    r.n_outputs = SRV_NUM_OUTPUTS;
    r.outputs = pout;
    pack(a, &r.base);
}

static bool
param_true(Inference__ModelInferRequest__InferRequestedOutputTensor__ParametersEntry **p, size_t n,
           const char *key) {
    for (size_t i = 0; i < n; i++)
        if (p[i]->key && strcmp(p[i]->key, key) == 0 && p[i]->value &&
            p[i]->value->parameter_choice_case ==
                INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
            return p[i]->value->bool_param;
    return false;
}

static void model_infer(srv_server *s, const uint8_t *data, size_t len, int64_t deadline_ms,
                        answer *a) {
    Inference__ModelInferRequest *req = inference__model_infer_request__unpack(NULL, len, data);
    if (!req) {
        fail(a, SRV_BAD_REQUEST, "the message is not a valid ModelInferRequest");
        return;
    }
    char msg[600];
    srv_model *m = srv_find_model(s, req->model_name, req->model_version, msg, sizeof msg);
    if (!m) {
        fail(a, SRV_NOT_FOUND, msg);
        goto out;
    }
    a->model = m->name;
    if (req->n_inputs > 4) {
        fail(a, SRV_BAD_REQUEST, "more than 4 inputs; the model takes 2");
        goto out;
    }
    if (req->n_raw_input_contents && req->n_raw_input_contents != req->n_inputs) {
        snprintf(msg, sizeof msg,
                 "%zu raw_input_contents for %zu inputs: give one per input, "
                 "or none and typed contents",
                 req->n_raw_input_contents, req->n_inputs);
        fail(a, SRV_BAD_REQUEST, msg);
        goto out;
    }
    srv_tensor t[4];
    memset(t, 0, sizeof t);
    for (size_t i = 0; i < req->n_inputs; i++) {
        Inference__ModelInferRequest__InferInputTensor *in = req->inputs[i];
        if (in->n_shape > SRV_MAX_DIMS) {
            fail(a, SRV_BAD_REQUEST, "an input's shape has more than 8 dimensions");
            goto out;
        }
        t[i].name = in->name;
        t[i].datatype = in->datatype;
        t[i].ndim = (int)in->n_shape;
        for (size_t d = 0; d < in->n_shape; d++) t[i].shape[d] = in->shape[d];
        if (req->n_raw_input_contents) {
            t[i].data = req->raw_input_contents[i].data;
            t[i].size = req->raw_input_contents[i].len;
        } else if (in->contents && strcmp(in->datatype, "FP32") == 0) {
            t[i].data = in->contents->fp32_contents;
            t[i].size = in->contents->n_fp32_contents * sizeof(float);
        } else if (in->contents && strcmp(in->datatype, "INT64") == 0) {
            t[i].data = in->contents->int64_contents;
            t[i].size = in->contents->n_int64_contents * sizeof(int64_t);
        } else if (strcmp(in->datatype, "FP32") == 0 || strcmp(in->datatype, "INT64") == 0) {
            char safe[96];
            srv_sanitize(safe, sizeof safe, in->name, strlen(in->name));
            snprintf(msg, sizeof msg, "input '%s' has neither raw_input_contents nor contents",
                     safe);
            fail(a, SRV_BAD_REQUEST, msg);
            goto out;
        }
        if (!t[i].data) t[i].data = "";
    }
    int want[SRV_NUM_OUTPUTS], n_want = 0;
    bool binary = req->n_raw_input_contents > 0;
    for (size_t i = 0; i < req->n_outputs; i++) {
        int k = srv_output_index(req->outputs[i]->name);
        if (k < 0) {
            char safe[96];
            srv_sanitize(safe, sizeof safe, req->outputs[i]->name, strlen(req->outputs[i]->name));
            snprintf(msg, sizeof msg, "unknown output '%s' (the outputs are labels, boxes, scores)",
                     safe);
            fail(a, SRV_BAD_REQUEST, msg);
            goto out;
        }
        for (int j = 0; j < n_want; j++)
            if (want[j] == k) {
                snprintf(msg, sizeof msg, "output '%s' requested twice", srv_output_names[k]);
                fail(a, SRV_BAD_REQUEST, msg);
                goto out;
            }
        if (n_want == SRV_NUM_OUTPUTS) break;
        want[n_want++] = k;
        binary |=
            param_true(req->outputs[i]->parameters, req->outputs[i]->n_parameters, "binary_data");
    }
    if (n_want == 0)
        for (int k = 0; k < SRV_NUM_OUTPUTS; k++) want[n_want++] = k;

    dl_batch_job *job = NULL;
    int pages = 0;
    srv_code code =
        srv_infer(s, m, t, (int)req->n_inputs, deadline_ms, &job, &pages, msg, sizeof msg);
    if (code != SRV_OK) {
        fail(a, code, msg);
        goto out;
    }
    a->pages = pages;
    /* raw_output_contents always (one per output, what Docling's binary path and tritonclient
     * read); typed contents as well when the client did not ask for binary data */
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    Inference__ModelInferResponse__InferOutputTensor ot[SRV_NUM_OUTPUTS], *pot[SRV_NUM_OUTPUTS];
    Inference__InferTensorContents tc[SRV_NUM_OUTPUTS];
    ProtobufCBinaryData raw[SRV_NUM_OUTPUTS];
    int64_t shapes[SRV_NUM_OUTPUTS][3];
    r.model_name = m->name;
    r.model_version = (char *)SRV_MODEL_VERSION;
    r.id = req->id;
    for (int k = 0; k < n_want; k++) {
        int i = want[k];
        inference__model_infer_response__infer_output_tensor__init(&ot[k]);
        ot[k].name = (char *)srv_output_names[i];
        ot[k].datatype = (char *)srv_output_datatypes[i];
        ot[k].n_shape = (size_t)srv_output_shape(m, i, pages, shapes[k]);
        ot[k].shape = shapes[k];
        size_t bytes;
        const void *d = srv_output_data(m, job, i, pages, &bytes);
        raw[k].data = (uint8_t *)d;
        raw[k].len = bytes;
        if (!binary) {
            inference__infer_tensor_contents__init(&tc[k]);
            if (i == 0) {
                tc[k].n_int64_contents = bytes / 8;
                tc[k].int64_contents = (int64_t *)d;
            } else {
                tc[k].n_fp32_contents = bytes / 4;
                tc[k].fp32_contents = (float *)d;
            }
            ot[k].contents = &tc[k];
        }
        pot[k] = &ot[k];
    }
    r.n_outputs = (size_t)n_want;
    r.outputs = pot;
    r.n_raw_output_contents = (size_t)n_want;
    r.raw_output_contents = raw;
    pack(a, &r.base);
    dl_batch_job_release(job);
out:
    inference__model_infer_request__free_unpacked(req, NULL);
}

static bool slice_is(grpc_slice s, const char *method) {
    return grpc_slice_str_cmp(s, method) == 0;
}

#define SVC "/inference.GRPCInferenceService/"

static void handle_call(srv_grpc *g, grpc_completion_queue *cq, grpc_call *call,
                        grpc_call_details *det, grpc_metadata_array *md) {
    srv_server *s = g->s;
    int64_t start = srv_now_ms();
    atomic_fetch_add(&s->in_flight, 1);
    answer a;
    memset(&a, 0, sizeof a);
    grpc_byte_buffer *in = NULL;
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &in;
    bool ok = grpc_call_start_batch(call, ops, 2, (void *)TAG_RECV, NULL) == GRPC_CALL_OK &&
              wait_tag(cq, TAG_RECV);
    grpc_slice body = grpc_empty_slice();
    if (in) {
        grpc_byte_buffer_reader r;
        if (grpc_byte_buffer_reader_init(&r, in)) {
            body = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
        }
        grpc_byte_buffer_destroy(in);
    }
    const uint8_t *data = GRPC_SLICE_START_PTR(body);
    size_t len = GRPC_SLICE_LENGTH(body);
    char method[128];
    char *mstr = grpc_slice_to_c_string(det->method);
    srv_sanitize(method, sizeof method, mstr, strlen(mstr));
    gpr_free(mstr);

    /* the key, from lowercase x-api-key metadata; not needed for the health calls */
    bool health =
        slice_is(det->method, SVC "ServerLive") || slice_is(det->method, SVC "ServerReady");
    const char *key = NULL;
    size_t key_len = 0;
    for (size_t i = 0; i < md->count; i++)
        if (grpc_slice_str_cmp(md->metadata[i].key, "x-api-key") == 0) {
            key = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            key_len = GRPC_SLICE_LENGTH(md->metadata[i].value);
        }
    /* the deadline: the client's when it set one, else (and at most) --request-timeout-ms */
    int64_t deadline_ms = start + s->cfg.request_timeout_ms;
    gpr_timespec left = gpr_time_sub(gpr_convert_clock_type(det->deadline, GPR_CLOCK_REALTIME),
                                     gpr_now(GPR_CLOCK_REALTIME));
    if (left.tv_sec < (int64_t)s->cfg.request_timeout_ms / 1000 + 1) {
        int64_t ms = left.tv_sec * 1000 + left.tv_nsec / 1000000;
        if (start + ms < deadline_ms) deadline_ms = start + (ms > 0 ? ms : 0);
    }

    if (!ok) {
        fail(&a, SRV_BAD_REQUEST, "no request message");
    } else if (!health && !srv_api_key_ok(s, key, key_len)) {
        fail(&a, SRV_UNAUTHORIZED,
             key ? "wrong API key (metadata x-api-key)"
                 : "this server needs an API key (metadata x-api-key)");
    } else if (slice_is(det->method, SVC "ServerLive")) {
        Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
        r.live = 1;
        pack(&a, &r.base);
    } else if (slice_is(det->method, SVC "ServerReady")) {
        Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
        r.ready = !atomic_load(&s->draining);
        pack(&a, &r.base);
    } else if (slice_is(det->method, SVC "ServerMetadata")) {
        Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
        char *ext[1] = {"binary_tensor_data"};
        r.name = "doclayout";
        r.version = (char *)dl_version();
        r.n_extensions = 1;
        r.extensions = ext;
        pack(&a, &r.base);
    } else if (slice_is(det->method, SVC "ModelReady") ||
               slice_is(det->method, SVC "ModelMetadata")) {
        /* ModelReadyRequest and ModelMetadataRequest have the same fields */
        Inference__ModelMetadataRequest *q =
            inference__model_metadata_request__unpack(NULL, len, data);
        char msg[400];
        srv_model *m = q ? srv_find_model(s, q->name, q->version, msg, sizeof msg) : NULL;
        if (!q) fail(&a, SRV_BAD_REQUEST, "the message is not a valid request");
        else if (!m) fail(&a, SRV_NOT_FOUND, msg);
        else if (slice_is(det->method, SVC "ModelMetadata")) {
            a.model = m->name;
            model_metadata(m, &a);
        } else {
            Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
            a.model = m->name;
            r.ready = !atomic_load(&s->draining);
            pack(&a, &r.base);
        }
        if (q) inference__model_metadata_request__free_unpacked(q, NULL);
    } else if (slice_is(det->method, SVC "ModelInfer")) {
        model_infer(s, data, len, deadline_ms, &a);
    } else {
        a.code = SRV_NOT_FOUND;
        snprintf(a.msg, sizeof a.msg, "method %s is not implemented", method);
    }
    grpc_slice_unref(body);
    if (a.code == SRV_OK && a.msg_len > s->cfg.max_body_bytes) {
        free(a.msg_bytes);
        a.msg_bytes = NULL;
        fail(&a, SRV_TOO_LARGE, "the reply is larger than --max-body-mb");
    }

    int cancelled = 0, nops = 0;
    memset(ops, 0, sizeof ops);
    grpc_byte_buffer *out = NULL;
    size_t out_len = 0;
    if (a.code == SRV_OK) {
        grpc_slice sl = grpc_slice_new(a.msg_bytes, a.msg_len, free);
        a.msg_bytes = NULL;
        out_len = a.msg_len;
        out = grpc_raw_byte_buffer_create(&sl, 1);
        grpc_slice_unref(sl);
        ops[nops].op = GRPC_OP_SEND_MESSAGE;
        ops[nops++].data.send_message.send_message = out;
    }
    grpc_slice details = grpc_slice_from_copied_string(a.code == SRV_OK ? "" : a.msg);
    grpc_status_code status = a.code == SRV_NOT_FOUND && strstr(a.msg, "not implemented")
                                  ? GRPC_STATUS_UNIMPLEMENTED
                                  : grpc_code(a.code);
    ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[nops].data.send_status_from_server.status = status;
    ops[nops++].data.send_status_from_server.status_details = &details;
    ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[nops++].data.recv_close_on_server.cancelled = &cancelled;
    if (grpc_call_start_batch(call, ops, (size_t)nops, (void *)TAG_SEND, NULL) == GRPC_CALL_OK)
        wait_tag(cq, TAG_SEND);
    grpc_slice_unref(details);
    if (out) grpc_byte_buffer_destroy(out);
    free(a.msg_bytes);
    double ms = (double)(srv_now_ms() - start);
    srv_metrics_request(&s->metrics, 1, a.code, ms / 1000.0);
    char *peer = grpc_call_get_peer(call);
    srv_access_log(s, "grpc", "POST", method, (int)status, a.model, a.pages, ms, len, out_len, peer,
                   a.code == SRV_OK ? NULL : a.msg);
    gpr_free(peer);
    atomic_fetch_sub(&s->in_flight, 1);
}

static void drain_and_destroy(grpc_completion_queue *cq) {
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static void pending_free(grpc_pending *p) {
    if (p->call) grpc_call_unref(p->call);
    grpc_call_details_destroy(&p->det);
    grpc_metadata_array_destroy(&p->md);
    drain_and_destroy(p->cq);
    free(p);
}

static void *worker_main(void *arg) {
    grpc_worker *w = arg;
    srv_grpc *g = w->g;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->head && !g->stop) pthread_cond_wait(&g->cv, &g->mu);
        grpc_pending *p = g->head;
        if (!p) break; /* stopping, nothing left */
        g->head = p->next;
        if (!g->head) g->tail = NULL;
        pthread_mutex_unlock(&g->mu);
        handle_call(g, p->cq, p->call, &p->det, &p->md);
        pending_free(p);
        pthread_mutex_lock(&g->mu);
        g->busy--;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Every worker is busy: RESOURCE_EXHAUSTED at once, from the acceptor. */
static void refuse_call(srv_grpc *g, grpc_pending *p) {
    srv_server *s = g->s;
    char msg[160], method[128];
    snprintf(msg, sizeof msg, "all %d gRPC call threads are busy (--grpc-threads); retry later",
             g->n_workers);
    char *mstr = grpc_slice_to_c_string(p->det.method);
    srv_sanitize(method, sizeof method, mstr, strlen(mstr));
    gpr_free(mstr);
    grpc_slice details = grpc_slice_from_copied_string(msg);
    int cancelled = 0;
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    ops[1].data.send_status_from_server.status_details = &details;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &cancelled;
    if (grpc_call_start_batch(p->call, ops, 3, (void *)TAG_SEND, NULL) == GRPC_CALL_OK)
        wait_tag(p->cq, TAG_SEND);
    grpc_slice_unref(details);
    srv_metrics_request(&s->metrics, 1, SRV_OVERLOADED, 0.0);
    char *peer = grpc_call_get_peer(p->call);
    srv_access_log(s, "grpc", "POST", method, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, 0, 0.0, 0, 0,
                   peer, msg);
    gpr_free(peer);
}

static void *acceptor_main(void *arg) {
    srv_grpc *g = arg;
    for (;;) {
        grpc_pending *p = calloc(1, sizeof *p);
        grpc_completion_queue *cq = p ? grpc_completion_queue_create_for_next(NULL) : NULL;
        if (!cq) { /* out of memory: try again shortly rather than stop serving */
            free(p);
            gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(100, GPR_TIMESPAN)));
            continue;
        }
        p->cq = cq;
        grpc_call_details_init(&p->det);
        grpc_metadata_array_init(&p->md);
        bool got = grpc_server_request_call(g->server, &p->call, &p->det, &p->md, p->cq, g->accept,
                                            (void *)p) == GRPC_CALL_OK &&
                   wait_tag(g->accept, (intptr_t)p);
        if (!got) { /* the server is shutting down */
            pending_free(p);
            break;
        }
        pthread_mutex_lock(&g->mu);
        bool take = g->busy < g->n_workers;
        if (take) {
            g->busy++;
            if (g->tail) g->tail->next = p;
            else g->head = p;
            g->tail = p;
            pthread_cond_signal(&g->cv);
        }
        pthread_mutex_unlock(&g->mu);
        if (!take) {
            refuse_call(g, p);
            pending_free(p);
        }
    }
    return NULL;
}

static void grpc_free(srv_grpc *g) {
    if (g->acceptor_started) pthread_join(g->acceptor, NULL);
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < g->n_workers; i++)
        if (g->workers[i].started) pthread_join(g->workers[i].thread, NULL);
    grpc_server_destroy(g->server);
    drain_and_destroy(g->accept);
    drain_and_destroy(g->ctrl);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->workers);
    free(g);
    grpc_shutdown();
}

srv_grpc *srv_grpc_start(srv_server *s, int *port, char *msg, size_t size) {
    gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
    grpc_init();
    srv_grpc *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(msg, size, "out of memory");
        grpc_shutdown();
        return NULL;
    }
    g->s = s;
    int max = s->cfg.max_body_bytes > (size_t)INT32_MAX ? INT32_MAX : (int)s->cfg.max_body_bytes;
    grpc_arg args[3];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = max;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = max;
    /* gRPC core sets SO_REUSEPORT by default: two servers would share the port silently */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    grpc_channel_args ch = {3, args};
    g->server = grpc_server_create(&ch, NULL);
    g->ctrl = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->ctrl, NULL);
    g->accept = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->accept, NULL);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->n_workers = s->cfg.grpc_threads;
    g->workers = calloc((size_t)g->n_workers, sizeof *g->workers);
    if (!g->workers) {
        snprintf(msg, size, "out of memory");
        g->n_workers = 0;
        grpc_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n_workers; i++) g->workers[i].g = g;
    char addr[300];
    if (strchr(s->cfg.host, ':'))
        snprintf(addr, sizeof addr, "[%s]:%d", s->cfg.host, s->cfg.grpc_port);
    else snprintf(addr, sizeof addr, "%s:%d", s->cfg.host, s->cfg.grpc_port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    *port = grpc_server_add_http2_port(g->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (*port == 0) {
        snprintf(msg, size, "cannot listen on %s (in use, or not an address of this machine)",
                 addr);
        grpc_server_shutdown_and_notify(g->server, g->ctrl, (void *)TAG_SHUTDOWN);
        wait_tag(g->ctrl, TAG_SHUTDOWN);
        grpc_free(g);
        return NULL;
    }
    grpc_server_start(g->server);
    for (int i = 0; i < g->n_workers; i++)
        g->workers[i].started =
            pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]) == 0;
    g->acceptor_started = pthread_create(&g->acceptor, NULL, acceptor_main, g) == 0;
    if (!g->acceptor_started) {
        snprintf(msg, size, "could not start the gRPC acceptor thread");
        grpc_server_shutdown_and_notify(g->server, g->ctrl, (void *)TAG_SHUTDOWN);
        wait_tag(g->ctrl, TAG_SHUTDOWN);
        grpc_free(g);
        return NULL;
    }
    return g;
}

void srv_grpc_shutdown(srv_grpc *g) {
    if (!g) return;
    /* no new calls; the notification comes once the calls in progress have finished */
    grpc_server_shutdown_and_notify(g->server, g->ctrl, (void *)TAG_SHUTDOWN);
    gpr_timespec until =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_seconds(g->s->cfg.drain_timeout_s, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(g->ctrl, until, NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        grpc_server_cancel_all_calls(g->server);
        wait_tag(g->ctrl, TAG_SHUTDOWN);
    }
    grpc_free(g);
}
