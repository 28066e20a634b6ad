#!/usr/bin/env bash
# scripts/gpu-check.sh - everything that needs the GPU machine, in ONE call, in priority order,
# each phase with a time budget (printed at its end and in the summary):
#
#   0. build      .gpu/gpu-build.tar.xz made HERE by scripts/gpu-prepare.sh (the GPU machine
#                 lacks the Debian development packages); without it, a native cmake build
#   1. correct    (budget 170 s) with DOCLAYOUT_REQUIRE_CUDA=1: test_device_select;
#                 test_backend_ops (one op-test list: CPU levels, then CUDA fp32/own SGEMM/bf16/
#                 fp16, registry ops natively and through the fallback); test_parity_cuda
#                 (fp32 golden parity RT-DETRv2 and D-FINE, the default model GPU vs CPU, bf16/
#                 fp16 encoder gates, egret-medium-like, batch == singles, and the bf16 gate on
#                 final detections of the default model: its BF16_GATE line is recorded)
#   2. speed      (budget 150 s) heron-like and egret-large-like, batch 1 and 32, fp32/bf16,
#                 lanes, beside transformers eager; torch.compile (../shared/golden/
#                 compile_bench.py, carried in .gpu/) only with GPU_CHECK_COMPILE=1 (it compiles
#                 for ~200 s), otherwise baselines.md's compile figures, marked "not this run"
#   3. documents  (budget 90 s) `doclayout detect` over ~300 PDF pages (CPU, GPU, workers);
#                 the server's batching when `doclayout serve` and bench/bench_serve.py exist
#   4. cpu        (budget 60 s) the 16 cores beside transformers and ONNX Runtime, heron-like
#   5. training   (what is left of GPU_CHECK_BUDGET) the default model on synthetic pages
#
# Raw results land in $OUT/<YYYY-MM-DD>-<gpu>/ (the device tool returns at most 8 files, two
# folders down): summary.md, results.jsonl (every figure as a JSON line naming the GPU),
# tests.log, log.txt, docs.log, cpu.log, train.log, compare.txt. Copy that folder to
# bench/results/ and cite it from the docs.
#
# GPU_CHECK_PHASES (default "correct,speed,documents,cpu,training") picks phases;
# GPU_CHECK_BUDGET (seconds, default 420) is the whole run's; a phase that cannot fit is skipped.
# Usage (device tool): command "scripts/gpu-check.sh", carry [".gpu"], timeout_s 560
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-check-out}
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
GPU_SLUG=$(echo "${GPU_NAME:-nogpu}" | tr 'A-Z' 'a-z' | sed 's/nvidia//; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
R=$OUT/$(date -u +%F)-${GPU_SLUG:-nogpu}
mkdir -p "$R"
LOG=$R/log.txt
TESTS=$R/tests.log
DOCS=$R/docs.log
JSONL=$R/results.jsonl
: >"$LOG"
: >"$TESTS"
: >"$DOCS"
: >"$JSONL"
TMP=${TMPDIR:-/tmp}/dl-gpu-check
mkdir -p "$TMP"
T0=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-420}
PHASES=,${GPU_CHECK_PHASES:-correct,speed,documents,cpu,training},
NCPU=$(nproc)
say() { echo "[$((SECONDS - T0))s] $*" | tee -a "$LOG"; }
VERDICT=()
verdict() { VERDICT+=("$1"); say "$1"; }
want() { case $PHASES in *,$1,*) return 0 ;; *) return 1 ;; esac; }
# time left for an optional step that needs about $1 seconds
fits() { [ $((SECONDS - T0 + $1)) -le "$BUDGET" ]; }
# a JSON line into results.jsonl, the GPU named: jline '"kind":"test","name":"x"'
jline() { echo "{\"gpu\":\"${GPU_NAME:-none}\",\"date\":\"$(date -u +%FT%TZ)\",$1}" >>"$JSONL"; }
# JSON lines from a tool, each given the GPU's name
jtag() { sed "s/^{/{\"gpu\":\"${GPU_NAME:-none}\",/" >>"$JSONL"; }
# phases: `phase NAME BUDGET` starts one (false when it cannot fit or is not asked for);
# `phase_end` prints and records what it used against its budget
PH_NAME="" PH_T0=0 PH_BUDGET=0
PHASE_LINES=()
phase() {
    want "$1" || { PHASE_LINES+=("$1: not asked"); return 1; }
    if ! fits "$2"; then
        PHASE_LINES+=("$1: skipped (needs ~$2 s, $((BUDGET - SECONDS + T0)) s left)")
        say "phase $1 skipped: past the time budget"
        return 1
    fi
    PH_NAME=$1 PH_T0=$SECONDS PH_BUDGET=$2
    say "== phase $1 (budget $2 s)"
}
phase_end() {
    local used=$((SECONDS - PH_T0))
    local line="$PH_NAME: ${used} s of a ${PH_BUDGET} s budget$([ "$used" -gt "$PH_BUDGET" ] && echo ' (OVER)')"
    PHASE_LINES+=("$line")
    say "== phase $line"
    jline "\"kind\":\"phase\",\"phase\":\"$PH_NAME\",\"seconds\":$used,\"budget\":$PH_BUDGET"
}

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

