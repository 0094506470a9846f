//! Many targets at once: each target runs watch's own sampling loop ([`watch::run_target`]) on
//! its own thread and its own schedule, and all of them share one bound on the fetches in flight
//! (`--concurrency`, a [`FetchLimit`]). A slow or failing target holds at most one fetch slot, for
//! at most its `--timeout`: the others keep their pace, and its failure is its own.
//!
//! `--save DIR` keeps one sub-folder per target, named from the target by
//! [`saved::folder_name`], so no target name can reach outside DIR.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::analysis::rank::RankOptions;
use crate::error::{Error, Result};
use crate::report::fleet::{FleetReport, TargetDoc};
use crate::report::{LeakReport, OutputFormat};
use crate::source::http::FetchLimit;
use crate::source::saved;
use crate::source::targets::{self, Target};
use crate::watch::{self, Outcome, Unsampled, WatchOptions};

/// The fetches in flight at once when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// At most this many targets in one `watch` or `check` (a thread each, sleeping between rounds).
pub const MAX_TARGETS: usize = 2_000;

/// One target of the fleet, with the watch to run on it.
pub struct Member {
    pub target: Target,
    pub watch: WatchOptions,
}

/// What one target's watch gave.
pub struct TargetRun {
    pub target: Target,
    pub watch: WatchOptions,
    pub result: std::result::Result<Outcome, Unsampled>,
}

/// Watches every member at once, at most `concurrency` fetches in flight across them, and returns
/// their results in the members' order once all have ended (a signal in `stop` ends them all).
pub fn run(members: Vec<Member>, concurrency: usize, stop: &AtomicBool) -> Vec<TargetRun> {
    let limit = Arc::new(FetchLimit::new(concurrency.max(1)));
    let bar = progress_bar(&members);
    let runs = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .into_iter()
            .map(|mut m| {
                m.watch.http.limit = Some(limit.clone());
                // One progress bar per target would fight over the terminal.
                m.watch.progress = false;
                let (target, opts) = (m.target.clone(), m.watch.clone());
                let bar = bar.clone();
                let handle = scope.spawn(move || {
                    let result = watch::run_target(&m.watch, stop);
                    bar.inc(1);
                    result
                });
                (target, opts, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(target, watch, handle)| {
                let result = handle.join().unwrap_or_else(|_| {
                    Err(Unsampled {
                        error: Error::Target(format!("{}: sampling stopped on an internal error (a bug: please report it)", target.name)),
                        errors: Vec::new(),
                    })
                });
                TargetRun { target, watch, result }
            })
            .collect()
    });
    bar.finish_and_clear();
    runs
}

