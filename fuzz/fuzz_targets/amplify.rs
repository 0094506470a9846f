//! Amplification at the real caps: any bytes (a gzipped or raw profile of up to 1 MiB, as a
//! hostile target serves it) decode at the default `--max-profile-bytes` within a bounded heap
//! ([`AMPLIFY_HEAP_LIMIT`]) and time (run.sh's `-timeout`), or end in an error. One field that
//! makes a megabyte take gigabytes (a string of a gigabyte in the string table) or minutes (ten
//! thousand functions naming one long string) is a finding; seed.sh seeds such shapes.
#![no_main]

use leakhound_fuzz::{set_live_heap_limit, CappedAlloc, AMPLIFY_HEAP_LIMIT};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fuzz_target!(|data: &[u8]| {
    set_live_heap_limit(AMPLIFY_HEAP_LIMIT);
    let _ = leakhound::profile::decode(data, leakhound::profile::DEFAULT_MAX_PROFILE_BYTES);
});
