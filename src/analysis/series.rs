//! A series of snapshots of one service, as `watch` takes them or `analyze` reads them: per-group
//! counts only, restarts detected, gaps and failures recorded.

use std::collections::{HashMap, HashSet};

use super::heap::{HeapSeries, HeapSnap};
use super::rank::{rank, RankOptions, Suspect};
use super::Snapshot;
use crate::profile::{Format, Profile};
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
    pub(super) failed_since_last: bool,
    /// Groups that already fell by half from one snapshot to the next since the last restart:
    /// churn, whose next fall says nothing about a restart.
    pub(super) volatile: HashSet<GroupId>,
    /// Failed rounds: the index the next snapshot gets, and why the round failed.
    pub failures: Vec<(usize, String)>,
    /// The messages of the restarts found, in `errors` too.
    pub(super) restart_notes: Vec<String>,
    /// A rolling window's bounds and state ([`super::rolling`]); `None`: the series keeps all.
    pub(super) rolling: Option<super::rolling::Rolling>,
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
            restart_notes: Vec::new(),
            rolling: None,
        }
    }

    /// Adds a note unless the series has it already.
    pub fn note_once(&mut self, note: String) {
        if !self.errors.contains(&note) {
            self.errors.push(note);
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
        let mut snap = Snapshot::from_profile(&mut self.table, profile, source, self.snapshots.len(), 0);
        if snap.time_nanos.is_none() {
            snap.time_nanos = fallback_time_nanos;
        }
        self.push_snapshot(snap)
    }

    /// Adds a snapshot already grouped into this series' table (its index is set here).
    pub fn push_snapshot(&mut self, mut snap: Snapshot) -> &Snapshot {
        self.limit_stacks(&mut snap);
        let index = self.snapshots.len();
        snap.index = index;
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
                let note = format!("the service restarted between snapshot {} and {} ({why}): the series is not mixed across the restart", index - 1, index);
                self.restart_notes.push(note.clone());
                self.errors.push(note);
            }
        }
        self.failed_since_last = false;
        self.snapshots.push(snap);
        self.proven.push(None);
        self.snapshots.last().expect("just pushed")
    }

    /// Groups a goroutineleak profile into this series' table: per group, the goroutines proved leaked.
    pub fn proof_of(&mut self, leak_profile: &Profile) -> HashMap<GroupId, u64> {
        let groups = self.table.group_profile(leak_profile, 0);
        groups.into_iter().map(|(id, g)| (id, g.value as u64)).collect()
    }

    /// Sets the proof of snapshot `index`.
    pub fn set_proof(&mut self, index: usize, proof: HashMap<GroupId, u64>) {
        if let Some(slot) = self.proven.get_mut(index) {
            *slot = Some(proof);
        }
    }

    /// Attaches a goroutineleak profile to snapshot `index`.
    pub fn attach_proof(&mut self, index: usize, leak_profile: &Profile) {
        let proof = self.proof_of(leak_profile);
        self.set_proof(index, proof);
    }

    /// Pairs a heap profile with snapshot `index` in `heap` and records its bytes in use there.
    pub fn attach_heap(&mut self, heap: &mut HeapSeries, index: usize, profile: &Profile) {
        let inuse = heap.attach(index, profile);
        if let Some(s) = self.snapshots.get_mut(index) {
            s.heap_inuse_bytes = Some(inuse);
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
    // A restart loses goroutines: when the total held or rose, the goroutines that left those
    // stacks went elsewhere in the same process (a wave of requests moving on, a pool replaced).
    if prev.total >= 20 && next.total < prev.total && fallen.saturating_mul(2) > prev.total && groups_halved >= 3 {
        return Some(format!("goroutines {} → {}, {groups_halved} stacks emptied", prev.total, next.total));
    }
    None
}

/// What one input profile holds, already grouped into the series' table.
pub enum Reading {
    /// A goroutine profile in any form.
    Goroutine(Snapshot),
    Heap(HeapSnap),
    /// A goroutineleak profile: per group, the goroutines the runtime proved leaked.
    Proof(HashMap<GroupId, u64>),
}

/// One input, read, waiting for its place in the series.
pub struct Input {
    pub reading: Reading,
    /// The file read.
    pub source: String,
    /// The profile's own time, else the time its saved folder's index gives.
    pub when: Option<i64>,
    /// Saved folder and round (see [`crate::source::files::InputFile::round`]).
    pub round: Option<(usize, usize)>,
}

/// Two forms of a goroutine profile taken within this much of each other (and nearer to each other
/// than to any other snapshot) are of the same moment.
pub const SAME_MOMENT_NANOS: i64 = 1_000_000_000;

impl Series {
    /// Builds the series from inputs given in any order.
    ///
    /// - Order: by the profiles' own time (protobuf `time_nanos`, else the saved folder's index),
    ///   never by the order given; an input with no time (a loose text dump) keeps its place among
    ///   the others, with a note.
    /// - One moment, many forms: a `debug=2` or `debug=1` goroutine profile of the same moment as
    ///   a protobuf one (the same round of the same saved folder, or times within
    ///   [`SAME_MOMENT_NANOS`] and nearest) adds its facts to that snapshot instead of becoming one.
    /// - Heap and goroutineleak profiles go with the snapshot of their round, else the one nearest
    ///   in time, else the last one before them; one of each per snapshot.
    pub fn assemble(&mut self, heap: &mut HeapSeries, mut inputs: Vec<Input>) {
        // Timed inputs in time order, in the slots timed inputs had; the others stay where they were.
        let slots: Vec<usize> = inputs.iter().enumerate().filter(|(_, i)| i.when.is_some()).map(|(n, _)| n).collect();
        let mut timed: Vec<(usize, Input)> = Vec::with_capacity(slots.len());
        let mut rest: Vec<Option<Input>> = Vec::with_capacity(inputs.len());
        for (n, input) in inputs.drain(..).enumerate() {
            if input.when.is_some() {
                timed.push((n, input));
                rest.push(None);
            } else {
                rest.push(Some(input));
            }
        }
        timed.sort_by_key(|(n, i)| (i.when, *n));
        for (slot, (_, input)) in slots.into_iter().zip(timed) {
            rest[slot] = Some(input);
        }
        let inputs: Vec<Input> = rest.into_iter().flatten().collect();
        let goroutine_inputs = inputs.iter().filter(|i| matches!(i.reading, Reading::Goroutine(_))).count();

        // Which goroutine profiles are snapshots and which join one.
        let is_proto = |i: &Input| matches!(&i.reading, Reading::Goroutine(s) if s.format == Format::Proto);
        let protos: Vec<usize> = (0..inputs.len()).filter(|&n| is_proto(&inputs[n])).collect();
        let mut proto_times: Vec<i64> = protos.iter().filter_map(|&n| inputs[n].when).collect();
        proto_times.sort_unstable();
        let min_gap = proto_times.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|&g| g > 0).min();
        let tolerance = min_gap.map_or(SAME_MOMENT_NANOS, |g| (g / 2).min(SAME_MOMENT_NANOS));
        let joins: Vec<Option<usize>> = inputs
            .iter()
            .map(|i| match &i.reading {
                Reading::Goroutine(s) if s.format != Format::Proto => {
                    let same_round = i.round.and_then(|r| protos.iter().copied().find(|&p| inputs[p].round == Some(r)));
                    same_round.or_else(|| {
                        let t = i.when?;
                        protos
                            .iter()
                            .copied()
                            .filter_map(|p| Some((p, distance(inputs[p].when?, t))))
                            .filter(|&(_, d)| d <= tolerance)
                            .min_by_key(|&(p, d)| (d, p))
                            .map(|(p, _)| p)
                    })
                }
                _ => None,
            })
            .collect();

        // Snapshots, in order; the forms that join them wait until they are all in.
        let mut snapshot_of_input: Vec<Option<usize>> = vec![None; inputs.len()];
        let mut joining = Vec::new();
        let mut others = Vec::new();
        let mut snapshot_rounds = Vec::new();
        let mut timeless = Vec::new();
        for (n, input) in inputs.into_iter().enumerate() {
            match input.reading {
                Reading::Goroutine(snap) if joins[n].is_none() => {
                    if input.when.is_none() && goroutine_inputs > 1 {
                        timeless.push(input.source.clone());
                    }
                    snapshot_of_input[n] = Some(self.snapshots.len());
                    snapshot_rounds.push(input.round);
                    let mut snap = snap;
                    if snap.time_nanos.is_none() {
                        snap.time_nanos = input.when;
                    }
                    self.push_snapshot(snap);
                }
                Reading::Goroutine(snap) => joining.push((joins[n].unwrap_or(0), snap)),
                reading => others.push((n, self.snapshots.len().checked_sub(1), Input { reading, ..input })),
            }
        }
        if !timeless.is_empty() {
            self.errors.push(format!(
                "{} {}: kept in the place given, among the others in time order (save dumps with watch to keep their time)",
                timeless.join(", "),
                if timeless.len() == 1 { "has no time of its own (a text dump)" } else { "have no time of their own (text dumps)" }
            ));
        }
        let mut joined = Vec::new();
        for (p, snap) in joining {
            if let Some(i) = snapshot_of_input[p] {
                self.snapshots[i].enrich_from(&snap);
                joined.push(format!("{} → {i}", snap.source));
            }
        }
        if !joined.is_empty() {
            self.errors.push(format!(
                "{} text dump(s) of the same moment as a protobuf snapshot added their facts (wait minutes, creation sites, leak marks) to it instead of becoming snapshots: {}",
                joined.len(),
                joined.join(", ")
            ));
        }

        // Heap and proof: the best candidate per snapshot (same round, then nearest in time, then read first).
        let mut heap_best: HashMap<usize, (bool, i64, usize)> = HashMap::new();
        let mut proof_best: HashMap<usize, (bool, i64, usize)> = HashMap::new();
        let mut placed = Vec::new();
        for (n, before, input) in &others {
            if self.snapshots.is_empty() {
                break;
            }
            let by_round = input.round.and_then(|r| snapshot_rounds.iter().position(|&sr| sr == Some(r)));
            let by_time = input
                .when
                .and_then(|t| self.snapshots.iter().enumerate().filter_map(|(i, s)| s.time_nanos.map(|st| (i, distance(st, t)))).min_by_key(|&(i, d)| (d, i)));
            let (index, same_round, distance) = match (by_round, by_time) {
                (Some(i), _) => (i, true, input.when.zip(self.snapshots[i].time_nanos).map_or(0, |(a, b)| distance(a, b))),
                (None, Some((i, d))) => (i, false, d),
                (None, None) => (before.unwrap_or(0), false, i64::MAX),
            };
            let rank = (!same_round, distance, *n);
            let best = if matches!(input.reading, Reading::Heap(_)) { &mut heap_best } else { &mut proof_best };
            if best.get(&index).is_none_or(|b| (!b.0, b.1, b.2) > rank) {
                best.insert(index, (same_round, distance, *n));
            }
            placed.push((index, *n));
        }
        let mut left_out = Vec::new();
        for (n, _, input) in others {
            let Some(&(index, _)) = placed.iter().find(|(_, m)| *m == n) else { continue };
            let best = if matches!(input.reading, Reading::Heap(_)) { &heap_best } else { &proof_best };
            if best.get(&index).map(|b| b.2) != Some(n) {
                left_out.push(input.source);
                continue;
            }
            match input.reading {
                Reading::Heap(mut h) => {
                    h.snapshot = index;
                    self.snapshots[index].heap_inuse_bytes = Some(h.inuse_space);
                    heap.snaps.push(h);
                }
                Reading::Proof(p) => self.set_proof(index, p),
                Reading::Goroutine(_) => {}
            }
        }
        if !left_out.is_empty() {
            self.errors.push(format!(
                "left out {} heap or goroutineleak profile(s) of a moment that already has one (the one of the snapshot's own round, else the nearest in time, is used): {}",
                left_out.len(),
                left_out.join(", ")
            ));
        }
    }
}

