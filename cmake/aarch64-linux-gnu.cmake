# Cross-compiling doclayout for 64-bit Arm Linux (DGX Spark, Graviton, Raspberry Pi 4/5, ...)
# on an x86-64 Debian machine with Debian's cross compiler (gcc-aarch64-linux-gnu) and an arm64
# sysroot made by scripts/aarch64-sysroot.sh:
#
#   scripts/aarch64-sysroot.sh build-aarch64/sysroot
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DDL_AARCH64_SYSROOT=$PWD/build-aarch64/sysroot
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64
#
# ctest runs the test programs under qemu-aarch64 (Debian's qemu-user) with
# -cpu max,sve-default-vector-length=16: every extension qemu knows (NEON, SVE/SVE2, BF16,
# I8MM, ...) with 128-bit SVE vectors as on GB10 (qemu's default would be 512 bits).
# `make test-aarch64` does all of this.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(DL_AARCH64_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the cross compiler")
set(CMAKE_C_COMPILER ${DL_AARCH64_TRIPLE}-gcc)

# Toolchain files are read again for try_compile projects: pass the sysroot on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DL_AARCH64_SYSROOT DL_AARCH64_TRIPLE
     DL_QEMU_CPU)
if(NOT DL_AARCH64_SYSROOT)
  set(DL_AARCH64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build-aarch64/sysroot")
endif()
get_filename_component(DL_AARCH64_SYSROOT "${DL_AARCH64_SYSROOT}" ABSOLUTE)
if(NOT EXISTS "${DL_AARCH64_SYSROOT}/usr/include/stdio.h")
  message(FATAL_ERROR "no arm64 sysroot at ${DL_AARCH64_SYSROOT}: run "
                      "scripts/aarch64-sysroot.sh ${DL_AARCH64_SYSROOT}")
endif()
set(CMAKE_SYSROOT "${DL_AARCH64_SYSROOT}")

# Headers and libraries only from the sysroot; programs (pkg-config, sh) from the host.
set(CMAKE_FIND_ROOT_PATH "${DL_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# pkg-config reads the sysroot's .pc files and prefixes their -I/-L paths with it.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR}
    "${DL_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${DL_AARCH64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${DL_AARCH64_SYSROOT}")

# Shared libraries' own dependencies (libtiff -> libjbig, libdeflate, ...) are found through
# the sysroot's multiarch directory.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${DL_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu")
set(CMAKE_SHARED_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${DL_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu")

# Run target programs (ctest, and anything CMake runs at build time) under qemu.
if(NOT DL_QEMU_CPU)
  set(DL_QEMU_CPU "max,sve-default-vector-length=16")
endif()
find_program(DL_QEMU_AARCH64 qemu-aarch64 qemu-aarch64-static)
if(DL_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${DL_QEMU_AARCH64};-L;${DL_AARCH64_SYSROOT};-cpu;${DL_QEMU_CPU}")
elseif(NOT DL_QEMU_WARNED)
  set(DL_QEMU_WARNED ON CACHE INTERNAL "")
  message(WARNING "qemu-aarch64 not found (apt-get install qemu-user): the tests can only run "
                  "on an aarch64 machine or with binfmt_misc registered")
endif()