# ---- 1. correctness ------------------------------------------------------------------------
# the PubLayNet pages for the bf16 gate travel in .gpu/shared (../shared does not)
[ -d .gpu/shared ] && export DOCLAYOUT_SHARED_DIR=$ROOT/.gpu/shared
if phase correct 170; then
    for t in test_device_select test_backend_ops test_parity_cuda; do
        say "test $t"
        echo "==== $t" >>"$TESTS"
        if timeout 200 env LD_LIBRARY_PATH="$LDP" "$B/tests/$t" >>"$TESTS" 2>&1; then
            verdict "PASS $t: $(tail -1 "$TESTS")"
            jline "\"kind\":\"test\",\"name\":\"$t\",\"verdict\":\"pass\",\"line\":\"$(tail -1 "$TESTS" | tr -d '"\\')\""
        else
            rc=$?
            why=$(sed -n "/^==== $t\$/,\$p" "$TESTS" | grep -E 'CHECK failed|rror' | head -3 | tr '\n' ' ')
            [ -n "$why" ] || why=$(tail -1 "$TESTS")
            verdict "FAIL $t (exit $rc): ${why:0:300}"
            jline "\"kind\":\"test\",\"name\":\"$t\",\"verdict\":\"fail\",\"exit\":$rc"
            FAILED=1
        fi
    done
    # the bf16 gate's match rate, every run
    gate=$(grep -m1 '^BF16_GATE' "$TESTS" || true)
    if [ -n "$gate" ]; then
        verdict "bf16 gate (default model, final detections): ${gate#BF16_GATE }"
        set -- $gate
        shift
        kv=""
        for f in "$@"; do kv="$kv,\"${f%%=*}\":\"${f#*=}\""; done
        jline "\"kind\":\"bf16_gate\"$kv"
    fi
    phase_end
fi

say "models with random weights"
for m in heron-like egret-large-like; do
    ours "$B/make_random_model" tests/fixtures/configs/$m.config.json "$TMP/$m" >>"$LOG" 2>&1 ||
        say "make_random_model $m failed"
done

