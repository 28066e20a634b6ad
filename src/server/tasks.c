/*
 * The document tasks of doclayout serve's docling-serve API: a bounded queue, --convert-workers
 * workers, each running the library's document pipeline (include/doclayout.h) through the model's
 * batcher (its pages share batches and the one detector with the KServe requests), and a state
 * directory.
 *
 * STATE_DIR/tasks/ID/ holds an async task: in/N/FILENAME (the uploaded bytes), task.json (its
 * state: accepted, running, done, failed, cancelled; written to a temporary file, fsynced and
 * renamed) and result.json. The bytes and the record are on disk, fsynced, before the task id
 * is returned, so after a crash (kill -9) the next start queues every accepted or running task
 * again and runs it to completion. Sync requests use STATE_DIR/sync/ID/, removed when answered.
 * Finished async tasks are removed after --result-ttl-s, or oldest first when their results
 * pass --result-max-kb.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/docling.h"

struct srv_task {
    char id[33];
    int refs;
    bool async, in_registry;
    srv_task_state state;
    srv_doc_options o;
    char dir[2048];
    int n_docs;
    char (*names)[256];
    char *options_json; /* async: kept in task.json */
    /* while running */
    bool cancel, timed_out;
    dl_pipeline *running;
    int pages_done, docs_ok, docs_failed, docs_done;
    /* when finished */
    double created, finished; /* wall clock, seconds */
    char *result;             /* sync: the response; async: read from result.json */
    size_t result_len;
    char *fail_detail; /* the task failed: why (a sync request answers 422) */
    char *docs_detail; /* several documents, some failed: which and why (the zip leaves them out) */
    bool result_zip;   /* the result is a zip (several documents, or target zip) */
    srv_task *next;    /* registry */
    srv_task *qnext;   /* queue */
};

struct srv_tasks {
    srv_server *s;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a task finished, the queue moved */
    pthread_cond_t work;
    pthread_t workers[SRV_MAX_CONVERT_WORKERS];
    int n_workers; /* started */
    bool stopping;
    srv_task *all;
    srv_task *qhead, *qtail;
    int queued;
    char root[1024];
    bool own_root; /* a temporary directory, removed at the end */
};

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *state_word(srv_task_state st) {
    switch (st) {
    case SRV_TASK_PENDING: return "accepted";
    case SRV_TASK_STARTED: return "running";
    case SRV_TASK_SUCCESS: return "done";
    case SRV_TASK_FAILURE: return "failed";
    default: return "cancelled";
    }
}

/* ---- files ------------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static bool make_dir(const char *dir) { return mkdir(dir, 0700) == 0 || errno == EEXIST; }

/* Write a whole file; with `durable`, fsync it. */
static bool write_file(const char *path, const void *data, size_t size, bool durable) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return false;
        }
        p += n;
        size -= (size_t)n;
    }
    bool ok = !durable || fsync(fd) == 0;
    return close(fd) == 0 && ok;
}

/* Write path atomically: a temporary file, fsynced, renamed over it, the directory fsynced. */
static bool write_atomic_bytes(const char *dir, const char *name, const void *data, size_t size) {
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!write_file(tmp, data, size, true) || rename(tmp, path) != 0) {
        remove(tmp);
        return false;
    }
    fsync_dir(dir);
    return true;
}

static bool write_atomic(const char *dir, const char *name, const char *text) {
    return write_atomic_bytes(dir, name, text, strlen(text));
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (cap + 65536 + 1) * 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t k = fread(buf + n, 1, 65536, f);
        n += k;
        if (k < 65536) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static void doc_path(const srv_task *t, int i, char *path, size_t size) {
    snprintf(path, size, "%s/in/%d/%s", t->dir, i, t->names[i]);
}

/* task.json: the record a restart reads back. Called with the lock held or before the task is
 * shared. */
static bool write_record(srv_task *t) {
    if (!t->async) return true;
    cJSON *j = cJSON_CreateObject(), *files = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "task_id", t->id);
    cJSON_AddStringToObject(j, "state", state_word(t->state));
    cJSON_AddNumberToObject(j, "created", t->created);
    if (t->finished > 0) cJSON_AddNumberToObject(j, "finished", t->finished);
    for (int i = 0; i < t->n_docs; i++)
        cJSON_AddItemToArray(files, cJSON_CreateString(t->names[i]));
    cJSON_AddItemToObject(j, "files", files);
    cJSON *opts = t->options_json ? cJSON_Parse(t->options_json) : NULL;
    cJSON_AddItemToObject(j, "options", opts ? opts : cJSON_CreateObject());
    cJSON_AddNumberToObject(j, "result_bytes", (double)t->result_len);
    cJSON_AddNumberToObject(j, "num_succeeded", t->docs_ok);
    cJSON_AddNumberToObject(j, "num_failed", t->docs_failed);
    if (t->fail_detail) cJSON_AddStringToObject(j, "detail", t->fail_detail);
    if (t->docs_detail) cJSON_AddStringToObject(j, "docs_detail", t->docs_detail);
    cJSON_AddBoolToObject(j, "target_zip", t->o.zip);
    cJSON_AddBoolToObject(j, "result_zip", t->result_zip);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    bool ok = text && write_atomic(t->dir, "task.json", text);
    free(text);
    return ok;
}

