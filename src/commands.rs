//! Each command as a library call: its arguments converted (`cli.rs`), the library called, the
//! report written, the exit status returned. `main.rs` only parses the command line and turns
//! errors into messages.
//!
//! Every check that can fail before sampling runs before sampling (the report's file, the
//! baseline, the snapshot folder, the plan's number of snapshots), so a run never samples for
//! minutes only to fail on its output; the report's file is written whole or not at all.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::analysis::diff::{compare_files, leave_to_exit};
use crate::analysis::load::saved_series;
use crate::check::{self, Baseline, Policy};
use crate::cli::{AnalyzeArgs, CheckArgs, DemoArgs, DiffArgs, GroupArgs, ServeArgs, WatchArgs};
use crate::error::{exit, Error, Result};
use crate::report::{self, build};
use crate::source::targets::looks_like_url;
use crate::{fleet, signals, watch};

/// The exit status of a run whose snapshots (`unsaved`) or report (`lost`) were not written in full.
fn written(unsaved: &Option<String>, lost: &Option<String>) -> ExitCode {
    if unsaved.is_some() || lost.is_some() {
        ExitCode::from(exit::OUTPUT_LOST)
    } else {
        ExitCode::SUCCESS
    }
}

/// `leakhound diff BASE NEW`: exit 0, or 5 when the report file could not be written (the report
/// then went to stdout).
pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    let out = args.output.destination();
    out.check(true)?;
    let compared = compare_files(&args.base, &args.new, &args.options())?;
    let doc = build::diff_report(&compared, args.group.label.as_deref());
    let lost = out.emit_final(|w, style| report::write_diff(&doc, out.format, style, w))?;
    leave_to_exit((doc, compared));
    Ok(written(&None, &lost))
}

/// Reads saved snapshots (see [`saved_series`]).
fn load_saved(inputs: &[PathBuf], g: &GroupArgs) -> Result<(crate::analysis::series::Series, crate::analysis::heap::HeapSeries)> {
    saved_series(inputs, g.group_by.into(), g.label.clone(), g.max_profile_bytes)
}

/// `leakhound watch URL...`: exit 0, or 5 when snapshots or the report could not be written in full.
pub fn watch(args: &WatchArgs) -> Result<ExitCode> {
    let rank = args.rank.options()?;
    let out = args.output.destination();
    out.check(false)?;
    let watch_of = |url: &str| args.sample.watch_options(url, &args.group, args.sample.heap, 12);
    if let Some(list) = fleet::targets(&args.urls, args.fleet.targets_file.as_deref(), out.format)? {
        let members = fleet::members(list, &args.sample.save_dir(), watch_of)?;
        if let Some(w) = members.first().and_then(|m| watch::short_plan_warning(m.watch.count)) {
            eprintln!("leakhound: warning: {w}");
        }
        let stop = signals::install_for_run();
        let run = fleet::sample_report(members, args.fleet.concurrency, &args.fleet.group_by_labels(), &rank, None, stop, |_, _| Vec::new())?;
        let lost = out.emit_final(|w, style| report::fleet::write(&run.doc, out.format, style, w))?;
        if run.doc.targets_sampled == 0 {
            eprintln!("leakhound: no target could be sampled");
            return Ok(ExitCode::from(exit::TARGET));
        }
        return Ok(written(&run.unsaved, &lost));
    }
    let opts = watch_of(&args.urls[0])?;
    if let Some(w) = watch::short_plan_warning(opts.count) {
        eprintln!("leakhound: warning: {w}");
    }
    let (doc, unsaved) = watch::sample_report(&opts, &rank, None, signals::install_for_run())?;
    let lost = out.emit_final(|w, style| report::write_leak(&doc, out.format, style, w))?;
    Ok(written(&unsaved, &lost))
}

/// `leakhound analyze PATH...`: inputs that cannot be read are left out with a warning.
pub fn analyze(args: &AnalyzeArgs) -> Result<ExitCode> {
    let rank = args.rank.options()?;
    let out = args.output.destination();
    out.check(false)?;
    let (series, heap) = load_saved(&args.inputs, &args.group)?;
    for e in &series.unreadable {
        eprintln!("leakhound: warning: left out: {e}");
    }
    let inputs: Vec<String> = args.inputs.iter().map(|p| p.display().to_string()).collect();
    let doc = build::series_report(&build::summarise_inputs(&inputs), &series, &heap, &rank, None);
    let lost = out.emit_final(|w, style| report::write_leak(&doc, out.format, style, w))?;
    leave_to_exit((doc, series, heap));
    Ok(written(&None, &lost))
}

