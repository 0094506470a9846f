//! `--format html` in a real browser: the demo report, a heap diff and a 5,000-stack diff are opened
//! in headless Chromium (Debian's `chromium`, installed with apt-get when missing) and driven over
//! the DevTools protocol. Each page must log no error, request nothing but itself, show every
//! suspect or change of the JSON report, carry non-empty SVG charts, and its flame graph must zoom
//! on a real mouse click and find frames by search. Screenshots land in
//! `<target>/html-test/*.png` for a person to look at.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use common::run_ok;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn out_dir() -> PathBuf {
    let d = common::target_dir().join("html-test");
    std::fs::create_dir_all(&d).expect("create target/html-test");
    d
}

// ---------------------------------------------------------------------------------------------
// Chromium: found or installed, started headless with a DevTools port, driven over a websocket.

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> &'static str {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(provision_chromium) {
        panic!(
            "headless Chromium is needed to test --format html in a real browser, and could not be installed: {e}\n\
             Install it (Debian/Ubuntu: apt-get install chromium) and re-run."
        );
    }
    CHROMIUM
}

fn provision_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let apt = "apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends";
    let script = format!("if [ -x {CHROMIUM} ]; then exit 0; fi; {apt} install chromium || {{ apt-get update && {apt} install chromium; }}");
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let sudo = if root { "" } else { "sudo -n " };
    let lock = common::target_dir().join("chromium-install.lock");
    let has_flock = Command::new("flock").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    let mut cmd = if has_flock {
        let mut c = Command::new("flock");
        c.arg("-w").arg("900").arg(&lock).arg("sh");
        c
    } else {
        Command::new("sh")
    };
    cmd.arg("-c").arg(format!("{sudo}sh -c '{script}'")).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    eprintln!("html: {CHROMIUM} not found, installing chromium with apt-get");
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    if Path::new(CHROMIUM).exists() {
        Ok(())
    } else {
        Err("apt-get install chromium succeeded but /usr/bin/chromium is missing".into())
    }
}

