//! Issue 4, proven against the real Go test service (tests/goservice) over HTTP and against
//! `go tool pprof` on the very profiles leakhound saved:
//!
//! 1. heap held by leaked goroutines (`-scenario heap`) is attributed to the suspect as pprof
//!    attributes it (`-top -cum -sample_index=inuse_space`), within 10 %;
//! 2. a cache that only grows is reported as heap growth, not as a goroutine suspect;
//! 3. the runtime's goroutineleak proof (`gc_proven_leaked`) live and from `(leaked)` marks in a
//!    debug=2 dump, and a proven leak is a `leak` even without growth;
//! 4. the common creation site of several suspects is named as their root cause;
//! 5. `--format dot` renders with Graphviz (installed here with apt-get when missing);
//! 6. heap `diff` for every sample type, totals as pprof reads them, bytes in KiB/MiB.

mod common;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_ok, Service};
use serde_json::Value;

const MIB: f64 = 1024.0 * 1024.0;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn suspects(doc: &Value) -> &Vec<Value> {
    doc["suspects"].as_array().expect("suspects")
}

/// The suspects of a report by leaf function; each leaf must be listed once.
fn by_leaf(doc: &Value) -> BTreeMap<String, &Value> {
    let mut m = BTreeMap::new();
    for s in suspects(doc) {
        let leaf = s["leaf"].as_str().unwrap().to_string();
        assert!(m.insert(leaf.clone(), s).is_none(), "{leaf} listed twice: {doc:#}");
    }
    m
}

fn stack_functions(s: &Value) -> Vec<&str> {
    s["stack"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap()).collect()
}

fn counts(s: &Value) -> Vec<i64> {
    s["counts"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect()
}

/// The files `watch --save` wrote for one kind of profile, in the order fetched (from index.json).
fn saved_files(save: &Path, kind: &str) -> Vec<PathBuf> {
    let index = read_json(&save.join("index.json"));
    index["entries"].as_array().expect("index entries").iter().filter(|e| e["kind"] == kind).filter_map(|e| e["file"].as_str()).map(|f| save.join(f)).collect()
}

/// A pprof figure: `536870972B`, `4554byte`, `220189` or `0`.
fn pprof_value(s: &str) -> i64 {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    digits.parse::<i64>().or_else(|_| digits.parse::<f64>().map(|f| f.round() as i64)).unwrap_or_else(|_| panic!("not a pprof value: {s:?}"))
}

/// `go tool pprof -top -cum -sample_index=INDEX [-unit=byte]` of one profile, every node shown
/// (`-nodefraction=0 -nodecount=...` only stop pprof from hiding small nodes; they change no figure).
fn pprof_top(profile: &Path, sample_index: &str) -> String {
    let index = format!("-sample_index={sample_index}");
    let mut args = vec!["-top", "-cum", index.as_str(), "-nodefraction=0", "-nodecount=1000000"];
    if sample_index.ends_with("_space") {
        args.push("-unit=byte");
    }
    let path = profile.to_str().unwrap();
    args.push(path);
    common::go_tool_pprof(&args)
}

/// The cum column pprof gives `function` (0 when no sample runs through it).
fn pprof_cum(top: &str, function: &str) -> i64 {
    let inline = format!("{function} (inline)");
    for line in top.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() >= 6 && t[4].ends_with('%') {
            let name = t[5..].join(" ");
            if name == function || name == inline {
                return pprof_value(t[3]);
            }
        }
    }
    0
}

/// The `of N total` of a `pprof -top` header.
fn pprof_total(top: &str) -> i64 {
    let line = top.lines().find(|l| l.starts_with("Showing nodes accounting for")).unwrap_or_else(|| panic!("no total in pprof output:\n{top}"));
    let before = line.trim().strip_suffix("total").unwrap_or_else(|| panic!("{line}")).trim();
    pprof_value(before.rsplit(' ').next().unwrap())
}

