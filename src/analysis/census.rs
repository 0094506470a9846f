//! One dump is enough to start: when one snapshot is all there is (a SIGQUIT dump of a hung
//! process, one `?debug=2` taken during an incident, a `go test -timeout` panic), there is no
//! trend to rank, but there is a census: the stacks by count, each with what it blocks on, its
//! pattern, the code responsible and, in `debug=2` dumps, how long its goroutines have waited.
//!
//! A goroutine's wait is a clock that started when it parked, so one dump holds a history: a
//! stack that has leaked at a steady pace for 40 minutes shows goroutines of every age from 0 to
//! 40 minutes, about as many of each. That shape — steady accumulation — is the one thing a
//! single dump can flag ([`accumulation`]); everything else about growth needs more snapshots.
//! `leak` stays reserved for what the runtime proved (`(leaked)` marks, the goroutineleak profile
//! of the same moment).

use std::collections::HashMap;

use super::patterns::signature_of;
use super::rank::RankOptions;
use super::Snapshot;
use crate::profile::WaitMinutes;
use crate::stacks::{Blocking, GroupId, GroupInfo, StackTable};

/// The thresholds of [`accumulation`] (documented in the README).
pub mod thresholds {
    /// At least this many goroutines of one stack: a handful of waiters is no accumulation.
    pub const MIN_GOROUTINES: u64 = 10;
    /// At least this many of them waited a minute or more (Go prints waits from one minute on).
    pub const MIN_AGED: u64 = 8;
    /// The oldest waited at least this many minutes: waits spread over a few minutes are any
    /// busy service's.
    pub const MIN_SPAN_MINUTES: u64 = 5;
    /// Ages are looked at in bins of this many minutes: Go starts a goroutine's wait clock at the
    /// first garbage collection that sees it parked, and an idle program collects only every two
    /// minutes, so one-minute bins may be empty in a steady leak.
    pub const BIN_MINUTES: u64 = 2;
    /// Spans longer than [`BIN_MINUTES`] × this are looked at in this many bins.
    pub const MAX_BINS: u64 = 30;
    /// Waits longer than this (two days) are not judged: they are kept in power-of-two buckets
    /// (see [`crate::profile::WaitMinutes`]).
    pub const MAX_SPAN_MINUTES: u64 = 2 * 24 * 60;
    /// At least this share of the bins from one minute to the oldest wait hold a goroutine.
    pub const MIN_COVERAGE: f64 = 2.0 / 3.0;
    /// Neither half of that span holds fewer than this share of the other's goroutines per minute.
    pub const MIN_HALVES_RATIO: f64 = 1.0 / 3.0;
    /// No one minute value holds more than this share of the stack's goroutines (all alike: a
    /// pool started at once, a burst).
    pub const MAX_ONE_MINUTE_SHARE: f64 = 0.5;
    /// Some goroutines waited at most this many minutes: the accumulation goes on now.
    pub const RECENT_MINUTES: u64 = 2;
    /// Waits within this many minutes of the dump's oldest wait (the process's age, at least)
    /// are "near the process's age".
    pub const NEAR_AGE_MINUTES: u64 = 2;
    /// Groups listed in the census besides its suspects and leaks: the largest.
    pub const LISTED_GROUPS: usize = 20;
    /// Bins of the small histogram each listed group shows (one for under a minute, the others
    /// splitting one minute to the oldest wait).
    pub const HISTOGRAM_BINS: u64 = 8;
}

use thresholds::*;

/// A steady accumulation: about `per_minute` goroutines a minute for the last `minutes` minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accumulation {
    pub per_minute: f64,
    pub minutes: u64,
}

/// Why a stack's waits do not show steady accumulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSteady {
    /// Running, sleeping, in a syscall or waiting for the network outside the known leak
    /// patterns (see [`can_accumulate`]).
    NotParked,
    Few,
    ShortWaits,
    AllAlike,
    NearProcessAge,
    Gaps,
    Uneven,
    Stopped,
    TooOld,
}

impl NotSteady {
    pub fn describe(self) -> &'static str {
        match self {
            NotSteady::NotParked => "not parked on a channel, lock, select, WaitGroup or Cond, nor a known leaking wait",
            NotSteady::Few => "too few goroutines for a pace",
            NotSteady::ShortWaits => "short waits",
            NotSteady::AllAlike => "waits all alike (a pool or a burst started at once)",
            NotSteady::NearProcessAge => "waits near the process's age (started with it)",
            NotSteady::Gaps => "waits clustered, with long gaps",
            NotSteady::Uneven => "waits uneven over time (a burst, not a pace)",
            NotSteady::Stopped => "no recent waiter: it stopped accumulating",
            NotSteady::TooOld => "waits over two days: too coarse for a pace",
        }
    }
}