struct Browser {
    child: Child,
    port: u16,
    /// `ws://127.0.0.1:PORT/devtools/browser/ID`, as Chromium prints it.
    endpoint: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("chromium stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                        let port = rest.split('/').next().and_then(|p| p.parse().ok()).expect("DevTools port");
                        let endpoint = format!("ws://127.0.0.1:{}", rest.trim());
                        return Browser { child, port, endpoint, _profile: profile };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("chromium did not print its DevTools address within 60 s:\n{}", seen.join("\n"));
                }
            }
        }
    }

    /// A new tab, connected over its own DevTools websocket.
    fn tab(&self) -> Tab {
        let mut browser = Tab::connect(self.port, &self.endpoint);
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"].as_str().expect("targetId").to_string();
        Tab::connect(self.port, &format!("page/{id}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Tab {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    events: Vec<Value>,
}

impl Tab {
    /// `path` is a whole `ws://` URL or a path below `/devtools/`.
    fn connect(port: u16, path: &str) -> Tab {
        let url = if path.starts_with("ws://") { path.to_string() } else { format!("ws://127.0.0.1:{port}/devtools/{path}") };
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("DevTools websocket handshake");
        // Short reads from here on, so waiting for an event can watch its deadline.
        ws.get_ref().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        Tab { ws, next_id: 1, events: Vec::new() }
    }

    fn read(&mut self, deadline: Instant) -> Option<Value> {
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).expect("DevTools sends JSON")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("DevTools websocket: {e}"),
            }
        }
        None
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_within(method, params, Duration::from_secs(60)).unwrap_or_else(|| panic!("no answer to {method} within 60 s"))
    }

    fn call_within(&mut self, method: &str, params: Value, wait: Duration) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(msg)).expect("send to DevTools");
        let deadline = Instant::now() + wait;
        while let Some(v) = self.read(deadline) {
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return Some(v["result"].clone());
            }
            self.events.push(v);
        }
        None
    }

    fn wait_event(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(v) = self.read(deadline) {
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
        panic!("no {method} within 60 s");
    }

    /// Lets pending events (console messages, requests) arrive.
    fn drain(&mut self, for_: Duration) {
        let deadline = Instant::now() + for_;
        while let Some(v) = self.read(deadline) {
            self.events.push(v);
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    fn open(&mut self, file: &Path) {
        for domain in ["Page", "Runtime", "Log", "Network"] {
            self.call(&format!("{domain}.enable"), json!({}));
        }
        self.load(file);
    }

    /// The page as a reader without JavaScript sees it.
    fn open_without_script(&mut self, file: &Path) {
        self.call("Page.enable", json!({}));
        self.call("Emulation.setScriptExecutionDisabled", json!({ "value": true }));
        self.load(file);
    }

    fn load(&mut self, file: &Path) {
        self.call("Emulation.setDeviceMetricsOverride", json!({ "width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false }));
        self.events.clear();
        let url = format!("file://{}", file.display());
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_event("Page.loadEventFired");
        self.drain(Duration::from_millis(300));
    }

    /// Console errors, uncaught exceptions and browser-logged errors (CSP violations among them).
    fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Runtime.consoleAPICalled") if matches!(p["type"].as_str(), Some("error" | "assert" | "warning")) => {
                    out.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                Some("Runtime.exceptionThrown") => out.push(format!("exception: {}", p["exceptionDetails"])),
                Some("Log.entryAdded") if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) => out.push(format!("log: {}", p["entry"]["text"])),
                _ => {}
            }
        }
        out
    }

    /// How many elements each selector matches, read through the DOM domain (no page script).
    fn count(&mut self, selectors: &[&str]) -> Vec<usize> {
        let root = self.call("DOM.getDocument", json!({ "depth": 0 }));
        let id = root["root"]["nodeId"].clone();
        selectors
            .iter()
            .map(|sel| self.call("DOM.querySelectorAll", json!({ "nodeId": id, "selector": sel }))["nodeIds"].as_array().map_or(0, Vec::len))
            .collect()
    }

    fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .map(|e| e["params"]["request"]["url"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The page's own document is the only request; nothing is logged as an error.
    fn assert_clean(&self, file: &Path) {
        let errors = self.errors();
        assert!(errors.is_empty(), "{}: the browser logged errors:\n{}", file.display(), errors.join("\n"));
        let own = format!("file://{}", file.display());
        let requests = self.requests();
        // The navigation itself is seen, so the request listener demonstrably works.
        assert!(requests.iter().any(|r| r.starts_with(&own)), "{}: the page's own load was not observed: {requests:?}", file.display());
        let other: Vec<&String> = requests.iter().filter(|r| !r.starts_with(&own)).collect();
        assert!(other.is_empty(), "{}: the page requested {other:?}", file.display());
    }

    /// A real mouse click at the middle of the element `selector` matches (after scrolling to it).
    fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + Math.min(r.width / 2, 20), r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }));
        }
    }

    fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).focus()"));
        self.call("Input.insertText", json!({ "text": text }));
    }

    fn screenshot(&mut self, name: &str) -> PathBuf {
        // A background tab paints no frames: the capture would wait forever.
        self.call("Page.bringToFront", json!({}));
        // On a loaded machine a capture can wait long for a frame that never comes; a scroll makes
        // the page paint again.
        let mut r = None;
        for _ in 0..3 {
            r = self.call_within("Page.captureScreenshot", json!({ "format": "png" }), Duration::from_secs(20));
            if r.is_some() {
                break;
            }
            eprintln!("screenshot {name}: no frame in 20 s, scrolling and trying again");
            self.eval("window.scrollBy(0, 1)");
        }
        let r = r.unwrap_or_else(|| panic!("screenshot {name}: no answer to Page.captureScreenshot in 60 s"));
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().expect("screenshot data")).expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        // A blank 1400x1000 page compresses to a few KiB; a page of charts and tables does not.
        assert!(png.len() > 40_000, "screenshot {name} is nearly blank ({} bytes)", png.len());
        let path = out_dir().join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        path
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the pages.

