#!/bin/sh
# Document pipeline benchmark: `doclayout detect` over real PDFs from Debian's documentation
# packages at 72 dpi with the small golden model, reporting end-to-end pages/s and the
# per-stage ms/page (--timings): batch 1 and 4 with the default --workers, then a --workers
# sweep (1, 2, 3; WORKERS="1 2 4 8" to choose) at batch 4, then the page stage alone
# (build/bench/bench_pages: render + preprocess over 1..3 threads, no inference).
#   bench/bench_documents.sh [BUILD_DIR] [MAX_PAGES]
# Installs texlive-latex-base-doc (PDF manuals) when no PDFs are found and apt-get works.
set -eu
build=${1:-build}
max_pages=${2:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
cli="$build/doclayout"
model="$root/tests/fixtures/golden/rtdetrv2-tiny"
[ -x "$cli" ] || { echo "no $cli: build first" >&2; exit 1; }
pdfs=$(find /usr/share/doc/texlive-doc -name '*.pdf' 2>/dev/null | head -1)
if [ -z "$pdfs" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq texlive-latex-base-doc >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Pick PDFs until about max_pages pages (page counts from doclayout itself would need the
# model; use mutool when present, else take 20 files).
find /usr/share/doc -name '*.pdf' -size +50k 2>/dev/null | sort > "$work/all.txt"
total=0
: > "$work/list.txt"
while read -r f; do
    if command -v mutool >/dev/null 2>&1; then
        n=$(mutool info "$f" 2>/dev/null | sed -n 's/^Pages: *//p')
        [ -n "$n" ] || continue
    else
        n=20
    fi
    echo "$f" >> "$work/list.txt"
    total=$((total + n))
    [ "$total" -ge "$max_pages" ] && break
done < "$work/all.txt"
echo "inputs: $(wc -l < "$work/list.txt") PDFs, about $total pages; $(nproc) cores"
run() { # run NAME ARGS...: detect with --timings; keeps the end-to-end pages/s for the summary
    name=$1
    shift
    echo "== $name"
    "$cli" detect --model "$model" --dpi 72 --quiet --timings -o "$work/out.json" "$@" \
        "@$work/list.txt" 2>&1 | grep -v '^doclayout:' | tee "$work/t.txt" || true
    echo "$name: $(sed -n 's/.*= \([0-9.]*\) pages\/s end to end.*/\1/p' "$work/t.txt") pages/s" >> "$work/summary.txt"
}
: > "$work/summary.txt"
for batch in 1 4; do
    run "batch $batch, default workers" --batch "$batch"
done
for w in ${WORKERS:-1 2 3}; do
    run "batch 4, --workers $w" --batch 4 --workers "$w"
done
echo "== end to end (pages/s)"
cat "$work/summary.txt"
if [ -x "$build/bench/bench_pages" ]; then
    echo "== the page stage alone (render + preprocess, no inference)"
    "$build/bench/bench_pages" "$model" "$work/list.txt" ${WORKERS:-1 2 3} || true
fi
echo "== render only (MuPDF, for reference): mutool draw at 72 dpi"
if command -v mutool >/dev/null 2>&1; then
    start=$(date +%s.%N)
    while read -r f; do mutool draw -q -r 72 -o "$work/p%d.png" "$f" >/dev/null 2>&1 || true; rm -f "$work"/p*.png; done < "$work/list.txt"
    end=$(date +%s.%N)
    echo "mutool draw (incl. PNG encoding): $(echo "$end - $start" | bc) s"
fi
