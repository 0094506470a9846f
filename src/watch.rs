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
use crate::analysis::rank::{thresholds::LEAK_MIN_SNAPSHOTS, RankOptions};
use crate::analysis::series::Series;
use crate::error::{Error, Result};
use crate::report::LeakReport;
use crate::sample::{Every, Halt, Keep, Sampler, SamplerOptions, Wait};
use crate::source::http::{FetchError, Fetcher, HttpOptions, Target};
use crate::source::saved::SaveDir;
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

pub use crate::sample::{
    debug2_stall_warning, leak_profile_stall_warning, CREATION_DUMP_MAX_GOROUTINES, DEBUG2_STALL_GOROUTINES, LEAK_PROFILE_STALL_GOROUTINES,
};

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

/// The snapshot folder, and what happened to it: saving stops at the first write that fails, and
/// the rest of the watch goes on in memory.
struct Saver {
    dir: SaveDir,
    failed: Option<String>,
    saved: usize,
}

impl Keep for Saver {
    /// Saves a fetched profile; its path, or `None` when saving has stopped.
    fn keep(&mut self, series: &mut Series, round: usize, kind: &str, url: &str, bytes: &[u8], at: i64) -> Option<PathBuf> {
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

/// The warning for a plan of `count` snapshots, too few for a trend.
pub fn short_plan_warning(count: usize) -> Option<String> {
    (count < LEAK_MIN_SNAPSHOTS)
        .then(|| format!("{count} snapshot(s) cannot show a trend (a leak from growth needs {LEAK_MIN_SNAPSHOTS}); only leaks the runtime proves can be found"))
}

/// Samples one live service and builds its report; also says why saving stopped, if it did.
pub fn sample_report(opts: &WatchOptions, rank: &RankOptions, max_goroutines: Option<i64>, stop: &AtomicBool) -> Result<(LeakReport, Option<String>)> {
    let outcome = run(opts, stop)?;
    let mut doc = crate::report::build::series_report(&opts.target_text, &outcome.series, &outcome.heap, rank, max_goroutines);
    let note = match &outcome.saved_to {
        Some(dir) => format!("snapshots saved in {}", dir.display()),
        None => "no snapshot was saved".to_string(),
    };
    eprintln!("leakhound: {note}");
    if outcome.interrupted {
        doc.errors.push(note);
    }
    Ok((doc, outcome.unsaved))
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
/// target and `fleet` runs for each of many. Each round is the [`Sampler`]'s; the loop keeps the
/// pace: a round starts one interval after the one before began, and the ticks a slow round
/// missed are skipped, not made up for back to back.
pub fn run_target(opts: &WatchOptions, stop: &AtomicBool) -> std::result::Result<Outcome, Unsampled> {
    let fetcher = Arc::new(Fetcher::new(&opts.http).map_err(|e| Error::Input(e.to_string()))?);
    let mut sampler = Sampler::new(sampler_options(opts), fetcher).map_err(|e| Error::Input(e.to_string()))?;
    let goroutine_url = sampler.goroutine_url().to_string();
    let mut saver = Saver { dir: SaveDir::plan(&opts.save_dir, &opts.target_text)?, failed: None, saved: 0 };
    let mut series = Series::new(opts.group_by, opts.label.clone());
    let mut heap = HeapSeries::default();
    let bar = progress_bar(opts);
    let start = Instant::now();
    let deadline = opts.deadline.map(|d| start + d);
    let deadline_text = opts.deadline.map(|d| humantime::format_duration(d).to_string()).unwrap_or_default();
    let wait = Wait { stop: Some(stop), deadline };
    let mut stopped: Option<Halt> = None;
    let mut first_error: Option<FetchError> = None;
    let mut next = start;

    for round in 0..opts.count {
        if stop.load(Ordering::SeqCst) {
            stopped = Some(Halt::Signal);
            break;
        }
        let began = Instant::now();
        match sampler.round(&mut series, &mut heap, &mut saver, wait) {
            Ok(r) => {
                if let Some(total) = r.goroutines {
                    bar.set_message(format!("{total} goroutines"));
                }
                for w in &r.warnings {
                    bar.suspend(|| eprintln!("leakhound: warning: {w}"));
                }
                if let Some(e) = r.fetch_error {
                    first_error.get_or_insert(e);
                }
            }
            Err(Halt::Target(problem)) => {
                bar.finish_and_clear();
                return Err(Error::Target(problem).into());
            }
            Err(why) => {
                stopped = Some(why);
                break;
            }
        }
        bar.inc(1);
        if round + 1 == opts.count {
            break;
        }
        next = next_round(next, began, opts.interval);
        while Instant::now() < next {
            if stop.load(Ordering::SeqCst) {
                stopped = Some(Halt::Signal);
                break;
            }
            std::thread::sleep(Duration::from_millis(10).min(next.saturating_duration_since(Instant::now())));
        }
        if stopped.is_some() {
            break;
        }
    }
    bar.finish_and_clear();
    let interrupted = matches!(stopped, Some(Halt::Signal));
    let taken = series.snapshots.len();
    match stopped {
        Some(Halt::Signal) => series.errors.push(format!("interrupted: sampling stopped after {taken} snapshot(s)")),
        Some(Halt::Deadline) => {
            series.errors.push(format!("the --duration {deadline_text} deadline came while a fetch was still waiting: sampling ended with {taken} snapshot(s)"))
        }
        _ => {}
    }
    if series.snapshots.is_empty() {
        let why = match stopped {
            Some(Halt::Signal) => {
                return Err(Error::Interrupted(format!("interrupted before the first snapshot of {goroutine_url} was taken; nothing was saved")).into())
            }
            Some(Halt::Deadline) => {
                format!("{goroutine_url}: no answer before the --duration {deadline_text} deadline; raise --duration, or check that the service answers")
            }
            _ => first_error.map_or_else(|| format!("{goroutine_url}: no goroutine snapshot could be read (see the errors above)"), |e| e.to_string()),
        };
        return Err(Unsampled { error: Error::Target(why), errors: series.errors });
    }
    let saved_to = saver.dir.created().then(|| saver.dir.dir.clone());
    Ok(Outcome { series, heap, saved_to, interrupted, unsaved: saver.failed })
}

/// When the round after one planned for `planned` that began at `began` starts: one interval
/// after its tick while it began within that interval (the schedule holds, and a round that took
/// longer than the interval is followed at once, as fast as the service answers), else one
/// interval after it began: the ticks missed while an earlier round stalled are skipped, never made
/// up for back to back.
pub fn next_round(planned: Instant, began: Instant, interval: Duration) -> Instant {
    let next = planned + interval;
    if next > began {
        next
    } else {
        began + interval
    }
}

/// The sampling step of a watch.
fn sampler_options(opts: &WatchOptions) -> SamplerOptions {
    SamplerOptions {
        target: opts.target.clone(),
        interval: opts.interval,
        count: Some(opts.count),
        debug2: opts.debug2,
        leak_profile: opts.leak_profile,
        heap: if opts.heap { Every::Round } else { Every::Never },
        creation_dump: if opts.creation_dump { Every::LastRound } else { Every::Never },
        max_profile_bytes: opts.max_profile_bytes,
        first_round_decides: true,
    }
}

/// Time left in the planned run: the rounds still to come at the interval (or the deadline),
/// right from the first snapshot instead of a rate estimated from the snapshots so far.
pub fn time_left(count: usize, interval: Duration, deadline: Option<Duration>, elapsed: Duration) -> Duration {
    let planned = interval.saturating_mul(count.saturating_sub(1) as u32);
    let end = deadline.unwrap_or(planned);
    end.saturating_sub(elapsed)
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
    fn missed_ticks_are_skipped_not_made_up_for() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        // On time: one interval after the planned tick.
        assert_eq!(next_round(t0, t0 + ms(5), ms(500)), t0 + ms(500));
        // Round 1, planned and begun at 0.5 s, took 3 s: round 2's tick (1.0 s) has passed, so it
        // begins at once, at 3.5 s ...
        assert_eq!(next_round(t0 + ms(500), t0 + ms(500), ms(500)), t0 + ms(1000));
        // ... and round 3 one interval after round 2 began, not at once: the ticks missed while
        // round 1 stalled are skipped.
        assert_eq!(next_round(t0 + ms(1000), t0 + ms(3500), ms(500)), t0 + ms(4000));
        assert_eq!(next_round(t0 + ms(4000), t0 + ms(4010), ms(500)), t0 + ms(4500));
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