/* ---- tasks ------------------------------------------------------------------------------ */

static void task_free(srv_task *t) {
    free(t->names);
    free(t->options_json);
    free(t->result);
    free(t->fail_detail);
    free(t->docs_detail);
    free(t);
}

static void unref(srv_task *t) {
    if (--t->refs == 0) task_free(t);
}

static void random_id(char *id) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8) ^ (uint64_t)rand());
    }
    for (size_t i = 0; i < sizeof b; i++) snprintf(id + 2 * i, 3, "%02x", b[i]);
}

static void registry_add(srv_tasks *T, srv_task *t) {
    t->refs++;
    t->in_registry = true;
    t->next = T->all;
    T->all = t;
}

static void registry_remove(srv_tasks *T, srv_task *t) {
    for (srv_task **p = &T->all; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            t->in_registry = false;
            unref(t);
            return;
        }
}

static void queue_push(srv_tasks *T, srv_task *t) {
    t->qnext = NULL;
    if (T->qtail) T->qtail->qnext = t;
    else T->qhead = t;
    T->qtail = t;
    T->queued++;
}

static bool queue_remove(srv_tasks *T, srv_task *t) {
    srv_task *prev = NULL;
    for (srv_task *q = T->qhead; q; prev = q, q = q->qnext)
        if (q == t) {
            if (prev) prev->qnext = q->qnext;
            else T->qhead = q->qnext;
            if (T->qtail == q) T->qtail = prev;
            T->queued--;
            return true;
        }
    return false;
}

static bool finished(srv_task_state st) {
    return st == SRV_TASK_SUCCESS || st == SRV_TASK_FAILURE || st == SRV_TASK_CANCELLED;
}

srv_task *srv_task_submit(srv_tasks *T, const srv_doc_input *docs, int n_docs,
                          const srv_doc_options *o, const cJSON *options_json, bool async,
                          int *status, char *msg, size_t size) {
    srv_server *s = T->s;
    pthread_mutex_lock(&T->mu);
    bool stopping = T->stopping, full = T->queued >= s->cfg.max_tasks;
    pthread_mutex_unlock(&T->mu);
    if (stopping) {
        *status = 503;
        snprintf(msg, size, "the server is shutting down");
        return NULL;
    }
    if (full) {
        *status = 429;
        snprintf(msg, size, "the task queue is full (%d tasks waiting, --max-tasks); try again",
                 s->cfg.max_tasks);
        return NULL;
    }
    srv_task *t = calloc(1, sizeof *t);
    if (t) t->names = calloc((size_t)n_docs, sizeof *t->names);
    if (!t || !t->names) {
        if (t) task_free(t);
        *status = 500;
        snprintf(msg, size, "out of memory");
        return NULL;
    }
    t->refs = 1;
    t->async = async;
    t->o = *o;
    t->n_docs = n_docs;
    t->created = wall_now();
    random_id(t->id);
    for (int i = 0; i < n_docs; i++)
        snprintf(t->names[i], sizeof t->names[i], "%s", docs[i].filename);
    if (async && options_json) t->options_json = cJSON_PrintUnformatted(options_json);
    char sub[4096];
    snprintf(t->dir, sizeof t->dir, "%s/%s/%s", T->root, async ? "tasks" : "sync", t->id);
    snprintf(sub, sizeof sub, "%s/in", t->dir);
    bool ok = make_dir(t->dir) && make_dir(sub);
    for (int i = 0; ok && i < n_docs; i++) {
        char d[4096], path[4096];
        snprintf(d, sizeof d, "%s/in/%d", t->dir, i);
        doc_path(t, i, path, sizeof path);
        ok = make_dir(d) && write_file(path, docs[i].data, docs[i].size, async);
        if (ok && async) fsync_dir(d);
    }
    if (ok && async) {
        fsync_dir(sub);
        ok = write_record(t);
        char tasks_dir[2048];
        snprintf(tasks_dir, sizeof tasks_dir, "%s/tasks", T->root);
        fsync_dir(tasks_dir);
    }
    if (!ok) {
        snprintf(msg, size, "cannot write the upload under %s: %s", T->root, strerror(errno));
        rm_tree(t->dir);
        task_free(t);
        *status = 500;
        return NULL;
    }
    pthread_mutex_lock(&T->mu);
    registry_add(T, t);
    queue_push(T, t);
    pthread_cond_signal(&T->work);
    pthread_mutex_unlock(&T->mu);
    return t;
}

srv_task *srv_task_find(srv_tasks *T, const char *id) {
    pthread_mutex_lock(&T->mu);
    srv_task *t = T->all;
    while (t && (!t->async || strcmp(t->id, id) != 0)) t = t->next;
    if (t) t->refs++;
    pthread_mutex_unlock(&T->mu);
    return t;
}

void srv_task_release(srv_tasks *T, srv_task *t) {
    if (!t) return;
    pthread_mutex_lock(&T->mu);
    unref(t);
    pthread_mutex_unlock(&T->mu);
}

const char *srv_task_id(const srv_task *t) { return t->id; }

