/*
 * Broken model files: each must fail with a clear error that names the file, field or tensor,
 * a non-OK status, no crash and no leak (the sanitizer build runs this too).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "doclayout.h"
#include "io/file.h"
#include "test_scratch.h"
#include "test_util.h"

static char src_dir[1024];
static char tmp_dir[256];

static void copy_file(const char *name, const char *to_dir) {
    char a[1400], b[1400];
    snprintf(a, sizeof a, "%s/%s", src_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    void *buf;
    size_t size;
    dl_error err;
    if (dl_read_file(a, 1 << 26, &buf, &size, &err) != DL_OK) return;
    FILE *f = fopen(b, "wb");
    fwrite(buf, 1, size, f);
    fclose(f);
    free(buf);
}

/* A fresh model directory; `mutate` edits the safetensors header (NULL = keep). */
static void make_model(cJSON *(*mutate)(cJSON *), const char *config_edit_key,
                       cJSON *config_edit_value) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp_dir, tmp_dir);
    CHECK(system(cmd) == 0);
    copy_file("preprocessor_config.json", tmp_dir);
    /* config.json, possibly edited */
    char p[1400];
    snprintf(p, sizeof p, "%s/config.json", src_dir);
    void *buf;
    size_t size;
    dl_error err;
    CHECK_OK(dl_read_file(p, 1 << 20, &buf, &size, &err), &err);
    cJSON *cfg = cJSON_Parse(buf);
    free(buf);
    if (config_edit_key) cJSON_ReplaceItemInObject(cfg, config_edit_key, config_edit_value);
    char *text = cJSON_Print(cfg);
    snprintf(p, sizeof p, "%s/config.json", tmp_dir);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(cfg);
    /* model.safetensors with an edited header */
    snprintf(p, sizeof p, "%s/model.safetensors", src_dir);
    CHECK_OK(dl_read_file(p, 1 << 26, &buf, &size, &err), &err);
    const unsigned char *b = buf;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    char *hj = strndup((const char *)b + 8, (size_t)hl);
    cJSON *hdr = cJSON_Parse(hj);
    free(hj);
    if (mutate) hdr = mutate(hdr);
    char *nh = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    uint64_t nl = strlen(nh);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp_dir);
    f = fopen(p, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((nl >> (8 * i)) & 0xff), f);
    fwrite(nh, 1, nl, f);
    fwrite(b + 8 + hl, 1, size - 8 - hl, f);
    fclose(f);
    free(nh);
    free(buf);
}

/* Load and expect `code` with every word of `expect` in the message. */
static void expect_fail(const char *what, dl_status code, const char *expect) {
    dl_model *m = NULL;
    dl_error err;
    dl_status s = dl_model_load(tmp_dir, NULL, &m, &err);
    CHECK_MSG(s == code, "%s: status %s, expected %s (%s)", what, dl_status_string(s),
              dl_status_string(code), s == DL_OK ? "" : err.message);
    CHECK(m == NULL);
    if (s != DL_OK) {
        CHECK_MSG(strstr(err.message, expect) != NULL, "%s: message '%s' does not mention '%s'",
                  what, err.message, expect);
        printf("%-28s -> %s\n", what, err.message);
    }
    dl_model_free(m);
}

static const char *victim = "model.decoder.layers.0.fc1.weight";

static cJSON *drop_tensor(cJSON *h) {
    cJSON_DeleteItemFromObject(h, victim);
    return h;
}
static cJSON *transpose_shape(cJSON *h) {
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(h, victim), "shape");
    double a = cJSON_GetArrayItem(shape, 0)->valuedouble,
           b = cJSON_GetArrayItem(shape, 1)->valuedouble;
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 0), b);
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 1), a);
    return h;
}
static cJSON *int_dtype(cJSON *h) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, victim), "dtype", cJSON_CreateString("I32"));
    return h;
}
static cJSON *bad_dtype(cJSON *h) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, victim), "dtype", cJSON_CreateString("Q4"));
    return h;
}
static cJSON *extra_tensor(cJSON *h) {
    cJSON *t = cJSON_Duplicate(cJSON_GetObjectItem(h, victim), 1);
    cJSON_AddItemToObject(h, "model.decoder.layers.0.mystery.weight", t);
    return h;
}
static cJSON *offsets_past_end(cJSON *h) {
    cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(h, victim), "data_offsets");
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 1), 1e12);
    return h;
}
static cJSON *not_an_object(cJSON *h) {
    cJSON_Delete(h);
    return cJSON_CreateArray();
}

