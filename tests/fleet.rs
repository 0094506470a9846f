//! Many targets in one run: targets files, shards, and `watch`/`check` over a fleet of real Go
//! services.

mod common;

use std::path::Path;

use leakhound::source::targets::{self, Shard};

/// `--shard I/N` splits a fleet exactly as Prometheus' `hashmod` relabelling does: the shard of
/// every address is compared with what Prometheus' algorithm, run in Go, computes.
#[test]
fn shards_match_prometheus_hashmod_computed_in_go() {
    let mut addresses: Vec<String> = (0..200).map(|i| format!("10.1.{}.{}:{}", i / 50, i % 50, 6060 + i % 3)).collect();
    addresses.extend(["127.0.0.1:6060", "localhost:9464", "orders-3.orders.prod.svc:6060", "[::1]:6060", "[2001:db8::7]:8080", "h"].map(String::from));
    let moduli = [1u64, 2, 3, 5, 16, 1_000_003];
    let out = common::go_command(&common::go())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet"))
        .args(["run", "hashmod.go", "-moduli", &moduli.map(|m| m.to_string()).join(",")])
        .args(&addresses)
        .output()
        .expect("go run hashmod.go");
    assert!(out.status.success(), "go run hashmod.go: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), addresses.len(), "{text}");
    let file: String = format!("[{{\"targets\": [{}]}}]", addresses.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", "));
    let list = targets::parse(&file, true, "t.json").unwrap();
    assert_eq!(list.len(), addresses.len());
    let mut checked = 0;
    for (target, line) in list.iter().zip(&lines) {
        let mut fields = line.split(' ');
        assert_eq!(fields.next(), Some(target.name.as_str()));
        for (&count, go_shard) in moduli.iter().zip(fields) {
            let go_shard: u64 = go_shard.parse().unwrap();
            for index in 0..count.min(16) {
                let shard = Shard { index, count };
                assert_eq!(shard.keeps(target), index == go_shard, "{} in shard {shard}: Go says {go_shard}", target.name);
                checked += 1;
            }
            assert_eq!(targets::hashmod(&target.name, count), go_shard);
        }
    }
    assert!(checked > 5000, "{checked}");
}

mod schema;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Service;
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn name_of(svc: &Service) -> String {
    format!("127.0.0.1:{}", svc.port())
}

