//! Each command as a library call: arguments in, report written, exit status out. `main.rs` only
//! parses the command line and turns errors into messages.
//!
//! Every check that can fail before sampling runs before sampling (the report's file, the
//! baseline, the snapshot folder, the plan's number of snapshots), so a run never samples for
//! minutes only to fail on its output; the report's file is written whole or not at all.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use regex::Regex;

use crate::analysis::diff::{diff as diff_snapshots, DiffOptions};
use crate::analysis::heap::HeapSeries;
use crate::analysis::rank::{thresholds::LEAK_MIN_SNAPSHOTS, RankOptions, Verdict};
use crate::analysis::series::{Input as SeriesInput, Reading, Series};
use crate::analysis::Snapshot;
use crate::cli::{AnalyzeArgs, CheckArgs, DemoArgs, DiffArgs, FailOn, FleetArgs, GroupArgs, OutputArgs, RankArgs, SampleArgs, WatchArgs};
use crate::error::{exit, Error, Result};
use crate::profile::{Profile, ProfileKind};
use crate::report::build::{snapshot_doc, truncation_warning};
use crate::report::{self, ChangeDoc, DiffReport, GroupDoc, LeakReport, OutputFormat, Style, SuspectDoc, Tool};
use crate::source::files::read_profile;
use crate::source::http::{HttpOptions, Target};
use crate::source::saved;
use crate::source::targets;
use crate::stacks::{GroupId, StackTable};
use crate::watch::{self, WatchOptions};

/// Checks, before any work, that the report can go where `--output` says: the format fits the
/// command and a file can be created there. Nothing is created.
pub fn check_output(output: &OutputArgs, diff: bool) -> Result<()> {
    if diff && output.format == OutputFormat::Dot {
        return Err(Error::Input("--format dot draws the call graph of a leak report (watch, analyze, check); diff writes text, json or markdown".into()));
    }
    if let Some(path) = &output.output {
        if path.is_dir() {
            return Err(Error::Input(format!("--output {}: is a folder; give a file name", path.display())));
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            // A device or a pipe (`--output /dev/stdout`): written straight to, nothing to check.
            return Ok(());
        }
        // Through a symbolic link the file is written where the link points.
        let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::Input(format!("--output {}: the folder {} does not exist; create it first", path.display(), parent.display())));
        }
        saved::check_can_create(path, "--output")?;
    }
    Ok(())
}

/// Writes a report where `--output` says, with colour only on a terminal and never with NO_COLOR.
/// A file is written whole beside its final name and then renamed, so it is complete or absent.
pub fn emit(output: &OutputArgs, write: impl Fn(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<()> {
    match &output.output {
        Some(path) => {
            let shown = path.display().to_string();
            let mut text = Vec::with_capacity(64 * 1024);
            write(&mut text, Style { color: false }).map_err(|source| Error::Output { what: shown.clone(), source })?;
            let written = if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
                // A device or a pipe (`--output /dev/stdout`) cannot be replaced by a rename.
                std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(&text))
            } else {
                // Through a symbolic link, the file it points to is replaced, not the link.
                saved::write_file_atomically(&std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()), &text)
            };
            written.map_err(|source| Error::Output { what: shown, source })
        }
        None => {
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            // Stdout is line-buffered: a JSON report would cost a write per line.
            let mut lock = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
            match write(&mut lock, Style { color }).and_then(|_| lock.flush()) {
                Ok(()) => Ok(()),
                // A closed pipe (`| head`) is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(source) => Err(Error::Output { what: "the report".into(), source }),
            }
        }
    }
}

