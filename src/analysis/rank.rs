//! Turns each group's trend into a verdict (`leak`, `suspect`, or not listed), a score, a named
//! pattern and a hint on how such leaks are fixed.

use std::collections::HashMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::trend::{change_point, trend, Trend};
use super::Snapshot;
use crate::stacks::{GroupId, StackTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Leak,
    Suspect,
}

impl Verdict {
    /// The verdict's name, as every report and `/metrics` write it (and the schema's enum).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::Suspect => "suspect",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RankOptions {
    /// Groups with a frame matching any of these are dropped.
    pub ignore: Vec<Regex>,
    pub min_growth_per_minute: f64,
    pub min_increase: i64,
    pub top: Option<usize>,
}

impl Default for RankOptions {
    fn default() -> Self {
        RankOptions { ignore: Vec::new(), min_growth_per_minute: 0.0, min_increase: 3, top: None }
    }
}

/// Thresholds of the verdicts (documented in the README).
pub mod thresholds {
    /// Leak (from growth): at least this many snapshots in the analysed run. Fewer show a
    /// difference, not a trend, so a clean result on fewer is inconclusive.
    pub const LEAK_MIN_SNAPSHOTS: usize = 4;
    /// Suspect (from growth): at least this many. Two show a difference (see `diff`), not a trend;
    /// only the runtime's proof (or the one-dump census) makes a suspect of fewer.
    pub const MIN_SNAPSHOTS: usize = 3;
    /// Leak: the Mann–Kendall z of a monotone rise at least this (a rise this consistent comes by
    /// chance in about 1 series of 700) ...
    pub const LEAK_Z: f64 = 3.0;
    /// ... or, on short series that cannot reach it, this share of the z of a perfectly rising
    /// series of the same length.
    pub const LEAK_Z_SHARE_OF_PERFECT: f64 = 0.75;
    /// Suspect: Mann–Kendall z at least this (1 series in 40 by chance) or this share of perfect.
    pub const SUSPECT_Z: f64 = 2.0;
    pub const SUSPECT_Z_SHARE_OF_PERFECT: f64 = 0.5;
    /// Leak: Kendall's tau at least this (later snapshots consistently larger).
    pub const LEAK_TAU: f64 = 0.6;
    /// Leak: at least this share of steps did not go down.
    pub const LEAK_NONDECREASING: f64 = 0.7;
    /// Leak: the growth came in at least this many steps ...
    pub const LEAK_RISING_STEPS: usize = 3;
    /// ... and no single step brought more than this share of it.
    pub const LEAK_MAX_JUMP_SHARE: f64 = 0.6;
    /// Leak: fell back at most this share from its maximum.
    pub const LEAK_MAX_DRAWDOWN: f64 = 0.1;
    /// Suspect: tau at least this.
    pub const SUSPECT_TAU: f64 = 0.3;
    /// Suspect: fell back at most this share from its maximum.
    pub const SUSPECT_MAX_DRAWDOWN: f64 = 0.25;
    /// The rise (last minus first, and the Theil–Sen line's) must be at least this many times the
    /// level's own jitter around the line.
    pub const LEVEL_NOISE_FACTOR: f64 = 3.0;
    /// The increase must also stand this many step-noise units (× √steps, at most × 3) above the
    /// step-to-step jitter, as a random walk would drift.
    pub const NOISE_FACTOR: f64 = 2.0;
    /// Still growing: the last third's median above the middle third's by at least this share of
    /// the rise from the first third (a warm-up that has settled is flat in its last third).
    pub const LATE_RISE_SHARE: f64 = 0.2;
    /// Growth that began late in the run: judged on the values from the change of slope on (see
    /// [`crate::analysis::trend::change_point`]), when there are at least this many of them ...
    pub const LATE_MIN_SNAPSHOTS: usize = 6;
    /// ... and the run has at least this many in all (shorter runs are judged whole).
    pub const LATE_MIN_RUN: usize = 10;
    /// ... and the last value stands above everything before the change by at least this share
    /// of the growth (a sawtooth's next tooth reaches no higher than the one before).
    pub const LATE_NEW_HIGH_SHARE: f64 = 0.5;
}

