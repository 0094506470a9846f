//! The difference between two snapshots, group by group.

use std::collections::BTreeSet;
use std::path::Path;

use super::Snapshot;
use crate::error::{Error, Result};
use crate::profile::{Profile, ProfileKind};
use crate::source::files::read_profile;
use crate::stacks::{GroupBy, GroupId, StackTable};

#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Keep only the first N changes (after sorting).
    pub top: Option<usize>,
    /// Keep only changes whose absolute delta is at least this.
    pub min_delta: i64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { top: None, min_delta: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub group: GroupId,
    pub base: i64,
    pub new: i64,
    pub delta: i64,
}

/// Groups whose value changed, largest increase first; ties in a stable order of their frames.
pub fn diff(table: &StackTable, base: &Snapshot, new: &Snapshot, opts: &DiffOptions) -> Vec<Change> {
    let ids: BTreeSet<GroupId> = base.groups.keys().chain(new.groups.keys()).copied().collect();
    let mut changes: Vec<Change> = ids
        .into_iter()
        .filter_map(|group| {
            let (b, n) = (base.value(group), new.value(group));
            let delta = n.saturating_sub(b);
            (delta != 0 && delta.unsigned_abs() >= opts.min_delta.max(1).unsigned_abs()).then_some(Change { group, base: b, new: n, delta })
        })
        .collect();
    changes.sort_by(|a, b| b.delta.cmp(&a.delta).then_with(|| table.group(a.group).sort_key.cmp(&table.group(b.group).sort_key)));
    if let Some(top) = opts.top {
        changes.truncate(top);
    }
    changes
}

/// Two snapshots grouped into one table, compared: what `leakhound diff` reports.
pub struct Compared {
    pub table: StackTable,
    pub base: Snapshot,
    pub new: Snapshot,
    pub changes: Vec<Change>,
    /// Truncated inputs, forms made comparable, a `--min-delta` that hides every change.
    pub warnings: Vec<String>,
}

/// What `diff` is told: how to group, and what to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub group_by: GroupBy,
    pub label: Option<String>,
    pub max_profile_bytes: u64,
    /// The heap sample type compared (ignored for goroutine profiles).
    pub sample_type: String,
    pub diff: DiffOptions,
}

/// Reads two saved profiles and compares them. NEW is read on a second core while BASE is read
/// and grouped; the errors still come in the same order (BASE's reading, NEW's, the kinds, the
/// sample types).
pub fn compare_files(base_path: &Path, new_path: &Path, opts: &CompareOptions) -> Result<Compared> {
    let mut table = StackTable::new(opts.group_by, opts.label.clone());
    let (base, base_kind, new_p) = std::thread::scope(|scope| {
        let new = scope.spawn(|| read_profile(new_path, opts.max_profile_bytes));
        let grouped = read_profile(base_path, opts.max_profile_bytes).map(|base_p| {
            let base = value_index(&base_p, base_path, &opts.sample_type)
                .map(|bi| Snapshot::from_profile(&mut table, &base_p, base_path.display().to_string(), 0, bi));
            // Freed, not left to the exit: NEW's grouping reuses its memory (fewer fresh pages).
            (base, base_p.kind)
        });
        let new_p = new.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        grouped.map(|(base, kind)| (base, kind, new_p))
    })?;
    let new_p = new_p?;
    comparable_kinds(&base_kind, base_path, &new_p.kind, new_path)?;
    let mut base = base?;
    let ni = value_index(&new_p, new_path, &opts.sample_type)?;
    let mut new = Snapshot::from_profile(&mut table, &new_p, new_path.display().to_string(), 1, ni);
    // The process exits soon after: its memory goes back at once (see `leave_to_exit`).
    leave_to_exit(new_p);
    let mut warnings: Vec<String> = [base.truncation_warning(), new.truncation_warning()].into_iter().flatten().collect();
    warnings.extend(comparable_forms(&table, &mut base, &mut new));
    let changes = diff(&table, &base, &new, &opts.diff);
    if changes.is_empty() && opts.diff.min_delta > 1 {
        let all = diff(&table, &base, &new, &DiffOptions { top: None, min_delta: 1 });
        if let Some(largest) = all.iter().map(|c| c.delta.unsigned_abs()).max() {
            warnings.push(format!(
                "--min-delta {} hides every change: {} stack group(s) changed, the largest by {largest}; lower --min-delta to see them",
                opts.diff.min_delta,
                all.len()
            ));
        }
    }
    Ok(Compared { table, base, new, changes, warnings })
}