/// Writes the report of a run. When its file cannot be written (disk full, read-only), the report
/// goes to standard output instead, so the run is not lost; returns what failed.
fn emit_final(output: &OutputArgs, write: impl Fn(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<Option<String>> {
    match emit(output, &write) {
        Ok(()) => Ok(None),
        Err(e @ Error::Output { .. }) if output.output.is_some() => {
            eprintln!("leakhound: {e}; the report follows on standard output instead");
            emit(&OutputArgs { format: output.format, output: None }, &write)?;
            Ok(Some(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// A warning when `--label KEY` was given and no sample of these groups carries that label.
fn label_warning(table: &StackTable, ids: impl Iterator<Item = GroupId>, key: Option<&str>) -> Option<String> {
    let key = key?;
    let mut ids = ids.peekable();
    ids.peek()?;
    let carried = ids.into_iter().any(|id| table.group(id).label.as_deref().is_some_and(|v| !v.is_empty()));
    (!carried).then(|| {
        format!("no sample carries the label {key}: the groups are the same as without --label (labels come from pprof.Do or pprof.SetGoroutineLabels in the service)")
    })
}

/// The inputs for a report's header: a long list is summarised.
fn summarise_inputs(inputs: &[String]) -> String {
    match inputs {
        [first, .., last] if inputs.len() > 3 => format!("{first} … {last} ({} files)", inputs.len()),
        _ => inputs.join(" "),
    }
}

/// The value column to compare: the goroutine count, or the chosen heap sample type.
fn value_index(p: &Profile, path: &Path, sample_type: &str) -> Result<usize> {
    match &p.kind {
        ProfileKind::Goroutine | ProfileKind::GoroutineLeak => Ok(0),
        ProfileKind::Heap => p.sample_type_index(sample_type).ok_or_else(|| {
            let names: Vec<&str> = p.sample_types.iter().map(|t| t.name.as_str()).collect();
            Error::Input(format!("{}: no sample type {sample_type:?}; this heap profile has {}", path.display(), names.join(", ")))
        }),
        ProfileKind::Other(types) => Err(Error::Input(format!(
            "{}: a profile of {types}, not a goroutine or heap profile; fetch /debug/pprof/goroutine or /debug/pprof/heap",
            path.display()
        ))),
    }
}

/// Makes two goroutine snapshots of different forms comparable: a served profile holds the
/// goroutines of the request that fetched it, which a SIGQUIT or panic dump does not, so when only
/// one side has them, or the forms differ (the writer's stack differs by form), they are left out
/// (each snapshot's `request_goroutines` says how many). Warns when NEW is older than BASE.
fn comparable_forms(table: &StackTable, base: &mut Snapshot, new: &mut Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    if !base.kind.is_goroutine_like() {
        return notes;
    }
    if let (Some(b), Some(n)) = (base.time_nanos, new.time_nanos) {
        if n < b {
            notes.push(format!("{} was taken before {}: the changes read from the newer to the older", new.source, base.source));
        }
    }
    // The writer's own stack differs from form to form, and a dump taken without a request has
    // none; the snapshots say how many they left out (and the runtime's own goroutines).
    let (rb, rn) = (base.request_goroutines(table), new.request_goroutines(table));
    if (rb > 0) != (rn > 0) || (base.format != new.format && rb + rn > 0) {
        base.leave_out_request_goroutines(table);
        new.leave_out_request_goroutines(table);
    }
    notes
}

/// `leakhound diff BASE NEW`: exit 0, or 5 when the report file could not be written (the report
/// then went to stdout).
pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    check_output(&args.output, true)?;
    // NEW is read on a second core while BASE is read and grouped; the errors still come in the
    // same order (BASE's reading, NEW's, the kinds, the sample types).
    let mut table = StackTable::new(args.group.group_by, args.group.label.clone());
    let (base, base_kind, new_p) = std::thread::scope(|scope| {
        let new = scope.spawn(|| read_profile(&args.new, args.group.max_profile_bytes));
        let grouped = read_profile(&args.base, args.group.max_profile_bytes).map(|base_p| {
            let base = value_index(&base_p, &args.base, &args.sample_type)
                .map(|bi| Snapshot::from_profile(&mut table, &base_p, args.base.display().to_string(), 0, bi));
            // Freed, not left to the exit: NEW's grouping reuses its memory (fewer fresh pages).
            (base, base_p.kind)
        });
        let new_p = new.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        grouped.map(|(base, kind)| (base, kind, new_p))
    })?;
    let new_p = new_p?;
    let (bk, nk) = (&base_kind, &new_p.kind);
    if bk.is_goroutine_like() != nk.is_goroutine_like() || (*bk == ProfileKind::Heap) != (*nk == ProfileKind::Heap) {
        return Err(Error::Input(format!(
            "{} is a {} profile but {} is a {} profile: diff compares two goroutine profiles or two heap profiles",
            args.base.display(),
            bk.name(),
            args.new.display(),
            nk.name()
        )));
    }
    if bk.is_goroutine_like() && bk != nk {
        return Err(Error::Input(format!(
            "{} is a {} profile but {} is a {} profile: a goroutineleak profile holds only the goroutines the runtime proved leaked, so against all goroutines every other stack would look gone. Diff two goroutine profiles, or two goroutineleak profiles",
            args.base.display(),
            bk.name(),
            args.new.display(),
            nk.name()
        )));
    }
    let mut base = base?;
    let ni = value_index(&new_p, &args.new, &args.sample_type)?;
    let mut new = Snapshot::from_profile(&mut table, &new_p, args.new.display().to_string(), 1, ni);
    left_to_exit(new_p);
    let mut warnings: Vec<String> = [truncation_warning(&base), truncation_warning(&new)].into_iter().flatten().collect();
    warnings.extend(comparable_forms(&table, &mut base, &mut new));
    let changes = diff_snapshots(&table, &base, &new, &DiffOptions { top: args.top, min_delta: args.min_delta });
    if changes.is_empty() && args.min_delta > 1 {
        let all = diff_snapshots(&table, &base, &new, &DiffOptions { top: None, min_delta: 1 });
        if let Some(largest) = all.iter().map(|c| c.delta.unsigned_abs()).max() {
            warnings.push(format!(
                "--min-delta {} hides every change: {} stack group(s) changed, the largest by {largest}; lower --min-delta to see them",
                args.min_delta,
                all.len()
            ));
        }
    }
    warnings.extend(label_warning(&table, base.groups.keys().chain(new.groups.keys()).copied(), args.group.label.as_deref()));
    let doc = DiffReport {
        schema: report::DIFF_SCHEMA.into(),
        tool: Tool::default(),
        base: snapshot_doc(&base),
        new: snapshot_doc(&new),
        sample_type: new.sample_type.name.clone(),
        unit: new.sample_type.unit.clone(),
        base_total: base.total,
        new_total: new.total,
        changes: {
            // Labels distinct among the changes shown, as in the leak report.
            let infos: Vec<&crate::stacks::GroupInfo> = changes.iter().map(|c| table.group(c.group)).collect();
            let leaves = crate::analysis::patterns::distinct_leaves(&infos);
            changes
                .iter()
                .zip(infos.iter().zip(leaves))
                .map(|(c, (g, l))| ChangeDoc { group: GroupDoc::with_leaf(g, l), base: c.base, new: c.new, delta: c.delta })
                .collect()
        },
        warnings,
    };
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::write_diff(&doc, format, style, w))?;
    left_to_exit((doc, table, base, new));
    Ok(if lost.is_some() { ExitCode::from(exit::OUTPUT_LOST) } else { ExitCode::SUCCESS })
}

/// What a command no longer needs (a grouped profile, or all it built once its report is written)
/// when the process exits soon after: the exit hands all its memory back at once, so it is not
/// freed first one allocation at a time (a profile's samples, the groups' frames and the report's
/// strings are 10^4 to 10^5 of them: 1.5 ms of a 15 ms `diff`). For the commands the binary runs
/// once, never in a loop.
fn left_to_exit<T>(built: T) {
    std::mem::forget(built);
}

/// Set by Ctrl-C or SIGTERM (and SIGHUP): sampling stops at once (a fetch in flight is abandoned)
/// and the report is still written. A second signal exits at once.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_signal_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let hangup_ignored = sighup_ignored();
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(exit::INTERRUPTED.into());
            }
        });
        // Under `nohup` a hang-up is meant to be ignored: keep it so, and keep sampling.
        if hangup_ignored {
            ignore_sighup();
        }
    });
}

