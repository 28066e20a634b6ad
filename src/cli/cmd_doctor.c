/*
 * doclayout doctor: a report on what this machine offers doclayout, and a self-test.
 *
 * The report is built once as a cJSON tree (printed as is with --json) and rendered as text
 * otherwise, so both forms always say the same thing. Nothing here links CUDA: the CUDA module
 * (libdoclayout_cuda.so) and the CUDA runtime (libcudart) are probed with dlopen/dlsym, and
 * which GPU architectures the module carries code for is read from its .nv_fatbin section.
 *
 * Health: the CPU backend must pass its self-test. CUDA counts when it was asked for
 * (--device cuda), or with --device auto when a GPU is visible and the module is installed
 * (something that should work does not). Each problem carries its known fix (the failures
 * seen on DGX Spark / sm_121 with CUDA 13, see docs/dgx-spark.md).
 */
#define _GNU_SOURCE
#include "cli/cmd_doctor.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "backends/cpu/gemm.h"
#include "core/cpu_features.h"
#include "doclayout.h"
#include "io/fatbin.h"
#include "io/file.h"
#include "ops/ops.h"

#ifndef DL_CLI_SOURCE_DIR
#define DL_CLI_SOURCE_DIR ""
#endif
#ifndef DL_CLI_INSTALL_LIBDIR
#define DL_CLI_INSTALL_LIBDIR "/usr/local/lib"
#endif
#define CUDA_MODULE_NAME "libdoclayout_cuda.so"
#define CUDA_MODULE_ENTRY "dl_cuda_backend_open"
#define SELFTEST_NAME "rtdetrv2-tiny"

/* Agreement with the scalar reference (absolute, on logits and normalised boxes). The CPU
 * kernels match the reference to ~1e-6 on this model; a GPU in float32 sums in other orders. */
#define TOL_CPU_LOGITS 1e-3
#define TOL_CPU_BOXES 1e-4
#define TOL_GPU_LOGITS 1e-2
#define TOL_GPU_BOXES 1e-3

static const char *doctor_usage =
    "Usage: doclayout doctor [--json] [--device cpu|cuda|cuda:N|auto] [--threads N]\n"
    "                        [--selftest-model DIR] [--no-selftest]\n"
    "\n"
    "Reports the CPU (model, features, the kernels doclayout uses, cores, memory), the CUDA\n"
    "module, runtime, driver and each GPU (compute capability, free memory, native code or PTX\n"
    "JIT), the models found (installed default models and Docling layout models in the Hugging\n"
    "Face cache), and runs a self-test: a tiny model on every available backend (scalar\n"
    "reference, fast CPU kernels, CUDA) compared with each other.\n"
    "\n"
    "  --json              print the report as JSON (fields: doclayout, healthy, device, cpu,\n"
    "                      cuda, models, selftest, problems; see docs/dgx-spark.md)\n"
    "  --device D          the backend that must work: cpu, cuda (or cuda:N), or auto (default:\n"
    "                      the CPU must work; CUDA must too when a GPU and the module are there)\n"
    "  --threads N         CPU threads for the self-test (default: all cores)\n"
    "  --selftest-model D  the self-test model directory (default: the installed\n"
    "                      share/doclayout/selftest/" SELFTEST_NAME ", or the source tree's)\n"
    "  --no-selftest       only report, run nothing\n"
    "\n"
    "Exit status: 0 healthy, 1 when a requested backend is broken or the self-test failed\n"
    "(every problem is printed with its known fix), 2 on a usage error.\n"
    "Testing hook: DOCLAYOUT_DOCTOR_FAULT=cpu|cuda perturbs that backend's self-test output.\n";

typedef struct doctor_opts {
    bool json, selftest;
    const char *device; /* "cpu", "cuda", "auto" */
    int device_index;
    int threads;
    const char *selftest_model;
} doctor_opts;

/* ------------------------------------------------------------------------ small helpers --- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Directory of the running executable ("" when unknown). */
static void exe_dir(char *out, size_t n) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (len <= 0) return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(out, n, "%s", exe);
}

/* strncpy that always terminates and never warns about truncation */
static void copy_str(char *dst, size_t n, const char *src) {
    size_t len = strlen(src);
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void add_problem(cJSON *problems, const char *component, const char *severity,
                        const char *message, const char *fix) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "component", component);
    cJSON_AddStringToObject(p, "severity", severity);
    cJSON_AddStringToObject(p, "message", message);
    cJSON_AddStringToObject(p, "fix", fix);
    cJSON_AddItemToArray(problems, p);
}

/* ---------------------------------------------------------------------------- the fixes --- */

static const char *FIX_MODULE_ABSENT =
    "Build the CUDA module on this machine, from the same sources: cmake -S . -B build "
    "-DDL_CUDA=ON && cmake --build build && cmake --install build (CUDA toolkit >= 12.9 for "
    "sm_121; DGX OS ships CUDA 13.0), or set DOCLAYOUT_CUDA_MODULE=/path/to/" CUDA_MODULE_NAME
    ". Meanwhile --device cpu works.";
static const char *FIX_MODULE_DLOPEN =
    "The module is installed but does not load: the message names what is missing (usually the "
    "CUDA runtime it was built with, libcudart.so.13). Install that CUDA runtime or add its "
    "directory to LD_LIBRARY_PATH; in Docker, use the image's runtime stage.";
static const char *FIX_NO_CUDART =
    "Install the CUDA runtime (libcudart, part of the CUDA toolkit and of DGX OS) or add its "
    "lib directory to LD_LIBRARY_PATH.";
static const char *FIX_DRIVER =
    "The NVIDIA driver is older than the CUDA runtime (CUDA 13.0 needs driver 580 or newer; "
    "DGX OS ships 580.x). Update the driver, or build the module with a toolkit the driver "
    "supports. In a container the host's driver is the one that counts.";
static const char *FIX_NO_DRIVER =
    "No NVIDIA driver is loaded here (no /proc/driver/nvidia, the runtime finds no libcuda): "
    "install the NVIDIA driver (DGX OS ships 580.x). In Docker the NVIDIA Container Toolkit "
    "mounts the host's driver into the container when the GPU is reserved (--gpus all).";
