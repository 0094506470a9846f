//! Fetching profiles from a live service over HTTP (reqwest, rustls).
//!
//! Failures are named for what they are, with what to do about them. Credentials given with `-H`
//! or in the URL are never printed, and no `-H` header follows a redirect to another origin.

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Where pprof lives on a service, and how to ask for it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port/debug/pprof` (no trailing slash).
    pub prefix: String,
    /// The goroutine (or goroutineleak) profile URL exactly as the user wrote it, query included,
    /// when they gave a full profile URL.
    pub profile_url: Option<String>,
}

/// The profiles `net/http/pprof` serves under its prefix.
const PPROF_ENDPOINTS: [&str; 11] = ["goroutine", "goroutineleak", "heap", "allocs", "block", "mutex", "threadcreate", "profile", "trace", "cmdline", "symbol"];

/// The pprof prefix when `--path` is not given.
pub const DEFAULT_PPROF_PATH: &str = "/debug/pprof";

impl Target {
    /// A URL taken as written. A base URL (`http://host:port`) gets pprof at `path` (default
    /// `/debug/pprof`); a full goroutine or goroutineleak profile URL is fetched as written,
    /// endpoint and query (`?debug=2`, `?seconds=N`) kept, and the other profiles are fetched from
    /// beside it; a URL of pprof's prefix (`http://host:port/internal/pprof`) is that prefix.
    /// `host:port` without a scheme is taken as `http://host:port`. A `path` that contradicts the
    /// URL's own path is refused.
    pub fn parse(url: &str, path: Option<&str>) -> Result<Target, FetchError> {
        let written = url.trim();
        let with_scheme = if written.contains("://") { written.to_string() } else { format!("http://{written}") };
        let parsed = reqwest::Url::parse(&with_scheme).map_err(|e| {
            FetchError::BadUrl(format!("{written}: {e}; give the service's address as http://host:port (or the full URL of its goroutine profile)"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl(format!("{written}: only http:// and https:// URLs can be sampled")));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(FetchError::BadUrl(format!("{written}: no host; give the service's address as http://host:port")));
        }
        let origin = parsed.origin().ascii_serialization();
        let url_path = parsed.path().trim_end_matches('/');
        let (dir, last) = url_path.rsplit_once('/').unwrap_or(("", url_path));
        let mut profile_url = None;
        let prefix_path = if PPROF_ENDPOINTS.contains(&last) {
            if last != "goroutine" && last != "goroutineleak" {
                return Err(FetchError::BadUrl(format!(
                    "{written} is the {last} profile; leakhound samples goroutines: give the service's base URL (http://host:port) or its goroutine profile ({origin}{dir}/goroutine){}",
                    if last == "heap" { ", and --heap to fetch the heap too" } else { "" }
                )));
            }
            // Without its user name and password: they travel as a header (see `url_credentials`),
            // never inside a URL that is shown, saved or reported.
            let mut clean = parsed.clone();
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            profile_url = Some(clean.as_str().to_string());
            dir.to_string()
        } else {
            if parsed.query().is_some() {
                return Err(FetchError::BadUrl(format!(
                    "{written}: a query belongs on a profile URL, e.g. {origin}{}/goroutine?{}",
                    if url_path.is_empty() { path.unwrap_or(DEFAULT_PPROF_PATH).trim_end_matches('/') } else { url_path },
                    parsed.query().unwrap_or_default()
                )));
            }
            url_path.to_string()
        };
        let prefix_path = match path {
            None if prefix_path.is_empty() => DEFAULT_PPROF_PATH.to_string(),
            None => prefix_path,
            Some(p) => {
                let p = format!("/{}", p.trim_matches('/'));
                let p = if p == "/" { String::new() } else { p };
                if !prefix_path.is_empty() && prefix_path != p {
                    return Err(FetchError::BadUrl(format!(
                        "{written} says pprof is at {prefix_path}, but --path says {p}: give one of them (a base URL with --path, or the full URL alone)"
                    )));
                }
                p
            }
        };
        Ok(Target { prefix: format!("{origin}{}", prefix_path.trim_end_matches('/')), profile_url })
    }

    pub fn url(&self, profile: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{}/{profile}", self.prefix)
        } else {
            format!("{}/{profile}?{query}", self.prefix)
        }
    }

    /// The URL of the goroutine snapshots: the profile URL as written, or the goroutine profile
    /// under the prefix. `debug2` asks for the `debug=2` dump; it conflicts with another `debug=`
    /// in a URL as written.
    pub fn goroutine_url(&self, debug2: bool) -> Result<String, FetchError> {
        let Some(written) = &self.profile_url else {
            return Ok(self.url("goroutine", if debug2 { "debug=2" } else { "" }));
        };
        if !debug2 {
            return Ok(written.clone());
        }
        let mut url = reqwest::Url::parse(written).map_err(|e| FetchError::BadUrl(format!("{written}: {e}")))?;
        match url.query_pairs().find(|(k, _)| k == "debug").map(|(_, v)| v.into_owned()) {
            Some(v) if v == "2" => {}
            Some(v) => return Err(FetchError::BadUrl(format!("{written} asks for debug={v}, but --debug2 asks for debug=2: give one of them"))),
            None => {
                url.query_pairs_mut().append_pair("debug", "2");
            }
        }
        Ok(url.to_string())
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FetchError {
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("bad header '{0}': write it as -H 'Name: value'")]
    BadHeader(String),
    #[error("{url}: connection refused: is the service running and listening on that port?")]
    Refused { url: String },
    #[error("{url}: timed out after {secs} s: the service is slow or unreachable; raise --timeout if it is just slow")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: 404 Not Found: pprof is not mounted at this path: import _ \"net/http/pprof\" in the service, or pass --path if it is mounted elsewhere")]
    NotFound { url: String },
    #[error("{url}: {status}: the service wants credentials: pass -H 'Authorization: Bearer <token>'")]
    Unauthorized { url: String, status: u16 },
    #[error("{url}: got an HTML page instead of a profile (a login page, proxy or error page?); check the URL and --path")]
    Html { url: String },
    #[error("{url}: HTTP {status}{detail}")]
    Status { url: String, status: u16, detail: String },
    #[error("{url}: the response is larger than {limit} bytes ({what}); pass --max-profile-bytes to raise the cap if the profile is genuine")]
    TooLarge { url: String, limit: u64, what: String },
    #[error("{url}: the body was cut short: the server closed the connection after {detail}; fetch again")]
    BodyCut { url: String, detail: String },
    #[error("{url}: redirected {message}")]
    Redirect { url: String, message: String },
    #[error("{url}: the response headers are too large (a misbehaving server or proxy)")]
    HeadersTooLarge { url: String },
    #[error("{url}: {message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// Worth another try: the service may come back (restart) or answer next time.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Refused { .. } | FetchError::Timeout { .. } | FetchError::BodyCut { .. } | FetchError::Other { .. } => true,
            // 501 Not Implemented says the server never will (a service that serves no debug=2, say):
            // retrying it only holds a worker for the backoff, which at serve's thousands of
            // targets held up whole rounds.
            FetchError::Status { status, .. } => (*status >= 500 && *status != 501) || *status == 429,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub headers: Vec<String>,
    pub insecure: bool,
    /// The whole fetch, redirects and body included, ends by then.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retries: u32,
    /// First backoff; doubled on each retry.
    pub backoff: Duration,
    /// Largest response body read (`--max-profile-bytes`): a longer one ends the fetch.
    pub max_body_bytes: u64,
    /// Shared by the targets of a fleet: at most so many fetches at once (`--concurrency`).
    pub limit: Option<std::sync::Arc<FetchLimit>>,
    /// Keep a connection open between fetches. `serve` does not: it asks each of thousands of
    /// targets once an interval, and an idle connection (with the read buffer its last profile
    /// grew) per target made most of its memory (830 MiB at 10,000 targets).
    pub keep_idle: bool,
}

/// A bound on the fetches in flight at once across many targets: a counting semaphore. A fetch
/// holds a permit for one attempt (not while it backs off between retries), so a slow target
/// holds at most one permit and the others keep their pace while permits remain.
#[derive(Debug)]
pub struct FetchLimit {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl FetchLimit {
    pub fn new(permits: usize) -> FetchLimit {
        FetchLimit { free: std::sync::Mutex::new(permits.max(1)), freed: std::sync::Condvar::new() }
    }

    fn acquire(&self) -> FetchPermit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        FetchPermit(self)
    }
}

struct FetchPermit<'a>(&'a FetchLimit);