#[cfg(unix)]
fn sighup_ignored() -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(unix)]
fn ignore_sighup() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn sighup_ignored() -> bool {
    false
}

#[cfg(not(unix))]
fn ignore_sighup() {}

fn rank_options(r: &RankArgs) -> Result<RankOptions> {
    let ignore =
        r.ignore.iter().map(|s| Regex::new(s).map_err(|e| Error::Input(format!("--ignore '{s}': not a valid regex: {e}")))).collect::<Result<Vec<_>>>()?;
    Ok(RankOptions { ignore, min_growth_per_minute: r.min_growth_per_minute, min_increase: r.min_increase, top: r.top })
}

fn watch_options(url: &str, s: &SampleArgs, g: &GroupArgs, heap: bool, default_count: usize) -> Result<WatchOptions> {
    let target = Target::parse(url, s.path.as_deref()).map_err(|e| Error::Input(e.to_string()))?;
    // A password in the URL becomes a header (sent to the target only) and is shown as `***`.
    let mut headers = s.headers.clone();
    let has_auth = headers.iter().any(|h| h.split(':').next().is_some_and(|n| n.trim().eq_ignore_ascii_case("authorization")));
    headers.extend(crate::source::http::url_credentials(url).filter(|_| !has_auth));
    Ok(WatchOptions {
        target,
        target_text: crate::source::http::redact_url(url),
        http: HttpOptions { headers, insecure: s.insecure, timeout: s.timeout, retries: s.retries, max_body_bytes: g.max_profile_bytes, ..Default::default() },
        interval: s.interval,
        count: watch::snapshot_count(s.count, s.duration, s.interval, default_count),
        deadline: s.duration,
        heap,
        leak_profile: true,
        debug2: s.debug2,
        creation_dump: true,
        save_dir: s.save.clone().unwrap_or_else(saved::default_dir),
        progress: !s.quiet,
        max_profile_bytes: g.max_profile_bytes,
        group_by: g.group_by,
        label: g.label.clone(),
    })
}

/// `check` refuses, before sampling, a plan that cannot give the snapshots a pass needs.
fn refuse_short_plan(opts: &WatchOptions, s: &SampleArgs) -> Result<()> {
    let min = LEAK_MIN_SNAPSHOTS;
    if opts.count >= min {
        return Ok(());
    }
    let fmt = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let (plan, fix) = match (s.count, s.duration) {
        (Some(c), _) => (format!("--count {c}"), format!("pass --count {min} or more")),
        (None, Some(d)) => (
            format!("--duration {} at --interval {}", fmt(d), fmt(s.interval)),
            format!(
                "pass --duration {} or more, or --interval {} or less, or --count {min}",
                fmt(s.interval * min as u32),
                fmt(std::time::Duration::from_millis((d.as_millis() / min as u128).max(1) as u64))
            ),
        ),
        (None, None) => (String::from("the default"), format!("pass --count {min} or more")),
    };
    Err(Error::Input(format!("check needs at least {min} snapshots to pass (no leak is only clear from a trend), but {plan} gives {}: {fix}", opts.count)))
}

/// The leak report of a watch.
fn leak_report_of(opts: &WatchOptions, outcome: &watch::Outcome, rank: &RankOptions, max_goroutines: Option<i64>) -> LeakReport {
    let suspects = outcome.series.rank(rank);
    let mut doc = crate::report::build::leak_report(&opts.target_text, &outcome.series, &outcome.heap, &suspects, rank, max_goroutines, &[]);
    doc.errors.extend(label_warning(&outcome.series.table, outcome.series.snapshots.iter().flat_map(|s| s.groups.keys().copied()), opts.label.as_deref()));
    doc
}

