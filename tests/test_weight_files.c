/*
 * The weight-file forms real checkpoints come in, on copies of the golden heron-like model:
 * F16 and BF16 tensors, a sharded checkpoint (model.safetensors.index.json), the older
 * top-level head names (class_embed.N / bbox_embed.N) alone and next to the new ones; and one
 * model shared by several detectors running in different threads at once.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "api/internal.h"
#include "io/file.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "test_scratch.h"
#include "test_util.h"

static char src_dir[1024], tmp_dir[256];
static float *pixels;
static int img_h, img_w;

typedef struct tensor_out {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[8];
    const void *data;
    size_t nbytes;
} tensor_out;

static void write_safetensors(const char *path, const tensor_out *t, int n) {
    cJSON *h = cJSON_CreateObject();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        cJSON *s = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < t[i].ndim; k++)
            cJSON_AddItemToArray(s, cJSON_CreateNumber((double)t[i].shape[k]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += t[i].nbytes;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *js = cJSON_PrintUnformatted(h);
    uint64_t len = strlen(js);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((len >> (8 * i)) & 0xff), f);
    fwrite(js, 1, len, f);
    for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].nbytes, f);
    fclose(f);
    free(js);
    cJSON_Delete(h);
}

static void copy_configs(void) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s && cp %s/config.json %s/preprocessor_config.json %s/",
             tmp_dir, tmp_dir, src_dir, src_dir, tmp_dir);
    CHECK(system(cmd) == 0);
}

/* All tensors of the golden file, as raw bytes. */
static tensor_out *read_all(dl_safetensors *st, void ***bufs, int *n) {
    *n = (int)dl_safetensors_count(st);
    tensor_out *t = calloc((size_t)*n, sizeof *t);
    *bufs = calloc((size_t)*n, sizeof **bufs);
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors", src_dir);
    FILE *f = fopen(p, "rb");
    for (int i = 0; i < *n; i++) {
        const dl_st_tensor *s = dl_safetensors_at(st, (size_t)i);
        t[i].name = s->name;
        t[i].dtype = dl_st_dtype_name(s->dtype);
        t[i].ndim = s->ndim;
        memcpy(t[i].shape, s->shape, sizeof t[i].shape);
        (*bufs)[i] = malloc(s->nbytes ? s->nbytes : 1);
        fseek(f, (long)s->offset, SEEK_SET);
        CHECK(fread((*bufs)[i], 1, s->nbytes, f) == s->nbytes);
        t[i].data = (*bufs)[i];
        t[i].nbytes = s->nbytes;
    }
    fclose(f);
    return t;
}

