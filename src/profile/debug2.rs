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
//! The dump is streamed line by line and identical goroutines are merged as they are read, so memory
//! grows with the number of distinct stacks, not the number of goroutines.

use std::io::BufRead;

use rustc_hash::FxHashMap;

use super::{
    DecodeError, Format, Frame, FrameInterner, GoroutineFacts, Profile, ProfileKind, Sample, SampleType, Truncation, MAX_DISTINCT_FRAMES, MAX_DISTINCT_STACKS,
};

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

/// Whether a line (with its indentation) opens a goroutine block.
pub fn is_header(line: &str) -> bool {
    header_start(line.as_bytes()).is_some()
}

/// Where the `goroutine N [` header starts in a line, after the indentation or the
/// `file_test.go:12: ` prefix `go test -v` puts before a logged dump; with the indentation the
/// block's following lines carry.
fn header_start(line: &[u8]) -> Option<(usize, usize)> {
    let ws = line.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    let rest = &line[ws..];
    if parse_header(rest).is_some() {
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
    parse_header(&line[start..]).map(|_| (start, ws + 4))
}

struct Header<'a> {
    id: u64,
    reason: &'a [u8],
    minutes: u64,
    leaked: bool,
    /// `gp=0x… m=…` before the bracket.
    gp: bool,
}

