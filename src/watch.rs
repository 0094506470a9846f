//! The sampling loop: fetch on a schedule, save every profile as fetched, keep per-group counts,
//! show progress, stop cleanly on Ctrl-C or SIGTERM, and end by the `--duration` deadline.
//!
//! Nothing already fetched is lost: each profile and the index are written in full and then
//! renamed into place, so an interrupted watch, a full disk or a read-only folder never leaves half
//! a file under a final name, and the index always matches the files. Every fetch runs on a worker
//! thread that the loop waits on, so a signal or the deadline takes effect at once even while a
//! server stalls.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::analysis::heap::HeapSeries;
use crate::analysis::series::Series;
use crate::error::{Error, Result};
use crate::profile::{self, ProfileKind};
use crate::source::http::{FetchError, Fetcher, HttpOptions, Target};
use crate::source::saved::{now_nanos, SaveDir};
use crate::stacks::GroupBy;

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub target: Target,
    /// As the user gave it, for the report.
    pub target_text: String,
    pub http: HttpOptions,
    pub interval: Duration,
    pub count: usize,
    /// `--duration`: the whole run, fetches and retries included, ends by then.
    pub deadline: Option<Duration>,
    pub heap: bool,
    /// Fetch `/debug/pprof/goroutineleak` each round while the service serves it.
    pub leak_profile: bool,
    pub debug2: bool,
    /// Take one `debug=2` dump in the last round, for creation sites, when it is cheap
    /// ([`CREATION_DUMP_MAX_GOROUTINES`]).
    pub creation_dump: bool,
    pub save_dir: PathBuf,
    pub progress: bool,
    pub max_profile_bytes: u64,
    pub group_by: GroupBy,
    pub label: Option<String>,
}

/// The creation-site dump is taken only up to this many goroutines. A `debug=2` dump stops the
/// world while every stack is printed: at 5,000 goroutines that is a few MB and some milliseconds,
/// beyond it the service would pause noticeably for a report nicety.
pub const CREATION_DUMP_MAX_GOROUTINES: i64 = 5_000;

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

/// What a watch took.
pub struct Outcome {
    pub series: Series,
    pub heap: HeapSeries,
    /// The snapshot folder, when anything was saved in it.
    pub saved_to: Option<PathBuf>,
    /// Stopped by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// Why saving stopped (disk full, read-only folder, ...), when it did.
    pub unsaved: Option<String>,
}

/// Number of snapshots for `--count` or `--duration`: with a duration, one at once and one every
/// interval strictly before the deadline, so that the last fetch has time to finish by then.
pub fn snapshot_count(count: Option<usize>, duration: Option<Duration>, interval: Duration, default: usize) -> usize {
    match (count, duration) {
        (Some(c), _) => c.max(1),
        (None, Some(d)) => ((d.as_secs_f64() / interval.as_secs_f64().max(1e-3)).ceil() as usize).max(1),
        (None, None) => default,
    }
}

/// Why a fetch ended without an answer.
enum Stop {
    Signal,
    Deadline,
}

/// Fetches `url` on a worker thread and waits for it, for a signal or for the deadline, whichever
/// comes first. An abandoned fetch finishes (or times out) on its own thread, unobserved.
fn fetch(
    fetcher: &Arc<Fetcher>,
    url: &str,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> std::result::Result<std::result::Result<Vec<u8>, FetchError>, Stop> {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = fetcher.clone();
    let owned = url.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(worker.get(&owned));
    });
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(Stop::Signal);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Stop::Deadline);
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

/// The snapshot folder, and what happened to it: saving stops at the first write that fails, and
/// the rest of the watch goes on in memory.
struct Saver {
    dir: SaveDir,
    failed: Option<String>,
    saved: usize,
}

impl Saver {
    /// Saves a fetched profile; its path, or `None` when saving has stopped.
    fn save(&mut self, series: &mut Series, round: usize, kind: &str, url: &str, bytes: &[u8], at: i64) -> Option<PathBuf> {
        if self.failed.is_some() {
            return None;
        }
        match self.dir.save(round, kind, url, bytes, at) {
            Ok(path) => {
                self.saved += 1;
                Some(path)
            }
            Err(e) => {
                series.errors.push(format!(
                    "saving stopped in round {round}: {e}. The {} profile(s) saved before stay valid in {} and its index.json lists exactly them; sampling went on without saving",
                    self.saved,
                    self.dir.dir.display()
                ));
                self.failed = Some(e.to_string());
                None
            }
        }
    }

    fn record_error(&mut self, round: usize, kind: &str, url: &str, error: &str, at: i64) {
        if self.failed.is_none() {
            // A failure to note a failure is not worth stopping for; the report has it anyway.
            let _ = self.dir.record_error(round, kind, url, error, at);
        }
    }
}

