#include "models/weights.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *dl_wname(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 256, fmt, ap);
    va_end(ap);
    return buf;
}

static void init_common(dl_weights *w, dl_error *err) {
    memset(w, 0, sizeof *w);
    w->err = err;
    w->status = DL_OK;
}

void dl_weights_init_file(dl_weights *w, const dl_safetensors *file, dl_error *err) {
    init_common(w, err);
    w->file = file;
    w->used = calloc(dl_safetensors_count(file) + 1, sizeof *w->used);
    if (!w->used) w->status = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
}

void dl_weights_init_enumerate(dl_weights *w, unsigned random_seed, dl_error *err) {
    init_common(w, err);
    w->random_seed = random_seed;
}

void dl_weights_release(dl_weights *w) {
    for (size_t i = 0; i < w->n_records; i++) free(w->records[i].name);
    free(w->records);
    free(w->used);
    dl_weights_free_allocs(w->allocs, w->n_allocs);
    free(w->alloc_floats);
    w->records = NULL;
    w->used = NULL;
    w->allocs = NULL;
    w->alloc_floats = NULL;
    w->n_records = w->n_allocs = 0;
}

void dl_weights_take_allocs(dl_weights *w, void ***allocs, size_t *n) {
    *allocs = w->allocs;
    *n = w->n_allocs;
    free(w->alloc_floats);
    w->alloc_floats = NULL;
    w->allocs = NULL;
    w->n_allocs = w->cap_allocs = 0;
}

void dl_weights_take_allocs_sized(dl_weights *w, void ***allocs, size_t **floats, size_t *n) {
    *allocs = w->allocs;
    *floats = w->alloc_floats;
    *n = w->n_allocs;
    w->alloc_floats = NULL;
    w->allocs = NULL;
    w->n_allocs = w->cap_allocs = 0;
}

void dl_weights_free_allocs(void **allocs, size_t n) {
    for (size_t i = 0; i < n; i++) free(allocs[i]);
    free(allocs);
}

static bool fail_oom(dl_weights *w) {
    if (w->status == DL_OK) w->status = dl_fail(w->err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    return false;
}

float *dl_weights_alloc(dl_weights *w, size_t count) {
    if (w->status != DL_OK) return NULL;
    if (w->n_allocs == w->cap_allocs) {
        size_t cap = w->cap_allocs ? w->cap_allocs * 2 : 256;
        void **na = realloc(w->allocs, cap * sizeof *na);
        if (!na) return fail_oom(w), NULL;
        w->allocs = na;
        size_t *nf = realloc(w->alloc_floats, cap * sizeof *nf);
        if (!nf) return fail_oom(w), NULL;
        w->alloc_floats = nf;
        w->cap_allocs = cap;
    }
    float *p = calloc(count ? count : 1, sizeof(float));
    if (!p) return fail_oom(w), NULL;
    w->alloc_floats[w->n_allocs] = count ? count : 1;
    w->allocs[w->n_allocs++] = p;
    return p;
}

void dl_weights_free_one(dl_weights *w, void *p) {
    if (!p) return;
    for (size_t i = w->n_allocs; i-- > 0;) {
        if (w->allocs[i] != p) continue;
        free(p);
        w->allocs[i] = NULL; /* indices stay: they are the buffers of dl_wref */
        w->alloc_floats[i] = 0;
        return;
    }
}

dl_wref dl_weights_ref(dl_weights *w, float *p) {
    dl_wref r = {NULL, DL_WBUF_NONE, 0};
    if (!p) return r;
    /* newest first: a builder asks for the reference of what it was just given */
    for (size_t i = w->n_allocs; i-- > 0;) {
        uintptr_t a = (uintptr_t)w->allocs[i], q = (uintptr_t)p;
        if (!a || q < a || (q - a) / sizeof(float) >= w->alloc_floats[i]) continue;
        r.host = p;
        r.buf = (uint32_t)i;
        r.offset = (q - a) / sizeof(float);
        return r;
    }
    if (w->status == DL_OK)
        w->status =
            dl_fail(w->err, DL_ERR_INTERNAL, "a weight reference outside the model's weights");
    return r;
}

static bool record(dl_weights *w, const char *name, int ndim, const int64_t *shape,
                   bool skippable) {
    if (w->n_records == w->cap_records) {
        size_t cap = w->cap_records ? w->cap_records * 2 : 256;
        dl_weight_record *nr = realloc(w->records, cap * sizeof *nr);
        if (!nr) return fail_oom(w);
        w->records = nr;
        w->cap_records = cap;
    }
    dl_weight_record *r = &w->records[w->n_records];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    if (!r->name) return fail_oom(w);
    r->ndim = ndim;
    for (int i = 0; i < ndim; i++) r->shape[i] = shape[i];
    r->skippable = skippable;
    w->n_records++;
    return true;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

void dl_weights_fill_random(const char *name, unsigned seed, float *dst, size_t count) {
    /* small values keep random models numerically tame; variances must be positive, and norm
     * gains near 1 keep activations alive */
    unsigned s = seed;
    for (const char *c = name; *c; c++) s = s * 31u + (unsigned char)*c;
    size_t nl = strlen(name);
    bool var = nl > 11 && strcmp(name + nl - 11, "running_var") == 0;
    bool gain = strstr(name, "norm") && nl > 7 && strcmp(name + nl - 7, ".weight") == 0;
    for (size_t i = 0; i < count; i++) {
        s = s * 1664525u + 1013904223u;
        float r = ((float)((s >> 8) & 0xFFFF) / 65536.0f - 0.5f) * 0.1f;
        dst[i] = var ? 1.0f + fabsf(r) : gain ? 1.0f + r : r;
    }
}

float *dl_weights_get(dl_weights *w, const char *name, const char *alias, int ndim,
                      const int64_t *shape) {
    if (w->status != DL_OK) return NULL;
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    if (!record(w, name, ndim, shape, false)) return NULL;
    float *dst = dl_weights_alloc(w, count);
    if (!dst) return NULL;
    w->n_params += count;
    if (!w->file) {
        if (w->random_seed) dl_weights_fill_random(name, w->random_seed, dst, count);
        return dst;
    }
    const dl_st_tensor *t = dl_safetensors_find(w->file, name);
    if (!t && alias) t = dl_safetensors_find(w->file, alias);
    if (!t) {
        w->status = dl_fail(w->err, DL_ERR_MODEL, "%s: missing tensor '%s'",
                            dl_safetensors_path(w->file), name);
        return NULL;
    }
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[96], have[96];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(have, sizeof have, t->ndim, t->shape);
        w->status =
            dl_fail(w->err, DL_ERR_MODEL, "%s: tensor '%s' has shape %s, the config needs %s",
                    dl_safetensors_path(w->file), t->name, have, want);
        return NULL;
    }
    if (!dl_st_dtype_is_float(t->dtype)) {
        w->status =
            dl_fail(w->err, DL_ERR_MODEL, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16",
                    dl_safetensors_path(w->file), t->name, dl_st_dtype_name(t->dtype));
        return NULL;
    }
    dl_status s = dl_safetensors_read_f32(w->file, t, dst, w->err);
    if (s != DL_OK) {
        w->status = s;
        return NULL;
    }
    /* mark the tensor and its alias as consumed */
    for (size_t i = 0; i < dl_safetensors_count(w->file); i++) {
        const char *n = dl_safetensors_at(w->file, i)->name;
        if (strcmp(n, name) == 0 || (alias && strcmp(n, alias) == 0)) w->used[i] = true;
    }
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(dst[i])) {
            w->status = dl_fail(w->err, DL_ERR_MODEL,
                                "%s: tensor '%s' holds a non-finite value at index %zu",
                                dl_safetensors_path(w->file), t->name, i);
            return NULL;
        }
    }
    return dst;
}

