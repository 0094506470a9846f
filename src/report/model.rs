//! The report documents: the serde structs of `../shared/report.schema.json`. Fields may be added;
//! none of the schema's may be renamed or dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::Frame;
use crate::stacks::{Blocking, GroupInfo};

pub const DIFF_SCHEMA: &str = "leakhound.diff/v1";
pub const REPORT_SCHEMA: &str = "leakhound.report/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool { name: "leakhound".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameDoc {
    pub function: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl From<&Frame> for FrameDoc {
    fn from(f: &Frame) -> Self {
        FrameDoc { function: f.function.clone(), file: f.file.clone(), line: f.line }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SnapshotDoc {
    pub index: usize,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// Total goroutines (0 for a heap profile).
    pub goroutines: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_inuse_bytes: Option<i64>,
    /// `goroutine`, `heap`, `goroutineleak`.
    #[serde(default)]
    pub kind: String,
    /// `proto`, `debug=1` or `debug=2`.
    #[serde(default)]
    pub format: String,
    /// Set when the producer cut the profile short (Go stops debug=2 output at 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<TruncationDoc>,
    /// Goroutines of the runtime itself a SIGQUIT or GOTRACEBACK=system dump showed, not counted
    /// in `goroutines` (the goroutine profile does not count them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runtime_goroutines: i64,
    /// Goroutines of the request that fetched this profile (its writer and connection reader),
    /// left out of `goroutines` to compare it with a form that has none alike (a SIGQUIT dump).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub request_goroutines: i64,
    /// Other forms of the same moment (a `debug=2` dump beside this protobuf one) whose facts were
    /// added to this snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruncationDoc {
    pub bytes_read: u64,
    pub goroutines_read: u64,
}

/// What a group is, as every report shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupDoc {
    pub leaf: String,
    pub blocking: Blocking,
    pub stack: Vec<FrameDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<FrameDoc>,
    /// The leaf frame's file and line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_frame: Option<FrameDoc>,
    /// Value of the `--label` key this group was split by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The pprof labels its goroutines carried: each key with the distinct values seen, sorted
    /// (at most `stacks::MAX_GROUP_LABELS` pairs in all).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Vec<String>>,
}

impl From<&GroupInfo> for GroupDoc {
    fn from(g: &GroupInfo) -> Self {
        GroupDoc::with_leaf(g, g.leaf)
    }
}

impl GroupDoc {
    /// The document of a group shown with frame `leaf` as its leaf (see
    /// `analysis::patterns::distinct_leaves`).
    pub fn with_leaf(g: &GroupInfo, leaf: usize) -> Self {
        let leaf_frame = g.frames.get(leaf).unwrap_or_else(|| g.leaf_frame());
        GroupDoc {
            leaf: leaf_frame.function.clone(),
            blocking: g.blocking,
            stack: g.frames.iter().map(FrameDoc::from).collect(),
            created_by: g.created_by.as_ref().map(FrameDoc::from),
            leaf_frame: Some(FrameDoc::from(leaf_frame)),
            label: g.label.clone(),
            labels: labels_by_key(&g.labels),
        }
    }

    /// The labels as one line, `route=/pay,/refund tenant=acme corp` (each format escapes it).
    pub fn labels_line(&self) -> Option<String> {
        if self.labels.is_empty() {
            return None;
        }
        Some(self.labels.iter().map(|(k, vs)| format!("{k}={}", vs.join(","))).collect::<Vec<_>>().join(" "))
    }
}

/// Label pairs as each key with its values (pairs come sorted).
fn labels_by_key(pairs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        let values = out.entry(k.clone()).or_default();
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    out
}

/// The program's own function responsible for a suspect: the one that started its goroutines or
/// called the library that did (`analysis::ancestry`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartedFromDoc {
    pub function: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: i64,
    /// Where it was found: `created by`, `caller on its stack`, or an ancestor's stack.
    pub via: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeDoc {
    #[serde(flatten)]
    pub group: GroupDoc,
    pub base: i64,
    pub new: i64,
    pub delta: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiffReport {
    pub schema: String,
    pub tool: Tool,
    pub base: SnapshotDoc,
    pub new: SnapshotDoc,
    /// The value compared: `goroutine` (count) or a heap sample type such as `inuse_space`.
    pub sample_type: String,
    pub unit: String,
    pub base_total: i64,
    pub new_total: i64,
    pub changes: Vec<ChangeDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl DiffReport {
    /// A diff of goroutines (goroutine or goroutineleak profiles), not of heap allocations.
    pub fn is_goroutine_like(&self) -> bool {
        self.sample_type == "goroutine" || matches!(self.new.kind.as_str(), "goroutine" | "goroutineleak")
    }
}

/// The trend figures behind a verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvidenceDoc {
    pub increase: i64,
    pub tau: f64,
    pub nondecreasing_share: f64,
    pub rising_steps: usize,
    pub jump_share: f64,
    pub drawdown: f64,
    pub step_noise: f64,
    /// Mann–Kendall z of a monotone rise (tie-corrected): the statistic that decides.
    #[serde(default)]
    pub mann_kendall_z: f64,
    /// Jitter of the count around its Theil–Sen line.
    #[serde(default)]
    pub level_noise: f64,
    /// Median of the last third of the counts minus that of the middle third (0 once a warm-up settles).
    #[serde(default)]
    pub late_rise: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuspectDoc {
    pub rank: usize,
    pub verdict: crate::analysis::rank::Verdict,
    pub score: f64,
    #[serde(flatten)]
    pub group: GroupDoc,
    pub pattern: String,
    pub hint: String,
    pub counts: Vec<i64>,
    pub growth_per_minute: f64,
    /// The snapshot (index into `snapshots`) where a stack that had held its level began to grow:
    /// the growth and evidence are of the counts from there on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growing_since_snapshot: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_proven_leaked: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_inuse_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_growth_bytes: Option<i64>,
    /// Longest wait of a goroutine of this stack, from debug=2 dumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_minutes: Option<u64>,
    /// The program's own code responsible for it, when the inputs name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<StartedFromDoc>,
    /// When nothing names that code: what to do so that the next report does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from_missing: Option<String>,
    pub evidence: EvidenceDoc,
}

/// The thresholds a report was judged by.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdsDoc {
    pub min_growth_per_minute: f64,
    pub min_increase: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_goroutines: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakReport {
    pub schema: String,
    pub tool: Tool,
    pub target: String,
    pub snapshots: Vec<SnapshotDoc>,
    /// `leak`, `suspect` or `clean`.
    pub verdict: String,
    /// `leak`, `suspect`, `clean`, or `inconclusive`: no leak, and too few snapshots in the
    /// analysed run for a trend (see `min_snapshots`), so "clean" cannot be said.
    #[serde(default)]
    pub outcome: String,
    /// Snapshots a trend needs (the analysed run must have at least this many for `clean`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_snapshots: Option<usize>,
    pub suspects: Vec<SuspectDoc>,
    #[serde(default)]
    pub errors: Vec<String>,
    /// The snapshots the ranking used (the longest run between restarts), first and last index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysed: Option<[usize; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdsDoc>,
    /// Heap that grows with no goroutine growth (a cache that only grows), by allocation site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heap_growth: Vec<crate::analysis::heap::HeapGrowth>,
    /// Functions several suspects share (from the call graph).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<crate::analysis::callgraph::RootCause>,
    /// Rounds of a watch whose goroutine profile could not be taken (they have no snapshot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_rounds: Vec<FailedRoundDoc>,
    /// When the analysed run is one snapshot: its census (`analysis::census`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub census: Option<Box<CensusDoc>>,
}

/// The census of a lone snapshot: its stacks by count, with their wait ages where the form has
/// them, and the stacks whose ages show steady accumulation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CensusDoc {
    /// What a census is and what it cannot tell, in one sentence.
    pub note: String,
    /// Index of the snapshot counted.
    pub snapshot: usize,
    pub goroutines: i64,
    /// Stack groups in the snapshot (`groups` lists the flagged ones and the largest others).
    pub stacks: usize,
    /// Whether the form carries wait times (debug=2 dumps, SIGQUIT and panic output).
    pub has_wait_ages: bool,
    /// The longest wait in the dump, in minutes: the process is at least this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_wait_minutes: Option<u64>,
    /// Groups listed as `suspect` (steady accumulation) and `leak` (proved by the runtime).
    pub suspects: usize,
    pub leaks: usize,
    pub groups: Vec<CensusGroupDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CensusGroupDoc {
    #[serde(flatten)]
    pub group: GroupDoc,
    pub goroutines: i64,
    /// `leak`, `suspect`, or `listed` (neither: counted only).
    pub status: String,
    pub pattern: String,
    pub hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_proven_leaked: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitAgesDoc>,
    /// Suspects: goroutines a minute, estimated from their ages ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<f64>,
    /// ... over this many minutes (the oldest wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_minutes: Option<u64>,
    /// Groups with ages that are not suspects: why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_suspect_because: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<StartedFromDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from_missing: Option<String>,
}

/// How long a group's goroutines have waited, in whole minutes as Go prints them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WaitAgesDoc {
    pub oldest_minutes: u64,
    pub median_minutes: u64,
    /// Goroutines that waited a minute or more (Go prints no minutes below one).
    pub waited_a_minute: u64,
    /// Goroutines by wait: the first bin is under a minute, the others split one minute to the oldest.
    pub histogram: Vec<AgeBinDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgeBinDoc {
    pub from_minutes: u64,
    pub to_minutes: u64,
    pub goroutines: u64,
}

/// A round that failed: where it fell in the series and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedRoundDoc {
    /// The index the next snapshot got (the failure fell just before it).
    pub before_snapshot: usize,
    pub message: String,
}