/// Searches the flame graph, then zooms on its widest frame below the root with a real click.
fn flame_search_and_zoom(tab: &mut Tab, query: &str, name: &str) {
    tab.type_into("#flame-search", query);
    let hits = tab.eval(&format!(
        "(() => {{ const q = {}; const hits = [...document.querySelectorAll('#flame g.hit')].map(g => g.querySelector('title').textContent.split('\\n')[0]);
            return {{ hits: hits.length, wrong: hits.filter(h => !h.toLowerCase().includes(q)).length, status: document.getElementById('flame-status').textContent, matches: +document.getElementById('flame-status').getAttribute('data-matches') }}; }})()",
        serde_json::to_string(&query.to_lowercase()).unwrap()
    ));
    assert!(hits["hits"].as_u64().unwrap() > 0, "searching {query:?} highlighted nothing: {hits}");
    assert_eq!(hits["wrong"], 0, "searching {query:?} highlighted frames that do not match: {hits}");
    assert!(hits["matches"].as_u64().unwrap() > 0 && hits["status"].as_str().unwrap().contains("% of the change"), "{hits}");
    // Clear the search, then zoom on the widest frame that is not the root.
    tab.eval("(() => { const i = document.getElementById('flame-search'); i.value = ''; i.dispatchEvent(new Event('input')); })()");
    let target = tab.eval(
        "(() => { const gs = [...document.querySelectorAll('#flame g')].filter(g => g.querySelector('rect').getAttribute('y') !== '0');
            gs.sort((a, b) => b.querySelector('rect').getAttribute('width') - a.querySelector('rect').getAttribute('width'));
            const g = gs.find(g => +g.querySelector('rect').getAttribute('width') < 1199) || gs[0];
            g.setAttribute('data-test-target', '1');
            return { name: g.querySelector('title').textContent.split('\\n')[0], width: +g.querySelector('rect').getAttribute('width'), y: +g.querySelector('rect').getAttribute('y') }; })()",
    );
    tab.click("#flame g[data-test-target] rect");
    let zoomed = tab.eval(&format!(
        "(() => {{ const name = {}; const svg = document.getElementById('flame');
            const g = [...svg.querySelectorAll('g')].find(g => g.querySelector('title').textContent.split('\\n')[0] === name && g.querySelector('rect').getAttribute('y') === '{}');
            return {{ zoom: svg.getAttribute('data-zoom'), width: g ? +g.querySelector('rect').getAttribute('width') : -1, reset: !document.getElementById('flame-reset').hidden }}; }})()",
        serde_json::to_string(target["name"].as_str().unwrap()).unwrap(),
        target["y"]
    ));
    assert_eq!(zoomed["zoom"], target["name"], "clicking {target} did not zoom on it: {zoomed}");
    assert!(zoomed["width"].as_f64().unwrap() > 1199.0, "the zoomed frame does not fill the width: {zoomed} (was {target})");
    assert_eq!(zoomed["reset"], true, "no reset button after zooming");
    tab.eval("document.getElementById('flamegraph').scrollIntoView()");
    tab.screenshot(&format!("{name}-zoomed"));
    tab.click("#flame-reset");
    let back = tab.eval("document.getElementById('flame').getAttribute('data-zoom')");
    assert_eq!(back, "", "reset did not zoom out");
    tab.drain(Duration::from_millis(200));
    assert!(tab.errors().is_empty(), "errors while searching and zooming: {:?}", tab.errors());
}

