//! `--format markdown`: for a CI job summary or a ticket.

use std::io::Write;

use super::{human_delta, human_value, short_file, DiffReport, GroupDoc};

/// Escapes the characters that would break a table cell.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('*', "\\*").replace('_', "\\_")
}

pub(crate) fn leaf_cell(g: &GroupDoc) -> String {
    match &g.leaf_frame {
        Some(f) if !f.file.is_empty() => format!("`{}` ({}:{})", g.leaf, short_file(&f.file), f.line),
        _ => format!("`{}`", g.leaf),
    }
}

pub(crate) fn stack_block(g: &GroupDoc, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "```")?;
    for f in &g.stack {
        if f.file.is_empty() {
            writeln!(w, "{}", f.function)?;
        } else {
            writeln!(w, "{}\n\t{}:{}", f.function, f.file, f.line)?;
        }
    }
    if let Some(c) = &g.created_by {
        writeln!(w, "created by {}\n\t{}:{}", c.function, c.file, c.line)?;
    }
    writeln!(w, "```")
}

pub fn diff(doc: &DiffReport, w: &mut dyn Write) -> std::io::Result<()> {
    let unit = doc.unit.as_str();
    writeln!(w, "## leakhound diff\n")?;
    writeln!(
        w,
        "**{}**: {} → {} ({})  ",
        doc.sample_type,
        human_value(doc.base_total, unit),
        human_value(doc.new_total, unit),
        human_delta(doc.new_total - doc.base_total, unit)
    )?;
    writeln!(w, "base `{}`, new `{}`\n", doc.base.source, doc.new.source)?;
    for warning in &doc.warnings {
        writeln!(w, "> **warning:** {}\n", warning)?;
    }
    if doc.changes.is_empty() {
        writeln!(w, "No stack group changed.")?;
        return Ok(());
    }
    writeln!(w, "| # | delta | base | new | blocked on | leaf |")?;
    writeln!(w, "|---:|---:|---:|---:|---|---|")?;
    for (i, c) in doc.changes.iter().enumerate() {
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            human_delta(c.delta, unit),
            human_value(c.base, unit),
            human_value(c.new, unit),
            cell(c.group.blocking.as_str()),
            leaf_cell(&c.group)
        )?;
    }
    writeln!(w)?;
    for (i, c) in doc.changes.iter().enumerate() {
        writeln!(w, "<details><summary>#{} {} — {}</summary>\n", i + 1, human_delta(c.delta, unit), cell(&c.group.leaf))?;
        stack_block(&c.group, w)?;
        writeln!(w, "\n</details>\n")?;
    }
    Ok(())
}
