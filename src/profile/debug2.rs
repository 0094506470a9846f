//! The `debug=2` goroutine dump, as served by `/debug/pprof/goroutine?debug=2` and as printed by a
//! panic or SIGQUIT: one block per goroutine.
//!
//! ```text
//! goroutine 17 [chan receive, 12 minutes]:
//! main.abandonedReceiver(0xc000020060)
//!         /src/main.go:31 +0x25
//! created by main.spawn in goroutine 1
//!         /src/main.go:80 +0x5a
//! ```
//!
//! Identical goroutines are merged as they are read, so memory grows with the number of distinct
//! stacks, not the number of goroutines. Lines are found in large buffers ([`super::newlines`])
//! and never copied: a stream is read through one bounded buffer, a file or a dump in memory in
//! parts at once (split where a goroutine header follows a blank line), one per thread, merged in
//! order. A location line that repeats the one last seen after the same function line is known by
//! one comparison ([`Replay`]).

use std::io::Read;

use rayon::prelude::*;

use rustc_hash::FxHashMap;

use super::{
    DecodeError, Format, Frame, FrameInterner, GoroutineFacts, Profile, ProfileKind, Sample, SampleType, Truncation, WaitMinutes, MAX_DISTINCT_FRAMES,
    MAX_DISTINCT_STACKS,
};

use super::debug1::MAX_LABELS;

/// Go stops `runtime.Stack` output for `?debug=2` at 64 MiB: such a dump is exactly this long.
const GO_DEBUG2_CUTOFF: u64 = 64 << 20;

/// Longest line accepted inside a goroutine block. Go prints function names, at most ten argument
/// words and a path per line; a longer line means the input is not a dump, and the cap holds before
/// the line is buffered (a line with no newline, or a FIFO fed from /dev/zero, fails at once).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most frames in one stack (a goroutine's, or one of its ancestors'): Go prints at most 100 (50
/// innermost, 50 outermost, `...N frames elided...` between).
pub const MAX_FRAMES: usize = 1024;

/// Most ancestors of one goroutine (`GODEBUG=tracebackancestors=N` blocks).
pub const MAX_ANCESTORS: usize = 1024;

/// Whether a line (with its indentation) opens a goroutine block, or starts as one does
/// (`goroutine 7 [`, `goroutine 7 gp=`) and would be refused as unreadable.
pub fn is_header(line: &[u8]) -> bool {
    header_start(line).is_some()
}

/// Where the `goroutine N [` header starts in a line, after the indentation or the
/// `file_test.go:12: ` prefix `go test -v` puts before a logged dump; with the indentation the
/// block's following lines carry. Only where the line starts as a header does ([`starts_as_header`]).
fn header_start(line: &[u8]) -> Option<(usize, usize)> {
    let ws = line.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    let rest = &line[ws..];
    if starts_as_header(rest) {
        return Some((ws, ws));
    }
    // `    hang_test.go:36: goroutine 1 [running]:` (t.Log of a dump): the following lines are
    // indented four more than the prefix.
    let colon = memchr::memmem::find(rest, b".go:")?;
    let digits = rest[colon + 4..].iter().take_while(|b| b.is_ascii_digit()).count();
    let after = colon + 4 + digits;
    if digits == 0 || !rest[after..].starts_with(b": ") || rest[..colon].contains(&b' ') {
        return None;
    }
    let start = ws + after + 2;
    starts_as_header(&line[start..]).then_some((start, ws + 4))
}

/// A goroutine header, as `runtime.goroutineheader` prints it:
///
/// ```text
/// goroutine 18 [chan send (leaked) (scan), 12 minutes, locked to thread, synctest bubble 3] {route: /pay, tenant: "acme corp"}:
/// goroutine 1 gp=0xc000002380 m=0 mp=0x59f860 [running]:
/// ```
#[derive(Debug, PartialEq)]
struct Header<'a> {
    id: u64,
    /// The wait reason or status without its marks (`chan receive (nil chan)` keeps its own).
    reason: &'a [u8],
    minutes: u64,
    /// ` (leaked)`: the garbage collector proved it unreachable (the goroutineleak profile).
    leaked: bool,
    /// `gp=0x… m=…` before the bracket.
    gp: bool,
    /// What the braces hold (`route: /pay, tenant: "acme corp"`), checked by [`header_labels`];
    /// empty when there are none.
    labels: &'a [u8],
}

/// Whether `line` starts as a goroutine header does: `goroutine`, a number, then ` [` or ` gp=`.
/// Such a line is read as a header or refused with its line number, never passed over.
fn starts_as_header(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"goroutine ") else { return false };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && (rest[digits..].starts_with(b" [") || rest[digits..].starts_with(b" gp="))
}

/// Reads a header (`line` starts as one: [`starts_as_header`]), one function per part; the error
/// says which part could not be read.
fn parse_header(line: &[u8]) -> Result<Header<'_>, String> {
    let rest = line.strip_prefix(b"goroutine ").ok_or("no `goroutine ` at its start")?;
    let (id, rest) = header_id(rest)?;
    let (gp, rest) = header_machine(rest)?;
    let rest = rest.strip_prefix(b" [").ok_or("no ` [` before the status")?;
    let close = memchr::memchr(b']', rest).ok_or("no `]` after the status")?;
    let (reason, leaked, minutes) = header_status(&rest[..close])?;
    let (labels, rest) = header_labels(&rest[close + 1..])?;
    let rest = rest.strip_prefix(b":").ok_or("no `:` after the status and labels")?;
    if !rest.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(format!("{:?} after the header's `:`", String::from_utf8_lossy(rest)));
    }
    Ok(Header { id, reason, minutes, leaked, gp, labels })
}

/// The goroutine id (a `uint64`).
fn header_id(rest: &[u8]) -> Result<(u64, &[u8]), String> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok());
    match id {
        Some(id) => Ok((id, &rest[digits..])),
        None => Err(format!("goroutine id {:?} is not a 64-bit number", String::from_utf8_lossy(&rest[..digits.min(40)]))),
    }
}

/// ` gp=0xc000002380 m=0 mp=0x59f860` or ` gp=0xc000002380 m=nil` (GOTRACEBACK=system and crash
/// dumps): whether it is there, and what follows it.
fn header_machine(rest: &[u8]) -> Result<(bool, &[u8]), String> {
    let Some(after) = rest.strip_prefix(b" gp=") else { return Ok((false, rest)) };
    let word = |s: &[u8]| s.iter().take_while(|&&b| b.is_ascii_alphanumeric()).count();
    let hex = |s: &'static str, v: &[u8]| -> Result<(), String> {
        let ok = v.len() > 2 && v.starts_with(b"0x") && v[2..].iter().all(u8::is_ascii_hexdigit);
        if ok {
            Ok(())
        } else {
            Err(format!("{s}={:?} is not an address", String::from_utf8_lossy(v)))
        }
    };
    let n = word(after);
    hex("gp", &after[..n])?;
    let after = after[n..].strip_prefix(b" m=").ok_or("no ` m=` after `gp=`")?;
    let n = word(after);
    let m = &after[..n];
    if m == b"nil" {
        return Ok((true, &after[n..]));
    }
    if m.is_empty() || !m.iter().all(u8::is_ascii_digit) {
        return Err(format!("m={:?} is neither an M's number nor nil", String::from_utf8_lossy(m)));
    }
    let after = after[n..].strip_prefix(b" mp=").ok_or("no ` mp=` after `m=N`")?;
    let n = word(after);
    hex("mp", &after[..n])?;
    Ok((true, &after[n..]))
}

/// Marks the runtime puts after a goroutine's status, last printed first.
const STATUS_MARKS: [&[u8]; 3] = [b" (durable)", b" (scan)", b" (leaked)"];

/// What the brackets hold: the status or wait reason with its marks, then `, N minutes`,
/// `, locked to thread`, `, synctest bubble N`. Returns the reason without marks, whether it was
/// marked `(leaked)`, and the minutes waited. Parts a later Go may add are passed over (the
/// goroutine is still read); a part that holds brackets or braces is not a header's.
fn header_status(inside: &[u8]) -> Result<(&[u8], bool, u64), String> {
    if let Some(&b) = inside.iter().find(|&&b| matches!(b, b'[' | b'{' | b'}' | b'"')) {
        return Err(format!("a `{}` inside the status brackets", b as char));
    }
    let mut parts = inside.split(|&b| b == b',');
    let mut reason = parts.next().unwrap_or_default();
    let mut leaked = false;
    // `chan receive (durable)` is a wait reason of its own (synctest); stripping its mark leaves
    // what it waits on, as for one the runtime marked.
    for mark in STATUS_MARKS {
        if let Some(r) = reason.strip_suffix(mark) {
            reason = r;
            leaked |= mark == b" (leaked)";
        }
    }
    if trim(reason).is_empty() || reason != trim(reason) {
        return Err(format!("status {:?} is not a goroutine status", String::from_utf8_lossy(inside)));
    }
    let mut minutes = 0;
    for p in parts {
        let p = trim(p);
        if let Some(m) = p.strip_suffix(b" minutes").or_else(|| p.strip_suffix(b" minute")) {
            if m.is_empty() || !m.iter().all(u8::is_ascii_digit) {
                return Err(format!("{:?} is not a number of minutes", String::from_utf8_lossy(p)));
            }
            // A count past u64 is no real wait: read as none known.
            minutes = std::str::from_utf8(m).ok().and_then(|m| m.parse().ok()).unwrap_or(0);
        } else if p == b"leaked" {
            leaked = true;
        }
    }
    Ok((reason, leaked, minutes))
}

/// The labels after the brackets, ` {key: value, "k:": "v\n"}` (`runtime.goroutineheader`, Go 1.27
/// with `GODEBUG=tracebacklabels=1`, the default for modules at `go 1.27`): what the braces hold,
/// checked, and what follows them. A key or value is quoted exactly when it holds a character
/// other than ASCII letters, digits, `.`, `/` and `_` (`tracebackStringNeedsQuoting`), so a `]`,
/// `}`, `,` or `:` of a label never ends anything.
fn header_labels(rest: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some(after) = rest.strip_prefix(b" {") else { return Ok((&[], rest)) };
    let mut i = 0;
    loop {
        i += label_token(&after[i..]).map_err(|e| format!("label key: {e}"))?;
        i += after[i..].starts_with(b": ").then_some(2).ok_or("no `: ` after a label key")?;
        i += label_token(&after[i..]).map_err(|e| format!("label value: {e}"))?;
        match after.get(i) {
            Some(b'}') => return Ok((&after[..i], &after[i + 1..])),
            Some(b',') if after[i..].starts_with(b", ") => i += 2,
            _ => return Err("no `, ` or `}` after a label value".into()),
        }
    }
}