/// Samples a live service and builds its report; also says why saving stopped, if it did.
fn sample(opts: &WatchOptions, rank: &RankOptions, max_goroutines: Option<i64>) -> Result<(LeakReport, Option<String>)> {
    install_signal_handler();
    let outcome = watch::run(opts, &STOP)?;
    let mut doc = leak_report_of(opts, &outcome, rank, max_goroutines);
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

/// The targets of a run over many services: several URLs, or `--targets FILE` (with or without
/// URLs). `None` for one URL alone, which runs exactly as it always has.
fn fleet_targets(urls: &[String], f: &FleetArgs, output: &OutputArgs) -> Result<Option<Vec<targets::Target>>> {
    if f.targets_file.is_none() && urls.len() <= 1 {
        return Ok(None);
    }
    if output.format == OutputFormat::Dot {
        return Err(Error::Input("--format dot draws the call graph of one target; over many targets use --format html (a graph per target)".into()));
    }
    let mut list = targets::from_urls(urls)?;
    if let Some(path) = &f.targets_file {
        let from_file = targets::load(path)?;
        if from_file.is_empty() {
            return Err(Error::Input(format!("--targets {}: lists no target; add target groups to it, or give URLs", path.display())));
        }
        let given: HashSet<String> = list.iter().map(|t| t.name.clone()).collect();
        for t in from_file {
            if given.contains(&t.name) {
                return Err(Error::Input(format!("{} is given as a URL and in --targets {}: give it once", t.name, path.display())));
            }
            list.push(t);
        }
    }
    if list.len() > crate::fleet::MAX_TARGETS {
        return Err(Error::Input(format!(
            "{} targets: at most {} in one watch or check; split the targets file, or run `leakhound serve` instances with --shard",
            list.len(),
            crate::fleet::MAX_TARGETS
        )));
    }
    Ok(Some(list))
}

/// Each target's watch, planned before any sampling: its URL, and its snapshot folder inside
/// `--save DIR` (made when its first profile arrives).
fn fleet_members(list: Vec<targets::Target>, s: &SampleArgs, g: &GroupArgs, heap: bool, default_count: usize) -> Result<Vec<crate::fleet::Member>> {
    let parent = s.save.clone().unwrap_or_else(saved::default_dir);
    let dirs = crate::fleet::save_dirs(&parent, &list)?;
    list.into_iter()
        .zip(dirs)
        .map(|(target, dir)| {
            let mut watch = watch_options(&target.url, s, g, heap, default_count).map_err(|e| Error::Input(format!("target {}: {e}", target.name)))?;
            saved::SaveDir::plan(&dir, &watch.target_text)?;
            watch.save_dir = dir;
            Ok(crate::fleet::Member { target, watch })
        })
        .collect()
}

/// A fleet's report, and why saving stopped for a target, if it did for any.
struct FleetRun {
    doc: report::fleet::FleetReport,
    unsaved: Option<String>,
}

/// Samples every target at once and builds the fleet document; `failing` says what fails the
/// check in a target's report (nothing for `watch`). Interrupted before any snapshot of any
/// target: exit 130, as for one target.
fn sample_fleet(
    members: Vec<crate::fleet::Member>,
    f: &FleetArgs,
    rank: &RankOptions,
    max_goroutines: Option<i64>,
    failing: impl Fn(&str, &mut LeakReport) -> Vec<String>,
) -> Result<FleetRun> {
    install_signal_handler();
    let parent = members.first().and_then(|m| m.watch.save_dir.parent().map(Path::to_path_buf));
    let runs = crate::fleet::run(members, f.concurrency, &STOP);
    if !runs.is_empty() && runs.iter().all(|r| matches!(&r.result, Err(u) if matches!(u.error, Error::Interrupted(_)))) {
        return Err(Error::Interrupted("interrupted before the first snapshot of any target was taken; nothing was saved".into()));
    }
    let mut unsaved = None;
    let mut saved_any = false;
    let mut docs = Vec::with_capacity(runs.len());
    for run in runs {
        let mut doc = report::fleet::TargetDoc {
            name: run.target.name.clone(),
            url: crate::source::http::redact_url(&run.target.url),
            labels: run.target.labels.clone(),
            service: String::new(),
            outcome: String::new(),
            report: None,
            error: None,
            saved_to: None,
            failing: Vec::new(),
        };
        match run.result {
            Ok(outcome) => {
                let mut r = leak_report_of(&run.watch, &outcome, rank, max_goroutines);
                doc.failing = failing(&run.target.name, &mut r);
                doc.report = Some(r);
                doc.saved_to = outcome.saved_to.as_ref().map(|d| d.display().to_string());
                saved_any |= outcome.saved_to.is_some();
                if let Some(why) = outcome.unsaved {
                    unsaved.get_or_insert(format!("{}: {why}", run.target.name));
                }
            }
            Err(u) => doc.error = Some(u.error.to_string()),
        }
        docs.push(doc);
    }
    match parent.filter(|_| saved_any) {
        Some(dir) => eprintln!("leakhound: snapshots saved in {}, one folder per target", dir.display()),
        None => eprintln!("leakhound: no snapshot was saved"),
    }
    let labels = if f.group_by_label.is_empty() { report::fleet::DEFAULT_GROUP_LABELS.map(String::from).to_vec() } else { f.group_by_label.clone() };
    Ok(FleetRun { doc: report::fleet::build(docs, &labels), unsaved })
}

/// Reads saved snapshots: folders written by `watch` and profile files, in any order and any
/// form. Each file is recognised by its content and placed by its own time (see
/// [`Series::assemble`]): heap and goroutineleak profiles, and other forms of the same moment,
/// add to the goroutine snapshot they were taken with.
pub fn load_saved(inputs: &[std::path::PathBuf], g: &GroupArgs) -> Result<(Series, HeapSeries)> {
    let mut series = Series::new(g.group_by, g.label.clone());
    let (files, errors) = crate::source::files::expand_inputs(inputs)?;
    series.errors.extend(errors);
    let mut read = Vec::new();
    let mut first_error = None;
    // Files are decoded on two threads (even and odd files), ahead of the grouping here, which
    // takes them in order; bounded channels keep a few decoded profiles in memory at most. Each
    // grouped profile goes back to the thread that decoded it, which frees it there or reuses its
    // allocations for its next file (`profile::recycle`).
    const DECODERS: usize = 2;
    std::thread::scope(|scope| {
        let mut channels = Vec::with_capacity(DECODERS);
        let mut give_back = Vec::with_capacity(DECODERS);
        for k in 0..DECODERS {
            let (decoded_tx, decoded) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done) = std::sync::mpsc::channel::<Profile>();
            let inputs: Vec<&crate::source::files::InputFile> = files.iter().skip(k).step_by(DECODERS).collect();
            scope.spawn(move || {
                // Sent and not yet given back: past two (one waiting in the channel, one being
                // grouped), the next file waits for the first of them to be handed back, whose
                // allocations it then reuses. The grouping is the slower side, so this costs no time.
                let mut out = 0usize;
                crate::profile::reuse_allocations_on_this_thread();
                for input in inputs {
                    if out >= 2 {
                        match done.recv() {
                            Ok(p) => {
                                out -= 1;
                                crate::profile::recycle(p);
                            }
                            Err(_) => break,
                        }
                    }
                    let read = crate::source::files::read_input(input, g.max_profile_bytes);
                    // Every profile read is handed back (see `load_decoded`), an error is not.
                    let sent = usize::from(read.is_ok());
                    if decoded_tx.send(read).is_err() {
                        break;
                    }
                    out += sent;
                }
                // The last ones are freed here too, while the grouping goes on.
                drop(decoded_tx);
                for p in done {
                    drop(p);
                }
            });
            channels.push(decoded);
            give_back.push(done_tx);
        }
        let in_order = (0..files.len()).map_while(|i| channels[i % DECODERS].recv().ok());
        let done = |i: usize, p: Profile| {
            // A decoder that has finished has closed its end: the profile is freed here.
            let _ = give_back[i % DECODERS].send(p);
        };
        load_decoded(&files, in_order, done, &mut series, &mut read, &mut first_error);
        drop(give_back);
    });
    if !read.iter().any(|i| matches!(i.reading, Reading::Goroutine(_))) {
        return Err(first_error.unwrap_or_else(|| {
            Error::Input("no goroutine profile among the inputs: give goroutine profiles (heap and goroutineleak ones only go with them)".into())
        }));
    }
    let mut heap = HeapSeries::default();
    series.assemble(&mut heap, read);
    Ok((series, heap))
}

