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

#include "backends/cuda/loader.h"
#include "core/error.h"
#include "io/fatbin.h"
#include "io/file.h"

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

/* strncpy that always terminates */
static void copy_text(char *dst, size_t n, const char *src) {
    size_t len = strlen(src);
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static dl_cuda_open_fn try_load(const char *path, char *report, size_t n) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        note(report, n, "%.400s%s", e ? e : path, "");
        return NULL;
    }
    dl_cuda_open_fn fn;
    void *sym = dlsym(h, DL_CUDA_ENTRY);
    memcpy(&fn, &sym, sizeof fn); /* object to function pointer, the POSIX way */
    if (!fn) {
        note(report, n, "%.400s: no symbol %s", path, DL_CUDA_ENTRY);
        dlclose(h);
        return NULL;
    }
    copy_text(loaded_path, sizeof loaded_path, path);
    return fn;
}

static void dir_of(const char *file, char *out, size_t n) {
    snprintf(out, n, "%s", file);
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0';
    else snprintf(out, n, ".");
}

/* The places the module is looked for, in order (see the top of this file); a place without a
 * '/' is a name for the dynamic linker's search. Returns their count. */
static int module_places(char places[][PATH_MAX], int max) {
    const char *env = getenv("DOCLAYOUT_CUDA_MODULE");
    if (env && *env) {
        snprintf(places[0], PATH_MAX, "%.*s", PATH_MAX - 1, env);
        return 1;
    }
    char dirs[3][PATH_MAX];
    int nd = 0, np = 0;
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
    for (int i = 0; i < nd && np < max - 1; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || strcmp(dirs[i], dirs[j]) == 0;
        if (!seen) snprintf(places[np++], PATH_MAX, "%.4000s/%s", dirs[i], DL_CUDA_MODULE_NAME);
    }
    snprintf(places[np++], PATH_MAX, "%s", DL_CUDA_MODULE_NAME);
    return np;
}

static dl_cuda_open_fn load_module(char *report, size_t n) {
    char places[DL_CUDA_PROBE_MAX_PLACES][PATH_MAX];
    int np = module_places(places, DL_CUDA_PROBE_MAX_PLACES);
    for (int i = 0; i < np; i++) {
        if (strchr(places[i], '/') && np > 1 && access(places[i], F_OK) != 0) {
            note(report, n, "%.400s: not found%s", places[i], "");
            continue;
        }
        dl_cuda_open_fn fn = try_load(places[i], report, n);
        if (fn) return fn;
    }
    return NULL;
}

dl_status dl_cuda_open(int device, dl_precision precision, dl_cuda_backend **out, dl_error *err) {
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

/* ---- the probe (doctor) ---- */

void dl_cuda_probe_module(dl_cuda_probe *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    char places[DL_CUDA_PROBE_MAX_PLACES][PATH_MAX];
    int np = module_places(places, DL_CUDA_PROBE_MAX_PLACES);
    for (int i = 0; i < np && !p->loadable; i++) {
        copy_text(p->searched[p->n_searched++], DL_PATH_MAX, places[i]);
        bool by_name = strchr(places[i], '/') == NULL;
        if (!by_name && !dl_is_file(places[i])) continue;
        void *h = dlopen(places[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            /* by name, "cannot open shared object file" only means it is not installed */
            if (by_name && e && strstr(e, "cannot open shared object file") &&
                strstr(e, DL_CUDA_MODULE_NAME) == e)
                continue;
            p->found = 1;
            copy_text(p->path, sizeof p->path, places[i]);
            copy_text(p->error, sizeof p->error, e ? e : "dlopen failed");
            continue;
        }
        p->found = 1;
        void *entry = dlsym(h, DL_CUDA_ENTRY);
        Dl_info info;
        if (entry && dladdr(entry, &info) && info.dli_fname)
            copy_text(p->path, sizeof p->path, info.dli_fname);
        else copy_text(p->path, sizeof p->path, places[i]);
        if (!entry) {
            snprintf(p->error, sizeof p->error, "%.400s has no symbol %s", p->path, DL_CUDA_ENTRY);
            continue; /* keep it loaded: CUDA libraries dislike unloading */
        }
        p->loadable = 1;
        p->error[0] = '\0';
    }
    dl_cuda_code code;
    dl_error err;
    if (p->found && p->path[0] && dl_fatbin_scan_file(p->path, &code, &err) == DL_OK) {
        p->code_read = 1;
        p->n_sass = code.n_sass;
        p->n_ptx = code.n_ptx;
        memcpy(p->sass, code.sass, sizeof p->sass);
        memcpy(p->ptx, code.ptx, sizeof p->ptx);
    }
}

dl_cuda_code_match dl_cuda_probe_code_for(const dl_cuda_probe *p, int sm, int *which) {
    if (which) *which = 0;
    if (!p || !p->code_read) return DL_CUDA_CODE_NONE;
    dl_cuda_code code;
    code.n_sass = p->n_sass;
    code.n_ptx = p->n_ptx;
    memcpy(code.sass, p->sass, sizeof code.sass);
    memcpy(code.ptx, p->ptx, sizeof code.ptx);
    return dl_cuda_code_for(&code, sm, which);
}
