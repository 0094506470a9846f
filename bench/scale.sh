#!/usr/bin/env bash
# How leakhound's time and peak memory grow with the service: diff of two snapshots, analyze of the
# same two (ranked by growth), the debug=1 profile and the whole debug=2 dump, at 10k, 200k and 1M
# goroutines (bench/build-scale.sh; the 200k point is bench/data of bench/build-data.sh), with the
# growth exponent between points: the log-log slope, ln(t2/t1) / ln(n2/n1), so 1 is linear in
# goroutines. Median of RUNS runs (default 3) after a warm-up; peak RSS from /usr/bin/time -v.
#
#   bench/scale.sh                   # cargo build --release, then measures
#   NO_BUILD=1 RUNS=5 bench/scale.sh
#
# The table is also written to bench/data/scale-latest.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
LH=${LEAKHOUND:-$ROOT/target/release/leakhound}
[ -n "${LEAKHOUND:-}${NO_BUILD:-}" ] || cargo build --release >&2 || { echo "cargo build --release failed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "scale.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
for d in bench/data/scale/10k bench/data bench/data/scale/1m; do
    [ -s "$d/big.debug2.txt" ] || { echo "scale.sh: $d is incomplete: run bench/build-data.sh and bench/build-scale.sh" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run CMD...: median seconds and peak RSS MiB of RUNS runs, "s<TAB>MiB"
run() {
    local times=() peak=0 i t0 t1 rss
    for ((i = 0; i <= RUNS; i++)); do
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || { echo "failed: $* ($(head -c 200 "$TMP/err"))" >&2; printf 'n/a\tn/a'; return; }
        t1=$(date +%s%N)
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/time")
        ((rss > peak)) && peak=$rss
        ((i > 0)) && times+=("$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.4f", n / 1e9 }')")
    done
    printf '%s\t%s' "$(printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
}

declare -A N T M B
POINTS=(10k 200k 1m)
for p in "${POINTS[@]}"; do
    case $p in 200k) d=bench/data ;; *) d=bench/data/scale/$p ;; esac
    echo "== $p ($d)" >&2
    # Goroutines: snap-1's total as leakhound reads it, and the dump's blocks.
    N[$p,proto]=$("$LH" diff "$d/snap-0.pb.gz" "$d/snap-1.pb.gz" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["new_total"])')
    N[$p,debug2]=$(grep -c '^goroutine ' "$d/big.debug2.txt")
    B[$p]=$(stat -c %s "$d/big.debug2.txt") 2>/dev/null
    IFS=$'\t' read -r T[$p,diff] M[$p,diff] <<<"$(run "$LH" diff "$d/snap-0.pb.gz" "$d/snap-1.pb.gz" --format json)"
    IFS=$'\t' read -r T[$p,analyze] M[$p,analyze] <<<"$(run "$LH" analyze "$d/snap-0.pb.gz" "$d/snap-1.pb.gz" --format json)"
    IFS=$'\t' read -r T[$p,debug1] M[$p,debug1] <<<"$(run "$LH" analyze "$d/snap-1.debug1.txt" --format json)"
    # The 1M dump is 2.2 GB: past the 1 GiB default cap.
    IFS=$'\t' read -r T[$p,debug2] M[$p,debug2] <<<"$(run "$LH" analyze "$d/big.debug2.txt" --format json --max-profile-bytes 8000000000)"
    echo "   ${T[$p,diff]} ${T[$p,analyze]} ${T[$p,debug1]} ${T[$p,debug2]} s" >&2
done

slope() { awk -v t1="$1" -v t2="$2" -v n1="$3" -v n2="$4" 'BEGIN { if (t1 + 0 <= 0 || t2 + 0 <= 0) print "n/a"; else printf "%.2f", log(t2 / t1) / log(n2 / n1) }'; }
{
    echo "| task | goroutines 10k / 200k / 1M | median s | peak RSS MiB | time exponent 10k→200k, 200k→1M | memory exponent 10k→200k, 200k→1M |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for task in diff analyze debug1 debug2; do
        case $task in
        diff) name="diff snap-0 → snap-1 (.pb.gz)" kind=proto ;;
        analyze) name="analyze snap-0 snap-1 (.pb.gz)" kind=proto ;;
        debug1) name="analyze snap-1.debug1.txt" kind=proto ;;
        debug2) name="analyze big.debug2.txt (whole dump)" kind=debug2 ;;
        esac
        n="${N[10k,$kind]} / ${N[200k,$kind]} / ${N[1m,$kind]}"
        t="${T[10k,$task]} / ${T[200k,$task]} / ${T[1m,$task]}"
        m="${M[10k,$task]} / ${M[200k,$task]} / ${M[1m,$task]}"
        te="$(slope "${T[10k,$task]}" "${T[200k,$task]}" "${N[10k,$kind]}" "${N[200k,$kind]}"), $(slope "${T[200k,$task]}" "${T[1m,$task]}" "${N[200k,$kind]}" "${N[1m,$kind]}")"
        me="$(slope "${M[10k,$task]}" "${M[200k,$task]}" "${N[10k,$kind]}" "${N[200k,$kind]}"), $(slope "${M[200k,$task]}" "${M[1m,$task]}" "${N[200k,$kind]}" "${N[1m,$kind]}")"
        echo "| $name | $n | $t | $m | $te | $me |"
    done
    echo
    echo "debug=2 dumps: $(for p in "${POINTS[@]}"; do awk -v b="${B[$p]}" -v p="$p" 'BEGIN { printf "%s %.0f MB; ", p, b / 1e6 }'; done)throughput $(for p in "${POINTS[@]}"; do awk -v b="${B[$p]}" -v t="${T[$p,debug2]}" -v p="$p" 'BEGIN { if (t + 0 > 0) printf "%s %.2f GB/s; ", p, b / 1e9 / t }'; done)"
    echo "Stacks: 500 / 5,000 / 50,000. Median of $RUNS runs; $(nproc) cores; load $(uptime | sed 's/.*load average: //') at the end."
} >"$TMP/table.md"
cat "$TMP/table.md"
cp "$TMP/table.md" bench/data/scale-latest.md