/// Two replicas of a leaking service, one benign service and a port nobody listens on, listed in
/// a file_sd file with job labels: the check fails, the fleet summary merges each leak across the
/// two replicas of `orders`, the benign service is not listed, the dead target is reported (and a
/// fleet with a dead target never passes), and each target gets its own snapshot folder.
#[test]
fn check_over_a_fleet_merges_replicas_and_never_passes_a_dead_target() {
    let leaky = ["-scenario", "leaky", "-rate", "10", "-load", "0", "-burst-every", "0"];
    let (a, b) = (Service::start(&leaky), Service::start(&leaky));
    let benign = Service::start(&["-scenario", "benign", "-load", "0", "-burst-every", "0"]);
    let dead = format!("127.0.0.1:{}", common::free_port());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    std::fs::write(
        &file,
        format!(
            "# as Prometheus reads it\n- targets: ['{}', '{}']\n  labels:\n    job: orders\n    __meta_zone: a\n- targets: ['{}']\n  labels: {{job: catalog}}\n- targets: ['{dead}']\n  labels: {{job: broken}}\n",
            name_of(&a),
            name_of(&b),
            name_of(&benign)
        ),
    )
    .unwrap();
    let save = dir.path().join("snaps");
    let report = dir.path().join("fleet.json");
    let out = leakhound()
        .args(["check", "--targets"])
        .arg(&file)
        .args(["--interval", "500ms", "--count", "6", "--retries", "0", "--timeout", "3s", "--no-heap", "--format", "json", "--quiet", "--save"])
        .arg(&save)
        .arg("--output")
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED (2 of 4 targets)") && stderr.contains(&format!("{dead}: ")) && stderr.contains("could not be sampled"), "{stderr}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["schema"], "leakhound.fleet/v1");
    assert_eq!(doc["outcome"], "leak");
    assert_eq!((doc["targets_total"].as_u64(), doc["targets_sampled"].as_u64()), (Some(4), Some(3)));
    assert_eq!(doc["unsampled"], serde_json::json!([dead]));

    // The summary: orders leaks on both replicas, every leak merged into one line; catalog is not listed.
    let services = doc["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "only orders leaks: {:#}", doc["services"]);
    let orders = &services[0];
    assert_eq!((orders["service"].as_str(), orders["label"].as_str()), (Some("orders"), Some("job")));
    assert_eq!((orders["replicas"].as_u64(), orders["sampled"].as_u64(), orders["affected"].as_u64()), (Some(2), Some(2), Some(2)));
    for (leaf, blocking) in common::LEAKY_SCENARIO {
        let stacks: Vec<&Value> = orders["stacks"].as_array().unwrap().iter().filter(|s| s["leaf"] == leaf).collect();
        assert_eq!(stacks.len(), 1, "{leaf} is one merged stack: {:#}", orders["stacks"]);
        let s = stacks[0];
        assert_eq!((s["verdict"].as_str(), s["blocking"].as_str()), (Some("leak"), Some(blocking)), "{s:#}");
        assert_eq!((s["replicas"].as_u64(), s["of_replicas"].as_u64()), (Some(2), Some(2)), "{s:#}");
        let names: Vec<&str> = s["targets"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, [name_of(&a), name_of(&b)]);
        let each = s["growth_per_minute"].as_f64().unwrap();
        assert!(each > 20.0, "{s:#}");
        assert_eq!(s["summary"].as_str().unwrap(), format!("leaking in 2 of 2 replicas of orders, {each:+.1}/min each"));
    }

    // One section per target: the leak report as `check URL` writes it, or the error.
    let sections = doc["targets"].as_array().unwrap();
    let names: Vec<&str> = sections.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, [name_of(&a), name_of(&b), name_of(&benign), dead.clone()]);
    for t in &sections[..2] {
        assert_eq!(t["outcome"], "leak");
        assert_eq!(t["labels"], serde_json::json!({"job": "orders"}), "__ labels are not the target's");
        assert_eq!(t["report"]["schema"], "leakhound.report/v1");
        assert_eq!(t["report"]["snapshots"].as_array().unwrap().len(), 6);
        assert!(!t["failing"].as_array().unwrap().is_empty());
    }
    assert_eq!(sections[2]["outcome"], "clean", "{:#}", sections[2]["report"]);
    assert_eq!(sections[2]["report"]["suspects"], serde_json::json!([]));
    assert_eq!(sections[3]["outcome"], "unsampled");
    assert!(sections[3]["error"].as_str().unwrap().contains("connection refused"), "{:#}", sections[3]);
    assert!(sections[3].get("report").is_none());

    // --save: one folder per sampled target inside DIR, each a snapshot folder `analyze` reads.
    let mut folders: Vec<String> = std::fs::read_dir(&save).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    let mut expected: Vec<String> = [&a, &b, &benign].iter().map(|s| format!("127.0.0.1_{}", s.port())).collect();
    expected.sort();
    assert_eq!(folders, expected, "no folder for the dead target");
    assert_eq!(sections[0]["saved_to"].as_str().unwrap(), save.join(format!("127.0.0.1_{}", a.port())).display().to_string());
    let again = leakhound().args(["analyze", "--format", "json"]).arg(save.join(format!("127.0.0.1_{}", b.port()))).output().unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["suspects"].as_array().unwrap().len(), sections[1]["report"]["suspects"].as_array().unwrap().len());

    // The rest run at once: the other formats, a baseline, a fleet with a dead target.
    let run = |args: &[&str], save: &str| {
        leakhound()
            .args(args)
            .args(["--no-heap", "--quiet", "--save"])
            .arg(dir.path().join(save))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a_url, b_url, benign_url) = (a.url(), b.url(), benign.url());
    let formats: Vec<(&str, &str, std::process::Child)> =
        [("text", "leaking in 2 of 2 replicas of orders"), ("markdown", "| orders |"), ("html", "leaking in 2 of 2 replicas")]
            .into_iter()
            .map(|(format, needle)| {
                (
                    format,
                    needle,
                    run(
                        &["check", &a_url, &b_url, "--interval", "300ms", "--count", "4", "--format", format, "--group-by-label", "job"],
                        &format!("snaps-{format}"),
                    ),
                )
            })
            .collect();
    // --baseline with a fleet report: each target is judged against its own section. Here only the
    // first replica is in it, with its leaks accepted (their growth made ten times this run's, so
    // none grows faster now): it passes, while the second, not in the baseline, fails alone.
    let mut accepted: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let first = accepted["targets"][0].clone();
    accepted["targets"] = serde_json::json!([first]);
    for s in accepted["targets"][0]["report"]["suspects"].as_array_mut().unwrap() {
        s["growth_per_minute"] = serde_json::json!(s["growth_per_minute"].as_f64().unwrap() * 10.0);
    }
    let accepted_path = dir.path().join("accepted.json");
    std::fs::write(&accepted_path, accepted.to_string()).unwrap();
    let accepted_path = accepted_path.display().to_string();
    let baseline = run(&["check", &a_url, &b_url, "--interval", "300ms", "--count", "4", "--format", "json", "--baseline", &accepted_path], "snaps-baseline");
    // A fleet with a dead target never passes: benign + dead is exit 3, not 0.
    let with_dead = run(&["check", &benign_url, &dead, "--interval", "300ms", "--count", "4", "--retries", "0", "--format", "json"], "snaps-2");

    for (format, needle, child) in formats {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        // URLs carry no labels: each target is its own service.
        let own = format!("leaking in {}", name_of(&a));
        assert!(text.contains(&own) || (format == "markdown" && text.contains(&name_of(&a))), "{format}: {text}");
        assert!(!text.contains(needle), "{format}: no job label, no replicas of orders");
    }

    let out = baseline.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED (1 of 2 targets)") && !stderr.contains(&format!("{}: #", name_of(&a))), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["targets"][0]["failing"], serde_json::json!(null), "{:#}", doc["targets"][0]);
    assert!(
        doc["targets"][0]["report"]["errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains("in the baseline")),
        "{:#}",
        doc["targets"][0]
    );
    assert!(!doc["targets"][1]["failing"].as_array().unwrap().is_empty());

    let out = with_dead.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["outcome"], "unsampled");
}