/// Refuses two profiles `diff` cannot compare: a goroutine and a heap profile, or all goroutines
/// and only the leaked ones.
fn comparable_kinds(bk: &ProfileKind, base: &Path, nk: &ProfileKind, new: &Path) -> Result<()> {
    if bk.is_goroutine_like() != nk.is_goroutine_like() || (*bk == ProfileKind::Heap) != (*nk == ProfileKind::Heap) {
        return Err(Error::Input(format!(
            "{} is a {} profile but {} is a {} profile: diff compares two goroutine profiles or two heap profiles",
            base.display(),
            bk.name(),
            new.display(),
            nk.name()
        )));
    }
    if bk.is_goroutine_like() && bk != nk {
        return Err(Error::Input(format!(
            "{} is a {} profile but {} is a {} profile: a goroutineleak profile holds only the goroutines the runtime proved leaked, so against all goroutines every other stack would look gone. Diff two goroutine profiles, or two goroutineleak profiles",
            base.display(),
            bk.name(),
            new.display(),
            nk.name()
        )));
    }
    Ok(())
}

/// The value column to compare: the goroutine count, or the chosen heap sample type.
fn value_index(p: &Profile, path: &Path, sample_type: &str) -> Result<usize> {
    match &p.kind {
        ProfileKind::Goroutine | ProfileKind::GoroutineLeak => Ok(0),
        ProfileKind::Heap => p.sample_type_index(sample_type).ok_or_else(|| {
            let names: Vec<&str> = p.sample_types.iter().map(|t| t.name.as_str()).collect();
            Error::Input(format!("{}: no sample type {sample_type:?}; this heap profile has {}", path.display(), names.join(", ")))
        }),
        ProfileKind::Other(types) => Err(Error::Input(format!(
            "{}: a profile of {types}, not a goroutine or heap profile; fetch /debug/pprof/goroutine or /debug/pprof/heap",
            path.display()
        ))),
    }
}

/// Makes two goroutine snapshots of different forms comparable: a served profile holds the
/// goroutines of the request that fetched it, which a SIGQUIT or panic dump does not, so when only
/// one side has them, or the forms differ (the writer's stack differs by form), they are left out
/// (each snapshot's `request_goroutines` says how many). Warns when NEW is older than BASE.
fn comparable_forms(table: &StackTable, base: &mut Snapshot, new: &mut Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    if !base.kind.is_goroutine_like() {
        return notes;
    }
    if let (Some(b), Some(n)) = (base.time_nanos, new.time_nanos) {
        if n < b {
            notes.push(format!("{} was taken before {}: the changes read from the newer to the older", new.source, base.source));
        }
    }
    // The writer's own stack differs from form to form, and a dump taken without a request has
    // none; the snapshots say how many they left out (and the runtime's own goroutines).
    let (rb, rn) = (base.request_goroutines(table), new.request_goroutines(table));
    if (rb > 0) != (rn > 0) || (base.format != new.format && rb + rn > 0) {
        base.leave_out_request_goroutines(table);
        new.leave_out_request_goroutines(table);
    }
    notes
}

/// What a one-shot command no longer needs when the process exits soon after: the exit hands all
/// its memory back at once, so it is not freed first one allocation at a time (a profile's
/// samples, the groups' frames and the report's strings are 10^4 to 10^5 of them: 1.5 ms of a
/// 15 ms `diff`). For the commands the binary runs once, never in a loop.
pub fn leave_to_exit<T>(built: T) {
    std::mem::forget(built);
}
