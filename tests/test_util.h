/* A tiny test harness: CHECK macros, a pass/fail count, skips (exit 77; failures in CI), and
 * helpers. */
#ifndef DL_TEST_UTIL_H
#define DL_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int dl_test_passed, dl_test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            dl_test_passed++;                                                                      \
        } else {                                                                                   \
            dl_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            dl_test_passed++;                                                                      \
        } else {                                                                                   \
            dl_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Status must be DL_OK; prints the error message otherwise. */
#define CHECK_OK(expr, errp)                                                                       \
    do {                                                                                           \
        dl_status s_ = (expr);                                                                     \
        CHECK_MSG(s_ == DL_OK, "%s", (errp)->message);                                             \
    } while (0)

/* CI (CI=true, as .ci/run sets it) installs every dependency of the suite
 * (scripts/install-deps.sh: MuPDF, FreeType and the fonts, python3-jsonschema, ...) and has
 * ../shared: there a test that would skip, or a check that could not run, is a failure. GPU
 * tests still skip there (dl_test_skip_no_gpu): CI has no GPU. */
static inline int dl_test_ci(void) {
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

/* Checks that could not run for want of an optional dependency (dl_test_unavailable). */
static int dl_test_not_run;

/* Print the closing line ("N passed, N failed") and return the process exit code: 1 when a
 * check failed, 77 (skipped) when some could not run, else 0. */
static inline int dl_test_finish(const char *name) {
    if (dl_test_not_run) {
        printf("%s: %d passed, %d failed, %d not run\n", name, dl_test_passed, dl_test_failed,
               dl_test_not_run);
        return dl_test_failed ? 1 : 77;
    }
    printf("%s: %d passed, %d failed\n", name, dl_test_passed, dl_test_failed);
    return dl_test_failed ? 1 : 0;
}

/* The whole test cannot run: skipped (exit 77), or failed in CI. */
static inline int dl_test_skip(const char *name, const char *why) {
    if (dl_test_ci()) {
        printf("%s: FAILED: it cannot run (%s), and in CI (CI=true) everything it needs must be "
               "there\n",
               name, why);
        return 1;
    }
    printf("%s: skipped: %s\n", name, why);
    return 77;
}

/* The test needs a GPU and there is none: skipped everywhere, CI included. */
static inline int dl_test_skip_no_gpu(const char *name, const char *why) {
    printf("%s: skipped (no usable GPU): %s\n", name, why);
    return 77;
}

/* A check that could not run (what, why): the test ends as skipped, not passed (a validation
 * that did not run is not a pass), and in CI it fails. */
static inline void dl_test_unavailable(const char *what, const char *why) {
    if (dl_test_ci()) {
        dl_test_failed++;
        fprintf(stderr, "FAILED in CI (CI=true): %s could not run: %s\n", what, why);
    } else {
        dl_test_not_run++;
        printf("not run: %s: %s\n", what, why);
    }
}

static inline int dl_path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Path to ../shared/<rel> ($DOCLAYOUT_SHARED_DIR when set: the GPU machine's copy), or NULL
 * when it is absent (tests then use their fixtures or skip). In CI the reference data must be
 * there: its absence is counted as a failure (once). */
static inline const char *dl_shared_path(const char *rel, char *buf, size_t n) {
    static int reported;
    const char *env = getenv("DOCLAYOUT_SHARED_DIR");
    const char *dir = env && *env ? env : DL_SHARED_DIR;
    if (!dl_path_exists(dir) && dl_test_ci() && !reported) {
        reported = 1;
        dl_test_failed++;
        fprintf(stderr, "FAILED in CI (CI=true): the reference data %s is missing\n", dir);
    }
    snprintf(buf, n, "%s/%s", dir, rel);
    return dl_path_exists(buf) ? buf : NULL;
}

/* 1 when files a and b exist and hold the same bytes. */
static inline int dl_test_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Run a shell command with stderr folded into stdout: its exit code (-1 when it did not exit),
 * and its output in out[n]. */
static inline int dl_test_run(const char *cmd, char *out, size_t n) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, n - 1, p);
    out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* max |a-b| and ||a-b|| / ||b|| */
static inline double dl_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}
static inline double dl_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Deterministic pseudo-random floats in [-1, 1). */
static inline float dl_test_rand(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

#endif