fn assert_within_10pct(what: &str, leakhound: i64, pprof: i64) {
    assert!(pprof != 0, "{what}: pprof attributes nothing");
    let off = (leakhound - pprof).abs() as f64 / pprof.abs() as f64;
    assert!(off <= 0.10, "{what}: leakhound {leakhound} vs pprof {pprof} ({:.1} % off)", off * 100.0);
    eprintln!("{what}: leakhound {leakhound} B ({:.2} MiB), pprof {pprof} B ({:.2} MiB)", leakhound as f64 / MIB, pprof as f64 / MIB);
}

// Graphviz: common::render_svg (provisions `dot` when missing).

/// `analyze --format dot` of a saved folder, checked to render; returns (DOT, SVG).
fn dot_of_folder(save: &Path) -> (String, String) {
    let out = run_ok(leakhound().args(["analyze", "--format", "dot"]).arg(save));
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    let svg = common::render_svg(&dot);
    (dot, svg)
}

// ---------------------------------------------------------------------------
// 1 + 2: heap attribution and heap growth

#[test]
fn heap_held_by_leaked_goroutines_matches_pprof_and_a_growing_cache_is_heap_growth() {
    let svc = Service::start(&["-scenario", "heap", "-rate", "5", "-load", "10", "-burst-every", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let report = dir.path().join("report.json");
    run_ok(
        leakhound()
            .args(["watch", &svc.url(), "--heap", "--interval", "1s", "--count", "8", "--format", "json", "--quiet", "--timeout", "60s", "--save"])
            .arg(&save)
            .arg("--output")
            .arg(&report),
    );
    let doc = read_json(&report);
    schema::validate(&doc);
    let heaps = saved_files(&save, "heap");
    assert_eq!(heaps.len(), 8, "one heap profile per round: {heaps:?}");
    let (first, last) = (&heaps[0], &heaps[heaps.len() - 1]);
    let top_first = pprof_top(first, "inuse_space");
    let top_last = pprof_top(last, "inuse_space");

    // 1. The leaked goroutines' heap, as pprof attributes it to their function.
    let list = by_leaf(&doc);
    let s = list.get("main.retainingLeak").unwrap_or_else(|| panic!("main.retainingLeak not listed: {doc:#}"));
    assert_eq!(s["verdict"], "leak", "{s:#}");
    let held = s["heap_inuse_bytes"].as_i64().unwrap_or_else(|| panic!("no heap_inuse_bytes: {s:#}"));
    // The service allocates the buffers in a callee: pprof's cum of the goroutine function counts them, its flat does not.
    let flat_top = common::go_tool_pprof(&["-top", "-sample_index=inuse_space", "-unit=byte", "-nodefraction=0", last.to_str().unwrap()]);
    let flat = flat_top.lines().find(|l| l.trim_end().ends_with(" main.retainingLeak")).map_or(0, |l| pprof_value(l.split_whitespace().next().unwrap()));
    assert!(flat < pprof_cum(&top_last, "main.retainingLeak") / 10, "allocated by a callee, not flat in main.retainingLeak:\n{flat_top}");
    assert_within_10pct("main.retainingLeak inuse_space, last heap profile", held, pprof_cum(&top_last, "main.retainingLeak"));
    let growth = s["heap_growth_bytes"].as_i64().unwrap_or_else(|| panic!("no heap_growth_bytes: {s:#}"));
    let pprof_growth = pprof_cum(&top_last, "main.retainingLeak") - pprof_cum(&top_first, "main.retainingLeak");
    assert!(pprof_growth > 0, "the leak grew during the watch");
    assert_within_10pct("main.retainingLeak inuse_space growth, first → last", growth, pprof_growth);
    // And it is what the service holds: 1 MiB per leaked goroutine.
    let goroutines = *counts(s).last().unwrap() as f64;
    let per = held as f64 / MIB / goroutines;
    assert!((0.5..=1.5).contains(&per), "{held} B held by {goroutines} goroutines of 1 MiB each ({per:.2} MiB each)");

    // 2. The cache is heap growth, not a goroutine suspect.
    let growth_list = doc["heap_growth"].as_array().unwrap_or_else(|| panic!("no heap_growth section: {doc:#}"));
    let cache = growth_list.iter().find(|h| h["site"] == "main.(*cache).grow").unwrap_or_else(|| panic!("main.(*cache).grow not in heap_growth: {doc:#}"));
    let last_bytes = cache["last_bytes"].as_i64().unwrap();
    let first_bytes = cache["first_bytes"].as_i64().unwrap();
    assert_within_10pct("main.(*cache).grow inuse_space, last heap profile", last_bytes, pprof_cum(&top_last, "main.(*cache).grow"));
    let pprof_cache_growth = pprof_cum(&top_last, "main.(*cache).grow") - pprof_cum(&top_first, "main.(*cache).grow");
    assert_within_10pct("main.(*cache).grow growth, first → last", last_bytes - first_bytes, pprof_cache_growth);
    assert_eq!(cache["growth_bytes"].as_i64().unwrap(), last_bytes - first_bytes);
    assert_eq!(cache["bytes"].as_array().unwrap().len(), heaps.len());
    assert!(svc.leaks()["main.(*cache).grow"] > 0);
    for s in suspects(&doc) {
        let funcs = stack_functions(s);
        assert!(!funcs.iter().any(|f| *f == "main.(*cache).grow" || *f == "main.growingCache"), "the cache is listed as a goroutine suspect: {s:#}");
    }
    // analyze of the saved folder pairs each heap profile with its round: the same figures.
    let out = run_ok(leakhound().args(["analyze", "--format", "json"]).arg(&save));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_leaf(&again)["main.retainingLeak"]["heap_inuse_bytes"], s["heap_inuse_bytes"]);
    assert_eq!(by_leaf(&again)["main.retainingLeak"]["heap_growth_bytes"], s["heap_growth_bytes"]);
    assert_eq!(again["heap_growth"], doc["heap_growth"]);
    let out = run_ok(leakhound().args(["analyze", "--format", "text"]).arg(&save));
    let text = String::from_utf8(out.stdout).unwrap();
    let holds = format!("holds {} of live heap ({})", human(held, true), human_delta(growth, true));
    assert!(text.contains(&holds), "text report lacks {holds:?}:\n{text}");

    // The leak's heap (allocated in main.newRetainedBuffer on its goroutines) is the suspect's, not heap growth of its own.
    assert!(!growth_list.iter().any(|h| h["site"] == "main.retainingLeak" || h["site"] == "main.newRetainedBuffer"), "{doc:#}");
}

// ---------------------------------------------------------------------------
// 3: goroutineleak proof

/// Leak functions of scenario leaky.
fn leak_functions() -> [&'static str; 8] {
    common::LEAKY_SCENARIO.map(|(function, _)| function)
}

/// Waits on a global mutex: reachable, so the runtime cannot prove it leaked.
const UNPROVABLE: &str = "main.lockNeverReleased";

#[test]
fn live_watch_marks_runtime_proven_leaks() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "10", "-burst-every", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = run_ok(
        leakhound().args(["watch", &svc.url(), "--interval", "1s", "--count", "6", "--format", "json", "--quiet", "--timeout", "60s", "--save"]).arg(&save),
    );
    let leaked = svc.leaks();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(saved_files(&save, "goroutineleak").len(), 6, "the service serves /debug/pprof/goroutineleak (Go >= 1.26)");
    assert!(!doc["errors"].to_string().contains("goroutineleak"), "{}", doc["errors"]);
    let list = by_leaf(&doc);
    for f in leak_functions() {
        let s = list.get(f).unwrap_or_else(|| panic!("{f} not listed: {doc:#}"));
        assert_eq!(s["verdict"], "leak", "{s:#}");
        let c = counts(s);
        if f == UNPROVABLE {
            assert!(s.get("gc_proven_leaked").is_none_or(Value::is_null), "{f} cannot be proven: {s:#}");
            // Found by growth alone.
            assert!(c.last().unwrap() - c[0] >= doc["thresholds"]["min_increase"].as_i64().unwrap(), "{c:?}");
        } else {
            let proven = s["gc_proven_leaked"].as_i64().unwrap_or_else(|| panic!("{f} not proven: {s:#}"));
            assert!(proven >= 1 && proven <= leaked[f] as i64, "{f}: proven {proven}, leaked {}", leaked[f]);
        }
    }
    // No benign stack is proven.
    for s in suspects(&doc) {
        let leaf = s["leaf"].as_str().unwrap();
        assert!(leak_functions().contains(&leaf), "not a leak of the service: {s:#}");
    }

    // 5. The call graph of the leaky service (runtime frames, sync.(*Mutex).Lock, ...) renders.
    let (dot, svg) = dot_of_folder(&save);
    for f in leak_functions() {
        assert!(dot.contains(&format!("\"{f}\\n")), "{f} not a node: {dot}");
        assert!(svg.contains(f), "{f} not drawn");
    }
}