/// One listed stack group.
#[derive(Debug, Clone)]
pub struct Suspect {
    pub group: GroupId,
    pub verdict: Verdict,
    pub score: f64,
    pub counts: Vec<i64>,
    pub growth_per_minute: f64,
    pub trend: Trend,
    pub pattern: &'static str,
    pub hint: &'static str,
    pub max_wait_minutes: u64,
    /// Goroutines of this group the runtime proved leaked (goroutineleak profile or `(leaked)` mark).
    pub gc_proven_leaked: Option<u64>,
    /// Position in `counts` where the growth judged began: 0 when the whole run grew, later for a
    /// stack that held its level and then started to grow (`trend` is then of `counts[since..]`).
    pub since: usize,
}

/// Ranks the groups of `snapshots` (one unbroken series, oldest first; `minutes` their times).
/// `proven` holds, per group, the goroutines the runtime proved leaked in the latest proof.
pub fn rank(table: &StackTable, snapshots: &[&Snapshot], minutes: &[f64], proven: &HashMap<GroupId, u64>, opts: &RankOptions) -> Vec<Suspect> {
    let mut out = Vec::new();
    for id in group_ids(table.len(), snapshots, proven) {
        // The group's info is built only for the groups listed (see `StackTable::group`).
        if !opts.ignore.is_empty() && table.group_frames(id).any(|f| opts.ignore.iter().any(|re| re.is_match(&f.function))) {
            continue;
        }
        // A stack with no frames says nothing about code: never a suspect.
        if !table.has_frames(id) {
            continue;
        }
        let marked = snapshots.last().and_then(|s| s.groups.get(&id)).map_or(0, |g| g.leaked());
        let proof = proven.get(&id).copied().unwrap_or(0).max(marked);
        // The trend's increase is the last count less the first: below --min-increase a group is
        // listed only when the runtime proved it leaked (see `judge`), so most groups need neither
        // their counts nor their trend.
        let increase = match snapshots {
            [first, .., last] => last.value(id).saturating_sub(first.value(id)),
            _ => 0,
        };
        if proof == 0 && increase < opts.min_increase {
            continue;
        }
        let counts: Vec<i64> = snapshots.iter().map(|s| s.value(id)).collect();
        let max_wait_minutes = snapshots.iter().filter_map(|s| s.groups.get(&id)).map(|g| g.max_wait_minutes()).max().unwrap_or(0);
        let Some(Judged { verdict, score, trend: t, since }) = judge_series(minutes, &counts, proof, opts) else { continue };
        let growth = t.slope_per_minute;
        let super::patterns::Pattern { name: pattern, fix: hint } = super::patterns::pattern_of(table.group(id));
        out.push(Suspect {
            group: id,
            verdict,
            score,
            counts,
            growth_per_minute: growth,
            trend: t,
            pattern,
            hint,
            max_wait_minutes,
            gc_proven_leaked: (proof > 0).then_some(proof),
            since,
        });
    }
    out.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.growth_per_minute.total_cmp(&a.growth_per_minute))
            .then(b.score.total_cmp(&a.score))
            .then_with(|| table.group(a.group).sort_key.cmp(&table.group(b.group).sort_key))
    });
    if let Some(top) = opts.top {
        out.truncate(top);
    }
    let mut names: Vec<super::patterns::Pattern> = out.iter().map(|s| super::patterns::Pattern { name: s.pattern, fix: s.hint }).collect();
    let increases: Vec<i64> = out.iter().map(|s| s.counts.last().copied().unwrap_or(0).saturating_sub(s.counts.first().copied().unwrap_or(0))).collect();
    super::patterns::pair_companions(&mut names, &increases);
    for (s, p) in out.iter_mut().zip(names) {
        (s.pattern, s.hint) = (p.name, p.fix);
    }
    out
}

