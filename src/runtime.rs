//! The process's one Tokio runtime (multi-threaded, one worker per core, all drivers on).
//! `main` starts it before running a command ([`start`], which reports a failure as an
//! error); anything else that needs it, such as unit tests or a library caller, gets the
//! same runtime built on first use. Every async piece runs on it: apply's orders, the
//! refresh steps before a plan (ARI windows, issuer names, remote outputs, the
//! `--check-endpoints` probes), `revoke`, the profile check, and the PostgreSQL and S3
//! state backends. Apply keeps what its own runtime had: one worker per core (its orders
//! wait on the network, not the CPU) and the state writes moved off the worker.
//!
//! The synchronous code that calls into async code ([`block_on`]) may itself run anywhere:
//! outside any runtime (a plan), on a worker of apply's runtime (a state write made by an
//! action), or on a current-thread runtime (a `#[tokio::test]`). A nested `block_on` would
//! panic in the last two, so each gets its own way in. The future always runs on this
//! runtime, never on the caller's: a PostgreSQL connection or an S3 client made by one call
//! must outlive the runtime of a test that made it.
//!
//! [`blocking`] is the one way async code hands work that blocks a thread (key generation,
//! fsyncs) to the runtime's blocking pool.

use crate::error::{Error, Result};
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Builds the runtime if it is not built yet. `main` calls it first, so a failure is one
/// clear error instead of a panic in the middle of a command.
pub fn start() -> Result<()> {
    if RUNTIME.get().is_none() {
        let built =
            build().map_err(|e| Error::Bug(format!("cannot start the async runtime: {e}")))?;
        // Another thread may have been first; then its runtime is the one, and ours is
        // dropped here, outside any async context, before it ran anything.
        let _ = RUNTIME.set(built);
    }
    Ok(())
}

/// The runtime's handle, building the runtime on first use.
pub fn handle() -> &'static Handle {
    RUNTIME
        .get_or_init(|| build().expect("cannot start the async runtime"))
        .handle()
}

fn build() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("certform-async")
        .enable_all()
        .build()
}

/// Runs `future` to completion on the runtime from synchronous code and returns its output.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = handle();
    match Handle::try_current() {
        Ok(current) if current.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime.block_on(future))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        }
        _ => off_the_worker(|| runtime.block_on(future)),
    }
}

/// Runs blocking `work` (a state write, a wait for one, a `block_on`) without stalling an
/// async worker: on a multi-threaded runtime tokio hands the worker's other tasks to
/// another thread meanwhile, so the orders in flight keep going; outside a runtime (or on
/// a current-thread one) it simply runs.
pub fn off_the_worker<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(feature = "postgres")]
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    handle().spawn(future);
}

/// Work that blocks a thread (key generation, CSR signing, fsyncs of output files) off the
/// async workers, its own error passed through.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Bug(format!("a blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer() -> u32 {
        tokio::task::yield_now().await;
        42
    }

    #[test]
    fn runs_a_future_outside_any_runtime() {
        assert_eq!(block_on(answer()), 42);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_a_future_from_a_worker_of_a_multi_threaded_runtime() {
        let output = tokio::spawn(async { block_on(answer()) }).await.unwrap();
        assert_eq!(output, 42);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn runs_a_future_from_a_current_thread_runtime() {
        assert_eq!(block_on(answer()), 42);
    }

    #[test]
    fn runs_a_future_from_a_task_on_the_runtime_itself() {
        let output = block_on(async { tokio::spawn(async { block_on(answer()) }).await });
        assert_eq!(output.unwrap(), 42);
    }
}