static const char *FIX_NO_DEVICE =
    "No GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES; in Docker run with --gpus "
    "all (compose: deploy.resources.reservations.devices with driver: nvidia, capabilities: "
    "[gpu]) and the NVIDIA Container Toolkit installed on the host.";
static const char *FIX_NO_CODE =
    "The CUDA module has no code this GPU can run. Rebuild it with the GPU's architecture: "
    "-DCMAKE_CUDA_ARCHITECTURES=\"121-real;120-virtual\" for GB10 (needs CUDA >= 12.9). sm_120 "
    "SASS also runs on 12.1 (same major), sm_90/sm_100 code does not.";
static const char *FIX_PTX_VERSION =
    "The driver is older than the toolkit that wrote the module's PTX "
    "(CUDA_ERROR_UNSUPPORTED_PTX_VERSION): update the driver, or rebuild with native SASS for "
    "this GPU (e.g. 121-real) so nothing is JIT-compiled.";
static const char *FIX_JIT_MISSING =
    "The driver's PTX JIT compiler is missing (libnvidia-ptxjitcompiler / libnvidia-gpucomp; "
    "NVIDIA/cuvs#2568 hit this on GB10): install the complete driver user-space, or rebuild "
    "with native SASS for this GPU (121-real).";
static const char *FIX_OOM =
    "The GPU is out of memory. On DGX Spark CPU and GPU share 128 GB and the page cache competes "
    "with CUDA allocations: stop other GPU jobs, or drop the page cache (sync; echo 3 | sudo "
    "tee /proc/sys/vm/drop_caches).";
static const char *FIX_MISMATCH =
    "This backend disagrees with the scalar reference: do not trust its detections (use "
    "another --device) and report a bug with the output of doclayout doctor --json.";
static const char *FIX_SELFTEST_MODEL =
    "Reinstall doclayout (it installs share/doclayout/selftest/" SELFTEST_NAME ") or pass "
    "--selftest-model DIR (tests/fixtures/golden/" SELFTEST_NAME " in the source tree).";
static const char *FIX_NO_MODEL =
    "Download a layout model once, on any machine with network access: huggingface-cli "
    "download docling-project/docling-layout-heron (or -egret-large, ...); copy "
    "~/.cache/huggingface to this machine if needed; then use --model "
    "docling-project/docling-layout-heron.";
static const char *FIX_PTX_ONLY =
    "Only PTX fits this GPU: the driver JIT-compiles it on first use (a slow first run, then "
    "cached in ~/.nv/ComputeCache). Rebuild with native SASS for it (e.g. 121-real) to skip "
    "the JIT.";

/* The fix for a CUDA runtime error code (cudaError_t values). */
static const char *fix_for_cuda_error(int code) {
    switch (code) {
    case 35:  /* cudaErrorInsufficientDriver */
    case 803: /* cudaErrorSystemDriverMismatch */
        return FIX_DRIVER;
    case 100: /* cudaErrorNoDevice */
        return FIX_NO_DEVICE;
    case 209: /* cudaErrorNoKernelImageForDevice */
        return FIX_NO_CODE;
    case 222: /* cudaErrorUnsupportedPtxVersion */
        return FIX_PTX_VERSION;
    case 221: /* cudaErrorJitCompilerNotFound */
        return FIX_JIT_MISSING;
    case 2: /* cudaErrorMemoryAllocation */
        return FIX_OOM;
    default:
        return FIX_NO_DEVICE;
    }
}

/* The fix for a failure message of the CUDA backend (dl_detector_create / the module). */
static const char *fix_for_message(const char *m) {
    if (strstr(m, "no CUDA backend") || strstr(m, "could not be loaded")) {
        if (strstr(m, "libcudart") || strstr(m, "libcuda.")) return FIX_MODULE_DLOPEN;
        return FIX_MODULE_ABSENT;
    }
    if (strstr(m, "PTX") || strstr(m, "ptx")) return FIX_PTX_VERSION;
    if (strstr(m, "kernel image") || strstr(m, "no code") || strstr(m, "architecture"))
        return FIX_NO_CODE;
    if (strstr(m, "driver")) return FIX_DRIVER;
    if (strstr(m, "out of memory")) return FIX_OOM;
    if (strstr(m, "JIT") || strstr(m, "jit")) return FIX_JIT_MISSING;
    if (strstr(m, "another version of doclayout"))
        return "The CUDA module was built from another version of doclayout: rebuild and "
               "reinstall both from the same sources.";
    return FIX_NO_DEVICE;
}

/* ---------------------------------------------------------------------------------- CPU --- */

static cJSON *report_cpu(int threads) {
    dl_cpu_info c;
    dl_cpu_info_get(&c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "arch", c.arch);
    cJSON_AddStringToObject(o, "model", c.model);
    cJSON_AddNumberToObject(o, "online_cpus", c.online_cpus);
    cJSON_AddNumberToObject(o, "usable_cpus", c.usable_cpus);
    cJSON_AddNumberToObject(o, "memory_total_bytes", (double)c.memory_total);
    cJSON_AddNumberToObject(o, "memory_available_bytes", (double)c.memory_available);
    cJSON *f = cJSON_AddObjectToObject(o, "features");
    for (int i = 0; i < c.n_features; i++)
        cJSON_AddBoolToObject(f, c.features[i].name, c.features[i].present);
    cJSON_AddNumberToObject(o, "sve_vector_bits", c.sve_vector_bits);
    cJSON *k = cJSON_AddObjectToObject(o, "kernels");
    cJSON_AddStringToObject(k, "level", dl_cpu_level_name(dl_cpu_caps_get()->level));
    cJSON_AddStringToObject(k, "max_level", dl_cpu_level_name(dl_cpu_caps_get()->max_level));
    cJSON_AddStringToObject(k, "ops", dl_ops_cpu()->name);
    cJSON_AddStringToObject(k, "sgemm", dl_sgemm_kernel_name());
    cJSON_AddNumberToObject(k, "threads", threads > 0 ? threads : c.usable_cpus);
    return o;
}

