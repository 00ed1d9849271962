//! The one error type of certform. Every fallible function returns [`Result`]; `main`
//! prints the error once, with its causes, and exits 1. Variants carry data so callers can
//! test for them; messages are full sentences a user can act on.

use std::path::PathBuf;

/// Everything that can go wrong, grouped by the stage that detects it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Configuration errors are collected and rendered as diagnostics with source snippets;
    /// the rendered text is carried here so `main` prints it as it is.
    #[error("{rendered}")]
    Config { rendered: String, count: usize },

    #[error("{0}")]
    State(String),

    #[error("Failed to decrypt the state's secrets: {0}")]
    Decrypt(String),

    #[error("Error acquiring the state lock: the state is locked by {holder}")]
    Locked { holder: String },

    #[error("Saved plan is stale: {0}")]
    StalePlan(String),

    #[error("{0}")]
    Identity(String),

    #[error("ACME error: {0}")]
    Acme(String),

    #[error("{0}")]
    Solver(String),

    #[error("{0}")]
    Deploy(String),

    #[error("{context}: {path}: {source}")]
    Io {
        context: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    Apply(String),

    /// An internal invariant failed.
    #[error("This is a bug in certform: {0}")]
    Bug(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for an I/O error with the operation and path that failed.
    pub fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}
