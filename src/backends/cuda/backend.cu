/* CUDA backend: The module's entry point: opening a device (driver, architecture and ABI checks),
 * the op tables, closing. */
#include "backends/cuda/common.cuh"

namespace dlcu {

__global__ void k_probe(int *p) {
    if (p) *p = 1;
}

dl_ops make_ops(const char *name) {
    dl_ops o;
    memset(&o, 0, sizeof o);
    o.name = name;
    o.device = true;
    o.mem_alloc = cu_mem_alloc;
    o.mem_free = cu_mem_free;
    o.upload = cu_upload;
    o.download = cu_download;
    o.copy = cu_copy;
    o.sync = cu_sync;
    o.transpose = cu_transpose;
    o.scale_rows = cu_scale_rows;
    o.topk_rows = cu_topk_rows;
    o.gather_rows = cu_gather_rows;
    o.deform_locations = cu_deform_locations;
    o.box_refine = cu_box_refine;
    o.conv2d_scratch = cu_conv2d_scratch;
    o.linear_scratch = cu_linear_scratch;
    o.conv2d = cu_conv2d;
    o.linear = cu_linear;
    o.layer_norm = cu_layer_norm;
    o.attention = cu_attention;
    o.deform_attn = cu_deform_attn;
    o.max_pool2d = cu_max_pool2d;
    o.avg_pool2d = cu_avg_pool2d;
    o.upsample2x = cu_upsample2x;
    o.softmax_rows = cu_softmax_rows;
    o.activate = cu_activate;
    o.add = cu_add;
    o.find_kernel = find_kernel;
    return o;
}

static const dl_ops ops_fp32 = make_ops("cuda-fp32");
static const dl_ops ops_bf16 = make_ops("cuda-bf16");
static const dl_ops ops_fp16 = make_ops("cuda-fp16");

/* ---- open / close ------------------------------------------------------------------------ */

void backend_close(dl_cuda_backend *pub) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b) return;
    cudaSetDevice(b->device);
    graph_drop(pub);
    if (b->stream) cudaStreamSynchronize(b->stream);
    if (b->pinned) cudaFreeHost(b->pinned);
    if (b->wdev) cudaFree(b->wdev);
    if (b->wlow) cudaFree(b->wlow);
    if (b->blas) cublasDestroy(b->blas);
    if (b->blas_ws) cudaFree(b->blas_ws);
    if (b->stream) cudaStreamDestroy(b->stream);
    cudaGetLastError();
    delete b;
}

/* "90,120,121" -> whether any entry runs on compute capability `sm` */
bool arch_list_runs(const char *list, int sm, bool ptx) {
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p) break;
        /* real code: same major, minor <= the device's; PTX: any older-or-equal target */
        if (ptx ? a <= sm : (a / 10 == sm / 10 && a <= sm)) return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

void arch_list_text(char *out, size_t n) {
    size_t len = 0;
    out[0] = '\0';
    const char *lists[2] = {DL_CUDA_SASS, DL_CUDA_PTX};
    for (int k = 0; k < 2; k++) {
        const char *p = lists[k];
        while (*p && len + 16 < n) {
            char *end;
            long a = strtol(p, &end, 10);
            if (end == p) break;
            len +=
                snprintf(out + len, n - len, "%s%s_%ld", len ? ", " : "", k ? "compute" : "sm", a);
            p = *end ? end + 1 : end;
        }
    }
}

