//! `leakhound serve`: the continuous mode. Every `--interval` each target is sampled by the
//! [`Sampler`] `watch` runs (at most `--concurrency` at once, the targets' fetches spread evenly
//! over the interval), its rolling window of per-stack counts (a bounded [`Series`]) re-ranked by
//! the same analysis `watch` uses, and what it finds is served over HTTP: `/metrics` for Prometheus
//! ([`metrics`]), `/` an overview, `/targets/<name>` a target's report page, `/api/v1/report` the
//! JSON, `/-/healthy` and `/-/ready`.
//!
//! Bounded everywhere: every fetch has the `--timeout`, a target still being sampled when its next
//! round comes is not queued again (a slow or dead target never holds up the others, and the job
//! queue never holds more than one job per target), a window holds counts (never profiles) for
//! `--window` snapshots and a capped number of stacks, and `/metrics` exports at most
//! `--max-stacks` stacks per target.
//!
//! The targets file is read again when it changes (checked every round) and on SIGHUP; the windows
//! of targets that stay are kept. SIGTERM or SIGINT closes the listener and ends with exit 0.

pub mod metrics;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::analysis::heap::HeapSeries;
use crate::analysis::rank::RankOptions;
use crate::analysis::rolling::Bounds;
use crate::analysis::series::Series;
use crate::error::{Error, Result};
use crate::report::{self, LeakReport};
use crate::sample::{Every, KeepNothing, Sampler, SamplerOptions, Wait, SERVE_CREATION_DUMP_EVERY, SERVE_HEAP_EVERY};
use crate::source::http::{Fetcher, HttpOptions};
use crate::source::targets::{self, Shard, Target};
use crate::stacks::GroupBy;

use metrics::{SuspectMetrics, TargetMetrics};

/// What each target's rolling window keeps, and how it groups.
#[derive(Debug, Clone, Default)]
pub struct WindowOptions {
    pub bounds: Bounds,
    pub group_by: GroupBy,
    pub label: Option<String>,
}

/// Everything `serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A Prometheus file_sd file (JSON or YAML), read again when it changes and on SIGHUP.
    pub targets_file: Option<PathBuf>,
    /// Targets given on the command line.
    pub urls: Vec<String>,
    pub listen: String,
    pub interval: Duration,
    pub window: WindowOptions,
    /// Listed stacks exported per target in `/metrics`.
    pub max_stacks: usize,
    pub concurrency: usize,
    pub shard: Option<Shard>,
    pub http: HttpOptions,
    /// `--path`: where pprof is mounted when a target's URL does not say.
    pub path: Option<String>,
    pub max_profile_bytes: u64,
    /// Also fetch each target's goroutineleak profile every round (`--goroutineleak`).
    pub leak_profile: bool,
    pub rank: RankOptions,
    /// The labels that name a target's service, to merge a stack across replicas on `/` and in
    /// `/api/v1/report` (see `report::fleet`).
    pub group_by_labels: Vec<String>,
}

/// One target being served.
struct Entry {
    target: Target,
    goroutine_url: String,
    /// Queued or being sampled: not queued again until done.
    busy: AtomicBool,
    /// What only its sampling touches (one worker at a time: `busy`), locked for a whole round.
    work: Mutex<Work>,
    /// What the endpoints read, locked only to copy it in or out.
    state: Mutex<TargetState>,
}

/// A target's sampling step and rolling window (a bounded [`Series`]).
struct Work {
    sampler: Sampler,
    series: Series,
    heap: HeapSeries,
}

#[derive(Default)]
struct TargetState {
    up: Option<bool>,
    goroutines: Option<i64>,
    sample_seconds: Option<f64>,
    errors_total: u64,
    last_error: Option<String>,
    report: Option<Arc<StoredReport>>,
    /// Snapshots in the window.
    window: usize,
    top: Vec<SuspectMetrics>,
}

