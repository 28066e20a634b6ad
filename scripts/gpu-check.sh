#!/usr/bin/env bash
# scripts/gpu-check.sh - everything the CUDA backend needs a GPU for, in one run (~5-8 minutes):
#
#   1. build for this machine: cmake -DDL_CUDA=ON, only the targets needed, nvcc in parallel;
#      when this machine cannot configure the project (no pkg-config/cJSON/libpng/libtiff/libjpeg
#      development files), use build-gpu/ made by scripts/gpu-prepare.sh and carried along
#   2. the CUDA tests: test_device_select, test_ops_cuda (every op vs the reference, fp32 /
#      own SGEMM / bf16 / fp16), test_parity_cuda (golden fp32 parity, bf16/fp16 vs fp32 top-100,
#      batch 32 == 32 single runs, CUDA graph == eager), with DOCLAYOUT_REQUIRE_CUDA=1
#   3. the benchmark side by side with PyTorch: transformers eager on the same random-weight
#      model directories and the same input, in this run: heron-like and egret-large-like,
#      batch 1 latency and batch 32 pages/s, fp32 and bf16; our fp32 outputs vs transformers'
#   4. compute-sanitizer memcheck over test_ops_cuda when time allows
#   5. a short table last; full results and logs in $OUT (at most 8 files)
#
# Usage, on the GPU machine from the repository root:   scripts/gpu-check.sh
# (through the device tool: command "scripts/gpu-check.sh", carry ["build-gpu"] when prepared)
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
TESTS=$OUT/tests.txt
: >"$LOG"
: >"$TESTS"
TMP=${TMPDIR:-/tmp}/dl-gpu-check
mkdir -p "$TMP"
T0=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-480} # seconds: optional steps are skipped past this
say() { echo "[$((SECONDS - T0))s] $*" | tee -a "$LOG"; }
VERDICT=()
verdict() { VERDICT+=("$1"); say "$1"; }

{
    echo "== machine"
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1
    nvcc --version 2>&1 | tail -1
    cmake --version 2>&1 | head -1
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -1
    uname -m
} >>"$LOG" 2>&1
say "GPU: $(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1)"

# ---- 1. build -------------------------------------------------------------------------------
TARGETS="doclayout_cuda test_ops_cuda test_parity_cuda test_device_select bench_cuda make_random_model"
B=""
if [ "${GPU_CHECK_PREBUILT:-0}" != 1 ]; then
    say "configure (cmake -DDL_CUDA=ON)"
    if cmake -S . -B build-native -G Ninja -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=ON \
        -DCMAKE_CUDA_FLAGS=--threads=0 >>"$LOG" 2>&1; then
        say "build: $TARGETS"
        if ninja -C build-native -j16 $TARGETS >>"$LOG" 2>&1; then
            B=build-native
        else
            say "build failed (see log.txt)"
        fi
    else
        say "configure failed here (see log.txt); looking for a prebuilt build-gpu/"
    fi
fi
LIBPATH=""
if [ -z "$B" ] && [ -x build-gpu/bench/bench_cuda ] && [ -f build-gpu/libdoclayout_cuda.so ]; then
    B=build-gpu
    LIBPATH=$ROOT/build-gpu/deps
    say "using the prebuilt build-gpu/ (scripts/gpu-prepare.sh), its libraries from build-gpu/deps"
fi
if [ -z "$B" ]; then
    verdict "FAIL build: nothing to run (see log.txt)"
    tail -40 "$LOG"
    exit 1
fi
verdict "OK   build ($B, $((SECONDS - T0))s)"

# cuBLAS for the module: the toolkit's, else the pip wheel PyTorch uses
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    "$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)"; do
    if [ -n "$d" ] && [ -e "$d/libcublas.so.13" ]; then
        LIBPATH=${LIBPATH:+$LIBPATH:}$d
        break
    fi
done
LDP="${LIBPATH}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" # for our binaries only, not python
ours() { env LD_LIBRARY_PATH="$LDP" "$@"; }
export DOCLAYOUT_CUDA_MODULE=$ROOT/$B/libdoclayout_cuda.so
export DOCLAYOUT_SOURCE_DIR=$ROOT
export DOCLAYOUT_REQUIRE_CUDA=1

