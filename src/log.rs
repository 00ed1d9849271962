//! Diagnostic logging for `-v`: certform's own `tracing` events, on standard error, apart
//! from the results on standard output. `-v` shows what certform does (state locks and
//! writes, challenge records published and withdrawn, hooks run), `-vv` adds each ACME
//! request and the refresh before a plan, `-vvv` adds certform's trace events and the
//! libraries' own (hyper, rustls, the AWS SDK) at `info`. Libraries stay below `debug`
//! even then: tokio-postgres logs statement parameters at `debug`, and those are state
//! documents. Events name URLs, record names, serials and sizes — never a secret; and as a
//! safety net every line passes through [`crate::redact::text`] on its way out.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the logger for `-v` repeated `verbosity` times; none without `-v`.
pub fn init(verbosity: u8) {
    let own = match verbosity {
        0 => return,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let libraries = if verbosity >= 3 {
        LevelFilter::INFO
    } else {
        LevelFilter::OFF
    };
    let filter = Targets::new()
        .with_target("certform", own)
        .with_default(libraries);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(|| RedactingStderr)
        .with_target(verbosity >= 3)
        .without_time();
    // A second init (tests calling into the library) keeps the first logger.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// Standard error with sensitive values hidden. The formatter writes each event with one
/// `write_all`, so a value is never split between two writes.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crate::redact::text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
