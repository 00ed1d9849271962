//! This machine's memory of the states it has used, to catch a rolled-back state: a whole
//! document put back in place of a newer one (its `.backup`, an old commit, an older object
//! version) is complete and self-consistent, since both halves are sealed together, so only
//! a record kept outside the state can tell that it is older.
//!
//! For each lineage, `$XDG_STATE_HOME/certform/seen/<lineage>.json` (by default under
//! `~/.local/state`) holds the highest serial certform has read or written here and the
//! SHA-256 of that document. A document below that serial, or a different document at that
//! serial (a fork), is refused; a newer one raises the record, and so does every write. The
//! record only ever lags the state, so one that cannot be read or written is replaced or
//! skipped, never fatal. `certform state accept-rollback` resets it after a deliberate restore.

use crate::error::{Error, Result};
use crate::state::model::State;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use time::OffsetDateTime;

/// A state document as certform read or wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub lineage: uuid::Uuid,
    pub serial: u64,
    /// SHA-256 (hex) of the encoded document, byte for byte as stored.
    pub sha256: String,
    /// Where the state lives (`StateStore::describe`), for messages.
    pub location: String,
    /// The id of the state key, once it is known to be the document's (after its MAC was
    /// verified, or when certform wrote it).
    pub key_id: Option<String>,
}

impl Sighting {
    pub fn of(state: &State, document: &[u8], location: impl Into<String>) -> Sighting {
        Sighting::at(state.lineage, state.serial, document, location)
    }

    /// The document of `lineage` at `serial`.
    pub fn at(
        lineage: uuid::Uuid,
        serial: u64,
        document: &[u8],
        location: impl Into<String>,
    ) -> Sighting {
        Sighting {
            lineage,
            serial,
            sha256: crate::deploy::sha256_hex(document),
            location: location.into(),
            key_id: None,
        }
    }

    /// The same sighting, with the verified id of its state key.
    pub fn with_key_id(mut self, key_id: Option<String>) -> Sighting {
        self.key_id = key_id;
        self
    }
}

/// The high-water mark of one lineage, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub lineage: uuid::Uuid,
    pub serial: u64,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub seen_at: OffsetDateTime,
    /// Where that document was read or written.
    pub location: String,
    /// The id of the lineage's state key: a pin (`state::auth`) that a writer of the state
    /// cannot move. Kept when a later sighting does not know the key (`state push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl Record {
    fn of(document: &Sighting, previous: Option<&Record>) -> Record {
        let now = OffsetDateTime::now_utc();
        Record {
            lineage: document.lineage,
            serial: document.serial,
            sha256: document.sha256.clone(),
            seen_at: now.replace_nanosecond(0).unwrap_or(now),
            location: document.location.clone(),
            key_id: document
                .key_id
                .clone()
                .or_else(|| previous.and_then(|p| p.key_id.clone())),
        }
    }

    fn matches(&self, document: &Sighting) -> bool {
        self.serial == document.serial && self.sha256 == document.sha256
    }

    /// When it was seen, for messages: `2026-11-28 12:00:00 UTC`.
    pub fn when(&self) -> String {
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        self.seen_at
            .to_offset(time::UtcOffset::UTC)
            .format(&format)
            .unwrap_or_else(|_| self.seen_at.to_string())
    }
}

/// Which lineage this machine last used at a location (`at-<digest>.json`).
#[derive(Debug, Serialize, Deserialize)]
struct AtLocation {
    location: String,
    lineage: uuid::Uuid,
}

/// The directory of records.
#[derive(Debug, Clone)]
pub struct SeenRecords {
    dir: PathBuf,
}

impl SeenRecords {
    /// `$XDG_STATE_HOME/certform/seen`, or `~/.local/state/certform/seen`.
    pub fn for_this_user() -> SeenRecords {
        SeenRecords::at(state_home().join("certform").join("seen"))
    }

    pub fn at(dir: impl Into<PathBuf>) -> SeenRecords {
        SeenRecords { dir: dir.into() }
    }

