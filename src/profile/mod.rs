//! Bytes → model. Every supported form (gzipped or raw protobuf, the `debug=1` text, the `debug=2`
//! dump) decodes into one [`Profile`]; the kind of profile is read from its content, never from a
//! file name.

mod debug1;
mod debug2;
mod goquote;
mod gowrap;
mod gzip;
mod newlines;
mod pb;
mod used;

use std::io::Read;

use rustc_hash::FxHashMap;

pub use gzip::{gunzip, is_gzip, DEFAULT_MAX_PROFILE_BYTES};

/// Makes this thread keep what a decoded profile allocated for the next one it decodes: its read
/// and inflated buffers, and the samples of the profiles handed back with [`recycle`]. For a
/// thread that reads many profiles in a row (`analyze`'s decoders); any other thread frees them
/// after each profile, so a long `watch`, `serve` or a fleet keeps nothing between samples.
pub fn reuse_allocations_on_this_thread() {
    REUSE.set(true);
}

/// Hands a profile this thread decoded back once it is no longer needed: on a thread that
/// reuses allocations, the next protobuf profile decoded here overwrites its samples in place
/// (see `pb::recycle`); what is not reused is freed here, on the decoding thread.
pub fn recycle(profile: Profile) {
    if REUSE.get() {
        pb::recycle(profile.samples);
    }
}

/// A byte buffer larger than this is not kept for the next profile (a 200k-goroutine protobuf
/// profile is 200 KB inflated).
const MAX_SPARE_BUFFER: usize = 4 << 20;

thread_local! {
    /// Whether this thread keeps allocations for its next profile ([`reuse_allocations_on_this_thread`]).
    static REUSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The last profile's bytes as read, and inflated, on such a thread: the next profile read
    /// there reuses them instead of allocating (and having the kernel zero) fresh pages.
    static SPARE_READ: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    static SPARE_INFLATED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn keep_spare(spare: &'static std::thread::LocalKey<std::cell::Cell<Vec<u8>>>, mut buf: Vec<u8>) {
    if REUSE.get() && buf.capacity() <= MAX_SPARE_BUFFER {
        buf.clear();
        spare.set(buf);
    }
}

/// The protobuf decoder on its own (for fuzzing and benchmarks): `bytes` is raw `profile.proto`,
/// and `max_bytes` bounds what decoding may allocate.
pub fn decode_protobuf(bytes: &[u8], max_bytes: u64) -> Result<Profile, DecodeError> {
    pb::decode(bytes, max_bytes).and_then(check_plausible)
}

/// The `debug=1` text decoder on its own (for fuzzing and benchmarks).
pub fn decode_debug1(bytes: &[u8]) -> Result<Profile, DecodeError> {
    debug1::parse(bytes).and_then(check_plausible)
}

/// The `debug=2` dump decoder on its own (for fuzzing and benchmarks): a stream, read once through
/// one bounded buffer by one thread; `max_bytes` caps what it reads.
pub fn decode_debug2<R: Read>(reader: R, max_bytes: u64) -> Result<Profile, DecodeError> {
    debug2::parse(reader, max_bytes).and_then(check_plausible)
}

/// A `debug=2` dump in a regular file, read in `parts` parts at once (one per thread:
/// [`debug2_parts`]); the result is the same for any number of parts.
pub fn decode_debug2_file(file: &std::fs::File, max_bytes: u64, parts: usize) -> Result<Profile, DecodeError> {
    debug2::parse_file(file, max_bytes, parts).and_then(check_plausible)
}

/// A `debug=2` dump in memory, read in place in `parts` parts at once.
pub fn decode_debug2_slice(bytes: &[u8], max_bytes: u64, parts: usize) -> Result<Profile, DecodeError> {
    debug2::parse_slice(bytes, max_bytes, parts).and_then(check_plausible)
}

/// How many parts a `debug=2` dump of `len` bytes is read in: one per thread (`RAYON_NUM_THREADS`
/// sets how many; 1 reads on the calling thread), one for small dumps.
pub fn debug2_parts(len: u64) -> usize {
    debug2::default_parts(len)
}

/// What a profile measures, recognised from its sample types (protobuf) or its header (text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileKind {
    Goroutine,
    /// `/debug/pprof/goroutineleak`: goroutines the garbage collector proved unreachable.
    GoroutineLeak,
    Heap,
    Other(String),
}

