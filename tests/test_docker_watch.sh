#!/bin/sh
# scripts/docker-watch.sh (the Docker image's doclayout-watch entry point) with the built CLI:
# each page image in the input folder gets OUT/<name>.json once, a bad image gets
# <name>.json.failed, other files are ignored, and a second scan redoes nothing.
#
#   test_docker_watch.sh SOURCE_DIR CLI
set -eu
src=$1
cli=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/doclayout-watch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() {
    echo "test_docker_watch: FAIL: $*" >&2
    echo "test_docker_watch: 0 passed, 1 failed"
    exit 1
}
mkdir -p "$tmp/in"
cp "$src/tests/fixtures/images/rgb.png" "$tmp/in/page one.png"
cp "$src/tests/fixtures/images/bad_truncated.png" "$tmp/in/bad.png"
echo "not an image" > "$tmp/in/notes.txt"
run() {
    DOCLAYOUT_BIN=$cli DOCLAYOUT_MODEL=$src/tests/fixtures/golden/rtdetrv2-tiny \
        DOCLAYOUT_DEVICE=cpu DOCLAYOUT_IN=$tmp/in DOCLAYOUT_OUT=$tmp/out DOCLAYOUT_POLL=0 \
        DOCLAYOUT_ARGS="--threshold 0.1 --threads 2" sh "$src/scripts/docker-watch.sh"
}
run > "$tmp/log1" 2>&1 || { cat "$tmp/log1"; fail "first scan exited non-zero"; }
[ -f "$tmp/out/page one.json" ] || { cat "$tmp/log1"; fail "no output for 'page one.png'"; }
grep -q '"detections"' "$tmp/out/page one.json" || fail "output has no detections array"
[ -f "$tmp/out/bad.json.failed" ] && [ ! -e "$tmp/out/bad.json" ] || fail "bad.png not marked failed"
[ ! -e "$tmp/out/notes.json" ] || fail "a non-image was processed"
ls "$tmp/out" | grep -q '\.part$' && fail "a partial output was left behind"
before=$(cksum < "$tmp/out/page one.json")
run > "$tmp/log2" 2>&1 || fail "second scan exited non-zero"
grep -q 'json$' "$tmp/log2" && { cat "$tmp/log2"; fail "the second scan processed a file again"; }
[ "$(cksum < "$tmp/out/page one.json")" = "$before" ] || fail "output rewritten"
echo "test_docker_watch: 1 passed, 0 failed"
