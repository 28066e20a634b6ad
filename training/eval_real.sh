#!/usr/bin/env bash
# Issue 17's measure on the real pages we can see: COCO mAP@0.5 of a model's raw detections
# (`detect --raw --threshold 0.05`) on
#   1. data/devset-real (51 hand-labelled pages of Debian's PDFs, DocLayNet's 11 classes);
#   2. the 20 PubLayNet pages of ../shared/data/publaynet-examples (classes mapped with
#      --gt-map publaynet), when ../shared is present.
#
#   training/eval_real.sh MODEL_DIR [OUT_DIR]
#
# Not part of ctest (about 10 s per set on 2 cores). Writes the reports (text and JSON) to OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
out=${2:-$(mktemp -d)}
build=${BUILD_DIR:-build}
mkdir -p "$out"
dev=data/devset-real
"$build/doclayout" detect --model "$model" --raw --quiet --threshold 0.05 \
    -o "$out/devset-real-detections.json" "$dev"/images/*.jpg
echo "== data/devset-real (51 real pages, hand-labelled)"
"$build/doclayout" eval "$dev/annotations.json" "$out/devset-real-detections.json" | tee "$out/devset-real-eval.txt"
"$build/doclayout" eval --json "$dev/annotations.json" "$out/devset-real-detections.json" > "$out/devset-real-eval.json"
real=../shared/data/publaynet-examples
if [ -d "$real" ]; then
    "$build/doclayout" detect --model "$model" --raw --quiet --threshold 0.05 \
        -o "$out/publaynet-detections.json" "$real"/*.jpg
    echo "== PubLayNet examples (20 real pages)"
    "$build/doclayout" eval --gt-map publaynet "$real/samples.json" "$out/publaynet-detections.json" | tee "$out/publaynet-eval.txt"
    "$build/doclayout" eval --json --gt-map publaynet "$real/samples.json" "$out/publaynet-detections.json" > "$out/publaynet-eval.json"
fi
