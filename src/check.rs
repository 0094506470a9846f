//! `check`'s policy, in one place: what fails a report (`--fail-on`, `--max-goroutines`, a
//! baseline's accepted suspects), which plans cannot pass, and the exit code an outcome gives, for
//! one target and for a fleet (the worst outcome decides).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::analysis::rank::{thresholds::LEAK_MIN_SNAPSHOTS, RankOptions, Verdict};
use crate::error::{exit, Error, Result};
use crate::report::escape::terminal;
use crate::report::fleet::{FleetReport, TargetDoc, FLEET_SCHEMA};
use crate::report::{self, LeakReport, SuspectDoc};

/// What fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// Leaks only.
    #[default]
    Leak,
    /// Suspects too.
    Suspect,
}

impl FailOn {
    fn fails_on(self, v: Verdict) -> bool {
        match self {
            FailOn::Leak => v == Verdict::Leak,
            FailOn::Suspect => true,
        }
    }
}

/// Refuses, before sampling, a plan of `count` snapshots that cannot give the snapshots a pass
/// needs; `count_arg`, `duration` and `interval` are as given, to say what to change.
pub fn refuse_short_plan(count: usize, count_arg: Option<usize>, duration: Option<Duration>, interval: Duration) -> Result<()> {
    let min = LEAK_MIN_SNAPSHOTS;
    if count >= min {
        return Ok(());
    }
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    let (plan, fix) = match (count_arg, duration) {
        (Some(c), _) => (format!("--count {c}"), format!("pass --count {min} or more")),
        (None, Some(d)) => (
            format!("--duration {} at --interval {}", fmt(d), fmt(interval)),
            format!(
                "pass --duration {} or more, or --interval {} or less, or --count {min}",
                fmt(interval * min as u32),
                fmt(Duration::from_millis((d.as_millis() / min as u128).max(1) as u64))
            ),
        ),
        (None, None) => (String::from("the default"), format!("pass --count {min} or more")),
    };
    Err(Error::Input(format!("check needs at least {min} snapshots to pass (no leak is only clear from a trend), but {plan} gives {count}: {fix}")))
}

/// The stack a baseline and a new report share, by function names (line numbers move between builds).
fn stack_identity(s: &SuspectDoc) -> Vec<String> {
    s.group.stack.iter().map(|f| f.function.clone()).collect()
}

/// A `--baseline` report larger than this is not one leakhound wrote.
const MAX_BASELINE_BYTES: u64 = 256 << 20;

/// The bytes of a `--baseline` file; an error names the option.
fn read_baseline_file(path: &Path) -> Result<Vec<u8>> {
    crate::source::files::read_small(path, MAX_BASELINE_BYTES, "a leakhound JSON report").map_err(|e| e.for_option("--baseline"))
}

/// Reads a `--baseline` report, before any sampling.
fn read_report(path: &Path) -> Result<LeakReport> {
    let text = read_baseline_file(path)?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::Input(format!(
            "--baseline {}: not a leakhound JSON report ({e}); write one with `leakhound check … --format json --output FILE`",
            path.display()
        ))
    })
}

/// A `--baseline`: one target's report (accepted on every target), or an earlier fleet report
/// (each target's own).
pub enum Baseline {
    One(Box<LeakReport>),
    Fleet(FleetReport),
}

impl Baseline {
    /// Reads a baseline; `fleet` accepts a fleet report as well as one target's.
    pub fn read(path: &Path, fleet: bool) -> Result<Baseline> {
        if !fleet {
            return read_report(path).map(|r| Baseline::One(Box::new(r)));
        }
        let text = read_baseline_file(path)?;
        let schema = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v.get("schema").and_then(|s| s.as_str().map(String::from)));
        if schema.as_deref() == Some(FLEET_SCHEMA) {
            return serde_json::from_slice(&text)
                .map(Baseline::Fleet)
                .map_err(|e| Error::Input(format!("--baseline {}: not a leakhound fleet report ({e})", path.display())));
        }
        read_report(path).map(|r| Baseline::One(Box::new(r)))
    }

    /// The report accepted for `target`.
    pub fn of(&self, target: &str) -> Option<&LeakReport> {
        match self {
            Baseline::One(r) => Some(r),
            Baseline::Fleet(f) => f.targets.iter().find(|t| t.name == target).and_then(|t| t.report.as_ref()),
        }
    }
}

/// What a check is told.
pub struct Policy<'a> {
    pub fail_on: FailOn,
    pub rank: &'a RankOptions,
    pub max_goroutines: Option<i64>,
    pub baseline: Option<&'a Baseline>,
}

