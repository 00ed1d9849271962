//! Stopping an apply early. The first SIGINT (Ctrl-C) or SIGTERM stops the scheduling of
//! new actions; the actions already running finish (each persists its own result, and
//! its solver cleans up its challenge), then apply reports and exits non-zero. A second
//! signal stops at once: the caller removes published challenge records and exits; state
//! writes are atomic, so even then the state on disk is whole and only the actions in flight
//! are lost.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Tells the executor whether a stop was requested. Cheap to clone.
#[derive(Clone)]
pub struct StopSignal {
    /// How many signals have arrived (0, 1 or 2).
    received: watch::Receiver<u8>,
}

impl StopSignal {
    /// Exit status after a second signal: 128 + SIGINT, as shells report an interrupted
    /// program.
    pub const FORCED_EXIT_STATUS: i32 = 130;

    /// Listens for SIGINT and SIGTERM from now on; must be called inside a Tokio runtime.
    pub fn listen() -> std::io::Result<StopSignal> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (sender, received) = watch::channel(0);
        tokio::spawn(async move {
            for count in 1..=2 {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                let _ = sender.send(count);
            }
        });
        Ok(StopSignal { received })
    }

    /// A signal that never fires: for callers (and tests) that do not stop early.
    pub fn never() -> StopSignal {
        // With the sender gone, `requested()` and `forced()` pend forever.
        let (_, received) = watch::channel(0);
        StopSignal { received }
    }

    /// Resolves once a stop has been requested (the first signal).
    pub async fn requested(&mut self) {
        self.received_at_least(1).await
    }

    /// Resolves on the second signal: stop at once.
    pub async fn forced(&mut self) {
        self.received_at_least(2).await
    }

    async fn received_at_least(&mut self, count: u8) {
        // An error means the sender is gone: then no more signals will come.
        if self.received.wait_for(|&n| n >= count).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
