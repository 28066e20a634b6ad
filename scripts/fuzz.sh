#!/usr/bin/env bash
# Run every libFuzzer harness of a DL_FUZZ build for a fixed time each.
#
#   scripts/fuzz.sh [BUILD_DIR] [SECONDS]      (defaults: build-fuzz, $FUZZ_SECONDS or 30)
#
# Each fuzzer starts from its seed corpus fuzz/corpus/<name>/ (read only) and keeps what it
# finds in BUILD_DIR/fuzz-corpus/<name>/, so the source tree is never written to. A crash,
# leak, sanitizer report or timeout leaves its input in BUILD_DIR/fuzz-artifacts/ and makes
# this script exit non-zero; reproduce it with `BUILD_DIR/fuzz/fuzz_<name> <that file>`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz}
seconds=${2:-${FUZZ_SECONDS:-30}}
fuzzers=(safetensors npy image config pdf)

mkdir -p "$build/fuzz-artifacts"
# Fuzzers are single-threaded: they run side by side, one a core (FUZZ_JOBS, default the core
# count), each still for the full SECONDS, so the same fuzzing takes a fraction of the time.
jobs=${FUZZ_JOBS:-$(nproc 2> /dev/null || echo 1)}
run_one() { # name -> exit status; its log in fuzz-artifacts/fuzz_<name>.log
    local name=$1 exe=$build/fuzz/fuzz_$1 work=$build/fuzz-corpus/$1
    mkdir -p "$work"
    # -timeout: one input taking longer than this is a bug (a hang); -rss_limit_mb bounds memory.
    "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/${name}-" "$work" "$root/fuzz/corpus/$name" \
        > "$build/fuzz-artifacts/fuzz_$name.log" 2>&1
}
ran=()
declare -A pid_of
for name in "${fuzzers[@]}"; do
    exe=$build/fuzz/fuzz_$name
    if [ "$name" = pdf ] && [ ! -x "$exe" ] && [ "${CI:-}" != true ]; then
        echo "---- fuzz_pdf: not built (a build without MuPDF); skipped"
        continue
    fi
    if [ ! -x "$exe" ]; then
        echo "fuzz.sh: $exe not built (configure with -DDL_FUZZ=ON -DCMAKE_C_COMPILER=clang)" >&2
        exit 2
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$name" &
    pid_of[$name]=$!
    ran+=("$name")
done

failed=()
for name in "${ran[@]}"; do
    log=$build/fuzz-artifacts/fuzz_$name.log
    echo "---- fuzz_$name: ${seconds}s"
    if wait "${pid_of[$name]}"; then
        grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" |
            sed 's/^/    /' || true
        tail -n 20 "$log" | grep -E '^Done [0-9]+ runs' | sed 's/^/    /' || true
    else
        echo "fuzz_$name FAILED; last lines of $log:"
        tail -n 40 "$log"
        failed+=("$name")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#ran[@]} fuzzers ran ${seconds}s each without findings ($jobs at a time)"
