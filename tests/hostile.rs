//! Hostile servers and hostile profiles. Each server is a few lines of raw HTTP on 127.0.0.1 that
//! misbehaves in one way (a byte a second, an endless body, a gzip bomb, a lying Content-Length, a
//! redirect loop, a huge header, a close mid-body, a redirect to another origin); each profile is a
//! real capture of tests/goservice (tests/fixtures) with one thing made hostile (escape codes in a
//! function name, absurd counts, a sample of a billion locations). Every case must end within its
//! timeout and a memory cap, with a named error and its exit code.

mod common;
mod schema;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{demo, demo_path, raw_server, respond_with, RawServer};
use prost::Message;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn demo_profile() -> Vec<u8> {
    demo("000-goroutine.pb.gz")
}

/// Runs the binary and returns its output and how long it took.
fn run(cmd: &mut Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (out, start.elapsed())
}

/// Runs `cmd` and returns its output and the CPU time it took (user + system, from wait4): work,
/// not wall time, so a loaded machine does not make it fail.
#[allow(clippy::zombie_processes)] // waited for with wait4, which std's Child cannot do
fn run_cpu(cmd: &mut Command) -> (Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let child = cmd.stdout(std::fs::File::create(&out_path).unwrap()).stderr(std::fs::File::create(&err_path).unwrap()).spawn().unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 on our own child's pid fills the status and the rusage it is given.
    let usage = unsafe {
        assert_eq!(libc::wait4(child.id() as libc::pid_t, &mut status, 0, usage.as_mut_ptr()), child.id() as libc::pid_t);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    let out = Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() };
    (out, tv(usage.ru_utime) + tv(usage.ru_stime))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The largest resident set of any child this test process has waited for, in MiB.
fn max_child_rss_mib() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    usage.ru_maxrss as u64 / 1024
}

fn ok_head(extra: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{extra}\r\n")
}

/// `watch URL` for one round, no retries, saving into a temporary folder.
fn watch(url: &str, extra: &[&str]) -> (Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    run(leakhound()
        .args(["watch", url, "--count", "2", "--interval", "100ms", "--retries", "0", "--quiet"])
        .args(extra)
        .arg("--save")
        .arg(dir.path().join("s")))
}

