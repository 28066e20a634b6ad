/* NumPy .npy files (format 1.0/2.0/3.0, C order): float32, uint8, int64 and float64. */
#ifndef DL_IO_NPY_H
#define DL_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

/* DL_NPY_MAX_DIMS, dl_npy_write_f32 and dl_npy_read_f32 (float32 only): doclayout.h */

typedef enum dl_npy_dtype { DL_NPY_F32, DL_NPY_U8, DL_NPY_I64, DL_NPY_F64 } dl_npy_dtype;

typedef struct dl_npy {
    dl_npy_dtype dtype;
    int ndim;
    int64_t shape[DL_NPY_MAX_DIMS];
    size_t count; /* product of shape */
    void *data;   /* count elements, native little-endian */
} dl_npy;

/* Read a whole .npy file. On failure *out is zeroed and nothing is leaked. */
dl_status dl_npy_read(const char *path, dl_npy *out, dl_error *err);
dl_status dl_npy_parse(const void *bytes, size_t size, const char *name, dl_npy *out,
                       dl_error *err);
void dl_npy_free(dl_npy *npy);

#endif
