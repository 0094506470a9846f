//! The `debug=1` text form of goroutine-like profiles:
//!
//! ```text
//! goroutine profile: total 23
//! 5 @ 0x43b8f6 0x4085ec 0x46c8e1
//! # labels: {"k":"v"}
//! #  0x4a5d24  main.forgottenSender+0x24  /src/main.go:20     (tab-separated)
//! ```

use super::{DecodeError, Format, Frame, FrameInterner, Profile, ProfileKind, Sample, SampleType, MAX_DISTINCT_FRAMES, MAX_DISTINCT_STACKS};

/// Most program counters on one `N @ …` line: Go records at most 1024 (`GODEBUG=profstackdepth`'s
/// ceiling). Checked while the line is split, so a line of millions of addresses fails at once.
pub const MAX_ADDRESSES: usize = 1024;

/// Most `#` frame lines under one record (inlining expands one address into several frames).
pub const MAX_FRAME_LINES: usize = 4 * MAX_ADDRESSES;

/// Largest goroutine count one record, or the whole profile, may claim: far above any real process
/// (each goroutine needs at least a 2 KiB stack), far below overflow.
pub const MAX_COUNT: u64 = 1 << 40;

/// Most pprof labels on one record (a few is usual).
pub const MAX_LABELS: usize = 1024;

