#!/usr/bin/env bash
# CPU benchmark: heron-like (RT-DETRv2-R50) and egret-large-like (D-FINE-L) with random weights,
# latency per 640x640 page at batch 1 on all cores and on 1 core, next to this machine's
# large-SGEMM rate with our kernel at the same thread count, and the peak RSS.
#
#   bench/run_cpu_bench.sh [RUNS]        (default 5 runs per setting, median reported)
#
# Random weights do not change the speed. The models are written by tools/make_random_model
# from the real configs (tests/fixtures/configs), with exactly the tensor set of the real
# checkpoints (see tests/test_tensor_set*.c). FLOP counts are PyTorch's counter (2 per
# multiply-add): heron-like 137.5 GFLOP, egret-large-like 95.4 GFLOP per page.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target make_random_model bench_model bench_sgemm >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"
"$build/make_random_model" tests/fixtures/configs/heron-like.config.json "$work/heron" 1
"$build/make_random_model" tests/fixtures/configs/egret-large-like.config.json "$work/egret" 1
echo
echo "== heron-like (RT-DETRv2-R50) =="
"$build/bench/bench_model" "$work/heron" 137.5 "$runs"
echo
echo "== egret-large-like (D-FINE-L) =="
"$build/bench/bench_model" "$work/egret" 95.4 "$runs"
echo
echo "== SGEMM (ours vs OpenBLAS when available) =="
"$build/bench/bench_sgemm"
