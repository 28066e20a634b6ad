/*
 * `doclayout doctor` as a user and a healthcheck run it: --json parses and has the documented
 * fields; exit 0 on this machine for the CPU; non-zero when a requested backend is broken
 * (--device cuda without a GPU, a perturbed CPU self-test, a missing self-test model); the
 * Hugging Face cache scan; a CUDA module's code read from its fat binary.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doclayout.h"
#include "test_util.h"

#define FATBIN_FIXTURE DL_SOURCE_DIR "/tests/fixtures/cuda/fatbin_sm90_sm121_ptx120.so"
#define TINY DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny"

static char tmp[256];
static char out[1 << 18];

/* Run `ENV doclayout ARGS` (stdout only); returns the exit code. */
static int doctor(const char *env, const char *args) {
    char cmd[4096];
    /* HOME and the HF variables point at an empty temp dir unless the caller sets them */
    snprintf(cmd, sizeof cmd,
             "HOME=%s HF_HOME= HF_HUB_CACHE= DOCLAYOUT_CUDA_MODULE= DOCLAYOUT_DOCTOR_FAULT= %s "
             "%s doctor %s 2>/dev/null",
             tmp, env ? env : "", DL_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, sizeof out - 1, p);
    out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k); }

static bool has_problem(const cJSON *root, const char *component, const char *severity) {
    const cJSON *p;
    cJSON_ArrayForEach(p, get(root, "problems")) {
        const cJSON *c = get(p, "component"), *s = get(p, "severity"), *fix = get(p, "fix");
        if (cJSON_IsString(c) && strcmp(c->valuestring, component) == 0 && cJSON_IsString(s) &&
            strcmp(s->valuestring, severity) == 0 && cJSON_IsString(fix) && fix->valuestring[0])
            return true;
    }
    return false;
}

static const cJSON *backend(const cJSON *root, const char *name) {
    const cJSON *b;
    cJSON_ArrayForEach(
        b, get(get(root, "selftest"), "backends")) if (strcmp(get(b, "name")->valuestring, name) ==
                                                       0) return b;
    return NULL;
}

static bool status_is(const cJSON *b, const char *s) {
    return b && cJSON_IsString(get(b, "status")) && strcmp(get(b, "status")->valuestring, s) == 0;
}

/* The documented fields of the report. */
static void check_schema(const cJSON *r) {
    CHECK(cJSON_IsString(get(r, "doclayout")) &&
          strcmp(get(r, "doclayout")->valuestring, dl_version()) == 0);
    CHECK(cJSON_IsBool(get(r, "healthy")));
    CHECK(cJSON_IsString(get(r, "device")));
    const cJSON *cpu = get(r, "cpu");
    CHECK(cJSON_IsString(get(cpu, "arch")) && cJSON_IsString(get(cpu, "model")));
    CHECK(cJSON_IsNumber(get(cpu, "online_cpus")) && get(cpu, "online_cpus")->valuedouble >= 1);
    CHECK(cJSON_IsNumber(get(cpu, "usable_cpus")));
    CHECK(cJSON_IsNumber(get(cpu, "memory_total_bytes")) &&
          get(cpu, "memory_total_bytes")->valuedouble > 0);
    CHECK(cJSON_IsNumber(get(cpu, "memory_available_bytes")));
    CHECK(cJSON_IsNumber(get(cpu, "sve_vector_bits")));
    const cJSON *f = get(cpu, "features");
    CHECK(cJSON_IsObject(f));
#if defined(__x86_64__)
    static const char *want[] = {"avx2", "fma", "avx512f", "avx512bf16"};
#elif defined(__aarch64__)
    static const char *want[] = {"neon", "sve", "sve2", "bf16", "i8mm"};
#else
    static const char *want[] = {NULL};
#endif
    for (size_t i = 0; i < sizeof want / sizeof want[0] && want[i]; i++)
        CHECK_MSG(cJSON_IsBool(get(f, want[i])), "cpu.features.%s missing", want[i]);
    const cJSON *k = get(cpu, "kernels");
    CHECK(cJSON_IsString(get(k, "ops")) && cJSON_IsString(get(k, "sgemm")) &&
          cJSON_IsNumber(get(k, "threads")));
    const cJSON *cu = get(r, "cuda");
    CHECK(cJSON_IsObject(get(cu, "module")) && cJSON_IsBool(get(get(cu, "module"), "found")) &&
          cJSON_IsBool(get(get(cu, "module"), "loadable")) &&
          cJSON_IsArray(get(get(cu, "module"), "searched")));
    CHECK(cJSON_IsString(get(cu, "status")));
    CHECK(get(cu, "runtime") && get(cu, "driver") && get(cu, "module_code"));
    CHECK(cJSON_IsArray(get(cu, "devices")));
    const cJSON *d;
    cJSON_ArrayForEach(d, get(cu, "devices")) {
        CHECK(cJSON_IsString(get(d, "name")) && cJSON_IsString(get(d, "compute_capability")));
        CHECK(cJSON_IsString(get(d, "code")) && get(d, "free_memory_bytes"));
    }
    CHECK(cJSON_IsArray(get(r, "models")));
    CHECK(cJSON_IsObject(get(r, "selftest")) && cJSON_IsString(get(get(r, "selftest"), "status")) &&
          cJSON_IsArray(get(get(r, "selftest"), "backends")));
    CHECK(cJSON_IsArray(get(r, "problems")));
}

