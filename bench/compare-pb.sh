#!/usr/bin/env bash
# The protobuf targets of issue 13, measured side by side on bench/data (bench/build-data.sh):
#   - `leakhound analyze series/` (12 snapshots of 210k-221k goroutines) within 2.5x of
#     `gzip -dc` of the same 12 files (inflating them is the floor: every byte must be inflated);
#   - `leakhound diff snap-0.pb.gz snap-1.pb.gz` >= 6x faster than `go tool pprof -top -diff_base`.
# Prints a Markdown table in bench/compare.sh's form (median wall seconds of RUNS runs timed by
# hyperfine after one warm-up, peak RSS from the warm-up, ratio to leakhound's median on the same
# task: bench/lib.sh's measure), then the two targets. The `true` row is what starting a process
# costs here, part of every median.
# bench/compare.sh runs it and shows its table under "Protobuf"; with TARGETS_TSV set, one line
# per target is appended there: target<TAB>figures<TAB>ratio<TAB>holds (yes or no).
#
#   bench/compare-pb.sh                      # target/release/leakhound (built if missing)
#   RUNS=30 LEAKHOUND=/path/to/leakhound bench/compare-pb.sh
#   TIMEOUT=60 bench/compare-pb.sh           # each command is stopped after TIMEOUT s (default 300)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=bench/data
RUNS=${RUNS:-15}
TIMEOUT=${TIMEOUT:-300}
TARGETS_TSV=${TARGETS_TSV:-}

die() { echo "compare-pb.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_timing_tools
for f in snap-0.pb.gz snap-1.pb.gz series/11.pb.gz; do
    [ -s "$DATA/$f" ] || die "$DATA/$f is missing: run bench/build-data.sh first"
done
LH=${LEAKHOUND:-$ROOT/target/release/leakhound}
if [ ! -x "$LH" ]; then
    echo "== cargo build --release" >&2
    cargo build --release >&2 || die "cargo build --release failed"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export HOME=$TMP/home PPROF_TMPDIR=$TMP/home PPROF_NO_BROWSER=1
mkdir -p "$HOME"
# go tool pprof: the cached tool binary run directly, so the go command's start-up is not counted.
PPROF= GOVER=
provision_go >&2
if [ -x "$GO" ]; then
    PPROF=$("$GO" tool -n pprof 2>"$TMP/err") || echo "go tool -n pprof failed: $(cat "$TMP/err")" >&2
    GOVER=$("$GO" env GOVERSION)
else
    echo "$GO is missing and could not be installed: the pprof row is n/a" >&2
fi

# Rows, one per command (bench/lib.sh's measure): task, tool, input, median s, MB/s, peak RSS MiB,
# status ("ok" or the error)
ROWS=()
median() { row_field "$1" "$2" 4; }

SNAP0=$DATA/snap-0.pb.gz SNAP1=$DATA/snap-1.pb.gz SERIES=$DATA/series
SERIES_FILES=("$SERIES"/*.pb.gz)
N=${#SERIES_FILES[@]}

measure series leakhound "series/ ($N .pb.gz)" - "" "$LH" analyze "$SERIES/" --format json
measure series "gzip -dc (inflate only)" "series/ ($N .pb.gz)" - "" gzip -dc "${SERIES_FILES[@]}"
measure diff leakhound "snap-0 → snap-1 .pb.gz" - "" "$LH" diff "$SNAP0" "$SNAP1" --format json
# What starting a process costs (hyperfine measures from fork to exit): part of every median.
measure diff "true (the measuring's own floor)" "-" - "" true
if [ -n "$PPROF" ]; then
    measure diff "go tool pprof" "snap-0 → snap-1 .pb.gz" - "" "$PPROF" -top -diff_base "$SNAP0" "$SNAP1"
else
    ROWS+=("diff	go tool pprof	snap-0 → snap-1 .pb.gz	n/a	n/a	n/a	go is missing and could not be installed")
fi

rows_table
echo
echo "Median of $RUNS runs timed by hyperfine (-N: no shell) after one warm-up run that gives the peak RSS, files in the page cache; load while measuring: $(uptime | sed 's/.*load average/load average/') ($(nproc) cores). ratio = median ÷ leakhound's median on the same task (below 1 for gzip -dc, the floor)."
echo "Versions: $("$LH" --version 2>/dev/null || echo 'leakhound ?')${GOVER:+; pprof of $GOVER}; gzip $(gzip --version | head -1 | awk '{ print $NF }')."
echo

# target NAME FIGURES RATIO HOLDS: printed, and appended to TARGETS_TSV
targets=()
target() {
    targets+=("| $1 | $2 | $3 | $4 |")
    [ -n "$TARGETS_TSV" ] && printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$TARGETS_TSV"
}
lh=$(median series leakhound) gz=$(median series "gzip -dc (inflate only)")
if [ -n "$lh" ] && [ -n "$gz" ]; then
    target "protobuf series: analyze within 2.5x of gzip -dc" "leakhound $lh s, gzip -dc $gz s" \
        "$(awk -v a="$lh" -v b="$gz" 'BEGIN { printf "%.2fx gzip", a / b }')" \
        "$(awk -v a="$lh" -v b="$gz" 'BEGIN { print (a <= 2.5 * b ? "yes" : "no") }')"
else
    target "protobuf series: analyze within 2.5x of gzip -dc" "not measured" n/a no
fi
lh=$(median diff leakhound) pp=$(median diff "go tool pprof")
if [ -n "$lh" ] && [ -n "$pp" ]; then
    target "diff >= 6x faster than go tool pprof -top -diff_base" "leakhound $lh s, pprof $pp s" \
        "$(awk -v a="$pp" -v b="$lh" 'BEGIN { printf "%.2fx", a / b }')" \
        "$(awk -v a="$pp" -v b="$lh" 'BEGIN { print (a >= 6 * b ? "yes" : "no") }')"
else
    target "diff >= 6x faster than go tool pprof -top -diff_base" "not measured" n/a no
fi
echo "| target | figures | ratio | holds? |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${targets[@]}"