/// How long the label key or value at the start of `s` is: a quoted string, or a bare word.
fn label_token(s: &[u8]) -> Result<usize, &'static str> {
    if s.first() == Some(&b'"') {
        return super::goquote::unquote(s).map(|(_, used)| used);
    }
    Ok(s.iter().take_while(|&&b| is_bare_label_byte(b)).count())
}

/// A byte Go prints in a label without quotes.
fn is_bare_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_')
}

/// The labels of a header's braces (checked by [`header_labels`]), as key/value pairs in the
/// order printed (sorted by key).
fn decode_labels(text: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    let token = |i: &mut usize| -> String {
        if text[*i..].first() == Some(&b'"') {
            let (s, used) = super::goquote::unquote(&text[*i..]).unwrap_or_default();
            *i += used;
            s
        } else {
            let n = text[*i..].iter().take_while(|&&b| is_bare_label_byte(b)).count();
            *i += n;
            String::from_utf8_lossy(&text[*i - n..*i]).into_owned()
        }
    };
    while i < text.len() {
        let key = token(&mut i);
        i += 2; // `: `
        let value = token(&mut i);
        i += 2; // `, `
        out.push((key, value));
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

#[derive(Hash, PartialEq, Eq)]
struct MergeKey {
    stack: Vec<u32>,
    reason: u32,
    /// The header's labels (an index into `Parser::label_sets`; 0: none).
    labels: u32,
    created_by: Option<u32>,
    ancestors: Vec<Vec<u32>>,
}

/// Which stack the frames being read belong to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The goroutine's own frames.
    Own,
    /// The last of `ancestors` (`[originating from goroutine N]:`).
    Ancestor,
}

/// What a function line waits for: its location line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Frame,
    Creator,
}

/// A frame seen before, found by the text of its two lines without copying them: the function
/// name and the location (PC offset cut), hashed together.
struct CachedFrame {
    hash: u64,
    /// The function name, then the location.
    text: Box<[u8]>,
    function_len: usize,
    id: u32,
}

impl CachedFrame {
    fn is(&self, function: &[u8], location: &[u8]) -> bool {
        self.function_len == function.len()
            && self.text.len() == function.len() + location.len()
            && self.text[..self.function_len] == *function
            && self.text[self.function_len..] == *location
    }
}

/// A function line's name and the location line that followed it (the whole line as read, PC
/// offset and all): a goroutine dump repeats the same pair for every goroutine with that frame,
/// so the next time the name is read, the line after it is compared with this one byte for byte
/// and, when it matches, is the same frame without being searched for, cut or hashed.
struct Replay {
    function: Box<[u8]>,
    /// The location line without its newline, as the common case of [`Parser::line`] reads it
    /// (unindented block, one leading tab).
    line: Vec<u8>,
    id: u32,
}

/// What the location line after a pending function line is compared with.
#[derive(Clone, Copy)]
struct PendingReplay {
    /// The slot in `Parser::successors` of the frame before it.
    slot: usize,
    /// The hash of the function name, when it was looked up by it.
    hash: Option<u64>,
    /// Its replay (an index into `Parser::replays`), if that name was seen with a frame before.
    found: Option<u32>,
}

const NO_REPLAY: u32 = u32::MAX;

fn name_hash(function: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(function);
    h.finish()
}

fn frame_hash(function: &[u8], location: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(function);
    h.write_u8(0xff);
    h.write(location);
    h.finish()
}

/// The location without its PC offset (` +0x25`) and, under GOTRACEBACK=system, the frame and
/// stack pointers (` fp=… sp=… pc=…`).
fn cut_pc(location: &[u8]) -> &[u8] {
    // The common shape, `/src/main.go:31 +0x25`: the last space starts the offset (any later
    // ` +0x` would hold a later space).
    if let Some(i) = location.iter().rposition(|&b| b == b' ') {
        if location[i + 1..].starts_with(b"+0x") {
            return &location[..i];
        }
    }
    match memchr::memmem::rfind(location, b" +0x").or_else(|| memchr::memmem::find(location, b" fp=")) {
        Some(i) => &location[..i],
        None => location,
    }
}

/// Where `sub`, a slice of `buf`, lies in it.
fn span_in(buf: &[u8], sub: &[u8]) -> (usize, usize) {
    let start = sub.as_ptr() as usize - buf.as_ptr() as usize;
    (start, start + sub.len())
}

/// The dump parser: fed whole lines from buffers of any size (a whole input in memory, or windows
/// of a stream), it keeps only the distinct frames and stacks. Several parsers may read disjoint
/// parts of one dump (each starting at a goroutine header after a blank line, where the state is
/// fresh) and be merged in order ([`Parser::absorb`]) into what one parser reading it all gives.
struct Parser {
    interner: FrameInterner,
    /// Frames seen before, by their text, so a frame line costs a hash and a compare.
    frame_cache: hashbrown::HashTable<CachedFrame>,
    reasons: Vec<String>,
    reason_ids: FxHashMap<Vec<u8>, u32>,
    /// Label sets as read from headers' braces (the first one empty), by their text.
    label_sets: Vec<Vec<(String, String)>>,
    label_ids: FxHashMap<Vec<u8>, u32>,
    merged: FxHashMap<MergeKey, usize>,
    samples: Vec<Sample>,
    /// The wait reason (an index into `reasons`) each sample was merged by.
    sample_reasons: Vec<u32>,
    /// The label set (an index into `label_sets`) each sample was merged by.
    sample_labels: Vec<u32>,
    goroutines: u64,
    lineno: usize,
    /// Inside a line longer than [`MAX_LINE_BYTES`] outside any block: skipped to its newline.
    skipping: bool,
    // The block being read.
    in_block: bool,
    /// Indentation every line of the block starts with (a dump pasted from test output).
    indent: usize,
    /// `goroutine 0`: an M's g0 or signal stack (GOTRACEBACK=crash), not a goroutine.
    skip_block: bool,
    part: Part,
    stack: Vec<u32>,
    reason: u32,
    labels: u32,
    minutes: u64,
    leaked: bool,
    created_by: Option<u32>,
    ancestors: Vec<Vec<u32>>,
    pending: Option<Pending>,
    /// The pending function's name while it lies in the buffer being read (a range of it)…
    pending_span: Option<(usize, usize)>,
    /// … or copied, when the buffer ended between the function line and its location line.
    pending_name: Vec<u8>,
    /// The location line last seen after the pending function name, if any: the next line is
    /// first compared with that, byte for byte.
    pending_replay: Option<PendingReplay>,
    /// Location lines as they were last seen after each function name, with their frame.
    replays: Vec<Replay>,
    /// `replays` by the hash of their function name.
    replay_index: hashbrown::HashTable<u32>,
    /// The replay that followed each frame last time (`NO_REPLAY` if none), by its frame id + 1;
    /// slot 0 for a block's first frame. Goroutines of one stack print the same frames in the
    /// same order, so the function line after a frame is most often the one seen after it before,
    /// and is recognised without hashing it.
    successors: Vec<u32>,
    /// The slot in `successors` of the frame read last in this block.
    last_slot: usize,
    /// Whether location lines are replayed (off only in tests, which check that replaying changes
    /// nothing).
    replay_on: bool,
    evidence: super::gowrap::TracebackEvidence,
}

impl Parser {
    fn new() -> Parser {
        Parser {
            interner: FrameInterner::default(),
            frame_cache: hashbrown::HashTable::new(),
            reasons: Vec::new(),
            reason_ids: FxHashMap::default(),
            label_sets: vec![Vec::new()],
            label_ids: FxHashMap::default(),
            merged: FxHashMap::default(),
            samples: Vec::new(),
            sample_reasons: Vec::new(),
            sample_labels: Vec::new(),
            goroutines: 0,
            lineno: 0,
            skipping: false,
            in_block: false,
            indent: 0,
            skip_block: false,
            part: Part::Own,
            stack: Vec::new(),
            reason: 0,
            labels: 0,
            minutes: 0,
            leaked: false,
            created_by: None,
            ancestors: Vec::new(),
            pending: None,
            pending_span: None,
            pending_name: Vec::new(),
            pending_replay: None,
            replays: Vec::new(),
            replay_index: hashbrown::HashTable::new(),
            successors: vec![NO_REPLAY],
            last_slot: 0,
            replay_on: true,
            evidence: Default::default(),
        }
    }

    fn reason_id(&mut self, r: &[u8]) -> u32 {
        if let Some(&id) = self.reason_ids.get(r) {
            return id;
        }
        let id = self.reasons.len() as u32;
        self.reasons.push(String::from_utf8_lossy(r).into_owned());
        self.reason_ids.insert(r.to_vec(), id);
        id
    }

    /// The id of a header's label set by the text of its braces (0: none).
    fn labels_id(&mut self, text: &[u8]) -> Result<u32, DecodeError> {
        if text.is_empty() {
            return Ok(0);
        }
        if let Some(&id) = self.label_ids.get(text) {
            return Ok(id);
        }
        if self.label_sets.len() > MAX_DISTINCT_STACKS {
            return Err(self.error(format!("more than {MAX_DISTINCT_STACKS} distinct label sets: this is not a real goroutine dump")));
        }
        let labels = decode_labels(text);
        if labels.len() > MAX_LABELS {
            return Err(self.error(format!("more than {MAX_LABELS} labels on one goroutine: this is not a Go goroutine dump")));
        }
        let id = self.label_sets.len() as u32;
        self.label_sets.push(labels);
        self.label_ids.insert(text.to_vec(), id);
        Ok(id)
    }

    fn error(&self, message: String) -> DecodeError {
        DecodeError::Text { line: self.lineno, message }
    }