pub fn parse(bytes: &[u8]) -> Result<Profile, DecodeError> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().enumerate().peekable();
    // Header: `<kind> profile: total N`.
    let (kind, declared) = loop {
        let Some((n, line)) = lines.next() else {
            return Err(DecodeError::Text { line: 1, message: "no `profile: total N` header".into() });
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(" profile: total ") else {
            return Err(DecodeError::Text { line: n + 1, message: format!("expected `goroutine profile: total N`, found {line:?}") });
        };
        let total = rest.trim().parse::<u64>().map_err(|_| DecodeError::Text { line: n + 1, message: format!("bad total {rest:?}") })?;
        let kind = match name {
            "goroutine" => ProfileKind::Goroutine,
            "goroutineleak" => ProfileKind::GoroutineLeak,
            other => ProfileKind::Other(other.to_string()),
        };
        break (kind, total);
    };

    let mut interner = FrameInterner::default();
    let mut samples: Vec<Sample> = Vec::new();
    let mut pending_addresses: Vec<u64> = Vec::new();
    let mut current: Option<Sample> = None;
    let flush = |current: &mut Option<Sample>, pending: &mut Vec<u64>, interner: &mut FrameInterner, samples: &mut Vec<Sample>| {
        if let Some(mut s) = current.take() {
            if s.stack.is_empty() {
                // Unsymbolized: keep the program counters as frames.
                for &a in pending.iter() {
                    s.stack.push(interner.intern(Frame { function: format!("0x{a:x}"), file: String::new(), line: 0, address: a, start_line: 0 }));
                }
            }
            samples.push(s);
        }
        pending.clear();
    };
    let mut read: u64 = 0;
    for (n, line) in lines {
        let lineno = n + 1;
        if interner.frames.len() > MAX_DISTINCT_FRAMES {
            return Err(DecodeError::Text {
                line: lineno,
                message: format!("more than {MAX_DISTINCT_FRAMES} distinct frames: this is not a real goroutine profile"),
            });
        }
        if line.trim().is_empty() {
            flush(&mut current, &mut pending_addresses, &mut interner, &mut samples);
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let Some(sample) = current.as_mut() else {
                return Err(DecodeError::Text { line: lineno, message: "a `#` line before any `N @ ...` line".into() });
            };
            let rest = rest.trim_start_matches([' ', '\t']);
            if let Some(labels) = rest.strip_prefix("labels:") {
                sample.labels = parse_labels(labels.trim()).map_err(|why| DecodeError::Text { line: lineno, message: format!("{why}: {line:?}") })?;
                if sample.labels.len() > MAX_LABELS {
                    return Err(DecodeError::Text { line: lineno, message: format!("more than {MAX_LABELS} labels on one record: this is not a Go profile") });
                }
                continue;
            }
            if sample.stack.len() >= MAX_FRAME_LINES {
                return Err(DecodeError::Text { line: lineno, message: format!("more than {MAX_FRAME_LINES} frames in one record: this is not a Go profile") });
            }
            let mut parts = rest.split('\t').filter(|p| !p.is_empty());
            let Some(addr) = parts.next() else {
                return Err(DecodeError::Text { line: lineno, message: format!("bad frame line {line:?}") });
            };
            let address = parse_hex(addr).ok_or_else(|| DecodeError::Text { line: lineno, message: format!("bad address {addr:?}") })?;
            let Some(func) = parts.next() else {
                // An unsymbolized frame (`#\t0x0`): keep it by address unless it is the null PC.
                if address != 0 {
                    sample.stack.push(interner.intern(Frame { function: format!("0x{address:x}"), file: String::new(), line: 0, address, start_line: 0 }));
                }
                continue;
            };
            let function = match func.rfind("+0x") {
                Some(i) => &func[..i],
                None => func,
            };
            let (file, line_no) = match parts.next() {
                Some(loc) => split_file_line(loc.trim()),
                None => (String::new(), 0),
            };
            sample.stack.push(interner.intern(Frame { function: function.to_string(), file, line: line_no, address, start_line: 0 }));
            continue;
        }
        // `COUNT @ 0x... 0x...`
        let Some((count, addrs)) = line.split_once(" @") else {
            return Err(DecodeError::Text { line: lineno, message: format!("expected `COUNT @ 0x...`, found {line:?}") });
        };
        flush(&mut current, &mut pending_addresses, &mut interner, &mut samples);
        let count = count
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&c| c <= MAX_COUNT)
            .ok_or_else(|| DecodeError::Text { line: lineno, message: format!("bad count {count:?}") })?;
        read = read.checked_add(count).filter(|&r| r <= MAX_COUNT).ok_or_else(|| DecodeError::Text {
            line: lineno,
            message: format!("the counts add up to more than {MAX_COUNT} goroutines: this is not a real profile"),
        })?;
        for a in addrs.split_whitespace() {
            if pending_addresses.len() >= MAX_ADDRESSES {
                return Err(DecodeError::Text {
                    line: lineno,
                    message: format!("more than {MAX_ADDRESSES} addresses in one record (Go records at most {MAX_ADDRESSES})"),
                });
            }
            if let Some(a) = parse_hex(a) {
                pending_addresses.push(a);
            }
        }
        if samples.len() >= MAX_DISTINCT_STACKS {
            return Err(DecodeError::Text { line: lineno, message: format!("more than {MAX_DISTINCT_STACKS} records: this is not a real goroutine profile") });
        }
        current = Some(Sample { stack: Vec::new(), values: vec![count as i64], labels: Vec::new(), goroutine: None });
    }
    flush(&mut current, &mut pending_addresses, &mut interner, &mut samples);

    // Fewer goroutines than the header declares: the text was cut short.
    let truncated = (read < declared).then_some(super::Truncation { bytes_read: bytes.len() as u64, goroutines_read: read, declared_total: Some(declared) });
    let type_name = kind.name().to_string();
    Ok(Profile {
        kind,
        format: Format::Debug1,
        sample_types: vec![SampleType { name: type_name.clone(), unit: "count".into() }],
        default_sample_type: 0,
        time_nanos: None,
        duration_nanos: 0,
        period_type: Some(SampleType { name: type_name, unit: "count".into() }),
        period: 1,
        frames: interner.frames,
        samples,
        declared_total: Some(declared),
        truncated,
    })
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// `/src/main.go:20` → (`/src/main.go`, 20). Windows paths keep their drive colon.
pub(super) fn split_file_line(loc: &str) -> (String, i64) {
    match loc.rsplit_once(':') {
        Some((file, line)) => match line.trim().parse::<i64>() {
            Ok(n) => (file.to_string(), n),
            Err(_) => (loc.to_string(), 0),
        },
        None => (loc.to_string(), 0),
    }
}

