/*
 * What the library exports for `doclayout doctor`: the CUDA module probe searches exactly the
 * places a CUDA detector tries, in its order, and reads a module's GPU code; the Hugging Face
 * cache listing finds what dl_model_load resolves.
 */
#include <limits.h>
#include <unistd.h>

#include "doclayout.h"
#include "test_util.h"

#define FATBIN_FIXTURE DL_SOURCE_DIR "/tests/fixtures/cuda/fatbin_sm90_sm121_ptx120.so"

static void check_cuda_probe(void) {
    dl_cuda_probe *p = calloc(1, sizeof *p);
    if (!p) return;
    /* $DOCLAYOUT_CUDA_MODULE alone, when set: a missing file is not found */
    setenv("DOCLAYOUT_CUDA_MODULE", "/nonexistent/libdoclayout_cuda.so", 1);
    dl_cuda_probe_module(p);
    CHECK(!p->found && !p->loadable && p->n_searched == 1);
    CHECK(strcmp(p->searched[0], "/nonexistent/libdoclayout_cuda.so") == 0);
    CHECK(dl_cuda_probe_code_for(p, 121, NULL) == DL_CUDA_CODE_NONE);
    /* a file that is no loadable module: found, not loadable, its code read all the same */
    setenv("DOCLAYOUT_CUDA_MODULE", FATBIN_FIXTURE, 1);
    dl_cuda_probe_module(p);
    CHECK(p->found && !p->loadable && p->error[0] && strcmp(p->path, FATBIN_FIXTURE) == 0);
    CHECK(p->code_read && p->n_sass == 2 && p->sass[0] == 90 && p->sass[1] == 121);
    CHECK(p->n_ptx == 1 && p->ptx[0] == 120);
    int which = 0;
    CHECK(dl_cuda_probe_code_for(p, 121, &which) == DL_CUDA_CODE_NATIVE && which == 121);
    CHECK(dl_cuda_probe_code_for(p, 120, &which) == DL_CUDA_CODE_PTX_JIT && which == 120);
    CHECK(dl_cuda_probe_code_for(p, 80, &which) == DL_CUDA_CODE_NONE);
    /* the default search: the library's order, ending with the dynamic linker's search by
     * name; when nothing loads, a CUDA detector's error names every place the probe tried */
    unsetenv("DOCLAYOUT_CUDA_MODULE");
    dl_cuda_probe_module(p);
    CHECK(p->n_searched >= 2);
    CHECK(strcmp(p->searched[p->n_searched - 1], DL_CUDA_MODULE_NAME) == 0);
    if (!p->found) {
        dl_error err;
        dl_model *m = NULL;
        dl_detector *d = NULL;
        CHECK_OK(
            dl_model_load(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny", NULL, &m, &err),
            &err);
        dl_detector_options o = dl_detector_default_options();
        o.device = DL_DEVICE_CUDA;
        CHECK(dl_detector_create(m, &o, &d, &err) == DL_ERR_BACKEND);
        for (int i = 0; i + 1 < p->n_searched; i++)
            CHECK_MSG(strstr(err.message, p->searched[i]) != NULL, "%s not in: %s", p->searched[i],
                      err.message);
        dl_detector_free(d);
        dl_model_free(m);
    } else {
        printf("a CUDA module is installed (%s): the not-found comparison is skipped\n", p->path);
    }
    free(p);
}

typedef struct seen {
    int n, heron, empty;
    char heron_path[PATH_MAX];
} seen;

static int collect(const dl_cached_model *c, void *user) {
    seen *s = user;
    s->n++;
    if (strcmp(c->repo_id, "docling-project/docling-layout-heron") == 0) {
        s->heron++;
        CHECK(c->path && !c->error);
        if (c->path) snprintf(s->heron_path, sizeof s->heron_path, "%s", c->path);
    }
    if (strcmp(c->repo_id, "docling-project/docling-layout-empty") == 0) {
        s->empty++;
        CHECK(!c->path && c->error && strstr(c->cache_entry, "models--docling-project--"));
    }
    return 0;
}

static int stop_at_first(const dl_cached_model *c, void *user) {
    (*(int *)user)++;
    return 1;
}

static void check_hf_cache(void) {
    char dir[] = "/tmp/dl_diag_XXXXXX", cmd[1024];
    if (!mkdtemp(dir)) return;
    snprintf(cmd, sizeof cmd,
             "h=%s/hub/models--docling-project--docling-layout-heron && mkdir -p $h/refs "
             "$h/snapshots/0123abc %s/hub/models--acme--other/snapshots/x "
             "%s/hub/models--docling-project--docling-layout-empty/snapshots "
             "%s/hub/models--nodash && printf 0123abc > $h/refs/main",
             dir, dir, dir, dir);
    CHECK(system(cmd) == 0);
    char hub[PATH_MAX];
    snprintf(hub, sizeof hub, "%s/hub", dir);
    setenv("HF_HUB_CACHE", hub, 1);
    setenv("HF_HOME", dir, 1); /* $HF_HOME/hub is the same cache: listed once */
    setenv("HOME", dir, 1);
    seen s = {0};
    dl_hf_cache_models("docling-project/docling-layout-", collect, &s);
    CHECK(s.n == 2 && s.heron == 1 && s.empty == 1);
    /* the same snapshot dl_model_load resolves the repo id to */
    CHECK(strstr(s.heron_path, "/snapshots/0123abc") != NULL);
    seen all = {0};
    dl_hf_cache_models(NULL, collect, &all);
    CHECK(all.n == 3); /* acme/other too; models--nodash is no repo */
    int calls = 0;
    dl_hf_cache_models("", stop_at_first, &calls);
    CHECK(calls == 1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void check_cpu_report(void) {
    dl_cpu_report r;
    dl_cpu_report_get(&r);
    CHECK(r.arch[0] && r.online_cpus >= 1 && r.usable_cpus >= 1 && r.n_features > 0);
    CHECK(r.ops_kernels[0] && r.sgemm_kernel[0] && r.level[0] && r.max_level[0]);
    /* a CPU detector switches to the scalar reference kernels; the fast ones were in use */
    dl_error err;
    dl_model *m = NULL;
    dl_detector *d = NULL;
    CHECK_OK(dl_model_load(DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny", NULL, &m, &err),
             &err);
    CHECK_OK(dl_detector_create(m, NULL, &d, &err), &err);
    if (d) {
        CHECK(strcmp(dl_detector_kernel_name(d), r.ops_kernels) == 0);
        CHECK(dl_detector_use_reference_kernels(d) == 1);
        CHECK(strcmp(dl_detector_kernel_name(d), r.ops_kernels) != 0);
    }
    CHECK(dl_detector_use_reference_kernels(NULL) == 0);
    dl_detector_free(d);
    dl_model_free(m);
}

int main(void) {
    check_cpu_report();
    check_cuda_probe();
    check_hf_cache();
    return dl_test_finish("test_diagnostics");
}
