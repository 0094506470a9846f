//! One moment in many forms, and files in time order, run as a user would: against the real Go
//! test service (tests/goservice) and the bundled captures of it.
//!
//! - Inputs are placed by the profiles' own time, not by the order given: a shell glob that puts
//!   `after` before `before`, or `10` before `2`, makes no fake restart.
//! - A `debug=2` dump, a heap or a goroutineleak profile of the same moment as a protobuf snapshot
//!   adds to it instead of becoming a snapshot: a real series shuffled, with such extra files,
//!   ranks as the clean series does.
//! - The same goroutines read from different forms fall in the same group: a SIGQUIT dump and the
//!   served `?debug=2` (and protobuf) of one process show no change, deep stacks included.

mod common;
mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Service;
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Runs leakhound with a JSON report on stdout; the report is checked against the schema.
fn json(args: &[&str], paths: &[PathBuf]) -> Value {
    let out = leakhound().args(args).args(["--format", "json"]).args(paths).output().unwrap();
    assert!(out.status.success(), "leakhound {args:?} {paths:?}: {}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    schema::validate(&doc);
    doc
}

/// What the ranking says: per suspect its leaf, verdict and counts, in rank order.
fn ranking(doc: &Value) -> Vec<(String, String, Value)> {
    doc["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["leaf"].as_str().unwrap().to_string(), s["verdict"].as_str().unwrap().to_string(), s["counts"].clone()))
        .collect()
}

fn errors(doc: &Value) -> Vec<String> {
    doc["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect()
}

fn sources(doc: &Value) -> Vec<String> {
    doc["snapshots"].as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap().to_string()).collect()
}

#[test]
fn files_are_read_in_their_own_time_order() {
    let (before, after) = (fixture("go127/goroutine-before.pb.gz"), fixture("go127/goroutine-after.pb.gz"));
    let clean = json(&["analyze"], &[before.clone(), after.clone()]);
    assert!(clean["restarts"].is_null(), "{clean:#}");
    // Two snapshots are a difference, not a trend: no suspect from growth (issue 22). What the
    // order decides is which is first: the goroutines of each snapshot, in order.
    assert!(ranking(&clean).is_empty(), "{clean:#}");
    let goroutines = |doc: &Value| doc["snapshots"].as_array().unwrap().iter().map(|s| s["goroutines"].as_i64().unwrap()).collect::<Vec<_>>();
    assert!(goroutines(&clean)[0] < goroutines(&clean)[1], "{clean:#}");

    // after before: read in time order all the same.
    let swapped = json(&["analyze"], &[after.clone(), before.clone()]);
    assert_eq!(goroutines(&swapped), goroutines(&clean));
    assert_eq!(sources(&swapped), sources(&clean));
    assert!(swapped["restarts"].is_null() && !errors(&swapped).iter().any(|e| e.contains("restarted")), "{swapped:#}");

    // `10` before `2`, as a shell glob or a folder without an index lists them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&before, dir.path().join("2.pb.gz")).unwrap();
    std::fs::copy(&after, dir.path().join("10.pb.gz")).unwrap();
    let globbed = json(&["analyze"], &[dir.path().join("10.pb.gz"), dir.path().join("2.pb.gz")]);
    assert_eq!(goroutines(&globbed), goroutines(&clean));
    assert!(sources(&globbed)[0].ends_with("2.pb.gz"), "{:?}", sources(&globbed));
    let folder = json(&["analyze"], &[dir.path().to_path_buf()]);
    assert_eq!(goroutines(&folder), goroutines(&clean));

    // A text dump has no time of its own: it keeps its place among the others, and the report says so.
    let debug2 = fixture("go127/goroutine-before.debug2.txt");
    let mixed = json(&["analyze"], &[after.clone(), debug2.clone()]);
    let srcs = sources(&mixed);
    assert!(srcs[0].ends_with("goroutine-after.pb.gz") && srcs[1].ends_with("goroutine-before.debug2.txt"), "{srcs:?}");
    assert!(
        errors(&mixed).iter().any(|e| e.contains("goroutine-before.debug2.txt has no time of its own") && e.contains("kept in the place given")),
        "{mixed:#}"
    );

    // Text dumps in a folder without an index: in the order of their numbers, `2` before `10`.
    let texts = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("go127/goroutine-before.debug2.txt"), texts.path().join("dump-2.txt")).unwrap();
    std::fs::copy(fixture("go127/goroutine-after.debug2.txt"), texts.path().join("dump-10.txt")).unwrap();
    let numbered = json(&["analyze"], &[texts.path().to_path_buf()]);
    let srcs = sources(&numbered);
    assert!(srcs[0].ends_with("dump-2.txt") && srcs[1].ends_with("dump-10.txt"), "{srcs:?}");
    assert!(numbered["restarts"].is_null(), "{numbered:#}");
    assert!(errors(&numbered).iter().any(|e| e.contains("dump-2.txt") && e.contains("dump-10.txt") && e.contains("have no time of their own")), "{numbered:#}");

    // diff says when its two files are the wrong way round.
    let d = json(&["diff"], &[after.clone(), before.clone()]);
    assert!(d["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("was taken before")), "{d:#}");
}

/// A deterministic shuffle (the order matters only in that it is not the order taken).
fn shuffle(mut v: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..v.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v.swap(i, (state >> 33) as usize % (i + 1));
    }
    v
}

fn profile_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.ends_with("index.json")).collect();
    v.sort();
    v
}

#[test]
fn one_moment_in_many_forms_ranks_like_the_clean_series() {
    let svc = Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "10", "-burst-every", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("proto"), dir.path().join("text"));
    // Two watches of the same rounds: one takes the protobuf form (with heap and goroutineleak),
    // the other the debug=2 dump (with its own heap and goroutineleak) at the same moments.
    let watch = |save: &Path, extra: &[&str]| {
        leakhound()
            .args(["watch", &svc.url(), "--interval", "1500ms", "--count", "6", "--heap", "--quiet", "--format", "json"])
            .args(extra)
            .arg("--save")
            .arg(save)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (wa, wb) = (watch(&a, &[]), watch(&b, &["--debug2"]));
    for w in [wa, wb] {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let text_dumps = profile_files(&b).into_iter().filter(|p| p.extension().is_some_and(|e| e == "txt")).count();
    assert_eq!(text_dumps, 6, "the debug=2 watch saved its dumps as text");

    let clean = json(&["analyze"], std::slice::from_ref(&a));
    assert_eq!(clean["snapshots"].as_array().unwrap().len(), 6);
    let leaves: Vec<String> = ranking(&clean).into_iter().map(|r| r.0).collect();
    for (leak, _) in common::LEAKY_SCENARIO {
        assert!(leaves.iter().any(|l| l == leak), "{leak} not ranked: {leaves:?}");
    }
    // watch's own debug=2 dump for creation sites (last round) joined its round's snapshot.
    let merged_in = |d: &Value| -> Vec<String> {
        d["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["merged_from"].as_array().cloned().unwrap_or_default())
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    let own = merged_in(&clean);
    assert!(own.len() == 1 && own[0].ends_with("-goroutine-debug2.txt"), "{own:?}");

    // The same files, named one by one in a shuffled order, with the debug=2, heap and
    // goroutineleak files of the other watch.
    let mut all = profile_files(&a);
    all.extend(profile_files(&b));
    let mixed = json(&["analyze"], &shuffle(all));
    assert_eq!(sources(&mixed), sources(&clean), "the same snapshots, in time order: {:#}", mixed["errors"]);
    assert_eq!(ranking(&mixed), ranking(&clean));
    assert!(mixed["restarts"].is_null() && !errors(&mixed).iter().any(|e| e.contains("restarted")), "{:#}", mixed["errors"]);
    assert_eq!(merged_in(&mixed).len(), 7, "every debug=2 dump joined its protobuf snapshot: {:#}", mixed["snapshots"]);
    // ... and brought what only it has: where the leaking goroutines were created.
    let forgotten = |d: &Value| d["suspects"].as_array().unwrap().iter().find(|s| s["leaf"] == "main.forgottenSender").unwrap()["created_by"].clone();
    assert_eq!(forgotten(&mixed)["function"], "main.callWithTimeout", "{:#}", mixed["suspects"]);
    let mut protos_and_text: Vec<PathBuf> = profile_files(&a).into_iter().filter(|p| p.to_string_lossy().ends_with(".pb.gz")).collect();
    assert!(forgotten(&json(&["analyze"], &protos_and_text)).is_null(), "the protobuf form has no creation sites");
    protos_and_text.extend(profile_files(&b).into_iter().filter(|p| p.to_string_lossy().ends_with(".txt")).take(2));
    assert_eq!(forgotten(&json(&["analyze"], &shuffle(protos_and_text)))["function"], "main.callWithTimeout");
    for (c, m) in clean["suspects"].as_array().unwrap().iter().zip(mixed["suspects"].as_array().unwrap()) {
        assert_eq!(c["blocking"], m["blocking"], "{}", c["leaf"]);
        assert_eq!(c["gc_proven_leaked"].is_null(), m["gc_proven_leaked"].is_null(), "{}", c["leaf"]);
    }
    // The heap of each round is the protobuf watch's own (same round of the same folder).
    let heap = |d: &Value| d["snapshots"].as_array().unwrap().iter().map(|s| s["heap_inuse_bytes"].clone()).collect::<Vec<_>>();
    assert_eq!(heap(&mixed), heap(&clean));

    // `check` reads its saved inputs the same way.
    let out = leakhound().args(["check", "--format", "json"]).args(shuffle(profile_files(&a))).output().unwrap();
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ranking(&checked), ranking(&clean));

    // Goroutine files renamed 2, 4, ... 12: a glob lists 10 and 12 before 2.
    let renamed = dir.path().join("renamed");
    std::fs::create_dir(&renamed).unwrap();
    let goroutine_files: Vec<PathBuf> = profile_files(&a).into_iter().filter(|p| p.to_string_lossy().contains("-goroutine.")).collect();
    for (i, p) in goroutine_files.iter().enumerate() {
        std::fs::copy(p, renamed.join(format!("{}.pb.gz", 2 * (i + 1)))).unwrap();
    }
    let in_order = json(&["analyze"], &goroutine_files);
    let globbed = json(&["analyze"], &profile_files(&renamed));
    assert!(sources(&globbed)[0].ends_with("/2.pb.gz"), "{:?}", sources(&globbed));
    assert_eq!(ranking(&globbed), ranking(&in_order));
    assert!(globbed["restarts"].is_null(), "{:#}", globbed["errors"]);
}

/// A diff that must show no change at all.
fn assert_no_change(base: &Path, new: &Path) -> Value {
    let d = json(&["diff"], &[base.to_path_buf(), new.to_path_buf()]);
    assert_eq!(d["changes"].as_array().unwrap().len(), 0, "diff {} {}: {d:#}", base.display(), new.display());
    assert_eq!(d["base_total"], d["new_total"], "{d:#}");
    d
}

/// Fetches a served form again while the service's accept loop is caught between two connections
/// (a real state of the process at that instant, not a difference of forms): at most 10 tries.
fn fetch_settled(svc: &Service, path: &str, reference: Option<&Path>, out: &Path) {
    for _ in 0..10 {
        let body = svc.fetch(path);
        std::fs::write(out, &body).unwrap();
        let settled = match reference {
            // The accept loop is parked again (it has just started this request's goroutine).
            None => String::from_utf8_lossy(&body).split("\n\n").filter(|b| b.contains("net.(*TCPListener).Accept")).all(|b| b.contains("[IO wait")),
            Some(r) => {
                let d = json(&["diff"], &[r.to_path_buf(), out.to_path_buf()]);
                d["changes"].as_array().unwrap().is_empty()
            }
        };
        if settled {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{path}: the service never settled");
}

/// Starts the `forms` scenario under `GOTRACEBACK=traceback`, fetches its served forms into
/// `dir` (`served.txt`, `served.pb.gz`, `served.debug1.txt`), then sends it SIGQUIT and keeps what
/// it printed (`sigquit.log`).
fn served_then_sigquit(traceback: &str, dir: &Path) {
    let file = |n: &str| dir.join(n);
    let mut svc = Service::start_with_env(&["-scenario", "forms"], &[("GOTRACEBACK", traceback)]);
    std::thread::sleep(Duration::from_millis(300)); // every goroutine parked
    fetch_settled(&svc, "/debug/pprof/goroutine?debug=2", None, &file("served.txt"));
    fetch_settled(&svc, "/debug/pprof/goroutine", Some(&file("served.txt")), &file("served.pb.gz"));
    fetch_settled(&svc, "/debug/pprof/goroutine?debug=1", Some(&file("served.txt")), &file("served.debug1.txt"));
    std::thread::sleep(Duration::from_millis(200)); // the last request's goroutines are gone
    let dump = svc.quit();
    std::fs::write(file("sigquit.log"), &dump).unwrap();
}

#[test]
fn sigquit_dump_matches_the_served_forms_of_the_same_process() {
    let tmp = tempfile::tempdir().unwrap();
    for traceback in ["all", "system"] {
        let dir = tmp.path().join(traceback);
        std::fs::create_dir(&dir).unwrap();
        let file = |n: &str| dir.join(n);
        served_then_sigquit(traceback, &dir);
        let dump = std::fs::read_to_string(file("sigquit.log")).unwrap();

        // What makes the two text forms differ, all there.
        let served = std::fs::read_to_string(file("served.txt")).unwrap();
        assert!(dump.starts_with("SIGQUIT: quit"), "{}", &dump[..dump.len().min(300)]);
        for mark in [" gp=0x", "<autogenerated>", "-fm()", "runtime.main()", "runtime.gopark(", "frames elided", "created by runtime."] {
            assert!(dump.contains(mark), "GOTRACEBACK={traceback}: the SIGQUIT dump has no {mark:?}");
        }
        for mark in [" gp=0x", "<autogenerated>", "runtime.gopark(", "runtime.main()"] {
            assert!(!served.contains(mark), "GOTRACEBACK={traceback}: the served dump has {mark:?}");
        }
        assert!(served.contains("frames elided"));

        let d = assert_no_change(&file("served.txt"), &file("sigquit.log"));
        let runtime = d["new"]["runtime_goroutines"].as_i64().unwrap_or(0);
        assert!(runtime >= 3, "the GC workers and goroutine 0 are the runtime's: {d:#}");
        // 5 deep stacks, 6 through wrappers, 2 on the mutex, 1 select, and the service's own.
        assert!(d["new_total"].as_i64().unwrap() >= 14, "{d:#}");
        assert_no_change(&file("served.pb.gz"), &file("sigquit.log"));
        assert_no_change(&file("served.debug1.txt"), &file("sigquit.log"));
        let text = leakhound().arg("diff").arg(file("served.txt")).arg(file("sigquit.log")).output().unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains("No stack group changed."), "{}", String::from_utf8_lossy(&text.stdout));

        // Every recursion at least 40 deep is one group in every form, with the same count: the
        // 10-deep one apart, the 44- to 300-deep ones by their innermost 40 frames.
        // And each form has the scenario's groups alike: the same stacks (by their innermost
        // function of the scenario), blocking and counts.
        let groups = |path: &Path| -> Vec<(String, String, i64)> {
            let d = json(&["diff"], &[fixture("go127/goroutine-before.pb.gz"), path.to_path_buf()]);
            let mut v: Vec<(String, String, i64)> = d["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| {
                    let own = c["stack"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap()).find(|f| f.starts_with("main.forms"))?;
                    Some((own.to_string(), c["blocking"].as_str().unwrap().to_string(), c["new"].as_i64().unwrap()))
                })
                .collect();
            v.sort();
            v
        };
        let expected = groups(&file("served.pb.gz"));
        let recursions: Vec<i64> = expected.iter().filter(|g| g.0 == "main.formsRecurse").map(|g| g.2).collect();
        assert_eq!(recursions, vec![1, 4], "GOTRACEBACK={traceback}: {expected:?}");
        for form in ["served.txt", "served.debug1.txt", "sigquit.log"] {
            let got = groups(&file(form));
            if form == "served.debug1.txt" {
                // debug=1 hides the runtime's frames that tell a channel wait: leaves and counts only.
                let strip = |v: &[(String, String, i64)]| v.iter().map(|g| (g.0.clone(), g.2)).collect::<Vec<_>>();
                assert_eq!(strip(&got), strip(&expected), "GOTRACEBACK={traceback} {form}");
            } else {
                assert_eq!(got, expected, "GOTRACEBACK={traceback} {form}");
            }
        }
    }

    // Go's depth limit, measured: the goroutine profile keeps 128 program counters of a stack, so
    // the 126- and 300-deep recursions (with the runtime's frames) are cut to the same 128 and
    // merged by Go itself; the tracebacks print the innermost and outermost 50 frames past 100.
    let pb = tmp.path().join("all/served.pb.gz");
    let raw = common::go_tool_pprof(&["-raw", pb.to_str().unwrap()]);
    let depths: Vec<usize> = raw
        .lines()
        .skip_while(|l| !l.starts_with("Samples:"))
        .take_while(|l| !l.starts_with("Locations"))
        .filter_map(|l| l.trim_start().split_once(": ").filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit())))
        .map(|(_, locations)| locations.split_whitespace().count())
        .collect();
    assert_eq!(depths.iter().max(), Some(&128), "{raw}");
    let served = std::fs::read_to_string(tmp.path().join("all/served.txt")).unwrap();
    assert!(served.contains("...201 frames elided..."), "301 frames: the innermost and outermost 50 printed");
}
