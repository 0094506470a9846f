//! Each command as a library call: arguments in, report written, exit status out. `main.rs` only
//! parses the command line and turns errors into messages.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::analysis::diff::{diff as diff_snapshots, DiffOptions};
use crate::analysis::Snapshot;
use crate::cli::{DiffArgs, OutputArgs};
use crate::error::{Error, Result};
use crate::profile::{Profile, ProfileKind};
use crate::report::build::{snapshot_doc, truncation_warning};
use crate::report::{self, ChangeDoc, DiffReport, GroupDoc, Style, Tool};
use crate::source::files::read_profile;
use crate::stacks::StackTable;

/// Writes a report where `--output` says, with colour only on a terminal and never with NO_COLOR.
pub fn emit(output: &OutputArgs, write: impl FnOnce(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<()> {
    match &output.output {
        Some(path) => {
            let shown = path.display().to_string();
            let file = std::fs::File::create(path).map_err(|source| Error::Output { what: shown.clone(), source })?;
            // Reports are written in many small pieces: buffer them instead of a syscall each.
            let mut file = std::io::BufWriter::with_capacity(64 * 1024, file);
            write(&mut file, Style { color: false }).map_err(|source| Error::Output { what: shown.clone(), source })?;
            file.flush().map_err(|source| Error::Output { what: shown, source })
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

/// Makes two goroutine snapshots of different forms comparable, and says what it did: a served
/// profile holds the goroutines of the request that fetched it, which a SIGQUIT or panic dump does
/// not, so when only one side has them they are left out of it; and the runtime's own goroutines,
/// which only a SIGQUIT or GOTRACEBACK=system dump shows, are never counted.
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
    // The writer's own stack differs from form to form, and a dump taken without a request has none.
    let (rb, rn) = (base.request_goroutines(table), new.request_goroutines(table));
    if (rb > 0) != (rn > 0) || (base.format != new.format && rb + rn > 0) {
        for side in [&mut *base, &mut *new] {
            let n = side.leave_out_request_goroutines(table);
            if n > 0 {
                notes.push(format!(
                    "left out {n} goroutine(s) of {}: the request that fetched it (its writer and its connection's reader), which a dump of another form or taken without a request does not have alike",
                    side.source
                ));
            }
        }
    }
    for s in [&*base, &*new] {
        if s.runtime_goroutines > 0 {
            notes.push(format!(
                "{}: {} goroutine(s) of the runtime itself (GOTRACEBACK=system or SIGQUIT shows them) are not counted, as the goroutine profile does not count them",
                s.source, s.runtime_goroutines
            ));
        }
    }
    notes
}

/// `leakhound diff BASE NEW`.
pub fn diff(args: &DiffArgs) -> Result<()> {
    let base_p = read_profile(&args.base, args.group.max_profile_bytes)?;
    let new_p = read_profile(&args.new, args.group.max_profile_bytes)?;
    let (bk, nk) = (&base_p.kind, &new_p.kind);
    if bk.is_goroutine_like() != nk.is_goroutine_like() || (*bk == ProfileKind::Heap) != (*nk == ProfileKind::Heap) {
        return Err(Error::Input(format!(
            "{} is a {} profile but {} is a {} profile: diff compares two goroutine profiles or two heap profiles",
            args.base.display(),
            bk.name(),
            args.new.display(),
            nk.name()
        )));
    }
    let bi = value_index(&base_p, &args.base, &args.sample_type)?;
    let ni = value_index(&new_p, &args.new, &args.sample_type)?;
    let mut table = StackTable::new(args.group.group_by, args.group.label.clone());
    let mut base = Snapshot::from_profile(&mut table, &base_p, args.base.display().to_string(), 0, bi);
    let mut new = Snapshot::from_profile(&mut table, &new_p, args.new.display().to_string(), 1, ni);
    drop((base_p, new_p));
    let mut warnings: Vec<String> = [truncation_warning(&base), truncation_warning(&new)].into_iter().flatten().collect();
    warnings.extend(comparable_forms(&table, &mut base, &mut new));
    let changes = diff_snapshots(&table, &base, &new, &DiffOptions { top: args.top, min_delta: args.min_delta });
    let doc = DiffReport {
        schema: report::DIFF_SCHEMA.into(),
        tool: Tool::default(),
        base: snapshot_doc(&base),
        new: snapshot_doc(&new),
        sample_type: new.sample_type.name.clone(),
        unit: new.sample_type.unit.clone(),
        base_total: base.total,
        new_total: new.total,
        changes: changes.iter().map(|c| ChangeDoc { group: GroupDoc::from(table.group(c.group)), base: c.base, new: c.new, delta: c.delta }).collect(),
        warnings,
    };
    let format = args.output.format;
    emit(&args.output, |w, style| report::write_diff(&doc, format, style, w))
}

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use regex::Regex;

use crate::analysis::heap::HeapSeries;
use crate::analysis::rank::{RankOptions, Verdict};
use crate::analysis::series::{Input as SeriesInput, Reading, Series};
use crate::cli::{AnalyzeArgs, CheckArgs, DemoArgs, FailOn, GroupArgs, RankArgs, SampleArgs, WatchArgs};
use crate::report::{LeakReport, SuspectDoc};
use crate::source::http::{HttpOptions, Target};
use crate::source::saved;
use crate::watch::{self, WatchOptions};

/// Set by Ctrl-C: sampling stops and the report is still written. A second Ctrl-C exits at once.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_ctrl_c() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    });
}

fn rank_options(r: &RankArgs) -> Result<RankOptions> {
    let ignore =
        r.ignore.iter().map(|s| Regex::new(s).map_err(|e| Error::Input(format!("--ignore {s:?}: not a valid regex: {e}")))).collect::<Result<Vec<_>>>()?;
    Ok(RankOptions { ignore, min_growth_per_minute: r.min_growth_per_minute, min_increase: r.min_increase, top: r.top })
}

fn watch_options(url: &str, s: &SampleArgs, g: &GroupArgs, heap: bool, default_count: usize) -> Result<WatchOptions> {
    let target = Target::parse(url, &s.path).map_err(|e| Error::Input(e.to_string()))?;
    Ok(WatchOptions {
        target,
        target_text: url.to_string(),
        http: HttpOptions { headers: s.headers.clone(), insecure: s.insecure, timeout: s.timeout, retries: s.retries, ..Default::default() },
        interval: s.interval,
        count: watch::snapshot_count(s.count, s.duration, s.interval, default_count),
        heap,
        leak_profile: true,
        debug2: s.debug2,
        save_dir: s.save.clone().unwrap_or_else(saved::default_dir),
        progress: !s.quiet,
        max_profile_bytes: g.max_profile_bytes,
        group_by: g.group_by,
        label: g.label.clone(),
    })
}

/// Samples a live service and builds its report.
fn sample(opts: &WatchOptions, rank: &RankOptions, max_goroutines: Option<i64>) -> Result<LeakReport> {
    install_ctrl_c();
    let outcome = watch::run(opts, &STOP)?;
    let suspects = outcome.series.rank(rank);
    let note = format!("snapshots saved in {}", outcome.saved_to.display());
    if !opts.progress || outcome.interrupted {
        // nothing: the folder is named in the report's errors only when something went wrong
    }
    let mut doc = crate::report::build::leak_report(&opts.target_text, &outcome.series, &outcome.heap, &suspects, rank, max_goroutines, &[]);
    eprintln!("leakhound: {note}");
    if outcome.interrupted {
        doc.errors.push(note);
    }
    Ok(doc)
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
    for f in &files {
        let p = match read_profile(&f.path, g.max_profile_bytes) {
            Ok(p) => p,
            Err(e) => {
                series.errors.push(e.to_string());
                first_error.get_or_insert(e);
                continue;
            }
        };
        let source = f.path.display().to_string();
        let reading = match &p.kind {
            ProfileKind::Goroutine => Reading::Goroutine(Snapshot::from_profile(&mut series.table, &p, source.clone(), 0, 0)),
            ProfileKind::GoroutineLeak => Reading::Proof(series.proof_of(&p)),
            ProfileKind::Heap => Reading::Heap(crate::analysis::heap::reduce(&p, 0)),
            ProfileKind::Other(t) => {
                series.errors.push(format!("{source}: a profile of {t}, left out"));
                continue;
            }
        };
        read.push(SeriesInput { reading, source, when: p.time_nanos.or(f.fetched_at_nanos), round: f.round });
    }
    if !read.iter().any(|i| matches!(i.reading, Reading::Goroutine(_))) {
        return Err(first_error.unwrap_or_else(|| {
            Error::Input("no goroutine profile among the inputs: give goroutine profiles (heap and goroutineleak ones only go with them)".into())
        }));
    }
    let mut heap = HeapSeries::default();
    series.assemble(&mut heap, read);
    Ok((series, heap))
}

/// The inputs as a report names them: all of a few, the first and last of many (a shell glob).
fn inputs_named(inputs: &[std::path::PathBuf]) -> String {
    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    match names.as_slice() {
        [first, .., last] if names.len() > 4 => format!("{first} … {last} ({} inputs)", names.len()),
        _ => names.join(" "),
    }
}

fn write_leak(doc: &LeakReport, output: &OutputArgs) -> Result<()> {
    let format = output.format;
    emit(output, |w, style| report::write_leak(doc, format, style, w))
}

/// `leakhound watch URL`.
pub fn watch(args: &WatchArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    let opts = watch_options(&args.url, &args.sample, &args.group, args.sample.heap, 12)?;
    let doc = sample(&opts, &rank, None)?;
    write_leak(&doc, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// `leakhound analyze PATH...`.
pub fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    let (series, heap) = load_saved(&args.inputs, &args.group)?;
    let suspects = series.rank(&rank);
    let target = inputs_named(&args.inputs);
    let doc = report::build::leak_report(&target, &series, &heap, &suspects, &rank, None, &[]);
    write_leak(&doc, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The stack a baseline and a new report share, by function names (line numbers move between builds).
fn stack_identity(s: &SuspectDoc) -> Vec<String> {
    s.group.stack.iter().map(|f| f.function.clone()).collect()
}

/// `leakhound check TARGET...`: exit 0 clean, 1 failed, 2 input error, 3 target not sampled.
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let rank = rank_options(&args.rank)?;
    let max_goroutines = (args.rank.max_goroutines > 0).then_some(args.rank.max_goroutines);
    let mut doc = if is_url(&args.targets[0]) {
        if args.targets.len() > 1 {
            return Err(Error::Input("check samples one URL at a time".into()));
        }
        let opts = watch_options(&args.targets[0], &args.sample, &args.group, !args.no_heap, 6)?;
        sample(&opts, &rank, max_goroutines)?
    } else {
        let inputs: Vec<std::path::PathBuf> = args.targets.iter().map(std::path::PathBuf::from).collect();
        let (series, heap) = load_saved(&inputs, &args.group)?;
        let suspects = series.rank(&rank);
        report::build::leak_report(&inputs_named(&inputs), &series, &heap, &suspects, &rank, max_goroutines, &[])
    };
    let baseline = match &args.baseline {
        Some(path) => {
            let text = std::fs::read(path).map_err(|source| Error::Read { path: path.display().to_string(), source })?;
            let b: LeakReport = serde_json::from_slice(&text).map_err(|e| Error::Input(format!("{}: not a leakhound JSON report ({e})", path.display())))?;
            Some(b)
        }
        None => None,
    };
    let fails_on = |v: Verdict| match args.fail_on {
        FailOn::Leak => v == Verdict::Leak,
        FailOn::Suspect => true,
    };
    let mut failing: Vec<String> = Vec::new();
    for s in &doc.suspects {
        if !fails_on(s.verdict) {
            continue;
        }
        if let Some(b) = &baseline {
            let id = stack_identity(s);
            if let Some(old) = b.suspects.iter().find(|o| stack_identity(o) == id) {
                // Known and accepted: fails only when it now grows clearly faster.
                if s.growth_per_minute <= old.growth_per_minute * 1.5 + rank.min_growth_per_minute {
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
    write_leak(&doc, &args.output)?;
    if failing.is_empty() {
        eprintln!("leakhound check: passed ({})", doc.verdict);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("leakhound check: FAILED");
        for f in &failing {
            eprintln!("  {f}");
        }
        Ok(ExitCode::from(1))
    }
}

/// `leakhound demo`: the full watch pipeline, over real HTTP, against a server replaying bundled
/// profiles of the project's own leaking Go service.
pub fn demo(args: &DemoArgs) -> Result<ExitCode> {
    let server = crate::source::demo::DemoServer::start().map_err(|e| Error::Target(format!("starting the demo server on 127.0.0.1: {e}")))?;
    let (save_dir, temporary) = match &args.save {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("leakhound-demo-{}", std::process::id())), true),
    };
    let opts = WatchOptions {
        target: Target::parse(&server.url(), "/debug/pprof").map_err(|e| Error::Input(e.to_string()))?,
        target_text: server.url(),
        http: HttpOptions::default(),
        interval: args.interval,
        count: server.snapshots(),
        heap: true,
        leak_profile: true,
        debug2: false,
        save_dir: save_dir.clone(),
        progress: !args.quiet,
        max_profile_bytes: crate::profile::DEFAULT_MAX_PROFILE_BYTES,
        group_by: crate::stacks::GroupBy::Line,
        label: None,
    };
    let rank = RankOptions::default();
    install_ctrl_c();
    let outcome = watch::run(&opts, &STOP)?;
    let suspects = outcome.series.rank(&rank);
    let doc = report::build::leak_report("leakhound demo (replayed leaksvc)", &outcome.series, &outcome.heap, &suspects, &rank, None, &[]);
    if temporary {
        let _ = std::fs::remove_dir_all(&save_dir);
    }
    write_leak(&doc, &args.output)?;
    Ok(ExitCode::SUCCESS)
}