srv_task_state srv_task_wait(srv_tasks *T, srv_task *t, int64_t deadline_ms) {
    pthread_mutex_lock(&T->mu);
    while (!finished(t->state) && !T->stopping) {
        int64_t now = srv_now_ms();
        if (now >= deadline_ms) break;
        int64_t wait = deadline_ms - now;
        if (wait > 1000) wait = 1000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&T->changed, &T->mu, &ts);
    }
    srv_task_state st = t->state;
    pthread_mutex_unlock(&T->mu);
    return st;
}

bool srv_task_cancel(srv_tasks *T, srv_task *t) {
    pthread_mutex_lock(&T->mu);
    bool was = !finished(t->state);
    if (was) {
        t->cancel = true;
        if (queue_remove(T, t)) {
            t->state = SRV_TASK_CANCELLED;
            t->finished = wall_now();
            write_record(t);
            pthread_cond_broadcast(&T->changed);
        } else if (t->running) {
            dl_pipeline_cancel(t->running);
        }
    }
    pthread_mutex_unlock(&T->mu);
    return was;
}

void srv_task_discard(srv_tasks *T, srv_task *t) {
    pthread_mutex_lock(&T->mu);
    bool done = finished(t->state);
    if (done && t->in_registry) registry_remove(T, t);
    pthread_mutex_unlock(&T->mu);
    if (done) rm_tree(t->dir);
}

static const char *wire_status(srv_task_state st) {
    switch (st) {
    case SRV_TASK_PENDING: return "pending";
    case SRV_TASK_STARTED: return "started";
    case SRV_TASK_SUCCESS: return "success";
    default: return "failure"; /* docling-serve's TaskStatus has no "cancelled" */
    }
}

cJSON *srv_task_status_json(srv_tasks *T, srv_task *t) {
    cJSON *j = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    pthread_mutex_lock(&T->mu);
    cJSON_AddStringToObject(j, "task_id", t->id);
    cJSON_AddStringToObject(j, "task_type", "convert");
    cJSON_AddStringToObject(j, "task_status", wire_status(t->state));
    int pos = 0;
    if (t->state == SRV_TASK_PENDING) {
        int k = 1;
        for (srv_task *q = T->qhead; q; q = q->qnext, k++)
            if (q == t) pos = k;
    }
    if (pos) cJSON_AddNumberToObject(j, "task_position", pos);
    else cJSON_AddNullToObject(j, "task_position");
    cJSON_AddNumberToObject(meta, "num_docs", t->n_docs);
    cJSON_AddNumberToObject(meta, "num_processed", t->docs_done);
    cJSON_AddNumberToObject(meta, "num_succeeded", t->docs_ok);
    cJSON_AddNumberToObject(meta, "num_failed", t->docs_failed);
    cJSON_AddNumberToObject(meta, "num_pages_done", t->pages_done);
    cJSON_AddItemToObject(j, "task_meta", meta);
    /* beyond docling-serve: what the record on disk says (accepted ... cancelled) */
    cJSON_AddStringToObject(j, "task_state", state_word(t->state));
    if (t->state == SRV_TASK_CANCELLED) cJSON_AddStringToObject(j, "task_detail", "cancelled");
    else if (t->fail_detail) cJSON_AddStringToObject(j, "task_detail", t->fail_detail);
    else if (t->docs_detail) cJSON_AddStringToObject(j, "task_detail", t->docs_detail);
    pthread_mutex_unlock(&T->mu);
    return j;
}

static char *detail_json(const char *detail, size_t *len) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "detail", detail);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (text) *len = strlen(text);
    return text;
}

char *srv_task_result(srv_tasks *T, srv_task *t, size_t *len, int *http_status, bool *is_zip) {
    pthread_mutex_lock(&T->mu);
    srv_task_state st = t->state;
    char *out = NULL;
    *http_status = 200;
    *is_zip = false;
    if (st == SRV_TASK_SUCCESS || st == SRV_TASK_FAILURE) {
        if (t->fail_detail && (!t->async || !t->result_len)) {
            out = detail_json(t->fail_detail, len);
            *http_status = 422;
        } else if (t->result) {
            out = malloc(t->result_len + 1);
            if (out) {
                memcpy(out, t->result, t->result_len);
                out[t->result_len] = '\0';
                *len = t->result_len;
                *is_zip = t->result_zip;
            }
        } else if (t->in_registry) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", t->dir,
                     t->result_zip ? "result.zip" : "result.json");
            out = read_file(path, len);
            *is_zip = t->result_zip;
        }
    }
    pthread_mutex_unlock(&T->mu);
    return out;
}

/* ---- running a task --------------------------------------------------------------------- */

typedef struct buffer {
    char *p;
    size_t n, cap;
} buffer;

