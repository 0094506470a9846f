//! A rolling window is a bounded [`Series`]: `serve` keeps each target's last `--window`
//! snapshots (per-stack counts, never profiles) in a series that forgets its oldest, and ranks it
//! with [`Series::rank`] like any other: over the same snapshots, `serve` and `watch` give the
//! same verdicts.
//!
//! Memory is bounded three ways: at most `snapshots` snapshots (and as many failed rounds, and
//! [`MAX_NOTES`] other notes), at most `stack_limit` distinct stacks per snapshot (the largest;
//! the rest still count in the total), and a stack table that forgets the stacks and frames that
//! left the window (see [`crate::stacks::StackTable::retain`]) once it has grown to twice what the window holds
//! (or by a slack).
//!
//! When the oldest snapshot goes, what was learnt from the snapshots (restarts, churn) is learnt
//! again from those that stay, as if the series had started with them.

use std::collections::{HashMap, HashSet};

use super::heap::HeapSeries;
use super::series::Series;
use super::Snapshot;
use crate::stacks::{GroupBy, GroupId};

/// What a rolling window keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Snapshots kept (`--window`).
    pub snapshots: usize,
    /// Distinct stacks kept per snapshot and in the table after it is trimmed.
    pub stack_limit: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { snapshots: 30, stack_limit: DEFAULT_STACK_LIMIT }
    }
}

/// Distinct stacks kept per target: far above what services have (hundreds), low enough that a
/// target that makes a new stack per request (`--label` with a request id) cannot grow without end.
pub const DEFAULT_STACK_LIMIT: usize = 5_000;

/// Notes kept besides failed rounds and restarts (the goroutineleak or heap profile's failures):
/// the latest.
pub const MAX_NOTES: usize = 8;

/// The table is trimmed when it holds twice the stacks the window held after the last trim, or
/// this many more (at most the stack limit): a target whose stacks churn slowly (one new stack a
/// round) keeps at most this many stale ones.
const TABLE_SLACK: usize = 1_024;

/// Likewise for frames: the table is trimmed when it holds twice the frames it kept at the last
/// trim, or this many more.
pub const FRAME_SLACK: usize = 1_024;

/// A rolling series' bounds and trimming state.
#[derive(Debug, Clone)]
pub struct Rolling {
    bounds: Bounds,
    /// Trim the table once it holds more stacks than this ...
    trim_at: usize,
    /// ... or more frames than this (a profile brings all its frames, also those of stacks that
    /// change from one snapshot to the next, such as goroutines caught running).
    trim_frames_at: usize,
    /// Stacks dropped from snapshots by the stack limit.
    dropped_stacks: u64,
}

impl Series {
    /// An empty rolling window.
    pub fn rolling(group_by: GroupBy, label: Option<String>, bounds: Bounds) -> Series {
        let mut s = Series::new(group_by, label);
        s.rolling = Some(Rolling { bounds, trim_at: TABLE_SLACK.min(bounds.stack_limit), trim_frames_at: FRAME_SLACK, dropped_stacks: 0 });
        s
    }

    pub fn is_rolling(&self) -> bool {
        self.rolling.is_some()
    }

    /// Stacks a rolling window dropped by its stack limit.
    pub fn dropped_stacks(&self) -> u64 {
        self.rolling.as_ref().map_or(0, |r| r.dropped_stacks)
    }

