//! `--format html`: one self-contained page rendered from the same report documents as the JSON.
//!
//! The page is built with maud (compile-time checked, every interpolated string HTML-escaped), its
//! charts are inline SVG drawn here, and it fetches nothing: a Content-Security-Policy meta allows
//! only the page's own style and script (by hash) and no connection at all. It reads fully without
//! JavaScript; the script adds table sorting and the flame graph's zoom and search.

mod charts;
mod flame;
mod graph;
pub mod serve;

use std::io::Write;

use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{escape, human_bytes, human_delta, human_value, short_file, CensusDoc, DiffReport, FrameDoc, GroupDoc, LeakReport, SuspectDoc};
use crate::analysis::rank::Verdict;
use crate::stacks::is_std_function;

const CSS: &str = include_str!("html/page.css");
const JS: &str = include_str!("html/page.js");

/// The diff page lists this many changes in its table (all of them are in the flame graph).
const MAX_TABLE_ROWS: usize = 1000;
/// ... and shows the whole stack of this many.
const MAX_STACKS: usize = 100;
/// A leak report lists every suspect in its table, and details this many.
const MAX_SUSPECT_DETAILS: usize = 300;

pub fn leak(doc: &LeakReport, w: &mut dyn Write) -> std::io::Result<()> {
    let shown = visible(doc);
    let doc = shown.as_ref().unwrap_or(doc);
    let outcome = if doc.outcome.is_empty() { &doc.verdict } else { &doc.outcome };
    let title = format!("leakhound: {outcome} — {}", doc.target);
    w.write_all(page(&title, leak_body(doc, "")).into_string().as_bytes())
}

pub fn diff(doc: &DiffReport, w: &mut dyn Write) -> std::io::Result<()> {
    let shown = visible(doc);
    let doc = shown.as_ref().unwrap_or(doc);
    let title = format!("leakhound diff — {} → {}", doc.base.source, doc.new.source);
    w.write_all(page(&title, diff_body(doc)).into_string().as_bytes())
}

/// A leak report as a section of a larger page (the fleet page): its ids and links prefixed with
/// `prefix` so that several reports share one page.
pub(crate) fn leak_section(doc: &LeakReport, prefix: &str) -> Markup {
    let shown = visible(doc);
    leak_body(shown.as_ref().unwrap_or(doc), prefix)
}

/// A whole page around `body`, with the leak page's style, script and policy.
pub(crate) fn page_of(title: &str, body: Markup) -> String {
    page(title, body).into_string()
}

/// The document with every string's control, bidirectional and line-separator characters shown
/// as escapes (`escape::terminal`), or `None` when it has none (the usual case). The template
/// engine escapes markup; this keeps a crafted name from reordering the page's text or forging a
/// line of a stack. One pass over the whole document, so no field can be forgotten.
pub(crate) fn visible<T: Serialize + DeserializeOwned>(doc: &T) -> Option<T> {
    fn clean(v: &mut Value) -> bool {
        match v {
            Value::String(s) if s.chars().any(escape::is_unsafe) => {
                *s = escape::terminal(s).into_owned();
                true
            }
            // Every element is cleaned: no short-circuit.
            Value::Array(items) => items.iter_mut().map(clean).filter(|&changed| changed).count() > 0,
            Value::Object(fields) => fields.values_mut().map(clean).filter(|&changed| changed).count() > 0,
            _ => false,
        }
    }
    let mut v = serde_json::to_value(doc).ok()?;
    if !clean(&mut v) {
        return None;
    }
    serde_json::from_value(v).ok()
}

fn csp_hash(s: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes())))
}

/// Only the page's own style and script may run, and nothing may be fetched.
fn content_security_policy() -> String {
    format!("default-src 'none'; script-src {}; style-src {}; base-uri 'none'; form-action 'none'", csp_hash(JS), csp_hash(CSS))
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="generator" content=(format!("leakhound {}", env!("CARGO_PKG_VERSION")));
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main { (body) }
                script { (PreEscaped(JS)) }
            }
        }
    }
}