static int buffer_write(void *user, const void *data, size_t size) {
    buffer *b = user;
    if (b->n + size + 1 > b->cap) {
        size_t cap = (b->n + size + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, size);
    b->n += size;
    b->p[b->n] = '\0';
    return 1;
}

typedef struct run_ctx {
    srv_tasks *T;
    srv_task *t;
    const char *path; /* the document's file under the state directory */
    const char *name; /* the client's name of it */
    dl_pipeline *p;
    int64_t deadline_ms; /* document_timeout; 0 none */
    cJSON *errors;
    bool doc_failed;
    char doc_reason[512];
    int page_errors;
} run_ctx;

/* `msg` with the server's own path of the document replaced by the client's file name. */
static void scrub(char *dst, size_t size, const char *msg, const char *path, const char *name) {
    size_t o = 0, pl = path ? strlen(path) : 0;
    while (*msg && o + 1 < size) {
        if (pl && strncmp(msg, path, pl) == 0) {
            int n = snprintf(dst + o, size - o, "%s", name);
            o += n > 0 ? (size_t)n : 0;
            if (o >= size) o = size - 1;
            msg += pl;
        } else {
            dst[o++] = *msg++;
        }
    }
    dst[o] = '\0';
    /* the library's advice names the CLI's --password; this API (as docling-serve's) takes no
     * password */
    char *pw = strstr(dst, "the PDF is encrypted: give its password with --password");
    if (pw)
        snprintf(pw, size - (size_t)(pw - dst),
                 "the PDF is encrypted (password-protected); this API cannot open it: it takes "
                 "no password. Send the document without its encryption");
}

static void add_error_in(run_ctx *c, const char *component, const char *message) {
    char text[600];
    scrub(text, sizeof text, message, c->path, c->name);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "component_type", component);
    cJSON_AddStringToObject(e, "module_name", "doclayout");
    cJSON_AddStringToObject(e, "error_message", text);
    cJSON_AddItemToArray(c->errors, e);
}

static void on_event(void *user, const dl_pipeline_event *ev) {
    run_ctx *c = user;
    switch (ev->kind) {
    case DL_EVENT_PAGE_DONE:
        pthread_mutex_lock(&c->T->mu);
        c->t->pages_done++;
        pthread_mutex_unlock(&c->T->mu);
        break;
    case DL_EVENT_PAGE_FAILED:
        c->page_errors++;
        add_error_in(c, "document_backend", ev->message ? ev->message : "a page failed");
        break;
    case DL_EVENT_DOCUMENT_FAILED:
        c->doc_failed = true;
        scrub(c->doc_reason, sizeof c->doc_reason,
              ev->message ? ev->message : "the document failed", c->path, c->name);
        add_error_in(c, "document_backend", c->doc_reason);
        break;
    case DL_EVENT_WARNING:
        add_error_in(c, "document_backend", ev->message ? ev->message : "warning");
        break;
    default: break;
    }
    if (c->deadline_ms > 0 && srv_now_ms() > c->deadline_ms && !c->t->timed_out) {
        c->t->timed_out = true;
        dl_pipeline_cancel(c->p);
    }
}

/* docling's export_to_text is its Markdown without markup: the same text, headings without
 * '#', no image/table placeholders. */
static char *markdown_to_text(const char *md) {
    size_t n = strlen(md);
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    const char *p = md;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *line = p;
        bool skip = len >= 4 && strncmp(line, "<!--", 4) == 0;
        if (!skip) {
            size_t h = 0;
            while (h < len && line[h] == '#') h++;
            if (h && h < len && line[h] == ' ') {
                line += h + 1;
                len -= h + 1;
            }
            memcpy(o, line, len);
            o += len;
            if (eol) *o++ = '\n';
        } else if (eol && eol[1] == '\n') {
            eol++; /* the blank line after a placeholder goes with it */
        }
        p = eol ? eol + 1 : p + strlen(p);
    }
    *o = '\0';
    return out;
}

/* One document of a task (document i) through the pipeline (the lock not held): its
 * ConvertDocumentResponse, with *failed and `reason` set when the document failed. NULL when
 * the task was cancelled (or the response could not be made: *failed then says so). */
