//! One dump is enough to start (issue 19): a lone snapshot gets a census, whose suspects come from
//! the goroutines' wait ages. Real dumps only: the project's service after 38 minutes of steady
//! leaks next to idle pools, an idle accept loop and timers (tests/fixtures/census, captured by
//! its capture.sh), Debian's prometheus and etcd after 25 minutes of healthy work, the same
//! prometheus under a steady slowloris, and a `go test -timeout` panic built here.

mod common;
mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn leakhound(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakhound")).args(args).args(files).output().unwrap()
}

/// `analyze FILES --format json`, validated against the schema.
fn analyze(files: &[PathBuf]) -> Value {
    let out = leakhound(&["analyze", "--format", "json"], files);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    doc
}

fn census(doc: &Value) -> &Value {
    assert!(doc["census"].is_object(), "no census in {doc:#}");
    &doc["census"]
}

fn groups(doc: &Value) -> &Vec<Value> {
    census(doc)["groups"].as_array().unwrap()
}

/// The census group whose leaf is `leaf`.
fn group<'a>(doc: &'a Value, leaf: &str) -> &'a Value {
    groups(doc).iter().find(|g| g["leaf"] == leaf).unwrap_or_else(|| panic!("{leaf} not in the census: {:#}", census(doc)))
}

/// Leaves listed as suspect or leak.
fn flagged(doc: &Value) -> Vec<String> {
    groups(doc).iter().filter(|g| g["status"] != "listed").map(|g| g["leaf"].as_str().unwrap().to_string()).collect()
}

/// The leaks of scenario census and their pace per minute (capture.sh: RATE 0.18333/s for the
/// first, 1/2, 1/3 and 1/6 of it for the others).
const CENSUS_LEAKS: [(&str, f64); 4] =
    [("main.forgottenSender", 11.0), ("main.generatorWithoutQuit", 5.5), ("main.lockNeverReleased", 11.0 / 3.0), ("main.waitGroupNeverDone", 11.0 / 6.0)];

/// The benign goroutines scenario census runs beside its leaks (tests/goservice/census.go).
const CENSUS_BENIGN: [&str; 5] = ["main.idleWorker", "main.lazyWorker", "main.idleAcceptLoop", "main.nightlyJob", "main.retryBackoff"];

fn assert_none_flagged(doc: &Value, functions: &[&str]) {
    for g in groups(doc).iter().filter(|g| g["status"] != "listed") {
        for f in g["stack"].as_array().unwrap() {
            let f = f["function"].as_str().unwrap();
            assert!(!functions.contains(&f), "benign stack {f} flagged: {g:#}");
        }
    }
}

/// Every leak listed with a pace within 10% of the service's, every benign stack not.
fn assert_census_of_the_service(doc: &Value, minutes: u64) {
    let c = census(doc);
    assert_eq!(c["has_wait_ages"], true);
    assert!(c["note"].as_str().unwrap().starts_with("one-dump census"), "{c:#}");
    for (leaf, pace) in CENSUS_LEAKS {
        let g = group(doc, leaf);
        assert!(g["status"] == "suspect" || g["status"] == "leak", "{leaf} not flagged at minute {minutes}: {g:#}");
        let rate = g["rate_per_minute"].as_f64().unwrap_or_else(|| panic!("{leaf}: no rate: {g:#}"));
        assert!((rate - pace).abs() <= 0.1 * pace, "{leaf}: ≈ {rate}/min at minute {minutes}, the service leaks {pace:.2}/min");
        let oldest = g["wait"]["oldest_minutes"].as_u64().unwrap();
        assert!(oldest + 2 >= minutes && oldest <= minutes, "{leaf}: oldest wait {oldest} at minute {minutes}");
        assert_eq!(g["rate_minutes"], oldest);
    }
    assert_eq!(flagged(doc).len(), CENSUS_LEAKS.len(), "only the leaks are flagged: {:?}", flagged(doc));
    assert_none_flagged(doc, &common::BENIGN);
    assert_none_flagged(doc, &common::BENIGN_LOOK_ALIKES);
    assert_none_flagged(doc, &CENSUS_BENIGN);
    // The look-alikes are seen and judged, not missed.
    let idle = group(doc, "main.idleWorker");
    assert_eq!(idle["goroutines"], 40);
    assert_eq!(idle["not_suspect_because"], "waits all alike (a pool or a burst started at once)");
    assert_eq!(idle["wait"]["oldest_minutes"], idle["wait"]["median_minutes"]);
    if minutes >= 10 {
        let lazy = group(doc, "main.lazyWorker");
        assert_eq!(lazy["goroutines"], 30);
        assert_eq!(lazy["not_suspect_because"], "waits near the process's age (started with it)");
    }
    assert_eq!(group(doc, "main.idleAcceptLoop")["blocking"], "IO wait");
}