/// Groups each decoded file into the series, in order (see [`load_saved`]), and hands every
/// profile to `done` with its index once grouped: its decoder waits for it.
fn load_decoded(
    files: &[crate::source::files::InputFile],
    decoded: impl Iterator<Item = Result<Profile>>,
    mut done: impl FnMut(usize, Profile),
    series: &mut Series,
    read: &mut Vec<SeriesInput>,
    first_error: &mut Option<Error>,
) {
    for (i, (f, p)) in files.iter().zip(decoded).enumerate() {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                series.errors.push(e.to_string());
                series.unreadable.push(e.to_string());
                first_error.get_or_insert(e);
                continue;
            }
        };
        let source = f.path.display().to_string();
        if let Some(why) = f.kind.as_deref().and_then(|k| saved::contradiction(k, &p)) {
            series.errors.push(format!("{source}: {why}"));
            done(i, p);
            continue;
        }
        let reading = match &p.kind {
            ProfileKind::Goroutine => Reading::Goroutine(Snapshot::from_profile(&mut series.table, &p, source.clone(), 0, 0)),
            ProfileKind::GoroutineLeak => Reading::Proof(series.proof_of(&p)),
            ProfileKind::Heap => Reading::Heap(crate::analysis::heap::reduce(&p, 0)),
            ProfileKind::Other(t) => {
                series.errors.push(format!("{source}: a profile of {t}, left out"));
                done(i, p);
                continue;
            }
        };
        // watch's creation-site dump joins its round's snapshot like any text form of the same
        // moment; given without that snapshot (the dump alone), it is a snapshot of its own.
        read.push(SeriesInput { reading, source, when: p.time_nanos.or(f.fetched_at_nanos), round: f.round });
        done(i, p);
    }
}

/// `leakhound watch URL`: exit 0, or 5 when snapshots or the report could not be written in full.
pub fn watch(args: &WatchArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    check_output(&args.output, false)?;
    if let Some(list) = fleet_targets(&args.urls, &args.fleet, &args.output)? {
        let members = fleet_members(list, &args.sample, &args.group, args.sample.heap, 12)?;
        if let Some(m) = members.first().filter(|m| m.watch.count < LEAK_MIN_SNAPSHOTS) {
            eprintln!(
                "leakhound: warning: {} snapshot(s) cannot show a trend (a leak from growth needs {LEAK_MIN_SNAPSHOTS}); only leaks the runtime proves can be found",
                m.watch.count
            );
        }
        let run = sample_fleet(members, &args.fleet, &rank, None, |_, _| Vec::new())?;
        let format = args.output.format;
        let lost = emit_final(&args.output, |w, style| report::fleet::write(&run.doc, format, style, w))?;
        if run.doc.targets_sampled == 0 {
            eprintln!("leakhound: no target could be sampled");
            return Ok(ExitCode::from(exit::TARGET));
        }
        return Ok(if run.unsaved.is_some() || lost.is_some() { ExitCode::from(exit::OUTPUT_LOST) } else { ExitCode::SUCCESS });
    }
    let opts = watch_options(&args.urls[0], &args.sample, &args.group, args.sample.heap, 12)?;
    if opts.count < LEAK_MIN_SNAPSHOTS {
        eprintln!(
            "leakhound: warning: {} snapshot(s) cannot show a trend (a leak from growth needs {LEAK_MIN_SNAPSHOTS}); only leaks the runtime proves can be found",
            opts.count
        );
    }
    let (doc, unsaved) = sample(&opts, &rank, None)?;
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::write_leak(&doc, format, style, w))?;
    Ok(if unsaved.is_some() || lost.is_some() { ExitCode::from(exit::OUTPUT_LOST) } else { ExitCode::SUCCESS })
}

