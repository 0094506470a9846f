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

use super::{DecodeError, Format, Frame, FrameInterner, GoroutineFacts, Profile, ProfileKind, Sample, SampleType, Truncation};

/// Go stops `runtime.Stack` output for `?debug=2` at 64 MiB.
const GO_DEBUG2_CUTOFF: u64 = 64 << 20;

pub fn is_header(line: &str) -> bool {
    parse_header(line.as_bytes()).is_some()
}

struct Header<'a> {
    reason: &'a [u8],
    minutes: u64,
    leaked: bool,
}

/// `goroutine 18 [chan receive, 12 minutes, locked to thread]:` (optionally `gp=... m=...` before the
/// bracket, as GOTRACEBACK=system prints).
fn parse_header(line: &[u8]) -> Option<Header<'_>> {
    let rest = line.strip_prefix(b"goroutine ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let open = memchr::memchr(b'[', rest)?;
    let close = memchr::memrchr(b']', rest)?;
    if close < open || !rest[close + 1..].starts_with(b":") {
        return None;
    }
    let inside = &rest[open + 1..close];
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
    Some(Header { reason, minutes, leaked })
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
    // The block being read.
    in_block: bool,
    stack: Vec<u32>,
    reason: u32,
    minutes: u64,
    leaked: bool,
    created_by: Option<u32>,
    /// A function line waiting for its location line: is it the `created by` one?
    pending_function: Option<bool>,
    /// Its name (a buffer reused for every frame).
    pending_name: Vec<u8>,
    key_buf: Vec<u8>,
}

impl Parser {
    fn reason_id(&mut self, r: &[u8]) -> u32 {
        if let Some(&id) = self.reason_ids.get(r) {
            return id;
        }
        let id = self.reasons.len() as u32;
        self.reasons.push(String::from_utf8_lossy(r).into_owned());
        self.reason_ids.insert(r.to_vec(), id);
        id
    }

    fn finish_block(&mut self) {
        if !self.in_block {
            return;
        }
        self.in_block = false;
        self.pending_function = None;
        self.goroutines += 1;
        let key = MergeKey { stack: std::mem::take(&mut self.stack), reason: self.reason, created_by: self.created_by };
        let minutes = self.minutes;
        let leaked = self.leaked as u64;
        match self.merged.get(&key) {
            Some(&i) => {
                let s = &mut self.samples[i];
                s.values[0] += 1;
                let g = s.goroutine.as_mut().expect("debug=2 samples carry goroutine facts");
                g.max_wait_minutes = g.max_wait_minutes.max(minutes);
                g.leaked += leaked;
            }
            None => {
                self.samples.push(Sample {
                    stack: key.stack.clone(),
                    values: vec![1],
                    labels: Vec::new(),
                    goroutine: Some(GoroutineFacts {
                        wait_reason: self.reasons[key.reason as usize].clone(),
                        max_wait_minutes: minutes,
                        leaked,
                        created_by: key.created_by,
                        ancestors: Vec::new(),
                    }),
                });
                self.merged.insert(key, self.samples.len() - 1);
            }
        }
    }

    /// A location line (`\t/src/main.go:31 +0x25`) completing the pending function line.
    fn frame(&mut self, function: &[u8], location: &[u8]) -> u32 {
        let loc = match memchr::memmem::rfind(location, b" +0x") {
            Some(i) => &location[..i],
            None => location,
        };
        self.key_buf.clear();
        self.key_buf.extend_from_slice(function);
        self.key_buf.push(b'\n');
        self.key_buf.extend_from_slice(loc);
        if let Some(&id) = self.frame_cache.get(self.key_buf.as_slice()) {
            return id;
        }
        let (file, line) = super::debug1::split_file_line(&String::from_utf8_lossy(loc));
        let id = self.interner.intern(Frame { function: String::from_utf8_lossy(function).into_owned(), file, line, address: 0, start_line: 0 });
        self.frame_cache.insert(self.key_buf.clone(), id);
        id
    }