    /// In a rolling window, keeps a snapshot's largest `stack_limit` stacks (its total still
    /// counts every goroutine).
    pub(super) fn limit_stacks(&mut self, snap: &mut Snapshot) {
        let Some(r) = self.rolling.as_mut() else { return };
        let limit = r.bounds.stack_limit;
        if snap.groups.len() <= limit {
            return;
        }
        let mut by_size: Vec<(i64, GroupId)> = snap.groups.iter().map(|(id, g)| (g.value, *id)).collect();
        by_size.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, id) in &by_size[limit..] {
            snap.groups.remove(id);
        }
        r.dropped_stacks += (by_size.len() - limit) as u64;
    }

    /// The end of a round of a rolling window: forgets the oldest snapshots beyond its bounds (and
    /// `heap`'s profiles paired with them), or all before a clear restart of the service (the
    /// window starts afresh with its new run), and trims the table when it has grown. Nothing for a
    /// series that keeps all.
    pub fn roll(&mut self, heap: &mut HeapSeries) {
        let Some(r) = &self.rolling else { return };
        let n = r.bounds.snapshots.max(1);
        let excess = self.snapshots.len().saturating_sub(n);
        let last = self.snapshots.len().saturating_sub(1);
        // A restart the series saw, or a round that failed just before: either may be a new run.
        let after_a_gap = self.restarts.last() == Some(&last) || self.failures.iter().any(|(i, _)| *i == last);
        if last > 0 && after_a_gap && self.clearly_new_run(last) {
            // A new run of the service: the window starts afresh with it, so that what the run
            // that went away did (its suspects) is not reported, nor mixed with the new one.
            self.forget_oldest(last, heap);
            self.errors.push(format!("the service restarted before snapshot {last} of the window: the window starts afresh from it"));
            return;
        }
        let notes_over = self.errors.len() > self.failures.len() + self.restart_notes.len() + MAX_NOTES;
        if excess > 0 || self.failures.len() > n || notes_over {
            self.forget_oldest(excess, heap);
        }
        let Some(r) = &self.rolling else { return };
        if self.table.len() > r.trim_at || self.table.frames() > r.trim_frames_at {
            self.trim_table();
        }
    }

    /// Whether the restart before snapshot `i` is a new process beyond doubt: its time went back,
    /// most goroutines of the snapshot before are gone from their stacks, or the stacks that grew
    /// over the window lost half their goroutines at once (a new process may soon have as many
    /// goroutines as the old one, but its leaks start again from nothing; a leak does not heal by
    /// half over one late round). A dip after one failed fetch (a timeout of a busy service) stays
    /// a restart the ranking steps over, as in `watch`, and does not wipe the window.
    fn clearly_new_run(&self, i: usize) -> bool {
        let (first, prev, next) = (&self.snapshots[0], &self.snapshots[i - 1], &self.snapshots[i]);
        let went_back = matches!((prev.time_nanos, next.time_nanos), (Some(a), Some(b)) if b < a);
        let fallen: i64 = prev.groups.iter().map(|(id, g)| g.value.saturating_sub(next.value(*id)).max(0)).fold(0i64, i64::saturating_add);
        let grown = prev.groups.iter().filter(|(id, g)| g.value >= first.value(**id).saturating_add(3));
        let (was, is) = grown.fold((0i64, 0i64), |(w, n), (id, g)| (w.saturating_add(g.value), n.saturating_add(next.value(*id))));
        went_back || fallen.saturating_mul(2) > prev.total || (was >= 6 && is.saturating_mul(2) < was)
    }

    /// Forgets the `d` oldest snapshots, and failed rounds and notes beyond the bounds; what was
    /// learnt from the snapshots is learnt again from those that stay.
    fn forget_oldest(&mut self, d: usize, heap: &mut HeapSeries) {
        let n = self.rolling.as_ref().map_or(usize::MAX, |r| r.bounds.snapshots.max(1));
        let old_failures = std::mem::take(&mut self.failures);
        let restart_notes: HashSet<String> = std::mem::take(&mut self.restart_notes).into_iter().collect();
        let failure_notes: HashSet<&str> = old_failures.iter().map(|(_, m)| m.as_str()).collect();
        let mut others: Vec<String> =
            std::mem::take(&mut self.errors).into_iter().filter(|e| !failure_notes.contains(e.as_str()) && !restart_notes.contains(e)).collect();
        others.drain(..others.len().saturating_sub(MAX_NOTES));
        let mut failures: Vec<(usize, String)> = old_failures.into_iter().filter(|(i, _)| *i >= d).map(|(i, m)| (i - d, m)).collect();
        failures.drain(..failures.len().saturating_sub(n));
        let snapshots: Vec<Snapshot> = std::mem::take(&mut self.snapshots).into_iter().skip(d).collect();
        let proven: Vec<_> = std::mem::take(&mut self.proven).into_iter().skip(d).collect();
        heap.snaps.retain(|h| h.snapshot >= d);
        for h in &mut heap.snaps {
            h.snapshot -= d;
        }
        self.restarts.clear();
        self.volatile.clear();
        self.failed_since_last = false;
        let mut failures = failures.into_iter().peekable();
        for (i, (snap, proof)) in snapshots.into_iter().zip(proven).enumerate() {
            while let Some((_, m)) = failures.next_if(|(k, _)| *k <= i) {
                self.record_failure(m);
            }
            self.push_snapshot(snap);
            if let Some(p) = proof {
                self.set_proof(i, p);
            }
        }
        for (_, m) in failures {
            self.record_failure(m);
        }
        self.errors.extend(others);
    }

    /// Rebuilds the table with only the stacks the window still holds (the largest `stack_limit`
    /// of them, by their largest count, when there are more).
    pub fn trim_table(&mut self) {
        let Some(limit) = self.rolling.as_ref().map(|r| r.bounds.stack_limit) else { return };
        let mut peak: HashMap<GroupId, i64> = HashMap::new();
        for (snap, proof) in self.snapshots.iter().zip(&self.proven) {
            let proven = proof.iter().flatten().map(|(id, n)| (id, i64::try_from(*n).unwrap_or(i64::MAX)));
            for (id, v) in snap.groups.iter().map(|(id, g)| (id, g.value)).chain(proven) {
                let p = peak.entry(*id).or_insert(i64::MIN);
                *p = (*p).max(v);
            }
        }
        let mut keep: Vec<(i64, GroupId)> = peak.into_iter().map(|(id, v)| (v, id)).collect();
        keep.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut dropped = 0;
        if keep.len() > limit {
            dropped = (keep.len() - limit) as u64;
            keep.truncate(limit);
        }
        // In id order, so the new ids keep the old order.
        let mut ids: Vec<GroupId> = keep.into_iter().map(|(_, id)| id).collect();
        ids.sort_unstable();
        let (table, new_id) = self.table.retain(&ids);
        for snap in &mut self.snapshots {
            snap.groups = snap.groups.drain().filter_map(|(id, g)| new_id.get(&id).map(|&n| (n, g))).collect();
        }
        for proof in self.proven.iter_mut().flatten() {
            *proof = proof.drain().filter_map(|(id, n)| new_id.get(&id).map(|&m| (m, n))).collect();
        }
        self.volatile = self.volatile.iter().filter_map(|id| new_id.get(id).copied()).collect();
        self.table = table;
        let (stacks, frames) = (self.table.len(), self.table.frames());
        if let Some(r) = self.rolling.as_mut() {
            r.dropped_stacks += dropped;
            r.trim_at = stacks.saturating_mul(2).max(stacks + TABLE_SLACK.min(limit));
            r.trim_frames_at = frames.saturating_mul(2).max(frames + FRAME_SLACK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rank::{RankOptions, Suspect, Verdict};
    use crate::profile::Profile;
    use crate::stacks::StackTable;

    /// The bundled demo's goroutine profiles: 8 rounds captured from the project's leaking Go service.
    fn demo_profiles() -> Vec<Profile> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo");
        (0..8)
            .map(|i| {
                let bytes = std::fs::read(dir.join(format!("{i:03}-goroutine.pb.gz"))).expect("demo profile");
                crate::profile::decode(&bytes, crate::profile::DEFAULT_MAX_PROFILE_BYTES).expect("decodes")
            })
            .collect()
    }

    type Verdicts = Vec<(Vec<String>, Verdict, Vec<i64>, i64)>;

    /// What a ranking says, by stack: frames, verdict, counts, growth.
    fn verdicts(table: &StackTable, suspects: &[Suspect]) -> Verdicts {
        suspects
            .iter()
            .map(|s| {
                let frames = table.group(s.group).frames.iter().map(|f| format!("{} {}:{}", f.function, f.file, f.line)).collect();
                (frames, s.verdict, s.counts.clone(), (s.growth_per_minute * 1000.0).round() as i64)
            })
            .collect()
    }

    /// `watch`'s way: every profile pushed into one series, in order.
    fn watch_verdicts(profiles: &[&Profile]) -> Verdicts {
        let mut series = Series::new(GroupBy::Line, None);
        for (i, p) in profiles.iter().enumerate() {
            series.push(p, format!("round {i}"), None);
        }
        verdicts(&series.table, &series.rank(&RankOptions::default()))
    }

    fn window(snapshots: usize, stack_limit: usize, group_by: GroupBy) -> (Series, HeapSeries) {
        (Series::rolling(group_by, None, Bounds { snapshots, stack_limit }), HeapSeries::default())
    }

    /// A round as the sampler takes it: the profile's used frames grouped, then the window rolls.
    fn push(w: &mut (Series, HeapSeries), p: &Profile, source: String, time: Option<i64>) {
        w.0.push(&p.clone().with_used_frames_only(), source, time);
        w.0.roll(&mut w.1);
    }

    fn window_verdicts(w: &(Series, HeapSeries)) -> Verdicts {
        verdicts(&w.0.table, &w.0.rank(&RankOptions::default()))
    }

    #[test]
    fn a_window_ranks_as_watch_does_over_the_same_snapshots() {
        let profiles = demo_profiles();
        let all: Vec<&Profile> = profiles.iter().collect();
        let mut w = window(8, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for (i, p) in profiles.iter().enumerate() {
            push(&mut w, p, format!("round {i}"), None);
        }
        let expected = watch_verdicts(&all);
        assert!(expected.iter().filter(|v| v.1 == Verdict::Leak).count() >= 5, "the demo leaks: {expected:?}");
        assert_eq!(window_verdicts(&w), expected);

        // A window of 5 slides: it says what watch says over the last 5.
        let mut w = window(5, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for (i, p) in profiles.iter().enumerate() {
            push(&mut w, p, format!("round {i}"), None);
            let from = (i + 1).saturating_sub(5);
            assert_eq!(window_verdicts(&w), watch_verdicts(&all[from..=i]), "after round {i}");
        }
        assert_eq!(w.0.snapshots.len(), 5);
    }

    /// The demo's profile `i` as if taken at round `n`, 2 s apart (a round repeated holds its level).
    fn at_round(profiles: &[Profile], i: usize, n: usize) -> Profile {
        let mut p = profiles[i].clone();
        p.time_nanos = Some(1_800_000_000_000_000_000 + n as i64 * 2_000_000_000);
        p
    }

    #[test]
    fn a_leak_that_starts_late_in_the_window_is_listed_as_in_watch() {
        // 14 rounds at the demo's first level, then its 7 rounds of growth (issue 22: a stack that
        // starts growing at any point of the window and keeps growing is listed).
        let profiles = demo_profiles();
        let order: Vec<usize> = std::iter::repeat_n(0, 14).chain(1..8).collect();
        let rounds: Vec<Profile> = order.iter().enumerate().map(|(n, &i)| at_round(&profiles, i, n)).collect();
        let mut w = window(30, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for (n, p) in rounds.iter().enumerate() {
            push(&mut w, p, format!("round {n}"), None);
        }
        let suspects = w.0.rank(&RankOptions::default());
        let late: Vec<&Suspect> = suspects.iter().filter(|s| s.verdict == Verdict::Leak && (10..=14).contains(&s.since)).collect();
        assert!(
            late.len() >= 5,
            "the demo's leaks, growing since round 14: {:?}",
            suspects.iter().map(|s| (s.verdict, s.since, &s.counts)).collect::<Vec<_>>()
        );
        let all: Vec<&Profile> = rounds.iter().collect();
        assert_eq!(window_verdicts(&w), watch_verdicts(&all));
    }

    #[test]
    fn two_rounds_make_no_suspect_from_growth() {
        // Two snapshots are a difference, not a trend (issue 22): serve exported one in its second
        // round. The third round can.
        let profiles = demo_profiles();
        let mut w = window(30, DEFAULT_STACK_LIMIT, GroupBy::Line);
        push(&mut w, &profiles[0], "round 0".into(), None);
        push(&mut w, &profiles[4], "round 1".into(), None);
        assert_eq!(window_verdicts(&w), Vec::new(), "two rounds listed suspects");
        push(&mut w, &profiles[7], "round 2".into(), None);
        assert!(!window_verdicts(&w).is_empty());
    }

    #[test]
    fn after_an_outage_and_a_restart_the_window_starts_afresh() {
        let profiles = demo_profiles();
        // Rounds 0..5, an outage, then the service from its start again (fewer goroutines).
        let order = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4];
        let mut w = window(30, DEFAULT_STACK_LIMIT, GroupBy::Line);
        let mut series = Series::new(GroupBy::Line, None);
        for (n, &i) in order.iter().enumerate() {
            if n == 6 {
                w.0.record_failure("round 6: connection refused".into());
                w.0.roll(&mut w.1);
                series.record_failure("round 6: connection refused".into());
            }
            push(&mut w, &profiles[i], format!("round {n}"), None);
            series.push(&profiles[i], format!("round {n}"), None);
        }
        // watch keeps both runs and ranks the longer one, the run that went away; the window
        // holds the new run alone, with the failed round before it.
        assert_eq!(series.restarts, vec![6]);
        assert!(w.0.restarts.is_empty());
        assert_eq!(w.0.snapshots.len(), 5);
        assert_eq!(w.0.failures, vec![(0, "round 6: connection refused".to_string())]);
        assert!(w.0.errors.iter().any(|e| e.contains("starts afresh")), "{:?}", w.0.errors);
        let new_run: Vec<&Profile> = order[6..].iter().map(|&i| &profiles[i]).collect();
        assert_eq!(window_verdicts(&w), watch_verdicts(&new_run));
    }

    #[test]
    fn a_dip_after_one_failed_round_does_not_wipe_the_window() {
        let profiles = demo_profiles();
        let mut w = window(30, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for (i, p) in profiles.iter().enumerate() {
            push(&mut w, p, format!("round {i}"), None);
        }
        // A timeout, then the service a little smaller than before (as a busy one may be).
        w.0.record_failure("round 8: timed out".into());
        let (t6, t7) = (w.0.snapshots[6].total, w.0.snapshots[7].total);
        assert!(t6 < t7 && t6 * 2 > t7, "the demo's last two rounds: {t6}, {t7}");
        let mut smaller = profiles[6].clone();
        smaller.time_nanos = None; // the same process: its time does not go back
        push(&mut w, &smaller, "round 9".into(), None);
        assert_eq!(w.0.snapshots.len(), 9, "the window was wiped by a dip");
        assert_eq!(w.0.restarts, vec![8], "still a restart the ranking steps over, as in watch");
    }

    #[test]
    fn the_table_forgets_stacks_that_left_the_window() {
        let profiles = demo_profiles();
        // A stack limit below the ~25 stacks of each snapshot forces trims; the large leaks stay ranked.
        let mut small = window(8, 20, GroupBy::Line);
        let mut big = window(8, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for round in 0..3 {
            for (i, p) in profiles.iter().enumerate() {
                push(&mut small, p, format!("round {round}.{i}"), None);
                push(&mut big, p, format!("round {round}.{i}"), None);
                assert!(small.0.table.len() <= 2 * 20 + 30, "the table stays bounded: {}", small.0.table.len());
            }
        }
        let large_leaks = |v: Verdicts| v.into_iter().filter(|s| s.1 == Verdict::Leak && s.2.iter().all(|&n| n >= 2)).map(|s| (s.0, s.2)).collect::<Vec<_>>();
        let b = large_leaks(window_verdicts(&big));
        assert!(b.len() >= 9, "{b:?}");
        assert_eq!(large_leaks(window_verdicts(&small)), b, "trimming keeps the large stacks and what they show");
        assert!(small.0.dropped_stacks() > 0);
        assert_eq!(big.0.dropped_stacks(), 0);
        // Trimming the table by hand keeps at most the limit.
        small.0.trim_table();
        assert!(small.0.table.len() <= 20);
        assert_eq!(large_leaks(window_verdicts(&small)), b);
    }

    #[test]
    fn frames_that_come_and_go_do_not_pile_up() {
        let base = demo_profiles().remove(7);
        let used = base.clone().with_used_frames_only().frames.len();
        // A profile may list frames no sample uses (a proxy's, fleetsim's filtered profiles list
        // the whole process's): they never reach the table. Simulated on a real profile: 5 new
        // unused frames each round.
        let mut w = window(8, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for round in 0..200i64 {
            let mut p = base.clone();
            for k in 0..5 {
                p.frames.push(crate::profile::Frame {
                    function: format!("main.elsewhere{round}_{k}"),
                    file: "main.go".into(),
                    line: round,
                    address: 0,
                    start_line: 0,
                });
            }
            push(&mut w, &p, format!("round {round}"), Some(round * 1_000_000_000));
            assert!(w.0.table.frames() <= used, "unused frames kept: {} of {used}", w.0.table.frames());
        }
        // A busy service catches goroutines at new lines: new frames that samples do use, in the
        // same stacks when grouped by function. The table is trimmed on its frames as well as its
        // stacks. Simulated by moving the lines of main's frames every round.
        let mut w = window(8, DEFAULT_STACK_LIMIT, GroupBy::Function);
        let mut most = 0;
        for round in 0..1000i64 {
            let mut p = base.clone();
            for f in p.frames.iter_mut().filter(|f| f.function.starts_with("main.")) {
                f.line += round;
            }
            push(&mut w, &p, format!("round {round}"), Some(round * 1_000_000_000));
            most = most.max(w.0.table.frames());
        }
        assert!(most <= 2 * 8 * used + FRAME_SLACK + used, "frames piled up: {most} (a profile uses {used})");
        assert!(w.0.table.len() < 60, "the same stacks by function: {}", w.0.table.len());
        assert_eq!(w.0.snapshots.len(), 8);
    }

    #[test]
    fn notes_and_failures_stay_bounded() {
        let profiles = demo_profiles();
        let mut w = window(4, DEFAULT_STACK_LIMIT, GroupBy::Line);
        for round in 0..100 {
            w.0.errors.push(format!("round {round}: the heap profile failed"));
            if round % 3 == 0 {
                w.0.record_failure(format!("round {round}: timed out"));
            }
            push(&mut w, &profiles[7], format!("round {round}"), None);
        }
        assert_eq!(w.0.snapshots.len(), 4);
        assert!(w.0.failures.len() <= 4, "{:?}", w.0.failures);
        assert!(w.0.errors.len() <= 4 + MAX_NOTES + 4, "{:?}", w.0.errors);
        assert!(w.0.errors.iter().any(|e| e == "round 99: the heap profile failed"), "the latest notes stay");
    }

    #[test]
    fn the_runtime_s_proof_counts_as_in_watch() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo");
        let read = |name: String| crate::profile::decode(&std::fs::read(dir.join(name)).unwrap(), crate::profile::DEFAULT_MAX_PROFILE_BYTES).unwrap();
        // Only the first 3 rounds: too few for a leak from growth, so every leak is the proof's.
        let mut w = window(3, DEFAULT_STACK_LIMIT, GroupBy::Line);
        let mut series = Series::new(GroupBy::Line, None);
        for i in 0..3 {
            let (g, leak) = (read(format!("{i:03}-goroutine.pb.gz")), read(format!("{i:03}-goroutineleak.pb.gz")));
            series.push(&g, format!("round {i}"), None);
            series.attach_proof(i, &leak);
            w.0.push(&g.with_used_frames_only(), format!("round {i}"), None);
            w.0.attach_proof(i, &leak.with_used_frames_only());
            w.0.roll(&mut w.1);
        }
        let proven = |v: &[Suspect]| v.iter().filter(|s| s.gc_proven_leaked.is_some()).count();
        let expected = series.rank(&RankOptions::default());
        assert!(proven(&expected) >= 5, "the demo's leaks are proven");
        assert_eq!(proven(&w.0.rank(&RankOptions::default())), proven(&expected));
        assert_eq!(window_verdicts(&w), verdicts(&series.table, &expected));
        // Trimming keeps the proof with its stacks.
        w.0.trim_table();
        assert_eq!(window_verdicts(&w), verdicts(&series.table, &expected));
    }
}