/// What the sampling side and the HTTP side share.
struct Shared {
    opts: ServeOptions,
    /// One client for all targets (its connections are pooled).
    fetcher: Arc<Fetcher>,
    targets: RwLock<BTreeMap<String, Arc<Entry>>>,
    rounds: AtomicU64,
    /// Why the last reload of the targets file failed, while the old list is kept.
    reload_error: Mutex<Option<String>>,
    /// The pages of the whole fleet (`/metrics`, `/`, `/api/v1/report`) take memory and CPU in
    /// proportion to it (10,000 targets: 5 MB of `/metrics`, tens of MB while rendering): one is
    /// rendered at a time, holding this lock, and the last `/metrics` is kept here to be served
    /// again within [`METRICS_REUSE`] or half an interval (Prometheus pairs scrape together,
    /// dashboards poll).
    fleet_pages: Mutex<Option<RenderedMetrics>>,
}

/// The last `/metrics` rendered.
struct RenderedMetrics {
    at: Instant,
    openmetrics: bool,
    body: Vec<u8>,
}

/// How long a rendered `/metrics` is served again (at most half an interval).
const METRICS_REUSE: Duration = Duration::from_secs(1);

impl Shared {
    fn entries(&self) -> Vec<Arc<Entry>> {
        self.targets.read().map(|t| t.values().cloned().collect()).unwrap_or_default()
    }
}

/// Runs until `signals.stop` is set. Errors only before serving (targets, listen address).
pub fn run(opts: ServeOptions, signals: &crate::signals::ServeSignals) -> Result<()> {
    let fetcher = Arc::new(Fetcher::new(&opts.http).map_err(|e| Error::Input(e.to_string()))?);
    let initial = load_targets(&opts)?;
    let server = tiny_http::Server::http(opts.listen.as_str())
        .map_err(|e| Error::Input(format!("cannot listen on {}: {e}; pass another --listen address (host:port)", opts.listen)))?;
    let server = Arc::new(server);
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        fetcher,
        targets: RwLock::new(BTreeMap::new()),
        rounds: AtomicU64::new(0),
        reload_error: Mutex::new(None),
        fleet_pages: Mutex::new(None),
    });
    apply_targets(&shared, initial);
    let listening = server.server_addr().to_ip().map_or_else(|| opts.listen.clone(), |a| a.to_string());
    eprintln!("leakhound serve: listening on http://{listening} ({} targets, every {})", shared.entries().len(), humantime::format_duration(opts.interval));

    // The workers: at most --concurrency samplings at once, fed by a bounded queue.
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Arc<Entry>>(QUEUE_BOUND);
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..opts.concurrency.max(1) {
        let (queue, shared) = (queue.clone(), shared.clone());
        std::thread::spawn(move || worker(&queue, &shared));
    }
    let http_threads: Vec<_> = (0..HTTP_THREADS)
        .map(|_| {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || loop {
                if SIGNALS_STOP.load(Ordering::SeqCst) {
                    break;
                }
                match server.recv_timeout(Duration::from_millis(100)) {
                    Ok(Some(request)) => respond(&shared, request),
                    Ok(None) => {}
                    Err(_) => break,
                }
            })
        })
        .collect();

    let mut seen = file_stamp(&opts);
    let mut next_round = Instant::now();
    let mut round: Option<Round> = None;
    while !signals.stop.load(Ordering::SeqCst) {
        if signals.reload.swap(false, Ordering::SeqCst) {
            eprintln!("leakhound serve: SIGHUP: reading the targets again");
            reload(&shared);
            seen = file_stamp(&opts);
        }
        let now = Instant::now();
        if now >= next_round {
            let stamp = file_stamp(&opts);
            if stamp != seen {
                eprintln!("leakhound serve: the targets file changed: reading it again");
                reload(&shared);
                seen = stamp;
            }
            if let Some(r) = round.as_mut() {
                // What the last round had not queued yet goes now.
                r.queue_until(r.entries.len(), &jobs);
            }
            shared.rounds.fetch_add(1, Ordering::SeqCst);
            // The first round is spread over at most FIRST_ROUND_SPREAD, so serve is soon ready.
            let spread = if round.is_none() { opts.interval.min(FIRST_ROUND_SPREAD) } else { opts.interval };
            round = Some(Round { start: now, spread, entries: shared.entries(), queued: 0 });
            next_round += opts.interval;
            if next_round < now {
                // Rounds missed (a suspended process): the next one comes an interval from now.
                next_round = now + opts.interval;
            }
        }
        if let Some(r) = round.as_mut() {
            r.queue_due(Instant::now(), &jobs);
        }
        std::thread::sleep(next_round.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)));
    }
    SIGNALS_STOP.store(true, Ordering::SeqCst);
    for t in http_threads {
        let _ = t.join();
    }
    // Dropping the last handle closes the listener; samplings still in flight are abandoned.
    drop(server);
    eprintln!("leakhound serve: stopped");
    Ok(())
}