fn location(f: &FrameDoc) -> String {
    if f.file.is_empty() {
        String::new()
    } else if f.line > 0 {
        format!("{}:{}", short_file(&f.file), f.line)
    } else {
        short_file(&f.file).to_string()
    }
}

fn leaf_cell(g: &GroupDoc) -> Markup {
    html! {
        code { (g.leaf) }
        @if let Some(f) = &g.leaf_frame {
            @let loc = location(f);
            @if !loc.is_empty() { " " span.loc.mono { (loc) } }
        }
    }
}

/// The whole stack, innermost first, as `go tool pprof -traces` and panics print it.
fn stack_block(g: &GroupDoc) -> Markup {
    html! {
        pre.stack {
            @for f in &g.stack {
                @let leaf = f.function == g.leaf;
                span class=(if leaf { "leafline" } else if is_std_function(&f.function) { "std" } else { "fn" }) { (f.function) }
                @if !f.file.is_empty() { "\n\t" span.loc { (f.file) ":" (f.line) } }
                @if leaf { "  ← leaf" }
                "\n"
            }
            @if let Some(c) = &g.created_by {
                "created by " span.fn { (c.function) }
                @if !c.file.is_empty() { "\n\t" span.loc { (c.file) ":" (c.line) } }
                "\n"
            }
        }
    }
}