static cJSON *run_doc(srv_tasks *T, srv_task *t, int i, bool *failed, char *reason,
                      size_t reason_size) {
    srv_server *s = T->s;
    double t0 = wall_now();
    int64_t start_ms = srv_now_ms();
    srv_model *m = &s->models[t->o.model];
    char path[4096];
    doc_path(t, i, path, sizeof path);
    const char *name = t->names[i];
    run_ctx c = {.T = T, .t = t, .path = path, .name = name, .errors = cJSON_CreateArray()};
    if (t->o.timeout_ms > 0) c.deadline_ms = start_ms + t->o.timeout_ms;
    for (int w = 0; w < t->o.n_warnings; w++) add_error_in(&c, "user_input", t->o.warnings[w]);
    dl_pipeline_options po = dl_pipeline_default_options();
    if (t->o.pages[0]) po.pages = t->o.pages;
    if (t->o.dpi > 0) po.dpi = t->o.dpi;
    /* one page a batcher job (as detect's default --batch 1): progress page by page, 5 pages
     * in flight; the batcher still pools each page with the other clients' */
    po.on_event = on_event;
    po.user = &c;
    dl_error err = {0};
    dl_pipeline *p = NULL;
    buffer bufs[3] = {{0}};
    const char *formats[3] = {"docling", "markdown", "json"};
    bool want[3] = {(t->o.formats & SRV_FMT_JSON) != 0,
                    (t->o.formats & (SRV_FMT_MD | SRV_FMT_TEXT)) != 0,
                    (t->o.formats & SRV_FMT_DOCLAYOUT) != 0};
    /* the model's one detector, its batches shared with the KServe requests' pages */
    dl_status st = dl_pipeline_create_batched(m->model, m->batcher, &po, &p, &err);
    for (int k = 0; k < 3 && st == DL_OK; k++) {
        if (!want[k]) continue;
        dl_output_options oo = {
            .format = formats[k], .write = buffer_write, .write_user = &bufs[k]};
        st = dl_pipeline_add_output(p, &oo, &err);
    }
    bool cancelled = false;
    cJSON *doc = NULL;
    const char *status_word = "success";
    t->timed_out = false;
    if (st != DL_OK) {
        c.doc_failed = true;
        snprintf(c.doc_reason, sizeof c.doc_reason, "%s", err.message);
        add_error_in(&c, "user_input", err.message);
    } else {
        c.p = p;
        pthread_mutex_lock(&T->mu);
        t->running = p;
        if (t->cancel || T->stopping) dl_pipeline_cancel(p);
        pthread_mutex_unlock(&T->mu);
        const char *in[1] = {path};
        dl_pipeline_report rep;
        st = dl_pipeline_run(p, in, 1, &rep, &err);
        pthread_mutex_lock(&T->mu);
        t->running = NULL;
        pthread_mutex_unlock(&T->mu);
        if (st == DL_ERR_CANCELLED && t->timed_out) {
            c.doc_failed = true;
            snprintf(c.doc_reason, sizeof c.doc_reason,
                     "document_timeout: the conversion took longer than %lld ms and was stopped",
                     (long long)t->o.timeout_ms);
            add_error_in(&c, "document_backend", c.doc_reason);
        } else if (st == DL_ERR_CANCELLED) {
            cancelled = true;
        } else if (st != DL_OK && !c.doc_failed) {
            c.doc_failed = true;
            scrub(c.doc_reason, sizeof c.doc_reason, err.message, c.path, name);
            add_error_in(&c, "document_backend", err.message);
        }
    }
    dl_pipeline_free(p);
    if (cancelled) {
        cJSON_Delete(c.errors);
        for (int k = 0; k < 3; k++) free(bufs[k].p);
        return NULL;
    }
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "filename", name);
    *failed = c.doc_failed;
    if (c.doc_failed) {
        status_word = "failure";
        snprintf(reason, reason_size, "document '%s': %s", name, c.doc_reason);
    } else if (c.page_errors) {
        status_word = "partial_success";
    }
    cJSON *json = NULL, *lay = NULL;
    char *text = NULL;
    if (!c.doc_failed) {
        if (want[0]) json = cJSON_ParseWithLength(bufs[0].p ? bufs[0].p : "", bufs[0].n);
        if (want[2]) lay = cJSON_ParseWithLength(bufs[2].p ? bufs[2].p : "", bufs[2].n);
        /* each page's "source" is the client's file name, not the server's path */
        cJSON *pg;
        cJSON_ArrayForEach(pg, cJSON_GetObjectItemCaseSensitive(lay, "pages")) {
            if (cJSON_GetObjectItemCaseSensitive(pg, "source"))
                cJSON_ReplaceItemInObjectCaseSensitive(pg, "source", cJSON_CreateString(name));
        }
        if (t->o.formats & SRV_FMT_TEXT) text = markdown_to_text(bufs[1].p ? bufs[1].p : "");
    }
    if ((t->o.formats & SRV_FMT_MD) && !c.doc_failed)
        cJSON_AddStringToObject(doc, "md_content", bufs[1].p ? bufs[1].p : "");
    else cJSON_AddNullToObject(doc, "md_content");
    if (json) cJSON_AddItemToObject(doc, "json_content", json);
    else cJSON_AddNullToObject(doc, "json_content");
    cJSON_AddNullToObject(doc, "html_content");
    if (text) cJSON_AddStringToObject(doc, "text_content", text);
    else cJSON_AddNullToObject(doc, "text_content");
    cJSON_AddNullToObject(doc, "doctags_content");
    if (lay) cJSON_AddItemToObject(doc, "doclayout_json_content", lay);
    else cJSON_AddNullToObject(doc, "doclayout_json_content");
    free(text);
    for (int k = 0; k < 3; k++) free(bufs[k].p);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "document", doc);
    cJSON_AddStringToObject(r, "status", status_word);
    cJSON_AddItemToObject(r, "errors", c.errors);
    cJSON_AddNumberToObject(r, "processing_time", wall_now() - t0);
    cJSON_AddItemToObject(r, "timings", cJSON_CreateObject());
    return r;
}

/* The zip of several documents' results, as docling-serve makes it: per converted document
 * STEM.json (the DoclingDocument), STEM.md, STEM.txt, and here STEM.doclayout.json; failed
 * documents are left out. NULL with msg set when none was converted. */
