/* doclayout serve: options, models, the transports, and shutdown on SIGTERM. */
#include "server/serve.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/docling.h"
#include "server/server.h"

static const char *usage_text =
    "Usage: doclayout serve [options]\n"
    "  Serve layout models over the KServe v2 inference protocol (HTTP, and gRPC with\n"
    "  --grpc-port), as Docling's api_kserve_v2 layout engine calls it: inputs 'images' FP32\n"
    "  [N,3,H,W] (pre-processed) and 'orig_target_sizes' INT64 [N,2] (width, height); outputs\n"
    "  'labels' INT64 [N,K], 'boxes' FP32 [N,K,4] (unclamped, original pixels), 'scores' FP32\n"
    "  [N,K], K = the model's queries. See docs/server.md.\n"
    "    --model [NAME=]DIR|REPO_ID  a model to serve (repeatable). Served as NAME, else a\n"
    "                        directory as its folder's name, a repo id as Docling names it\n"
    "                        (docling-project/docling-layout-heron ->\n"
    "                        docling-project--docling-layout-heron). Default: the bundled model\n"
    "    --host H            address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
    "    --port N            HTTP port (default 8000; 0 = any free port, printed on start)\n"
    "    --grpc-port N       also serve gRPC on port N (0 = any free port)\n"
    "    --device D          cpu (default), cuda, cuda:N or auto\n"
    "    --precision P       fp32, bf16 or fp16 (GPU)\n"
    "    --threads N         CPU threads per model (default: all cores)\n"
    "    --api-key KEY       require header X-Api-Key: KEY (gRPC metadata x-api-key) on every\n"
    "                        route but /v2/health/*\n"
    "    --api-key-env VAR   the same, the key read from environment variable VAR\n"
    "    --max-batch N       pages per device batch (default 8)\n"
    "    --max-wait-ms N     how long a page waits for its batch to fill (default 2)\n"
    "    --max-queue N       pages waiting at most; beyond, 429 / RESOURCE_EXHAUSTED (256)\n"
    "    --max-request-pages N  pages in one request at most (default 64)\n"
    "    --max-body-mb N     HTTP body and gRPC message size at most (default 320)\n"
    "    --request-timeout-ms N  a request's deadline (default 60000)\n"
    "    --idle-timeout-s N  close an HTTP connection idle this long (default 30)\n"
    "    --read-timeout-s N  an HTTP request (headers and body) must be in within N s of its\n"
    "                        first line, or of the connection (default 30): slow clients\n"
    "                        are cut off\n"
    "    --max-connections N HTTP connections at once (default 256)\n"
    "    --max-connections-per-ip N  HTTP connections at once from one address (default 0:\n"
    "                        no limit beyond --max-connections)\n"
    "    --grpc-threads N    gRPC calls handled at once (default 32)\n"
    "    --drain-timeout-s N on SIGTERM, how long accepted requests may take (default 30)\n"
    "    --no-access-log     no JSON access-log line per request on stderr\n"
    "  The document API (docling-serve v1 subset: /v1/convert/file, /v1/convert/source, ...):\n"
    "    --state-dir DIR     async tasks and uploads, kept across restarts (default: a\n"
    "                        temporary directory, removed on exit)\n"
    "    --convert-timeout-ms N  a sync conversion's deadline (default 600000)\n"
    "    --max-tasks N       conversions waiting at most; beyond, 429 (default 64)\n"
    "    --convert-workers N conversions run at once, their pages sharing the model's batches\n"
    "                        (default 2: one document decodes while another's pages run)\n"
    "    --result-ttl-s N    keep finished async results this long (default 3600)\n"
    "    --result-max-kb N   and at most this much of them, oldest removed first\n"
    "                        (default 1048576: 1 GiB)\n"
    "    --allow-url-sources accept sources of kind \"http\": the server fetches the URL (http\n"
    "                        or https; any address it can reach: trusted clients only)\n"
    "    --max-url-bytes N   a fetched document's size at most (default: --max-body-mb's)\n"
    "    --url-timeout-s N   a URL must be fetched within N s (default 60)\n";

