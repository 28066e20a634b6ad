/*
 * The architecture registry: every descriptor is complete, model_types are unique, lookups
 * find them, and unknown or retired model_types fail with a message that lists what is
 * supported. Then each architecture builds from a committed config with generated weights and
 * runs one forward through its descriptor alone (the path dl_model_load takes).
 */
#include <string.h>

#include "api/internal.h"
#include "test_util.h"

static void check_descriptors(void) {
    CHECK(dl_arch_count() >= 3);
    CHECK(dl_arch_at(dl_arch_count()) == NULL);
    for (size_t i = 0; i < dl_arch_count(); i++) {
        const dl_arch *a = dl_arch_at(i);
        CHECK_MSG(a && a->model_type && a->config_size && a->parse_config && a->build &&
                      a->forward && a->free,
                  "descriptor %zu is incomplete", i);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(strcmp(dl_arch_at(j)->model_type, a->model_type) != 0,
                      "model_type %s registered twice", a->model_type);
        dl_error err;
        CHECK(dl_arch_find(a->model_type, &err) == a);
        /* a device backend needs the weights as buffers */
        CHECK_MSG((a->needs & DL_ARCH_NEEDS_HOST_MEMORY) || a->weight_allocs,
                  "%s runs on devices but gives them no weight buffers", a->model_type);
    }
    dl_error err;
    CHECK(dl_arch_find("yolo_v99", &err) == NULL);
    CHECK(err.code == DL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "\"yolo_v99\"") != NULL);
    for (size_t i = 0; i < dl_arch_count(); i++)
        CHECK_MSG(strstr(err.message, dl_arch_at(i)->model_type) != NULL, "%s not listed in: %s",
                  dl_arch_at(i)->model_type, err.message);
    CHECK(dl_arch_find("rt_detr", &err) == NULL);
    CHECK(err.code == DL_ERR_UNSUPPORTED && strstr(err.message, "rt_detr_v2") != NULL);
}

/* Build from a config with random weights and run one 64x64 forward on the CPU. */
static void check_build_and_run(const char *fixture, const char *model_type) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s/tests/fixtures/%s/config.json", DL_SOURCE_DIR, fixture);
    dl_model *m = NULL;
    dl_error err;
    CHECK_OK(dl_model_build_enumerated(cfg, 7, &m, NULL, NULL, &err), &err);
    if (!m) return;
    CHECK(strcmp(dl_model_type(m), model_type) == 0);
    CHECK(m->arch && strcmp(m->arch->model_type, model_type) == 0);
    dl_detector_options o = dl_detector_default_options();
    o.num_threads = 1;
    dl_detector *d = NULL;
    CHECK_OK(dl_detector_create(m, &o, &d, &err), &err);
    int h = m->arch->fixed_input_size ? dl_model_input_height(m) : 64;
    int w = m->arch->fixed_input_size ? dl_model_input_width(m) : 64;
    size_t q = (size_t)dl_model_num_queries(m), l = (size_t)dl_model_num_labels(m);
    float *px = calloc((size_t)3 * h * w, sizeof(float));
    float *logits = malloc(q * l * sizeof(float)), *boxes = malloc(q * 4 * sizeof(float));
    if (d && px && logits && boxes) {
        CHECK_OK(dl_detector_forward(d, px, 1, h, w, logits, boxes, &err), &err);
        int finite = 1;
        for (size_t i = 0; i < q * 4; i++) finite &= isfinite(boxes[i]);
        CHECK(finite);
        if (m->arch->fixed_input_size) {
            /* the input rule: any other size is refused by name */
            dl_status s = dl_detector_forward(d, px, 1, 32, 32, logits, boxes, &err);
            CHECK(s == DL_ERR_INVALID_ARGUMENT && strstr(err.message, model_type) != NULL);
        }
    }
    free(px);
    free(logits);
    free(boxes);
    dl_detector_free(d);
    dl_model_free(m);
}

int main(void) {
    check_descriptors();
    check_build_and_run("golden/rtdetrv2-tiny", "rt_detr_v2");
    check_build_and_run("golden/dfine-tiny", "d_fine");
    check_build_and_run("dense-tiny", "dl_dense");
    return dl_test_finish("test_registry");
}