static char *zip_results(srv_task *t, cJSON **resps, size_t *len, char *msg, size_t size) {
    int cap = t->n_docs * 4;
    srv_zip_member *mem = calloc((size_t)cap, sizeof *mem);
    char **texts = calloc((size_t)cap, sizeof *texts);
    char(*stems)[256] = calloc((size_t)t->n_docs, sizeof *stems);
    int n = 0;
    char *out = NULL;
    if (!mem || !texts || !stems) {
        snprintf(msg, size, "out of memory for the zip");
        goto done;
    }
    for (int i = 0; i < t->n_docs; i++) {
        const cJSON *doc = cJSON_GetObjectItemCaseSensitive(resps[i], "document");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(resps[i], "status");
        if (!cJSON_IsString(status) || strcmp(status->valuestring, "failure") == 0) continue;
        /* the file name without its extension; a stem met before gets _N (docling-serve would
         * write the second over the first) */
        char base[256], stem[256];
        snprintf(base, sizeof base, "%s", t->names[i]);
        char *dot = strrchr(base, '.');
        if (dot && dot != base) *dot = '\0';
        snprintf(stem, sizeof stem, "%s", base);
        for (int suffix = 2;; suffix++) {
            bool taken = false;
            for (int k = 0; k < i && !taken; k++) taken = strcmp(stems[k], stem) == 0;
            if (!taken) break;
            snprintf(stem, sizeof stem, "%.240s_%d", base, suffix);
        }
        snprintf(stems[i], sizeof stems[i], "%s", stem);
        struct {
            const char *field, *ext;
        } parts[] = {{"json_content", "json"},
                     {"md_content", "md"},
                     {"text_content", "txt"},
                     {"doclayout_json_content", "doclayout.json"}};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, parts[k].field);
            if (!v || cJSON_IsNull(v)) continue;
            char *text = cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_Print(v);
            if (!text) {
                snprintf(msg, size, "out of memory for the zip");
                goto done;
            }
            texts[n] = text;
            snprintf(mem[n].name, sizeof mem[n].name, "%s.%s", stem, parts[k].ext);
            mem[n].data = text;
            mem[n].size = strlen(text);
            n++;
        }
    }
    if (n == 0) {
        snprintf(msg, size, "No documents were exported: none of the %d was converted", t->n_docs);
        goto done;
    }
    out = srv_zip_build(mem, n, len, msg, size);
done:
    for (int k = 0; texts && k < n; k++) free(texts[k]);
    free(texts);
    free(mem);
    free(stems);
    return out;
}

/* Run one task (the lock not held): each document, then the response (one document, inbody:
 * its ConvertDocumentResponse; several, or target zip: a zip). Fills t->result or
 * t->fail_detail; returns the state. */
static srv_task_state run_task(srv_tasks *T, srv_task *t) {
    double t0 = wall_now();
    bool zip = t->o.zip || t->n_docs > 1;
    cJSON **resps = calloc((size_t)t->n_docs, sizeof *resps);
    char *fails = calloc(1, 2048); /* the failed documents' reasons */
    srv_task_state result = SRV_TASK_SUCCESS;
    char *body = NULL;
    size_t body_len = 0;
    char msg[800];
    msg[0] = '\0';
    if (!resps || !fails) {
        free(resps);
        free(fails);
        pthread_mutex_lock(&T->mu);
        free(t->fail_detail);
        t->fail_detail = strdup("out of memory");
        pthread_mutex_unlock(&T->mu);
        return SRV_TASK_FAILURE;
    }
    int ran = 0, ok = 0;
    bool aborted = false;
    pthread_mutex_lock(&T->mu); /* a task run again after a restart starts from nothing */
    t->docs_ok = t->docs_failed = t->docs_done = t->pages_done = 0;
    pthread_mutex_unlock(&T->mu);
    for (int i = 0; i < t->n_docs; i++) {
        bool failed = false;
        char reason[700] = "";
        resps[i] = run_doc(T, t, i, &failed, reason, sizeof reason);
        if (!resps[i]) {
            result = SRV_TASK_CANCELLED;
            break;
        }
        ran++;
        if (!failed) ok++;
        else {
            size_t l = strlen(fails);
            snprintf(fails + l, 2048 - l, "%s%s", l ? "; " : "", reason);
        }
        pthread_mutex_lock(&T->mu); /* the status route reads these */
        if (failed) t->docs_failed++;
        else t->docs_ok++;
        t->docs_done++;
        pthread_mutex_unlock(&T->mu);
        if (failed && t->o.abort_on_error && i + 1 < t->n_docs) {
            aborted = true;
            snprintf(msg, sizeof msg,
                     "abort_on_error: %s; the %d document(s) after it were not converted", reason,
                     t->n_docs - i - 1);
            break;
        }
    }
    if (result != SRV_TASK_CANCELLED) {
        if (aborted) {
            result = SRV_TASK_FAILURE;
        } else if (!zip) {
            body = cJSON_PrintUnformatted(resps[0]);
            body_len = body ? strlen(body) : 0;
            if (ok == 0) {
                result = SRV_TASK_FAILURE;
                snprintf(msg, sizeof msg, "%s", fails);
            }
        } else {
            body = zip_results(t, resps, &body_len, msg, sizeof msg);
            if (!body) {
                result = SRV_TASK_FAILURE;
                if (ok == 0) {
                    size_t l = strlen(msg);
                    snprintf(msg + l, sizeof msg - l, " (%s)", fails);
                }
            }
        }
    }
    for (int i = 0; i < t->n_docs; i++) cJSON_Delete(resps[i]);
    free(resps);
    if (result == SRV_TASK_CANCELLED) {
        free(fails);
        return result;
    }
    (void)ran;
    (void)t0;
    bool written = true;
    if (body && t->async)
        written = write_atomic_bytes(t->dir, zip ? "result.zip" : "result.json", body, body_len);
    pthread_mutex_lock(&T->mu);
    free(t->fail_detail); /* a task run again after a restart starts from nothing */
    free(t->docs_detail);
    t->fail_detail = msg[0] ? strdup(msg) : NULL;
    t->docs_detail = NULL;
    if (body && !written) {
        free(t->fail_detail);
        t->fail_detail = strdup("cannot write the result to the state directory");
        result = SRV_TASK_FAILURE;
    } else if (!body && !msg[0]) {
        t->fail_detail = strdup("out of memory for the result");
        result = SRV_TASK_FAILURE;
    }
    /* several documents: the failed ones, named in the status (the zip leaves them out) */
    if (zip && result == SRV_TASK_SUCCESS && fails[0]) t->docs_detail = strdup(fails);
    t->result_zip = zip && body && written;
    t->result_len = body && written ? body_len : 0;
    if (!t->async && written) t->result = body;
    else free(body);
    pthread_mutex_unlock(&T->mu);
    free(fails);
    return result;
}

