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

    /// The CA refused a request with a problem document, kept whole so a caller can tell
    /// `rateLimited` from `unauthorized` and list the subproblems per name.
    #[error("ACME error: {0}")]
    AcmeProblem(Box<AcmeRefusal>),

    #[error("{0}")]
    Solver(String),

    #[error("{0}")]
    Deploy(String),

    /// The I/O error is both in the message (a one-line `{error}` stays complete) and the
    /// source (the cause chain); printing the chain skips a cause the message already says.
    #[error("{context}: {path}: {cause}")]
    Io {
        context: String,
        path: PathBuf,
        #[source]
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

/// An ACME problem document (RFC 8555 §6.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProblem {
    /// The problem type, a URN such as `urn:ietf:params:acme:error:rateLimited`.
    pub kind: Option<String>,
    pub detail: Option<String>,
    /// The HTTP status, from the document or else the response.
    pub status: Option<u16>,
    pub subproblems: Vec<AcmeSubproblem>,
}

/// One identifier's part of a problem (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSubproblem {
    /// The name (`www.example.com`), when the CA said which.
    pub identifier: Option<String>,
    pub kind: Option<String>,
    pub detail: Option<String>,
}

const ACME_ERROR_PREFIX: &str = "urn:ietf:params:acme:error:";

impl AcmeProblem {
    /// Whether the problem has the ACME error type `name` (`"rateLimited"`).
    pub fn is(&self, name: &str) -> bool {
        self.kind
            .as_deref()
            .and_then(|k| k.strip_prefix(ACME_ERROR_PREFIX))
            == Some(name)
    }

    /// `type: detail (status N)`, without the subproblems.
    pub fn headline(&self) -> String {
        let mut text = self
            .kind
            .as_deref()
            .unwrap_or("(no problem type)")
            .to_string();
        if let Some(detail) = &self.detail {
            text.push_str(": ");
            text.push_str(detail);
        }
        if let Some(status) = self.status {
            text.push_str(&format!(" (status {status})"));
        }
        text
    }
}

impl std::fmt::Display for AcmeSubproblem {
    /// `name: type: detail`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.identifier.as_deref().unwrap_or("(no identifier)"),
            self.kind.as_deref().unwrap_or("(no type)"),
            self.detail.as_deref().unwrap_or("(no detail)")
        )
    }
}

impl std::fmt::Display for AcmeProblem {
    /// The problem on one line: its headline, then `; subproblems: ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.headline())?;
        if !self.subproblems.is_empty() {
            let subs: Vec<String> = self.subproblems.iter().map(|s| s.to_string()).collect();
            write!(f, "; subproblems: {}", subs.join("; "))?;
        }
        Ok(())
    }
}

/// A request the CA refused: the problem, what certform was doing, and how it retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeRefusal {
    pub problem: AcmeProblem,
    /// What was being done, as `(while ...)` says it: `creating the order`.
    pub during: String,
    /// `gave up after 6 attempts in 3.2s`, when the request was retried.
    pub attempts: Option<String>,
    /// The CA's `Retry-After`, for a problem certform retries.
    pub retry_after: Option<std::time::Duration>,
    /// When that is (the time the error was made plus `Retry-After`).
    pub retry_at: Option<time::OffsetDateTime>,
}

impl AcmeRefusal {
    /// Everything but the subproblems, for a list that shows them per name below.
    pub fn headline(&self) -> String {
        self.describe(false)
    }