/// `goroutine 18 [chan receive, 12 minutes, locked to thread]:`, optionally with
/// `gp=0x… m=… mp=…` before the bracket (GOTRACEBACK=system and crash).
fn parse_header(line: &[u8]) -> Option<Header<'_>> {
    let rest = line.strip_prefix(b"goroutine ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let after = &rest[digits..];
    if !after.starts_with(b" [") && !after.starts_with(b" gp=") {
        return None;
    }
    let open = memchr::memchr(b'[', after)?;
    let close = memchr::memrchr(b']', after)?;
    if close < open || trim(&after[close + 1..]) != b":" {
        return None;
    }
    let inside = &after[open + 1..close];
    let mut parts = inside.split(|&b| b == b',');
    let mut reason = trim(parts.next().unwrap_or_default());
    let mut leaked = false;
    if let Some(r) = reason.strip_suffix(b" (leaked)") {
        reason = r;
        leaked = true;
    }
    let mut minutes = 0;
    for p in parts {
        let p = trim(p);
        if let Some(m) = p.strip_suffix(b" minutes").or_else(|| p.strip_suffix(b" minute")) {
            minutes = std::str::from_utf8(m).ok().and_then(|m| m.trim().parse().ok()).unwrap_or(0);
        } else if p == b"leaked" {
            leaked = true;
        }
    }
    Some(Header { id, reason, minutes, leaked, gp: after.starts_with(b" gp=") })
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

struct Parser {
    interner: FrameInterner,
    /// `function\nfile:line` → frame, so a frame seen before costs no allocation.
    frame_cache: FxHashMap<Vec<u8>, u32>,
    reasons: Vec<String>,
    reason_ids: FxHashMap<Vec<u8>, u32>,
    merged: FxHashMap<MergeKey, usize>,
    samples: Vec<Sample>,
    goroutines: u64,
    lineno: usize,
    // The block being read.
    in_block: bool,
    /// Indentation every line of the block starts with (a dump pasted from test output).
    indent: usize,
    /// `goroutine 0`: an M's g0 or signal stack (GOTRACEBACK=crash), not a goroutine.
    skip_block: bool,
    part: Part,
    stack: Vec<u32>,
    reason: u32,
    minutes: u64,
    leaked: bool,
    created_by: Option<u32>,
    ancestors: Vec<Vec<u32>>,
    pending: Option<Pending>,
    /// The pending function's name (a buffer reused for every frame).
    pending_name: Vec<u8>,
    key_buf: Vec<u8>,
    evidence: super::gowrap::TracebackEvidence,
}

impl Parser {
    fn new() -> Parser {
        Parser {
            interner: FrameInterner::default(),
            frame_cache: FxHashMap::default(),
            reasons: Vec::new(),
            reason_ids: FxHashMap::default(),
            merged: FxHashMap::default(),
            samples: Vec::new(),
            goroutines: 0,
            lineno: 0,
            in_block: false,
            indent: 0,
            skip_block: false,
            part: Part::Own,
            stack: Vec::new(),
            reason: 0,
            minutes: 0,
            leaked: false,
            created_by: None,
            ancestors: Vec::new(),
            pending: None,
            pending_name: Vec::new(),
            key_buf: Vec::new(),
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

    fn error(&self, message: String) -> DecodeError {
        DecodeError::Text { line: self.lineno, message }
    }

    fn finish_block(&mut self) -> Result<(), DecodeError> {
        if !self.in_block {
            return Ok(());
        }
        self.in_block = false;
        self.pending = None;
        if self.skip_block {
            self.stack.clear();
            self.ancestors.clear();
            return Ok(());
        }
        self.goroutines += 1;
        let key = MergeKey {
            stack: std::mem::take(&mut self.stack),
            reason: self.reason,
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
                    labels: Vec::new(),
                    goroutine: Some(GoroutineFacts {
                        wait_reason: self.reasons[key.reason as usize].clone(),
                        max_wait_minutes: minutes,
                        leaked,
                        created_by: key.created_by,
                        ancestors: key.ancestors.clone(),
                    }),
                });
                self.merged.insert(key, self.samples.len() - 1);
            }
        }
        Ok(())
    }

    /// A location line (`/src/main.go:31 +0x25`, with ` fp=… sp=… pc=…` under GOTRACEBACK=system)
    /// completing the pending function line.
    fn frame(&mut self, function: &[u8], location: &[u8]) -> Result<u32, DecodeError> {
        // Cut the PC offset and, under GOTRACEBACK=system, the frame and stack pointers.
        let loc = match memchr::memmem::rfind(location, b" +0x").or_else(|| memchr::memmem::find(location, b" fp=")) {
            Some(i) => &location[..i],
            None => location,
        };
        self.key_buf.clear();
        self.key_buf.extend_from_slice(function);
        self.key_buf.push(b'\n');
        self.key_buf.extend_from_slice(loc);
        if let Some(&id) = self.frame_cache.get(self.key_buf.as_slice()) {
            return Ok(id);
        }
        if self.interner.frames.len() >= MAX_DISTINCT_FRAMES {
            return Err(self.error(format!("more than {MAX_DISTINCT_FRAMES} distinct frames: this is not a real goroutine dump")));
        }
        let (file, line) = super::debug1::split_file_line(&String::from_utf8_lossy(loc));
        let id = self.interner.intern(Frame { function: String::from_utf8_lossy(function).into_owned(), file, line, address: 0, start_line: 0 });
        self.frame_cache.insert(self.key_buf.clone(), id);
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

    /// A location line (tabs may have become spaces in a terminal copy).
    fn location(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        if let Some(pending) = self.pending.take() {
            let function = std::mem::take(&mut self.pending_name);
            let id = self.frame(&function, trim(line));
            self.pending_name = function;
            let id = id?;
            match pending {
                Pending::Creator => match self.part {
                    Part::Own => self.created_by = Some(id),
                    Part::Ancestor => self.push_frame(id)?,
                },
                Pending::Frame => self.push_frame(id)?,
            }
        }
        // Else `\tgoroutine running on other thread; stack unavailable`.
        Ok(())
    }

    fn line(&mut self, raw: &[u8]) -> Result<(), DecodeError> {
        // The common case first: a location line of an unindented block.
        if self.in_block && self.indent == 0 && raw.len() > 1 && raw[0] == b'\t' && raw[1] != b'\t' && raw[1] != b' ' {
            return self.location(raw);
        }
        // Blank (or whitespace-only, as indented test output has) ends a block.
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            self.finish_block()?;
            return Ok(());
        }
        if let Some((h, indent)) = self.header(raw) {
            self.finish_block()?;
            self.reason = self.reason_id(h.reason);
            self.minutes = h.minutes;
            self.leaked = h.leaked;
            self.evidence.gp_headers |= h.gp;
            self.skip_block = h.id == 0;
            self.created_by = None;
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
            return self.location(line);
        }
        if self.pending.take().is_some() {
            // A function line without its location line: it was not a frame but what follows the
            // dump (a log line that happens to end in `)`).
            self.finish_block()?;
            return self.line(raw);
        }
        if let Some(rest) = line.strip_prefix(b"created by ") {
            let name = match memchr::memmem::find(rest, b" in goroutine ") {
                Some(i) => {
                    self.evidence.creator_goroutine = true;
                    &rest[..i]
                }
                None => rest,
            };
            self.pending_name.clear();
            self.pending_name.extend_from_slice(trim(name));
            self.pending = Some(Pending::Creator);
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
        let name = match (line.last(), memchr::memrchr(b'(', line)) {
            (Some(b')'), Some(i)) if i > 0 => &line[..i],
            _ => {
                // Not a frame: registers after a crash dump, `exit status 2`, `FAIL pkg 2.0s`.
                self.finish_block()?;
                return Ok(());
            }
        };
        self.pending_name.clear();
        self.pending_name.extend_from_slice(name);
        self.pending = Some(Pending::Frame);
        Ok(())
    }

    /// The header a line holds, with the indentation of its block's lines.
    fn header<'a>(&self, raw: &'a [u8]) -> Option<(Header<'a>, usize)> {
        if raw.starts_with(b"goroutine ") {
            return parse_header(raw).map(|h| (h, 0));
        }
        if !self.in_block {
            let (start, indent) = header_start(raw)?;
            return parse_header(&raw[start..]).map(|h| (h, indent));
        }
        // Inside an indented block, the next header comes at the same indentation.
        let indent = self.indent;
        if indent > 0 && raw.len() > indent && raw[indent..].starts_with(b"goroutine ") && raw[..indent].iter().all(|&b| b == b' ' || b == b'\t') {
            return parse_header(&raw[indent..]).map(|h| (h, indent));
        }
        None
    }
}

