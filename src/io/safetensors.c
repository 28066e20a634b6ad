#define _GNU_SOURCE
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/file.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* 100 MB of JSON header is already absurd */
#define ST_MAX_SHARDS 4096

typedef struct st_file {
    char *path;
    int fd;
    uint64_t size;
} st_file;

struct dl_safetensors {
    st_file *files;
    int n_files;
    dl_st_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

const char *dl_st_dtype_name(dl_st_dtype d) {
    static const char *names[] = {"F32", "F16", "BF16", "F64", "I64",
                                  "I32", "I16", "I8",   "U8",  "BOOL"};
    return (unsigned)d < sizeof names / sizeof *names ? names[d] : "?";
}

int dl_st_dtype_is_float(dl_st_dtype d) {
    return d == DL_ST_F32 || d == DL_ST_F16 || d == DL_ST_BF16 || d == DL_ST_F64;
}

static int dtype_size(dl_st_dtype d) {
    switch (d) {
    case DL_ST_F64:
    case DL_ST_I64: return 8;
    case DL_ST_F32:
    case DL_ST_I32: return 4;
    case DL_ST_F16:
    case DL_ST_BF16:
    case DL_ST_I16: return 2;
    case DL_ST_I8:
    case DL_ST_U8:
    case DL_ST_BOOL: return 1;
    }
    return 0;
}

static int parse_dtype(const char *s, dl_st_dtype *out) {
    for (int d = DL_ST_F32; d <= DL_ST_BOOL; d++) {
        if (strcmp(s, dl_st_dtype_name((dl_st_dtype)d)) == 0) {
            *out = (dl_st_dtype)d;
            return 1;
        }
    }
    return 0;
}

float dl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float dl_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static dl_status pread_all(const st_file *f, void *buf, size_t n, uint64_t off, dl_error *err) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(f->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return dl_fail(err, r < 0 ? DL_ERR_IO : DL_ERR_FORMAT, "%s: %s at byte %llu", f->path,
                           r < 0 ? strerror(errno) : "unexpected end of file",
                           (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return DL_OK;
}

static dl_status add_tensor(dl_safetensors *st, const dl_st_tensor *t, dl_error *err) {
    if (st->n_tensors == st->cap_tensors) {
        size_t cap = st->cap_tensors ? st->cap_tensors * 2 : 256;
        dl_st_tensor *nt = realloc(st->tensors, cap * sizeof *nt);
        if (!nt) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory reading tensor table");
        st->tensors = nt;
        st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors++] = *t;
    return DL_OK;
}

/* Parse and validate the header of file `fi`, appending its tensors. */
static dl_status parse_file(dl_safetensors *st, int fi, dl_error *err) {
    st_file *f = &st->files[fi];
    unsigned char lenbuf[8];
    if (f->size < 8)
        return dl_fail(err, DL_ERR_FORMAT, "%s: truncated safetensors file (%llu bytes, no header)",
                       f->path, (unsigned long long)f->size);
    dl_status s = pread_all(f, lenbuf, 8, 0, err);
    if (s != DL_OK) return s;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenbuf[i];
    if (hlen > f->size - 8)
        return dl_fail(err, DL_ERR_FORMAT,
                       "%s: header length %llu is larger than the file (%llu bytes): truncated or "
                       "not a safetensors file",
                       f->path, (unsigned long long)hlen, (unsigned long long)f->size);
    if (hlen > ST_MAX_HEADER || hlen < 2)
        return dl_fail(err, DL_ERR_FORMAT, "%s: implausible header length %llu", f->path,
                       (unsigned long long)hlen);
    char *json = malloc((size_t)hlen + 1);
    if (!json) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    s = pread_all(f, json, (size_t)hlen, 8, err);
    if (s != DL_OK) {
        free(json);
        return s;
    }
    json[hlen] = '\0';
    cJSON *root = cJSON_ParseWithLength(json, (size_t)hlen);
    free(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return dl_fail(err, DL_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    }
    uint64_t data_start = 8 + hlen, data_size = f->size - data_start;
    s = DL_OK;
    for (cJSON *e = root->child; e && s == DL_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        dl_st_tensor t;
        memset(&t, 0, sizeof t);
        t.file = fi;
        cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
            cJSON_GetArraySize(jo) != 2) {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: tensor '%s' has a malformed header entry", f->path,
                        e->string);
            break;
        }
        if (!parse_dtype(jd->valuestring, &t.dtype)) {
            s = dl_fail(err, DL_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype %s",
                        f->path, e->string, jd->valuestring);
            break;
        }
        int nd = cJSON_GetArraySize(js);
        if (nd > DL_ST_MAX_DIMS) {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: tensor '%s' has %d dimensions", f->path, e->string,
                        nd);
            break;
        }
        size_t count = 1;
        int ok = 1;
        for (int i = 0; i < nd && ok; i++) {
            cJSON *d = cJSON_GetArrayItem(js, i);
            if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e15 ||
                d->valuedouble != (double)(int64_t)d->valuedouble) {
                ok = 0;
                break;
            }
            t.shape[i] = (int64_t)d->valuedouble;
            if (!dl_mul_size(count, (size_t)t.shape[i], &count)) ok = 0;
        }
        t.ndim = nd;
        double o0 = cJSON_GetArrayItem(jo, 0)->valuedouble;
        double o1 = cJSON_GetArrayItem(jo, 1)->valuedouble;
        size_t nbytes;
        if (!ok || !dl_mul_size(count, (size_t)dtype_size(t.dtype), &nbytes) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(jo, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(jo, 1)) || o0 < 0 || o1 < o0 ||
            o1 > (double)data_size) {
            s = dl_fail(err, DL_ERR_FORMAT,
                        "%s: tensor '%s' has an invalid shape or byte range (file truncated?)",
                        f->path, e->string);
            break;
        }
        if ((uint64_t)(o1 - o0) != nbytes) {
            s = dl_fail(err, DL_ERR_FORMAT,
                        "%s: tensor '%s' occupies %llu bytes but its shape and dtype need %zu",
                        f->path, e->string, (unsigned long long)(o1 - o0), nbytes);
            break;
        }
        t.count = count;
        t.nbytes = nbytes;
        t.offset = data_start + (uint64_t)o0;
        t.name = strdup(e->string);
        if (!t.name) {
            s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        if (dl_safetensors_find(st, t.name)) {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, t.name);
            free(t.name);
            break;
        }
        s = add_tensor(st, &t, err);
        if (s != DL_OK) free(t.name);
    }
    cJSON_Delete(root);
    return s;
}

