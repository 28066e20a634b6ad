/* The KServe v2 inference step both transports share: model lookup, input checks, outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

const char *const srv_output_names[SRV_NUM_OUTPUTS] = {"labels", "boxes", "scores"};
const char *const srv_output_datatypes[SRV_NUM_OUTPUTS] = {"INT64", "FP32", "FP32"};

int srv_output_index(const char *name) {
    for (int i = 0; i < SRV_NUM_OUTPUTS; i++)
        if (name && strcmp(name, srv_output_names[i]) == 0) return i;
    return -1;
}

int srv_output_shape(const srv_model *m, int i, int n, int64_t *shape) {
    shape[0] = n;
    shape[1] = m->k;
    shape[2] = 4;
    return i == 1 ? 3 : 2;
}

int64_t srv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const void *srv_output_data(const srv_model *m, const dl_batch_job *job, int i, int n,
                            size_t *size) {
    size_t nk = (size_t)n * (size_t)m->k;
    if (i == 0) {
        *size = nk * sizeof(int64_t);
        return dl_batch_job_labels(job);
    }
    if (i == 1) {
        *size = nk * 4 * sizeof(float);
        return dl_batch_job_boxes(job);
    }
    *size = nk * sizeof(float);
    return dl_batch_job_scores(job);
}

void srv_sanitize(char *dst, size_t size, const char *src, size_t len) {
    if (!size) return;
    size_t o = 0;
    for (size_t i = 0; src && i < len && src[i] && o + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[o] = '\0';
}

srv_model *srv_find_model(srv_server *s, const char *name, const char *version, char *msg,
                          size_t size) {
    char safe[160];
    srv_sanitize(safe, sizeof safe, name, name ? strlen(name) : 0);
    srv_model *m = NULL;
    for (int i = 0; i < s->n_models && !m; i++)
        if (name && strcmp(s->models[i].name, name) == 0) m = &s->models[i];
    if (!m) {
        snprintf(msg, size, "unknown model '%s'", safe);
        return NULL;
    }
    if (version && *version && strcmp(version, SRV_MODEL_VERSION) != 0) {
        char v[64];
        srv_sanitize(v, sizeof v, version, strlen(version));
        snprintf(msg, size, "model '%s' has no version '%s' (it has version " SRV_MODEL_VERSION ")",
                 safe, v);
        return NULL;
    }
    return m;
}

bool srv_api_key_ok(const srv_server *s, const char *value, size_t len) {
    const char *key = s->cfg.api_key;
    if (!key) return true;
    if (!value) return false;
    size_t klen = strlen(key);
    /* every byte of the longer one is looked at, whatever matches, so the time taken says
     * nothing about how much of the key a guess got right */
    size_t n = len > klen ? len : klen;
    volatile unsigned char diff = (unsigned char)(len != klen);
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < len ? (unsigned char)value[i] : 0;
        unsigned char b = i < klen ? (unsigned char)key[i] : 0;
        diff |= (unsigned char)(a ^ b);
    }
    return diff == 0;
}

static const char *shape_text(const srv_tensor *t, char *buf, size_t size) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "[");
    for (int d = 0; d < t->ndim && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (o < size) snprintf(buf + o, size - o, "]");
    return buf;
}