/* --------------------------------------------------------------------------------- CUDA --- */

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

static void *sym(void *lib, const char *name) {
    return lib ? dlsym(lib, name) : NULL;
}

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

/* Find and dlopen the CUDA module the way the library does (see api/cuda_loader.c on the CUDA
 * branch): $DOCLAYOUT_CUDA_MODULE alone when set; else beside the executable, its ../lib, the
 * install libdir, then the dynamic linker's search. */
static cJSON *probe_module(char *path, size_t pathn, bool *found, bool *loadable) {
    cJSON *m = cJSON_CreateObject();
    cJSON *searched = cJSON_CreateArray();
    char err_text[1024] = "";
    *found = *loadable = false;
    path[0] = '\0';
    char cands[5][PATH_MAX];
    int nc = 0;
    const char *env = getenv("DOCLAYOUT_CUDA_MODULE");
    if (env && *env) {
        snprintf(cands[nc++], PATH_MAX, "%s", env);
    } else {
        char d[PATH_MAX];
        exe_dir(d, sizeof d);
        if (d[0]) {
            snprintf(cands[nc++], PATH_MAX, "%.*s/%s", PATH_MAX - 32, d, CUDA_MODULE_NAME);
            snprintf(cands[nc++], PATH_MAX, "%.*s/../lib/%s", PATH_MAX - 40, d, CUDA_MODULE_NAME);
        }
        snprintf(cands[nc++], PATH_MAX, "%s/%s", DL_CLI_INSTALL_LIBDIR, CUDA_MODULE_NAME);
        snprintf(cands[nc++], PATH_MAX, "%s", CUDA_MODULE_NAME); /* ld.so's search */
    }
    for (int i = 0; i < nc && !*loadable; i++) {
        cJSON_AddItemToArray(searched, cJSON_CreateString(cands[i]));
        bool by_name = strchr(cands[i], '/') == NULL;
        if (!by_name && !is_file(cands[i])) continue;
        void *h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            /* by name, "cannot open shared object file" only means it is not installed */
            if (by_name && e && strstr(e, "cannot open shared object file") &&
                strstr(e, CUDA_MODULE_NAME) == e)
                continue;
            *found = true;
            copy_str(path, pathn, cands[i]);
            snprintf(err_text, sizeof err_text, "%s", e ? e : "dlopen failed");
            continue;
        }
        *found = true;
        void *entry = dlsym(h, CUDA_MODULE_ENTRY);
        Dl_info info;
        if (entry && dladdr(entry, &info) && info.dli_fname)
            snprintf(path, pathn, "%s", info.dli_fname);
        else copy_str(path, pathn, cands[i]);
        if (!entry) {
            snprintf(err_text, sizeof err_text, "%s has no symbol %s", path, CUDA_MODULE_ENTRY);
            continue; /* keep it loaded: CUDA libraries dislike unloading */
        }
        *loadable = true;
        err_text[0] = '\0';
    }
    cJSON_AddBoolToObject(m, "found", *found);
    cJSON_AddBoolToObject(m, "loadable", *loadable);
    cJSON_AddItemToObject(m, "path", path[0] ? cJSON_CreateString(path) : cJSON_CreateNull());
    cJSON_AddItemToObject(m, "error",
                          err_text[0] ? cJSON_CreateString(err_text) : cJSON_CreateNull());
    cJSON_AddItemToObject(m, "searched", searched);
    return m;
}

static const char *match_name(dl_cuda_code_match m) {
    switch (m) {
    case DL_CUDA_CODE_NATIVE:
        return "native";
    case DL_CUDA_CODE_COMPATIBLE:
        return "compatible-sass";
    case DL_CUDA_CODE_PTX_JIT:
        return "ptx-jit";
    default:
        return "none";
    }
}

typedef struct cuda_state {
    bool module_loadable;
    int n_devices; /* visible GPUs (0 when the runtime says none or fails) */
    bool required; /* CUDA errors make the machine unhealthy */
} cuda_state;

static cJSON *report_cuda(const doctor_opts *o, cJSON *problems, cuda_state *st) {
    cJSON *c = cJSON_CreateObject();
    char mpath[PATH_MAX];
    bool found, loadable;
    cJSON_AddItemToObject(c, "module", probe_module(mpath, sizeof mpath, &found, &loadable));
    st->module_loadable = loadable;
    st->n_devices = 0;
    bool want = strcmp(o->device, "cuda") == 0;

    dl_cuda_code code;
    bool have_code = false;
    cJSON *codej = cJSON_CreateNull();
    if (found && mpath[0]) {
        dl_error e;
        if (dl_fatbin_scan_file(mpath, &code, &e) == DL_OK) {
            have_code = true;
            cJSON_Delete(codej);
            codej = cJSON_CreateObject();
            cJSON_AddItemToObject(codej, "sass", cJSON_CreateIntArray(code.sass, code.n_sass));
            cJSON_AddItemToObject(codej, "ptx", cJSON_CreateIntArray(code.ptx, code.n_ptx));
        }
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
            add_problem(problems, "cuda", want ? "error" : "warning", msg, FIX_NO_CUDART);
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
                add_problem(problems, "cuda", want ? "error" : "warning", msg,
                            no_driver ? FIX_NO_DRIVER : fix_for_cuda_error(rc == 0 ? 100 : rc));
            n = 0;
        }
        st->n_devices = n;
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
                dl_cuda_code_match mt = dl_cuda_code_for(&code, sm, &which);
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
                             "GPU %d (%s, sm_%d): the CUDA module %s has no code for it", i, name,
                             sm, mpath);
                    add_problem(problems, "cuda", "error", msg, FIX_NO_CODE);
                } else if (mt == DL_CUDA_CODE_PTX_JIT && idx_wanted) {
                    snprintf(msg, sizeof msg,
                             "GPU %d (%s, sm_%d): only compute_%d PTX, JIT-compiled by the driver",
                             i, name, sm, which);
                    add_problem(problems, "cuda", "warning", msg, FIX_PTX_ONLY);
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
            add_problem(problems, "cuda", "error", msg, FIX_NO_DEVICE);
        }
    }
    if (!found) {
        if (strcmp(status, "ok") == 0) status = "no-module";
        if (want || st->n_devices > 0)
            add_problem(problems, "cuda", want ? "error" : "warning",
                        "CUDA module not built/installed (" CUDA_MODULE_NAME " not found)",
                        FIX_MODULE_ABSENT);
    } else if (!loadable) {
        const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "module"), "error");
        snprintf(msg, sizeof msg, "CUDA module %s does not load: %s", mpath,
                 cJSON_IsString(e) ? e->valuestring : "?");
        add_problem(problems, "cuda", want || st->n_devices > 0 ? "error" : "warning", msg,
                    FIX_MODULE_DLOPEN);
        if (strcmp(status, "ok") == 0) status = "module-broken";
    }
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddItemToObject(c, "runtime", runtime);
    cJSON_AddItemToObject(c, "driver", driver);
    cJSON_AddItemToObject(c, "devices", devices);
    /* with --device auto, CUDA must work when a GPU is visible and the module is installed
     * (loadable or not): a CPU-only install on a GPU machine is fine, a broken module is not */
    st->required = want || (found && st->n_devices > 0);
    return c;
}

