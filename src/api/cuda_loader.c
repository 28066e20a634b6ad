/*
 * Finding and loading the CUDA backend module at run time, so that one CPU build runs where no
 * CUDA is installed and uses the GPU where it is.
 *
 * Search order (the first that loads wins; every failure is reported in the message):
 *   1. $DOCLAYOUT_CUDA_MODULE (a path to the module; when set, nothing else is tried);
 *   2. the directory of the running libdoclayout.so, then of the running executable;
 *   3. the install libdir (DL_INSTALL_LIBDIR at build time);
 *   4. the dynamic linker's own search (LD_LIBRARY_PATH, ld.so.cache).
 * The module stays loaded for the life of the process (CUDA libraries dislike unloading).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/cuda_loader.h"
#include "core/error.h"

#ifndef DL_INSTALL_LIBDIR
#define DL_INSTALL_LIBDIR "/usr/local/lib"
#endif

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static dl_cuda_open_fn loaded_open;
static char loaded_path[PATH_MAX];

/* Append "; what" to the report (truncating quietly). */
static void note(char *report, size_t n, const char *fmt, const char *a, const char *b) {
    size_t len = strlen(report);
    if (len + 3 >= n) return;
    if (len) {
        snprintf(report + len, n - len, "; ");
        len += 2;
    }
    snprintf(report + len, n - len, fmt, a, b);
}

static dl_cuda_open_fn try_load(const char *path, char *report, size_t n) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        note(report, n, "%s%s", "", e ? e : path);
        return NULL;
    }
    dl_cuda_open_fn fn;
    void *sym = dlsym(h, DL_CUDA_ENTRY);
    memcpy(&fn, &sym, sizeof fn); /* object to function pointer, the POSIX way */
    if (!fn) {
        note(report, n, "%s: no symbol %s", path, DL_CUDA_ENTRY);
        dlclose(h);
        return NULL;
    }
    snprintf(loaded_path, sizeof loaded_path, "%s", path);
    return fn;
}

static void dir_of(const char *file, char *out, size_t n) {
    snprintf(out, n, "%s", file);
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0';
    else snprintf(out, n, ".");
}

static dl_cuda_open_fn load_module(char *report, size_t n) {
    const char *env = getenv("DOCLAYOUT_CUDA_MODULE");
    if (env && *env) return try_load(env, report, n);
    char dirs[3][PATH_MAX];
    int nd = 0;
    Dl_info info;
    if (dladdr((void *)dl_cuda_open, &info) && info.dli_fname && strchr(info.dli_fname, '/'))
        dir_of(info.dli_fname, dirs[nd++], PATH_MAX);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        dir_of(exe, dirs[nd++], PATH_MAX);
    }
    snprintf(dirs[nd++], PATH_MAX, "%s", DL_INSTALL_LIBDIR);
    for (int i = 0; i < nd; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || strcmp(dirs[i], dirs[j]) == 0;
        if (seen) continue;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%.4000s/%s", dirs[i], DL_CUDA_MODULE_NAME);
        if (access(path, F_OK) != 0) {
            note(report, n, "%.400s/%s: not found", dirs[i], DL_CUDA_MODULE_NAME);
            continue;
        }
        dl_cuda_open_fn fn = try_load(path, report, n);
        if (fn) return fn;
    }
    return try_load(DL_CUDA_MODULE_NAME, report, n);
}

dl_status dl_cuda_open(int device, dl_precision precision, dl_cuda_backend **out,
                       dl_error *err) {
    *out = NULL;
    char report[DL_ERROR_MESSAGE_MAX] = "";
    pthread_mutex_lock(&load_lock);
    if (!loaded_open) loaded_open = load_module(report, sizeof report);
    dl_cuda_open_fn fn = loaded_open;
    pthread_mutex_unlock(&load_lock);
    if (!fn)
        return dl_fail(err, DL_ERR_BACKEND,
                       "device cuda: the CUDA backend module %s could not be loaded (build it "
                       "with cmake -DDL_CUDA=ON, or set DOCLAYOUT_CUDA_MODULE): %s",
                       DL_CUDA_MODULE_NAME, report);
    dl_cuda_open_args a = {.abi = DL_CUDA_ABI, .device = device, .precision = precision};
    dl_status s = fn(&a, out, err);
    if (s != DL_OK) return s;
    if (!*out || (*out)->abi != DL_CUDA_ABI) {
        if (*out) (*out)->close(*out);
        *out = NULL;
        return dl_fail(err, DL_ERR_BACKEND, "%s was built for another version of doclayout",
                       loaded_path);
    }
    return DL_OK;
}

const char *dl_cuda_module_path(void) { return loaded_path[0] ? loaded_path : NULL; }