/// Set when `run` ends, for the HTTP threads (the signal flags belong to the caller).
static SIGNALS_STOP: AtomicBool = AtomicBool::new(false);

/// Jobs waiting for a worker, at most: each target has at most one job queued or running, so
/// this is only reached by a list this long; the rest wait for the next round.
const QUEUE_BOUND: usize = 16_384;

/// Gives the pages the allocator holds free back to the system after a page of the whole fleet
/// was rendered. glibc's malloc returns free memory at the top of a heap only, and
/// each HTTP thread renders in its own arena: at 10,000 targets every `/metrics` (40 MB of
/// temporaries) left serve's RSS about 40 MB higher, until four arenas held one each.
/// `malloc_trim` releases the free pages wherever they are (milliseconds for hundreds of MiB).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Threads answering HTTP requests.
const HTTP_THREADS: usize = 4;

/// Longest request path answered (a target name is short).
const MAX_PATH_BYTES: usize = 2048;

/// The targets the options name, this shard's only.
fn load_targets(opts: &ServeOptions) -> Result<Vec<Target>> {
    let mut list = targets::from_urls(&opts.urls)?;
    if let Some(file) = &opts.targets_file {
        list.extend(targets::load(file)?);
    }
    if let Some(shard) = &opts.shard {
        list.retain(|t| shard.keeps(t));
    }
    Ok(list)
}

/// What tells that the targets file changed: its size, time and a hash of its contents (an edit
/// within the same second, of the same size, still changes the hash).
fn file_stamp(opts: &ServeOptions) -> Option<(u64, Option<SystemTime>, u64)> {
    let path = opts.targets_file.as_ref()?;
    let meta = std::fs::metadata(path).ok()?;
    // The loader caps the size it reads; hashing a huge file each round is not worth it either.
    let hash = if meta.len() <= targets::MAX_FILE_BYTES {
        crate::source::files::read_small(path, targets::MAX_FILE_BYTES, "a targets file").ok().map_or(0, |b| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            b.hash(&mut h);
            h.finish()
        })
    } else {
        0
    };
    Some((meta.len(), meta.modified().ok(), hash))
}

/// Reads the targets again; on an error the old list stays and the error is shown on `/`.
fn reload(shared: &Shared) {
    match load_targets(&shared.opts) {
        Ok(list) => {
            apply_targets(shared, list);
            if let Ok(mut e) = shared.reload_error.lock() {
                *e = None;
            }
        }
        Err(e) => {
            eprintln!("leakhound serve: {e}; the previous {} targets stay", shared.entries().len());
            if let Ok(mut slot) = shared.reload_error.lock() {
                *slot = Some(e.to_string());
            }
        }
    }
}

