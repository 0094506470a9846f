//! Smoke test of the test harness and the Go leak service (tests/goservice).
mod common;

use common::{http_get, Service};
use std::time::Duration;

#[test]
fn leaky_service_shows_leaking_goroutines() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "10"]);
    assert!(svc.url().starts_with("http://127.0.0.1:"));
    std::thread::sleep(Duration::from_secs(3));
    let text = String::from_utf8(svc.fetch("/debug/pprof/goroutine?debug=1")).unwrap();
    assert!(text.starts_with("goroutine profile: total "), "{text}");
    for f in ["main.forgottenSender", "main.lockNeverReleased", "main.fanoutWorker", "main.backgroundTicker"] {
        assert!(text.contains(f), "{f} missing from debug=1 profile:\n{text}");
    }
    let leaks = svc.leaks();
    assert!(leaks["main.forgottenSender"] >= 10, "{leaks:?}");
    // The proto profile is gzipped.
    let pb = svc.fetch("/debug/pprof/goroutine");
    assert_eq!(&pb[..2], &[0x1f, 0x8b], "goroutine profile is not gzip");
}

#[test]
fn max_leak_caps_each_pattern() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "50", "-max-leak", "4", "-load", "0"]);
    assert!(common::wait_until(Duration::from_secs(10), || { svc.leaks().get("main.nilChannelSend") == Some(&4) }));
    let leaks = svc.leaks();
    for (k, v) in &leaks {
        assert_eq!(*v, 4, "{k} in {leaks:?}");
    }
    let text = String::from_utf8(svc.fetch("/debug/pprof/goroutine?debug=1")).unwrap();
    assert!(text.contains("\n4 @ "), "{text}");
}

#[test]
fn nopprof_serves_no_pprof() {
    let svc = Service::start(&["-nopprof"]);
    assert_eq!(http_get(&format!("{}/debug/pprof/goroutine", svc.url()), &[]).status, 404);
    assert_eq!(http_get(&format!("{}/debug/pprof/", svc.url()), &[]).status, 404);
    assert_eq!(http_get(&format!("{}/", svc.url()), &[]).status, 200);
}

#[test]
fn token_protects_pprof() {
    let svc = Service::start(&["-scenario", "none", "-token", "abc"]);
    let url = format!("{}/debug/pprof/goroutine?debug=1", svc.url());
    assert_eq!(http_get(&url, &[]).status, 401);
    assert_eq!(http_get(&url, &[("Authorization", "Bearer wrong")]).status, 401);
    let ok = http_get(&url, &[("Authorization", "Bearer abc")]);
    assert_eq!(ok.status, 200);
    assert!(ok.text().starts_with("goroutine profile: total "));
}

#[test]
fn prefix_moves_pprof() {
    let svc = Service::start(&["-scenario", "none", "-prefix", "/internal/prof"]);
    assert_eq!(http_get(&format!("{}/debug/pprof/goroutine", svc.url()), &[]).status, 404);
    let r = http_get(&format!("{}/internal/prof/goroutine?debug=1", svc.url()), &[]);
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("goroutine profile: total "));
    assert_eq!(http_get(&format!("{}/internal/prof/", svc.url()), &[]).status, 200);
}

#[test]
fn goroutineleak_profile_and_restart_on_same_port() {
    let mut svc = Service::start(&["-scenario", "leaky", "-rate", "20", "-load", "0"]);
    std::thread::sleep(Duration::from_secs(1));
    let leak = String::from_utf8(svc.fetch("/debug/pprof/goroutineleak?debug=1")).unwrap();
    assert!(leak.starts_with("goroutineleak profile: total "), "{leak}");
    assert!(leak.contains("main.forgottenSender"), "{leak}");
    let port = svc.port();
    assert!(svc.terminate(), "service did not exit cleanly on SIGTERM");
    let svc2 = Service::start_on(port, &["-scenario", "none"]);
    assert_eq!(svc2.port(), port);
    assert_eq!(http_get(&format!("{}/", svc2.url()), &[]).status, 200);
}

#[test]
fn go_tool_pprof_reads_a_live_profile() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "20", "-load", "0"]);
    std::thread::sleep(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.pb.gz");
    std::fs::write(&file, svc.fetch("/debug/pprof/goroutine")).unwrap();
    let out = common::go_tool_pprof(&["-traces", file.to_str().unwrap()]);
    assert!(out.contains("main.abandonedReceiver"), "{out}");
}