impl Drop for FetchPermit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            headers: Vec::new(),
            insecure: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(250),
            max_body_bytes: crate::profile::DEFAULT_MAX_PROFILE_BYTES,
            limit: None,
            keep_idle: true,
        }
    }
}

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Bytes of an error response read for its message.
const ERROR_BODY_BYTES: u64 = 4096;

pub struct Fetcher {
    client: Client,
    /// The user's `-H` headers: sent to the target's own origin only (see [`Fetcher::get`]).
    headers: HeaderMap,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
    max_body_bytes: u64,
    limit: Option<std::sync::Arc<FetchLimit>>,
}

impl Fetcher {
    pub fn new(opts: &HttpOptions) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        for h in &opts.headers {
            let (name, value) = h.split_once(':').ok_or_else(|| FetchError::BadHeader(redact(h)))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| FetchError::BadHeader(redact(h)))?;
            let mut value = HeaderValue::from_str(value.trim()).map_err(|_| FetchError::BadHeader(redact(h)))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        // Redirects are followed by hand (see `get_once`): reqwest would forward custom headers
        // such as X-Api-Key to whatever host a redirect names.
        let client = Client::builder()
            .user_agent(concat!("leakhound/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .danger_accept_invalid_certs(opts.insecure)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(if opts.keep_idle { usize::MAX } else { 0 })
            .build()
            .map_err(|e| FetchError::Other { url: String::new(), message: e.to_string() })?;
        Ok(Fetcher {
            client,
            headers,
            retries: opts.retries,
            backoff: opts.backoff,
            timeout: opts.timeout,
            max_body_bytes: opts.max_body_bytes,
            limit: opts.limit.clone(),
        })
    }

    /// GETs `url`, retrying transient failures with exponential backoff.
    ///
    /// Bounded in every way a server can stretch it: the whole fetch (redirects, headers and body)
    /// ends within the timeout, the body is read as a stream and never past `max_body_bytes`, at
    /// most [`MAX_REDIRECTS`] redirects are followed and a loop is named. The user's headers go to
    /// the target's origin only: a redirect to another scheme, host or port is followed without them.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let permit = self.limit.as_deref().map(FetchLimit::acquire);
            let result = self.get_once(url);
            drop(permit);
            match result {
                Err(e) if e.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                other => return other,
            }
        }
    }

    fn get_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let shown = redact_url(url);
        let deadline = Instant::now() + self.timeout;
        let first = reqwest::Url::parse(url).map_err(|e| FetchError::BadUrl(format!("{shown}: {e}")))?;
        let origin = first.origin();
        let mut current = first;
        let mut visited = vec![current.clone()];
        let mut same_origin = true;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out(&shown));
            }
            let mut request = self.client.get(current.clone()).timeout(left);
            if same_origin {
                request = request.headers(self.headers.clone());
            }
            let resp = request.send().map_err(|e| self.classify(&shown, &e))?;
            let status = resp.status();
            if !status.is_redirection() {
                return self.read_response(&shown, resp, deadline);
            }
            let Some(location) = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()) else {
                return Err(FetchError::Status { url: shown, status: status.as_u16(), detail: ": a redirect without a Location".into() });
            };
            let next = current.join(location).map_err(|e| FetchError::Redirect { url: shown.clone(), message: format!("to a bad URL ({e})") })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::Redirect { url: shown, message: format!("to {}, which is not http(s)", redact_url(next.as_str())) });
            }
            if visited.contains(&next) {
                let chain: Vec<String> = visited.iter().chain([&next]).map(|u| redact_url(u.as_str())).collect();
                return Err(FetchError::Redirect { url: shown, message: format!("in a loop: {}", chain.join(" → ")) });
            }
            if visited.len() > MAX_REDIRECTS {
                return Err(FetchError::Redirect { url: shown, message: format!("more than {MAX_REDIRECTS} times") });
            }
            // Once the chain leaves the target's origin, the user's headers stay behind for good.
            same_origin &= next.origin() == origin;
            visited.push(next.clone());
            current = next;
        }
    }

    /// Reads a response's body as a stream, never past the cap nor the deadline.
    fn read_response(&self, shown: &str, resp: reqwest::blocking::Response, deadline: Instant) -> Result<Vec<u8>, FetchError> {
        let status = resp.status().as_u16();
        let is_html = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/html"));
        let declared = resp.content_length();
        let ok = (200..300).contains(&status);
        let cap = if ok { self.max_body_bytes } else { ERROR_BODY_BYTES };
        if ok {
            if let Some(n) = declared.filter(|&n| n > cap) {
                return Err(FetchError::TooLarge { url: shown.to_string(), limit: cap, what: format!("it announces {n} bytes") });
            }
        }
        let body = match read_capped(resp, cap, deadline) {
            Ok(Read::Whole(b)) => b,
            Ok(Read::Capped(b)) if !ok => b,
            Ok(Read::Capped(_)) => return Err(FetchError::TooLarge { url: shown.to_string(), limit: cap, what: "it sent more".into() }),
            Err((_, ReadFail::Deadline)) => return Err(self.timed_out(shown)),
            Err((got, ReadFail::Io(e))) => {
                if !ok {
                    Vec::new()
                } else if e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()).is_some_and(reqwest::Error::is_timeout) {
                    return Err(self.timed_out(shown));
                } else {
                    let expected = declared.map(|n| format!(" of the {n} its Content-Length announced")).unwrap_or_default();
                    return Err(FetchError::BodyCut { url: shown.to_string(), detail: format!("{got} bytes{expected} ({})", error_chain(&e)) });
                }
            }
        };
        match status {
            200..=299 => {
                let head = String::from_utf8_lossy(&body[..body.len().min(256)]).trim_start().to_ascii_lowercase();
                if is_html || head.starts_with("<!doctype html") || head.starts_with("<html") {
                    return Err(FetchError::Html { url: shown.to_string() });
                }
                Ok(body)
            }
            404 => Err(FetchError::NotFound { url: shown.to_string() }),
            401 | 403 => Err(FetchError::Unauthorized { url: shown.to_string(), status }),
            _ => {
                // The server's own words, cut short and shown as text (it may hold escape codes).
                let text: String = String::from_utf8_lossy(&body).trim().chars().take(200).collect();
                let text = crate::report::escape::terminal(&text).into_owned();
                let detail = if text.is_empty() || is_html { String::new() } else { format!(": {text}") };
                Err(FetchError::Status { url: shown.to_string(), status, detail })
            }
        }
    }

    fn timed_out(&self, url: &str) -> FetchError {
        FetchError::Timeout { url: url.to_string(), secs: self.timeout.as_secs().max(1) }
    }

    fn classify(&self, url: &str, e: &reqwest::Error) -> FetchError {
        let url = url.to_string();
        if e.is_timeout() {
            return FetchError::Timeout { url, secs: self.timeout.as_secs().max(1) };
        }
        let chain = redact_urls_in(&error_chain(e));
        if e.is_connect() && (chain.contains("refused") || chain.contains("Connection refused")) {
            return FetchError::Refused { url };
        }
        if chain.contains("message head is too large") || chain.contains("too many headers") {
            return FetchError::HeadersTooLarge { url };
        }
        FetchError::Other { url, message: chain }
    }
}