#[test]
fn a_served_dump_after_38_minutes_lists_the_leaks_with_their_pace_and_no_benign_stack() {
    let doc = analyze(&[fixture("census/minute-38.debug2.txt")]);
    assert_census_of_the_service(&doc, 38);
    assert_eq!(doc["outcome"], if doc["verdict"] == "leak" { "leak" } else { "inconclusive" });
    let sender = group(&doc, "main.forgottenSender");
    assert_eq!(sender["pattern"], "forgotten-sender");
    assert_eq!(sender["started_from"]["function"], "main.callWithTimeout");
    let hist = sender["wait"]["histogram"].as_array().unwrap();
    assert_eq!(hist.len(), 8, "{hist:#?}");
    assert_eq!(hist.iter().map(|b| b["goroutines"].as_i64().unwrap()).sum::<i64>(), sender["goroutines"].as_i64().unwrap());
}

#[test]
fn dumps_taken_every_ten_minutes_give_the_same_pace() {
    for minute in [10, 20, 30] {
        let doc = analyze(&[fixture(&format!("census/minute-{minute}.debug2.txt"))]);
        assert_census_of_the_service(&doc, minute);
    }
}

/// The SIGQUIT dump came right after the goroutineleak profile: the goroutines the runtime proved
/// are marked `(leaked)` and, no longer waiting to the runtime, print no wait minutes. They are
/// leaks by the mark; the mutex waiters it cannot prove keep their ages and their pace.
#[test]
fn the_sigquit_dump_after_the_goroutineleak_profile_lists_proven_leaks_and_the_suspect() {
    let doc = analyze(&[fixture("census/sigquit.log")]);
    let c = census(&doc);
    assert_eq!(c["has_wait_ages"], true);
    assert!(c["oldest_wait_minutes"].as_u64().unwrap() >= 37, "{c:#}");
    for (leaf, count) in [("main.forgottenSender", 418), ("main.generatorWithoutQuit", 209), ("main.waitGroupNeverDone", 69)] {
        let g = group(&doc, leaf);
        assert_eq!((&g["status"], &g["goroutines"], &g["gc_proven_leaked"]), (&"leak".into(), &count.into(), &count.into()), "{g:#}");
        assert_eq!(g["wait"]["oldest_minutes"], 0, "{leaf}: Go prints no wait for a leaked goroutine");
        assert!(g.get("not_suspect_because").is_none());
    }
    let lock = group(&doc, "main.lockNeverReleased");
    assert_eq!(lock["status"], "suspect");
    let rate = lock["rate_per_minute"].as_f64().unwrap();
    assert!((rate - 11.0 / 3.0).abs() <= 0.1 * 11.0 / 3.0, "≈ {rate}/min");
    assert_eq!(flagged(&doc).len(), 4);
    assert_none_flagged(&doc, &common::BENIGN);
    assert_none_flagged(&doc, &common::BENIGN_LOOK_ALIKES);
    assert_none_flagged(&doc, &CENSUS_BENIGN);
    assert_eq!(group(&doc, "main.idleWorker")["not_suspect_because"], "waits all alike (a pool or a burst started at once)");
}

#[test]
fn the_goroutineleak_dump_of_the_same_moment_makes_proven_leaks() {
    let doc = analyze(&[fixture("census/minute-38.goroutineleak.debug2.txt")]);
    let c = census(&doc);
    assert!(c["leaks"].as_u64().unwrap() >= 3, "{c:#}");
    for leaf in ["main.forgottenSender", "main.generatorWithoutQuit", "main.waitGroupNeverDone"] {
        let g = group(&doc, leaf);
        assert_eq!(g["status"], "leak", "{g:#}");
        assert!(g["gc_proven_leaked"].as_u64().unwrap() > 0);
    }
    // The runtime cannot prove a global mutex's waiters: their ages still make them a suspect.
    assert_eq!(group(&doc, "main.lockNeverReleased")["status"], "suspect");
    assert_eq!(doc["verdict"], "leak");
    assert_eq!(doc["outcome"], "leak");
}