/// Every group of `snapshots` and `proven`, in id order, each once.
fn group_ids(groups: usize, snapshots: &[&Snapshot], proven: &HashMap<GroupId, u64>) -> Vec<GroupId> {
    // Ids are dense (0, 1, 2, ... in the table of `groups` groups): marked, not sorted.
    let mut seen = vec![false; groups];
    for id in snapshots.iter().flat_map(|s| s.groups.keys()).chain(proven.keys()) {
        let i = id.0 as usize;
        if i >= seen.len() {
            seen.resize(i + 1, false);
        }
        seen[i] = true;
    }
    seen.iter().enumerate().filter(|(_, &s)| s).map(|(i, _)| GroupId(i as u32)).collect()
}

/// What [`judge_series`] found.
struct Judged {
    verdict: Verdict,
    score: f64,
    /// The trend judged: of the whole run, or of `counts[since..]`.
    trend: Trend,
    since: usize,
}

/// The verdict on one group's counts: of the whole run, or, for a stack that held its level for
/// most of the run and then began to grow, of the values from the change on (unless the whole run
/// already says leak).
fn judge_series(minutes: &[f64], counts: &[i64], proof: u64, opts: &RankOptions) -> Option<Judged> {
    let t = trend(minutes, counts);
    let whole = judge(&t, t.slope_per_minute, counts.len(), proof, opts);
    // A leak the runtime proved still grows from where it grows: its rate is of that part.
    let late = match whole {
        Some((Verdict::Leak, _)) if proof == 0 => None,
        _ => late_growth(minutes, counts, opts),
    };
    match (whole, late) {
        (w, Some((since, lt, (verdict, score)))) if w.is_none_or(|(wv, _)| verdict <= wv) => {
            let (verdict, score) = w.map_or((verdict, score), |(wv, ws)| (wv.min(verdict), ws.max(score)));
            Some(Judged { verdict, score, trend: lt, since })
        }
        (Some((verdict, score)), _) => Some(Judged { verdict, score, trend: t, since: 0 }),
        (None, _) => None,
    }
}

/// Growth that began after a change of slope: where it began, the trend from there and its
/// verdict, or `None`. The run before the change must have been lower than where the growth ends
/// (see [`thresholds::LATE_NEW_HIGH_SHARE`]).
fn late_growth(minutes: &[f64], counts: &[i64], opts: &RankOptions) -> Option<(usize, Trend, (Verdict, f64))> {
    use thresholds::*;
    let n = counts.len();
    if n < LATE_MIN_RUN {
        return None;
    }
    // The growth starts from the last value of the level it left: judged with it.
    let since = change_point(minutes, counts, LATE_MIN_SNAPSHOTS)?.checked_sub(1)?;
    if n - since < LATE_MIN_SNAPSHOTS || since == 0 {
        return None;
    }
    let before_max = *counts[..since].iter().max()?;
    let (tail_t, tail) = (&minutes[since..], &counts[since..]);
    let t = trend(tail_t, tail);
    let last = counts[n - 1];
    if (last.saturating_sub(before_max) as f64) < LATE_NEW_HIGH_SHARE * t.increase as f64 || last <= before_max {
        return None;
    }
    let verdict = judge(&t, t.slope_per_minute, tail.len(), 0, opts)?;
    Some((since, t, verdict))
}

