//! `--format json`: the documents of `report.schema.json`, pretty-printed.

use std::io::Write;

pub fn write<T: serde::Serialize>(doc: &T, w: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, doc)?;
    writeln!(w)
}
