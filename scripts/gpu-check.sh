#!/usr/bin/env bash
# scripts/gpu-check.sh - everything that needs the GPU machine, in one run (~4-6 minutes):
#
#   0. the build: .gpu/gpu-build.tar.xz made HERE by scripts/gpu-prepare.sh (the GPU machine
#      lacks the Debian development packages); without it, a native cmake build is tried
#   1. the CUDA tests with DOCLAYOUT_REQUIRE_CUDA=1: test_device_select, test_backend_ops (every op
#      vs the scalar reference: fp32, own SGEMM, bf16, fp16), test_parity_cuda (golden fp32
#      parity, bf16/fp16 vs fp32, batch 32 == 32 single runs, CUDA graph == eager)
#   2. the document pipeline: `doclayout detect` over ~300 PDF pages at 72 dpi, pages/s and
#      per-stage ms/page, on the CPU (all cores) and with inference on the GPU
#   3. the GPU benchmark side by side with PyTorch (transformers eager) on the same heron-like
#      random-weight model and input: batch 1 latency, batch 32 pages/s, fp32 and bf16; our fp32
#      outputs vs transformers'
#   4. the CPU side by side on this machine's cores: our CPU backend vs transformers eager vs
#      ONNX Runtime (CPU provider), heron-like, batch 1
#   5. compute-sanitizer memcheck over test_backend_ops when time allows
#   a short table last; full results and logs in $OUT (at most 8 files)
#
# GPU_CHECK_PHASES (default "tests,docs,bench,cpu,sanitizer") picks phases; GPU_CHECK_BUDGET
# (seconds, default 420) skips the optional phases that would not fit.
# Usage (device tool): command "scripts/gpu-check.sh", carry [".gpu"]
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
TESTS=$OUT/tests.txt
DOCS=$OUT/docs.txt
: >"$LOG"
: >"$TESTS"
: >"$DOCS"
TMP=${TMPDIR:-/tmp}/dl-gpu-check
mkdir -p "$TMP"
T0=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-420}
PHASES=,${GPU_CHECK_PHASES:-tests,docs,bench,cpu,sanitizer},
NCPU=$(nproc)
say() { echo "[$((SECONDS - T0))s] $*" | tee -a "$LOG"; }
VERDICT=()
verdict() { VERDICT+=("$1"); say "$1"; }
want() { case $PHASES in *,$1,*) return 0 ;; *) return 1 ;; esac; }
# time left for an optional step that needs about $1 seconds
fits() { [ $((SECONDS - T0 + $1)) -le "$BUDGET" ]; }

{
    echo "== machine"
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1
    nvcc --version 2>&1 | tail -1
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -1
    echo "cores: $NCPU; $(grep -m1 'model name' /proc/cpuinfo)"
    uname -r
} >>"$LOG" 2>&1
say "GPU: $(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1); $NCPU cores"

# ---- 0. the build ---------------------------------------------------------------------------
B="" CLI="" LIBPATH=""
if [ -f .gpu/gpu-build.tar.xz ]; then
    mkdir -p "$TMP/b"
    if tar -C "$TMP/b" -xJf .gpu/gpu-build.tar.xz; then
        B=$TMP/b/build-gpu
        CLI=$TMP/b/build-gpu-pdf/doclayout
        LIBPATH=$TMP/b/deps
        PDFS=$TMP/b/pdfs
    fi
fi
if [ -z "$B" ]; then
    say "no .gpu/gpu-build.tar.xz: native build (cmake -DDL_CUDA=ON)"
    if cmake -S . -B build-native -G Ninja -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=ON \
        -DCMAKE_CUDA_FLAGS=--threads=0 >>"$LOG" 2>&1 &&
        ninja -C build-native -j"$NCPU" doclayout_cuda test_backend_ops test_parity_cuda \
            test_device_select bench_cuda bench_model make_random_model doclayout >>"$LOG" 2>&1; then
        B=$ROOT/build-native
        CLI=$B/doclayout
        PDFS=""
    fi
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
export DOCLAYOUT_CUDA_MODULE=$B/libdoclayout_cuda.so
export DOCLAYOUT_SOURCE_DIR=$ROOT
export DOCLAYOUT_REQUIRE_CUDA=1
FAILED=0

