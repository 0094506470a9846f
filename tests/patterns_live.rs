//! The leaks people hit in production, most of them wholly inside the standard library or a client
//! library, caught live from the Go test service (`tests/goservice`, scenario `patterns`): each is
//! named with its own pattern and fix, labelled with a frame a Go developer recognises, traced to
//! the service's code that started it where the inputs allow, and the heap is attributed to at most
//! one suspect per byte. One service process runs every pattern at once; one watch samples it.

mod common;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Service;
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

/// (leaf, blocking, pattern) of every leak of the scenario. The two readLoops share a function and
/// differ in their line and what they wait on.
const EXPECTED: [(&str, &str, &str); 17] = [
    ("net/http.(*persistConn).readLoop", "select", "http-body-not-closed"),
    ("net/http.(*persistConn).readLoop", "IO wait", "http-transport-per-request"),
    ("net/http.(*persistConn).writeLoop", "select", "http-client-connections"),
    ("main.callSilentBackend", "select", "http-no-response-timeout"),
    ("net/http.(*persistConn).roundTrip", "select", "http-no-response-timeout"),
    ("net/http.(*conn).readRequest", "IO wait", "http-server-no-read-header-timeout"),
    ("net/http.(*conn).serve", "IO wait", "http-server-no-idle-timeout"),
    ("net/http.(*connReader).backgroundRead", "IO wait", "http-server-handler-not-returning"),
    ("context.(*cancelCtx).propagateCancel.func2", "select", "context-cancel-never-called"),
    ("os/signal.NotifyContext.func1", "select", "signal-notifycontext-not-stopped"),
    ("database/sql.(*DB).connectionOpener", "select", "sql-db-not-closed"),
    ("main.pipeWriter", "select", "io-pipe-abandoned"),
    ("main.condWaiter", "sync.Cond", "cond-never-signalled"),
    ("main.scheduleCallback.func1", "chan send", "afterfunc-callback-blocked"),
    ("main.pollForever", "sleep", "endless-loop"),
    ("leakhound.test/goservice/kvclient.(*Client).loop", "select", "library-client-not-closed"),
    ("main.busySpinner", "running", "busy-loop"),
];

/// (leaf, blocking, the service's function responsible, how it was found). The service runs with
/// GODEBUG=tracebackancestors=5, and watch takes one debug=2 dump in its last round.
const STARTED_FROM: [(&str, &str, &str, &str); 10] = [
    ("main.pipeWriter", "select", "main.streamReport", "created by"),
    ("main.condWaiter", "sync.Cond", "main.startCondWaiter", "created by"),
    ("database/sql.(*DB).connectionOpener", "select", "main.openDBPerRequest", "tracebackancestors"),
    ("leakhound.test/goservice/kvclient.(*Client).loop", "select", "main.lookupWithNewClient", "tracebackancestors"),
    ("os/signal.NotifyContext.func1", "select", "main.watchSignals", "tracebackancestors"),
    ("net/http.(*persistConn).readLoop", "select", "main.fetchStatusOnly", "tracebackancestors"),
    ("net/http.(*conn).readRequest", "IO wait", "main.serveOn", "tracebackancestors"),
    ("net/http.(*conn).serve", "IO wait", "main.serveOn", "tracebackancestors"),
    ("net/http.(*persistConn).roundTrip", "select", "main.serveOn", "tracebackancestors"),
    ("main.callSilentBackend", "select", "main.startPatterns.func", "created by"),
];

fn suspects(doc: &Value) -> &Vec<Value> {
    doc["suspects"].as_array().expect("suspects")
}

fn saved(save: &Path, kind: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(save.join("index.json")).unwrap();
    let index: Value = serde_json::from_str(&text).unwrap();
    index["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == kind).filter_map(|e| e["file"].as_str()).map(|f| save.join(f)).collect()
}

/// The cum column of `go tool pprof -top -cum -sample_index=inuse_space` for `function`.
fn pprof_cum_bytes(profile: &Path, function: &str) -> i64 {
    let top =
        common::go_tool_pprof(&["-top", "-cum", "-sample_index=inuse_space", "-unit=byte", "-nodefraction=0", "-nodecount=1000000", profile.to_str().unwrap()]);
    top.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|t| t.len() >= 6 && t[5..].join(" ") == function)
        .map_or(0, |t| t[3].trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse::<f64>().map_or(0, |v| v as i64))
}