# ---- 2. speed beside PyTorch ---------------------------------------------------------------
OURS=$TMP/bench_ours.jsonl
TORCH=$TMP/bench_torch.jsonl
COMPARE=$R/compare.txt
: >"$OURS"
: >"$TORCH"
: >"$COMPARE"
if phase speed 150; then
    python3 bench/bench_torch.py input "$TMP/input.npy" 32 >>"$LOG" 2>&1 || say "input.npy failed (numpy?)"
    for m in heron-like egret-large-like; do
        say "bench doclayout $m (fp32, bf16; batch 1, 32)"
        ours "$B/bench/bench_cuda" "$TMP/$m" --name $m --input "$TMP/input.npy" \
            --precision fp32,bf16 --batch 1,32 --runs 20 --dump "$TMP/ours-$m" >>"$OURS" 2>>"$LOG"
    done
    say "bench doclayout heron-like bf16 batch 32 by lanes (concurrent CUDA streams)"
    for lanes in 1 4 8; do
        DOCLAYOUT_CUDA_LANES=$lanes ours "$B/bench/bench_cuda" "$TMP/heron-like" --name "heron-like lanes=$lanes" \
            --input "$TMP/input.npy" --precision bf16 --batch 32 --runs 10 >>"$OURS" 2>>"$LOG"
    done
    for m in heron-like egret-large-like; do
        fits 40 || break
        say "bench transformers eager $m"
        timeout 90 python3 bench/bench_torch.py bench $m "$TMP/$m" "$TMP/input.npy" 15 \
            >>"$TORCH" 2>>"$LOG" || say "transformers $m failed (see log.txt)"
    done
    say "our fp32 outputs vs transformers' (TF32 off), heron-like, image 0"
    if timeout 60 python3 bench/bench_torch.py dump "$TMP/heron-like" "$TMP/input.npy" "$TMP/torch-heron-like" >>"$LOG" 2>&1; then
        python3 bench/bench_torch.py compare "$TMP/ours-heron-like" "$TMP/torch-heron-like" >>"$COMPARE" 2>&1
    fi
    cat "$COMPARE" | tee -a "$LOG"
    # torch.compile: only when asked (it compiles ~200 s); otherwise baselines.md's figures
    if [ "${GPU_CHECK_COMPILE:-0}" = 1 ] && [ -f .gpu/compile_bench.py ] && fits 240; then
        say "torch.compile heron-like (compile_bench.py)"
        (cd .gpu && timeout 230 python3 compile_bench.py) >"$TMP/compile.txt" 2>>"$LOG"
        cat "$TMP/compile.txt" >>"$LOG"
        grep -E 'torch.compile|eager' "$TMP/compile.txt" | while read -r l; do
            jline "\"kind\":\"torch_compile\",\"source\":\"this run\",\"line\":\"$l\""
        done
    else
        jline '"kind":"torch_compile","source":"not this run: ../shared/docs/baselines.md, H200, 2026-11-26","model":"heron-like","batch1_ms":2.89,"batch32_pages_s":1212'
        say "torch.compile: not this run (baselines.md: 2.89 ms batch 1, 1,212 pages/s batch 32)"
    fi
    jtag <"$OURS"
    jtag <"$TORCH"
    phase_end
fi

