//! One target's rolling window: the per-stack counts of its last snapshots (never the decoded
//! profiles), re-ranked by the same analysis `watch` uses.
//!
//! Every round the window is replayed into a [`Series`] exactly as `watch` pushes its snapshots
//! (failed rounds included, so a restart after an outage is seen the same way), and ranked by
//! [`Series::rank`]: over the same snapshots, `serve` and `watch` give the same verdicts.
//!
//! Memory is bounded three ways: at most `snapshots` snapshots (and as many failed rounds), at
//! most `stack_limit` distinct stacks per snapshot (the largest; the rest still count in the
//! total), and a stack table that forgets the stacks and frames that left the window (see
//! [`StackTable::retain`]) once it has grown to twice what the window holds (or by a slack).

use std::collections::{HashMap, VecDeque};

use crate::analysis::rank::{RankOptions, Suspect};
use crate::analysis::series::Series;
use crate::analysis::Snapshot;
use crate::profile::Profile;
use crate::stacks::{GroupBy, GroupId, StackTable};

/// What a window keeps.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Snapshots kept (`--window`).
    pub snapshots: usize,
    /// Distinct stacks kept per snapshot and in the table after it is trimmed.
    pub stack_limit: usize,
    pub group_by: GroupBy,
    pub label: Option<String>,
}

impl Default for WindowOptions {
    fn default() -> Self {
        WindowOptions { snapshots: 30, stack_limit: DEFAULT_STACK_LIMIT, group_by: GroupBy::Line, label: None }
    }
}

/// Distinct stacks kept per target: far above what services have (hundreds), low enough that a
/// target that makes a new stack per request (`--label` with a request id) cannot grow without end.
pub const DEFAULT_STACK_LIMIT: usize = 5_000;

/// The table is trimmed when it holds twice the stacks the window held after the last trim, or
/// this many more (at most the stack limit): a target whose stacks churn slowly (one new stack a
/// round) keeps at most this many stale ones.
const TABLE_SLACK: usize = 1_024;

/// Likewise for frames: the table is trimmed when it holds twice the frames it kept at the last
/// trim, or this many more.
const FRAME_SLACK: usize = 1_024;

enum Entry {
    Snapshot(Box<Kept>),
    /// A failed round, as `watch` records it: it makes a later fall in goroutines a restart.
    Failure(String),
}

/// A snapshot, and the goroutines the runtime proved leaked at its moment, per group (from a
/// goroutineleak profile), when one was taken.
struct Kept {
    snap: Snapshot,
    proof: Option<HashMap<GroupId, u64>>,
}

/// One target's last snapshots.
pub struct Window {
    opts: WindowOptions,
    table: StackTable,
    entries: VecDeque<Entry>,
    snapshots: usize,
    /// Trim the table once it holds more stacks than this ...
    trim_at: usize,
    /// ... or more frames than this (a profile brings all its frames, also those of stacks that
    /// change from one snapshot to the next, such as goroutines caught running).
    trim_frames_at: usize,
    /// Stacks dropped from snapshots by the stack limit (for the report).
    pub dropped_stacks: u64,
}

impl Window {
    pub fn new(opts: WindowOptions) -> Window {
        let table = StackTable::new(opts.group_by, opts.label.clone());
        let trim_at = TABLE_SLACK.min(opts.stack_limit);
        Window { opts, table, entries: VecDeque::new(), snapshots: 0, trim_at, trim_frames_at: FRAME_SLACK, dropped_stacks: 0 }
    }

    /// Snapshots in the window.
    pub fn len(&self) -> usize {
        self.snapshots
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots == 0
    }

    /// Distinct stacks the window's table holds.
    pub fn stacks(&self) -> usize {
        self.table.len()
    }

    /// Distinct frames the window's table holds.
    pub fn frames(&self) -> usize {
        self.table.frames()
    }

