#!/bin/sh
# A soak of `doclayout serve` (issue 13): a steady load of 1-page binary KServe v2 requests
# from a few clients for 10 minutes, the server's RSS sampled each minute after a warm-up (one
# request of max-batch pages, max-batch clients at once for 3 s, then 60 s of the soak's
# load: the high-water marks a steady load reaches only at some random minute); exits 1 when it
# grew by 5% or more, or a request failed. A deliberate leak of 64 KB a request fails it
# (+90% in 150 s, docs/benchmarks.md). Not a ctest test (too long
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