/// `leakhound analyze PATH...`: inputs that cannot be read are left out with a warning.
pub fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    check_output(&args.output, false)?;
    let (series, heap) = load_saved(&args.inputs, &args.group)?;
    for e in &series.unreadable {
        eprintln!("leakhound: warning: left out: {e}");
    }
    let suspects = series.rank(&rank);
    let inputs: Vec<String> = args.inputs.iter().map(|p| p.display().to_string()).collect();
    let mut doc = report::build::leak_report(&summarise_inputs(&inputs), &series, &heap, &suspects, &rank, None, &[]);
    doc.errors.extend(label_warning(&series.table, series.snapshots.iter().flat_map(|s| s.groups.keys().copied()), args.group.label.as_deref()));
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::write_leak(&doc, format, style, w))?;
    left_to_exit((doc, suspects, series, heap));
    Ok(if lost.is_some() { ExitCode::from(exit::OUTPUT_LOST) } else { ExitCode::SUCCESS })
}

/// A URL to sample rather than a saved file: `http(s)://…`, or `host:port` that names no file here.
fn looks_like_url(s: &str) -> bool {
    if s.contains("://") {
        return true;
    }
    if Path::new(s).exists() {
        return false;
    }
    static HOST_PORT: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    HOST_PORT.get_or_init(|| Regex::new(r"^([A-Za-z0-9][A-Za-z0-9.\-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}(/.*)?$").expect("static regex")).is_match(s)
}

/// The stack a baseline and a new report share, by function names (line numbers move between builds).
fn stack_identity(s: &SuspectDoc) -> Vec<String> {
    s.group.stack.iter().map(|f| f.function.clone()).collect()
}

/// A `--baseline` report larger than this is not one leakhound wrote.
const MAX_BASELINE_BYTES: u64 = 256 << 20;

/// Reads a `--baseline` report, before any sampling.
fn read_baseline(path: &Path) -> Result<LeakReport> {
    let text = crate::source::files::read_small(path, MAX_BASELINE_BYTES, "a leakhound JSON report").map_err(|e| e.for_option("--baseline"))?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::Input(format!(
            "--baseline {}: not a leakhound JSON report ({e}); write one with `leakhound check … --format json --output FILE`",
            path.display()
        ))
    })
}

/// What fails a check in a report: suspects `--fail-on` names (less those a baseline accepts) and
/// a snapshot over `--max-goroutines`. Notes the accepted ones in the report.
fn failing_of(doc: &mut LeakReport, baseline: Option<&LeakReport>, fail_on: FailOn, rank: &RankOptions, max_goroutines: Option<i64>) -> Vec<String> {
    let fails_on = |v: Verdict| match fail_on {
        FailOn::Leak => v == Verdict::Leak,
        FailOn::Suspect => true,
    };
    let mut failing: Vec<String> = Vec::new();
    for s in &doc.suspects {
        if !fails_on(s.verdict) {
            continue;
        }
        if let Some(b) = baseline {
            let id = stack_identity(s);
            if let Some(old) = b.suspects.iter().find(|o| stack_identity(o) == id) {
                // Known and accepted: fails only when it now grows clearly faster.
                if s.growth_per_minute <= old.growth_per_minute * 1.5 + rank.min_growth_per_minute.max(1.0) {
                    continue;
                }
                failing.push(format!(
                    "#{} {} grows {:+.1}/min, faster than {:+.1}/min in the baseline",
                    s.rank, s.group.leaf, s.growth_per_minute, old.growth_per_minute
                ));
                continue;
            }
        }
        failing.push(format!("#{} {} {} ({:+.1} goroutines/min)", s.rank, format!("{:?}", s.verdict).to_lowercase(), s.group.leaf, s.growth_per_minute));
    }
    if let Some(max) = max_goroutines {
        if let Some(s) = doc.snapshots.iter().find(|s| s.goroutines > max) {
            failing.push(format!("snapshot {} has {} goroutines, more than --max-goroutines {max}", s.index, s.goroutines));
        }
    }
    if baseline.is_some() {
        let known: HashSet<Vec<String>> = baseline.iter().flat_map(|b| b.suspects.iter().map(stack_identity)).collect();
        let accepted = doc.suspects.iter().filter(|s| known.contains(&stack_identity(s))).count();
        if accepted > 0 {
            doc.errors.push(format!("{accepted} suspect(s) are in the baseline and did not grow faster: not failing on them"));
        }
    }
    failing
}