/// A value safe inside single quotes in a POSIX shell, quoted only when it needs to be.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A function name as an anchored Go (RE2) regexp matching only itself.
fn focus_regex(function: &str) -> String {
    let mut out = String::from("^");
    for c in function.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

/// The snapshots a suspect's counts belong to: the analysed run, or all of them.
fn count_indices(doc: &LeakReport, s: &SuspectDoc) -> Vec<usize> {
    let n = s.counts.len();
    match doc.analysed {
        Some([a, b]) if b >= a && b - a + 1 == n => (a..=b).collect(),
        _ => (0..n).collect(),
    }
}

/// `go tool pprof` commands on the saved files that show the same stack.
fn pprof_commands(doc: &LeakReport, s: &SuspectDoc) -> Vec<String> {
    let idx = count_indices(doc, s);
    let (Some(first), Some(last)) = (idx.first().and_then(|&i| doc.snapshots.get(i)), idx.last().and_then(|&i| doc.snapshots.get(i))) else {
        return Vec::new();
    };
    // pprof reads the protobuf form only: debug=1 text has no symbols for it, debug=2 does not parse.
    if !matches!(last.format.as_str(), "proto" | "") {
        return Vec::new();
    }
    let focus = format!("-focus={}", shell_quote(&focus_regex(&s.group.leaf)));
    let mut cmds = vec![format!("go tool pprof -traces {focus} {}", shell_quote(&last.source))];
    if first.source != last.source && first.format == "proto" && last.format == "proto" {
        cmds.push(format!("go tool pprof -top {focus} -diff_base={} {}", shell_quote(&first.source), shell_quote(&last.source)));
    }
    // watch saves `NNN-goroutine.pb.gz` and `NNN-heap.pb.gz` side by side.
    if s.heap_inuse_bytes.unwrap_or(0) > 0 && last.heap_inuse_bytes.is_some() {
        if let (Some(heap), Some(func)) = (heap_file_of(&last.source), goroutine_function(&s.group)) {
            cmds.push(format!("go tool pprof -top -cum -sample_index=inuse_space -focus={} {}", shell_quote(&focus_regex(func)), shell_quote(&heap)));
        }
    }
    cmds
}

fn heap_file_of(goroutine_file: &str) -> Option<String> {
    let name_at = goroutine_file.rfind('/').map_or(0, |i| i + 1);
    let (dir, name) = goroutine_file.split_at(name_at);
    let (round, rest) = name.split_once("-goroutine.")?;
    (round.len() == 3 && round.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{dir}{round}-heap.{rest}"))
}

/// The function a goroutine was started with: its outermost frame outside the runtime.
fn goroutine_function(g: &GroupDoc) -> Option<&str> {
    g.stack.iter().rev().map(|f| f.function.as_str()).find(|f| *f != "runtime.goexit" && !f.starts_with("runtime."))
}

fn leak_body(doc: &LeakReport, p: &str) -> Markup {
    let leaks = doc.suspects.iter().filter(|s| s.verdict == Verdict::Leak).count();
    let suspects = doc.suspects.len() - leaks;
    let first = doc.snapshots.first();
    let last = doc.snapshots.last();
    let heap: Vec<i64> = doc.snapshots.iter().filter_map(|s| s.heap_inuse_bytes).collect();
    let graph = graph::render(doc, p);
    // `outcome` says "inconclusive" where too few snapshots allow no verdict; older reports lack it.
    let outcome = if doc.outcome.is_empty() { doc.verdict.as_str() } else { doc.outcome.as_str() };
    html! {
        header {
            h1 {
                "leakhound: "
                span class=(format!("verdict v-{outcome}")) { (outcome) }
                " — " (leaks) (if leaks == 1 { " leak, " } else { " leaks, " }) (suspects) (if suspects == 1 { " suspect" } else { " suspects" })
            }
            dl.facts {
                dt { "Target" } dd { code { (doc.target) } }
                @if outcome == "inconclusive" {
                    dt { "Outcome" } dd {
                        "inconclusive: no leak seen, but the analysed run has too few snapshots for a trend"
                        @if let Some(m) = doc.min_snapshots { " (it needs " (m) ")" }
                    }
                }
                dt { "Snapshots" } dd {
                    (doc.snapshots.len())
                    @if let (Some(a), Some(b)) = (first.and_then(|s| s.taken_at.as_deref()), last.and_then(|s| s.taken_at.as_deref())) {
                        ", " (a) " → " (b)
                    }
                }
                @if let (Some(a), Some(b)) = (first, last) {
                    dt { "Goroutines" } dd { (a.goroutines) " → " (b.goroutines) " (" (human_delta(b.goroutines - a.goroutines, "count")) ")" }
                }
                @if let (Some(&a), Some(&b)) = (heap.first(), heap.last()) {
                    dt { "Heap in use" } dd { (human_bytes(a)) " → " (human_bytes(b)) " (" (human_delta(b - a, "bytes")) ")" }
                }
                @if let Some([a, b]) = doc.analysed {
                    @if a > 0 || b + 1 < doc.snapshots.len() {
                        dt { "Analysed" } dd { "snapshots " (a) "–" (b) " (the longest run between restarts)" }
                    }
                }
                @if let Some(t) = &doc.thresholds {
                    dt { "Thresholds" } dd {
                        "growth ≥ " (t.min_growth_per_minute) "/min, increase ≥ " (t.min_increase)
                        @if let Some(m) = t.max_goroutines { ", at most " (m) " goroutines" }
                    }
                }
                dt { "Report" } dd { (doc.tool.name) " " (doc.tool.version) ", " code { (doc.schema) } }
            }
            nav.toc {
                a href=(format!("#{p}timeline")) { "Goroutines over time" }
                a href=(format!("#{p}suspects")) { "Suspects" }
                @if doc.census.is_some() { a href=(format!("#{p}census")) { "One-dump census" } }
                @if graph.is_some() { a href=(format!("#{p}callgraph")) { "Call graph" } }
                @if !doc.suspects.is_empty() { a href=(format!("#{p}details")) { "Stacks and fixes" } }
                @if !doc.heap_growth.is_empty() { a href=(format!("#{p}heap")) { "Heap growth" } }
                @if !doc.errors.is_empty() { a href=(format!("#{p}notes")) { "Warnings and errors (" (doc.errors.len()) ")" } }
            }
        }
        @if !doc.errors.is_empty() {
            section id=(format!("{p}notes")) {
                h2 { "Warnings and errors" }
                ul.notes { @for e in &doc.errors { li { (e) } } }
            }
        }
        section id=(format!("{p}timeline")) {
            h2 { "Goroutines over time" }
            (charts::timeline(doc))
        }
        section id=(format!("{p}suspects")) {
            h2 { "Suspects" }
            @if doc.suspects.is_empty() {
                @if doc.census.is_some() {
                    p { "One snapshot has no trend: see the " a href=(format!("#{p}census")) { "one-dump census" } "." }
                } @else {
                    p { "No stack kept growing." }
                }
            } @else {
                table.sortable id=(format!("{p}suspect-table")) {
                    thead { tr {
                        th.n { "#" } th { "verdict" } th.n { "score" } th.n { "growth/min" } th { "counts" }
                        th { "pattern" } th { "blocked on" } th { "leaf" }
                    } }
                    tbody {
                        @for s in &doc.suspects {
                            tr data-leaf=(s.group.leaf) {
                                td.n data-v=(s.rank) {
                                    @if s.rank <= MAX_SUSPECT_DETAILS { a href=(format!("#{p}s{}", s.rank)) { (s.rank) } } @else { (s.rank) }
                                }
                                td { span class=(format!("verdict v-{}", s.verdict.name())) { (s.verdict.name()) } }
                                td.n data-v=(s.score) { (format!("{:.2}", s.score)) }
                                td.n data-v=(s.growth_per_minute) { (format!("{:+.1}", s.growth_per_minute)) }
                                td data-v=(s.counts.last().copied().unwrap_or(0)) {
                                    (charts::spark(&s.counts)) " "
                                    span.mono { (s.counts.first().copied().unwrap_or(0)) "→" (s.counts.last().copied().unwrap_or(0)) }
                                }
                                td { (s.pattern) }
                                td { (s.group.blocking.as_str()) }
                                td { (leaf_cell(&s.group)) }
                            }
                        }
                    }
                }
            }
            @for r in &doc.root_causes {
                p.root { "Root cause: " (r.summary) " (suspects "
                    @for (i, rank) in r.suspects.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("#{p}s{rank}")) { "#" (rank) }
                    }
                    ")"
                }
            }
        }
        @if let Some(c) = &doc.census { (census_section(c, p)) }
        @if let Some(g) = graph {
            section id=(format!("{p}callgraph")) {
                h2 { "Call graph of the suspects" }
                p.legend {
                    "Callers above callees; edges weighted by goroutine growth per minute. "
                    span { "filled: a suspect's leaf (click to jump to it)" }
                    span { "thick red outline: a root cause shared by several suspects" }
                    span { "grey: Go standard library" }
                }
                (g)
            }
        }
        @if !doc.suspects.is_empty() {
            section id=(format!("{p}details")) {
                h2 { "Stacks and fixes" }
                @if doc.suspects.len() > MAX_SUSPECT_DETAILS {
                    p.legend { "The " (MAX_SUSPECT_DETAILS) " best of " (doc.suspects.len()) " suspects; " code { "--format json" } " has all of them." }
                }
                @for s in doc.suspects.iter().take(MAX_SUSPECT_DETAILS) { (suspect_article(doc, s, p)) }
            }
        }
        @if !doc.heap_growth.is_empty() {
            section id=(format!("{p}heap")) {
                h2 { "Heap growth with no goroutine growth" }
                p { "Heap that grew while no goroutine stack did (a cache that only grows, say): not a goroutine leak, listed by allocation site." }
                table.sortable {
                    thead { tr { th.n { "growth" } th.n { "first" } th.n { "last" } th.n { "per minute" } th { "over time" } th { "allocation site" } } }
                    tbody {
                        @for h in &doc.heap_growth {
                            tr {
                                td.n data-v=(h.growth_bytes) { (human_delta(h.growth_bytes, "bytes")) }
                                td.n data-v=(h.first_bytes) { (human_bytes(h.first_bytes)) }
                                td.n data-v=(h.last_bytes) { (human_bytes(h.last_bytes)) }
                                td.n data-v=(h.growth_bytes_per_minute) { (human_delta(h.growth_bytes_per_minute.round() as i64, "bytes")) }
                                td { (charts::spark(&h.bytes)) }
                                td { code { (h.site) } " " span.loc.mono { (h.location) } }
                            }
                        }
                    }
                }
            }
        }
        footer { "Written by " (doc.tool.name) " " (doc.tool.version) " from the same " code { (doc.schema) } " document as " code { "--format json" } "." }
    }
}

