#!/bin/sh
# The README's two commands, for a fresh machine (Debian 12, Ubuntu 24.04):
#
#   ./doclayout.sh demo    install what is missing, build, detect the layout of a sample page
#   ./doclayout.sh test    install what is missing, build, run the whole test suite
#
# A plain POSIX shell script, because a fresh minimal Debian has sh but neither make nor a
# compiler: scripts/install-deps.sh installs them (make comes with build-essential), then the
# Makefile does the rest, so `./doclayout.sh X` and `make X` are the same thing once make is
# there. Arguments after the command go to make (./doclayout.sh demo MODEL=dir SAMPLE=page.pdf).
set -eu

cd "$(dirname "$0")"
usage() {
    sed -n '2,6s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
[ $# -ge 1 ] || usage
case "$1" in
demo | test) ;;
-h | --help | help) usage ;;
*)
    echo "doclayout.sh: unknown command '$1'" >&2
    usage
    ;;
esac

scripts/install-deps.sh
if ! command -v make > /dev/null 2>&1; then
    echo "doclayout.sh: make is still missing after scripts/install-deps.sh" >&2
    exit 1
fi
exec make "$@"
