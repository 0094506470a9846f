//! Dumps of software nobody here wrote (Debian's Prometheus and etcd, Go 1.19): the served
//! `debug=2` dump and the SIGQUIT dump of the same idle process must group the same goroutines the
//! same way, although Go 1.19 prints the `go` statements' wrapper closures only in the SIGQUIT one
//! (tests/fixtures/realworld/README.md).

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
    assert_eq!(d["base_total"], 40);
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