/// A watch that took no snapshot: why (the error `run` returns), and the problems met on the way.
#[derive(Debug)]
pub struct Unsampled {
    pub error: Error,
    pub errors: Vec<String>,
}

impl From<Error> for Unsampled {
    fn from(error: Error) -> Self {
        Unsampled { error, errors: Vec::new() }
    }
}

/// Watches one target; the problems met before a run that took nothing go to stderr.
pub fn run(opts: &WatchOptions, stop: &AtomicBool) -> Result<Outcome> {
    run_target(opts, stop).map_err(|u| {
        for e in &u.errors {
            eprintln!("leakhound: {e}");
        }
        u.error
    })
}

/// Watches one target, printing nothing but its progress bar: the loop `watch` runs for its one
/// target and `fleet` runs for each of many.
pub fn run_target(opts: &WatchOptions, stop: &AtomicBool) -> std::result::Result<Outcome, Unsampled> {
    let fetcher = Arc::new(Fetcher::new(&opts.http).map_err(|e| Error::Input(e.to_string()))?);
    let goroutine_url = opts.target.goroutine_url(opts.debug2).map_err(|e| Error::Input(e.to_string()))?;
    let mut saver = Saver { dir: SaveDir::plan(&opts.save_dir, &opts.target_text)?, failed: None, saved: 0 };
    let mut series = Series::new(opts.group_by, opts.label.clone());
    let mut heap = HeapSeries::default();
    let bar = progress_bar(opts);
    let leak_url = opts.target.url("goroutineleak", "");
    let heap_url = opts.target.url("heap", "");
    let mut leak_profile = opts.leak_profile && !goroutine_url.contains("/goroutineleak");
    let mut leak_every_round = true;
    let start = Instant::now();
    let deadline = opts.deadline.map(|d| start + d);
    let deadline_text = opts.deadline.map(|d| humantime::format_duration(d).to_string()).unwrap_or_default();
    let mut stopped: Option<Stop> = None;
    let mut first_error: Option<FetchError> = None;

    'rounds: for round in 0..opts.count {
        if stop.load(Ordering::SeqCst) {
            stopped = Some(Stop::Signal);
            break;
        }
        let at = now_nanos();
        let before = series.snapshots.len();
        match fetch(&fetcher, &goroutine_url, stop, deadline) {
            Err(why) => {
                stopped = Some(why);
                break;
            }
            Ok(Ok(bytes)) => {
                let decoded = profile::decode(&bytes, opts.max_profile_bytes);
                // The first answer decides whether this is a profile at all: fail fast, before a
                // folder is made, with what came back and what to do.
                if before == 0 && round == 0 {
                    let problem = match &decoded {
                        Ok(p) if p.kind.is_goroutine_like() => None,
                        Ok(p) => Some(format!(
                            "{goroutine_url} answered with a {} profile, not goroutines: give the service's base URL or its /debug/pprof/goroutine URL",
                            p.kind.name()
                        )),
                        Err(e) => Some(format!("{goroutine_url} answered, but not with a goroutine profile: {e}")),
                    };
                    if let Some(problem) = problem {
                        bar.finish_and_clear();
                        return Err(Error::Target(problem).into());
                    }
                }
                let path = saver.save(&mut series, round, "goroutine", &goroutine_url, &bytes, at);
                let source = path.map_or_else(|| format!("{goroutine_url} (round {round}, not saved)"), |p| p.display().to_string());
                match decoded {
                    Ok(p) if p.kind.is_goroutine_like() => {
                        let snap = series.push(&p, source, Some(at));
                        bar.set_message(format!("{} goroutines", snap.total));
                    }
                    Ok(p) => series.record_failure(format!("round {round}: {goroutine_url} served a {} profile, not goroutines", p.kind.name())),
                    Err(e) => series.record_failure(format!("round {round}: {goroutine_url}: {e}")),
                }
            }
            Ok(Err(e)) => {
                // The very first fetch failed even after retries: the target cannot be sampled (exit 3).
                if round == 0 {
                    bar.finish_and_clear();
                    return Err(Error::Target(e.to_string()).into());
                }
                saver.record_error(round, "goroutine", &goroutine_url, &e.to_string(), at);
                first_error.get_or_insert(e.clone());
                series.record_failure(format!("round {round}: {e}"));
            }
        }
        let index = (series.snapshots.len() > before).then(|| series.snapshots.len() - 1);
        if let (0, Some(i)) = (round, index) {
            // Now that the service's size is known: say so before a form stalls it round after round.
            let total = series.snapshots[i].total;
            let warnings = [opts.debug2.then(|| debug2_stall_warning(total)).flatten(), leak_profile.then(|| leak_profile_stall_warning(total)).flatten()];
            for w in warnings.into_iter().flatten() {
                bar.suspend(|| eprintln!("leakhound: warning: {w}"));
                series.errors.push(w);
            }
        }
        let last_round = round + 1 == opts.count;
        if last_round && opts.creation_dump && !opts.debug2 {
            if let Err(why) = creation_dump(opts, &fetcher, &mut saver, &mut series, round, stop, deadline) {
                stopped = Some(why);
                bar.inc(1);
                break 'rounds;
            }
        }
        if leak_profile && (leak_every_round || last_round) {
            let asked = Instant::now();
            let fetched = match fetch(&fetcher, &leak_url, stop, deadline) {
                Ok(f) => f,
                Err(why) => {
                    stopped = Some(why);
                    bar.inc(1);
                    break 'rounds;
                }
            };
            // The runtime runs a special collection for this profile; on a service with 200k
            // goroutines it takes tens of seconds and stalls the service meanwhile. When it takes
            // longer than the interval, take it again only in the last round.
            let took = asked.elapsed();
            if leak_every_round && !last_round && took > opts.interval {
                leak_every_round = false;
                series.errors.push(format!(
                    "the goroutineleak profile took {:.1} s, longer than the {} interval: it is fetched again only in the last round, to keep the pace and spare the service",
                    took.as_secs_f64(),
                    humantime::format_duration(opts.interval)
                ));
            }
            match fetched {
                Ok(bytes) => {
                    let path = saver.save(&mut series, round, "goroutineleak", &leak_url, &bytes, now_nanos());
                    let shown = path.map_or_else(|| leak_url.clone(), |p| p.display().to_string());
                    match profile::decode(&bytes, opts.max_profile_bytes) {
                        Ok(p) if p.kind == ProfileKind::GoroutineLeak => {
                            if let Some(i) = index {
                                series.attach_proof(i, &p);
                            }
                        }
                        Ok(p) => series.errors.push(format!("round {round}: {shown} is a {} profile, not a goroutineleak profile", p.kind.name())),
                        Err(e) => series.errors.push(format!("round {round}: {shown}: {e}")),
                    }
                }
                Err(FetchError::NotFound { .. }) => {
                    leak_profile = false;
                    series.errors.push("the service does not serve /debug/pprof/goroutineleak (Go 1.26 and later do): leaks are judged by growth alone".into());
                }
                Err(e) => series.errors.push(format!("round {round}: {e}")),
            }
        }
        if opts.heap {
            match fetch(&fetcher, &heap_url, stop, deadline) {
                Err(why) => {
                    stopped = Some(why);
                    bar.inc(1);
                    break 'rounds;
                }
                Ok(Ok(bytes)) => {
                    let path = saver.save(&mut series, round, "heap", &heap_url, &bytes, now_nanos());
                    let shown = path.map_or_else(|| heap_url.clone(), |p| p.display().to_string());
                    match profile::decode(&bytes, opts.max_profile_bytes) {
                        Ok(p) if p.kind == ProfileKind::Heap => {
                            if let Some(i) = index {
                                heap.attach(&mut series, i, &p);
                            }
                        }
                        Ok(p) => series.errors.push(format!("round {round}: {shown} is a {} profile, not a heap profile", p.kind.name())),
                        Err(e) => series.errors.push(format!("round {round}: {shown}: {e}")),
                    }
                }
                Ok(Err(e)) => series.errors.push(format!("round {round}: {e}")),
            }
        }
        bar.inc(1);
        if last_round {
            break;
        }
        let next = opts.interval * (round as u32 + 1);
        while start.elapsed() < next {
            if stop.load(Ordering::SeqCst) {
                stopped = Some(Stop::Signal);
                break 'rounds;
            }
            std::thread::sleep(Duration::from_millis(10).min(next.saturating_sub(start.elapsed())));
        }
    }
    bar.finish_and_clear();
    let interrupted = matches!(stopped, Some(Stop::Signal));
    let taken = series.snapshots.len();
    match stopped {
        Some(Stop::Signal) => series.errors.push(format!("interrupted: sampling stopped after {taken} snapshot(s)")),
        Some(Stop::Deadline) => {
            series.errors.push(format!("the --duration {deadline_text} deadline came while a fetch was still waiting: sampling ended with {taken} snapshot(s)"))
        }
        None => {}
    }
    if series.snapshots.is_empty() {
        let why = match stopped {
            Some(Stop::Signal) => {
                return Err(Error::Interrupted(format!("interrupted before the first snapshot of {goroutine_url} was taken; nothing was saved")).into())
            }
            Some(Stop::Deadline) => {
                format!("{goroutine_url}: no answer before the --duration {deadline_text} deadline; raise --duration, or check that the service answers")
            }
            None => first_error.map_or_else(|| format!("{goroutine_url}: no goroutine snapshot could be read (see the errors above)"), |e| e.to_string()),
        };
        return Err(Unsampled { error: Error::Target(why), errors: series.errors });
    }
    let saved_to = saver.dir.created().then(|| saver.dir.dir.clone());
    Ok(Outcome { series, heap, saved_to, interrupted, unsaved: saver.failed })
}

