#!/bin/sh
# Install a build into a temporary prefix and use it as a consumer would: compile a program
# with only `pkg-config --cflags --libs doclayout`, run it with LD_LIBRARY_PATH, and check
# that the header, the versioned shared library, the pkg-config file and the CLI are there.
#
#   test_install.sh BUILD_DIR SOURCE_DIR CC [EXTRA_FLAGS]
# Exit 0 on success, 77 (skipped) when pkg-config is missing, 1 on failure.
set -eu
build=$1
src=$2
cc=$3
extra=${4:-}

if ! command -v pkg-config > /dev/null 2>&1; then
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

export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs doclayout) || fail "pkg-config --cflags --libs doclayout"
[ "$(pkg-config --modversion doclayout)" = "$(sed -n 's/^project(doclayout VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ] ||
    fail "pkg-config --modversion does not match CMakeLists.txt"
echo "test_install: pkg-config flags: $flags"

cat > "$tmp/consumer.c" << 'CEOF'
#include <doclayout.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    printf("doclayout %s\n", dl_version());
    if (strcmp(dl_version(), argc > 2 ? argv[2] : "") != 0) {
        fprintf(stderr, "dl_version() is not %s\n", argc > 2 ? argv[2] : "?");
        return 1;
    }
    dl_error err;
    dl_model *model = NULL;
    if (dl_model_load(argv[1], NULL, &model, &err) != DL_OK) {
        fprintf(stderr, "dl_model_load: %s\n", err.message);
        return 1;
    }
    printf("%s: %s, %d labels, %zu parameters\n", argv[1], dl_model_type(model),
           dl_model_num_labels(model), dl_model_num_parameters(model));
    dl_model_free(model);
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
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$tmp/consumer" "$src/tests/fixtures/golden/rtdetrv2-tiny" "$version" ||
    fail "running the consumer program"
echo "test_install: 1 passed, 0 failed"
