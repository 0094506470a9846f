//! The library's errors. Each maps to a documented exit code (see the README's table, and
//! [`exit`]): input and usage problems are 2, a target that could not be sampled is 3.

/// The exit codes, part of the interface (README: "exit codes").
pub mod exit {
    /// Clean: nothing that `--fail-on` names, on enough snapshots for a trend.
    pub const CLEAN: u8 = 0;
    /// `check` found what `--fail-on` names, or a snapshot over `--max-goroutines`.
    pub const FAILED: u8 = 1;
    /// Usage or input error, found before sampling where it can be.
    pub const USAGE: u8 = 2;
    /// The target could not be sampled.
    pub const TARGET: u8 = 3;
    /// `check` could not reach a verdict: too few snapshots for a trend and no proven leak.
    pub const INCONCLUSIVE: u8 = 4;
    /// The run finished but part of its output could not be written (snapshot folder or report
    /// file: disk full, read-only); the report says what was lost.
    pub const OUTPUT_LOST: u8 = 5;
    /// Interrupted (Ctrl-C, SIGTERM) before anything could be reported.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// A file that is not a profile leakhound reads (the decoder's error says why).
    #[error("reading {path}: {source}")]
    Decode { path: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// The input is readable but not what the command needs.
    #[error("{0}")]
    Input(String),
    /// The target could not be sampled at all (connection refused, 404, ...).
    #[error("{0}")]
    Target(String),
    #[error("writing {what}: {source}")]
    Output { what: String, source: std::io::Error },
    /// Stopped by a signal before the first snapshot.
    #[error("{0}")]
    Interrupted(String),
}

impl Error {
    /// The same error with its file named as the option that gave it (`cannot read --baseline
    /// FILE: …`), so the user knows which argument to fix.
    pub fn for_option(self, option: &str) -> Error {
        match self {
            Error::Read { path, source } => Error::Read { path: format!("{option} {path}"), source },
            other => other,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Target(_) => exit::TARGET,
            Error::Interrupted(_) => exit::INTERRUPTED,
            _ => exit::USAGE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
