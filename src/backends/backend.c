/* The backend table: one line per backend. */
#include "backends/backend.h"

#include "core/error.h"

static const struct {
    dl_device device;
    const char *name;
    dl_backend_open_fn open;
} backends[] = {
    {DL_DEVICE_CPU, "cpu", dl_backend_cpu_open},
    {DL_DEVICE_CUDA, "cuda", dl_backend_cuda_open},
};

dl_status dl_backend_open(dl_device device, const dl_backend_open_args *a, dl_backend **out,
                          dl_error *err) {
    *out = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i].device == device) return backends[i].open(a, out, err);
    return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "no backend for device %d", (int)device);
}