#[test]
fn a_form_without_ages_is_counted_and_flags_nothing() {
    for file in ["census/minute-38.pb.gz", "census/minute-38.debug1.txt"] {
        let doc = analyze(&[fixture(file)]);
        let c = census(&doc);
        assert_eq!(c["has_wait_ages"], false, "{file}");
        assert_eq!(c["suspects"], 0, "{file}");
        assert!(!c.as_object().unwrap().contains_key("oldest_wait_minutes"));
        let sender = group(&doc, "main.forgottenSender");
        assert!(sender["goroutines"].as_i64().unwrap() > 400, "{file}: {sender:#}");
        assert!(sender.get("wait").is_none());
        assert_eq!(groups(&doc)[0]["leaf"], "main.forgottenSender", "{file}: the largest stack first");
    }
}

#[test]
fn check_never_passes_on_one_dump() {
    let out = leakhound(&["check"], &[fixture("census/minute-38.debug2.txt")]);
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The runtime's (leaked) marks in this dump fail it; without them it is inconclusive.
    let doc = analyze(&[fixture("census/minute-38.debug2.txt")]);
    if doc["verdict"] == "leak" {
        assert_eq!(code, Some(1), "{stderr}");
    } else {
        assert_eq!(code, Some(4), "{stderr}");
    }
    // Healthy prometheus: nothing flagged, and still no pass.
    let out = leakhound(&["check"], &[fixture("census/prometheus-healthy.debug2.txt")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("INCONCLUSIVE") && stderr.contains("one-dump census lists 0 suspects"), "{stderr}");
    // The slowloris'd one: its suspect is no failure (ages are no proof), and no pass either.
    let out = leakhound(&["check", "--fail-on", "suspect"], &[fixture("census/prometheus-slowloris.debug2.txt")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("one-dump census lists 1 suspect "), "{stderr}");
}

#[test]
fn healthy_real_servers_have_no_suspect() {
    let files = [
        "census/prometheus-healthy.debug2.txt",
        "census/prometheus-healthy.sigquit.log",
        "census/etcd-healthy.debug2.txt",
        "census/etcd-healthy.sigquit.log",
        "realworld/prometheus-served.debug2.txt",
        "realworld/prometheus-sigquit.log",
        "realworld/etcd-served.debug2.txt",
        "realworld/etcd-sigquit.log",
    ];
    for file in files {
        let doc = analyze(&[fixture(file)]);
        let c = census(&doc);
        assert_eq!(c["has_wait_ages"], true, "{file}");
        assert_eq!(flagged(&doc), Vec::<String>::new(), "{file}: {c:#}");
        assert!(c["goroutines"].as_i64().unwrap() >= 20, "{file}");
    }
    // After 25 minutes the servers' long-lived goroutines show their age.
    for file in ["census/prometheus-healthy.debug2.txt", "census/etcd-healthy.debug2.txt"] {
        let doc = analyze(&[fixture(file)]);
        assert!(census(&doc)["oldest_wait_minutes"].as_u64().unwrap() >= 20, "{file}: {:#}", census(&doc));
    }
}

#[test]
fn a_steady_slowloris_on_prometheus_is_a_suspect_with_its_pace() {
    for file in ["census/prometheus-slowloris.debug2.txt", "census/prometheus-slowloris.sigquit.log"] {
        let doc = analyze(&[fixture(file)]);
        let flagged: Vec<&Value> = groups(&doc).iter().filter(|g| g["status"] != "listed").collect();
        assert_eq!(flagged.len(), 1, "{file}: {:#}", census(&doc));
        let g = flagged[0];
        assert_eq!(g["status"], "suspect");
        assert_eq!(g["pattern"], "http-server-no-read-header-timeout", "{g:#}");
        assert_eq!(g["blocking"], "IO wait");
        // capture-realworld.sh: one connection every 10 s.
        let rate = g["rate_per_minute"].as_f64().unwrap();
        assert!((rate - 6.0).abs() <= 0.6, "{file}: ≈ {rate}/min, the client opens 6 a minute");
    }
}

#[test]
fn a_go_test_timeout_panic_is_counted_with_short_waits_and_no_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::go_command(&common::go())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dumpgen/hang"))
        .args(["test", "-count=1", "-timeout", "2s"])
        .output()
        .unwrap();
    let log = dir.path().join("hang.log");
    std::fs::write(&log, [out.stdout, out.stderr].concat()).unwrap();
    let doc = analyze(std::slice::from_ref(&log));
    let c = census(&doc);
    assert_eq!(c["suspects"], 0, "{c:#}");
    let sender = group(&doc, "leakhound.test/dumpgen/hang.stuckSender");
    assert_eq!(sender["goroutines"], 6);
    assert_eq!(sender["wait"]["oldest_minutes"], 0);
    assert_eq!(group(&doc, "leakhound.test/dumpgen/hang.stuckCond")["goroutines"], 4);
    let out = leakhound(&["check"], &[log]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_labelled_dump_shows_each_groups_labels_in_the_census() {
    let file = fixture("go127/labels.debug2.txt");
    let doc = analyze(std::slice::from_ref(&file));
    let sender = group(&doc, "main.forgottenSender");
    assert_eq!(sender["goroutines"], 40);
    assert_eq!(sender["labels"]["route"], serde_json::json!(["/pay", "/refund"]), "{sender:#}");
    let text = String::from_utf8(leakhound(&["analyze"], &[file]).stdout).unwrap();
    let line = text.lines().find(|l| l.contains("main.forgottenSender")).unwrap();
    assert!(line.contains("[route=/pay,/refund tenant=acme corp,globex]"), "{line}");
}

#[test]
fn every_format_shows_the_census() {
    let file = fixture("census/minute-38.debug2.txt");
    let text = String::from_utf8(leakhound(&["analyze"], std::slice::from_ref(&file)).stdout).unwrap();
    assert!(text.contains("One-dump census:"), "{text}");
    assert!(text.contains("per minute for the last 3"), "{text}");
    assert!(!text.contains("No stack kept growing"), "{text}");
    let md = String::from_utf8(leakhound(&["analyze", "--format", "markdown"], std::slice::from_ref(&file)).stdout).unwrap();
    assert!(md.contains("### One-dump census") && md.contains("| **suspect** |"), "{md}");
    let html = String::from_utf8(leakhound(&["analyze", "--format", "html"], std::slice::from_ref(&file)).stdout).unwrap();
    assert!(html.contains("<h2>One-dump census</h2>") && html.contains("main.lockNeverReleased"), "{}", &html[..html.len().min(2000)]);
    // Two snapshots: a diff, no census.
    let two = analyze(&[fixture("census/minute-10.debug2.txt"), fixture("census/minute-20.debug2.txt")]);
    assert!(two.get("census").is_none());
}

/// A hostile dump (deliberately hand-made): a steady pace of goroutines whose function names
/// carry markup and terminal escapes. Every format escapes them.
#[test]
fn hostile_names_in_a_census_are_escaped() {
    let mut dump = String::new();
    for i in 0..40u64 {
        let minutes = if i % 20 == 0 { String::new() } else { format!(", {} minutes", i / 2) };
        dump.push_str(&format!(
            "goroutine {} [chan receive{minutes}]:\nmain.<script>alert(1)</script>\u{1b}[31m|x()\n\t/src/main.go:3 +0x1\ncreated by main.start in goroutine 1\n\t/src/main.go:9 +0x2\n\n",
            i + 10
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.txt");
    std::fs::write(&file, dump).unwrap();
    let doc = analyze(std::slice::from_ref(&file));
    assert_eq!(census(&doc)["suspects"], 1, "{:#}", census(&doc));
    for format in ["text", "markdown", "html"] {
        let out = leakhound(&["analyze", "--format", format], std::slice::from_ref(&file));
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(!s.contains('\u{1b}'), "{format}: raw escape");
        match format {
            "html" => assert!(!s.contains("<script>alert") && s.contains("&lt;script&gt;alert"), "html: raw markup"),
            // Markdown: escaped in prose, literal only inside code spans and blocks.
            "markdown" => assert!(s.contains("#### suspect main.\\<script\\>alert(1)"), "{s}"),
            _ => {}
        }
    }
}
