/* /metrics in the Prometheus text format, and the structured access log. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

static const double lat_bounds[SRV_LAT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,    2.5,   5,    10,  30};
static const int batch_bounds[SRV_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128};
static const char *const code_names[9] = {"ok",          "bad_request", "unauthorized",
                                          "not_found",   "too_large",   "overloaded",
                                          "unavailable", "deadline",    "error"};

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void srv_metrics_request(srv_metrics *m, int transport, srv_code code, double seconds) {
    pthread_mutex_lock(&m->mu);
    m->requests[transport][code]++;
    m->latency_sum[transport] += seconds;
    m->latency_count[transport]++;
    for (int b = 0; b < SRV_LAT_BUCKETS; b++)
        if (seconds <= lat_bounds[b]) m->latency_bucket[transport][b]++;
    if (code == SRV_OVERLOADED) m->rejected_queue_full++;
    if (code == SRV_DEADLINE) m->deadline_exceeded++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_batch(void *server, int pages, double forward_ms, int queued_after) {
    srv_metrics *m = &((srv_server *)server)->metrics;
    (void)queued_after;
    pthread_mutex_lock(&m->mu);
    m->pages += (uint64_t)pages;
    m->batches++;
    m->batch_pages_sum += pages;
    m->forward_seconds_sum += forward_ms / 1000.0;
    for (int b = 0; b < SRV_BATCH_BUCKETS; b++)
        if (pages <= batch_bounds[b]) m->batch_bucket[b]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(sbuf *b, const char *fmt, ...) {
    if (!b->p) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *q = realloc(b->p, b->cap * 2 + (size_t)n);
        if (!q) {
            free(b->p);
            b->p = NULL;
            return;
        }
        b->p = q;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

char *srv_metrics_render(srv_server *s, size_t *len) {
    sbuf b = {malloc(8192), 0, 8192};
    srv_metrics m;
    pthread_mutex_lock(&s->metrics.mu);
    memcpy(&m, &s->metrics, sizeof m);
    pthread_mutex_unlock(&s->metrics.mu);
    static const char *const tr[2] = {"http", "grpc"};
    add(&b, "# HELP doclayout_requests_total Inference and metadata requests by transport and "
            "outcome.\n# TYPE doclayout_requests_total counter\n");
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < 9; c++)
            add(&b, "doclayout_requests_total{transport=\"%s\",outcome=\"%s\"} %llu\n", tr[t],
                code_names[c], (unsigned long long)m.requests[t][c]);
    add(&b, "# HELP doclayout_request_duration_seconds Time from a request's arrival to its "
            "reply.\n# TYPE doclayout_request_duration_seconds histogram\n");
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < SRV_LAT_BUCKETS; k++)
            add(&b, "doclayout_request_duration_seconds_bucket{transport=\"%s\",le=\"%g\"} %llu\n",
                tr[t], lat_bounds[k], (unsigned long long)m.latency_bucket[t][k]);
        add(&b, "doclayout_request_duration_seconds_bucket{transport=\"%s\",le=\"+Inf\"} %llu\n",
            tr[t], (unsigned long long)m.latency_count[t]);
        add(&b, "doclayout_request_duration_seconds_sum{transport=\"%s\"} %.6f\n", tr[t],
            m.latency_sum[t]);
        add(&b, "doclayout_request_duration_seconds_count{transport=\"%s\"} %llu\n", tr[t],
            (unsigned long long)m.latency_count[t]);
    }
    add(&b,
        "# HELP doclayout_pages_total Pages run through the network.\n"
        "# TYPE doclayout_pages_total counter\ndoclayout_pages_total %llu\n",
        (unsigned long long)m.pages);
    add(&b, "# HELP doclayout_batch_pages Pages per device batch.\n"
            "# TYPE doclayout_batch_pages histogram\n");
    for (int k = 0; k < SRV_BATCH_BUCKETS; k++)
        add(&b, "doclayout_batch_pages_bucket{le=\"%d\"} %llu\n", batch_bounds[k],
            (unsigned long long)m.batch_bucket[k]);
    add(&b,
        "doclayout_batch_pages_bucket{le=\"+Inf\"} %llu\ndoclayout_batch_pages_sum %.0f\n"
        "doclayout_batch_pages_count %llu\n",
        (unsigned long long)m.batches, m.batch_pages_sum, (unsigned long long)m.batches);
    add(&b,
        "# HELP doclayout_forward_seconds_total Time spent in the network.\n"
        "# TYPE doclayout_forward_seconds_total counter\n"
        "doclayout_forward_seconds_total %.6f\n",
        m.forward_seconds_sum);
    add(&b,
        "# HELP doclayout_rejected_total Requests refused because the queue was full.\n"
        "# TYPE doclayout_rejected_total counter\ndoclayout_rejected_total %llu\n",
        (unsigned long long)m.rejected_queue_full);
    add(&b,
        "# HELP doclayout_deadline_exceeded_total Requests whose deadline passed.\n"
        "# TYPE doclayout_deadline_exceeded_total counter\n"
        "doclayout_deadline_exceeded_total %llu\n",
        (unsigned long long)m.deadline_exceeded);
    add(&b,
        "# HELP doclayout_slow_clients_closed_total HTTP connections closed because the "
        "request was not in within --read-timeout-s (or idle past --idle-timeout-s).\n"
        "# TYPE doclayout_slow_clients_closed_total counter\n"
        "doclayout_slow_clients_closed_total %llu\n",
        (unsigned long long)m.slow_clients_cut);
    add(&b, "# HELP doclayout_queue_pages Pages queued and not yet in a batch.\n"
            "# TYPE doclayout_queue_pages gauge\n");
    for (int i = 0; i < s->n_models; i++)
        add(&b, "doclayout_queue_pages{model=\"%s\"} %d\n", s->models[i].name,
            dl_batcher_queued(s->models[i].batcher));
    add(&b,
        "# HELP doclayout_in_flight_requests Requests being handled.\n"
        "# TYPE doclayout_in_flight_requests gauge\ndoclayout_in_flight_requests %d\n",
        atomic_load(&s->in_flight));
    add(&b, "# HELP doclayout_model_info The models served and their device.\n"
            "# TYPE doclayout_model_info gauge\n");
    for (int i = 0; i < s->n_models; i++)
        add(&b, "doclayout_model_info{model=\"%s\",device=\"%s\",max_batch=\"%d\"} 1\n",
            s->models[i].name, s->models[i].device, s->cfg.max_batch);
    *len = b.p ? b.len : 0;
    return b.p;
}

void srv_access_log(srv_server *s, const char *transport, const char *method, const char *path,
                    int status, const char *model, int pages, double ms, size_t bytes_in,
                    size_t bytes_out, const char *peer, const char *error) {
    if (!s->cfg.access_log) return;
    char safe_path[512], safe_err[600], ts[40];
    srv_sanitize(safe_path, sizeof safe_path, path, path ? strlen(path) : 0);
    srv_sanitize(safe_err, sizeof safe_err, error, error ? strlen(error) : 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t o = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + o, sizeof ts - o, ".%03ldZ", now.tv_nsec / 1000000);
    cJSON *j = cJSON_CreateObject();
    if (!j) return;
    cJSON_AddStringToObject(j, "time", ts);
    cJSON_AddStringToObject(j, "transport", transport);
    cJSON_AddStringToObject(j, "method", method ? method : "");
    cJSON_AddStringToObject(j, "path", safe_path);
    cJSON_AddNumberToObject(j, "status", status);
    if (model) cJSON_AddStringToObject(j, "model", model);
    cJSON_AddNumberToObject(j, "pages", pages);
    cJSON_AddNumberToObject(j, "ms", (double)(long long)(ms * 1000) / 1000.0);
    cJSON_AddNumberToObject(j, "bytes_in", (double)bytes_in);
    cJSON_AddNumberToObject(j, "bytes_out", (double)bytes_out);
    if (peer) cJSON_AddStringToObject(j, "peer", peer);
    if (error && *error) cJSON_AddStringToObject(j, "error", safe_err);
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!line) return;
    pthread_mutex_lock(&s->log_mu);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    pthread_mutex_unlock(&s->log_mu);
    free(line);
}
