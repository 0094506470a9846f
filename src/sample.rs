//! One sampling round of one target, written once for `watch`'s loop, `fleet` (a watch per
//! target) and `serve`'s workers: fetch, decode, the kind check, the goroutineleak / heap /
//! debug=2 policy, and grouping into the target's [`Series`] (a rolling one in `serve`).
//!
//! The policy, the same everywhere:
//! - the goroutine profile every round (the `debug=2` dump instead with `--debug2`);
//! - the goroutineleak profile every round while the service serves it in time: a 404 stops it
//!   for good, and one slower than the interval is fetched again only in the last round of a
//!   planned run (never again in `serve`, whose rounds have no end);
//! - the heap profile on its own schedule ([`Every`]): every round for `watch --heap` and `check`,
//!   every [`SERVE_HEAP_EVERY`]th round in `serve`;
//! - one `debug=2` dump for creation sites (the code responsible) on its own schedule, when the
//!   service is small enough for it to be cheap ([`CREATION_DUMP_MAX_GOROUTINES`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::heap::HeapSeries;
use crate::analysis::series::Series;
use crate::profile::{self, Profile, ProfileKind};
use crate::source::http::{FetchError, Fetcher, Target};
use crate::source::saved::now_nanos;

/// The creation-site dump is taken only up to this many goroutines. A `debug=2` dump stops the
/// world while every stack is printed: at 5,000 goroutines that is a few MB and some milliseconds,
/// beyond it the service would pause noticeably for a report nicety.
pub const CREATION_DUMP_MAX_GOROUTINES: i64 = 5_000;

/// `serve` fetches each target's heap profile every this many rounds (the first round included):
/// the heap held by a suspect needs two heap profiles in its window, and decoding one costs about
/// as much as the goroutine profile, so every round would double serve's cost for a figure that
/// moves slowly.
pub const SERVE_HEAP_EVERY: usize = 4;

/// `serve` takes the creation-site dump every this many rounds (the first round included): the
/// creation sites of a stack do not change, and the dump stops the service's world.
pub const SERVE_CREATION_DUMP_EVERY: usize = 20;

/// When a profile besides the goroutine one is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Never,
    Round,
    /// Round 0, n, 2n, ...
    Nth(usize),
    /// The last round of a planned run only.
    LastRound,
}

impl Every {
    fn due(self, round: usize, last: bool) -> bool {
        match self {
            Every::Never => false,
            Every::Round => true,
            Every::Nth(n) => round.is_multiple_of(n.max(1)),
            Every::LastRound => last,
        }
    }
}

/// What a sampler fetches.
#[derive(Debug, Clone)]
pub struct SamplerOptions {
    pub target: Target,
    pub interval: Duration,
    /// Rounds planned (`watch`), or `None`: rounds go on until stopped (`serve`).
    pub count: Option<usize>,
    /// The `debug=2` dump instead of the protobuf form.
    pub debug2: bool,
    /// The goroutineleak profile each round while the service serves it in time.
    pub leak_profile: bool,
    pub heap: Every,
    pub creation_dump: Every,
    pub max_profile_bytes: u64,
    /// A first round whose answer is no goroutine profile, or no answer at all, ends the run
    /// (`watch`: the target is wrong); otherwise it is a failed round like any other.
    pub first_round_decides: bool,
}

/// Where fetched profiles are kept as they come (`watch`'s snapshot folder), if anywhere.
pub trait Keep {
    /// Keeps a fetched profile; its path, or `None` when it is not kept.
    fn keep(&mut self, series: &mut Series, round: usize, kind: &str, url: &str, bytes: &[u8], at: i64) -> Option<PathBuf>;
    /// Notes a failed fetch.
    fn record_error(&mut self, round: usize, kind: &str, url: &str, error: &str, at: i64);
}

/// Nothing kept (`serve`).
pub struct KeepNothing;

impl Keep for KeepNothing {
    fn keep(&mut self, _: &mut Series, _: usize, _: &str, _: &str, _: &[u8], _: i64) -> Option<PathBuf> {
        None
    }
    fn record_error(&mut self, _: usize, _: &str, _: &str, _: &str, _: i64) {}
}

/// What a fetch waits for besides its answer: a signal, a deadline. `serve`'s workers wait for
/// nothing else (their fetches have the `--timeout`).
#[derive(Clone, Copy, Default)]
pub struct Wait<'a> {
    pub stop: Option<&'a AtomicBool>,
    pub deadline: Option<Instant>,
}

/// Why a round ended early.
#[derive(Debug)]
pub enum Halt {
    Signal,
    Deadline,
    /// The first round showed that the target cannot be sampled (`first_round_decides`).
    Target(String),
}

