/*
 * doctor: the CUDA module, runtime, driver and each GPU (compute capability, free memory,
 * native code or PTX JIT). Nothing here links CUDA: the module is found and loaded by the
 * library's own probe (dl_cuda_probe_module: the search order, name and entry point a CUDA
 * detector uses), the CUDA runtime (libcudart) is probed with dlopen/dlsym, and which GPU
 * architectures the module carries code for is read from its .nv_fatbin section.
 *
 * CUDA counts for health when it was asked for (--device cuda), or with --device auto when a
 * GPU is visible and the module is installed (something that should work does not).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "cli/doctor/doctor.h"

typedef int (*cuda_int_fn)(int *);
typedef int (*cuda_dev_fn)(int);
typedef int (*cuda_props_fn)(void *, int);
typedef int (*cuda_attr_fn)(int *, int, int);
typedef int (*cuda_meminfo_fn)(size_t *, size_t *);
typedef const char *(*cuda_errstr_fn)(int);

typedef struct cudart {
    void *lib;
    char name[64];
    cuda_int_fn runtime_version, driver_version, device_count;
    cuda_dev_fn set_device;
    cuda_props_fn props;
    cuda_attr_fn attr;
    cuda_meminfo_fn meminfo;
    cuda_errstr_fn errstr;
} cudart;

static void *sym(void *lib, const char *name) { return lib ? dlsym(lib, name) : NULL; }

/* Object pointer to function pointer, the POSIX way. */
#define LOAD(field, name)                                                                          \
    do {                                                                                           \
        void *p_ = sym(rt->lib, name);                                                             \
        memcpy(&rt->field, &p_, sizeof p_);                                                        \
    } while (0)

static bool cudart_open(cudart *rt) {
    memset(rt, 0, sizeof *rt);
    static const char *names[] = {"libcudart.so.13",
                                  "libcudart.so.12",
                                  "libcudart.so",
                                  "/usr/local/cuda/lib64/libcudart.so.13",
                                  "/usr/local/cuda/lib64/libcudart.so.12",
                                  "/usr/local/cuda/lib64/libcudart.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !rt->lib; i++) {
        rt->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (rt->lib) snprintf(rt->name, sizeof rt->name, "%s", names[i]);
    }
    if (!rt->lib) return false;
    LOAD(runtime_version, "cudaRuntimeGetVersion");
    LOAD(driver_version, "cudaDriverGetVersion");
    LOAD(device_count, "cudaGetDeviceCount");
    LOAD(set_device, "cudaSetDevice");
    LOAD(props, "cudaGetDeviceProperties_v2");
    if (!rt->props) LOAD(props, "cudaGetDeviceProperties");
    LOAD(attr, "cudaDeviceGetAttribute");
    LOAD(meminfo, "cudaMemGetInfo");
    LOAD(errstr, "cudaGetErrorString");
    return rt->runtime_version && rt->device_count;
}

static void version_string(int v, char *out, size_t n) {
    if (v <= 0) snprintf(out, n, "none");
    else snprintf(out, n, "%d.%d", v / 1000, (v % 1000) / 10);
}

/* "580.95.05" from /proc/driver/nvidia/version, or "". */
static void kernel_driver_version(char *out, size_t n) {
    out[0] = '\0';
    FILE *f = fopen("/proc/driver/nvidia/version", "r");
    if (!f) return;
    char line[512];
    if (fgets(line, sizeof line, f)) {
        /* "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.95.05  Release ..." */
        for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
            int a, b;
            if (sscanf(tok, "%d.%d", &a, &b) == 2 && a >= 100) {
                snprintf(out, n, "%s", tok);
                break;
            }
        }
    }
    fclose(f);
}

/* The module as the library finds it (dl_cuda_probe_module: its search order, name and entry
 * point), as the report's "module" and "module_code" fields. */
