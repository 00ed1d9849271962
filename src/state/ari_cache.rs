//! This machine's cache of ARI renewal windows, outside the sealed state. A window is refresh
//! data: it changes no configuration and, until it says to renew, no decision, so keeping it
//! in state would give the state a new serial after every refresh and make every saved plan
//! made before it stale. The cache keeps what the refresh before a plan needs instead: each
//! window with its `Retry-After`, so a CA is not asked again too early.
//!
//! For each lineage, `$XDG_STATE_HOME/certform/ari/<lineage>.json` (by default under
//! `~/.local/state`) maps certificate addresses to the window fetched for one serial number.
//! Like the rollback records, it only saves work: a cache that cannot be read or written is
//! ignored with a warning, and the windows are fetched again.

use crate::address::Address;
use crate::state::model::AriState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

/// A window as fetched for one certificate; it is void once the certificate is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedWindow {
    /// Lower-case hex serial number of the certificate the window was fetched for.
    pub serial_number: String,
    pub ari: AriState,
}

/// The windows of one lineage, by certificate address.
pub type Windows = BTreeMap<Address, CachedWindow>;

pub struct AriCache {
    dir: PathBuf,
}

impl AriCache {
    /// `$XDG_STATE_HOME/certform/ari`, or `~/.local/state/certform/ari`.
    pub fn for_this_user() -> AriCache {
        AriCache::at(super::seen::state_home().join("certform").join("ari"))
    }

    pub fn at(dir: impl Into<PathBuf>) -> AriCache {
        AriCache { dir: dir.into() }
    }

    fn path(&self, lineage: uuid::Uuid) -> PathBuf {
        self.dir.join(format!("{lineage}.json"))
    }

    /// The cached windows of `lineage`; none when there is no cache or it cannot be read.
    pub fn load(&self, lineage: uuid::Uuid) -> Windows {
        let path = self.path(lineage);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                eprintln!(
                    "warning: ignoring the ARI cache {} ({e}); windows are fetched again",
                    path.display()
                );
                Windows::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Windows::new(),
            Err(e) => {
                eprintln!(
                    "warning: cannot read the ARI cache {} ({e}); windows are fetched again",
                    path.display()
                );
                Windows::new()
            }
        }
    }

    /// Replaces the cache of `lineage` atomically (a temporary file renamed over it); a
    /// failure is a warning, since the next refresh fetches the windows again.
    pub fn store(&self, lineage: uuid::Uuid, windows: &Windows) {
        let path = self.path(lineage);
        let temp = self
            .dir
            .join(format!(".{lineage}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = serde_json::to_vec_pretty(windows)
            .map_err(std::io::Error::other)
            .and_then(|json| {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.dir)?;
                fs::write(&temp, json)?;
                fs::rename(&temp, &path)
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            eprintln!(
                "warning: cannot write the ARI cache {} ({e}); windows are fetched again next time",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn windows_round_trip_and_a_broken_cache_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AriCache::at(dir.path().join("ari"));
        let lineage = uuid::Uuid::new_v4();
        assert_eq!(cache.load(lineage), Windows::new());
        let at = datetime!(2026-11-28 12:00 UTC);
        let windows = Windows::from([(
            Address::certificate("www"),
            CachedWindow {
                serial_number: "01ab".into(),
                ari: AriState {
                    window_start: at,
                    window_end: at,
                    renew_at: at,
                    next_check_at: at,
                    explanation_url: None,
                },
            },
        )]);
        cache.store(lineage, &windows);
        assert_eq!(cache.load(lineage), windows);
        fs::write(cache.path(lineage), "{").unwrap();
        assert_eq!(cache.load(lineage), Windows::new());
    }
}
