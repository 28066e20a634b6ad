/* Public entry points over internal modules: the CPU kernel level, float32 .npy reading. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "core/error.h"
#include "io/npy.h"

dl_status dl_cpu_set_kernels(const char *name, dl_error *err) {
    dl_cpu_level level;
    if (!name || !dl_cpu_level_parse(name, &level))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT,
                       "CPU level must be scalar, avx2, avx512, avx512bf16, neon or neonbf16, "
                       "not '%s'",
                       name ? name : "(null)");
    if (!dl_cpu_set_level(level))
        return dl_fail(err, DL_ERR_UNSUPPORTED, "CPU level %s: this CPU runs at most %s", name,
                       dl_cpu_level_name(dl_cpu_caps_get()->max_level));
    return DL_OK;
}

dl_status dl_npy_read_f32(const char *path, float **data, int *ndim, int64_t shape[DL_NPY_MAX_DIMS],
                          dl_error *err) {
    if (!data || !ndim || !shape)
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_npy_read_f32: NULL argument");
    *data = NULL;
    *ndim = 0;
    dl_npy npy;
    dl_status s = dl_npy_read(path, &npy, err);
    if (s != DL_OK) return s;
    if (npy.dtype != DL_NPY_F32) {
        dl_npy_free(&npy);
        return dl_fail(err, DL_ERR_FORMAT, "%s: not float32", path);
    }
    *data = npy.data; /* the caller owns it now */
    *ndim = npy.ndim;
    memcpy(shape, npy.shape, sizeof npy.shape);
    return DL_OK;
}