/// What a round gave.
#[derive(Debug, Default)]
pub struct Round {
    /// The snapshot's goroutines, when one was taken.
    pub goroutines: Option<i64>,
    /// Why no snapshot was taken.
    pub failure: Option<String>,
    /// The fetch error of a round without an answer.
    pub fetch_error: Option<FetchError>,
    /// Warnings to show at once (also in the series' errors).
    pub warnings: Vec<String>,
}

/// One target's sampling step.
pub struct Sampler {
    opts: SamplerOptions,
    fetcher: Arc<Fetcher>,
    goroutine_url: String,
    leak_url: String,
    heap_url: String,
    leak_profile: bool,
    leak_every_round: bool,
    /// Rounds without end (`serve`): a profile the service does not serve is no longer asked for.
    heap_off: bool,
    creation_dump_off: bool,
    round: usize,
}

impl Sampler {
    pub fn new(opts: SamplerOptions, fetcher: Arc<Fetcher>) -> Result<Sampler, FetchError> {
        let goroutine_url = opts.target.goroutine_url(opts.debug2)?;
        let leak_url = opts.target.url("goroutineleak", "");
        let heap_url = opts.target.url("heap", "");
        let leak_profile = opts.leak_profile && !goroutine_url.contains("/goroutineleak");
        Ok(Sampler {
            opts,
            fetcher,
            goroutine_url,
            leak_url,
            heap_url,
            leak_profile,
            leak_every_round: true,
            heap_off: false,
            creation_dump_off: false,
            round: 0,
        })
    }

    pub fn goroutine_url(&self) -> &str {
        &self.goroutine_url
    }

    /// Rounds taken so far (the next round's number).
    pub fn rounds(&self) -> usize {
        self.round
    }

    fn fetch(&self, url: &str, wait: Wait) -> Result<Result<Vec<u8>, FetchError>, Halt> {
        fetch(&self.fetcher, url, wait)
    }

    /// Takes one round into `series` (and `heap`), keeping what it fetches in `keep`. A rolling
    /// series forgets what left its window at the end of the round.
    pub fn round(&mut self, series: &mut Series, heap: &mut HeapSeries, keep: &mut dyn Keep, wait: Wait) -> Result<Round, Halt> {
        let round = self.round;
        self.round += 1;
        let last = self.opts.count.is_some_and(|c| round + 1 == c);
        let result = self.take(round, last, series, heap, keep, wait);
        series.roll(heap);
        result
    }

    fn take(&mut self, round: usize, last: bool, series: &mut Series, heap: &mut HeapSeries, keep: &mut dyn Keep, wait: Wait) -> Result<Round, Halt> {
        let mut out = Round::default();
        let at = now_nanos();
        let before = series.snapshots.len();
        let url = self.goroutine_url.clone();
        match self.fetch(&url, wait)? {
            Ok(bytes) => {
                let decoded = profile::decode(&bytes, self.opts.max_profile_bytes);
                // The first answer decides whether this is a profile at all: fail fast, before a
                // folder is made, with what came back and what to do.
                if self.opts.first_round_decides && before == 0 && round == 0 {
                    let problem = match &decoded {
                        Ok(p) if p.kind.is_goroutine_like() => None,
                        Ok(p) => Some(format!(
                            "{url} answered with a {} profile, not goroutines: give the service's base URL or its /debug/pprof/goroutine URL",
                            p.kind.name()
                        )),
                        Err(e) => Some(format!("{url} answered, but not with a goroutine profile: {e}")),
                    };
                    if let Some(problem) = problem {
                        return Err(Halt::Target(problem));
                    }
                }
                let path = keep.keep(series, round, "goroutine", &url, &bytes, at);
                drop(bytes);
                let source = path.map_or_else(|| format!("{url} (round {round}, not saved)"), |p| p.display().to_string());
                match decoded {
                    Ok(p) if p.kind.is_goroutine_like() => {
                        let p = if series.is_rolling() { p.with_used_frames_only() } else { p };
                        out.goroutines = Some(series.push(&p, source, Some(at)).total);
                    }
                    Ok(p) => out.failure = Some(format!("round {round}: {url} served a {} profile, not goroutines", p.kind.name())),
                    Err(e) => out.failure = Some(format!("round {round}: {url}: {e}")),
                }
            }
            Err(e) => {
                // The very first fetch failed even after retries: the target cannot be sampled.
                if self.opts.first_round_decides && round == 0 {
                    return Err(Halt::Target(e.to_string()));
                }
                keep.record_error(round, "goroutine", &url, &e.to_string(), at);
                out.failure = Some(format!("round {round}: {e}"));
                out.fetch_error = Some(e);
            }
        }
        if let Some(f) = &out.failure {
            series.record_failure(f.clone());
        }
        let index = (series.snapshots.len() > before).then(|| series.snapshots.len() - 1);
        if let (0, Some(total)) = (round, out.goroutines) {
            // Now that the service's size is known: say so before a form stalls it round after round.
            let warnings =
                [self.opts.debug2.then(|| debug2_stall_warning(total)).flatten(), self.leak_profile.then(|| leak_profile_stall_warning(total)).flatten()];
            for w in warnings.into_iter().flatten() {
                series.errors.push(w.clone());
                out.warnings.push(w);
            }
        }
        if self.opts.creation_dump.due(round, last) && !self.opts.debug2 && !self.creation_dump_off {
            self.creation_dump(series, keep, round, wait)?;
        }
        if self.leak_profile && (self.leak_every_round || last) {
            self.leak_profile(series, keep, round, last, index, wait)?;
        }
        if self.opts.heap.due(round, last) && !self.heap_off {
            self.heap(series, heap, keep, round, index, wait)?;
        }
        Ok(out)
    }

