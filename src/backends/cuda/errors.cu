/* CUDA backend: Errors: the first CUDA/cuBLAS failure of a pass, recorded for the sync op. */
#include "backends/cuda/common.cuh"

namespace dlcu {

dl_status fail(dl_error *err, dl_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

dl_status status_of(cudaError_t e) {
    return e == cudaErrorMemoryAllocation ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND;
}

/* Record the first failure (later ones are consequences). */
void record(cuda_backend *b, dl_status code, const char *fmt, ...) {
    if (b->status != DL_OK) return;
    b->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->message, sizeof b->message, fmt, ap);
    va_end(ap);
}

bool check(cuda_backend *b, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return true;
    record(b, status_of(e), "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e),
           cudaGetErrorName(e));
    return false;
}

const char *blas_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
    }
}

bool check_blas(cuda_backend *b, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    record(b, s == CUBLAS_STATUS_ALLOC_FAILED ? DL_ERR_OUT_OF_MEMORY : DL_ERR_BACKEND,
           "cuBLAS error in %s: %s (%d)", what, blas_name(s), (int)s);
    return false;
}

/* After a kernel launch: launch errors (bad configuration, no image for this GPU). */
void launched(cuda_backend *b, const char *what) { check(b, cudaGetLastError(), what); }

} // namespace dlcu
