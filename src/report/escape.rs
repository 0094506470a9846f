//! Escaping of untrusted strings, one function per output. Function names, file paths, labels,
//! URLs, server error bodies and saved-folder entries all come from outside: a crafted profile must
//! not be able to set a terminal's title, clear the screen, forge a line of the report, inject
//! Markdown or HTML, or break a DOT file.
//!
//! - [`terminal`]: one value on one line (text reports, messages): control characters, C1
//!   controls and bidirectional overrides are shown as `\x1b`, `\n`, `\u{202e}`.
//! - [`terminal_text`]: a whole message of several lines: the same, newlines and tabs kept.
//! - [`markdown`] for text in a cell or heading, [`markdown_code`] for a code span,
//!   [`markdown_fence`] for a fenced block, [`html`] for an HTML element such as `<summary>`.
//! - [`dot`] for the inside of a quoted DOT string.
//! - [`JsonFormatter`]: serde_json escapes C0 controls itself; this also escapes C1 controls,
//!   bidirectional overrides and line separators, so the JSON is valid and safe to `cat`.
//! - [`SafeWriter`]: the last line of defence around a whole report: whatever a renderer forgot,
//!   no control character except newline and tab (and, with colour, the renderer's own SGR
//!   colour codes) reaches the output.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Characters a terminal may act on instead of printing: C0 controls and DEL, C1 controls,
/// bidirectional controls (they reorder what is shown) and the Unicode line separators.
pub fn is_unsafe(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_where(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            escaped(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One untrusted value for a terminal, kept on one line.
pub fn terminal(s: &str) -> Cow<'_, str> {
    escape_where(s, is_unsafe)
}

/// A whole message for a terminal: like [`terminal`], but newlines and tabs stay.
pub fn terminal_text(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t' && is_unsafe(c))
}

/// Text in a Markdown paragraph, heading or table cell: shown as written, never as markup.
pub fn markdown(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown code span of `s`, backticks included: a fence longer than any run of backticks in
/// `s`, on one line, and `|` escaped so that it stays inside a table cell (GitHub's tables take
/// `\|` as a pipe inside code, too).
pub fn markdown_code(s: &str) -> String {
    let s = terminal(s).replace('|', "\\|");
    let fence = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// The fence for a fenced code block holding `lines`: longer than any run of backticks in them, so
/// no line can close it early.
pub fn markdown_fence<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let longest = lines.into_iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Text inside an HTML element (`<summary>`, a table cell of a page).
pub fn html(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The inside of a double-quoted DOT string: quotes and backslashes escaped (Graphviz reads `\n`,
/// `\l`, `\N` in labels), control characters shown as text (a NUL would end the file for Graphviz).
pub fn dot(s: &str) -> String {
    terminal(s).replace('\\', "\\\\").replace('"', "\\\"")
}

/// serde_json's pretty output, with the characters of [`is_unsafe`] that serde_json leaves raw
/// (C1 controls, bidirectional controls, line separators) written as `\uXXXX` escapes.
pub struct JsonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl Default for JsonFormatter {
    fn default() -> Self {
        JsonFormatter(serde_json::ser::PrettyFormatter::new())
    }
}

/// Writes `doc` as pretty JSON through [`JsonFormatter`].
pub fn json<T: serde::Serialize>(doc: &T, w: &mut dyn Write) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, JsonFormatter::default());
    doc.serialize(&mut ser).map_err(io::Error::other)
}

impl serde_json::ser::Formatter for JsonFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    // The rest is PrettyFormatter's layout.
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// The SGR colour codes the text renderer itself writes (bold, dim, red, green, yellow, reset).
const OWN_SGR: [&str; 6] = ["\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m"];

/// A writer that lets through newlines, tabs and printable text, and with `colour` the renderer's
/// own SGR codes; everything else of [`is_unsafe`] is written escaped.
pub struct SafeWriter<'a> {
    inner: &'a mut dyn Write,
    colour: bool,
}

impl<'a> SafeWriter<'a> {
    pub fn new(inner: &'a mut dyn Write, colour: bool) -> Self {
        SafeWriter { inner, colour }
    }
}

impl Write for SafeWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Renderers write whole `str`s, so a chunk is whole characters; anything else is shown lossily.
        let text = String::from_utf8_lossy(buf);
        let mut out = String::new();
        let mut rest: &str = &text;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| c != '\n' && c != '\t' && is_unsafe(c)) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match OWN_SGR.iter().find(|sgr| self.colour && tail.starts_with(**sgr)) {
                Some(sgr) => {
                    out.push_str(sgr);
                    rest = &tail[sgr.len()..];
                }
                None => {
                    escaped(c, &mut out);
                    rest = &tail[c.len_utf8()..];
                }
            }
        }
        out.push_str(rest);
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// True when `text` holds nothing a terminal would act on, besides newlines, tabs and (with
/// `colour`) the renderer's own SGR codes. For tests and the fuzz targets.
pub fn is_terminal_safe(text: &str, colour: bool) -> bool {
    let mut rest = text;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| c != '\n' && c != '\t' && is_unsafe(c)) {
        let tail = &rest[i..];
        match OWN_SGR.iter().find(|sgr| colour && tail.starts_with(**sgr)) {
            Some(sgr) => rest = &tail[sgr.len()..],
            None => return false,
        }
        let _ = c;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "main.f\n\x1b]0;pwned\x07\x1b[2J\rno leak found\u{202e}\u{85}\0";

    #[test]
    fn terminal_shows_controls_as_text() {
        assert_eq!(terminal("main.(*T).run"), "main.(*T).run");
        assert_eq!(terminal(EVIL), "main.f\\n\\x1b]0;pwned\\x07\\x1b[2J\\rno leak found\\u{202e}\\u{85}\\x00");
        assert_eq!(terminal_text("line one\n\tline two\x1b[2J"), "line one\n\tline two\\x1b[2J");
        // Escaping is idempotent: its output has nothing left to escape.
        assert_eq!(terminal(&terminal(EVIL)), terminal(EVIL));
    }

    #[test]
    fn markdown_text_is_never_markup() {
        assert_eq!(markdown("a|b *c* _d_ [x](y) <b> # `e` \\"), "a\\|b \\*c\\* \\_d\\_ \\[x\\](y) \\<b\\> \\# \\`e\\` \\\\");
        assert!(!markdown(EVIL).contains('\n'));
    }

    #[test]
    fn code_spans_outlast_backticks() {
        assert_eq!(markdown_code("main.f"), "`main.f`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`x"), "`` `x ``");
        assert_eq!(markdown_code("a|b"), "`a\\|b`");
        assert_eq!(markdown_fence(["x", "```y"]), "````");
        assert_eq!(markdown_fence(["x"]), "```");
    }

    #[test]
    fn html_and_dot() {
        assert_eq!(html("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(dot("a\"b\\c\0"), "a\\\"b\\\\c\\\\x00");
        assert!(!dot(EVIL).contains('\0'));
    }

    #[test]
    fn json_stays_valid_and_safe() {
        let mut out = Vec::new();
        json(&serde_json::json!({ "f": EVIL, "ok": "ünïcödé ✓" }), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(is_terminal_safe(&text, false), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["f"], EVIL);
        assert_eq!(back["ok"], "ünïcödé ✓");
    }

    #[test]
    fn safe_writer_keeps_own_colours_only() {
        let mut out = Vec::new();
        let mut w = SafeWriter::new(&mut out, true);
        let hostile = "\x1b]0;title\x07\x1b[2J";
        writeln!(w, "\x1b[31mred\x1b[0m {hostile}").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\x1b[31mred\x1b[0m \\x1b]0;title\\x07\\x1b[2J\n");
        assert!(is_terminal_safe(&text, true));
        assert!(!is_terminal_safe(&text, false));
    }
}
