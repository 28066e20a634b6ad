# Thin convenience wrapper around CMake + ctest. Everything here can be done with cmake directly
# (see docs/building.md); these targets just fix the build directories and flags.
#
#   make test                 deps, Release build with -Werror, ctest
#   make asan                 ASan+UBSan Debug build in build-asan/, ctest
#   make fuzz                 libFuzzer harnesses (clang) in build-fuzz/, each run FUZZ_SECONDS
#   make test-aarch64         cross-build for aarch64, run the whole suite under qemu (slow)
#   make test-aarch64-fast    the same build, only the CI subset (SIMD kernels vs reference, ...)
#   make install PREFIX=DIR   install the Release build (library, header, doclayout.pc, CLI, man
#                             page, self-test model, models/ when present)
#   make demo MODEL=DIR       run the CLI on a sample page, overlay written to out/
#   make check-examples       docs/contributing.md's worked examples (an op, a backend, an output
#                             format, a command) applied to a copy of the tree, built and run (minutes;
#                             not in CI, whose test_contributing only compiles them)
#   make clean                remove the build directories and out/

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
AARCH64_DIR ?= build-aarch64
AARCH64_SYSROOT ?= $(AARCH64_DIR)/sysroot
# qemu's CPU for the aarch64 tests: every extension it knows (NEON, SVE2, BF16, I8MM, ...) with
# 128-bit SVE vectors, as on the DGX Spark's Cortex-X925/A725 (qemu's default would be 512).
QEMU_CPU ?= max,sve-default-vector-length=16
# The CI subset under qemu (about a minute of tests on 2 cores; the whole suite takes ~7.5 minutes):
# every fast op against the scalar reference, end-to-end detection on the tiny model against
# transformers' detections, labels, Pillow-exact resize, image decoding, the install test.
AARCH64_FAST_TESTS ?= ^(test_ops|test_cpu_features|test_fatbin|test_detect_e2e|test_labels|test_resize|test_image_decode|test_install)$$
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 30
# Compiler for the sanitizer build: clang when present (its UBSan is the stricter), else cc.
ASAN_CC ?= $(shell command -v clang 2>/dev/null || echo cc)
# -O1 as the sanitizer documentation advises: -O0 makes the parity test several times slower.
ASAN_DEBUG_FLAGS ?= -g -O1
# Extra arguments for every cmake configure, e.g. CMAKE_ARGS=-DDL_SHARED_DIR=/data/shared
CMAKE_ARGS ?=

# The CMake generator, decided when a recipe runs (after `deps` has installed ninja), never when
# make reads this file. A build directory that exists keeps the generator recorded in its
# CMakeCache.txt (no -G: cmake reuses it, and refuses a different one); a new one gets Ninja when
# it is installed. $(call GENERATOR,DIR) expands to shell code printing the option.
GENERATOR = $$([ ! -f "$(1)/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
# The bundled default model when it is there; else a tiny random-weight test model.
TEST_MODEL := tests/fixtures/golden/rtdetrv2-tiny
MODEL ?= $(if $(wildcard models/default/config.json),models/default,$(TEST_MODEL))
SAMPLE ?= $(if $(wildcard samples/page.png),samples/page.png,tests/fixtures/golden/rtdetrv2-tiny/input.png)

.PHONY: all deps deps-clang deps-aarch64 configure build test asan fuzz build-aarch64 test-aarch64 \
	test-aarch64-fast install demo check-examples clean

all: build

deps:
	scripts/install-deps.sh

deps-clang:
	scripts/install-deps.sh --clang

deps-aarch64:
	scripts/install-deps.sh --aarch64
	scripts/aarch64-sysroot.sh $(abspath $(AARCH64_SYSROOT))

# Re-running cmake on an existing directory is cheap and picks up changed options.
configure: deps
	cmake -S . -B $(BUILD_DIR) $(call GENERATOR,$(BUILD_DIR)) -DCMAKE_BUILD_TYPE=Release -DDL_WERROR=ON $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

asan: $(if $(findstring clang,$(ASAN_CC)),deps-clang,deps)
	cmake -S . -B $(ASAN_DIR) $(call GENERATOR,$(ASAN_DIR)) -DCMAKE_BUILD_TYPE=Debug -DDL_SANITIZE=ON \
	    -DDL_BUILD_BENCH=OFF -DDL_WERROR=ON -DCMAKE_C_COMPILER=$(ASAN_CC) "-DCMAKE_C_FLAGS_DEBUG=$(ASAN_DEBUG_FLAGS)" \
	    $(CMAKE_ARGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

fuzz: deps-clang
	cmake -S . -B $(FUZZ_DIR) $(call GENERATOR,$(FUZZ_DIR)) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDL_FUZZ=ON \
	    -DDL_WERROR=ON -DDL_BUILD_TESTS=OFF -DCMAKE_C_COMPILER=clang $(CMAKE_ARGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

build-aarch64: deps-aarch64
	cmake -S . -B $(AARCH64_DIR) $(call GENERATOR,$(AARCH64_DIR)) -DCMAKE_BUILD_TYPE=Release -DDL_WERROR=ON \
	    -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	    -DDL_AARCH64_SYSROOT=$(abspath $(AARCH64_SYSROOT)) "-DDL_QEMU_CPU=$(QEMU_CPU)" $(CMAKE_ARGS)
	cmake --build $(AARCH64_DIR) -j $(JOBS)

test-aarch64: build-aarch64
	ctest --test-dir $(AARCH64_DIR) --output-on-failure -j $(JOBS)

test-aarch64-fast: build-aarch64
	ctest --test-dir $(AARCH64_DIR) --output-on-failure -j $(JOBS) -R '$(AARCH64_FAST_TESTS)'

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

demo: build
	@if [ "$(MODEL)" = "$(TEST_MODEL)" ]; then \
	    echo "warning: $(MODEL) is a random-weight test model: its boxes mean nothing." >&2; \
	    echo "warning: pass MODEL=path/to/docling-layout-heron (until the default model lands)." >&2; \
	fi
	mkdir -p out
	./$(BUILD_DIR)/doclayout detect --model $(MODEL) --overlay out/ $(SAMPLE)
	@echo "overlay written to out/: the sample page with its boxes drawn" >&2

check-examples: deps
	JOBS=$(JOBS) sh tests/contributing_examples.sh --build .

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) $(AARCH64_DIR) out