fn json_of(cmd: &mut Command) -> Value {
    let out = run_ok(cmd);
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn demo_page_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    let page = out_dir().join("demo.html");
    run_ok(leakhound().args(["demo", "-q", "--format", "html", "--save"]).arg(&saved).arg("-o").arg(&page));
    // The same files, ranked again, as JSON: the contract the page must show in full.
    let report = json_of(leakhound().arg("analyze").arg(&saved).args(["-f", "json"]));
    let suspects = report["suspects"].as_array().unwrap();
    assert!(suspects.len() >= 10, "the demo has ten leaks and more: {}", suspects.len());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'"), "no strict CSP meta");
    // check writes the page too, and still fails on the leaks.
    let checked = out_dir().join("check.html");
    let out = leakhound().arg("check").arg(&saved).args(["-f", "html", "-o"]).arg(&checked).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "check fails on the demo's leaks: {}", String::from_utf8_lossy(&out.stderr));
    let check_page = std::fs::read_to_string(&checked).unwrap();
    assert_eq!(check_page.matches("<article class=\"suspect\"").count(), suspects.len(), "check's page shows every suspect");
    assert!(html.len() < 300_000, "demo page is {} bytes", html.len());

    let browser = Browser::start();
    let mut tab = browser.tab();
    tab.open(&page);
    tab.assert_clean(&page);

    let dom = tab.eval(
        "(() => ({
            articles: [...document.querySelectorAll('article.suspect')].map(a => [a.id, a.getAttribute('data-leaf')]),
            rows: [...document.querySelectorAll('#suspect-table tbody tr')].map(r => r.getAttribute('data-leaf')),
            timeline: document.querySelector('#timeline-chart polyline.g').getAttribute('points').trim().split(/\\s+/).length,
            heapLine: !!document.querySelector('#timeline-chart polyline.h'),
            countCharts: document.querySelectorAll('svg.count-chart polyline.g').length,
            graphNodes: document.querySelectorAll('#callgraph-svg g.node').length,
            graphLeaves: document.querySelectorAll('#callgraph-svg g.node.leaf').length,
            graphEdges: document.querySelectorAll('#callgraph-svg path.fwd, #callgraph-svg path.back').length,
            commands: [...document.querySelectorAll('pre.cmd')].map(p => p.textContent.split('\\n')[0]),
            fixes: document.querySelectorAll('p.fix').length,
            text: document.body.innerText,
        }))()",
    );
    let leaves: Vec<&str> = suspects.iter().map(|s| s["leaf"].as_str().unwrap()).collect();
    let articles: Vec<(String, String)> =
        dom["articles"].as_array().unwrap().iter().map(|a| (a[0].as_str().unwrap().into(), a[1].as_str().unwrap().into())).collect();
    assert_eq!(articles.len(), suspects.len(), "one section per suspect");
    for s in suspects {
        let (rank, leaf) = (s["rank"].as_u64().unwrap(), s["leaf"].as_str().unwrap());
        assert!(articles.contains(&(format!("s{rank}"), leaf.to_string())), "suspect #{rank} {leaf} has no section: {articles:?}");
        assert!(dom["text"].as_str().unwrap().contains(s["hint"].as_str().unwrap()), "the fix of #{rank} is not on the page");
    }
    assert_eq!(dom["rows"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>(), leaves, "the table lists the suspects in rank order");
    assert_eq!(dom["timeline"].as_u64().unwrap() as usize, report["snapshots"].as_array().unwrap().len(), "one point per snapshot");
    assert_eq!(dom["heapLine"], true, "the demo takes heap profiles: the heap line is drawn");
    assert_eq!(dom["countCharts"].as_u64().unwrap() as usize, suspects.len());
    assert!(dom["graphNodes"].as_u64().unwrap() > 10 && dom["graphEdges"].as_u64().unwrap() > 10, "call graph: {dom}");
    assert_eq!(dom["graphLeaves"].as_u64().unwrap() as usize, suspects.len(), "every suspect's leaf is a filled node of the call graph");
    assert_eq!(dom["fixes"].as_u64().unwrap() as usize, suspects.len());

    // The first pprof command runs as shown and prints the suspect's stack.
    let first = dom["commands"][0].as_str().expect("pprof commands on the page");
    let words = shell_words(first);
    assert_eq!(&words[..3], ["go", "tool", "pprof"], "{first}");
    let args: Vec<&str> = words[3..].iter().map(String::as_str).collect();
    let traces = common::go_tool_pprof(&args);
    assert!(traces.contains(leaves[0]), "`{first}` does not show {}:\n{traces}", leaves[0]);

    // Sorting: growth/min ascending puts the slowest suspect first.
    tab.click("#suspect-table thead th:nth-child(4)");
    let first_growth = tab.eval("+document.querySelector('#suspect-table tbody tr').cells[3].getAttribute('data-v')");
    let slowest = suspects.iter().map(|s| s["growth_per_minute"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    assert_eq!(first_growth.as_f64().unwrap(), slowest, "sorting by growth/min puts the slowest suspect first");
    tab.eval("window.scrollTo(0, 0)");
    let shot = tab.screenshot("demo");
    tab.call("Emulation.setEmulatedMedia", json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }));
    tab.eval("document.getElementById('callgraph').scrollIntoView()");
    tab.screenshot("demo-dark-callgraph");
    eprintln!("screenshot: {}", shot.display());

    // Without JavaScript: every section, chart and the call graph are there.
    let mut plain = browser.tab();
    plain.open_without_script(&page);
    let n = plain.count(&["article.suspect", "svg.count-chart", "#timeline-chart polyline", "#callgraph-svg g.node", "th.sortable-th"]);
    assert_eq!(&n[..2], [suspects.len(), suspects.len()], "{n:?}");
    assert!(n[2] >= 1 && n[3] > 10, "{n:?}");
    assert_eq!(n[4], 0, "the script did not run, so nothing was made sortable: {n:?}");

    assert!(tab.errors().is_empty(), "errors while sorting and switching to dark: {:?}", tab.errors());

    // The checks above would notice an error or a request: a blocked fetch is logged.
    tab.eval("(() => { const i = new Image(); i.src = 'http://127.0.0.1:9/probe.png'; document.body.appendChild(i); })()");
    tab.drain(Duration::from_millis(500));
    assert!(tab.errors().iter().any(|e| e.contains("Content Security Policy")), "the CSP did not block a probe image: {:?}", tab.errors());
}

