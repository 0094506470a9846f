//! `--format text`: for a person at a terminal. Every string from a profile, a server or a file is
//! written through [`t`] (control characters shown as text, on one line); the whole output also
//! goes through [`super::escape::SafeWriter`].

use std::io::Write;

use super::escape::terminal as t;
use super::{human_delta, human_value, short_file, DiffReport, FrameDoc, GroupDoc, SnapshotDoc, Style};

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
        format!("{}:{}", t(short_file(&f.file)), f.line)
    }
}

/// The stack of a group, innermost first, the leaf marked.
pub(crate) fn write_stack(g: &GroupDoc, p: &Paint, w: &mut dyn Write) -> std::io::Result<()> {
    let width = g.stack.iter().take(MAX_STACK_LINES).map(|f| t(&f.function).chars().count()).max().unwrap_or(0).min(70);
    let leaf_pos = g.stack.iter().position(|f| Some(f) == g.leaf_frame.as_ref());
    for (i, f) in g.stack.iter().enumerate().take(MAX_STACK_LINES) {
        let line = format!("      {}  {}", pad(&t(&f.function), width), frame_location(f));
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
        writeln!(w, "      created by {}  {}", t(&c.function), frame_location(c))?;
    }
    Ok(())
}

fn leaf_text(g: &GroupDoc) -> String {
    match &g.leaf_frame {
        Some(f) if !f.file.is_empty() => format!("{}  {}", t(&g.leaf), frame_location(f)),
        _ => t(&g.leaf).into_owned(),
    }
}

pub fn diff(doc: &DiffReport, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    let p = Paint(style.color);
    let unit = doc.unit.as_str();
    let what = if doc.sample_type == "goroutine" { "goroutines".to_string() } else { t(&doc.sample_type).into_owned() };
    writeln!(
        w,
        "{} {} {} → {} ({})",
        p.bold("leakhound diff:"),
        what,
        human_value(doc.base_total, unit),
        human_value(doc.new_total, unit),
        human_delta(doc.new_total.saturating_sub(doc.base_total), unit)
    )?;
    writeln!(w, "  base  {}{}", t(&doc.base.source), not_counted(&doc.base))?;
    writeln!(w, "  new   {}{}", t(&doc.new.source), not_counted(&doc.new))?;
    for warning in &doc.warnings {
        writeln!(w, "{} {}", p.yellow("warning:"), t(warning))?;
    }
    writeln!(w)?;
    if doc.changes.is_empty() {
        writeln!(w, "No stack group changed.")?;
        return Ok(());
    }
    // Heap samples are allocation sites: they block on nothing.
    let goroutines = doc.is_goroutine_like();
    let blocked = |c: &super::ChangeDoc, width: usize| if goroutines { format!("{}  ", pad(c.group.blocking.as_str(), width)) } else { String::new() };
    let head = if goroutines { format!("{}  LEAF", pad("BLOCKED ON", 23)) } else { "ALLOCATED IN".to_string() };
    writeln!(w, "{}", p.bold(&format!("  {}  {}  {}  {head}", rpad("DELTA", 10), rpad("BASE", 10), rpad("NEW", 10))))?;
    for c in &doc.changes {
        let delta = human_delta(c.delta, unit);
        let delta = if c.delta > 0 { p.red(&rpad(&delta, 10)) } else { p.green(&rpad(&delta, 10)) };
        writeln!(
            w,
            "  {}  {}  {}  {}{}",
            delta,
            rpad(&human_value(c.base, unit), 10),
            rpad(&human_value(c.new, unit), 10),
            blocked(c, 23),
            leaf_text(&c.group)
        )?;
    }
    writeln!(w)?;
    for (i, c) in doc.changes.iter().enumerate() {
        let label = c.group.label.as_deref().map(|l| format!("  [label {}]", t(l))).unwrap_or_default();
        writeln!(
            w,
            "{} {}  {} → {}  {}{}{label}",
            p.bold(&format!("#{}", i + 1)),
            human_delta(c.delta, unit),
            human_value(c.base, unit),
            human_value(c.new, unit),
            blocked(c, 0),
            p.bold(&t(&c.group.leaf))
        )?;
        write_labels(&c.group, &p, w)?;
        write_stack(&c.group, &p, w)?;
        writeln!(w)?;
    }
    Ok(())
}