enum Read {
    Whole(Vec<u8>),
    /// The body went on past the cap (what was read, cap + 1 bytes).
    Capped(Vec<u8>),
}

enum ReadFail {
    Deadline,
    Io(std::io::Error),
}

/// Reads up to `cap` bytes (one more to tell a longer body), checking the deadline between reads:
/// a server that trickles a byte at a time cannot stretch the fetch past it.
fn read_capped(mut body: impl std::io::Read, cap: u64, deadline: Instant) -> Result<Read, (u64, ReadFail)> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err((out.len() as u64, ReadFail::Deadline));
        }
        let room = (cap + 1).saturating_sub(out.len() as u64).min(chunk.len() as u64) as usize;
        match body.read(&mut chunk[..room]) {
            Ok(0) => return Ok(Read::Whole(out)),
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                if out.len() as u64 > cap {
                    return Ok(Read::Capped(out));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((out.len() as u64, ReadFail::Io(e))),
        }
    }
}

/// The `Authorization: Basic …` header for the user name and password of a URL
/// (`http://user:pw@host:6060`), which [`Target`] keeps out of every URL it hands out. Like any
/// `-H` header it goes to the target's own origin only.
pub fn url_credentials(url: &str) -> Option<String> {
    use base64::Engine;
    let written = url.trim();
    let with_scheme = if written.contains("://") { written.to_string() } else { format!("http://{written}") };
    let u = reqwest::Url::parse(&with_scheme).ok()?;
    if u.username().is_empty() && u.password().is_none() {
        return None;
    }
    // A malformed escape is taken as written.
    let decoded = |s: &str| super::percent::decode(s).unwrap_or_else(|| s.to_string());
    let pair = format!("{}:{}", decoded(u.username()), decoded(u.password().unwrap_or("")));
    Some(format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
}

/// A URL for a message, report or index: user name and password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if !url.contains("://") {
        // `user:pw@host:port`, as a user may write it.
        let end = url.find('/').unwrap_or(url.len());
        return match url[..end].rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_string(),
        };
    }
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Not a URL: hide whatever sits between `://` and `@`.
        Err(_) => redact_urls_in(url),
    }
}

