//! `?debug=1` text: any bytes decode to a profile or to an error.
#![no_main]

use leakhound_fuzz::CappedAlloc;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = leakhound::profile::decode_debug1(data) {
        assert!(p.samples.iter().all(|s| s.stack.iter().all(|&f| (f as usize) < p.frames.len())));
    }
});
