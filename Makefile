# Thin convenience wrapper around CMake + ctest. Everything here can be done with cmake directly
# (see docs/building.md); these targets just fix the build directories and flags.
#
#   make test                 deps, Release build with -Werror, ctest
#   make asan                 ASan+UBSan Debug build in build-asan/, ctest
#   make fuzz                 libFuzzer harnesses (clang) in build-fuzz/, each run FUZZ_SECONDS
#   make install PREFIX=DIR   install the Release build (library, header, doclayout.pc, CLI)
#   make demo MODEL=DIR       run the CLI on a sample page, overlay written to out/
#   make clean                remove the build directories and out/

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 30
# Compiler for the sanitizer build: clang when present (its UBSan is the stricter), else cc.
ASAN_CC ?= $(shell command -v clang 2>/dev/null || echo cc)
# -O1 as the sanitizer documentation advises: -O0 makes the parity test several times slower.
ASAN_DEBUG_FLAGS ?= -g -O1
# Extra arguments for every cmake configure, e.g. CMAKE_ARGS=-DDL_SHARED_DIR=/data/shared
CMAKE_ARGS ?=

GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
DEFAULT_MODEL := tests/fixtures/golden/rtdetrv2-tiny
MODEL ?= $(DEFAULT_MODEL)
SAMPLE ?= $(if $(wildcard samples/page.png),samples/page.png,tests/fixtures/golden/rtdetrv2-tiny/input.png)

.PHONY: all deps deps-clang build test asan fuzz install demo clean

all: build

deps:
	scripts/install-deps.sh

deps-clang:
	scripts/install-deps.sh --clang

# Re-running cmake on an existing directory is cheap and picks up changed options.
build: deps
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DDL_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

asan: $(if $(findstring clang,$(ASAN_CC)),deps-clang,deps)
	cmake -S . -B $(ASAN_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug -DDL_SANITIZE=ON \
	    -DDL_WERROR=ON -DCMAKE_C_COMPILER=$(ASAN_CC) "-DCMAKE_C_FLAGS_DEBUG=$(ASAN_DEBUG_FLAGS)" \
	    $(CMAKE_ARGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

fuzz: deps-clang
	cmake -S . -B $(FUZZ_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDL_FUZZ=ON \
	    -DDL_WERROR=ON -DDL_BUILD_TESTS=OFF -DCMAKE_C_COMPILER=clang $(CMAKE_ARGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

demo: build
	@if [ "$(MODEL)" = "$(DEFAULT_MODEL)" ]; then \
	    echo "warning: $(MODEL) is a random-weight test model: its boxes mean nothing." >&2; \
	    echo "warning: pass MODEL=path/to/docling-layout-heron (until the default model lands)." >&2; \
	fi
	mkdir -p out
	./$(BUILD_DIR)/doclayout detect --model $(MODEL) --overlay out/ $(SAMPLE)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) out
