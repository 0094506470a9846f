//! Dumps of software nobody here wrote (Debian's Prometheus and etcd, Go 1.19): the served
//! `debug=2` dump and the SIGQUIT dump of the same idle process must group the same goroutines the
//! same way, although Go 1.19 prints the `go` statements' wrapper closures only in the SIGQUIT one
//! (tests/fixtures/realworld/README.md).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realworld").join(name)
}

fn diff(server: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .arg("diff")
        .arg(fixture(&format!("{server}-served.debug2.txt")))
        .arg(fixture(&format!("{server}-sigquit.log")))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn leaf_at(change: &Value) -> String {
    let leaf = change["leaf"].as_str().unwrap();
    let frame = change["stack"].as_array().unwrap().iter().find(|f| f["function"] == leaf).unwrap();
    format!("{leaf}:{}", frame["line"])
}

/// The goroutines parked at one place cannot all leave it while as many arrive in the same few
/// seconds of an idle server: a +N and a −N at the same leaf and line are one group split in two.
fn assert_no_split_groups(server: &str, d: &Value) {
    let changes = d["changes"].as_array().unwrap();
    let mut up = std::collections::BTreeSet::new();
    let mut down = std::collections::BTreeSet::new();
    for c in changes {
        let delta = c["delta"].as_i64().unwrap();
        if delta > 0 {
            up.insert(leaf_at(c))
        } else {
            down.insert(leaf_at(c))
        };
    }
    let split: Vec<_> = up.intersection(&down).collect();
    assert!(split.is_empty(), "{server}: the same goroutines fall in two groups, one per form: {split:?}");
}

fn changed_leaves(d: &Value) -> Vec<String> {
    d["changes"].as_array().unwrap().iter().map(|c| c["leaf"].as_str().unwrap().to_string()).collect()
}

#[test]
fn prometheus_served_and_sigquit_dumps_group_alike() {
    let d = diff("prometheus");
    assert_eq!(d["base_total"], 23, "25 goroutines served, 2 of them the profile request");
    assert_eq!(d["new_total"], 26, "34 in the SIGQUIT dump, 7 of them the runtime's own; 3 more than served");
    assert_no_split_groups("prometheus", &d);
    let leaves = changed_leaves(&d);
    // oklog/run starts every actor with `go func(a actor) {…}(a)`: Go 1.19's wrapper Run.func2 is
    // only in the SIGQUIT dump. Before it was dropped, all 11 actors showed as 1 → 0 and 0 → 1.
    for actor in ["main.main.func7", "main.main.func11", "github.com/oklog/run.(*Group).Run.func1", "github.com/oklog/run.(*Group).Run.func2"] {
        assert!(!leaves.iter().any(|l| l == actor), "{actor} changed: {leaves:?}");
    }
    assert!(leaves.len() <= 6, "only the scrape and connection goroutines of those seconds change: {leaves:?}");
}

#[test]
fn etcd_served_and_sigquit_dumps_group_alike() {
    let d = diff("etcd");
    // 41 served: the writer and its reader not started yet (`startBackgroundRead.func2`, Go 1.19's
    // name for it) are the request's (before, only the writer was set aside: 40 → 39).
    assert_eq!(d["base_total"], 39);
    assert_eq!(d["new_total"], 39);
    assert_no_split_groups("etcd", &d);
    let leaves = changed_leaves(&d);
    // `go s.run()` and `go fifo.run()` are wrapped (start.func1, NewFIFOScheduler.func1); goAttach's
    // `go func() { defer wg.Done(); f() }()` is a real closure, printed in both dumps.
    for kept in [
        "go.etcd.io/etcd/etcdserver.(*EtcdServer).run",
        "go.etcd.io/etcd/pkg/schedule.(*fifo).run",
        "go.etcd.io/etcd/etcdserver.(*EtcdServer).purgeFile",
        "go.etcd.io/etcd/pkg/logutil.(*MergeLogger).outputLoop",
    ] {
        assert!(!leaves.iter().any(|l| l == kept), "{kept} changed: {leaves:?}");
    }
    assert!(leaves.len() <= 6, "{leaves:?}");
}

/// Prometheus with 15 `/federate` clients that never read and 15 slowloris clients (see the
/// fixtures' README), one moment served and SIGQUIT: Go 1.19 names the request's own reader, not
/// started yet, `startBackgroundRead.func2`, beside 14 real readers of the stuck federate
/// requests. The request's goroutines are the only ones set aside (issue 22): before, a real
/// reader was dropped and the request's one counted (+1 backgroundRead, -1 func2).
#[test]
fn a_served_dump_and_a_sigquit_dump_of_one_moment_are_the_same() {
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .arg("diff")
        .arg(fixture("prometheus-federate-served.debug2.txt"))
        .arg(fixture("prometheus-federate-sigquit.log"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["base_total"], d["new_total"], "{d:#}");
    assert_eq!(d["base_total"], 57);
    assert!(changed_leaves(&d).is_empty(), "{:?}", changed_leaves(&d));
}

fn analyze(dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound")).arg("analyze").arg(dir).args(["--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The cum bytes `go tool pprof -top -cum` gives `function` in a heap profile.
fn pprof_cum_bytes(profile: &Path, function: &str) -> i64 {
    let top =
        common::go_tool_pprof(&["-top", "-cum", "-sample_index=inuse_space", "-unit=byte", "-nodefraction=0", "-nodecount=1000000", profile.to_str().unwrap()]);
    top.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|t| t.len() >= 6 && t[5..].join(" ") == function)
        .map(|t| t[3].trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse::<i64>().unwrap())
        .unwrap_or_else(|| panic!("pprof has no {function}:\n{top}"))
}

/// A real watch of Debian's Prometheus 2.42 (Go 1.19), 30 snapshots 2 s apart: quiet for 15, then
/// a `/federate` client that never reads and a slowloris client every 2 s (see the README).
#[test]
fn prometheus_federate_and_slowloris_leaks_that_start_late() {
    let dir = fixture("prometheus-federate-watch");
    let d = analyze(&dir);
    let suspects = d["suspects"].as_array().unwrap();
    let by_pattern = |p: &str| suspects.iter().find(|s| s["pattern"] == p).unwrap_or_else(|| panic!("no {p}: {d:#}"));

    // 1. Flat for half the watch, then growing: listed as leaks, from where they began to grow.
    for s in suspects {
        assert_eq!(s["verdict"], "leak", "{s:#}");
        let since = s["growing_since_snapshot"].as_u64().unwrap_or_else(|| panic!("{s:#}"));
        assert!((12..=16).contains(&since), "{since}");
    }

    // 4, 5. The handler net/http dispatched to, not the response writer's wrapper; the server's fix.
    let federate = by_pattern("http-server-write-blocked");
    assert_eq!(federate["started_from"]["function"], "github.com/prometheus/prometheus/web.(*Handler).federation", "{federate:#}");
    assert!(federate["started_from"]["via"].as_str().unwrap().contains("handler"));
    let hint = federate["hint"].as_str().unwrap();
    assert!(hint.contains("WriteTimeout") && hint.contains("SetWriteDeadline"), "{hint}");

    // 2. Its heap, as go tool pprof counts what runs through the handler, although Go 1.19 cut
    // its goroutine stack at 32 frames, short of net/http.(*conn).serve; none to the slowloris
    // connections, which share only that entry function with it.
    let heap = dir.join("029-heap.pb.gz");
    let pprof = pprof_cum_bytes(&heap, "github.com/prometheus/prometheus/web.(*Handler).federation");
    assert!(pprof > 100 << 20, "{pprof}");
    assert_eq!(federate["heap_inuse_bytes"].as_i64().unwrap(), pprof);
    let slowloris = by_pattern("http-server-no-read-header-timeout");
    assert_eq!(slowloris["heap_inuse_bytes"].as_i64().unwrap_or(0), 0, "{slowloris:#}");
}

/// A real watch of Debian's etcd 3.4.23 (Go 1.19, gRPC 1.26), 36 snapshots 2 s apart: from 36 s in,
/// an `etcdctl watch --prefix k` every 2 s, frozen with SIGSTOP, while keys are written (see the
/// README). Each frozen client leaves its stream's handler, reader and writer and its connection's
/// reader, writer and keepalive: one pattern with the gRPC server's remedies, each suspect naming
/// the service's code where its stack has any, never gRPC's or x/net's own frames.
#[test]
fn etcd_watch_streams_of_frozen_clients() {
    let d = analyze(&fixture("etcd-watch-frozen-clients"));
    let suspects = d["suspects"].as_array().unwrap();
    let leaf = |l: &str| suspects.iter().find(|s| s["leaf"] == l).unwrap_or_else(|| panic!("{l} not listed: {d:#}"));
    let t = "google.golang.org/grpc/internal/transport";
    let expected = [
        (format!("{t}.(*recvBufferReader).read"), "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).recvLoop"),
        (format!("{t}.(*writeQuota).get"), "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).sendLoop"),
        ("go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch".to_string(), "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch"),
        (format!("{t}.(*controlBuffer).get"), "google.golang.org/grpc/internal/transport.newHTTP2Server.func2"),
        (format!("{t}.(*http2Server).keepalive"), "google.golang.org/grpc/internal/transport.(*http2Server).keepalive"),
        ("github.com/soheilhy/cmux.(*bufferedReader).Read".to_string(), "google.golang.org/grpc.(*Server).handleRawConn.func1"),
    ];
    for (l, from) in &expected {
        let s = leaf(l);
        assert_eq!(s["verdict"], "leak", "{s:#}");
        assert_eq!(s["pattern"], "grpc-server-stream-client-stays", "{s:#}");
        let hint = s["hint"].as_str().unwrap();
        assert!(hint.contains("MaxConnectionIdle") && hint.contains("stream.Context().Done()"), "{hint}");
        assert_eq!(s["started_from"]["function"], *from, "{l}: {s:#}");
        assert!(s["counts"].as_array().unwrap().last().and_then(|c| c.as_i64()).unwrap() >= 14, "{s:#}");
    }
    assert_eq!(suspects.len(), expected.len(), "{d:#}");
}