/// Every `scheme://user:password@` in a text (an error chain quoting a URL) with its credentials hidden.
fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c == '/' || c.is_whitespace() || c == ')' || c == '"').unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A header for an error message: its name, its value hidden. Without a colon the first word is
/// taken for the name (`Authorization Bearer x` → `Authorization …`).
fn redact(h: &str) -> String {
    let name = match h.split_once(':') {
        Some((name, _)) => name.trim(),
        None => h.split_whitespace().next().unwrap_or(""),
    };
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if name.is_empty() {
        "(no name) …".into()
    } else {
        format!("{name} …")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried() {
        let status = |status| FetchError::Status { url: String::new(), status, detail: String::new() };
        assert!(status(503).is_transient() && status(500).is_transient() && status(429).is_transient());
        assert!(!status(501).is_transient(), "501 Not Implemented will not change on a retry");
        assert!(!status(404).is_transient());
    }

    #[test]
    fn targets() {
        let t = |u: &str, p: Option<&str>| Target::parse(u, p).unwrap();
        assert_eq!(t("http://127.0.0.1:6060", None).goroutine_url(false).unwrap(), "http://127.0.0.1:6060/debug/pprof/goroutine");
        assert_eq!(t("http://h:1/", Some("/x/pprof/")).url("heap", ""), "http://h:1/x/pprof/heap");
        // A full profile URL is kept as written, query included; the others come from beside it.
        let full = t("http://h:1/admin/pprof/goroutine?debug=1", None);
        assert_eq!(full.prefix, "http://h:1/admin/pprof");
        assert_eq!(full.goroutine_url(false).unwrap(), "http://h:1/admin/pprof/goroutine?debug=1");
        assert!(full.goroutine_url(true).is_err(), "debug=1 as written and --debug2 contradict");
        assert_eq!(t("http://h:1/debug/pprof/goroutine", None).goroutine_url(true).unwrap(), "http://h:1/debug/pprof/goroutine?debug=2");
        assert_eq!(t("http://h:1/debug/pprof/goroutineleak", None).goroutine_url(false).unwrap(), "http://h:1/debug/pprof/goroutineleak");
        assert_eq!(t("http://h:1/debug/pprof/", None).prefix, "http://h:1/debug/pprof");
        // host:port without a scheme is http.
        assert_eq!(t("localhost:6060", None).prefix, "http://localhost:6060/debug/pprof");
        assert_eq!(t("127.0.0.1:6060", None).prefix, "http://127.0.0.1:6060/debug/pprof");
        // --path agrees with the URL, or is refused.
        assert_eq!(t("http://h:1/debug/pprof/goroutine", Some("/debug/pprof")).prefix, "http://h:1/debug/pprof");
        assert!(Target::parse("http://h:1/debug/pprof", Some("/other")).is_err());
        assert!(Target::parse("http://h:1/debug/pprof/heap", None).unwrap_err().to_string().contains("--heap"));
        assert!(Target::parse("http://h:1/?debug=2", None).is_err());
        assert!(Target::parse("ftp://h", None).is_err());
        assert!(Target::parse("not a url", None).is_err());
    }

    #[test]
    fn url_passwords_are_kept_out_of_urls() {
        let t = Target::parse("http://ops:s%40cret@h:1/debug/pprof/goroutine", None).unwrap();
        assert_eq!(t.goroutine_url(false).unwrap(), "http://h:1/debug/pprof/goroutine");
        assert_eq!(redact_url("http://ops:s%40cret@h:1/x"), "http://***@h:1/x");
        // base64("ops:s@cret")
        assert_eq!(url_credentials("ops:s%40cret@h:1").as_deref(), Some("Authorization: Basic b3BzOnNAY3JldA=="));
        assert_eq!(url_credentials("http://h:1"), None);
        assert_eq!(redact_url("ops:pw@h:1"), "***@h:1");
        assert_eq!(redact_url("h:1"), "h:1");
        assert_eq!(redact_urls_in("error sending request for url (http://a:b@h:1/x): refused"), "error sending request for url (http://***@h:1/x): refused");
    }

    #[test]
    fn headers_are_redacted_in_errors() {
        let err = Fetcher::new(&HttpOptions { headers: vec!["Authorization Bearer secret".into()], ..Default::default() }).err().unwrap();
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("'Authorization …'"), "{err}");
    }
}