# ---- 3. documents and the server's batching -------------------------------------------------
if phase documents 90; then
    ls "${PDFS:-/nonexistent}"/*.pdf >"$TMP/pdfs.txt" 2>/dev/null || say "no PDFs in this build"
    doc() { # LABEL ARGS...: one detect run over the PDFs, its --timings lines into docs.log
        local label=$1
        shift
        echo "== $label: doclayout detect $*" >>"$DOCS"
        if timeout 60 env LD_LIBRARY_PATH="$LDP" "$CLI" detect --dpi 72 --quiet --timings \
            -o "$TMP/docs.json" "$@" "@$TMP/pdfs.txt" >>"$DOCS" 2>&1; then
            local rate
            rate=$(grep -o '[0-9.]* pages/s' "$DOCS" | tail -1)
            say "docs $label: $rate"
            jline "\"kind\":\"documents\",\"label\":\"$label\",\"pages_per_s\":${rate%% *}"
        else
            say "docs $label: FAILED (exit $?; see docs.log)"
        fi
    }
    TINY=tests/fixtures/golden/rtdetrv2-tiny
    doc "tiny, CPU $NCPU threads, batch 4" --model $TINY --device cpu --batch 4
    for w in 4 15; do
        doc "tiny, GPU bf16, batch 16, --workers $w" --model $TINY --device cuda --batch 16 --workers $w
    done
    doc "default model, GPU bf16, batch 16" --model models/default --device cuda --batch 16
    doc "default model, CPU, batch 4" --model models/default --device cpu --batch 4
    fits 30 && doc "heron-like random weights, GPU bf16, batch 32" --model "$TMP/heron-like" --device cuda --batch 32
    # the server's batching (written by another developer): when it is there
    if env LD_LIBRARY_PATH="$LDP" "$CLI" serve --help >/dev/null 2>&1 && [ -f bench/bench_serve.py ] && fits 30; then
        say "server batching: bench/bench_serve.py"
        echo "== doclayout serve (bench/bench_serve.py)" >>"$DOCS"
        timeout 45 env LD_LIBRARY_PATH="$LDP" python3 bench/bench_serve.py --doclayout "$CLI" \
            --model "$TMP/heron-like" --device cuda --seconds 20 >>"$DOCS" 2>&1 ||
            say "server benchmark failed or timed out (see docs.log)"
    else
        say "server batching: skipped (no doclayout serve or bench/bench_serve.py in this build)"
    fi
    phase_end
fi

# ---- 4. CPU side by side --------------------------------------------------------------------
CPUF=$R/cpu.log
: >"$CPUF"
if phase cpu 60; then
    say "CPU heron-like, $NCPU threads: doclayout"
    ours "$B/bench/bench_model" "$TMP/heron-like" 137.5 3 "$NCPU" >>"$CPUF" 2>&1
    say "CPU heron-like, $NCPU threads: transformers eager and ONNX Runtime"
    timeout 50 python3 bench/bench_torch.py cpu heron-like "$TMP/heron-like" "$NCPU" 3 >>"$CPUF" 2>>"$LOG" ||
        say "torch/ORT CPU failed (see log.txt)"
    grep -E '^\{' "$CPUF" | jtag
    phase_end
fi

# ---- 5. training, in what is left -----------------------------------------------------------
TRAIN=$R/train.log
: >"$TRAIN"
LEFT=$((BUDGET - SECONDS + T0 - 15))
if [ "$LEFT" -ge 45 ] && phase training "$LEFT"; then
    SYNTH=$B/doclayout_synth
    if [ -x "$SYNTH" ] && python3 -c 'import torch' 2>/dev/null; then
        say "training the default model on synthetic pages for $((LEFT - 20)) s"
        timeout "$LEFT" python3 training/train.py --synth "$SYNTH" --out "$TMP/train" \
            --steps 100000 --batch 32 --size 512 --max-minutes "$(awk "BEGIN{print ($LEFT-20)/60}")" \
            >>"$TRAIN" 2>&1 || say "training stopped (exit $?; see train.log)"
        tail -3 "$TRAIN" | tee -a "$LOG"
    else
        say "training skipped: no doclayout_synth in the build or no torch"
    fi
    phase_end
fi

# ---- summary --------------------------------------------------------------------------------
{
    echo "# doclayout GPU check: ${GPU_NAME:-no GPU}, $NCPU cores, $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - T0)) s"
    echo
    for v in "${VERDICT[@]}"; do echo "- $v"; done
    echo
    echo "phases (time used against each budget; the whole run's budget $BUDGET s):"
    for p in "${PHASE_LINES[@]}"; do echo "- $p"; done
    echo
    echo "documents (pages/s end to end):"
    grep -E '^(==|timings|  page workers|  main thread)' "$DOCS" 2>/dev/null | sed 's/^/    /'
    echo
    python3 bench/bench_torch.py table "$OURS" "$TORCH" 2>&1
    echo
    echo "torch.compile: $(grep -h torch_compile "$JSONL" | head -2)"
    echo
    echo "fp32 vs transformers: $(cat "$COMPARE" 2>/dev/null)"
    echo
    echo "CPU ($NCPU threads):"
    grep -E '^[0-9]|impl' "$CPUF" 2>/dev/null | sed 's/^/    /'
} >"$R/summary.md"
echo
cat "$R/summary.md"
exit $FAILED
