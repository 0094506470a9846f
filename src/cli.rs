//! The command line: the clap definitions, and their conversion into the library's options.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use regex::Regex;

use crate::analysis::diff::{CompareOptions, DiffOptions};
use crate::analysis::rank::RankOptions;
use crate::error::{Error, Result};
use crate::output::Destination;
use crate::report::OutputFormat;
use crate::source::http::{HttpOptions, Target as HttpTarget};
use crate::stacks::GroupBy;
use crate::watch::WatchOptions;

#[derive(Debug, Parser)]
#[command(name = "leakhound", version, about = "Find goroutine leaks in running Go services from their pprof profiles")]
#[command(
    after_help = "Exit codes: 0 clean, 1 check found what --fail-on names, 2 usage or input error (found before sampling where it can be), 3 target could not be sampled, 4 check inconclusive (too few snapshots for a trend, no leak), 5 output not written in full (disk full, read-only folder: the report says what was lost), 130 interrupted before the first snapshot."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two saved profiles: which stack groups grew, by how much, and what they block on.
    Diff(DiffArgs),
    /// Sample a live service at intervals and rank the stacks that keep growing.
    Watch(WatchArgs),
    /// Rank saved snapshots: a folder written by `watch`, or files in the order given.
    Analyze(AnalyzeArgs),
    /// A scheduled leak check: sample a URL (or read saved snapshots) and exit 1 on a leak.
    Check(CheckArgs),
    /// Watch a bundled leaking service replayed over real HTTP, and print the ranked report.
    Demo(DemoArgs),
    /// Sample many targets continuously and serve what is found: Prometheus /metrics, HTML, JSON.
    Serve(ServeArgs),
    /// Print a shell completion script (e.g. `leakhound completions bash > /etc/bash_completion.d/leakhound`).
    Completions(CompletionsArgs),
    /// Print the man page in roff (`leakhound man | man -l -`), or write every page to a folder.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write leakhound.1 and one page per subcommand (leakhound-watch.1, ...) into this folder
    /// instead of printing the top-level page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--group-by`: [`GroupBy`] as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    /// Function, file and line of every frame.
    Line,
    /// Function names only: matches stacks across builds whose line numbers moved.
    Function,
    /// Program counters (falls back to lines for dumps that have none).
    Address,
}

impl From<GroupByArg> for GroupBy {
    fn from(a: GroupByArg) -> GroupBy {
        match a {
            GroupByArg::Line => GroupBy::Line,
            GroupByArg::Function => GroupBy::Function,
            GroupByArg::Address => GroupBy::Address,
        }
    }
}

/// `--format`: [`OutputFormat`] as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Markdown,
    /// Graphviz call graph (leak reports only).
    Dot,
    /// One self-contained page: charts, stacks, call graph; a differential flame graph for diff.
    Html,
}