    fn finish_block(&mut self) -> Result<(), DecodeError> {
        if !self.in_block {
            return Ok(());
        }
        self.in_block = false;
        self.pending = None;
        self.pending_replay = None;
        if self.skip_block {
            self.stack.clear();
            self.ancestors.clear();
            return Ok(());
        }
        self.goroutines += 1;
        let key = MergeKey {
            stack: std::mem::take(&mut self.stack),
            reason: self.reason,
            labels: self.labels,
            created_by: self.created_by,
            ancestors: std::mem::take(&mut self.ancestors),
        };
        let minutes = self.minutes;
        let leaked = self.leaked as u64;
        match self.merged.get(&key) {
            Some(&i) => {
                let s = &mut self.samples[i];
                s.values[0] += 1;
                if let Some(g) = s.goroutine.as_mut() {
                    g.max_wait_minutes = g.max_wait_minutes.max(minutes);
                    g.wait.add(minutes, 1);
                    g.leaked += leaked;
                }
                // Hand the buffers back, so the next block reuses them.
                self.stack = key.stack;
                self.stack.clear();
            }
            None => {
                if self.samples.len() >= MAX_DISTINCT_STACKS {
                    return Err(self.error(format!("more than {MAX_DISTINCT_STACKS} distinct stacks: this is not a real goroutine dump")));
                }
                self.samples.push(Sample {
                    stack: key.stack.clone(),
                    values: vec![1],
                    labels: self.label_sets[key.labels as usize].clone(),
                    goroutine: Some(GoroutineFacts {
                        wait_reason: self.reasons[key.reason as usize].clone(),
                        max_wait_minutes: minutes,
                        wait: {
                            let mut w = WaitMinutes::default();
                            w.add(minutes, 1);
                            w
                        },
                        leaked,
                        created_by: key.created_by,
                        ancestors: key.ancestors.clone(),
                    }),
                });
                self.sample_reasons.push(key.reason);
                self.sample_labels.push(key.labels);
                self.merged.insert(key, self.samples.len() - 1);
            }
        }
        Ok(())
    }

    /// The frame of a function line and its location line (`/src/main.go:31 +0x25`, with
    /// ` fp=… sp=… pc=…` under GOTRACEBACK=system).
    fn frame(&mut self, function: &[u8], location: &[u8]) -> Result<u32, DecodeError> {
        let loc = cut_pc(location);
        let hash = frame_hash(function, loc);
        if let Some(f) = self.frame_cache.find(hash, |f| f.hash == hash && f.is(function, loc)) {
            return Ok(f.id);
        }
        if self.interner.frames.len() >= MAX_DISTINCT_FRAMES {
            return Err(self.error(format!("more than {MAX_DISTINCT_FRAMES} distinct frames: this is not a real goroutine dump")));
        }
        let (file, line) = super::debug1::split_file_line(&String::from_utf8_lossy(loc));
        let id = self.interner.intern(Frame { function: String::from_utf8_lossy(function).into_owned(), file, line, address: 0, start_line: 0 });
        let text = [function, loc].concat().into_boxed_slice();
        self.frame_cache.insert_unique(hash, CachedFrame { hash, text, function_len: function.len(), id }, |f| f.hash);
        Ok(id)
    }

    fn push_frame(&mut self, id: u32) -> Result<(), DecodeError> {
        let stack = match self.part {
            Part::Own => &mut self.stack,
            Part::Ancestor => match self.ancestors.last_mut() {
                Some(a) => a,
                None => return Ok(()),
            },
        };
        if stack.len() >= MAX_FRAMES {
            return Err(self.error(format!("a goroutine with more than {MAX_FRAMES} frames (Go prints at most 100): this is not a Go goroutine dump")));
        }
        stack.push(id);
        Ok(())
    }

    /// Waits for the location line of the function line at `name` (a range of `buf`).
    fn set_pending(&mut self, pending: Pending, buf: &[u8], name: &[u8]) {
        self.pending = Some(pending);
        self.pending_span = Some(span_in(buf, name));
        self.pending_replay = None;
        if self.indent == 0 && self.replay_on {
            let slot = self.last_slot;
            let replays = &self.replays;
            let next = self.successors.get(slot).copied().filter(|&i| i != NO_REPLAY);
            self.pending_replay = Some(match next {
                Some(i) if *replays[i as usize].function == *name => PendingReplay { slot, hash: None, found: Some(i) },
                _ => {
                    let hash = name_hash(name);
                    let found = self.replay_index.find(hash, |&i| *replays[i as usize].function == *name).copied();
                    PendingReplay { slot, hash: Some(hash), found }
                }
            });
        }
    }

    /// Notes that frame `id`, read through replay `replay`, followed the frame of `slot`.
    fn follow(&mut self, slot: usize, replay: u32, id: u32) {
        if let Some(s) = self.successors.get_mut(slot) {
            *s = replay;
        }
        let next = id as usize + 1;
        if self.successors.len() <= next {
            self.successors.resize(next + 1, NO_REPLAY);
        }
        self.last_slot = next;
    }

    /// The location line at `buf[pos..]` read at once, when it is the one last seen after the
    /// pending function name: returns the offset after its newline.
    fn replay(&mut self, buf: &[u8], pos: usize) -> Result<Option<usize>, DecodeError> {
        let Some(PendingReplay { slot, found: Some(i), .. }) = self.pending_replay else { return Ok(None) };
        let r = &self.replays[i as usize];
        let end = pos + r.line.len();
        if buf.len() <= end || buf[end] != b'\n' || buf[pos..end] != *r.line {
            return Ok(None);
        }
        let id = r.id;
        self.lineno += 1;
        self.pending_replay = None;
        self.follow(slot, i, id);
        self.pending_span = None;
        if let Some(pending) = self.pending.take() {
            self.place(pending, id)?;
        }
        Ok(Some(end + 1))
    }

    /// Puts frame `id`, read for a `pending` function line, where it belongs: the goroutine's
    /// stack or its creator, or the ancestor being read.
    fn place(&mut self, pending: Pending, id: u32) -> Result<(), DecodeError> {
        match pending {
            Pending::Creator => match self.part {
                Part::Own => self.created_by = Some(id),
                Part::Ancestor => self.push_frame(id)?,
            },
            Pending::Frame => self.push_frame(id)?,
        }
        Ok(())
    }

    /// Remembers `line`, a location line read after the pending function line `function`, as
    /// the frame `id`, for [`Parser::replay`].
    fn remember(&mut self, function: &[u8], line: &[u8], id: u32) {
        let Some(PendingReplay { slot, hash, found }) = self.pending_replay.take() else { return };
        let i = match found {
            Some(i) => {
                // In place: under GOTRACEBACK=system each location line differs (`sp=`).
                let r = &mut self.replays[i as usize];
                r.line.clear();
                r.line.extend_from_slice(line);
                r.id = id;
                i
            }
            None => {
                // One per distinct function name that had a frame: bounded by the frame cap.
                let i = self.replays.len() as u32;
                self.replays.push(Replay { function: function.into(), line: line.to_vec(), id });
                let replays = &self.replays;
                let hash = hash.unwrap_or_else(|| name_hash(function));
                self.replay_index.insert_unique(hash, i, |&j| name_hash(&replays[j as usize].function));
                i
            }
        };
        self.follow(slot, i, id);
    }

    /// A location line (tabs may have become spaces in a terminal copy).
    /// `replayable`: `line` is the whole line, read by the common case of [`Parser::line`].
    fn location(&mut self, buf: &[u8], line: &[u8], replayable: bool) -> Result<(), DecodeError> {
        if let Some(pending) = self.pending.take() {
            let id = match self.pending_span.take() {
                Some((start, end)) => {
                    let id = self.frame(&buf[start..end], trim(line))?;
                    if replayable {
                        self.remember(&buf[start..end], line, id);
                    }
                    id
                }
                None => {
                    let function = std::mem::take(&mut self.pending_name);
                    let id = self.frame(&function, trim(line));
                    if let (true, Ok(id)) = (replayable, &id) {
                        self.remember(&function, line, *id);
                    }
                    self.pending_name = function;
                    id?
                }
            };
            self.pending_replay = None;
            self.place(pending, id)?;
        }
        // Else `\tgoroutine running on other thread; stack unavailable`.
        Ok(())
    }