impl ProfileKind {
    pub fn name(&self) -> &str {
        match self {
            ProfileKind::Goroutine => "goroutine",
            ProfileKind::GoroutineLeak => "goroutineleak",
            ProfileKind::Heap => "heap",
            ProfileKind::Other(s) => s,
        }
    }
    pub fn is_goroutine_like(&self) -> bool {
        matches!(self, ProfileKind::Goroutine | ProfileKind::GoroutineLeak)
    }
}

/// The form a profile came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Proto,
    Debug1,
    Debug2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleType {
    pub name: String,
    pub unit: String,
}

/// One stack frame. Inlined calls are expanded, so one program counter may give several frames.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub function: String,
    pub file: String,
    pub line: i64,
    /// Program counter of the location (0 when the form has none, as in debug=2 dumps).
    pub address: u64,
    /// First line of the function (protobuf only, 0 otherwise): tells a nil-channel park from a
    /// normal one inside `runtime.chansend`.
    pub start_line: i64,
}

/// Per-goroutine facts that only a `debug=2` dump (or the goroutineleak profile) carries,
/// aggregated over the goroutines merged into one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoroutineFacts {
    /// Wait reason without the minutes and marks, e.g. `chan receive`.
    pub wait_reason: String,
    /// Longest wait among the merged goroutines, in minutes (Go prints it from one minute on).
    pub max_wait_minutes: u64,
    /// How long each of the merged goroutines has waited (0 for those Go printed no minutes for).
    pub wait: WaitMinutes,
    /// Goroutines the runtime marked `(leaked)` in the header.
    pub leaked: u64,
    /// Index into [`Profile::frames`] of the `created by` frame.
    pub created_by: Option<u32>,
    /// Stacks of the goroutine's ancestors, nearest first, as Go prints them under
    /// `GODEBUG=tracebackancestors=N` (`[originating from goroutine N]:` blocks): each entry is
    /// the ancestor's frames (indexes into [`Profile::frames`], innermost first) with its own
    /// `created by` frame last when Go printed one. Empty when the dump has none.
    pub ancestors: Vec<Vec<u32>>,
}

/// How long goroutines have waited, as Go prints it (`, 12 minutes`: whole minutes, from one
/// minute on; 0 stands for no minutes printed): goroutines per minute value, sorted by minutes.
///
/// Bounded whatever a dump prints: minutes are kept exactly up to [`EXACT_WAIT_MINUTES`] (the
/// waits a census reads), then in half-hour buckets up to two days, then in power-of-two buckets,
/// each entry under its bucket's lower bound; so it never holds more than about 500 entries, and
/// never more entries than goroutines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitMinutes(Vec<(u64, u64)>);

/// Waits up to this many minutes (six hours) are kept to the minute (see [`WaitMinutes`]).
pub const EXACT_WAIT_MINUTES: u64 = 360;

impl WaitMinutes {
    /// No waits.
    pub const fn new() -> WaitMinutes {
        WaitMinutes(Vec::new())
    }

    /// The bucket a wait of `minutes` is counted in: its lower bound.
    pub fn bucket(minutes: u64) -> u64 {
        if minutes < EXACT_WAIT_MINUTES {
            minutes
        } else if minutes < 2 * 24 * 60 {
            minutes - minutes % 30
        } else {
            1 << (63 - minutes.leading_zeros())
        }
    }

