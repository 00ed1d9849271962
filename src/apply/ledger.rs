//! The ledger: state and secrets as apply changes them, and how each change reaches the
//! store. During an apply the actions share one [`SharedLedger`] and write by group commit:
//! an action's `commit` applies its edit in memory and returns once a state write that
//! includes the edit has completed. While one write runs, the edits committed meanwhile
//! wait, and the next write carries all of them, so N actions finishing together cost one
//! write instead of N (each write re-encodes the whole state and fsyncs twice); a write
//! also waits four times as long as the last one took (at most 0.2 s), so a busy apply's
//! writes carry more edits each, unless every action under way already waits for it. An
//! action is reported done only after its `commit` returned, so a crash still loses at
//! most the actions in flight; one that completed is in the state.

use crate::error::{Error, Result};
use crate::state::model::{Secrets, State};
use crate::state::Persister;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, LockResult, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// State and secrets with the persister that writes them, for one writer at a time.
pub struct Ledger {
    pub state: State,
    pub secrets: Secrets,
    persister: Persister,
}

impl Ledger {
    pub fn new(state: State, secrets: Secrets, persister: Persister) -> Self {
        Ledger {
            state,
            secrets,
            persister,
        }
    }
}

/// The ledger shared by the concurrent actions of one apply. Lock order: the writer before
/// the book, and nobody waits for the writer while holding the book.
pub(crate) struct SharedLedger {
    book: Mutex<Book>,
    writer: Mutex<Writer>,
    progress: Mutex<Progress>,
    /// Signalled to the committers when a write ends.
    write_ended: Condvar,
    /// Signalled to a pausing writer when a committer or an action comes or goes.
    waiters_changed: Condvar,
}

/// Which edits are stored and whether a write is under way: a committer waits here, not for
/// the writer, so one whose edit a finished write carried returns at once instead of
/// queueing behind the next write.
#[derive(Default)]
struct Progress {
    /// Edits 1 to `written` are in the store.
    written: u64,
    writing: bool,
    /// Committers waiting for their edit to be stored, the writer among them.
    waiting: usize,
    /// Actions under way ([`SharedLedger::running`]): once all of them wait for a write, no
    /// edit can come to share it, so the writer does not pause (the end of an apply).
    running: usize,
}

/// Ends the write under way if its writer panics: the other committers wake, and the
/// writer's poisoned lock turns their attempts into errors instead of a wait that never
/// ends.
struct EndsOnPanic<'a>(&'a SharedLedger);

impl Drop for EndsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut progress = self.0.lock_progress();
            progress.writing = false;
            progress.waiting -= 1;
            self.0.write_ended.notify_all();
        }
    }
}

/// An action under way, counted while this lives.
pub(crate) struct Running<'a>(&'a SharedLedger);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock_progress().running -= 1;
        self.0.waiters_changed.notify_one();
    }
}

/// What the actions read and edit.
pub(crate) struct Book {
    pub state: State,
    pub secrets: Secrets,
    /// How many edits have been applied; edit `k` is the `k`-th commit.
    edits: u64,
}

/// The one writer of the store.
struct Writer {
    persister: Persister,
    /// When the last write ended and how long it took.
    last_write: Option<(Instant, Duration)>,
}

/// After a write that took `t`, the next one starts no sooner than `PACE * t` later (at
/// most [`MAX_PAUSE`], so the writer is busy a fifth of the time at most): every write
/// re-encodes and re-writes the whole state, so a writer that starts again at once spends
/// a core on writes that each carry one or two edits, while a pause lets the edits of a
/// busy apply share one. Orders do not wait for it (they give their parallelism slot back
/// before their writes), only their completion.
const PACE: u32 = 4;
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// How long to wait before the next write, after a write that ended at `ended` and took
/// `took`.
fn pause_after((ended, took): (Instant, Duration)) -> Option<Duration> {
    (took * PACE)
        .min(MAX_PAUSE)
        .checked_sub(ended.elapsed())
        .filter(|pause| !pause.is_zero())
}

/// The book, locked; [`LedgerGuard::commit`] edits it and waits until the edit is stored.
pub(crate) struct LedgerGuard<'a> {
    /// Always `Some`, except during `commit`, which lets go of the lock while it waits.
    book: Option<MutexGuard<'a, Book>>,
    ledger: &'a SharedLedger,
}

impl SharedLedger {
    pub fn new(ledger: Ledger) -> Self {
        SharedLedger {
            book: Mutex::new(Book {
                state: ledger.state,
                secrets: ledger.secrets,
                edits: 0,
            }),
            writer: Mutex::new(Writer {
                persister: ledger.persister,
                last_write: None,
            }),
            progress: Mutex::new(Progress::default()),
            write_ended: Condvar::new(),
            waiters_changed: Condvar::new(),
        }
    }