# ---- 1. tests -------------------------------------------------------------------------------
if want tests; then
    for t in test_device_select test_backend_ops test_parity_cuda; do
        say "test $t"
        echo "==== $t" >>"$TESTS"
        if timeout 150 env LD_LIBRARY_PATH="$LDP" "$B/tests/$t" >>"$TESTS" 2>&1; then
            verdict "PASS $t: $(tail -1 "$TESTS")"
        else
            rc=$?
            why=$(sed -n "/^==== $t\$/,\$p" "$TESTS" | grep -E 'CHECK failed|rror' | head -3 | tr '\n' ' ')
            [ -n "$why" ] || why=$(tail -1 "$TESTS")
            verdict "FAIL $t (exit $rc): ${why:0:300}"
            FAILED=1
        fi
    done
fi

say "models with random weights"
for m in heron-like; do
    ours "$B/make_random_model" tests/fixtures/configs/$m.config.json "$TMP/$m" >>"$LOG" 2>&1 ||
        say "make_random_model $m failed"
done

# ---- 2. documents ---------------------------------------------------------------------------
if want docs && [ -n "${PDFS:-}" ] && [ -x "$CLI" ]; then
    ls "$PDFS"/*.pdf >"$TMP/pdfs.txt"
    doc() { # LABEL ARGS...: one detect run over the PDFs, its --timings lines into docs.txt
        local label=$1
        shift
        echo "== $label: doclayout detect $*" >>"$DOCS"
        if timeout 120 env LD_LIBRARY_PATH="$LDP" "$CLI" detect --dpi 72 --quiet --timings \
            -o "$TMP/docs.json" "$@" "@$TMP/pdfs.txt" >>"$DOCS" 2>&1; then
            say "docs $label: $(grep -o '[0-9.]* pages/s' "$DOCS" | tail -1)"
        else
            say "docs $label: FAILED (exit $?; see docs.txt)"
        fi
    }
    TINY=tests/fixtures/golden/rtdetrv2-tiny
    doc "tiny, CPU $NCPU threads, batch 4 (default workers)" --model $TINY --device cpu --batch 4
    doc "tiny, CPU, batch 4, --workers 4" --model $TINY --device cpu --batch 4 --workers 4
    for w in 1 4 8 15; do
        doc "tiny, GPU bf16, batch 16, --workers $w" --model $TINY --device cuda --batch 16 --workers $w
    done
    doc "tiny, GPU fp32, batch 16 (default workers)" --model $TINY --device cuda --precision fp32 --batch 16
    doc "default model (CPU), batch 4 (default workers)" --model models/default --batch 4
    doc "default model (CPU), batch 4, --workers 4" --model models/default --batch 4 --workers 4
    doc "heron-like random weights, GPU bf16, batch 16 (default workers)" --model "$TMP/heron-like" --device cuda --batch 16
    doc "heron-like random weights, GPU bf16, batch 32 (default workers)" --model "$TMP/heron-like" --device cuda --batch 32
fi

# ---- 3. GPU benchmark beside PyTorch --------------------------------------------------------
OURS=$OUT/bench_ours.jsonl
TORCH=$OUT/bench_torch.jsonl
COMPARE=$OUT/compare.txt
: >"$OURS"
: >"$TORCH"
: >"$COMPARE"
if want bench && fits 120; then
    python3 bench/bench_torch.py input "$TMP/input.npy" 32 >>"$LOG" 2>&1 || say "input.npy failed (numpy?)"
    say "bench doclayout heron-like (fp32, bf16; batch 1, 32)"
    ours "$B/bench/bench_cuda" "$TMP/heron-like" --name heron-like --input "$TMP/input.npy" \
        --precision fp32,bf16 --batch 1,32 --runs 20 --dump "$TMP/ours-heron-like" >>"$OURS" 2>>"$LOG"
    cat "$OURS" >>"$LOG"
    say "bench doclayout heron-like bf16 batch 32 by lanes (concurrent CUDA streams)"
    for lanes in 1 2 4 8; do
        DOCLAYOUT_CUDA_LANES=$lanes ours "$B/bench/bench_cuda" "$TMP/heron-like" --name "heron-like lanes=$lanes" \
            --input "$TMP/input.npy" --precision bf16 --batch 32 --runs 15 >>"$OURS" 2>>"$LOG"
    done
    say "bench transformers eager heron-like"
    timeout 150 python3 bench/bench_torch.py bench heron-like "$TMP/heron-like" "$TMP/input.npy" 20 \
        >>"$TORCH" 2>>"$LOG" || say "transformers heron-like failed (see log.txt)"
    say "our fp32 outputs vs transformers' (TF32 off), heron-like, image 0"
    if timeout 60 python3 bench/bench_torch.py dump "$TMP/heron-like" "$TMP/input.npy" "$TMP/torch-heron-like" >>"$LOG" 2>&1; then
        python3 bench/bench_torch.py compare "$TMP/ours-heron-like" "$TMP/torch-heron-like" >>"$COMPARE" 2>&1
    fi
    cat "$COMPARE" | tee -a "$LOG"
    if fits 60; then
        say "bench doclayout heron-like variants: fp16; no CUDA graph; own SGEMM"
        ours "$B/bench/bench_cuda" "$TMP/heron-like" --name heron-like --input "$TMP/input.npy" \
            --precision fp16 --batch 1,32 --runs 10 >>"$OURS" 2>>"$LOG"
        DOCLAYOUT_CUDA_GRAPHS=0 ours "$B/bench/bench_cuda" "$TMP/heron-like" --name "heron-like no-graph" \
            --input "$TMP/input.npy" --precision bf16 --batch 1 --runs 10 >>"$OURS" 2>>"$LOG"
        DOCLAYOUT_CUDA_GEMM=own ours "$B/bench/bench_cuda" "$TMP/heron-like" --name "heron-like own-sgemm" \
            --input "$TMP/input.npy" --precision fp32 --batch 1 --runs 10 >>"$OURS" 2>>"$LOG"
    fi
fi

# ---- 4. CPU side by side --------------------------------------------------------------------
CPUF=$OUT/cpu.txt
: >"$CPUF"
if want cpu && fits 120; then
    say "CPU heron-like, $NCPU threads: doclayout"
    ours "$B/bench/bench_model" "$TMP/heron-like" 137.5 3 "$NCPU" >>"$CPUF" 2>&1
    say "CPU heron-like, $NCPU threads: transformers eager and ONNX Runtime"
    timeout 150 python3 bench/bench_torch.py cpu heron-like "$TMP/heron-like" "$NCPU" 3 >>"$CPUF" 2>>"$LOG" ||
        say "torch/ORT CPU failed (see log.txt)"
    cat "$CPUF" >>"$LOG"
fi

# ---- 5. compute-sanitizer (optional) ----------------------------------------------------------
if want sanitizer && command -v compute-sanitizer >/dev/null && fits 120; then
    say "compute-sanitizer memcheck test_backend_ops"
    if timeout 110 env LD_LIBRARY_PATH="$LDP" \
        compute-sanitizer --tool memcheck --error-exitcode 9 "$B/tests/test_backend_ops" >>"$TESTS" 2>&1; then
        verdict "PASS compute-sanitizer memcheck test_backend_ops"
    else
        verdict "WARN compute-sanitizer (exit $?; see tests.txt; 'Device not supported' on gVisor)"
    fi
else
    say "compute-sanitizer skipped (not asked, absent, or past the time budget)"
fi

# ---- summary --------------------------------------------------------------------------------
{
    echo "# doclayout GPU check: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $NCPU cores, $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - T0)) s"
    echo
    for v in "${VERDICT[@]}"; do echo "- $v"; done
    echo
    echo "documents (pages/s end to end):"
    grep -E '^(==|timings|  page workers|  main thread)' "$DOCS" 2>/dev/null | sed 's/^/    /'
    echo
    python3 bench/bench_torch.py table "$OURS" "$TORCH" 2>&1
    echo
    echo "fp32 vs transformers: $(cat "$COMPARE" 2>/dev/null)"
    echo
    echo "CPU ($NCPU threads):"
    grep -E '^[0-9]|impl' "$CPUF" 2>/dev/null | sed 's/^/    /'
} >"$OUT/summary.md"
echo
cat "$OUT/summary.md"
exit $FAILED
