//! Profiles saved on disk: single files, and the inputs of `analyze` and `check` (files and saved
//! folders) with what each says of when it was taken.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::profile::{self, Profile};
use crate::source::saved;

/// Reads and decodes one profile named on the command line; a `debug=2` dump is read in parts at
/// once (one per thread), never held whole. A pipe or device named on purpose (`<(curl ...)`,
/// `/dev/stdin`) is streamed; one with no writer is an empty input, not a wait.
pub fn read_profile(path: &Path, max_bytes: u64) -> Result<Profile> {
    let file = open_input(path, Special::Stream)?;
    decode(file, path, max_bytes)
}

/// Reads and decodes one profile of a saved folder: only a regular file (a FIFO or device planted
/// there is an error, never a wait).
pub fn read_saved_profile(path: &Path, max_bytes: u64) -> Result<Profile> {
    let file = open_input(path, Special::Refuse)?;
    decode(file, path, max_bytes)
}

fn decode(file: File, path: &Path, max_bytes: u64) -> Result<Profile> {
    profile::decode_file(&file, max_bytes).map_err(|source| Error::Decode { path: path.display().to_string(), source })
}

/// What [`open_input`] does with a file that is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Refused: a saved folder, an index, a report holds only regular files.
    Refuse,
    /// Read as a stream (a pipe or device named on the command line).
    Stream,
}

/// Opens `path` for reading without ever waiting at the open (a FIFO with no writer) and checks
/// what it is on the opened descriptor, so nothing can be swapped in between: a folder is always
/// an error, and any other non-regular file is one when `special` says so.
pub fn open_input(path: &Path, special: Special) -> Result<File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| Error::Read { path: shown.clone(), source })?;
    let meta = file.metadata().map_err(|source| Error::Read { path: shown.clone(), source })?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(Error::Input(format!("{shown} is a folder; give a profile file")));
    }
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        if special == Special::Refuse {
            return Err(Error::Input(format!("{shown} is {what}, not a regular file; a saved folder holds only regular files")));
        }
    }
    // Reads block again (a pipe is read as it is written), now that the open could not hang.
    // SAFETY: fcntl on a descriptor this function owns.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// The whole of a small regular file (an index, a `--baseline` report, a targets file), opened as
/// [`open_input`] does and read up to `max_bytes`: `what` names it in the error for a larger one.
pub fn read_small(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_input(path, Special::Refuse)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max_bytes + 1), &mut bytes)
        .map_err(|source| Error::Read { path: path.display().to_string(), source })?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::Input(format!("{}: larger than {max_bytes} bytes, not {what}", path.display())));
    }
    Ok(bytes)
}

/// One profile file to read, with what its saved folder's index says of it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// When `watch` fetched it (the index's time), for forms without a time of their own.
    pub fetched_at_nanos: Option<i64>,
    /// Its saved folder (numbered in the order met) and sampling round: the profiles of one round
    /// of one watch are of the same moment.
    pub round: Option<(usize, usize)>,
    /// What the index says was fetched (`goroutine`, `heap`, [`saved::CREATION_DUMP`], ...).
    pub kind: Option<String>,
    /// Found in a folder (listed by its index or by name) rather than named on its own: only a
    /// regular file is read.
    pub in_folder: bool,
}

/// Reads and decodes one input: a file of a folder only when it is a regular file.
pub fn read_input(f: &InputFile, max_bytes: u64) -> Result<Profile> {
    if f.in_folder || f.round.is_some() {
        read_saved_profile(&f.path, max_bytes)
    } else {
        read_profile(&f.path, max_bytes)
    }
}

/// The profile files of `inputs`, each given once: a folder written by `watch` stands for its
/// files in its index's order (or by name without an index); a file named on its own that lies in
/// such a folder gets what the index says of it, so `analyze DIR/*` reads like `analyze DIR`.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<(Vec<InputFile>, Vec<String>)> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    // Per folder: its number and its index (read once).
    let mut folders: HashMap<PathBuf, (usize, Option<saved::Index>)> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        if input.is_dir() {
            let (id, _) = folder(&mut folders, input, &mut errors);
            let (listed, errs) = saved::list_folder(input)?;
            errors.extend(errs);
            for f in listed {
                files.push(InputFile { path: f.path, fetched_at_nanos: f.fetched_at_nanos, round: f.round.map(|r| (id, r)), kind: f.kind, in_folder: true });
            }
        } else {
            if input.file_name().and_then(|n| n.to_str()) == Some(saved::INDEX_FILE) {
                continue; // `analyze DIR/*` names the index too
            }
            let dir = input.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut file = InputFile { path: input.clone(), fetched_at_nanos: None, round: None, kind: None, in_folder: false };
            if dir.join(saved::INDEX_FILE).is_file() {
                if let (id, Some(index)) = folder(&mut folders, dir, &mut errors) {
                    if let Some(e) = saved::entry_for(index, input) {
                        file.fetched_at_nanos = Some(e.fetched_at_unix_nanos);
                        file.round = Some((id, e.round));
                        file.kind = Some(e.kind.clone());
                    }
                }
            }
            files.push(file);
        }
    }
    // The same file named twice (a folder and one of its files) is read once.
    files.retain(|f| seen.insert(f.path.canonicalize().unwrap_or_else(|_| f.path.clone())));
    Ok((files, errors))
}

/// A saved folder's number (in the order met) and index, read once.
fn folder<'a>(folders: &'a mut HashMap<PathBuf, (usize, Option<saved::Index>)>, dir: &Path, errors: &mut Vec<String>) -> (usize, Option<&'a saved::Index>) {
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let next = folders.len();
    let entry = folders.entry(key).or_insert_with(|| {
        let index = saved::read_index(dir).unwrap_or_else(|e| {
            errors.push(e.to_string());
            None
        });
        (next, index)
    });
    (entry.0, entry.1.as_ref())
}