/// One bar for the whole fleet (a bar per target would fight over the terminal): the targets
/// done and the time left in the plan. Only on a terminal, and not with `--quiet`.
fn progress_bar(members: &[Member]) -> ProgressBar {
    use std::io::IsTerminal;
    let Some(first) = members.first().map(|m| &m.watch).filter(|w| w.progress && std::io::stderr().is_terminal()) else {
        return ProgressBar::hidden();
    };
    let (count, interval, deadline) = (first.count, first.interval, first.deadline);
    let bar = ProgressBar::with_draw_target(Some(members.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} targets done, {left} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("left", move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let left = watch::time_left(count, interval, deadline, state.elapsed());
                let _ = write!(w, "{}", humantime::format_duration(std::time::Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))));
            })
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The targets of a run over many services: several URLs, or `--targets FILE` (with or without
/// URLs). `None` for one URL alone, which runs exactly as it always has.
pub fn targets(urls: &[String], targets_file: Option<&Path>, format: OutputFormat) -> Result<Option<Vec<Target>>> {
    if targets_file.is_none() && urls.len() <= 1 {
        return Ok(None);
    }
    if format == OutputFormat::Dot {
        return Err(Error::Input("--format dot draws the call graph of one target; over many targets use --format html (a graph per target)".into()));
    }
    let mut list = targets::from_urls(urls)?;
    if let Some(path) = targets_file {
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
    if list.len() > MAX_TARGETS {
        return Err(Error::Input(format!(
            "{} targets: at most {MAX_TARGETS} in one watch or check; split the targets file, or run `leakhound serve` instances with --shard",
            list.len()
        )));
    }
    Ok(Some(list))
}

/// Each target's watch, planned before any sampling: `watch_of` makes its options from its URL,
/// and its snapshot folder is inside `parent` (made when its first profile arrives).
pub fn members(list: Vec<Target>, parent: &Path, watch_of: impl Fn(&str) -> Result<WatchOptions>) -> Result<Vec<Member>> {
    let dirs = save_dirs(parent, &list)?;
    list.into_iter()
        .zip(dirs)
        .map(|(target, dir)| {
            let mut watch = watch_of(&target.url).map_err(|e| Error::Input(format!("target {}: {e}", target.name)))?;
            saved::SaveDir::plan(&dir, &watch.target_text)?;
            watch.save_dir = dir;
            Ok(Member { target, watch })
        })
        .collect()
}

/// A fleet's report, and why saving stopped for a target, if it did for any.
pub struct FleetRun {
    pub doc: FleetReport,
    pub unsaved: Option<String>,
}

/// Samples every member at once and builds the fleet document; `failing` says what fails the
/// check in a target's report (nothing for `watch`). Interrupted before any snapshot of any
/// target: exit 130, as for one target.
pub fn sample_report(
    members: Vec<Member>,
    concurrency: usize,
    group_by_labels: &[String],
    rank: &RankOptions,
    max_goroutines: Option<i64>,
    stop: &AtomicBool,
    failing: impl Fn(&str, &mut LeakReport) -> Vec<String>,
) -> Result<FleetRun> {
    let parent = members.first().and_then(|m| m.watch.save_dir.parent().map(Path::to_path_buf));
    let runs = run(members, concurrency, stop);
    if !runs.is_empty() && runs.iter().all(|r| matches!(&r.result, Err(u) if matches!(u.error, Error::Interrupted(_)))) {
        return Err(Error::Interrupted("interrupted before the first snapshot of any target was taken; nothing was saved".into()));
    }
    let mut unsaved = None;
    let mut saved_any = false;
    let mut docs = Vec::with_capacity(runs.len());
    for run in runs {
        let mut doc = TargetDoc {
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
                let mut r = crate::report::build::series_report(&run.watch.target_text, &outcome.series, &outcome.heap, rank, max_goroutines);
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
    Ok(FleetRun { doc: crate::report::fleet::build(docs, group_by_labels), unsaved })
}

/// The snapshot folder of each target inside `dir`: `dir` must be new or empty (as for one
/// target), each sub-folder is the target's name made safe ([`saved::folder_name`]), and two names
/// that come out alike get `-2`, `-3`, ... Nothing is created here.
pub fn save_dirs(dir: &Path, targets: &[Target]) -> Result<Vec<PathBuf>> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::Input(format!("--save {}: a file of that name exists; give a folder", dir.display())));
        }
        let mut entries = std::fs::read_dir(dir).map_err(|source| Error::Read { path: dir.display().to_string(), source })?;
        if entries.next().is_some() {
            return Err(Error::Input(format!(
                "--save {}: the folder is not empty; over many targets --save takes a new or empty folder and makes one sub-folder per target in it",
                dir.display()
            )));
        }
    }
    let mut used: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let base = saved::folder_name(&t.name);
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.to_ascii_lowercase()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(dir.join(name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn target(name: &str) -> Target {
        Target { name: name.into(), url: format!("http://{name}"), labels: BTreeMap::new() }
    }

    #[test]
    fn every_target_gets_its_own_folder_inside_dir() {
        let dir = std::env::temp_dir().join(format!("leakhound-fleet-dirs-{}", std::process::id()));
        let targets = [target("127.0.0.1:1"), target("127.0.0.1_1"), target("../../x"), target("..")];
        let dirs = save_dirs(&dir, &targets).unwrap();
        let names: Vec<String> = dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["127.0.0.1_1", "127.0.0.1_1-2", "_.._.._x", "_.."]);
        assert!(dirs.iter().all(|d| d.parent() == Some(dir.as_path())));
        std::fs::create_dir_all(dir.join("other")).unwrap();
        assert!(save_dirs(&dir, &targets).unwrap_err().to_string().contains("not empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