/* ------------------------------------------------------------------------------- models --- */

/* "model_type" of DIR/config.json, or NULL. */
static char *model_type_of(const char *dir) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/config.json", dir);
    void *buf;
    size_t size;
    dl_error err;
    if (dl_read_file(p, 1 << 20, &buf, &size, &err) != DL_OK) return NULL;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    const cJSON *t = cJSON_GetObjectItem(j, "model_type");
    char *out = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

static void add_model(cJSON *models, const char *source, const char *name, const char *dir) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "source", source);
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "path", dir);
    char *type = model_type_of(dir);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    bool w = is_file(p);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    w = w || is_file(p);
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    bool complete = type && w && is_file(p);
    cJSON_AddItemToObject(m, "model_type", type ? cJSON_CreateString(type) : cJSON_CreateNull());
    cJSON_AddBoolToObject(m, "complete", complete);
    free(type);
    cJSON_AddItemToArray(models, m);
}

/* Every model directory directly inside `root` (the installed default models). */
static void scan_default_dir(cJSON *models, const char *root) {
    DIR *d = opendir(root);
    if (!d) return;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/config.json", root);
    if (is_file(p)) add_model(models, "default", root, root);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%.*s/%.200s", PATH_MAX - 256, root, e->d_name);
        snprintf(p, sizeof p, "%s/config.json", sub);
        if (is_dir(sub) && is_file(p)) add_model(models, "default", e->d_name, sub);
    }
    closedir(d);
}

/* Docling layout models in a Hugging Face hub cache: models--docling-project--docling-layout-*,
 * resolved through the library's own lookup (refs/main -> snapshots/<rev>). */
static void scan_hf_cache(cJSON *models, const char *hub) {
    DIR *d = opendir(hub);
    if (!d) return;
    static const char prefix[] = "models--docling-project--docling-layout-";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
        char repo[300];
        snprintf(repo, sizeof repo, "docling-project/%.250s",
                 e->d_name + strlen("models--docling-project--"));
        char resolved[PATH_MAX];
        dl_error err;
        /* look the repo id up in this cache only: the library reads $HF_HUB_CACHE first */
        char *old = getenv("HF_HUB_CACHE") ? strdup(getenv("HF_HUB_CACHE")) : NULL;
        setenv("HF_HUB_CACHE", hub, 1);
        dl_status s = dl_model_resolve_path(repo, resolved, sizeof resolved, &err);
        if (old) setenv("HF_HUB_CACHE", old, 1);
        else unsetenv("HF_HUB_CACHE");
        free(old);
        if (s == DL_OK) {
            add_model(models, "hf-cache", repo, resolved);
        } else {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "source", "hf-cache");
            cJSON_AddStringToObject(m, "name", repo);
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%.*s/%.250s", PATH_MAX - 300, hub, e->d_name);
            cJSON_AddStringToObject(m, "path", p);
            cJSON_AddNullToObject(m, "model_type");
            cJSON_AddBoolToObject(m, "complete", false);
            cJSON_AddStringToObject(m, "error", err.message);
            cJSON_AddItemToArray(models, m);
        }
    }
    closedir(d);
}

static cJSON *report_models(cJSON *problems) {
    cJSON *models = cJSON_CreateArray();
    char d[PATH_MAX], p[PATH_MAX + 64];
    exe_dir(d, sizeof d);
    if (d[0]) {
        snprintf(p, sizeof p, "%s/../share/doclayout/models", d);
        char real[PATH_MAX];
        if (realpath(p, real)) scan_default_dir(models, real);
    }
    if (DL_CLI_SOURCE_DIR[0]) {
        snprintf(p, sizeof p, "%s/models", DL_CLI_SOURCE_DIR);
        if (is_dir(p)) scan_default_dir(models, p);
    }
    /* the caches the library searches, in its order, each once */
    char hubs[3][PATH_MAX];
    int nh = 0;
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%s", v);
    v = getenv("HF_HOME");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%.*s/hub", PATH_MAX - 8, v);
    v = getenv("HOME");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%.*s/.cache/huggingface/hub", PATH_MAX - 32, v);
    for (int i = 0; i < nh; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || strcmp(hubs[i], hubs[j]) == 0;
        if (!seen) scan_hf_cache(models, hubs[i]);
    }
    if (cJSON_GetArraySize(models) == 0)
        add_problem(problems, "models", "warning",
                    "no layout model found (no installed default model, no Docling layout "
                    "model in the Hugging Face cache)",
                    FIX_NO_MODEL);
    return models;
}

/* ----------------------------------------------------------------------------- selftest --- */