    fn leak_profile(&mut self, series: &mut Series, keep: &mut dyn Keep, round: usize, last: bool, index: Option<usize>, wait: Wait) -> Result<(), Halt> {
        let url = self.leak_url.clone();
        let asked = Instant::now();
        let fetched = self.fetch(&url, wait)?;
        // The runtime runs a special collection for this profile; on a service with 200k
        // goroutines it takes tens of seconds and stalls the service meanwhile. When it takes
        // longer than the interval, take it again only in the last round (if there is one).
        let took = asked.elapsed();
        if self.leak_every_round && !last && took > self.opts.interval {
            self.leak_every_round = false;
            let again = if self.opts.count.is_some() { "it is fetched again only in the last round" } else { "it is no longer fetched" };
            series.errors.push(format!(
                "the goroutineleak profile took {:.1} s, longer than the {} interval: {again}, to keep the pace and spare the service",
                took.as_secs_f64(),
                humantime::format_duration(self.opts.interval)
            ));
        }
        match fetched {
            Ok(bytes) => {
                let path = keep.keep(series, round, "goroutineleak", &url, &bytes, now_nanos());
                let shown = path.map_or_else(|| url.clone(), |p| p.display().to_string());
                match profile::decode(&bytes, self.opts.max_profile_bytes) {
                    Ok(p) if p.kind == ProfileKind::GoroutineLeak => {
                        if let Some(i) = index {
                            let p = if series.is_rolling() { p.with_used_frames_only() } else { p };
                            series.attach_proof(i, &p);
                        }
                    }
                    Ok(p) => series.errors.push(format!("round {round}: {shown} is a {} profile, not a goroutineleak profile", p.kind.name())),
                    Err(e) => series.errors.push(format!("round {round}: {shown}: {e}")),
                }
            }
            Err(FetchError::NotFound { .. }) => {
                self.leak_profile = false;
                series.errors.push("the service does not serve /debug/pprof/goroutineleak (Go 1.26 and later do): leaks are judged by growth alone".into());
            }
            Err(e) => series.errors.push(format!("round {round}: {e}")),
        }
        Ok(())
    }

    fn heap(&mut self, series: &mut Series, heap: &mut HeapSeries, keep: &mut dyn Keep, round: usize, index: Option<usize>, wait: Wait) -> Result<(), Halt> {
        let url = self.heap_url.clone();
        match self.fetch(&url, wait)? {
            Ok(bytes) => {
                let path = keep.keep(series, round, "heap", &url, &bytes, now_nanos());
                let shown = path.map_or_else(|| url.clone(), |p| p.display().to_string());
                match profile::decode(&bytes, self.opts.max_profile_bytes) {
                    Ok(p) if p.kind == ProfileKind::Heap => {
                        if let Some(i) = index {
                            series.attach_heap(heap, i, &p);
                        }
                    }
                    Ok(p) => series.errors.push(format!("round {round}: {shown} is a {} profile, not a heap profile", p.kind.name())),
                    Err(e) => series.errors.push(format!("round {round}: {shown}: {e}")),
                }
            }
            Err(e @ FetchError::NotFound { .. }) if self.opts.count.is_none() => {
                self.heap_off = true;
                series.errors.push(format!("round {round}: {e}; the heap profile is no longer asked for: suspects carry no heap"));
            }
            Err(e) => series.errors.push(format!("round {round}: {e}")),
        }
        Ok(())
    }

