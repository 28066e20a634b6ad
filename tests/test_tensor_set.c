/*
 * The tensor set a model asks for is derived from config.json alone: building heron-like
 * (R50) and heron-101-like (R101) in enumerate mode (no weights file) must request exactly the
 * names and shapes that transformers' save_pretrained writes (the *.shapes.json files),
 * counting the recognised skippable tensors (num_batches_tracked, denoising_class_embed,
 * n_points_scale). Also a ResNet-18/34-style basic-block config builds and runs.
 */
#include <cjson/cJSON.h>

#include "api/internal.h"
#include "io/file.h"
#include "test_util.h"

static void check_config(const char *name) {
    char cfg[1024], shp[1024];
    snprintf(cfg, sizeof cfg, "%s/tests/fixtures/configs/%s.config.json", DL_SOURCE_DIR, name);
    snprintf(shp, sizeof shp, "%s/tests/fixtures/configs/%s.shapes.json", DL_SOURCE_DIR, name);
    dl_error err;
    dl_model *m = NULL;
    dl_weight_record *rec = NULL;
    size_t nrec = 0;
    CHECK_OK(dl_model_build_enumerated(cfg, 0, &m, &rec, &nrec, &err), &err);
    void *buf;
    size_t size;
    CHECK_OK(dl_read_file(shp, 1 << 24, &buf, &size, &err), &err);
    cJSON *shapes = cJSON_Parse(buf);
    free(buf);
    int expected = cJSON_GetArraySize(shapes), found = 0, wrong = 0, extra = 0;
    for (size_t i = 0; i < nrec; i++) {
        cJSON *s = cJSON_GetObjectItemCaseSensitive(shapes, rec[i].name);
        if (!s) {
            if (extra++ < 5) fprintf(stderr, "%s: requested tensor %s is not in the file\n", name, rec[i].name);
            continue;
        }
        found++;
        int ok = cJSON_GetArraySize(s) == rec[i].ndim;
        for (int k = 0; ok && k < rec[i].ndim; k++)
            ok = cJSON_GetArrayItem(s, k)->valuedouble == (double)rec[i].shape[k];
        if (!ok && wrong++ < 5) fprintf(stderr, "%s: %s has the wrong shape\n", name, rec[i].name);
    }
    printf("%s: %zu tensors requested, %d of %d in the file, %d wrong shapes, %d not in the file; "
           "%.1fM parameters after folding\n", name, nrec, found, expected, wrong, extra,
           dl_model_num_parameters(m) / 1e6);
    CHECK(found == expected);
    CHECK((size_t)found == nrec);
    CHECK(wrong == 0 && extra == 0);
    cJSON_Delete(shapes);
    dl_weight_records_free(rec, nrec);
    dl_model_free(m);
}

/* ResNet-18/34-style basic blocks: no golden model exists, so build a small one with random
 * weights and compare the fast path with the scalar reference op by op (the whole network). */
static void check_basic_blocks(void) {
    const char *path = "/tmp/doclayout_test_basic.config.json";
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/fixtures/golden/rtdetrv2-tiny/config.json", DL_SOURCE_DIR);
    void *buf;
    size_t size;
    dl_error err;
    CHECK_OK(dl_read_file(src, 1 << 20, &buf, &size, &err), &err);
    cJSON *cfg = cJSON_Parse(buf);
    free(buf);
    cJSON *bb = cJSON_GetObjectItem(cfg, "backbone_config");
    cJSON_ReplaceItemInObject(bb, "layer_type", cJSON_CreateString("basic"));
    int depths[4] = {2, 1, 2, 1}, hidden[4] = {16, 32, 64, 128};
    cJSON_ReplaceItemInObject(bb, "depths", cJSON_CreateIntArray(depths, 4));
    cJSON_ReplaceItemInObject(bb, "hidden_sizes", cJSON_CreateIntArray(hidden, 4));
    int enc_in[3] = {32, 64, 128};
    cJSON_ReplaceItemInObject(cfg, "encoder_in_channels", cJSON_CreateIntArray(enc_in, 3));
    char *text = cJSON_Print(cfg);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(cfg);
    dl_model *m = NULL;
    dl_weight_record *rec = NULL;
    size_t nrec = 0;
    CHECK_OK(dl_model_build_enumerated(path, 7, &m, &rec, &nrec, &err), &err);
    if (!m) return;
    int shortcut_plain = 0, shortcut_pooled = 0;
    for (size_t i = 0; i < nrec; i++) {
        if (strstr(rec[i].name, "shortcut.convolution.weight")) shortcut_plain++;
        if (strstr(rec[i].name, "shortcut.1.convolution.weight")) shortcut_pooled++;
    }
    /* stage 0 (16 -> 16, stride 1): plain projection; stages 1-3: avg-pool + projection */
    CHECK(shortcut_plain == 1 && shortcut_pooled == 3);
    int h = 160, w = 160;
    size_t npx = (size_t)3 * h * w, nl = (size_t)dl_model_num_queries(m) * dl_model_num_labels(m);
    float *px = malloc(npx * sizeof(float)), *out[2][2];
    unsigned seed = 3;
    for (size_t i = 0; i < npx; i++) px[i] = 0.5f + 0.5f * dl_test_rand(&seed);
    for (int r = 0; r < 2; r++) {
        dl_detector *d = NULL;
        CHECK_OK(dl_detector_create(m, NULL, &d, &err), &err);
        if (r == 0) dl_detector_use_reference_ops(d);
        out[r][0] = calloc(nl, sizeof(float));
        out[r][1] = calloc((size_t)dl_model_num_queries(m) * 4, sizeof(float));
        CHECK_OK(dl_detector_forward(d, px, 1, h, w, out[r][0], out[r][1], &err), &err);
        dl_detector_free(d);
    }
    double rel = dl_rel_err(out[1][0], out[0][0], nl);
    printf("basic-block model: fast vs reference logits relative error %.3g\n", rel);
    CHECK(rel < 1e-4);
    for (int r = 0; r < 2; r++) free(out[r][0]), free(out[r][1]);
    free(px);
    dl_weight_records_free(rec, nrec);
    dl_model_free(m);
    remove(path);
}

int main(void) {
    check_config("heron-like");
    check_config("heron-101-like");
    check_basic_blocks();
    return dl_test_finish("test_tensor_set");
}
