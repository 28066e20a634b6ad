/* doctor: the known fix for each problem (the failures seen on DGX Spark / sm_121 with
 * CUDA 13, see docs/dgx-spark.md). */
#include <string.h>

#include "cli/doctor/doctor.h"

const char *const DOCTOR_FIX_MODULE_ABSENT =
    "Build the CUDA module on this machine, from the same sources: cmake -S . -B build "
    "-DDL_CUDA=ON && cmake --build build && cmake --install build (CUDA toolkit >= 12.9 for "
    "sm_121; DGX OS ships CUDA 13.0), or set DOCLAYOUT_CUDA_MODULE=/path/to/" DL_CUDA_MODULE_NAME
    ". Meanwhile --device cpu works.";
const char *const DOCTOR_FIX_MODULE_DLOPEN =
    "The module is installed but does not load: the message names what is missing (usually the "
    "CUDA runtime it was built with, libcudart.so.13). Install that CUDA runtime or add its "
    "directory to LD_LIBRARY_PATH; in Docker, use the image's runtime stage.";
const char *const DOCTOR_FIX_NO_CUDART =
    "Install the CUDA runtime (libcudart, part of the CUDA toolkit and of DGX OS) or add its "
    "lib directory to LD_LIBRARY_PATH.";
const char *const DOCTOR_FIX_DRIVER =
    "The NVIDIA driver is older than the CUDA runtime (CUDA 13.0 needs driver 580 or newer; "
    "DGX OS ships 580.x). Update the driver, or build the module with a toolkit the driver "
    "supports. In a container the host's driver is the one that counts.";
const char *const DOCTOR_FIX_NO_DRIVER =
    "No NVIDIA driver is loaded here (no /proc/driver/nvidia, the runtime finds no libcuda): "
    "install the NVIDIA driver (DGX OS ships 580.x). In Docker the NVIDIA Container Toolkit "
    "mounts the host's driver into the container when the GPU is reserved (--gpus all).";
const char *const DOCTOR_FIX_NO_DEVICE =
    "No GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES; in Docker run with --gpus "
    "all (compose: deploy.resources.reservations.devices with driver: nvidia, capabilities: "
    "[gpu]) and the NVIDIA Container Toolkit installed on the host.";
const char *const DOCTOR_FIX_NO_CODE =
    "The CUDA module has no code this GPU can run. Rebuild it with the GPU's architecture: "
    "-DCMAKE_CUDA_ARCHITECTURES=\"121-real;120-virtual\" for GB10 (needs CUDA >= 12.9). sm_120 "
    "SASS also runs on 12.1 (same major), sm_90/sm_100 code does not.";
const char *const DOCTOR_FIX_PTX_VERSION =
    "The driver is older than the toolkit that wrote the module's PTX "
    "(CUDA_ERROR_UNSUPPORTED_PTX_VERSION): update the driver, or rebuild with native SASS for "
    "this GPU (e.g. 121-real) so nothing is JIT-compiled.";
const char *const DOCTOR_FIX_JIT_MISSING =
    "The driver's PTX JIT compiler is missing (libnvidia-ptxjitcompiler / libnvidia-gpucomp; "
    "NVIDIA/cuvs#2568 hit this on GB10): install the complete driver user-space, or rebuild "
    "with native SASS for this GPU (121-real).";
const char *const DOCTOR_FIX_OOM =
    "The GPU is out of memory. On DGX Spark CPU and GPU share 128 GB and the page cache competes "
    "with CUDA allocations: stop other GPU jobs, or drop the page cache (sync; echo 3 | sudo "
    "tee /proc/sys/vm/drop_caches).";
const char *const DOCTOR_FIX_MISMATCH =
    "This backend disagrees with the scalar reference: do not trust its detections (use "
    "another --device) and report a bug with the output of doclayout doctor --json.";
const char *const DOCTOR_FIX_SELFTEST_MODEL =
    "Reinstall doclayout (it installs share/doclayout/selftest/" DOCTOR_SELFTEST_NAME ") or pass "
    "--selftest-model DIR (tests/fixtures/golden/" DOCTOR_SELFTEST_NAME " in the source tree).";
const char *const DOCTOR_FIX_NO_MODEL =
    "Download a layout model once, on any machine with network access: huggingface-cli "
    "download docling-project/docling-layout-heron (or -egret-large, ...); copy "
    "~/.cache/huggingface to this machine if needed; then use --model "
    "docling-project/docling-layout-heron.";
const char *const DOCTOR_FIX_PTX_ONLY =
    "Only PTX fits this GPU: the driver JIT-compiles it on first use (a slow first run, then "
    "cached in ~/.nv/ComputeCache). Rebuild with native SASS for it (e.g. 121-real) to skip "
    "the JIT.";

const char *doctor_fix_for_cuda_error(int code) {
    switch (code) {
    case 35: /* cudaErrorInsufficientDriver */
    case 803: /* cudaErrorSystemDriverMismatch */ return DOCTOR_FIX_DRIVER;
    case 100: /* cudaErrorNoDevice */ return DOCTOR_FIX_NO_DEVICE;
    case 209: /* cudaErrorNoKernelImageForDevice */ return DOCTOR_FIX_NO_CODE;
    case 222: /* cudaErrorUnsupportedPtxVersion */ return DOCTOR_FIX_PTX_VERSION;
    case 221: /* cudaErrorJitCompilerNotFound */ return DOCTOR_FIX_JIT_MISSING;
    case 2: /* cudaErrorMemoryAllocation */ return DOCTOR_FIX_OOM;
    default: return DOCTOR_FIX_NO_DEVICE;
    }
}

const char *doctor_fix_for_message(const char *m) {
    if (strstr(m, "no CUDA backend") || strstr(m, "could not be loaded")) {
        if (strstr(m, "libcudart") || strstr(m, "libcuda.")) return DOCTOR_FIX_MODULE_DLOPEN;
        return DOCTOR_FIX_MODULE_ABSENT;
    }
    if (strstr(m, "PTX") || strstr(m, "ptx")) return DOCTOR_FIX_PTX_VERSION;
    if (strstr(m, "kernel image") || strstr(m, "no code") || strstr(m, "architecture"))
        return DOCTOR_FIX_NO_CODE;
    if (strstr(m, "driver")) return DOCTOR_FIX_DRIVER;
    if (strstr(m, "out of memory")) return DOCTOR_FIX_OOM;
    if (strstr(m, "JIT") || strstr(m, "jit")) return DOCTOR_FIX_JIT_MISSING;
    if (strstr(m, "another version of doclayout"))
        return "The CUDA module was built from another version of doclayout: rebuild and "
               "reinstall both from the same sources.";
    return DOCTOR_FIX_NO_DEVICE;
}
