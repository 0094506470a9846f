//! `leakhound serve` as it is run: over real Go services (tests/goservice) and a simulated fleet
//! (tests/fleetsim, one Go process listening on many ports), scraped over HTTP.

mod common;
mod schema;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{demo, free_port, http_get, raw_server, respond_with, try_http_get, wait_until, Fleetsim, Service};
use serde_json::Value;

/// A running `leakhound serve`, its stderr collected. Dropping it kills it.
struct Serve {
    child: Option<Child>,
    base: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// `leakhound serve ARGS` on a free port.
    fn start(args: &[&str]) -> Serve {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Serve::start_raw(&all)
    }

    /// `leakhound ARGS`, which must listen on port 0.
    fn start_raw(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn leakhound serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(addr) = line.split("listening on ").nth(1).and_then(|s| s.split_whitespace().next()) {
                    let _ = tx.send(addr.to_string());
                }
                collected.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve {args:?} never said where it listens:\n{}", stderr.lock().unwrap());
            }
        };
        Serve { child: Some(child), base, stderr }
    }

    fn get(&self, path: &str) -> common::Response {
        http_get(&format!("{}{path}", self.base), &[])
    }

    fn metrics(&self) -> String {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200);
        r.text()
    }

    fn report(&self) -> Value {
        let r = self.get("/api/v1/report");
        assert_eq!(r.status, 200);
        assert!(r.header("Content-Type").is_some_and(|c| c.starts_with("application/json")));
        serde_json::from_slice(&r.body).expect("JSON report")
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.pid().to_string()]).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to end; its exit status.
    fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve did not exit within {timeout:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One sample of an exposition: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, k: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text format strictly enough to catch a malformed line: every line is a
/// comment (`# HELP`, `# TYPE`, `# EOF`) or `name{label="value",...} number`, label values escaped.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            assert!(c.starts_with("HELP ") || c.starts_with("TYPE ") || c.starts_with("UNIT ") || c == "EOF", "odd comment {line:?}");
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line:?}"));
        let name = &line[..name_end];
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name in {line:?}");
        let mut labels = Vec::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            loop {
                let start = chars.peek().map(|&(i, _)| i).unwrap();
                if r[start..].starts_with('}') {
                    rest = &r[start + 1..];
                    break;
                }
                let eq = r[start..].find("=\"").map(|i| i + start).unwrap_or_else(|| panic!("no label value in {line:?}"));
                let key = &r[start..eq];
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name {key:?} in {line:?}");
                while chars.peek().is_some_and(|&(i, _)| i <= eq + 1) {
                    chars.next();
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some((_, '"')) => break,
                        Some((_, '\n')) | None => panic!("unterminated label value in {line:?}"),
                        Some((_, c)) => value.push(c),
                    }
                }
                labels.push((key.to_string(), value));
                if chars.peek().is_some_and(|&(_, c)| c == ',') {
                    chars.next();
                }
            }
        }
        let value = rest.trim().parse::<f64>().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        out.push(Sample { name: name.to_string(), labels, value });
    }
    out
}

fn samples<'a>(all: &'a [Sample], name: &str, target: &str) -> Vec<&'a Sample> {
    all.iter().filter(|s| s.name == name && s.label("target") == Some(target)).collect()
}

fn value(all: &[Sample], name: &str, target: &str) -> Option<f64> {
    samples(all, name, target).first().map(|s| s.value)
}