#[test]
fn a_server_that_trickles_a_byte_a_second_ends_at_the_timeout() {
    let s = raw_server(|_, conn| {
        let _ = conn.write_all(ok_head("Content-Length: 100000\r\n").as_bytes());
        for b in demo_profile() {
            if conn.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let (out, took) = watch(&s.url, &["--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out after 2 s"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn an_endless_body_is_cut_at_the_cap() {
    let s = raw_server(|_, conn| {
        // No length: the body runs until the connection closes, which it never does.
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
        let chunk = vec![0x1fu8; 64 * 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    let (out, took) = watch(&s.url, &["--max-profile-bytes", "8000000", "--timeout", "20s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("larger than 8000000 bytes"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(max_child_rss_mib() < 600, "a child used {} MiB", max_child_rss_mib());
}

#[test]
fn a_declared_length_over_the_cap_is_refused_before_reading() {
    let s = raw_server(|_, conn| {
        let _ = conn.write_all(ok_head("Content-Length: 5000000000\r\n").as_bytes());
        std::thread::sleep(Duration::from_secs(30));
    });
    let (out, took) = watch(&s.url, &["--max-profile-bytes", "1000000"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("announces 5000000000 bytes"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// A real profile, gzip-compressed again and again: 64 MiB once decompressed.
fn gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

#[test]
fn a_gzip_bomb_is_named() {
    let bomb = Arc::new(gzip_bomb());
    assert!(bomb.len() < 200_000);
    let s = raw_server(move |_, conn| {
        let _ = conn.write_all(ok_head(&format!("Content-Length: {}\r\n", bomb.len())).as_bytes());
        let _ = conn.write_all(&bomb);
    });
    let (out, took) = watch(&s.url, &["--max-profile-bytes", "8000000"]);
    let err = stderr(&out);
    assert!(matches!(out.status.code(), Some(2) | Some(3)), "{err}");
    assert!(err.contains("decompressed profile is larger than 8000000 bytes"), "the reason is named, not lost: {err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_lying_content_length_is_a_body_cut_short() {
    let s = raw_server(|_, conn| {
        let body = demo_profile();
        let _ = conn.write_all(ok_head(&format!("Content-Length: {}\r\n", body.len() * 10)).as_bytes());
        let _ = conn.write_all(&body);
        let _ = conn.shutdown(std::net::Shutdown::Both);
    });
    let (out, took) = watch(&s.url, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cut short") && err.contains(&format!("{} bytes of the {}", demo_profile().len(), demo_profile().len() * 10)), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_close_in_the_middle_of_a_chunked_body_is_a_body_cut_short() {
    let s = raw_server(|_, conn| {
        let body = demo_profile();
        let _ = conn.write_all(ok_head("Transfer-Encoding: chunked\r\n").as_bytes());
        let half = &body[..body.len() / 2];
        let _ = conn.write_all(format!("{:x}\r\n", half.len()).as_bytes());
        let _ = conn.write_all(half);
        let _ = conn.write_all(b"\r\n");
        let _ = conn.shutdown(std::net::Shutdown::Both);
    });
    let (out, _) = watch(&s.url, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cut short"), "{err}");
}

#[test]
fn a_redirect_loop_is_named() {
    let s = raw_server(|head, conn| {
        let to = if head.starts_with("GET /b ") { "/debug/pprof/goroutine" } else { "/b" };
        let _ = conn.write_all(format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    });
    let (out, took) = watch(&s.url, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("redirected in a loop"), "{err}");
    assert!(s.requests.lock().unwrap().len() <= 6, "{:?}", s.requests.lock().unwrap());
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_huge_header_is_named() {
    let s = raw_server(|_, conn| {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Padding: ");
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..64 {
            if conn.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = conn.write_all(b"\r\n\r\n");
    });
    let (out, took) = watch(&s.url, &["--timeout", "10s"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("response headers are too large"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Serves the demo's profiles, recording each request's head.
fn profile_server() -> RawServer {
    raw_server(|head, conn| {
        if head.starts_with("GET /debug/pprof/goroutine") {
            respond_with(conn, &demo_profile());
        } else {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    })
}

fn has_header(head: &str, name: &str) -> bool {
    head.lines().any(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
}

#[test]
fn no_user_header_follows_a_redirect_to_another_origin() {
    let other = profile_server();
    let to = other.url.clone();
    // Same host, another port: another origin.
    let first = raw_server(move |head, conn| {
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        let _ = conn.write_all(format!("HTTP/1.1 302 Found\r\nLocation: {to}{path}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    });
    let (out, _) = run(leakhound()
        .args(["watch", &first.url, "--count", "1", "--retries", "0", "--quiet", "--format", "json"])
        .args(["-H", "X-Api-Key: key-123", "-H", "Private-Token: tok-456", "-H", "Authorization: Bearer bear-789"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path().join("s")));
    assert!(out.status.success(), "{}", stderr(&out));
    let first_seen = first.requests.lock().unwrap().clone();
    assert!(first_seen.iter().any(|h| has_header(h, "X-Api-Key") && has_header(h, "Private-Token")), "the target itself gets them: {first_seen:?}");
    let other_seen = other.requests.lock().unwrap().clone();
    assert!(!other_seen.is_empty(), "the redirect was followed");
    for h in &other_seen {
        for name in ["X-Api-Key", "Private-Token", "Authorization"] {
            assert!(!has_header(h, name), "{name} went to another origin: {h}");
        }
    }
    let everything = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    for secret in ["key-123", "tok-456", "bear-789"] {
        assert!(!everything.contains(secret), "{secret} printed");
    }
}

#[test]
fn user_headers_follow_a_redirect_within_the_origin() {
    let s = raw_server(|head, conn| {
        if head.starts_with("GET /moved/goroutine") {
            respond_with(conn, &demo_profile());
        } else {
            let _ = conn.write_all(b"HTTP/1.1 301 Moved\r\nLocation: /moved/goroutine\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let (out, _) = run(leakhound()
        .args(["watch", &s.url, "--count", "1", "--retries", "0", "--quiet", "-H", "X-Api-Key: key-123"])
        .arg("--save")
        .arg(tempfile::tempdir().unwrap().path().join("s")));
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = s.requests.lock().unwrap().clone();
    assert!(seen.iter().any(|h| h.starts_with("GET /moved/goroutine") && has_header(h, "X-Api-Key")), "{seen:?}");
}

#[test]
fn a_password_in_the_url_is_sent_to_the_target_and_written_nowhere() {
    let s = profile_server();
    let url = s.url.replace("http://", "http://ops:s3cret-pw@");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("s");
    let (out, _) = run(leakhound().args(["watch", &url, "--count", "2", "--interval", "100ms", "--quiet", "--format", "json"]).arg("--save").arg(&saved));
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = s.requests.lock().unwrap().clone();
    // base64("ops:s3cret-pw")
    assert!(
        seen.iter().all(|h| h.contains("authorization: Basic b3BzOnMzY3JldC1wdw==") || h.contains("Authorization: Basic b3BzOnMzY3JldC1wdw==")),
        "{seen:?}"
    );
    let mut written = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    for f in walk(&saved) {
        written.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    assert!(!written.contains("s3cret"), "the password was written: {written}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("***@127.0.0.1"), "{}", String::from_utf8_lossy(&out.stdout));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

// ---- hostile profiles: real captures with one thing made hostile ----

const EVIL: &str = "main.worker\n\x1b]0;pwned\x07\x1b[2J\rPWNED no leak found | # PWNED <b>x</b> `y` \0 \u{202e}\u{9b}31m";

/// A real protobuf profile of tests/fixtures, decoded, changed by `edit`, encoded and gzipped again.
fn edited_fixture(name: &str, edit: impl Fn(&mut leakhound::proto::Profile)) -> Vec<u8> {
    edited(&repo("tests/fixtures/go127").join(name), edit)
}

fn edited(path: &Path, edit: impl Fn(&mut leakhound::proto::Profile)) -> Vec<u8> {
    let gz = std::fs::read(path).unwrap();
    let raw = leakhound::profile::gunzip(&gz, 1 << 30).unwrap();
    let mut p = leakhound::proto::Profile::decode(&raw[..]).unwrap();
    edit(&mut p);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&p.encode_to_vec()).unwrap();
    e.finish().unwrap()
}

/// Every function whose name starts with `main.` gets the hostile name (with its own suffix, so
/// the stacks stay apart), and so does every file name.
fn make_hostile(p: &mut leakhound::proto::Profile) {
    let names: Vec<i64> = p.function.iter().map(|f| f.name).collect();
    for (i, s) in p.string_table.iter_mut().enumerate() {
        if s.starts_with("main.") && names.contains(&(i as i64)) {
            *s = format!("{s}{EVIL}");
        } else if s.ends_with(".go") {
            *s = format!("{s}\x1b[2J\n/tmp/PWNED.go");
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// No control character a terminal acts on, except newlines and tabs.
fn assert_terminal_safe(what: &str, text: &str) {
    for (i, c) in text.char_indices() {
        let bad = matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "{what}: raw {c:?} at byte {i}:\n{}", &text[i.saturating_sub(200)..(i + 50).min(text.len())]);
    }
    for line in text.lines() {
        assert!(!line.trim_start().starts_with("PWNED"), "{what}: a profile string forged a line: {line:?}");
    }
}

/// A Markdown line without its code spans (whose content is shown literally).
fn strip_code_spans(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|&&c| c == b'`').count();
        let fence = "`".repeat(run);
        let mut j = i + run;
        // The closing run: exactly as long.
        loop {
            match line[j..].find(&fence) {
                Some(k) if b.get(j + k + run) != Some(&b'`') => break i = j + k + run,
                Some(k) => j += k + b[j + k..].iter().take_while(|&&c| c == b'`').count(),
                None => return out,
            }
        }
    }
    out
}

#[test]
fn escape_codes_in_a_profile_never_reach_the_output_raw() {
    let dir = tempfile::tempdir().unwrap();
    let before = write(dir.path(), "before.pb.gz", &edited_fixture("goroutine-before.pb.gz", make_hostile));
    let after = write(dir.path(), "after.pb.gz", &edited_fixture("goroutine-after.pb.gz", make_hostile));
    for format in ["text", "markdown", "json"] {
        let (out, _) = run(leakhound().args(["diff", "--format", format]).arg(&before).arg(&after));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).expect("UTF-8 output");
        assert!(text.contains("main.worker"), "{text}");
        assert_terminal_safe(format, &text);
        match format {
            "json" => {
                let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                schema::validate(&doc);
                // JSON carries the name exactly, escapes decoded.
                assert!(doc.to_string().contains(&serde_json::to_string(EVIL).unwrap()[1..20]), "{text}");
            }
            "markdown" => {
                // Outside code blocks (shown literally), no raw HTML.
                let mut in_code = false;
                for line in text.lines() {
                    if line.starts_with("```") {
                        in_code = !in_code;
                    } else if !in_code {
                        assert!(!strip_code_spans(line).contains("<b>"), "raw HTML: {line}");
                    }
                }
                for line in text.lines().filter(|l| l.starts_with('|')) {
                    let cells = line.replace("\\|", "").matches('|').count();
                    assert!(cells == 7 || cells == 6, "a name broke a table row: {line}");
                }
                assert!(!text.lines().any(|l| l.starts_with("# ")), "{text}");
            }
            _ => {}
        }
    }
    // The demo's series of eight real snapshots made hostile, as a leak report: DOT and text.
    let series: Vec<PathBuf> = (0..8)
        .map(|i| {
            let name = format!("{i:03}-goroutine.pb.gz");
            write(dir.path(), &name, &edited(&demo_path(&name), make_hostile))
        })
        .collect();
    let (out, _) = run(leakhound().args(["analyze", "--format", "dot"]).args(&series));
    let text = String::from_utf8(out.stdout.clone()).expect("UTF-8 output");
    assert!(text.starts_with("digraph leakhound {"), "{}{text}", stderr(&out));
    assert!(!text.contains('\0'));
    assert_terminal_safe("dot", &text);
    // Graphviz reads it (a NUL or a stray quote would be a syntax error) and shows the escapes as text.
    let svg = common::render_svg(&text);
    assert!(svg.contains("main.worker\\n\\x1b]0;pwned"), "{svg}");
    for line in text.lines().filter(|l| l.contains("label=\"")) {
        // Every quote inside a label is escaped: the line's unescaped quotes pair up.
        assert_eq!(line.replace("\\\\", "").replace("\\\"", "").matches('"').count() % 2, 0, "{line}");
    }
    let (out, _) = run(leakhound().arg("analyze").args(&series));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("main.worker\\n\\x1b]0;pwned"), "{text}");
    assert_terminal_safe("text report", &text);
    assert_terminal_safe("stderr", &stderr(&out));
}

#[test]
fn escape_codes_in_an_http_error_body_are_shown_as_text() {
    let s = raw_server(|_, conn| {
        let body = "\x1b]0;pwned\x07\x1b[2J\rPWNED the service is fine";
        let _ = conn.write_all(format!("HTTP/1.1 500 Oops\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    });
    let (out, _) = watch(&s.url, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("HTTP 500") && err.contains("\\x1b]0;pwned"), "{err}");
    assert_terminal_safe("stderr", &err);
}

#[test]
fn absurd_counts_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let before = write(dir.path(), "before.pb.gz", &std::fs::read(repo("tests/fixtures/go127/goroutine-before.pb.gz")).unwrap());
    // Two samples near i64::MAX: their sum wraps to a negative count in a release build.
    let huge =
        write(dir.path(), "huge.pb.gz", &edited_fixture("goroutine-after.pb.gz", |p| p.sample.iter_mut().take(2).for_each(|s| s.value[0] = i64::MAX - 1)));
    let (out, _) = run(leakhound().arg("diff").arg(&before).arg(&huge));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("implausible profile"), "{}", stderr(&out));
    let negative = write(dir.path(), "negative.pb.gz", &edited_fixture("goroutine-after.pb.gz", |p| p.sample[0].value[0] = -5));
    let (out, _) = run(leakhound().arg("diff").arg(&before).arg(&negative));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("negative count"), "{}", stderr(&out));
    // Times at the ends of the i64 range: pairing a heap profile with its goroutine snapshot, the
    // series' minutes and the heap trend must not overflow (the test binary has overflow checks).
    let late = write(dir.path(), "late.pb.gz", &edited_fixture("goroutine-after.pb.gz", |p| p.time_nanos = i64::MAX));
    let early = write(dir.path(), "early.pb.gz", &edited_fixture("heap-after.pb.gz", |p| p.time_nanos = -i64::MAX));
    let (out, _) = run(leakhound().args(["analyze", "--format", "json"]).arg(&before).arg(&late).arg(&early));
    assert!(matches!(out.status.code(), Some(0..=5)), "no panic: {:?} {}", out.status, stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// About a gigabyte of protobuf in about a megabyte of gzip: one sample naming location 1
/// `MIB * 2^20` times, one byte per id. The gzip is multi-member (as `cat a.gz b.gz` makes), one
/// compressed mebibyte of ids repeated, so it costs nothing to build.
fn billion_location_ids(mib: usize) -> Vec<u8> {
    let ids = (mib as u64) << 20;
    let mut head = Vec::new();
    let mut inner = vec![0x0a];
    varint(ids, &mut inner);
    head.push(0x12);
    varint(inner.len() as u64 + ids, &mut head);
    head.extend_from_slice(&inner);
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut out = gz(&head);
    let member = gz(&vec![1u8; 1 << 20]);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    out
}

#[test]
fn a_small_gzip_of_a_billion_location_ids_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = billion_location_ids(954);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let path = write(dir.path(), "ids.pb.gz", &bomb);
    let before = repo("tests/fixtures/go127/goroutine-before.pb.gz");
    let (out, took) = run(leakhound().arg("diff").arg(&before).arg(&path));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // Refused while it inflates: a protobuf profile is not allowed a gigabyte.
    assert!(err.contains("larger than 268435456 bytes"), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // The decompressed gigabyte, and nothing like the 8 GB prost would have asked for.
    assert!(max_child_rss_mib() < 2600, "a child used {} MiB", max_child_rss_mib());
}

// ---- amplification: one field that would cost memory or time out of proportion ----

/// A real profile with one more string in its string table: `len` zero bytes, named by no one,
/// appended as one field after the profile's own bytes (fields may come in any order). Gzipped as
/// members of one MiB of zeros each, so a gigabyte costs a megabyte and nothing to build.
fn one_huge_string(len_mib: usize) -> Vec<u8> {
    let gz = std::fs::read(repo("tests/fixtures/go127/goroutine-after.pb.gz")).unwrap();
    let mut head = leakhound::profile::gunzip(&gz, 1 << 30).unwrap();
    head.push(0x32); // field 6 (string_table), length-delimited
    varint((len_mib as u64) << 20, &mut head);
    let compress = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut out = compress(&head);
    let member = compress(&vec![0u8; 1 << 20]);
    for _ in 0..len_mib {
        out.extend_from_slice(&member);
    }
    out
}

#[test]
fn one_huge_string_costs_neither_memory_nor_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let before = repo("tests/fixtures/go127/goroutine-before.pb.gz");
    // A gigabyte: refused while it inflates, at the protobuf cap, long before a gigabyte is held.
    let gigabyte = write(dir.path(), "gigabyte.pb.gz", &one_huge_string(1000));
    assert!(std::fs::metadata(&gigabyte).unwrap().len() < 2 << 20);
    let (out, took) = run(leakhound().arg("diff").arg(&before).arg(&gigabyte));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("gigabyte.pb.gz") && err.contains("larger than 268435456 bytes"), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // 100 MiB: inflated, then refused by the string cap before prost copies it.
    let hundred = write(dir.path(), "hundred.pb.gz", &one_huge_string(100));
    let (out, _) = run(leakhound().arg("diff").arg(&before).arg(&hundred));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a string of 104857600 bytes"), "{err}");
    assert!(max_child_rss_mib() < 600, "a child used {} MiB", max_child_rss_mib());
    // Served by a target, it costs `serve` that target's sample, not the process.
    let bomb = Arc::new(std::fs::read(&gigabyte).unwrap());
    let s = raw_server(move |_, conn| respond_with(conn, &bomb));
    let (out, _) = watch(&s.url, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("larger than 268435456 bytes"), "{err}");
}

/// A goroutine profile in which `functions` functions, each at its own location, all name one
/// string of `name_len` bytes; one sample names every location.
fn many_functions_one_name(functions: u64, name_len: usize) -> Vec<u8> {
    use leakhound::proto;
    let mut p = proto::Profile {
        string_table: vec![String::new(), "goroutine".into(), "count".into(), format!("main.{}", "x".repeat(name_len)), "main.go".into()],
        sample_type: vec![proto::ValueType { r#type: 1, unit: 2 }],
        ..Default::default()
    };
    for id in 1..=functions {
        p.function.push(proto::Function { id, name: 3, system_name: 3, filename: 4, start_line: 1 });
        p.location.push(proto::Location { id, line: vec![proto::Line { function_id: id, line: 7, column: 0 }], ..Default::default() });
    }
    p.sample.push(proto::Sample { location_id: (1..=functions.min(1000)).collect(), value: vec![1], label: Vec::new() });
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&p.encode_to_vec()).unwrap();
    e.finish().unwrap()
}

#[test]
fn many_functions_naming_one_long_string_decode_in_time_proportional_to_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let before = repo("tests/fixtures/go127/goroutine-before.pb.gz");
    // The longest name accepted, named by 200,000 functions: copied and hashed per function, that
    // was 13 GB of work from a profile of some KB; by string number, it is one copy.
    let wide = write(dir.path(), "wide.pb.gz", &many_functions_one_name(200_000, 60 << 10));
    assert!(std::fs::metadata(&wide).unwrap().len() < 2 << 20);
    let (out, cpu) = run_cpu(leakhound().args(["diff", "--format", "json"]).arg(&before).arg(&wide));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cpu < Duration::from_secs(20), "took {cpu:?} of CPU");
    // 10,000 functions naming one 10 MiB string: refused by the string cap at once.
    let long = write(dir.path(), "long.pb.gz", &many_functions_one_name(10_000, 10 << 20));
    let (out, cpu) = run_cpu(leakhound().arg("diff").arg(&before).arg(&long));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the longest accepted is 65536"), "{err}");
    assert!(cpu < Duration::from_secs(20), "took {cpu:?} of CPU");
}

// ---- traps in a saved folder ----

/// Runs `cmd` and waits at most `limit` for it: a run still going then is killed and the test fails.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A saved folder of three rounds, written by `watch`.
fn saved_folder(dir: &Path) -> PathBuf {
    let s = profile_server();
    let saved = dir.join("s");
    let (out, _) = run(leakhound().args(["watch", &s.url, "--count", "3", "--interval", "100ms", "--retries", "0", "--quiet", "--save"]).arg(&saved));
    assert!(out.status.success(), "{}", stderr(&out));
    saved
}

#[test]
fn a_fifo_in_a_saved_folder_is_refused_never_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_folder(dir.path());
    // A profile the index names is a FIFO nobody writes to.
    mkfifo(&saved.join("001-goroutine.pb.gz"));
    for command in ["analyze", "check"] {
        let out = run_within(leakhound().args([command, "--format", "json"]).arg(&saved), Duration::from_secs(30));
        let all = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(all.contains("001-goroutine.pb.gz is a FIFO, not a regular file"), "{command}: {all}");
        assert!(matches!(out.status.code(), Some(0..=5)), "{command}: {:?} {all}", out.status);
    }
    // Named on its own, as `analyze DIR/*` does: it is still a file of the folder.
    let out = run_within(leakhound().arg("analyze").arg(saved.join("000-goroutine.pb.gz")).arg(saved.join("001-goroutine.pb.gz")), Duration::from_secs(30));
    assert!(stderr(&out).contains("is a FIFO"), "{}", stderr(&out));
    // The index itself a FIFO.
    mkfifo(&saved.join("index.json"));
    for command in ["analyze", "check"] {
        let out = run_within(leakhound().arg(command).arg(&saved), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(stderr(&out).contains("index.json is a FIFO"), "{command}: {}", stderr(&out));
    }
    // A FIFO named on the command line is read as a stream (`<(curl ...)`); with no writer it is
    // an empty input at once, not a wait at the open.
    let lone = dir.path().join("lone");
    mkfifo(&lone);
    let out = run_within(leakhound().arg("analyze").arg(&lone), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
}

#[test]
fn links_planted_at_temporary_names_are_never_written_through() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "untouched").unwrap();
    let s = profile_server();
    let saved = dir.path().join("s");
    let mut child = leakhound()
        .args(["watch", &s.url, "--count", "6", "--interval", "400ms", "--retries", "0", "--quiet", "--format", "json", "--save"])
        .arg(&saved)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the folder exists, links at every temporary name the old code would have used.
    assert!(common::wait_until(Duration::from_secs(30), || saved.join("index.json").exists()));
    for round in 0..6 {
        let _ = symlink(&outside, saved.join(format!(".{round:03}-goroutine.pb.gz.tmp")));
    }
    let _ = symlink(&outside, saved.join(".index.json.tmp"));
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched", "a write went through a planted link");
    for round in 0..6 {
        let meta = std::fs::symlink_metadata(saved.join(format!("{round:03}-goroutine.pb.gz"))).unwrap();
        assert!(meta.file_type().is_file(), "round {round}: {:?}", meta.file_type());
    }
    let (out, _) = run(leakhound().args(["analyze", "--format", "json"]).arg(&saved));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("skipped"), "{}", stderr(&out));
}

/// A server that answers every path with the goroutine profile of its round (the demo's real
/// captures, one round after another): goroutineleak, heap and debug=2 included.
fn catch_all_server() -> RawServer {
    let round = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    raw_server(move |head, conn| {
        use std::sync::atomic::Ordering;
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let k = if path == "/debug/pprof/goroutine" || path.starts_with("/debug/pprof/goroutine?") && !path.contains("debug=2") {
            round.fetch_add(1, Ordering::SeqCst)
        } else {
            round.load(Ordering::SeqCst).saturating_sub(1)
        };
        respond_with(conn, &demo(&format!("{:03}-goroutine.pb.gz", k.min(7))));
    })
}

/// What the ranking of a JSON report is: each suspect's rank, score, verdict, stack and counts.
fn ranking(doc: &serde_json::Value) -> Vec<String> {
    doc["suspects"].as_array().unwrap().iter().map(|s| format!("{} {} {} {} {}", s["rank"], s["score"], s["verdict"], s["stack"], s["counts"])).collect()
}

#[test]
fn a_folder_saved_from_a_server_that_answers_every_path_ranks_as_the_watch_did() {
    let s = catch_all_server();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("s");
    let (out, _) = run(leakhound()
        .args(["watch", &s.url, "--count", "6", "--interval", "200ms", "--retries", "0", "--quiet", "--heap", "--format", "json", "--save"])
        .arg(&saved));
    assert!(out.status.success(), "{}", stderr(&out));
    let watched: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = watched["errors"].to_string();
    assert!(notes.contains("not a heap profile"), "the watch noted the mismatch: {notes}");
    assert!(!ranking(&watched).is_empty(), "{watched:#}");
    let (out, _) = run(leakhound().args(["analyze", "--format", "json"]).arg(&saved));
    assert!(out.status.success(), "{}", stderr(&out));
    let analyzed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(analyzed["snapshots"].as_array().map(Vec::len), watched["snapshots"].as_array().map(Vec::len), "{:#}", analyzed["snapshots"]);
    assert_eq!(ranking(&analyzed), ranking(&watched));
    assert!(analyzed["errors"].to_string().contains("saved as heap"), "{:#}", analyzed["errors"]);
}

/// What a hostile name tries in each format: close a code span, open a tag, a link and an image,
/// split a table cell, emphasise, and colour a terminal.
const HOSTILE_NAME: &str = "`<img src=x onerror=alert(1)>[l](http://evil.example/)![i](http://evil.example/i.png)|**b**\x1b[31m";

/// The demo's eight real snapshots of tests/goservice with every `main.` function renamed to
/// carry [`HOSTILE_NAME`] (a profile's string table holds any bytes).
fn hostile_series(dir: &Path) -> Vec<PathBuf> {
    (0..8)
        .map(|i| {
            let name = format!("{i:03}-goroutine.pb.gz");
            let bytes = edited(&demo_path(&name), |p| {
                let names: Vec<i64> = p.function.iter().map(|f| f.name).collect();
                for (i, s) in p.string_table.iter_mut().enumerate() {
                    if let Some(rest) = s.strip_prefix("main.").filter(|_| names.contains(&(i as i64))) {
                        *s = format!("main.{HOSTILE_NAME}.{rest}");
                    }
                }
            });
            write(dir, &name, &bytes)
        })
        .collect()
}

#[test]
fn hostile_names_are_escaped_in_every_format() {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let dir = tempfile::tempdir().unwrap();
    let dumps = hostile_series(dir.path());
    let report = |format: &str| {
        let (out, _) = run(leakhound().args(["analyze", "--format", format]).args(&dumps));
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        assert_terminal_safe(&format!("{format} stderr"), &stderr(&out));
        String::from_utf8(out.stdout).expect("UTF-8 output")
    };
    // JSON: the names exactly, as data.
    let json = report("json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    schema::validate(&doc);
    let started = doc["suspects"][0]["started_from"]["function"].as_str().unwrap_or_default();
    assert!(started.contains(HOSTILE_NAME), "{:#}", doc["suspects"][0]);
    assert_terminal_safe("json", &json);
    // Text: shown, never acted on.
    let text = report("text");
    assert!(text.contains("started from:") && text.contains("[l](http://evil.example/)"), "{text}");
    assert_terminal_safe("text", &text);
    // Markdown, rendered as a CommonMark (GitHub) viewer does: no tag, link or image from a name,
    // and no emphasis either.
    let markdown = report("markdown");
    assert!(markdown.contains("Started from:"), "{markdown}");
    assert_terminal_safe("markdown", &markdown);
    let mut emphasis = 0;
    for event in Parser::new_ext(&markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML {h:?} from a name in:\n{markdown}"),
            Event::Start(Tag::Link { dest_url, .. }) => panic!("a link to {dest_url} from a name in:\n{markdown}"),
            Event::Start(Tag::Image { dest_url, .. }) => panic!("an image from {dest_url} from a name in:\n{markdown}"),
            Event::Start(Tag::Emphasis) => emphasis += 1,
            _ => {}
        }
    }
    assert_eq!(emphasis, 0, "{markdown}");
    for line in markdown.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| #")) {
        // Columns of the suspects table: no name split a row.
        assert_eq!(line.replace("\\|", "").matches('|').count(), 9, "{line}");
    }
    // HTML: the page shows the name as text.
    let html = report("html");
    assert!(!html.contains("<img src=x"), "raw tag in the HTML report");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the name is shown");
    assert_terminal_safe("html", &html);
    // DOT: Graphviz reads it and shows the name as text.
    let dot = report("dot");
    assert_terminal_safe("dot", &dot);
    let svg = common::render_svg(&dot);
    assert!(svg.contains("[l](http://evil.example/)"), "{svg}");
}

#[test]
fn serve_loses_a_bombing_targets_sample_never_the_process() {
    let bomb = Arc::new(one_huge_string(1000));
    let s = raw_server(move |_, conn| respond_with(conn, &bomb));
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut child = leakhound()
        .args(["serve", &s.url, "--listen", &listen, "--interval", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let report = format!("http://{listen}/api/v1/report");
    let mut seen = String::new();
    // Three rounds of the bomb at least: the error each time, the process alive after them.
    let refused = common::wait_until(Duration::from_secs(60), || {
        seen = common::try_http_get(&report, &[]).map(|r| String::from_utf8_lossy(&r.body).into_owned()).unwrap_or_default();
        seen.contains("larger than 268435456 bytes") && s.requests.lock().unwrap().len() >= 3
    });
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(refused, "{seen}");
    assert!(alive, "serve ended");
}
