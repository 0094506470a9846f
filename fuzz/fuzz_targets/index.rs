//! A saved folder's `index.json`: any bytes list profiles inside the folder, or fail.
#![no_main]

use std::sync::OnceLock;

use leakhound_fuzz::CappedAlloc;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fn folder() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder")).path()
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    std::fs::write(dir.join("index.json"), data).expect("writing the index");
    if let Ok((files, _errors)) = leakhound::source::saved::list_folder(dir) {
        for f in files {
            // Whatever the index says, a listed file is a plain name inside the folder.
            assert_eq!(f.path.parent(), Some(dir), "{}", f.path.display());
        }
    }
});