/* logits of the model in `dir` (Q*L floats, caller frees) */
static float *run_model(const char *dir, size_t *n) {
    dl_error err;
    dl_model *m = NULL;
    dl_detector *d = NULL;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    if (!m) return NULL;
    CHECK_OK(dl_detector_create(m, NULL, &d, &err), &err);
    *n = (size_t)dl_model_num_queries(m) * dl_model_num_labels(m);
    float *l = calloc(*n, sizeof(float)),
          *b = calloc((size_t)dl_model_num_queries(m) * 4, sizeof(float));
    CHECK_OK(dl_detector_forward(d, pixels, 1, img_h, img_w, l, b, &err), &err);
    free(b);
    dl_detector_free(d);
    dl_model_free(m);
    return l;
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static uint16_t to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int exp = (int)((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffff;
    if (exp <= 0) return (uint16_t)sign; /* tiny values flush to zero: fine for this test */
    if (exp >= 31) return (uint16_t)(sign | 0x7bff);
    uint32_t h = sign | (uint32_t)exp << 10 | man >> 13;
    if ((man & 0x1fff) > 0x1000 || ((man & 0x1fff) == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}

typedef struct thread_arg {
    const dl_model *m;
    float *logits;
    int ok;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    dl_error err;
    dl_detector *d = NULL;
    dl_detector_options o = dl_detector_default_options();
    o.num_threads = 1;
    if (dl_detector_create(a->m, &o, &d, &err) != DL_OK) return NULL;
    float *b = calloc((size_t)dl_model_num_queries(a->m) * 4, sizeof(float));
    for (int r = 0; r < 2; r++)
        a->ok = dl_detector_forward(d, pixels, 1, img_h, img_w, a->logits, b, &err) == DL_OK;
    free(b);
    dl_detector_free(d);
    return NULL;
}

int main(void) {
    dl_test_tiny_model(src_dir, sizeof src_dir);
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/doclayout_weights_%d", (int)getpid());
    dl_error err;
    dl_npy u8;
    char p[1400];
    snprintf(p, sizeof p, "%s/tests/fixtures/golden/rtdetrv2-tiny/pixel_values_u8.npy",
             DL_SOURCE_DIR);
    CHECK_OK(dl_npy_read(p, &u8, &err), &err);
    img_h = (int)u8.shape[2];
    img_w = (int)u8.shape[3];
    pixels = malloc(u8.count * sizeof(float));
    for (size_t i = 0; i < u8.count; i++) pixels[i] = ((uint8_t *)u8.data)[i] / 255.0f;
    size_t n_logits = 0;
    float *base = run_model(src_dir, &n_logits);

    dl_safetensors *st = NULL;
    snprintf(p, sizeof p, "%s/model.safetensors", src_dir);
    CHECK_OK(dl_safetensors_open(p, &st, &err), &err);
    void **bufs;
    int n;
    tensor_out *t = read_all(st, &bufs, &n);

    /* 1. sharded: two files and an index naming them */
    copy_configs();
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", tmp_dir);
    write_safetensors(p, t, n / 2);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", tmp_dir);
    write_safetensors(p, t + n / 2, n - n / 2);
    cJSON *idx = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(idx, "weight_map");
    for (int i = 0; i < n; i++)
        cJSON_AddStringToObject(map, t[i].name,
                                i < n / 2 ? "model-00001-of-00002.safetensors"
                                          : "model-00002-of-00002.safetensors");
    char *js = cJSON_Print(idx);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", tmp_dir);
    FILE *f = fopen(p, "w");
    fputs(js, f);
    fclose(f);
    free(js);
    cJSON_Delete(idx);
    size_t nn;
    float *sharded = run_model(tmp_dir, &nn);
    CHECK_MSG(sharded && base && memcmp(sharded, base, n_logits * sizeof(float)) == 0,
              "sharded checkpoint gives other outputs");
    free(sharded);

    /* 2. old head names: model.decoder.{class,bbox}_embed.N -> {class,bbox}_embed.N */
    copy_configs();
    tensor_out *t2 = calloc((size_t)n * 2, sizeof *t2);
    char **names = calloc((size_t)n, sizeof *names);
    int n2 = 0;
    for (int i = 0; i < n; i++) {
        t2[n2] = t[i];
        if (strncmp(t[i].name, "model.decoder.class_embed.", 26) == 0 ||
            strncmp(t[i].name, "model.decoder.bbox_embed.", 25) == 0) {
            names[i] = strdup(t[i].name + strlen("model.decoder."));
            t2[n2].name = names[i];
        }
        n2++;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", tmp_dir);
    write_safetensors(p, t2, n2);
    float *old = run_model(tmp_dir, &nn);
    CHECK_MSG(old && base && memcmp(old, base, n_logits * sizeof(float)) == 0,
              "old head names differ");
    free(old);
    /* both names at once, as files written by older transformers */
    for (int i = 0; i < n; i++)
        if (names[i]) t2[n2++] = t[i];
    write_safetensors(p, t2, n2);
    float *both = run_model(tmp_dir, &nn);
    CHECK_MSG(both && base && memcmp(both, base, n_logits * sizeof(float)) == 0,
              "aliased heads differ");
    free(both);

    /* 3. F16 and BF16 weights (integer buffers stay I64) */
    for (int mode = 0; mode < 2; mode++) {
        copy_configs();
        tensor_out *t3 = calloc((size_t)n, sizeof *t3);
        void **half = calloc((size_t)n, sizeof *half);
        for (int i = 0; i < n; i++) {
            t3[i] = t[i];
            if (strcmp(t[i].dtype, "F32") != 0) continue;
            size_t cnt = t[i].nbytes / 4;
            uint16_t *h = malloc(cnt * 2 + 2);
            const float *src = t[i].data;
            for (size_t k = 0; k < cnt; k++) h[k] = mode ? to_bf16(src[k]) : to_f16(src[k]);
            half[i] = h;
            t3[i].data = h;
            t3[i].nbytes = cnt * 2;
            t3[i].dtype = mode ? "BF16" : "F16";
        }
        write_safetensors(p, t3, n);
        float *lo = run_model(tmp_dir, &nn);
        double rel = lo && base ? dl_rel_err(lo, base, n_logits) : 1;
        printf("%s weights: logits relative error vs float32 %.3g\n", mode ? "BF16" : "F16", rel);
        CHECK(rel < (mode ? 5e-2 : 5e-3));
        /* the loader's conversion is exact: compare one tensor with our own rounding */
        dl_safetensors *hs = NULL;
        CHECK_OK(dl_safetensors_open(p, &hs, &err), &err);
        const dl_st_tensor *ht = hs ? dl_safetensors_find(hs, "model.enc_score_head.weight") : NULL;
        CHECK(ht != NULL);
        if (ht) {
            float *v = malloc(ht->count * sizeof(float));
            CHECK_OK(dl_safetensors_read_f32(hs, ht, v, &err), &err);
            int exact = 1;
            for (int i = 0; i < n; i++) {
                if (strcmp(t[i].name, "model.enc_score_head.weight") != 0) continue;
                const uint16_t *h = half[i];
                for (size_t k = 0; k < ht->count; k++)
                    exact &= v[k] == (mode ? dl_bf16_to_f32(h[k]) : dl_f16_to_f32(h[k]));
            }
            CHECK(exact);
            free(v);
        }
        dl_safetensors_close(hs);
        free(lo);
        for (int i = 0; i < n; i++) free(half[i]);
        free(half);
        free(t3);
    }
    CHECK(dl_f16_to_f32(0x3c00) == 1.0f && dl_f16_to_f32(0xc000) == -2.0f);
    CHECK(dl_f16_to_f32(0x0001) > 0 && dl_f16_to_f32(0x0001) < 1e-7f); /* subnormal */
    CHECK(dl_bf16_to_f32(0x3f80) == 1.0f);

    /* 4. one model, three detectors in three threads at once: same answers */
    dl_model *m = NULL;
    CHECK_OK(dl_model_load(src_dir, NULL, &m, &err), &err);
    thread_arg a[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (thread_arg){.m = m, .logits = calloc(n_logits, sizeof(float)), .ok = 0};
        pthread_create(&th[i], NULL, thread_main, &a[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(a[i].ok);
        CHECK(base && memcmp(a[i].logits, base, n_logits * sizeof(float)) == 0);
        free(a[i].logits);
    }
    dl_model_free(m);

    for (int i = 0; i < n; i++) free(bufs[i]), free(names[i]);
    free(bufs);
    free(names);
    free(t);
    free(t2);
    dl_safetensors_close(st);
    free(base);
    free(pixels);
    dl_npy_free(&u8);
    snprintf(p, sizeof p, "rm -rf %s", tmp_dir);
    CHECK(system(p) == 0);
    return dl_test_finish("test_weight_files");
}