/// The census of a lone snapshot (see `analysis::census`).
fn census_section(c: &CensusDoc, p: &str) -> Markup {
    html! {
        section id=(format!("{p}census")) {
            h2 { "One-dump census" }
            p {
                (c.goroutines) " goroutines on " (c.stacks) " stacks"
                @if let Some(m) = c.oldest_wait_minutes { ", longest wait " (m) " minutes" }
                ": " strong { (c.suspects) " suspect(s)" } " from wait ages, " strong { (c.leaks) " proven leak(s)" } "."
            }
            p.legend { (c.note) }
            table.sortable id=(format!("{p}census-table")) {
                thead { tr {
                    th { "status" } th.n { "goroutines" } th { "blocked on" } th.n { "oldest" } th.n { "median" }
                    th { "waits" } th { "pattern" } th { "leaf" } th { "note" }
                } }
                tbody {
                    @for g in &c.groups {
                        tr data-leaf=(g.group.leaf) {
                            td { @if g.status != "listed" { span class=(format!("verdict v-{}", g.status)) { (g.status) } } }
                            td.n data-v=(g.goroutines) { (g.goroutines) }
                            td { (g.group.blocking.as_str()) }
                            @match &g.wait {
                                Some(a) => {
                                    td.n data-v=(a.oldest_minutes) { (a.oldest_minutes) "m" }
                                    td.n data-v=(a.median_minutes) { (a.median_minutes) "m" }
                                    td.mono { (super::text::census_histogram(a)) }
                                }
                                None => { td.n data-v="0" { "-" } td.n data-v="0" { "-" } td {} }
                            }
                            td { (g.pattern) }
                            td { (leaf_cell(&g.group)) @if let Some(l) = &g.group.label { " " code { (l) } } @if let Some(l) = g.group.labels_line() { " " code.labels { (l) } } }
                            td {
                                @if let Some(r) = super::text::census_rate(g) { strong { (r) } }
                                @else if let Some(n) = &g.not_suspect_because { (n) }
                            }
                        }
                    }
                }
            }
            @for g in c.groups.iter().filter(|g| g.status == "suspect") {
                article.suspect data-leaf=(g.group.leaf) {
                    h3 {
                        span class=(format!("verdict v-{}", g.status)) { (g.status) } " "
                        code { (g.group.leaf) }
                        @if let Some(f) = &g.group.leaf_frame { " " span.loc.mono { (location(f)) } }
                    }
                    p.meta {
                        (g.pattern) ", " (g.group.blocking.as_str()) ", " (g.goroutines) " goroutines"
                        @if let Some(r) = super::text::census_rate(g) { ", " strong { (r) } }
                        @if let Some(n) = g.gc_proven_leaked { ", " strong { (n) " proven leaked by the runtime" } }
                    }
                    @if let Some(l) = g.group.labels_line() { p.meta { "Labels: " code { (l) } } }
                    @if let Some(sf) = &g.started_from {
                        p { "Started from " code { (sf.function) } @if !sf.file.is_empty() { " " (short_file(&sf.file)) ":" (sf.line) } " (" (sf.via) ")" }
                    }
                    p.fix { strong { "Fix: " } (g.hint) }
                    (stack_block(&g.group))
                }
            }
        }
    }
}