/// The verdict and score of one trend, or `None` when the group is not listed.
fn judge(t: &Trend, growth: f64, n: usize, proven: u64, opts: &RankOptions) -> Option<(Verdict, f64)> {
    use thresholds::*;
    let steps = n.saturating_sub(1).max(1) as f64;
    let tau = t.tau.max(0.0);
    let shape = 0.4 * tau + 0.2 * t.nondecreasing_share + 0.2 * (1.0 - t.drawdown) + 0.2 * (1.0 - t.jump_share);
    let size = 1.0 - (-(t.increase.max(0) as f64) / (3.0 * t.step_noise)).exp();
    let score = (shape * (0.5 + 0.5 * size)).clamp(0.0, 1.0);
    if proven > 0 {
        return Some((Verdict::Leak, score.max(0.95)));
    }
    // Two snapshots are a difference (the `diff` command), not a trend: no suspect from growth.
    if n < MIN_SNAPSHOTS {
        return None;
    }
    let increase = t.increase as f64;
    let grows = t.increase >= opts.min_increase
        && growth > 0.0
        && growth >= opts.min_growth_per_minute
        && increase >= NOISE_FACTOR * t.step_noise * steps.sqrt().min(3.0)
        && increase >= LEVEL_NOISE_FACTOR * t.level_noise
        && t.fitted_rise >= LEVEL_NOISE_FACTOR * t.level_noise;
    if !grows {
        return None;
    }
    // Grew, then held flat: a pool warming up, requests in flight settling. A leak that pauses
    // for a snapshot or two still rises from the middle third to the last.
    // A single step that then stays flat passes the medians when it falls mid-run: the last
    // third must rise too.
    let still_growing = t.late_rise > 0.0 && t.late_rise >= LATE_RISE_SHARE * (t.late_rise + t.early_rise.max(0.0)) && t.end_rise > 0;
    if !still_growing {
        return None;
    }
    let perfect = perfect_z(n);
    let leak = n >= LEAK_MIN_SNAPSHOTS
        && t.mann_kendall_z >= LEAK_Z.min(LEAK_Z_SHARE_OF_PERFECT * perfect)
        && t.tau >= LEAK_TAU
        && t.nondecreasing_share >= LEAK_NONDECREASING
        && t.rising_steps >= LEAK_RISING_STEPS
        && t.jump_share <= LEAK_MAX_JUMP_SHARE
        && t.drawdown <= LEAK_MAX_DRAWDOWN;
    if leak {
        return Some((Verdict::Leak, score));
    }
    let suspect = t.mann_kendall_z >= SUSPECT_Z.min(SUSPECT_Z_SHARE_OF_PERFECT * perfect)
        && t.tau >= SUSPECT_TAU
        && t.drawdown <= SUSPECT_MAX_DRAWDOWN
        && t.rising_steps >= 2;
    suspect.then_some((Verdict::Suspect, score.min(0.75)))
}

