/* The core's side of the CUDA backend module: load it at run time and open a device. */
#ifndef DL_BACKENDS_CUDA_LOADER_H
#define DL_BACKENDS_CUDA_LOADER_H

#include "backends/cuda/dl_cuda.h"

/* Load libdoclayout_cuda.so (see cuda_loader.c for where it is looked for) and open GPU
 * `device`. DL_ERR_BACKEND with a message naming every place tried when it cannot load. */
dl_status dl_cuda_open(int device, dl_precision precision, dl_cuda_backend **out, dl_error *err);
/* Path of the loaded module, or NULL. */
const char *dl_cuda_module_path(void);

#endif
