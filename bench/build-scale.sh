#!/usr/bin/env bash
# Builds the scale data (git-ignored, under bench/data/scale/): the service of bench/build-data.sh
# (bench/gen) at 10,000 goroutines on 500 stacks (50 stacks growing by 10, then 1 a step, in
# proportion to the 200k point's 200 and 20) and at 1,000,000 goroutines on 50,000 stacks. The
# 200k point is bench/data itself.
#
# 10k: everything as build-data.sh makes it, and the whole debug=2 dump of the live process
# (big.debug2.txt: one runtime.Stack(all) of every goroutine, as SIGQUIT prints it).
# 1m: snap-0/snap-1 .pb.gz and snap-1.debug1.txt taken live from the 1M-goroutine process (no
# series: each 1M snapshot takes the service seconds, minutes on a loaded machine). Its debug=2
# dump (~2.4 GB) is built, not captured: a live process with one goroutine on each of the same
# 50,000 stacks (same seed, so the same stacks) dumps itself whole, and its blocks are repeated,
# renumbered, up to 1,000,000 goroutines (each stack 20 times rather than the live run's weights).
#
#   bench/build-scale.sh [--force] [10k|1m ...]
#
# Needs ~12 GB of free RAM for the 1M run (goroutine stacks plus the dump's buffer) and ~3 GB of
# disk; takes a few minutes. The 64 MiB ?debug=2 snapshot gen also writes is removed (the whole
# dump stands for debug=2). Idempotent: a complete point is not rebuilt unless --force.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FORCE=0
if [ "${1:-}" = "--force" ]; then FORCE=1; shift; fi
POINTS=("$@")
[ ${#POINTS[@]} -gt 0 ] || POINTS=(10k 1m)

SCALE=$ROOT/bench/data/scale
# shellcheck source=bench/lib.sh
. bench/lib.sh
provision_go
mkdir -p "$SCALE"
echo "== building bench/gen"
(cd bench/gen && "$GO" build -o "$SCALE/gen" .)

for point in "${POINTS[@]}"; do
    case $point in
    10k) args=(-goroutines 10000 -stacks 500 -grow 10 -series-grow 1) ;;
    1m) args=(-goroutines 1000000 -stacks 50000 -series 0 -big-mb 0 -snap-debug2=false) ;;
    *)
        echo "unknown point $point (10k or 1m)" >&2
        exit 2
        ;;
    esac
    dir=$SCALE/$point
    if [ -s "$dir/manifest.txt" ] && [ -s "$dir/big.debug2.txt" ] && [ "$FORCE" = 0 ]; then
        echo "== $point is complete; not regenerating (use --force)"
        continue
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "== $point: gen ${args[*]}"
    if [ "$point" = 1m ]; then
        "$SCALE/gen" -out "$dir" "${args[@]}"
        mv "$dir/manifest.txt" "$dir/manifest-live.txt"
        "$SCALE/gen" -out "$dir" -dump-only -goroutines 50000 -stacks 50000 -big-goroutines 1000000
        mv "$dir/manifest.txt" "$dir/manifest-dump.txt"
        cat "$dir/manifest-live.txt" "$dir/manifest-dump.txt" >"$dir/manifest.txt"
    else
        # -big-mb 1: the whole real dump, written as it is (no repeated blocks).
        "$SCALE/gen" -out "$dir" "${args[@]}" -big-mb 1
    fi
    rm -f "$dir/snap-1.debug2.txt"
    (cd "$dir" && du -b snap-0.pb.gz snap-1.pb.gz snap-1.debug1.txt big.debug2.txt | awk '{ printf "%12d  %8.1f MiB  %s\n", $1, $1/1048576, $2 }')
    cat "$dir/manifest.txt"
done
