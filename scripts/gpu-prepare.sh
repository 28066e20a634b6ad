#!/usr/bin/env bash
# scripts/gpu-prepare.sh - run HERE (an x86-64 machine with nvcc; no GPU needed) before a device
# run. The GPU machine has nvcc, CMake and ninja but not the Debian development files of cJSON,
# libpng, libtiff, libjpeg or MuPDF, so everything is built here (glibc 2.36: runs on the GPU
# machine's newer glibc) and travels as one archive:
#
#   build-gpu/       -DDL_CUDA=ON -DDL_PDF=OFF: the CUDA module (sm_90/120/121 + PTX), the CUDA
#                    tests, bench_cuda, bench_model, make_random_model (small: no MuPDF inside)
#   build-gpu-pdf/   -DDL_PDF=ON: only the doclayout CLI (MuPDF's fonts make it ~45 MB)
#   deps/            the shared libraries these need, except glibc's and the C++ runtime
#   pdfs/            ~300 pages of Debian documentation PDFs for the document benchmark
#
# into .gpu/gpu-build.tar.xz (~30 MB; git ignores .gpu/ through .git/info/exclude). Then:
#   device run, command "scripts/gpu-check.sh", carry [".gpu"]
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ "$(uname -m)" = x86_64 ] || { echo "gpu-prepare: the GPU machines are x86-64; build there instead" >&2; exit 1; }
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >>.git/info/exclude; }
G="-G Ninja"
cmake -S . -B build-gpu $G -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=ON -DDL_PDF=OFF >/dev/null
ninja -C build-gpu doclayout_cuda test_backend_ops test_parity_cuda test_device_select bench_cuda \
    bench_model make_random_model doclayout
ninja -C build-gpu doclayout_synth || echo "gpu-prepare: no doclayout_synth (FreeType missing?): no training phase"
cmake -S . -B build-gpu-pdf $G -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=OFF -DDL_PDF=ON >/dev/null
ninja -C build-gpu-pdf doclayout
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/build-gpu/tests" "$STAGE/build-gpu/bench" "$STAGE/build-gpu-pdf" "$STAGE/deps" "$STAGE/pdfs"
cp -a build-gpu/libdoclayout_cuda.so build-gpu/make_random_model \
    build-gpu/doclayout "$STAGE/build-gpu/"
[ -x build-gpu/tools/synth/doclayout_synth ] && cp -a build-gpu/tools/synth/doclayout_synth "$STAGE/build-gpu/"
cp -a build-gpu/tests/test_backend_ops build-gpu/tests/test_parity_cuda build-gpu/tests/test_device_select \
    "$STAGE/build-gpu/tests/"
cp -a build-gpu/bench/bench_cuda build-gpu/bench/bench_model "$STAGE/build-gpu/bench/"
cp -a build-gpu-pdf/doclayout "$STAGE/build-gpu-pdf/"
for bin in "$STAGE"/build-gpu/tests/* "$STAGE"/build-gpu/bench/* "$STAGE"/build-gpu/make_random_model \
    "$STAGE"/build-gpu/doclayout "$STAGE"/build-gpu-pdf/doclayout; do
    LD_LIBRARY_PATH=$ROOT/build-gpu ldd "$bin" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' |
    grep -v "$ROOT/build-gpu" | while read -r lib; do cp -L "$lib" "$STAGE/deps/"; done
# the document benchmark's PDFs: the same selection as bench/bench_documents.sh (~300 pages)
total=0
find /usr/share/doc -name '*.pdf' -size +50k 2>/dev/null | sort | while read -r f; do
    n=$(mutool info "$f" 2>/dev/null | sed -n 's/^Pages: *//p')
    [ -n "$n" ] || continue
    cp "$f" "$STAGE/pdfs/$(printf '%02d' $(ls "$STAGE/pdfs" | wc -l))-$(basename "$f")"
    total=$((total + n))
    [ "$total" -ge 300 ] && break
done
mkdir -p .gpu
# what ../shared holds that the GPU run needs (../shared does not travel): torch.compile's
# benchmark and the PubLayNet pages of the bf16 gate
SHARED=$ROOT/../shared
if [ -d "$SHARED" ]; then
    cp "$SHARED/golden/compile_bench.py" "$SHARED/golden/make_golden.py" .gpu/ 2>/dev/null || true
    mkdir -p .gpu/shared/data
    cp -r "$SHARED/data/publaynet-examples" .gpu/shared/data/ 2>/dev/null || true
fi
tar -C "$STAGE" -cf - . | xz -T0 -6 >.gpu/gpu-build.tar.xz
ls -la .gpu/gpu-build.tar.xz
echo "deps: $(ls "$STAGE/deps" | tr '\n' ' ')"
echo "pdfs: $(ls "$STAGE/pdfs" | wc -l) files"