    /// One line (`buf[start..end]`, without its line end).
    fn line(&mut self, buf: &[u8], start: usize, end: usize) -> Result<(), DecodeError> {
        let raw = &buf[start..end];
        // The common case first: a location line of an unindented block.
        if self.in_block && self.indent == 0 && raw.len() > 1 && raw[0] == b'\t' && raw[1] != b'\t' && raw[1] != b' ' {
            return self.location(buf, raw, true);
        }
        // Blank (or whitespace-only, as indented test output has) ends a block.
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            self.finish_block()?;
            return Ok(());
        }
        if let Some((h, indent)) = self.header(raw)? {
            self.finish_block()?;
            self.reason = self.reason_id(h.reason);
            self.labels = self.labels_id(h.labels)?;
            self.minutes = h.minutes;
            self.leaked = h.leaked;
            self.evidence.gp_headers |= h.gp;
            self.skip_block = h.id == 0;
            self.created_by = None;
            self.last_slot = 0;
            self.part = Part::Own;
            self.indent = indent;
            self.in_block = true;
            return Ok(());
        }
        if !self.in_block {
            return Ok(()); // preamble of a panic or SIGQUIT dump, log lines, registers
        }
        // Inside a block every line starts with the block's indentation; a line that does not is
        // whatever follows the dump (`exit status 2`, `FAIL pkg 2.0s`, a log line).
        let indent = self.indent;
        if raw.len() < indent || raw[..indent].iter().any(|&b| b != b' ' && b != b'\t') {
            self.finish_block()?;
            return Ok(());
        }
        let line = &raw[indent..];
        if line[0] == b'\t' || line[0] == b' ' {
            return self.location(buf, line, false);
        }
        if self.pending.take().is_some() {
            // A function line without its location line: it was not a frame but what follows the
            // dump (a log line that happens to end in `)`).
            self.finish_block()?;
            return self.line(buf, start, end);
        }
        if let Some(rest) = line.strip_prefix(b"created by ") {
            let name = match memchr::memmem::find(rest, b" in goroutine ") {
                Some(i) => {
                    self.evidence.creator_goroutine = true;
                    &rest[..i]
                }
                None => rest,
            };
            self.set_pending(Pending::Creator, buf, trim(name));
            return Ok(());
        }
        if line.starts_with(b"...") {
            return Ok(()); // `...additional frames elided...`, `...12 frames elided...`
        }
        if line.starts_with(b"[originating from goroutine ") {
            if self.ancestors.len() >= MAX_ANCESTORS {
                return Err(self.error(format!("a goroutine with more than {MAX_ANCESTORS} ancestors: this is not a Go goroutine dump")));
            }
            self.ancestors.push(Vec::new());
            self.part = Part::Ancestor;
            return Ok(());
        }
        // `main.(*T).m(0xc000, {0x1, 0x2})`, `main.f(...)`, `panic({0x5853, 0x5994})`: the name is
        // all before the `(` that opens the last argument list.
        // A plain loop: the arguments are a few bytes long, too short for memrchr to pay off.
        let name = match (line.last(), line.iter().rposition(|&b| b == b'(')) {
            (Some(b')'), Some(i)) if i > 0 => &line[..i],
            _ => {
                // Not a frame: registers after a crash dump, `exit status 2`, `FAIL pkg 2.0s`.
                self.finish_block()?;
                return Ok(());
            }
        };
        self.set_pending(Pending::Frame, buf, name);
        Ok(())
    }

    /// The header a line holds, with the indentation of its block's lines; an error for a line
    /// that starts as a header does but cannot be read as one.
    fn header<'a>(&self, raw: &'a [u8]) -> Result<Option<(Header<'a>, usize)>, DecodeError> {
        let found = if raw.starts_with(b"goroutine ") {
            starts_as_header(raw).then_some((0, 0))
        } else if !self.in_block {
            header_start(raw)
        } else {
            // Inside an indented block, the next header comes at the same indentation.
            let indent = self.indent;
            let at_indent = indent > 0 && raw.len() > indent && raw[..indent].iter().all(|&b| b == b' ' || b == b'\t');
            (at_indent && starts_as_header(&raw[indent..])).then_some((indent, indent))
        };
        let Some((start, indent)) = found else { return Ok(None) };
        match parse_header(&raw[start..]) {
            Ok(h) => Ok(Some((h, indent))),
            Err(why) => Err(self.header_error(&raw[start..], why)),
        }
    }

    /// The error for a line that starts as a header but cannot be read (kept off the hot path).
    #[cold]
    #[inline(never)]
    fn header_error(&self, line: &[u8], why: String) -> DecodeError {
        let shown: String = String::from_utf8_lossy(line).chars().take(200).collect();
        self.error(format!("a goroutine header that cannot be read ({why}): {shown:?}"))
    }

    /// Reads the whole lines of `buf`, whose first byte is at offset `base` of the input; at `eof`
    /// the last line may lack its newline. Returns how many bytes it used: the rest is the start
    /// of a line, to be given again with what follows it.
    ///
    /// A line is not copied: a function line's name is kept as a range of `buf` until its location
    /// line, and copied only when `buf` ends between the two.
    fn lines(&mut self, buf: &[u8], base: u64, eof: bool, max_bytes: u64) -> Result<usize, DecodeError> {
        let result = self.lines_inner(buf, base, eof, max_bytes);
        if let (true, Some((start, end))) = (self.pending.is_some(), self.pending_span.take()) {
            self.pending_name.clear();
            self.pending_name.extend_from_slice(&buf[start..end]);
        }
        result
    }

    fn lines_inner(&mut self, buf: &[u8], base: u64, eof: bool, max_bytes: u64) -> Result<usize, DecodeError> {
        let too_large = || DecodeError::TooLarge { limit: max_bytes };
        let mut newlines = super::newlines::Newlines::new(buf);
        let mut pos = 0;
        while pos < buf.len() {
            if self.skipping {
                // The rest of a long line outside any block.
                match memchr::memchr(b'\n', &buf[pos..]) {
                    Some(i) => {
                        pos += i + 1;
                        self.skipping = false;
                    }
                    None => pos = buf.len(),
                }
                if base + pos as u64 > max_bytes {
                    return Err(too_large());
                }
                continue;
            }
            if self.pending_replay.is_some() {
                if let Some(next) = self.replay(buf, pos)? {
                    if base + next as u64 > max_bytes {
                        return Err(too_large());
                    }
                    pos = next;
                    continue;
                }
            }
            let (end, next, whole) = match newlines.find(pos) {
                Some(i) => (i, i + 1, true),
                None if eof || buf.len() - pos > MAX_LINE_BYTES => (buf.len(), buf.len(), false),
                None => return Ok(pos), // the rest comes with the next buffer
            };
            self.lineno += 1;
            // The cap holds before a line is buffered whole: longer than MAX_LINE_BYTES, or that
            // long and unfinished.
            if end - pos > MAX_LINE_BYTES || !whole && end - pos >= MAX_LINE_BYTES {
                if base + (pos + MAX_LINE_BYTES) as u64 > max_bytes {
                    return Err(too_large());
                }
                if self.in_block {
                    return Err(self.error(format!(
                        "a line longer than {} MiB inside a goroutine block: this is not a Go goroutine dump (is it binary, or a stream with no newlines?)",
                        MAX_LINE_BYTES >> 20
                    )));
                }
                // A long log line before the dump: skipped.
                self.skipping = !whole && !eof;
                pos = next;
                if base + pos as u64 > max_bytes {
                    return Err(too_large());
                }
                continue;
            }
            let read = base + next as u64;
            if read > max_bytes {
                return Err(too_large());
            }
            let mut content = end;
            if content > pos && buf[content - 1] == b'\r' {
                content -= 1;
            }
            if !whole && (read == GO_DEBUG2_CUTOFF || self.pending.is_some() && !has_line_number(&buf[pos..content])) {
                // The input stops mid-line: at Go's cut (the goroutine is dropped in `finish`), or
                // inside a location line (the goroutine is kept, not that frame).
                return Ok(next);
            }
            self.line(buf, pos, content)?;
            pos = next;
        }
        Ok(pos)
    }

    /// Reads `reader` to its end through one buffer (grown only for long lines), its first byte
    /// at offset `base` of the input; returns the offset of its end.
    fn read_all<R: Read>(&mut self, reader: &mut R, base: u64, max_bytes: u64) -> Result<u64, DecodeError> {
        let mut buf = vec![0u8; READ_BUF_BYTES];
        let (mut len, mut base) = (0usize, base);
        loop {
            if len == buf.len() {
                // A line as long as the buffer: room for the cap (`lines` refuses longer ones).
                buf.resize(buf.len().max(MAX_LINE_BYTES + 1) * 2, 0);
            }
            let n = loop {
                match reader.read(&mut buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DecodeError::Gzip(e.to_string())),
                }
            };
            len += n;
            let eof = n == 0;
            let used = self.lines(&buf[..len], base, eof, max_bytes)?;
            if eof {
                return Ok(base + len as u64);
            }
            buf.copy_within(used..len, 0);
            len -= used;
            base += used as u64;
        }
    }

    /// Adds what `other` read, from the part of the dump after this one's, as if this parser had
    /// read on: frames and samples keep the order of their first appearance, and counts add up.
    /// `None` when the sum passes a cap (the caller reads the dump again in one piece, so the
    /// error names its line).
    fn absorb(&mut self, other: Parser) -> Option<()> {
        let frames: Vec<u32> = other.interner.frames.into_iter().map(|f| self.interner.intern(f)).collect();
        let mut reasons = vec![0u32; other.reasons.len()];
        let mut raw_reasons: Vec<(&Vec<u8>, u32)> = other.reason_ids.iter().map(|(r, &i)| (r, i)).collect();
        raw_reasons.sort_by_key(|&(_, i)| i);
        for (raw, i) in raw_reasons {
            reasons[i as usize] = self.reason_id(raw);
        }
        let mut label_sets = vec![0u32; other.label_sets.len()];
        let mut raw_labels: Vec<(&Vec<u8>, u32)> = other.label_ids.iter().map(|(r, &i)| (r, i)).collect();
        raw_labels.sort_by_key(|&(_, i)| i);
        for (raw, i) in raw_labels {
            label_sets[i as usize] = self.labels_id(raw).ok()?;
        }
        let map = |ids: &mut Vec<u32>| ids.iter_mut().for_each(|id| *id = frames[*id as usize]);
        for ((mut s, reason), labels) in other.samples.into_iter().zip(other.sample_reasons).zip(other.sample_labels) {
            let mut g = s.goroutine.take()?;
            map(&mut s.stack);
            g.ancestors.iter_mut().for_each(map);
            g.created_by = g.created_by.map(|id| frames[id as usize]);
            let key = MergeKey {
                stack: s.stack.clone(),
                reason: reasons[reason as usize],
                labels: label_sets[labels as usize],
                created_by: g.created_by,
                ancestors: g.ancestors.clone(),
            };
            match self.merged.get(&key) {
                Some(&i) => {
                    let mine = &mut self.samples[i];
                    mine.values[0] += s.values[0];
                    let f = mine.goroutine.as_mut()?;
                    f.max_wait_minutes = f.max_wait_minutes.max(g.max_wait_minutes);
                    f.wait.merge(&g.wait);
                    f.leaked += g.leaked;
                }
                None => {
                    s.goroutine = Some(g);
                    self.samples.push(s);
                    self.sample_reasons.push(key.reason);
                    self.sample_labels.push(key.labels);
                    self.merged.insert(key, self.samples.len() - 1);
                }
            }
        }
        self.goroutines += other.goroutines;
        self.evidence.gp_headers |= other.evidence.gp_headers;
        self.evidence.creator_goroutine |= other.evidence.creator_goroutine;
        (self.interner.frames.len() < MAX_DISTINCT_FRAMES && self.samples.len() < MAX_DISTINCT_STACKS).then_some(())
    }

    /// The profile, once the whole input (`total` bytes) is read.
    fn finish(mut self, total: u64) -> Result<Profile, DecodeError> {
        // Go cuts a served dump at exactly 64 MiB, wherever that falls: its last goroutine is
        // partial. Any other unfinished last line is a paste without its final newline, and is read.
        let cut = total == GO_DEBUG2_CUTOFF;
        if cut {
            self.in_block = false; // drop the partial goroutine
        }
        self.finish_block()?;
        if self.goroutines == 0 {
            return Err(DecodeError::NoGoroutines);
        }
        super::gowrap::drop_go_statement_wrappers(&self.interner.frames, &mut self.samples, self.evidence);
        Ok(Profile {
            kind: ProfileKind::Goroutine,
            format: Format::Debug2,
            sample_types: vec![SampleType { name: "goroutine".into(), unit: "count".into() }],
            default_sample_type: 0,
            time_nanos: None,
            duration_nanos: 0,
            period_type: Some(SampleType { name: "goroutine".into(), unit: "count".into() }),
            period: 1,
            frames: self.interner.frames,
            samples: self.samples,
            declared_total: None,
            truncated: cut.then_some(Truncation { bytes_read: total, goroutines_read: self.goroutines, declared_total: None }),
        })
    }
}

