/* CUDA backend: CUDA graphs: capture one pass, replay it (synchronously or in two halves for
 * lanes). */
#include "backends/cuda/common.cuh"

namespace dlcu {

/* ---- CUDA graphs ------------------------------------------------------------------------- */

void graph_drop(dl_cuda_backend *pub) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (b->capturing) { /* abandon a capture in progress */
        cudaGraph_t g = nullptr;
        cudaStreamEndCapture(b->stream, &g);
        if (g) cudaGraphDestroy(g);
        b->capturing = false;
    }
    if (b->graph_exec) cudaGraphExecDestroy(b->graph_exec);
    if (b->graph) cudaGraphDestroy(b->graph);
    b->graph_exec = nullptr;
    b->graph = nullptr;
    b->downloads.clear();
    b->pinned_used = 0;
    cudaGetLastError(); /* capture failures are not sticky; the caller runs eagerly */
    b->status = DL_OK;
}

dl_status graph_begin(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    graph_drop(pub);
    cudaSetDevice(b->device);
    /* staging for the pass's uploads and downloads, from what the last eager pass moved */
    size_t need = b->last_pass_staging + (64u << 10);
    if (need > b->pinned_size) {
        if (b->pinned) cudaFreeHost(b->pinned);
        b->pinned = nullptr;
        b->pinned_size = 0;
        cudaError_t e = cudaMallocHost((void **)&b->pinned, need);
        if (e != cudaSuccess) {
            cudaGetLastError();
            return fail(err, status_of(e), "CUDA graph: pinned staging: %s", cudaGetErrorString(e));
        }
        b->pinned_size = need;
    }
    b->pinned_used = 0;
    cudaError_t e = cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return fail(err, DL_ERR_BACKEND, "CUDA graph capture: %s", cudaGetErrorString(e));
    }
    b->capturing = true;
    return DL_OK;
}

dl_status graph_end(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b->capturing) return fail(err, DL_ERR_INTERNAL, "graph_end without graph_begin");
    b->capturing = false;
    cudaError_t e = cudaStreamEndCapture(b->stream, &b->graph);
    if (e == cudaSuccess && b->status == DL_OK)
        e = cudaGraphInstantiate(&b->graph_exec, b->graph, 0);
    if (e != cudaSuccess || b->status != DL_OK) {
        dl_status s = fail(err, DL_ERR_BACKEND, "CUDA graph capture failed: %s",
                           b->status != DL_OK ? b->message : cudaGetErrorString(e));
        graph_drop(pub);
        return s;
    }
    return DL_OK;
}

/* Start a replay on the backend's stream and return at once (detector lanes overlap). */
dl_status graph_launch_async(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (!b->graph_exec) return fail(err, DL_ERR_INTERNAL, "no CUDA graph to launch");
    cudaSetDevice(b->device);
    check(b, cudaGraphLaunch(b->graph_exec, b->stream), "graph launch");
    if (b->status != DL_OK) {
        dl_status s = fail(err, b->status, "%s", b->message);
        b->status = DL_OK;
        return s;
    }
    return DL_OK;
}

/* Wait for the replay started by graph_launch_async and finish its downloads. */
dl_status graph_wait(dl_cuda_backend *pub, dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    cudaSetDevice(b->device);
    check(b, cudaStreamSynchronize(b->stream), "graph launch");
    if (b->status != DL_OK) {
        dl_status s = fail(err, b->status, "%s", b->message);
        b->status = DL_OK;
        return s;
    }
    for (const staged &s : b->downloads) memcpy(s.dst, s.pinned, s.bytes);
    return DL_OK;
}

dl_status graph_launch(dl_cuda_backend *pub, dl_error *err) {
    dl_status s = graph_launch_async(pub, err);
    return s == DL_OK ? graph_wait(pub, err) : s;
}

} // namespace dlcu