static void write_raw(const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

int main(void) {
    dl_test_tiny_model(src_dir, sizeof src_dir);
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/doclayout_bad_model_%d", (int)getpid());

    make_model(NULL, NULL, NULL);
    dl_model *m = NULL;
    dl_error err;
    CHECK_OK(dl_model_load(tmp_dir, NULL, &m, &err), &err); /* the unmodified copy loads */
    dl_model_free(m);

    make_model(drop_tensor, NULL, NULL);
    expect_fail("missing tensor", DL_ERR_MODEL, victim);
    make_model(transpose_shape, NULL, NULL);
    expect_fail("wrong shape", DL_ERR_MODEL, victim);
    make_model(int_dtype, NULL, NULL);
    expect_fail("integer dtype", DL_ERR_MODEL, "dtype I32");
    make_model(bad_dtype, NULL, NULL);
    expect_fail("unknown dtype", DL_ERR_UNSUPPORTED, "Q4");
    make_model(extra_tensor, NULL, NULL);
    expect_fail("unexpected tensor", DL_ERR_MODEL, "mystery");
    make_model(offsets_past_end, NULL, NULL);
    expect_fail("byte range past the end", DL_ERR_FORMAT, victim);
    make_model(not_an_object, NULL, NULL);
    expect_fail("header not an object", DL_ERR_FORMAT, "model.safetensors");

    /* truncated file: cut in the middle of the data */
    make_model(NULL, NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", tmp_dir);
    CHECK(truncate(p, 200000) == 0);
    expect_fail("truncated file", DL_ERR_FORMAT, "model.safetensors");
    /* header length larger than the file */
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, '{', '}'};
    write_raw("model.safetensors", huge, sizeof huge);
    expect_fail("header length > file", DL_ERR_FORMAT, "larger than the file");
    write_raw("model.safetensors", "", 0);
    expect_fail("empty file", DL_ERR_FORMAT, "truncated");

    /* config.json problems */
    make_model(NULL, "model_type", cJSON_CreateString("yolo_v99"));
    expect_fail("unknown model_type", DL_ERR_UNSUPPORTED, "yolo_v99");
    make_model(NULL, "model_type", cJSON_CreateString("rt_detr"));
    expect_fail("RT-DETR v1", DL_ERR_UNSUPPORTED, "rt_detr");
    make_model(NULL, "d_model", cJSON_CreateNumber(1e9));
    expect_fail("absurd d_model", DL_ERR_LIMIT, "d_model");
    make_model(NULL, "num_queries", cJSON_CreateNumber(-3));
    expect_fail("negative num_queries", DL_ERR_LIMIT, "num_queries");
    make_model(NULL, "decoder_layers", cJSON_CreateString("six"));
    expect_fail("string decoder_layers", DL_ERR_FORMAT, "decoder_layers");
    make_model(NULL, "decoder_method", cJSON_CreateString("magic"));
    expect_fail("unknown decoder_method", DL_ERR_UNSUPPORTED, "magic");
    make_model(NULL, "d_model", cJSON_CreateNumber(48)); /* config disagrees with the weights */
    expect_fail("config/weights mismatch", DL_ERR_MODEL, "shape");
    make_model(NULL, NULL, NULL);
    write_raw("config.json", "{\"model_type\": ", 15);
    expect_fail("truncated config.json", DL_ERR_FORMAT, "config.json");
    write_raw("config.json", "[1,2]", 5);
    expect_fail("config.json not an object", DL_ERR_FORMAT, "config.json");
    make_model(NULL, NULL, NULL);
    write_raw("preprocessor_config.json", "{\"size\": {\"height\": 100000, \"width\": 640}}", 42);
    expect_fail("absurd input size", DL_ERR_LIMIT, "height");
    make_model(NULL, NULL, NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp_dir);
    remove(p);
    expect_fail("no weights file", DL_ERR_IO, "model.safetensors");

    /* paths */
    CHECK(dl_model_load("/nonexistent/dir", NULL, &m, &err) == DL_ERR_IO);
    CHECK(dl_model_load(NULL, NULL, &m, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(dl_model_load("no-such-org/no-such-model", NULL, &m, &err) == DL_ERR_IO);
    CHECK(strstr(err.message, "Hugging Face cache") != NULL);

    snprintf(p, sizeof p, "rm -rf %s", tmp_dir);
    CHECK(system(p) == 0);
    return dl_test_finish("test_bad_model");
}