    /// Adds a goroutine profile (grouped at once; the profile itself is not kept, and of its
    /// frames only those its samples use reach the table). `fallback_time_nanos`
    /// is used when the profile has no time of its own. Returns the snapshot's goroutine total.
    pub fn push(&mut self, profile: Profile, source: String, fallback_time_nanos: Option<i64>) -> i64 {
        let profile = used_frames_only(profile);
        let mut snap = Snapshot::from_profile(&mut self.table, &profile, source, 0, 0);
        if snap.time_nanos.is_none() {
            snap.time_nanos = fallback_time_nanos;
        }
        if snap.groups.len() > self.opts.stack_limit {
            // Keep the largest stacks; the total still counts every goroutine.
            let mut by_size: Vec<(i64, GroupId)> = snap.groups.iter().map(|(id, g)| (g.value, *id)).collect();
            by_size.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, id) in &by_size[self.opts.stack_limit..] {
                snap.groups.remove(id);
            }
            self.dropped_stacks += (by_size.len() - self.opts.stack_limit) as u64;
        }
        let total = snap.total;
        self.entries.push_back(Entry::Snapshot(Box::new(Kept { snap, proof: None })));
        self.snapshots += 1;
        self.trim();
        total
    }

    /// Attaches a goroutineleak profile to the last snapshot: the goroutines the runtime proved
    /// leaked, per stack (as `watch` attaches it to its round's snapshot).
    pub fn attach_proof(&mut self, leak_profile: Profile) {
        if !matches!(self.entries.back(), Some(Entry::Snapshot(_))) {
            return;
        }
        let leak_profile = used_frames_only(leak_profile);
        let proof: HashMap<GroupId, u64> = self.table.group_profile(&leak_profile, 0).into_iter().map(|(id, g)| (id, g.value.max(0) as u64)).collect();
        if let Some(Entry::Snapshot(kept)) = self.entries.back_mut() {
            kept.proof = Some(proof);
        }
        self.trim();
    }

    /// Records a failed round.
    pub fn record_failure(&mut self, message: String) {
        self.entries.push_back(Entry::Failure(message));
        self.trim();
    }

    fn trim(&mut self) {
        let max_entries = self.opts.snapshots.saturating_mul(2).max(2);
        while self.snapshots > self.opts.snapshots.max(1) || self.entries.len() > max_entries {
            if let Some(Entry::Snapshot(_)) = self.entries.pop_front() {
                self.snapshots -= 1;
            }
        }
        if self.table.len() > self.trim_at || self.table.frames() > self.trim_frames_at {
            self.trim_table();
        }
    }

    /// Rebuilds the table with only the stacks the window still holds (the largest `stack_limit`
    /// of them, by their largest count, when there are more).
    fn trim_table(&mut self) {
        let mut peak: HashMap<GroupId, i64> = HashMap::new();
        for e in &self.entries {
            if let Entry::Snapshot(k) = e {
                let proven = k.proof.iter().flatten().map(|(id, n)| (id, i64::try_from(*n).unwrap_or(i64::MAX)));
                for (id, v) in k.snap.groups.iter().map(|(id, g)| (id, g.value)).chain(proven) {
                    let p = peak.entry(*id).or_insert(i64::MIN);
                    *p = (*p).max(v);
                }
            }
        }
        let mut keep: Vec<(i64, GroupId)> = peak.into_iter().map(|(id, v)| (v, id)).collect();
        keep.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        if keep.len() > self.opts.stack_limit {
            self.dropped_stacks += (keep.len() - self.opts.stack_limit) as u64;
            keep.truncate(self.opts.stack_limit);
        }
        // In id order, so the new ids keep the old order.
        let mut ids: Vec<GroupId> = keep.into_iter().map(|(_, id)| id).collect();
        ids.sort_unstable();
        let (table, new_id) = self.table.retain(&ids);
        for e in &mut self.entries {
            if let Entry::Snapshot(k) = e {
                k.snap.groups = k.snap.groups.drain().filter_map(|(id, g)| new_id.get(&id).map(|&n| (n, g))).collect();
                if let Some(proof) = k.proof.as_mut() {
                    *proof = proof.drain().filter_map(|(id, n)| new_id.get(&id).map(|&m| (m, n))).collect();
                }
            }
        }
        self.table = table;
        self.trim_at = self.table.len().saturating_mul(2).max(self.table.len() + TABLE_SLACK.min(self.opts.stack_limit));
        self.trim_frames_at = self.table.frames().saturating_mul(2).max(self.table.frames() + FRAME_SLACK);
    }

    /// The window as `watch` would have built it from the same rounds, for `f` to analyse.
    pub fn with_series<R>(&mut self, f: impl FnOnce(&Series) -> R) -> R {
        let mut series = Series::new(self.opts.group_by, self.opts.label.clone());
        std::mem::swap(&mut series.table, &mut self.table);
        for e in &self.entries {
            match e {
                Entry::Snapshot(k) => {
                    let index = series.push_snapshot(k.snap.clone()).index;
                    if let Some(proof) = &k.proof {
                        series.set_proof(index, proof.clone());
                    }
                }
                Entry::Failure(m) => series.record_failure(m.clone()),
            }
        }
        let out = f(&series);
        std::mem::swap(&mut series.table, &mut self.table);
        out
    }

    /// The ranking of the window.
    pub fn rank(&mut self, opts: &RankOptions) -> Vec<Suspect> {
        self.with_series(|s| s.rank(opts))
    }
}

