/* CUDA backend: Weights: the model's weight buffers copied into one device buffer (plus a
 * bf16/fp16 copy), and a reference's device address: base of its buffer + offset, no lookup. */
#include "backends/cuda/common.cuh"

namespace dlcu {

/* Byte offset of r's weight in wdev, or SIZE_MAX (after recording why) when r names no
 * uploaded buffer. */
static size_t weight_offset(cuda_backend *b, const dl_wref *r) {
    if (r->buf >= b->bufs.size() || b->bufs[r->buf].off == SIZE_MAX ||
        r->offset >= b->bufs[r->buf].floats) {
        record(b, DL_ERR_INTERNAL,
               "a weight reference (buffer %u, offset %zu) names no uploaded "
               "weight buffer",
               (unsigned)r->buf, r->offset);
        return SIZE_MAX;
    }
    return b->bufs[r->buf].off + r->offset * sizeof(float);
}

const float *map_w(cuda_backend *b, const dl_wref *r) {
    if (!r || !r->host) return nullptr;
    if (r->buf == DL_WBUF_NONE) return r->host;
    size_t off = weight_offset(b, r);
    return off == SIZE_MAX ? nullptr : (const float *)(b->wdev + off);
}

const void *map_low(cuda_backend *b, const dl_wref *r) {
    if (!r || !r->host || r->buf == DL_WBUF_NONE || !b->wlow) return nullptr;
    size_t off = weight_offset(b, r);
    return off == SIZE_MAX ? nullptr : (const void *)(b->wlow + off / 2);
}

dl_status map_weights(dl_cuda_backend *pub, void *const *ptrs, const size_t *bytes, size_t n,
                      dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (b->wdev) return fail(err, DL_ERR_INTERNAL, "map_weights called twice");
    cudaSetDevice(b->device);
    /* buffer i of the model at bufs[i], each 256-byte aligned, in the model's order */
    std::vector<wbuf> r(n, wbuf{SIZE_MAX, 0});
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ptrs[i] || !bytes[i]) continue;
        r[i] = wbuf{total, bytes[i] / sizeof(float)};
        total += (bytes[i] + 255) / 256 * 256;
    }
    cudaError_t e = cudaMalloc(&b->wdev, total ? total : 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        b->wdev = nullptr;
        return fail(err, status_of(e), "cuda:%d: cannot allocate %.1f MB for the weights: %s",
                    b->device, total / 1e6, cudaGetErrorString(e));
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].off == SIZE_MAX) continue;
        e = cudaMemcpy(b->wdev + r[i].off, ptrs[i], bytes[i], cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            return fail(err, status_of(e), "cuda:%d: uploading the weights: %s", b->device,
                        cudaGetErrorString(e));
    }
    if (low_precision(b)) {
        e = cudaMalloc(&b->wlow, total / 2 + 256);
        if (e != cudaSuccess) {
            cudaGetLastError();
            b->wlow = nullptr;
            return fail(err, status_of(e), "cuda:%d: cannot allocate %.1f MB for the %s weights",
                        b->device, total / 2e6, b->pub.ops->name);
        }
        size_t nf = total / sizeof(float);
        convert_low(b, nf, (const float *)b->wdev, b->wlow);
        check(b, cudaStreamSynchronize(b->stream), "weights conversion");
        if (b->status != DL_OK) {
            dl_status s = fail(err, b->status, "%s", b->message);
            b->status = DL_OK;
            return s;
        }
    }
    b->bufs.swap(r);
    return DL_OK;
}

} // namespace dlcu