/* Remove finished async tasks past their time, then oldest first past the total size. */
static void expire(srv_tasks *T) {
    const srv_config *cfg = &T->s->cfg;
    double now = wall_now();
    for (;;) {
        size_t total = 0;
        srv_task *oldest = NULL;
        for (srv_task *t = T->all; t; t = t->next) {
            if (!t->async || !finished(t->state)) continue;
            total += t->result_len;
            if (!oldest || t->finished < oldest->finished) oldest = t;
        }
        if (!oldest) return;
        bool old = now - oldest->finished > cfg->result_ttl_s;
        if (!old && total <= cfg->result_max_bytes) return;
        rm_tree(oldest->dir);
        registry_remove(T, oldest);
    }
}

static void *worker_main(void *arg) {
    srv_tasks *T = arg;
    pthread_mutex_lock(&T->mu);
    while (!T->stopping) {
        expire(T);
        srv_task *t = T->qhead;
        if (!t) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&T->work, &T->mu, &ts);
            continue;
        }
        queue_remove(T, t);
        t->refs++;
        t->state = SRV_TASK_STARTED;
        write_record(t);
        pthread_cond_broadcast(&T->changed);
        pthread_mutex_unlock(&T->mu);
        srv_task_state st = run_task(T, t);
        pthread_mutex_lock(&T->mu);
        if (st == SRV_TASK_CANCELLED && !t->cancel) {
            /* the server is stopping: the record stays "running", the next start runs it */
            t->state = SRV_TASK_FAILURE;
        } else {
            t->state = st;
            t->finished = wall_now();
            write_record(t);
        }
        pthread_cond_broadcast(&T->changed);
        unref(t);
    }
    pthread_mutex_unlock(&T->mu);
    return NULL;
}

/* ---- start, restart, stop ----------------------------------------------------------------- */

static void load_task(srv_tasks *T, const char *id) {
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/tasks/%s", T->root, id);
    snprintf(path, sizeof path, "%s/task.json", dir);
    char *text = read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
    int n = cJSON_IsArray(files) ? cJSON_GetArraySize(files) : 0;
    if (!cJSON_IsString(state) || n < 1 || strlen(id) != 32) {
        /* no record: the task id was never given out (a crash during the upload) */
        cJSON_Delete(j);
        rm_tree(dir);
        return;
    }
    srv_task *t = calloc(1, sizeof *t);
    if (t) t->names = calloc((size_t)n, sizeof *t->names);
    if (!t || !t->names) {
        if (t) task_free(t);
        cJSON_Delete(j);
        return;
    }
    t->refs = 1;
    t->async = true;
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    t->n_docs = n;
    for (int i = 0; i < n; i++) {
        const cJSON *f = cJSON_GetArrayItem(files, i);
        snprintf(t->names[i], sizeof t->names[i], "%s", cJSON_IsString(f) ? f->valuestring : "");
    }
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(j, "created");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(j, "finished");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(j, "result_bytes");
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(j, "detail");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "options");
    t->created = cJSON_IsNumber(created) ? created->valuedouble : wall_now();
    t->finished = cJSON_IsNumber(fin) ? fin->valuedouble : 0;
    t->result_len = cJSON_IsNumber(bytes) ? (size_t)bytes->valuedouble : 0;
    t->docs_ok = cJSON_GetObjectItemCaseSensitive(j, "num_succeeded")
                     ? cJSON_GetObjectItemCaseSensitive(j, "num_succeeded")->valueint
                     : 0;
    t->docs_failed = cJSON_GetObjectItemCaseSensitive(j, "num_failed")
                         ? cJSON_GetObjectItemCaseSensitive(j, "num_failed")->valueint
                         : 0;
    if (cJSON_IsString(detail)) t->fail_detail = strdup(detail->valuestring);
    const cJSON *docs_detail = cJSON_GetObjectItemCaseSensitive(j, "docs_detail");
    if (cJSON_IsString(docs_detail)) t->docs_detail = strdup(docs_detail->valuestring);
    t->result_zip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "result_zip"));
    bool target_zip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "target_zip"));
    t->options_json = opts ? cJSON_PrintUnformatted(opts) : NULL;
    const char *w = state->valuestring;
    if (strcmp(w, "done") == 0) t->state = SRV_TASK_SUCCESS;
    else if (strcmp(w, "failed") == 0) t->state = SRV_TASK_FAILURE;
    else if (strcmp(w, "cancelled") == 0) t->state = SRV_TASK_CANCELLED;
    else t->state = SRV_TASK_PENDING; /* accepted or running when the server went away */
    if (finished(t->state)) t->docs_done = t->n_docs;
    char msg[400];
    if (t->state == SRV_TASK_PENDING &&
        !srv_docling_parse_options(T->s, opts, &t->o, msg, sizeof msg)) {
        t->state = SRV_TASK_FAILURE;
        t->finished = wall_now();
        free(t->fail_detail);
        t->fail_detail = strdup(msg);
        write_record(t);
    }
    t->o.zip = target_zip;
    cJSON_Delete(j);
    registry_add(T, t);
    if (t->state == SRV_TASK_PENDING) {
        /* in the order they were accepted */
        srv_task **p = &T->qhead, *prev = NULL;
        while (*p && (*p)->created <= t->created) {
            prev = *p;
            p = &(*p)->qnext;
        }
        t->qnext = *p;
        *p = t;
        if (!t->qnext) T->qtail = t;
        (void)prev;
        T->queued++;
    }
    unref(t); /* the registry's reference stays */
}