    pub fn lock(&self) -> LockResult<LedgerGuard<'_>> {
        let guard = |book| LedgerGuard {
            book: Some(book),
            ledger: self,
        };
        self.book
            .lock()
            .map(guard)
            .map_err(|poisoned| PoisonError::new(guard(poisoned.into_inner())))
    }

    pub fn into_inner(self) -> Ledger {
        let book = self
            .book
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let writer = self
            .writer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        Ledger::new(book.state, book.secrets, writer.persister)
    }

    /// Counts an action as under way until the returned value is dropped.
    pub fn running(&self) -> Running<'_> {
        self.lock_progress().running += 1;
        Running(self)
    }

    fn lock_progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once edit `ticket` is in the store: at once if a write that carried it has
    /// ended; after the write under way if that one carries it; otherwise this caller
    /// writes every edit applied so far. A failed write fails only its writer's commit: the
    /// others wake and one of them tries again.
    fn write_through(&self, ticket: u64) -> Result<()> {
        let mut progress = self.lock_progress();
        progress.waiting += 1;
        // A writer pausing for more edits may now have all it can get.
        self.waiters_changed.notify_one();
        let stored = loop {
            if progress.written >= ticket {
                break Ok(());
            }
            if progress.writing {
                progress = self
                    .write_ended
                    .wait(progress)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            progress.writing = true;
            drop(progress);
            let written = {
                let _unwinding = EndsOnPanic(self);
                self.write_all_edits()
            };
            progress = self.lock_progress();
            progress.writing = false;
            self.write_ended.notify_all();
            match written {
                // It carried every edit applied before it started, `ticket` included.
                Ok(edits) => progress.written = edits,
                Err(e) => break Err(e),
            }
        };
        progress.waiting -= 1;
        stored
    }

    /// Writes the book as it stands (after the pause the last write calls for) and returns
    /// how many edits the write carried.
    fn write_all_edits(&self) -> Result<u64> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| Error::Bug("a state write panicked".into()))?;
        if let Some(pause) = writer.last_write.and_then(pause_after) {
            let progress = self.lock_progress();
            let _ = self
                .waiters_changed
                .wait_timeout_while(progress, pause, |p| p.waiting < p.running);
        }
        let started = Instant::now();
        // Taken in under the book's lock (only changed certificates are serialised, the
        // rest copied), encoded and written outside it: the actions lock the book on the
        // runtime's few worker threads, so a long hold would stall every order in flight.
        let (snapshot, edits) = {
            let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
            let snapshot = writer.persister.take_in(&book.state, &book.secrets)?;
            (snapshot, book.edits)
        };
        let encoded = writer.persister.encode_next(&snapshot)?;
        let serial = encoded.serial();
        writer.persister.write(encoded)?;
        writer.last_write = Some((Instant::now(), started.elapsed()));
        // Only the writer changes the serial, so the book's stays the one last stored.
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
            .serial = serial;
        Ok(edits)
    }
}

impl LedgerGuard<'_> {
    /// Applies `edit`, lets the other actions use the book while it waits, and returns once
    /// a write that includes the edit has completed (or with the error of the write that
    /// failed), holding the book again.
    pub fn commit(&mut self, edit: impl FnOnce(&mut State, &mut Secrets)) -> Result<()> {
        let book = &mut **self;
        edit(&mut book.state, &mut book.secrets);
        book.edits += 1;
        let ticket = book.edits;
        self.book = None;
        // Off the worker, so the orders in flight keep going and their commits can join the
        // next write.
        let written = crate::runtime::off_the_worker(|| self.ledger.write_through(ticket));
        self.book = Some(
            self.ledger
                .book
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        written
    }
}

impl Deref for LedgerGuard<'_> {
    type Target = Book;

    fn deref(&self) -> &Book {
        self.book.as_ref().expect("the book is held outside commit")
    }
}

