//! A series of snapshots of one service, as `watch` takes them or `analyze` reads them: per-group
//! counts only, restarts detected, gaps and failures recorded.

use std::collections::{HashMap, HashSet};

use super::rank::{rank, RankOptions, Suspect};
use super::Snapshot;
use crate::profile::Profile;
use crate::stacks::{GroupBy, GroupId, StackTable};

/// The series and everything learnt while it was taken.
pub struct Series {
    pub table: StackTable,
    pub snapshots: Vec<Snapshot>,
    /// Indexes of snapshots that start a new run of the service (a restart before them).
    pub restarts: Vec<usize>,
    /// Problems that did not stop the series: failed fetches, gaps, restarts.
    pub errors: Vec<String>,
    /// Saved inputs that could not be read or decoded (`check` refuses them, `analyze` warns).
    pub unreadable: Vec<String>,
    /// Per snapshot: goroutines the runtime proved leaked, by group (goroutineleak profile).
    pub proven: Vec<Option<HashMap<GroupId, u64>>>,
    failed_since_last: bool,
    /// Groups that already fell by half from one snapshot to the next since the last restart:
    /// churn, whose next fall says nothing about a restart.
    volatile: HashSet<GroupId>,
    /// Failed rounds: the index the next snapshot gets, and why the round failed.
    pub failures: Vec<(usize, String)>,
}

impl Series {
    pub fn new(group_by: GroupBy, label: Option<String>) -> Self {
        Series {
            table: StackTable::new(group_by, label),
            snapshots: Vec::new(),
            restarts: Vec::new(),
            errors: Vec::new(),
            unreadable: Vec::new(),
            proven: Vec::new(),
            failed_since_last: false,
            volatile: HashSet::new(),
            failures: Vec::new(),
        }
    }

    /// Records a failed round; a later drop in goroutines then counts as a restart.
    pub fn record_failure(&mut self, message: String) {
        self.failed_since_last = true;
        self.failures.push((self.snapshots.len(), message.clone()));
        self.errors.push(message);
    }

    /// Adds a goroutine profile. `fallback_time_nanos` is used when the profile has no time of its own.
    pub fn push(&mut self, profile: &Profile, source: String, fallback_time_nanos: Option<i64>) -> &Snapshot {
        let index = self.snapshots.len();
        let mut snap = Snapshot::from_profile(&mut self.table, profile, source, index, 0);
        if snap.time_nanos.is_none() {
            snap.time_nanos = fallback_time_nanos;
        }
        if let Some(prev) = self.snapshots.last() {
            let before_prev = self.snapshots.len().checked_sub(2).map(|i| &self.snapshots[i]).filter(|_| !self.restarts.contains(&(index - 1)));
            let restarted = restart_between(prev, &snap, self.failed_since_last, before_prev, &self.volatile);
            if restarted.is_some() {
                self.volatile.clear();
            } else {
                self.volatile.extend(prev.groups.iter().filter(|(id, g)| g.value >= 2 && snap.value(**id) * 2 < g.value).map(|(id, _)| *id));
            }
            if let Some(why) = restarted {
                self.restarts.push(index);
                self.errors.push(format!(
                    "the service restarted between snapshot {} and {} ({why}): the series is not mixed across the restart",
                    index - 1,
                    index
                ));
            }
        }
        self.failed_since_last = false;
        self.snapshots.push(snap);
        self.proven.push(None);
        self.snapshots.last().expect("just pushed")
    }

    /// Attaches a goroutineleak profile to snapshot `index`.
    pub fn attach_proof(&mut self, index: usize, leak_profile: &Profile) {
        let groups = self.table.group_profile(leak_profile, 0);
        let proof = groups.into_iter().map(|(id, g)| (id, g.value as u64)).collect();
        if let Some(slot) = self.proven.get_mut(index) {
            *slot = Some(proof);
        }
    }

    /// The runs between restarts, as index ranges.
    pub fn segments(&self) -> Vec<std::ops::Range<usize>> {
        let mut bounds = vec![0];
        bounds.extend(self.restarts.iter().copied());
        bounds.push(self.snapshots.len());
        bounds.windows(2).map(|w| w[0]..w[1]).filter(|r| !r.is_empty()).collect()
    }

    /// The run the ranking uses: the longest one, the later on a tie.
    pub fn analysed_segment(&self) -> std::ops::Range<usize> {
        self.segments().into_iter().rev().max_by_key(|r| r.len()).unwrap_or(0..0)
    }

    /// Minutes since the first snapshot of `range`; snapshots without a time are taken as evenly spaced a minute apart.
    pub fn minutes(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        let snaps = &self.snapshots[range];
        let first = snaps.first().and_then(|s| s.time_nanos);
        let all_timed = snaps.iter().all(|s| s.time_nanos.is_some());
        snaps
            .iter()
            .enumerate()
            .map(|(i, s)| match (all_timed, first, s.time_nanos) {
                (true, Some(f), Some(t)) => t.saturating_sub(f) as f64 / 60e9,
                _ => i as f64,
            })
            .collect()
    }

    /// Ranks the analysed segment.
    pub fn rank(&self, opts: &RankOptions) -> Vec<Suspect> {
        let range = self.analysed_segment();
        let snaps: Vec<&Snapshot> = self.snapshots[range.clone()].iter().collect();
        let minutes = self.minutes(range.clone());
        let proven = self.proven[range].iter().rev().flatten().next().cloned().unwrap_or_default();
        rank(&self.table, &snaps, &minutes, &proven, opts)
    }
}

/// Why `next` looks like a new run of the service, if it does: goroutines fell after the service
/// was unreachable, or many groups lost most of their goroutines at once (a burst that drains
/// empties one group, a restart empties them all). Only groups established before the fall count:
/// not new in `prev` (they had 4 or more in `before_prev` too) and not in `volatile` (fallen by half
/// before in this run). Heavy request churn empties many short-lived groups at once; a restart
/// empties the ones that had been there.
fn restart_between(prev: &Snapshot, next: &Snapshot, failed_between: bool, before_prev: Option<&Snapshot>, volatile: &HashSet<GroupId>) -> Option<String> {
    if let (Some(a), Some(b)) = (prev.time_nanos, next.time_nanos) {
        if b < a {
            return Some("the profile's time went back".into());
        }
    }
    if failed_between && next.total < prev.total {
        return Some(format!("unreachable, then goroutines {} → {}", prev.total, next.total));
    }
    let fallen: i64 = prev.groups.iter().map(|(id, g)| g.value.saturating_sub(next.value(*id)).max(0)).fold(0i64, i64::saturating_add);
    let established = |id: GroupId| !volatile.contains(&id) && before_prev.is_none_or(|b| b.value(id) >= 4);
    let groups_halved = prev.groups.iter().filter(|(id, g)| g.value >= 4 && next.value(**id).saturating_mul(2) < g.value && established(**id)).count();
    if prev.total >= 20 && fallen.saturating_mul(2) > prev.total && groups_halved >= 3 {
        return Some(format!("goroutines {} → {}, {groups_halved} stacks emptied", prev.total, next.total));
    }
    None
}