impl From<FormatArg> for OutputFormat {
    fn from(a: FormatArg) -> OutputFormat {
        match a {
            FormatArg::Text => OutputFormat::Text,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Markdown => OutputFormat::Markdown,
            FormatArg::Dot => OutputFormat::Dot,
            FormatArg::Html => OutputFormat::Html,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct GroupArgs {
    /// How stacks are grouped: by function+file+line, by function name only, or by address.
    #[arg(long, value_enum, default_value_t = GroupByArg::Line)]
    pub group_by: GroupByArg,
    /// Split groups by the value of this pprof label [default: none].
    #[arg(long, value_name = "KEY")]
    pub label: Option<String>,
    /// Largest decompressed profile accepted, in bytes (guards against gzip bombs).
    #[arg(long, value_name = "BYTES", default_value_t = crate::profile::DEFAULT_MAX_PROFILE_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_profile_bytes: u64,
}

#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Write the report to this file (complete, or not at all: written beside it, then renamed)
    /// [default: standard output].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier profile (protobuf, gzipped or not, debug=1 or debug=2 text).
    pub base: PathBuf,
    /// The later profile.
    pub new: PathBuf,
    /// Show only the N largest changes [default: all].
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub top: Option<usize>,
    /// Hide changes smaller than N (goroutines, or the heap sample type's unit).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_delta: i64,
    /// For heap profiles: alloc_objects, alloc_space, inuse_objects or inuse_space.
    #[arg(long, value_name = "TYPE", default_value = "inuse_space")]
    pub sample_type: String,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args, Clone)]
pub struct RankArgs {
    /// Drop stacks with a frame whose function matches this regex (repeatable), like goleak's
    /// IgnoreAnyFunction [default: none].
    #[arg(long, value_name = "REGEX")]
    pub ignore: Vec<String>,
    /// A stack must grow at least this many goroutines per minute to be listed (0: any steady rise, however slow).
    #[arg(long, value_name = "N", default_value_t = 0.0, value_parser = non_negative)]
    pub min_growth_per_minute: f64,
    /// A stack must have grown by at least this many goroutines over the series to be listed.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub min_increase: i64,
    /// Treat any snapshot with more goroutines than this as a failure of `check` (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_goroutines: i64,
    /// Show only the N best suspects [default: all].
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub top: Option<usize>,
}

#[derive(Debug, Args, Clone)]
pub struct SampleArgs {
    /// Time between snapshots (e.g. 10s, 500ms, 1m).
    #[arg(long, value_parser = span, default_value = "10s")]
    pub interval: Duration,
    /// Number of snapshots to take [default: 12 for watch, 6 for check].
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub count: Option<usize>,
    /// Sample for this long instead of --count: a snapshot at once and one every --interval before
    /// it ends; the whole run, fetches and retries included, ends by then [default: none, --count].
    #[arg(long, value_parser = span)]
    pub duration: Option<Duration>,
    /// Where pprof is mounted on the service, when the URL does not say [default: /debug/pprof].
    #[arg(long)]
    pub path: Option<String>,
    /// Also fetch /debug/pprof/heap each round.
    #[arg(long)]
    pub heap: bool,
    /// Fetch the debug=2 dump (wait reasons and minutes) instead of the protobuf form. It stops the world longer on big services. Without it, one debug=2 dump is taken in the last round for creation sites when the service has at most 5,000 goroutines.
    #[arg(long)]
    pub debug2: bool,
    /// Folder to save every profile in as fetched: new or empty, made when the first profile
    /// arrives [default: a new folder leakhound-snapshots-YYYYMMDD-HHMMSS here].
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Extra request header, `Name: value` (repeatable), e.g. a bearer token [default: none].
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,
    /// Timeout of one fetch (connecting: at most 5 s of it).
    #[arg(long, value_parser = span, default_value = "30s")]
    pub timeout: Duration,
    /// Retries of a failed fetch before it counts as a gap.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=MAX_RETRIES))]
    pub retries: u32,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Many targets at once (several URLs, or `--targets FILE`).
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// A Prometheus file_sd file (JSON or YAML: a list of {targets: ["host:port", ...], labels:
    /// {...}}) of targets to sample together, besides any URLs given [default: none].
    #[arg(long = "targets", id = "targets_file", value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// Over many targets: at most this many fetches in flight at once (each target keeps its own
    /// schedule).
    #[arg(long, value_name = "N", default_value_t = crate::fleet::DEFAULT_CONCURRENCY, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from))]
    pub concurrency: usize,
    /// Over many targets: the label that names a target's service, to merge a stack across its
    /// replicas (repeatable; the first one a target has wins) [default: job, then service].
    #[arg(long, value_name = "LABEL")]
    pub group_by_label: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Base URL of the service (http://host:port, or host:port) or the full URL of its goroutine
    /// profile, taken as written (query included). Several URLs (or --targets) watch them all at
    /// once and write one fleet report.
    #[arg(required_unless_present = "targets_file")]
    pub urls: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub sample: SampleArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A folder written by `watch --save`, or profile files in time order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Leak,
    Suspect,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A service URL to sample (http://host:port, or host:port), or a saved folder / profile files
    /// to read. Several URLs (or --targets) check them all at once: the worst outcome decides.
    #[arg(required_unless_present = "targets_file")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Fail (exit 1) on leaks only, or on suspects too.
    #[arg(long, value_enum, default_value_t = FailOn::Leak)]
    pub fail_on: FailOn,
    /// An earlier JSON report: fail only on suspects that are new or grow faster than in it
    /// [default: none].
    #[arg(long, value_name = "REPORT.json")]
    pub baseline: Option<PathBuf>,
    /// Do not fetch the heap profile (fetched by default for check).
    #[arg(long)]
    pub no_heap: bool,
    #[command(flatten)]
    pub sample: SampleArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Time between snapshots of the replayed service.
    #[arg(long, value_parser = span, default_value = "200ms")]
    pub interval: Duration,
    /// Folder to save the fetched profiles in [default: a temporary folder, removed afterwards].
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Endpoints: / (overview), /targets/<name> (a target's report page), /api/v1/report (JSON), /metrics (Prometheus text, or OpenMetrics when asked), /-/healthy, /-/ready (once every target was sampled once).\nMetrics: leakhound_target_up, leakhound_goroutines, leakhound_sample_duration_seconds, leakhound_sample_errors_total, leakhound_window_snapshots, leakhound_suspect_goroutines and leakhound_suspect_growth_per_minute (labels target, the target's own labels, leaf, pattern, verdict; only the top --max-stacks stacks per target, so at most targets x --max-stacks of each), leakhound_targets, leakhound_rounds_total.\nSIGHUP reads the targets file again (it is also read again when it changes); SIGTERM or SIGINT stops (exit 0)."
)]
pub struct ServeArgs {
    /// Targets: base URLs (http://host:port, or host:port) or goroutine profile URLs.
    pub urls: Vec<String>,
    /// A Prometheus file_sd file (JSON or YAML) listing the targets and their labels; read again
    /// when it changes and on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9464")]
    pub listen: String,
    /// Time between two samplings of each target.
    #[arg(long, value_parser = span, default_value = "30s")]
    pub interval: Duration,
    /// Snapshots kept per target (per-stack counts only) and ranked each round.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub window: u64,
    /// Listed stacks exported per target in /metrics (the top of its ranking): bounds the
    /// number of series to targets x N.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_stacks: usize,
    /// Distinct stacks kept per target (the largest); beyond it the smallest are forgotten.
    #[arg(long, value_name = "N", default_value_t = crate::analysis::rolling::DEFAULT_STACK_LIMIT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub stack_limit: usize,
    /// Targets sampled at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub concurrency: usize,
    /// Keep only the targets of shard I of N (0 <= I < N), split as Prometheus' hashmod
    /// relabelling does, so N instances share a large fleet [default: all targets].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::source::targets::Shard>,
    /// Timeout of one fetch (connecting: at most 5 s of it); a target that has not answered
    /// when its next round comes is not asked again until it does.
    #[arg(long, value_parser = span, default_value = "10s")]
    pub timeout: Duration,
    /// Retries of a failed fetch within a round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=MAX_RETRIES))]
    pub retries: u32,
    /// Where pprof is mounted on the targets, when their URLs do not say [default: /debug/pprof].
    #[arg(long)]
    pub path: Option<String>,
    /// Extra request header, `Name: value` (repeatable), sent to every target [default: none].
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,
    /// Also fetch /debug/pprof/goroutineleak each round (Go 1.26+): goroutines the runtime proves
    /// leaked are a leak at once. The runtime runs a garbage collection for it; a target that does
    /// not serve it, or takes longer than the interval, is no longer asked.
    #[arg(long)]
    pub goroutineleak: bool,
    /// The label that names a target's service, to merge a stack across its replicas on / and in
    /// /api/v1/report (repeatable; the first one a target has wins) [default: job, then service].
    #[arg(long, value_name = "LABEL")]
    pub group_by_label: Vec<String>,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub group: GroupArgs,
}

// The arguments converted into the library's options (as inferno's binaries map clap options to
// its `Options`): nothing else happens here.

impl OutputArgs {
    pub fn destination(&self) -> Destination {
        Destination { format: self.format.into(), path: self.output.clone() }
    }
}

impl RankArgs {
    pub fn options(&self) -> Result<RankOptions> {
        let ignore = self
            .ignore
            .iter()
            .map(|s| Regex::new(s).map_err(|e| Error::Input(format!("--ignore '{s}': not a valid regex: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(RankOptions { ignore, min_growth_per_minute: self.min_growth_per_minute, min_increase: self.min_increase, top: self.top })
    }

    /// `--max-goroutines`, when given.
    pub fn max_goroutines(&self) -> Option<i64> {
        (self.max_goroutines > 0).then_some(self.max_goroutines)
    }
}

impl From<FailOn> for crate::check::FailOn {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Leak => crate::check::FailOn::Leak,
            FailOn::Suspect => crate::check::FailOn::Suspect,
        }
    }
}

impl DiffArgs {
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            group_by: self.group.group_by.into(),
            label: self.group.label.clone(),
            max_profile_bytes: self.group.max_profile_bytes,
            sample_type: self.sample_type.clone(),
            diff: DiffOptions { top: self.top, min_delta: self.min_delta },
        }
    }
}

impl SampleArgs {
    /// The watch of `url` these arguments describe; `default_count` snapshots without --count or
    /// --duration.
    pub fn watch_options(&self, url: &str, g: &GroupArgs, heap: bool, default_count: usize) -> Result<WatchOptions> {
        let target = HttpTarget::parse(url, self.path.as_deref()).map_err(|e| Error::Input(e.to_string()))?;
        // A password in the URL becomes a header (sent to the target only) and is shown as `***`.
        let mut headers = self.headers.clone();
        let has_auth = headers.iter().any(|h| h.split(':').next().is_some_and(|n| n.trim().eq_ignore_ascii_case("authorization")));
        headers.extend(crate::source::http::url_credentials(url).filter(|_| !has_auth));
        Ok(WatchOptions {
            target,
            target_text: crate::source::http::redact_url(url),
            http: HttpOptions {
                headers,
                insecure: self.insecure,
                timeout: self.timeout,
                retries: self.retries,
                max_body_bytes: g.max_profile_bytes,
                ..Default::default()
            },
            interval: self.interval,
            count: crate::watch::snapshot_count(self.count, self.duration, self.interval, default_count),
            deadline: self.duration,
            heap,
            leak_profile: true,
            debug2: self.debug2,
            creation_dump: true,
            save_dir: self.save_dir(),
            progress: !self.quiet,
            max_profile_bytes: g.max_profile_bytes,
            group_by: g.group_by.into(),
            label: g.label.clone(),
        })
    }

