#!/usr/bin/env bash
# The CPU kernel levels side by side (issue 15): the heron-like model (RT-DETRv2-R50, random
# weights, 137.5 GFLOP a page) at the top level in fp32 and in bf16, and at the AVX2 level, next
# to OpenBLAS's SGEMM on the same machine, interleaved in rounds so that a shared machine's
# load hits every configuration alike. OpenBLAS runs unpinned (OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset for its command only), with its own kernel choice.
#
#   bench/run_isa_bench.sh [ROUNDS] [RUNS]    (default 3 rounds, 3 pages per model run;
#                                             THREADS=2, BUILD_DIR=build)
#
# Prints every measurement, then per configuration the best round (least disturbed by other
# load) and the median, and the ratios: model fp32 GFLOP/s / OpenBLAS SGEMM GFLOP/s (target
# >= 65%), bf16 / fp32 speed (target >= 1.6x).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
runs=${2:-3}
threads=${THREADS:-2}
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j2 --target make_random_model bench_model bench_sgemm > /dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/make_random_model" tests/fixtures/configs/heron-like.config.json "$work/heron" 1 > /dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
    "AVX-512 flags: $(grep -m1 -o -w 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | xargs)" \
    "; $(date -u '+%F %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$threads threads; $rounds rounds of: OpenBLAS SGEMM, heron fp32, heron bf16, heron fp32 at avx2"
model() { # label, env...
    local label=$1
    shift
    env DL_BENCH_NO_SGEMM=1 "$@" "$build/bench/bench_model" "$work/heron" 137.5 "$runs" \
        "$threads" | awk -v l="$label" -v t="$threads" '$1 == t { print l, $2, $3, $4 }'
}
for r in $(seq "$rounds"); do
    echo "== round $r (load $(cut -d' ' -f1 /proc/loadavg)) =="
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$build/bench/bench_sgemm" "$threads" square 2048 |
        tee -a "$work/sgemm"
    model "heron-fp32" | tee -a "$work/models"
    model "heron-bf16" DL_BENCH_PRECISION=bf16 | tee -a "$work/models"
    model "heron-fp32-avx2" DOCLAYOUT_CPU=avx2 | tee -a "$work/models"
done
echo "== summary (best round / median; GFLOP/s) =="
python3 - "$work/sgemm" "$work/models" << 'PY'
import re, statistics, sys
sg = {"ours fp32": [], "ours bf16": [], "OpenBLAS": []}
for line in open(sys.argv[1]):
    for k in sg:
        m = re.search(k + r" ([0-9.]+) GFLOP/s", line)
        if m: sg[k].append(float(m.group(1)))
models = {}
for line in open(sys.argv[2]):
    label, kern, ms, gf = line.split()
    models.setdefault(label, []).append((float(ms), float(gf), kern))
for k, v in sg.items():
    if v: print(f"SGEMM 2048^3 {k:10s}: best {max(v):7.1f}, median {statistics.median(v):7.1f}")
for k, v in models.items():
    gfs = [g for _, g, _ in v]
    print(f"{k:16s} ({v[0][2]}): best {max(gfs):7.1f} GFLOP/s ({min(m for m, _, _ in v):.0f} ms),"
          f" median {statistics.median(gfs):7.1f}")
ob = sg["OpenBLAS"]
if ob and "heron-fp32" in models:
    f = [g for _, g, _ in models["heron-fp32"]]
    print(f"heron fp32 / OpenBLAS SGEMM: best {max(f) / max(ob):.0%}, per round "
          + ", ".join(f"{a / b:.0%}" for a, b in zip(f, ob)) + " (target >= 65%)")
if "heron-bf16" in models and "heron-fp32" in models:
    f = [g for _, g, _ in models["heron-fp32"]]
    b = [g for _, g, _ in models["heron-bf16"]]
    print(f"heron bf16 / fp32: best {max(b) / max(f):.2f}x, per round "
          + ", ".join(f"{x / y:.2f}x" for x, y in zip(b, f)) + " (target >= 1.6x)")
PY