    /// Counts `goroutines` more that waited `minutes`.
    #[inline]
    pub fn add(&mut self, minutes: u64, goroutines: u64) {
        let m = Self::bucket(minutes);
        // Goroutines of one stack are mostly read in order of age, or all at 0: the last entry.
        if let Some(last) = self.0.last_mut() {
            if last.0 == m {
                last.1 = last.1.saturating_add(goroutines);
                return;
            }
        }
        match self.0.binary_search_by_key(&m, |e| e.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(goroutines),
            Err(i) => self.0.insert(i, (m, goroutines)),
        }
    }

    /// Adds every goroutine of `other`.
    pub fn merge(&mut self, other: &WaitMinutes) {
        if self.0.is_empty() {
            self.0.clone_from(&other.0);
            return;
        }
        for &(m, n) in &other.0 {
            self.add(m, n);
        }
    }

    /// (minutes, goroutines), by minutes; minutes past [`EXACT_WAIT_MINUTES`] are bucket bounds.
    pub fn entries(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Goroutines counted.
    pub fn goroutines(&self) -> u64 {
        self.0.iter().fold(0u64, |t, e| t.saturating_add(e.1))
    }

    /// The longest wait (its bucket's lower bound), 0 when none waited a minute.
    pub fn oldest(&self) -> u64 {
        self.0.last().map_or(0, |e| e.0)
    }

    /// The wait of the goroutine at the middle (the lower one of an even count).
    pub fn median(&self) -> u64 {
        let half = self.goroutines().div_ceil(2);
        let mut seen = 0u64;
        for &(m, n) in &self.0 {
            seen = seen.saturating_add(n);
            if seen >= half {
                return m;
            }
        }
        0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Indexes into [`Profile::frames`], innermost call first.
    pub stack: Vec<u32>,
    /// One value per sample type.
    pub values: Vec<i64>,
    /// String and numeric labels (numbers as text, with their unit when the profile gives one).
    pub labels: Vec<(String, String)>,
    pub goroutine: Option<GoroutineFacts>,
}

/// A profile cut short by its producer (Go stops `debug=2` output at 64 MiB).
#[derive(Debug, Clone, PartialEq)]
pub struct Truncation {
    pub bytes_read: u64,
    pub goroutines_read: u64,
    pub declared_total: Option<u64>,
}

/// A decoded profile: the one in-memory model every later stage reads.
#[derive(Debug, Clone)]
pub struct Profile {
    pub kind: ProfileKind,
    pub format: Format,
    pub sample_types: Vec<SampleType>,
    /// Index of the sample type the profile shows by default.
    pub default_sample_type: usize,
    pub time_nanos: Option<i64>,
    pub duration_nanos: i64,
    pub period_type: Option<SampleType>,
    pub period: i64,
    /// Interned frames; samples refer to them by index.
    pub frames: Vec<Frame>,
    pub samples: Vec<Sample>,
    /// The total the profile itself declares (`goroutine profile: total N`), when it has one.
    pub declared_total: Option<u64>,
    pub truncated: Option<Truncation>,
}

impl Profile {
    /// Index of the sample type called `name` (e.g. `inuse_space`).
    pub fn sample_type_index(&self, name: &str) -> Option<usize> {
        self.sample_types.iter().position(|t| t.name == name)
    }

    /// Sum of one value column over all samples.
    pub fn total(&self, index: usize) -> i64 {
        self.samples.iter().fold(0i64, |t, s| t.saturating_add(s.values.get(index).copied().unwrap_or(0)))
    }

    /// Goroutine total: the sum of counts (not the declared total, which can disagree with a cut dump).
    pub fn goroutine_total(&self) -> i64 {
        self.total(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is empty")]
    Empty,
    #[error("truncated or corrupt gzip data ({0}); was the download cut short? fetch the profile again")]
    Gzip(String),
    #[error("decompressed profile is larger than {limit} bytes; pass --max-profile-bytes to raise the cap")]
    TooLarge { limit: u64 },
    #[error("not a Go profile: it looks like {what} (it starts with \"{start}\"); fetch /debug/pprof/goroutine from the service, or check the URL")]
    NotAProfile { what: &'static str, start: String },
    #[error("corrupt protobuf profile: {0}")]
    Protobuf(String),
    /// Decoding would allocate more than the cap allows (a small input can describe a huge model).
    #[error(
        "decoding this profile would take more than {limit} bytes of memory ({what}); pass --max-profile-bytes to raise the cap if the profile is genuine"
    )]
    Budget { limit: u64, what: String },
    /// A count or value no real profile has.
    #[error("implausible profile: {0}")]
    Bounds(String),
    #[error("text profile not understood at line {line}: {message}")]
    Text { line: usize, message: String },
    #[error("no goroutine blocks (`goroutine N [state]:`) found in the dump")]
    NoGoroutines,
    /// The file shrank while it was read (truncated or rewritten by another process).
    #[error("the file changed while it was read: it had {expected} bytes, only {read} were there to read; read it again once nothing writes to it")]
    Changed { expected: u64, read: u64 },
}

/// Decodes any supported form. `max_bytes` caps the decompressed size.
pub fn decode(bytes: &[u8], max_bytes: u64) -> Result<Profile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if gzip::is_gzip(bytes) {
        // Text may inflate to --max-profile-bytes; a protobuf profile (binary) to far less.
        let cap = |head: &[u8]| if is_mostly_text(head) { max_bytes } else { pb::scaled(pb::MAX_PROTOBUF_BYTES, max_bytes) };
        let raw = gzip::gunzip_capped(bytes, max_bytes, SPARE_INFLATED.take(), cap)?;
        if raw.is_empty() {
            return Err(DecodeError::Empty);
        }
        let decoded = decode_plain(&raw, max_bytes);
        keep_spare(&SPARE_INFLATED, raw);
        return decoded;
    }
    if bytes.len() as u64 > max_bytes {
        return Err(DecodeError::TooLarge { limit: max_bytes });
    }
    decode_plain(bytes, max_bytes)
}

/// Decodes from a reader; text dumps are parsed as they stream, so a huge `debug=2` dump is never
/// held in memory whole.
pub fn decode_reader<R: Read>(reader: R, max_bytes: u64) -> Result<Profile, DecodeError> {
    decode_detected(reader, max_bytes, 0, |head, reader| debug2::parse(std::io::Cursor::new(head).chain(reader), max_bytes))
}

/// Decodes a file: as [`decode_reader`], but a `debug=2` dump in a regular file is read in parts
/// at once, one per thread ([`debug2_parts`]), each through its own bounded buffer.
pub fn decode_file(file: &std::fs::File, max_bytes: u64) -> Result<Profile, DecodeError> {
    let regular = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let size = regular.and_then(|len| usize::try_from(len.min(max_bytes)).ok()).unwrap_or(0);
    decode_detected(file, max_bytes, size, |head, rest| match regular {
        // Positioned reads from the start: the head read so far is read again.
        Some(len) => debug2::parse_file(file, max_bytes, debug2::default_parts(len)),
        None => debug2::parse(std::io::Cursor::new(head).chain(rest), max_bytes),
    })
}

/// Looks at the head of `reader` to tell the form; a `debug=2` dump (or a log holding one) is
/// handed to `debug2` with the head read so far and the rest of the reader.
/// `size` is how long the input is when known (0 otherwise): room for it is made at once.
fn decode_detected<R: Read>(
    mut reader: R,
    max_bytes: u64,
    size: usize,
    debug2: impl FnOnce(Vec<u8>, R) -> Result<Profile, DecodeError>,
) -> Result<Profile, DecodeError> {
    // A first look at 64 KiB finds a served dump; only other text gets the whole MiB.
    let mut head = SPARE_READ.take();
    head.reserve(64 * 1024);
    (&mut reader).take(64 * 1024).read_to_end(&mut head).map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if head.is_empty() {
        return Err(DecodeError::Empty);
    }
    if head[0] == 0 {
        // No protobuf starts with a zero tag, no gzip or text with a NUL: do not read on (it may be
        // /dev/zero).
        return Err(DecodeError::NotAProfile { what: "binary data starting with zero bytes", start: preview(&first_text(&head)) });
    }
    if !gzip::is_gzip(&head) && !looks_like_debug2(&head) && is_mostly_text(&head) {
        (&mut reader).take((DETECT_BYTES - head.len()) as u64).read_to_end(&mut head).map_err(|e| DecodeError::Gzip(e.to_string()))?;
    }
    if !gzip::is_gzip(&head) && looks_like_debug2(&head) {
        return debug2(head, reader).and_then(check_plausible);
    }
    if !gzip::is_gzip(&head) && is_mostly_text(&head) && !looks_like_debug1(&first_text(&head)) {
        let start = first_text(&head);
        if let Some(what) = recognise_non_profile(start.trim_start()) {
            return Err(DecodeError::NotAProfile { what, start: preview(start.trim_start()) });
        }
        let neither =
            DecodeError::NotAProfile { what: "text that is neither a debug=1 profile nor a debug=2 goroutine dump", start: preview(start.trim_start()) };
        if memchr::memchr(b'\n', &head).is_none() {
            return Err(neither); // one line of a MiB or more (an endless stream): not a dump
        }
        // Lines of text: a log whose SIGQUIT or panic dump comes after its first MiB. Streamed,
        // so a long log costs no memory.
        return match debug2(head, reader) {
            Err(DecodeError::NoGoroutines) => Err(neither),
            other => other.and_then(check_plausible),
        };
    }
    let mut all = head;
    // What is left of a file, plus one byte to see its end without growing the buffer again.
    all.reserve(size.saturating_sub(all.len()).saturating_add(1));
    (&mut reader).take(max_bytes.saturating_add(1)).read_to_end(&mut all).map_err(|e| DecodeError::Gzip(e.to_string()))?;
    let decoded = decode(&all, max_bytes);
    keep_spare(&SPARE_READ, all);
    decoded
}

/// More goroutines than any machine can hold (each takes at least 2 KiB of stack).
pub const MAX_GOROUTINES: i64 = 1 << 40;

/// Rejects values no real profile has, so later sums and differences cannot overflow: counts and
/// sizes of goroutine and heap profiles are never negative, a column's sum fits in an `i64`, and a
/// goroutine profile holds at most [`MAX_GOROUTINES`].
pub fn check_plausible(p: Profile) -> Result<Profile, DecodeError> {
    let non_negative = p.kind.is_goroutine_like() || p.kind == ProfileKind::Heap;
    for (col, t) in p.sample_types.iter().enumerate() {
        let mut sum: i128 = 0;
        for s in &p.samples {
            let v = s.values.get(col).copied().unwrap_or(0);
            if non_negative && v < 0 {
                return Err(DecodeError::Bounds(format!("a sample has {v} {}, a negative count in a {} profile", t.name, p.kind.name())));
            }
            sum += i128::from(v).abs();
        }
        if sum > i128::from(i64::MAX) {
            return Err(DecodeError::Bounds(format!("the {} values add up to {sum}, more than a 64-bit count holds", t.name)));
        }
        if p.kind.is_goroutine_like() && col == 0 && sum > i128::from(MAX_GOROUTINES) {
            return Err(DecodeError::Bounds(format!("{sum} goroutines: more than any machine can run (the most accepted is {MAX_GOROUTINES})")));
        }
    }
    Ok(p)
}

fn decode_plain(bytes: &[u8], max_bytes: u64) -> Result<Profile, DecodeError> {
    decode_form(bytes, max_bytes).and_then(check_plausible)
}

fn decode_form(bytes: &[u8], max_bytes: u64) -> Result<Profile, DecodeError> {
    let start = first_text(bytes);
    let trimmed = start.trim_start();
    if looks_like_debug1(&start) {
        return debug1::parse(bytes);
    }
    if looks_like_debug2(bytes) {
        return debug2::parse_slice(bytes, u64::MAX, debug2::default_parts(bytes.len() as u64));
    }
    if let Some(what) = recognise_non_profile(trimmed) {
        return Err(DecodeError::NotAProfile { what, start: preview(trimmed) });
    }
    match pb::decode(bytes, max_bytes) {
        Ok(p) => Ok(p),
        Err(e) => {
            if is_mostly_text(bytes) {
                Err(DecodeError::NotAProfile { what: "text that is neither a debug=1 profile nor a debug=2 goroutine dump", start: preview(trimmed) })
            } else {
                Err(e)
            }
        }
    }
}

fn looks_like_debug1(start: &str) -> bool {
    let trimmed = start.trim_start();
    trimmed.starts_with("goroutine profile:") || trimmed.starts_with("goroutineleak profile:") || trimmed.contains(" profile: total ")
}

/// How much of the input form detection looks at: a SIGQUIT or panic dump may follow pages of log.
const DETECT_BYTES: usize = 1 << 20;

fn looks_like_debug2(bytes: &[u8]) -> bool {
    // A debug=2 dump starts with `goroutine N [`; a panic or SIGQUIT dump has a preamble first, and
    // a pasted one may be indented.
    let head = &bytes[..bytes.len().min(DETECT_BYTES)];
    // Only lines holding "goroutine " can be headers: find those, not every line (a protobuf's
    // bytes make thousands of short "lines").
    let mut next_line = 0;
    memchr::memmem::find_iter(head, b"goroutine ").any(|at| {
        if at < next_line {
            return false; // on a line already looked at
        }
        let start = memchr::memrchr(b'\n', &head[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &head[at..]).map_or(head.len(), |i| at + i);
        next_line = end + 1;
        let line = &head[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        debug2::is_header(line)
    })
}

fn first_text(bytes: &[u8]) -> String {
    let n = bytes.len().min(16 * 1024);
    String::from_utf8_lossy(&bytes[..n]).into_owned()
}

fn is_mostly_text(bytes: &[u8]) -> bool {
    let n = bytes.len().min(4096);
    let head = &bytes[..n];
    let printable = head.iter().filter(|&&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80).count();
    printable * 100 >= n * 95
}

fn recognise_non_profile(text: &str) -> Option<&'static str> {
    let lower: String = text.chars().take(512).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<body") || lower.contains("<head") {
        return Some("an HTML page");
    }
    if lower.starts_with('{') || lower.starts_with('[') {
        return Some("a JSON document");
    }
    if lower.starts_with("heap profile:") {
        return Some("a debug=1 heap profile (text); fetch /debug/pprof/heap without ?debug=1 for the protobuf form");
    }
    None
}

/// The first characters of an input for a message, control characters escaped once (`\n`), so
/// the message shows them as `"hello world\n"`, never doubled and never raw.
fn preview(text: &str) -> String {
    text.chars().take(40).flat_map(char::escape_debug).collect()
}

/// Most distinct frames a text profile may hold. A real goroutine profile has thousands (the call
/// sites where goroutines wait); each frame costs far more memory downstream than the few bytes of
/// text that name it, so this bounds what a crafted input can make the later stages allocate.
pub const MAX_DISTINCT_FRAMES: usize = 1 << 19;

/// Most distinct stacks (groups of identical goroutines) a `debug=2` dump may hold.
pub const MAX_DISTINCT_STACKS: usize = 1 << 18;

/// Interns frames while a decoder builds a profile.
#[derive(Default)]
pub(crate) struct FrameInterner {
    pub frames: Vec<Frame>,
    index: FxHashMap<Frame, u32>,
}

impl FrameInterner {
    pub fn intern(&mut self, frame: Frame) -> u32 {
        if let Some(&id) = self.index.get(&frame) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(frame.clone());
        self.index.insert(frame, id);
        id
    }
}

/// Deterministic mutations for the text decoders' never-panic tests: `count` copies of `shape`,
/// each with up to 8 bytes replaced, inserted or cut, drawn from `alphabet` by a xorshift from `seed`.
#[cfg(test)]
pub(crate) fn mutations(shape: &[u8], alphabet: &[u8], seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut seed = seed;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count)
        .map(|_| {
            let mut bytes = shape.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % (bytes.len() + 1);
                let b = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => bytes.truncate(at.max(1)),
                }
            }
            bytes
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_minutes_stay_bounded_and_sorted() {
        let mut w = WaitMinutes::default();
        for m in [5, 0, 5, 3, 0, 0] {
            w.add(m, 1);
        }
        assert_eq!(w.entries(), &[(0, 3), (3, 1), (5, 2)]);
        assert_eq!((w.goroutines(), w.oldest(), w.median()), (6, 5, 0));
        let mut other = WaitMinutes::default();
        other.add(4, 10);
        w.merge(&other);
        assert_eq!(w.median(), 4);
        // A hostile dump printing every wait up to a hundred years keeps a few hundred entries.
        let mut h = WaitMinutes::default();
        for m in (0..100 * 365 * 24 * 60u64).step_by(97) {
            h.add(m, 1);
        }
        h.add(u64::MAX, u64::MAX);
        assert!(h.entries().len() < 500, "{}", h.entries().len());
        assert!(h.entries().windows(2).all(|e| e[0].0 < e[1].0));
        assert_eq!(h.oldest(), 1 << 63);
        assert_eq!(WaitMinutes::bucket(359), 359);
        assert_eq!(WaitMinutes::bucket(361), 360);
        assert_eq!(WaitMinutes::bucket(400), 390);
    }

    #[test]
    fn html_is_named() {
        let err = decode(b"<!DOCTYPE html><html><body>404</body></html>", 1 << 20).unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
    }

    #[test]
    fn json_is_named() {
        let err = decode(br#"{"error":"nope"}"#, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("JSON"), "{err}");
    }

    #[test]
    fn other_text_is_named() {
        let err = decode(b"hello world\nthis is not a profile\n", 1 << 20).unwrap_err();
        assert!(err.to_string().contains("neither a debug=1"), "{err}");
    }

    /// An endless stream of one byte, counting what was read.
    struct Endless(u8, u64);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(self.0);
            self.1 += buf.len() as u64;
            Ok(buf.len())
        }
    }

