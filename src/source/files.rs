//! Profiles saved on disk.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};
use crate::profile::{self, Profile};

/// Reads and decodes one saved profile; a `debug=2` dump is streamed, never held whole.
pub fn read_profile(path: &Path, max_bytes: u64) -> Result<Profile> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::Read { path: shown.clone(), source })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::Input(format!("{shown} is a folder; give a profile file")));
    }
    profile::decode_reader(file, max_bytes).map_err(|source| Error::Decode { path: shown, source })
}