/// `leakhound check TARGET...`: exit 0 clean, 1 failed, 2 input error, 3 target not sampled,
/// 4 inconclusive, 5 output not written in full.
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    check_output(&args.output, false)?;
    let max_goroutines = (args.rank.max_goroutines > 0).then_some(args.rank.max_goroutines);
    if args.fleet.targets_file.is_some() || (args.targets.len() > 1 && looks_like_url(&args.targets[0])) {
        if let Some(t) = args.targets.iter().find(|t| !looks_like_url(t)) {
            return Err(Error::Input(format!(
                "{t}: not a URL; a check over many services takes URLs (and --targets), and saved snapshots are checked on their own"
            )));
        }
        return check_fleet(args, &rank, max_goroutines);
    }
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let (mut doc, unsaved) = if looks_like_url(&args.targets[0]) {
        let opts = watch_options(&args.targets[0], &args.sample, &args.group, !args.no_heap, 6)?;
        refuse_short_plan(&opts, &args.sample)?;
        sample(&opts, &rank, max_goroutines)?
    } else {
        let inputs: Vec<PathBuf> = args.targets.iter().map(PathBuf::from).collect();
        let (series, heap) = load_saved(&inputs, &args.group)?;
        if !series.unreadable.is_empty() {
            return Err(Error::Input(format!(
                "{} of the inputs cannot be read, and check judges all of them or none: {}. Remove or replace it (analyze leaves such files out with a warning)",
                series.unreadable.len(),
                series.unreadable.join("; ")
            )));
        }
        let suspects = series.rank(&rank);
        let mut doc = report::build::leak_report(&summarise_inputs(&args.targets), &series, &heap, &suspects, &rank, max_goroutines, &[]);
        doc.errors.extend(label_warning(&series.table, series.snapshots.iter().flat_map(|s| s.groups.keys().copied()), args.group.label.as_deref()));
        (doc, None)
    };
    let failing = failing_of(&mut doc, baseline.as_ref(), args.fail_on, &rank, max_goroutines);
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::write_leak(&doc, format, style, w))?;
    if !failing.is_empty() {
        eprintln!("leakhound check: FAILED");
        for f in &failing {
            eprintln!("  {}", crate::report::escape::terminal(f));
        }
        return Ok(ExitCode::from(exit::FAILED));
    }
    if let Some(why) = unsaved.or(lost) {
        eprintln!("leakhound check: output not written in full ({why}); no leak found otherwise");
        return Ok(ExitCode::from(exit::OUTPUT_LOST));
    }
    if doc.outcome == "inconclusive" {
        let taken = doc.snapshots.len();
        let analysed = doc.analysed.map_or(0, |[a, b]| b + 1 - a);
        eprintln!("leakhound check: INCONCLUSIVE: {}", report::build::inconclusive_message(&doc, taken, analysed));
        return Ok(ExitCode::from(exit::INCONCLUSIVE));
    }
    eprintln!("leakhound check: passed ({})", doc.outcome);
    Ok(ExitCode::SUCCESS)
}

/// A `--baseline` for a fleet: one target's report (accepted on every target), or an earlier fleet
/// report (each target's own).
enum Baseline {
    One(Box<LeakReport>),
    Fleet(report::fleet::FleetReport),
}

impl Baseline {
    fn read(path: &Path) -> Result<Baseline> {
        let text = crate::source::files::read_small(path, MAX_BASELINE_BYTES, "a leakhound JSON report").map_err(|e| e.for_option("--baseline"))?;
        let schema = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v.get("schema").and_then(|s| s.as_str().map(String::from)));
        if schema.as_deref() == Some(report::fleet::FLEET_SCHEMA) {
            return serde_json::from_slice(&text)
                .map(Baseline::Fleet)
                .map_err(|e| Error::Input(format!("--baseline {}: not a leakhound fleet report ({e})", path.display())));
        }
        read_baseline(path).map(|r| Baseline::One(Box::new(r)))
    }

    fn of(&self, target: &str) -> Option<&LeakReport> {
        match self {
            Baseline::One(r) => Some(r),
            Baseline::Fleet(f) => f.targets.iter().find(|t| t.name == target).and_then(|t| t.report.as_ref()),
        }
    }
}

/// `check` over many targets: each is judged as one would be, and the worst outcome decides the
/// exit code: 1 when any fails, else 3 when any could not be sampled (a fleet never passes on
/// targets nobody looked at), else 5 when output was lost, else 4 when any is inconclusive, else 0.
fn check_fleet(args: &CheckArgs, rank: &RankOptions, max_goroutines: Option<i64>) -> Result<ExitCode> {
    let list = fleet_targets(&args.targets, &args.fleet, &args.output)?.unwrap_or_default();
    let baseline = args.baseline.as_deref().map(Baseline::read).transpose()?;
    let members = fleet_members(list, &args.sample, &args.group, !args.no_heap, 6)?;
    if let Some(m) = members.first() {
        refuse_short_plan(&m.watch, &args.sample)?;
    }
    let run = sample_fleet(members, &args.fleet, rank, max_goroutines, |name, doc| {
        failing_of(doc, baseline.as_ref().and_then(|b| b.of(name)), args.fail_on, rank, max_goroutines)
    })?;
    let doc = &run.doc;
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::fleet::write(doc, format, style, w))?;
    let failing: Vec<&report::fleet::TargetDoc> = doc.targets.iter().filter(|t| !t.failing.is_empty()).collect();
    if !failing.is_empty() {
        eprintln!("leakhound check: FAILED ({} of {} targets)", failing.len(), doc.targets_total);
        for t in &failing {
            for f in &t.failing {
                eprintln!("  {}: {}", crate::report::escape::terminal(&t.name), crate::report::escape::terminal(f));
            }
        }
    }
    if !doc.unsampled.is_empty() {
        eprintln!("leakhound check: {} of {} targets could not be sampled:", doc.unsampled.len(), doc.targets_total);
        for t in doc.targets.iter().filter(|t| t.report.is_none()) {
            eprintln!("  {}: {}", crate::report::escape::terminal(&t.name), crate::report::escape::terminal(t.error.as_deref().unwrap_or("")));
        }
    }
    if !failing.is_empty() {
        return Ok(ExitCode::from(exit::FAILED));
    }
    if !doc.unsampled.is_empty() {
        return Ok(ExitCode::from(exit::TARGET));
    }
    if let Some(why) = run.unsaved.or(lost) {
        eprintln!("leakhound check: output not written in full ({why}); no leak found otherwise");
        return Ok(ExitCode::from(exit::OUTPUT_LOST));
    }
    let inconclusive: Vec<&str> = doc.targets.iter().filter(|t| t.outcome == "inconclusive").map(|t| t.name.as_str()).collect();
    if !inconclusive.is_empty() {
        eprintln!(
            "leakhound check: INCONCLUSIVE: too few snapshots for a trend on {} of {} targets ({})",
            inconclusive.len(),
            doc.targets_total,
            crate::report::escape::terminal(&inconclusive.join(", "))
        );
        return Ok(ExitCode::from(exit::INCONCLUSIVE));
    }
    eprintln!("leakhound check: passed ({} targets, {})", doc.targets_total, doc.outcome);
    Ok(ExitCode::SUCCESS)
}

