//! The library's errors. Each maps to a documented exit code (see the README): input and usage
//! problems are 2, a target that could not be sampled is 3.

use crate::profile::DecodeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Decode { path: String, source: DecodeError },
    /// The input is readable but not what the command needs.
    #[error("{0}")]
    Input(String),
    /// The target could not be sampled at all (connection refused, 404, ...).
    #[error("{0}")]
    Target(String),
    #[error("writing {what}: {source}")]
    Output { what: String, source: std::io::Error },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Target(_) => 3,
            _ => 2,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