/// Makes `list` the targets: those already served with the same URL keep their window (and take
/// the new labels), new ones start empty, the others are dropped.
fn apply_targets(shared: &Shared, list: Vec<Target>) {
    let Ok(mut map) = shared.targets.write() else { return };
    let mut next = BTreeMap::new();
    for t in list {
        if next.contains_key(&t.name) {
            continue;
        }
        let work = crate::source::http::Target::parse(&t.url, shared.opts.path.as_deref()).and_then(|target| new_work(shared, target));
        let work = match work {
            Ok(w) => w,
            Err(e) => {
                eprintln!("leakhound serve: target {} left out: {}", report::escape::terminal(&t.name), report::escape::terminal(&e.to_string()));
                continue;
            }
        };
        let goroutine_url = work.sampler.goroutine_url().to_string();
        let entry = match map.get(&t.name) {
            Some(old) if old.goroutine_url == goroutine_url && old.target.labels == t.labels => old.clone(),
            Some(old) if old.goroutine_url == goroutine_url => {
                // New labels, same target: the window moves over.
                let work = old.work.lock().map(|mut w| std::mem::replace(&mut *w, work)).unwrap_or_else(|e| panic!("a sampling of {} panicked: {e}", t.name));
                let state = old.state.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
                Arc::new(Entry { target: t.clone(), goroutine_url, busy: AtomicBool::new(false), work: Mutex::new(work), state: Mutex::new(state) })
            }
            _ => Arc::new(Entry {
                target: t.clone(),
                goroutine_url,
                busy: AtomicBool::new(false),
                work: Mutex::new(work),
                state: Mutex::new(TargetState::default()),
            }),
        };
        next.insert(t.name.clone(), entry);
    }
    let (kept, added) = (next.keys().filter(|k| map.contains_key(*k)).count(), next.keys().filter(|k| !map.contains_key(*k)).count());
    let removed = map.keys().filter(|k| !next.contains_key(*k)).count();
    if !map.is_empty() {
        eprintln!("leakhound serve: targets: {kept} kept, {added} added, {removed} removed");
    }
    *map = next;
}

/// A new target's sampling step ([`Sampler`], the same `watch` runs, on serve's schedule: the heap
/// every [`SERVE_HEAP_EVERY`] rounds, creation sites every [`SERVE_CREATION_DUMP_EVERY`]) and an
/// empty window.
fn new_work(shared: &Shared, target: crate::source::http::Target) -> std::result::Result<Work, crate::source::http::FetchError> {
    let opts = &shared.opts;
    let sampler = Sampler::new(
        SamplerOptions {
            target,
            interval: opts.interval,
            count: None,
            debug2: false,
            leak_profile: opts.leak_profile,
            heap: Every::Nth(SERVE_HEAP_EVERY),
            creation_dump: Every::Nth(SERVE_CREATION_DUMP_EVERY),
            max_profile_bytes: opts.max_profile_bytes,
            first_round_decides: false,
        },
        shared.fetcher.clone(),
    )?;
    let series = Series::rolling(opts.window.group_by, opts.window.label.clone(), opts.window.bounds);
    Ok(Work { sampler, series, heap: HeapSeries::default() })
}

/// The first round is spread over at most this long (then every round over the whole interval).
const FIRST_ROUND_SPREAD: Duration = Duration::from_secs(2);

/// A round in progress: its targets are queued evenly over `spread` (target `i` of `n` at
/// `start + spread * i / n`), so that thousands of fetches are not fired together and a round
/// costs the same at every moment of the interval.
struct Round {
    start: Instant,
    spread: Duration,
    entries: Vec<Arc<Entry>>,
    queued: usize,
}

impl Round {
    /// Queues the targets whose moment has come.
    fn queue_due(&mut self, now: Instant, jobs: &SyncSender<Arc<Entry>>) {
        let n = self.entries.len();
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let due = if self.spread.is_zero() { n } else { ((elapsed / self.spread.as_secs_f64() * n as f64).floor() as usize + 1).min(n) };
        self.queue_until(due, jobs);
    }

