//! Profiles saved on disk: single files, and the inputs of `analyze` and `check` (files and saved
//! folders) with what each says of when it was taken.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::profile::{self, Profile};
use crate::source::saved;

/// Reads and decodes one saved profile; a `debug=2` dump is read in parts at once (one per thread),
/// never held whole.
pub fn read_profile(path: &Path, max_bytes: u64) -> Result<Profile> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::Read { path: shown.clone(), source })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::Input(format!("{shown} is a folder; give a profile file")));
    }
    profile::decode_file(&file, max_bytes).map_err(|source| Error::Decode { path: shown, source: source.into() })
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
                files.push(InputFile { path: f.path, fetched_at_nanos: f.fetched_at_nanos, round: f.round.map(|r| (id, r)), kind: f.kind });
            }
        } else {
            if input.file_name().and_then(|n| n.to_str()) == Some(saved::INDEX_FILE) {
                continue; // `analyze DIR/*` names the index too
            }
            let dir = input.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut file = InputFile { path: input.clone(), fetched_at_nanos: None, round: None, kind: None };
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
