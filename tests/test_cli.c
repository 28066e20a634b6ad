/*
 * The doclayout program as a user runs it: usage errors, bad inputs (clear message, non-zero
 * exit), `infer` parity through .npy files, `detect` JSON and overlays, and a model found by
 * repo id in a Hugging Face cache laid out in a temp dir.
 */
#include <cjson/cJSON.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doclayout.h"
#include "io/file.h"
#include "io/npy.h"
#include "test_scratch.h"
#include "test_util.h"

static char model_dir[1024];

int main(void) {
    dl_test_tiny_model(model_dir, sizeof model_dir);
    char cmd[4096], out[1 << 16], args[2048];
    CHECK(dl_test_scratch("cli") == 0);

    /* usage */
    expect("", 2, "Usage");
    expect("help", 0, "doclayout detect --model DIR");
    expect("version", 0, dl_version());
    expect("frobnicate", 2, "unknown command");
    /* without --model: the bundled default model (models/default beside the build), so the
     * missing page is the error */
    expect("detect img.png", 1, "img.png");
    snprintf(args, sizeof args, "detect --model %s --threshold 7 x.png", model_dir);
    expect(args, 2, "--threshold expects a number");
    snprintf(args, sizeof args, "detect --model %s --bogus x.png", model_dir);
    expect(args, 2, "unknown option --bogus");
    snprintf(args, sizeof args, "detect --model %s", model_dir);
    expect(args, 2, "no input images");
    expect("detect --model /nonexistent x.png", 1, "/nonexistent");
    /* no CUDA module: a clear error even on a machine with a GPU */
    setenv("DOCLAYOUT_CUDA_MODULE", "/nonexistent/libdoclayout_cuda.so", 1);
    snprintf(args, sizeof args, "detect --model %s --device cuda x.png", model_dir);
    expect(args, 1, "CUDA");
    unsetenv("DOCLAYOUT_CUDA_MODULE");
    snprintf(args, sizeof args, "detect --model %s --precision fp8 x.png", model_dir);
    expect(args, 2, "--precision must be");
    /* device names come from the library's backend table, and so does the list */
    snprintf(args, sizeof args, "detect --model %s --device tpu x.png", model_dir);
    expect(args, 2, "unknown device \"tpu\" (devices: cpu, cuda, cuda:N or auto)");
    snprintf(args, sizeof args, "detect --model %s --device cuda:256 x.png", model_dir);
    expect(args, 2, "must be 0..255");
    snprintf(args, sizeof args, "detect --model %s --device cpu --precision fp16 x.png", model_dir);
    expect(args, 1, "the cpu backend does not compute in fp16");
    snprintf(args, sizeof args, "detect --model %s --cpu avx9000 x.png", model_dir);
    expect(args, 2, "--cpu must be scalar, avx2");
#if defined(__x86_64__)
    snprintf(args, sizeof args, "detect --model %s --cpu neon x.png", model_dir);
#else
    snprintf(args, sizeof args, "detect --model %s --cpu avx2 x.png", model_dir);
#endif
    expect(args, 2, "this CPU runs at most");

    /* bad inputs: reported per file, the run goes on, the exit code says it failed */
    snprintf(cmd, sizeof cmd, "printf 'not an image' > %s/bad.png", tmp);
    CHECK(system(cmd) == 0);
    snprintf(args, sizeof args, "detect --model %s %s/bad.png %s/missing.png %s/input.png",
             model_dir, tmp, tmp, model_dir);
    expect(args, 1, "bad.png");
    expect(args, 1, "missing.png");
    expect(args, 1, "\"detections\"");
    /* a TIFF whose IFD chain is broken: a clear per-file error, the good page still done */
    snprintf(args, sizeof args,
             "detect --model %s %s/tests/fixtures/images/bad_ifd.tif %s/input.png", model_dir,
             DL_SOURCE_DIR, model_dir);
    expect(args, 1, "bad_ifd.tif");
    expect(args, 1, "\"detections\"");

    /* infer: a non-.npy input, a wrong shape, then real parity */
    snprintf(args, sizeof args, "infer --model %s --input %s/bad.png --out %s/o", model_dir, tmp,
             tmp);
    expect(args, 1, "not a .npy file");
    float small[6] = {0};
    int64_t shape2[2] = {2, 3};
    dl_error err;
    snprintf(cmd, sizeof cmd, "%s/small.npy", tmp);
    CHECK_OK(dl_npy_write_f32(cmd, small, 2, shape2, &err), &err);
    snprintf(args, sizeof args, "infer --model %s --input %s/small.npy --out %s/o", model_dir, tmp,
             tmp);
    expect(args, 1, "[N,3,H,W]");
    char pv[1400];
    snprintf(pv, sizeof pv, "%s/pixel_values.npy", model_dir);
    if (!dl_path_exists(pv)) {
        /* fixture: rebuild float pixel values from the uint8 copy */
        dl_npy u;
        snprintf(pv, sizeof pv, "%s/pixel_values_u8.npy", model_dir);
        CHECK_OK(dl_npy_read(pv, &u, &err), &err);
        float *f = malloc(u.count * sizeof(float));
        for (size_t i = 0; i < u.count; i++) f[i] = ((uint8_t *)u.data)[i] * 0.00392156862745098f;
        snprintf(pv, sizeof pv, "%s/pixel_values.npy", tmp);
        CHECK_OK(dl_npy_write_f32(pv, f, 4, u.shape, &err), &err);
        free(f);
        dl_npy_free(&u);
    }
    snprintf(args, sizeof args, "infer --model %s --input %s --out %s/o --threads 2", model_dir, pv,
             tmp);
    expect(args, 0, NULL);
    dl_npy got, want;
    snprintf(cmd, sizeof cmd, "%s/o/logits.npy", tmp);
    CHECK_OK(dl_npy_read(cmd, &got, &err), &err);
    snprintf(cmd, sizeof cmd, "%s/out_logits.npy", model_dir);
    CHECK_OK(dl_npy_read(cmd, &want, &err), &err);
    CHECK(got.count == want.count && got.ndim == 3 && got.shape[2] == 17);
    /* per-query order may differ among score ties (see test_parity_rtdetr); the multiset of
     * each query's max logit must agree */
    if (got.count == want.count) {
        double worst = 0;
        for (size_t i = 0; i < got.count; i++) {
            double best = 1e9;
            for (size_t j = i % 17; j < want.count; j += 17)
                best = fmin(best, fabs(((float *)got.data)[i] - ((float *)want.data)[j]));
            worst = fmax(worst, best);
        }
        CHECK_MSG(worst < 1e-4, "infer logits differ from transformers by %g", worst);
    }
    dl_npy_free(&got);
    dl_npy_free(&want);

    /* detect: JSON shape, -o, --overlay */
    snprintf(args, sizeof args,
             "detect --model %s --raw --threshold 0.25 -o %s/r.json --overlay %s/ov %s/input.png",
             model_dir, tmp, tmp, model_dir);
    expect(args, 0, NULL);
    snprintf(cmd, sizeof cmd, "%s/r.json", tmp);
    void *jb;
    size_t js;
    CHECK_OK(dl_read_file(cmd, 1 << 24, &jb, &js, &err), &err);
    cJSON *root = cJSON_Parse(jb);
    free(jb);
    cJSON *page = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "pages"), 0);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(root, "model")));
    CHECK(cJSON_GetObjectItem(page, "width")->valueint == 1000);
    CHECK(cJSON_GetObjectItem(page, "height")->valueint == 1300);
    cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(page, "detections"), 0);
    CHECK(d0 && strcmp(cJSON_GetObjectItem(d0, "label")->valuestring, "Checkbox-Selected") == 0);
    CHECK(d0 && cJSON_GetObjectItem(d0, "label_id")->valueint == 13);
    CHECK(d0 && cJSON_GetArraySize(cJSON_GetObjectItem(d0, "box")) == 4);
    cJSON_Delete(root);
    snprintf(cmd, sizeof cmd, "%s/ov/input.png", tmp);
    dl_image *ov = NULL;
    CHECK_OK(dl_image_load_file(cmd, &ov, &err), &err);
    CHECK(ov && ov->width == 1000 && ov->height == 1300);
    dl_image_free(ov);

    /* a repo id resolved in a Hugging Face cache, offline */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/hf/hub/models--acme--layout/snapshots/abc123 "
             "%s/hf/hub/models--acme--layout/refs && "
             "printf abc123 > %s/hf/hub/models--acme--layout/refs/main && "
             "cp %s/config.json %s/preprocessor_config.json %s/model.safetensors "
             "%s/hf/hub/models--acme--layout/snapshots/abc123/",
             tmp, tmp, tmp, model_dir, model_dir, model_dir, tmp);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "HF_HOME=%s/hf HF_HUB_CACHE= %s detect --model acme/layout %s/input.png", tmp,
             DL_CLI_PATH, model_dir);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 0 && strstr(out, "snapshots/abc123"), "%s", out);
    snprintf(cmd, sizeof cmd, "HF_HOME=%s/hf %s detect --model acme/other %s/input.png", tmp,
             DL_CLI_PATH, model_dir);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 1 && strstr(out, "huggingface-cli download"),
              "%s", out);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return dl_test_finish("test_cli");
}
