#!/bin/sh
# The applications use the library through its public header only: every C file and header
# under DIR (src/cli, ...) includes nothing of the project but include/doclayout.h and DIR's own
# headers (plus the headers named after --allow). An include is the project's when the file it
# names exists under src/ or include/ (quoted or in angle brackets: src/ is on the include path,
# so <output/json_text.h> would compile too); everything else (libc, cJSON, MuPDF, ...) is a
# system header. Fails and lists each include past the public API.
#   public_header_check.sh SOURCE_DIR DIR [--allow HEADER]...
root=${1:?usage: public_header_check.sh SOURCE_DIR DIR [--allow HEADER]...}
dir=${2:?usage: public_header_check.sh SOURCE_DIR DIR [--allow HEADER]...}
shift 2
allowed=" doclayout.h "
while [ $# -gt 0 ]; do
    case $1 in
    --allow) allowed="$allowed$2 " && shift 2 ;;
    *) echo "unknown argument: $1" && exit 2 ;;
    esac
done
cd "$root" || exit 1
[ -d "$dir" ] || { echo "no directory $dir under $root" && exit 1; }
own=${dir#src/}/
files=$(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) | sort)
[ -n "$files" ] || { echo "no C files under $dir" && exit 1; }
bad=0
n=0
for f in $files; do
    n=$((n + 1))
    fdir=$(dirname "$f")
    # "#  include <x>" and "#include \"x\"" both: the name between the delimiters
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
        case $allowed in *" $h "*) continue ;; esac
        case $h in "$own"*) continue ;; esac
        if [ -f "src/$h" ] || [ -f "include/$h" ] || [ -f "$fdir/$h" ]; then
            # a name relative to the file itself is DIR's own only when it stays inside DIR
            if [ -f "$fdir/$h" ] && ! [ -f "src/$h" ] && ! [ -f "include/$h" ]; then
                case $(cd "$(dirname "$fdir/$h")" && pwd -P)/ in
                "$(pwd -P)/$dir"/*) continue ;;
                esac
            fi
            echo "$f: includes $h, an internal header of the library (use doclayout.h)"
            bad=$((bad + 1))
        fi
    done
done
echo "$n files under $dir checked: $bad includes past the public header"
[ "$bad" -eq 0 ]
