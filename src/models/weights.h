/*
 * Weight requests: a model builder asks for each tensor by its checkpoint name and shape.
 *
 * The same builder code runs in two modes:
 *  - FILE: tensors come from a safetensors archive, checked for shape and dtype, converted to
 *    float32; afterwards every tensor in the file must have been requested or be a known
 *    training-only/bookkeeping tensor, else the load fails naming it.
 *  - ENUMERATE: no file; every request is recorded (name + shape) and served zeros (or
 *    deterministic random values). This is how the tensor set is derived from config.json
 *    alone (tests) and how random-weight models are written (benchmarks).
 */
#ifndef DL_MODELS_WEIGHTS_H
#define DL_MODELS_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"
#include "io/safetensors.h"
#include "ops/ops.h"

typedef struct dl_weight_record {
    char *name;
    int ndim;
    int64_t shape[4];
    bool skippable; /* recognised but not used for inference (num_batches_tracked, ...) */
} dl_weight_record;

typedef struct dl_weights {
    const dl_safetensors *file; /* NULL in ENUMERATE mode */
    unsigned random_seed;       /* ENUMERATE: 0 = zeros, else uniform random values */
    /* every request, in order */
    dl_weight_record *records;
    size_t n_records, cap_records;
    /* which file tensors were consumed (FILE mode) */
    bool *used;
    /* allocations owned by the model being built: the model's weight buffers, whose indices
     * dl_wref.buf names (stable: a freed one leaves a NULL hole) */
    void **allocs;
    size_t *alloc_floats; /* [n_allocs] size of each allocation, in floats */
    size_t n_allocs, cap_allocs;
    size_t n_params; /* floats handed out */
    dl_error *err;
    dl_status status; /* first failure; later requests return NULL */
} dl_weights;

void dl_weights_init_file(dl_weights *w, const dl_safetensors *file, dl_error *err);
void dl_weights_init_enumerate(dl_weights *w, unsigned random_seed, dl_error *err);
/* Frees the request log; the allocations are moved to the caller by dl_weights_take_allocs. */
void dl_weights_release(dl_weights *w);
/* Hand the owned allocations over (the model frees them with dl_weights_free_allocs). */
void dl_weights_take_allocs(dl_weights *w, void ***allocs, size_t *n);
void dl_weights_free_allocs(void **allocs, size_t n);
/* The same with each allocation's size in floats (a device backend copies them; free `floats`). */
void dl_weights_take_allocs_sized(dl_weights *w, void ***allocs, size_t **floats, size_t *n);

/* The deterministic values ENUMERATE mode serves for `name` (seed != 0). */
void dl_weights_fill_random(const char *name, unsigned seed, float *dst, size_t count);

/* Allocate float scratch owned by the model (NULL and status set on failure). */
float *dl_weights_alloc(dl_weights *w, size_t count);
/* Free one of the loader's allocations the model no longer needs (weights merged into another
 * array at load time); its index stays empty, so other references keep theirs. NULL or an
 * unknown pointer: nothing. */
void dl_weights_free_one(dl_weights *w, void *p);

/*
 * The reference ops take (ops.h: dl_wref) for p, a pointer into one of w's allocations: which
 * buffer, how far into it. NULL gives an absent weight {NULL, DL_WBUF_NONE, 0}; a pointer in
 * none of them sets w->status (DL_ERR_INTERNAL: a builder bug) and gives the same.
 */
dl_wref dl_weights_ref(dl_weights *w, float *p);

/*
 * Request tensor `name` of the given shape (ndim <= 4), returned as float32. `alias` (may be
 * NULL) is an alternative name accepted in files (class_embed.N vs model.decoder.class_embed.N).
 * NULL with w->status set on failure.
 */
float *dl_weights_get(dl_weights *w, const char *name, const char *alias, int ndim,
                      const int64_t *shape);
float *dl_weights_get1(dl_weights *w, const char *name, int64_t d0);
float *dl_weights_get2(dl_weights *w, const char *name, int64_t d0, int64_t d1);

/* A tensor that real files may carry and we do not need (recorded as skippable). */
void dl_weights_note_skippable(dl_weights *w, const char *name, int ndim, const int64_t *shape);

/*
 * Conv (no bias) + BatchNorm, folded: w' = w * g / sqrt(var + eps), b' = beta - mean * g /
 * sqrt(var + eps). Reads `conv_name`.weight [cout, cin, kh, kw] and `bn_name`.{weight, bias,
 * running_mean, running_var}; `bn_tracked` says whether the file also carries
 * num_batches_tracked (nn.BatchNorm2d does, frozen batch norms do not).
 */
bool dl_weights_conv_bn(dl_weights *w, const char *conv_name, const char *bn_name, bool bn_tracked,
                        int cout, int cin, int kh, int kw, float eps, float **weight, float **bias);

/* After building in FILE mode: fail on any file tensor neither requested nor skippable. */
dl_status dl_weights_check_unused(dl_weights *w);

/* printf into a name buffer (names are at most 256 bytes). */
const char *dl_wname(char *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