    /// Queues every target up to `due` that is not still being sampled.
    fn queue_until(&mut self, due: usize, jobs: &SyncSender<Arc<Entry>>) {
        while self.queued < due.min(self.entries.len()) {
            let entry = &self.entries[self.queued];
            self.queued += 1;
            if entry.busy.swap(true, Ordering::SeqCst) {
                continue;
            }
            match jobs.try_send(entry.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(e)) | Err(TrySendError::Disconnected(e)) => e.busy.store(false, Ordering::SeqCst),
            }
        }
    }
}

fn worker(queue: &Mutex<Receiver<Arc<Entry>>>, shared: &Shared) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(entry) = job else { return };
        sample(&entry, shared);
        entry.busy.store(false, Ordering::SeqCst);
    }
}

/// Samples one target once and re-ranks its window. A target that cannot be sampled leaves
/// `/metrics` (but its `target_up 0`) at once: its suspects were of a process that may be gone.
fn sample(entry: &Entry, shared: &Shared) {
    let opts = &shared.opts;
    let started = Instant::now();
    let Ok(mut work) = entry.work.lock() else { return };
    let Work { sampler, series, heap } = &mut *work;
    let round = match sampler.round(series, heap, &mut KeepNothing, Wait::default()) {
        Ok(r) => r,
        Err(e) => crate::sample::Round { failure: Some(format!("{e:?}")), ..Default::default() },
    };
    let suspects = series.rank(&opts.rank);
    let doc = report::build::leak_report(&entry.target.name, series, heap, &suspects, &opts.rank, None, &[]);
    let window = series.snapshots.len();
    drop(work);
    // Down: no suspect in /metrics, so an alert on one resolves rather than fire for a process
    // that may be gone (its report still shows the window, and why the round failed).
    let up_suspects = if round.goroutines.is_some() { doc.suspects.as_slice() } else { &[] };
    let top: Vec<SuspectMetrics> = up_suspects
        .iter()
        .take(opts.max_stacks)
        .map(|s| SuspectMetrics {
            leaf: s.group.leaf.clone(),
            pattern: s.pattern.clone(),
            verdict: s.verdict.name().to_string(),
            goroutines: s.counts.last().copied().unwrap_or(0),
            growth_per_minute: s.growth_per_minute,
        })
        .collect();
    let Ok(mut state) = entry.state.lock() else { return };
    match (round.goroutines, round.failure) {
        (Some(total), _) => {
            state.up = Some(true);
            state.goroutines = Some(total);
            state.last_error = None;
        }
        (None, failure) => {
            state.up = Some(false);
            state.errors_total += 1;
            state.last_error = Some(failure.unwrap_or_default());
        }
    }
    state.top = top;
    state.report = StoredReport::store(&doc).map(Arc::new);
    state.window = window;
    state.sample_seconds = Some(started.elapsed().as_secs_f64());
}

/// A target's last report, as the endpoints serve it, kept as deflated JSON: a report holds a
/// line per snapshot of the window (source, time, kind), so at the default `--window 30` a
/// target's report took about 12 KB in memory, and 1.5 KB this way; the pages that show it
/// (`/targets/<name>`, `/api/v1/report`, `/`) read it back when asked.
struct StoredReport(Box<[u8]>);

impl StoredReport {
    fn store(doc: &LeakReport) -> Option<StoredReport> {
        thread_local! {
            // One compressor per worker, reset for each report: a new one allocates and zeroes
            // its ~300 KB of tables every time (a fresh mapping, page faults and all).
            static DEFLATE: std::cell::RefCell<flate2::Compress> = std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
        }
        let json = serde_json::to_vec(doc).ok()?;
        let deflated = DEFLATE.with(|d| {
            let mut d = d.borrow_mut();
            d.reset();
            let mut out = Vec::with_capacity(json.len() / 4 + 64);
            loop {
                let consumed = usize::try_from(d.total_in()).ok()?;
                match d.compress_vec(json.get(consumed..)?, &mut out, flate2::FlushCompress::Finish).ok()? {
                    flate2::Status::StreamEnd => break Some(out),
                    _ => out.reserve(out.capacity().max(64)),
                }
            }
        })?;
        let stored = StoredReport(deflated.into_boxed_slice());
        debug_assert_eq!(stored.load().as_ref(), Some(doc), "a report reads back as it was stored");
        Some(stored)
    }