impl DerefMut for LedgerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Book {
        self.book.as_mut().expect("the book is held outside commit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::format::tests::{sample, x25519_identity};
    use crate::state::model::{AccountSecret, AccountState};
    use crate::state::{Identity, LocalStore, LockInfo, StateLock, StateStore};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A ledger over a fresh local state, with the identity that opens it.
    fn ledger(dir: &tempfile::TempDir) -> (SharedLedger, LocalStore, Identity) {
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let (identity, recipient) = x25519_identity();
        let persister = Persister::new(Box::new(store.clone()), lock, vec![recipient], None);
        let (mut state, secrets) = sample();
        state.serial = 0;
        let ledger = SharedLedger::new(Ledger::new(state, secrets, persister));
        (ledger, store, identity)
    }

    /// Adds account `name` to both halves, as the create-account action does.
    fn add_account(state: &mut State, secrets: &mut Secrets, name: &str) {
        let mut account: AccountState = state.accounts["le"].clone();
        account.account_url = format!("https://acme.example/acct/{name}");
        state.accounts.insert(name.to_string(), account);
        let secret: AccountSecret = secrets.accounts["le"].clone();
        secrets.accounts.insert(name.to_string(), secret);
    }

    fn stored_accounts(store: &LocalStore, identity: &Identity) -> Vec<String> {
        let stored = store.read().unwrap().expect("a state was written");
        let secrets = stored.open_secrets(identity).unwrap();
        assert_eq!(
            stored.state.accounts.keys().collect::<Vec<_>>(),
            secrets.accounts.keys().collect::<Vec<_>>()
        );
        stored.state.accounts.into_keys().collect()
    }

    #[test]
    fn edits_committed_during_a_write_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, store, identity) = ledger(&dir);
        let (ledger, identity) = (Arc::new(ledger), Arc::new(identity));
        let names: Vec<String> = (0..8).map(|i| format!("a{i}")).collect();

        // Hold the writer, as a write in progress does, while eight actions commit.
        let writing = ledger.writer.lock().unwrap();
        let committers: Vec<_> = names
            .iter()
            .map(|name| {
                let (ledger, store, identity, name) = (
                    ledger.clone(),
                    store.clone(),
                    identity.clone(),
                    name.clone(),
                );
                std::thread::spawn(move || {
                    ledger
                        .lock()
                        .unwrap()
                        .commit(|state, secrets| add_account(state, secrets, &name))
                        .unwrap();
                    // Once commit has returned, the edit is in the store.
                    assert!(stored_accounts(&store, &identity).contains(&name));
                })
            })
            .collect();
        while ledger.lock().unwrap().edits < names.len() as u64 {
            std::thread::yield_now();
        }
        // Every edit is in memory, none is stored, and readers were never blocked.
        assert_eq!(ledger.lock().unwrap().state.accounts.len(), names.len() + 1);
        assert!(store.get().unwrap().is_none());
        drop(writing);
        for committer in committers {
            committer.join().unwrap();
        }