/// Whether goroutines of this stack can accumulate as a leak's do: parked on the program's own
/// synchronisation (a channel, lock, select, WaitGroup or Cond), or waiting for the network where
/// the pattern catalogue knows the stack as a leak (server connections of an `http.Server`
/// without `ReadHeaderTimeout`, say). Not the other network waits (accept loops, idle clients),
/// timers, sleeps or the kernel.
pub fn can_accumulate(info: &GroupInfo) -> bool {
    match info.blocking {
        Blocking::ChanSend
        | Blocking::ChanReceive
        | Blocking::Select
        | Blocking::SelectNoCases
        | Blocking::ChanSendNil
        | Blocking::ChanReceiveNil
        | Blocking::Mutex
        | Blocking::RwMutex
        | Blocking::WaitGroup
        | Blocking::Cond => true,
        Blocking::IoWait => signature_of(info).is_some_and(|s| s.blocking.contains(&Blocking::IoWait)),
        _ => false,
    }
}

/// The statistic that decides: whether the waits of one stack's goroutines show steady
/// accumulation, and at what pace. `dump_oldest` is the longest wait of any goroutine in the dump
/// (the process is at least that old).
///
/// Steady accumulation is: at least [`MIN_GOROUTINES`] goroutines, [`MIN_AGED`] of them aged a
/// minute or more; the oldest aged [`MIN_SPAN_MINUTES`] or more; their ages cover at least
/// [`MIN_COVERAGE`] of the [`BIN_MINUTES`]-minute bins from one minute to the oldest (many distinct
/// ages, no long gaps); the older and the younger half of that span hold about as many per minute
/// (within [`MIN_HALVES_RATIO`]); no one age holds [`MAX_ONE_MINUTE_SHARE`] of them; some waited
/// [`RECENT_MINUTES`] or less; and most are not near the process's age. The pace is the goroutines
/// that waited a minute or more over the oldest wait: Go prints a wait of m minutes for one
/// between m and m+1, and starts the clock at the first garbage collection after the goroutine
/// parked, so the youngest are undercounted and the under-a-minute ones are left out.
pub fn accumulation(wait: &WaitMinutes, dump_oldest: u64) -> Result<Accumulation, NotSteady> {
    let total = wait.goroutines();
    let oldest = wait.oldest();
    let aged: u64 = wait.entries().iter().filter(|e| e.0 >= 1).map(|e| e.1).sum();
    if total < MIN_GOROUTINES {
        return Err(NotSteady::Few);
    }
    if oldest < MIN_SPAN_MINUTES {
        return Err(NotSteady::ShortWaits);
    }
    if oldest > MAX_SPAN_MINUTES {
        // Past two days waits are kept in power-of-two buckets: too coarse for a pace.
        return Err(NotSteady::TooOld);
    }
    // Long spans are looked at in about 30 bins (past six hours waits are kept by the half hour).
    let bin = BIN_MINUTES.max(oldest.div_ceil(MAX_BINS));
    if aged < MIN_AGED {
        return Err(NotSteady::Few);
    }
    let largest = wait.entries().iter().map(|e| e.1).max().unwrap_or(0);
    if largest as f64 > MAX_ONE_MINUTE_SHARE * total as f64 {
        return Err(NotSteady::AllAlike);
    }
    let near_age: u64 = wait.entries().iter().filter(|e| e.0 >= 1 && e.0 + NEAR_AGE_MINUTES.max(bin) >= dump_oldest).map(|e| e.1).sum();
    if near_age * 2 > total {
        return Err(NotSteady::NearProcessAge);
    }
    let recent: u64 = wait.entries().iter().filter(|e| e.0 <= RECENT_MINUTES).map(|e| e.1).sum();
    if recent == 0 {
        return Err(NotSteady::Stopped);
    }
    // Coverage: bins [1, 1+B), [1+B, 1+2B), ... up to the oldest.
    let bins = oldest.div_ceil(bin);
    let mut covered = vec![false; bins as usize];
    for &(m, _) in wait.entries().iter().filter(|e| e.0 >= 1) {
        covered[((m - 1) / bin) as usize] = true;
    }
    let covered = covered.iter().filter(|&&c| c).count() as f64;
    if covered < MIN_COVERAGE * bins as f64 {
        return Err(NotSteady::Gaps);
    }
    // Halves: ages 1..=mid and mid+1..=oldest, per minute each.
    let mid = oldest / 2;
    let young: u64 = wait.entries().iter().filter(|e| e.0 >= 1 && e.0 <= mid).map(|e| e.1).sum();
    let old: u64 = wait.entries().iter().filter(|e| e.0 > mid).map(|e| e.1).sum();
    let (young_rate, old_rate) = (young as f64 / mid as f64, old as f64 / (oldest - mid) as f64);
    if young_rate.min(old_rate) < MIN_HALVES_RATIO * young_rate.max(old_rate) {
        return Err(NotSteady::Uneven);
    }
    Ok(Accumulation { per_minute: aged as f64 / oldest as f64, minutes: oldest })
}