#[test]
fn a_proven_leak_is_a_leak_without_growth() {
    // Every pattern stops at 4 goroutines: the watch sees flat counts, so only the proof lists them.
    let svc = Service::start(&["-scenario", "leaky", "-rate", "10", "-max-leak", "4", "-load", "5", "-burst-every", "0"]);
    let capped = common::wait_until(Duration::from_secs(60), || {
        let l = svc.leaks();
        leak_functions().iter().all(|f| l.get(*f).copied().unwrap_or(0) >= 4)
    });
    assert!(capped, "patterns did not reach -max-leak: {:?}", svc.leaks());
    let leaked = svc.leaks();
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        leakhound()
            .args(["watch", &svc.url(), "--interval", "500ms", "--count", "4", "--format", "json", "--quiet", "--timeout", "60s", "--save"])
            .arg(dir.path()),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    let min_increase = doc["thresholds"]["min_increase"].as_i64().unwrap();
    let list = by_leaf(&doc);
    assert!(!list.contains_key(UNPROVABLE), "{UNPROVABLE} neither grows nor is proven, so it is not listed: {doc:#}");
    for f in leak_functions().iter().filter(|f| **f != UNPROVABLE) {
        let s = list.get(*f).unwrap_or_else(|| panic!("proven leak {f} not listed: {doc:#}"));
        assert_eq!(s["verdict"], "leak", "{s:#}");
        let c = counts(s);
        assert!(c.last().unwrap() - c[0] < min_increase, "{f} should not grow here: {c:?}");
        assert_eq!(s["gc_proven_leaked"].as_i64(), c.last().copied(), "{f}: every goroutine of it is proven: {s:#}");
        assert_eq!(*c.last().unwrap(), leaked[*f] as i64, "{f}");
    }
    assert_eq!(doc["verdict"], "leak");
}

