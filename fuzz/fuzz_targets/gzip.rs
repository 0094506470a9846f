//! gzip: any bytes, decompressed under the cap, end in data or an error.
#![no_main]

use leakhound_fuzz::{CappedAlloc, MAX_PROFILE_BYTES};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = leakhound::profile::gunzip(data, MAX_PROFILE_BYTES) {
        assert!(out.len() as u64 <= MAX_PROFILE_BYTES);
    }
    // The whole entry point too: gzip, then whatever the content is.
    let _ = leakhound::profile::decode(data, MAX_PROFILE_BYTES);
});
