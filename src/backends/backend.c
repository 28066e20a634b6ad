/*
 * The backend table: one line per backend, the one place that knows the backends. Device
 * names ("cpu", "cuda:1", "auto"), the order in which DL_DEVICE_AUTO tries them, and the
 * valid names listed in error messages all come from it.
 */
#include "backends/backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* dl_backend_entry.precisions */
#define PRECISIONS_ALL 0xfu /* every dl_precision */
#define PRECISIONS_NO_FP16 (PRECISIONS_ALL & ~(1u << DL_PRECISION_FP16))
#define PRECISIONS_FP32 (1u << DL_PRECISION_DEFAULT | 1u << DL_PRECISION_FP32)

/*
 * The backends, one line each: NAME (its folder defines DL_BACKEND_OPEN(NAME)) and its
 * dl_backend_entry fields. The first two lines keep the public values DL_DEVICE_CPU (0) and
 * DL_DEVICE_CUDA (1); a later line is chosen by its name (dl_device_parse).
 */
// clang-format off
#define DL_BACKENDS(X)                                                                             \
    X(cpu, .auto_order = 2, .host_memory = true, .precisions = PRECISIONS_NO_FP16)                 \
    X(cuda, .auto_order = 1, .max_index = 255, .precisions = PRECISIONS_ALL)                       \
    /* the end of the list */
// clang-format on

#define DL_BACKEND_DECLARE_(id, ...)                                                               \
    dl_status dl_backend_##id##_open(const dl_backend_open_args *a, dl_backend **out,              \
                                     dl_error *err);
DL_BACKENDS(DL_BACKEND_DECLARE_)
#define DL_BACKEND_ENTRY_(id, ...) {.name = #id, .open = dl_backend_##id##_open, __VA_ARGS__},
static const dl_backend_entry backends[] = {DL_BACKENDS(DL_BACKEND_ENTRY_)};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

/* dl_device values: table line i is i, skipping DL_DEVICE_AUTO (2). */
static dl_device device_of(size_t i) { return (dl_device)(i < DL_DEVICE_AUTO ? i : i + 1); }

const dl_backend_entry *dl_backend_find(dl_device device) {
    if (device == DL_DEVICE_AUTO || (int)device < 0) return NULL;
    size_t i = (size_t)device < DL_DEVICE_AUTO ? (size_t)device : (size_t)device - 1;
    return i < N_BACKENDS ? &backends[i] : NULL;
}

const dl_backend_entry *dl_backend_auto(int k) {
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (backends[i].auto_order == k + 1) return &backends[i];
    return NULL;
}

/* "cpu, cuda, cuda:N or auto", written once */
static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void write_names(void) {
    size_t len = 0;
    for (size_t i = 0; i < N_BACKENDS && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len,
                                backends[i].max_index ? "%s, %s:N, " : "%s, ", backends[i].name,
                                backends[i].name);
    if (len >= 2 && len < sizeof names)
        snprintf(names + len - 2, sizeof names - len + 2, " or auto");
}

const char *dl_device_names(void) {
    pthread_once(&names_once, write_names);
    return names;
}

const char *dl_device_name(dl_device device) {
    if (device == DL_DEVICE_AUTO) return "auto";
    const dl_backend_entry *e = dl_backend_find(device);
    return e ? e->name : NULL;
}

dl_status dl_device_parse(const char *name, dl_device *device, int *index, dl_error *err) {
    if (!name || !device || !index)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_device_parse: bad arguments");
    if (strcmp(name, "auto") == 0) {
        *device = DL_DEVICE_AUTO;
        *index = 0;
        return DL_OK;
    }
    for (size_t i = 0; i < N_BACKENDS; i++) {
        size_t n = strlen(backends[i].name);
        if (strncmp(name, backends[i].name, n) != 0) continue;
        if (name[n] == '\0') {
            *device = device_of(i);
            *index = 0;
            return DL_OK;
        }
        if (name[n] != ':' || !backends[i].max_index) continue;
        /* NAME:N, N a plain decimal in 0..max_index */
        const char *p = name + n + 1;
        long v = 0;
        if (!*p || strlen(p) > 9 || strspn(p, "0123456789") != strlen(p) ||
            (v = strtol(p, NULL, 10)) > backends[i].max_index)
            return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                           "device \"%s\": the index after \"%s:\" must be 0..%d", name,
                           backends[i].name, backends[i].max_index);
        *device = device_of(i);
        *index = (int)v;
        return DL_OK;
    }
    return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "unknown device \"%s\" (devices: %s)", name,
                   dl_device_names());
}