srv_tasks *srv_tasks_start(srv_server *s, char *msg, size_t size) {
    srv_tasks *T = calloc(1, sizeof *T);
    if (!T) {
        snprintf(msg, size, "out of memory");
        return NULL;
    }
    T->s = s;
    pthread_mutex_init(&T->mu, NULL);
    pthread_cond_init(&T->work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&T->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (s->cfg.state_dir) {
        snprintf(T->root, sizeof T->root, "%s", s->cfg.state_dir);
        if (!make_dir(T->root)) {
            snprintf(msg, size, "--state-dir %s: %s", T->root, strerror(errno));
            srv_tasks_free(T);
            return NULL;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(T->root, sizeof T->root, "%s/doclayout-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(T->root)) {
            snprintf(msg, size, "cannot make a temporary state directory: %s", strerror(errno));
            T->root[0] = '\0';
            srv_tasks_free(T);
            return NULL;
        }
        T->own_root = true;
    }
    char d[2048];
    snprintf(d, sizeof d, "%s/sync", T->root);
    rm_tree(d); /* sync uploads of a previous run: nobody waits for them */
    bool ok = make_dir(d);
    snprintf(d, sizeof d, "%s/tasks", T->root);
    ok = ok && make_dir(d);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.probe", T->root);
    if (!ok || !write_file(probe, "", 0, false)) {
        snprintf(msg, size, "--state-dir %s is not writable: %s", T->root, strerror(errno));
        srv_tasks_free(T);
        return NULL;
    }
    remove(probe);
    DIR *dir = opendir(d);
    int resumed = 0;
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)))
            if (e->d_name[0] != '.') load_task(T, e->d_name);
        closedir(dir);
    }
    resumed = T->queued;
    if (resumed) printf("doclayout serve: %d task(s) from %s queued again\n", resumed, T->root);
    /* Several workers, so that one document is read and rendered while another's pages run;
     * their pages meet in the model's batcher. */
    int workers = s->cfg.convert_workers < 1 ? 1 : s->cfg.convert_workers;
    for (int i = 0; i < workers && i < SRV_MAX_CONVERT_WORKERS; i++) {
        if (pthread_create(&T->workers[i], NULL, worker_main, T) != 0) {
            snprintf(msg, size, "cannot start conversion worker %d", i + 1);
            srv_tasks_free(T);
            return NULL;
        }
        T->n_workers = i + 1;
    }
    return T;
}

void srv_tasks_stop(srv_tasks *T) {
    if (!T) return;
    pthread_mutex_lock(&T->mu);
    T->stopping = true;
    for (srv_task *t = T->all; t; t = t->next)
        if (t->running) dl_pipeline_cancel(t->running);
    pthread_cond_broadcast(&T->work);
    pthread_cond_broadcast(&T->changed);
    pthread_mutex_unlock(&T->mu);
    for (int i = 0; i < T->n_workers; i++) pthread_join(T->workers[i], NULL);
    T->n_workers = 0;
}

void srv_tasks_free(srv_tasks *T) {
    if (!T) return;
    srv_tasks_stop(T);
    while (T->all) {
        srv_task *t = T->all;
        T->all = t->next;
        unref(t);
    }
    if (T->own_root && T->root[0]) rm_tree(T->root);
    pthread_mutex_destroy(&T->mu);
    pthread_cond_destroy(&T->work);
    pthread_cond_destroy(&T->changed);
    free(T);
}
