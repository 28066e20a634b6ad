/* libFuzzer harness: model loading with an arbitrary config.json. The input is written as
 * config.json into a private temporary directory next to a valid preprocessor_config.json and
 * a link to the tiny RT-DETRv2 test model's weights, so that a config that parses goes on to
 * build the network and request (mis-shaped, missing) tensors. dl_model_load must only ever
 * return an error, never crash, leak or abort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doclayout.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char config_path[300];

static const char preprocessor[] =
    "{\"do_normalize\": false, \"do_rescale\": true, \"do_resize\": true, \"do_pad\": false,\n"
    " \"image_mean\": [0.485, 0.456, 0.406], \"image_std\": [0.229, 0.224, 0.225],\n"
    " \"image_processor_type\": \"RTDetrImageProcessor\", \"resample\": 2,\n"
    " \"rescale_factor\": 0.00392156862745098, \"size\": {\"height\": 640, \"width\": 640}}\n";

static void cleanup(void) {
    char p[320];
    const char *names[] = {"config.json", "preprocessor_config.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dl_fuzz_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(cleanup);
    char p[320];
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(preprocessor, 1, sizeof preprocessor - 1, f) != sizeof preprocessor - 1 ||
        fclose(f) != 0) {
        perror(p);
        abort();
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (symlink(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny/model.safetensors", p) != 0) {
        perror(p);
        abort();
    }
    snprintf(config_path, sizeof config_path, "%s/config.json", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(config_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    dl_model *model = NULL;
    dl_error err;
    if (dl_model_load(dir, NULL, &model, &err) == DL_OK) {
        /* Accessors must be safe on whatever loaded. */
        for (int i = -1; i <= dl_model_num_labels(model); i++) (void)dl_model_label_name(model, i);
        (void)dl_model_type(model);
        dl_model_free(model);
    } else if (model != NULL) {
        __builtin_trap();
    }
    return 0;
}
