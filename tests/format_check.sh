#!/bin/sh
# The C, CUDA and header files under src/ include/ tests/ tools/ bench/ fuzz/ are formatted as
# .clang-format says (Debian's clang-format 14: other versions format differently). Generated
# files (below) and the test fixtures are left out.
#   format_check.sh SOURCE_DIR          fails and lists each file clang-format would change
#   format_check.sh --apply SOURCE_DIR  formats them in place (scripts/format-tree.sh)
# Without clang-format 14 the check is skipped (77), except in CI (CI=true), where that fails.
# test_format runs it once the tree is formatted (-DDL_FORMAT_CHECK=ON, the default then).
apply=0
if [ "${1:-}" = --apply ]; then
    apply=1
    shift
fi
root=${1:?usage: format_check.sh [--apply] SOURCE_DIR}
# written by tools/make_arabic_forms.py: formatted as the generator writes them
generated="src/document/arabic_forms.c"
cf=
for c in clang-format-14 clang-format; do
    if command -v "$c" > /dev/null 2>&1 && "$c" --version | grep -q "version 14\."; then
        cf=$c
        break
    fi
done
if [ -z "$cf" ]; then
    if [ "$apply" = 1 ] || [ "${CI:-}" = true ]; then
        echo "clang-format 14 is missing (scripts/install-deps.sh --lint installs it)"
        exit 1
    fi
    echo "skipped: no clang-format 14"
    exit 77
fi
cd "$root" || exit 1
files=
for f in $(find src include tests tools bench fuzz -type f \
    \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) \
    -not -path 'tests/fixtures/*' | sort); do
    case " $generated " in *" $f "*) continue ;; esac
    files="$files $f"
done
n=$(echo $files | wc -w)
if [ "$apply" = 1 ]; then
    # shellcheck disable=SC2086
    "$cf" -i $files || exit 1
    echo "$n files formatted with $cf"
    exit 0
fi
# one clang-format run for the whole tree; file by file only to name what is not formatted
# shellcheck disable=SC2086
if "$cf" --dry-run --Werror $files > /dev/null 2>&1; then
    echo "$n files checked with $cf: all formatted"
    exit 0
fi
bad=0
for f in $files; do
    if ! "$cf" --dry-run --Werror "$f" > /dev/null 2>&1; then
        echo "not formatted: $f (clang-format-14 -i $f)"
        bad=$((bad + 1))
    fi
done
echo "$n files checked with $cf, $bad not formatted"
[ "$bad" -eq 0 ]
