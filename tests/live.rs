//! `watch`, `check` and `analyze` against the real Go test service (tests/goservice) over real HTTP,
//! and every way sampling can go wrong.

mod common;
mod schema;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Service;
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn suspects(doc: &Value) -> Vec<&Value> {
    doc["suspects"].as_array().expect("suspects").iter().collect()
}

/// Every leak is listed as `leak` with its blocking operation and leaf; no benign stack is listed.
fn assert_leaks_found(doc: &Value) {
    schema::validate(doc);
    let by_leaf: BTreeMap<&str, &Value> = suspects(doc).into_iter().map(|s| (s["leaf"].as_str().unwrap(), s)).collect();
    for (leaf, blocking) in common::LEAKY_SCENARIO {
        let s = by_leaf.get(leaf).unwrap_or_else(|| panic!("{leaf} not listed; report: {doc:#}"));
        assert_eq!(s["verdict"], "leak", "{leaf}: {s:#}");
        assert_eq!(s["blocking"], blocking, "{leaf}");
        assert!(s["growth_per_minute"].as_f64().unwrap() > 0.0);
        assert!(s["hint"].as_str().unwrap().len() > 20);
    }
    common::assert_none_listed(doc, &common::BENIGN);
    assert_eq!(doc["verdict"], "leak");
}

