/* doctor: the CPU (model, features, the kernels doclayout uses, cores, memory). */
#include "cli/doctor/doctor.h"

cJSON *doctor_cpu_report(doctor_run *run) {
    int threads = run->opts->threads;
    dl_cpu_report c;
    dl_cpu_report_get(&c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "arch", c.arch);
    cJSON_AddStringToObject(o, "model", c.model);
    cJSON_AddNumberToObject(o, "online_cpus", c.online_cpus);
    cJSON_AddNumberToObject(o, "usable_cpus", c.usable_cpus);
    cJSON_AddNumberToObject(o, "memory_total_bytes", (double)c.memory_total);
    cJSON_AddNumberToObject(o, "memory_available_bytes", (double)c.memory_available);
    cJSON *f = cJSON_AddObjectToObject(o, "features");
    for (int i = 0; i < c.n_features; i++)
        cJSON_AddBoolToObject(f, c.features[i].name, c.features[i].present);
    cJSON_AddNumberToObject(o, "sve_vector_bits", c.sve_vector_bits);
    cJSON *k = cJSON_AddObjectToObject(o, "kernels");
    cJSON_AddStringToObject(k, "level", c.level);
    cJSON_AddStringToObject(k, "max_level", c.max_level);
    cJSON_AddStringToObject(k, "ops", c.ops_kernels);
    cJSON_AddStringToObject(k, "sgemm", c.sgemm_kernel);
    cJSON_AddNumberToObject(k, "threads", threads > 0 ? threads : c.usable_cpus);
    return o;
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

void doctor_cpu_print(const cJSON *cpu, FILE *f) {
    fprintf(f, "CPU\n");
    fprintf(f, "  model      %s (%s)\n", doctor_str(cpu, "model"), doctor_str(cpu, "arch"));
    fprintf(f, "  cores      %.0f online, %.0f usable\n", doctor_num(cpu, "online_cpus"),
            doctor_num(cpu, "usable_cpus"));
    fprintf(f, "  memory     %.1f GiB, %.1f GiB available\n",
            gib(doctor_num(cpu, "memory_total_bytes")),
            gib(doctor_num(cpu, "memory_available_bytes")));
    fprintf(f, "  features  ");
    const cJSON *ft;
    cJSON_ArrayForEach(ft, cJSON_GetObjectItem(cpu, "features"))
        fprintf(f, " %s%s", cJSON_IsTrue(ft) ? "+" : "-", ft->string);
    if (doctor_num(cpu, "sve_vector_bits") > 0)
        fprintf(f, " (SVE vectors %.0f bits)", doctor_num(cpu, "sve_vector_bits"));
    fprintf(f, "\n");
    const cJSON *k = cJSON_GetObjectItem(cpu, "kernels");
    fprintf(f, "  kernels    ops %s, sgemm %s, %.0f threads\n", doctor_str(k, "ops"),
            doctor_str(k, "sgemm"), doctor_num(k, "threads"));
}
