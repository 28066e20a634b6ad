#!/bin/sh
# A soak of `doclayout serve` (issue 13): a steady load of 1-page binary KServe v2 requests
# from a few clients for 10 minutes, the server's RSS sampled each minute after a 60 s
# warm-up; exits 1 when it grew by 5% or more, or a request failed. Not a ctest test (too long
# for CI); docs/benchmarks.md records its figures.
#   bench/soak_serve.sh [BUILD_DIR [SECONDS [CLIENTS [MODEL_DIR]]]]
# Defaults: build, 600 s, 4 clients, the committed tiny model (so that it does not take a
# shared machine's cores from others), 1 CPU thread.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
seconds=${2:-600}
clients=${3:-4}
model=${4:-$here/tests/fixtures/golden/rtdetrv2-tiny}
uptime
exec python3 "$here/bench/bench_serve.py" --cli "$build/doclayout" --model "$model" \
    --threads "${DL_SOAK_THREADS:-1}" --concurrency "" --soak-seconds "$seconds" \
    --soak-clients "$clients"