#[test]
fn every_pattern_is_named_labelled_traced_and_its_heap_claimed_once() {
    let svc = Service::start_with_env(
        &["-scenario", "patterns", "-rate", "5", "-load", "5", "-burst-every", "0", "-memprofilerate", "512"],
        &[("GODEBUG", "tracebackancestors=5")],
    );
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "8", "--heap", "--format", "json", "--quiet", "--save"])
        .arg(&save)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    let leaked = svc.leaks();
    assert!(leaked.keys().filter(|k| k.starts_with("patterns/")).count() >= 14, "{leaked:?}");

    // Every pattern: listed as a leak, with its label, blocking operation, named pattern and fix.
    let list = suspects(&doc);
    let mut found: BTreeMap<(&str, &str), &Value> = BTreeMap::new();
    for s in list {
        found.insert((s["leaf"].as_str().unwrap(), s["blocking"].as_str().unwrap()), s);
    }
    for (leaf, blocking, pattern) in EXPECTED {
        let s = found.get(&(leaf, blocking)).unwrap_or_else(|| panic!("{leaf} ({blocking}) not listed; listed: {:?}", found.keys().collect::<Vec<_>>()));
        assert_eq!(s["verdict"], "leak", "{leaf}: {s:#}");
        assert_eq!(s["pattern"], pattern, "{leaf} ({blocking})");
        assert!(s["hint"].as_str().unwrap().len() > 60, "{leaf}: a specific fix");
    }
    // Labels: never plumbing, never two stacks with the same function at the same line.
    let mut labels = std::collections::BTreeSet::new();
    for s in list {
        let leaf = s["leaf"].as_str().unwrap();
        assert!(!leaf.starts_with("runtime.") && !leaf.starts_with("internal/") && leaf != "panic" && !leaf.starts_with('<'), "{leaf}");
        assert!(labels.insert((leaf.to_string(), s["leaf_frame"]["line"].as_i64())), "two suspects labelled {leaf} at one line: {doc:#}");
        // No generic pattern for a stack the catalogue does not know inside the standard library.
        assert_ne!(s["pattern"], "select-without-quit", "{s:#}");
    }

    // The code responsible: from the last round's debug=2 dump (5,000 goroutines or fewer).
    assert_eq!(saved(&save, "goroutine-debug2").len(), 1, "watch takes one debug=2 dump in its last round");
    for (leaf, blocking, function, via) in STARTED_FROM {
        let s = found[&(leaf, blocking)];
        let sf = &s["started_from"];
        assert!(sf["function"].as_str().unwrap_or("").starts_with(function), "{leaf}: {s:#}");
        assert!(sf["file"].as_str().unwrap().ends_with("patterns.go") && sf["line"].as_i64().unwrap() > 0, "{sf:#}");
        assert!(sf["via"].as_str().unwrap().contains(via), "{leaf}: {sf:#}");
    }
    for s in list {
        assert!(s["started_from"]["function"].as_str().is_some_and(|f| f.starts_with("main.")), "every suspect is traced to the service: {s:#}");
    }
    // From the protobuf snapshots alone nothing names who started it: the report says what to do,
    // and a stack with code of the service's own still names its entry function (issue 22).
    let out = leakhound().args(["analyze", "--format", "json"]).args(saved(&save, "goroutine")).output().unwrap();
    let alone: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    schema::validate(&alone);
    let is_program = |f: &str| f.starts_with("main.") || (f.contains('/') && f.split('/').next().is_some_and(|host| host.contains('.')));
    for s in suspects(&alone) {
        if s["leaf"] == "main.scheduleCallback.func1" {
            // A closure names its enclosing function in any form.
            assert_eq!(s["started_from"]["function"], "main.scheduleCallback", "{s:#}");
            continue;
        }
        let note = s["started_from_missing"].as_str().unwrap();
        assert!(note.contains("--debug2") && note.contains("GODEBUG=tracebackancestors=5"), "{note}");
        let entry = s["stack"].as_array().unwrap().iter().filter_map(|f| f["function"].as_str()).rfind(|f| is_program(f));
        match entry {
            Some(entry) => {
                assert_eq!(s["started_from"]["function"], entry, "{s:#}");
                assert!(s["started_from"]["via"].as_str().unwrap().contains("entry function"), "{s:#}");
            }
            None => assert!(s["started_from"].is_null(), "{s:#}"),
        }
    }

    // Heap: the three suspects whose goroutines run net/http.(*conn).serve share no byte, so
    // together they hold no more than pprof's cum for that function.
    let heaps = saved(&save, "heap");
    let last_heap = heaps.last().expect("heap profiles saved");
    let serve_cum = pprof_cum_bytes(last_heap, "net/http.(*conn).serve");
    let serve_suspects: Vec<&Value> =
        list.iter().filter(|s| s["stack"].as_array().unwrap().iter().rev().any(|f| f["function"] == "net/http.(*conn).serve")).collect();
    assert!(serve_suspects.len() >= 3, "{doc:#}");
    let claimed: i64 = serve_suspects.iter().map(|s| s["heap_inuse_bytes"].as_i64().unwrap_or(0)).sum();
    assert!(serve_cum > 0 && claimed <= serve_cum, "suspects of net/http.(*conn).serve claim {claimed} B, pprof's cum is {serve_cum} B");
    let total = doc["snapshots"].as_array().unwrap().last().unwrap()["heap_inuse_bytes"].as_i64().unwrap();
    let all: i64 = list.iter().map(|s| s["heap_inuse_bytes"].as_i64().unwrap_or(0)).sum();
    assert!(all <= total, "suspects claim {all} B of {total} B");
    // Their own allocations are never "heap growth with no goroutine growth".
    assert!(doc["heap_growth"].as_array().is_none_or(|g| g.is_empty()), "{:#}", doc["heap_growth"]);

    // Text and Markdown say the same, from the saved folder.
    for (format, started) in [("text", "started from:"), ("markdown", "Started from:")] {
        let out = leakhound().args(["analyze", "--format", format]).arg(&save).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        for (_, _, pattern) in EXPECTED {
            assert!(text.contains(pattern), "{format} lacks {pattern}");
        }
        assert!(text.contains(&format!("{started} main.streamReport")) || text.contains(&format!("{started} `main.streamReport`")), "{format}:\n{text}");
    }
}

