#!/bin/sh
# A watch folder for the Docker image (installed there as doclayout-watch): every page image
# that appears in $DOCLAYOUT_IN gets its layout written to $DOCLAYOUT_OUT/<name>.json, once.
# The model is found offline in the Hugging Face cache mounted at $HF_HOME.
#
#   DOCLAYOUT_MODEL   model dir or repo id (docling-project/docling-layout-heron)
#   DOCLAYOUT_DEVICE  cpu, cuda or auto (auto)
#   DOCLAYOUT_IN, DOCLAYOUT_OUT  folders (/data/in, /data/out)
#   DOCLAYOUT_POLL    seconds between scans (10)
#   DOCLAYOUT_ARGS    more detect options (e.g. "--threshold 0.4 --threads 8")
set -eu
model=${DOCLAYOUT_MODEL:-docling-project/docling-layout-heron}
device=${DOCLAYOUT_DEVICE:-auto}
in=${DOCLAYOUT_IN:-/data/in}
out=${DOCLAYOUT_OUT:-/data/out}
poll=${DOCLAYOUT_POLL:-10}
bin=${DOCLAYOUT_BIN:-doclayout}

mkdir -p "$out"
echo "doclayout-watch: $in -> $out, model $model, device $device, every ${poll}s"
trap 'exit 0' INT TERM
while :; do
    for f in "$in"/*; do
        [ -f "$f" ] || continue
        case "$f" in
        *.png | *.PNG | *.jpg | *.JPG | *.jpeg | *.JPEG | *.tif | *.TIF | *.tiff | *.TIFF) ;;
        *) continue ;;
        esac
        name=$(basename "$f")
        dest="$out/${name%.*}.json"
        [ -e "$dest" ] || [ -e "$dest.failed" ] && continue
        # shellcheck disable=SC2086
        if "$bin" detect --model "$model" --device "$device" ${DOCLAYOUT_ARGS:-} \
            -o "$dest.part" "$f"; then
            mv "$dest.part" "$dest"
            echo "doclayout-watch: $name -> $dest"
        else
            rm -f "$dest.part"
            : > "$dest.failed"
            echo "doclayout-watch: $name failed (see above); remove $dest.failed to retry" >&2
        fi
    done
    [ "$poll" = 0 ] && exit 0
    sleep "$poll" &
    wait $!
done
