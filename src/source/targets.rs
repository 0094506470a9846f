//! The targets of a run over many services: URLs from the command line, or a Prometheus `file_sd`
//! file (JSON or YAML: a list of `{targets: ["host:port", ...], labels: {...}}`), so the target
//! lists people already keep for Prometheus work here too. And `--shard I/N`, which keeps the
//! targets Prometheus' `hashmod` relabelling would give shard I of N.
//!
//! A targets file is untrusted: its size and its number of targets are capped before anything
//! is built from it, every error names the file (and the line, where it can be found), and an
//! address that appears twice is merged when it is the same target or refused when it is not.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A targets file larger than this is refused (about 500,000 addresses: more than one instance
/// should watch; split the file or use `--shard`).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// At most this many targets in one list.
pub const MAX_TARGETS: usize = 50_000;
/// At most this many labels on a target group.
pub const MAX_LABELS: usize = 64;
/// Longest label name or value, and longest address, in bytes.
pub const MAX_LABEL_BYTES: usize = 1024;
pub const MAX_ADDRESS_BYTES: usize = 512;

/// One service to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Unique in its list: the target's `host:port`. Safe as a folder name after
    /// [`crate::source::saved::folder_name`].
    pub name: String,
    /// Where to sample it: a base URL (`http://127.0.0.1:6060`, the scheme from `__scheme__`, else
    /// http) for a file's targets; a command-line URL as written (it may name the goroutine
    /// profile itself, query included).
    pub url: String,
    /// The file_sd labels, without the `__` ones (e.g. `job`, `instance`); none for URLs.
    pub labels: BTreeMap<String, String>,
}

impl Target {
    /// The target's address (`host:port`, as written), what `hashmod` hashes.
    pub fn address(&self) -> &str {
        address_of(&self.url)
    }
}

/// The `host:port` of a URL as written: after the scheme, before the path, without user info.
/// Textual, so `:80` stays as written (Prometheus hashes `__address__` as written).
fn address_of(url: &str) -> &str {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, a)| a)
}

/// Targets from command-line URLs, each taken as written (`http://host:port`, `host:port`, or the
/// full URL of a goroutine profile). The same address given twice is one target; the same address
/// with two different URLs is refused.
pub fn from_urls(urls: &[String]) -> Result<Vec<Target>> {
    if urls.len() > MAX_TARGETS {
        return Err(Error::Input(format!("{} URLs: at most {MAX_TARGETS} targets in one run; use --targets FILE with --shard", urls.len())));
    }
    let mut out: Vec<Target> = Vec::with_capacity(urls.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for url in urls {
        let written = url.trim();
        crate::source::http::Target::parse(written, None).map_err(|e| Error::Input(e.to_string()))?;
        let name = address_of(written).to_string();
        if let Some(&i) = seen.get(&name) {
            if out[i].url == written {
                continue;
            }
            return Err(Error::Input(format!(
                "{} and {} are the same service ({name}): give each address once",
                crate::source::http::redact_url(&out[i].url),
                crate::source::http::redact_url(written)
            )));
        }
        seen.insert(name.clone(), out.len());
        out.push(Target { name, url: written.to_string(), labels: BTreeMap::new() });
    }
    Ok(out)
}

/// One target group of a file_sd file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

const FORMAT_HINT: &str = "a Prometheus file_sd file is a list of target groups, e.g. [{\"targets\": [\"10.0.0.1:6060\"], \"labels\": {\"job\": \"orders\"}}] in JSON, or the same in YAML";

/// Reads a Prometheus `file_sd` file: JSON (`.json`) or YAML (`.yml`, `.yaml`; any other name is
/// read as JSON when it starts with `[`, else as YAML). An empty file is an empty list.
pub fn load(path: &Path) -> Result<Vec<Target>> {
    let shown = path.display().to_string();
    let read_error = |source| Error::Read { path: format!("--targets {shown}"), source };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if !meta.is_file() {
        return Err(Error::Input(format!("--targets {shown}: not a file; give a Prometheus file_sd file (JSON or YAML)")));
    }
    // Opened without waiting at the open (a FIFO swapped in after the check above is refused).
    let file = super::files::open_input(path, super::files::Special::Refuse)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE_BYTES + 1), &mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::Input(format!(
            "--targets {shown}: larger than {} MiB, more than one leakhound should watch; split it, or run several with --shard I/N",
            MAX_FILE_BYTES >> 20
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| Error::Input(format!("--targets {shown}: not UTF-8 text (at byte {})", e.utf8_error().valid_up_to())))?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("yml" | "yaml") => false,
        _ => text.trim_start().starts_with('['),
    };
    parse(&text, json, &shown)
}

