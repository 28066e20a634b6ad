#include "core/cpu_features.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/threadpool.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <sys/prctl.h>
#ifndef PR_SVE_GET_VL
#define PR_SVE_GET_VL 51
#endif
#ifndef PR_SVE_VL_LEN_MASK
#define PR_SVE_VL_LEN_MASK 0xffff
#endif
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

static bool add(dl_cpu_info *c, const char *name, bool present) {
    if (c->n_features < DL_CPU_MAX_FEATURES) {
        c->features[c->n_features].name = name;
        c->features[c->n_features].present = present;
        c->n_features++;
    }
    return present;
}

bool dl_cpu_has(const dl_cpu_info *info, const char *name) {
    for (int i = 0; i < info->n_features; i++)
        if (strcmp(info->features[i].name, name) == 0) return info->features[i].present;
    return false;
}

/* The value of the first "key : value" line of /proc/cpuinfo whose key is `key`. */
static bool cpuinfo_value(const char *key, char *out, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ') p++;
        snprintf(out, n, "%s", p);
        out[strcspn(out, "\n")] = '\0';
        found = out[0] != '\0';
    }
    fclose(f);
    return found;
}

#if defined(__aarch64__)
/* MIDR part numbers of Arm Ltd (implementer 0x41) cores; enough for servers, the DGX Spark
 * and the usual boards. Others print as "implementer 0x.. part 0x...". */
static const char *arm_part_name(unsigned impl, unsigned part) {
    if (impl == 0x41) {
        static const struct {
            unsigned part;
            const char *name;
        } t[] = {
            {0xd03, "Cortex-A53"},  {0xd05, "Cortex-A55"},  {0xd07, "Cortex-A57"},
            {0xd08, "Cortex-A72"},  {0xd0a, "Cortex-A75"},  {0xd0b, "Cortex-A76"},
            {0xd0c, "Neoverse-N1"}, {0xd0d, "Cortex-A77"},  {0xd40, "Neoverse-V1"},
            {0xd41, "Cortex-A78"},  {0xd44, "Cortex-X1"},   {0xd46, "Cortex-A510"},
            {0xd47, "Cortex-A710"}, {0xd48, "Cortex-X2"},   {0xd49, "Neoverse-N2"},
            {0xd4d, "Cortex-A715"}, {0xd4e, "Cortex-X3"},   {0xd4f, "Neoverse-V2"},
            {0xd80, "Cortex-A520"}, {0xd81, "Cortex-A720"}, {0xd82, "Cortex-X4"},
            {0xd84, "Neoverse-V3"}, {0xd85, "Cortex-X925"}, {0xd87, "Cortex-A725"},
            {0xd8e, "Neoverse-N3"},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            if (t[i].part == part) return t[i].name;
    }
    if (impl == 0x4e && part == 0x004) return "NVIDIA Carmel";
    if (impl == 0x61) return "Apple";
    return NULL;
}

/* "10x Cortex-X925 + 10x Cortex-A725" from the per-core MIDR fields of /proc/cpuinfo. */
static void arm_model(char *out, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    struct {
        unsigned impl, part;
        int count;
    } kinds[8];
    int nk = 0;
    unsigned impl = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        if (strncmp(line, "CPU implementer", 15) == 0) {
            impl = (unsigned)strtoul(colon + 1, NULL, 0);
        } else if (strncmp(line, "CPU part", 8) == 0) {
            unsigned part = (unsigned)strtoul(colon + 1, NULL, 0);
            int k = 0;
            while (k < nk && !(kinds[k].impl == impl && kinds[k].part == part)) k++;
            if (k == nk && nk < 8) {
                kinds[nk].impl = impl;
                kinds[nk].part = part;
                kinds[nk].count = 0;
                nk++;
            }
            if (k < nk) kinds[k].count++;
        }
    }
    fclose(f);
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < nk && len + 1 < n; k++) {
        const char *name = arm_part_name(kinds[k].impl, kinds[k].part);
        int w;
        if (name)
            w = snprintf(out + len, n - len, "%s%dx %s", k ? " + " : "", kinds[k].count, name);
        else
            w = snprintf(out + len, n - len, "%s%dx implementer 0x%02x part 0x%03x", k ? " + " : "",
                         kinds[k].count, kinds[k].impl, kinds[k].part);
        if (w < 0) break;
        len += (size_t)w < n - len ? (size_t)w : n - len - 1;
    }
}
#endif

