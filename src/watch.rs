//! The sampling loop: fetch on a schedule, save every profile as fetched, keep per-group counts,
//! show progress, stop cleanly on Ctrl-C. Nothing already fetched is lost: each profile is on disk
//! before it is decoded, and the index is rewritten after every fetch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// What a watch took.
pub struct Outcome {
    pub series: Series,
    pub heap: HeapSeries,
    pub saved_to: PathBuf,
    pub interrupted: bool,
}

/// Number of snapshots for `--count` or `--duration` (the first is taken at once).
pub fn snapshot_count(count: Option<usize>, duration: Option<Duration>, interval: Duration, default: usize) -> usize {
    match (count, duration) {
        (Some(c), _) => c.max(1),
        (None, Some(d)) => (d.as_secs_f64() / interval.as_secs_f64().max(1e-3)).floor() as usize + 1,
        (None, None) => default,
    }
}

pub fn run(opts: &WatchOptions, stop: &AtomicBool) -> Result<Outcome> {
    let fetcher = Fetcher::new(&opts.http).map_err(|e| Error::Input(e.to_string()))?;
    let mut save = SaveDir::create(&opts.save_dir, &opts.target_text)?;
    let mut series = Series::new(opts.group_by, opts.label.clone());
    let mut heap = HeapSeries::default();
    let bar = progress_bar(opts);
    let goroutine_url = opts.target.url("goroutine", if opts.debug2 { "debug=2" } else { "" });
    let leak_url = opts.target.url("goroutineleak", "");
    let heap_url = opts.target.url("heap", "");
    let mut leak_profile = opts.leak_profile;
    let mut leak_every_round = true;
    let start = Instant::now();
    let mut interrupted = false;
    let mut first_error: Option<FetchError> = None;

    for round in 0..opts.count {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let at = now_nanos();
        let before = series.snapshots.len();
        match fetcher.get(&goroutine_url) {
            Ok(bytes) => {
                let path = save.save(round, "goroutine", &goroutine_url, &bytes, at)?;
                match profile::decode(&bytes, opts.max_profile_bytes) {
                    Ok(p) if p.kind.is_goroutine_like() => {
                        let snap = series.push(&p, path.display().to_string(), Some(at));
                        bar.set_message(format!("{} goroutines", snap.total));
                    }
                    Ok(p) => series.record_failure(format!("round {round}: {goroutine_url} served a {} profile, not goroutines", p.kind.name())),
                    Err(e) => series.record_failure(format!("round {round}: {goroutine_url}: {e}")),
                }
            }
            Err(e) => {
                save.record_error(round, "goroutine", &goroutine_url, &e.to_string(), at)?;
                // The very first fetch failed even after retries: the target cannot be sampled (exit 3).
                if round == 0 {
                    bar.finish_and_clear();
                    return Err(Error::Target(e.to_string()));
                }
                first_error.get_or_insert(e.clone());
                series.record_failure(format!("round {round}: {e}"));
            }
        }
        let index = (series.snapshots.len() > before).then(|| series.snapshots.len() - 1);
        let last_round = round + 1 == opts.count;
        if last_round && opts.creation_dump && !opts.debug2 {
            creation_dump(opts, &fetcher, &mut save, &mut series, round)?;
        }
        if leak_profile && (leak_every_round || last_round) {
            let asked = Instant::now();
            let fetched = fetcher.get(&leak_url);
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
                    let path = save.save(round, "goroutineleak", &leak_url, &bytes, now_nanos())?;
                    match profile::decode(&bytes, opts.max_profile_bytes) {
                        Ok(p) if p.kind == ProfileKind::GoroutineLeak => {
                            if let Some(i) = index {
                                series.attach_proof(i, &p);
                            }
                        }
                        Ok(_) | Err(_) => series.errors.push(format!("round {round}: {} is not a goroutineleak profile", path.display())),
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
            match fetcher.get(&heap_url) {
                Ok(bytes) => {
                    let path = save.save(round, "heap", &heap_url, &bytes, now_nanos())?;
                    match profile::decode(&bytes, opts.max_profile_bytes) {
                        Ok(p) if p.kind == ProfileKind::Heap => {
                            if let Some(i) = index {
                                heap.attach(&mut series, i, &p);
                            }
                        }
                        Ok(_) => series.errors.push(format!("round {round}: {} is not a heap profile", path.display())),
                        Err(e) => series.errors.push(format!("round {round}: {}: {e}", path.display())),
                    }
                }
                Err(e) => series.errors.push(format!("round {round}: {e}")),
            }
        }
        bar.inc(1);
        if round + 1 == opts.count {
            break;
        }
        let next = opts.interval * (round as u32 + 1);
        while start.elapsed() < next {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20).min(next.saturating_sub(start.elapsed())));
        }
    }
    if stop.load(Ordering::SeqCst) {
        interrupted = true;
    }
    bar.finish_and_clear();
    if interrupted {
        series.errors.push(format!("interrupted: sampling stopped after {} snapshot(s)", series.snapshots.len()));
    }
    if series.snapshots.is_empty() {
        let why = first_error.map_or_else(|| "no snapshot was taken".to_string(), |e| e.to_string());
        return Err(Error::Target(why));
    }
    Ok(Outcome { series, heap, saved_to: save.dir, interrupted })
}

/// One `debug=2` dump of the last round, when the service is small enough for it to be cheap: it
/// names each group's creator (and, under `GODEBUG=tracebackancestors`, its ancestors) without
/// becoming a snapshot of its own.
fn creation_dump(opts: &WatchOptions, fetcher: &Fetcher, save: &mut SaveDir, series: &mut Series, round: usize) -> Result<()> {
    let Some(total) = series.snapshots.last().map(|s| s.total) else { return Ok(()) };
    if total > CREATION_DUMP_MAX_GOROUTINES {
        series.errors.push(format!(
            "no debug=2 dump taken for creation sites: {total} goroutines (more than {CREATION_DUMP_MAX_GOROUTINES}, where it would pause the service); pass --debug2 to take them anyway"
        ));
        return Ok(());
    }
    let url = opts.target.url("goroutine", "debug=2");
    match fetcher.get(&url) {
        Ok(bytes) => {
            let path = save.save(round, crate::source::saved::CREATION_DUMP, &url, &bytes, now_nanos())?;
            match profile::decode(&bytes, opts.max_profile_bytes) {
                Ok(p) if p.kind == ProfileKind::Goroutine => {
                    series.table.group_profile(&p, 0);
                }
                Ok(_) | Err(_) => series.errors.push(format!("round {round}: {} is not a debug=2 goroutine dump", path.display())),
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
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} snapshots, {msg}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(opts.target_text.clone());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
