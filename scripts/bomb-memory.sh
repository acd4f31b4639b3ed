#!/usr/bin/env bash
# Peak memory of a search over a library with decompression bombs, against
# the same library without them (issue 16: at most 100 MB above the clean
# run). Builds a copy of sample/library, adds the bombs written by
# crates/cds-fuzz's make_bombs (small valid PNG and TIFF files claiming
# 10000x10000 over compressible data, two copies of each of four kinds),
# runs `cdsearch search` on both under /usr/bin/time -v and prints the two
# peak RSS figures and their difference.
#
# Usage: scripts/bomb-memory.sh          (PROFILE=release for a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-dev}"
dir_of_profile=$([ "$profile" = dev ] && echo debug || echo "$profile")
cargo build -q --profile "$profile" -p cdsearch-cli --bin cdsearch
cargo build -q --profile "$profile" -p cds-fuzz --bin make_bombs
bin="target/$dir_of_profile"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r sample/library "$work/clean"
cp -r sample/library "$work/bombs"
"$bin/make_bombs" "$work/made"
for f in "$work"/made/*; do
    cp "$f" "$work/bombs/a-$(basename "$f")"
    cp "$f" "$work/bombs/z-$(basename "$f")"
done
mask=$(ls sample/masks/* | head -n 1)
peak() {
    /usr/bin/time -v "$bin/cdsearch" search --mask "$mask" --library "$1" --runtime "$2" \
        --format json >"$work/out.json" 2>"$work/time.txt" || {
        cat "$work/time.txt" >&2
        exit 1
    }
    awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt"
}
for runtime in direct local; do
    clean=$(peak "$work/clean" "$runtime")
    bombs=$(peak "$work/bombs" "$runtime")
    unreadable=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r["unreadable"]), "unreadable of", r["targets"], "targets")' "$work/out.json")
    echo "runtime $runtime: clean library peak RSS ${clean} KB; with 8 bombs ${bombs} KB (${unreadable}); difference $(( (bombs - clean) / 1024 )) MB"
done
grep -h '"reason"' "$work/out.json" | sort -u | sed 's/^ */  /'
