//! Any profile the decoders accept, through grouping, diff, ranking and every report format: no
//! panic, and every output stays safe for where it goes.
#![no_main]

use leakhound_fuzz::{CappedAlloc, MAX_PROFILE_BYTES};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = leakhound::profile::decode(data, MAX_PROFILE_BYTES) {
        leakhound_fuzz::pipeline(&p);
    }
});