    fn describe(&self, with_subproblems: bool) -> String {
        let mut text = if with_subproblems {
            self.problem.to_string()
        } else {
            self.problem.headline()
        };
        text.push_str(&format!(" (while {})", self.during));
        if let Some(attempts) = &self.attempts {
            text.push_str("; ");
            text.push_str(attempts);
        }
        let when = self.retry_at.and_then(|at| {
            at.to_offset(time::UtcOffset::UTC)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .ok()
        });
        if self.problem.is("rateLimited") {
            match (self.retry_after, when) {
                (Some(after), Some(when)) => text.push_str(&format!(
                    "; the CA's rate limit was reached: retry after {}s, at {when}",
                    after.as_secs()
                )),
                _ => text.push_str(
                    "; the CA's rate limit was reached and it did not say when to retry: wait before applying again (see the CA's rate limit documentation)",
                ),
            }
        } else if let Some(after) = self.retry_after {
            text.push_str(&format!(
                "; the CA asks to retry after {}s",
                after.as_secs()
            ));
        }
        text
    }
}

impl std::fmt::Display for AcmeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(true))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(kind: &str, retry_after: Option<u64>) -> AcmeRefusal {
        AcmeRefusal {
            problem: AcmeProblem {
                kind: Some(format!("{ACME_ERROR_PREFIX}{kind}")),
                detail: Some("too many certificates".into()),
                status: Some(429),
                subproblems: vec![],
            },
            during: "creating the order".into(),
            attempts: None,
            retry_after: retry_after.map(std::time::Duration::from_secs),
            retry_at: retry_after.map(|s| {
                time::macros::datetime!(2026-12-04 05:00 UTC) + time::Duration::seconds(s as i64)
            }),
        }
    }

    #[test]
    fn the_problem_type_is_kept_so_callers_can_tell_problems_apart() {
        let error = Error::AcmeProblem(Box::new(refusal("rateLimited", Some(3600))));
        let Error::AcmeProblem(kept) = &error else {
            panic!("{error:?}")
        };
        assert!(kept.problem.is("rateLimited"));
        assert!(!kept.problem.is("unauthorized"));
    }

    #[test]
    fn rate_limited_says_when_to_retry() {
        let text = Error::AcmeProblem(Box::new(refusal("rateLimited", Some(3600)))).to_string();
        assert_eq!(
            text,
            "ACME error: urn:ietf:params:acme:error:rateLimited: too many certificates (status 429) \
             (while creating the order); the CA's rate limit was reached: retry after 3600s, at \
             2026-12-04 06:00:00 UTC"
        );
        let unknown = refusal("rateLimited", None).to_string();
        assert!(
            unknown.ends_with("the CA's rate limit was reached and it did not say when to retry: wait before applying again (see the CA's rate limit documentation)"),
            "{unknown}"
        );
        let other = refusal("serverInternal", Some(5)).to_string();
        assert!(
            other.ends_with("; the CA asks to retry after 5s"),
            "{other}"
        );
    }

    #[test]
    fn subproblems_name_each_identifier() {
        let mut refused = refusal("rejectedIdentifier", None);
        refused.problem.subproblems = vec![
            AcmeSubproblem {
                identifier: Some("a.example".into()),
                kind: Some(format!("{ACME_ERROR_PREFIX}rejectedIdentifier")),
                detail: Some("blocked".into()),
            },
            AcmeSubproblem {
                identifier: None,
                kind: None,
                detail: None,
            },
        ];
        assert_eq!(
            refused.problem.to_string(),
            "urn:ietf:params:acme:error:rejectedIdentifier: too many certificates (status 429); \
             subproblems: a.example: urn:ietf:params:acme:error:rejectedIdentifier: blocked; \
             (no identifier): (no type): (no detail)"
        );
        assert!(!refused.headline().contains("subproblems"));
    }

    #[test]
    fn an_io_error_has_its_cause_as_source_and_prints_it_once() {
        let error = Error::io(
            "Cannot write the output",
            "/tls/cert.pem",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        let source = std::error::Error::source(&error).expect("the I/O error is the source");
        assert_eq!(source.to_string(), "permission denied");
        let printed = crate::render::error(&error, crate::render::Style::PLAIN);
        assert_eq!(
            printed,
            "Error: Cannot write the output: /tls/cert.pem: permission denied\n"
        );
        assert_eq!(error_chain(&error).matches("permission denied").count(), 1);
    }
}
