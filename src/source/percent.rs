//! Percent-encoding of URL parts (RFC 3986), in one place: the credentials of a target's URL and
//! the target names in `serve`'s paths.

/// `%XX` sequences decoded; `None` for a malformed one or bytes that are not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `s` as one path segment: everything but unreserved characters (and `:`) as `%XX`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_a_path_segment() {
        for name in ["127.0.0.1:6060", "a/b c?d#e%f", "ünï:1", "<script>"] {
            let enc = encode_segment(name);
            assert!(!enc.contains(['/', '?', '#', ' ', '<']), "{enc}");
            assert_eq!(decode(&enc).as_deref(), Some(name));
        }
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%f"), None);
        assert_eq!(decode("%+f"), None, "a sign is not a hex digit");
        assert_eq!(decode("%ff"), None, "not UTF-8");
        assert_eq!(decode("p%40ss%3Aword").as_deref(), Some("p@ss:word"));
    }
}
