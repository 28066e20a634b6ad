#!/usr/bin/env bash
# Install the Debian/Ubuntu packages needed to build and test doclayout.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --clang    also clang and its sanitizer/libFuzzer runtime
#   scripts/install-deps.sh --aarch64  also the aarch64 cross compiler and qemu-user (to build
#                                      and test for arm64 on x86-64; the arm64 libraries come
#                                      from scripts/aarch64-sysroot.sh)
#   scripts/install-deps.sh --lint     also python3-yaml (the Docker/compose lint test) and
#                                      clang-format-14 (test_format, scripts/format-tree.sh)
#   scripts/install-deps.sh --chroot   also debootstrap and git (scripts/fresh-machine-check.sh)
#   scripts/install-deps.sh --browser  also chromium (the slow tier's test of serve's page at
#                                      GET /, tests/server/slow; CI's default suite does not
#                                      need it)
#   scripts/install-deps.sh --fixtures also Pango/cairo for Python (tools/make_text_fixtures.py
#                                      regenerates the text fixtures; the tests do not need it)
#   scripts/install-deps.sh --training also what training/ and data/devset-real need: PyTorch,
#                                      PIL, numpy, headless Chromium (training/chromium_pages.py),
#                                      poppler-utils and fonts (not needed by the build or CI)
#   scripts/install-deps.sh --runtime  only the shared libraries the installed program needs (no
#                                      compiler, no -dev packages: the Docker runtime stage)
#   scripts/install-deps.sh --check    only report what is missing (exit 1 if anything is)
#
# As root it runs `apt-get update` once and installs whatever is missing; as any other user it
# prints the exact `sudo apt-get install ...` line and exits non-zero when something is missing.
# When everything is already installed it does nothing and returns at once (dpkg -s only).
#
# Package names differ between Debian and Ubuntu (libjpeg62-turbo-dev vs libjpeg-turbo8-dev,
# the clang runtime package); they are chosen from /etc/os-release. Only the Debian 12 path is
# exercised by this project's CI and development machines; the Ubuntu names are best effort.
set -euo pipefail

want_clang=0
want_aarch64=0
want_lint=0
want_chroot=0
want_browser=0
want_fixtures=0
want_training=0
runtime_only=0
check_only=0
for arg in "$@"; do
    case "$arg" in
    --clang) want_clang=1 ;;
    --aarch64) want_aarch64=1 ;;
    --lint) want_lint=1 ;;
    --chroot) want_chroot=1 ;;
    --browser) want_browser=1 ;;
    --fixtures) want_fixtures=1 ;;
    --training) want_training=1 ;;
    --runtime) runtime_only=1 ;;
    --check) check_only=1 ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

os_id=debian
os_like=
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    os_id=$(. /etc/os-release && echo "${ID:-debian}")
    os_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
fi

case "$os_id $os_like" in
*ubuntu*)
    jpeg_dev=libjpeg-turbo8-dev
    clang_rt=libclang-rt-dev # best effort: older Ubuntus ship the runtime in libclang-common-N-dev
    # runtime libraries (Ubuntu 24.04 names: the 64-bit time_t transition renamed libpng)
    runtime_libs=(libcjson1 libpng16-16t64 libjpeg-turbo8 libtiff6 libfribidi0 libmicrohttpd12t64
                  libgrpc29t64 libprotobuf-c1 libzip4t64 libcurl4t64
                  libnettle8t64)
    ;;
*debian*)
    jpeg_dev=libjpeg62-turbo-dev
    clang_rt=libclang-rt-14-dev # Debian 12's clang is 14
    runtime_libs=(libcjson1 libpng16-16 libjpeg62-turbo libtiff6 libfribidi0 libmicrohttpd12
                  libgrpc29 libprotobuf-c1 libzip4 libcurl4 libnettle8)
    ;;
*)
    echo "install-deps.sh: '$os_id' is neither Debian nor Ubuntu; install the equivalents of:" >&2
    echo "  a C11 compiler, cmake >= 3.20, ninja, pkg-config, cJSON, libpng, libjpeg, libtiff" >&2
    exit 1
    ;;
esac

pkgs=(build-essential cmake ninja-build pkg-config libcjson-dev libpng-dev "$jpeg_dev"
      libtiff-dev
      # PDF input (MuPDF, AGPL: see docs/documents.md; the build works without it, -DDL_PDF=OFF)
      libmupdf-dev libharfbuzz-dev libfreetype-dev libjbig2dec0-dev libopenjp2-7-dev
      libmujs-dev libgumbo-dev libbrotli-dev
      # right-to-left PDF text in logical order (src/document/bidi.c)
      libfribidi-dev
      # the synthetic page generator: fonts and words (tools/synth, docs/synthetic-data.md)
      zlib1g-dev fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-lmodern
      fonts-texgyre wamerican
      # benchmarks: OpenBLAS as the SGEMM reference (bench/bench_sgemm, bench/run_isa_bench.sh)
      libopenblas-dev
      # tests: DoclingDocument schema validation
      python3-jsonschema
      # doclayout serve (docs/server.md): HTTP with libmicrohttpd, gRPC with the gRPC C core
      # and protobuf-c; its tests' clients: curl, python3-grpcio + python3-grpc-tools, haproxy
      libmicrohttpd-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
      # its document API: zip answers (libzip), sources of kind "http" (libcurl), the
      # WebSocket status route (nettle's SHA-1); optional to the build, which then refuses
      # those requests
      libzip-dev libcurl4-openssl-dev nettle-dev
      curl python3-grpcio python3-grpc-tools haproxy)
if [ "$want_clang" = 1 ]; then
    # clang plus the ASan/UBSan/libFuzzer runtime libraries.
    pkgs+=(clang "$clang_rt")
fi
if [ "$want_lint" = 1 ]; then
    pkgs+=(python3-yaml clang-format-14)
fi
if [ "$want_chroot" = 1 ]; then
    pkgs+=(debootstrap git)
fi
if [ "$want_browser" = 1 ]; then
    pkgs+=(chromium)
fi
if [ "$want_fixtures" = 1 ]; then
    pkgs+=(python3-gi python3-gi-cairo python3-cairo gir1.2-pango-1.0)
fi
if [ "$want_training" = 1 ]; then
    pkgs+=(python3-torch python3-pil python3-numpy chromium poppler-utils fonts-liberation2
        fonts-dejavu-core fonts-texgyre fonts-lmodern)
fi
if [ "$runtime_only" = 1 ]; then
    pkgs=("${runtime_libs[@]}")
fi
if [ "$want_aarch64" = 1 ]; then
    # Same names on Debian and Ubuntu. qemu-user has /usr/bin/qemu-aarch64; the tests call it
    # directly, so binfmt_misc registration is not needed.
    pkgs+=(gcc-aarch64-linux-gnu qemu-user)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg -s "$p" 2> /dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps.sh: all ${#pkgs[@]} packages present"
    exit 0
fi

if [ "$check_only" = 1 ]; then
    echo "install-deps.sh: missing: ${missing[*]}" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: missing packages; as root, run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
