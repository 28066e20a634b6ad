/*
 * doclayout doctor: a report on what this machine offers doclayout, and a self-test.
 *
 * The report is built once as a cJSON tree (printed as is with --json) and rendered as text
 * otherwise, so both forms always say the same thing. Its sections are the topics below, each
 * in its own file of this folder (see doctor.h).
 *
 * Health: the CPU backend must pass its self-test. CUDA counts when it was asked for
 * (--device cuda), or with --device auto when a GPU is visible and the module is installed
 * (something that should work does not). Each problem carries its known fix (fixes.c).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/doctor/doctor.h"
#include "cli/util.h"

/* The sections of the report, in order (the self-test uses what the CUDA topic learned). */
static const doctor_topic topics[] = {
    {"cpu", doctor_cpu_report, doctor_cpu_print},
    {"cuda", doctor_cuda_report, doctor_cuda_print},
    {"models", doctor_models_report, doctor_models_print},
    {"selftest", doctor_selftest_report, doctor_selftest_print},
    {"server", doctor_server_report, doctor_server_print},
};
#define N_TOPICS (sizeof topics / sizeof topics[0])

static const char *doctor_usage =
    "Usage: doclayout doctor [--json] [--device cpu|cuda|cuda:N|auto] [--threads N] [--cpu L]\n"
    "                        [--selftest-model DIR] [--no-selftest] [URL]\n"
    "\n"
    "Reports the CPU (model, features, the kernels doclayout uses, cores, memory), the CUDA\n"
    "module, runtime, driver and each GPU (compute capability, free memory, native code or PTX\n"
    "JIT), the models found (installed default models and Docling layout models in the Hugging\n"
    "Face cache), and runs a self-test: a tiny model on every available backend (scalar\n"
    "reference, fast CPU kernels, CUDA) compared with each other.\n"
    "\n"
    "  --json              print the report as JSON (fields: doclayout, healthy, device, cpu,\n"
    "                      cuda, models, selftest, problems; see docs/dgx-spark.md)\n"
    "  --device D          the backend that must work: cpu, cuda (or cuda:N), or auto (default:\n"
    "                      the CPU must work; CUDA must too when a GPU and the module are there)\n"
    "  --threads N         CPU threads for the self-test (default: all cores)\n"
    "  --cpu LEVEL         limit the CPU kernels, as detect's --cpu does\n"
    "  --selftest-model D  the self-test model directory (default: the installed\n"
    "                      share/doclayout/selftest/" DOCTOR_SELFTEST_NAME
    ", or the source tree's)\n"
    "  --no-selftest       only report, run nothing\n"
    "  URL                 also check that the doclayout serve at http://HOST:PORT is\n"
    "                      reachable, live and ready (docs/server.md)\n"
    "\n"
    "Exit status: 0 healthy, 1 when a requested backend is broken or the self-test failed\n"
    "(every problem is printed with its known fix), 2 on a usage error.\n"
    "Testing hook: DOCLAYOUT_DOCTOR_FAULT=cpu|cuda perturbs that backend's self-test output.\n";

/* ---- shared by the topics ---- */

void doctor_problem(cJSON *problems, const char *component, const char *severity,
                    const char *message, const char *fix) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "component", component);
    cJSON_AddStringToObject(p, "severity", severity);
    cJSON_AddStringToObject(p, "message", message);
    cJSON_AddStringToObject(p, "fix", fix);
    cJSON_AddItemToArray(problems, p);
}

const char *doctor_opt_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *doctor_str(const cJSON *o, const char *k) {
    const char *s = doctor_opt_str(o, k);
    return s ? s : "";
}

double doctor_num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

void doctor_exe_dir(char *out, size_t n) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (len <= 0) return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    dl_cli_copy_str(out, n, exe);
}

/* ---- the command ---- */

