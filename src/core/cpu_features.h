/*
 * What the CPU offers, read at run time: the model name, the SIMD extensions doclayout cares
 * about (and the ones it may use later), the SVE vector length, cores and memory (for
 * `doclayout doctor` and the tests); and the one capabilities record every kernel choice reads
 * (dl_cpu_caps_get: detected once, lowered by DOCLAYOUT_CPU or dl_cpu_set_level).
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

/*
 * Kernel levels, each a superset of the one before on its architecture:
 *   x86-64:  scalar < avx2 (AVX2+FMA) < avx512 (F, BW, DQ, VL) < avx512bf16 (+ AVX512_BF16)
 *   aarch64: scalar < neon < neonbf16 (+ BF16: BFDOT/BFMMLA)
 */
typedef enum dl_cpu_level {
    DL_CPU_SCALAR = 0,
    DL_CPU_AVX2,
    DL_CPU_AVX512,
    DL_CPU_AVX512BF16,
    DL_CPU_NEON,
    DL_CPU_NEONBF16,
} dl_cpu_level;
#define DL_CPU_LEVEL_COUNT 6

/* What the kernels may use: the machine's features limited to the active level. */
typedef struct dl_cpu_caps {
    dl_cpu_level level;     /* the active level */
    dl_cpu_level max_level; /* the highest this machine runs */
    bool avx2;              /* AVX2 + FMA (+ F16C) */
    bool avx512;            /* AVX-512 F, BW, DQ, VL */
    bool avx512bf16;        /* vdpbf16ps */
    bool neon;
    bool neon_bf16; /* BFDOT / BFMMLA */
} dl_cpu_caps;

/* The active record. Detected once (thread-safe); DOCLAYOUT_CPU=scalar|avx2|avx512|avx512bf16|
 * neon|neonbf16 in the environment lowers the level (a level the machine lacks is ignored). */
const dl_cpu_caps *dl_cpu_caps_get(void);

/* Lower (or restore, up to the machine's maximum) the active level: for the tests, benchmarks
 * and the CLI's --cpu. Call it while no op runs. Returns false (and changes nothing) when
 * the machine cannot run `level`. */
bool dl_cpu_set_level(dl_cpu_level level);

/* The levels this machine runs, lowest first (scalar always); returns how many (<= max). */
int dl_cpu_levels(dl_cpu_level *out, int max);

/* "scalar", "avx2", "avx512", "avx512bf16", "neon", "neonbf16". */
const char *dl_cpu_level_name(dl_cpu_level level);
/* The level named `name`; false when unknown. */
bool dl_cpu_level_parse(const char *name, dl_cpu_level *out);

#endif
