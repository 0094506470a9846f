//! Where a report goes: standard output (colour only on a terminal, never with NO_COLOR) or a
//! file written whole beside its final name and renamed, so it is complete or absent.
//!
//! Every check that can fail before sampling runs before sampling ([`Destination::check`]), so a
//! run never samples for minutes only to fail on its output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::{OutputFormat, Style};
use crate::source::saved;

/// A report's format and file (`None`: standard output).
#[derive(Debug, Clone)]
pub struct Destination {
    pub format: OutputFormat,
    pub path: Option<PathBuf>,
}

impl Destination {
    /// Checks, before any work, that the report can go where `--output` says: the format fits the
    /// command and a file can be created there. Nothing is created.
    pub fn check(&self, diff: bool) -> Result<()> {
        if diff && self.format == OutputFormat::Dot {
            return Err(Error::Input("--format dot draws the call graph of a leak report (watch, analyze, check); diff writes text, json or markdown".into()));
        }
        if let Some(path) = &self.path {
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

    /// Writes a report here.
    pub fn emit(&self, write: impl Fn(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<()> {
        match &self.path {
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

    /// Writes the report of a run. When its file cannot be written (disk full, read-only), the
    /// report goes to standard output instead, so the run is not lost; returns what failed.
    pub fn emit_final(&self, write: impl Fn(&mut dyn Write, Style) -> std::io::Result<()>) -> Result<Option<String>> {
        match self.emit(&write) {
            Ok(()) => Ok(None),
            Err(e @ Error::Output { .. }) if self.path.is_some() => {
                eprintln!("leakhound: {e}; the report follows on standard output instead");
                Destination { format: self.format, path: None }.emit(&write)?;
                Ok(Some(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}