impl Policy<'_> {
    /// What fails the check in `doc` (the report of `target`): suspects `--fail-on` names (less
    /// those a baseline accepts) and a snapshot over `--max-goroutines`. Notes the accepted ones
    /// in the report.
    pub fn failing(&self, target: &str, doc: &mut LeakReport) -> Vec<String> {
        let baseline = self.baseline.and_then(|b| b.of(target));
        let mut failing: Vec<String> = Vec::new();
        for s in &doc.suspects {
            if !self.fail_on.fails_on(s.verdict) {
                continue;
            }
            if let Some(b) = baseline {
                let id = stack_identity(s);
                if let Some(old) = b.suspects.iter().find(|o| stack_identity(o) == id) {
                    // Known and accepted: fails only when it now grows clearly faster.
                    if s.growth_per_minute <= old.growth_per_minute * 1.5 + self.rank.min_growth_per_minute.max(1.0) {
                        continue;
                    }
                    failing.push(format!(
                        "#{} {} grows {:+.1}/min, faster than {:+.1}/min in the baseline",
                        s.rank, s.group.leaf, s.growth_per_minute, old.growth_per_minute
                    ));
                    continue;
                }
            }
            failing.push(format!("#{} {} {} ({:+.1} goroutines/min)", s.rank, s.verdict.name(), s.group.leaf, s.growth_per_minute));
        }
        if let Some(max) = self.max_goroutines {
            if let Some(s) = doc.snapshots.iter().find(|s| s.goroutines > max) {
                failing.push(format!("snapshot {} has {} goroutines, more than --max-goroutines {max}", s.index, s.goroutines));
            }
        }
        if let Some(b) = baseline {
            let known: HashSet<Vec<String>> = b.suspects.iter().map(stack_identity).collect();
            let accepted = doc.suspects.iter().filter(|s| known.contains(&stack_identity(s))).count();
            if accepted > 0 {
                doc.errors.push(format!("{accepted} suspect(s) are in the baseline and did not grow faster: not failing on them"));
            }
        }
        failing
    }
}

/// The exit code of one target's check, said on stderr: 1 failed, 5 output not written in full
/// (`lost`: why), 4 inconclusive, else 0.
pub fn verdict(doc: &LeakReport, failing: &[String], lost: Option<String>) -> u8 {
    if !failing.is_empty() {
        eprintln!("leakhound check: FAILED");
        for f in failing {
            eprintln!("  {}", terminal(f));
        }
        return exit::FAILED;
    }
    if let Some(why) = lost {
        eprintln!("leakhound check: output not written in full ({why}); no leak found otherwise");
        return exit::OUTPUT_LOST;
    }
    if doc.outcome == "inconclusive" {
        let taken = doc.snapshots.len();
        let analysed = doc.analysed.map_or(0, |[a, b]| b + 1 - a);
        eprintln!("leakhound check: INCONCLUSIVE: {}", report::build::inconclusive_message(doc, taken, analysed));
        return exit::INCONCLUSIVE;
    }
    eprintln!("leakhound check: passed ({})", doc.outcome);
    exit::CLEAN
}

/// The exit code of a fleet's check, said on stderr: 1 when any target fails, else 3 when any
/// could not be sampled (a fleet never passes on targets nobody looked at), else 5 when output
/// was lost, else 4 when any is inconclusive, else 0.
pub fn fleet_verdict(doc: &FleetReport, lost: Option<String>) -> u8 {
    let failing: Vec<&TargetDoc> = doc.targets.iter().filter(|t| !t.failing.is_empty()).collect();
    if !failing.is_empty() {
        eprintln!("leakhound check: FAILED ({} of {} targets)", failing.len(), doc.targets_total);
        for t in &failing {
            for f in &t.failing {
                eprintln!("  {}: {}", terminal(&t.name), terminal(f));
            }
        }
    }
    if !doc.unsampled.is_empty() {
        eprintln!("leakhound check: {} of {} targets could not be sampled:", doc.unsampled.len(), doc.targets_total);
        for t in doc.targets.iter().filter(|t| t.report.is_none()) {
            eprintln!("  {}: {}", terminal(&t.name), terminal(t.error.as_deref().unwrap_or("")));
        }
    }
    if !failing.is_empty() {
        return exit::FAILED;
    }
    if !doc.unsampled.is_empty() {
        return exit::TARGET;
    }
    if let Some(why) = lost {
        eprintln!("leakhound check: output not written in full ({why}); no leak found otherwise");
        return exit::OUTPUT_LOST;
    }
    let inconclusive: Vec<&str> = doc.targets.iter().filter(|t| t.outcome == "inconclusive").map(|t| t.name.as_str()).collect();
    if !inconclusive.is_empty() {
        eprintln!(
            "leakhound check: INCONCLUSIVE: too few snapshots for a trend on {} of {} targets ({})",
            inconclusive.len(),
            doc.targets_total,
            terminal(&inconclusive.join(", "))
        );
        return exit::INCONCLUSIVE;
    }
    eprintln!("leakhound check: passed ({} targets, {})", doc.targets_total, doc.outcome);
    exit::CLEAN
}
