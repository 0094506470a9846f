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
}

impl Target {
    /// From a base URL (`http://host:port`, pprof then at `path`) or a full profile URL
    /// (`http://host:port/custom/pprof/goroutine`, whose prefix wins over `path`).
    pub fn parse(url: &str, path: &str) -> Result<Target, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::BadUrl(format!("{url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl(format!("{url}: only http:// and https:// URLs can be watched")));
        }
        let origin = parsed.origin().ascii_serialization();
        let url_path = parsed.path().trim_end_matches('/');
        let prefix_path = if let Some(p) = url_path.strip_suffix("/goroutine") {
            p.to_string()
        } else if !url_path.is_empty() {
            url_path.to_string()
        } else {
            format!("/{}", path.trim_matches('/'))
        };
        Ok(Target { prefix: format!("{origin}{}", prefix_path.trim_end_matches('/')) })
    }

    pub fn url(&self, profile: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{}/{profile}", self.prefix)
        } else {
            format!("{}/{profile}?{query}", self.prefix)
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FetchError {
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("bad header {0:?}: write it as 'Name: value'")]
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
    #[error("{url}: {message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// Worth another try: the service may come back (restart) or answer next time.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Refused { .. } | FetchError::Timeout { .. } | FetchError::Other { .. } => true,
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

/// A header for an error message, its value hidden.
fn redact(h: &str) -> String {
    match h.split_once(':') {
        Some((name, _)) => format!("{}: ***", name.trim()),
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("http://127.0.0.1:6060", "/debug/pprof").unwrap().url("goroutine", ""), "http://127.0.0.1:6060/debug/pprof/goroutine");
        assert_eq!(Target::parse("http://h:1/", "/x/pprof/").unwrap().url("heap", ""), "http://h:1/x/pprof/heap");
        assert_eq!(Target::parse("http://h:1/admin/pprof/goroutine?debug=1", "/debug/pprof").unwrap().prefix, "http://h:1/admin/pprof");
        assert_eq!(Target::parse("http://h:1/debug/pprof/", "/other").unwrap().prefix, "http://h:1/debug/pprof");
        assert!(Target::parse("ftp://h", "/").is_err());
        assert!(Target::parse("not a url", "/").is_err());
    }

    #[test]
    fn headers_are_redacted_in_errors() {
        let err = Fetcher::new(&HttpOptions { headers: vec!["Authorization Bearer secret".into()], ..Default::default() }).err().unwrap();
        assert!(!err.to_string().contains("secret"));
    }
}
