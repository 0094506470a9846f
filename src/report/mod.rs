//! Output formats. Each is a pure function of a report document written to an `impl Write`; the
//! documents are the serde structs of `report.schema.json`, so JSON is those structs as they are.

pub mod build;
pub mod dot;
pub mod escape;
pub mod fleet;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod text;

use std::io::Write;

pub use model::*;

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Markdown,
    /// Graphviz call graph (leak reports only).
    Dot,
    /// One self-contained page: charts, stacks, call graph; a differential flame graph for diff.
    Html,
}

/// Options that only change how a report looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colour (only on a terminal, never with NO_COLOR).
    pub color: bool,
}

/// Text, Markdown and DOT go through [`escape::SafeWriter`]: whatever a renderer forgot to escape,
/// no control character from a profile reaches the output raw. JSON escapes through its formatter,
/// HTML through its template engine.
pub fn write_diff(doc: &DiffReport, format: OutputFormat, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => text::diff(doc, style, &mut escape::SafeWriter::new(w, style.color)),
        OutputFormat::Json => json::write(doc, w),
        OutputFormat::Markdown => markdown::diff(doc, &mut escape::SafeWriter::new(w, false)),
        OutputFormat::Dot => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--format dot draws the call graph of a leak report; use it with watch, analyze or check",
        )),
        OutputFormat::Html => html::diff(doc, w),
    }
}

pub fn write_leak(doc: &LeakReport, format: OutputFormat, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => text::leak(doc, style, &mut escape::SafeWriter::new(w, style.color)),
        OutputFormat::Json => json::write(doc, w),
        OutputFormat::Markdown => markdown::leak(doc, &mut escape::SafeWriter::new(w, false)),
        OutputFormat::Dot => dot::leak(doc, &mut escape::SafeWriter::new(w, false)),
        OutputFormat::Html => html::leak(doc, w),
    }
}

/// `1536` bytes → `1.5 KiB`.
pub fn human_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let v = n.unsigned_abs() as f64;
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut u = 0;
    let mut x = v;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{sign}{} B", n.unsigned_abs())
    } else {
        format!("{sign}{x:.1} {}", UNITS[u])
    }
}

/// A value in its unit: bytes as a person reads them, counts as numbers.
pub fn human_value(n: i64, unit: &str) -> String {
    if unit == "bytes" {
        human_bytes(n)
    } else {
        n.to_string()
    }
}

/// Same with a sign, for deltas.
pub fn human_delta(n: i64, unit: &str) -> String {
    if n > 0 {
        format!("+{}", human_value(n, unit))
    } else {
        human_value(n, unit)
    }
}

/// The last two path components of a source file: enough to find it, short enough to read.
pub fn short_file(path: &str) -> &str {
    let mut idx = path.len();
    for _ in 0..2 {
        match path[..idx].rfind('/') {
            Some(i) => idx = i,
            None => return path,
        }
    }
    &path[idx + 1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_a_person_reads_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human_delta(-2048, "bytes"), "-2.0 KiB");
        assert_eq!(human_delta(5, "count"), "+5");
        assert_eq!(short_file("/usr/lib/go/src/runtime/proc.go"), "runtime/proc.go");
        assert_eq!(short_file("main.go"), "main.go");
    }
}