static bool find_selftest_model(const doctor_opts *o, char *out, size_t n) {
    char d[PATH_MAX], p[PATH_MAX + 64];
    const char *env = getenv("DOCLAYOUT_SELFTEST_MODEL");
    if (o->selftest_model) {
        snprintf(out, n, "%s", o->selftest_model);
        return true; /* the user's choice: report its load error as is */
    }
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return true;
    }
    exe_dir(d, sizeof d);
    if (d[0]) {
        snprintf(p, sizeof p, "%s/../share/doclayout/selftest/" SELFTEST_NAME, d);
        char real[PATH_MAX];
        if (realpath(p, real) && is_dir(real)) {
            snprintf(out, n, "%s", real);
            return true;
        }
    }
    if (DL_CLI_SOURCE_DIR[0]) {
        snprintf(p, sizeof p, "%s/tests/fixtures/golden/" SELFTEST_NAME, DL_CLI_SOURCE_DIR);
        if (is_dir(p)) {
            copy_str(out, n, p);
            return true;
        }
    }
    return false;
}

/* A synthetic page: dark text lines, a title bar and a picture block over a light paper
 * texture. The texture matters: on flat white regions a random-weight model scores many
 * positions exactly alike, and the top-k query selection then picks among exact ties, which
 * any change of summation order may break differently. */
static dl_image *synthetic_page(void) {
    dl_image *img = NULL;
    dl_error err;
    if (dl_image_create(612, 792, 255, &img, &err) != DL_OK) return NULL;
    uint32_t rng = 2463534242u;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->rgb + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            int v = 200 + (int)(rng % 56u);                                         /* paper */
            if (y >= 60 && y < 84 && x >= 72 && x < 420) v = 20 + (int)(rng % 30u); /* title */
            else if (y >= 120 && y < 520 && (y - 120) % 18 < 9 && x >= 72 &&
                     x < 540 - ((y / 18) % 3) * 40)
                v = 40 + (int)(rng % 60u); /* text */
            else if (y >= 560 && y < 720 && x >= 150 && x < 460)
                v = 90 + (x + y) % 80 + (int)(rng % 16u); /* picture */
            row[3 * x] = (uint8_t)v;
            row[3 * x + 1] = (uint8_t)(v - (int)(rng >> 28));
            row[3 * x + 2] = (uint8_t)(v - (int)((rng >> 24) & 7u));
        }
    }
    return img;
}

typedef struct run_out {
    float *logits, *boxes;
    double seconds;
} run_out;

static dl_status run_backend(const dl_model *m, const dl_detector_options *opt, bool reference,
                             const float *pixels, run_out *r, char *kernel, size_t kn,
                             dl_error *err) {
    dl_detector *det = NULL;
    dl_status s = dl_detector_create(m, opt, &det, err);
    if (s != DL_OK) return s;
    if (reference) dl_detector_use_reference_ops(det);
    snprintf(kernel, kn, "%s", dl_detector_kernel_name(det));
    size_t q = (size_t)dl_model_num_queries(m), l = (size_t)dl_model_num_labels(m);
    r->logits = calloc(q * l, sizeof(float));
    r->boxes = calloc(q * 4, sizeof(float));
    if (!r->logits || !r->boxes) {
        dl_detector_free(det);
        return DL_ERR_OUT_OF_MEMORY;
    }
    double t0 = now_s();
    s = dl_detector_forward(det, pixels, 1, dl_model_input_height(m), dl_model_input_width(m),
                            r->logits, r->boxes, err);
    r->seconds = now_s() - t0;
    dl_detector_free(det);
    return s;
}

/* Largest |difference| between the queries of `a` and their counterparts in `b`, each query
 * (its logits and box) paired with the closest unused query of b. Queries are compared as a
 * set because the top-k query selection may order near-equal scores differently when the
 * summation order differs; a real disagreement still shows as a large distance. */
static void query_diffs(const float *al, const float *ab, const float *bl, const float *bb,
                        size_t q, size_t l, double *dlog, double *dbox) {
    char *used = calloc(q ? q : 1, 1);
    double worst_l = 0, worst_b = 0;
    for (size_t i = 0; i < q; i++) {
        size_t best = q;
        double best_d = INFINITY, best_l = 0, best_b = 0;
        for (size_t j = 0; j < q; j++) {
            if (used && used[j]) continue;
            double ml = 0, mb = 0;
            for (size_t k = 0; k < l; k++) {
                double d = fabs((double)al[i * l + k] - (double)bl[j * l + k]);
                if (!(d <= ml)) ml = d; /* NaN wins */
            }
            for (size_t k = 0; k < 4; k++) {
                double d = fabs((double)ab[i * 4 + k] - (double)bb[j * 4 + k]);
                if (!(d <= mb)) mb = d;
            }
            double dist = ml > mb ? ml : mb;
            if (dist < best_d || best == q) {
                best_d = dist;
                best = j;
                best_l = ml;
                best_b = mb;
            }
        }
        if (used && best < q) used[best] = 1;
        if (!(best_l <= worst_l)) worst_l = best_l;
        if (!(best_b <= worst_b)) worst_b = best_b;
    }
    free(used);
    *dlog = worst_l;
    *dbox = worst_b;
}

static cJSON *backend_entry(const char *name, const char *status) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "name", name);
    cJSON_AddStringToObject(b, "status", status);
    return b;
}

/* Compare run `r` with the reference and record it; returns false on a mismatch. */
static bool judge(cJSON *b, const run_out *r, const run_out *ref, size_t q, size_t l, double tol_l,
                  double tol_b, const char *fault, const char *name) {
    if (fault && strcmp(fault, name) == 0 && q > 0) r->logits[0] += 1.0f;
    double dl, db;
    query_diffs(r->logits, r->boxes, ref->logits, ref->boxes, q, l, &dl, &db);
    cJSON_AddNumberToObject(b, "max_abs_diff_logits", isfinite(dl) ? dl : 1e30);
    cJSON_AddNumberToObject(b, "max_abs_diff_boxes", isfinite(db) ? db : 1e30);
    cJSON_AddNumberToObject(b, "tolerance_logits", tol_l);
    cJSON_AddNumberToObject(b, "tolerance_boxes", tol_b);
    return dl <= tol_l && db <= tol_b;
}

