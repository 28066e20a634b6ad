/* CUDA backend: Weights: one device buffer (plus a bf16/fp16 copy) and the lookup from the model's
 * host pointers to it. */
#include "backends/cuda/common.cuh"

namespace dlcu {

/* Host weight pointer -> its device copy (pointers outside the table are returned as is). */
const wrange *find_range(const cuda_backend *b, const void *p) {
    uintptr_t a = (uintptr_t)p;
    const std::vector<wrange> &r = b->ranges;
    size_t lo = 0, hi = r.size();
    while (lo < hi) { /* first range with host > a */
        size_t mid = (lo + hi) / 2;
        if (r[mid].host <= a) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return nullptr;
    const wrange &c = r[lo - 1];
    return a < c.host + c.bytes ? &c : nullptr;
}

const float *map_w(const cuda_backend *b, const float *p) {
    if (!p) return p;
    const wrange *r = find_range(b, p);
    if (!r) return p;
    return (const float *)(b->wdev + r->off + ((uintptr_t)p - r->host));
}

/* The bf16/fp16 copy of a registered weight, or NULL. */
const void *map_low(const cuda_backend *b, const float *p) {
    if (!p || !b->wlow) return nullptr;
    const wrange *r = find_range(b, p);
    if (!r) return nullptr;
    return b->wlow + (r->off + ((uintptr_t)p - r->host)) / 2;
}

dl_status map_weights(dl_cuda_backend *pub, void *const *ptrs, const size_t *bytes, size_t n,
                      dl_error *err) {
    cuda_backend *b = reinterpret_cast<cuda_backend *>(pub);
    if (b->wdev) return fail(err, DL_ERR_INTERNAL, "map_weights called twice");
    cudaSetDevice(b->device);
    std::vector<wrange> r;
    r.reserve(n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ptrs[i] || !bytes[i]) continue;
        r.push_back({(uintptr_t)ptrs[i], bytes[i], total});
        total += (bytes[i] + 255) / 256 * 256;
    }
    std::sort(r.begin(), r.end(), [](const wrange &a, const wrange &c) { return a.host < c.host; });
    for (size_t i = 1; i < r.size(); i++)
        if (r[i - 1].host + r[i - 1].bytes > r[i].host)
            return fail(err, DL_ERR_INTERNAL, "map_weights: overlapping host ranges");
    cudaError_t e = cudaMalloc(&b->wdev, total ? total : 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        b->wdev = nullptr;
        return fail(err, status_of(e), "cuda:%d: cannot allocate %.1f MB for the weights: %s",
                    b->device, total / 1e6, cudaGetErrorString(e));
    }
    for (const wrange &w : r) {
        e = cudaMemcpy(b->wdev + w.off, (const void *)w.host, w.bytes, cudaMemcpyHostToDevice);
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
    b->ranges.swap(r);
    return DL_OK;
}

} // namespace dlcu