/// The profile with only the frames its samples use (stacks, creation sites, ancestors). A
/// profile may list more (a proxy's or fleetsim's filtered profiles list the whole process's):
/// the window's table would keep them all. A profile with an index out of range is left as it is.
pub fn used_frames_only(mut p: Profile) -> Profile {
    let n = p.frames.len();
    let mut used = vec![u32::MAX; n];
    let mut next = 0u32;
    let mut mark = |i: u32| -> bool {
        match used.get_mut(i as usize) {
            Some(slot) => {
                if *slot == u32::MAX {
                    *slot = next;
                    next += 1;
                }
                true
            }
            None => false,
        }
    };
    for s in &p.samples {
        let facts = s.goroutine.as_ref();
        let all = s.stack.iter().chain(facts.and_then(|g| g.created_by.as_ref())).chain(facts.into_iter().flat_map(|g| g.ancestors.iter().flatten()));
        for &i in all {
            if !mark(i) {
                return p;
            }
        }
    }
    if next as usize == n {
        return p;
    }
    let mut frames = vec![None; next as usize];
    for (old, f) in std::mem::take(&mut p.frames).into_iter().enumerate() {
        if let Some(&new) = used.get(old).filter(|&&u| u != u32::MAX) {
            frames[new as usize] = Some(f);
        }
    }
    p.frames = frames.into_iter().flatten().collect();
    let map = |i: &mut u32| *i = used[*i as usize];
    for s in &mut p.samples {
        s.stack.iter_mut().for_each(map);
        if let Some(g) = s.goroutine.as_mut() {
            g.created_by.iter_mut().for_each(map);
            g.ancestors.iter_mut().flatten().for_each(map);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rank::Verdict;

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

    /// What a ranking says, by stack: frames, verdict, counts, growth.
    fn verdicts(table: &StackTable, suspects: &[Suspect]) -> Vec<(Vec<String>, Verdict, Vec<i64>, i64)> {
        suspects
            .iter()
            .map(|s| {
                let frames = table.group(s.group).frames.iter().map(|f| format!("{} {}:{}", f.function, f.file, f.line)).collect();
                (frames, s.verdict, s.counts.clone(), (s.growth_per_minute * 1000.0).round() as i64)
            })
            .collect()
    }

    /// `watch`'s way: every profile pushed into one series, in order.
    fn watch_verdicts(profiles: &[&Profile]) -> Vec<(Vec<String>, Verdict, Vec<i64>, i64)> {
        let mut series = Series::new(GroupBy::Line, None);
        for (i, p) in profiles.iter().enumerate() {
            series.push(p, format!("round {i}"), None);
        }
        let suspects = series.rank(&RankOptions::default());
        verdicts(&series.table, &suspects)
    }

    fn window_verdicts(w: &mut Window) -> Vec<(Vec<String>, Verdict, Vec<i64>, i64)> {
        w.with_series(|s| verdicts(&s.table, &s.rank(&RankOptions::default())))
    }

    #[test]
    fn a_window_ranks_as_watch_does_over_the_same_snapshots() {
        let profiles = demo_profiles();
        let all: Vec<&Profile> = profiles.iter().collect();
        let mut w = Window::new(WindowOptions { snapshots: 8, ..Default::default() });
        for (i, p) in profiles.iter().enumerate() {
            w.push(p.clone(), format!("round {i}"), None);
        }
        let expected = watch_verdicts(&all);
        assert!(expected.iter().filter(|v| v.1 == Verdict::Leak).count() >= 5, "the demo leaks: {expected:?}");
        assert_eq!(window_verdicts(&mut w), expected);

        // A window of 5 slides: it says what watch says over the last 5.
        let mut w = Window::new(WindowOptions { snapshots: 5, ..Default::default() });
        for (i, p) in profiles.iter().enumerate() {
            w.push(p.clone(), format!("round {i}"), None);
            let from = (i + 1).saturating_sub(5);
            assert_eq!(window_verdicts(&mut w), watch_verdicts(&all[from..=i]), "after round {i}");
        }
        assert_eq!(w.len(), 5);
    }

    #[test]
    fn a_restart_and_an_outage_are_seen_as_watch_sees_them() {
        let profiles = demo_profiles();
        // Rounds 0..5, an outage, then the service from its start again (its time goes back).
        let order = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4];
        let mut w = Window::new(WindowOptions { snapshots: 30, ..Default::default() });
        let mut series = Series::new(GroupBy::Line, None);
        for (n, &i) in order.iter().enumerate() {
            if n == 6 {
                w.record_failure("round 6: connection refused".into());
                series.record_failure("round 6: connection refused".into());
            }
            w.push(profiles[i].clone(), format!("round {n}"), None);
            series.push(&profiles[i], format!("round {n}"), None);
        }
        let expected = verdicts(&series.table, &series.rank(&RankOptions::default()));
        let (restarts, errors) = w.with_series(|s| (s.restarts.clone(), s.errors.clone()));
        assert_eq!(restarts, series.restarts);
        assert_eq!(restarts, vec![6]);
        assert_eq!(errors, series.errors);
        assert_eq!(window_verdicts(&mut w), expected);
    }

    #[test]
    fn the_table_forgets_stacks_that_left_the_window() {
        let profiles = demo_profiles();
        // A stack limit below the ~25 stacks of each snapshot forces trims; the large leaks stay ranked.
        let mut small = Window::new(WindowOptions { snapshots: 8, stack_limit: 20, ..Default::default() });
        let mut big = Window::new(WindowOptions { snapshots: 8, ..Default::default() });
        for round in 0..3 {
            for (i, p) in profiles.iter().enumerate() {
                small.push(p.clone(), format!("round {round}.{i}"), None);
                big.push(p.clone(), format!("round {round}.{i}"), None);
                assert!(small.stacks() <= 2 * 20 + 30, "the table stays bounded: {}", small.stacks());
            }
        }
        let large_leaks = |v: Vec<(Vec<String>, Verdict, Vec<i64>, i64)>| {
            v.into_iter().filter(|s| s.1 == Verdict::Leak && s.2.iter().all(|&n| n >= 2)).map(|s| (s.0, s.2)).collect::<Vec<_>>()
        };
        let b = large_leaks(window_verdicts(&mut big));
        assert!(b.len() >= 9, "{b:?}");
        assert_eq!(large_leaks(window_verdicts(&mut small)), b, "trimming keeps the large stacks and what they show");
        assert!(small.dropped_stacks > 0);
        assert_eq!(big.dropped_stacks, 0);
        // Trimming the table by hand keeps at most the limit.
        small.trim_table();
        assert!(small.stacks() <= 20);
        assert_eq!(large_leaks(window_verdicts(&mut small)), b);
    }

    #[test]
    fn frames_that_come_and_go_do_not_pile_up() {
        let base = demo_profiles().remove(7);
        let used = used_frames_only(base.clone()).frames.len();
        // A profile may list frames no sample uses (a proxy's, fleetsim's filtered profiles list
        // the whole process's): they never reach the table. Simulated on a real profile: 5 new
        // unused frames each round.
        let mut w = Window::new(WindowOptions { snapshots: 8, ..Default::default() });
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
            w.push(p, format!("round {round}"), Some(round * 1_000_000_000));
            assert!(w.frames() <= used, "unused frames kept: {} of {used}", w.frames());
        }
        // A busy service catches goroutines at new lines: new frames that samples do use, in the
        // same stacks when grouped by function. The table is trimmed on its frames as well as its
        // stacks. Simulated by moving the lines of main's frames every round.
        let mut w = Window::new(WindowOptions { snapshots: 8, group_by: GroupBy::Function, ..Default::default() });
        let mut most = 0;
        for round in 0..1000i64 {
            let mut p = base.clone();
            for f in p.frames.iter_mut().filter(|f| f.function.starts_with("main.")) {
                f.line += round;
            }
            w.push(p, format!("round {round}"), Some(round * 1_000_000_000));
            most = most.max(w.frames());
        }
        assert!(most <= 2 * 8 * used + FRAME_SLACK + used, "frames piled up: {most} (a profile uses {used})");
        assert!(w.stacks() < 60, "the same stacks by function: {}", w.stacks());
        assert_eq!(w.len(), 8);
    }

    #[test]
    fn the_runtime_s_proof_counts_as_in_watch() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/source/demo");
        let read = |name: String| crate::profile::decode(&std::fs::read(dir.join(name)).unwrap(), crate::profile::DEFAULT_MAX_PROFILE_BYTES).unwrap();
        // Only the first 3 rounds: too few for a leak from growth, so every leak is the proof's.
        let mut w = Window::new(WindowOptions { snapshots: 3, ..Default::default() });
        let mut series = Series::new(GroupBy::Line, None);
        for i in 0..3 {
            let (g, leak) = (read(format!("{i:03}-goroutine.pb.gz")), read(format!("{i:03}-goroutineleak.pb.gz")));
            series.push(&g, format!("round {i}"), None);
            series.attach_proof(i, &leak);
            w.push(g, format!("round {i}"), None);
            w.attach_proof(leak);
        }
        let proven = |v: &[Suspect]| v.iter().filter(|s| s.gc_proven_leaked.is_some()).count();
        let expected = series.rank(&RankOptions::default());
        assert!(proven(&expected) >= 5, "the demo's leaks are proven");
        let got = w.rank(&RankOptions::default());
        assert_eq!(proven(&got), proven(&expected));
        assert_eq!(window_verdicts(&mut w), verdicts(&series.table, &expected));
        // Trimming keeps the proof with its stacks.
        w.trim_table();
        assert_eq!(window_verdicts(&mut w), verdicts(&series.table, &expected));
    }
}
