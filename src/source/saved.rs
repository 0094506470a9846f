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
    created: bool,
}

/// An index larger than this is not a leakhound index (one entry is about 300 bytes).
const MAX_INDEX_BYTES: u64 = 16 << 20;

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339(nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `leakhound-snapshots-20261125-061500` in the working directory (`-2`, `-3`, ... when a folder
/// of that name already exists: two runs in the same second never share a folder).
pub fn default_dir() -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let base = format!("leakhound-snapshots-{}", now.format(&fmt).unwrap_or_else(|_| "now".into()));
    let mut dir = PathBuf::from(&base);
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    dir
}

/// A target's name made safe as one folder name inside `--save DIR`: only ASCII letters, digits,
/// `.`, `-` and `_` are kept (anything else, `/` and `:` included, becomes `_`), never `.` or `..`
/// nor a hidden name, at most 100 bytes. `127.0.0.1:6060` becomes `127.0.0.1_6060`. Two names may
/// sanitise alike: the caller keeps them apart.
pub fn folder_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).take(100).collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// Whether `dir` holds a leakhound index (an earlier watch wrote it).
fn is_leakhound_folder(dir: &Path) -> bool {
    let Ok(head) = super::files::read_small(&dir.join(INDEX_FILE), MAX_INDEX_BYTES, "a leakhound index") else { return false };
    serde_json::from_slice::<Index>(&head).is_ok_and(|i| i.tool.starts_with("leakhound"))
}

/// Checks that a file or folder can be created at `path` without creating it: the nearest existing
/// folder above it must accept a new file (a probe file is made and removed at once). Catches a
/// missing or read-only folder, a full inode table, and a path under a regular file.
pub fn check_can_create(path: &Path, what: &str) -> Result<()> {
    let fail = |source: std::io::Error| Error::Output { what: format!("{what} {}", path.display()), source };
    let mut parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if parent.as_os_str().is_empty() {
        parent = PathBuf::from(".");
    }
    while !parent.exists() {
        match parent.parent() {
            Some(p) if !p.as_os_str().is_empty() => parent = p.to_path_buf(),
            _ => {
                parent = PathBuf::from(".");
                break;
            }
        }
    }
    if !parent.is_dir() {
        return Err(fail(std::io::Error::new(std::io::ErrorKind::NotADirectory, format!("{} is not a folder", parent.display()))));
    }
    // Unique in this process too: the targets of a fleet check their folders at once, often in the
    // same parent.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = parent.join(format!(".leakhound-probe-{}-{n}", std::process::id()));
    fs::OpenOptions::new().write(true).create_new(true).open(&probe).map_err(fail)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// A temporary file beside its final name, written in full and synced; the caller renames it
/// into place, so no half-written file ever carries a final name.
struct Temporary {
    path: PathBuf,
    /// Device and inode of the file written: what the final name must hold after the rename.
    id: (u64, u64),
}

/// Tries at a fresh temporary name before giving up (each is created exclusively).
const TEMPORARY_ATTEMPTS: u32 = 16;

/// A name nobody can guess in advance: `.NAME.` and 16 hex digits from a randomly keyed hash of
/// the time, the process and the attempt.
fn temporary_name(name: &str, attempt: u32) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_nanos());
    h.write_u32(std::process::id());
    h.write_u32(attempt);
    format!(".{name}.{:016x}.tmp", h.finish())
}

