/* The test harness's skips (tests/test_util.h): outside CI a test that cannot run is skipped
 * (exit 77) and a check that could not run makes the test end as skipped, not passed; in CI
 * (CI=true) both are failures, except a missing GPU. The shell and Python tests' skips too. */
#include "test_util.h"

#include <unistd.h>

int main(void) {
    char cmd[2048], out[4096];
    const char *was = getenv("CI");
    char saved[64];
    snprintf(saved, sizeof saved, "%s", was ? was : "");

    unsetenv("CI");
    CHECK(!dl_test_ci());
    CHECK(dl_test_skip("a test", "no MuPDF") == 77);
    CHECK(dl_test_skip_no_gpu("a test", "no GPU") == 77);
    setenv("CI", "true", 1);
    CHECK(dl_test_ci());
    CHECK(dl_test_skip("a test", "no MuPDF") == 1);
    CHECK(dl_test_skip_no_gpu("a test", "no GPU") == 77);

    /* a check that could not run: outside CI the test ends as skipped; in CI as failed */
    int passed = dl_test_passed, failed = dl_test_failed;
    unsetenv("CI");
    dl_test_unavailable("schema validation", "no python3-jsonschema");
    CHECK(dl_test_not_run == 1 && dl_test_failed == failed);
    int rc = dl_test_finish("a test");
    dl_test_not_run = 0;
    CHECK(rc == 77);
    setenv("CI", "true", 1);
    failed = dl_test_failed;
    dl_test_unavailable("schema validation", "no python3-jsonschema");
    int failed_in_ci = dl_test_failed == failed + 1 && dl_test_not_run == 0;
    rc = dl_test_finish("a test");
    dl_test_failed = failed; /* that failure was the expected outcome */
    dl_test_passed = passed;
    CHECK(failed_in_ci && rc == 1);

    /* the shell test's skip: pkg-config missing (an empty PATH) */
    snprintf(cmd, sizeof cmd, "env -u CI PATH=/nonexistent /bin/sh %s/tests/test_install.sh a b c",
             DL_SOURCE_DIR);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 77, "%s", out);
    snprintf(cmd, sizeof cmd,
             "env CI=true PATH=/nonexistent /bin/sh %s/tests/test_install.sh a b c", DL_SOURCE_DIR);
    CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 1, "%s", out);

    /* the Python lint's skip: PyYAML made unimportable */
    if (dl_test_run("python3 -c pass", out, sizeof out) == 0) {
        char dir[] = "/tmp/dl_test_harness_XXXXXX";
        if (mkdtemp(dir)) {
            snprintf(cmd, sizeof cmd, "echo 'raise ImportError(\"hidden\")' > %s/yaml.py", dir);
            CHECK(system(cmd) == 0);
            snprintf(cmd, sizeof cmd,
                     "env -u CI PYTHONPATH=%s python3 %s/tests/docker_lint.py compose %s", dir,
                     DL_SOURCE_DIR, DL_SOURCE_DIR);
            CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 77, "%s", out);
            snprintf(cmd, sizeof cmd,
                     "env CI=true PYTHONPATH=%s python3 %s/tests/docker_lint.py compose %s", dir,
                     DL_SOURCE_DIR, DL_SOURCE_DIR);
            CHECK_MSG(dl_test_run(cmd, out, sizeof out) == 1, "%s", out);
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            CHECK(system(cmd) == 0);
        }
    } else {
        dl_test_unavailable("docker_lint.py's skip", "no python3");
    }

    if (saved[0]) setenv("CI", saved, 1);
    else unsetenv("CI");
    return dl_test_finish("test_harness");
}
