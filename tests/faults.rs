//! Sampling faults from a misbehaving server: slow, HTML instead of a profile, errors and cut
//! bodies in the middle of a watch, redirects to another host. The profiles served are real ones
//! (the bundled captures of tests/goservice); only the faults are made up.

mod common;
mod schema;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bytes, demo, not_found};
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

/// A server answering each request with `respond(n, path, headers)`; `n` counts goroutine fetches.
fn serve(respond: impl Fn(usize, &str, &[tiny_http::Header]) -> tiny_http::ResponseBox + Send + 'static) -> (String, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let s = server.clone();
    std::thread::spawn(move || {
        let n = AtomicUsize::new(0);
        for req in s.incoming_requests() {
            let path = req.url().to_string();
            let i = if path.starts_with("/debug/pprof/goroutine?") || path == "/debug/pprof/goroutine" {
                n.fetch_add(1, Ordering::SeqCst)
            } else {
                n.load(Ordering::SeqCst)
            };
            let resp = respond(i, &path, req.headers());
            std::thread::spawn(move || {
                let _ = req.respond(resp);
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), server)
}

fn html(status: u16) -> tiny_http::ResponseBox {
    tiny_http::Response::from_string("<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>")
        .with_status_code(status)
        .with_header(tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8").unwrap())
        .boxed()
}

#[test]
fn slow_server_times_out_with_exit_3() {
    let (url, _s) = serve(|_, _, _| {
        std::thread::sleep(Duration::from_secs(4));
        bytes(demo("000-goroutine.pb.gz"))
    });
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound().args(["watch", &url, "--timeout", "1s", "--retries", "0", "--count", "2", "--quiet"]).arg("--save").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out after 1 s") && stderr.contains("--timeout"), "{stderr}");
}

#[test]
fn html_page_instead_of_a_profile_exits_3() {
    let (url, _s) = serve(|_, _, _| html(200));
    let out = leakhound().args(["watch", &url, "--count", "2", "--quiet"]).arg("--save").arg(tempfile::tempdir().unwrap().path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTML page instead of a profile"));
}

#[test]
fn failures_mid_watch_are_recorded_and_sampling_goes_on() {
    // Rounds: ok, ok, 502 HTML, cut gzip, ok, ok, ok, ok (8 real profiles, in order).
    let (url, _s) = serve(|i, path, _| {
        if !path.starts_with("/debug/pprof/goroutine") {
            return not_found();
        }
        let file = format!("{:03}-goroutine.pb.gz", i.min(7));
        match i {
            2 => html(502),
            3 => {
                let b = demo(&file);
                bytes(b[..b.len() / 2].to_vec())
            }
            _ => bytes(demo(&file)),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound()
        .args(["watch", &url, "--count", "8", "--interval", "200ms", "--retries", "0", "--format", "json", "--quiet"])
        .arg("--save")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    let errors = doc["errors"].to_string();
    assert!(errors.contains("HTTP 502"), "{errors}");
    assert!(errors.contains("truncated or corrupt gzip"), "{errors}");
    assert!(errors.contains("goroutineleak"), "the missing goroutineleak profile is said once: {errors}");
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 6, "six good rounds");
    assert_eq!(doc["verdict"], "leak");
    // The cut body is still saved as fetched, for a look by hand.
    assert!(dir.path().join("003-goroutine.pb.gz").is_file());
}

#[test]
fn credentials_are_not_forwarded_to_another_host() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let (other, _b) = serve(move |_, _, headers| {
        let auth = headers.iter().any(|h| h.field.equiv("Authorization"));
        seen2.lock().unwrap().push(format!("auth={auth}"));
        bytes(demo("000-goroutine.pb.gz"))
    });
    // Same port, other host name: `localhost` instead of `127.0.0.1`.
    let other = other.replace("127.0.0.1", "localhost");
    let (url, _a) = serve(move |_, path, _| {
        let to = format!("{other}{path}");
        tiny_http::Response::empty(302).with_header(tiny_http::Header::from_bytes("Location", to.as_bytes()).unwrap()).boxed()
    });
    let out = leakhound()
        .args(["watch", &url, "--count", "1", "--quiet", "-H", "Authorization: Bearer top-secret"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the redirect was followed");
    assert!(seen.iter().all(|s| s == "auth=false"), "{seen:?}");
}

#[test]
fn a_slow_goroutineleak_profile_is_fetched_again_only_in_the_last_round() {
    // On a service with 200k goroutines the runtime needs tens of seconds for this profile.
    let (url, _s) = serve(|n, path, _| {
        let round = n.saturating_sub(1).min(7);
        if path.starts_with("/debug/pprof/goroutineleak") {
            std::thread::sleep(Duration::from_millis(600));
            bytes(demo(&format!("{round:03}-goroutineleak.pb.gz")))
        } else if path.starts_with("/debug/pprof/goroutine") {
            bytes(demo(&format!("{round:03}-goroutine.pb.gz")))
        } else {
            not_found()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out =
        leakhound().args(["watch", &url, "--interval", "200ms", "--count", "5", "--quiet", "--format", "json"]).arg("--save").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 5);
    let errors = doc["errors"].to_string();
    assert!(errors.contains("fetched again only in the last round"), "{errors}");
    let mut leak_files: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains("goroutineleak")).collect();
    leak_files.sort();
    assert_eq!(leak_files, ["000-goroutineleak.pb.gz", "004-goroutineleak.pb.gz"]);
    // The last round's proof is used.
    let proven = doc["suspects"].as_array().unwrap().iter().filter(|s| s["gc_proven_leaked"].as_u64().unwrap_or(0) > 0).count();
    assert!(proven >= 7, "{doc:#}");
}