    /// One `debug=2` dump, when the service is small enough for it to be cheap: it names each
    /// group's creator (and, under `GODEBUG=tracebackancestors`, its ancestors) without becoming
    /// a snapshot of its own.
    fn creation_dump(&mut self, series: &mut Series, keep: &mut dyn Keep, round: usize, wait: Wait) -> Result<(), Halt> {
        let Some(total) = series.snapshots.last().map(|s| s.total) else { return Ok(()) };
        if total > CREATION_DUMP_MAX_GOROUTINES {
            series.note_once(format!(
                "no debug=2 dump taken for creation sites: {total} goroutines (more than {CREATION_DUMP_MAX_GOROUTINES}, where it would pause the service); pass --debug2 to take them anyway"
            ));
            return Ok(());
        }
        let url = self.opts.target.url("goroutine", "debug=2");
        match self.fetch(&url, wait)? {
            Ok(bytes) => {
                let path = keep.keep(series, round, crate::source::saved::CREATION_DUMP, &url, &bytes, now_nanos());
                let shown = path.map_or_else(|| url.clone(), |p| p.display().to_string());
                match profile::decode(&bytes, self.opts.max_profile_bytes) {
                    Ok(p) if crate::source::saved::is_creation_dump(&p) => {
                        let p: Profile = if series.is_rolling() { p.with_used_frames_only() } else { p };
                        series.table.group_profile(&p, 0);
                    }
                    Ok(_) | Err(_) => series.errors.push(format!("round {round}: {shown} is not a debug=2 goroutine dump")),
                }
            }
            Err(e) => {
                series.errors.push(format!("round {round}: the debug=2 dump for creation sites failed: {e}"));
                // Rounds without end ask again only when it may answer next time.
                self.creation_dump_off =
                    self.opts.count.is_none() && matches!(e, FetchError::NotFound { .. } | FetchError::Status { status: 400..=499 | 501, .. });
            }
        }
        Ok(())
    }
}

/// From about this many goroutines on, a `debug=2` dump stalls the service for 100 ms and more:
/// the runtime stops the world while it prints every goroutine's stack, and again for each retry
/// with a buffer twice as large while the dump does not fit (up to 64 MiB). On 2 cores the longest
/// stall was 34 ms at 1,000 goroutines and 0.5 s at 10,000 (README, "The service's own cost").
pub const DEBUG2_STALL_GOROUTINES: i64 = 2_000;

/// From this many goroutines on, the goroutineleak profile (a garbage collection of its own) stalls
/// the service for more than 100 ms: 23 ms at 10,000 goroutines, 2 s at 50,000 (README, "The
/// service's own cost").
pub const LEAK_PROFILE_STALL_GOROUTINES: i64 = 20_000;

/// The warning for `--debug2` on a service of `goroutines` goroutines, when the dumps would stall it.
pub fn debug2_stall_warning(goroutines: i64) -> Option<String> {
    (goroutines >= DEBUG2_STALL_GOROUTINES).then(|| {
        format!(
            "{goroutines} goroutines: each debug=2 snapshot stops the service while every stack is printed, 100 ms or more at this size (see \"The service's own cost\" in the README); drop --debug2 to sample the protobuf form, which does not stop it"
        )
    })
}

/// The warning for fetching the goroutineleak profile of a service of `goroutines` goroutines.
pub fn leak_profile_stall_warning(goroutines: i64) -> Option<String> {
    (goroutines >= LEAK_PROFILE_STALL_GOROUTINES).then(|| {
        format!(
            "{goroutines} goroutines: the goroutineleak profile takes the service seconds at this size and holds up its other profiles meanwhile (see \"The service's own cost\" in the README); when it takes longer than the interval it is fetched again only in the last round"
        )
    })
}

/// Fetches `url`, giving way at once to a signal or the deadline: on a worker thread that this
/// waits on when there is either (an abandoned fetch finishes, or times out, on its own thread,
/// unobserved), else right here.
fn fetch(fetcher: &Arc<Fetcher>, url: &str, wait: Wait) -> Result<Result<Vec<u8>, FetchError>, Halt> {
    if wait.stop.is_none() && wait.deadline.is_none() {
        return Ok(fetcher.get(url));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = fetcher.clone();
    let owned = url.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(worker.get(&owned));
    });
    loop {
        if wait.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return Err(Halt::Signal);
        }
        if wait.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Halt::Deadline);
        }
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(result) => return Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Err(FetchError::Other { url: url.to_string(), message: "the fetch ended without an answer".into() }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_that_stall_a_big_service_are_warned_of() {
        assert_eq!(debug2_stall_warning(DEBUG2_STALL_GOROUTINES - 1), None);
        assert!(debug2_stall_warning(10_000).is_some_and(|w| w.contains("drop --debug2")));
        assert_eq!(leak_profile_stall_warning(10_000), None);
        assert!(leak_profile_stall_warning(200_000).is_some_and(|w| w.starts_with("200000 goroutines")));
    }

    #[test]
    fn schedules() {
        assert!(Every::Nth(4).due(0, false) && Every::Nth(4).due(8, false) && !Every::Nth(4).due(5, false));
        assert!(Every::LastRound.due(3, true) && !Every::LastRound.due(3, false));
        assert!(!Every::Never.due(0, true) && Every::Round.due(7, false));
    }
}