static cJSON *report_selftest(const doctor_opts *o, const cuda_state *cs, cJSON *problems) {
    cJSON *t = cJSON_CreateObject();
    cJSON *backends = cJSON_AddArrayToObject(t, "backends");
    char dir[PATH_MAX], msg[DL_ERROR_MESSAGE_MAX + 256];
    if (!o->selftest) {
        cJSON_AddNullToObject(t, "model");
        cJSON_AddStringToObject(t, "status", "skipped");
        return t;
    }
    if (!find_selftest_model(o, dir, sizeof dir)) {
        cJSON_AddNullToObject(t, "model");
        cJSON_AddStringToObject(t, "status", "error");
        add_problem(problems, "selftest", "error", "the self-test model was not found",
                    FIX_SELFTEST_MODEL);
        return t;
    }
    cJSON_AddStringToObject(t, "model", dir);
    dl_error err;
    dl_model *m = NULL;
    if (dl_model_load(dir, NULL, &m, &err) != DL_OK) {
        cJSON_AddStringToObject(t, "status", "error");
        snprintf(msg, sizeof msg, "the self-test model does not load: %s", err.message);
        add_problem(problems, "selftest", "error", msg, FIX_SELFTEST_MODEL);
        return t;
    }
    dl_image *page = synthetic_page();
    size_t npix = (size_t)3 * dl_model_input_width(m) * dl_model_input_height(m);
    float *pixels = malloc(npix * sizeof(float));
    if (!page || !pixels || dl_model_preprocess(m, page, pixels, &err) != DL_OK) {
        cJSON_AddStringToObject(t, "status", "error");
        add_problem(problems, "selftest", "error", "cannot prepare the self-test input",
                    "Out of memory? Free some memory and run again.");
        free(pixels);
        dl_image_free(page);
        dl_model_free(m);
        return t;
    }
    char input[64];
    snprintf(input, sizeof input, "synthetic %dx%d page at %dx%d", page->width, page->height,
             dl_model_input_width(m), dl_model_input_height(m));
    cJSON_AddStringToObject(t, "input", input);
    size_t nq = (size_t)dl_model_num_queries(m), nlab = (size_t)dl_model_num_labels(m);
    const char *fault = getenv("DOCLAYOUT_DOCTOR_FAULT");
    bool ok = true;
    char kernel[64];

    /* 1. the scalar reference, one thread */
    run_out ref = {0}, fast = {0}, gpu = {0};
    dl_detector_options opt = dl_detector_default_options();
    opt.num_threads = 1;
    cJSON *b = backend_entry("reference", "ok");
    cJSON_AddItemToArray(backends, b);
    if (run_backend(m, &opt, true, pixels, &ref, kernel, sizeof kernel, &err) != DL_OK) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
        cJSON_AddStringToObject(b, "message", err.message);
        snprintf(msg, sizeof msg, "the scalar reference failed: %s", err.message);
        add_problem(problems, "selftest", "error", msg, FIX_MISMATCH);
        ok = false;
    }
    cJSON_AddStringToObject(b, "kernel", kernel);
    cJSON_AddNumberToObject(b, "seconds", ref.seconds);

    /* 2. the fast CPU kernels, all threads */
    opt.num_threads = o->threads;
    b = backend_entry("cpu", "ok");
    cJSON_AddItemToArray(backends, b);
    kernel[0] = '\0';
    if (run_backend(m, &opt, false, pixels, &fast, kernel, sizeof kernel, &err) != DL_OK) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
        cJSON_AddStringToObject(b, "message", err.message);
        snprintf(msg, sizeof msg, "the CPU backend failed: %s", err.message);
        add_problem(problems, "cpu", "error", msg, FIX_MISMATCH);
        ok = false;
    } else if (ref.logits &&
               !judge(b, &fast, &ref, nq, nlab, TOL_CPU_LOGITS, TOL_CPU_BOXES, fault, "cpu")) {
        cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("mismatch"));
        snprintf(msg, sizeof msg,
                 "the CPU kernels (%s, sgemm %s) disagree with the scalar reference: max "
                 "|dlogits| %.3g (tolerance %.0e), max |dboxes| %.3g (tolerance %.0e)",
                 kernel, dl_sgemm_kernel_name(),
                 cJSON_GetObjectItem(b, "max_abs_diff_logits")->valuedouble, TOL_CPU_LOGITS,
                 cJSON_GetObjectItem(b, "max_abs_diff_boxes")->valuedouble, TOL_CPU_BOXES);
        add_problem(problems, "cpu", "error", msg, FIX_MISMATCH);
        ok = false;
    }
    cJSON_AddStringToObject(b, "kernel", kernel);
    cJSON_AddNumberToObject(b, "seconds", fast.seconds);

    /* 3. CUDA, when it is there or asked for */
    bool try_cuda = strcmp(o->device, "cuda") == 0 ||
                    (strcmp(o->device, "auto") == 0 && cs->module_loadable && cs->n_devices > 0);
    char cname[32];
    snprintf(cname, sizeof cname, "cuda:%d", o->device_index);
    b = backend_entry(cname, "skipped");
    cJSON_AddItemToArray(backends, b);
    if (!try_cuda) {
        cJSON_AddStringToObject(b, "message",
                                !cs->module_loadable ? "CUDA module not built/installed"
                                : cs->n_devices == 0 ? "no CUDA GPU visible"
                                                     : "not requested (--device cpu)");
    } else {
        dl_detector_options g = dl_detector_default_options();
        g.device = DL_DEVICE_CUDA;
        g.device_index = o->device_index;
        g.precision = DL_PRECISION_FP32;
        kernel[0] = '\0';
        if (run_backend(m, &g, false, pixels, &gpu, kernel, sizeof kernel, &err) != DL_OK) {
            cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("error"));
            cJSON_AddStringToObject(b, "message", err.message);
            /* the CUDA report may already say why (no module, no GPU); add the run's failure
             * as its own problem only when it adds something */
            bool known = false;
            cJSON *p;
            cJSON_ArrayForEach(p, problems) {
                const cJSON *sev = cJSON_GetObjectItem(p, "severity");
                if (strcmp(cJSON_GetObjectItem(p, "component")->valuestring, "cuda") == 0 &&
                    cJSON_IsString(sev) && strcmp(sev->valuestring, "error") == 0)
                    known = true;
            }
            if (!known) {
                snprintf(msg, sizeof msg, "the CUDA backend failed the self-test: %s", err.message);
                add_problem(problems, "cuda", "error", msg, fix_for_message(err.message));
            }
            ok = false;
        } else {
            cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("ok"));
            cJSON_AddStringToObject(b, "kernel", kernel);
            cJSON_AddNumberToObject(b, "seconds", gpu.seconds);
            if (ref.logits &&
                !judge(b, &gpu, &ref, nq, nlab, TOL_GPU_LOGITS, TOL_GPU_BOXES, fault, "cuda")) {
                cJSON_ReplaceItemInObject(b, "status", cJSON_CreateString("mismatch"));
                snprintf(msg, sizeof msg,
                         "the CUDA backend (%s) disagrees with the scalar reference: max "
                         "|dlogits| %.3g, max |dboxes| %.3g",
                         kernel, cJSON_GetObjectItem(b, "max_abs_diff_logits")->valuedouble,
                         cJSON_GetObjectItem(b, "max_abs_diff_boxes")->valuedouble);
                add_problem(problems, "cuda", "error", msg, FIX_MISMATCH);
                ok = false;
            }
        }
    }

    /* 4. the whole pipeline once (resize, network, post-processing) on the fast CPU path */
    dl_detector *det = NULL;
    dl_result *res = NULL;
    opt.num_threads = o->threads;
    if (dl_detector_create(m, &opt, &det, &err) == DL_OK &&
        dl_detector_run(det, (const dl_image *const *)&page, 1, 0.0f, &res, &err) == DL_OK) {
        size_t n = 0;
        dl_result_detections(res, 0, &n);
        cJSON_AddNumberToObject(t, "detections", (double)n);
        if (n != (size_t)dl_model_num_queries(m)) {
            add_problem(problems, "selftest", "error",
                        "detection at threshold 0 did not return one detection per query",
                        FIX_MISMATCH);
            ok = false;
        }
    } else {
        snprintf(msg, sizeof msg, "detection on the CPU failed: %s", err.message);
        add_problem(problems, "selftest", "error", msg, FIX_MISMATCH);
        ok = false;
    }
    dl_result_free(res);
    dl_detector_free(det);

    cJSON_AddStringToObject(t, "status", ok ? "ok" : "failed");
    free(ref.logits);
    free(ref.boxes);
    free(fast.logits);
    free(fast.boxes);
    free(gpu.logits);
    free(gpu.boxes);
    free(pixels);
    dl_image_free(page);
    dl_model_free(m);
    return t;
}