# ---- 2. tests -------------------------------------------------------------------------------
FAILED=0
for t in test_device_select test_ops_cuda test_parity_cuda; do
    say "test $t"
    echo "==== $t" >>"$TESTS"
    if timeout 240 env LD_LIBRARY_PATH="$LDP" $B/tests/$t >>"$TESTS" 2>&1; then
        verdict "PASS $t: $(tail -1 "$TESTS")"
    else
        rc=$?
        why=$(sed -n "/^==== $t\$/,\$p" "$TESTS" | grep -E 'CHECK failed|rror' | head -3 | tr '\n' ' ')
        [ -n "$why" ] || why=$(tail -1 "$TESTS")
        verdict "FAIL $t (exit $rc): ${why:0:300}"
        FAILED=1
    fi
done

# ---- 3. benchmark beside PyTorch --------------------------------------------------------------
say "models with random weights, and the input"
for m in heron-like egret-large-like; do
    ours $B/make_random_model tests/fixtures/configs/$m.config.json "$TMP/$m" >>"$LOG" 2>&1 ||
        say "make_random_model $m failed"
done
python3 bench/bench_torch.py input "$TMP/input.npy" 32 >>"$LOG" 2>&1 || say "input.npy failed (numpy?)"
OURS=$OUT/bench_ours.jsonl
TORCH=$OUT/bench_torch.jsonl
: >"$OURS"
: >"$TORCH"
for m in heron-like egret-large-like; do
    say "bench doclayout $m"
    ours $B/bench/bench_cuda "$TMP/$m" --name "$m" --input "$TMP/input.npy" \
        --precision fp32,bf16 --batch 1,32 --runs 30 --dump "$TMP/ours-$m" >>"$OURS" 2>>"$LOG"
done
say "bench doclayout heron-like variants (own SGEMM; no CUDA graph; fp16)"
DOCLAYOUT_CUDA_GEMM=own ours $B/bench/bench_cuda "$TMP/heron-like" --name "heron-like own-sgemm" \
    --input "$TMP/input.npy" --precision fp32 --batch 1,32 --runs 15 >>"$OURS" 2>>"$LOG"
DOCLAYOUT_CUDA_GRAPHS=0 ours $B/bench/bench_cuda "$TMP/heron-like" --name "heron-like no-graph" \
    --input "$TMP/input.npy" --precision fp32,bf16 --batch 1 --runs 15 >>"$OURS" 2>>"$LOG"
ours $B/bench/bench_cuda "$TMP/heron-like" --name "heron-like" --input "$TMP/input.npy" \
    --precision fp16 --batch 1,32 --runs 15 >>"$OURS" 2>>"$LOG"
for m in heron-like egret-large-like; do
    say "bench transformers eager $m"
    timeout 200 python3 bench/bench_torch.py bench "$m" "$TMP/$m" "$TMP/input.npy" 30 >>"$TORCH" 2>>"$LOG" ||
        say "transformers $m failed (see log.txt)"
done
say "our fp32 outputs vs transformers' (TF32 off), heron-like, image 0"
COMPARE=$OUT/compare.txt
: >"$COMPARE"
if timeout 120 python3 bench/bench_torch.py dump "$TMP/heron-like" "$TMP/input.npy" "$TMP/torch-heron-like" >>"$LOG" 2>&1; then
    python3 bench/bench_torch.py compare "$TMP/ours-heron-like" "$TMP/torch-heron-like" >>"$COMPARE" 2>&1
fi
cat "$COMPARE" | tee -a "$LOG"

# ---- 4. compute-sanitizer (optional) ----------------------------------------------------------
if command -v compute-sanitizer >/dev/null && [ $((SECONDS - T0)) -lt $((BUDGET - 150)) ]; then
    say "compute-sanitizer memcheck test_ops_cuda"
    if timeout 140 env LD_LIBRARY_PATH="$LDP" \
        compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/test_ops_cuda >"$OUT/sanitizer.txt" 2>&1; then
        verdict "PASS compute-sanitizer memcheck test_ops_cuda"
    else
        verdict "WARN compute-sanitizer (exit $?; see sanitizer.txt; 'Device not supported' on gVisor)"
    fi
else
    say "compute-sanitizer skipped (absent, or past the time budget)"
fi

# ---- 5. summary -----------------------------------------------------------------------------
{
    echo "# doclayout CUDA check: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - T0)) s"
    echo
    for v in "${VERDICT[@]}"; do echo "- $v"; done
    echo
    python3 bench/bench_torch.py table "$OURS" "$TORCH" 2>&1
    echo
    echo "fp32 vs transformers: $(cat "$COMPARE" 2>/dev/null)"
} >"$OUT/summary.md"
echo
cat "$OUT/summary.md"
exit $FAILED
