#!/bin/sh
# Assemble a self-contained generator kit to carry to a machine without our packages (the GPU
# machine: Ubuntu 24.04, no FreeType headers, no fonts-* packages):
#   tools/synth/make_kit.sh [KIT_DIR]        (default build-static/synth-kit)
# builds doclayout_synth fully statically and copies it with the font files and the word list.
# Run it there as:
#   KIT/doclayout_synth --fonts KIT/fonts --words KIT/words --seed S --count N --out DIR
# The pages are byte-identical to those made here with the same kit.
set -eu
cd "$(dirname "$0")/../.."
KIT=${1:-build-static/synth-kit}
cmake -S . -B build-static -G Ninja -DDL_SYNTH_STATIC=ON -DDL_BUILD_TESTS=OFF >/dev/null
ninja -C build-static doclayout_synth >/dev/null
rm -rf "$KIT"
mkdir -p "$KIT/fonts"
cp build-static/tools/synth/doclayout_synth "$KIT/"
strip "$KIT/doclayout_synth" 2>/dev/null || true
for d in /usr/share/fonts/truetype/liberation2 /usr/share/fonts/truetype/dejavu \
         /usr/share/texmf/fonts/opentype/public/lm \
         /usr/share/texmf/fonts/opentype/public/tex-gyre; do
  [ -d "$d" ] || continue
  for f in "$d"/Liberation*.ttf "$d"/DejaVuSerif*.ttf "$d"/DejaVuSans*.ttf \
           "$d"/lmroman10-*.otf "$d"/lmsans10-*.otf "$d"/lmmono10-*.otf "$d"/texgyre*.otf; do
    [ -f "$f" ] && cp "$f" "$KIT/fonts/"
  done
done
cp -L /usr/share/dict/words "$KIT/words" 2>/dev/null || echo "no /usr/share/dict/words: the kit uses the built-in word list"
du -sh "$KIT"
