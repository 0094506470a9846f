//! Growth alone: slow leaks and benign look-alikes, on real 10-minute series of the test service
//! captured once by `tests/fixtures/series/capture.sh` (`watch --save`, 20 s interval, no
//! goroutineleak proof), and a warm-up sampled live from 2 s after the service started.

mod common;
mod schema;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::Service;
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn series(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/series").join(name)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn suspects(doc: &Value) -> Vec<&Value> {
    doc["suspects"].as_array().expect("suspects").iter().collect()
}

/// Neither the benign kinds nor the benign look-alikes of the test service are listed.
fn assert_no_benign_listed(doc: &Value) {
    common::assert_none_listed(doc, &[&common::BENIGN[..], &common::BENIGN_LOOK_ALIKES[..]].concat());
}

/// The saved series holds what the test needs: 31 snapshots over 10 minutes, no proof.
fn assert_ten_minutes_without_proof(doc: &Value) {
    assert_eq!(doc["snapshots"].as_array().map(Vec::len), Some(31), "{doc:#}");
    for s in suspects(doc) {
        assert!(s.get("gc_proven_leaked").is_none_or(Value::is_null), "no proof was captured: {s:#}");
    }
}

#[test]
fn slow_leaks_are_caught_by_growth_alone() {
    let out = leakhound().args(["analyze", "--format", "json"]).arg(series("slowtrend")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&out);
    schema::validate(&doc);
    assert_ten_minutes_without_proof(&doc);
    let list = suspects(&doc);
    let by_leaf = |leaf: &str| list.iter().find(|s| s["leaf"] == leaf).copied().unwrap_or_else(|| panic!("{leaf} not listed: {doc:#}"));
    // One a minute: 0 -> 10 in even steps.
    let minute = by_leaf("main.minuteLeak");
    assert_eq!(minute["verdict"], "leak", "{minute:#}");
    let counts: Vec<i64> = minute["counts"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect();
    assert!(counts.last().unwrap() - counts[0] >= 9, "{counts:?}");
    // One every two minutes: at least a suspect.
    let two = by_leaf("main.twoMinuteLeak");
    assert!(two["verdict"] == "leak" || two["verdict"] == "suspect", "{two:#}");
    // Nothing else: the warm-up pool, keep-alive clients, long polls, sawtooth and load are not listed.
    assert_no_benign_listed(&doc);
    let others: Vec<&Value> = list.iter().filter(|s| s["leaf"] != "main.minuteLeak" && s["leaf"] != "main.twoMinuteLeak").copied().collect();
    assert!(others.is_empty(), "only the two slow leaks may be listed: {others:#?}");

    // `check` fails on it (exit 1), naming the slow leak.
    let out = leakhound().args(["check", "--quiet"]).arg(series("slowtrend")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("main.minuteLeak"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn heavy_benign_churn_lists_nothing() {
    let out = leakhound().args(["check", "--fail-on", "suspect", "--format", "json", "--quiet"]).arg(series("churn")).output().unwrap();
    let doc = json_of(&out);
    schema::validate(&doc);
    assert_ten_minutes_without_proof(&doc);
    // Hundreds of request goroutines ending at once is churn, not a restart: all 31 are ranked.
    assert!(doc["restarts"].as_array().is_none_or(Vec::is_empty), "churn read as a restart: {}", doc["errors"]);
    assert_eq!(doc["verdict"], "clean", "{doc:#}");
    assert!(suspects(&doc).is_empty(), "{doc:#}");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn warm_up_sampled_from_two_seconds_after_start_is_not_listed() {
    // The pool warms to 60 workers over 8 s from start; a leak runs alongside (3/s, pausing 2 s in
    // every 6 s); the sawtooth repeats every 6 s so that it comes back down within the window.
    let svc = Service::start(&[
        "-scenario",
        "warmup",
        "-rate",
        "3",
        "-warmup",
        "8s",
        "-sweep-period",
        "6s",
        "-load",
        "20",
        "-burst-every",
        "5s",
        "-serve-goroutineleak=false",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    let saved = tempfile::tempdir().unwrap();
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "20", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(saved.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&out);
    schema::validate(&doc);
    let list = suspects(&doc);
    let leak = list.iter().find(|s| s["leaf"] == "main.pausingLeak").unwrap_or_else(|| panic!("main.pausingLeak not listed: {doc:#}"));
    assert_eq!(leak["verdict"], "leak", "{leak:#}");
    assert!(leak.get("gc_proven_leaked").is_none_or(Value::is_null), "growth alone decides here: {leak:#}");
    // The warm-up was still under way when sampling started: the pool grew while it was sampled.
    let diff = leakhound()
        .args(["diff", "--format", "json"])
        .arg(saved.path().join("000-goroutine.pb.gz"))
        .arg(saved.path().join("019-goroutine.pb.gz"))
        .output()
        .unwrap();
    let diff = json_of(&diff);
    let pool = diff["changes"].as_array().unwrap().iter().find(|c| c["leaf"] == "main.poolWorker");
    assert!(pool.is_some_and(|c| c["delta"].as_i64().unwrap() >= 10), "the pool did not grow while sampled: {diff:#}");
    assert_no_benign_listed(&doc);
    assert_eq!(list.len(), 1, "only the leak: {doc:#}");
}