    #[test]
    fn endless_zeros_or_text_fail_from_the_head() {
        for (byte, message) in [(0u8, "zero bytes"), (b'a', "neither a debug=1")] {
            let mut input = Endless(byte, 0);
            let err = decode_reader(&mut input, 1 << 30).unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
            assert!(input.1 <= 2 * DETECT_BYTES as u64, "read {} bytes", input.1);
        }
    }

    #[test]
    fn indented_crlf_dump_after_a_long_log_is_detected() {
        let mut text = "2026/11/28 06:00:00 level=info msg=serving\r\n".repeat(20_000);
        text.push_str("    goroutine 1 [running]:\r\n    main.main()\r\n    \t/src/main.go:5 +0x1\r\n");
        let p = decode_reader(text.as_bytes(), 1 << 30).unwrap();
        assert_eq!(p.format, Format::Debug2);
        assert_eq!(p.goroutine_total(), 1);
    }

    #[test]
    fn a_dump_after_megabytes_of_log_is_found_and_plain_logs_are_named() {
        let log = "2026/11/28 06:00:00 level=info msg=\"request served\" path=/api/orders status=200\n".repeat(40_000);
        let text = format!("{log}SIGQUIT: quit\nPC=0x1 m=0 sigcode=0\n\ngoroutine 1 gp=0x1 m=nil [select]:\nmain.main()\n\t/src/main.go:5 +0x1\n{log}");
        assert!(text.len() > 2 * DETECT_BYTES);
        let p = decode_reader(text.as_bytes(), 1 << 30).unwrap();
        assert_eq!(p.goroutine_total(), 1);
        let err = decode_reader(log.as_bytes(), 1 << 30).unwrap_err();
        assert!(err.to_string().contains("neither a debug=1"), "{err}");
    }

    #[test]
    fn empty_is_an_error() {
        assert!(matches!(decode(b"", 10), Err(DecodeError::Empty)));
    }
}