static dl_status open_file(st_file *f, const char *path, dl_error *err) {
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return dl_fail(err, DL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return dl_fail(err, DL_ERR_IO, "%s: not a regular file", path);
    f->size = (uint64_t)sb.st_size;
    return DL_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Shard file names from an index's weight_map (unique, in first-seen order). */
static dl_status open_index(dl_safetensors *st, const char *path, dl_error *err) {
    void *buf;
    size_t size;
    dl_status s = dl_read_file(path, (size_t)64 << 20, &buf, &size, err);
    if (s != DL_OK) return s;
    cJSON *root = cJSON_ParseWithLength(buf, size);
    free(buf);
    cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return dl_fail(err, DL_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else dir[0] = '\0';
    int n = 0;
    for (cJSON *e = map->child; e; e = e->next) n++;
    st->files = calloc((size_t)(n ? n : 1), sizeof *st->files);
    if (!st->files) {
        cJSON_Delete(root);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (cJSON *e = map->child; e && s == DL_OK; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || e->valuestring[0] == '.') {
            s = dl_fail(err, DL_ERR_FORMAT, "%s: invalid shard name for '%s'", path, e->string);
            break;
        }
        int seen = 0;
        for (int i = 0; i < st->n_files && !seen; i++) {
            const char *base = strrchr(st->files[i].path, '/');
            seen = strcmp(base ? base + 1 : st->files[i].path, e->valuestring) == 0;
        }
        if (seen) continue;
        if (st->n_files >= ST_MAX_SHARDS) {
            s = dl_fail(err, DL_ERR_LIMIT, "%s: too many shards", path);
            break;
        }
        char shard[PATH_MAX * 2];
        snprintf(shard, sizeof shard, "%s%s", dir, e->valuestring);
        s = open_file(&st->files[st->n_files++], shard, err);
        if (s == DL_OK) s = parse_file(st, st->n_files - 1, err);
    }
    /* every tensor the index names must be in the shard it names */
    for (cJSON *e = map->child; e && s == DL_OK; e = e->next) {
        const dl_st_tensor *t = dl_safetensors_find(st, e->string);
        if (!t)
            s = dl_fail(err, DL_ERR_FORMAT, "%s: tensor '%s' is not in shard %s", path, e->string,
                        e->valuestring);
    }
    cJSON_Delete(root);
    return s;
}

dl_status dl_safetensors_open(const char *path, dl_safetensors **out, dl_error *err) {
    *out = NULL;
    if (!path) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "safetensors path is NULL");
    dl_safetensors *st = calloc(1, sizeof *st);
    if (!st) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    dl_status s;
    if (ends_with(path, ".json")) {
        s = open_index(st, path, err);
    } else {
        st->files = calloc(1, sizeof *st->files);
        if (!st->files) {
            s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            st->n_files = 1;
            s = open_file(&st->files[0], path, err);
            if (s == DL_OK) s = parse_file(st, 0, err);
        }
    }
    if (s != DL_OK) {
        dl_safetensors_close(st);
        return s;
    }
    *out = st;
    return DL_OK;
}

void dl_safetensors_close(dl_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].fd >= 0) close(st->files[i].fd);
        free(st->files[i].path);
    }
    for (size_t i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->files);
    free(st->tensors);
    free(st);
}