    /// `--save`, or a new folder named for now.
    pub fn save_dir(&self) -> PathBuf {
        self.save.clone().unwrap_or_else(crate::source::saved::default_dir)
    }
}

impl FleetArgs {
    /// The labels that name a target's service.
    pub fn group_by_labels(&self) -> Vec<String> {
        group_by_labels(&self.group_by_label)
    }
}

fn group_by_labels(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        crate::report::fleet::DEFAULT_GROUP_LABELS.map(String::from).to_vec()
    } else {
        given.to_vec()
    }
}

impl DemoArgs {
    /// The watch of the demo server at `url`, saving in `save_dir`.
    pub fn watch_options(&self, url: &str, count: usize, save_dir: PathBuf) -> Result<WatchOptions> {
        Ok(WatchOptions {
            target: HttpTarget::parse(url, None).map_err(|e| Error::Input(e.to_string()))?,
            target_text: url.to_string(),
            http: HttpOptions::default(),
            interval: self.interval,
            count,
            deadline: None,
            heap: true,
            leak_profile: true,
            debug2: false,
            creation_dump: false,
            save_dir,
            progress: !self.quiet,
            max_profile_bytes: crate::profile::DEFAULT_MAX_PROFILE_BYTES,
            group_by: GroupBy::Line,
            label: None,
        })
    }
}

impl ServeArgs {
    pub fn options(&self) -> Result<crate::serve::ServeOptions> {
        if self.urls.is_empty() && self.targets.is_none() {
            return Err(Error::Input("serve needs targets: URLs as arguments, or --targets FILE (a Prometheus file_sd file)".into()));
        }
        Ok(crate::serve::ServeOptions {
            targets_file: self.targets.clone(),
            urls: self.urls.clone(),
            listen: self.listen.clone(),
            interval: self.interval,
            window: crate::serve::WindowOptions {
                bounds: crate::analysis::rolling::Bounds { snapshots: self.window as usize, stack_limit: self.stack_limit },
                group_by: self.group.group_by.into(),
                label: self.group.label.clone(),
            },
            max_stacks: self.max_stacks,
            concurrency: self.concurrency,
            shard: self.shard,
            http: HttpOptions {
                headers: self.headers.clone(),
                insecure: self.insecure,
                timeout: self.timeout,
                retries: self.retries,
                max_body_bytes: self.group.max_profile_bytes,
                keep_idle: false,
                ..Default::default()
            },
            path: self.path.clone(),
            max_profile_bytes: self.group.max_profile_bytes,
            leak_profile: self.goroutineleak,
            rank: self.rank.options()?,
            group_by_labels: group_by_labels(&self.group_by_label),
        })
    }
}

/// Retries of one fetch: each may wait for the whole --timeout, so more than this is a mistake.
pub const MAX_RETRIES: i64 = 100;

/// The longest span any option takes: more is a typo (and would overflow a deadline).
const MAX_SPAN: Duration = Duration::from_secs(366 * 24 * 3600);

/// A span of time (`10s`, `500ms`, `1m`) that is more than zero and at most a year: an interval,
/// duration or timeout of zero is a usage error, found before anything is fetched.
fn span(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than zero (e.g. 500ms, 10s, 1m)".into());
    }
    if d > MAX_SPAN {
        return Err("must be at most a year".into());
    }
    Ok(d)
}

/// A finite number that is not negative.
fn non_negative(text: &str) -> Result<f64, String> {
    let n: f64 = text.parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
    if !n.is_finite() || n < 0.0 {
        return Err("must be a number of at least 0".into());
    }
    Ok(n)
}
