//! `check` and `analyze` on saved snapshots: exit codes, --ignore, --baseline, --max-goroutines,
//! and a mix of goroutine, heap and goroutineleak files recognised by content. The files are the
//! bundled captures of the project's leaking Go service.

mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo")
}

fn files(kind: &str) -> Vec<PathBuf> {
    (0..8).map(|i| demo_dir().join(format!("{i:03}-{kind}.pb.gz"))).collect()
}

fn run(args: &[&str], paths: &[PathBuf]) -> (Output, Value) {
    let out = leakhound().args(args).args(paths).output().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, doc)
}

#[test]
fn check_exit_codes() {
    let (out, doc) = run(&["check", "--format", "json"], &files("goroutine"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    schema::validate(&doc);
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAILED"));

    // Ignoring the program's own leaking functions leaves nothing to fail on.
    let (out, doc) = run(&["check", "--format", "json", "--ignore", "^main\\.(forgottenSender|abandonedReceiver|rangeOverUnclosed|fanoutWorker|generatorWithoutQuit|lockNeverReleased|waitGroupNeverDone|nilChannelSend|retainingLeak|notifyShipping|auditOrder)$"], &files("goroutine"));
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["verdict"], "clean");

    // The first and last snapshot only: a difference, not a trend. No suspect from growth (issue
    // 22), and no pass either: inconclusive (4), whatever --fail-on says.
    let two = vec![files("goroutine")[0].clone(), files("goroutine")[7].clone()];
    let (out, doc) = run(&["check", "--format", "json"], &two);
    assert_eq!(doc["suspects"].as_array().unwrap().len(), 0, "{doc:#}");
    assert_eq!(out.status.code(), Some(4), "a difference is not a trend: inconclusive, never passed");
    assert_eq!(doc["outcome"], "inconclusive", "{doc:#}");
    let (out, _) = run(&["check", "--fail-on", "suspect"], &two);
    assert_eq!(out.status.code(), Some(4));

    let (out, _) = run(&["check", "--max-goroutines", "100", "--ignore", "^main\\."], &files("goroutine"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than --max-goroutines 100"));
}

#[test]
fn baseline_accepts_known_suspects_unless_they_grow_faster() {
    let dir = tempfile::tempdir().unwrap();
    let (_, doc) = run(&["analyze", "--format", "json"], &files("goroutine"));
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&doc).unwrap()).unwrap();
    let b = baseline.to_str().unwrap();
    let (out, _) = run(&["check", "--baseline", b], &files("goroutine"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // A baseline where forgottenSender grew far slower: now it grows faster, and fails.
    let mut slower = doc.clone();
    for s in slower["suspects"].as_array_mut().unwrap() {
        if s["leaf"] == "main.forgottenSender" {
            s["growth_per_minute"] = Value::from(1.0);
        }
    }
    std::fs::write(&baseline, serde_json::to_vec(&slower).unwrap()).unwrap();
    let (out, _) = run(&["check", "--baseline", b], &files("goroutine"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("main.forgottenSender") && stderr.contains("faster than"), "{stderr}");
    assert_eq!(stderr.matches("faster than").count(), 1, "only the one that sped up: {stderr}");

    // A baseline without a suspect: that suspect is new and fails.
    let mut missing = doc.clone();
    missing["suspects"].as_array_mut().unwrap().retain(|s| s["leaf"] != "main.lockNeverReleased");
    std::fs::write(&baseline, serde_json::to_vec(&missing).unwrap()).unwrap();
    let (out, _) = run(&["check", "--baseline", b], &files("goroutine"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("main.lockNeverReleased"));

    std::fs::write(&baseline, "not json").unwrap();
    let (out, _) = run(&["check", "--baseline", b], &files("goroutine"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_mix_of_files_is_recognised_by_content() {
    // Heap and goroutineleak files first, names hidden: each is recognised by what it holds and
    // paired with the goroutine snapshot nearest in time.
    let dir = tempfile::tempdir().unwrap();
    let mut mixed = Vec::new();
    for (i, kind) in [(0, "heap"), (1, "goroutineleak")].into_iter().flat_map(|(o, k)| (0..8).map(move |i| (i * 2 + o, k))) {
        let src = demo_dir().join(format!("{:03}-{kind}.pb.gz", i / 2));
        let dst = dir.path().join(format!("x{i:02}"));
        std::fs::copy(src, &dst).unwrap();
        mixed.push(dst);
    }
    mixed.extend(files("goroutine"));
    let (out, doc) = run(&["analyze", "--format", "json"], &mixed);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    schema::validate(&doc);
    let snaps = doc["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 8);
    assert!(snaps.iter().all(|s| s["heap_inuse_bytes"].as_i64().unwrap() > 0), "every snapshot paired with its heap profile");
    let proven = doc["suspects"].as_array().unwrap().iter().filter(|s| s["gc_proven_leaked"].as_u64().unwrap_or(0) > 0).count();
    assert!(proven >= 5, "goroutineleak proofs attached: {doc:#}");
    // Same ranking as the goroutine files alone.
    let (_, plain) = run(&["analyze", "--format", "json"], &files("goroutine"));
    let leaves = |d: &Value| d["suspects"].as_array().unwrap().iter().map(|s| s["leaf"].clone()).collect::<Vec<_>>();
    assert_eq!(leaves(&doc), leaves(&plain));
}

#[test]
fn a_folder_with_no_profiles_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakhound().arg("analyze").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no profiles"));
}