/// Parses the text of a file_sd file; `shown` names it in errors.
pub fn parse(text: &str, json: bool, shown: &str) -> Result<Vec<Target>> {
    let bad = |e: String| Error::Input(format!("--targets {shown}: {e}; {FORMAT_HINT}"));
    let groups: Option<Vec<Group>> = if text.trim().is_empty() {
        None
    } else if json {
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?
    };
    let groups = groups.unwrap_or_default();
    let count: usize = groups.iter().map(|g| g.targets.len()).sum();
    if count > MAX_TARGETS {
        return Err(Error::Input(format!(
            "--targets {shown}: {count} targets, more than {MAX_TARGETS} for one leakhound; split the file, or run several with --shard I/N"
        )));
    }
    let mut out: Vec<Target> = Vec::with_capacity(count);
    // Where each address was first seen: its index in `out` and its group.
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for (gi, group) in groups.into_iter().enumerate() {
        let at = |needle: &str| line_of(text, needle).map_or_else(|| format!("target group {}", gi + 1), |l| format!("line {l} (target group {})", gi + 1));
        if group.labels.len() > MAX_LABELS {
            return Err(Error::Input(format!("--targets {shown}, {}: {} labels, more than {MAX_LABELS}", at("labels"), group.labels.len())));
        }
        let mut scheme = "http";
        let mut labels = BTreeMap::new();
        for (name, value) in &group.labels {
            if name.is_empty() || name.len() > MAX_LABEL_BYTES || value.len() > MAX_LABEL_BYTES {
                return Err(Error::Input(format!(
                    "--targets {shown}, {}: a label name must be 1 to {MAX_LABEL_BYTES} bytes and its value at most {MAX_LABEL_BYTES}",
                    at(name)
                )));
            }
            if name == "__scheme__" {
                scheme = match value.as_str() {
                    "http" => "http",
                    "https" => "https",
                    other => {
                        return Err(Error::Input(format!(
                            "--targets {shown}, {}: __scheme__ {:?}: only http and https can be sampled",
                            at("__scheme__"),
                            crate::report::escape::terminal(other)
                        )))
                    }
                };
            } else if !name.starts_with("__") {
                labels.insert(name.clone(), value.clone());
            }
        }
        for address in group.targets {
            let address = address.trim().to_string();
            check_address(&address)
                .map_err(|why| Error::Input(format!("--targets {shown}, {}: target {:?}: {why}", at(&address), crate::report::escape::terminal(&address))))?;
            let target = Target { name: address.clone(), url: format!("{scheme}://{address}"), labels: labels.clone() };
            if let Some(&(i, first_group)) = seen.get(&address) {
                if out[i] == target {
                    continue;
                }
                return Err(Error::Input(format!(
                    "--targets {shown}: {address} is in target groups {} and {} with different labels or scheme ({}): give each address once",
                    first_group + 1,
                    gi + 1,
                    at(&address)
                )));
            }
            seen.insert(address, (out.len(), gi));
            out.push(target);
        }
    }
    Ok(out)
}

/// A file_sd address is `host:port` (or `host`): no scheme, path, user or spaces.
fn check_address(address: &str) -> std::result::Result<(), String> {
    if address.is_empty() {
        return Err("empty; write host:port".into());
    }
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(format!("longer than {MAX_ADDRESS_BYTES} bytes"));
    }
    if address.contains("://") {
        return Err("a file_sd target is host:port without a scheme; give the scheme as the label __scheme__: https".into());
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@' | '\\')) {
        return Err("not host:port (a target has no path, query, user or spaces; pprof's path is --path)".into());
    }
    let url = reqwest::Url::parse(&format!("http://{address}")).map_err(|e| format!("not host:port ({e})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host; write host:port".into());
    }
    Ok(())
}

