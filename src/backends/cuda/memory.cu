/* CUDA backend: Memory ops: device allocations, uploads, downloads and copies on the backend's
 * stream (staged through pinned memory while a CUDA graph is captured). */
#include "backends/cuda/common.cuh"

namespace dlcu {

/* ---- ops: memory ------------------------------------------------------------------------- */

void *cu_mem_alloc(dl_ops_ctx *ctx, size_t bytes) {
    cuda_backend *b = B(ctx);
    cudaSetDevice(b->device);
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: the caller reports it */
        return nullptr;
    }
    (void)b;
    return p;
}

void cu_mem_free(dl_ops_ctx *ctx, void *p) {
    if (!p) return;
    cudaSetDevice(B(ctx)->device);
    check(B(ctx), cudaFree(p), "cudaFree");
}

/* pinned staging for a captured copy (sized before the capture from the last pass) */
void *stage(cuda_backend *b, size_t bytes) {
    size_t at = (b->pinned_used + 255) / 256 * 256;
    if (at + bytes > b->pinned_size) {
        record(b, DL_ERR_BACKEND, "CUDA graph capture: staging exhausted (%zu bytes)", at + bytes);
        return nullptr;
    }
    b->pinned_used = at + bytes;
    return b->pinned + at;
}

void cu_upload(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (!bytes) return;
    /* every pass starts with an upload (the pixels): the detector's GPU becomes this thread's
     * current device, whatever other detectors this thread ran before */
    if (!b->capturing) cudaSetDevice(b->device);
    b->pass_staging += (bytes + 255) / 256 * 256;
    if (b->capturing) { /* the graph keeps a snapshot: sources are constant from pass to pass */
        void *s = stage(b, bytes);
        if (!s) return;
        memcpy(s, src, bytes);
        src = s;
    }
    check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, b->stream), "upload");
}

void cu_download(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (!bytes) return;
    b->pass_staging += (bytes + 255) / 256 * 256;
    if (b->capturing) { /* into staging; copied to dst after each launch */
        void *s = stage(b, bytes);
        if (!s) return;
        if (check(b, cudaMemcpyAsync(s, src, bytes, cudaMemcpyDeviceToHost, b->stream), "download"))
            b->downloads.push_back({s, dst, bytes});
        return;
    }
    if (check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, b->stream), "download"))
        check(b, cudaStreamSynchronize(b->stream), "download");
    if (b->status != DL_OK) memset(dst, 0, bytes); /* never hand back stale numbers */
}

void cu_copy(dl_ops_ctx *ctx, void *dst, const void *src, size_t bytes) {
    cuda_backend *b = B(ctx);
    if (dst == src || !bytes) return;
    check(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, b->stream), "copy");
}

dl_status cu_sync(dl_ops_ctx *ctx, dl_error *err) {
    cuda_backend *b = B(ctx);
    if (!b->capturing) check(b, cudaStreamSynchronize(b->stream), "stream synchronize");
    b->last_pass_staging = b->pass_staging;
    b->pass_staging = 0;
    dl_status s = b->status;
    if (s != DL_OK) {
        fail(err, s, "%s", b->message);
        b->status = DL_OK; /* a sticky CUDA error will come back on the next call */
    }
    return s;
}

} // namespace dlcu