/// `leakhound check TARGET...`: exit 0 clean, 1 failed, 2 input error, 3 target not sampled,
/// 4 inconclusive, 5 output not written in full (see [`check`]).
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    let rank = args.rank.options()?;
    let out = args.output.destination();
    out.check(false)?;
    let max_goroutines = args.rank.max_goroutines();
    let watch_of = |url: &str| args.sample.watch_options(url, &args.group, !args.no_heap, 6);
    let refuse_short = |count| check::refuse_short_plan(count, args.sample.count, args.sample.duration, args.sample.interval);
    let over_fleet = args.fleet.targets_file.is_some() || (args.targets.len() > 1 && looks_like_url(&args.targets[0]));
    if over_fleet {
        if let Some(t) = args.targets.iter().find(|t| !looks_like_url(t)) {
            return Err(Error::Input(format!(
                "{t}: not a URL; a check over many services takes URLs (and --targets), and saved snapshots are checked on their own"
            )));
        }
        let list = fleet::targets(&args.targets, args.fleet.targets_file.as_deref(), out.format)?.unwrap_or_default();
        let baseline = args.baseline.as_deref().map(|p| Baseline::read(p, true)).transpose()?;
        let members = fleet::members(list, &args.sample.save_dir(), watch_of)?;
        if let Some(m) = members.first() {
            refuse_short(m.watch.count)?;
        }
        let policy = Policy { fail_on: args.fail_on.into(), rank: &rank, max_goroutines, baseline: baseline.as_ref() };
        let stop = signals::install_for_run();
        let run = fleet::sample_report(members, args.fleet.concurrency, &args.fleet.group_by_labels(), &rank, max_goroutines, stop, |name, doc| {
            policy.failing(name, doc)
        })?;
        let lost = out.emit_final(|w, style| report::fleet::write(&run.doc, out.format, style, w))?;
        return Ok(ExitCode::from(check::fleet_verdict(&run.doc, run.unsaved.or(lost))));
    }
    let baseline = args.baseline.as_deref().map(|p| Baseline::read(p, false)).transpose()?;
    let (mut doc, unsaved) = if looks_like_url(&args.targets[0]) {
        let opts = watch_of(&args.targets[0])?;
        refuse_short(opts.count)?;
        watch::sample_report(&opts, &rank, max_goroutines, signals::install_for_run())?
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
        (build::series_report(&build::summarise_inputs(&args.targets), &series, &heap, &rank, max_goroutines), None)
    };
    let policy = Policy { fail_on: args.fail_on.into(), rank: &rank, max_goroutines, baseline: baseline.as_ref() };
    let failing = policy.failing("", &mut doc);
    let lost = out.emit_final(|w, style| report::write_leak(&doc, out.format, style, w))?;
    Ok(ExitCode::from(check::verdict(&doc, &failing, unsaved.or(lost))))
}

/// `leakhound demo`: the full watch pipeline, over real HTTP, against a server replaying bundled
/// profiles of the project's own leaking Go service.
pub fn demo(args: &DemoArgs) -> Result<ExitCode> {
    let out = args.output.destination();
    out.check(false)?;
    let server = crate::source::demo::DemoServer::start().map_err(|e| Error::Target(format!("starting the demo server on 127.0.0.1: {e}")))?;
    let (save_dir, temporary) = match &args.save {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("leakhound-demo-{}", std::process::id())), true),
    };
    let opts = args.watch_options(&server.url(), server.snapshots(), save_dir.clone())?;
    let rank = crate::analysis::rank::RankOptions::default();
    let outcome = watch::run(&opts, signals::install_for_run())?;
    let suspects = outcome.series.rank(&rank);
    let doc = build::leak_report("leakhound demo (replayed leaksvc)", &outcome.series, &outcome.heap, &suspects, &rank, None, &[]);
    if temporary {
        let _ = std::fs::remove_dir_all(&save_dir);
    }
    let lost = out.emit_final(|w, style| report::write_leak(&doc, out.format, style, w))?;
    Ok(written(&outcome.unsaved, &lost))
}

/// `leakhound serve`: runs until SIGTERM or SIGINT (exit 0); errors (exit 2) only before serving.
pub fn serve(args: &ServeArgs) -> Result<ExitCode> {
    crate::serve::run(args.options()?, signals::install_for_serve())?;
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
