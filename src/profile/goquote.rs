//! Go's quoted strings, as the profiles print label keys and values: the runtime's `printquoted`
//! in a goroutine header (`\n \r \t \\ \" \xNN \uNNNN \UNNNNNNNN`) and `runtime/pprof`'s `%q` in a
//! `debug=1` record's `# labels:` line (the same, plus `\a \b \f \v` and printable Unicode kept
//! as it is). Both are read by one function: Go's escapes are a superset of either.

/// Reads the quoted string at the start of `s` (its first byte is `"`): the text, with `\xNN`
/// bytes that are not UTF-8 made U+FFFD as the protobuf form's strings are, and the bytes used.
pub fn unquote(s: &[u8]) -> Result<(String, usize), &'static str> {
    if s.first() != Some(&b'"') {
        return Err("a quoted string must start with \"");
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        let Some(&b) = s.get(i) else { return Err("a quoted string without its closing \"") };
        i += 1;
        match b {
            b'"' => return Ok((String::from_utf8_lossy(&out).into_owned(), i)),
            b'\\' => {
                let Some(&e) = s.get(i) else { return Err("a quoted string ends in a lone \\") };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'\\' | b'"' | b'\'' => out.push(e),
                    b'x' | b'u' | b'U' => {
                        let digits = match e {
                            b'x' => 2,
                            b'u' => 4,
                            _ => 8,
                        };
                        let hex = s.get(i..i + digits).ok_or("an escape cut short")?;
                        let v = std::str::from_utf8(hex).ok().and_then(|h| u32::from_str_radix(h, 16).ok()).ok_or("an escape with a bad hex digit")?;
                        i += digits;
                        if e == b'x' {
                            out.push(v as u8);
                        } else {
                            let c = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                    }
                    b'0'..=b'7' => {
                        let oct = s.get(i - 1..i + 2).ok_or("an escape cut short")?;
                        let v = std::str::from_utf8(oct).ok().and_then(|o| u8::from_str_radix(o, 8).ok()).ok_or("an escape with a bad octal digit")?;
                        i += 2;
                        out.push(v);
                    }
                    _ => return Err("an unknown escape in a quoted string"),
                }
            }
            b'\n' => return Err("a quoted string runs past its line"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_of_printquoted_and_percent_q() {
        let cases: [(&str, &str); 9] = [
            (r#""baz\n""#, "baz\n"),
            (r#""b\x1bit""#, "b\x1bit"),
            (r#""foo\"ba\x00r""#, "foo\"ba\x00r"),
            (r#""\u1234\u03a3""#, "\u{1234}Σ"),
            (r#""\U00045678boop""#, "\u{45678}boop"),
            (r#""fiz\\zl\re""#, "fiz\\zl\re"),
            (r#""fizz\tle""#, "fizz\tle"),
            ("\"acme corp\"", "acme corp"),
            ("\"Σ \\a\\v\"", "Σ \x07\x0b"),
        ];
        for (quoted, want) in cases {
            let (got, used) = unquote(quoted.as_bytes()).unwrap();
            assert_eq!((got.as_str(), used), (want, quoted.len()), "{quoted}");
        }
        // An invalid byte (printquoted's `\xNN` for a byte that is not UTF-8) reads as U+FFFD.
        assert_eq!(unquote(br#""a\xffb""#).unwrap().0, "a\u{fffd}b");
        assert_eq!(unquote(br#""x" rest"#).unwrap(), ("x".to_string(), 3));
    }

    #[test]
    fn broken_quotes_are_errors() {
        for bad in [&br#""abc"#[..], br#""a\"#, br#""\x4""#, br#""\xzz""#, br#""\q""#, b"abc", b"", br#""\U0000""#, b"\"a\nb\""] {
            assert!(unquote(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