/* ---------------------------------------------------------------------------- rendering --- */

/* A string field, or NULL (opt_str) / "" (str_of) when absent or null. */
static const char *opt_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static const char *str_of(const cJSON *o, const char *k) {
    const char *s = opt_str(o, k);
    return s ? s : "";
}
static double num_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}
static double gib(double bytes) {
    return bytes / (1024.0 * 1024.0 * 1024.0);
}

static void print_text(const cJSON *r, FILE *f) {
    fprintf(f, "doclayout %s doctor\n\n", str_of(r, "doclayout"));
    const cJSON *cpu = cJSON_GetObjectItem(r, "cpu");
    fprintf(f, "CPU\n");
    fprintf(f, "  model      %s (%s)\n", str_of(cpu, "model"), str_of(cpu, "arch"));
    fprintf(f, "  cores      %.0f online, %.0f usable\n", num_of(cpu, "online_cpus"),
            num_of(cpu, "usable_cpus"));
    fprintf(f, "  memory     %.1f GiB, %.1f GiB available\n",
            gib(num_of(cpu, "memory_total_bytes")), gib(num_of(cpu, "memory_available_bytes")));
    fprintf(f, "  features  ");
    const cJSON *ft;
    cJSON_ArrayForEach(ft, cJSON_GetObjectItem(cpu, "features"))
        fprintf(f, " %s%s", cJSON_IsTrue(ft) ? "+" : "-", ft->string);
    if (num_of(cpu, "sve_vector_bits") > 0)
        fprintf(f, " (SVE vectors %.0f bits)", num_of(cpu, "sve_vector_bits"));
    fprintf(f, "\n");
    const cJSON *k = cJSON_GetObjectItem(cpu, "kernels");
    fprintf(f, "  kernels    ops %s, sgemm %s, %.0f threads\n", str_of(k, "ops"),
            str_of(k, "sgemm"), num_of(k, "threads"));

    const cJSON *cu = cJSON_GetObjectItem(r, "cuda");
    const cJSON *mod = cJSON_GetObjectItem(cu, "module");
    fprintf(f, "\nGPU (CUDA)\n");
    if (cJSON_IsTrue(cJSON_GetObjectItem(mod, "loadable")))
        fprintf(f, "  module     %s (loads)\n", str_of(mod, "path"));
    else if (cJSON_IsTrue(cJSON_GetObjectItem(mod, "found")))
        fprintf(f, "  module     %s does not load: %s\n", str_of(mod, "path"),
                str_of(mod, "error"));
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
        fprintf(f, "  runtime    CUDA %s (%s)\n", str_of(rt, "version"), str_of(rt, "library"));
    else fprintf(f, "  runtime    libcudart not found\n");
    const char *dver = opt_str(drv, "version"), *dcuda = opt_str(drv, "cuda_version");
    fprintf(f, "  driver     %s%s%s%s\n", dver ? dver : "no NVIDIA kernel driver",
            dcuda ? " (supports CUDA " : "", dcuda ? dcuda : "", dcuda ? ")" : "");
    const cJSON *d;
    int nd = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(cu, "devices")) {
        nd++;
        fprintf(f, "  gpu %.0f      %s, compute capability %s", num_of(d, "index"),
                str_of(d, "name"), str_of(d, "compute_capability"));
        if (num_of(d, "free_memory_bytes") >= 0)
            fprintf(f, ", %.1f of %.1f GiB free", gib(num_of(d, "free_memory_bytes")),
                    gib(num_of(d, "total_memory_bytes")));
        fprintf(f, "; code: %s (%s)\n", str_of(d, "code"), str_of(d, "code_detail"));
    }
    if (!nd) fprintf(f, "  gpus       none visible (%s)\n", str_of(cu, "status"));

    fprintf(f, "\nModels\n");
    const cJSON *m;
    int nm = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "models")) {
        nm++;
        const char *type = opt_str(m, "model_type");
        fprintf(f, "  %-9s  %s: %s%s\n", str_of(m, "source"), str_of(m, "name"), type ? type : "?",
                cJSON_IsTrue(cJSON_GetObjectItem(m, "complete")) ? "" : " (incomplete)");
        fprintf(f, "             %s\n", str_of(m, "path"));
    }
    if (!nm) fprintf(f, "  none found\n");

    const cJSON *st = cJSON_GetObjectItem(r, "selftest");
    fprintf(f, "\nSelf-test: %s", str_of(st, "status"));
    if (opt_str(st, "model")) fprintf(f, " (%s; %s)", str_of(st, "model"), str_of(st, "input"));
    fprintf(f, "\n");
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(st, "backends")) {
        fprintf(f, "  %-10s %-8s", str_of(b, "name"), str_of(b, "status"));
        if (str_of(b, "kernel")[0]) fprintf(f, " %s", str_of(b, "kernel"));
        if (num_of(b, "seconds") >= 0 && strcmp(str_of(b, "status"), "skipped") != 0 &&
            strcmp(str_of(b, "status"), "error") != 0)
            fprintf(f, ", %.3f s", num_of(b, "seconds"));
        if (num_of(b, "max_abs_diff_logits") >= 0)
            fprintf(f, ", vs reference: max|dlogits| %.2g, max|dboxes| %.2g",
                    num_of(b, "max_abs_diff_logits"), num_of(b, "max_abs_diff_boxes"));
        if (opt_str(b, "message")) fprintf(f, " (%s)", str_of(b, "message"));
        fprintf(f, "\n");
    }

    const cJSON *p;
    int np = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(r, "problems")) {
        if (!np++) fprintf(f, "\nProblems\n");
        fprintf(f, "  [%s] %s: %s\n", str_of(p, "severity"), str_of(p, "component"),
                str_of(p, "message"));
        fprintf(f, "      fix: %s\n", str_of(p, "fix"));
    }
    fprintf(f, "\n%s (device %s)\n",
            cJSON_IsTrue(cJSON_GetObjectItem(r, "healthy")) ? "HEALTHY" : "NOT HEALTHY",
            str_of(r, "device"));
}