/// Splits a command line as a POSIX shell would for the quoting the page uses (single quotes).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[test]
fn heap_diff_page_in_a_browser() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go127");
    let (before, after) = (fixtures.join("heap-before.pb.gz"), fixtures.join("heap-after.pb.gz"));
    let report = json_of(leakhound().arg("diff").arg(&before).arg(&after).args(["-f", "json"]));
    let page = out_dir().join("heap-diff.html");
    run_ok(leakhound().arg("diff").arg(&before).arg(&after).args(["-f", "html", "-o"]).arg(&page));

    let browser = Browser::start();
    let mut tab = browser.tab();
    tab.open(&page);
    tab.assert_clean(&page);
    let dom = tab.eval(
        "(() => ({
            rows: [...document.querySelectorAll('#change-table tbody tr')].map(r => r.cells[r.cells.length - 1].querySelector('code').textContent),
            frames: document.querySelectorAll('#flame g').length,
            grow: document.querySelectorAll('#flame g[class^=up]').length,
            shrink: document.querySelectorAll('#flame g[class^=dn]').length,
            title: document.querySelector('h1').textContent,
        }))()",
    );
    let changes = report["changes"].as_array().unwrap();
    let leaves: Vec<&str> = changes.iter().map(|c| c["leaf"].as_str().unwrap()).collect();
    assert_eq!(dom["rows"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>(), leaves);
    assert!(dom["title"].as_str().unwrap().contains("inuse_space") && dom["title"].as_str().unwrap().contains("MiB"), "{dom}");
    assert!(dom["frames"].as_u64().unwrap() > changes.len() as u64, "flame graph: {dom}");
    // This diff has allocation sites that grew and ones that went away: both colours are drawn.
    assert!(dom["grow"].as_u64().unwrap() > 0 && dom["shrink"].as_u64().unwrap() > 0, "growth and shrink colours: {dom}");
    flame_search_and_zoom(&mut tab, "retainingLeak", "heap-diff");
    tab.eval("window.scrollTo(0, 0)");
    tab.screenshot("heap-diff");
    // Without JavaScript the flame graph is still drawn (the static SVG), and the controls that
    // need the script stay hidden.
    let mut plain = browser.tab();
    plain.open_without_script(&page);
    let n = plain.count(&["#flame g", "#flame-controls[hidden]", "#change-table tbody tr", "#flame g.hit"]);
    assert!(n[0] > changes.len(), "static flame graph frames: {n:?}");
    assert_eq!(&n[1..], [1, changes.len(), 0], "{n:?}");
}

