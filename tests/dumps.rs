//! Text dumps as people paste them, produced at test time by real Go programs (`tests/dumpgen`):
//! `go test -timeout` panics, `kill -QUIT` under GOTRACEBACK=all|system|crash among log lines,
//! the same dump indented, with CRLF and no final newline, a dump logged by `go test -v`,
//! `GODEBUG=tracebackancestors`, Go's 64 MiB cut, and inputs that must fail fast.
//!
//! Every goroutine total is exact: the programs park known numbers of goroutines on known stacks,
//! and the total is checked against the dump's own `goroutine N [...]:` headers.

mod common;
mod schema;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn dumpgen_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("dumpgen")
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// `tests/dumpgen` built once per test process.
fn dumpgen() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = common::target_dir().join("dumpgen");
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join(format!("dumpgen-{}", std::process::id()));
        let out = common::go_command(&common::go()).current_dir(dumpgen_dir()).args(["build", "-o"]).arg(&dest).arg(".").output().unwrap();
        assert!(out.status.success(), "go build of tests/dumpgen failed:\n{}", String::from_utf8_lossy(&out.stderr));
        dest
    })
    .clone()
}

/// Runs dumpgen, waits for `ready N` (N = runtime.NumGoroutine()), sends SIGQUIT and returns
/// (N, everything the program wrote to stderr: its log lines, then the runtime's dump).
fn sigquit(env: &[(&str, &str)], args: &[&str]) -> (u64, String) {
    let mut child = Command::new(dumpgen())
        .args(args)
        .env_remove("GOTRACEBACK")
        .env_remove("GODEBUG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        stderr.read_to_end(&mut s).unwrap();
        s
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let n: u64 = line.trim().strip_prefix("ready ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("dumpgen said {line:?}"));
    // main prints `ready` just before it goes to sleep; on a loaded machine give it time to get there.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = Command::new("kill").args(["-QUIT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "SIGQUIT ends the program with a dump");
    (n, String::from_utf8(reader.join().unwrap()).unwrap())
}

/// Goroutines a dump shows: its `goroutine N [...]:` headers, indentation and CRLF aside, without
/// `goroutine 0` (an M's own stack, printed per M under GOTRACEBACK=crash).
fn headers(text: &str) -> u64 {
    text.lines()
        .map(|l| l.trim())
        .map(|l| l.find("goroutine ").map_or(l, |i| &l[i..]))
        .filter(|l| l.starts_with("goroutine ") && !l.starts_with("goroutine 0 ") && l.ends_with("]:") && l.contains(" ["))
        .filter(|l| l["goroutine ".len()..].starts_with(|c: char| c.is_ascii_digit()))
        .count() as u64
}

/// Every goroutine the new dump holds: the ones counted, and the runtime's own ones (GC workers,
/// ...) that only SIGQUIT and GOTRACEBACK=system print and that the total leaves out, as the
/// goroutine profile does.
fn read_total(doc: &Value) -> Option<u64> {
    Some(doc["new_total"].as_u64()? + doc["new"]["runtime_goroutines"].as_u64().unwrap_or(0))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `leakhound diff BASE DUMP --format json` against an unrelated real dump, so every group of the
/// dump appears as a change with its count.
fn diff(dump: &Path) -> Value {
    let out = leakhound().arg("diff").arg(fixture("go127/goroutine-before.debug2.txt")).arg(dump).args(["--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    doc
}

/// Goroutines in the new dump per leaf function.
fn by_leaf(doc: &Value) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for c in doc["changes"].as_array().unwrap() {
        *m.entry(c["leaf"].as_str().unwrap().to_string()).or_default() += c["new"].as_i64().unwrap();
    }
    m
}

fn assert_no_warnings(doc: &Value) {
    assert!(doc["new"]["truncated"].is_null(), "{:#}", doc["new"]);
    let warnings = doc["warnings"].as_array().map(|w| w.len()).unwrap_or(0);
    assert_eq!(warnings, 0, "{:#}", doc["warnings"]);
}

/// The groups dumpgen parks (its defaults): 7 receivers, 5 selectors, 3 lockers, 2 method values.
fn assert_dumpgen_groups(doc: &Value) {
    let leaves = by_leaf(doc);
    for (leaf, n) in [("main.receiver", 7), ("main.selector", 5), ("main.locker", 3), ("main.(*worker).wait", 2)] {
        assert_eq!(leaves.get(leaf).copied(), Some(n), "{leaf} in {leaves:#?}");
    }
}

#[test]
fn go_test_timeout_panic_reads_whole() {
    let out = common::go_command(&common::go()).current_dir(dumpgen_dir().join("hang")).args(["test", "-count=1", "-timeout", "2s"]).output().unwrap();
    assert!(!out.status.success());
    let mut text = String::from_utf8(out.stdout).unwrap();
    text.push_str(&String::from_utf8(out.stderr).unwrap());
    assert!(text.contains("panic: test timed out after 2s"), "{text}");
    assert!(text.contains("exit status 2") && text.contains("FAIL\tleakhound.test/dumpgen/hang"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let doc = diff(&write(dir.path(), "hang.log", &text));
    // testing's main goroutine, the alarm that panics, TestHang, and the 6 + 4 it parked.
    assert_eq!(headers(&text), 13);
    assert_eq!(doc["new_total"], 13, "{doc:#}");
    assert_no_warnings(&doc);
    let leaves = by_leaf(&doc);
    assert_eq!(leaves.get("leakhound.test/dumpgen/hang.stuckSender"), Some(&6), "{leaves:#?}");
    assert_eq!(leaves.get("leakhound.test/dumpgen/hang.stuckCond"), Some(&4), "{leaves:#?}");
    assert_eq!(leaves.get("leakhound.test/dumpgen/hang.TestHang"), Some(&1), "{leaves:#?}");
    assert_eq!(leaves.get("testing.(*M).startAlarm.func1"), Some(&1), "the panicking goroutine: {leaves:#?}");
}

#[test]
fn sigquit_dumps_among_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    for traceback in ["all", "system", "crash"] {
        let (user, dump) = sigquit(&[("GOTRACEBACK", traceback)], &[]);
        assert_eq!(user, 1 + 7 + 5 + 3 + 2, "dumpgen's own count");
        assert!(dump.contains("dumpgen starting") && dump.contains("SIGQUIT: quit"), "{dump}");
        assert!(dump.contains(" gp=0x") && dump.contains("runtime.main()") && dump.contains("<autogenerated>:1"), "{dump}");
        if traceback == "crash" {
            assert!(dump.contains("\nrip ") && dump.contains("\n-----\n"), "registers and one section per M: {dump}");
        }
        // What a supervisor logs after the program died.
        let text = format!("{dump}2026/11/28 06:00:00 worker exited: exit status 2\n2026/11/28 06:00:01 restarting worker (attempt 2)\n");
        let doc = diff(&write(dir.path(), &format!("{traceback}.log"), &text));
        let total = headers(&dump);
        assert!(total > user, "SIGQUIT shows the runtime's own goroutines too");
        assert_eq!(read_total(&doc), Some(total), "GOTRACEBACK={traceback}: {doc:#}");
        assert_no_warnings(&doc);
        assert_dumpgen_groups(&doc);
        assert_eq!(by_leaf(&doc).get("main.main"), Some(&1));
    }
}

#[test]
fn a_pasted_dump_reads_the_same_indented_with_crlf_and_no_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let (_, dump) = sigquit(&[("GOTRACEBACK", "system")], &[]);
    let plain = diff(&write(dir.path(), "plain.log", &dump));
    let pasted: String = dump.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\r\n");
    assert!(!pasted.ends_with('\n'));
    let doc = diff(&write(dir.path(), "pasted.log", &pasted));
    assert_eq!(read_total(&doc), Some(headers(&dump)));
    assert_no_warnings(&doc);
    assert_dumpgen_groups(&doc);
    assert_eq!(doc["changes"], plain["changes"], "indentation and CRLF change nothing");
    // A terminal copy turns tabs into spaces.
    let spaced = dump.replace('\t', "        ");
    let doc = diff(&write(dir.path(), "spaced.log", &spaced));
    assert_eq!(doc["changes"], plain["changes"]);
}

#[test]
fn a_dump_logged_by_go_test_v_reads_whole() {
    let out = common::go_command(&common::go()).current_dir(dumpgen_dir().join("logged")).args(["test", "-v", "-count=1"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("    logged_test.go:") && text.contains("--- PASS: TestLogDump"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let doc = diff(&write(dir.path(), "test-v.log", &text));
    // testing's main goroutine, TestLogDump (which writes the dump) and its 9 waiters.
    assert_eq!(headers(&text), 11);
    assert_eq!(doc["new_total"], 11, "{doc:#}");
    assert_no_warnings(&doc);
    assert_eq!(by_leaf(&doc).get("leakhound.test/dumpgen/logged.waiter"), Some(&9));
}

#[test]
fn the_leaf_of_a_panicking_goroutine_is_the_programs_frame() {
    let mut child = Command::new(dumpgen()).arg("-panic").env("GOTRACEBACK", "system").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut text = String::new();
    child.stderr.take().unwrap().read_to_string(&mut text).unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(text.contains("\npanic({") && text.contains("[recovered]"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let doc = diff(&write(dir.path(), "panic.log", &text));
    assert_eq!(read_total(&doc), Some(headers(&text)));
    assert_no_warnings(&doc);
    assert_dumpgen_groups(&doc);
    let leaves = by_leaf(&doc);
    assert_eq!(leaves.get("main.explode.func1"), Some(&1), "{leaves:#?}");
    assert!(!leaves.contains_key("panic") && !leaves.contains_key("runtime.gopanic"), "{leaves:#?}");
}

#[test]
fn tracebackancestors_are_read_and_split_groups() {
    let (_, text) = sigquit(&[("GODEBUG", "tracebackancestors=5")], &["-ancestors"]);
    assert!(text.contains("[originating from goroutine "), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ancestors.log", &text);
    let doc = diff(&path);
    assert_eq!(read_total(&doc), Some(headers(&text)));
    assert_eq!(by_leaf(&doc).get("main.receiver"), Some(&7));
    // The model keeps the ancestors, nearest first: two spawners started from different closures
    // of main, so the 3 + 4 receivers form two samples.
    let p = leakhound::profile::decode_reader(std::fs::File::open(&path).unwrap(), 1 << 30).unwrap();
    let name = |i: &u32| p.frames[*i as usize].function.as_str();
    let mut receivers: Vec<(i64, Vec<Vec<&str>>)> = p
        .samples
        .iter()
        .filter(|s| s.stack.iter().any(|i| name(i) == "main.receiver"))
        .map(|s| (s.values[0], s.goroutine.as_ref().unwrap().ancestors.iter().map(|a| a.iter().map(name).collect()).collect()))
        .collect();
    receivers.sort();
    assert_eq!(receivers.len(), 2, "{receivers:#?}");
    for ((count, ancestors), closure) in receivers.iter().zip(["main.main.func1", "main.main.func2"]) {
        assert_eq!(*count, if closure.ends_with('1') { 3 } else { 4 });
        assert_eq!(ancestors.len(), 2, "the spawner, then main: {ancestors:#?}");
        let spawner = &ancestors[0];
        assert!(spawner.contains(&"main.spawn") && spawner.contains(&closure), "{spawner:?}");
        assert_eq!(spawner.last(), Some(&"main.main"), "its `created by` frame last: {spawner:?}");
        assert!(ancestors[1].contains(&"main.main"), "{ancestors:?}");
    }
}

#[test]
fn only_a_dump_cut_at_64_mib_is_called_cut() {
    // Go's served dump stops at exactly 64 MiB, mid-line: rebuild one from a real dump's blocks
    // (renumbered), the way a service with many goroutines produces it.
    let real = std::fs::read_to_string(fixture("go127/goroutine-after.debug2.txt")).unwrap();
    let blocks: Vec<&str> = real.split("\n\n").filter(|b| b.starts_with("goroutine ")).collect();
    let mut text = String::with_capacity(65 << 20);
    let mut id = 1u64;
    let mut whole = 0u64;
    'fill: loop {
        for b in &blocks {
            let body = &b[b.find(" [").unwrap()..];
            let block = format!("goroutine {id}{body}\n\n");
            if text.len() + block.len() > 64 << 20 {
                text.push_str(&block[..(64 << 20) - text.len()]);
                break 'fill;
            }
            text.push_str(&block);
            id += 1;
            whole += 1;
        }
    }
    assert_eq!(text.len(), 64 << 20);
    let dir = tempfile::tempdir().unwrap();
    let doc = diff(&write(dir.path(), "cut.txt", &text));
    assert_eq!(doc["new"]["truncated"]["goroutines_read"].as_u64(), Some(whole), "{:#}", doc["new"]);
    assert_eq!(doc["new_total"].as_u64(), Some(whole));
    assert!(doc["warnings"][0].as_str().unwrap().contains("64 MiB"), "{:#}", doc["warnings"]);
}

/// Runs `leakhound analyze INPUT`, expecting exit 2 with `message` within `limit`.
fn assert_fails_fast(input: &Path, message: &str, limit: Duration) {
    let start = Instant::now();
    let out = leakhound().arg("analyze").arg(input).output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(took < limit, "took {took:?}");
}

#[test]
fn hostile_text_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    // A 2 GiB line with no newline (a sparse file: zero bytes after a header).
    let sparse = dir.path().join("sparse.txt");
    let mut f = std::fs::File::create(&sparse).unwrap();
    f.write_all(b"goroutine 1 [running]:\nmain.main(").unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    assert_fails_fast(&sparse, "longer than 1 MiB", Duration::from_secs(30));
    // /dev/zero itself.
    assert_fails_fast(Path::new("/dev/zero"), "zero bytes", Duration::from_secs(30));
    // FIFOs fed endlessly: zeros after a header, and text with no newline at all.
    for (name, head, byte, message) in [("zeros", &b"goroutine 1 [running]:\n"[..], 0u8, "longer than 1 MiB"), ("text", &b""[..], b'a', "neither a debug=1")] {
        let fifo = dir.path().join(name);
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let writer_path = fifo.clone();
        let head = head.to_vec();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(writer_path).unwrap();
            let _ = w.write_all(&head);
            let chunk = vec![byte; 1 << 16];
            let mut written = 0u64;
            while w.write_all(&chunk).is_ok() {
                written += chunk.len() as u64;
            }
            written
        });
        assert_fails_fast(&fifo, message, Duration::from_secs(30));
        assert!(writer.join().unwrap() < 64 << 20, "{name}: the reader stopped early");
    }
    // debug=1: one record of 2×10⁶ addresses (16 MB).
    let mut d1 = String::from("goroutine profile: total 1\n1 @");
    for a in 0..2_000_000u64 {
        push_address(&mut d1, 0x400000 + a);
    }
    d1.push('\n');
    assert_fails_fast(&write(dir.path(), "addresses.txt", &d1), "more than 1024 addresses", Duration::from_secs(30));
    // debug=1: the same addresses spread over records of 1,000, each a distinct frame.
    let mut d1 = String::from("goroutine profile: total 2000\n");
    for r in 0..2_000u64 {
        d1.push_str("1 @");
        for a in 0..1_000u64 {
            push_address(&mut d1, 0x400000 + r * 1000 + a);
        }
        d1.push_str("\n\n");
    }
    assert_fails_fast(&write(dir.path(), "frames.txt", &d1), "distinct frames", Duration::from_secs(30));
}

/// ` 0x…` (cheap: the hostile inputs above hold millions).
fn push_address(s: &mut String, a: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.push_str(" 0x");
    for shift in (0..6).rev() {
        s.push(HEX[((a >> (shift * 4)) & 0xf) as usize] as char);
    }
}

#[test]
fn a_cut_debug1_profile_is_not_called_a_64_mib_cut() {
    let full = std::fs::read_to_string(fixture("go127/goroutine-after.debug1.txt")).unwrap();
    let declared: u64 = full.lines().next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    // Cut after the first record: whole records only, so the count read is exact.
    let end = full.find("\n\n").unwrap() + 2;
    let first: u64 = full.lines().nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let doc = diff(&write(dir.path(), "cut.debug1.txt", &full[..end]));
    assert_eq!(doc["new_total"].as_u64(), Some(first));
    assert_eq!(doc["new"]["truncated"]["goroutines_read"].as_u64(), Some(first));
    let warning = doc["warnings"][0].as_str().unwrap();
    assert!(warning.contains(&format!("declares {declared} goroutines but holds {first}")) && !warning.contains("64 MiB"), "{warning}");
}

/// A real dump read in parts at once (one per thread) gives exactly what one thread streaming it
/// gives: SIGQUIT dumps under each GOTRACEBACK among log lines, with ancestors, pasted with CRLF,
/// and a 20 MB one repeated from their blocks with new ids (read by the CLI with 1 and 4 threads).
#[test]
fn a_dump_read_in_parts_at_once_gives_what_one_thread_gives() {
    use leakhound::profile::{decode_debug2, decode_debug2_file, decode_debug2_slice};
    let shown = |r: Result<leakhound::profile::Profile, leakhound::profile::DecodeError>| match r {
        Ok(p) => format!("{:?}\n{:?}\n{:?}", p.frames, p.samples, p.truncated),
        Err(e) => format!("error: {e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    for traceback in ["all", "system", "crash"] {
        texts.push(sigquit(&[("GOTRACEBACK", traceback)], &[]).1);
    }
    let (_, ancestors) = sigquit(&[("GODEBUG", "tracebackancestors=5")], &["-ancestors"]);
    texts.push(ancestors.replace('\n', "\r\n"));
    texts.push(ancestors);
    // The real blocks again and again, renumbered, to 20 MB: a large service's dump.
    let mut big = String::with_capacity(21 << 20);
    let mut id = 1u64;
    while big.len() < 20 << 20 {
        for text in &texts[..4] {
            for block in text.split("\n\n").filter(|b| b.starts_with("goroutine ") && b.contains(" [")) {
                big.push_str(&format!("goroutine {id}{}\n\n", &block[block.find(" [").unwrap()..]));
                id += 1;
            }
        }
    }
    texts.push(big);
    for (i, text) in texts.iter().enumerate() {
        let path = write(dir.path(), &format!("dump-{i}.txt"), text);
        let one = shown(decode_debug2(text.as_bytes(), 1 << 30));
        assert!(!one.starts_with("error"), "{one}");
        let file = std::fs::File::open(&path).unwrap();
        for parts in [2, 3, 8, 31] {
            assert_eq!(shown(decode_debug2_file(&file, 1 << 30, parts)), one, "dump {i} from its file in {parts} parts");
            assert_eq!(shown(decode_debug2_slice(text.as_bytes(), 1 << 30, parts)), one, "dump {i} in memory in {parts} parts");
        }
    }
    // The CLI reads a big file in parts, one per thread: the report does not change.
    let big = dir.path().join(format!("dump-{}.txt", texts.len() - 1));
    let report = |threads: &str| {
        let base = fixture("go127/goroutine-before.debug2.txt");
        let out = leakhound().arg("diff").arg(base).arg(&big).args(["--format", "json"]).env("RAYON_NUM_THREADS", threads).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let one = report("1");
    assert!(String::from_utf8_lossy(&one).contains("main.receiver"));
    assert_eq!(report("4"), one, "4 threads give the report of 1");
}

/// A dump truncated (a log rotated, a copy overwritten) while `analyze` reads it: an error naming
/// the file (exit 2) or a report, never a signal. A mapped file would end the reader with SIGBUS.
#[test]
fn a_dump_truncated_while_it_is_read_is_an_error_never_a_signal() {
    use std::os::unix::process::ExitStatusExt;
    // Real blocks renumbered to 48 MiB: read in parts at once, by every thread.
    let real = std::fs::read_to_string(fixture("go127/goroutine-after.debug2.txt")).unwrap();
    let blocks: Vec<&str> = real.split("\n\n").filter(|b| b.starts_with("goroutine ")).collect();
    let mut text = String::with_capacity(49 << 20);
    let mut id = 1u64;
    while text.len() < 48 << 20 {
        for b in &blocks {
            text.push_str(&format!("goroutine {id}{}\n\n", &b[b.find(" [").unwrap()..]));
            id += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.txt");
    let (mut errors, mut reports) = (0, 0);
    for round in 0..16u64 {
        std::fs::write(&path, &text).unwrap();
        let child = leakhound()
            .args(["analyze", "--format", "json"])
            .arg(&path)
            .env("RAYON_NUM_THREADS", "4")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Truncated at a different moment and to a different length each round.
        std::thread::sleep(Duration::from_millis(5 + round * 7));
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len([0, 4096, 1 << 20, 10 << 20][round as usize % 4]).unwrap();
        drop(f);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), None, "round {round}: killed by a signal: {err}");
        match out.status.code() {
            Some(2) => {
                assert!(err.contains("rotated.txt"), "round {round}: the error names the file: {err}");
                errors += 1;
            }
            // Read before the truncation reached it (or too little left to be a dump is exit 2).
            Some(0) | Some(4) => reports += 1,
            other => panic!("round {round}: exit {other:?}: {err}"),
        }
    }
    assert!(errors > 0, "no round truncated the file while it was read ({reports} reports)");
}
