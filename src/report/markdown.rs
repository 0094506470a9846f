//! `--format markdown`: for a CI job summary or a ticket. Strings from profiles are escaped for
//! where they land (text, code span, code block, HTML summary) by [`super::escape`].

use std::io::Write;

use super::escape::{self, markdown_code, terminal as t};
use super::{human_delta, human_value, short_file, DiffReport, GroupDoc};

/// Text in a table cell, heading or paragraph.
pub(crate) fn cell(s: &str) -> String {
    escape::markdown(s)
}

pub(crate) fn leaf_cell(g: &GroupDoc) -> String {
    match &g.leaf_frame {
        Some(f) if !f.file.is_empty() => {
            format!("{} ({}:{})", markdown_code(&g.leaf), cell(short_file(&f.file)), f.line)
        }
        _ => markdown_code(&g.leaf),
    }
}

pub(crate) fn stack_block(g: &GroupDoc, w: &mut dyn Write) -> std::io::Result<()> {
    let mut lines = Vec::new();
    let frames = g.stack.iter().map(|f| ("", f)).chain(g.created_by.iter().map(|f| ("created by ", f)));
    for (created, f) in frames {
        if f.file.is_empty() {
            lines.push(format!("{created}{}", t(&f.function)));
        } else {
            lines.push(format!("{created}{}\n\t{}:{}", t(&f.function), t(&f.file), f.line));
        }
    }
    let fence = escape::markdown_fence(lines.iter().map(String::as_str));
    writeln!(w, "{fence}")?;
    for l in &lines {
        writeln!(w, "{l}")?;
    }
    writeln!(w, "{fence}")
}

pub fn diff(doc: &DiffReport, w: &mut dyn Write) -> std::io::Result<()> {
    let unit = doc.unit.as_str();
    writeln!(w, "## leakhound diff\n")?;
    writeln!(
        w,
        "**{}**: {} → {} ({})  ",
        cell(&doc.sample_type),
        human_value(doc.base_total, unit),
        human_value(doc.new_total, unit),
        human_delta(doc.new_total.saturating_sub(doc.base_total), unit)
    )?;
    writeln!(w, "base {}, new {}\n", markdown_code(&doc.base.source), markdown_code(&doc.new.source))?;
    for warning in &doc.warnings {
        writeln!(w, "> **warning:** {}\n", cell(warning))?;
    }
    if doc.changes.is_empty() {
        writeln!(w, "No stack group changed.")?;
        return Ok(());
    }
    // Heap samples are allocation sites: they block on nothing.
    let goroutines = doc.is_goroutine_like();
    if goroutines {
        writeln!(w, "| # | delta | base | new | blocked on | leaf |")?;
        writeln!(w, "|---:|---:|---:|---:|---|---|")?;
    } else {
        writeln!(w, "| # | delta | base | new | allocated in |")?;
        writeln!(w, "|---:|---:|---:|---:|---|")?;
    }
    for (i, c) in doc.changes.iter().enumerate() {
        let blocked = if goroutines { format!(" {} |", cell(c.group.blocking.as_str())) } else { String::new() };
        writeln!(
            w,
            "| {} | {} | {} | {} |{blocked} {} |",
            i + 1,
            human_delta(c.delta, unit),
            human_value(c.base, unit),
            human_value(c.new, unit),
            leaf_cell(&c.group)
        )?;
    }
    writeln!(w)?;
    for (i, c) in doc.changes.iter().enumerate() {
        writeln!(w, "<details><summary>#{} {} — {}</summary>\n", i + 1, human_delta(c.delta, unit), escape::html(&c.group.leaf))?;
        if let Some(l) = c.group.labels_line() {
            writeln!(w, "Labels: {}\n", markdown_code(&l))?;
        }
        stack_block(&c.group, w)?;
        writeln!(w, "\n</details>\n")?;
    }
    Ok(())
}