        let ledger = Arc::into_inner(ledger).unwrap().into_inner();
        assert_eq!(ledger.state.serial, 1, "one write carried all eight edits");
        let stored = store.read().unwrap().unwrap();
        assert_eq!(stored.state, ledger.state);
        assert_eq!(stored.open_secrets(&identity).unwrap(), ledger.secrets);
    }

    #[test]
    fn a_commit_already_stored_returns_while_the_next_write_runs() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, store, identity) = ledger(&dir);
        let ledger = Arc::new(ledger);
        ledger
            .lock()
            .unwrap()
            .commit(|state, secrets| add_account(state, secrets, "a0"))
            .unwrap();
        // The next write is under way and cannot finish (the test holds the writer) ...
        let writing = ledger.writer.lock().unwrap();
        let next = {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                ledger
                    .lock()
                    .unwrap()
                    .commit(|state, secrets| add_account(state, secrets, "a1"))
            })
        };
        while !ledger.progress.lock().unwrap().writing {
            std::thread::yield_now();
        }
        // ... and edit 1, stored by the first write, is confirmed without waiting for it.
        let (confirmed, confirmation) = std::sync::mpsc::channel();
        {
            let ledger = ledger.clone();
            std::thread::spawn(move || confirmed.send(ledger.write_through(1)));
        }
        confirmation
            .recv_timeout(Duration::from_secs(5))
            .expect("confirmed while the next write is held")
            .unwrap();
        assert_eq!(stored_accounts(&store, &identity), ["a0", "le"]);
        drop(writing);
        next.join().unwrap().unwrap();
        assert_eq!(stored_accounts(&store, &identity), ["a0", "a1", "le"]);
    }

    /// A local store whose next write panics, as a bug on the write path would.
    struct PanicsOnNextPut {
        store: LocalStore,
        armed: AtomicBool,
    }

    impl StateStore for PanicsOnNextPut {
        fn describe(&self) -> String {
            self.store.describe()
        }
        fn get(&self) -> Result<Option<Vec<u8>>> {
            self.store.get()
        }
        fn put(&self, lock: &StateLock, serial: Option<u64>, bytes: &[u8]) -> Result<()> {
            assert!(
                !self.armed.swap(false, Ordering::SeqCst),
                "a bug on the write path"
            );
            self.store.put(lock, serial, bytes)
        }
        fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock> {
            self.store.lock(operation, timeout)
        }
        fn lock_info(&self) -> Result<Option<LockInfo>> {
            self.store.lock_info()
        }
        fn force_unlock(&self, id: &str) -> Result<()> {
            self.store.force_unlock(id)
        }
        fn workspaces(&self) -> Result<Vec<String>> {
            self.store.workspaces()
        }
        fn create_workspace(&self, name: &str) -> Result<()> {
            self.store.create_workspace(name)
        }
        fn delete_workspace(&self, name: &str) -> Result<()> {
            self.store.delete_workspace(name)
        }
        fn workspace(&self, name: &str) -> Result<Box<dyn StateStore>> {
            self.store.workspace(name)
        }
    }

    #[test]
    fn a_write_that_panics_fails_the_next_commit_instead_of_hanging_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = PanicsOnNextPut {
            store: LocalStore::new(dir.path().join("state.json")),
            armed: AtomicBool::new(true),
        };
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let (_, recipient) = x25519_identity();
        let persister = Persister::new(Box::new(store), lock, vec![recipient], None);
        let (state, secrets) = sample();
        let ledger = Arc::new(SharedLedger::new(Ledger::new(state, secrets, persister)));
        let commit = |name: &'static str| {
            let ledger = ledger.clone();
            let (done, outcome) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let committed = ledger
                    .lock()
                    .unwrap()
                    .commit(|state, secrets| add_account(state, secrets, name));
                done.send(committed).unwrap();
            });
            outcome.recv_timeout(Duration::from_secs(5))
        };

        // The first writer panics (its thread ends without an answer) ...
        assert!(commit("a0").is_err());
        // ... and the next commit fails with an error instead of waiting for it forever.
        let next = commit("a1").expect("the next commit returned");
        assert!(
            matches!(&next, Err(Error::Bug(why)) if why.contains("panicked")),
            "{next:?}"
        );
    }

    /// Ten actions commit from tasks at once; every edit is stored, in at most ten writes.
    async fn commit_from_ten_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, store, identity) = ledger(&dir);
        let ledger = Arc::new(ledger);
        let mut actions = tokio::task::JoinSet::new();
        for i in 0..10 {
            let ledger = ledger.clone();
            actions.spawn(async move {
                tokio::task::yield_now().await;
                let name = format!("a{i}");
                ledger
                    .lock()
                    .unwrap()
                    .commit(|state, secrets| add_account(state, secrets, &name))
            });
        }
        while let Some(done) = actions.join_next().await {
            done.unwrap().unwrap();
        }
        let ledger = Arc::into_inner(ledger).unwrap().into_inner();
        assert!((1..=10).contains(&ledger.state.serial));
        assert_eq!(stored_accounts(&store, &identity).len(), 11);
        assert_eq!(store.read().unwrap().unwrap().state, ledger.state);
    }

    /// Apply's runtime: the wait moves off the worker (`block_in_place`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_on_the_multi_threaded_runtime() {
        commit_from_ten_tasks().await;
    }

    /// `block_in_place` is not allowed here, so the wait happens in place.
    #[tokio::test(flavor = "current_thread")]
    async fn commits_on_a_current_thread_runtime() {
        commit_from_ten_tasks().await;
    }

    #[test]
    fn the_next_write_waits_four_times_as_long_as_the_last_one_took_at_most_a_fifth_of_a_second() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let pause = pause_after((now, ms(10))).expect("a pause");
        assert!(pause > ms(35) && pause <= ms(40), "{pause:?}");
        let capped = pause_after((now, ms(400))).expect("a pause");
        assert!(capped > ms(180) && capped <= MAX_PAUSE, "{capped:?}");
        // Time already gone since the last write counts.
        let earlier = now.checked_sub(ms(35)).expect("an instant 35 ms ago");
        assert!(pause_after((earlier, ms(10))).expect("a pause") <= ms(5));
        assert_eq!(pause_after((earlier, ms(5))), None);
    }

    #[test]
    fn a_failed_write_fails_the_commit_and_keeps_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("state.json"));
        let lock = store.lock("apply", Duration::ZERO).unwrap();
        let persister = Persister::new(
            Box::new(store.clone()),
            lock,
            vec!["not-a-recipient".to_string()],
            None,
        );
        let (state, secrets) = sample();
        let serial = state.serial;
        let ledger = SharedLedger::new(Ledger::new(state, secrets, persister));

        let failed = ledger
            .lock()
            .unwrap()
            .commit(|state, secrets| add_account(state, secrets, "a0"));
        assert!(matches!(failed, Err(Error::State(_))), "{failed:?}");
        assert!(store.get().unwrap().is_none());
        let ledger = ledger.into_inner();
        assert_eq!(ledger.state.serial, serial);
        // The edit stays in memory, as before a failed write: the next write carries it.
        assert!(ledger.state.accounts.contains_key("a0"));
    }
}