/// The Mann–Kendall z of a strictly rising series of `n` values: the most evidence `n` snapshots
/// can give (1.7 for 4, 2.6 for 6, 3.9 for 10).
fn perfect_z(n: usize) -> f64 {
    let n = n as f64;
    let s = n * (n - 1.0) / 2.0;
    let variance = n * (n - 1.0) * (2.0 * n + 5.0) / 18.0;
    if variance > 0.0 {
        (s - 1.0) / variance.sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_counts(v: &[i64]) -> Option<Verdict> {
        judge_every(10.0, v)
    }

    /// Verdict of `v` sampled every `seconds`.
    fn judge_every(seconds: f64, v: &[i64]) -> Option<Verdict> {
        let minutes: Vec<f64> = (0..v.len()).map(|i| i as f64 * seconds / 60.0).collect();
        let t = trend(&minutes, v);
        judge(&t, t.slope_per_minute, v.len(), 0, &RankOptions::default()).map(|(v, _)| v)
    }

    /// Snapshot k of a 10-minute watch every 20 s (31 snapshots) holds one more goroutine every
    /// `every` snapshots.
    fn staircase(every: usize) -> Vec<i64> {
        (0..31).map(|k| (k / every) as i64).collect()
    }

    #[test]
    fn slow_leaks_by_growth_alone() {
        // 0 -> 10 in even steps over 10 minutes: one a minute.
        assert_eq!(judge_every(20.0, &staircase(3)), Some(Verdict::Leak));
        // One every two minutes: 0 -> 5.
        assert!(judge_every(20.0, &staircase(6)).is_some());
        // The same, offset: the leak started later in the window.
        let late: Vec<i64> = (0..31).map(|k| if k < 10 { 0 } else { ((k - 10) / 3) as i64 }).collect();
        assert_eq!(judge_every(20.0, &late), Some(Verdict::Leak));
    }

    #[test]
    fn warm_up_is_not_a_leak() {
        // A pool warming to 60 in three steep steps, then holding: never listed.
        let mut pool = vec![0, 20, 40, 60];
        pool.resize(31, 60);
        assert_eq!(judge_every(20.0, &pool), None);
        // Sampled every second from 2 s after start: rising for 6 snapshots of 20, then flat.
        let mut pool = vec![10, 25, 40, 55, 70, 80];
        pool.resize(20, 80);
        assert_eq!(judge_every(1.0, &pool), None);
        // Connections settling: a ramp, then a noisy plateau.
        let settle = [5, 30, 44, 48, 52, 47, 50, 53, 49, 51, 50, 48, 52, 49, 51, 50, 47, 52, 50, 49];
        assert_eq!(judge_every(1.0, &settle), None);
    }

    #[test]
    fn a_leak_that_pauses_is_still_a_leak() {
        // Rising 3 a snapshot, pausing for two snapshots every six (also at the very end).
        let mut v = Vec::new();
        let mut level = 0;
        for k in 0..20 {
            if k % 6 < 4 {
                level += 3;
            }
            v.push(level);
        }
        assert_eq!(judge_every(1.0, &v), Some(Verdict::Leak));
        let paused_at_end = [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 36, 36];
        assert_eq!(judge_every(1.0, &paused_at_end), Some(Verdict::Leak));
    }

    /// Verdict of `v` ranked as `rank` does it (whole run, then growth since a change of slope).
    fn rank_every(seconds: f64, v: &[i64]) -> Option<(Verdict, usize)> {
        let minutes: Vec<f64> = (0..v.len()).map(|i| i as f64 * seconds / 60.0).collect();
        judge_series(&minutes, v, 0, &RankOptions::default()).map(|j| (j.verdict, j.since))
    }

    #[test]
    fn a_leak_that_starts_late_is_listed_a_step_is_not() {
        // etcd's writeQuota.get over 50 snapshots: 0 for 41, then rising (issue 22).
        let mut v = vec![0i64; 41];
        v.extend([2, 3, 5, 6, 8, 10, 12, 13, 15]);
        assert_eq!(judge_every(10.0, &v), None, "one slope for the whole run misses it");
        assert_eq!(rank_every(10.0, &v), Some((Verdict::Leak, 40)));
        // From a noisy level.
        let mut noisy: Vec<i64> = (0..41).map(|k| [4, 5, 3, 4, 6, 4, 5][k % 7]).collect();
        noisy.extend([7, 9, 10, 12, 14, 15, 17, 19, 20]);
        assert_eq!(rank_every(10.0, &noisy).map(|r| r.0), Some(Verdict::Leak));
        // A single step up that then stays flat is not a leak, wherever it comes, even caught
        // half-way by one snapshot (a live goservice: 0 for 23 snapshots, then 3, then 15 on).
        for at in [20, 23, 35, 41, 44] {
            let step: Vec<i64> = (0..50).map(|k| if k < at { 0 } else { 10 }).collect();
            assert_eq!(rank_every(10.0, &step), None, "step at {at}");
        }
        // (With the flat part after it at least a few snapshots long: 0, 3, 15 at the very end is
        // as much the start of a leak.)
        for at in [20, 23, 35, 41] {
            let caught: Vec<i64> = (0..46)
                .map(|k| {
                    if k < at {
                        0
                    } else if k == at {
                        3
                    } else {
                        15
                    }
                })
                .collect();
            assert_eq!(rank_every(18.0, &caught), None, "step caught half-way at {at}");
        }
        // Nor a sawtooth whose last tooth is caught rising: it reaches no higher than before.
        let saw: Vec<i64> = (0..48).map(|k| (k % 8) as i64 * 3).collect();
        assert_eq!(rank_every(10.0, &saw), None);
        // Nor a noisy plateau, nor a warm-up.
        let plateau: Vec<i64> = (0..50).map(|k| [48, 52, 47, 55, 50, 49, 53, 46, 51, 50, 54, 49][k % 12]).collect();
        assert_eq!(rank_every(10.0, &plateau), None);
        let mut pool = vec![0, 20, 40, 60];
        pool.resize(50, 60);
        assert_eq!(rank_every(10.0, &pool), None);
    }

    #[test]
    fn a_stack_with_no_frames_is_never_a_suspect() {
        use crate::profile::{Format, Frame, Profile, ProfileKind, Sample, SampleType};
        // Goroutines the runtime records without a frame, growing beside a real stack.
        let profile = |n: i64| Profile {
            kind: ProfileKind::Goroutine,
            format: Format::Proto,
            sample_types: vec![SampleType { name: "goroutine".into(), unit: "count".into() }],
            default_sample_type: 0,
            time_nanos: None,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            frames: vec![Frame { function: "main.forgottenSender".into(), file: "/m.go".into(), line: 9, address: 0, start_line: 0 }],
            samples: vec![
                Sample { stack: Vec::new(), values: vec![10 * n], labels: Vec::new(), goroutine: None },
                Sample { stack: vec![0], values: vec![5 * n], labels: Vec::new(), goroutine: None },
            ],
            declared_total: None,
            truncated: None,
        };
        let mut table = StackTable::new(crate::stacks::GroupBy::Line, None);
        let snaps: Vec<Snapshot> = (0..8).map(|i| Snapshot::from_profile(&mut table, &profile(i), String::new(), i as usize, 0)).collect();
        let refs: Vec<&Snapshot> = snaps.iter().collect();
        let minutes: Vec<f64> = (0..8).map(|i| i as f64).collect();
        let listed = rank(&table, &refs, &minutes, &HashMap::new(), &RankOptions::default());
        let leaves: Vec<&str> = listed.iter().map(|s| table.group(s.group).leaf_frame().function.as_str()).collect();
        assert_eq!(leaves, ["main.forgottenSender"]);
    }

    #[test]
    fn two_snapshots_are_a_difference_not_a_suspect() {
        assert_eq!(judge_counts(&[5, 8]), None);
        assert_eq!(judge_counts(&[0, 100]), None);
        assert!(judge_counts(&[0, 50, 100]).is_some());
    }

    #[test]
    fn sawtooth_of_periodic_workers_is_not_a_leak() {
        // 25 workers gathered over 100 s, all leaving together, sampled every 20 s.
        let v: Vec<i64> = (0..31).map(|k| ((k * 20) % 100 / 4) as i64).collect();
        assert_eq!(judge_every(20.0, &v), None);
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge_counts(&[10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65]), Some(Verdict::Leak));
        // steps with small dips still a leak
        assert_eq!(judge_counts(&[10, 10, 30, 29, 30, 50, 50, 49, 70, 70, 90, 90]), Some(Verdict::Leak));
        // slow: one every 3 s, sampled every 10 s
        assert_eq!(judge_counts(&[1, 4, 8, 11, 14, 18, 21, 24, 28, 31, 34, 38]), Some(Verdict::Leak));
        // burst that drains
        assert_eq!(judge_counts(&[0, 0, 180, 200, 40, 0, 0, 0, 0, 0, 0, 0]), None);
        // burst caught at the end
        assert_eq!(judge_counts(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200]), None);
        // plateau noise
        assert_eq!(judge_counts(&[48, 52, 47, 55, 50, 49, 53, 46, 51, 50, 54, 49]), None);
        // fixed set
        assert_eq!(judge_counts(&[8; 12]), None);
        // noise of a few goroutines
        assert_eq!(judge_counts(&[1, 2, 1, 2, 3, 2, 3, 2, 3, 3, 2, 3]), None);
    }
}
