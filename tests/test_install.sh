#!/bin/sh
# Install a build into a temporary prefix and use it as a consumer would: compile a program
# with only `pkg-config --cflags --libs doclayout`, run it with LD_LIBRARY_PATH (it loads the
# tiny test model and runs detection on a small PNG), and check that the header, the versioned
# shared library, the pkg-config file and the CLI are there.
#
#   test_install.sh BUILD_DIR SOURCE_DIR CC [EXTRA_FLAGS] [RUNNER]
# RUNNER prefixes every run of a built program (the emulator when cross-compiling).
# Exit 0 on success, 77 (skipped) when pkg-config is missing (1 in CI), 1 on failure.
set -eu
build=$1
src=$2
cc=$3
extra=${4:-}
runner=${5:-}

if ! command -v pkg-config > /dev/null 2>&1; then
    # CI (CI=true) installs pkg-config (scripts/install-deps.sh): there a skip is a failure
    if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
        echo "test_install: FAILED: pkg-config not found, and CI must have it"
        exit 1
    fi
    echo "test_install: skipped: pkg-config not found"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/doclayout-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

fail() {
    echo "test_install: FAIL: $*" >&2
    echo "test_install: 0 passed, 1 failed"
    exit 1
}

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

pc=$(find "$prefix" -name doclayout.pc | head -n 1)
[ -n "$pc" ] || fail "no doclayout.pc installed"
[ -f "$prefix/include/doclayout.h" ] || fail "no include/doclayout.h"
[ -x "$prefix/bin/doclayout" ] || fail "no bin/doclayout"
libdir=$(dirname "$(dirname "$pc")")
ls "$libdir"/libdoclayout.so.0 > /dev/null 2>&1 || fail "no libdoclayout.so.0 in $libdir"
[ -f "$prefix/share/man/man1/doclayout.1" ] || fail "no share/man/man1/doclayout.1"
selftest=$prefix/share/doclayout/selftest/rtdetrv2-tiny
for f in config.json preprocessor_config.json model.safetensors; do
    [ -f "$selftest/$f" ] || fail "no $selftest/$f"
done
if [ -d "$src/models" ]; then
    [ -d "$prefix/share/doclayout/models" ] || fail "models/ exists but share/doclayout/models was not installed"
fi

export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs doclayout) || fail "pkg-config --cflags --libs doclayout"
[ "$(pkg-config --modversion doclayout)" = "$(sed -n 's/^project(doclayout VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ] ||
    fail "pkg-config --modversion does not match CMakeLists.txt"
echo "test_install: pkg-config flags: $flags"

cat > "$tmp/consumer.c" << 'CEOF'
#include <doclayout.h>
#include <stdio.h>
#include <string.h>

/* consumer MODEL_DIR VERSION PAGE.png: load, detect, print the best detection. */
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    printf("doclayout %s\n", dl_version());
    if (strcmp(dl_version(), argv[2]) != 0) {
        fprintf(stderr, "dl_version() is not %s\n", argv[2]);
        return 1;
    }
    dl_error err;
    dl_model *model = NULL;
    dl_detector *det = NULL;
    dl_image *page = NULL;
    dl_result *res = NULL;
    if (dl_model_load(argv[1], NULL, &model, &err) != DL_OK ||
        dl_detector_create(model, NULL, &det, &err) != DL_OK ||
        dl_image_load_file(argv[3], &page, &err) != DL_OK ||
        dl_detector_run(det, (const dl_image *const[]){page}, 1, 0.0f, &res, &err) != DL_OK) {
        fprintf(stderr, "consumer: %s\n", err.message);
        return 1;
    }
    size_t n = 0;
    const dl_detection *d = dl_result_detections(res, 0, &n);
    printf("%s: %s, %zu parameters, on %s (%s): %zu detections on %dx%d\n", argv[1],
           dl_model_type(model), dl_model_num_parameters(model), dl_detector_device_name(det),
           dl_detector_kernel_name(det), n, page->width, page->height);
    int ok = n == (size_t)dl_model_num_queries(model) && n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = d[i].label && d[i].score >= 0.0f && d[i].score <= 1.0f && d[i].box[0] <= d[i].box[2] &&
             d[i].box[1] <= d[i].box[3] && d[i].box[2] <= (float)page->width &&
             (i == 0 || d[i].score <= d[i - 1].score);
    if (n > 0)
        printf("best: %s %.4f [%.1f %.1f %.1f %.1f]\n", d[0].label, d[0].score, d[0].box[0],
               d[0].box[1], d[0].box[2], d[0].box[3]);
    dl_result_free(res);
    dl_image_free(page);
    dl_detector_free(det);
    dl_model_free(model);
    if (!ok) {
        fprintf(stderr, "consumer: unexpected detections\n");
        return 1;
    }
    if (dl_model_load("/nonexistent/model", NULL, &model, &err) == DL_OK || model != NULL) {
        fprintf(stderr, "loading a missing model succeeded\n");
        return 1;
    }
    return 0;
}
CEOF
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror $extra "$tmp/consumer.c" -o "$tmp/consumer" $flags ||
    fail "compiling against the installed library"
version=$(pkg-config --modversion doclayout)
# shellcheck disable=SC2086
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    $runner "$tmp/consumer" "$src/tests/fixtures/golden/rtdetrv2-tiny" "$version" \
    "$src/tests/fixtures/images/rgb.png" || fail "running the consumer program (detection)"

# The installed CLI finds its self-test model and passes `doctor` (natively only: the scalar
# reference in the self-test takes minutes under an emulator).
if [ -z "$runner" ]; then
    HOME=$tmp HF_HOME= HF_HUB_CACHE= DOCLAYOUT_SELFTEST_MODEL= "$prefix/bin/doclayout" doctor \
        --json --threads 2 > "$tmp/doctor.json" 2> "$tmp/doctor.err" ||
        { cat "$tmp/doctor.json" "$tmp/doctor.err" >&2; fail "installed doclayout doctor"; }
    grep -q "\"model\":[[:space:]]*\"$selftest\"" "$tmp/doctor.json" ||
        { cat "$tmp/doctor.json" >&2; fail "doctor did not use the installed self-test model"; }
    grep -q '"healthy":[[:space:]]*true' "$tmp/doctor.json" || fail "doctor: not healthy"
fi
echo "test_install: 1 passed, 0 failed"
