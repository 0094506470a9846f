//! Turns each group's trend into a verdict (`leak`, `suspect`, or not listed), a score, a named
//! pattern and a hint on how such leaks are fixed.

use std::collections::HashMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::trend::{trend, Trend};
use super::Snapshot;
use crate::stacks::{GroupId, StackTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Leak,
    Suspect,
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
        RankOptions { ignore: Vec::new(), min_growth_per_minute: 1.0, min_increase: 3, top: None }
    }
}

/// Thresholds of the verdicts (documented in the README).
pub mod thresholds {
    /// Leak (from growth): at least this many snapshots in the analysed run. Fewer show a
    /// difference, not a trend, so a clean result on fewer is inconclusive.
    pub const LEAK_MIN_SNAPSHOTS: usize = 4;
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
    /// The increase must stand this many step-noise units (× √steps) above the noise.
    pub const NOISE_FACTOR: f64 = 2.0;
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
}

/// Ranks the groups of `snapshots` (one unbroken series, oldest first; `minutes` their times).
/// `proven` holds, per group, the goroutines the runtime proved leaked in the latest proof.
pub fn rank(table: &StackTable, snapshots: &[&Snapshot], minutes: &[f64], proven: &HashMap<GroupId, u64>, opts: &RankOptions) -> Vec<Suspect> {
    let mut ids: Vec<GroupId> = snapshots.iter().flat_map(|s| s.groups.keys().copied()).collect();
    ids.extend(proven.keys().copied());
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        // The group's info is built only for the groups listed (see `StackTable::group`).
        if !opts.ignore.is_empty() && table.group_frames(id).any(|f| opts.ignore.iter().any(|re| re.is_match(&f.function))) {
            continue;
        }
        let counts: Vec<i64> = snapshots.iter().map(|s| s.value(id)).collect();
        let max_wait_minutes = snapshots.iter().filter_map(|s| s.groups.get(&id)).map(|g| g.max_wait_minutes).max().unwrap_or(0);
        let marked = snapshots.last().and_then(|s| s.groups.get(&id)).map_or(0, |g| g.leaked);
        let proof = proven.get(&id).copied().unwrap_or(0).max(marked);
        let t = trend(minutes, &counts);
        let growth = if counts.len() == 2 {
            let dt = minutes[1] - minutes[0];
            if dt > 0.0 {
                t.increase as f64 / dt
            } else {
                t.increase as f64
            }
        } else {
            t.slope_per_minute
        };
        let Some((verdict, score)) = judge(&t, growth, counts.len(), proof, opts) else { continue };
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
    super::patterns::pair_companions(&mut names);
    for (s, p) in out.iter_mut().zip(names) {
        (s.pattern, s.hint) = (p.name, p.fix);
    }
    out
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
    let grows =
        t.increase >= opts.min_increase && growth >= opts.min_growth_per_minute && t.increase as f64 >= NOISE_FACTOR * t.step_noise * steps.sqrt().min(3.0);
    if !grows {
        return None;
    }
    if n == 2 {
        // Two snapshots show a difference, not a trend.
        return Some((Verdict::Suspect, score.min(0.6)));
    }
    let leak = n >= LEAK_MIN_SNAPSHOTS
        && t.tau >= LEAK_TAU
        && t.nondecreasing_share >= LEAK_NONDECREASING
        && t.rising_steps >= LEAK_RISING_STEPS
        && t.jump_share <= LEAK_MAX_JUMP_SHARE
        && t.drawdown <= LEAK_MAX_DRAWDOWN;
    if leak {
        return Some((Verdict::Leak, score));
    }
    let suspect = t.tau >= SUSPECT_TAU && t.drawdown <= SUSPECT_MAX_DRAWDOWN && t.rising_steps >= 2;
    suspect.then_some((Verdict::Suspect, score.min(0.75)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_counts(v: &[i64]) -> Option<Verdict> {
        let minutes: Vec<f64> = (0..v.len()).map(|i| i as f64 / 6.0).collect();
        let t = trend(&minutes, v);
        judge(&t, t.slope_per_minute, v.len(), 0, &RankOptions::default()).map(|(v, _)| v)
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