    fn load(&self) -> Option<LeakReport> {
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&self.0[..]), &mut json).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// A target as the endpoints show it, copied out of its lock.
struct View {
    target: Target,
    metrics: TargetMetrics,
    last_error: Option<String>,
    report: Option<Arc<StoredReport>>,
    window: usize,
}

fn views(shared: &Shared) -> Vec<View> {
    shared
        .entries()
        .into_iter()
        .filter_map(|e| {
            let s = e.state.lock().ok()?;
            Some(View {
                target: e.target.clone(),
                metrics: TargetMetrics {
                    name: e.target.name.clone(),
                    labels: e.target.labels.clone(),
                    up: s.up,
                    goroutines: s.goroutines,
                    sample_seconds: s.sample_seconds,
                    errors_total: s.errors_total,
                    window: s.window,
                    suspects: s.top.clone(),
                },
                last_error: s.last_error.clone(),
                report: s.report.clone(),
                window: s.window,
            })
        })
        .collect()
}

/// Every target has been sampled (or failed) once.
fn ready(shared: &Shared) -> bool {
    shared.entries().iter().all(|e| e.state.lock().is_ok_and(|s| s.up.is_some()))
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header")
}

fn respond(shared: &Shared, request: tiny_http::Request) {
    let url = request.url().to_string();
    let path = url.split(['?', '#']).next().unwrap_or("");
    let method = request.method().clone();
    let (status, content_type, body): (u16, &str, Vec<u8>) = if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
        (405, "text/plain; charset=utf-8", b"only GET and HEAD\n".to_vec())
    } else if path.len() > MAX_PATH_BYTES {
        (414, "text/plain; charset=utf-8", b"path too long\n".to_vec())
    } else {
        route(shared, path, &request)
    };
    let mut response = tiny_http::Response::from_data(body).with_status_code(status).with_header(header("Content-Type", content_type));
    response.add_header(header("X-Content-Type-Options", "nosniff"));
    response.add_header(header("Cache-Control", "no-store"));
    // A client that went away is not worth a message.
    let _ = request.respond(response);
}

