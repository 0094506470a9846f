//! `--format json`: the documents of `report.schema.json`, pretty-printed. Valid JSON for any
//! string a profile holds; see [`super::escape::JsonFormatter`] for the characters escaped.

use std::io::Write;

pub fn write<T: serde::Serialize>(doc: &T, w: &mut dyn Write) -> std::io::Result<()> {
    super::escape::json(doc, w)?;
    writeln!(w)
}
