/*
 * `doclayout doctor`, split by topic. Each topic file (cpu.c, cuda.c, models.c, selftest.c)
 * builds its section of the report as a cJSON object, adding what it finds wrong to the
 * problems, and prints that section as text. doctor.c runs the topics in the order of its
 * table, decides health and prints the report (as is with --json), so both forms always say
 * the same thing. A new topic is a new file here plus one line in that table.
 */
#ifndef DL_CLI_DOCTOR_DOCTOR_H
#define DL_CLI_DOCTOR_DOCTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "doclayout.h"

#define DOCTOR_SELFTEST_NAME "rtdetrv2-tiny"

typedef struct doctor_opts {
    bool json, selftest;
    const char *device; /* "cpu", "cuda", "auto" */
    int device_index;
    int threads;
    const char *selftest_model;
    const char *server_url; /* doctor URL: check that a server there answers */
} doctor_opts;

/* One run: the options, the problems found so far, and what earlier topics learned. */
typedef struct doctor_run {
    const doctor_opts *opts;
    cJSON *problems; /* [{"component", "severity", "message", "fix"}] */
    /* from the cuda topic, for the self-test and the health rule */
    bool cuda_module_loadable;
    int cuda_devices;   /* visible GPUs (0 when the runtime says none or fails) */
    bool cuda_required; /* CUDA errors make the machine unhealthy */
} doctor_run;

/* A section of the report: its field name, how it is built, how it is printed. */
typedef struct doctor_topic {
    const char *key;
    cJSON *(*report)(doctor_run *run);
    void (*print)(const cJSON *section, FILE *f);
} doctor_topic;

cJSON *doctor_cpu_report(doctor_run *run);
void doctor_cpu_print(const cJSON *cpu, FILE *f);
cJSON *doctor_cuda_report(doctor_run *run);
void doctor_cuda_print(const cJSON *cuda, FILE *f);
cJSON *doctor_models_report(doctor_run *run);
void doctor_models_print(const cJSON *models, FILE *f);
cJSON *doctor_selftest_report(doctor_run *run);
void doctor_selftest_print(const cJSON *selftest, FILE *f);
cJSON *doctor_server_report(doctor_run *run);
void doctor_server_print(const cJSON *server, FILE *f);

/* ---- shared by the topics (doctor.c) ---- */
void doctor_problem(cJSON *problems, const char *component, const char *severity,
                    const char *message, const char *fix);
/* A field of a report object: a string or NULL / a string or "" / a number or -1. */
const char *doctor_opt_str(const cJSON *o, const char *key);
const char *doctor_str(const cJSON *o, const char *key);
double doctor_num(const cJSON *o, const char *key);
/* Directory of the running executable ("" when unknown). */
void doctor_exe_dir(char *out, size_t n);

/* ---- the known fixes (fixes.c): the failures seen on DGX Spark / sm_121 with CUDA 13 ---- */
extern const char *const DOCTOR_FIX_MODULE_ABSENT,
    *const DOCTOR_FIX_MODULE_DLOPEN,
        *const DOCTOR_FIX_NO_CUDART,
            *const DOCTOR_FIX_DRIVER,
                *const DOCTOR_FIX_NO_DRIVER,
                    *const DOCTOR_FIX_NO_DEVICE,
                        *const DOCTOR_FIX_NO_CODE,
                            *const DOCTOR_FIX_PTX_VERSION,
                                *const DOCTOR_FIX_JIT_MISSING,
                                    *const DOCTOR_FIX_OOM, *const DOCTOR_FIX_MISMATCH,
                                                               *const DOCTOR_FIX_SELFTEST_MODEL,
                                                                   *const DOCTOR_FIX_NO_MODEL,
                                                                       *const DOCTOR_FIX_PTX_ONLY;
/* The fix for a CUDA runtime error code (cudaError_t values). */
const char *doctor_fix_for_cuda_error(int code);
/* The fix for a failure message of the CUDA backend (dl_detector_create / the module). */
const char *doctor_fix_for_message(const char *message);

#endif