/// `(leaked)` marks of a debug=2 dump: leaked goroutines per leaf (first `main.` frame).
fn leaked_marks(dump: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for block in dump.split("\n\n") {
        let mut lines = block.lines();
        let Some(header) = lines.next() else { continue };
        if !(header.starts_with("goroutine ") && header.contains("(leaked)")) {
            continue;
        }
        let leaf = lines.find(|l| l.starts_with("main.")).unwrap_or_else(|| panic!("no main. frame in\n{block}"));
        let name = &leaf[..leaf.rfind('(').unwrap()];
        *out.entry(name.to_string()).or_insert(0) += 1;
    }
    out
}

#[test]
fn analyze_reads_leaked_marks_of_one_debug2_dump() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go127");
    let marked = dir.join("goroutine-after-leakmarked.debug2.txt");
    let expected = leaked_marks(&std::fs::read_to_string(&marked).unwrap());
    assert!(expected.len() >= 2, "{expected:?}");
    let out = run_ok(leakhound().args(["analyze", "--format", "json"]).arg(&marked));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 1);
    let mut proven: BTreeMap<String, i64> = BTreeMap::new();
    for s in suspects(&doc) {
        assert_eq!(s["verdict"], "leak", "{s:#}");
        *proven.entry(s["leaf"].as_str().unwrap().to_string()).or_insert(0) += s["gc_proven_leaked"].as_i64().unwrap_or_else(|| panic!("{s:#}"));
    }
    assert_eq!(proven, expected, "suspects of one dump are exactly its (leaked) stacks");
    assert_eq!(doc["verdict"], "leak");
    // The same dump without the marks (taken before the goroutineleak request): one snapshot, no growth, nothing listed.
    let out = run_ok(leakhound().args(["analyze", "--format", "json"]).arg(dir.join("goroutine-after.debug2.txt")));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verdict"], "clean", "{doc:#}");
}

