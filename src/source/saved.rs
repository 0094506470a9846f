//! The snapshot folder `watch --save` writes: every profile as fetched (raw bytes, so `go tool
//! pprof` opens it) and `index.json`, rewritten after every fetch, saying what was taken when.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const INDEX_FILE: &str = "index.json";

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Index {
    pub tool: String,
    pub target: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Sampling round, from 0.
    pub round: usize,
    /// `goroutine`, `heap` or `goroutineleak`.
    pub kind: String,
    pub url: String,
    /// File name inside the folder; absent when the fetch failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub fetched_at_unix_nanos: i64,
    pub fetched_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A folder being written by a watch.
pub struct SaveDir {
    pub dir: PathBuf,
    index: Index,
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339(nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `leakhound-snapshots-20261125-061500` in the working directory.
pub fn default_dir() -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    PathBuf::from(format!("leakhound-snapshots-{}", now.format(&fmt).unwrap_or_else(|_| "now".into())))
}

impl SaveDir {
    pub fn create(dir: &Path, target: &str) -> Result<SaveDir> {
        fs::create_dir_all(dir).map_err(|source| Error::Output { what: format!("snapshot folder {}", dir.display()), source })?;
        let s = SaveDir {
            dir: dir.to_path_buf(),
            index: Index { tool: format!("leakhound {}", env!("CARGO_PKG_VERSION")), target: target.to_string(), entries: Vec::new() },
        };
        s.write_index()?;
        Ok(s)
    }

    /// Saves one fetched profile and returns its path.
    pub fn save(&mut self, round: usize, kind: &str, url: &str, bytes: &[u8], fetched_at: i64) -> Result<PathBuf> {
        let ext = if crate::profile::is_gzip(bytes) {
            "pb.gz"
        } else if bytes.starts_with(b"goroutine ") || bytes.starts_with(b"goroutine profile") {
            "txt"
        } else {
            "pb"
        };
        let name = format!("{round:03}-{kind}.{ext}");
        let path = self.dir.join(&name);
        fs::write(&path, bytes).map_err(|source| Error::Output { what: path.display().to_string(), source })?;
        self.index.entries.push(Entry {
            round,
            kind: kind.into(),
            url: url.into(),
            file: Some(name),
            fetched_at_unix_nanos: fetched_at,
            fetched_at: rfc3339(fetched_at),
            error: None,
        });
        self.write_index()?;
        Ok(path)
    }

    pub fn record_error(&mut self, round: usize, kind: &str, url: &str, error: &str, at: i64) -> Result<()> {
        self.index.entries.push(Entry {
            round,
            kind: kind.into(),
            url: url.into(),
            file: None,
            fetched_at_unix_nanos: at,
            fetched_at: rfc3339(at),
            error: Some(error.into()),
        });
        self.write_index()
    }

    /// Written to a temporary file and renamed, so an interrupted watch never leaves half an index.
    fn write_index(&self) -> Result<()> {
        let tmp = self.dir.join(".index.json.tmp");
        let path = self.dir.join(INDEX_FILE);
        let text = serde_json::to_vec_pretty(&self.index).map_err(|e| Error::Output { what: path.display().to_string(), source: e.into() })?;
        fs::write(&tmp, text).and_then(|_| fs::rename(&tmp, &path)).map_err(|source| Error::Output { what: path.display().to_string(), source })
    }
}

/// One saved profile to read back, with the time it was fetched when the folder's index says so.
#[derive(Debug, Clone)]
pub struct SavedFile {
    pub path: PathBuf,
    pub fetched_at_nanos: Option<i64>,
    pub round: Option<usize>,
}

/// A folder's index, when it has one.
pub fn read_index(dir: &Path) -> Result<Option<Index>> {
    let index_path = dir.join(INDEX_FILE);
    if !index_path.is_file() {
        return Ok(None);
    }
    let text = fs::read(&index_path).map_err(|source| Error::Read { path: index_path.display().to_string(), source })?;
    let index: Index = serde_json::from_slice(&text).map_err(|e| Error::Input(format!("{}: not a leakhound index ({e})", index_path.display())))?;
    Ok(Some(index))
}

/// What a folder's index says of one of its files named on its own (`analyze DIR/*.pb.gz`): its
/// round and when it was fetched.
pub fn entry_for(index: &Index, path: &Path) -> Option<(usize, i64)> {
    let name = path.file_name()?.to_str()?;
    index.entries.iter().find(|e| e.file.as_deref() == Some(name)).map(|e| (e.round, e.fetched_at_unix_nanos))
}

/// The profiles of a folder in the order they were taken: by its index when it has one, else every
/// file by name (hidden files and `index.json` left out).
pub fn list_folder(dir: &Path) -> Result<(Vec<SavedFile>, Vec<String>)> {
    let mut errors = Vec::new();
    if let Some(index) = read_index(dir)? {
        let mut files = Vec::new();
        for e in index.entries {
            match (e.file, e.error) {
                // A name from the index is a plain file name inside the folder, never a path.
                (Some(f), _) if is_plain_name(&f) => {
                    files.push(SavedFile { path: dir.join(f), fetched_at_nanos: Some(e.fetched_at_unix_nanos), round: Some(e.round) })
                }
                (Some(f), _) => errors.push(format!("{}: index entry {f:?} is not a plain file name; left out", dir.display())),
                (None, Some(err)) => errors.push(format!("round {} ({}): {err}", e.round, e.kind)),
                _ => {}
            }
        }
        return Ok((files, errors));
    }
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|source| Error::Read { path: dir.display().to_string(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.ends_with(".json") || n.ends_with(".md")))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Input(format!("{} holds no profiles", dir.display())));
    }
    Ok((paths.into_iter().map(|path| SavedFile { path, fetched_at_nanos: None, round: None }).collect(), errors))
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}
