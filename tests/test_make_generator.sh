#!/bin/sh
# The Makefile on a build directory made by another generator: `make` must reuse the generator
# recorded in its CMakeCache.txt (a first `make demo` before ninja was installed configures with
# Unix Makefiles; `make test` after it must not ask cmake for Ninja, which cmake refuses).
# Usage: test_make_generator.sh SOURCE_DIR
src=$1
skip() {
    # CI has make and ninja (scripts/install-deps.sh installs both): there a skip is a failure
    if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then echo "FAILED in CI: $1"; exit 1; fi
    echo "skipped: $1"; exit 77
}
command -v make > /dev/null 2>&1 || skip "no make"
command -v ninja > /dev/null 2>&1 || skip "no ninja"
dir=$(mktemp -d "${TMPDIR:-/tmp}/doclayout-gen.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
args="-DDL_BUILD_TESTS=OFF -DDL_CUDA=OFF -DDL_PDF=OFF"
# shellcheck disable=SC2086
cmake -S "$src" -B "$dir" -G "Unix Makefiles" $args > "$dir.log" 2>&1 || { cat "$dir.log"; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"
if ! make -C "$src" configure BUILD_DIR="$dir" CMAKE_ARGS="$args" > "$dir/make.log" 2>&1; then
    cat "$dir/make.log"
    echo "FAIL: make configure on a Unix Makefiles build directory"
    exit 1
fi
grep -q '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles$' "$dir/CMakeCache.txt" || {
    echo "FAIL: the generator changed"; exit 1; }
echo "ok: make reused the Unix Makefiles build directory with ninja installed"
