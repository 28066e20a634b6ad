#!/usr/bin/env bash
# Build an arm64 sysroot for cross-compiling and testing doclayout on an x86-64 Debian machine:
# Debian's arm64 packages of libc and of the -dev libraries doclayout needs, unpacked with
# `dpkg -x` into DIR. Nothing is installed on the host: multiarch `apt-get install pkg:arm64`
# would also work, but it must upgrade the host's amd64 copies of shared libraries to the
# same version first (Multi-Arch: same) and fails whenever the arm64 and amd64 builds of a
# security update reach the mirror at different times; a private sysroot never does.
#
#   scripts/aarch64-sysroot.sh DIR
#
# Needs root once, to add the arm64 architecture to dpkg and fetch its package lists
# (`dpkg --add-architecture arm64; apt-get update`). DIR is then used as
#   - CMAKE_SYSROOT by cmake/aarch64-linux-gnu.cmake (with PKG_CONFIG_SYSROOT_DIR), and
#   - `qemu-aarch64 -L DIR` to run the test binaries.
# Re-running with the same package set is a no-op (DIR/.stamp records it).
set -euo pipefail

dir=${1:?usage: aarch64-sysroot.sh DIR}
pkgs=(libc6-dev:arm64 libcjson-dev:arm64 libpng-dev:arm64 libjpeg62-turbo-dev:arm64
      libtiff-dev:arm64)
stamp="$dir/.stamp"
want="${pkgs[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "aarch64-sysroot: $dir is up to date"
    exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "aarch64-sysroot: as root, run: dpkg --add-architecture arm64 && apt-get update" >&2
        exit 1
    fi
    dpkg --add-architecture arm64
fi
# The arm64 package lists: fetched once after the architecture was added.
if ! apt-cache show libc6:arm64 > /dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "aarch64-sysroot: no arm64 package lists; as root, run: apt-get update" >&2
        exit 1
    fi
    apt-get update -q
fi

# The dependency closure, arm64 packages only (Multi-Arch: foreign tools such as
# libc-dev-bin are not needed to link or run).
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${pkgs[@]}" 2> /dev/null |
    grep -E '^[a-z0-9][a-z0-9.+-]*:arm64$' | sort -u)
[ "${#closure[@]}" -gt 5 ] || { echo "aarch64-sysroot: dependency resolution failed" >&2; exit 1; }

debs="$dir.debs"
rm -rf "$dir" "$debs"
mkdir -p "$dir" "$debs"
chmod 777 "$debs" # apt-get download drops root to _apt when it can
echo "aarch64-sysroot: downloading ${#closure[@]} arm64 packages"
(cd "$debs" && apt-get download -q "${closure[@]}" > /dev/null)
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$dir"; done
rm -rf "$debs"

# Debian 12 is usr-merged (/lib is a link to usr/lib) but packages still ship files under /lib:
# merge them the same way, so that both spellings resolve for the linker and the loader.
for d in lib; do
    if [ -d "$dir/$d" ] && [ ! -L "$dir/$d" ]; then
        mkdir -p "$dir/usr/$d"
        cp -a "$dir/$d/." "$dir/usr/$d/"
        rm -rf "${dir:?}/$d"
        ln -s "usr/$d" "$dir/$d"
    fi
done
# Absolute symlinks (libfoo.so -> /lib/aarch64-linux-gnu/libfoo.so.1) would point into the
# host; make them relative so that the linker and qemu -L resolve them inside DIR.
find "$dir" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    rel=$(realpath -m --relative-to="$(dirname "$link")" "$dir$target")
    ln -sfn "$rel" "$link"
done
[ -e "$dir/lib/ld-linux-aarch64.so.1" ] || { echo "aarch64-sysroot: no loader in $dir" >&2; exit 1; }
echo "$want" > "$stamp"
echo "aarch64-sysroot: $dir ready ($(du -sh "$dir" | cut -f1))"