/* ---------------------------------------------------------------------------------- main --- */

static int parse(int argc, char **argv, doctor_opts *o) {
    memset(o, 0, sizeof *o);
    o->selftest = true;
    o->device = "auto";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--no-selftest") == 0) {
            o->selftest = false;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(doctor_usage, stdout);
            return 1;
        } else if (strcmp(a, "--device") == 0 && v) {
            i++;
            if (strcmp(v, "cpu") == 0 || strcmp(v, "auto") == 0 || strcmp(v, "cuda") == 0) {
                o->device = v;
            } else if (strncmp(v, "cuda:", 5) == 0) {
                char *end;
                errno = 0;
                long n = strtol(v + 5, &end, 10);
                if (errno || end == v + 5 || *end || n < 0 || n > 255) {
                    fprintf(stderr, "doclayout doctor: bad device '%s'\n", v);
                    return 2;
                }
                o->device = "cuda";
                o->device_index = (int)n;
            } else {
                fprintf(stderr, "doclayout doctor: --device must be cpu, cuda, cuda:N or auto\n");
                return 2;
            }
        } else if (strcmp(a, "--threads") == 0 && v) {
            i++;
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < 0 || n > 1024) {
                fprintf(stderr, "doclayout doctor: --threads expects 0..1024, got '%s'\n", v);
                return 2;
            }
            o->threads = (int)n;
        } else if (strcmp(a, "--selftest-model") == 0 && v) {
            i++;
            o->selftest_model = v;
        } else {
            fprintf(stderr, "doclayout doctor: unknown or incomplete option '%s'\n%s", a,
                    doctor_usage);
            return 2;
        }
    }
    return 0;
}

int dl_cli_doctor(int argc, char **argv) {
    doctor_opts o;
    int rc = parse(argc, argv, &o);
    if (rc == 1) return 0; /* --help */
    if (rc) return rc;

    cJSON *r = cJSON_CreateObject();
    cJSON *problems = cJSON_CreateArray();
    cJSON_AddStringToObject(r, "doclayout", dl_version());
    cJSON_AddBoolToObject(r, "healthy", false); /* set below */
    char dev[32];
    if (strcmp(o.device, "cuda") == 0) snprintf(dev, sizeof dev, "cuda:%d", o.device_index);
    else snprintf(dev, sizeof dev, "%s", o.device);
    cJSON_AddStringToObject(r, "device", dev);
    cJSON_AddItemToObject(r, "cpu", report_cpu(o.threads));
    cuda_state cs;
    cJSON_AddItemToObject(r, "cuda", report_cuda(&o, problems, &cs));
    cJSON_AddItemToObject(r, "models", report_models(problems));
    cJSON_AddItemToObject(r, "selftest", report_selftest(&o, &cs, problems));
    cJSON_AddItemToObject(r, "problems", problems);

    /* unhealthy: any error, and for CUDA only when CUDA is required (see the top comment) */
    bool healthy = true;
    const cJSON *p;
    cJSON_ArrayForEach(p, problems) {
        if (strcmp(str_of(p, "severity"), "error") != 0) continue;
        if (strcmp(str_of(p, "component"), "cuda") == 0 && !cs.required &&
            strcmp(o.device, "cuda") != 0)
            continue;
        healthy = false;
    }
    cJSON_ReplaceItemInObject(r, "healthy", cJSON_CreateBool(healthy));

    if (o.json) {
        char *text = cJSON_Print(r);
        if (text) puts(text);
        free(text);
    } else {
        print_text(r, stdout);
    }
    fflush(stdout);
    cJSON_Delete(r);
    return healthy ? 0 : 1;
}
