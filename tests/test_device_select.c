/*
 * Device selection, on any machine: --device cuda fails with a clear message when the CUDA
 * module or a GPU is missing, auto falls back to the CPU, D-FINE stays on the CPU, and bad
 * options are refused. Where a GPU works, cuda and auto must give "cuda:N (...)".
 */
#include "api/internal.h"
#include "test_util.h"

/* The source tree (fixtures): $DOCLAYOUT_SOURCE_DIR when a build runs elsewhere (GPU machine). */
static const char *src_dir(void) {
    const char *e = getenv("DOCLAYOUT_SOURCE_DIR");
    return e && *e ? e : DL_SOURCE_DIR;
}

static dl_model *load(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/golden/%s", src_dir(), name);
    dl_model *m = NULL;
    dl_error err;
    CHECK_OK(dl_model_load(dir, NULL, &m, &err), &err);
    return m;
}

static dl_status create(const dl_model *m, dl_device dev, dl_precision p, dl_detector **d,
                        dl_error *err) {
    dl_detector_options o = dl_detector_default_options();
    o.device = dev;
    o.precision = p;
    o.num_threads = 1;
    return dl_detector_create(m, &o, d, err);
}

/* Device names (the backend table): the public values of cpu and cuda, indices, and an unknown
 * name's message listing the valid ones. */
static void test_device_names(void) {
    dl_device dev = DL_DEVICE_AUTO;
    int index = -1;
    dl_error err;
    CHECK_OK(dl_device_parse("cpu", &dev, &index, &err), &err);
    CHECK(dev == DL_DEVICE_CPU && index == 0);
    CHECK_OK(dl_device_parse("cuda", &dev, &index, &err), &err);
    CHECK(dev == DL_DEVICE_CUDA && index == 0);
    CHECK_OK(dl_device_parse("cuda:3", &dev, &index, &err), &err);
    CHECK(dev == DL_DEVICE_CUDA && index == 3);
    CHECK_OK(dl_device_parse("auto", &dev, &index, &err), &err);
    CHECK(dev == DL_DEVICE_AUTO && index == 0);
    const char *bad[] = {"tpu",   "",      "cuda:", "cuda:x",  "cuda:-1", "cuda:256",
                         "cpu:0", "cudax", "CPU",   "cuda:1 ", "auto:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(dl_device_parse(bad[i], &dev, &index, &err) == DL_ERR_INVALID_ARGUMENT,
                  "'%s' parsed", bad[i]);
        CHECK_MSG(strstr(err.message, bad[i]), "'%s': %s", bad[i], err.message);
    }
    CHECK(dl_device_parse("tpu", &dev, &index, &err) != DL_OK &&
          strstr(err.message, "cpu, cuda, cuda:N or auto"));
    CHECK(strcmp(dl_device_names(), "cpu, cuda, cuda:N or auto") == 0);
    CHECK(dl_device_parse(NULL, &dev, &index, &err) == DL_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(dl_device_name(DL_DEVICE_CPU), "cpu") == 0);
    CHECK(strcmp(dl_device_name(DL_DEVICE_CUDA), "cuda") == 0);
    CHECK(strcmp(dl_device_name(DL_DEVICE_AUTO), "auto") == 0);
    CHECK(dl_device_name((dl_device)7) == NULL && dl_device_name((dl_device)-1) == NULL);
}