static void print_text(const cJSON *r, FILE *f) {
    fprintf(f, "doclayout %s doctor\n", doctor_str(r, "doclayout"));
    for (size_t i = 0; i < N_TOPICS; i++) {
        fputc('\n', f);
        topics[i].print(cJSON_GetObjectItem(r, topics[i].key), f);
    }
    const cJSON *p;
    int np = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(r, "problems")) {
        if (!np++) fprintf(f, "\nProblems\n");
        fprintf(f, "  [%s] %s: %s\n", doctor_str(p, "severity"), doctor_str(p, "component"),
                doctor_str(p, "message"));
        fprintf(f, "      fix: %s\n", doctor_str(p, "fix"));
    }
    fprintf(f, "\n%s (device %s)\n",
            cJSON_IsTrue(cJSON_GetObjectItem(r, "healthy")) ? "HEALTHY" : "NOT HEALTHY",
            doctor_str(r, "device"));
}

static int parse(int argc, char **argv, doctor_opts *o) {
    memset(o, 0, sizeof *o);
    o->selftest = true;
    o->device = "auto";
    options shared = {.device = DL_DEVICE_AUTO};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        /* --device, --threads and --cpu as every command parses them */
        int r = dl_cli_shared_option(
            argc, argv, &i, DL_CLI_OPT_DEVICE | DL_CLI_OPT_THREADS | DL_CLI_OPT_CPU, &shared);
        if (r < 0) return 2;
        if (r) continue;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--no-selftest") == 0) {
            o->selftest = false;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(doctor_usage, stdout);
            return 1;
        } else if (strcmp(a, "--selftest-model") == 0 && v) {
            i++;
            o->selftest_model = v;
        } else if (a[0] != '-' && !o->server_url) {
            o->server_url = a;
        } else {
            fprintf(stderr, "doclayout doctor: unknown or incomplete option '%s'\n%s", a,
                    doctor_usage);
            return 2;
        }
    }
    o->device = dl_device_name(shared.device);
    o->device_index = shared.device_index;
    o->threads = shared.threads;
    return 0;
}

const char dl_cli_doctor_help[] =
    "  doclayout doctor [--json] [--device cpu|cuda|auto]\n"
    "      Report the CPU, GPUs, models found and self-test every backend (doctor --help).\n";

int dl_cli_doctor(int argc, char **argv) {
    doctor_opts o;
    int rc = parse(argc, argv, &o);
    if (rc == 1) return 0; /* --help */
    if (rc) return rc;

    cJSON *r = cJSON_CreateObject();
    doctor_run run = {.opts = &o, .problems = cJSON_CreateArray()};
    cJSON_AddStringToObject(r, "doclayout", dl_version());
    cJSON_AddBoolToObject(r, "healthy", false); /* set below */
    char dev[32];
    if (strcmp(o.device, "cuda") == 0) snprintf(dev, sizeof dev, "cuda:%d", o.device_index);
    else snprintf(dev, sizeof dev, "%s", o.device);
    cJSON_AddStringToObject(r, "device", dev);
    for (size_t i = 0; i < N_TOPICS; i++)
        cJSON_AddItemToObject(r, topics[i].key, topics[i].report(&run));
    cJSON_AddItemToObject(r, "problems", run.problems);

    /* unhealthy: any error, and for CUDA only when CUDA is required (see the top comment) */
    bool healthy = true;
    const cJSON *p;
    cJSON_ArrayForEach(p, run.problems) {
        if (strcmp(doctor_str(p, "severity"), "error") != 0) continue;
        if (strcmp(doctor_str(p, "component"), "cuda") == 0 && !run.cuda_required &&
            strcmp(o.device, "cuda") != 0)
            continue;
        healthy = false;
    }
    cJSON_ReplaceItemInObject(r, "healthy", cJSON_CreateBool(healthy));

    if (o.json) {
        char *text = dl_cli_json_print(r);
        if (text) puts(text);
        free(text);
    } else {
        print_text(r, stdout);
    }
    fflush(stdout);
    cJSON_Delete(r);
    return healthy ? 0 : 1;
}