    /// The record file of `lineage`.
    pub fn path(&self, lineage: uuid::Uuid) -> PathBuf {
        self.dir.join(format!("{lineage}.json"))
    }

    /// Checks a document just read: refuses one older than the record, or another document
    /// at the recorded serial. The record is left as it is: a document read without the
    /// identity is not authenticated, and raising the record to a serial a writer of the
    /// state made up would lock the genuine state out. Trouble with the record itself is
    /// only a warning (shown at `-v`).
    pub fn check(&self, document: &Sighting) -> Result<()> {
        self.refusal(document, &self.load_or_warn(document))
            .map_or(Ok(()), Err)
    }

    /// [`SeenRecords::check`] for a document whose MAC verified: a newer one raises the
    /// record, with the id of its state key, and its lineage becomes the one at its location.
    pub fn check_and_raise(&self, document: &Sighting) -> Result<()> {
        let known = self.load_or_warn(document);
        if let Some(refusal) = self.refusal(document, &known) {
            return Err(refusal);
        }
        let unchanged = known.as_ref().is_some_and(|k| {
            k.matches(document) && (document.key_id.is_none() || k.key_id == document.key_id)
        });
        if unchanged {
            self.remember_location(document);
        } else {
            self.remember_or_warn(document);
        }
        Ok(())
    }

    /// The key id this machine recorded for `lineage`, as a pin.
    pub fn pin(&self, lineage: uuid::Uuid) -> Option<crate::state::auth::Pin> {
        let record = self.load(lineage).ok().flatten()?;
        Some(crate::state::auth::Pin {
            key_id: record.key_id?,
            source: crate::state::auth::PinSource::ThisMachine(
                self.path(lineage).display().to_string(),
            ),
        })
    }

    fn load_or_warn(&self, document: &Sighting) -> Option<Record> {
        self.load(document.lineage).unwrap_or_else(|why| {
            tracing::warn!(
                "This machine's rollback record {} could not be read ({why}); it is replaced by serial {}.",
                self.path(document.lineage).display(),
                document.serial
            );
            None
        })
    }

    fn refusal(&self, document: &Sighting, known: &Option<Record>) -> Option<Error> {
        match known {
            Some(known) if known.serial > document.serial => {
                Some(self.rolled_back(document, known))
            }
            Some(known) if known.serial == document.serial && !known.matches(document) => {
                Some(self.forked(document, known))
            }
            _ => None,
        }
    }

    /// Records a document certform has just written: it is the current state by definition.
    pub fn remember(&self, document: &Sighting) -> Result<()> {
        let previous = self.load(document.lineage).ok().flatten();
        self.store(&Record::of(document, previous.as_ref()))?;
        self.remember_location(document);
        Ok(())
    }

    /// [`SeenRecords::remember`], where a record that cannot be written only lags: a
    /// warning, and the next read of the state tries again.
    fn remember_or_warn(&self, document: &Sighting) {
        if let Err(e) = self.remember(document) {
            tracing::warn!("{e}; the next command tries again.");
        }
    }

    /// `state accept-rollback`: makes `document` the record, whatever was recorded (the
    /// key id pin too), and returns the record it replaced (`None`: none, or none readable).
    pub fn accept(&self, document: &Sighting) -> Result<Option<Record>> {
        let previous = self.load(document.lineage).ok().flatten();
        // The user vouches for this document: its key, whatever it is, is pinned again
        // at the next command that opens it.
        self.store(&Record::of(document, None))?;
        self.remember_location(document);
        Ok(previous)
    }