// ---------------------------------------------------------------------------
// 4 + 5: shared creation site, DOT

#[test]
fn shared_creation_site_is_the_root_cause_and_the_graph_renders() {
    let svc = Service::start(&["-scenario", "shared", "-rate", "5", "-load", "5", "-burst-every", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = run_ok(
        leakhound()
            .args(["watch", &svc.url(), "--debug2", "--interval", "1s", "--count", "5", "--format", "json", "--quiet", "--timeout", "60s", "--save"])
            .arg(&save),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    let leaked = svc.leaks();
    let list = by_leaf(&doc);
    let mut ranks = Vec::new();
    for f in ["main.notifyShipping", "main.auditOrder"] {
        assert!(leaked[f] > 0);
        let s = list.get(f).unwrap_or_else(|| panic!("{f} not listed: {doc:#}"));
        assert_eq!(s["verdict"], "leak", "{s:#}");
        assert_eq!(s["created_by"]["function"], "main.handleOrder", "{s:#}");
        ranks.push(s["rank"].as_u64().unwrap());
    }
    ranks.sort();
    // Every creation site shared by several suspects is a root cause "started from" it, with exactly those suspects.
    let roots = doc["root_causes"].as_array().unwrap_or_else(|| panic!("no root_causes: {doc:#}"));
    let mut by_creator: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for s in suspects(&doc) {
        if let Some(c) = s["created_by"]["function"].as_str() {
            by_creator.entry(c).or_default().push(s["rank"].as_u64().unwrap());
        }
    }
    assert_eq!(by_creator.get("main.handleOrder"), Some(&ranks));
    for (creator, mut r) in by_creator.into_iter().filter(|(_, r)| r.len() >= 2) {
        r.sort();
        let root = roots.iter().find(|x| x["function"] == creator).unwrap_or_else(|| panic!("{creator} not a root cause: {doc:#}"));
        assert_eq!(root["relation"], "started from", "{root:#}");
        let got: Vec<u64> = root["suspects"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(got, r, "{root:#}");
        assert!(root["summary"].as_str().unwrap().contains(creator));
    }
    assert_eq!(roots[0]["function"], "main.handleOrder", "{doc:#}");

    // 5. DOT of the same folder: the root cause is outlined and the graph renders.
    let (dot, svg) = dot_of_folder(&save);
    let node = dot.lines().find(|l| l.contains("label=\"main.handleOrder\\n")).unwrap_or_else(|| panic!("no main.handleOrder node: {dot}"));
    assert!(node.contains("penwidth=3"), "the root cause is outlined: {node}");
    for f in ["main.handleOrder", "main.notifyShipping", "main.auditOrder"] {
        assert!(svg.contains(f), "{f} not drawn:\n{svg}");
    }
    // analyze of the folder agrees with the live report.
    let out = run_ok(leakhound().args(["analyze", "--format", "json"]).arg(&save));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["root_causes"], doc["root_causes"]);
}

// ---------------------------------------------------------------------------
// 6: heap diff

/// Bytes as a person reads them (B, KiB, MiB, GiB; one decimal), independently of leakhound's code.
fn human(n: i64, bytes: bool) -> String {
    if !bytes {
        return n.to_string();
    }
    let sign = if n < 0 { "-" } else { "" };
    let mut x = n.unsigned_abs() as f64;
    if x < 1024.0 {
        return format!("{sign}{} B", n.unsigned_abs());
    }
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB", "TiB"] {
        if x < 1024.0 {
            break;
        }
        x /= 1024.0;
        unit = u;
    }
    format!("{sign}{x:.1} {unit}")
}

fn human_delta(n: i64, bytes: bool) -> String {
    if n > 0 {
        format!("+{}", human(n, bytes))
    } else {
        human(n, bytes)
    }
}

#[test]
fn heap_diff_for_every_sample_type() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for go in ["go119", "go127"] {
        let base = root.join(go).join("heap-before.pb.gz");
        let new = root.join(go).join("heap-after.pb.gz");
        let mut units_seen = std::collections::BTreeSet::new();
        for t in ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"] {
            let bytes = t.ends_with("_space");
            let out = run_ok(leakhound().args(["diff", "--format", "json", "--sample-type", t]).arg(&base).arg(&new));
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            schema::validate(&doc);
            assert_eq!(doc["sample_type"], t);
            assert_eq!(doc["unit"] == "bytes", bytes, "{go} {t}: unit {}", doc["unit"]);
            let (bt, nt) = (doc["base_total"].as_i64().unwrap(), doc["new_total"].as_i64().unwrap());
            assert_eq!(bt, pprof_total(&pprof_top(&base, t)), "{go} {t}: base total as pprof reads it");
            assert_eq!(nt, pprof_total(&pprof_top(&new, t)), "{go} {t}: new total as pprof reads it");
            let changes = doc["changes"].as_array().unwrap();
            assert!(!changes.is_empty(), "{go} {t}");
            let sum: i64 = changes.iter().map(|c| c["delta"].as_i64().unwrap()).sum();
            assert_eq!(sum, nt - bt, "{go} {t}: the changes add up to the change of the total");
            for c in changes {
                assert_eq!(c["delta"].as_i64().unwrap(), c["new"].as_i64().unwrap() - c["base"].as_i64().unwrap());
            }
            // The leak's heap in the diff: main.retainingLeak grew between the two profiles.
            let leak = changes.iter().find(|c| stack_functions(c).contains(&"main.retainingLeak")).unwrap_or_else(|| panic!("{go} {t}: {doc:#}"));
            assert!(leak["delta"].as_i64().unwrap() > 0);

            let out = run_ok(leakhound().args(["diff", "--sample-type", t]).arg(&base).arg(&new));
            let text = String::from_utf8(out.stdout).unwrap();
            let header = text.lines().next().unwrap();
            let want = format!("{t} {} → {} ({})", human(bt, bytes), human(nt, bytes), human_delta(nt - bt, bytes));
            assert!(header.contains(&want), "{go} {t}: header {header:?}, want {want:?}");
            for c in changes {
                let leaf = c["leaf"].as_str().unwrap();
                // The detail line of each change: `#N DELTA  BASE → NEW  BLOCKING  LEAF`.
                let row = format!(
                    "{}  {} → {}",
                    human_delta(c["delta"].as_i64().unwrap(), bytes),
                    human(c["base"].as_i64().unwrap(), bytes),
                    human(c["new"].as_i64().unwrap(), bytes)
                );
                assert!(text.lines().any(|l| l.starts_with('#') && l.contains(&row) && l.ends_with(leaf)), "{go} {t}: no line {row:?} for {leaf}:\n{text}");
                units_seen.extend(["KiB", "MiB"].into_iter().filter(|u| row.contains(u)));
            }
            if !bytes {
                assert!(!text.contains("KiB") && !text.contains("MiB"), "{go} {t}: counts are not bytes:\n{text}");
            }
        }
        assert_eq!(units_seen.into_iter().collect::<Vec<_>>(), ["KiB", "MiB"], "{go}: both units are used");
    }
}
