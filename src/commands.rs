//! Each command as a library call: arguments in, report written, exit status out. `main.rs` only
//! parses the command line and turns errors into messages.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::analysis::diff::{diff as diff_snapshots, DiffOptions};
use crate::analysis::Snapshot;
use crate::cli::{DiffArgs, OutputArgs};
use crate::error::{Error, Result};
use crate::profile::{Format, Profile, ProfileKind};
use crate::report::{self, ChangeDoc, DiffReport, GroupDoc, SnapshotDoc, Style, Tool, TruncationDoc};
use crate::source::files::read_profile;
use crate::stacks::StackTable;

/// Writes a report where `--output` says, with colour only on a terminal and never with NO_COLOR.
pub fn emit(output: &OutputArgs, write: impl FnOnce(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<()> {
    match &output.output {
        Some(path) => {
            let shown = path.display().to_string();
            let mut file = std::fs::File::create(path).map_err(|source| Error::Output { what: shown.clone(), source })?;
            write(&mut file, Style { color: false }).map_err(|source| Error::Output { what: shown.clone(), source })?;
            file.flush().map_err(|source| Error::Output { what: shown, source })
        }
        None => {
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let mut lock = stdout.lock();
            match write(&mut lock, Style { color }).and_then(|_| lock.flush()) {
                Ok(()) => Ok(()),
                // A closed pipe (`| head`) is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(source) => Err(Error::Output { what: "the report".into(), source }),
            }
        }
    }
}

pub fn taken_at(time_nanos: Option<i64>) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(time_nanos? as i128).ok()?;
    t.format(&time::format_description::well_known::Rfc3339).ok()
}

pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Proto => "proto",
        Format::Debug1 => "debug=1",
        Format::Debug2 => "debug=2",
    }
}

pub fn snapshot_doc(s: &Snapshot) -> SnapshotDoc {
    SnapshotDoc {
        index: s.index,
        source: s.source.clone(),
        taken_at: taken_at(s.time_nanos),
        goroutines: if s.kind.is_goroutine_like() { s.total } else { 0 },
        heap_inuse_bytes: s.heap_inuse_bytes,
        kind: s.kind.name().to_string(),
        format: format_name(s.format).to_string(),
        truncated: s.truncated.as_ref().map(|t| TruncationDoc { bytes_read: t.bytes_read, goroutines_read: t.goroutines_read }),
    }
}

/// A warning for a profile its producer cut short.
pub fn truncation_warning(source: &str, p: &Snapshot) -> Option<String> {
    p.truncated.as_ref().map(|t| {
        format!(
            "{source} was cut off by its producer (Go stops ?debug=2 output at 64 MiB): read {} goroutines in {} bytes; counts from it are partial. Fetch the protobuf form (no ?debug) for whole counts.",
            t.goroutines_read, t.bytes_read
        )
    })
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
    let base = Snapshot::from_profile(&mut table, &base_p, args.base.display().to_string(), 0, bi);
    let new = Snapshot::from_profile(&mut table, &new_p, args.new.display().to_string(), 1, ni);
    drop((base_p, new_p));
    let changes = diff_snapshots(&table, &base, &new, &DiffOptions { top: args.top, min_delta: args.min_delta });
    let warnings = [truncation_warning(&base.source, &base), truncation_warning(&new.source, &new)].into_iter().flatten().collect();
    let doc = DiffReport {
        schema: report::DIFF_SCHEMA.into(),
        tool: Tool::default(),
        base: snapshot_doc(&base),
        new: snapshot_doc(&new),
        sample_type: new.sample_type.name.clone(),
        unit: new.sample_type.unit.clone(),
        base_total: base.total,
        new_total: new.total,
        changes: changes
            .iter()
            .map(|c| ChangeDoc { group: GroupDoc::from(table.group(c.group)), base: c.base, new: c.new, delta: c.delta })
            .collect(),
        warnings,
    };
    let format = args.output.format;
    emit(&args.output, |w, style| report::write_diff(&doc, format, style, w))
}

pub fn watch(_args: &crate::cli::WatchArgs) -> Result<std::process::ExitCode> {
    Err(Error::Input("watch: not yet implemented".into()))
}
pub fn analyze(_args: &crate::cli::AnalyzeArgs) -> Result<std::process::ExitCode> {
    Err(Error::Input("analyze: not yet implemented".into()))
}
pub fn check(_args: &crate::cli::CheckArgs) -> Result<std::process::ExitCode> {
    Err(Error::Input("check: not yet implemented".into()))
}
pub fn demo(_args: &crate::cli::DemoArgs) -> Result<std::process::ExitCode> {
    Err(Error::Input("demo: not yet implemented".into()))
}