/// Writes `bytes` to a new temporary file beside `path`: its name cannot be predicted, and it is
/// created exclusively (`O_EXCL`) without following a link (`O_NOFOLLOW`), so a symbolic link or
/// file planted in the folder is never written through. The file is removed on failure.
fn write_temporary(path: &Path, bytes: &[u8]) -> std::io::Result<Temporary> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let tmp = path.with_file_name(temporary_name(&name, attempt));
        match fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt + 1 < TEMPORARY_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        let meta = f.metadata()?;
        Ok((meta.dev(), meta.ino()))
    })();
    match written {
        Ok(id) => Ok(Temporary { path: tmp, id }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames a temporary file into place, then checks that the final name holds the very file
/// written (not a link or file put there meanwhile): a write that did not land is an error.
fn put_in_place(tmp: &Temporary, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    fs::rename(&tmp.path, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp.path);
    })?;
    let landed = fs::symlink_metadata(path)?;
    if !landed.file_type().is_file() || (landed.dev(), landed.ino()) != tmp.id {
        return Err(std::io::Error::other("the file written is not what the folder holds under its name: something else in the folder replaced it"));
    }
    Ok(())
}

/// Writes a whole file under its final name only once it is complete (write, then rename).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temporary(path, bytes)?;
    put_in_place(&tmp, path)
}

/// A snapshot folder that cannot be made, with what to do about it.
fn with_save_hint(e: Error, dir: &Path) -> Error {
    match e {
        Error::Output { source, .. } => {
            Error::Input(format!("cannot write the snapshot folder {}: {source}; give --save a folder that can be written", dir.display()))
        }
        other => other,
    }
}

impl SaveDir {
    /// Plans a snapshot folder: checked now (before sampling), created only when the first profile
    /// is saved, so a run that fetches nothing leaves nothing behind. A folder that exists must be
    /// empty: an earlier run's folder is never mixed with a new one, and a folder of other files is
    /// not written into.
    pub fn plan(dir: &Path, target: &str) -> Result<SaveDir> {
        if dir.exists() {
            if !dir.is_dir() {
                return Err(Error::Input(format!("--save {}: a file of that name exists; give a folder", dir.display())));
            }
            let mut entries = fs::read_dir(dir).map_err(|source| Error::Read { path: dir.display().to_string(), source })?;
            if entries.next().is_some() {
                if is_leakhound_folder(dir) {
                    return Err(Error::Input(format!(
                        "--save {}: holds an earlier leakhound run, which a new run would mix with; give a new folder (e.g. --save {}-2), or analyze that one with `leakhound analyze {}`",
                        dir.display(),
                        dir.display().to_string().trim_end_matches('/'),
                        dir.display()
                    )));
                }
                return Err(Error::Input(format!(
                    "--save {}: the folder is not empty and is not a leakhound snapshot folder; give a new or empty folder",
                    dir.display()
                )));
            }
            check_can_create(&dir.join("index.json"), "snapshot folder").map_err(|e| with_save_hint(e, dir))?;
        } else {
            check_can_create(dir, "snapshot folder").map_err(|e| with_save_hint(e, dir))?;
        }
        Ok(SaveDir {
            dir: dir.to_path_buf(),
            index: Index { tool: format!("leakhound {}", env!("CARGO_PKG_VERSION")), target: target.to_string(), entries: Vec::new() },
            created: false,
        })
    }

