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

    /// The I/O error is part of the message (not a separate cause) so it prints once.
    #[error("{context}: {path}: {cause}")]
    Io {
        context: String,
        path: PathBuf,
        cause: std::io::Error,
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
            cause: source,
        }
    }
}

/// An error and its sources, joined by `: ` (crates such as tokio-postgres and hyper say
/// only "error connecting" at the top and keep the reason in a source).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
