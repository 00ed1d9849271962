//! Stopping an apply early. The first SIGINT (Ctrl-C) or SIGTERM stops the scheduling of
//! new actions; the actions already running finish (each persists its own result, and
//! its solver cleans up its challenge), then apply reports and exits non-zero. A second
//! signal exits at once: state writes are atomic, so even then the state on disk is whole
//! and only the action in flight is lost.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Exit status after a second signal: 128 + SIGINT, as shells report an interrupted program.
const FORCED_EXIT_STATUS: i32 = 130;

/// Tells the executor whether a stop was requested. Cheap to clone.
#[derive(Clone)]
pub struct StopSignal {
    requested: watch::Receiver<bool>,
}

impl StopSignal {
    /// Listens for SIGINT and SIGTERM from now on; must be called inside a Tokio runtime.
    pub fn listen() -> std::io::Result<StopSignal> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (sender, requested) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = sender.send(true);
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            std::process::exit(FORCED_EXIT_STATUS);
        });
        Ok(StopSignal { requested })
    }

    /// A signal that never fires: for callers (and tests) that do not stop early.
    pub fn never() -> StopSignal {
        // With the sender gone, `requested()` pends forever.
        let (_, requested) = watch::channel(false);
        StopSignal { requested }
    }

    /// Resolves once a stop has been requested.
    pub async fn requested(&mut self) {
        // An error means the sender is gone without a request: then none will come.
        if self.requested.wait_for(|&stop| stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