fn route(shared: &Shared, path: &str, request: &tiny_http::Request) -> (u16, &'static str, Vec<u8>) {
    const TEXT: &str = "text/plain; charset=utf-8";
    const HTML: &str = "text/html; charset=utf-8";
    match path {
        "/metrics" => {
            let accept = request.headers().iter().find(|h| h.field.equiv("Accept")).map(|h| h.value.as_str().to_string()).unwrap_or_default();
            let openmetrics = accept.contains("application/openmetrics-text");
            let content_type = if openmetrics { metrics::OPENMETRICS_CONTENT_TYPE } else { metrics::PROMETHEUS_CONTENT_TYPE };
            let mut last = shared.fleet_pages.lock().unwrap_or_else(|e| e.into_inner());
            let reuse = METRICS_REUSE.min(shared.opts.interval / 2);
            if let Some(r) = last.as_ref().filter(|r| r.openmetrics == openmetrics && r.at.elapsed() < reuse) {
                return (200, content_type, r.body.clone());
            }
            let all: Vec<TargetMetrics> = views(shared).into_iter().map(|v| v.metrics).collect();
            let body = metrics::encode(&all, shared.rounds.load(Ordering::SeqCst), openmetrics).into_bytes();
            drop(all);
            release_free_memory();
            *last = Some(RenderedMetrics { at: Instant::now(), openmetrics, body: body.clone() });
            (200, content_type, body)
        }
        "/" => {
            let _one_at_a_time = shared.fleet_pages.lock().unwrap_or_else(|e| e.into_inner());
            let page = overview(shared).into_bytes();
            release_free_memory();
            (200, HTML, page)
        }
        "/api/v1/report" => {
            let _one_at_a_time = shared.fleet_pages.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::new();
            let written = report::fleet::write(&fleet_report(shared), report::OutputFormat::Json, report::Style::default(), &mut out);
            release_free_memory();
            match written {
                Ok(()) => (200, "application/json", out),
                Err(e) => (500, TEXT, format!("{e}\n").into_bytes()),
            }
        }
        "/-/healthy" => (200, TEXT, b"leakhound serve is healthy\n".to_vec()),
        "/-/ready" if ready(shared) => (200, TEXT, b"leakhound serve is ready\n".to_vec()),
        "/-/ready" => (503, TEXT, b"leakhound serve is not ready: the first round is still being sampled\n".to_vec()),
        _ => {
            let Some(name) = path.strip_prefix("/targets/").and_then(crate::source::percent::decode) else {
                return (404, TEXT, b"not found: see / for the targets, /metrics, /api/v1/report\n".to_vec());
            };
            let entry = shared.targets.read().ok().and_then(|t| t.get(&name).cloned());
            let Some(entry) = entry else {
                return (404, TEXT, format!("no target named {}\n", report::escape::terminal(&name)).into_bytes());
            };
            let (report, error) = match entry.state.lock() {
                Ok(s) => (s.report.clone().filter(|_| s.window > 0), s.last_error.clone()),
                Err(_) => (None, None),
            };
            let report = report.and_then(|r| r.load());
            match report {
                Some(doc) => {
                    let mut out = Vec::new();
                    match report::html::leak(&doc, &mut out) {
                        Ok(()) => (200, HTML, out),
                        Err(e) => (500, TEXT, format!("{e}\n").into_bytes()),
                    }
                }
                None => (200, HTML, report::html::serve::not_sampled_yet(&entry.target.name, error.as_deref()).into_bytes()),
            }
        }
    }
}

/// The fleet document (`leakhound.fleet/v1`, as `watch` over many targets writes it): each
/// target's current report (its window), or why it has none.
fn fleet_report(shared: &Shared) -> report::fleet::FleetReport {
    let targets = views(shared)
        .into_iter()
        .map(|v| report::fleet::TargetDoc {
            name: v.target.name.clone(),
            url: crate::source::http::redact_url(&v.target.url),
            labels: v.target.labels.clone(),
            service: String::new(),
            outcome: String::new(),
            // One or the other (the schema's oneOf): a failed round of a target that has a window
            // is in its report's errors and failed_rounds.
            error: (v.window == 0).then(|| v.last_error.clone().unwrap_or_else(|| "not sampled yet".to_string())),
            report: v.report.filter(|_| v.window > 0).and_then(|r| r.load()),
            saved_to: None,
            failing: Vec::new(),
        })
        .collect();
    report::fleet::build(targets, &shared.opts.group_by_labels)
}

/// `/`: the fleet overview (`report::fleet`'s), each target linking to its own page.
fn overview(shared: &Shared) -> String {
    let doc = fleet_report(shared);
    let reload_error = shared.reload_error.lock().ok().and_then(|e| e.clone());
    let down: Vec<String> = views(shared).into_iter().filter(|v| v.metrics.up == Some(false)).map(|v| v.target.name).collect();
    let status = report::html::serve::ServeStatus {
        round: shared.rounds.load(Ordering::SeqCst),
        interval: shared.opts.interval,
        window: shared.opts.window.bounds.snapshots,
        down: &down,
        reload_error: reload_error.as_deref(),
    };
    report::html::serve::overview(&doc, &status, &|t| format!("/targets/{}", crate::source::percent::encode_segment(&t.name)))
}