size_t dl_safetensors_count(const dl_safetensors *st) { return st->n_tensors; }

const dl_st_tensor *dl_safetensors_at(const dl_safetensors *st, size_t i) {
    return i < st->n_tensors ? &st->tensors[i] : NULL;
}

const dl_st_tensor *dl_safetensors_find(const dl_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *dl_safetensors_path(const dl_safetensors *st) {
    return st->n_files ? st->files[0].path : "model.safetensors";
}

uint64_t dl_safetensors_file_bytes(const dl_safetensors *st) {
    uint64_t n = 0;
    for (int i = 0; i < st->n_files; i++) n += st->files[i].size;
    return n;
}

dl_status dl_safetensors_read_f32(const dl_safetensors *st, const dl_st_tensor *t, float *dst,
                                  dl_error *err) {
    const st_file *f = &st->files[t->file];
    if (!dl_st_dtype_is_float(t->dtype))
        return dl_fail(err, DL_ERR_MODEL, "%s: tensor '%s' has dtype %s, expected a float type",
                       f->path, t->name, dl_st_dtype_name(t->dtype));
    if (t->dtype == DL_ST_F32) return pread_all(f, dst, (size_t)t->nbytes, t->offset, err);
    /* convert in chunks through a small bounce buffer */
    unsigned char chunk[1 << 16];
    int es = dtype_size(t->dtype);
    size_t per = sizeof chunk / (size_t)es, done = 0;
    while (done < t->count) {
        size_t n = t->count - done < per ? t->count - done : per;
        dl_status s = pread_all(f, chunk, n * (size_t)es, t->offset + done * (size_t)es, err);
        if (s != DL_OK) return s;
        for (size_t i = 0; i < n; i++) {
            if (t->dtype == DL_ST_F64) {
                double v;
                memcpy(&v, chunk + i * 8, 8);
                dst[done + i] = (float)v;
            } else {
                uint16_t h;
                memcpy(&h, chunk + i * 2, 2);
                dst[done + i] = t->dtype == DL_ST_F16 ? dl_f16_to_f32(h) : dl_bf16_to_f32(h);
            }
        }
        done += n;
    }
    return DL_OK;
}
