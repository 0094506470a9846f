//! From analysis results to the report documents.

use super::{
    AgeBinDoc, CensusDoc, CensusGroupDoc, ChangeDoc, DiffReport, EvidenceDoc, FailedRoundDoc, GroupDoc, LeakReport, SnapshotDoc, StartedFromDoc, SuspectDoc,
    ThresholdsDoc, Tool, TruncationDoc, WaitAgesDoc, REPORT_SCHEMA,
};
use crate::analysis::ancestry::{started_from, Missing};
use crate::analysis::callgraph::CallGraph;
use crate::analysis::census::{census, Status};
use crate::analysis::diff::Compared;
use crate::analysis::heap::HeapSeries;
use crate::analysis::patterns::{distinct_leaves, pattern_of, Pattern};
use crate::analysis::rank::{RankOptions, Suspect, Verdict};
use crate::analysis::series::Series;
use crate::analysis::Snapshot;
use crate::profile::Format;
use crate::stacks::{GroupId, GroupInfo, StackTable};

/// Heap growth below this is not reported on its own.
pub const MIN_HEAP_GROWTH_BYTES: i64 = 1 << 20;

pub fn taken_at(time_nanos: Option<i64>) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(time_nanos? as i128).ok()?;
    t.format(&time::format_description::well_known::Rfc3339).ok()
}

pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Proto => "proto",
        Format::Debug1 => "debug=1",
        Format::Debug2 => "debug=2",
    }
}

pub fn snapshot_doc(s: &Snapshot) -> SnapshotDoc {
    SnapshotDoc {
        index: s.index,
        source: s.source.clone(),
        taken_at: taken_at(s.time_nanos),
        goroutines: if s.kind.is_goroutine_like() { s.total } else { 0 },
        heap_inuse_bytes: s.heap_inuse_bytes,
        kind: s.kind.name().to_string(),
        format: format_name(s.format).to_string(),
        truncated: s.truncated.as_ref().map(|t| TruncationDoc { bytes_read: t.bytes_read, goroutines_read: t.goroutines_read }),
        runtime_goroutines: s.runtime_goroutines,
        request_goroutines: s.request_left_out,
        merged_from: s.merged.clone(),
    }
}

pub fn leak_report(
    target: &str,
    series: &Series,
    heap: &HeapSeries,
    suspects: &[Suspect],
    opts: &RankOptions,
    max_goroutines: Option<i64>,
    extra_errors: &[String],
) -> LeakReport {
    let range = series.analysed_segment();
    let infos: Vec<&GroupInfo> = suspects.iter().map(|s| series.table.group(s.group)).collect();
    let leaves = distinct_leaves(&infos);
    let heap_of = heap.attribute(&infos, &range, MIN_HEAP_GROWTH_BYTES);
    let docs: Vec<SuspectDoc> = suspects
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let info = infos[i];
            let held = heap_of.held[i];
            let (started_from, started_from_missing) = started_from_docs(info);
            SuspectDoc {
                rank: i + 1,
                verdict: s.verdict,
                score: (s.score * 1000.0).round() / 1000.0,
                group: GroupDoc::with_leaf(info, leaves[i]),
                pattern: s.pattern.to_string(),
                hint: s.hint.to_string(),
                counts: s.counts.clone(),
                growth_per_minute: (s.growth_per_minute * 10.0).round() / 10.0,
                growing_since_snapshot: (s.since > 0).then_some(range.start + s.since),
                gc_proven_leaked: s.gc_proven_leaked,
                heap_inuse_bytes: held.map(|h| h.0),
                heap_growth_bytes: held.map(|h| h.1),
                max_wait_minutes: (s.max_wait_minutes > 0).then_some(s.max_wait_minutes),
                started_from,
                started_from_missing,
                evidence: EvidenceDoc {
                    increase: s.trend.increase,
                    tau: round3(s.trend.tau),
                    nondecreasing_share: round3(s.trend.nondecreasing_share),
                    rising_steps: s.trend.rising_steps,
                    jump_share: round3(s.trend.jump_share),
                    drawdown: round3(s.trend.drawdown),
                    step_noise: round3(s.trend.step_noise),
                    mann_kendall_z: round3(s.trend.mann_kendall_z),
                    level_noise: round3(s.trend.level_noise),
                    late_rise: round3(s.trend.late_rise),
                },
            }
        })
        .collect();
    let verdict = if suspects.iter().any(|s| s.verdict == Verdict::Leak) {
        "leak"
    } else if suspects.is_empty() {
        "clean"
    } else {
        "suspect"
    };
    let heap_growth = heap_of.growth;
    let mut errors: Vec<String> = extra_errors.to_vec();
    errors.extend(series.errors.iter().cloned());
    errors.extend(series.snapshots.iter().filter_map(Snapshot::truncation_warning));
    // A pass needs a trend; a leak (grown or proven by the runtime) needs none.
    let min = crate::analysis::rank::thresholds::LEAK_MIN_SNAPSHOTS;
    let outcome = if verdict != "leak" && range.len() < min { "inconclusive" } else { verdict };
    if outcome == "inconclusive" {
        errors.push(inconclusive_note(series.snapshots.len(), range.len()));
    }
    let mut doc = LeakReport {
        schema: REPORT_SCHEMA.into(),
        tool: Tool::default(),
        target: target.to_string(),
        snapshots: series.snapshots.iter().map(snapshot_doc).collect(),
        verdict: verdict.into(),
        outcome: outcome.into(),
        min_snapshots: Some(min),
        suspects: docs,
        errors,
        analysed: (!range.is_empty()).then(|| [range.start, range.end - 1]),
        restarts: series.restarts.clone(),
        thresholds: Some(ThresholdsDoc { min_growth_per_minute: opts.min_growth_per_minute, min_increase: opts.min_increase, max_goroutines }),
        heap_growth,
        root_causes: Vec::new(),
        failed_rounds: series.failures.iter().map(|(i, m)| FailedRoundDoc { before_snapshot: *i, message: m.clone() }).collect(),
        census: census_doc(series, range.clone(), opts).map(Box::new),
    };
    let paths = super::dot::paths(&doc);
    doc.root_causes = CallGraph::build(&paths).root_causes(&paths);
    doc
}