/// `   labels: route=/pay,/refund tenant=acme corp` (the `--label` value too, when split by one).
pub(crate) fn write_labels(g: &GroupDoc, p: &Paint, w: &mut dyn Write) -> std::io::Result<()> {
    if let Some(l) = g.labels_line() {
        writeln!(w, "   {} {}", p.bold("labels:"), t(&l))?;
    } else if let Some(l) = g.label.as_deref().filter(|l| !l.is_empty()) {
        writeln!(w, "   {} {}", p.bold("label:"), t(l))?;
    }
    Ok(())
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `▁▂▃▅▇` of a series, scaled from its minimum to its maximum.
pub fn sparkline(values: &[i64]) -> String {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    // In floating point: the difference of two extreme counts does not fit an i64.
    let (lo, span) = (min as f64, max as f64 - min as f64);
    values.iter().map(|&v| if max == min { SPARKS[0] } else { SPARKS[(((v as f64 - lo) / span * 7.0).round() as usize).min(7)] }).collect()
}

pub fn leak(doc: &super::LeakReport, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    let p = Paint(style.color);
    let leaks = doc.suspects.iter().filter(|s| s.verdict == crate::analysis::rank::Verdict::Leak).count();
    let suspects = doc.suspects.len() - leaks;
    let totals: Vec<i64> = doc.snapshots.iter().map(|s| s.goroutines).collect();
    let headline = match (leaks, suspects) {
        (0, 0) if doc.outcome == "inconclusive" => p.yellow("inconclusive, no leak found"),
        (0, 0) => p.green("no leak found"),
        (0, _) if doc.outcome == "inconclusive" => p.yellow(&format!("inconclusive, {suspects} suspect{}", plural(suspects))),
        _ => p.red(&format!("{leaks} leak{}, {suspects} suspect{}", plural(leaks), plural(suspects))),
    };
    writeln!(w, "{} {headline} in {} snapshot{} of {}", p.bold("leakhound:"), doc.snapshots.len(), plural(doc.snapshots.len()), t(&doc.target))?;
    if let (Some(first), Some(last)) = (totals.first(), totals.last()) {
        let span = match (doc.snapshots.first().and_then(|s| s.taken_at.clone()), doc.snapshots.last().and_then(|s| s.taken_at.clone())) {
            (Some(a), Some(b)) => format!(", {a} → {b}"),
            _ => String::new(),
        };
        writeln!(w, "  goroutines {first} → {last}  {}{span}", sparkline(&totals))?;
    }
    let heap: Vec<i64> = doc.snapshots.iter().filter_map(|s| s.heap_inuse_bytes).collect();
    if let (Some(&first), Some(&last)) = (heap.first(), heap.last()) {
        writeln!(w, "  heap in use {} → {}  {}", super::human_bytes(first), super::human_bytes(last), sparkline(&heap))?;
    }
    if let Some([a, b]) = doc.analysed {
        if b + 1 - a != doc.snapshots.len() {
            writeln!(w, "  ranked on snapshots {a}–{b} (the longest run between restarts)")?;
        }
    }
    for e in &doc.errors {
        writeln!(w, "  {} {}", p.yellow("!"), t(e))?;
    }
    writeln!(w)?;
    if doc.suspects.is_empty() {
        if let Some(c) = &doc.census {
            census(c, &p, w)?;
        } else {
            writeln!(w, "No stack kept growing.")?;
        }
        return heap_growth(doc, &p, w);
    }
    let head = format!(
        "  {}  {}  {}  {}  {}  {}  {}",
        rpad("#", 2),
        pad("VERDICT", 7),
        rpad("SCORE", 5),
        rpad("GROWTH/MIN", 10),
        pad("COUNTS", 14),
        pad("BLOCKED ON", 23),
        "LEAF"
    );
    writeln!(w, "{}", p.bold(&head))?;
    for s in &doc.suspects {
        let verdict = pad(s.verdict.name(), 7);
        let verdict = if s.verdict == crate::analysis::rank::Verdict::Leak { p.red(&verdict) } else { p.yellow(&verdict) };
        let spark: String = sparkline(&s.counts).chars().rev().take(14).collect::<Vec<_>>().into_iter().rev().collect();
        writeln!(
            w,
            "  {}  {verdict}  {}  {}  {}  {}  {}",
            rpad(&s.rank.to_string(), 2),
            rpad(&format!("{:.2}", s.score), 5),
            rpad(&format!("{:+.1}", s.growth_per_minute), 10),
            pad(&spark, 14),
            pad(s.group.blocking.as_str(), 23),
            leaf_text(&s.group)
        )?;
    }
    writeln!(w)?;
    for r in &doc.root_causes {
        writeln!(w, "{} {}", p.bold("root cause:"), t(&r.summary))?;
    }
    if !doc.root_causes.is_empty() {
        writeln!(w)?;
    }
    for s in &doc.suspects {
        let first = s.counts.first().copied().unwrap_or(0);
        let last = s.counts.last().copied().unwrap_or(0);
        writeln!(
            w,
            "{} {} {}  {}, {}, {:+.1} goroutines/min ({first} → {last})",
            p.bold(&format!("#{}", s.rank)),
            s.verdict.name(),
            p.bold(&t(&s.group.leaf)),
            s.pattern,
            s.group.blocking,
            s.growth_per_minute
        )?;
        let mut facts = Vec::new();
        if let Some(n) = s.gc_proven_leaked {
            facts.push(format!("the runtime proved {n} of them leaked (goroutineleak)"));
        }
        if let Some(m) = s.max_wait_minutes {
            facts.push(format!("oldest has waited {m} minutes"));
        }
        if let Some(b) = s.heap_inuse_bytes.filter(|&b| b > 0) {
            let growth = s.heap_growth_bytes.map(|g| format!(" ({})", super::human_delta(g, "bytes"))).unwrap_or_default();
            facts.push(format!("holds {} of live heap{growth}", super::human_bytes(b)));
        }
        if !facts.is_empty() {
            writeln!(w, "   {}", facts.join("; "))?;
        }
        write_labels(&s.group, &p, w)?;
        write_stack(&s.group, &p, w)?;
        if let Some(sf) = &s.started_from {
            let at = frame_location(&FrameDoc { function: sf.function.clone(), file: sf.file.clone(), line: sf.line });
            writeln!(w, "   {} {}  {at}  ({})", p.bold("started from:"), t(&sf.function), t(&sf.via))?;
        } else if let Some(m) = &s.started_from_missing {
            // The same advice for many suspects is said once.
            match doc.suspects.iter().find(|o| o.started_from_missing.as_ref() == Some(m)) {
                Some(o) if o.rank != s.rank => writeln!(w, "   {} unknown (as for #{})", p.bold("started from:"), o.rank)?,
                _ => writeln!(w, "   {} unknown: {}", p.bold("started from:"), t(m))?,
            }
        }
        writeln!(w, "   {} {}", p.green("fix:"), s.hint)?;
        writeln!(w)?;
    }
    if let Some(c) = &doc.census {
        census(c, &p, w)?;
    }
    heap_growth(doc, &p, w)
}

/// `≈ 11 per minute for the last 38 minutes`.
pub(crate) fn census_rate(g: &super::CensusGroupDoc) -> Option<String> {
    let (r, m) = (g.rate_per_minute?, g.rate_minutes?);
    let r = if r >= 10.0 { format!("{r:.0}") } else { format!("{r:.1}") };
    Some(format!("≈ {r} per minute for the last {m} minutes"))
}

/// `<1m 11 · 1-6m 66 · 7-12m 66`.
pub(crate) fn census_histogram(a: &super::WaitAgesDoc) -> String {
    let bin = |b: &super::AgeBinDoc| match (b.from_minutes, b.to_minutes) {
        (0, 0) => format!("<1m {}", b.goroutines),
        (f, to) if f == to => format!("{f}m {}", b.goroutines),
        (f, to) => format!("{f}-{to}m {}", b.goroutines),
    };
    a.histogram.iter().map(bin).collect::<Vec<_>>().join(" · ")
}

/// The census of a lone snapshot: stacks by count, ages, suspects from steady accumulation.
fn census(c: &super::CensusDoc, p: &Paint, w: &mut dyn Write) -> std::io::Result<()> {
    let oldest = c.oldest_wait_minutes.map(|m| format!(", longest wait {m} minutes")).unwrap_or_default();
    writeln!(
        w,
        "{} {} goroutines on {} stacks{oldest}: {} suspect{} from wait ages, {} proven leak{}",
        p.bold("One-dump census:"),
        c.goroutines,
        c.stacks,
        c.suspects,
        plural(c.suspects),
        c.leaks,
        plural(c.leaks)
    )?;
    writeln!(w, "  {}", p.dim(&c.note))?;
    writeln!(w)?;
    let head = format!(
        "  {}  {}  {}  {}  {}  {}  {}",
        pad("STATUS", 7),
        rpad("COUNT", 6),
        pad("BLOCKED ON", 23),
        rpad("OLDEST", 6),
        rpad("MEDIAN", 6),
        pad("AGES", 8),
        "LEAF"
    );
    writeln!(w, "{}", p.bold(&head))?;
    for g in &c.groups {
        let status = pad(if g.status == "listed" { "" } else { &g.status }, 7);
        let status = match g.status.as_str() {
            "leak" => p.red(&status),
            "suspect" => p.yellow(&status),
            _ => status,
        };
        let (oldest, median, spark) = match &g.wait {
            Some(a) => {
                let counts: Vec<i64> = a.histogram.iter().map(|b| b.goroutines as i64).collect();
                let spark = if counts.iter().all(|&n| n == 0) { String::new() } else { sparkline_from_zero(&counts) };
                (format!("{}m", a.oldest_minutes), format!("{}m", a.median_minutes), spark)
            }
            None => ("-".into(), "-".into(), String::new()),
        };
        let label = g.group.labels_line().or_else(|| g.group.label.clone().filter(|l| !l.is_empty())).map(|l| format!("  [{}]", t(&l))).unwrap_or_default();
        let why = g.not_suspect_because.as_deref().map(|r| format!("  {}", p.dim(&format!("({r})")))).unwrap_or_default();
        writeln!(
            w,
            "  {status}  {}  {}  {}  {}  {}  {}{label}{why}",
            rpad(&g.goroutines.to_string(), 6),
            pad(g.group.blocking.as_str(), 23),
            rpad(&oldest, 6),
            rpad(&median, 6),
            pad(&spark, 8),
            leaf_text(&g.group)
        )?;
    }
    if c.groups.len() < c.stacks {
        writeln!(w, "  {}", p.dim(&format!("… and {} smaller stacks", c.stacks - c.groups.len())))?;
    }
    writeln!(w)?;
    for g in c.groups.iter().filter(|g| g.status == "suspect") {
        let rate = census_rate(g).map(|r| format!(", {r}")).unwrap_or_default();
        let proven = g.gc_proven_leaked.map(|n| format!(", the runtime proved {n} leaked")).unwrap_or_default();
        writeln!(w, "{} {}  {}, {}, {} goroutines{rate}{proven}", p.yellow(&g.status), p.bold(&t(&g.group.leaf)), g.pattern, g.group.blocking, g.goroutines)?;
        if let Some(a) = &g.wait {
            writeln!(w, "   waits: {}  (oldest {} minutes, median {})", census_histogram(a), a.oldest_minutes, a.median_minutes)?;
        }
        write_labels(&g.group, p, w)?;
        write_stack(&g.group, p, w)?;
        if let Some(sf) = &g.started_from {
            let at = frame_location(&FrameDoc { function: sf.function.clone(), file: sf.file.clone(), line: sf.line });
            writeln!(w, "   {} {}  {at}  ({})", p.bold("started from:"), t(&sf.function), sf.via)?;
        } else if let Some(m) = &g.started_from_missing {
            writeln!(w, "   {} unknown: {m}", p.bold("started from:"))?;
        }
        writeln!(w, "   {} {}", p.green("fix:"), g.hint)?;
        writeln!(w)?;
    }
    Ok(())
}

/// `▁▂▃▅▇` scaled from zero (a histogram: an empty bin is the lowest bar).
fn sparkline_from_zero(values: &[i64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    values.iter().map(|&v| if v <= 0 { ' ' } else { SPARKS[((v as f64 / max * 7.0).round() as usize).min(7)] }).collect()
}

/// Heap that grew with no goroutine growth (a cache that only grows), by allocation site.
fn heap_growth(doc: &super::LeakReport, p: &Paint, w: &mut dyn Write) -> std::io::Result<()> {
    if doc.heap_growth.is_empty() {
        return Ok(());
    }
    writeln!(w, "{}", p.bold("Heap growth with no goroutine growth (not a goroutine leak):"))?;
    for h in &doc.heap_growth {
        writeln!(
            w,
            "  {}  {} → {} ({}/min)  {}  {}",
            rpad(&human_delta(h.growth_bytes, "bytes"), 11),
            super::human_bytes(h.first_bytes),
            super::human_bytes(h.last_bytes),
            human_delta(h.growth_bytes_per_minute.round() as i64, "bytes"),
            t(&h.site),
            p.dim(&t(super::short_file(&h.location)))
        )?;
    }
    writeln!(w)?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What a diff left out of a snapshot's total to compare it with the other form.
fn not_counted(s: &SnapshotDoc) -> String {
    let mut parts = Vec::new();
    if s.runtime_goroutines > 0 {
        parts.push(format!("{} goroutine(s) of the runtime itself", s.runtime_goroutines));
    }
    if s.request_goroutines > 0 {
        parts.push(format!("{} goroutine(s) of the profile request", s.request_goroutines));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  (not counted: {})", parts.join(", "))
    }
}