    /// The record of `lineage`; `Err` says why an existing one cannot be used.
    fn load(&self, lineage: uuid::Uuid) -> std::result::Result<Option<Record>, String> {
        let bytes = match fs::read(self.path(lineage)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let record: Record = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if record.lineage != lineage {
            return Err(format!("it names lineage {}", record.lineage));
        }
        Ok(Some(record))
    }

    /// Replaces the record atomically (a temporary file renamed over it). There is no
    /// fsync: a record lost or emptied by a crash only lags, and the next read replaces it.
    fn store(&self, record: &Record) -> Result<()> {
        self.write_json(&self.path(record.lineage), record)
    }

    fn write_json(&self, path: &std::path::Path, value: &impl Serialize) -> Result<()> {
        let temp = self
            .dir
            .join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut json = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::Bug(format!("serialising a rollback record: {e}")))?;
        json.push(b'\n');
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .and_then(|()| fs::write(&temp, &json))
            .and_then(|()| fs::rename(&temp, path))
            .map_err(|e| {
                let _ = fs::remove_file(&temp);
                Error::io("Cannot update this machine's rollback record", path, e)
            })
    }

    /// The record of which lineage this machine last used at `location`.
    fn location_path(&self, location: &str) -> PathBuf {
        let digest = crate::deploy::sha256_hex(location.as_bytes());
        self.dir.join(format!("at-{}.json", &digest[..32]))
    }

    /// Refuses a document of another lineage than the one this machine last opened or wrote
    /// at the same location: a whole new state (a new lineage, so no record and no pinned
    /// key of its own) put in place of the one certform used there.
    pub fn check_location(&self, document: &Sighting) -> Result<()> {
        let Some(known) = self.lineage_at(&document.location) else {
            return Ok(());
        };
        if known == document.lineage {
            return Ok(());
        }
        Err(Error::State(format!(
            "The state {} has lineage {}, but this machine last used lineage {} there: it is \
             another state, put in place of the one certform wrote (perhaps by someone without \
             the identity). Nothing was changed. Put the state certform last wrote back; if \
             this one is the state you want, run `certform state accept-rollback` (record: {}).",
            document.location,
            document.lineage,
            known,
            self.location_path(&document.location).display()
        )))
    }

    /// The lineage this machine last used at `location` (`None`: none, or none readable).
    fn lineage_at(&self, location: &str) -> Option<uuid::Uuid> {
        let bytes = fs::read(self.location_path(location)).ok()?;
        Some(serde_json::from_slice::<AtLocation>(&bytes).ok()?.lineage)
    }

    /// Records that `document`'s lineage is the one at its location (a verified open, a
    /// write, or `state accept-rollback`); written only when it changes, since every state
    /// write of an apply passes here. Only a warning when it cannot be written.
    fn remember_location(&self, document: &Sighting) {
        if self.lineage_at(&document.location) == Some(document.lineage) {
            return;
        }
        let record = AtLocation {
            location: document.location.clone(),
            lineage: document.lineage,
        };
        if let Err(e) = self.write_json(&self.location_path(&document.location), &record) {
            tracing::warn!("{e}; the next command tries again.");
        }
    }

    fn rolled_back(&self, document: &Sighting, known: &Record) -> Error {
        Error::State(format!(
            "The state {} is older than the one this machine last used: it is at serial {}, but \
             serial {} was read or written here on {}. An older copy was put back (its `.backup`, \
             an old commit or object version). Certificates and keys issued since serial {} are \
             not in it: certform would forget them and order them again. Nothing was changed. \
             Put the newest state back; if you restored this one on purpose, run `certform state \
             accept-rollback` to make it the current version (record: {}).",
            document.location,
            document.serial,
            known.serial,
            known.when(),
            document.serial,
            self.path(document.lineage).display()
        ))
    }

    fn forked(&self, document: &Sighting, known: &Record) -> Error {
        Error::State(format!(
            "The state {} at serial {} is not the document this machine read or wrote at serial \
             {} on {}: it was changed outside certform, or it is a copy that went its own way (a \
             fork). Certificates and keys issued in the other version are not in it: certform \
             would forget them and order them again. Nothing was changed. Put the state certform \
             last wrote back; if this one is the version you want, run `certform state \
             accept-rollback` to make it the current version (record: {}).",
            document.location,
            document.serial,
            known.serial,
            known.when(),
            self.path(document.lineage).display()
        ))
    }
}