/// Above 5,000 goroutines the last round's debug=2 dump would pause the service: watch skips it
/// and says so (and --debug2 is how to get creation sites anyway).
#[test]
fn no_creation_dump_on_a_big_service() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "1000", "-load", "0", "-burst-every", "0"]);
    assert!(common::wait_until(std::time::Duration::from_secs(20), || svc.leaks().values().sum::<u64>() > 6_000), "the service did not grow");
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = leakhound().args(["watch", &svc.url(), "--interval", "1s", "--count", "2", "--format", "json", "--quiet", "--save"]).arg(&save).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    schema::validate(&doc);
    assert!(saved(&save, "goroutine-debug2").is_empty(), "no debug=2 dump above 5,000 goroutines");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("no debug=2 dump taken for creation sites") && errors.contains("--debug2"), "{errors}");
}

/// Server-side leaks, each alone (`-scenario servers`, issue 22): a handler writing the answer it
/// built to a client that never reads is named by that handler, with the server's write deadline
/// as its fix and the answer's heap as `go tool pprof` counts it under the handler (none of it to
/// the slowloris connections beside it, which share only `net/http.(*conn).serve`); a reverse
/// proxy's RoundTrip and its connections' readLoop and writeLoop are one story with one fix.
#[test]
fn server_side_leaks_name_their_handler_fix_and_heap() {
    let svc = Service::start(&["-scenario", "servers", "-rate", "5", "-load", "5", "-burst-every", "0", "-memprofilerate", "512"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "8", "--heap", "--format", "json", "--quiet", "--save"])
        .arg(&save)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    let list = suspects(&doc);
    let find = |leaf: &str| list.iter().find(|s| s["leaf"] == leaf).unwrap_or_else(|| panic!("{leaf} not listed: {doc:#}"));

    let export = find("main.exportAll");
    assert_eq!(export["verdict"], "leak");
    assert_eq!(export["pattern"], "http-server-write-blocked", "{export:#}");
    assert!(export["hint"].as_str().unwrap().contains("WriteTimeout"));
    assert_eq!(export["started_from"]["function"], "main.exportAll");
    assert!(export["started_from"]["via"].as_str().unwrap().contains("handler"), "{export:#}");
    let heap = saved(&save, "heap").pop().expect("heap profiles saved");
    let pprof = pprof_cum_bytes(&heap, "main.exportAll");
    assert!(pprof >= 4 * (4 << 20), "{pprof}");
    assert_eq!(export["heap_inuse_bytes"].as_i64().unwrap(), pprof, "{export:#}");
    let slowloris = find("net/http.(*conn).readRequest");
    assert_eq!(slowloris["pattern"], "http-server-no-read-header-timeout");
    assert!(slowloris["heap_inuse_bytes"].as_i64().unwrap_or(0) < 4 << 20, "none of the answers: {slowloris:#}");

    for leaf in ["net/http.(*persistConn).roundTrip", "net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop"] {
        assert_eq!(find(leaf)["pattern"], "http-no-response-timeout", "{leaf}: one story, one fix");
    }
}