/// A pprof server that serves a real goroutine profile after `delay`, counting the requests in
/// flight across all such servers (`in_flight`, highest in `peak`) and noting when each came.
fn counting_server(delay: Duration, in_flight: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let profile = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go127/goroutine-before.pb.gz")).unwrap();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = arrivals.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            if request.url() != "/debug/pprof/goroutine" {
                let _ = request.respond(tiny_http::Response::empty(404));
                continue;
            }
            noted.lock().unwrap().push(Instant::now());
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(delay);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = request.respond(tiny_http::Response::from_data(profile.clone()));
        }
    });
    (addr, arrivals)
}

/// `--concurrency N`: never more than N fetches in flight across the fleet, and N are used.
#[test]
fn concurrency_bounds_the_fetches_in_flight() {
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let servers: Vec<(String, _)> = (0..5).map(|_| counting_server(Duration::from_millis(150), in_flight.clone(), peak.clone())).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound()
        .arg("watch")
        .args(servers.iter().map(|(a, _)| a))
        .args(["--concurrency", "2", "--interval", "400ms", "--count", "3", "--quiet", "--format", "json", "--save"])
        .arg(dir.path().join("s"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["targets_sampled"], 5);
    assert!(servers.iter().all(|(_, arrivals)| arrivals.lock().unwrap().len() == 3));
    assert_eq!(peak.load(Ordering::SeqCst), 2, "at most 2 in flight, and 2 were");
}

/// A target that accepts connections and never answers holds one fetch slot until --timeout; the
/// others keep their schedule meanwhile, and it is reported as not sampled.
#[test]
fn a_target_that_never_answers_does_not_delay_the_others() {
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let servers: Vec<(String, Arc<Mutex<Vec<Instant>>>)> =
        (0..2).map(|_| counting_server(Duration::from_millis(20), in_flight.clone(), peak.clone())).collect();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in silent.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = leakhound()
        .args(["watch", &silent_addr, &servers[0].0, &servers[1].0, "--interval", "300ms", "--count", "5", "--timeout", "4s", "--retries", "0"])
        .args(["--quiet", "--format", "json", "--save"])
        .arg(dir.path().join("s"))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["unsampled"], serde_json::json!([silent_addr]));
    assert!(doc["targets"][0]["error"].as_str().unwrap().contains("timed out"), "{:#}", doc["targets"][0]);
    assert!(took >= Duration::from_secs(4), "the silent target was given its whole --timeout");
    for (addr, arrivals) in &servers {
        let at = arrivals.lock().unwrap();
        assert_eq!(at.len(), 5, "{addr}");
        // On schedule: 5 fetches 300 ms apart take 1.2 s, well inside the silent target's 4 s.
        let span = at[4] - at[0];
        assert!(span < Duration::from_millis(2500), "{addr}: its 5 fetches took {span:?}, delayed by the silent target");
    }
}