static cJSON *module_json(const dl_cuda_probe *p) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddBoolToObject(m, "found", p->found);
    cJSON_AddBoolToObject(m, "loadable", p->loadable);
    cJSON_AddItemToObject(m, "path", p->path[0] ? cJSON_CreateString(p->path) : cJSON_CreateNull());
    cJSON_AddItemToObject(m, "error",
                          p->error[0] ? cJSON_CreateString(p->error) : cJSON_CreateNull());
    cJSON *searched = cJSON_AddArrayToObject(m, "searched");
    for (int i = 0; i < p->n_searched; i++)
        cJSON_AddItemToArray(searched, cJSON_CreateString(p->searched[i]));
    return m;
}

static const char *match_name(dl_cuda_code_match m) {
    switch (m) {
    case DL_CUDA_CODE_NATIVE: return "native";
    case DL_CUDA_CODE_COMPATIBLE: return "compatible-sass";
    case DL_CUDA_CODE_PTX_JIT: return "ptx-jit";
    default: return "none";
    }
}

cJSON *doctor_cuda_report(doctor_run *run) {
    const doctor_opts *o = run->opts;
    cJSON *problems = run->problems;
    cJSON *c = cJSON_CreateObject();
    dl_cuda_probe *probe = calloc(1, sizeof *probe); /* large: paths of every place tried */
    if (!probe) return c;
    dl_cuda_probe_module(probe);
    bool found = probe->found, loadable = probe->loadable;
    const char *mpath = probe->path;
    cJSON_AddItemToObject(c, "module", module_json(probe));
    run->cuda_module_loadable = loadable;
    run->cuda_devices = 0;
    bool want = strcmp(o->device, "cuda") == 0;

    bool have_code = probe->code_read;
    cJSON *codej = cJSON_CreateNull();
    if (have_code) {
        cJSON_Delete(codej);
        codej = cJSON_CreateObject();
        cJSON_AddItemToObject(codej, "sass", cJSON_CreateIntArray(probe->sass, probe->n_sass));
        cJSON_AddItemToObject(codej, "ptx", cJSON_CreateIntArray(probe->ptx, probe->n_ptx));
    }
    cJSON_AddItemToObject(c, "module_code", codej);

    cudart rt;
    char ver[32], kdrv[64];
    cJSON *runtime = cJSON_CreateNull(), *driver = cJSON_CreateObject();
    cJSON *devices = cJSON_CreateArray();
    kernel_driver_version(kdrv, sizeof kdrv);
    cJSON_AddItemToObject(driver, "version",
                          kdrv[0] ? cJSON_CreateString(kdrv) : cJSON_CreateNull());
    const char *status = "ok";
    char msg[512];
    if (!cudart_open(&rt)) {
        status = "no-runtime";
        cJSON_AddNullToObject(driver, "cuda_version");
        if (want || loadable) {
            snprintf(msg, sizeof msg, "CUDA runtime (libcudart) not found");
            doctor_problem(problems, "cuda", want ? "error" : "warning", msg, DOCTOR_FIX_NO_CUDART);
        }
    } else {
        int rv = 0, dv = 0, n = 0;
        rt.runtime_version(&rv);
        if (rt.driver_version) rt.driver_version(&dv);
        cJSON_Delete(runtime);
        runtime = cJSON_CreateObject();
        cJSON_AddStringToObject(runtime, "library", rt.name);
        version_string(rv, ver, sizeof ver);
        cJSON_AddStringToObject(runtime, "version", ver);
        version_string(dv, ver, sizeof ver);
        cJSON_AddItemToObject(driver, "cuda_version",
                              dv > 0 ? cJSON_CreateString(ver) : cJSON_CreateNull());
        int rc = rt.device_count(&n);
        if (rc != 0 || n <= 0) {
            const char *es = rt.errstr ? rt.errstr(rc) : "";
            /* Without a driver at all, "insufficient driver" just means "no GPU here". */
            bool no_driver = dv == 0 && !kdrv[0];
            if (no_driver) {
                status = "no-driver";
                snprintf(msg, sizeof msg,
                         "no NVIDIA driver found (cudaGetDeviceCount: error %d: %s)", rc, es);
            } else if (rc == 35 || (dv > 0 && dv < rv)) {
                status = "driver-too-old";
                snprintf(msg, sizeof msg,
                         "the driver supports CUDA %d.%d but the runtime is %d.%d (error %d: %s)",
                         dv / 1000, (dv % 1000) / 10, rv / 1000, (rv % 1000) / 10, rc, es);
            } else {
                status = "no-gpu";
                snprintf(msg, sizeof msg, "no CUDA GPU visible (cudaGetDeviceCount: error %d: %s)",
                         rc, es);
            }
            if (want || (loadable && !no_driver))
                doctor_problem(problems, "cuda", want ? "error" : "warning", msg,
                               no_driver ? DOCTOR_FIX_NO_DRIVER
                                         : doctor_fix_for_cuda_error(rc == 0 ? 100 : rc));
            n = 0;
        }
        run->cuda_devices = n;
        for (int i = 0; i < n; i++) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "index", i);
            char name[256] = "";
            if (rt.props) {
                /* cudaDeviceProp starts with char name[256] in every CUDA version; the rest of
                 * its layout changes, so everything else comes from cudaDeviceGetAttribute. */
                unsigned char *props = calloc(1, 8192);
                if (props && rt.props(props, i) == 0) snprintf(name, sizeof name, "%s", props);
                free(props);
            }
            cJSON_AddStringToObject(d, "name", name[0] ? name : "unknown");
            int major = 0, minor = 0;
            if (rt.attr) {
                rt.attr(&major, 75, i); /* cudaDevAttrComputeCapabilityMajor */
                rt.attr(&minor, 76, i); /* cudaDevAttrComputeCapabilityMinor */
            }
            int sm = major * 10 + minor;
            char ccs[16];
            snprintf(ccs, sizeof ccs, "%d.%d", major, minor);
            cJSON_AddStringToObject(d, "compute_capability", ccs);
            cJSON_AddNumberToObject(d, "sm", sm);
            size_t freeb = 0, total = 0;
            if (rt.set_device && rt.meminfo && rt.set_device(i) == 0 &&
                rt.meminfo(&freeb, &total) == 0) {
                cJSON_AddNumberToObject(d, "free_memory_bytes", (double)freeb);
                cJSON_AddNumberToObject(d, "total_memory_bytes", (double)total);
            } else {
                cJSON_AddNullToObject(d, "free_memory_bytes");
                cJSON_AddNullToObject(d, "total_memory_bytes");
            }
            const char *cm = "unknown";
            char detail[96] = "the CUDA module is not installed";
            if (have_code) {
                int which = 0;
                dl_cuda_code_match mt = dl_cuda_probe_code_for(probe, sm, &which);
                cm = match_name(mt);
                switch (mt) {
                case DL_CUDA_CODE_NATIVE:
                    snprintf(detail, sizeof detail, "sm_%d SASS", which);
                    break;
                case DL_CUDA_CODE_COMPATIBLE:
                    snprintf(detail, sizeof detail, "sm_%d SASS (same major, runs on sm_%d)", which,
                             sm);
                    break;
                case DL_CUDA_CODE_PTX_JIT:
                    snprintf(detail, sizeof detail, "JIT from compute_%d PTX", which);
                    break;
                default:
                    snprintf(detail, sizeof detail, "no SASS or PTX usable on sm_%d", sm);
                    break;
                }
                bool idx_wanted = !want || o->device_index == i;
                if (mt == DL_CUDA_CODE_NONE && idx_wanted) {
                    snprintf(msg, sizeof msg,
                             "GPU %d (%s, sm_%d): the CUDA module %.300s has no code for it", i,
                             name, sm, mpath);
                    doctor_problem(problems, "cuda", "error", msg, DOCTOR_FIX_NO_CODE);
                } else if (mt == DL_CUDA_CODE_PTX_JIT && idx_wanted) {
                    snprintf(msg, sizeof msg,
                             "GPU %d (%s, sm_%d): only compute_%d PTX, JIT-compiled by the driver",
                             i, name, sm, which);
                    doctor_problem(problems, "cuda", "warning", msg, DOCTOR_FIX_PTX_ONLY);
                }
            } else if (found) {
                snprintf(detail, sizeof detail,
                         "unknown (no .nv_fatbin section read from the module)");
            }
            cJSON_AddStringToObject(d, "code", cm);
            cJSON_AddStringToObject(d, "code_detail", detail);
            cJSON_AddItemToArray(devices, d);
        }
        if (want && o->device_index >= n && n > 0) {
            snprintf(msg, sizeof msg, "GPU %d requested, %d visible", o->device_index, n);
            doctor_problem(problems, "cuda", "error", msg, DOCTOR_FIX_NO_DEVICE);
        }
    }
    if (!found) {
        if (strcmp(status, "ok") == 0) status = "no-module";
        if (want || run->cuda_devices > 0)
            doctor_problem(problems, "cuda", want ? "error" : "warning",
                           "CUDA module not built/installed (" DL_CUDA_MODULE_NAME " not found)",
                           DOCTOR_FIX_MODULE_ABSENT);
    } else if (!loadable) {
        const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "module"), "error");
        snprintf(msg, sizeof msg, "CUDA module %.300s does not load: %s", mpath,
                 cJSON_IsString(e) ? e->valuestring : "?");
        doctor_problem(problems, "cuda", want || run->cuda_devices > 0 ? "error" : "warning", msg,
                       DOCTOR_FIX_MODULE_DLOPEN);
        if (strcmp(status, "ok") == 0) status = "module-broken";
    }
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddItemToObject(c, "runtime", runtime);
    cJSON_AddItemToObject(c, "driver", driver);
    cJSON_AddItemToObject(c, "devices", devices);
    /* with --device auto, CUDA must work when a GPU is visible and the module is installed
     * (loadable or not): a CPU-only install on a GPU machine is fine, a broken module is not */
    run->cuda_required = want || (found && run->cuda_devices > 0);
    free(probe);
    return c;
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