/// What the census says of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The runtime proved its goroutines leaked.
    Leak,
    /// Its waits show steady accumulation.
    Suspect,
    /// Neither.
    Listed,
}

/// One bin of a group's small wait histogram: goroutines that waited `from..=to` minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBin {
    pub from: u64,
    pub to: u64,
    pub goroutines: u64,
}

/// How long a group's goroutines have waited.
#[derive(Debug, Clone, PartialEq)]
pub struct Ages {
    pub oldest: u64,
    pub median: u64,
    /// Goroutines that waited a minute or more.
    pub aged: u64,
    pub histogram: Vec<AgeBin>,
}

impl Ages {
    fn of(wait: &WaitMinutes) -> Ages {
        let oldest = wait.oldest();
        let mut histogram = vec![AgeBin { from: 0, to: 0, goroutines: 0 }];
        if oldest >= 1 {
            let width = oldest.div_ceil(HISTOGRAM_BINS - 1).max(1);
            let mut from = 1;
            while from <= oldest {
                histogram.push(AgeBin { from, to: (from + width - 1).min(oldest), goroutines: 0 });
                from += width;
            }
        }
        for &(m, n) in wait.entries() {
            let bin = if m == 0 { 0 } else { 1 + ((m - 1) / oldest.div_ceil(HISTOGRAM_BINS - 1).max(1)) as usize };
            let bin = bin.min(histogram.len() - 1);
            histogram[bin].goroutines = histogram[bin].goroutines.saturating_add(n);
        }
        Ages { oldest, median: wait.median(), aged: wait.entries().iter().filter(|e| e.0 >= 1).map(|e| e.1).sum(), histogram }
    }
}

/// One group of the census.
#[derive(Debug, Clone)]
pub struct CensusGroup {
    pub group: GroupId,
    pub goroutines: i64,
    pub status: Status,
    /// Goroutines the runtime proved leaked.
    pub proven: u64,
    /// `None` in forms without wait times (protobuf, debug=1).
    pub ages: Option<Ages>,
    pub accumulation: Option<Accumulation>,
    /// Why it is not a suspect, when it has ages and is not.
    pub not_steady: Option<NotSteady>,
}

/// The census of one snapshot.
#[derive(Debug, Clone)]
pub struct Census {
    pub snapshot: usize,
    pub goroutines: i64,
    /// Stack groups in the snapshot.
    pub stacks: usize,
    /// Whether the form carries wait times (debug=2 dumps, SIGQUIT and panic output).
    pub has_ages: bool,
    /// The longest wait in the dump: the process is at least this old.
    pub oldest_wait: u64,
    /// Leaks and suspects first (most goroutines first), then the largest other groups.
    pub groups: Vec<CensusGroup>,
}

