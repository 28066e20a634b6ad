/*
 * What the CPU offers, read at run time: the model name, the SIMD extensions doclayout cares
 * about (and the ones it may use later), the SVE vector length, cores and memory. For
 * `doclayout doctor` and the tests; the kernels make their own run-time choice in
 * backends/cpu (gemm.c: __builtin_cpu_supports on x86-64, HWCAP on aarch64) from the same
 * sources, so what is reported here is what they see.
 */
#ifndef DL_CORE_CPU_FEATURES_H
#define DL_CORE_CPU_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#define DL_CPU_MAX_FEATURES 24

typedef struct dl_cpu_feature {
    const char *name; /* "avx2", "neon", "sve", "bf16", "i8mm", ... */
    bool present;
} dl_cpu_feature;

typedef struct dl_cpu_info {
    const char *arch;          /* "x86_64", "aarch64" or "other" */
    char model[160];           /* "AMD EPYC 7B13", "10x Arm Cortex-X925 + 10x Arm Cortex-A725" */
    int online_cpus;           /* sysconf(_SC_NPROCESSORS_ONLN) */
    int usable_cpus;           /* those this process may run on (affinity) */
    uint64_t memory_total;     /* bytes; 0 when unknown */
    uint64_t memory_available; /* bytes (MemAvailable); 0 when unknown */
    /* the extensions of this architecture, in a fixed order, present or not */
    dl_cpu_feature features[DL_CPU_MAX_FEATURES];
    int n_features;
    /* shortcuts */
    bool avx2, fma, avx512f, neon, sve, sve2, bf16, i8mm;
    int sve_vector_bits; /* 0 without SVE */
} dl_cpu_info;

/* Fill `out` (never fails; what cannot be read stays empty/0). */
void dl_cpu_info_get(dl_cpu_info *out);

/* Whether the named feature is present (false when unknown to this architecture). */
bool dl_cpu_has(const dl_cpu_info *info, const char *name);

#endif
