#!/usr/bin/env bash
# Fuzzes leakhound's decoders with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   fuzz/run.sh SECONDS [TARGET...]   each target SECONDS long, one after the other
#   JOBS=3 fuzz/run.sh SECONDS        up to 3 targets at once
#
# Targets: gzip, protobuf, debug1, debug2, index (a saved folder's index.json), report (any
# decodable profile through analysis and every report format), amplify (gzip or protobuf of up
# to 2 MiB decoded at the default 1 GiB cap, as a hostile target serves it). The build has
# overflow checks and debug assertions on; each target caps its live heap (fuzz/src/lib.rs:
# 96 MiB at a 4 MiB cap, 1.5 GiB for amplify), and libFuzzer's -rss_limit_mb and a per-input
# -timeout of 10 s turn memory or time out of proportion to the input into a finding: a field
# that amplifies (one string of a gigabyte, ten thousand functions naming one long string) trips
# them. Seeds come from the real profiles in tests/fixtures and src/source/demo, and from
# fuzz/amplify_seeds.py (hostile shapes); the corpus grows in fuzz/corpus/.
# A finding is saved under fuzz/artifacts/TARGET/ and ends the script with exit 1; reproduce it
# with: RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a -s none TARGET fuzz/artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gzip protobuf debug1 debug2 index report amplify)
JOBS=${JOBS:-1}
# cargo-fuzz passes nightly-only flags to rustc; stable rustc accepts them with this.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    start=$(date +%s)
    cargo install cargo-fuzz --locked --quiet
    echo "fuzz: cargo-fuzz installed in $(( $(date +%s) - start )) s"
fi

start=$(date +%s)
./seed.sh
cargo fuzz build -O -a -s none
echo "fuzz: seeded and built in $(( $(date +%s) - start )) s"

mkdir -p logs artifacts
run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    # -max_len: inputs up to 64 KiB, enough for every decoder's structure and fast to run;
    # amplify's up to 2 MiB (its seeds are a megabyte of gzip), with the memory of the real caps.
    local max_len=65536 rss=1024
    if [ "$t" = amplify ]; then max_len=2097152 rss=2048; fi
    if cargo fuzz run -O -a -s none "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=10 -rss_limit_mb="$rss" \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1; then
        echo "ok" >"logs/$t.status"
    else
        echo "FAILED" >"logs/$t.status"
    fi
}

running=0
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
printf '%-10s %14s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${TARGETS[@]}"; do
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | awk '{print $2}' | tail -1)
    speed=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "logs/$t.log" | awk '{print $2}' | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    status=$(cat "logs/$t.status")
    printf '%-10s %14s %10s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "$corpus" "$status"
    if [ "$status" != ok ]; then
        failed=1
        grep -E 'panicked|ERROR|SUMMARY|leakhound-fuzz|Test unit written' "logs/$t.log" | head -20 || true
    fi
done
exit $failed
