//! Saved plans (`plan --out FILE`): the changes plus what they were computed from — the
//! state's lineage and serial and the configuration digest — so `apply FILE` can refuse a
//! plan whose basis moved. A saved plan holds no secrets: changes carry only public
//! attributes and reasons.

use super::drift::Drift;
use super::Change;
use crate::error::{Error, Result};
use crate::state::model::State;
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

pub const SAVED_PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub certform_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `None` when the plan was made before any state existed.
    pub state_lineage: Option<uuid::Uuid>,
    pub state_serial: u64,
    pub config_digest: String,
    pub changes: Vec<Change>,
    /// What the refresh found (drift and renewals due); shown, never acted on.
    #[serde(default)]
    pub drift: Vec<Drift>,
}

impl SavedPlan {
    pub fn new(
        state: Option<&State>,
        config_digest: String,
        changes: Vec<Change>,
        now: OffsetDateTime,
    ) -> SavedPlan {
        SavedPlan {
            format_version: SAVED_PLAN_FORMAT,
            certform_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: now,
            state_lineage: state.map(|s| s.lineage),
            state_serial: state.map_or(0, |s| s.serial),
            config_digest,
            changes,
            drift: Vec::new(),
        }
    }

    /// The plan with what the refresh found.
    pub fn with_drift(mut self, drift: Vec<Drift>) -> SavedPlan {
        self.drift = drift;
        self
    }

    /// The file's bytes; any sensitive value left (in an address) is hidden.
    pub fn to_bytes(&self) -> Vec<u8> {
        let text = serde_json::to_string_pretty(self).expect("a plan always serialises");
        let mut bytes = crate::redact::text(&text).into_owned().into_bytes();
        bytes.push(b'\n');
        bytes
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<SavedPlan> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let unreadable = |e: serde_json::Error| {
            Error::Usage(format!(
                "{} is not a saved certform plan: {e}. Create one with `certform plan --out FILE`.",
                path.display()
            ))
        };
        let version: Version = serde_json::from_slice(bytes).map_err(unreadable)?;
        if version.format_version != SAVED_PLAN_FORMAT {
            return Err(Error::Usage(format!(
                "{} is a saved plan of format {}, this certform reads format {SAVED_PLAN_FORMAT}. Make a new plan.",
                path.display(),
                version.format_version
            )));
        }
        serde_json::from_slice(bytes).map_err(unreadable)
    }

    /// Refuses the plan when the configuration or the state moved since it was made.
    pub fn check_fresh(&self, config_digest: &str, state: Option<&State>) -> Result<()> {
        if self.config_digest != config_digest {
            return Err(Error::StalePlan(
                "the configuration changed since the plan was made. Run `certform plan` again."
                    .into(),
            ));
        }
        let lineage = state.map(|s| s.lineage);
        let serial = state.map_or(0, |s| s.serial);
        if lineage != self.state_lineage {
            return Err(Error::StalePlan(
                "it was made for a different state (lineage differs). Run `certform plan` again."
                    .into(),
            ));
        }
        if serial != self.state_serial {
            return Err(Error::StalePlan(format!(
                "the state changed since the plan was made (serial {} then, {serial} now). Run `certform plan` again.",
                self.state_serial
            )));
        }
        Ok(())
    }
}