dl_status open_impl(const dl_cuda_open_args *a, dl_cuda_backend **out, dl_error *err) {
    int drv = 0, rt = 0;
    cudaRuntimeGetVersion(&rt);
    cudaError_t e = cudaDriverGetVersion(&drv);
    if (e != cudaSuccess || drv == 0)
        return fail(err, DL_ERR_BACKEND,
                    "device cuda: no NVIDIA driver found (libcuda.so.1 is missing or fails to "
                    "load), so CUDA cannot run here");
    if (drv < rt)
        return fail(err, DL_ERR_BACKEND,
                    "device cuda: the NVIDIA driver supports CUDA %d.%d, but this "
                    "libdoclayout_cuda.so was built with CUDA %d.%d: update the driver or build "
                    "the module with an older toolkit",
                    drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
    int count = 0;
    e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda: the NVIDIA driver is too old for CUDA %d.%d",
                    rt / 1000, rt % 1000 / 10);
    }
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda: no CUDA device is present%s%s",
                    e != cudaSuccess ? ": " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
    }
    if (a->device < 0 || a->device >= count)
        return fail(err, DL_ERR_BACKEND, "device cuda:%d does not exist (%d CUDA device%s: 0..%d)",
                    a->device, count, count == 1 ? "" : "s", count - 1);
    e = cudaSetDevice(a->device);
    cudaDeviceProp prop;
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, a->device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "device cuda:%d: %s", a->device, cudaGetErrorString(e));
    }
    int sm = prop.major * 10 + prop.minor;
    char built[160];
    arch_list_text(built, sizeof built);
    cudaFuncAttributes fa;
    cudaError_t pe = cudaFuncGetAttributes(&fa, k_probe);
    if (pe == cudaSuccess) /* attention may use up to kAttnSmemCap of dynamic shared memory */
        pe = attention_allow_smem(
            (int)std::min<size_t>(kAttnSmemCap, prop.sharedMemPerBlockOptin - 1024));
    if (pe != cudaSuccess) cudaGetLastError();
    if (pe == cudaErrorNoKernelImageForDevice ||
        (!arch_list_runs(DL_CUDA_SASS, sm, false) && !arch_list_runs(DL_CUDA_PTX, sm, true) &&
         pe != cudaSuccess))
        return fail(err, DL_ERR_BACKEND,
                    "device cuda:%d (%s) is sm_%d, and libdoclayout_cuda.so has no code for sm_%d "
                    "(built for %s): rebuild it with -DCMAKE_CUDA_ARCHITECTURES=\"%d-real\" added",
                    a->device, prop.name, sm, sm, built, sm);
    if (pe != cudaSuccess)
        return fail(err, DL_ERR_BACKEND, "device cuda:%d (%s): %s", a->device, prop.name,
                    cudaGetErrorString(pe));

    cuda_backend *b = new (std::nothrow) cuda_backend();
    if (!b) return fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    b->device = a->device;
    b->precision = a->precision == DL_PRECISION_DEFAULT ? DL_PRECISION_BF16 : a->precision;
    b->status = DL_OK;
    const char *g = getenv("DOCLAYOUT_CUDA_GEMM");
    b->own_gemm = g && strcmp(g, "own") == 0;
    const char *cv = getenv("DOCLAYOUT_CUDA_CONV");
    b->use_igemm = cv && strcmp(cv, "igemm") == 0;
    b->pub.abi = DL_CUDA_ABI;
    b->pub.ops = b->precision == DL_PRECISION_FP32   ? &ops_fp32
                 : b->precision == DL_PRECISION_FP16 ? &ops_fp16
                                                     : &ops_bf16;
    b->pub.ctx = b;
    b->pub.sm = sm;
    snprintf(b->pub.device_name, sizeof b->pub.device_name, "cuda:%d (%.80s, sm_%d)", a->device,
             prop.name, sm);
    b->pub.map_weights = map_weights;
    b->pub.graph_begin = graph_begin;
    b->pub.graph_end = graph_end;
    b->pub.graph_launch = graph_launch;
    b->pub.graph_launch_async = graph_launch_async;
    b->pub.graph_wait = graph_wait;
    b->pub.graph_drop = graph_drop;
    b->pub.close = backend_close;
    e = cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        dl_status s = fail(err, status_of(e), "device cuda:%d: cannot create a stream: %s",
                           a->device, cudaGetErrorString(e));
        backend_close(&b->pub);
        return s;
    }
    cublasStatus_t bs = cublasCreate(&b->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        b->blas = nullptr;
        dl_status s =
            fail(err, bs == CUBLAS_STATUS_ALLOC_FAILED ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND,
                 "device cuda:%d: cuBLAS initialisation failed: %s", a->device, blas_name(bs));
        backend_close(&b->pub);
        return s;
    }
    /* our own workspace: cuBLAS then allocates nothing inside a CUDA graph capture */
    const size_t ws = 32u << 20;
    e = cudaMalloc(&b->blas_ws, ws);
    if (e == cudaSuccess) bs = cublasSetWorkspace(b->blas, b->blas_ws, ws);
    if (e != cudaSuccess || bs != CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        dl_status s = fail(err, DL_ERR_OUT_OF_MEMORY,
                           "device cuda:%d: no memory for the cuBLAS "
                           "workspace",
                           a->device);
        backend_close(&b->pub);
        return s;
    }
    cublasSetStream(b->blas, b->stream);
    /* float32 means float32: no TF32 tensor-core rounding in the parity mode */
    cublasSetMathMode(b->blas, CUBLAS_DEFAULT_MATH);
    *out = &b->pub;
    return DL_OK;
}

} // namespace dlcu

using namespace dlcu;

DL_EXPORT dl_status dl_cuda_backend_open(const dl_cuda_open_args *a, dl_cuda_backend **out,
                                         dl_error *err) {
    if (!out) return fail(err, DL_ERR_INVALID_ARGUMENT, "dl_cuda_backend_open: out is NULL");
    *out = nullptr;
    if (!a) return fail(err, DL_ERR_INVALID_ARGUMENT, "dl_cuda_backend_open: args is NULL");
    if (a->abi != DL_CUDA_ABI)
        return fail(err, DL_ERR_BACKEND,
                    "libdoclayout_cuda.so speaks interface version %d, the library %d: install "
                    "the module built with this doclayout",
                    DL_CUDA_ABI, a->abi);
    if (a->precision != DL_PRECISION_DEFAULT && a->precision != DL_PRECISION_FP32 &&
        a->precision != DL_PRECISION_FP16 && a->precision != DL_PRECISION_BF16)
        return fail(err, DL_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)a->precision);
    try {
        return open_impl(a, out, err);
    } catch (...) {
        return fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory opening the CUDA backend");
    }
}