void doctor_cuda_print(const cJSON *cu, FILE *f) {
    const cJSON *mod = cJSON_GetObjectItem(cu, "module");
    fprintf(f, "GPU (CUDA)\n");
    if (cJSON_IsTrue(cJSON_GetObjectItem(mod, "loadable")))
        fprintf(f, "  module     %s (loads)\n", doctor_str(mod, "path"));
    else if (cJSON_IsTrue(cJSON_GetObjectItem(mod, "found")))
        fprintf(f, "  module     %s does not load: %s\n", doctor_str(mod, "path"),
                doctor_str(mod, "error"));
    else fprintf(f, "  module     CUDA module not built/installed\n");
    const cJSON *code = cJSON_GetObjectItem(cu, "module_code");
    if (cJSON_IsObject(code)) {
        fprintf(f, "  code      ");
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(code, "sass")) fprintf(f, " sm_%d", a->valueint);
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(code, "ptx"))
            fprintf(f, " compute_%d(PTX)", a->valueint);
        fprintf(f, "\n");
    }
    const cJSON *rt = cJSON_GetObjectItem(cu, "runtime");
    const cJSON *drv = cJSON_GetObjectItem(cu, "driver");
    if (cJSON_IsObject(rt))
        fprintf(f, "  runtime    CUDA %s (%s)\n", doctor_str(rt, "version"),
                doctor_str(rt, "library"));
    else fprintf(f, "  runtime    libcudart not found\n");
    const char *dver = doctor_opt_str(drv, "version"), *dcuda = doctor_opt_str(drv, "cuda_version");
    fprintf(f, "  driver     %s%s%s%s\n", dver ? dver : "no NVIDIA kernel driver",
            dcuda ? " (supports CUDA " : "", dcuda ? dcuda : "", dcuda ? ")" : "");
    const cJSON *d;
    int nd = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(cu, "devices")) {
        nd++;
        fprintf(f, "  gpu %.0f      %s, compute capability %s", doctor_num(d, "index"),
                doctor_str(d, "name"), doctor_str(d, "compute_capability"));
        if (doctor_num(d, "free_memory_bytes") >= 0)
            fprintf(f, ", %.1f of %.1f GiB free", gib(doctor_num(d, "free_memory_bytes")),
                    gib(doctor_num(d, "total_memory_bytes")));
        fprintf(f, "; code: %s (%s)\n", doctor_str(d, "code"), doctor_str(d, "code_detail"));
    }
    if (!nd) fprintf(f, "  gpus       none visible (%s)\n", doctor_str(cu, "status"));
}