    /// Whether anything was written (the folder exists because of this run).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Makes the folder and claims it: the index is created exclusively (with no entries yet), so
    /// two runs started at once with the same folder never write into it both.
    fn ensure_created(&mut self) -> Result<()> {
        if self.created {
            return Ok(());
        }
        let fail = |source| Error::Output { what: format!("snapshot folder {}", self.dir.display()), source };
        fs::create_dir_all(&self.dir).map_err(fail)?;
        let index = self.dir.join(INDEX_FILE);
        let claimed = fs::OpenOptions::new().write(true).create_new(true).open(&index).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(e.kind(), "another run started saving into this folder meanwhile")
            } else {
                e
            }
        });
        let written = claimed.and_then(|mut f| {
            let empty = Index { entries: Vec::new(), ..self.index.clone() };
            std::io::Write::write_all(&mut f, &serde_json::to_vec_pretty(&empty).unwrap_or_default()).inspect_err(|_| {
                let _ = fs::remove_file(&index);
            })
        });
        written.map_err(fail)?;
        self.created = true;
        Ok(())
    }

    /// Saves one fetched profile and returns its path. The profile and the index are both written
    /// in full before either is renamed into place: on a full disk or a read-only folder nothing
    /// changes on disk, and the folder stays as valid as it was.
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
        self.ensure_created()?;
        let fail = |source| Error::Output { what: path.display().to_string(), source };
        let tmp = write_temporary(&path, bytes).map_err(fail)?;
        self.index.entries.push(Entry {
            round,
            kind: kind.into(),
            url: url.into(),
            file: Some(name),
            fetched_at_unix_nanos: fetched_at,
            fetched_at: rfc3339(fetched_at),
            error: None,
        });
        let index_tmp = match self.index_temporary() {
            Ok(t) => t,
            Err(e) => {
                self.index.entries.pop();
                let _ = fs::remove_file(&tmp.path);
                return Err(e);
            }
        };
        put_in_place(&tmp, &path).map_err(fail)?;
        put_in_place(&index_tmp, &self.dir.join(INDEX_FILE))
            .map_err(|source| Error::Output { what: self.dir.join(INDEX_FILE).display().to_string(), source })?;
        Ok(path)
    }

    /// Notes a failed fetch in the index (written with the next profile when nothing was saved yet).
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
        if !self.created {
            return Ok(());
        }
        let tmp = self.index_temporary()?;
        put_in_place(&tmp, &self.dir.join(INDEX_FILE)).map_err(|source| Error::Output { what: self.dir.join(INDEX_FILE).display().to_string(), source })
    }

    /// The index written in full to a temporary file, to be renamed into place.
    fn index_temporary(&self) -> Result<Temporary> {
        let path = self.dir.join(INDEX_FILE);
        let text = serde_json::to_vec_pretty(&self.index).map_err(|e| Error::Output { what: path.display().to_string(), source: e.into() })?;
        write_temporary(&path, &text).map_err(|source| Error::Output { what: path.display().to_string(), source })
    }
}

/// One saved profile to read back, with the time it was fetched when the folder's index says so.
#[derive(Debug, Clone)]
pub struct SavedFile {
    pub path: PathBuf,
    pub fetched_at_nanos: Option<i64>,
    pub round: Option<usize>,
    /// What the index says was fetched (`goroutine`, `heap`, [`CREATION_DUMP`], ...).
    pub kind: Option<String>,
}

/// The index kind of the `debug=2` dump `watch` takes in its last round for creation sites: it
/// enriches the goroutine snapshot of its round, it is not a snapshot of its own.
pub const CREATION_DUMP: &str = "goroutine-debug2";

/// Why a saved profile is left out when its content contradicts the kind its index gives it, as
/// `watch` left it out when it fetched it (a server that answers every path with one profile):
/// read again, the folder then ranks exactly as the watch did. `profile` is what the file holds.
pub fn contradiction(indexed: &str, profile: &crate::profile::Profile) -> Option<String> {
    let content = &profile.kind;
    let expected = match indexed {
        // The target's own URL may be its goroutineleak profile: a snapshot either way.
        "goroutine" if content.is_goroutine_like() => return None,
        // Only a debug=2 dump names creation sites; watch takes nothing else from that fetch.
        CREATION_DUMP if !is_creation_dump(profile) => {
            return Some(format!("a {} profile in the {:?} form saved as {indexed}, left out as the watch left it out", content.name(), profile.format))
        }
        CREATION_DUMP => "goroutine",
        k @ ("goroutine" | "goroutineleak" | "heap") => k,
        _ => return None,
    };
    (content.name() != expected).then(|| format!("a {} profile saved as {indexed}, left out as the watch left it out", content.name()))
}

/// Whether what came back for the creation-site fetch is what was asked: a `debug=2` goroutine dump.
pub fn is_creation_dump(profile: &crate::profile::Profile) -> bool {
    profile.kind == crate::profile::ProfileKind::Goroutine && profile.format == crate::profile::Format::Debug2
}

