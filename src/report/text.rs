//! `--format text`: for a person at a terminal.

use std::io::Write;

use super::{human_delta, human_value, short_file, DiffReport, FrameDoc, GroupDoc, Style};

const MAX_STACK_LINES: usize = 24;

pub(crate) struct Paint(pub bool);

impl Paint {
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Pads to a width counted in characters (so sparklines and arrows line up).
pub(crate) fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

pub(crate) fn rpad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{}{s}", " ".repeat(width - n))
    }
}

pub(crate) fn frame_location(f: &FrameDoc) -> String {
    if f.file.is_empty() {
        String::new()
    } else {
        format!("{}:{}", short_file(&f.file), f.line)
    }
}

/// The stack of a group, innermost first, the leaf marked.
pub(crate) fn write_stack(g: &GroupDoc, p: &Paint, w: &mut dyn Write) -> std::io::Result<()> {
    let width = g.stack.iter().take(MAX_STACK_LINES).map(|f| f.function.chars().count()).max().unwrap_or(0).min(70);
    let leaf_pos = g.stack.iter().position(|f| Some(f) == g.leaf_frame.as_ref());
    for (i, f) in g.stack.iter().enumerate().take(MAX_STACK_LINES) {
        let line = format!("      {}  {}", pad(&f.function, width), frame_location(f));
        if Some(i) == leaf_pos {
            writeln!(w, "{}  {}", p.bold(&line), p.yellow("← leaf"))?;
        } else if crate::stacks::is_std_function(&f.function) {
            writeln!(w, "{}", p.dim(&line))?;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    if g.stack.len() > MAX_STACK_LINES {
        writeln!(w, "      … {} more frames", g.stack.len() - MAX_STACK_LINES)?;
    }
    if let Some(c) = &g.created_by {
        writeln!(w, "      created by {}  {}", c.function, frame_location(c))?;
    }
    Ok(())
}

fn leaf_text(g: &GroupDoc) -> String {
    match &g.leaf_frame {
        Some(f) if !f.file.is_empty() => format!("{}  {}", g.leaf, frame_location(f)),
        _ => g.leaf.clone(),
    }
}

pub fn diff(doc: &DiffReport, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    let p = Paint(style.color);
    let unit = doc.unit.as_str();
    let what = if doc.sample_type == "goroutine" { "goroutines".to_string() } else { doc.sample_type.clone() };
    writeln!(
        w,
        "{} {} {} → {} ({})",
        p.bold("leakhound diff:"),
        what,
        human_value(doc.base_total, unit),
        human_value(doc.new_total, unit),
        human_delta(doc.new_total - doc.base_total, unit)
    )?;
    writeln!(w, "  base  {}", doc.base.source)?;
    writeln!(w, "  new   {}", doc.new.source)?;
    for warning in &doc.warnings {
        writeln!(w, "{} {warning}", p.yellow("warning:"))?;
    }
    writeln!(w)?;
    if doc.changes.is_empty() {
        writeln!(w, "No stack group changed.")?;
        return Ok(());
    }
    let cols = |d: &str, b: &str, n: &str, blk: &str, leaf: &str| format!("  {}  {}  {}  {}  {leaf}", rpad(d, 10), rpad(b, 10), rpad(n, 10), pad(blk, 23));
    writeln!(w, "{}", p.bold(&cols("DELTA", "BASE", "NEW", "BLOCKED ON", "LEAF")))?;
    for c in &doc.changes {
        let delta = human_delta(c.delta, unit);
        let delta = if c.delta > 0 { p.red(&rpad(&delta, 10)) } else { p.green(&rpad(&delta, 10)) };
        writeln!(
            w,
            "  {}  {}  {}  {}  {}",
            delta,
            rpad(&human_value(c.base, unit), 10),
            rpad(&human_value(c.new, unit), 10),
            pad(c.group.blocking.as_str(), 23),
            leaf_text(&c.group)
        )?;
    }
    writeln!(w)?;
    for (i, c) in doc.changes.iter().enumerate() {
        let label = c.group.label.as_deref().map(|l| format!("  [label {l}]")).unwrap_or_default();
        writeln!(
            w,
            "{} {}  {} → {}  {}  {}{label}",
            p.bold(&format!("#{}", i + 1)),
            human_delta(c.delta, unit),
            human_value(c.base, unit),
            human_value(c.new, unit),
            c.group.blocking,
            p.bold(&c.group.leaf)
        )?;
        write_stack(&c.group, &p, w)?;
        writeln!(w)?;
    }
    Ok(())
}