static void read_memory(dl_cpu_info *c) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) c->memory_total = (uint64_t)pages * (uint64_t)page;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            c->memory_available = (uint64_t)kb * 1024u;
            break;
        }
    }
    fclose(f);
}

void dl_cpu_info_get(dl_cpu_info *c) {
    memset(c, 0, sizeof *c);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    c->online_cpus = online > 0 ? (int)online : 1;
    c->usable_cpus = dl_cpu_count();
    read_memory(c);
#if defined(__x86_64__) || defined(_M_X64)
    c->arch = "x86_64";
    __builtin_cpu_init();
    add(c, "sse4.2", __builtin_cpu_supports("sse4.2"));
    add(c, "avx", __builtin_cpu_supports("avx"));
    c->avx2 = add(c, "avx2", __builtin_cpu_supports("avx2"));
    c->fma = add(c, "fma", __builtin_cpu_supports("fma"));
    unsigned a = 0, b = 0, cc = 0, d = 0;
    bool f16c = __get_cpuid(1, &a, &b, &cc, &d) && (cc & (1u << 29));
    add(c, "f16c", f16c && __builtin_cpu_supports("avx"));
    c->avx512f = add(c, "avx512f", __builtin_cpu_supports("avx512f"));
    add(c, "avx512bw", __builtin_cpu_supports("avx512bw"));
    add(c, "avx512vl", __builtin_cpu_supports("avx512vl"));
    add(c, "avx512dq", __builtin_cpu_supports("avx512dq"));
    /* CPUID.(7,0):ECX[11] AVX512_VNNI; CPUID.(7,1):EAX[5] AVX512_BF16; both need AVX-512 */
    bool vnni = false, bf16 = false, amx = false;
    if (__get_cpuid_count(7, 0, &a, &b, &cc, &d)) {
        vnni = (cc >> 11) & 1u;
        amx = (d >> 22) & 1u; /* AMX-BF16 */
    }
    if (__get_cpuid_count(7, 1, &a, &b, &cc, &d)) bf16 = (a >> 5) & 1u;
    add(c, "avx512vnni", vnni && c->avx512f);
    c->bf16 = add(c, "avx512bf16", bf16 && c->avx512f);
    add(c, "amx-bf16", amx);
    if (!cpuinfo_value("model name", c->model, sizeof c->model))
        snprintf(c->model, sizeof c->model, "unknown x86-64");
#elif defined(__aarch64__)
    c->arch = "aarch64";
    unsigned long hw = 0, hw2 = 0;
#if defined(__linux__)
    hw = getauxval(AT_HWCAP);
    hw2 = getauxval(AT_HWCAP2);
#endif
    /* Linux's HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h) */
    c->neon = add(c, "neon", hw & (1ul << 1));   /* HWCAP_ASIMD */
    add(c, "fp16", hw & (1ul << 10));            /* HWCAP_ASIMDHP */
    add(c, "dotprod", hw & (1ul << 20));         /* HWCAP_ASIMDDP */
    add(c, "fhm", hw & (1ul << 23));             /* HWCAP_ASIMDFHM */
    c->bf16 = add(c, "bf16", hw2 & (1ul << 14)); /* HWCAP2_BF16 */
    c->i8mm = add(c, "i8mm", hw2 & (1ul << 13)); /* HWCAP2_I8MM */
    c->sve = add(c, "sve", hw & (1ul << 22));    /* HWCAP_SVE */
    c->sve2 = add(c, "sve2", hw2 & (1ul << 1));  /* HWCAP2_SVE2 */
    add(c, "svebf16", hw2 & (1ul << 12));        /* HWCAP2_SVEBF16 */
    add(c, "svei8mm", hw2 & (1ul << 9));         /* HWCAP2_SVEI8MM */
    add(c, "sme", hw2 & (1ul << 23));            /* HWCAP2_SME */
#if defined(__linux__)
    if (c->sve) {
        int vl = prctl(PR_SVE_GET_VL, 0, 0, 0, 0);
        if (vl > 0) c->sve_vector_bits = (vl & PR_SVE_VL_LEN_MASK) * 8;
    }
#endif
    arm_model(c->model, sizeof c->model);
    if (!c->model[0] && !cpuinfo_value("model name", c->model, sizeof c->model))
        snprintf(c->model, sizeof c->model, "unknown aarch64");
#else
    c->arch = "other";
    if (!cpuinfo_value("model name", c->model, sizeof c->model))
        snprintf(c->model, sizeof c->model, "unknown");
#endif
}