/// Whether a location line holds `file:line`.
fn has_line_number(location: &[u8]) -> bool {
    let loc = trim(location);
    let loc = match memchr::memmem::rfind(loc, b" +0x").or_else(|| memchr::memmem::find(loc, b" fp=")) {
        Some(i) => &loc[..i],
        None => loc,
    };
    let digits = loc.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && loc.len() > digits && loc[loc.len() - digits - 1] == b':'
}

/// How one read of a line ended.
enum LineEnd {
    /// A whole line, with its newline.
    Newline,
    /// The last line of the input, without a newline.
    Eof,
    /// Longer than the cap: the bytes up to the cap are in the buffer, the rest is unread.
    TooLong,
}

/// `read_until(b'\n')` that stops buffering at `cap` bytes.
fn read_line_capped<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<(usize, LineEnd)> {
    let mut read = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((read, LineEnd::Eof));
        }
        let room = cap.saturating_sub(buf.len());
        match memchr::memchr(b'\n', &available[..available.len().min(room.saturating_add(1))]) {
            Some(i) => {
                buf.extend_from_slice(&available[..=i]);
                reader.consume(i + 1);
                return Ok((read + i + 1, LineEnd::Newline));
            }
            None => {
                let len = available.len();
                let n = len.min(room);
                buf.extend_from_slice(&available[..n]);
                reader.consume(n);
                read += n;
                if n < len || buf.len() >= cap {
                    return Ok((read, LineEnd::TooLong));
                }
            }
        }
    }
}

