//! Saved plans (`plan --out FILE`): the changes plus what they were computed from — the
//! state's lineage and serial, the configuration digest and the plan's options — so
//! `apply FILE` can refuse a plan whose basis moved. A plan file is data anyone may edit,
//! so apply never carries out its changes as written: it plans again with the recorded
//! options and applies only when the result equals the file ([`SavedPlan::check_matches`]).
//! A saved plan holds no secrets: changes carry only public attributes and reasons.

use super::drift::Drift;
use super::{Action, Attributes, Change, PlanOptions};
use crate::address::Address;
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
    /// The flags the plan was made with, so apply plans again the same way.
    #[serde(default)]
    pub options: SavedOptions,
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
            options: SavedOptions::default(),
            changes,
            drift: Vec::new(),
        }
    }

    /// The plan with the flags it was made with.
    pub fn with_options(mut self, options: SavedOptions) -> SavedPlan {
        self.options = options;
        self
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

    /// Refuses the plan unless its changes are the decisions `recomputed` (the plan made
    /// again now, with [`SavedPlan::options`]) holds: an edited plan file cannot add,
    /// drop or alter a change. Reasons compare by their code only, so an honest plan whose
    /// reason says "expires in 12 days" still applies a day later.
    pub fn check_matches(&self, recomputed: &[Change]) -> Result<()> {
        let saved: Vec<Decision> = self.changes.iter().map(Decision::of).collect();
        let now: Vec<Decision> = recomputed.iter().map(Decision::of).collect();
        let same_as = |a: &Decision, b: &Decision| a.address == b.address && a.action == b.action;
        let mut differences: Vec<String> = saved
            .iter()
            .filter(|d| !now.contains(d))
            .map(|d| match now.iter().any(|n| same_as(n, d)) {
                true => format!(
                    "{} {}: its attributes or reasons were changed",
                    d.address, d.action
                ),
                false => format!("{} {} is not planned now", d.address, d.action),
            })
            .collect();
        differences.extend(
            now.iter()
                .filter(|n| !saved.iter().any(|d| same_as(n, d)))
                .map(|n| {
                    format!(
                        "{} {} is planned now but not in the saved plan",
                        n.address, n.action
                    )
                }),
        );
        if differences.is_empty() && saved.len() != now.len() {
            differences.push(format!(
                "it lists {} changes, apply would make {}",
                saved.len(),
                now.len()
            ));
        }
        if differences.is_empty() {
            return Ok(());
        }
        Err(Error::StalePlan(format!(
            "the saved plan's changes differ from what apply would do now: {}. Nothing was applied; run `certform plan --out FILE` again and review it.",
            differences.join("; ")
        )))
    }
}

/// The flags of `plan` that shape its changes, as a saved plan records them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedOptions {
    #[serde(default)]
    pub targets: Vec<Address>,
    #[serde(default)]
    pub replace: Vec<Address>,
    /// `--check-endpoints`: a redeploy for an endpoint that serves another certificate is
    /// only planned again when apply probes too.
    #[serde(default)]
    pub check_endpoints: bool,
}

impl SavedOptions {
    pub fn new(options: &PlanOptions, check_endpoints: bool) -> SavedOptions {
        SavedOptions {
            targets: options.targets.clone(),
            replace: options.replace.clone(),
            check_endpoints,
        }
    }

    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            targets: self.targets.clone(),
            replace: self.replace.clone(),
        }
    }
}

/// What a change decides, without the text that depends on when it was planned: the
/// address (and so the kind), the action, the attributes before and after, and the codes
/// of its reasons (`renewal_due`, not "expires in 12 days").
#[derive(Debug, PartialEq)]
struct Decision<'a> {
    address: &'a Address,
    action: Action,
    before: Option<&'a Attributes>,
    after: Option<&'a Attributes>,
    reasons: Vec<Option<serde_json::Value>>,
}

impl<'a> Decision<'a> {
    fn of(change: &'a Change) -> Decision<'a> {
        Decision {
            address: &change.address,
            action: change.action,
            before: change.before.as_ref(),
            after: change.after.as_ref(),
            reasons: change
                .reasons
                .iter()
                .map(|reason| {
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.get("code").cloned())
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AttrValue, Reason};

    fn renewal(days_left: i64) -> Change {
        Change {
            address: Address::certificate("www"),
            action: Action::Renew,
            reasons: vec![Reason::RenewalDue {
                days_left,
                not_after: "2026-06-13".into(),
                policy: "renew_before = 30d".into(),
            }],
            before: Some(Attributes::from([(
                "must_staple".into(),
                AttrValue::Bool(false),
            )])),
            after: Some(Attributes::from([(
                "must_staple".into(),
                AttrValue::Bool(false),
            )])),
        }
    }

    fn saved(changes: Vec<Change>) -> SavedPlan {
        SavedPlan::new(None, String::new(), changes, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn time_relative_reason_text_does_not_make_a_plan_stale() {
        saved(vec![renewal(12)])
            .check_matches(&[renewal(11)])
            .unwrap();
    }

    #[test]
    fn another_reason_attribute_or_action_does() {
        let mut other_reason = renewal(12);
        other_reason.reasons = vec![Reason::ReplaceRequested];
        let mut other_attribute = renewal(12);
        other_attribute
            .after
            .as_mut()
            .unwrap()
            .insert("must_staple".into(), AttrValue::Bool(true));
        let mut other_action = renewal(12);
        other_action.action = Action::Reissue;
        for (now, expected) in [
            (
                other_reason,
                "certificate.www renew: its attributes or reasons were changed",
            ),
            (
                other_attribute,
                "certificate.www renew: its attributes or reasons were changed",
            ),
            (
                other_action,
                "certificate.www renew is not planned now; certificate.www reissue is planned now",
            ),
        ] {
            let message = saved(vec![renewal(12)])
                .check_matches(&[now])
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
        }
        let twice = saved(vec![renewal(12), renewal(12)])
            .check_matches(&[renewal(12)])
            .unwrap_err()
            .to_string();
        assert!(
            twice.contains("it lists 2 changes, apply would make 1"),
            "{twice}"
        );
    }
}