/// Whether a location line holds `file:line`.
fn has_line_number(location: &[u8]) -> bool {
    let loc = cut_pc(trim(location));
    let digits = loc.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && loc.len() > digits && loc[loc.len() - digits - 1] == b':'
}

/// What a stream is read in: large enough that a read costs little against parsing it, small
/// enough to stay in the cache.
const READ_BUF_BYTES: usize = 256 << 10;

/// Parses a dump from a reader (a pipe, a socket, a FIFO: read once, front to back, through one
/// bounded buffer). `max_bytes` caps how much text is read.
pub fn parse<R: Read>(mut reader: R, max_bytes: u64) -> Result<Profile, DecodeError> {
    let mut p = Parser::new();
    let total = p.read_all(&mut reader, 0, max_bytes)?;
    p.finish(total)
}

/// Inputs smaller than this are read by one thread: splitting them costs more than it saves.
pub const PARALLEL_MIN_BYTES: u64 = 8 << 20;

/// How many parts to read a dump of `len` bytes in: one per thread of the pool (`RAYON_NUM_THREADS`
/// sets it; one means no threads), none smaller than [`PARALLEL_MIN_BYTES`] / 2.
pub fn default_parts(len: u64) -> usize {
    if len < PARALLEL_MIN_BYTES {
        return 1;
    }
    let threads = rayon::current_num_threads().max(1);
    threads.min((len / (PARALLEL_MIN_BYTES / 2)) as usize).max(1)
}

/// A dump in memory (a decompressed body): read in place, in `parts` parts at once.
pub fn parse_slice(bytes: &[u8], max_bytes: u64, parts: usize) -> Result<Profile, DecodeError> {
    parse_in_place(bytes, max_bytes, parts, WINDOW_BYTES, &|_, _| {}, &|_, _| {})
}

/// How much of a dump in place one `lines` call reads: pages behind it may be released.
const WINDOW_BYTES: usize = 8 << 20;

/// `bytes` read in place in `parts` parts at once, each a window of `window` bytes at a time;
/// `ahead(from, to)` is told before each window that its bytes `from..to` are about to be read,
/// and `done(from, to)` after it that they are read.
fn parse_in_place(
    bytes: &[u8],
    max_bytes: u64,
    parts: usize,
    window: usize,
    ahead: &(dyn Fn(usize, usize) + Sync),
    done: &(dyn Fn(usize, usize) + Sync),
) -> Result<Profile, DecodeError> {
    let read_part = |a: usize, b: usize| -> Result<Parser, DecodeError> {
        let mut p = Parser::new();
        let mut pos = a;
        let mut end = (a + window).min(b);
        loop {
            let eof = end == b;
            ahead(pos, end);
            let used = p.lines(&bytes[pos..end], pos as u64, eof, max_bytes)?;
            if eof {
                done(pos, b);
                return Ok(p);
            }
            if used == 0 {
                end = (end + window).min(b); // a line longer than the window
                continue;
            }
            done(pos, pos + used);
            pos += used;
            end = (pos + window).min(b);
        }
    };
    let whole = || read_part(0, bytes.len()).and_then(|p| p.finish(bytes.len() as u64));
    if parts <= 1 || bytes.len() as u64 > max_bytes {
        return whole();
    }
    let ranges = split(bytes.len() as u64, parts, |from, to| Ok(find_boundary(bytes, from as usize, to as usize).map(|p| p as u64)));
    let Ok(ranges) = ranges else { return whole() };
    let parsed: Vec<Result<Parser, DecodeError>> = ranges.into_par_iter().map(|(a, b)| read_part(a as usize, b as usize)).collect();
    merge(parsed, bytes.len() as u64).unwrap_or_else(whole)
}

/// A dump in a regular file, read in `parts` parts at once, each by positioned reads (`pread`)
/// through its own bounded buffer, so memory stays bounded by a buffer per thread.
///
/// The file is not mapped: a mapped file truncated by another process (a log rotated, a copy
/// overwritten) kills the reader with SIGBUS. Read this way, a file that shrinks while it is read
/// is an error ([`DecodeError::Changed`]), and one that grows is read to the length it had when
/// the read began.
pub fn parse_file(file: &std::fs::File, max_bytes: u64, parts: usize) -> Result<Profile, DecodeError> {
    let len = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => return parse(FilePart { file, pos: 0, end: u64::MAX }, max_bytes),
    };
    // A part of `file[a..b]`, which must still be there in full.
    let read_part = |a: u64, b: u64| -> Result<Parser, DecodeError> {
        let mut p = Parser::new();
        let end = p.read_all(&mut FilePart { file, pos: a, end: b }, a, max_bytes)?;
        if end < b {
            return Err(DecodeError::Changed { expected: len, read: end });
        }
        Ok(p)
    };
    let whole = || read_part(0, len).and_then(|p| p.finish(len));
    if parts <= 1 || len > max_bytes {
        return whole();
    }
    let ranges = split(len, parts, |from, to| {
        // The bytes find_boundary looks at: a few before `from`, a few past `to`.
        let start = from.saturating_sub(3);
        let end = (to + 10).min(len);
        let mut buf = Vec::with_capacity((end - start) as usize);
        std::io::Read::read_to_end(&mut FilePart { file, pos: start, end }, &mut buf)?;
        Ok(find_boundary(&buf, (from - start) as usize, (to - start) as usize).map(|p| start + p as u64))
    });
    let Ok(ranges) = ranges else { return whole() };
    let parsed: Vec<Result<Parser, DecodeError>> = ranges.into_par_iter().map(|(a, b)| read_part(a, b)).collect();
    // A part found the file shorter than it was: reading it again in one piece would only meet
    // the same change (or another).
    if let Some(i) = parsed.iter().position(|r| matches!(r, Err(DecodeError::Changed { .. }))) {
        return Err(parsed.into_iter().nth(i).and_then(Result::err).unwrap_or(DecodeError::Empty));
    }
    merge(parsed, len).unwrap_or_else(whole)
}

/// The parts' parsers merged in order and finished; `None` when a part failed or the merged dump
/// passes a cap: then the dump is read again in one piece, which gives the same result or the
/// error with its line number.
fn merge(parsed: Vec<Result<Parser, DecodeError>>, total: u64) -> Option<Result<Profile, DecodeError>> {
    let last = parsed.len().checked_sub(1)?;
    let mut merged: Option<Parser> = None;
    for (i, p) in parsed.into_iter().enumerate() {
        let mut p = p.ok()?;
        // Each part ends its last block as the whole would at that point: after a blank line,
        // or (the last part) at the end of the input, where Go's cut drops a partial goroutine.
        if i == last && total == GO_DEBUG2_CUTOFF {
            p.in_block = false;
        }
        p.finish_block().ok()?;
        match merged.as_mut() {
            None => merged = Some(p),
            Some(m) => m.absorb(p)?,
        }
    }
    Some(merged?.finish(total))
}

/// How far past a split point a part's first goroutine header is looked for.
const SPLIT_SEARCH_BYTES: u64 = 4 << 20;

/// `parts` ranges of an input of `len` bytes that cover it, each after the first starting at a
/// goroutine header that follows a blank line (`find(from, to)`: the first such offset in
/// `from..to`, if any).
fn split(len: u64, parts: usize, mut find: impl FnMut(u64, u64) -> std::io::Result<Option<u64>>) -> std::io::Result<Vec<(u64, u64)>> {
    let mut starts = vec![0u64];
    let step = len / parts as u64;
    for k in 1..parts as u64 {
        // Goroutine blocks are a few KiB: a part with no header in its first MiBs is not split
        // there (a long log, or no dump at all), rather than searched to its end.
        let (from, to) = (k * step, ((k + 1) * step).min(k * step + SPLIT_SEARCH_BYTES));
        if let Some(at) = find(from.max(*starts.last().unwrap_or(&0) + 1), to)? {
            starts.push(at);
        }
    }
    let mut ranges: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    ranges.push((*starts.last().unwrap_or(&0), len));
    Ok(ranges)
}

/// A place where parsing may start afresh: the start of a `goroutine ` line after a blank line
/// (`\n\n` or `\r\n\r\n`), where a parser reading from the start would have just ended a block.
fn is_boundary(before: &[u8]) -> bool {
    before.ends_with(b"\n\n") || before.ends_with(b"\n\r\n")
}

/// The first offset in `from..to` of `bytes` where a part may start.
fn find_boundary(bytes: &[u8], from: usize, to: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let end = (to + 10).min(bytes.len());
    for q in memchr::memmem::find_iter(&bytes[start..end], b"\ngoroutine ") {
        let p = start + q + 1;
        if p < from {
            continue;
        }
        if p >= to {
            return None;
        }
        if is_boundary(&bytes[p.saturating_sub(3)..p]) {
            return Some(p);
        }
    }
    None
}

/// `file[pos..end]` as a reader, by positioned reads (the file's own position is not used, so
/// threads can share it).
struct FilePart<'a> {
    file: &'a std::fs::File,
    pos: u64,
    end: u64,
}