pub fn leak(doc: &super::LeakReport, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "## leakhound: {}\n", if doc.outcome.is_empty() { &doc.verdict } else { &doc.outcome })?;
    let totals: Vec<i64> = doc.snapshots.iter().map(|s| s.goroutines).collect();
    writeln!(
        w,
        "Target {}, {} snapshots, goroutines {} → {} `{}`\n",
        markdown_code(&doc.target),
        doc.snapshots.len(),
        totals.first().copied().unwrap_or(0),
        totals.last().copied().unwrap_or(0),
        super::text::sparkline(&totals)
    )?;
    let heap: Vec<i64> = doc.snapshots.iter().filter_map(|s| s.heap_inuse_bytes).collect();
    if let (Some(&first), Some(&last)) = (heap.first(), heap.last()) {
        writeln!(w, "Heap in use {} → {} `{}`\n", super::human_bytes(first), super::human_bytes(last), super::text::sparkline(&heap))?;
    }
    for e in &doc.errors {
        writeln!(w, "> **warning:** {}\n", cell(e))?;
    }
    if doc.suspects.is_empty() {
        if let Some(c) = &doc.census {
            census(c, w)?;
        } else {
            writeln!(w, "No stack kept growing.\n")?;
        }
        return heap_growth(doc, w);
    }
    writeln!(w, "| # | verdict | score | growth/min | counts | blocked on | pattern | leaf |")?;
    writeln!(w, "|---:|---|---:|---:|---|---|---|---|")?;
    for s in &doc.suspects {
        writeln!(
            w,
            "| {} | **{}** | {:.2} | {:+.1} | `{}` | {} | {} | {} |",
            s.rank,
            s.verdict.name(),
            s.score,
            s.growth_per_minute,
            super::text::sparkline(&s.counts),
            cell(s.group.blocking.as_str()),
            s.pattern,
            leaf_cell(&s.group)
        )?;
    }
    writeln!(w)?;
    for r in &doc.root_causes {
        writeln!(w, "**Root cause:** {}  ", cell(&r.summary))?;
    }
    if !doc.root_causes.is_empty() {
        writeln!(w)?;
    }
    for s in &doc.suspects {
        writeln!(w, "### #{} {} — {}\n", s.rank, cell(&s.group.leaf), s.pattern)?;
        writeln!(w, "Counts: {}  ", s.counts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → "))?;
        if let Some(n) = s.gc_proven_leaked {
            writeln!(w, "Proven leaked by the runtime: {n}  ")?;
        }
        if let Some(b) = s.heap_inuse_bytes.filter(|&b| b > 0) {
            writeln!(w, "Live heap held: {}  ", super::human_bytes(b))?;
        }
        if let Some(sf) = &s.started_from {
            let at = if sf.file.is_empty() { String::new() } else { format!(" ({}:{})", short_file(&sf.file), sf.line) };
            writeln!(w, "Started from: {}{} — {}  ", markdown_code(&sf.function), cell(&at), cell(&sf.via))?;
        } else if let Some(m) = &s.started_from_missing {
            match doc.suspects.iter().find(|o| o.started_from_missing.as_ref() == Some(m)) {
                Some(o) if o.rank != s.rank => writeln!(w, "Started from: unknown (as for #{})  ", o.rank)?,
                _ => writeln!(w, "Started from: unknown — {}  ", cell(m))?,
            }
        }
        if let Some(l) = s.group.labels_line() {
            writeln!(w, "Labels: {}  ", markdown_code(&l))?;
        } else if let Some(l) = s.group.label.as_deref().filter(|l| !l.is_empty()) {
            writeln!(w, "Label: {}  ", markdown_code(l))?;
        }
        writeln!(w, "**Fix:** {}\n", s.hint)?;
        stack_block(&s.group, w)?;
        writeln!(w)?;
    }
    if let Some(c) = &doc.census {
        census(c, w)?;
    }
    heap_growth(doc, w)
}

/// The census of a lone snapshot (see `analysis::census`).
fn census(c: &super::CensusDoc, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        w,
        "### One-dump census
"
    )?;
    let oldest = c.oldest_wait_minutes.map(|m| format!(", longest wait {m} minutes")).unwrap_or_default();
    writeln!(w, "{} goroutines on {} stacks{oldest}: {} suspect(s) from wait ages, {} proven leak(s).  ", c.goroutines, c.stacks, c.suspects, c.leaks)?;
    writeln!(w, "_{}_\n", cell(&c.note))?;
    writeln!(w, "| status | goroutines | blocked on | oldest | median | waits | pattern | leaf | note |")?;
    writeln!(w, "|---|---:|---|---:|---:|---|---|---|---|")?;
    for g in &c.groups {
        let (oldest, median, hist) = match &g.wait {
            Some(a) => (format!("{}m", a.oldest_minutes), format!("{}m", a.median_minutes), super::text::census_histogram(a)),
            None => ("-".into(), "-".into(), String::new()),
        };
        let note = super::text::census_rate(g).or_else(|| g.not_suspect_because.clone()).unwrap_or_default();
        let label = g.group.labels_line().or_else(|| g.group.label.clone().filter(|l| !l.is_empty())).map(|l| format!(" [{}]", cell(&l))).unwrap_or_default();
        writeln!(
            w,
            "| {} | {} | {} | {oldest} | {median} | {} | {} | {}{label} | {} |",
            if g.status == "listed" { String::new() } else { format!("**{}**", g.status) },
            g.goroutines,
            cell(g.group.blocking.as_str()),
            cell(&hist),
            g.pattern,
            leaf_cell(&g.group),
            cell(&note)
        )?;
    }
    writeln!(w)?;
    for g in c.groups.iter().filter(|g| g.status == "suspect") {
        writeln!(w, "#### {} {} — {}\n", g.status, cell(&g.group.leaf), g.pattern)?;
        if let Some(r) = super::text::census_rate(g) {
            writeln!(w, "{} goroutines, {r}  ", g.goroutines)?;
        }
        if let Some(n) = g.gc_proven_leaked {
            writeln!(w, "Proven leaked by the runtime: {n}  ")?;
        }
        if let Some(sf) = &g.started_from {
            let at = if sf.file.is_empty() { String::new() } else { format!(" ({}:{})", short_file(&sf.file), sf.line) };
            writeln!(w, "Started from: {}{} — {}  ", markdown_code(&sf.function), cell(&at), sf.via)?;
        }
        if let Some(l) = g.group.labels_line() {
            writeln!(w, "Labels: {}  ", markdown_code(&l))?;
        }
        writeln!(w, "**Fix:** {}\n", g.hint)?;
        stack_block(&g.group, w)?;
        writeln!(w)?;
    }
    Ok(())
}

/// Heap that grew with no goroutine growth (a cache that only grows), by allocation site.
fn heap_growth(doc: &super::LeakReport, w: &mut dyn Write) -> std::io::Result<()> {
    if doc.heap_growth.is_empty() {
        return Ok(());
    }
    writeln!(w, "### Heap growth with no goroutine growth\n")?;
    writeln!(w, "| growth | first | last | per minute | allocation site |")?;
    writeln!(w, "|---:|---:|---:|---:|---|")?;
    for h in &doc.heap_growth {
        writeln!(
            w,
            "| {} | {} | {} | {} | {} ({}) |",
            human_delta(h.growth_bytes, "bytes"),
            super::human_bytes(h.first_bytes),
            super::human_bytes(h.last_bytes),
            human_delta(h.growth_bytes_per_minute.round() as i64, "bytes"),
            markdown_code(&h.site),
            cell(&h.location)
        )?;
    }
    writeln!(w)?;
    Ok(())
}