/// Builds `bench/gen` (the benchmark's profile generator) and has it write two profiles of 5,000
/// distinct stacks, every one of which grows between them.
fn large_profiles(dir: &Path) -> (PathBuf, PathBuf) {
    let go = common::go();
    let gen = out_dir().join("gen");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen");
    let out = common::go_command(&go).current_dir(&src).env("GOFLAGS", "").args(["build", "-o"]).arg(&gen).arg(".").output().expect("go build bench/gen");
    assert!(out.status.success(), "go build bench/gen failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(&gen)
        .arg("-out")
        .arg(dir)
        .args(["-goroutines", "10000", "-stacks", "5000", "-grow-stacks", "5000", "-grow", "2", "-series", "1", "-big-mb", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run bench/gen");
    assert!(out.status.success(), "bench/gen failed:\n{}", String::from_utf8_lossy(&out.stderr));
    (dir.join("snap-0.pb.gz"), dir.join("snap-1.pb.gz"))
}

#[test]
fn large_diff_page_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = large_profiles(dir.path());
    let report = json_of(leakhound().arg("diff").arg(&base).arg(&new).args(["-f", "json"]));
    let changes = report["changes"].as_array().unwrap().len();
    assert!(changes >= 5000, "bench/gen grows all 5,000 stacks: {changes} changes");
    let page = out_dir().join("large-diff.html");
    run_ok(leakhound().arg("diff").arg(&base).arg(&new).args(["-f", "html", "-o"]).arg(&page));
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 4 << 20, "a 5,000-stack diff page should stay a few MiB, not {size} bytes");
    eprintln!("large diff page: {size} bytes for {changes} changes");

    let browser = Browser::start();
    let mut tab = browser.tab();
    let started = Instant::now();
    tab.open(&page);
    eprintln!("large diff page loaded in {:?}", started.elapsed());
    tab.assert_clean(&page);
    let dom = tab.eval(
        "(() => ({
            stacks: JSON.parse(document.getElementById('flame-data').textContent).stacks.length,
            root: document.querySelector('#flame g title').textContent,
            frames: document.querySelectorAll('#flame g').length,
            rows: document.querySelectorAll('#change-table tbody tr').length,
        }))()",
    );
    assert_eq!(dom["stacks"].as_u64().unwrap() as usize, changes, "every change is in the flame graph's data");
    assert!(dom["root"].as_str().unwrap().starts_with(&format!("all changes ({changes} stack groups)")), "{dom}");
    assert!(dom["frames"].as_u64().unwrap() > 100, "{dom}");
    assert_eq!(dom["rows"].as_u64().unwrap(), 1000, "the table shows the 1,000 largest changes");
    flame_search_and_zoom(&mut tab, "main.f43", "large-diff");
    tab.eval("window.scrollTo(0, 0)");
    tab.screenshot("large-diff");
}

/// A function name that is markup must arrive as text: a debug=2 dump (text, so a test may write
/// it) whose leak function is named like an HTML tag.
#[test]
fn markup_in_a_profile_is_text_on_the_page() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go127");
    let dir = tempfile::tempdir().unwrap();
    let hostile = "main.<svg/onload=alert`1`>";
    let mut files = Vec::new();
    for name in ["goroutine-before.debug2.txt", "goroutine-after.debug2.txt"] {
        let text = std::fs::read_to_string(fixtures.join(name)).unwrap().replace("main.fanoutWorker", hostile);
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let json = json_of(leakhound().arg("diff").arg(&files[0]).arg(&files[1]).args(["-f", "json"]));
    assert!(json.to_string().contains("<svg/onload"), "the name went through the decoder unchanged: {json}");
    let out = run_ok(leakhound().arg("diff").arg(&files[0]).arg(&files[1]).args(["-f", "html"]));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(!html.contains("<svg/onload"), "markup from the profile reached the page unescaped");
    assert!(html.contains("main.&lt;svg/onload=alert`1`&gt;"), "the name is shown, escaped");
    // In the flame graph's data block `<` is escaped for JavaScript.
    assert!(html.contains(r"main.\u003csvg/onload"), "the data block escapes `<`");
}

/// A watch whose service dies part-way: its page marks every failed round on the timeline, where it
/// fell (after the last snapshot here), and lists why.
#[test]
fn a_watch_marks_its_failed_rounds_on_the_page() {
    let mut svc = common::Service::start(&["-scenario", "leaky", "-rate", "5", "-load", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    let page = out_dir().join("watch-failed.html");
    let rounds = 8;
    let watch = leakhound()
        .args(["watch", &svc.url(), "--interval", "500ms", "--count", &rounds.to_string(), "--retries", "0", "--timeout", "2s", "-q", "--save"])
        .arg(&saved)
        .args(["-f", "html", "-o"])
        .arg(&page)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start leakhound watch");
    let taken =
        || std::fs::read_dir(&saved).map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().contains("-goroutine.")).count()).unwrap_or(0);
    assert!(common::wait_until(Duration::from_secs(60), || taken() >= 3), "watch saved no goroutine profiles");
    svc.kill();
    let out = watch.wait_with_output().expect("wait for watch");
    assert!(out.status.success(), "watch failed: {}", String::from_utf8_lossy(&out.stderr));
    let snapshots = taken();
    let html = std::fs::read_to_string(&page).unwrap();
    let marks = html.matches("<circle class=\"fail\"").count();
    assert!(marks >= 1, "no failed round marked although the service died after {snapshots} snapshots");
    assert_eq!(snapshots + marks, rounds, "every round is a snapshot or a failed round on the chart");
    assert!(html.contains("failed round: round "), "a failed round's mark says why");
    assert!(html.contains(&format!("failed round ({marks})")), "the legend counts them");
}
