/*
 * make_random_model CONFIG.json OUT_DIR [SEED]
 *
 * Writes a Hugging Face-style model directory with random weights for the architecture a
 * config.json describes: config.json (copied), preprocessor_config.json (heron's: 640x640,
 * bilinear, x 1/255, no normalisation) and model.safetensors (F32), with every tensor the
 * model builder requests from the config (plus the bookkeeping tensors real checkpoints carry).
 * Used by the benchmarks: speed does not depend on the weight values.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/internal.h"
#include "io/file.h"

static const char *preprocessor =
    "{\"do_convert_annotations\": true, \"do_normalize\": false, \"do_pad\": false,\n"
    " \"do_rescale\": true, \"do_resize\": true, \"format\": \"coco_detection\",\n"
    " \"image_mean\": [0.485, 0.456, 0.406], \"image_processor_type\": \"RTDetrImageProcessor\",\n"
    " \"image_std\": [0.229, 0.224, 0.225], \"pad_size\": null, \"resample\": 2,\n"
    " \"rescale_factor\": 0.00392156862745098, \"size\": {\"height\": 640, \"width\": 640}}\n";

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: make_random_model CONFIG.json OUT_DIR [SEED]\n");
        return 2;
    }
    unsigned seed = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
    if (!seed) seed = 1;
    dl_error err;
    dl_model *m = NULL;
    dl_weight_record *rec = NULL;
    size_t n = 0;
    if (dl_model_build_enumerated(argv[1], seed, &m, &rec, &n, &err) != DL_OK) {
        fprintf(stderr, "make_random_model: %s\n", err.message);
        return 1;
    }
    mkdir(argv[2], 0777);
    char path[4096];
    void *cfg;
    size_t cfg_size;
    if (dl_read_file(argv[1], 1 << 24, &cfg, &cfg_size, &err) != DL_OK) {
        fprintf(stderr, "make_random_model: %s\n", err.message);
        return 1;
    }
    snprintf(path, sizeof path, "%s/config.json", argv[2]);
    int ok = write_text(path, cfg);
    free(cfg);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", argv[2]);
    ok = ok && write_text(path, preprocessor);
    /* safetensors header: {"name": {"dtype", "shape", "data_offsets"}, ...} */
    cJSON *hdr = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(hdr, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(hdr, rec[i].name);
        bool i64 = rec[i].ndim == 0;
        cJSON_AddStringToObject(t, "dtype", i64 ? "I64" : "F32");
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        uint64_t count = 1;
        for (int k = 0; k < rec[i].ndim; k++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)rec[i].shape[k]));
            count *= (uint64_t)rec[i].shape[k];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += count * (i64 ? 8 : 4);
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(hdr);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    snprintf(path, sizeof path, "%s/model.safetensors", argv[2]);
    FILE *f = fopen(path, "wb");
    ok = ok && f;
    if (f) {
        unsigned char len[8];
        for (int k = 0; k < 8; k++) len[k] = (unsigned char)((uint64_t)padded >> (8 * k));
        ok = ok && fwrite(len, 1, 8, f) == 8 && fwrite(json, 1, jl, f) == jl;
        for (size_t k = jl; ok && k < padded; k++) ok = fputc(' ', f) != EOF;
        for (size_t i = 0; ok && i < n; i++) {
            size_t count = 1;
            for (int k = 0; k < rec[i].ndim; k++) count *= (size_t)rec[i].shape[k];
            if (rec[i].ndim == 0) {
                int64_t zero = 0;
                ok = fwrite(&zero, 8, 1, f) == 1;
                continue;
            }
            float *v = malloc(count * sizeof(float));
            if (!v) {
                ok = 0;
                break;
            }
            if (strstr(rec[i].name, "n_points_scale")) {
                for (size_t k = 0; k < count; k++) v[k] = 0.25f;
            } else {
                dl_weights_fill_random(rec[i].name, seed, v, count);
            }
            ok = fwrite(v, sizeof(float), count, f) == count;
            free(v);
        }
        if (fclose(f) != 0) ok = 0;
    }
    free(json);
    cJSON_Delete(hdr);
    printf("%s: %zu tensors, %.1f MB, %.1fM parameters (folded)\n", argv[2], n, (double)off / 1e6,
           dl_model_num_parameters(m) / 1e6);
    dl_weight_records_free(rec, n);
    dl_model_free(m);
    if (!ok) {
        fprintf(stderr, "make_random_model: writing %s failed: %s\n", argv[2], strerror(errno));
        return 1;
    }
    return 0;
}