/* ------------------------------------------------------------------ capabilities record --- */

static const char *const level_names[DL_CPU_LEVEL_COUNT] = {
    "scalar", "avx2", "avx512", "avx512bf16", "neon", "neonbf16",
};

const char *dl_cpu_level_name(dl_cpu_level level) {
    return (unsigned)level < DL_CPU_LEVEL_COUNT ? level_names[level] : "unknown";
}

bool dl_cpu_level_parse(const char *name, dl_cpu_level *out) {
    for (int i = 0; name && i < DL_CPU_LEVEL_COUNT; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (dl_cpu_level)i;
            return true;
        }
    return false;
}

/* The levels of this architecture, lowest first. */
#if defined(__x86_64__) || defined(_M_X64)
static const dl_cpu_level arch_levels[] = {DL_CPU_SCALAR, DL_CPU_AVX2, DL_CPU_AVX512,
                                           DL_CPU_AVX512BF16};
#elif defined(__aarch64__)
static const dl_cpu_level arch_levels[] = {DL_CPU_SCALAR, DL_CPU_NEON, DL_CPU_NEONBF16};
#else
static const dl_cpu_level arch_levels[] = {DL_CPU_SCALAR};
#endif
#define N_ARCH_LEVELS ((int)(sizeof arch_levels / sizeof arch_levels[0]))

static int rank_of(dl_cpu_level level) {
    for (int i = 0; i < N_ARCH_LEVELS; i++)
        if (arch_levels[i] == level) return i;
    return -1;
}

static dl_cpu_level detect_max_level(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return DL_CPU_SCALAR;
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")))
        return DL_CPU_AVX2;
    unsigned a = 0, b = 0, c = 0, d = 0;
    /* CPUID.(7,1):EAX[5] AVX512_BF16 */
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1u)) return DL_CPU_AVX512BF16;
    return DL_CPU_AVX512;
#elif defined(__aarch64__)
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (!(hw & (1ul << 1))) return DL_CPU_SCALAR;               /* HWCAP_ASIMD */
    return (hw2 & (1ul << 14)) ? DL_CPU_NEONBF16 : DL_CPU_NEON; /* HWCAP2_BF16 */
#else
    return DL_CPU_NEON;
#endif
#else
    return DL_CPU_SCALAR;
#endif
}

static dl_cpu_level machine_max = DL_CPU_SCALAR;
static atomic_int active_level; /* a dl_cpu_level */
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

static void caps_init(void) {
    machine_max = detect_max_level();
    dl_cpu_level level = machine_max, want;
    const char *env = getenv("DOCLAYOUT_CPU");
    if (env && dl_cpu_level_parse(env, &want) && rank_of(want) >= 0 &&
        rank_of(want) <= rank_of(machine_max))
        level = want;
    atomic_store(&active_level, (int)level);
}

static dl_cpu_caps caps_for(dl_cpu_level level) {
    dl_cpu_caps c;
    memset(&c, 0, sizeof c);
    c.level = level;
    c.max_level = machine_max;
    int r = rank_of(level);
#if defined(__x86_64__) || defined(_M_X64)
    c.avx2 = r >= 1;
    c.avx512 = r >= 2;
    c.avx512bf16 = r >= 3;
#elif defined(__aarch64__)
    c.neon = r >= 1;
    c.neon_bf16 = r >= 2;
#else
    (void)r;
#endif
    return c;
}

/* One record per level, built on first use; the active one is returned. */
static dl_cpu_caps caps_table[DL_CPU_LEVEL_COUNT];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
    pthread_once(&caps_once, caps_init);
    for (int i = 0; i < DL_CPU_LEVEL_COUNT; i++) caps_table[i] = caps_for((dl_cpu_level)i);
}

const dl_cpu_caps *dl_cpu_caps_get(void) {
    pthread_once(&table_once, table_init);
    return &caps_table[atomic_load_explicit(&active_level, memory_order_relaxed)];
}

bool dl_cpu_set_level(dl_cpu_level level) {
    pthread_once(&table_once, table_init);
    int r = rank_of(level);
    if (r < 0 || r > rank_of(machine_max)) return false;
    atomic_store(&active_level, (int)level);
    return true;
}

int dl_cpu_levels(dl_cpu_level *out, int max) {
    pthread_once(&table_once, table_init);
    int n = 0;
    for (int i = 0; i < N_ARCH_LEVELS && i <= rank_of(machine_max) && n < max; i++)
        out[n++] = arch_levels[i];
    return n;
}