/// The 1-based line of the first occurrence of `needle` in `text`, to point at a problem.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let at = text.find(needle)?;
    Some(text[..at].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// `--shard I/N`: this instance keeps the targets whose address hashes to I modulo N, as
/// Prometheus' `hashmod` relabel action does (`source_labels: [__address__]`, `modulus: N`, then
/// `keep` on `I`), so N instances split a fleet the way N Prometheus servers would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn keeps(&self, t: &Target) -> bool {
        hashmod(t.address(), self.count) == self.index
    }
}

/// Prometheus' `hashmod`: the MD5 of the value, its last 8 bytes read big-endian, modulo `modulus`
/// (`binary.BigEndian.Uint64(md5.Sum(value)[8:]) % modulus` in relabel.go).
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    use md5::{Digest, Md5};
    let sum = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&sum[8..16]);
    u64::from_be_bytes(low) % modulus.max(1)
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let usage = || format!("{s:?}: write the shard as I/N, e.g. 0/3 for the first of 3 instances (0 <= I < N)");
        let (i, n) = s.trim().split_once('/').ok_or_else(usage)?;
        let index: u64 = i.trim().parse().map_err(|_| usage())?;
        let count: u64 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<Vec<Target>>) -> String {
        r.expect_err("should be refused").to_string()
    }

    #[test]
    fn reads_json_and_yaml_file_sd() {
        let json = r#"[
  {"targets": ["10.0.0.1:6060", "10.0.0.2:6060"], "labels": {"job": "orders", "__meta_x": "y"}},
  {"targets": ["db:6061"], "labels": {"job": "db", "__scheme__": "https"}}
]"#;
        let yaml = "- targets: ['10.0.0.1:6060', 10.0.0.2:6060]\n  labels:\n    job: orders\n    __meta_x: y\n- targets: [db:6061]\n  labels: {job: db, __scheme__: https}\n";
        for (text, is_json) in [(json, true), (yaml, false)] {
            let t = parse(text, is_json, "t").unwrap();
            assert_eq!(t.len(), 3);
            assert_eq!(t[0].name, "10.0.0.1:6060");
            assert_eq!(t[0].url, "http://10.0.0.1:6060");
            assert_eq!(t[0].labels, BTreeMap::from([("job".to_string(), "orders".to_string())]));
            assert_eq!(t[2].url, "https://db:6061");
            assert_eq!(t[2].address(), "db:6061");
            assert_eq!(t[2].labels.get("job").map(String::as_str), Some("db"));
        }
        assert!(parse("", false, "t").unwrap().is_empty());
        assert!(parse("[]", true, "t").unwrap().is_empty());
    }

    #[test]
    fn hostile_or_wrong_files_are_refused_with_where_and_why() {
        let e = err(parse("[{\"targets\": [\"a:1\"], \"label\": {}}]", true, "f.json"));
        assert!(e.contains("f.json") && e.contains("unknown field") && e.contains("line 1"), "{e}");
        let e = err(parse("- targets: [a:1]\n- targets: ['http://b:2']\n", false, "f.yml"));
        assert!(e.contains("line 2") && e.contains("__scheme__"), "{e}");
        let e = err(parse("- targets: ['a:1/debug/pprof']\n", false, "f.yml"));
        assert!(e.contains("--path"), "{e}");
        let e = err(parse("- targets: ['a:1']\n  labels: {__scheme__: ftp}\n", false, "f"));
        assert!(e.contains("only http and https"), "{e}");
        let e = err(parse("- targets: ['a:1']\n  labels: {job: x}\n- targets: ['a:1']\n  labels: {job: y}\n", false, "f"));
        assert!(e.contains("groups 1 and 2"), "{e}");
        // The same target twice is one target.
        assert_eq!(parse("- targets: ['a:1', 'a:1']\n- targets: ['a:1']\n", false, "f").unwrap().len(), 1);
        // A YAML scalar is a string where a label value is expected (as in Prometheus); JSON wants strings.
        assert_eq!(parse("- targets: ['a:1']\n  labels: {port: 8080}\n", false, "f").unwrap()[0].labels["port"], "8080");
        let e = err(parse("[{\"targets\": [\"a:1\"], \"labels\": {\"port\": 8080}}]", true, "f"));
        assert!(e.contains("string"), "{e}");
        // Too many targets: refused after parsing a file under the size cap.
        let many: Vec<String> = (0..=MAX_TARGETS).map(|i| format!("\"h{i}:1\"")).collect();
        let e = err(parse(&format!("[{{\"targets\": [{}]}}]", many.join(",")), true, "f"));
        assert!(e.contains("--shard"), "{e}");
        // An alias bomb and deep nesting end in an error, not in memory or stack exhaustion.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            bomb.push_str(&format!("{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n", n = (b'b' + i) as char, p = (b'a' + i) as char));
        }
        bomb.push_str("- targets: *j\n");
        assert!(parse(&bomb, false, "f").is_err());
        assert!(parse(&"[".repeat(100_000), false, "f").is_err());
        assert!(parse(&"[".repeat(100_000), true, "f").is_err());
        let e = err(parse("- targets: ['a:1', '\u{1b}]0;x:1']\n", false, "f"));
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn oversized_files_are_refused_before_reading_them_whole() {
        let dir = std::env::temp_dir().join(format!("leakhound-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.json");
        std::fs::write(&big, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let e = load(&big).unwrap_err().to_string();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        let yml = dir.join("t.yml");
        std::fs::write(&yml, "- targets: ['127.0.0.1:1']\n  labels: {job: j}\n").unwrap();
        assert_eq!(load(&yml).unwrap()[0].name, "127.0.0.1:1");
        assert!(load(&dir).unwrap_err().to_string().contains("not a file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn command_line_urls_are_named_by_address() {
        let t = from_urls(&[
            "http://u:p@127.0.0.1:6060".into(),
            "127.0.0.1:6061".into(),
            "http://h:80/debug/pprof/goroutine?debug=2".into(),
            "127.0.0.1:6061".into(),
        ])
        .unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["127.0.0.1:6060", "127.0.0.1:6061", "h:80"]);
        assert_eq!(t[2].url, "http://h:80/debug/pprof/goroutine?debug=2");
        let e = from_urls(&["127.0.0.1:1".into(), "http://127.0.0.1:1/x/pprof".into()]).unwrap_err().to_string();
        assert!(e.contains("same service"), "{e}");
        assert!(from_urls(&["ftp://x:1".into()]).is_err());
    }

    #[test]
    fn names_become_folder_names_that_stay_inside_the_save_folder() {
        use crate::source::saved::folder_name;
        assert_eq!(folder_name("127.0.0.1:6060"), "127.0.0.1_6060");
        assert_eq!(folder_name("[::1]:6060"), "___1__6060");
        for hostile in ["..", ".", "", "../../etc", "/etc/passwd", "a/../../b", ".hidden", "\u{202e}x", "a\0b"] {
            let f = folder_name(hostile);
            let mut parts = Path::new(&f).components();
            assert!(matches!((parts.next(), parts.next()), (Some(std::path::Component::Normal(_)), None)), "{hostile:?} -> {f:?}");
            assert!(!f.starts_with('.') && f.is_ascii(), "{hostile:?} -> {f:?}");
        }
        assert_eq!(folder_name(&"x".repeat(500)).len(), 100);
    }

    #[test]
    fn hashmod_is_prometheus_hashmod() {
        // Printed by tests/fleet/hashmod.go (Prometheus' relabel code, in Go); tests/fleet.rs
        // compares many more addresses with it live.
        let go = [
            ("127.0.0.1:6060", [0, 1, 6, 6, 813972]),
            ("10.0.0.1:8080", [0, 0, 3, 0, 354095]),
            ("orders-0.orders:6060", [1, 0, 2, 1, 865221]),
            ("[::1]:6060", [1, 2, 0, 7, 765326]),
        ];
        for (address, shards) in go {
            for (modulus, shard) in [2, 3, 7, 10, 1000003].into_iter().zip(shards) {
                assert_eq!(hashmod(address, modulus), shard, "{address} mod {modulus}");
            }
        }
    }

    #[test]
    fn shards_parse_and_split_the_fleet() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1", "a/b", "0/0", "-1/2", "1/"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let targets = from_urls(&(0..300).map(|i| format!("10.0.{}.{}:6060", i / 250, i % 250)).collect::<Vec<_>>()).unwrap();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0; 3];
        for t in &targets {
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].keeps(t)).collect();
            assert_eq!(owners.len(), 1, "{} is kept by exactly one shard", t.name);
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 60), "{sizes:?}");
    }
}