/// Time left in the planned run: the rounds still to come at the interval (or the deadline),
/// right from the first snapshot instead of a rate estimated from the snapshots so far.
pub fn time_left(count: usize, interval: Duration, deadline: Option<Duration>, elapsed: Duration) -> Duration {
    let planned = interval.saturating_mul(count.saturating_sub(1) as u32);
    let end = deadline.unwrap_or(planned);
    end.saturating_sub(elapsed)
}

/// One `debug=2` dump of the last round, when the service is small enough for it to be cheap: it
/// names each group's creator (and, under `GODEBUG=tracebackancestors`, its ancestors) without
/// becoming a snapshot of its own.
/// Like every fetch, it gives way at once to a signal or the `--duration` deadline.
fn creation_dump(
    opts: &WatchOptions,
    fetcher: &Arc<Fetcher>,
    saver: &mut Saver,
    series: &mut Series,
    round: usize,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> std::result::Result<(), Stop> {
    let Some(total) = series.snapshots.last().map(|s| s.total) else { return Ok(()) };
    if total > CREATION_DUMP_MAX_GOROUTINES {
        series.errors.push(format!(
            "no debug=2 dump taken for creation sites: {total} goroutines (more than {CREATION_DUMP_MAX_GOROUTINES}, where it would pause the service); pass --debug2 to take them anyway"
        ));
        return Ok(());
    }
    let url = opts.target.url("goroutine", "debug=2");
    match fetch(fetcher, &url, stop, deadline)? {
        Ok(bytes) => {
            let path = saver.save(series, round, crate::source::saved::CREATION_DUMP, &url, &bytes, now_nanos());
            let shown = path.map_or_else(|| url.clone(), |p| p.display().to_string());
            match profile::decode(&bytes, opts.max_profile_bytes) {
                Ok(p) if crate::source::saved::is_creation_dump(&p) => {
                    series.table.group_profile(&p, 0);
                }
                Ok(_) | Err(_) => series.errors.push(format!("round {round}: {shown} is not a debug=2 goroutine dump")),
            }
        }
        Err(e) => series.errors.push(format!("round {round}: the debug=2 dump for creation sites failed: {e}")),
    }
    Ok(())
}

fn progress_bar(opts: &WatchOptions) -> ProgressBar {
    use std::io::IsTerminal;
    if !opts.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(opts.count as u64), ProgressDrawTarget::stderr());
    bar.set_message("starting");
    let (count, interval, deadline) = (opts.count, opts.interval, opts.deadline);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} snapshots, {msg}, {left} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("left", move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let left = time_left(count, interval, deadline, state.elapsed());
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                let _ = write!(w, "{}", humantime::format_duration(Duration::from_secs(secs)));
            })
            .progress_chars("=> "),
    );
    bar.set_prefix(opts.target_text.clone());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_counts_the_snapshots_that_fit_before_the_deadline() {
        let s = Duration::from_secs;
        assert_eq!(snapshot_count(None, Some(s(5)), s(10), 6), 1);
        assert_eq!(snapshot_count(None, Some(s(40)), s(10), 6), 4);
        assert_eq!(snapshot_count(None, Some(s(41)), s(10), 6), 5);
        assert_eq!(snapshot_count(None, Some(s(600)), s(15), 6), 40);
        assert_eq!(snapshot_count(Some(0), None, s(1), 6), 1);
        assert_eq!(snapshot_count(None, None, s(1), 12), 12);
    }

    #[test]
    fn forms_that_stall_a_big_service_are_warned_of() {
        assert_eq!(debug2_stall_warning(DEBUG2_STALL_GOROUTINES - 1), None);
        assert!(debug2_stall_warning(10_000).is_some_and(|w| w.contains("drop --debug2")));
        assert_eq!(leak_profile_stall_warning(10_000), None);
        assert!(leak_profile_stall_warning(200_000).is_some_and(|w| w.starts_with("200000 goroutines")));
    }

    #[test]
    fn time_left_is_known_from_the_first_snapshot() {
        let s = Duration::from_secs;
        // 12 snapshots 10 s apart: 110 s from the first, whatever the rate so far.
        assert_eq!(time_left(12, s(10), None, s(0)), s(110));
        assert_eq!(time_left(12, s(10), None, s(1)), s(109));
        assert_eq!(time_left(12, s(10), None, s(200)), s(0));
        // With --duration the deadline is the end.
        assert_eq!(time_left(4, s(10), Some(s(40)), s(5)), s(35));
    }
}
