#!/usr/bin/env bash
# The README's two commands on fresh minimal Debian 12 machines, as a new user runs them.
#
#   scripts/fresh-machine-check.sh [--order demo,test|test,demo|both] [--serial] [--repo DIR]
#
# For each order, a fresh chroot: Debian 12 `debootstrap --variant=minbase` (no make, no
# compiler, no ninja), this repository git-cloned into /root/doclayout (its committed HEAD: the
# checkout being tested), then `./doclayout.sh demo && ./doclayout.sh test` (or test, then demo)
# as root with a clean environment: no CI=true, no ../shared. The demo must leave its overlay in
# out/. Both orders by default, each in its own fresh chroot, both at once (--serial: one after
# the other; at once they share the CPUs through each other's downloads, links and test tails).
#
# Root only (debootstrap, chroot, mounts). The Debian mirror is the one this machine's apt uses.
# Cached between runs under $DOCLAYOUT_FRESH_CACHE (/var/cache/doclayout): the debootstrap tree
# as a tarball (remade after 30 days, or delete it) and the downloaded .deb archives, copied into
# each chroot's apt cache before and back after (apt still resolves, checks and installs every
# package itself: it only skips downloads). Every chroot runs apt-get update. The last run's
# logs stay in $DOCLAYOUT_FRESH_CACHE/logs.
#
# Safety: /proc, /sys and /dev are mounted with --make-rslave (nothing unmounted inside reaches
# the host); every mount under a chroot is undone before anything is removed, the chroot is
# removed only when no mount is left under it, and with rm --one-file-system, from an EXIT trap
# that also runs on failure and interruption.
set -euo pipefail

order=both
repo=
serial=0
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
    --serial)
        serial=1
        shift
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

# Mount points at or under $1, deepest first.
mounts_under() {
    findmnt -rn -o TARGET | awk -v r="$1" '$0 == r || index($0, r "/") == 1' | sort -r
}

# Remove a tree only when nothing is mounted under it (unmounting first), and never across
# file systems.
remove_tree() {
    local root=$1 m
    [ -d "$root" ] || return 0
    for m in $(mounts_under "$root"); do
        umount -R "$m" 2> /dev/null || umount -R -l "$m" 2> /dev/null || true
    done
    if [ -n "$(mounts_under "$root")" ]; then
        echo "fresh-machine-check.sh: mounts left under $root; NOT removing it:" >&2
        mounts_under "$root" >&2
        return 1
    fi
    rm -rf --one-file-system "$root"
}

cleanup() {
    local rc=$? d
    set +e
    # chroots still running (interrupted): stop them before unmounting
    for pid in $(jobs -p); do kill "$pid" 2> /dev/null; done
    wait 2> /dev/null
    for d in "$work"/*/; do
        [ -d "$d" ] && { remove_tree "${d%/}" || rc=1; }
    done
    if [ -z "$(mounts_under "$work")" ]; then
        rm -rf --one-file-system "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_into() { # mount_into ROOT: proc, sys and dev, each a slave of the host's
    local root=$1
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"
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

# One fresh chroot running the README's commands in one order; its verdict in $work/resultN.
run_chroot() {
    local n=$1 first=$2 second=$3 root=$work/chroot$1 t0=$SECONDS f b
    local log=$cache/logs/chroot$n-$first-$second.log # kept after the run
    mkdir "$root"
    tar -C "$root" --numeric-owner -xf "$base_tar"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
    if ls "$debs"/*.deb > /dev/null 2>&1; then # hard links when on one file system
        cp -l "$debs"/*.deb "$root/var/cache/apt/archives/" 2> /dev/null ||
            cp "$debs"/*.deb "$root/var/cache/apt/archives/"
    fi
    git clone -q "$repo" "$root/root/doclayout"
    {
        git -C "$root/root/doclayout" log -1 --format='commit %h %s'
        echo "== fresh chroot $n: ./doclayout.sh $first, then ./doclayout.sh $second"
    } > "$log"
    mount_into "$root"
    # a clean environment, as a user's login shell has: no CI, no ../shared
    if chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd /root/doclayout && [ ! -e ../shared ] && for c in $first $second; do
                        t=\$(date +%s); ./doclayout.sh \$c || exit 1
                        echo \"== ./doclayout.sh \$c: \$((\$(date +%s) - t))s\"; done &&
                    ls out/ | grep -q ." >> "$log" 2>&1; then
        echo "passed in $((SECONDS - t0))s" > "$work/result$n"
    else
        echo "FAILED after $((SECONDS - t0))s" > "$work/result$n"
    fi
    # new downloads back into the cache (each file appears whole: copied, then renamed)
    for f in "$root"/var/cache/apt/archives/*.deb; do
        b=${f##*/}
        [ -f "$f" ] && [ ! -e "$debs/$b" ] && cp "$f" "$debs/.$b.$n" && mv "$debs/.$b.$n" "$debs/$b"
    done
    remove_tree "$root"
}

mkdir -p "$debs" "$cache/logs"
n=0
for o in "${orders[@]}"; do
    n=$((n + 1))
    read -r first second <<< "$o"
    if [ "$serial" = 1 ]; then
        run_chroot "$n" "$first" "$second"
    else
        run_chroot "$n" "$first" "$second" &
    fi
done
wait
failed=0
n=0
for o in "${orders[@]}"; do
    n=$((n + 1))
    read -r first second <<< "$o"
    log=$cache/logs/chroot$n-$first-$second.log
    result=$(cat "$work/result$n" 2> /dev/null || echo "did not finish")
    echo
    echo "== fresh chroot $n: ./doclayout.sh $first, then ./doclayout.sh $second: $result"
    sed -n '1p' "$log" | sed 's/^/   /'
    case "$result" in
    passed*)
        grep -E '^== \./doclayout|^[0-9]+% tests passed|^Total Test time' "$log" | sed 's/^/   /'
        ;;
    *)
        tail -n 80 "$log"
        failed=1
        ;;
    esac
    grep -E '\*\*\*Skipped|\*\*\*Failed' "$log" | sed 's/^/   /' || true
done
# archives leave the cache after 30 days (old versions go; current ones are fetched again)
find "$debs" -name '*.deb' -mtime +30 -delete 2> /dev/null || true
[ "$failed" -eq 0 ]