#[test]
fn watch_ranks_every_leak_and_analyze_agrees() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "30", "-burst-every", "3s"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let report = dir.path().join("watch.json");
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "8", "--format", "json", "--quiet", "--save"])
        .arg(&save)
        .arg("--output")
        .arg(&report)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = read_json(&report);
    assert_leaks_found(&doc);
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 8);
    // goroutineleak: the runtime proves the channel leaks (Go >= 1.26).
    let proven: Vec<&str> = suspects(&doc).iter().filter(|s| s["gc_proven_leaked"].as_u64().unwrap_or(0) > 0).map(|s| s["leaf"].as_str().unwrap()).collect();
    assert!(proven.contains(&"main.forgottenSender"), "{proven:?}");

    // Every profile is on disk as fetched, and the index says what was taken when.
    let index = read_json(&save.join("index.json"));
    let goroutine_files = index["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "goroutine" && e["file"].is_string()).count();
    assert_eq!(goroutine_files, 8);
    let first = std::fs::read(save.join("000-goroutine.pb.gz")).unwrap();
    assert_eq!(&first[..2], &[0x1f, 0x8b], "saved as fetched: gzipped protobuf");

    // analyze on the saved folder gives the same ranking.
    let out = leakhound().args(["analyze", "--format", "json"]).arg(&save).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranking = |d: &Value| {
        suspects(d)
            .iter()
            .map(|s| (s["leaf"].as_str().unwrap().to_string(), s["verdict"].as_str().unwrap().to_string(), s["counts"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ranking(&doc), ranking(&again));

    // Text and Markdown name the same leaks.
    for format in ["text", "markdown"] {
        let out = leakhound().args(["analyze", "--format", format]).arg(&save).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for (leaf, blocking) in common::LEAKY_SCENARIO {
            assert!(text.contains(leaf), "{format} lacks {leaf}");
            assert!(text.contains(blocking), "{format} lacks {blocking}");
        }
        assert!(!text.contains("\x1b["), "no colour when not on a terminal");
    }
}

#[test]
fn watch_debug2_reads_wait_reasons() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "10"]);
    let out = leakhound()
        .args(["watch", &svc.url(), "--debug2", "--interval", "1s", "--count", "6", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_leaks_found(&doc);
    // debug=2 carries the creator of each goroutine.
    let fwd = suspects(&doc).into_iter().find(|s| s["leaf"] == "main.forgottenSender").unwrap();
    assert_eq!(fwd["created_by"]["function"], "main.callWithTimeout");
}

#[test]
fn slow_leak_is_caught_within_a_minute() {
    let svc = Service::start(&["-scenario", "slowleak", "-slow-every", "3s", "-load", "20", "-burst-every", "7s"]);
    let out = leakhound()
        .args(["check", &svc.url(), "--duration", "55s", "--interval", "5s", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    schema::validate(&doc);
    assert_eq!(out.status.code(), Some(1), "a leak fails the check: {doc:#}");
    let list = suspects(&doc);
    assert_eq!(list[0]["leaf"], "main.forgottenSender", "{doc:#}");
    assert_eq!(list[0]["verdict"], "leak");
    common::assert_none_listed(&doc, &common::BENIGN);
}

/// A leak that starts late in a long watch (issue 22): the service leaks nothing for the first
/// 10.5 s of a 46-snapshot watch, then one `main.forgottenSender` every 200 ms. One slope for the
/// whole run does not see it; judged from where its slope changed, it is a leak. The same service
/// leaking 15 at once after 7 s and then no more (a single step that stays flat) lists nothing.
#[test]
fn a_leak_that_starts_late_in_a_long_watch_is_listed_a_step_is_not() {
    let watch = |args: &'static [&'static str]| {
        std::thread::spawn(move || {
            let svc = Service::start(args);
            let out = leakhound()
                .args(["watch", &svc.url(), "--interval", "300ms", "--count", "46", "--format", "json", "--quiet"])
                .arg("--save")
                .arg(tempfile::tempdir().unwrap().path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            schema::validate(&doc);
            (doc, svc.leaks())
        })
    };
    // Without the runtime's goroutineleak proof (Go 1.26+ would prove both): growth alone decides.
    let late =
        watch(&["-scenario", "slowleak", "-slow-every", "200ms", "-leak-after", "10.5s", "-load", "5", "-burst-every", "0", "-serve-goroutineleak=false"]);
    let step = watch(&[
        "-scenario",
        "slowleak",
        "-slow-every",
        "10ms",
        "-max-leak",
        "15",
        "-leak-after",
        "7s",
        "-load",
        "5",
        "-burst-every",
        "0",
        "-serve-goroutineleak=false",
    ]);
    let (doc, leaked) = late.join().unwrap();
    assert!(leaked.get("main.forgottenSender").copied().unwrap_or(0) >= 8, "{leaked:?}");
    let list = suspects(&doc);
    let s = list.iter().find(|s| s["leaf"] == "main.forgottenSender").unwrap_or_else(|| panic!("the late leak is not listed: {doc:#}"));
    assert_eq!(s["verdict"], "leak", "{s:#}");
    assert!(s.get("gc_proven_leaked").is_none() && s["growth_per_minute"].as_f64().unwrap() > 60.0, "{s:#}");
    let counts: Vec<i64> = s["counts"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect();
    let since = s["growing_since_snapshot"].as_u64().unwrap_or_else(|| panic!("judged on the whole run: {s:#}")) as usize;
    assert!(since >= 20 && counts[..since].iter().all(|&c| c == 0), "growing since {since}: {counts:?}");
    common::assert_none_listed(&doc, &common::BENIGN);

    let (doc, leaked) = step.join().unwrap();
    assert_eq!(leaked.get("main.forgottenSender").copied(), Some(15), "{leaked:?}");
    assert!(suspects(&doc).iter().all(|s| s["leaf"] != "main.forgottenSender"), "a step that stays flat is not a leak: {doc:#}");
}

#[test]
fn benign_service_passes_the_check() {
    let svc = Service::start(&["-scenario", "benign", "-load", "40", "-burst-every", "3s"]);
    let out = leakhound()
        .args(["check", &svc.url(), "--interval", "1s", "--count", "12", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    schema::validate(&doc);
    assert_eq!(doc["verdict"], "clean", "{doc:#}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn service_restart_mid_watch_is_detected() {
    let mut svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5"]);
    let port = svc.port();
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let report = dir.path().join("r.json");
    let mut watch = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "14", "--retries", "0", "--format", "json", "--quiet", "--timeout", "2s"])
        .arg("--save")
        .arg(&save)
        .arg("--output")
        .arg(&report)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    svc.kill();
    std::thread::sleep(Duration::from_millis(2000));
    let _svc2 = Service::start_on(port, &["-scenario", "leaky", "-rate", "5", "-load", "5"]);
    let status = watch.wait().unwrap();
    assert!(status.success());
    let doc = read_json(&report);
    schema::validate(&doc);
    assert!(!doc["restarts"].as_array().unwrap().is_empty(), "restart detected: {doc:#}");
    let errors = doc["errors"].to_string();
    assert!(errors.contains("connection refused"), "{errors}");
    assert!(errors.contains("restarted"), "{errors}");
    // The ranking uses one run of the service, not both.
    let [a, b] = [doc["analysed"][0].as_u64().unwrap(), doc["analysed"][1].as_u64().unwrap()];
    let restart = doc["restarts"][0].as_u64().unwrap();
    assert!(b < restart || a >= restart, "analysed {a}..{b} crosses the restart at {restart}");
    assert!(suspects(&doc).iter().any(|s| s["leaf"] == "main.forgottenSender" && s["verdict"] == "leak"));
    // Snapshots from both runs stay on disk.
    let index = read_json(&save.join("index.json"));
    let entries = index["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["error"].is_string()));
    let saved = entries.iter().filter(|e| e["kind"] == "goroutine" && e["file"].is_string()).count();
    assert_eq!(saved, doc["snapshots"].as_array().unwrap().len());
}

#[test]
fn ctrl_c_ends_sampling_and_still_writes_the_report() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let report = dir.path().join("r.json");
    let mut watch = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "100", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(&save)
        .arg("--output")
        .arg(&report)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(5500));
    let _ = Command::new("kill").args(["-INT", &watch.id().to_string()]).status();
    let status = watch.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let doc = read_json(&report);
    schema::validate(&doc);
    let n = doc["snapshots"].as_array().unwrap().len();
    assert!((4..=8).contains(&n), "{n} snapshots");
    assert!(doc["errors"].to_string().contains("interrupted"));
    assert!(suspects(&doc).iter().any(|s| s["leaf"] == "main.forgottenSender"));
    let index = read_json(&save.join("index.json"));
    let saved: Vec<&Value> = index["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "goroutine").collect();
    assert_eq!(saved.len(), n);
    for e in saved {
        assert!(save.join(e["file"].as_str().unwrap()).is_file());
    }
}

#[test]
fn bearer_token_is_sent_and_never_printed() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5", "-token", "s3cret-t0ken"]);
    let dir = tempfile::tempdir().unwrap();
    let out =
        leakhound().args(["watch", &svc.url(), "--interval", "500ms", "--count", "2", "--quiet"]).arg("--save").arg(dir.path().join("a")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401") && stderr.contains("Authorization: Bearer"), "{stderr}");
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "1s", "--count", "4", "--quiet", "--format", "json", "-H", "Authorization: Bearer s3cret-t0ken"])
        .arg("--save")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("s3cret-t0ken"));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 4);
    assert!(!std::fs::read_to_string(dir.path().join("b/index.json")).unwrap().contains("s3cret"));
}

#[test]
fn nothing_listening_exits_3() {
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound()
        .args(["watch", &format!("http://127.0.0.1:{port}"), "--count", "3", "--interval", "100ms", "--quiet"])
        .arg("--save")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection refused") && stderr.contains("is the service running"), "{stderr}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a run that fetched nothing leaves nothing behind");
    let out = leakhound()
        .args(["check", &format!("http://127.0.0.1:{port}"), "--count", "4", "--interval", "100ms", "--quiet"])
        .arg("--save")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn service_without_pprof_exits_3() {
    let svc = Service::start(&["-nopprof"]);
    let out = leakhound()
        .args(["check", &svc.url(), "--count", "4", "--interval", "100ms", "--quiet"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404") && stderr.contains("pprof is not mounted") && stderr.contains("--path"), "{stderr}");
}

#[test]
fn pprof_mounted_elsewhere_with_path() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5", "-prefix", "/admin/pprof"]);
    let out = leakhound()
        .args(["watch", &svc.url(), "--path", "/admin/pprof", "--interval", "1s", "--count", "5", "--quiet", "--format", "json"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(suspects(&doc).iter().any(|s| s["leaf"] == "main.lockNeverReleased"));
    // A full profile URL works the same.
    let url = format!("{}/admin/pprof/goroutine", svc.url());
    let out = leakhound()
        .args(["watch", &url, "--interval", "500ms", "--count", "2", "--quiet"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn after_a_slow_round_watch_keeps_its_pace() {
    // The second goroutine profile takes 3 s to come at --interval 500ms: the ticks it missed are
    // skipped, and the rounds after it are an interval apart again, not taken back to back.
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5", "-stall-goroutine-once", "3s"]);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("snaps");
    let out = leakhound()
        .args(["watch", &svc.url(), "--interval", "500ms", "--count", "8", "--timeout", "10s", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(&save)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let index = read_json(&save.join("index.json"));
    // When each round began (its goroutine profile was asked for then).
    let times: Vec<f64> = index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "goroutine")
        .map(|e| e["fetched_at_unix_nanos"].as_i64().unwrap() as f64 / 1e9)
        .collect();
    assert_eq!(times.len(), 8, "{index:#}");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[1] >= 2.9, "the second round (round 1) was the slow one: {gaps:?}");
    // Round 2 starts at once (its tick has passed), then every round is an interval after the one
    // before: with the old schedule rounds 2..7 came back to back, 0.00 s apart.
    for (i, g) in gaps.iter().enumerate().skip(2) {
        assert!(*g >= 0.4, "round {} came {g:.2} s after round {i}: taken back to back after the slow round ({gaps:?})", i + 1);
    }
    let span = times[7] - times[2];
    assert!(span >= 5.0 * 0.5 - 0.1, "rounds 2..7 took {span:.2} s: less than the 5 intervals between them ({gaps:?})");
}