static cJSON *parse_out(const char *what) {
    cJSON *r = cJSON_Parse(out);
    CHECK_MSG(r != NULL, "%s: not JSON:\n%.2000s", what, out);
    return r;
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/doclayout_doctor_%d", (int)getpid());
    char cmd[4096], env[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp, tmp);
    CHECK(system(cmd) == 0);

    /* 1. healthy on this machine for the CPU; every documented field */
    int rc = doctor(NULL, "--json --threads 2 --selftest-model " TINY);
    CHECK_MSG(rc == 0, "doctor --json exited %d:\n%.3000s", rc, out);
    cJSON *r = parse_out("doctor --json");
    if (r) {
        check_schema(r);
        CHECK(cJSON_IsTrue(get(r, "healthy")));
        CHECK(status_is(get(r, "selftest"), "ok"));
        CHECK(status_is(backend(r, "reference"), "ok"));
        const cJSON *cpu = backend(r, "cpu");
        CHECK(status_is(cpu, "ok"));
        CHECK(cpu && cJSON_IsNumber(get(cpu, "max_abs_diff_logits")) &&
              get(cpu, "max_abs_diff_logits")->valuedouble <= 1e-3);
        CHECK(cJSON_IsNumber(get(get(r, "selftest"), "detections")));
        /* the kernels reported are the ones the CPU allows */
        const cJSON *k = get(get(r, "cpu"), "kernels");
#if defined(__aarch64__)
        CHECK(strncmp(get(k, "sgemm")->valuestring, "neon", 4) == 0);
#endif
        (void)k;
        /* the bundled default model when the tree has one; else no model anywhere (empty
         * HOME, no installed models next to a build tree) is a warning */
        char def[1024];
        snprintf(def, sizeof def, "%s/models/default/config.json", DL_SOURCE_DIR);
        if (dl_path_exists(def)) {
            int found = 0;
            const cJSON *mm;
            cJSON_ArrayForEach(mm, get(r, "models")) found +=
                strcmp(get(mm, "source")->valuestring, "default") == 0 &&
                cJSON_IsTrue(get(mm, "complete"));
            CHECK(found == 1);
        } else {
            CHECK(has_problem(r, "models", "warning"));
        }
        printf("cpu self-test: %s, max|dlogits| %g\n", get(cpu, "kernel")->valuestring,
               get(cpu, "max_abs_diff_logits")->valuedouble);
        cJSON_Delete(r);
    }

    /* 2. text report */
    rc = doctor(NULL, "--no-selftest");
    CHECK_MSG(rc == 0 && strstr(out, "HEALTHY") && strstr(out, "CPU") && strstr(out, "GPU (CUDA)"),
              "text report (%d):\n%s", rc, out);
    rc = doctor(NULL, "--help");
    CHECK(rc == 0 && strstr(out, "--json") && strstr(out, "--device"));
    CHECK(doctor(NULL, "--bogus") == 2);
    CHECK(doctor(NULL, "--device tpu") == 2);
    CHECK(doctor(NULL, "--threads") == 2);

    /* 3. a requested backend that is broken: CUDA here (no GPU, or no module) */
    rc = doctor(NULL, "--json --device cuda --no-selftest");
    r = parse_out("doctor --device cuda");
    if (r) {
        const cJSON *cu = get(r, "cuda");
        bool gpu_ready = cJSON_IsTrue(get(get(cu, "module"), "loadable")) &&
                         cJSON_GetArraySize(get(cu, "devices")) > 0;
        if (!gpu_ready) {
            CHECK_MSG(rc == 1, "--device cuda without a working GPU exited %d", rc);
            CHECK(cJSON_IsFalse(get(r, "healthy")));
            CHECK(has_problem(r, "cuda", "error"));
        } else {
            printf("a GPU and the CUDA module are here: --device cuda exited %d\n", rc);
        }
        cJSON_Delete(r);
    }
    /* 4. a CPU backend that disagrees with the reference (testing hook); the CUDA backend is
     * tried too since it is requested. One run for both: the scalar reference is slow under
     * qemu (minutes). */
    rc = doctor("DOCLAYOUT_DOCTOR_FAULT=cpu", "--json --device cuda:0 --selftest-model " TINY);
    CHECK_MSG(rc == 1, "perturbed CPU self-test exited %d", rc);
    r = parse_out("doctor with a fault");
    if (r) {
        CHECK(status_is(backend(r, "cpu"), "mismatch"));
        CHECK(has_problem(r, "cpu", "error"));
        CHECK(cJSON_IsFalse(get(r, "healthy")));
        const cJSON *g = backend(r, "cuda:0");
        CHECK(g && (status_is(g, "ok") || (status_is(g, "error") && get(g, "message"))));
        cJSON_Delete(r);
    }

    /* 5. no self-test model */
    rc = doctor(NULL, "--json --selftest-model /nonexistent/model");
    CHECK_MSG(rc == 1, "missing self-test model exited %d", rc);
    r = parse_out("doctor without a self-test model");
    if (r) {
        CHECK(has_problem(r, "selftest", "error"));
        cJSON_Delete(r);
    }

    /* 6. models: a Docling layout model in a Hugging Face cache (and another repo, ignored) */
    snprintf(cmd, sizeof cmd,
             "h=%s/hf/hub/models--docling-project--docling-layout-heron && mkdir -p $h/refs "
             "$h/snapshots/0123abc %s/hf/hub/models--acme--other/snapshots/x && printf 0123abc > "
             "$h/refs/main && cp %s/config.json %s/preprocessor_config.json %s/model.safetensors "
             "$h/snapshots/0123abc/ && mkdir -p "
             "%s/hf/hub/models--docling-project--docling-layout-egret-large/snapshots/r",
             tmp, tmp, TINY, TINY, TINY, tmp);
    CHECK(system(cmd) == 0);
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/hf/hub", tmp);
    rc = doctor(env, "--json --no-selftest");
    CHECK(rc == 0);
    r = parse_out("doctor with an HF cache");
    if (r) {
        int heron = 0, egret = 0, other = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, get(r, "models")) {
            const char *name = get(m, "name")->valuestring;
            if (strcmp(name, "docling-project/docling-layout-heron") == 0) {
                heron++;
                CHECK(cJSON_IsTrue(get(m, "complete")));
                CHECK(cJSON_IsString(get(m, "model_type")) &&
                      strcmp(get(m, "model_type")->valuestring, "rt_detr_v2") == 0);
                CHECK(strstr(get(m, "path")->valuestring, "snapshots/0123abc") != NULL);
                CHECK(strcmp(get(m, "source")->valuestring, "hf-cache") == 0);
            } else if (strcmp(name, "docling-project/docling-layout-egret-large") == 0) {
                egret++;
                CHECK(cJSON_IsFalse(get(m, "complete")));
            } else if (strcmp(get(m, "source")->valuestring, "default") != 0) {
                other++;
            }
        }
        CHECK(heron == 1 && egret == 1 && other == 0);
        CHECK(!has_problem(r, "models", "warning"));
        cJSON_Delete(r);
    }

    /* 7. a CUDA module's code, read from its fat binary (the fixture is no real module: it
     * does not load, which --device auto reports without failing) */
    snprintf(env, sizeof env, "DOCLAYOUT_CUDA_MODULE=%s", FATBIN_FIXTURE);
    rc = doctor(env, "--json --no-selftest");
    CHECK_MSG(rc == 0, "auto with an unloadable module and no GPU exited %d", rc);
    r = parse_out("doctor with a module");
    if (r) {
        const cJSON *cu = get(r, "cuda");
        CHECK(cJSON_IsTrue(get(get(cu, "module"), "found")));
        CHECK(cJSON_IsFalse(get(get(cu, "module"), "loadable")));
        CHECK(cJSON_IsString(get(get(cu, "module"), "error")));
        const cJSON *code = get(cu, "module_code");
        CHECK(cJSON_GetArraySize(get(code, "sass")) == 2 &&
              cJSON_GetArrayItem(get(code, "sass"), 1)->valueint == 121);
        CHECK(cJSON_GetArraySize(get(code, "ptx")) == 1 &&
              cJSON_GetArrayItem(get(code, "ptx"), 0)->valueint == 120);
        cJSON_Delete(r);
    }
    CHECK(doctor(env, "--json --no-selftest --device cuda") == 1);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return dl_test_finish("test_doctor");
}