/// `leakhound demo`: the full watch pipeline, over real HTTP, against a server replaying bundled
/// profiles of the project's own leaking Go service.
pub fn demo(args: &DemoArgs) -> Result<ExitCode> {
    check_output(&args.output, false)?;
    let server = crate::source::demo::DemoServer::start().map_err(|e| Error::Target(format!("starting the demo server on 127.0.0.1: {e}")))?;
    let (save_dir, temporary) = match &args.save {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("leakhound-demo-{}", std::process::id())), true),
    };
    let opts = WatchOptions {
        target: Target::parse(&server.url(), None).map_err(|e| Error::Input(e.to_string()))?,
        target_text: server.url(),
        http: HttpOptions::default(),
        interval: args.interval,
        count: server.snapshots(),
        deadline: None,
        heap: true,
        leak_profile: true,
        debug2: false,
        creation_dump: false,
        save_dir: save_dir.clone(),
        progress: !args.quiet,
        max_profile_bytes: crate::profile::DEFAULT_MAX_PROFILE_BYTES,
        group_by: crate::stacks::GroupBy::Line,
        label: None,
    };
    let rank = RankOptions::default();
    install_signal_handler();
    let outcome = watch::run(&opts, &STOP)?;
    let suspects = outcome.series.rank(&rank);
    let doc = report::build::leak_report("leakhound demo (replayed leaksvc)", &outcome.series, &outcome.heap, &suspects, &rank, None, &[]);
    if temporary {
        let _ = std::fs::remove_dir_all(&save_dir);
    }
    let format = args.output.format;
    let lost = emit_final(&args.output, |w, style| report::write_leak(&doc, format, style, w))?;
    Ok(if outcome.unsaved.is_some() || lost.is_some() { ExitCode::from(exit::OUTPUT_LOST) } else { ExitCode::SUCCESS })
}

/// `leakhound serve`: runs until SIGTERM or SIGINT (exit 0); errors (exit 2) only before serving.
pub fn serve(args: &crate::cli::ServeArgs) -> Result<ExitCode> {
    if args.urls.is_empty() && args.targets.is_none() {
        return Err(Error::Input("serve needs targets: URLs as arguments, or --targets FILE (a Prometheus file_sd file)".into()));
    }
    let window = args.window as usize;
    let opts = crate::serve::ServeOptions {
        targets_file: args.targets.clone(),
        urls: args.urls.clone(),
        listen: args.listen.clone(),
        interval: args.interval,
        window: crate::serve::window::WindowOptions {
            snapshots: window,
            stack_limit: args.stack_limit,
            group_by: args.group.group_by,
            label: args.group.label.clone(),
        },
        max_stacks: args.max_stacks,
        concurrency: args.concurrency,
        shard: args.shard,
        http: HttpOptions {
            headers: args.headers.clone(),
            insecure: args.insecure,
            timeout: args.timeout,
            retries: args.retries,
            max_body_bytes: args.group.max_profile_bytes,
            ..Default::default()
        },
        path: args.path.clone(),
        max_profile_bytes: args.group.max_profile_bytes,
        leak_profile: args.goroutineleak,
        rank: rank_options(&args.rank)?,
        group_by_labels: if args.group_by_label.is_empty() {
            report::fleet::DEFAULT_GROUP_LABELS.map(String::from).to_vec()
        } else {
            args.group_by_label.clone()
        },
    };
    crate::serve::run(opts, crate::serve::install_signal_handlers())?;
    Ok(ExitCode::SUCCESS)
}

/// `leakhound completions SHELL`: the completion script on stdout.
pub fn completions(args: &crate::cli::CompletionsArgs) -> Result<ExitCode> {
    crate::manual::completions(args.shell, &mut std::io::stdout().lock()).map_err(|source| Error::Output { what: "the completion script".into(), source })?;
    Ok(ExitCode::SUCCESS)
}

/// `leakhound man [--dir DIR]`: the top-level man page on stdout, or every page into DIR.
pub fn man(args: &crate::cli::ManArgs) -> Result<ExitCode> {
    match &args.dir {
        Some(dir) => crate::manual::man_pages(dir).map_err(|source| Error::Output { what: format!("man pages into {}", dir.display()), source })?,
        None => crate::manual::man_page(&mut std::io::stdout().lock()).map_err(|source| Error::Output { what: "the man page".into(), source })?,
    }
    Ok(ExitCode::SUCCESS)
}
