#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET/ from the real profiles in the repository: the Go 1.19 and Go 1.27
# fixtures of tests/fixtures (captured from tests/goservice) and the demo's bundled captures.
set -euo pipefail
cd "$(dirname "$0")"
root=..
for t in gzip protobuf debug1 debug2 index report amplify; do mkdir -p "corpus/$t"; done
for f in "$root"/tests/fixtures/*/*.pb.gz "$root"/src/source/demo/*.pb.gz; do
    name=$(basename "$(dirname "$f")")-$(basename "$f")
    cp "$f" "corpus/gzip/$name"
    cp "$f" "corpus/report/$name"
    gzip -dc "$f" >"corpus/protobuf/${name%.gz}"
done
for f in "$root"/tests/fixtures/*/*.debug1.txt; do
    name=$(basename "$(dirname "$f")")-$(basename "$f")
    cp "$f" "corpus/debug1/$name"
    cp "$f" "corpus/report/$name"
done
for f in "$root"/tests/fixtures/*/*.debug2.txt; do
    name=$(basename "$(dirname "$f")")-$(basename "$f")
    # Whole dumps are ~100 kB; the fuzzer runs on up to 64 kB, so seed the head too.
    cp "$f" "corpus/debug2/$name"
    head -c 16384 "$f" >"corpus/debug2/head-$name"
    head -c 16384 "$f" >"corpus/report/head-$name"
done
# Hostile shapes that amplify (a gigabyte string, many functions naming one long name), and
# the real profiles they are made from.
python3 amplify_seeds.py corpus/amplify "$root/tests/fixtures/go127/goroutine-after.pb.gz"
cp "$root"/tests/fixtures/go127/*.pb.gz corpus/amplify/
# A saved folder's index, as `leakhound demo --save` writes it (or as its schema says, without a binary).
bin="$root/target/debug/leakhound"
dir=$(mktemp -d)
if [ -x "$bin" ] && "$bin" demo --interval 10ms --save "$dir/saved" --quiet >/dev/null 2>&1; then
    find "$dir/saved" -name index.json -exec cp {} corpus/index/demo-index.json \;
fi
rm -rf "$dir"
cat >corpus/index/schema-index.json <<'JSON'
{"tool":"leakhound 0.1.0","target":"http://127.0.0.1:6060","entries":[
{"round":0,"kind":"goroutine","url":"http://127.0.0.1:6060/debug/pprof/goroutine","file":"000-goroutine.pb.gz","fetched_at_unix_nanos":1764300000000000000,"fetched_at":"2025-11-28T03:20:00Z"},
{"round":1,"kind":"goroutine","url":"http://127.0.0.1:6060/debug/pprof/goroutine","fetched_at_unix_nanos":1764300010000000000,"fetched_at":"2025-11-28T03:20:10Z","error":"connection refused"}]}
JSON
echo "fuzz: seeds: $(for t in gzip protobuf debug1 debug2 index report amplify; do printf '%s=%s ' "$t" "$(find "corpus/$t" -type f | wc -l)"; done)"