/// The census of `snap`. `proven`: per group, the goroutines the runtime proved leaked (a
/// goroutineleak profile of the same moment); `(leaked)` marks count too. Groups `opts.ignore`
/// matches are left out.
pub fn census(table: &StackTable, snap: &Snapshot, proven: &HashMap<GroupId, u64>, opts: &RankOptions) -> Census {
    let has_ages = snap.groups.values().any(|g| !g.wait().is_empty());
    let oldest_wait = snap.groups.values().map(|g| g.wait().oldest().max(g.max_wait_minutes())).max().unwrap_or(0);
    let mut groups: Vec<CensusGroup> = snap
        .groups
        .iter()
        .filter(|(id, _)| opts.ignore.is_empty() || !table.group_frames(**id).any(|f| opts.ignore.iter().any(|re| re.is_match(&f.function))))
        .map(|(&id, g)| {
            let proof = proven.get(&id).copied().unwrap_or(0).max(g.leaked());
            let ages = (!g.wait().is_empty()).then(|| Ages::of(g.wait()));
            let judged = if g.wait().is_empty() {
                None
            } else if !can_accumulate(table.group(id)) {
                Some(Err(NotSteady::NotParked))
            } else {
                Some(accumulation(g.wait(), oldest_wait))
            };
            let status = if proof > 0 {
                Status::Leak
            } else if matches!(judged, Some(Ok(_))) {
                Status::Suspect
            } else {
                Status::Listed
            };
            CensusGroup {
                group: id,
                goroutines: g.value,
                status,
                proven: proof,
                ages,
                accumulation: judged.and_then(|j| j.ok()),
                // A proven leak needs no excuse (and the runtime prints no wait for the goroutines
                // it marked leaked: Go prints minutes for waiting goroutines only).
                not_steady: judged.and_then(|j| j.err()).filter(|_| status == Status::Listed),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        let listed = |g: &CensusGroup| g.status == Status::Listed;
        listed(a).cmp(&listed(b)).then(b.goroutines.cmp(&a.goroutines)).then_with(|| table.group(a.group).sort_key.cmp(&table.group(b.group).sort_key))
    });
    let flagged = groups.iter().filter(|g| g.status != Status::Listed).count();
    let stacks = snap.groups.len();
    groups.truncate(flagged + LISTED_GROUPS);
    Census { snapshot: snap.index, goroutines: snap.total, stacks, has_ages, oldest_wait, groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(pairs: &[(u64, u64)]) -> WaitMinutes {
        let mut w = WaitMinutes::default();
        for &(m, n) in pairs {
            w.add(m, n);
        }
        w
    }

    /// `per_minute` goroutines for each minute 0..=minutes.
    fn steady(per_minute: u64, minutes: u64) -> WaitMinutes {
        waits(&(0..=minutes).map(|m| (m, per_minute)).collect::<Vec<_>>())
    }

    #[test]
    fn a_steady_pace_is_found_with_its_rate() {
        let a = accumulation(&steady(11, 38), 40).expect("steady");
        assert_eq!(a.minutes, 38);
        assert!((a.per_minute - 11.0).abs() < 0.1, "{a:?}");
    }

    #[test]
    fn a_pace_seen_only_at_every_other_minute_is_steady() {
        // An idle program collects garbage every two minutes: ages fall on every other minute.
        let w = waits(&(0..=20).filter(|m| m % 2 == 0).map(|m| (m, 4)).collect::<Vec<_>>());
        let a = accumulation(&w, 30).expect("steady");
        assert!((a.per_minute - 2.0).abs() < 0.1, "{a:?}");
    }

    #[test]
    fn a_pace_of_a_day_is_read_from_half_hour_buckets() {
        // One a minute for 20 hours: waits past six hours are kept by the half hour.
        let w = steady(1, 1200);
        assert!(w.entries().len() < 400);
        let a = accumulation(&w, 3000).expect("steady");
        assert!((a.per_minute - 1.0).abs() < 0.05, "{a:?}");
        // The same pool of 40 as old as a process up for a day is no pace.
        assert_eq!(accumulation(&waits(&[(1439, 40)]), 1440), Err(NotSteady::AllAlike));
        // Three days: not judged.
        assert_eq!(accumulation(&steady(1, 3 * 1440), 5000), Err(NotSteady::TooOld));
    }

    #[test]
    fn benign_shapes_are_not_accumulation() {
        // An idle pool: every worker as old as the process.
        assert_eq!(accumulation(&waits(&[(37, 40)]), 38), Err(NotSteady::AllAlike));
        // A pool that warmed over its first minutes and idles since.
        assert_eq!(accumulation(&waits(&[(35, 8), (36, 10), (37, 10), (38, 2)]), 38), Err(NotSteady::NearProcessAge));
        // Short waits only.
        assert_eq!(accumulation(&waits(&[(0, 100), (1, 30), (2, 5)]), 38), Err(NotSteady::ShortWaits));
        // A leak that stopped twenty minutes ago.
        assert_eq!(accumulation(&waits(&(20..=30).map(|m| (m, 5)).collect::<Vec<_>>()), 60), Err(NotSteady::Stopped));
        // Two bursts.
        assert_eq!(accumulation(&waits(&[(0, 1), (3, 20), (4, 1), (25, 20), (26, 1)]), 60), Err(NotSteady::Gaps));
        // Mostly old, a trickle lately.
        let w = waits(&(0..=30).map(|m| (m, if m > 15 { 10 } else { 1 })).collect::<Vec<_>>());
        assert_eq!(accumulation(&w, 60), Err(NotSteady::Uneven));
        // A few.
        assert_eq!(accumulation(&steady(1, 6), 60), Err(NotSteady::Few));
    }

    #[test]
    fn small_histogram_splits_the_span() {
        let a = Ages::of(&steady(2, 14));
        assert_eq!((a.oldest, a.median, a.aged), (14, 7, 28));
        assert_eq!(a.histogram.len(), 8);
        assert_eq!(a.histogram[0], AgeBin { from: 0, to: 0, goroutines: 2 });
        assert_eq!(a.histogram[1], AgeBin { from: 1, to: 2, goroutines: 4 });
        assert_eq!(a.histogram.iter().map(|b| b.goroutines).sum::<u64>(), 30);
        assert_eq!(a.histogram.last().map(|b| b.to), Some(14));
        // Under a minute only: one bin.
        assert_eq!(Ages::of(&waits(&[(0, 5)])).histogram.len(), 1);
    }
}