srv_code srv_infer(srv_server *s, srv_model *m, const srv_tensor *inputs, int n_inputs,
                   int64_t deadline_ms, dl_batch_job **job, int *pages, char *msg, size_t size) {
    *job = NULL;
    *pages = 0;
    const srv_tensor *images = NULL, *sizes = NULL;
    char safe[96], shp[160];
    for (int i = 0; i < n_inputs; i++) {
        const srv_tensor *t = &inputs[i];
        srv_sanitize(safe, sizeof safe, t->name, t->name ? strlen(t->name) : 0);
        const srv_tensor **slot = !t->name                                    ? NULL
                                  : strcmp(t->name, "images") == 0            ? &images
                                  : strcmp(t->name, "orig_target_sizes") == 0 ? &sizes
                                                                              : NULL;
        if (!slot) {
            snprintf(msg, size,
                     "unknown input '%s': model '%s' takes 'images' and "
                     "'orig_target_sizes'",
                     safe, m->name);
            return SRV_BAD_REQUEST;
        }
        if (*slot) {
            snprintf(msg, size, "input '%s' given twice", safe);
            return SRV_BAD_REQUEST;
        }
        *slot = t;
    }
    if (!images || !sizes) {
        snprintf(msg, size, "missing input '%s'", !images ? "images" : "orig_target_sizes");
        return SRV_BAD_REQUEST;
    }
    srv_sanitize(safe, sizeof safe, images->datatype,
                 images->datatype ? strlen(images->datatype) : 0);
    if (!images->datatype || strcmp(images->datatype, "FP32") != 0) {
        snprintf(msg, size, "input 'images' must be FP32, got '%s'", safe);
        return SRV_BAD_REQUEST;
    }
    srv_sanitize(safe, sizeof safe, sizes->datatype, sizes->datatype ? strlen(sizes->datatype) : 0);
    if (!sizes->datatype || strcmp(sizes->datatype, "INT64") != 0) {
        snprintf(msg, size, "input 'orig_target_sizes' must be INT64, got '%s'", safe);
        return SRV_BAD_REQUEST;
    }
    const int64_t *is = images->shape;
    if (images->ndim != 4 || is[1] != 3 || is[2] != m->h || is[3] != m->w || is[0] < 1) {
        snprintf(msg, size,
                 "input 'images' must have shape [N,3,%d,%d] (pre-processed pixel "
                 "values), got %s",
                 m->h, m->w, shape_text(images, shp, sizeof shp));
        return SRV_BAD_REQUEST;
    }
    if (is[0] > s->cfg.max_request_pages) {
        snprintf(msg, size,
                 "%lld pages in one request; this server takes at most %d "
                 "(--max-request-pages)",
                 (long long)is[0], s->cfg.max_request_pages);
        return SRV_TOO_LARGE;
    }
    int n = (int)is[0];
    if (sizes->ndim != 2 || sizes->shape[0] != n || sizes->shape[1] != 2) {
        snprintf(msg, size,
                 "input 'orig_target_sizes' must have shape [%d,2] (width, height "
                 "of each page), got %s",
                 n, shape_text(sizes, shp, sizeof shp));
        return SRV_BAD_REQUEST;
    }
    size_t want_images = (size_t)n * 3 * (size_t)m->h * (size_t)m->w * sizeof(float);
    if (images->size != want_images) {
        snprintf(msg, size, "input 'images' has %zu bytes of data; shape %s of FP32 needs %zu",
                 images->size, shape_text(images, shp, sizeof shp), want_images);
        return SRV_BAD_REQUEST;
    }
    if (sizes->size != (size_t)n * 2 * sizeof(int64_t)) {
        snprintf(msg, size,
                 "input 'orig_target_sizes' has %zu bytes of data; shape [%d,2] of "
                 "INT64 needs %zu",
                 sizes->size, n, (size_t)n * 16);
        return SRV_BAD_REQUEST;
    }
    int64_t *wh = malloc((size_t)n * 2 * sizeof(int64_t));
    if (!wh) {
        snprintf(msg, size, "out of memory");
        return SRV_INTERNAL;
    }
    memcpy(wh, sizes->data, (size_t)n * 2 * sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        if (wh[2 * i] < 1 || wh[2 * i + 1] < 1 || wh[2 * i] > DL_POSTPROCESS_MAX_SIDE ||
            wh[2 * i + 1] > DL_POSTPROCESS_MAX_SIDE) {
            snprintf(msg, size,
                     "orig_target_sizes[%d] = (%lld, %lld): width and height must "
                     "be in 1..%d",
                     i, (long long)wh[2 * i], (long long)wh[2 * i + 1], DL_POSTPROCESS_MAX_SIDE);
            free(wh);
            return SRV_BAD_REQUEST;
        }
    }
    if (atomic_load(&s->draining)) {
        free(wh);
        snprintf(msg, size, "the server is shutting down");
        return SRV_UNAVAILABLE;
    }
    /* The batcher borrows the pixels where the transport decoded them (no copy of the pages)
     * unless they are not float-aligned; they must outlive the job's pages, which they do: the
     * job is done, or released (which waits for its pages in a batch), before this returns. */
    const float *pixels = images->data;
    float *aligned = NULL;
    if ((uintptr_t)images->data % _Alignof(float) != 0) {
        aligned = malloc(images->size);
        if (!aligned) {
            free(wh);
            snprintf(msg, size, "out of memory for %d pages", n);
            return SRV_INTERNAL;
        }
        memcpy(aligned, images->data, images->size);
        pixels = aligned;
    }
    dl_error err;
    dl_status st = dl_batcher_submit(m->batcher, pixels, wh, n, job, &err);
    free(wh);
    if (st != DL_OK) free(aligned);
    if (st == DL_ERR_BUSY) {
        snprintf(msg, size,
                 "the queue of model '%s' is full (%d pages, --max-queue); retry "
                 "later",
                 m->name, s->cfg.max_queue);
        return SRV_OVERLOADED;
    }
    if (st != DL_OK) {
        snprintf(msg, size, "%s", err.message);
        return st == DL_ERR_LIMIT ? SRV_TOO_LARGE : SRV_INTERNAL;
    }
    int64_t left = deadline_ms > 0 ? deadline_ms - srv_now_ms() : -1;
    st = dl_batch_job_wait(*job, deadline_ms > 0 ? (int)(left > 0 ? left : 0) : -1, &err);
    if (st == DL_OK) {
        free(aligned); /* every page is through: only the results are read from here */
        *pages = n;
        return SRV_OK;
    }
    dl_batch_job_release(*job);
    free(aligned);
    *job = NULL;
    if (st == DL_ERR_TIMEOUT) {
        snprintf(msg, size, "the request's deadline passed before its %d pages were done", n);
        return SRV_DEADLINE;
    }
    snprintf(msg, size, "%s", err.message);
    return SRV_INTERNAL;
}
