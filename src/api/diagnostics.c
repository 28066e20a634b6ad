/* What `doclayout doctor` reads about the CPU, and its switch to the reference kernels. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "backends/backend.h"
#include "backends/cpu/gemm.h"
#include "core/cpu_features.h"

_Static_assert(DL_CPU_REPORT_MAX_FEATURES >= DL_CPU_MAX_FEATURES, "room for every feature");

void dl_cpu_report_get(dl_cpu_report *r) {
    if (!r) return;
    memset(r, 0, sizeof *r);
    dl_cpu_info c;
    dl_cpu_info_get(&c);
    snprintf(r->arch, sizeof r->arch, "%s", c.arch);
    snprintf(r->model, sizeof r->model, "%s", c.model);
    r->online_cpus = c.online_cpus;
    r->usable_cpus = c.usable_cpus;
    r->memory_total = c.memory_total;
    r->memory_available = c.memory_available;
    r->n_features = c.n_features;
    for (int i = 0; i < c.n_features; i++) {
        snprintf(r->features[i].name, sizeof r->features[i].name, "%s", c.features[i].name);
        r->features[i].present = c.features[i].present;
    }
    r->sve_vector_bits = c.sve_vector_bits;
    snprintf(r->level, sizeof r->level, "%s", dl_cpu_level_name(dl_cpu_caps_get()->level));
    snprintf(r->max_level, sizeof r->max_level, "%s",
             dl_cpu_level_name(dl_cpu_caps_get()->max_level));
    snprintf(r->ops_kernels, sizeof r->ops_kernels, "%s", dl_ops_cpu()->name);
    snprintf(r->sgemm_kernel, sizeof r->sgemm_kernel, "%s", dl_sgemm_kernel_name());
}

int dl_detector_use_reference_kernels(dl_detector *d) {
    if (!d || d->backend->ops->device) return 0; /* host backends only */
    dl_detector_use_reference_ops(d);
    return 1;
}
