//! Fetching profiles from a live service over HTTP (reqwest, rustls).
//!
//! Failures are named for what they are, with what to do about them. Credentials given with `-H`
//! are never printed, and reqwest drops them when a redirect leads to another host.

use std::time::Duration;

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
            profile_url = Some(parsed.as_str().to_string());
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
    #[error("{url}: the body was cut short: the connection ended before all the bytes the server announced (Content-Length) arrived; the service or a proxy died mid-answer, or announced a wrong length")]
    CutShort { url: String },
    #[error("{url}: {message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// Worth another try: the service may come back (restart) or answer next time.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Refused { .. } | FetchError::Timeout { .. } | FetchError::CutShort { .. } | FetchError::Other { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub headers: Vec<String>,
    pub insecure: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retries: u32,
    /// First backoff; doubled on each retry.
    pub backoff: Duration,
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
        }
    }
}

pub struct Fetcher {
    client: Client,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(opts: &HttpOptions) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        for h in &opts.headers {
            let (name, value) = h.split_once(':').ok_or_else(|| FetchError::BadHeader(redact(h)))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| FetchError::BadHeader(redact(h)))?;
            let mut value = HeaderValue::from_str(value.trim()).map_err(|_| FetchError::BadHeader(redact(h)))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("leakhound/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .danger_accept_invalid_certs(opts.insecure)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| FetchError::Other { url: String::new(), message: e.to_string() })?;
        Ok(Fetcher { client, retries: opts.retries, backoff: opts.backoff, timeout: opts.timeout })
    }

    /// GETs `url`, retrying transient failures with exponential backoff.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            match self.get_once(url) {
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
        let resp = self.client.get(url).send().map_err(|e| self.classify(url, &e))?;
        let status = resp.status().as_u16();
        let is_html = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/html"));
        let body = resp.bytes().map_err(|e| self.classify(url, &e))?;
        match status {
            200..=299 => {
                let head = String::from_utf8_lossy(&body[..body.len().min(256)]).trim_start().to_ascii_lowercase();
                if is_html || head.starts_with("<!doctype html") || head.starts_with("<html") {
                    return Err(FetchError::Html { url: url.to_string() });
                }
                Ok(body.to_vec())
            }
            404 => Err(FetchError::NotFound { url: url.to_string() }),
            401 | 403 => Err(FetchError::Unauthorized { url: url.to_string(), status }),
            _ => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().replace('\n', " ");
                let detail = if text.is_empty() || is_html { String::new() } else { format!(": {text}") };
                Err(FetchError::Status { url: url.to_string(), status, detail })
            }
        }
    }

    fn classify(&self, url: &str, e: &reqwest::Error) -> FetchError {
        let url = url.to_string();
        if e.is_timeout() {
            return FetchError::Timeout { url, secs: self.timeout.as_secs().max(1) };
        }
        let chain = error_chain(e);
        if chain.contains("end of file before message length reached") || chain.contains("IncompleteMessage") {
            return FetchError::CutShort { url };
        }
        if e.is_connect() && (chain.contains("refused") || chain.contains("Connection refused")) {
            return FetchError::Refused { url };
        }
        FetchError::Other { url, message: chain }
    }
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
    fn headers_are_redacted_in_errors() {
        let err = Fetcher::new(&HttpOptions { headers: vec!["Authorization Bearer secret".into()], ..Default::default() }).err().unwrap();
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("'Authorization …'"), "{err}");
    }
}