static volatile sig_atomic_t unused_signal;

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "doclayout serve: %s expects a whole number in [%ld, %ld], got '%s'\n", opt,
                lo, hi, s ? s : "");
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int parse_args(int argc, char **argv, srv_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8000;
    c->grpc_port = -1;
    c->device = DL_DEVICE_CPU;
    c->max_batch = 8;
    c->max_wait_ms = 2;
    c->max_queue = 256;
    c->max_request_pages = 64;
    c->request_timeout_ms = 60000;
    c->idle_timeout_s = 30;
    c->read_timeout_s = 30;
    c->max_connections = 256;
    c->grpc_threads = 32;
    c->drain_timeout_s = 30;
    c->access_log = true;
    c->convert_timeout_ms = 600000;
    c->max_tasks = 64;
    c->convert_workers = 2;
    c->result_ttl_s = 3600;
    c->url_timeout_s = 60;
    int body_mb = 320, result_kb = 1 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strncmp(a, "--", 2) == 0 && strcmp(a, "--no-access-log") != 0 &&
                     strcmp(a, "--help") != 0 && strcmp(a, "--allow-url-sources") != 0;
        if (takes && !v) {
            fprintf(stderr, "doclayout serve: %s needs a value\n", a);
            return 2;
        }
        if (takes) i++;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (strcmp(a, "--model") == 0) {
            if (c->n_models == SRV_MAX_MODELS) {
                fprintf(stderr, "doclayout serve: at most %d models\n", SRV_MAX_MODELS);
                return 2;
            }
            c->model_args[c->n_models++] = v;
        } else if (strcmp(a, "--host") == 0) {
            c->host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_int(a, v, 0, 65535, &c->port)) return 2;
        } else if (strcmp(a, "--grpc-port") == 0) {
            if (!parse_int(a, v, 0, 65535, &c->grpc_port)) return 2;
        } else if (strcmp(a, "--device") == 0) {
            dl_error err;
            if (dl_device_parse(v, &c->device, &c->device_index, &err) != DL_OK) {
                fprintf(stderr, "doclayout serve: --device: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(a, "--precision") == 0) {
            if (strcmp(v, "fp32") == 0) c->precision = DL_PRECISION_FP32;
            else if (strcmp(v, "bf16") == 0) c->precision = DL_PRECISION_BF16;
            else if (strcmp(v, "fp16") == 0) c->precision = DL_PRECISION_FP16;
            else {
                fprintf(stderr, "doclayout serve: --precision must be fp32, bf16 or fp16\n");
                return 2;
            }
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(a, v, 0, 1024, &c->threads)) return 2;
        } else if (strcmp(a, "--api-key") == 0) {
            c->api_key = v;
        } else if (strcmp(a, "--api-key-env") == 0) {
            c->api_key = getenv(v);
            if (!c->api_key || !*c->api_key) {
                fprintf(stderr,
                        "doclayout serve: --api-key-env %s: the variable is not set or "
                        "empty\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--max-batch") == 0) {
            if (!parse_int(a, v, 1, 256, &c->max_batch)) return 2;
        } else if (strcmp(a, "--max-wait-ms") == 0) {
            if (!parse_int(a, v, 0, 10000, &c->max_wait_ms)) return 2;
        } else if (strcmp(a, "--max-queue") == 0) {
            if (!parse_int(a, v, 1, 1000000, &c->max_queue)) return 2;
        } else if (strcmp(a, "--max-request-pages") == 0) {
            if (!parse_int(a, v, 1, 4096, &c->max_request_pages)) return 2;
        } else if (strcmp(a, "--max-body-mb") == 0) {
            if (!parse_int(a, v, 1, 4096, &body_mb)) return 2;
        } else if (strcmp(a, "--request-timeout-ms") == 0) {
            if (!parse_int(a, v, 1, 86400000, &c->request_timeout_ms)) return 2;
        } else if (strcmp(a, "--idle-timeout-s") == 0) {
            if (!parse_int(a, v, 1, 86400, &c->idle_timeout_s)) return 2;
        } else if (strcmp(a, "--read-timeout-s") == 0) {
            if (!parse_int(a, v, 1, 86400, &c->read_timeout_s)) return 2;
        } else if (strcmp(a, "--max-connections") == 0) {
            if (!parse_int(a, v, 1, 65536, &c->max_connections)) return 2;
        } else if (strcmp(a, "--max-connections-per-ip") == 0) {
            if (!parse_int(a, v, 0, 65536, &c->max_connections_per_ip)) return 2;
        } else if (strcmp(a, "--grpc-threads") == 0) {
            if (!parse_int(a, v, 1, 1024, &c->grpc_threads)) return 2;
        } else if (strcmp(a, "--drain-timeout-s") == 0) {
            if (!parse_int(a, v, 0, 86400, &c->drain_timeout_s)) return 2;
        } else if (strcmp(a, "--no-access-log") == 0) {
            c->access_log = false;
        } else if (strcmp(a, "--state-dir") == 0) {
            c->state_dir = v;
        } else if (strcmp(a, "--convert-timeout-ms") == 0) {
            if (!parse_int(a, v, 1, 86400000, &c->convert_timeout_ms)) return 2;
        } else if (strcmp(a, "--max-tasks") == 0) {
            if (!parse_int(a, v, 1, 1000000, &c->max_tasks)) return 2;
        } else if (strcmp(a, "--convert-workers") == 0) {
            if (!parse_int(a, v, 1, SRV_MAX_CONVERT_WORKERS, &c->convert_workers)) return 2;
        } else if (strcmp(a, "--result-ttl-s") == 0) {
            if (!parse_int(a, v, 0, 86400 * 365, &c->result_ttl_s)) return 2;
        } else if (strcmp(a, "--result-max-kb") == 0) {
            if (!parse_int(a, v, 0, 1 << 30, &result_kb)) return 2;
        } else if (strcmp(a, "--allow-url-sources") == 0) {
            c->allow_url_sources = true;
        } else if (strcmp(a, "--max-url-bytes") == 0) {
            int bytes;
            if (!parse_int(a, v, 1, 2147483647, &bytes)) return 2;
            c->max_url_bytes = (size_t)bytes;
        } else if (strcmp(a, "--url-timeout-s") == 0) {
            if (!parse_int(a, v, 1, 86400, &c->url_timeout_s)) return 2;
        } else {
            fprintf(stderr, "doclayout serve: unknown option %s (see doclayout serve --help)\n", a);
            return 2;
        }
    }
    c->max_body_bytes = (size_t)body_mb << 20;
    if (!c->max_url_bytes) c->max_url_bytes = c->max_body_bytes;
    c->result_max_bytes = (size_t)result_kb << 10;
    if (c->max_queue < c->max_request_pages) c->max_request_pages = c->max_queue;
    return 0;
}