float *dl_weights_get1(dl_weights *w, const char *name, int64_t d0) {
    int64_t s[1] = {d0};
    return dl_weights_get(w, name, NULL, 1, s);
}

float *dl_weights_get2(dl_weights *w, const char *name, int64_t d0, int64_t d1) {
    int64_t s[2] = {d0, d1};
    return dl_weights_get(w, name, NULL, 2, s);
}

void dl_weights_note_skippable(dl_weights *w, const char *name, int ndim, const int64_t *shape) {
    if (w->status != DL_OK) return;
    record(w, name, ndim, shape, true);
    if (w->file) {
        for (size_t i = 0; i < dl_safetensors_count(w->file); i++)
            if (strcmp(dl_safetensors_at(w->file, i)->name, name) == 0) w->used[i] = true;
    }
}

bool dl_weights_conv_bn(dl_weights *w, const char *conv_name, const char *bn_name, bool bn_tracked,
                        int cout, int cin, int kh, int kw, float eps, float **weight,
                        float **bias) {
    char n[256];
    int64_t ws[4] = {cout, cin, kh, kw};
    float *cw = dl_weights_get(w, dl_wname(n, "%s.weight", conv_name), NULL, 4, ws);
    float *g = dl_weights_get1(w, dl_wname(n, "%s.weight", bn_name), cout);
    float *b = dl_weights_get1(w, dl_wname(n, "%s.bias", bn_name), cout);
    float *m = dl_weights_get1(w, dl_wname(n, "%s.running_mean", bn_name), cout);
    float *v = dl_weights_get1(w, dl_wname(n, "%s.running_var", bn_name), cout);
    if (bn_tracked)
        dl_weights_note_skippable(w, dl_wname(n, "%s.num_batches_tracked", bn_name), 0, NULL);
    float *fb = dl_weights_alloc(w, (size_t)cout);
    if (!cw || !g || !b || !m || !v || !fb) return false;
    size_t per = (size_t)cin * kh * kw;
    for (int o = 0; o < cout; o++) {
        /* frozen BN: y = x * g * rsqrt(var + eps) + (b - mean * g * rsqrt(var + eps)) */
        float scale = g[o] / sqrtf(v[o] + eps);
        for (size_t i = 0; i < per; i++) cw[(size_t)o * per + i] *= scale;
        fb[o] = b[o] - m[o] * scale;
    }
    w->n_params += (size_t)cout;
    w->n_params -= 4 * (size_t)cout; /* the four BN vectors became one bias */
    *weight = cw;
    *bias = fb;
    return true;
}

dl_status dl_weights_check_unused(dl_weights *w) {
    if (w->status != DL_OK || !w->file) return w->status;
    for (size_t i = 0; i < dl_safetensors_count(w->file); i++) {
        if (w->used[i]) continue;
        const char *n = dl_safetensors_at(w->file, i)->name;
        /* training-only and bookkeeping tensors that real checkpoints carry */
        if (strstr(n, "num_batches_tracked") || strstr(n, "denoising_class_embed")) continue;
        return w->status = dl_fail(w->err, DL_ERR_MODEL,
                                   "%s: unexpected tensor '%s' (not part of the model that "
                                   "config.json describes)",
                                   dl_safetensors_path(w->file), n);
    }
    return DL_OK;
}
