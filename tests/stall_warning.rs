//! `watch` warns, from the first snapshot on, when a form it was asked for stalls a service of
//! that size: `--debug2` on a service of thousands of goroutines (each dump stops the world).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http_get, Service};

/// The goroutine total a served `debug=1` profile declares.
fn goroutines(svc: &Service) -> u64 {
    let text = http_get(&format!("{}/debug/pprof/goroutine?debug=1", svc.url()), &[]).text();
    text.lines().next().and_then(|l| l.strip_prefix("goroutine profile: total ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn debug2_on_a_big_service_is_warned_of_and_not_on_a_small_one() {
    let calm = Service::start(&["-scenario", "benign", "-load", "5", "-burst-every", "0"]);
    let small = Command::new(env!("CARGO_BIN_EXE_leakhound")).args(["watch", &calm.url(), "--debug2", "--count", "1", "--quiet"]).output().unwrap();
    assert!(small.status.success(), "{}", String::from_utf8_lossy(&small.stderr));
    assert!(goroutines(&calm) < 1000);
    let svc = Service::start(&["-scenario", "leaky", "-rate", "1000", "-load", "0", "-burst-every", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while goroutines(&svc) < leakhound::watch::DEBUG2_STALL_GOROUTINES as u64 + 500 {
        assert!(Instant::now() < deadline, "the service did not reach {} goroutines", leakhound::watch::DEBUG2_STALL_GOROUTINES);
        std::thread::sleep(Duration::from_millis(200));
    }
    let big =
        Command::new(env!("CARGO_BIN_EXE_leakhound")).args(["watch", &svc.url(), "--debug2", "--count", "1", "--quiet", "--format", "json"]).output().unwrap();
    assert!(big.status.success(), "{}", String::from_utf8_lossy(&big.stderr));
    let stderr = String::from_utf8_lossy(&big.stderr);
    assert!(stderr.contains("leakhound: warning:") && stderr.contains("each debug=2 snapshot stops the service"), "{stderr}");
    // The report keeps it too.
    let doc: serde_json::Value = serde_json::from_slice(&big.stdout).unwrap();
    assert!(doc["errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains("drop --debug2")), "{doc}");
    // A small service, and the protobuf form of the big one: no warning.
    assert!(!String::from_utf8_lossy(&small.stderr).contains("debug=2 snapshot stops"), "{}", String::from_utf8_lossy(&small.stderr));
    let proto = Command::new(env!("CARGO_BIN_EXE_leakhound")).args(["watch", &svc.url(), "--count", "1", "--quiet"]).output().unwrap();
    assert!(proto.status.success() && !String::from_utf8_lossy(&proto.stderr).contains("stops the service"), "{}", String::from_utf8_lossy(&proto.stderr));
}