/// The census of the analysed run when it is one goroutine snapshot (see `analysis::census`).
pub fn census_doc(series: &Series, range: std::ops::Range<usize>, opts: &RankOptions) -> Option<CensusDoc> {
    if range.len() != 1 {
        return None;
    }
    let snap = &series.snapshots[range.start];
    if !snap.kind.is_goroutine_like() {
        return None;
    }
    let proven = series.proven.get(range.start).cloned().flatten().unwrap_or_default();
    let c = census(&series.table, snap, &proven, opts);
    let infos: Vec<&GroupInfo> = c.groups.iter().map(|g| series.table.group(g.group)).collect();
    let leaves = distinct_leaves(&infos);
    let groups: Vec<CensusGroupDoc> = c
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let info = infos[i];
            let (started_from, started_from_missing) = started_from_docs(info);
            let Pattern { name, fix } = pattern_of(info);
            CensusGroupDoc {
                group: GroupDoc::with_leaf(info, leaves[i]),
                goroutines: g.goroutines,
                status: match g.status {
                    Status::Leak => "leak",
                    Status::Suspect => "suspect",
                    Status::Listed => "listed",
                }
                .into(),
                pattern: name.into(),
                hint: fix.into(),
                gc_proven_leaked: (g.proven > 0).then_some(g.proven),
                wait: g.ages.as_ref().map(|a| WaitAgesDoc {
                    oldest_minutes: a.oldest,
                    median_minutes: a.median,
                    waited_a_minute: a.aged,
                    histogram: a.histogram.iter().map(|b| AgeBinDoc { from_minutes: b.from, to_minutes: b.to, goroutines: b.goroutines }).collect(),
                }),
                rate_per_minute: g.accumulation.map(|a| (a.per_minute * 10.0).round() / 10.0),
                rate_minutes: g.accumulation.map(|a| a.minutes),
                not_suspect_because: g.not_steady.map(|n| n.describe().to_string()),
                started_from,
                started_from_missing,
            }
        })
        .collect();
    let note = if c.has_ages {
        "one-dump census: one snapshot has no trend, so stacks are judged by how long their goroutines have waited: \
         a suspect holds many goroutines parked on a channel, lock, select or WaitGroup with waits spread evenly from now back over many minutes, \
         as a steady leak leaves them; a steady stream of long-lived connections or jobs looks the same. Take 4 or more snapshots for a trend"
    } else {
        "one-dump census: this form has no wait times (only ?debug=2 dumps, SIGQUIT and panic output do), so it counts stacks and lists no suspect \
         but what the runtime proved; take a ?debug=2 dump for wait ages, or 4 or more snapshots for a trend"
    };
    Some(CensusDoc {
        note: note.into(),
        snapshot: c.snapshot,
        goroutines: c.goroutines,
        stacks: c.stacks,
        has_wait_ages: c.has_ages,
        oldest_wait_minutes: c.has_ages.then_some(c.oldest_wait),
        suspects: c.groups.iter().filter(|g| g.status == Status::Suspect).count(),
        leaks: c.groups.iter().filter(|g| g.status == Status::Leak).count(),
        groups,
    })
}

fn started_from_docs(info: &GroupInfo) -> (Option<StartedFromDoc>, Option<String>) {
    match started_from(info) {
        Ok(sf) => {
            (Some(StartedFromDoc { function: sf.frame.function.clone(), file: sf.frame.file.clone(), line: sf.frame.line, via: sf.via.describe() }), None)
        }
        // Who started it is not known, but its own stack names the program's code it runs.
        Err(m) => match crate::analysis::ancestry::entry_function(info) {
            Some(e) => (
                Some(StartedFromDoc {
                    function: e.function.clone(),
                    file: e.file.clone(),
                    line: e.line,
                    via: crate::analysis::ancestry::Via::Entry.describe(),
                }),
                Some(missing_note(m, info)),
            ),
            None => (None, Some(missing_note(m, info))),
        },
    }
}