/// `promtool check metrics` (Debian's prometheus package, provisioned by the harness) on an exposition.
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new(common::promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool check metrics: {}{}\n{text}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn write_targets(path: &Path, groups: &[(&str, &str)]) {
    let doc: Vec<Value> = groups
        .iter()
        .map(|(addr, job)| serde_json::json!({"targets": [addr.trim_start_matches("http://")], "labels": {"job": job, "env": "test\"quoted\\"}}))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn name_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

#[test]
fn serve_exports_the_leaking_service_and_not_the_benign_one_reloads_and_stops_cleanly() {
    let leaky = Service::start(&["-scenario", "leaky", "-rate", "20"]);
    let benign = Service::start(&["-scenario", "benign"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    write_targets(&file, &[(&leaky.url(), "orders"), (&benign.url(), "payments")]);
    let mut serve = Serve::start(&["--targets", file.to_str().unwrap(), "--interval", "300ms", "--window", "20", "--max-stacks", "5"]);
    let (lname, bname) = (name_of(&leaky.url()), name_of(&benign.url()));

    assert_eq!(serve.get("/-/healthy").status, 200);
    assert!(wait_until(Duration::from_secs(20), || serve.get("/-/ready").status == 200), "never ready:\n{}", serve.stderr());

    // The leaks show once the window holds a trend.
    let leaking = |all: &[Sample]| samples(all, "leakhound_suspect_goroutines", &lname).into_iter().filter(|s| s.label("verdict") == Some("leak")).count();
    let mut text = String::new();
    let found = wait_until(Duration::from_secs(30), || {
        text = serve.metrics();
        leaking(&parse_exposition(&text)) >= 3
    });
    assert!(found, "no leak series for {lname}:\n{text}\n{}", serve.stderr());
    let all = parse_exposition(&text);
    promtool_check(&text);
    let leak_series = samples(&all, "leakhound_suspect_goroutines", &lname);
    assert!(leak_series.len() <= 5, "--max-stacks 5 bounds the series: {leak_series:?}");
    for s in &leak_series {
        assert_eq!(s.label("job"), Some("orders"));
        assert_eq!(s.label("env"), Some("test\"quoted\\"), "label values escaped and read back");
        assert!(s.label("leaf").is_some_and(|l| l.starts_with("main.")) && s.label("pattern").is_some() && s.value > 0.0, "{s:?}");
    }
    assert!(samples(&all, "leakhound_suspect_growth_per_minute", &lname).iter().any(|s| s.value > 0.0));
    assert!(
        !samples(&all, "leakhound_suspect_goroutines", &bname).iter().any(|s| s.label("verdict") == Some("leak")),
        "the benign service has no leak series:\n{text}"
    );
    for t in [&lname, &bname] {
        assert_eq!(value(&all, "leakhound_target_up", t), Some(1.0), "{t} up");
        assert!(value(&all, "leakhound_goroutines", t).is_some_and(|g| g > 10.0));
        assert!(value(&all, "leakhound_sample_duration_seconds", t).is_some_and(|d| d > 0.0 && d < 10.0));
        assert_eq!(value(&all, "leakhound_sample_errors_total", t), Some(0.0));
        // How full the window is: a leak needs 3 snapshots, and it never holds more than --window.
        assert!(
            value(&all, "leakhound_window_snapshots", t).is_some_and(|w| (3.0..=20.0).contains(&w)),
            "{t}: {:?}",
            value(&all, "leakhound_window_snapshots", t)
        );
    }
    assert!(all.iter().any(|s| s.name == "leakhound_targets" && s.value == 2.0));
    assert!(all.iter().any(|s| s.name == "leakhound_rounds_total" && s.value >= 4.0));

    // OpenMetrics on request.
    let om = http_get(&format!("{}/metrics", serve.base), &[("Accept", "application/openmetrics-text; version=1.0.0")]);
    assert!(om.header("Content-Type").is_some_and(|c| c.starts_with("application/openmetrics-text")));
    assert!(om.text().ends_with("# EOF\n"));
    parse_exposition(&om.text());

    // The pages and the JSON.
    let page = serve.get(&format!("/targets/{lname}"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("main.forgottenSender") && page.text().contains("<html"), "the target's report page");
    let overview = serve.get("/");
    assert_eq!(overview.status, 200);
    assert!(overview.text().contains(&format!("/targets/{lname}")));
    assert_eq!(serve.get("/targets/nobody:1").status, 404);
    assert_eq!(serve.get("/nothing-here").status, 404);
    let report = serve.report();
    schema::validate(&report);
    assert_eq!(report["schema"], "leakhound.fleet/v1");
    let targets = report["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2);
    // The fleet summary names the leaking service by its job label, and not the benign one.
    let services: Vec<&str> = report["services"].as_array().unwrap().iter().filter(|s| s["verdict"] == "leak").filter_map(|s| s["service"].as_str()).collect();
    assert_eq!(services, ["orders"], "{report:#}");
    let leaky_report = targets.iter().find(|t| t["name"] == lname.as_str()).unwrap();
    assert_eq!(leaky_report["report"]["verdict"], "leak");
    let window_before = leaky_report["report"]["snapshots"].as_array().unwrap().len();

    // Reload by editing the file: the benign service goes, a port nobody listens on comes; the
    // leaking service keeps its window.
    let dead = format!("127.0.0.1:{}", free_port());
    write_targets(&file, &[(&leaky.url(), "orders"), (&dead, "gone")]);
    let mut errors_seen = Vec::new();
    let reloaded = wait_until(Duration::from_secs(20), || {
        let all = parse_exposition(&serve.metrics());
        if let Some(e) = value(&all, "leakhound_sample_errors_total", &dead) {
            errors_seen.push(e);
        }
        value(&all, "leakhound_target_up", &dead) == Some(0.0) && value(&all, "leakhound_target_up", &bname).is_none() && errors_seen.iter().any(|&e| e >= 2.0)
    });
    assert!(reloaded, "after the edit: {errors_seen:?}\n{}\n{}", serve.metrics(), serve.stderr());
    assert!(errors_seen.windows(2).all(|w| w[1] >= w[0]), "a counter never goes down: {errors_seen:?}");
    let report = serve.report();
    let leaky_report = report["targets"].as_array().unwrap().iter().find(|t| t["name"] == lname.as_str()).unwrap().clone();
    assert!(leaky_report["report"]["snapshots"].as_array().unwrap().len() >= window_before, "the window stayed");
    let dead_report = report["targets"].as_array().unwrap().iter().find(|t| t["name"] == dead.as_str()).unwrap().clone();
    assert!(dead_report["error"].as_str().is_some_and(|e| e.contains("refused")), "{dead_report}");
    assert_eq!(dead_report["outcome"], "unsampled");
    schema::validate(&report);
    assert!(serve.stderr().contains("the targets file changed"));

    // SIGTERM: exit 0, the listener closed.
    serve.signal("TERM");
    let status = serve.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}:\n{}", serve.stderr());
    assert!(try_http_get(&format!("{}/-/healthy", serve.base), &[]).is_err(), "the listener is closed");
}

#[test]
fn sighup_reads_the_targets_again_at_once() {
    let svc = Service::start(&["-scenario", "benign"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    write_targets(&file, &[(&svc.url(), "one")]);
    // Rounds an hour apart: only the signal can bring the change in before the next one.
    let mut serve = Serve::start(&["--targets", file.to_str().unwrap(), "--interval", "1h"]);
    let count = |s: &Serve| parse_exposition(&s.metrics()).iter().find(|s| s.name == "leakhound_targets").map(|s| s.value);
    assert_eq!(count(&serve), Some(1.0));
    let other = format!("127.0.0.1:{}", free_port());
    write_targets(&file, &[(&svc.url(), "one"), (&other, "two")]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&serve), Some(1.0), "no reload before the signal (the next round is an hour away)");
    serve.signal("HUP");
    assert!(wait_until(Duration::from_secs(5), || count(&serve) == Some(2.0)), "SIGHUP did not reload:\n{}", serve.stderr());
    assert!(serve.stderr().contains("SIGHUP"));
    // SIGINT stops as SIGTERM does.
    serve.signal("INT");
    assert!(serve.wait(Duration::from_secs(10)).success());
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|n| n.parse().ok()).expect("VmRSS")
}

#[test]
fn memory_stays_flat_over_many_rounds_of_a_fleet() {
    let sim = Fleetsim::start(&["-targets", "40", "-leaking", "8", "-rate", "20"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.json");
    let doc: Vec<Value> = sim
        .targets
        .iter()
        .map(|t| serde_json::json!({"targets": [t.url.trim_start_matches("http://")], "labels": {"job": "fleetsim", "kind": if t.leaking { "leaking" } else { "benign" }}}))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let window = 8;
    let serve = Serve::start(&["--targets", file.to_str().unwrap(), "--interval", "200ms", "--window", &window.to_string(), "--concurrency", "8"]);
    let rounds = |s: &Serve| parse_exposition(&s.metrics()).iter().find(|s| s.name == "leakhound_rounds_total").map_or(0, |s| s.value as u64);
    // Once the windows are full, memory should stop growing.
    assert!(wait_until(Duration::from_secs(30), || rounds(&serve) >= 2 * window as u64), "rounds stalled:\n{}", serve.stderr());
    let warm = rss_kib(serve.pid());
    let mut peak = warm;
    let mut at = |round: u64| {
        assert!(
            wait_until(Duration::from_secs(60), || {
                peak = peak.max(rss_kib(serve.pid()));
                rounds(&serve) >= round
            }),
            "rounds stalled:\n{}",
            serve.stderr()
        );
        rss_kib(serve.pid())
    };
    let first = 2 * window as u64;
    let mid = at(first + 20);
    let end = at(first + 40);
    let all = parse_exposition(&serve.metrics());
    // Every leaking target is found, and no benign one.
    for t in &sim.targets {
        let name = name_of(&t.url);
        assert_eq!(value(&all, "leakhound_target_up", &name), Some(1.0), "{name}");
        let leaks = samples(&all, "leakhound_suspect_goroutines", &name).into_iter().filter(|s| s.label("verdict") == Some("leak")).count();
        assert_eq!(leaks > 0, t.leaking, "{name} (leaking: {}):\n{:?}", t.leaking, samples(&all, "leakhound_suspect_goroutines", &name));
    }
    eprintln!(
        "serve over {} fleetsim targets: VmRSS {warm} KiB after {first} rounds, {mid} KiB 20 rounds later, {end} KiB 40 rounds later, peak {peak} KiB",
        sim.targets.len()
    );
    // Flat: allocator noise, not a per-round leak (40 rounds × 40 targets; a table that kept every
    // frame it was shown grew by ~1 MiB in 20 rounds here).
    assert!(peak <= warm + warm / 8 + 2048, "VmRSS grew from {warm} KiB to {peak} KiB over 40 rounds");
    assert!(end <= mid + 768, "VmRSS still growing: {mid} KiB, then {end} KiB 20 rounds later");
}

#[test]
fn the_readme_serve_examples_run() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("### `serve`").nth(1).expect("a serve section").split("\n### ").next().unwrap();
    let block = section.split("```console\n").nth(1).expect("a console block").split("```").next().unwrap();
    let commands: Vec<&str> = block.lines().filter(|l| l.starts_with("leakhound serve ")).collect();
    assert_eq!(commands.len(), 2, "{block}");
    let (a, b) = (Service::start(&["-scenario", "benign"]), Service::start(&["-scenario", "benign"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    write_targets(&file, &[(&a.url(), "orders")]);
    for command in commands {
        // The example as written, on the test services and a free port.
        let mut args: Vec<String> = command
            .split_whitespace()
            .skip(1)
            .map(|w| w.replace("http://127.0.0.1:6060", &a.url()).replace("http://127.0.0.1:6061", &b.url()).replace("targets.json", file.to_str().unwrap()))
            .collect();
        match args.iter().position(|w| w == "--listen") {
            Some(i) => args[i + 1] = "127.0.0.1:0".into(),
            None => args.extend(["--listen".into(), "127.0.0.1:0".into()]),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut serve = Serve::start_raw(&args);
        assert!(wait_until(Duration::from_secs(20), || serve.get("/-/ready").status == 200), "`{command}` never ready:\n{}", serve.stderr());
        let all = parse_exposition(&serve.metrics());
        assert!(all.iter().filter(|s| s.name == "leakhound_target_up").all(|s| s.value == 1.0), "`{command}`");
        serve.signal("TERM");
        assert!(serve.wait(Duration::from_secs(10)).success(), "`{command}`:\n{}", serve.stderr());
    }
}

#[test]
fn a_target_that_goes_away_leaves_metrics_and_starts_afresh_when_it_comes_back() {
    let mut svc = Service::start(&["-scenario", "leaky", "-rate", "20"]);
    let port = svc.port();
    let name = name_of(&svc.url());
    let serve = Serve::start(&[&svc.url(), "--interval", "250ms", "--window", "40", "--timeout", "2s", "--retries", "0"]);
    let target = |s: &Serve| s.report()["targets"].as_array().unwrap().iter().find(|t| t["name"] == name.as_str()).cloned().unwrap();
    let up = |s: &Serve| value(&parse_exposition(&s.metrics()), "leakhound_target_up", &name);
    let suspects = |s: &Serve| samples(&parse_exposition(&s.metrics()), "leakhound_suspect_goroutines", &name).len();
    let snapshots = |t: &Value| t["report"]["snapshots"].as_array().map_or(0, Vec::len);
    assert!(wait_until(Duration::from_secs(30), || snapshots(&target(&serve)) >= 8 && suspects(&serve) >= 1), "{}", serve.stderr());
    let before = snapshots(&target(&serve));
    // The service goes away: at the next round its suspects leave /metrics, its target_up 0 stays.
    svc.kill();
    assert!(wait_until(Duration::from_secs(10), || up(&serve) == Some(0.0)), "{}", serve.stderr());
    let metrics = serve.metrics();
    assert_eq!(samples(&parse_exposition(&metrics), "leakhound_suspect_goroutines", &name).len(), 0, "a gone target's suspects stay:\n{metrics}");
    assert_eq!(value(&parse_exposition(&metrics), "leakhound_target_up", &name), Some(0.0));
    // It comes back on the same port, from nothing: a new run, and the window starts afresh with it.
    let _svc = Service::start_on(port, &["-scenario", "leaky", "-rate", "20"]);
    let afresh = |t: &Value| t["report"]["errors"].as_array().is_some_and(|e| e.iter().any(|e| e.as_str().is_some_and(|e| e.contains("starts afresh"))));
    assert!(wait_until(Duration::from_secs(20), || up(&serve) == Some(1.0) && afresh(&target(&serve))), "{:#}\n{}", target(&serve), serve.stderr());
    let t = target(&serve);
    let report = &t["report"];
    schema::validate(&serve.report());
    assert!(snapshots(&t) < before, "the window still holds the run that went away: {} snapshots", snapshots(&t));
    assert!(report["restarts"].as_array().is_none_or(|r| r.is_empty()), "{report:#}");
    assert!(report["failed_rounds"].as_array().is_some_and(|f| !f.is_empty()), "the outage's last round is recorded: {report:#}");
}

#[test]
fn a_slow_target_does_not_hold_up_the_others() {
    // Accepts, reads the request, and never answers.
    let stalled = raw_server(|_, _| std::thread::sleep(Duration::from_secs(60))).url;
    let svc = Service::start(&["-scenario", "benign"]);
    let serve = Serve::start(&[&stalled, &svc.url(), "--interval", "200ms", "--timeout", "3s", "--retries", "0", "--concurrency", "2"]);
    let (slow, fast) = (name_of(&stalled), name_of(&svc.url()));
    let start = Instant::now();
    let rounds_of = |all: &[Sample]| all.iter().find(|s| s.name == "leakhound_rounds_total").map_or(0.0, |s| s.value);
    assert!(wait_until(Duration::from_secs(20), || value(&parse_exposition(&serve.metrics()), "leakhound_target_up", &slow) == Some(0.0)));
    let all = parse_exposition(&serve.metrics());
    // The stalled target's fetch ran into its timeout; meanwhile the other was sampled every round.
    assert!(start.elapsed() >= Duration::from_secs(2), "the stalled fetch waited for its timeout");
    let fast_snapshots = serve.report()["targets"].as_array().unwrap().iter().find(|t| t["name"] == fast.as_str()).unwrap()["report"]["snapshots"]
        .as_array()
        .map_or(0, Vec::len);
    // Held up, it would have had one snapshot per stalled fetch (3 s); it had one most rounds.
    assert!(fast_snapshots >= 6, "{fast_snapshots} snapshots in {} rounds", rounds_of(&all));
    assert!(value(&all, "leakhound_sample_duration_seconds", &slow).is_some_and(|d| (2.5..10.0).contains(&d)), "{all:?}");
    assert!(value(&all, "leakhound_sample_duration_seconds", &fast).is_some_and(|d| d < 2.0));
    // A stalled target is asked once at a time, not once a round: the queue never piles up.
    assert!(value(&all, "leakhound_sample_errors_total", &slow).is_some_and(|e| e <= 2.0), "{all:?}");
}

/// The bundled demo series (real captures of tests/goservice), its function and file names made
/// hostile: escape codes, newlines, quotes, markup, a NUL, bidirectional controls.
fn hostile_demo_series() -> Vec<Vec<u8>> {
    use prost::Message;
    use std::io::Write;
    const EVIL: &str = "main.worker\n\x1b]0;pwned\x07\x1b[2J\rPWNED\"} 1\nleakhound_target_up{x=\"y <b>x</b> `y` \0 \u{202e}\u{9b}31m";
    (0..8)
        .map(|i| {
            let gz = demo(&format!("{i:03}-goroutine.pb.gz"));
            let raw = leakhound::profile::gunzip(&gz, 1 << 30).unwrap();
            let mut p = leakhound::proto::Profile::decode(&raw[..]).unwrap();
            let names: Vec<i64> = p.function.iter().map(|f| f.name).collect();
            for (k, s) in p.string_table.iter_mut().enumerate() {
                if s.starts_with("main.") && names.contains(&(k as i64)) {
                    *s = format!("{s}{EVIL}");
                } else if s.ends_with(".go") {
                    *s = format!("{s}\x1b[2J\n/tmp/PWNED.go");
                }
            }
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&p.encode_to_vec()).unwrap();
            e.finish().unwrap()
        })
        .collect()
}

#[test]
fn hostile_names_from_a_target_are_escaped_everywhere() {
    let series = hostile_demo_series();
    // The 8 rounds, then the last one again and again: the window keeps the rising series.
    let answered = AtomicUsize::new(0);
    let url = raw_server(move |_, s| {
        let n = answered.fetch_add(1, Ordering::SeqCst).min(series.len() - 1);
        respond_with(s, &series[n])
    })
    .url;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(&file, format!(r#"[{{"targets": ["{}"], "labels": {{"job": "a\"b\\c</td><script>x</script>\u001b[31m"}}}}]"#, name_of(&url))).unwrap();
    let serve = Serve::start(&["--targets", file.to_str().unwrap(), "--interval", "100ms", "--retries", "0"]);
    let name = name_of(&url);
    let mut text = String::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            text = serve.metrics();
            samples(&parse_exposition(&text), "leakhound_suspect_goroutines", &name).len() >= 3
        }),
        "{text}\n{}",
        serve.stderr()
    );
    text = serve.metrics();
    assert!(samples(&parse_exposition(&text), "leakhound_suspect_goroutines", &name).len() >= 3, "{text}");
    promtool_check(&text);
    let all = parse_exposition(&text);
    assert_eq!(all.iter().filter(|s| s.name == "leakhound_target_up").count(), 1, "no forged series:\n{text}");
    for s in samples(&all, "leakhound_suspect_goroutines", &name) {
        let leaf = s.label("leaf").unwrap();
        assert!(leaf.contains("PWNED") && leaf.contains("\\x1b"), "shown as text: {leaf:?}");
        assert!(!leaf.chars().any(|c| c.is_control() || c == '\u{202e}'), "no control character in a label: {leaf:?}");
        assert!(s.label("job").unwrap().contains("\\x1b[31m"));
    }
    for path in ["/".to_string(), format!("/targets/{name}")] {
        let page = serve.get(&path).text();
        assert!(page.contains("PWNED") || path == "/", "{path}:\n{page}");
        for raw in ["<b>x</b>", "<script>x</script>", "\x1b", "\0", "\u{202e}"] {
            assert!(!page.contains(raw), "{path} holds {raw:?} raw");
        }
    }
    schema::validate(&serve.report());
}

#[test]
fn shards_split_the_targets_between_instances() {
    // Nobody listens on these ports: each target only has to be listed, not sampled.
    let urls: Vec<String> = (0..9).map(|_| format!("http://127.0.0.1:{}", free_port())).collect();
    let mut seen = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
        args.extend(["--shard", &shard, "--interval", "1h", "--retries", "0", "--timeout", "1s"]);
        let serve = Serve::start(&args);
        let all = parse_exposition(&serve.metrics());
        let mine: Vec<String> =
            all.iter().filter(|s| s.name == "leakhound_sample_errors_total").filter_map(|s| s.label("target").map(str::to_string)).collect();
        let count = all.iter().find(|s| s.name == "leakhound_targets").map(|s| s.value as usize);
        assert_eq!(count, Some(mine.len()));
        let kept: leakhound::source::targets::Shard = shard.parse().unwrap();
        for u in &urls {
            let t = leakhound::source::targets::from_urls(std::slice::from_ref(u)).unwrap().remove(0);
            assert_eq!(mine.contains(&t.name), kept.keeps(&t), "{u} in shard {shard}");
        }
        seen.extend(mine);
    }
    seen.sort();
    let mut all: Vec<String> = urls.iter().map(|u| name_of(u)).collect();
    all.sort();
    assert_eq!(seen, all, "every target in exactly one shard");
}

#[test]
fn goroutineleak_proof_makes_a_leak_without_a_trend() {
    let proving = Service::start(&["-scenario", "leaky", "-rate", "20"]);
    let old_go = Service::start(&["-scenario", "leaky", "-rate", "20", "-serve-goroutineleak=false"]);
    // A window of 3 snapshots can never show a leak from growth (that needs 4): every leak
    // listed is the runtime's proof.
    let serve = Serve::start(&[&proving.url(), &old_go.url(), "--window", "3", "--interval", "300ms", "--goroutineleak"]);
    let (p, o) = (name_of(&proving.url()), name_of(&old_go.url()));
    let leaks = |all: &[Sample], t: &str| samples(all, "leakhound_suspect_goroutines", t).into_iter().filter(|s| s.label("verdict") == Some("leak")).count();
    let mut all = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            all = parse_exposition(&serve.metrics());
            leaks(&all, &p) >= 5 && rounds_at_least(&all, 5)
        }),
        "{all:?}\n{}",
        serve.stderr()
    );
    assert_eq!(leaks(&all, &o), 0, "without the proof, 3 snapshots show no leak");
    let report = serve.report();
    schema::validate(&report);
    let target = |name: &str| report["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    let proven = target(&p)["report"]["suspects"].as_array().unwrap().iter().filter(|s| s["gc_proven_leaked"].as_u64().is_some_and(|n| n > 0)).count();
    assert!(proven >= 5, "{:#}", target(&p));
    let errors = target(&o)["report"]["errors"].to_string();
    assert!(errors.contains("does not serve /debug/pprof/goroutineleak"), "{errors}");
}

fn rounds_at_least(all: &[Sample], n: u64) -> bool {
    all.iter().any(|s| s.name == "leakhound_rounds_total" && s.value >= n as f64)
}
