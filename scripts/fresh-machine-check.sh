#!/usr/bin/env bash
# The README's two commands on fresh minimal Debian 12 machines, as a new user runs them.
#
#   scripts/fresh-machine-check.sh [--order demo,test|test,demo|both] [--repo DIR]
#
# For each order, a fresh chroot: Debian 12 `debootstrap --variant=minbase` (no make, no
# compiler, no ninja), this repository git-cloned into /root/doclayout (its committed HEAD: the
# checkout being tested), then `./doclayout.sh demo && ./doclayout.sh test` (or test, then demo)
# as root with a clean environment: no CI=true, no ../shared. The demo must leave its overlay in
# out/. Both orders by default, each in its own fresh chroot.
#
# Root only (debootstrap, chroot, mounts). The Debian mirror is the one this machine's apt uses.
# Cached between runs under $DOCLAYOUT_FRESH_CACHE (/var/cache/doclayout): the debootstrap tree
# as a tarball (remade after 30 days, or delete it) and the downloaded .deb archives, shared by
# the chroots through a bind mount. Every chroot still runs apt-get update and installs all of
# its packages itself. The last run's logs stay in $DOCLAYOUT_FRESH_CACHE/logs.
#
# Safety: /proc, /sys and /dev are mounted with --make-rslave (nothing unmounted inside reaches
# the host); every mount is undone before anything is removed, the chroot is removed only when
# no mount is left under it, and with rm --one-file-system, from an EXIT trap that also runs on
# failure and interruption.
set -euo pipefail

order=both
repo=
while [ $# -gt 0 ]; do
    case "$1" in
    --order)
        order=$2
        shift 2
        ;;
    --repo)
        repo=$2
        shift 2
        ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "fresh-machine-check.sh: unknown argument '$1' (try --help)" >&2
        exit 2
        ;;
    esac
done
case "$order" in
both) orders=("demo test" "test demo") ;;
demo,test) orders=("demo test") ;;
test,demo) orders=("test demo") ;;
*)
    echo "fresh-machine-check.sh: --order is demo,test, test,demo or both" >&2
    exit 2
    ;;
esac

repo=${repo:-$(cd "$(dirname "$0")/.." && pwd)}
suite=bookworm
cache=${DOCLAYOUT_FRESH_CACHE:-/var/cache/doclayout}
base_tar=$cache/debian-$suite-minbase.tar
debs=$cache/debian-$suite-debs

if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-machine-check.sh: needs root (debootstrap, chroot, mount)" >&2
    exit 1
fi
for tool in debootstrap git chroot mount umount findmnt; do
    if ! command -v "$tool" > /dev/null 2>&1; then
        echo "fresh-machine-check.sh: $tool is missing (scripts/install-deps.sh --chroot)" >&2
        exit 1
    fi
done
git -C "$repo" rev-parse --verify HEAD > /dev/null

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org.
mirror=$(
    {
        sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2> /dev/null
        sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list \
            /etc/apt/sources.list.d/*.list 2> /dev/null
    } | grep -E '/debian/?$' | head -n 1 || true
)
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
[ "${mirror%/debian}" != "$mirror" ] || security=http://deb.debian.org/debian-security

work=$(mktemp -d "${TMPDIR:-/tmp}/doclayout-fresh.XXXXXX")
mounts=() # mounted points, in mount order

# Unmount everything under $1 (deepest first), then report whether anything is left.
unmount_all() {
    local root=$1 m
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        m=${mounts[i]}
        case "$m" in "$root"/*) ;; *) continue ;; esac
        umount -R "$m" 2> /dev/null || umount -R -l "$m" 2> /dev/null || true
    done
    mounts=()
    ! findmnt -rn -o TARGET | grep -qF "$root/"
}

# Remove a chroot only when nothing is mounted under it, and never across file systems.
remove_tree() {
    local root=$1
    [ -d "$root" ] || return 0
    if ! unmount_all "$root"; then
        echo "fresh-machine-check.sh: mounts left under $root; NOT removing it:" >&2
        findmnt -rn -o TARGET | grep -F "$root/" >&2 || true
        return 1
    fi
    rm -rf --one-file-system "$root"
}

cleanup() {
    local rc=$?
    set +e
    for d in "$work"/*/; do
        [ -d "$d" ] && { remove_tree "${d%/}" || rc=1; }
    done
    if ! findmnt -rn -o TARGET | grep -qF "$work/"; then
        rm -rf --one-file-system "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_into() { # mount_into ROOT: proc, sys, dev (rslave), the .deb cache
    local root=$1
    mount -t proc proc "$root/proc"
    mounts+=("$root/proc")
    mount --rbind /sys "$root/sys"
    mounts+=("$root/sys")
    mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev"
    mounts+=("$root/dev")
    mount --make-rslave "$root/dev"
    mkdir -p "$debs/partial"
    mount --bind "$debs" "$root/var/cache/apt/archives"
    mounts+=("$root/var/cache/apt/archives")
}

# The debootstrap tree, cached as a tarball.
mkdir -p "$cache"
if [ -f "$base_tar" ] && [ -n "$(find "$base_tar" -mtime +30)" ]; then
    rm -f "$base_tar"
fi
if [ ! -f "$base_tar" ]; then
    t0=$SECONDS
    echo "== debootstrap --variant=minbase $suite from $mirror (cached in $base_tar)"
    base=$work/base
    debootstrap --variant=minbase "$suite" "$base" "$mirror" > "$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log"
        exit 1
    }
    # the sources of a Debian 12 installation: the release, its updates, security
    cat > "$base/etc/apt/sources.list" << EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
    apt_clean=$base/var/cache/apt/archives
    find "$apt_clean" -name '*.deb' -delete
    tar -C "$base" --numeric-owner -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    remove_tree "$base"
    echo "== base tree ready in $((SECONDS - t0))s"
fi

failed=0
n=0
for o in "${orders[@]}"; do
    n=$((n + 1))
    read -r first second <<< "$o"
    root=$work/chroot$n
    t0=$SECONDS
    echo
    echo "== fresh chroot $n: ./doclayout.sh $first, then ./doclayout.sh $second"
    mkdir "$root"
    tar -C "$root" --numeric-owner -xf "$base_tar"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
    git clone -q "$repo" "$root/root/doclayout"
    git -C "$root/root/doclayout" log -1 --format='   commit %h %s'
    mount_into "$root"
    log=$cache/logs/chroot$n-$first-$second.log # kept after the run
    mkdir -p "$cache/logs"
    # a clean environment, as a user's login shell has: no CI, no ../shared
    if chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd /root/doclayout && [ ! -e ../shared ] && ./doclayout.sh $first && \
                    ./doclayout.sh $second && ls out/ | grep -q ." > "$log" 2>&1; then
        grep -E '^[0-9]+% tests passed|^Total Test time' "$log" | sed 's/^/   /' || true
        echo "== chroot $n passed in $((SECONDS - t0))s"
    else
        tail -n 80 "$log"
        echo "== chroot $n FAILED after $((SECONDS - t0))s (./doclayout.sh $first, then $second)"
        failed=1
    fi
    grep -E 'skipped|Skipped' "$log" | sed 's/^/   /' | head -n 20 || true
    remove_tree "$root"
done
[ "$failed" -eq 0 ]
