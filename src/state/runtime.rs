//! A private async runtime for the remote backends, so the synchronous `StateStore` can
//! drive tokio-postgres and aws-sdk-s3 from anywhere: from `plan` (no runtime) and from
//! inside `apply`'s runtime, where a nested `block_on` would panic. Each call runs on a
//! short-lived scoped thread; the runtime's own worker keeps connections alive between
//! calls (a PostgreSQL session lock lives as long as its connection).

use crate::error::{Error, Result};
use std::future::Future;

#[derive(Debug)]
pub(crate) struct BackendRuntime {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for BackendRuntime {
    /// A runtime dropped the ordinary way blocks, which panics inside `apply`'s runtime
    /// (where the state store is dropped); nothing of ours is left to wait for.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl BackendRuntime {
    pub(crate) fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("certform-backend")
            .enable_all()
            .build()
            .map_err(|e| Error::Bug(format!("cannot start the backend runtime: {e}")))?;
        Ok(BackendRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` to completion on this runtime and returns its output.
    pub(crate) fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.handle().block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Spawns a background task (a database connection's I/O loop).
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle().spawn(future);
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until dropped")
            .handle()
    }
}