/// A folder's index, when it has one (read with a cap on its size).
pub fn read_index(dir: &Path) -> Result<Option<Index>> {
    let index_path = dir.join(INDEX_FILE);
    if fs::symlink_metadata(&index_path).is_err() {
        return Ok(None);
    }
    // Opened without waiting and checked on its descriptor: a FIFO named index.json is an error.
    let text = super::files::read_small(&index_path, MAX_INDEX_BYTES, "a leakhound index")?;
    let index: Index = serde_json::from_slice(&text).map_err(|e| Error::Input(format!("{}: not a leakhound index ({e})", index_path.display())))?;
    Ok(Some(index))
}

/// What a folder's index says of one of its files named on its own (`analyze DIR/*.pb.gz`).
pub fn entry_for<'a>(index: &'a Index, path: &Path) -> Option<&'a Entry> {
    let name = path.file_name()?.to_str()?;
    index.entries.iter().find(|e| e.file.as_deref() == Some(name))
}

/// The profiles of a folder in the order they were taken: by its index when it has one, else every
/// file by name (hidden files and `index.json` left out).
pub fn list_folder(dir: &Path) -> Result<(Vec<SavedFile>, Vec<String>)> {
    let index_path = dir.join(INDEX_FILE);
    let mut errors = Vec::new();
    if let Some(index) = read_index(dir)? {
        let mut files = Vec::new();
        for e in index.entries {
            match (e.file, e.error) {
                (Some(f), _) => match file_in_folder(dir, &f) {
                    Ok(path) => {
                        files.push(SavedFile { path, fetched_at_nanos: Some(e.fetched_at_unix_nanos), round: Some(e.round), kind: Some(e.kind.clone()) })
                    }
                    Err(why) => errors.push(format!("{}: entry {:?} skipped: {why}", index_path.display(), f)),
                },
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
    // Names as people number them: `2.txt` before `10.txt`.
    paths.sort_by_cached_key(|p| natural_key(p));
    if paths.is_empty() {
        return Err(Error::Input(format!("{} holds no profiles", dir.display())));
    }
    Ok((paths.into_iter().map(|path| SavedFile { path, fetched_at_nanos: None, round: None, kind: None }).collect(), errors))
}

/// A file an index names, accepted only as a plain file name inside its folder: never a path
/// (`/etc/shadow`, `../../x`, `sub/x`), and never a symbolic link leading out of the folder.
pub fn file_in_folder(dir: &Path, name: &str) -> std::result::Result<PathBuf, String> {
    use std::path::Component;
    let mut parts = Path::new(name).components();
    let plain = matches!((parts.next(), parts.next()), (Some(Component::Normal(n)), None) if n == std::ffi::OsStr::new(name));
    if !plain || name.contains('\\') || name.contains('\0') {
        return Err("not a plain file name inside the folder".into());
    }
    let path = dir.join(name);
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        let inside = match (fs::canonicalize(&path), fs::canonicalize(dir)) {
            (Ok(target), Ok(folder)) => target.parent() == Some(folder.as_path()),
            _ => false,
        };
        if !inside {
            return Err("a symbolic link leading out of the folder".into());
        }
    }
    Ok(path)
}

/// A file name split into text and numbers, so that numbered names sort by their numbers.
fn natural_key(path: &Path) -> Vec<(String, u128)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut key = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((std::mem::take(&mut text), digits.parse().unwrap_or(u128::MAX)));
                digits.clear();
            }
            text.push(c);
        }
    }
    key.push((text, digits.parse().unwrap_or(0)));
    key
}