/// Skips to the next newline without buffering; returns the bytes skipped and whether one was found.
fn skip_line<R: BufRead>(reader: &mut R, limit: u64) -> std::io::Result<(u64, bool)> {
    let mut skipped = 0u64;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((skipped, false));
        }
        match memchr::memchr(b'\n', available) {
            Some(i) => {
                reader.consume(i + 1);
                return Ok((skipped + i as u64 + 1, true));
            }
            None => {
                let n = available.len();
                reader.consume(n);
                skipped += n as u64;
                if skipped > limit {
                    return Ok((skipped, false));
                }
            }
        }
    }
}

/// Parses a dump from a reader. `max_bytes` caps how much text is read.
pub fn parse<R: BufRead>(mut reader: R, max_bytes: u64) -> Result<Profile, DecodeError> {
    let mut p = Parser::new();
    let mut buf = Vec::with_capacity(256);
    let mut bytes_read: u64 = 0;
    let mut last_line_whole;
    loop {
        buf.clear();
        let (n, end) = read_line_capped(&mut reader, &mut buf, MAX_LINE_BYTES).map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if n == 0 {
            break;
        }
        p.lineno += 1;
        bytes_read += n as u64;
        if bytes_read > max_bytes {
            return Err(DecodeError::TooLarge { limit: max_bytes });
        }
        if let LineEnd::TooLong = end {
            if p.in_block {
                return Err(p.error(format!(
                    "a line longer than {} MiB inside a goroutine block: this is not a Go goroutine dump (is it binary, or a stream with no newlines?)",
                    MAX_LINE_BYTES >> 20
                )));
            }
            // A long log line before the dump: skip it unbuffered.
            let (skipped, _) = skip_line(&mut reader, max_bytes - bytes_read).map_err(|e| DecodeError::Gzip(e.to_string()))?;
            bytes_read += skipped;
            if bytes_read > max_bytes {
                return Err(DecodeError::TooLarge { limit: max_bytes });
            }
            continue;
        }
        last_line_whole = matches!(end, LineEnd::Newline);
        let mut line = buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if !last_line_whole && (bytes_read == GO_DEBUG2_CUTOFF || p.pending.is_some() && !has_line_number(line)) {
            // The input stops mid-line: at Go's cut (the goroutine is dropped below), or inside a
            // location line (the goroutine is kept, not that frame).
            break;
        }
        p.line(line)?;
    }
    // Go cuts a served dump at exactly 64 MiB, wherever that falls: its last goroutine is partial.
    // Any other unfinished last line is a paste without its final newline, and is read.
    let cut = bytes_read == GO_DEBUG2_CUTOFF;
    if cut {
        p.in_block = false; // drop the partial goroutine
    }
    p.finish_block()?;
    if p.goroutines == 0 {
        return Err(DecodeError::NoGoroutines);
    }
    super::gowrap::drop_go_statement_wrappers(&p.interner.frames, &mut p.samples, p.evidence);
    Ok(Profile {
        kind: ProfileKind::Goroutine,
        format: Format::Debug2,
        sample_types: vec![SampleType { name: "goroutine".into(), unit: "count".into() }],
        default_sample_type: 0,
        time_nanos: None,
        duration_nanos: 0,
        period_type: Some(SampleType { name: "goroutine".into(), unit: "count".into() }),
        period: 1,
        frames: p.interner.frames,
        samples: p.samples,
        declared_total: None,
        truncated: cut.then_some(Truncation { bytes_read, goroutines_read: p.goroutines, declared_total: None }),
    })
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
        let dump = "goroutine 99999999999999999999999 [running]:\nm.f()\n\t/a.go:1 +0x1\n\ngoroutine 1 [running, 99999999999999999999999 minutes]:\n\
m.f(123456789012345678901)\n\t/a.go:12345678901234567890\ncreated by m.g\n\t/a.go:123456789012345678901 +0xa8b\n";
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 1);
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
                let _ = parse(bytes.as_slice(), u64::MAX);
                let _ = parse(std::io::BufReader::with_capacity(7, bytes.as_slice()), u64::MAX);
            }
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
