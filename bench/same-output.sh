#!/usr/bin/env bash
# Proves a refactor changed no output: builds leakhound at two commits (BASE and HEAD; HEAD may be
# `.`, the working tree as it is) and runs both on every saved fixture, comparing byte for byte
# what each writes (stdout, stderr and the exit code):
#   - analyze of every file under tests/fixtures/ and src/source/demo/, of every folder of them,
#     in text, json, markdown and html (and dot for the folders);
#   - diff of every two files of one folder that diff accepts (and of the pairs it refuses: the
#     message and exit code are part of the interface), in text, json and markdown;
#   - check of every folder (its verdict and exit code);
#   - demo (the whole watch pipeline over HTTP), in the four formats: its server's port and its
#     temporary folder differ from run to run, and so does how long a slow fetch took: these are
#     the only things masked (and demo runs at 2 s, so that no fetch takes longer than its
#     interval on a loaded machine, which would add a note).
#
#   bench/same-output.sh 189b18a .        # the commit a branch started from, against the tree
#   bench/same-output.sh main sampler
#
# Exit 0 when every output is the same, 1 with the differences listed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ $# = 2 ] || { echo "usage: bench/same-output.sh BASE HEAD (HEAD may be . for the working tree)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/leakhound-same-output.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

build() { # REV NAME
    local src=$TMP/src-$2
    mkdir -p "$src"
    if [ "$1" = . ]; then
        git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - | tar -xf - -C "$src"
    else
        git archive "$1" | tar -xf - -C "$src"
    fi
    echo "== building $1" >&2
    (cd "$src" && cargo build --quiet --bin leakhound) >&2
    cp "$CARGO_TARGET_DIR/debug/leakhound" "$TMP/$2"
}
build "$1" base
build "$2" head

# Every run, one per line: NAME<TAB>ARGS...
plan() {
    local formats="text json markdown html"
    local dirs files
    dirs=$(find tests/fixtures src/source/demo -type d | sort)
    for d in $dirs; do
        files=$(find "$d" -maxdepth 1 -type f \( -name '*.gz' -o -name '*.txt' -o -name '*.log' \) | sort)
        [ -n "$files" ] || continue
        for f in $files; do
            for fmt in $formats; do printf 'analyze %s\t%s\n' "$f.$fmt" "analyze --format $fmt $f"; done
        done
        for fmt in $formats dot; do printf 'analyze %s\t%s\n' "$d.$fmt" "analyze --format $fmt $d"; done
        printf 'check %s\t%s\n' "$d" "check --format json $d"
        for a in $files; do
            for b in $files; do
                [ "$a" != "$b" ] || continue
                # Every pair of a small folder; the series' folders: neighbours only.
                case "$d" in */churn | */slowtrend | src/source/demo) [ "$(basename "$b" | cut -c1-3)" = "$(printf '%03d' $((10#$(basename "$a" | cut -c1-3) + 1)))" ] || continue ;; esac
                for fmt in text json markdown; do printf 'diff %s\t%s\n' "$a $b $fmt" "diff --format $fmt $a $b"; done
            done
        done
    done
    for fmt in $formats; do printf 'demo %s\t%s\n' "$fmt" "demo --quiet --interval 2s --format $fmt"; done
}

mask() { # port of the demo server, its temporary folder, how long a fetch took
    sed -E -e 's#127\.0\.0\.1:[0-9]+#127.0.0.1:PORT#g' -e 's#leakhound-demo-[0-9]+#leakhound-demo-PID#g' -e 's#took [0-9.]+ s#took N s#g'
}

run() { # BIN ARGS -> OUT
    local bin=$1 out=$2
    shift 2
    local rc=0
    "$bin" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
    echo "$rc" >"$out.rc"
    if [[ "$*" == demo* ]]; then
        for s in stdout stderr; do mask <"$out.$s" >"$out.$s.m" && mv "$out.$s.m" "$out.$s"; done
    fi
}

n=0
same=0
differ=()
while IFS=$'\t' read -r name args; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    run "$TMP/base" "$TMP/b" $args
    # shellcheck disable=SC2086
    run "$TMP/head" "$TMP/h" $args
    if cmp -s "$TMP/b.stdout" "$TMP/h.stdout" && cmp -s "$TMP/b.stderr" "$TMP/h.stderr" && cmp -s "$TMP/b.rc" "$TMP/h.rc"; then
        same=$((same + 1))
    else
        differ+=("$name")
        echo "== differs: leakhound $args" >&2
        diff "$TMP/b.stdout" "$TMP/h.stdout" | head -20 >&2 || true
        diff "$TMP/b.stderr" "$TMP/h.stderr" | head -10 >&2 || true
        diff "$TMP/b.rc" "$TMP/h.rc" >&2 || true
    fi
done < <(plan)
echo "same-output: $same of $n runs byte-identical between $1 and $2"
[ ${#differ[@]} = 0 ]