fn suspect_article(doc: &LeakReport, s: &SuspectDoc, p: &str) -> Markup {
    let verdict = s.verdict.name();
    let first = s.counts.first().copied().unwrap_or(0);
    let last = s.counts.last().copied().unwrap_or(0);
    let cmds = pprof_commands(doc, s);
    html! {
        article.suspect id=(format!("{p}s{}", s.rank)) data-leaf=(s.group.leaf) {
            h3 {
                "#" (s.rank) " "
                span class=(format!("verdict v-{verdict}")) { (verdict) } " "
                code { (s.group.leaf) }
                @if let Some(f) = &s.group.leaf_frame { " " span.loc.mono { (location(f)) } }
            }
            p.meta {
                (s.pattern) ", " (s.group.blocking.as_str()) ", "
                strong { (format!("{:+.1}", s.growth_per_minute)) " goroutines/min" }
                " (" (first) " → " (last) "), score " (format!("{:.2}", s.score))
            }
            div.row {
                div.small { (charts::counts(doc, s, &count_indices(doc, s))) }
                dl.facts {
                    @if let Some(c) = &s.group.created_by {
                        dt { "Created by" } dd { code { (c.function) } " " span.loc.mono { (location(c)) } }
                    }
                    @if let Some(f) = goroutine_function(&s.group) {
                        dt { "Goroutine function" } dd { code { (f) } }
                    }
                    dt { "Runtime's proof" } dd {
                        @match s.gc_proven_leaked {
                            Some(n) => { strong { (n) } " proven leaked by the garbage collector (goroutineleak profile)" }
                            None => { "none (growth alone; Go 1.26+ serves /debug/pprof/goroutineleak)" }
                        }
                    }
                    @if let Some(b) = s.heap_inuse_bytes.filter(|&b| b > 0) {
                        dt { "Heap held" } dd {
                            (human_bytes(b)) " live"
                            @if let Some(g) = s.heap_growth_bytes { " (" (human_delta(g, "bytes")) " over the run)" }
                        }
                    }
                    @if let Some(m) = s.max_wait_minutes { dt { "Longest wait" } dd { (m) " minutes" } }
                    @if let Some(sf) = &s.started_from {
                        dt { "Started from" } dd { code { (sf.function) } @if !sf.file.is_empty() { " " (short_file(&sf.file)) ":" (sf.line) } " (" (sf.via) ")" }
                    } @else if let Some(m) = &s.started_from_missing {
                        dt { "Started from" } dd { "unknown: " (m) }
                    }
                    @if let Some(l) = &s.group.label { dt { "Label" } dd { code { (l) } } }
                    @if let Some(l) = s.group.labels_line() { dt { "Labels" } dd { code { (l) } } }
                    dt { "Evidence" } dd.mono {
                        "increase " (s.evidence.increase) ", τ " (s.evidence.tau) ", rising steps " (s.evidence.rising_steps)
                        ", non-decreasing " (format!("{:.0}%", s.evidence.nondecreasing_share * 100.0))
                        ", drawdown " (s.evidence.drawdown)
                    }
                }
            }
            p.fix { strong { "Fix: " } (s.hint) }
            (stack_block(&s.group))
            @if !cmds.is_empty() {
                p.legend { "The same stack in " code { "go tool pprof" } " (on the files watch saved):" }
                pre.cmd { @for c in &cmds { (c) "\n" } }
            }
        }
    }
}

