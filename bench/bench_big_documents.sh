#!/bin/sh
# Big documents: peak RSS and wall time per page of `doclayout detect` on one PDF of 10, 1,000
# and 10,000 pages and one TIFF of 10, 200 and 2,000 pages (PDF_PAGES, TIFF_PAGES to choose),
# made by tools/make_big_document from a small PDF (nothing big is committed or kept):
#   bench/bench_big_documents.sh [BUILD_DIR]
# SOURCE: the small PDF (default: a TeX Gyre font manual from Debian's fonts-texgyre, 14
# pages of real text and drawings); MODEL (default: the dense-tiny test fixture, 128x128
# input, so that the figures show the pipeline's own costs rather than inference);
# FORMATS (default "json docling"): json streams each page to -o FILE, docling writes one
# DoclingDocument per input into -o DIR/ (it holds that document's tree until its end);
# RUNS (default 2): each measurement is repeated and every run printed.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cli="$build/doclayout"
tool="$build/make_big_document"
model=${MODEL:-$root/tests/fixtures/dense-tiny}
pdf_pages=${PDF_PAGES-"10 1000 10000"}
tiff_pages=${TIFF_PAGES-"10 200 2000"}
formats=${FORMATS:-"json docling"}
runs=${RUNS:-2}
source=${SOURCE:-/usr/share/doc/fonts-texgyre/qtm-info.pdf}
[ -x "$cli" ] && [ -x "$tool" ] || { echo "no $cli or $tool: build first" >&2; exit 1; }
[ -r "$source" ] || { echo "no $source: set SOURCE=some.pdf (apt-get install fonts-texgyre)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source $source, model $model"
printf '%-6s %7s %-8s %4s %10s %9s %12s %10s\n' kind pages format run "file MB" "peak MB" "ms/page" "pages/s"
measure() { # measure KIND PAGES FILE
    for fmt in $formats; do
        run=1
        while [ "$run" -le "$runs" ]; do
            rm -rf "$work/out" "$work/out.json"
            if [ "$fmt" = docling ]; then out="$work/out/"; else out="$work/out.json"; fi
            /usr/bin/time -f '%M %e' -o "$work/time" "$cli" detect --model "$model" --quiet \
                --format "$fmt" -o "$out" "$3" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
            read -r kb secs < "$work/time"
            awk -v k="$1" -v n="$2" -v f="$fmt" -v r="$run" -v kb="$kb" -v s="$secs" \
                -v size="$(stat -c %s "$3")" 'BEGIN {
                printf "%-6s %7d %-8s %4d %10.1f %9.1f %12.2f %10.1f\n", k, n, f, r,
                    size / 1048576, kb / 1024, 1000 * s / n, n / s }'
            run=$((run + 1))
        done
    done
}
for n in $pdf_pages; do
    "$tool" pdf "$source" "$n" "$work/big.pdf"
    measure pdf "$n" "$work/big.pdf"
    rm -f "$work/big.pdf"
done
for n in $tiff_pages; do
    "$tool" tiff "$source" "$n" "$work/big.tif" 150
    measure tiff "$n" "$work/big.tif"
    rm -f "$work/big.tif"
done
