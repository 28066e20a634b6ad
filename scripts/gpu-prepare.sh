#!/usr/bin/env bash
# scripts/gpu-prepare.sh - run HERE (an x86-64 machine with nvcc, no GPU needed) before a device
# run, in case the GPU machine cannot configure the project itself (it has nvcc, CMake and ninja,
# but maybe not the pkg-config development files of cJSON, libpng, libtiff, libjpeg).
#
# Builds build-gpu/ with the CUDA module (every listed architecture) and the targets
# scripts/gpu-check.sh runs, and copies the shared libraries they need (not glibc's) into
# build-gpu/deps. Then: device run, command "scripts/gpu-check.sh", carry ["build-gpu"].
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ "$(uname -m)" = x86_64 ] || { echo "gpu-prepare: the GPU machines are x86-64; build there instead" >&2; exit 1; }
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=ON >/dev/null
ninja -C build-gpu doclayout_cuda test_ops_cuda test_parity_cuda test_device_select bench_cuda make_random_model
mkdir -p build-gpu/deps
for bin in build-gpu/tests/test_parity_cuda build-gpu/bench/bench_cuda build-gpu/make_random_model; do
    ldd "$bin" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' |
    while read -r lib; do cp -L "$lib" build-gpu/deps/; done
rm -rf build-gpu/CMakeFiles/*.dir build-gpu/src/backends/cuda/CMakeFiles # objects need not travel
du -sh build-gpu | awk '{print "build-gpu: " $1 " (the device tool carries at most 64 MiB)"}'
ls build-gpu/deps
