#!/usr/bin/env bash
# Evaluate a layout model with doclayout itself (no Python):
#   1. mAP on a held-out synthetic set: pages from fixed seeds that training never uses;
#   2. mAP on the 20 real PubLayNet pages of ../shared/data/publaynet-examples (classes mapped
#      to Docling's: text->Text, figure->Picture, table->Table, title->Section-header, list left
#      out), when ../shared is present.
#
#   training/evaluate.sh MODEL_DIR [OUT_DIR] [PAGES]
#
# Detections are the model's own (--raw, no Docling post-processor) at threshold 0.01, the usual
# setting for COCO mAP. Prints both summaries and writes the JSON reports to OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
out=${2:-$(mktemp -d)}
pages=${3:-200}
build=${BUILD_DIR:-build}
mkdir -p "$out"
synth="$build/tools/synth/doclayout_synth"
# held-out seed: training draws its pages from seeds 1000 and up (training/train.py --seed)
"$synth" --seed 777000 --count "$pages" --out "$out/heldout" > /dev/null
"$build/doclayout" detect --model "$model" --raw --quiet --threshold 0.01 \
    -o "$out/heldout-detections.json" "$out/heldout/images/"
echo "== held-out synthetic pages ($pages, seed 777000)"
"$build/doclayout" eval "$out/heldout/annotations.json" "$out/heldout-detections.json" | tee "$out/heldout-eval.txt"
"$build/doclayout" eval --json "$out/heldout/annotations.json" "$out/heldout-detections.json" > "$out/heldout-eval.json"
real=../shared/data/publaynet-examples
if [ -d "$real" ]; then
    "$build/doclayout" detect --model "$model" --raw --quiet --threshold 0.01 \
        -o "$out/publaynet-detections.json" "$real"/*.jpg
    echo "== PubLayNet examples (20 real pages)"
    "$build/doclayout" eval --gt-map publaynet "$real/samples.json" "$out/publaynet-detections.json" | tee "$out/publaynet-eval.txt"
    "$build/doclayout" eval --json --gt-map publaynet "$real/samples.json" "$out/publaynet-detections.json" > "$out/publaynet-eval.json"
fi