int main(void) {
    test_device_names();
    dl_model *m = load("rtdetrv2-tiny"), *df = load("dfine-tiny");
    if (!m || !df) return dl_test_finish("test_device_select");
    dl_detector *d = NULL;
    dl_error err;
    const char *module = getenv("DOCLAYOUT_CUDA_MODULE");
    char saved[1024] = "";
    if (module) snprintf(saved, sizeof saved, "%s", module);

    /* a module that is not there: cuda fails naming it, auto runs on the CPU */
    setenv("DOCLAYOUT_CUDA_MODULE", "/nonexistent/libdoclayout_cuda.so", 1);
    dl_status s = create(m, DL_DEVICE_CUDA, DL_PRECISION_DEFAULT, &d, &err);
    CHECK(s == DL_ERR_BACKEND && d == NULL);
    CHECK_MSG(strstr(err.message, "/nonexistent/libdoclayout_cuda.so") &&
                  strstr(err.message, "CUDA"),
              "message: %s", err.message);
    printf("cuda without the module: %s\n", err.message);
    CHECK_OK(create(m, DL_DEVICE_AUTO, DL_PRECISION_DEFAULT, &d, &err), &err);
    CHECK(d && strcmp(dl_detector_device_name(d), "cpu") == 0);
    if (d) { /* and it runs */
        float px[3 * 64 * 64] = {0}, lg[40 * 17], bx[40 * 4];
        CHECK_OK(dl_detector_forward(d, px, 1, 64, 64, lg, bx, &err), &err);
    }
    dl_detector_free(d);
    d = NULL;
    /* bf16 runs on the CPU too (bf16 GEMM operands), auto falling back included; fp16 runs as
     * float32 when auto falls back, and the CPU refuses it when asked for directly */
    CHECK_OK(create(m, DL_DEVICE_AUTO, DL_PRECISION_BF16, &d, &err), &err);
    CHECK(d && strstr(dl_detector_kernel_name(d), "+bf16") != NULL);
    dl_detector_free(d);
    d = NULL;
    CHECK_OK(create(m, DL_DEVICE_CPU, DL_PRECISION_BF16, &d, &err), &err);
    CHECK(d && strstr(dl_detector_kernel_name(d), "+bf16") != NULL);
    dl_detector_free(d);
    d = NULL;
    CHECK_OK(create(m, DL_DEVICE_AUTO, DL_PRECISION_FP16, &d, &err), &err);
    CHECK(d && strstr(dl_detector_kernel_name(d), "+bf16") == NULL);
    dl_detector_free(d);
    d = NULL;
    CHECK(create(m, DL_DEVICE_CPU, DL_PRECISION_FP16, &d, &err) == DL_ERR_UNSUPPORTED && !d);
    CHECK(create(m, DL_DEVICE_CPU, (dl_precision)99, &d, &err) == DL_ERR_INVALID_ARGUMENT && !d);
    CHECK(create(m, (dl_device)7, DL_PRECISION_DEFAULT, &d, &err) == DL_ERR_INVALID_ARGUMENT && !d);
    CHECK_MSG(strstr(err.message, "cpu, cuda, cuda:N or auto"), "%s", err.message);

    /* the real search (the build's module when there is one) */
    if (saved[0]) setenv("DOCLAYOUT_CUDA_MODULE", saved, 1);
    else unsetenv("DOCLAYOUT_CUDA_MODULE");
    s = create(m, DL_DEVICE_CUDA, DL_PRECISION_FP32, &d, &err);
    if (s == DL_OK) {
        printf("cuda: %s (%s)\n", dl_detector_device_name(d), dl_detector_kernel_name(d));
        CHECK(strncmp(dl_detector_device_name(d), "cuda:0 (", 8) == 0);
        CHECK(strcmp(dl_detector_kernel_name(d), "cuda-fp32") == 0);
    } else {
        printf("cuda: %s\n", err.message);
        CHECK(s == DL_ERR_BACKEND && !d);
        CHECK_MSG(strstr(err.message, "cuda") || strstr(err.message, "CUDA"), "%s", err.message);
    }
    bool gpu = s == DL_OK;
    dl_detector_free(d);
    d = NULL;
    CHECK_OK(create(m, DL_DEVICE_AUTO, DL_PRECISION_DEFAULT, &d, &err), &err);
    if (d) {
        printf("auto: %s\n", dl_detector_device_name(d));
        CHECK(gpu ? strncmp(dl_detector_device_name(d), "cuda:", 5) == 0
                  : strcmp(dl_detector_device_name(d), "cpu") == 0);
        if (gpu) CHECK(strcmp(dl_detector_kernel_name(d), "cuda-bf16") == 0); /* GPU default */
    }
    dl_detector_free(d);
    d = NULL;
    /* a device index that cannot exist */
    dl_detector_options o = dl_detector_default_options();
    o.device = DL_DEVICE_CUDA;
    o.device_index = 200;
    CHECK(dl_detector_create(m, &o, &d, &err) != DL_OK && !d);

    /* D-FINE runs on a device too (its decoder loops are registry ops): cuda opens the GPU
     * where there is one, auto takes it */
    dl_status ds = create(df, DL_DEVICE_CUDA, DL_PRECISION_DEFAULT, &d, &err);
    CHECK_MSG(gpu ? ds == DL_OK : ds == DL_ERR_BACKEND && !d, "d_fine on cuda: %s",
              ds ? err.message : "ok");
    dl_detector_free(d);
    d = NULL;
    CHECK_OK(create(df, DL_DEVICE_AUTO, DL_PRECISION_DEFAULT, &d, &err), &err);
    CHECK(d && strncmp(dl_detector_device_name(d), gpu ? "cuda:" : "cpu", gpu ? 5 : 3) == 0);
    dl_detector_free(d);

    dl_model_free(m);
    dl_model_free(df);
    return dl_test_finish("test_device_select");
}