static bool valid_name(const char *n) {
    if (!*n || strlen(n) >= 128) return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* NAME=PATH, a directory (its folder's name) or a repo id ("/" -> "--", as Docling does). */
static int model_name(const char *arg, char *name, size_t size, const char **path) {
    const char *eq = strchr(arg, '=');
    if (eq && eq > arg && !memchr(arg, '/', (size_t)(eq - arg))) {
        snprintf(name, size, "%.*s", (int)(eq - arg), arg);
        *path = eq + 1;
    } else {
        *path = arg;
        struct stat st;
        if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%s", arg);
            size_t l = strlen(tmp);
            while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
            const char *base = strrchr(tmp, '/');
            snprintf(name, size, "%s", base ? base + 1 : tmp);
        } else {
            size_t o = 0;
            for (const char *p = arg; *p && o + 3 < size; p++) {
                if (*p == '/') {
                    name[o++] = '-';
                    name[o++] = '-';
                } else {
                    name[o++] = *p;
                }
            }
            name[o] = '\0';
        }
    }
    if (!valid_name(name)) {
        fprintf(stderr,
                "doclayout serve: model name '%s' (from '%s') must be 1-127 of "
                "A-Z a-z 0-9 . _ - (give NAME=%s)\n",
                name, arg, *path);
        return 0;
    }
    return 1;
}

static int load_models(srv_server *s) {
    const srv_config *c = &s->cfg;
    const char *def[1];
    const char *const *args = c->model_args;
    int n = c->n_models;
    if (n == 0) {
        def[0] = dl_cli_default_model();
        if (!def[0]) {
            fprintf(stderr, "doclayout serve: no --model given and no bundled default model "
                            "found\n");
            return 0;
        }
        args = def;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        srv_model *m = &s->models[i];
        const char *path;
        if (!model_name(args[i], m->name, sizeof m->name, &path)) return 0;
        for (int j = 0; j < i; j++)
            if (strcmp(s->models[j].name, m->name) == 0) {
                fprintf(stderr, "doclayout serve: two models named '%s' (give NAME=...)\n",
                        m->name);
                return 0;
            }
        dl_error err;
        if (dl_model_load(path, NULL, &m->model, &err) != DL_OK) {
            fprintf(stderr, "doclayout serve: %s\n", err.message);
            return 0;
        }
        s->n_models = i + 1;
        if (*dl_model_warning(m->model))
            fprintf(stderr, "doclayout serve: warning: %s\n", dl_model_warning(m->model));
        dl_detector_options o = dl_detector_default_options();
        o.device = c->device;
        o.device_index = c->device_index;
        o.num_threads = c->threads;
        o.precision = c->precision;
        dl_detector *det = NULL;
        if (dl_detector_create(m->model, &o, &det, &err) != DL_OK) {
            fprintf(stderr, "doclayout serve: %s\n", err.message);
            return 0;
        }
        snprintf(m->device, sizeof m->device, "%s", dl_detector_device_name(det));
        m->k = dl_model_max_detections(m->model);
        m->h = dl_model_input_height(m->model);
        m->w = dl_model_input_width(m->model);
        m->detector = det;
        dl_batcher_options bo = dl_batcher_default_options();
        bo.max_batch = c->max_batch;
        bo.max_wait_ms = c->max_wait_ms;
        bo.max_queue = c->max_queue;
        bo.on_batch = srv_metrics_batch;
        bo.borrow_pixels = 1; /* srv_infer keeps them until the job is through */
        bo.user = s;
        if (dl_batcher_create(m->model, det, &bo, &m->batcher, &err) != DL_OK) {
            fprintf(stderr, "doclayout serve: %s\n", err.message);
            return 0;
        }
        printf("doclayout serve: model %s (%s, %s, %dx%d input, K=%d) on %s\n", m->name,
               dl_model_path(m->model), dl_model_type(m->model), m->w, m->h, m->k, m->device);
    }
    return 1;
}

static void free_models(srv_server *s) {
    for (int i = 0; i < s->n_models; i++) {
        dl_batcher_free(s->models[i].batcher);
        dl_detector_free(s->models[i].detector);
        dl_model_free(s->models[i].model);
    }
}

static const char *host_for_url(const char *host, char *buf, size_t size) {
    if (strchr(host, ':')) snprintf(buf, size, "[%s]", host);
    else snprintf(buf, size, "%s", host);
    return buf;
}

int dl_serve_main(int argc, char **argv) {
    static srv_server server; /* one per process */
    srv_server *s = &server;
    int rc = parse_args(argc, argv, &s->cfg);
    if (rc) return rc;
    (void)unused_signal;
    /* SIGTERM and SIGINT are taken by sigwait below; every thread started from here on
     * inherits the mask, so none of them is interrupted by the signal */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
    /* Request bodies (a 640x640 page is 4.9 MB) are freed by another thread than the one that
     * allocated them; glibc then raises its mmap threshold to their size and serves the next
     * ones from the heaps, which step up by a body at a time (the 10-minute soak: +6.0% with
     * glibc's defaults, +0.2% with a fixed 1 MiB threshold; docs/benchmarks.md). */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
    srv_metrics_init(&s->metrics);
    pthread_mutex_init(&s->log_mu, NULL);
    atomic_init(&s->draining, false);
    atomic_init(&s->in_flight, 0);
    if (!load_models(s)) {
        free_models(s);
        return 1;
    }
    char msg[512], hb[300];
    int http_port = 0, grpc_port = 0;
    s->tasks = srv_tasks_start(s, msg, sizeof msg);
    if (!s->tasks) {
        fprintf(stderr, "doclayout serve: %s\n", msg);
        free_models(s);
        return 1;
    }
    srv_http *http = srv_http_start(s, &http_port, msg, sizeof msg);
    if (!http) {
        fprintf(stderr, "doclayout serve: HTTP: %s\n", msg);
        srv_tasks_free(s->tasks);
        free_models(s);
        return 1;
    }
    srv_grpc *grpc = NULL;
    if (s->cfg.grpc_port >= 0) {
        grpc = srv_grpc_start(s, &grpc_port, msg, sizeof msg);
        if (!grpc) {
            fprintf(stderr, "doclayout serve: gRPC: %s\n", msg);
            srv_http_stop(http);
            srv_tasks_free(s->tasks);
            free_models(s);
            return 1;
        }
    }
    host_for_url(s->cfg.host, hb, sizeof hb);
    printf("doclayout serve: HTTP on %s:%d\n", hb, http_port);
    if (grpc) printf("doclayout serve: gRPC on %s:%d\n", hb, grpc_port);
    printf("doclayout serve: ready%s\n", s->cfg.api_key ? " (API key required)" : "");
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    atomic_store(&s->draining, true);
    printf("doclayout serve: %s: finishing accepted requests\n",
           sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fflush(stdout);
    /* what is accepted runs now: no batch waits for clients that will not come */
    for (int i = 0; i < s->n_models; i++) dl_batcher_drain(s->models[i].batcher);
    srv_http_quiesce(http);
    if (grpc) srv_grpc_shutdown(grpc); /* waits for the calls in progress */
    int64_t until = srv_now_ms() + (int64_t)s->cfg.drain_timeout_s * 1000;
    while (atomic_load(&s->in_flight) > 0 && srv_now_ms() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->in_flight);
    srv_tasks_stop(s->tasks); /* a running async task stays on disk for the next start */
    /* requests that were waiting for a conversion now have their answer (503): let them send
     * it before the connections are closed */
    int64_t grace = srv_now_ms() + 2000;
    while (atomic_load(&s->in_flight) > 0 && srv_now_ms() < grace) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    srv_http_stop(http);
    srv_tasks_free(s->tasks);
    free_models(s);
    printf("doclayout serve: stopped%s\n", left ? " (drain timeout: requests cut)" : "");
    fflush(stdout);
    return 0;
}