    fn line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.finish_block();
            return;
        }
        if line.starts_with(b"goroutine ") {
            if let Some(h) = parse_header(line) {
                self.finish_block();
                self.reason = self.reason_id(h.reason);
                self.minutes = h.minutes;
                self.leaked = h.leaked;
                self.created_by = None;
                self.in_block = true;
                return;
            }
        }
        if !self.in_block {
            return; // preamble of a panic or SIGQUIT dump, register dumps after it
        }
        if line[0] == b'\t' || line.starts_with(b"    ") {
            if let Some(is_creator) = self.pending_function.take() {
                let function = std::mem::take(&mut self.pending_name);
                let id = self.frame(&function, trim(line));
                self.pending_name = function;
                if is_creator {
                    self.created_by = Some(id);
                } else {
                    self.stack.push(id);
                }
            }
            return;
        }
        if let Some(rest) = line.strip_prefix(b"created by ") {
            let name = match memchr::memmem::find(rest, b" in goroutine ") {
                Some(i) => &rest[..i],
                None => rest,
            };
            self.pending_name.clear();
            self.pending_name.extend_from_slice(trim(name));
            self.pending_function = Some(true);
            return;
        }
        if line.starts_with(b"...") || line.starts_with(b"goroutine running on other thread") {
            return; // `...additional frames elided...`
        }
        // `main.(*T).m(0xc000, {0x1, 0x2})` or `main.f(...)`: the name is all before the last `(`.
        let name = match (line.last(), memchr::memrchr(b'(', line)) {
            (Some(b')'), Some(i)) if i > 0 => &line[..i],
            _ => line,
        };
        self.pending_name.clear();
        self.pending_name.extend_from_slice(name);
        self.pending_function = Some(false);
    }
}

/// Parses a dump from a reader. `max_bytes` caps how much text is read.
pub fn parse<R: BufRead>(mut reader: R, max_bytes: u64) -> Result<Profile, DecodeError> {
    let mut p = Parser {
        interner: FrameInterner::default(),
        frame_cache: FxHashMap::default(),
        reasons: Vec::new(),
        reason_ids: FxHashMap::default(),
        merged: FxHashMap::default(),
        samples: Vec::new(),
        goroutines: 0,
        in_block: false,
        stack: Vec::new(),
        reason: 0,
        minutes: 0,
        leaked: false,
        created_by: None,
        pending_function: None,
        pending_name: Vec::new(),
        key_buf: Vec::new(),
    };
    let mut buf = Vec::with_capacity(256);
    let mut bytes_read: u64 = 0;
    let mut ended_with_newline = true;
    let mut last_block_complete = true;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if n == 0 {
            break;
        }
        bytes_read += n as u64;
        if bytes_read > max_bytes {
            return Err(DecodeError::TooLarge { limit: max_bytes });
        }
        ended_with_newline = buf.last() == Some(&b'\n');
        let mut line = buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if !ended_with_newline {
            // A cut dump ends mid-line: that last goroutine is incomplete, drop it.
            last_block_complete = false;
            break;
        }
        p.line(line);
    }
    if p.pending_function.is_some() {
        last_block_complete = false;
    }
    let cut = !last_block_complete || bytes_read == GO_DEBUG2_CUTOFF;
    if !last_block_complete {
        p.in_block = false; // drop the partial goroutine
    }
    p.finish_block();
    if p.goroutines == 0 {
        return Err(DecodeError::Text { line: 1, message: "no goroutine blocks found in the dump".into() });
    }
    let _ = ended_with_newline;
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
    fn a_cut_dump_is_detected_and_the_partial_goroutine_dropped() {
        let cut = &DUMP[..DUMP.len() - 12];
        let p = parse(cut.as_bytes(), u64::MAX).unwrap();
        let t = p.truncated.as_ref().expect("cut dump must be flagged");
        assert_eq!(t.goroutines_read, 3);
        assert_eq!(p.goroutine_total(), 3);
    }

    #[test]
    fn sigquit_preamble_is_skipped() {
        let dump = format!("SIGQUIT: quit\nPC=0x46b2e1 m=0 sigcode=0\n\n{DUMP}\nrax    0x0\nrbx    0x1\n");
        let p = parse(dump.as_bytes(), u64::MAX).unwrap();
        assert_eq!(p.goroutine_total(), 4);
    }
}