/// How far apart two times are, in nanoseconds (times come from files: no overflow on odd ones).
fn distance(a: i64, b: i64) -> i64 {
    i64::try_from(a.abs_diff(b)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Format, ProfileKind, SampleType};
    use crate::stacks::GroupStats;

    fn snap(values: &[i64]) -> Snapshot {
        let groups = values.iter().enumerate().filter(|(_, &v)| v > 0).map(|(i, &v)| (GroupId(i as u32), GroupStats::new(v))).collect();
        Snapshot {
            index: 0,
            source: String::new(),
            time_nanos: None,
            kind: ProfileKind::Goroutine,
            format: Format::Proto,
            sample_type: SampleType { name: "goroutine".into(), unit: "count".into() },
            total: values.iter().sum(),
            groups,
            truncated: None,
            heap_inuse_bytes: None,
            runtime_goroutines: 0,
            merged: Vec::new(),
            request_left_out: 0,
        }
    }

    #[test]
    fn a_rising_total_is_not_a_restart() {
        // Issue 22: goroutines 21370 → 36004 while 7 stacks emptied (their goroutines moved on to
        // other stacks of the same process) was called a restart.
        let mut before = vec![3000i64; 7];
        before.extend([370, 0]);
        let mut after = vec![0i64; 7];
        after.extend([370, 35634]);
        let (a, b) = (snap(&before), snap(&after));
        assert_eq!((a.total, b.total), (21370, 36004));
        assert_eq!(restart_between(&a, &b, false, Some(&a), &HashSet::new()), None);
        // The same stacks emptied while the total fell: a restart.
        let mut fell = vec![0i64; 7];
        fell.extend([370, 40]);
        assert!(restart_between(&a, &snap(&fell), false, Some(&a), &HashSet::new()).is_some());
    }
}
