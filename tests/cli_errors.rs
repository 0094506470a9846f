//! Bad input gets a one-line error and exit code 2, never a panic. Broken inputs are made from real
//! profiles (the bundled demo captures of tests/goservice) by cutting or corrupting them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo").join(name)
}

fn leakhound() -> Command {
    Command::cargo_bin("leakhound").unwrap()
}

/// Runs `diff base new`, asserts exit 2 and one error line containing `needle`.
fn assert_input_error(base: &Path, new: &Path, extra: &[&str], needle: &str) {
    let out = leakhound().arg("diff").arg(base).arg(new).args(extra).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    assert!(out.stdout.is_empty(), "no report on error");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &dir.path().join("nope.pb.gz"), &[], "cannot read");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pb.gz");
    std::fs::write(&empty, b"").unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &empty, &[], "file is empty");
}

#[test]
fn truncated_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(demo("001-goroutine.pb.gz")).unwrap();
    let cut = dir.path().join("cut.pb.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &cut, &[], "truncated or corrupt gzip");
}

#[test]
fn corrupt_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = gunzip(&std::fs::read(demo("001-goroutine.pb.gz")).unwrap());
    let n = raw.len();
    // Overwrite the middle with bytes that are not valid protobuf (field 0 / wire type 7).
    for b in &mut raw[n / 3..n / 3 + 64] {
        *b = 0xff;
    }
    let bad = dir.path().join("bad.pb");
    std::fs::write(&bad, &raw).unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &bad, &[], "corrupt protobuf");
    // The same bytes gzipped: decompression works, decoding does not.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&raw).unwrap();
    let badgz = dir.path().join("bad.pb.gz");
    std::fs::write(&badgz, enc.finish().unwrap()).unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &badgz, &[], "corrupt protobuf");
}

#[test]
fn html_page_saved_instead_of_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("goroutine.pb.gz");
    std::fs::write(&html, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n").unwrap();
    assert_input_error(&html, &demo("000-goroutine.pb.gz"), &[], "HTML page");
}

#[test]
fn json_saved_instead_of_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("goroutine");
    std::fs::write(&json, r#"{"error": "unauthorized", "code": 401}"#).unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &json, &[], "JSON document");
}

#[test]
fn text_that_is_no_profile() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "these are my notes\nabout goroutines\n").unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &txt, &[], "neither a debug=1 profile nor a debug=2");
}

#[test]
fn heap_profile_where_goroutines_are_compared() {
    assert_input_error(&demo("000-goroutine.pb.gz"), &demo("007-heap.pb.gz"), &[], "is a heap profile");
}

#[test]
fn unknown_heap_sample_type() {
    assert_input_error(&demo("000-heap.pb.gz"), &demo("007-heap.pb.gz"), &["--sample-type", "bogus"], "no sample type \"bogus\"");
}

#[test]
fn gzip_bomb_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bomb = dir.path().join("bomb.pb.gz");
    std::fs::write(&bomb, enc.finish().unwrap()).unwrap();
    assert_input_error(&demo("000-goroutine.pb.gz"), &bomb, &["--max-profile-bytes", "1048576"], "larger than 1048576 bytes");
}

#[test]
fn usage_errors_exit_2() {
    let out = leakhound().args(["diff", "only-one-file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = leakhound().args(["analyze", "--ignore", "(unclosed"]).arg(demo("000-goroutine.pb.gz")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid regex"));
}

/// Nonsense numbers are usage errors found before anything is fetched: exit 2 naming the option,
/// never exit 3 blaming a target (none listens on port 9 here) nor a run of one snapshot.
#[test]
fn nonsense_spans_and_counts_are_usage_errors_before_any_fetch() {
    let url = "http://127.0.0.1:9";
    let cases: &[(&str, &[&str], &str)] = &[
        ("watch", &["--duration", "0s"], "--duration"),
        ("watch", &["--count", "0"], "--count"),
        ("check", &["--count", "0"], "--count"),
        ("watch", &["--interval", "0s"], "--interval"),
        ("watch", &["--timeout", "0ms"], "--timeout"),
        ("watch", &["--retries", "1000000"], "--retries"),
        ("watch", &["--duration", "100000000y"], "--duration"),
        ("watch", &["--top", "0"], "--top"),
        ("watch", &["--min-growth-per-minute", "NaN"], "--min-growth-per-minute"),
        ("watch", &["--max-profile-bytes", "0"], "--max-profile-bytes"),
        ("serve", &["--interval", "0s"], "--interval"),
        ("serve", &["--timeout", "0s"], "--timeout"),
    ];
    for (command, args, option) in cases {
        let out = leakhound().arg(command).arg(url).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command} {args:?}: {stderr}");
        assert!(stderr.contains(option), "{command} {args:?}: {stderr}");
        assert!(!stderr.contains("127.0.0.1:9"), "{command} {args:?}: nothing fetched, no target blamed: {stderr}");
    }
}