/// Records a document certform has just written (`Persister::persist`, `state push`), with
/// the id of its state key when certform knows it.
pub fn remember_written(state: &State, document: &[u8], location: String, key_id: Option<String>) {
    remember(state.lineage, state.serial, document, location, key_id);
}

/// [`remember_written`] for the document of `lineage` at `serial`.
pub fn remember(
    lineage: uuid::Uuid,
    serial: u64,
    document: &[u8],
    location: String,
    key_id: Option<String>,
) {
    SeenRecords::for_this_user()
        .remember_or_warn(&Sighting::at(lineage, serial, document, location).with_key_id(key_id));
}

/// `$XDG_STATE_HOME` (`~/.local/state`): this machine's records of the states it used (and
/// the ARI cache, `state::ari_cache`).
#[cfg(not(test))]
pub(super) fn state_home() -> PathBuf {
    super::identity::xdg_base_dir("XDG_STATE_HOME", ".local/state")
}

/// Unit tests persist states too: their records go under the system temp directory, never
/// into the developer's home.
#[cfg(test)]
pub(super) fn state_home() -> PathBuf {
    std::env::temp_dir().join("certform-unit-tests")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(lineage: uuid::Uuid, serial: u64, content: &str) -> Sighting {
        let mut state = State::new();
        state.lineage = lineage;
        state.serial = serial;
        Sighting::of(&state, content.as_bytes(), "/srv/tls/state.certstate")
    }

    fn setup() -> (tempfile::TempDir, SeenRecords, uuid::Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let records = SeenRecords::at(dir.path().join("seen"));
        (dir, records, uuid::Uuid::new_v4())
    }

    fn recorded(records: &SeenRecords, lineage: uuid::Uuid) -> Record {
        serde_json::from_slice(&fs::read(records.path(lineage)).unwrap()).unwrap()
    }

    #[test]
    fn the_first_sighting_is_recorded_and_a_newer_one_raises_the_record() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 3, "three"))
            .unwrap();
        let first = recorded(&records, lineage);
        assert_eq!((first.serial, first.lineage), (3, lineage));
        assert_eq!(first.sha256, crate::deploy::sha256_hex(b"three"));
        assert_eq!(first.location, "/srv/tls/state.certstate");

        // Reading the same document again changes nothing.
        records
            .check_and_raise(&document(lineage, 3, "three"))
            .unwrap();
        assert_eq!(recorded(&records, lineage), first);

        records
            .check_and_raise(&document(lineage, 5, "five"))
            .unwrap();
        assert_eq!(recorded(&records, lineage).serial, 5);
    }

    #[test]
    fn an_older_document_is_refused_and_the_record_kept() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 7, "seven"))
            .unwrap();
        let before = fs::read(records.path(lineage)).unwrap();
        let message = records
            .check_and_raise(&document(lineage, 6, "six"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("it is at serial 6, but serial 7 was read or written here on "),
            "{message}"
        );
        assert!(message.contains("/srv/tls/state.certstate"), "{message}");
        assert!(
            message.contains("would forget them and order them again"),
            "{message}"
        );
        assert!(
            message.contains("`certform state accept-rollback`"),
            "{message}"
        );
        assert_eq!(fs::read(records.path(lineage)).unwrap(), before);
    }

    #[test]
    fn another_document_at_the_recorded_serial_is_a_fork() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 4, "ours"))
            .unwrap();
        let message = records
            .check_and_raise(&document(lineage, 4, "theirs"))
            .unwrap_err()
            .to_string();
        assert!(
            message
                .contains("at serial 4 is not the document this machine read or wrote at serial 4"),
            "{message}"
        );
        assert!(message.contains("(a fork)"), "{message}");
        assert_eq!(
            recorded(&records, lineage).sha256,
            crate::deploy::sha256_hex(b"ours")
        );
    }

    #[test]
    fn accepting_makes_the_current_document_the_record() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 9, "nine"))
            .unwrap();
        let older = document(lineage, 8, "eight");
        assert!(records.check_and_raise(&older).is_err());
        let previous = records.accept(&older).unwrap().unwrap();
        assert_eq!(previous.serial, 9);
        records.check_and_raise(&older).unwrap();
        assert_eq!(
            records
                .accept(&document(uuid::Uuid::new_v4(), 1, "new"))
                .unwrap(),
            None
        );
    }

    #[test]
    fn an_unverified_read_is_checked_but_never_raises_the_record() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 3, "three"))
            .unwrap();
        // A writer without the identity claims serial 1000000: `plan` reads it.
        records
            .check(&document(lineage, 1_000_000, "forged"))
            .unwrap();
        assert_eq!(recorded(&records, lineage).serial, 3);
        assert!(records.check(&document(lineage, 2, "two")).is_err());
    }

    #[test]
    fn the_key_id_is_pinned_kept_by_writes_that_do_not_know_it_and_reset_by_accept() {
        let (_dir, records, lineage) = setup();
        let keyed =
            |serial, content| document(lineage, serial, content).with_key_id(Some("sk-1".into()));
        records.check_and_raise(&keyed(1, "one")).unwrap();
        assert_eq!(records.pin(lineage).unwrap().key_id, "sk-1");
        records.remember(&document(lineage, 2, "pushed")).unwrap();
        assert_eq!(records.pin(lineage).unwrap().key_id, "sk-1");
        records.accept(&document(lineage, 2, "pushed")).unwrap();
        assert_eq!(records.pin(lineage), None);
    }

    #[test]
    fn a_written_document_becomes_the_record_even_when_lower() {
        // `state push --force` of an older document is a deliberate restore.
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 9, "nine"))
            .unwrap();
        records.remember(&document(lineage, 2, "two")).unwrap();
        assert_eq!(recorded(&records, lineage).serial, 2);
    }

    #[test]
    fn lineages_are_kept_apart() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 9, "nine"))
            .unwrap();
        records
            .check_and_raise(&document(uuid::Uuid::new_v4(), 1, "other"))
            .unwrap();
        assert!(records
            .check_and_raise(&document(lineage, 8, "eight"))
            .is_err());
    }

    #[test]
    fn a_garbled_record_is_replaced() {
        let (_dir, records, lineage) = setup();
        records
            .check_and_raise(&document(lineage, 9, "nine"))
            .unwrap();
        fs::write(records.path(lineage), "{\"lineage\": tru").unwrap();
        assert!(records.load(lineage).is_err());
        records
            .check_and_raise(&document(lineage, 2, "two"))
            .unwrap();
        assert_eq!(recorded(&records, lineage).serial, 2);

        // A record of another lineage under this name is no record of this one.
        let foreign = uuid::Uuid::new_v4();
        fs::copy(records.path(lineage), records.path(foreign)).unwrap();
        let why = records.load(foreign).unwrap_err();
        assert_eq!(why, format!("it names lineage {lineage}"));
        records
            .check_and_raise(&document(foreign, 1, "one"))
            .unwrap();
        assert_eq!(recorded(&records, foreign).lineage, foreign);
    }

    #[test]
    fn a_record_that_cannot_be_written_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be.
        fs::write(dir.path().join("seen"), "").unwrap();
        let records = SeenRecords::at(dir.path().join("seen"));
        let lineage = uuid::Uuid::new_v4();
        records
            .check_and_raise(&document(lineage, 1, "one"))
            .unwrap();
        let error = records.remember(&document(lineage, 1, "one")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("Cannot update this machine's rollback record"),
            "{error}"
        );
    }

    #[test]
    fn records_are_written_whole_and_leave_no_temporary_file() {
        let (dir, records, lineage) = setup();
        for serial in 1..=3 {
            records.remember(&document(lineage, serial, "doc")).unwrap();
        }
        let names: Vec<String> = fs::read_dir(dir.path().join("seen"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        // The lineage's record and the record of which lineage is at that location.
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&format!("{lineage}.json")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("at-")), "{names:?}");
        assert_eq!(recorded(&records, lineage).serial, 3);
    }
}