/// `{"key":"value", "k2":"v2"}`, as `runtime/pprof` prints a record's labels (`labelMap.String`:
/// each pair `%q:%q`, sorted, joined by `, `). A quoted key or value may hold `", "` or `}`.
fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim().as_bytes();
    let inner = s.strip_prefix(b"{").and_then(|s| s.strip_suffix(b"}")).ok_or("labels not in braces")?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        if out.len() > MAX_LABELS {
            break; // the caller refuses the record
        }
        let (key, used) = super::goquote::unquote(&inner[i..]).map_err(|e| format!("label key: {e}"))?;
        i += used;
        i += inner[i..].starts_with(b":").then_some(1).ok_or("no `:` after a label key")?;
        let (value, used) = super::goquote::unquote(&inner[i..]).map_err(|e| format!("label value: {e}"))?;
        i += used;
        out.push((key, value));
        if i < inner.len() {
            i += inner[i..].starts_with(b", ").then_some(2).ok_or("no `, ` between labels")?;
            if i == inner.len() {
                return Err("a `, ` before the closing brace".into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_frames_and_labels() {
        let text = "goroutine profile: total 6\n\
5 @ 0x43b8f6 0x4085ec\n\
# labels: {\"handler\":\"orders\", \"tenant\":\"a\"}\n\
#\t0x43b8f5\truntime.gopark+0xf5\t/usr/lib/go/src/runtime/proc.go:398\n\
#\t0x4a5d24\tmain.forgottenSender+0x24\t/src/main.go:20\n\
\n\
1 @ 0x43b8f6\n\
#\t0x43b8f5\tmain.main+0x1\t/src/main.go:5\n";
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.kind, ProfileKind::Goroutine);
        assert_eq!(p.declared_total, Some(6));
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].values, vec![5]);
        assert_eq!(p.frames[p.samples[0].stack[1] as usize].function, "main.forgottenSender");
        assert_eq!(p.frames[p.samples[0].stack[1] as usize].line, 20);
        assert_eq!(p.samples[0].labels, vec![("handler".into(), "orders".into()), ("tenant".into(), "a".into())]);
        assert_eq!(p.goroutine_total(), 6);
    }

    #[test]
    fn labels_are_read_as_go_quotes_them() {
        // As runtime/pprof prints them (`%q:%q`): separators and escapes inside the quotes.
        let labels = parse_labels(r#"{"k, \"x\"":"v}\n", "route":"/pay", "tenant":"acme corp", "u":"Σ"}"#).unwrap();
        assert_eq!(
            labels,
            [("k, \"x\"".into(), "v}\n".into()), ("route".into(), "/pay".into()), ("tenant".into(), "acme corp".into()), ("u".into(), "Σ".into())]
        );
        assert_eq!(parse_labels("{}").unwrap(), []);
        for bad in [r#"{"k":"v""#, r#"{"k""v"}"#, r#"{"k":"v",}"#, r#"{"k":"v" "j":"w"}"#, r#"{k:v}"#, r#"{"k":"v", }"#] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
        let text = "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"k\":\"v}\n#\t0x1\tm.f+0x1\t/a.go:1\n";
        let err = parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_record_with_millions_of_addresses_fails() {
        let mut text = String::from("goroutine profile: total 1\n1 @");
        for a in 0..2_000_000u64 {
            text.push_str(&format!(" 0x{a:x}"));
        }
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("more than 1024 addresses"), "{err}");
    }

    #[test]
    fn counts_that_overflow_fail() {
        let text = "goroutine profile: total 1\n9223372036854775807 @ 0x1\n#\t0x1\tm.f+0x1\t/a.go:1\n";
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("bad count"));
        let one = "1099511627776 @ 0x1\n#\t0x1\tm.f+0x1\t/a.go:1\n\n";
        let text = format!("goroutine profile: total 1\n{one}{one}");
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("add up to more than"));
        let text = "goroutine profile: total 99999999999999999999\n1 @ 0x1\n#\t0x1\tm.f+0x1\t/a.go:1\n";
        assert!(parse(text.as_bytes()).is_err());
    }

    #[test]
    fn records_and_labels_are_bounded() {
        let mut text = String::from("goroutine profile: total 300000\n");
        for _ in 0..=MAX_DISTINCT_STACKS {
            text.push_str("1 @ 0x1\n#\t0x1\tm.f+0x1\t/a.go:1\n\n");
        }
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("records"));
        let labels: Vec<String> = (0..=MAX_LABELS).map(|i| format!("\"k{i}\":\"v\"")).collect();
        let text = format!("goroutine profile: total 1\n1 @ 0x1\n# labels: {{{}}}\n#\t0x1\tm.f+0x1\t/a.go:1\n", labels.join(", "));
        assert!(parse(text.as_bytes()).unwrap_err().to_string().contains("labels"));
    }

    #[test]
    fn mangled_profiles_never_panic() {
        let text = "goroutine profile: total 6\n5 @ 0x43b8f6 0x4085ec\n# labels: {\"handler\":\"orders\"}\n\
#\t0x43b8f5\truntime.gopark+0xf5\t/usr/lib/go/src/runtime/proc.go:398\n#\t0x4a5d24\tmain.f+0x24\t/src/main.go:20\n\n1 @ 0x43b8f6\n#\t0x0\n";
        let alphabet = b"\n\t #@0x123456789abcdef+:{}\",-";
        for bytes in super::super::mutations(text.as_bytes(), alphabet, 0x9e37_79b9_7f4a_7c15, 2000) {
            let _ = parse(&bytes);
        }
    }
}
