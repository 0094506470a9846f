//! profile.proto: any bytes decode to a profile whose references hold, or to an error.
#![no_main]

use leakhound_fuzz::{CappedAlloc, MAX_PROFILE_BYTES};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = leakhound::profile::decode_protobuf(data, MAX_PROFILE_BYTES) {
        for s in &p.samples {
            assert_eq!(s.values.len(), p.sample_types.len());
            assert!(s.stack.iter().all(|&f| (f as usize) < p.frames.len()));
        }
    }
});
