/*
 * Safetensors reader: one file or a sharded checkpoint (model.safetensors.index.json).
 *
 * The JSON header of every file is parsed and validated up front (dtype known, shape product
 * times element size equals the byte range, every range inside the file); tensor data is then
 * read on demand with pread, so loading never maps or holds a whole file in memory.
 */
#ifndef DL_IO_SAFETENSORS_H
#define DL_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

#define DL_ST_MAX_DIMS 8

typedef enum dl_st_dtype {
    DL_ST_F32,
    DL_ST_F16,
    DL_ST_BF16,
    DL_ST_F64,
    DL_ST_I64,
    DL_ST_I32,
    DL_ST_I16,
    DL_ST_I8,
    DL_ST_U8,
    DL_ST_BOOL
} dl_st_dtype;

typedef struct dl_st_tensor {
    char *name;
    dl_st_dtype dtype;
    int ndim;
    int64_t shape[DL_ST_MAX_DIMS];
    size_t count;    /* elements */
    uint64_t offset; /* absolute byte offset in its file */
    uint64_t nbytes;
    int file; /* index into the archive's files */
} dl_st_tensor;

typedef struct dl_safetensors dl_safetensors;

/*
 * Open `path`: a .safetensors file, or a .safetensors.index.json whose weight_map names the
 * shards (resolved relative to the index's directory).
 */
dl_status dl_safetensors_open(const char *path, dl_safetensors **out, dl_error *err);
void dl_safetensors_close(dl_safetensors *st);

size_t dl_safetensors_count(const dl_safetensors *st);
const dl_st_tensor *dl_safetensors_at(const dl_safetensors *st, size_t index);
const dl_st_tensor *dl_safetensors_find(const dl_safetensors *st, const char *name);
/* The path given to dl_safetensors_open's first file (for messages). */
const char *dl_safetensors_path(const dl_safetensors *st);
/* Total bytes of all files (for memory accounting). */
uint64_t dl_safetensors_file_bytes(const dl_safetensors *st);

/* Read a floating tensor (F32, F16, BF16 or F64) converted to float32 into dst[count]. */
dl_status dl_safetensors_read_f32(const dl_safetensors *st, const dl_st_tensor *t, float *dst,
                                  dl_error *err);

const char *dl_st_dtype_name(dl_st_dtype dtype);
int dl_st_dtype_is_float(dl_st_dtype dtype);

/* IEEE half and bfloat16 to float. */
float dl_f16_to_f32(uint16_t h);
float dl_bf16_to_f32(uint16_t b);

#endif
