/*
 * Which GPU architectures a CUDA binary carries code for, read from the file itself: the
 * `.nv_fatbin` section of an ELF shared object (libdoclayout_cuda.so) holds one or more
 * fat binaries, each a list of entries that are either SASS for one sm_XY (kind 2, runs only
 * on that major version, at that or a higher minor) or PTX for compute_XY (kind 1, JIT-compiled
 * by the driver for any later GPU whose driver knows that PTX version).
 *
 * Layout (stable since CUDA 4; the same in CUDA 13): a 16-byte header {u32 magic 0xBA55ED50,
 * u16 version, u16 header size, u64 payload size}, then entries {u16 kind, u16, u32 header
 * size, u64 payload size, ..., u32 arch at offset 28, ...} followed by their payload. Only the
 * headers are read; compressed payloads need no decompression. Every offset is bounds-checked.
 * `doclayout doctor` uses this to say whether a GPU gets native code or must JIT from PTX.
 */
#ifndef DL_IO_FATBIN_H
#define DL_IO_FATBIN_H

#include <stddef.h>

#include "doclayout.h"

#define DL_FATBIN_MAX_ARCHS DL_CUDA_MAX_ARCHS

typedef struct dl_cuda_code {
    int sass[DL_FATBIN_MAX_ARCHS]; /* sm_XY as XY (90, 120, 121, ...), sorted, unique */
    int n_sass;
    int ptx[DL_FATBIN_MAX_ARCHS]; /* compute_XY */
    int n_ptx;
} dl_cuda_code;

/* dl_cuda_code_match (what code offers one GPU): doclayout.h */

/* Parse the fat binaries of an ELF64 little-endian image in memory. DL_ERR_FORMAT when the
 * image is not ELF64 or a fat binary is malformed; an ELF without .nv_fatbin gives an empty
 * list (DL_OK). */
dl_status dl_fatbin_scan_elf(const void *bytes, size_t size, dl_cuda_code *out, dl_error *err);

/* The same for a file (reads only the ELF headers and the .nv_fatbin section). */
dl_status dl_fatbin_scan_file(const char *path, dl_cuda_code *out, dl_error *err);

/* What `code` offers a GPU of compute capability sm (major*10 + minor). `which` (may be
 * NULL) receives the architecture used: the sm of the SASS, or the compute_XY of the PTX. */
dl_cuda_code_match dl_cuda_code_for(const dl_cuda_code *code, int sm, int *which);

#endif