impl Read for FilePart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let room = (self.end - self.pos).min(buf.len() as u64) as usize;
        let n = self.file.read_at(&mut buf[..room], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "goroutine 1 [running]:
main.main()
\t/src/main.go:10 +0x1d

goroutine 17 [chan receive, 12 minutes]:
main.abandonedReceiver(0xc000020060)
\t/src/main.go:31 +0x25
created by main.spawn in goroutine 1
\t/src/main.go:80 +0x5a

goroutine 18 [chan receive (leaked), 3 minutes]:
main.abandonedReceiver(0xc000020070)
\t/src/main.go:31 +0x25
created by main.spawn in goroutine 1
\t/src/main.go:80 +0x5a

goroutine 19 [select]:
main.(*gen).run(...)
\t/src/gen.go:5
main.start.func1()
\t/src/gen.go:12 +0x2
created by main.start
\t/src/gen.go:11 +0x3
";

    #[test]
    fn merges_goroutines_and_keeps_facts() {
        let p = parse(DUMP.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
        assert_eq!(p.samples.len(), 3);
        let recv = &p.samples[1];
        assert_eq!(recv.values[0], 2);
        let g = recv.goroutine.as_ref().unwrap();
        assert_eq!(g.wait_reason, "chan receive");
        assert_eq!(g.max_wait_minutes, 12);
        assert_eq!(g.wait.entries(), &[(3, 1), (12, 1)]);
        assert_eq!(g.leaked, 1);
        assert_eq!(p.frames[g.created_by.unwrap() as usize].function, "main.spawn");
        let sel = &p.samples[2];
        assert_eq!(p.frames[sel.stack[0] as usize].function, "main.(*gen).run");
        assert_eq!(p.frames[sel.stack[0] as usize].line, 5);
        assert!(p.truncated.is_none());
    }

    #[test]
    fn a_dump_cut_short_elsewhere_than_64_mib_is_read_not_flagged() {
        // A paste that lost its end: the last goroutine's frames are all there.
        let cut = &DUMP[..DUMP.len() - 12];
        let p = parse(cut.as_bytes(), u64::MAX).unwrap();
        assert!(p.truncated.is_none());
        assert_eq!(p.goroutine_total(), 4);
    }

    #[test]
    fn a_dump_of_exactly_64_mib_is_cut_and_its_last_goroutine_dropped() {
        let mut dump = String::new();
        let block = "goroutine 5 [select]:\nmain.f()\n\t/src/main.go:1 +0x1\n\n";
        while dump.len() + block.len() <= GO_DEBUG2_CUTOFF as usize {
            dump.push_str(block);
        }
        let whole = dump.len() / block.len();
        dump.push_str(&block[..GO_DEBUG2_CUTOFF as usize - dump.len()]);
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        let t = p.truncated.as_ref().expect("a 64 MiB dump is Go's cut");
        assert_eq!(t.goroutines_read, whole as u64);
        assert_eq!(p.goroutine_total(), whole as i64);
        // Read in parts, only the last part's partial goroutine is dropped.
        let parts = parse_slice(dump.as_bytes(), u64::MAX, 3).unwrap();
        assert_eq!((&parts.truncated, parts.goroutine_total()), (&p.truncated, p.goroutine_total()));
    }

    fn functions(p: &Profile, stack: &[u32]) -> Vec<String> {
        stack.iter().map(|&i| p.frames[i as usize].function.clone()).collect()
    }

    // The cases below are modelled on the odd shapes panicparse's parser tests cover.

    #[test]
    fn trailing_exit_status_and_fail_lines_end_the_last_goroutine() {
        let dump = "panic: test timed out after 2s\n\trunning tests:\n\t\tTestHang (2s)\n\n\
goroutine 7 [running]:\nmain.f()\n\t/src/a.go:3 +0x1\ncreated by main.g in goroutine 1\n\t/src/a.go:9 +0x2\nexit status 2\nFAIL\tpkg\t2.006s\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
        assert!(p.truncated.is_none());
        let g = p.samples[0].goroutine.as_ref().unwrap();
        assert_eq!(p.frames[g.created_by.unwrap() as usize].line, 9);
    }

    #[test]
    fn wait_minutes_and_locked_to_thread() {
        let dump = "goroutine 1 [chan send, 100 minutes]:\nm.h(0x1)\n\t/a.go:1 +0x1\n\n\
goroutine 2 [chan send, locked to thread]:\nm.h(0x2)\n\t/a.go:1 +0x1\n\n\
goroutine 3 [chan send, 101 minutes, locked to thread]:\nm.h(0x3)\n\t/a.go:1 +0x1\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.samples[0].values[0], 3);
        let g = p.samples[0].goroutine.as_ref().unwrap();
        assert_eq!((g.wait_reason.as_str(), g.max_wait_minutes), ("chan send", 101));
    }

    #[test]
    fn frame_pointers_c_frames_and_unknown_files() {
        let dump = "SIGQUIT: quit\nPC=0x43f349\n\ngoroutine 16 [garbage collection]:\nruntime.switchtoM()\n\
\t/goroot/src/runtime/asm_amd64.s:198 fp=0xc20cfb80d8 sp=0xc20cfb80d0\nfindrunnable(0x8012000)\n        /goroot/src/runtime/proc.c:1472 +0x485\n\
x._Cfunc_DBIterSeek()\n ??:0 +0x6d\nschedule()\n\t/goroot/src/runtime/proc.c:1575 +0x151 fp=0x1 sp=0x2 pc=0x3\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
        let stack = &p.samples[0].stack;
        assert_eq!(functions(&p, stack), ["runtime.switchtoM", "findrunnable", "x._Cfunc_DBIterSeek", "schedule"]);
        let lines: Vec<_> = stack.iter().map(|&i| (p.frames[i as usize].file.as_str(), p.frames[i as usize].line)).collect();
        assert_eq!(lines, [("/goroot/src/runtime/asm_amd64.s", 198), ("/goroot/src/runtime/proc.c", 1472), ("??", 0), ("/goroot/src/runtime/proc.c", 1575)]);
    }

    #[test]
    fn elided_frames_and_unavailable_stacks() {
        let dump = "goroutine 16 [garbage collection]:\nm.recurse(0x9a3ec70, 0x8062580)\n\t/s.go:53 +0x845\n...additional frames elided...\n\
created by testing.RunTests\n\t/testing.go:555 +0xa8b\n\n\
goroutine 17 [select]:\nm.a()\n\t/s.go:1 +0x1\n...12 frames elided...\nm.z()\n\t/s.go:9 +0x1\n\n\
goroutine 24 [running]:\n\tgoroutine running on other thread; stack unavailable\ncreated by m.New\n\t/s.go:131 +0x381\n\n\
goroutine 25 [running]:\n\tgoroutine running on other thread; stack unavailable\n\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
        assert_eq!(functions(&p, &p.samples[0].stack), ["m.recurse"]);
        assert_eq!(functions(&p, &p.samples[1].stack), ["m.a", "m.z"]);
        assert!(p.samples[2].stack.is_empty());
        assert_eq!(p.frames[p.samples[2].goroutine.as_ref().unwrap().created_by.unwrap() as usize].function, "m.New");
    }

    #[test]
    fn indented_dump_among_other_test_output() {
        let dump = [
            "Failures:",
            "",
            "  * /home/u/foo/bar_test.go",
            "  Line 209:",
            "  Expected: 'x'",
            "  (Should resemble)!",
            "  goroutine 8 [running]:",
            "  foo/bar.TestArchiveFail.func1.2()",
            "        /home/u/foo/bar_test.go:209 +0x469",
            "  foo/bar.TestArchiveFail(0x3382000)",
            "        /home/u/foo/bar_test.go:155 +0xf1",
            "  created by testing.(*T).Run",
            "        /go/src/testing/testing.go:916 +0x35a",
            "",
            "",
            "Failures:",
            "",
            "  * /home/u/foo/bar_test.go",
        ]
        .join("\n");
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
        assert_eq!(functions(&p, &p.samples[0].stack), ["foo/bar.TestArchiveFail.func1.2", "foo/bar.TestArchiveFail"], "{:?}", p.samples);
        assert_eq!(p.frames[p.samples[0].stack[1] as usize].line, 155);
    }

    #[test]
    fn crlf_and_no_final_newline() {
        let dump = DUMP.replace('\n', "\r\n");
        let p = parse(dump.trim_end().as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
        assert_eq!(p.samples.len(), 3);
        assert!(p.truncated.is_none());
        let g = p.samples[2].goroutine.as_ref().unwrap();
        assert_eq!(p.frames[g.created_by.unwrap() as usize].line, 11);
    }

    #[test]
    fn registers_and_per_m_stacks_of_a_crash_dump() {
        let dump = "SIGQUIT: quit\nPC=0x40dd8e m=0 sigcode=0\n\ngoroutine 0 gp=0x59eaa0 m=0 mp=0x59f860 [idle]:\nruntime.futex()\n\t/r/sys.s:1 +0x1 fp=0x1 sp=0x2 pc=0x3\n\n\
goroutine 1 gp=0xc000002380 m=nil [chan receive]:\nmain.main()\n\t/src/main.go:5 +0x1 fp=0x1 sp=0x2 pc=0x3\nruntime.main()\n\t/r/proc.go:283 +0x2 fp=0x1 sp=0x2 pc=0x3\n\
rax    0xfffffffffffffffc\nrbx    0x0\nrflags 0x286\n-----\n\nSIGQUIT: quit\nPC=0x483443 m=1 sigcode=0\n\n\
goroutine 0 gp=0xc000003c00 m=1 mp=0xc000080008 [idle]:\nruntime.futex()\n\t/r/sys.s:1 +0x1\nrax    0x0\nrip    0x483443\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1, "goroutine 0 is an M's own stack, not a goroutine");
        assert_eq!(functions(&p, &p.samples[0].stack), ["main.main", "runtime.main"]);
        assert_eq!(p.samples[0].goroutine.as_ref().unwrap().wait_reason, "chan receive");
    }

    #[test]
    fn a_log_line_ending_in_a_parenthesis_is_not_a_frame() {
        let dump = format!("{DUMP}worker exited (status 2)\nrestarting\n");
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
        assert!(p.samples.iter().all(|s| s.stack.iter().all(|&i| !p.frames[i as usize].function.starts_with("worker"))));
        // Without a blank line before it, too.
        let dump = format!("{}\nworker exited (status 2)\nrestarting\n", DUMP.trim_end());
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
        assert_eq!(functions(&p, &p.samples[2].stack), ["main.(*gen).run", "main.start.func1"]);
    }

    #[test]
    fn race_reports_and_lookalike_lines_are_not_goroutines() {
        let dump = "==================\nWARNING: DATA RACE\nRead at 0x00c4200 by goroutine 8:\n  main.read()\n      /m.go:137 +0x3a\n\n\
Goroutine 8 (running) created at:\n  main.race()\n      /m.go:150 +0x1\n==================\ngoroutine 12x [select]:\ngoroutine 1 [running]:\nmain.main()\n\t/m.go:1 +0x1\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
    }

    #[test]
    fn bad_numbers_do_not_panic() {
        // A goroutine id past u64 is no header Go prints: refused with its line, not passed over.
        let dump = "goroutine 99999999999999999999999 [running]:\nm.f()\n\t/a.go:1 +0x1\n";
        let err = parse(dump.as_bytes(), u64::MAX).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("64-bit"), "{err}");
        let dump = "goroutine 1 [running, 99999999999999999999999 minutes]:\n\
m.f(123456789012345678901)\n\t/a.go:12345678901234567890\ncreated by m.g\n\t/a.go:123456789012345678901 +0xa8b\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
    }

    /// The header of a one-goroutine dump, as read.
    fn read_header(header: &str) -> (String, u64, u64, Vec<(String, String)>) {
        let dump = format!("{header}\nmain.f()\n\t/a.go:1 +0x1\n");
        let p = parse(dump.as_bytes(), u64::MAX).unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(p.goroutine_total(), 1, "{header}");
        let g = p.samples[0].goroutine.clone().unwrap();
        (g.wait_reason, g.max_wait_minutes, g.leaked, p.samples[0].labels.clone())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_header_form_the_runtime_prints() {
        // runtime/traceback.go's goroutineheader: status and marks, minutes, locked, bubble,
        // the gp/m/mp forms, and the wait reasons that hold parentheses of their own.
        let cases: [(&str, &str, u64, u64); 16] = [
            ("goroutine 1 [running]:", "running", 0, 0),
            ("goroutine 7 [chan receive (nil chan)]:", "chan receive (nil chan)", 0, 0),
            ("goroutine 7 [select (no cases), 3 minutes]:", "select (no cases)", 3, 0),
            ("goroutine 7 [force gc (idle), 1 minutes]:", "force gc (idle)", 1, 0),
            ("goroutine 7 [chan send (leaked)]:", "chan send", 0, 1),
            ("goroutine 7 [chan send (leaked) (scan), 12 minutes]:", "chan send", 12, 1),
            ("goroutine 7 [select (scan)]:", "select", 0, 0),
            ("goroutine 7 [chan send (durable), synctest bubble 4]:", "chan send", 0, 0),
            ("goroutine 7 [sync.Cond.Wait (durable), 2 minutes, locked to thread, synctest bubble 12]:", "sync.Cond.Wait", 2, 0),
            ("goroutine 7 [syscall, 100 minutes, locked to thread]:", "syscall", 100, 0),
            ("goroutine 7 [???]:", "???", 0, 0),
            ("goroutine 7 [leaked (leaked)]:", "leaked", 0, 1),
            ("goroutine 1 gp=0xc000002380 m=nil [chan receive]:", "chan receive", 0, 0),
            ("goroutine 1 gp=0xc000002380 m=3 mp=0xc000080008 [running, locked to thread]:", "running", 0, 0),
            ("goroutine 18446744073709551615 [IO wait, 5 minutes]:\r", "IO wait", 5, 0),
            ("goroutine 7 [select, 1 minute]:  ", "select", 1, 0),
        ];
        for (header, reason, minutes, leaked) in cases {
            let (r, m, l, labels) = read_header(header);
            assert_eq!((r.as_str(), m, l), (reason, minutes, leaked), "{header}");
            assert!(labels.is_empty());
        }
        let (r, m, l, labels) = read_header("goroutine 19 gp=0x1 m=nil [chan send (leaked), 4 minutes] {route: /pay, tenant: \"acme corp\"}:");
        assert_eq!((r.as_str(), m, l), ("chan send", 4, 1));
        assert_eq!(labels, pairs(&[("route", "/pay"), ("tenant", "acme corp")]));
    }

    #[test]
    fn labels_as_go_prints_them() {
        // runtime's TestTracebackGoroutineLabels table: what it printed, and what the labels were.
        let table: [(&str, &[(&str, &str)]); 10] = [
            (r#"{foobar: baz}"#, &[("foobar", "baz")]),
            (r#"{fizzle: bit, foobar: baz}"#, &[("fizzle", "bit"), ("foobar", "baz")]),
            (r#"{/fizzle: bit, foo_bar: baz.}"#, &[("/fizzle", "bit"), ("foo_bar", "baz.")]),
            (r#"{fizzle: bit, "foobar:": baz}"#, &[("fizzle", "bit"), ("foobar:", "baz")]),
            (r#"{fizzle: bit, foobar: "baz\n"}"#, &[("fizzle", "bit"), ("foobar", "baz\n")]),
            (r#"{fizzle: "b\x1bit", "foo\"ba\x00r": "baz\n"}"#, &[("fizzle", "b\x1bit"), ("foo\"ba\x00r", "baz\n")]),
            (r#"{fizzle: "\u1234\u03a3", "fooba\x00r": "baz\n"}"#, &[("fizzle", "\u{1234}Σ"), ("fooba\x00r", "baz\n")]),
            (r#"{"fizz\tle": "\U00045678boop", "fooba\x00r": "baz\n"}"#, &[("fizz\tle", "\u{45678}boop"), ("fooba\x00r", "baz\n")]),
            (r#"{"fiz\\zl\re": "\U00045678boop", "fooba\x00r": "baz\n"}"#, &[("fiz\\zl\re", "\u{45678}boop"), ("fooba\x00r", "baz\n")]),
            // What quoting lets a label hold: the header's own delimiters; and an empty value.
            (r#"{"a]b": "}{, :", empty: , "x": ""}"#, &[("a]b", "}{, :"), ("empty", ""), ("x", "")]),
        ];
        for (printed, want) in table {
            for status in ["running", "chan send (leaked), 3 minutes"] {
                let header = format!("goroutine 9 [{status}] {printed}:");
                assert_eq!(read_header(&header).3, pairs(want), "{header}");
            }
        }
    }

    #[test]
    fn labels_split_goroutines_of_one_stack() {
        let block = |id: u32, labels: &str| {
            format!("goroutine {id} [chan send, 2 minutes]{labels}:\nmain.send()\n\t/a.go:3 +0x1\ncreated by main.spawn in goroutine 1\n\t/a.go:9 +0x2\n\n")
        };
        let dump = [block(5, " {tenant: a}"), block(6, " {tenant: \"b c\"}"), block(7, " {tenant: a}"), block(8, "")].concat();
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        let got: Vec<(i64, Vec<(String, String)>)> = p.samples.iter().map(|s| (s.values[0], s.labels.clone())).collect();
        assert_eq!(got, [(2, pairs(&[("tenant", "a")])), (1, pairs(&[("tenant", "b c")])), (1, vec![])]);
        // Read in parts, the label sets of each part are one.
        let many: String = (0..400).map(|i| block(i, [" {tenant: a}", " {tenant: \"b c\"}", ""][i as usize % 3])).collect();
        assert_paths_agree(many.as_bytes());
    }

    #[test]
    fn a_header_that_cannot_be_read_is_an_error_with_its_line() {
        let bad = [
            "goroutine 5 [chan send",
            "goroutine 5 [chan send]",
            "goroutine 5 [chan send]: trailing",
            "goroutine 5 []:",
            "goroutine 5 [ running]:",
            "goroutine 5 [running] {a: b:",
            "goroutine 5 [running] {a: b}",
            "goroutine 5 [running] {a b}:",
            "goroutine 5 [running] {a: b,c: d}:",
            "goroutine 5 [running] {\"a: b}:",
            "goroutine 5 [running] {a: \"b\\q\"}:",
            "goroutine 5 [running] {a: \"\\u12\"}:",
            "goroutine 5 [running] {}:",
            "goroutine 5 [running] {a: b, }:",
            "goroutine 5 [running] {a:b}:",
            "goroutine 5 [running] {a: b c}:",
            "goroutine 5 [running, x minutes]:",
            "goroutine 5 [running [x]]:",
            "goroutine 5 gp=xyz m=nil [running]:",
            "goroutine 5 gp=0x1 [running]:",
            "goroutine 5 gp=0x1 m=3 [running]:",
            "goroutine 5 gp=0x1 m=q mp=0x2 [running]:",
            "goroutine 5 gp=0x1 m=3 mp=0xg [running]:",
            "goroutine 5 gp=",
            "goroutine 5 [\u{fffd}\u{0}]:\u{0}",
        ];
        for header in bad {
            for (prefix, indent) in [("", ""), ("", "    "), ("    x_test.go:9: ", "        ")] {
                // After a good goroutine (a block of the same indentation), and after a preamble.
                let dump = format!(
                    "SIGQUIT: quit\n\n{prefix}goroutine 1 [running]:\n{indent}main.main()\n{indent}\t/m.go:1 +0x1\n\n{indent}{header}\n{indent}main.f()\n"
                );
                let err = match parse(dump.as_bytes(), u64::MAX) {
                    Ok(p) => panic!("{dump:?} read as {} goroutines", p.goroutine_total()),
                    Err(e) => e.to_string(),
                };
                assert!(err.contains("line 7") && err.contains("goroutine header"), "{dump:?}: {err}");
                assert_paths_agree(dump.as_bytes());
            }
        }
        // Lines that do not start as a header are not headers, and are not errors.
        let fine =
            "goroutine 12x [select]:\ngoroutines [x]:\nGoroutine 5 [running]:\nthe goroutine 5 [x\ngoroutine 1 [running]:\nmain.main()\n\t/m.go:1 +0x1\n";
        assert_eq!(parse(fine.as_bytes(), u64::MAX).unwrap().goroutine_total(), 1);
    }

    #[test]
    fn garbage_headers_never_panic() {
        let shape = "goroutine 19 gp=0xc000 m=2 mp=0xc001 [chan send (leaked) (scan), 4 minutes, locked to thread, synctest bubble 2] {route: /pay, \"k\\x00\": \"acme \\\"corp\\U00045678\\u03a3\"}:\nmain.f()\n\t/a.go:1 +0x1\n";
        let alphabet = b" []{}\",:\\xuU0123456789abcdefgmp=()minutes";
        for bytes in super::super::mutations(shape.as_bytes(), alphabet, 0x51ed_270b_27d2_6c4d, 3000) {
            match parse(bytes.as_slice(), u64::MAX) {
                Ok(p) => assert!(p.goroutine_total() <= 1),
                // An unreadable header names line 1, where every header of this shape is.
                Err(e) => assert!(!e.to_string().contains("goroutine header") || e.to_string().contains("line 1"), "{e}"),
            }
        }
    }

    #[test]
    fn ancestors_are_read_nearest_first_and_split_groups() {
        let child = "goroutine 20 [chan receive]:\nmain.receiver()\n\t/m.go:27 +0x33\ncreated by main.spawn in goroutine 7\n\t/m.go:60 +0x32\n";
        let anc = |via: &str| {
            format!(
                "[originating from goroutine 7]:\nruntime.newproc(...)\n\t/r/proc.go:5337 +0x3f\nmain.spawn(...)\n\t/m.go:58 +0x32\n{via}(...)\n\t/m.go:80 +0x18\n\
created by main.main\n\t/m.go:80 +0x2d1\n[originating from goroutine 1]:\nmain.main(...)\n\t/m.go:103 +0x2d1\n\n"
            )
        };
        let dump = format!("{child}{}{child}{}{child}{}", anc("main.main.func1"), anc("main.main.func2"), anc("main.main.func2"));
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 3);
        let counts: Vec<i64> = p.samples.iter().map(|s| s.values[0]).collect();
        assert_eq!(counts, [1, 2], "same stack and creator, different ancestors: two groups");
        let g = p.samples[1].goroutine.as_ref().unwrap();
        assert_eq!(functions(&p, &p.samples[1].stack), ["main.receiver"]);
        assert_eq!(p.frames[g.created_by.unwrap() as usize].function, "main.spawn");
        assert_eq!(g.ancestors.len(), 2);
        assert_eq!(functions(&p, &g.ancestors[0]), ["runtime.newproc", "main.spawn", "main.main.func2", "main.main"]);
        assert_eq!(p.frames[*g.ancestors[0].last().unwrap() as usize].line, 80);
        assert_eq!(functions(&p, &g.ancestors[1]), ["main.main"]);
    }

    #[test]
    fn a_huge_line_fails_before_it_is_buffered() {
        struct Zeros(u64);
        impl std::io::Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0 += buf.len() as u64;
                buf.fill(0);
                Ok(buf.len())
            }
        }
        use std::io::Read;
        let head = std::io::Cursor::new(b"goroutine 1 [running]:\nmain.f(".to_vec());
        let mut zeros = Zeros(0);
        let err = parse(std::io::BufReader::new(head.chain(&mut zeros)), u64::MAX).unwrap_err();
        assert!(err.to_string().contains("longer than 1 MiB"), "{err}");
        assert!(zeros.0 < 4 * MAX_LINE_BYTES as u64, "read {} bytes", zeros.0);
    }

    #[test]
    fn a_long_log_line_before_the_dump_is_skipped() {
        let dump = format!("{}\n{DUMP}", "x".repeat(3 * MAX_LINE_BYTES));
        let p = parse(std::io::BufReader::new(dump.as_bytes()), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
    }

    /// What a parse gave, to compare paths: the whole model, or the error's text.
    fn shown(r: Result<Profile, DecodeError>) -> String {
        match r {
            Ok(p) => format!("{:?}\n{:?}\n{:?}", p.frames, p.samples, p.truncated),
            Err(e) => format!("error: {e}"),
        }
    }

    /// A reader that gives at most `.1` bytes a read, so lines and frames straddle buffers.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Every way of reading `bytes` gives what one pass over it in memory gives: streamed a few
    /// bytes a read, from a file, and in 2 to 7 parts at once (from memory and from the file).
    /// One pass over `bytes` that reads every location line in full, as if never seen before.
    fn without_replay(bytes: &[u8]) -> Result<Profile, DecodeError> {
        let mut p = Parser::new();
        p.replay_on = false;
        let total = p.read_all(&mut &bytes[..], 0, u64::MAX)?;
        p.finish(total)
    }

    fn assert_paths_agree(bytes: &[u8]) {
        let one = shown(parse_slice(bytes, u64::MAX, 1));
        assert_eq!(shown(without_replay(bytes)), one, "replayed location lines changed {:?}", String::from_utf8_lossy(bytes));
        assert_eq!(shown(parse(bytes, u64::MAX)), one);
        assert_eq!(shown(parse(Trickle(bytes, 5), u64::MAX)), one);
        for parts in 2..=7 {
            assert_eq!(shown(parse_slice(bytes, u64::MAX, parts)), one, "{parts} parts of {:?}", String::from_utf8_lossy(bytes));
        }
        // In place a few bytes at a time, as a mapped file is read in windows.
        for (parts, window) in [(1, 9), (3, 23)] {
            assert_eq!(shown(parse_in_place(bytes, u64::MAX, parts, window, &|_, _| {}, &|_, _| {})), one, "windows of {window}");
        }
    }

    #[test]
    fn parts_read_at_once_merge_into_what_one_pass_reads() {
        // Blocks of every shape, each after a blank line (where a part may start), some twice.
        let mut dump = format!("SIGQUIT: quit\nPC=0x1 m=0 sigcode=0\n\n{DUMP}\n");
        dump.push_str("goroutine 0 gp=0x1 m=0 mp=0x2 [idle]:\nruntime.futex()\n\t/r/sys.s:1 +0x1 fp=0x1 sp=0x2 pc=0x3\n\n");
        dump.push_str(&DUMP.replace('\n', "\r\n"));
        dump.push_str("\r\ngoroutine 30 [chan send, 5 minutes]:\nm.new()\n\t/n.go:1 +0x1\n\n");
        dump.push_str(&format!("{DUMP}\ngoroutine 31 [select (leaked)]:\nm.f()\n\t/a.go:1 +0x1\n[originating from goroutine 7]:\nm.g(...)\n\t/a.go:2\n\n"));
        dump.push_str(&DUMP.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"));
        dump.push_str("\n\nexit status 2\n");
        assert_paths_agree(dump.as_bytes());
        assert_paths_agree(dump.trim_end().as_bytes());
        // Cut inside a location line, and just after a function line.
        assert_paths_agree(&dump.as_bytes()[..dump.find("m.new()").unwrap() + 13]);
        assert_paths_agree(&dump.as_bytes()[..dump.find("m.new()").unwrap() + 8]);
        // From a file, in parts.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.txt");
        std::fs::write(&path, &dump).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let one = shown(parse(dump.as_bytes(), u64::MAX));
        for parts in 1..=6 {
            assert_eq!(shown(parse_file(&file, u64::MAX, parts)), one, "{parts} parts from the file");
        }
    }

    #[test]
    fn mangled_dumps_never_panic() {
        // Deterministic mutations (bytes replaced, inserted, lines cut) of dumps of every shape.
        let shapes = [
            DUMP.to_string(),
            DUMP.replace('\n', "\r\n"),
            DUMP.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"),
            format!("    x_test.go:9: {}", DUMP.replace('\n', "\n        ")),
            format!("SIGQUIT: quit\n\ngoroutine 0 gp=0x1 m=0 mp=0x2 [idle]:\n{DUMP}[originating from goroutine 1]:\nm.f(...)\n\t/a.go:1 +0x1\nrax 0x0\n"),
        ];
        let alphabet = b"\n\r\t ()[]:+.,0123456789goroutine created by ...[originating from goroutine 1]:";
        for (i, shape) in shapes.iter().enumerate() {
            for bytes in super::super::mutations(shape.as_bytes(), alphabet, 0x2545_f491_4f6c_dd1d + i as u64, 400) {
                // Never a panic, and every path reads a mangled dump alike.
                assert_paths_agree(&bytes);
            }
        }
    }

    #[test]
    fn replayed_location_lines_read_as_lines_read_in_full() {
        // The same function with its location line changing (another call site, a PC offset, a
        // line end, spaces for the tab, registers under GOTRACEBACK=system, a cut line), and
        // after other frames than before: each read as if it had not been seen before.
        let mut dump = String::new();
        let locations = [
            "\t/src/a.go:5 +0x1",
            "\t/src/a.go:5 +0x2",
            "\t/src/a.go:6 +0x1",
            "\t/src/a.go:5 +0x1\r",
            "        /src/a.go:5 +0x1",
            "\t/src/a.go:5 +0x1 fp=0x1 sp=0x2 pc=0x3",
            "\t/src/a.go:5",
        ];
        for (i, loc) in locations.iter().cycle().take(40).enumerate() {
            let caller = if i % 3 == 0 { "main.g()\n\t/src/b.go:2 +0x4\n" } else { "" };
            dump += &format!("goroutine {i} [select]:\nmain.f(0x{i:x})\n{loc}\n{caller}created by main.main in goroutine 1\n\t/src/m.go:{} +0x9\n\n", i % 2);
        }
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert!(p.samples.len() >= 8, "{} stacks", p.samples.len());
        assert_paths_agree(dump.as_bytes());
        // The go1.19 and go1.27 dumps served by a real program, and the real SIGQUIT dumps.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for f in [
            "go119/goroutine-after.debug2.txt",
            "go127/goroutine-after.debug2.txt",
            "go127/sigquit.txt",
            "realworld/etcd-sigquit.log",
            "realworld/prometheus-served.debug2.txt",
        ] {
            let bytes = std::fs::read(root.join(f)).unwrap();
            assert_eq!(shown(without_replay(&bytes)), shown(parse_slice(&bytes, u64::MAX, 1)), "{f}");
        }
    }

    #[test]
    fn too_many_frames_is_an_error() {
        let mut dump = String::from("goroutine 1 [running]:\n");
        for _ in 0..=MAX_FRAMES {
            dump.push_str("m.f()\n\t/a.go:1 +0x1\n");
        }
        let err = parse(dump.as_bytes(), u64::MAX).unwrap_err();
        assert!(err.to_string().contains("frames"), "{err}");
    }

    #[test]
    fn sigquit_preamble_is_skipped() {
        let dump = format!("SIGQUIT: quit\nPC=0x46b2e1 m=0 sigcode=0\n\n{DUMP}\nrax    0x0\nrbx    0x1\n");
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
    }
}
