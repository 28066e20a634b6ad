#!/bin/sh
# The worked examples of docs/contributing.md are real code. In the document, a line
#   <!-- example FILE -->           names the file the next ```c block is, and a line
#   <!-- register FILE after TEXT: LINE -->  (or: register FILE append: LINE)
# is its one registration line: LINE inserted after the line that contains TEXT (or at the end).
#   contributing_examples.sh SOURCE_DIR
#       each example compiles against the tree's headers (-Werror) and each registration
#       anchor is still there exactly once: cheap, in the default suite (test_contributing)
#   contributing_examples.sh --build SOURCE_DIR
#       also applies them all to a copy of the tree, builds it (CPU only) and runs what they
#       add: the op through test_backend_ops on every CPU level, the backend through `detect
#       --device ref` (the CPU's detections), the format through `detect --format count`, the
#       command `labels` (minutes: `make check-examples`, not in CI)
set -u
build=0
if [ "${1:-}" = --build ]; then
    build=1
    shift
fi
root=$(cd "${1:?usage: contributing_examples.sh [--build] SOURCE_DIR}" && pwd)
doc=$root/docs/contributing.md
cc=${CC:-cc}
# the project's warnings (CMakeLists.txt: DL_WARNINGS, which test_contributing passes in)
warnings=${DL_WARNINGS:--Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-unused-parameter}
work=$(mktemp -d "${TMPDIR:-/tmp}/doclayout-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Split the document into the examples ($work/ex/N.path, N.c) and registrations ($work/reg).
mkdir -p "$work/ex"
: > "$work/reg"
awk -v dir="$work/ex" -v reg="$work/reg" '
    /^<!-- example / { n++; print $3 > (dir "/" n ".path"); want = 1; next }
    /^<!-- register / { sub(/^<!-- register /, ""); sub(/ -->$/, ""); print >> reg; next }
    want && /^```c$/ { inblock = 1; want = 0; next }
    inblock && /^```$/ { inblock = 0; next }
    inblock { print > (dir "/" n ".c") }
' "$doc" || exit 1
n_ex=$(ls "$work"/ex/*.path 2> /dev/null | wc -l)
n_reg=$(wc -l < "$work/reg")
if [ "$n_ex" -lt 4 ] || [ "$n_reg" -lt 4 ]; then
    echo "docs/contributing.md: expected at least 4 marked examples and registrations," \
        "found $n_ex and $n_reg"
    exit 1
fi

fail=0
for p in "$work"/ex/*.path; do
    src=${p%.path}.c
    path=$(cat "$p")
    # the example as the file it names (same folder: its includes resolve as they would)
    obj=$work/$(basename "$path" .c).o
    # (a command's prototype comes with its registration line, which --build adds)
    # shellcheck disable=SC2086
    if ! $cc -std=c11 $warnings -Werror -Wno-missing-prototypes -D_POSIX_C_SOURCE=200809L \
        -I"$root/src" -I"$root/include" -x c -c "$src" -o "$obj" 2> "$work/err"; then
        echo "docs/contributing.md: the example $path does not compile:"
        cat "$work/err"
        fail=1
    else
        echo "example $path compiles"
    fi
done
# each registration: FILE after TEXT: LINE | FILE append: LINE
while IFS= read -r r; do
    file=${r%% *}
    rest=${r#* }
    line=${rest#*: }
    case $rest in
    "after "*)
        anchor=${rest#after }
        anchor=${anchor%%: *}
        k=$(grep -cF -- "$anchor" "$root/$file")
        if [ "$k" != 1 ]; then
            echo "docs/contributing.md: '$anchor' is in $file $k times (once expected)"
            fail=1
        fi
        ;;
    "append: "*) [ -f "$root/$file" ] || { echo "no $file" && fail=1; } ;;
    *) echo "docs/contributing.md: cannot read the registration '$r'" && fail=1 ;;
    esac
    echo "registration in $file: $line"
done < "$work/reg"
[ "$fail" = 0 ] || exit 1
[ "$build" = 1 ] || exit 0

# ---- the whole addition, built and run -------------------------------------------------------
tree=$work/tree
mkdir -p "$tree"
(cd "$root" && tar cf - --exclude='./build*' --exclude=./.git --exclude=./training \
    --exclude=./tests/fixtures/documents .) | (cd "$tree" && tar xf -) || exit 1
for p in "$work"/ex/*.path; do
    mkdir -p "$(dirname "$tree/$(cat "$p")")" && cp "${p%.path}.c" "$tree/$(cat "$p")"
done
while IFS= read -r r; do
    file=${r%% *}
    rest=${r#* }
    line=${rest#*: }
    case $rest in
    "after "*)
        anchor=${rest#after }
        anchor=${anchor%%: *}
        A=$anchor L=$line awk '{ print } index($0, ENVIRON["A"]) { print ENVIRON["L"] }' \
            "$tree/$file" > "$work/reg.tmp" && cp "$work/reg.tmp" "$tree/$file"
        ;;
    "append: "*) printf '%s\n' "$line" >> "$tree/$file" ;;
    esac
done < "$work/reg"
cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release -DDL_WERROR=ON -DDL_CUDA=OFF \
    > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log" && exit 1; }
cmake --build "$tree/build" -j "${JOBS:-2}" --target doclayout_cli test_backend_ops \
    > "$work/build.log" 2>&1 || { tail -50 "$work/build.log" && exit 1; }
echo "the tree with the examples builds"
cli=$tree/build/doclayout
model=$root/tests/fixtures/golden/rtdetrv2-tiny
# the op table holds dl_op_scale (so test_backend_ops, which runs every op of the table on
# every backend, ran its cases)
nm "$tree/build/tests/test_backend_ops" | grep -qw dl_op_scale ||
    { echo "dl_op_scale is not in the op table" && fail=1; }
out=$("$tree/build/tests/test_backend_ops" 2>&1)
echo "test_backend_ops: $(echo "$out" | tail -1)"
echo "$out" | tail -1 | grep -q " 0 failed" || { echo "$out" | tail -5 && fail=1; }
# (and it ran the op list on the backend ref, a line of the backend table)
echo "$out" | grep -q "^ref (ref, kernels reference)" || { echo "ref was not tested" && fail=1; }
out=$("$cli" detect --model "$model" --format count "$model/input.png" 2>&1)
echo "detect --format count: $out"
echo "$out" | grep -q "input.png 1 [0-9]" || fail=1
out=$("$cli" labels --model "$model" 2>&1)
echo "labels: $(echo "$out" | head -2 | tr '\n' ' ')"
echo "$out" | grep -q "^0 " || fail=1
"$cli" help | grep -q "doclayout labels" || { echo "labels is not in the help" && fail=1; }
# the backend: the same detections as the CPU's, and its name in the list of devices
for dev in cpu ref; do
    "$cli" detect --model "$model" --device "$dev" -o "$work/$dev.json" "$model/input.png" ||
        fail=1
    grep -v '"device"\|"kernels"\|"threads"' "$work/$dev.json" > "$work/$dev.det"
done
grep -q '"device":.*"ref"' "$work/ref.json" || { echo "detect did not run on ref" && fail=1; }
cmp -s "$work/cpu.det" "$work/ref.det" || { echo "ref and cpu detect differently" && fail=1; }
out=$("$cli" detect --device tpu x.png 2>&1)
echo "detect --device tpu: $out"
echo "$out" | grep -q "cuda:N, ref or auto" || fail=1
[ "$fail" = 0 ] && echo "the examples work: op scale, backend ref, format count, command labels"
exit "$fail"