/// Everything wrong with a fleet's targets is said before any sampling, with exit 2.
#[test]
fn wrong_targets_are_refused_before_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let with_url = write("url.yml", "- targets: ['127.0.0.1:1']\n- targets: ['http://127.0.0.1:2']\n");
    let empty = write("empty.json", "[]");
    let twice = write("twice.yml", "- targets: ['127.0.0.1:1']\n  labels: {job: a}\n- targets: ['127.0.0.1:1']\n  labels: {job: b}\n");
    let good = write("good.yml", "- targets: ['127.0.0.1:1']\n");
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(occupied.join("x")).unwrap();
    let missing = dir.path().join("missing.yml").display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["watch".into(), "--targets".into(), missing], "missing.yml"),
        (vec!["watch".into(), "--targets".into(), with_url], "line 2"),
        (vec!["check".into(), "--targets".into(), empty], "lists no target"),
        (vec!["watch".into(), "--targets".into(), twice], "target groups 1 and 2"),
        (vec!["watch".into(), "--targets".into(), good.clone(), "127.0.0.1:1".into()], "give it once"),
        (vec!["check".into(), "--targets".into(), good.clone(), "tests/fixtures".into()], "not a URL"),
        (vec!["watch".into(), "127.0.0.1:1".into(), "127.0.0.1:2".into(), "--format".into(), "dot".into()], "--format html"),
        (vec!["check".into(), "127.0.0.1:1".into(), "127.0.0.1:2".into(), "--count".into(), "3".into()], "at least 4 snapshots"),
        (vec!["watch".into(), "--targets".into(), good, "--save".into(), occupied.display().to_string()], "not empty"),
        (vec!["watch".into(), "127.0.0.1:1".into(), "127.0.0.1:2".into(), "--concurrency".into(), "0".into()], "concurrency"),
    ];
    for (args, needle) in cases {
        let out = leakhound().args(&args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Ctrl-C ends every target's sampling at once, even one stalled in a fetch, and the fleet report
/// is still written with what was taken.
#[test]
fn ctrl_c_ends_the_whole_fleet_and_still_writes_the_report() {
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let servers: Vec<(String, Arc<Mutex<Vec<Instant>>>)> =
        (0..2).map(|_| counting_server(Duration::from_millis(10), in_flight.clone(), peak.clone())).collect();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let mut watch = leakhound()
        .args([
            "watch",
            &servers[0].0,
            &servers[1].0,
            &silent_addr,
            "--interval",
            "200ms",
            "--count",
            "1000",
            "--timeout",
            "60s",
            "--quiet",
            "--format",
            "json",
        ])
        .arg("--save")
        .arg(dir.path().join("s"))
        .arg("--output")
        .arg(&report)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let asked = Instant::now();
    let _ = Command::new("kill").args(["-INT", &watch.id().to_string()]).status();
    let status = watch.wait().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5), "stopped at once, not after the silent target's 60 s timeout");
    assert!(status.success(), "{status:?}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    schema::validate(&doc);
    for (i, (addr, arrivals)) in servers.iter().enumerate() {
        let t = &doc["targets"][i];
        let n = t["report"]["snapshots"].as_array().unwrap().len();
        assert!((3..=10).contains(&n), "{addr}: {n} snapshots");
        // A fetch in flight at the signal is abandoned: at most one request more than snapshots.
        let asked = arrivals.lock().unwrap().len();
        assert!(asked == n || asked == n + 1, "{addr}: {asked} requests, {n} snapshots");
        assert!(t["report"]["errors"].to_string().contains("interrupted"), "{t:#}");
    }
    assert_eq!(doc["unsampled"], serde_json::json!([silent_addr]));
    assert!(doc["targets"][2]["error"].as_str().unwrap().contains("interrupted"), "{:#}", doc["targets"][2]);
}