fn diff_body(doc: &DiffReport) -> Markup {
    let unit = doc.unit.as_str();
    let grew = doc.changes.iter().filter(|c| c.delta > 0).count();
    let shrank = doc.changes.iter().filter(|c| c.delta < 0).count();
    let goroutines = doc.is_goroutine_like();
    html! {
        header {
            h1 { "leakhound diff: " (doc.sample_type) " " (human_value(doc.base_total, unit)) " → " (human_value(doc.new_total, unit))
                 " (" (human_delta(doc.new_total - doc.base_total, unit)) ")" }
            dl.facts {
                dt { "Base" } dd { code { (doc.base.source) } @if let Some(t) = &doc.base.taken_at { ", " (t) } }
                dt { "New" } dd { code { (doc.new.source) } @if let Some(t) = &doc.new.taken_at { ", " (t) } }
                dt { "Changes" } dd { (doc.changes.len()) " stack groups: " (grew) " grew, " (shrank) " shrank" }
                dt { "Report" } dd { (doc.tool.name) " " (doc.tool.version) ", " code { (doc.schema) } }
            }
            nav.toc {
                a href="#flamegraph" { "Differential flame graph" }
                a href="#changes" { "Changes" }
                @if !doc.warnings.is_empty() { a href="#notes" { "Warnings (" (doc.warnings.len()) ")" } }
            }
        }
        @if !doc.warnings.is_empty() {
            section #notes { h2 { "Warnings" } ul.notes { @for e in &doc.warnings { li { (e) } } } }
        }
        section #flamegraph {
            h2 { "Differential flame graph" }
            @if doc.changes.is_empty() {
                p { "No stack group changed." }
            } @else {
                p.legend {
                    "Callers on top, callees below. Width: " (if goroutines { "goroutines" } else { unit }) " gained or lost under a frame; colour: "
                    span { span.key.r {} "growth" } span { span.key {} "shrink" }
                    "(the deeper the colour, the more one-sided). Click a frame to zoom, click it again to zoom out."
                }
                (flame::render(doc))
            }
        }
        section #changes {
            h2 { "Changes" }
            @if !doc.changes.is_empty() {
                @if doc.changes.len() > MAX_TABLE_ROWS {
                    p.legend { "The " (MAX_TABLE_ROWS) " largest of " (doc.changes.len()) " changes; the flame graph and " code { "--format json" } " have all of them." }
                }
                table.sortable #change-table {
                    thead { tr {
                        th.n { "#" } th.n { "delta" } th.n { "base" } th.n { "new" }
                        @if goroutines { th { "blocked on" } th { "leaf" } } @else { th { "allocated in" } }
                    } }
                    tbody {
                        @for (i, c) in doc.changes.iter().take(MAX_TABLE_ROWS).enumerate() {
                            tr {
                                td.n data-v=(i + 1) { @if i < MAX_STACKS { a href=(format!("#c{}", i + 1)) { (i + 1) } } @else { (i + 1) } }
                                td.n data-v=(c.delta) { (human_delta(c.delta, unit)) }
                                td.n data-v=(c.base) { (human_value(c.base, unit)) }
                                td.n data-v=(c.new) { (human_value(c.new, unit)) }
                                @if goroutines { td { (c.group.blocking.as_str()) } }
                                td { (leaf_cell(&c.group)) }
                            }
                        }
                    }
                }
                h2 { "Stacks" }
                @if doc.changes.len() > MAX_STACKS { p.legend { "The stacks of the " (MAX_STACKS) " largest changes." } }
                @for (i, c) in doc.changes.iter().take(MAX_STACKS).enumerate() {
                    details id=(format!("c{}", i + 1)) open[i < 10] {
                        summary { "#" (i + 1) " " strong { (human_delta(c.delta, unit)) } " (" (human_value(c.base, unit)) " → " (human_value(c.new, unit)) ") " code { (c.group.leaf) } }
                        @if let Some(l) = c.group.labels_line() { p.meta { "Labels: " code { (l) } } }
                        (stack_block(&c.group))
                    }
                }
            }
        }
        footer { "Written by " (doc.tool.name) " " (doc.tool.version) " from the same " code { (doc.schema) } " document as " code { "--format json" } "." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_and_regex_quoting_keep_hostile_names_inert() {
        assert_eq!(focus_regex("main.(*T).m"), r"^main\.\(\*T\)\.m$");
        assert_eq!(shell_quote("/tmp/a/000-goroutine.pb.gz"), "/tmp/a/000-goroutine.pb.gz");
        assert_eq!(shell_quote(r"^main\.f$"), r"'^main\.f$'");
        assert_eq!(shell_quote("a'; rm -rf ~; '"), r"'a'\''; rm -rf ~; '\'''");
        assert_eq!(heap_file_of("/d/007-goroutine.pb.gz").as_deref(), Some("/d/007-heap.pb.gz"));
        assert_eq!(heap_file_of("/d/before.pb.gz"), None);
    }

    fn suspect(rank: usize, leaf: &str, creator: &str) -> serde_json::Value {
        serde_json::json!({
            "rank": rank, "verdict": "leak", "score": 0.9, "leaf": leaf, "blocking": "chan send",
            "stack": [{ "function": "runtime.gopark" }, { "function": leaf, "file": "/src/app/main.go", "line": 7 }],
            "created_by": { "function": creator, "file": "/src/app/main.go", "line": 3 },
            "pattern": "forgotten-sender", "hint": "close it", "counts": [1, 2, 3, 4, 5], "growth_per_minute": 12.0,
            "evidence": { "increase": 4, "tau": 1.0, "nondecreasing_share": 1.0, "rising_steps": 4, "jump_share": 0.2, "drawdown": 0.0, "step_noise": 1.0 }
        })
    }

    #[test]
    fn restarts_failed_rounds_and_root_causes_are_drawn() {
        let snaps: Vec<serde_json::Value> =
            (0..7).map(|i| serde_json::json!({ "index": i, "source": format!("/d/{i:03}-goroutine.pb.gz"), "goroutines": 10 + i })).collect();
        let doc: LeakReport = serde_json::from_value(serde_json::json!({
            "schema": "leakhound.report/v1", "tool": { "name": "leakhound", "version": "0" }, "target": "t",
            "snapshots": snaps, "verdict": "leak", "errors": ["round 4: refused"], "analysed": [2, 6], "restarts": [2],
            "failed_rounds": [{ "before_snapshot": 4, "message": "round 4: refused" }],
            "suspects": [suspect(1, "main.a", "main.handler"), suspect(2, "main.b", "main.handler")],
            "root_causes": [{ "function": "main.handler", "suspects": [1, 2], "growth_per_minute": 24.0, "relation": "started from", "summary": "2 suspects" }]
        }))
        .unwrap();
        let mut out = Vec::new();
        leak(&doc, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert_eq!(page.matches("<line class=\"restart\"").count(), 1);
        assert!(page.contains("failed round: round 4: refused"));
        assert!(page.contains("analysed: snapshots 2–6"));
        assert!(page.contains("class=\"node rc\" data-function=\"main.handler\""), "the shared creator is outlined as a root cause");
        assert!(page.contains("<a href=\"#s2\"><g class=\"node leaf\""), "a suspect's leaf links to its section");
        // Counts of the analysed run are labelled with their snapshot numbers.
        assert!(page.contains(">#2</text>") && page.contains(">#6</text>"));
    }

    #[test]
    fn control_and_bidi_characters_are_shown_not_obeyed() {
        let hostile = "main.\u{202e}lortnoc\u{1b}[2J\nmain.forged";
        let doc: LeakReport = serde_json::from_value(serde_json::json!({
            "schema": "leakhound.report/v1", "tool": { "name": "leakhound", "version": "0" }, "target": "t\u{2066}",
            "snapshots": [{ "index": 0, "source": "/d/000-goroutine.pb.gz", "goroutines": 1 }], "verdict": "leak",
            "suspects": [suspect(1, hostile, "main.handler")], "errors": ["bad\u{7}bell"]
        }))
        .unwrap();
        let mut out = Vec::new();
        leak(&doc, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        for c in ['\u{202e}', '\u{1b}', '\u{2066}', '\u{7}'] {
            assert!(!page.contains(c), "{c:?} reached the page raw");
        }
        assert!(page.contains(r"main.\u{202e}lortnoc\x1b[2J\nmain.forged"), "the name is shown with its escapes");
        assert!(page.contains(r"bad\x07bell"));
    }

    #[test]
    fn the_policy_names_the_exact_style_and_script() {
        let page = page("t", html! { p { "x" } }).into_string();
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'"));
        assert!(page.contains(&format!("<style>{CSS}</style>")));
        assert!(page.contains(&format!("<script>{JS}</script>")));
        assert!(!page.contains(" src=") && !page.contains("<link"), "the page must load nothing");
    }
}