/// What to do when no input names the code responsible for a suspect.
fn missing_note(m: Missing, info: &GroupInfo) -> String {
    match (m, &info.created_by) {
        (Missing::Ancestors, Some(c)) => format!(
            "created by {}, not the program's own code, and no ancestor stack names the program: run the service with GODEBUG=tracebackancestors=5 (watch then reads the ancestors from the debug=2 dump of its last round)",
            c.function
        ),
        _ => "no creation site in these profiles (only debug=2 dumps have them): watch with --debug2, or run the service with GODEBUG=tracebackancestors=5 to see through library code".into(),
    }
}

/// What `check` says of a report without a leak on too few snapshots: the note, and for a lone
/// snapshot what its census found (a census never passes: passing needs a trend).
pub fn inconclusive_message(doc: &LeakReport, taken: usize, analysed: usize) -> String {
    let note = inconclusive_note(taken, analysed);
    match &doc.census {
        Some(c) if c.has_wait_ages => format!(
            "{note}. The one-dump census lists {} suspect{} from wait ages (steady accumulation), which is not enough to fail or to pass",
            c.suspects,
            if c.suspects == 1 { "" } else { "s" }
        ),
        Some(_) => format!("{note}. The one-dump census has no wait ages in this form and cannot pass"),
        None => note,
    }
}

/// Why a report without a leak is inconclusive.
pub fn inconclusive_note(taken: usize, analysed: usize) -> String {
    let min = crate::analysis::rank::thresholds::LEAK_MIN_SNAPSHOTS;
    let what = if analysed == taken {
        format!("{taken} snapshot{}", if taken == 1 { "" } else { "s" })
    } else {
        format!("{analysed} snapshot{} between restarts (of {taken})", if analysed == 1 { "" } else { "s" })
    };
    let trend = if analysed < 2 { "a trend needs two or more, and " } else { "" };
    format!("inconclusive: {what}; {trend}a leak verdict from growth needs at least {min} in one run, so no leak found does not mean clean. Take more snapshots (--count {min} or more, or a longer --duration)")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A warning when `--label KEY` was given and no sample of these groups carries that label.
pub fn label_warning(table: &StackTable, ids: impl Iterator<Item = GroupId>, key: Option<&str>) -> Option<String> {
    let key = key?;
    let mut ids = ids.peekable();
    ids.peek()?;
    let carried = ids.into_iter().any(|id| table.group(id).label.as_deref().is_some_and(|v| !v.is_empty()));
    (!carried).then(|| {
        format!("no sample carries the label {key}: the groups are the same as without --label (labels come from pprof.Do or pprof.SetGoroutineLabels in the service)")
    })
}

/// The inputs for a report's header: a long list is summarised.
pub fn summarise_inputs(inputs: &[String]) -> String {
    match inputs {
        [first, .., last] if inputs.len() > 3 => format!("{first} … {last} ({} files)", inputs.len()),
        _ => inputs.join(" "),
    }
}

/// The leak report of a series, ranked by `rank`: a `--label` that no sample carries is said.
pub fn series_report(target: &str, series: &Series, heap: &HeapSeries, rank: &RankOptions, max_goroutines: Option<i64>) -> LeakReport {
    let suspects = series.rank(rank);
    let mut doc = leak_report(target, series, heap, &suspects, rank, max_goroutines, &[]);
    doc.errors.extend(label_warning(&series.table, series.snapshots.iter().flat_map(|s| s.groups.keys().copied()), series.table.label_key()));
    doc
}

/// The report of `leakhound diff`.
pub fn diff_report(c: &Compared, label: Option<&str>) -> DiffReport {
    let mut warnings = c.warnings.clone();
    warnings.extend(label_warning(&c.table, c.base.groups.keys().chain(c.new.groups.keys()).copied(), label));
    // Labels distinct among the changes shown, as in the leak report.
    let infos: Vec<&GroupInfo> = c.changes.iter().map(|ch| c.table.group(ch.group)).collect();
    let leaves = distinct_leaves(&infos);
    DiffReport {
        schema: super::DIFF_SCHEMA.into(),
        tool: Tool::default(),
        base: snapshot_doc(&c.base),
        new: snapshot_doc(&c.new),
        sample_type: c.new.sample_type.name.clone(),
        unit: c.new.sample_type.unit.clone(),
        base_total: c.base.total,
        new_total: c.new.total,
        changes: c
            .changes
            .iter()
            .zip(infos.iter().zip(leaves))
            .map(|(ch, (g, l))| ChangeDoc { group: GroupDoc::with_leaf(g, l), base: ch.base, new: ch.new, delta: ch.delta })
            .collect(),
        warnings,
    }
}