/// Reads and decodes `files` and hands each to `each` in their order, with its index: files are
/// decoded on two threads (even and odd files) ahead of `each`, which takes them in order; bounded
/// channels keep a few decoded profiles in memory at most. Once `each` is done with a profile it
/// goes back to the thread that decoded it, which frees it there or reuses its allocations for
/// its next file (`profile::recycle`).
pub fn read_in_order(files: &[crate::source::files::InputFile], max_bytes: u64, mut each: impl FnMut(usize, Result<&crate::profile::Profile>)) {
    use crate::profile::Profile;
    const DECODERS: usize = 2;
    std::thread::scope(|scope| {
        let mut channels = Vec::with_capacity(DECODERS);
        let mut give_back = Vec::with_capacity(DECODERS);
        for k in 0..DECODERS {
            let (decoded_tx, decoded) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done) = std::sync::mpsc::channel::<Profile>();
            let inputs: Vec<&crate::source::files::InputFile> = files.iter().skip(k).step_by(DECODERS).collect();
            scope.spawn(move || {
                // Sent and not yet given back: past two (one waiting in the channel, one being
                // grouped), the next file waits for the first of them to be handed back, whose
                // allocations it then reuses. The grouping is the slower side, so this costs no time.
                let mut out = 0usize;
                crate::profile::reuse_allocations_on_this_thread();
                for input in inputs {
                    if out >= 2 {
                        match done.recv() {
                            Ok(p) => {
                                out -= 1;
                                crate::profile::recycle(p);
                            }
                            Err(_) => break,
                        }
                    }
                    let read = crate::source::files::read_input(input, max_bytes);
                    // Every profile read is handed back, an error is not.
                    let sent = usize::from(read.is_ok());
                    if decoded_tx.send(read).is_err() {
                        break;
                    }
                    out += sent;
                }
                // The last ones are freed here too, while the grouping goes on.
                drop(decoded_tx);
                for p in done {
                    drop(p);
                }
            });
            channels.push(decoded);
            give_back.push(done_tx);
        }
        for i in 0..files.len() {
            let Ok(read) = channels[i % DECODERS].recv() else { break };
            match read {
                Ok(p) => {
                    each(i, Ok(&p));
                    // A decoder that has finished has closed its end: the profile is freed here.
                    let _ = give_back[i % DECODERS].send(p);
                }
                Err(e) => each(i, Err(e)),
            }
        }
        drop(give_back);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_never_written_through_a_link_and_a_swap_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "untouched").unwrap();
        let folder = dir.path().join("s");
        fs::create_dir(&folder).unwrap();
        let path = folder.join("000-goroutine.pb.gz");
        // The old, predictable name, planted: not used, not followed.
        std::os::unix::fs::symlink(&outside, folder.join(".000-goroutine.pb.gz.tmp")).unwrap();
        write_file_atomically(&path, b"profile").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"profile");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched");
        // Two names in a row differ.
        assert_ne!(temporary_name("x", 0), temporary_name("x", 0));
        // A temporary swapped for a link between its write and its rename: the rename puts the
        // link in place, and that is reported, not taken for a saved file.
        let tmp = write_temporary(&path, b"second").unwrap();
        fs::remove_file(&tmp.path).unwrap();
        std::os::unix::fs::symlink(&outside, &tmp.path).unwrap();
        let err = put_in_place(&tmp, &path).unwrap_err();
        assert!(err.to_string().contains("replaced it"), "{err}");
    }

    /// A fleet's targets check their snapshot folders at once, in the same parent: no check may
    /// fail because another made its probe file at the same moment.
    #[test]
    fn folders_checked_at_once_in_one_parent_all_pass() {
        let dir = tempfile::tempdir().unwrap();
        let start = std::sync::Barrier::new(16);
        std::thread::scope(|s| {
            for t in 0..16 {
                let (dir, start) = (dir.path(), &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..200 {
                        check_can_create(&dir.join(format!("snaps/target-{t}-{i}")), "snapshot folder").unwrap();
                    }
                });
            }
        });
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "every probe file was removed");
    }
}
