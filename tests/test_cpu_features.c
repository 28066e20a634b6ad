/* dl_cpu_info_get: sane values on any machine; under qemu (aarch64 cross tests) the features
 * and the SVE vector length the emulated CPU was given (DL_TEST_EXPECT_FEATURES, a space-separated
 * list, and DL_TEST_EXPECT_SVE_BITS, set by tests/CMakeLists.txt from DL_QEMU_CPU). */
#include "core/cpu_features.h"
#include "test_util.h"

int main(void) {
    dl_cpu_info c;
    dl_cpu_info_get(&c);
    printf("arch %s, model '%s', %d online / %d usable cpus, %.1f GiB (%.1f available)\n", c.arch,
           c.model, c.online_cpus, c.usable_cpus, (double)c.memory_total / (1u << 30),
           (double)c.memory_available / (1u << 30));
    printf("features:");
    for (int i = 0; i < c.n_features; i++)
        printf(" %s%s", c.features[i].present ? "+" : "-", c.features[i].name);
    printf("; sve vector length %d bits\n", c.sve_vector_bits);
    CHECK(c.arch && c.arch[0]);
    CHECK(c.model[0] != '\0');
    CHECK(c.online_cpus >= 1 && c.usable_cpus >= 1);
    CHECK(c.memory_total > 0 && c.memory_available <= c.memory_total);
    CHECK(c.n_features > 0);
    CHECK(!dl_cpu_has(&c, "no-such-feature"));
    CHECK(c.sve == (c.sve_vector_bits > 0));
    CHECK(c.sve_vector_bits % 128 == 0 && c.sve_vector_bits <= 2048);
#if defined(__aarch64__)
    CHECK(strcmp(c.arch, "aarch64") == 0 && c.neon); /* ASIMD is mandatory on Linux/arm64 */
#elif defined(__x86_64__)
    CHECK(strcmp(c.arch, "x86_64") == 0);
    CHECK(!c.avx512f || c.avx2);
#endif
    const char *want = getenv("DL_TEST_EXPECT_FEATURES");
    if (want && *want) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", want);
        for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
            CHECK_MSG(dl_cpu_has(&c, tok), "feature %s expected but not reported", tok);
    }
    const char *bits = getenv("DL_TEST_EXPECT_SVE_BITS");
    if (bits && *bits)
        CHECK_MSG(c.sve_vector_bits == atoi(bits), "SVE vector length %d bits, expected %s",
                  c.sve_vector_bits, bits);
    return dl_test_finish("test_cpu_features");
}
