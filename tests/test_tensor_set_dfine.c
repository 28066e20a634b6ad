/*
 * The D-FINE builder derives exactly the real tensor set from config.json alone: for the
 * egret-like full-size configs, the tensors requested in ENUMERATE mode (required and
 * skippable) must equal, by name and shape, what save_pretrained writes (the *.shapes.json
 * beside each config). Also: a D-FINE-specific tensor of the wrong shape is a DL_ERR_MODEL
 * error naming it.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "api/internal.h"
#include "io/file.h"
#include "test_util.h"

static cJSON *read_json_file(const char *path) {
    void *buf;
    size_t size;
    dl_error err;
    if (dl_read_file(path, (size_t)64 << 20, &buf, &size, &err) != DL_OK) return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, size);
    free(buf);
    return j;
}

static bool same_shape(const dl_weight_record *r, const cJSON *shape) {
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != r->ndim) return false;
    for (int i = 0; i < r->ndim; i++) {
        const cJSON *e = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(e) || (int64_t)e->valuedouble != r->shape[i]) return false;
    }
    return true;
}

static void check_config(const char *name) {
    char cfg[512], shapes[512];
    snprintf(cfg, sizeof cfg, "%s/tests/fixtures/configs/%s.config.json", DL_SOURCE_DIR, name);
    snprintf(shapes, sizeof shapes, "%s/tests/fixtures/configs/%s.shapes.json", DL_SOURCE_DIR,
             name);
    dl_error err;
    dl_model *m = NULL;
    dl_weight_record *rec = NULL;
    size_t n = 0;
    CHECK_OK(dl_model_build_enumerated(cfg, 0, &m, &rec, &n, &err), &err);
    cJSON *want = read_json_file(shapes);
    CHECK(want != NULL && cJSON_IsObject(want));
    if (!m || !want) {
        cJSON_Delete(want);
        dl_model_free(m);
        return;
    }
    CHECK(strcmp(dl_model_type(m), "d_fine") == 0);
    int missing = 0, wrong = 0, extra = 0, dup = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(want, rec[i].name);
        if (!s) {
            if (extra++ < 5)
                fprintf(stderr, "%s: requested but not in the file: %s\n", name, rec[i].name);
        } else if (!same_shape(&rec[i], s)) {
            if (wrong++ < 5) fprintf(stderr, "%s: shape differs: %s\n", name, rec[i].name);
        }
        for (size_t j = 0; j < i && j < 4096; j++)
            if (strcmp(rec[i].name, rec[j].name) == 0) dup++;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, want) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) found = strcmp(rec[i].name, e->string) == 0;
        if (!found && missing++ < 5)
            fprintf(stderr, "%s: in the file but never requested: %s\n", name, e->string);
    }
    int total = cJSON_GetArraySize(want);
    printf("%s: %zu tensors requested, %d in the file; %d missing, %d extra, %d wrong shape, "
           "%d duplicates; %zu parameters\n",
           name, n, total, missing, extra, wrong, dup, dl_model_num_parameters(m));
    CHECK_MSG(missing == 0 && extra == 0 && wrong == 0 && dup == 0 && (size_t)total == n,
              "%s: tensor set differs from %s", name, shapes);
    dl_weight_records_free(rec, n);
    cJSON_Delete(want);
    dl_model_free(m);
}

/*
 * A copy of dfine-tiny with one tensor changed: its first dimension doubled (the load must fail
 * naming it), or, with `value` set, its first element replaced (a float32 tensor).
 */
static void check_modified(const char *tensor, const float *value) {
    char src[512];
    snprintf(src, sizeof src, "%s/tests/fixtures/golden/dfine-tiny", DL_SOURCE_DIR);
    char dir[] = "/tmp/dl_dfine_badXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *copy[2] = {"config.json", "preprocessor_config.json"};
    for (int i = 0; i < 2; i++) {
        char a[600], b[600];
        void *buf;
        size_t size;
        dl_error err;
        snprintf(a, sizeof a, "%s/%s", src, copy[i]);
        snprintf(b, sizeof b, "%s/%s", dir, copy[i]);
        CHECK_OK(dl_read_file(a, (size_t)1 << 20, &buf, &size, &err), &err);
        FILE *f = fopen(b, "wb");
        CHECK(f && fwrite(buf, 1, size, f) == size);
        if (f) fclose(f);
        free(buf);
    }
    /* rewrite the safetensors file: `tensor` gets its first dimension doubled (and its data
     * range grown to match, so the file itself stays well-formed) */
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/model.safetensors", src);
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    void *buf;
    size_t size;
    dl_error err;
    CHECK_OK(dl_read_file(a, (size_t)64 << 20, &buf, &size, &err), &err);
    if (!buf) return;
    const unsigned char *u = buf;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | u[i];
    cJSON *h = cJSON_ParseWithLength((const char *)u + 8, (size_t)hl);
    CHECK(h != NULL);
    const unsigned char *data = u + 8 + hl;
    /* new layout: every tensor copied in order; the target gets extra zero bytes */
    size_t cap = size * 2, used = 0;
    unsigned char *nd = calloc(1, cap);
    cJSON *t;
    cJSON_ArrayForEach(t, h) {
        if (strcmp(t->string, "__metadata__") == 0) continue;
        cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        size_t s0 = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        size_t s1 = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        size_t len = s1 - s0, newlen = len;
        memcpy(nd + used, data + s0, len);
        if (strcmp(t->string, tensor) == 0 && value) {
            memcpy(nd + used, value, sizeof(float));
        } else if (strcmp(t->string, tensor) == 0) {
            cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
            cJSON *d0 = cJSON_GetArrayItem(shape, 0);
            cJSON_SetNumberValue(d0, d0->valuedouble * 2);
            newlen = len * 2;
        }
        cJSON_SetNumberValue(cJSON_GetArrayItem(off, 0), (double)used);
        cJSON_SetNumberValue(cJSON_GetArrayItem(off, 1), (double)(used + newlen));
        used += newlen;
    }
    char *hs = cJSON_PrintUnformatted(h);
    size_t nhl = strlen(hs);
    FILE *f = fopen(b, "wb");
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)nhl >> (8 * i));
    CHECK(f && fwrite(lenb, 1, 8, f) == 8 && fwrite(hs, 1, nhl, f) == nhl &&
          fwrite(nd, 1, used, f) == used);
    if (f) fclose(f);
    free(hs);
    free(nd);
    cJSON_Delete(h);
    free(buf);
    dl_model *m = NULL;
    dl_status s = dl_model_load(dir, NULL, &m, &err);
    if (value) {
        /* loads; the file's value is used and the difference is reported, not printed */
        CHECK_OK(s, &err);
        const char *warn = m ? dl_model_warning(m) : "";
        CHECK_MSG(strstr(warn, "up") && strstr(warn, "reg_scale"), "no warning: '%s'", warn);
        printf("%s changed: warning '%s'\n", tensor, warn);
    } else {
        CHECK_MSG(s == DL_ERR_MODEL, "%s: expected DL_ERR_MODEL, got %d (%s)", tensor, (int)s,
                  s == DL_OK ? "loaded" : err.message);
        if (s != DL_OK)
            CHECK_MSG(strstr(err.message, tensor) != NULL, "message does not name %s: %s", tensor,
                      err.message);
        printf("bad shape of %s: %s\n", tensor, s == DL_OK ? "loaded" : err.message);
    }
    dl_model_free(m);
    unlink(b);
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", dir, copy[i]);
        unlink(a);
    }
    rmdir(dir);
}

int main(void) {
    check_config("egret-medium-like");
    check_config("egret-large-like");
    check_config("egret-xlarge-like");
    check_modified("model.decoder.lqe_layers.0.reg_conf.layers.0.weight", NULL);
    check_modified("model.decoder.layers.1.gateway.gate.weight", NULL);
    check_modified("model.backbone.model.embedder.stem1.lab.scale", NULL);
    check_modified("model.decoder.up", NULL);
    const float up = 0.25f;
    check_modified("model.decoder.up", &up);
    return dl_test_finish("test_tensor_set_dfine");
}
